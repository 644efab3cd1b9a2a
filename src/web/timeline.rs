//! One incident event as a line of the console's timeline: the same HTML whether the page
//! renders it or the live stream sends it. Each line is anchored by its event id (`#e-…`),
//! which the post-mortem's citations link to. What people said is shown as said (edits with
//! before and after, deletes as markers); what warroom did is in the post-mortem's words.

use crate::domain::contacts::Directory;
use crate::domain::event::{Event, Recorded};
use crate::domain::postmortem::describe_event;
use crate::domain::types::IncidentNumber;
use chrono_tz::Tz;
use maud::{html, Markup};

/// Renders an incident's events.
pub struct Lines<'a> {
    pub number: IncidentNumber,
    pub directory: &'a Directory,
    pub tz: Tz,
    /// The reader's form token, when lines may carry buttons (a run's Confirm and Approve).
    pub form_token: Option<&'a str>,
}

/// What a line says: its kind (a CSS class), who, and the body.
struct Said {
    kind: &'static str,
    who: String,
    body: Markup,
    /// The chat message the line is or refers to, for marking edits and deletes.
    message: Option<String>,
}

/// The anchor of an event's line: what `#…` in a link finds.
pub fn anchor(event_id: &uuid::Uuid) -> String {
    format!("e-{}", event_id.simple())
}

impl Lines<'_> {
    /// The line of the event at `version` of the incident's stream.
    pub fn line(&self, version: i64, r: &Recorded) -> Markup {
        let said = self.said(r);
        let local = r.at.with_timezone(&self.tz);
        let id = anchor(&r.event_id);
        html! {
            li id=(id) class={ "ev k-" (said.kind) } data-v=(version) data-message=[said.message] {
                a.at href={ "#" (id) } title=(r.at.to_rfc3339()) { (local.format("%H:%M:%S")) }
                " "
                span.who { (said.who) }
                " "
                div.body { (said.body) }
                @if let (Some(token), Some((run, confirm, approval))) = (self.form_token, waits(r)) {
                    (self.run_buttons(token, run, confirm, approval))
                }
            }
        }
    }

    /// Confirm (for the requester) and Approve (for a second person) under a run's request;
    /// warroom decides who may press which, and the script hides them once the run moves on.
    fn run_buttons(&self, token: &str, run: u32, confirm: bool, approval: bool) -> Markup {
        let n = self.number.0;
        html! {
            div.run-buttons data-run=(run) {
                @for (action, label) in [("confirm", "Confirm run"), ("approve", "Approve run")] {
                    @if (action == "confirm" && confirm) || (action == "approve" && approval) {
                        form.act method="post" action={ "/incidents/" (n) "/act" } {
                            input type="hidden" name="csrf" value=(token);
                            input type="hidden" name="nonce" value="";
                            input type="hidden" name="action" value=(action);
                            input type="hidden" name="run" value=(run);
                            button type="submit" { (label) " " (run) }
                        }
                    }
                }
            }
        }
    }

    /// How a person is shown: the contact's full name, else the name as recorded.
    fn person(&self, name: &str) -> String {
        match self.directory.person(name) {
            Some(c) => c.name.clone(),
            None => name.to_string(),
        }
    }

    fn said(&self, r: &Recorded) -> Said {
        let who = self.person(&r.actor);
        let line = |kind, body| Said {
            kind,
            who: who.clone(),
            body,
            message: None,
        };
        match r.event.unwrapped() {
            Event::MessagePosted(m) => Said {
                kind: "message",
                who: self.person(&m.author),
                message: m.message_id.clone(),
                body: html! {
                    @if let Some(to) = &m.reply_to { span.reply { "↩ " (to) " " } }
                    span.said { (m.text) }
                    @for a in &m.attachments {
                        " "
                        @if is_web_address(&a.url) {
                            a.attachment href=(a.url) rel="noopener noreferrer" { "📎 " (a.name) }
                        } @else {
                            span.attachment { "📎 " (a.name) }
                        }
                    }
                },
            },
            Event::MessageEdited {
                message_id,
                before,
                after,
                found_at,
                ..
            } => Said {
                kind: "edit",
                who,
                message: Some(message_id.clone()),
                body: html! {
                    "edited message " code { (message_id) } ": "
                    @match before {
                        Some(before) => { del { (before) } " → " }
                        None => { span.hint { "(the text before was never seen) " } }
                    }
                    ins { (after) }
                    @if let Some(found) = found_at {
                        " " span.hint { "(found in the history at " (found.with_timezone(&self.tz).format("%H:%M")) ")" }
                    }
                },
            },
            Event::MessageDeleted {
                message_id,
                found_at,
                ..
            } => Said {
                kind: "delete",
                who,
                message: Some(message_id.clone()),
                body: html! {
                    "deleted message " code { (message_id) } " (its text stays in the ledger)"
                    @if let Some(found) = found_at {
                        " " span.hint { "(found missing at " (found.with_timezone(&self.tz).format("%H:%M")) ")" }
                    }
                },
            },
            Event::MessageHighlighted { message_id, .. } => line(
                "mark",
                html! { "marked message " code { (message_id) } " as a key moment" },
            ),
            Event::MessageHighlightWithdrawn { message_id, .. } => line(
                "mark",
                html! { "took the key-moment mark off message " code { (message_id) } },
            ),
            Event::ImpactNoted { area, text } => line(
                "note",
                html! { "noted the " (area) " impact: " span.said { (text) } },
            ),
            Event::ResolutionNoted { text } => line(
                "note",
                html! { "noted the resolution: " span.said { (text) } },
            ),
            Event::CauseNoted { text } => {
                line("note", html! { "noted a cause: " span.said { (text) } })
            }
            Event::ActionAdded { text, owner, due } => line(
                "note",
                html! {
                    "added a follow-up action: " span.said { (text) }
                    @if let Some(owner) = owner { " (owner " (owner) ")" }
                    @if let Some(due) = due { " (due " (due) ")" }
                },
            ),
            Event::ActionIssueLinked {
                action,
                tracker,
                issue,
                url,
            } => line(
                "note",
                html! {
                    "filed action A" (action) " in " (tracker) " as "
                    @if is_web_address(url) { a href=(url) rel="noopener noreferrer" { (issue) } } @else { (issue) }
                },
            ),
            Event::RunbookOutput { run, step, lines } => line(
                "run",
                html! {
                    "run " (run) ", step " code { (step) } ":"
                    pre.output { @for l in lines { (l) "\n" } }
                },
            ),
            Event::CommandRejected {
                command, reason, ..
            } => line(
                "refused",
                html! { "was refused " code { (command) } ": " (reason) },
            ),
            Event::ChatChannelLinked {
                channel, service, ..
            } => line(
                "system",
                html! { "linked the incident's " (service) " channel #" (channel) },
            ),
            Event::PostmortemPublished { file, .. } => line(
                "system",
                html! { "published the post-mortem draft " code { (file) } },
            ),
            event => match describe_event(self.number, r, self.directory, self.tz) {
                Some(entry) => {
                    let shown = entry.shown_as();
                    Said {
                        kind: entry.kind,
                        who: if shown.is_empty() {
                            entry.author.clone()
                        } else {
                            self.person(&entry.author)
                        },
                        body: html! { (entry.text) },
                        message: None,
                    }
                }
                None => line("system", html! { (event.event_type()) }),
            },
        }
    }
}

/// The run a request line waits on: its number, whether the requester must confirm it, and
/// whether a second person must approve it.
fn waits(r: &Recorded) -> Option<(u32, bool, bool)> {
    match r.event.unwrapped() {
        Event::RunbookRequested {
            run,
            confirm,
            approval,
            ..
        } if *confirm || approval.is_some() => Some((*run, *confirm, approval.is_some())),
        _ => None,
    }
}

/// Whether a link from a recorded text may be followed: only web addresses, never
/// `javascript:` or `data:`.
fn is_web_address(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{Attachment, ChatMessage};

    fn said(event: Event) -> String {
        let directory = Directory::new(vec![], vec![]).unwrap();
        let lines = Lines {
            number: IncidentNumber(7),
            directory: &directory,
            tz: chrono_tz::UTC,
            form_token: None,
        };
        let r = Recorded {
            event_id: uuid::Uuid::nil(),
            position: 1,
            at: chrono::Utc::now(),
            actor: "<b>mallory</b>".into(),
            event,
        };
        lines.line(3, &r).into_string()
    }

    #[test]
    fn hostile_texts_are_shown_as_text() {
        let html = said(Event::MessagePosted(ChatMessage {
            channel: "inc-7".into(),
            message_id: Some("m\"1".into()),
            author: "<b>mallory</b>".into(),
            text: "<script>alert(1)</script>\n# Summary".into(),
            mentions: vec![],
            reply_to: None,
            attachments: vec![Attachment {
                name: "x".into(),
                url: "javascript:alert(1)".into(),
                size: 1,
            }],
        }));
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;mallory&lt;/b&gt;"), "{html}");
        assert!(html.contains("data-message=\"m&quot;1\""), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(
            html.contains("id=\"e-00000000000000000000000000000000\""),
            "{html}"
        );
    }

    #[test]
    fn an_edit_shows_before_and_after() {
        let html = said(Event::MessageEdited {
            channel: "inc-7".into(),
            message_id: "m1".into(),
            before: Some("db is fine".into()),
            after: "db is down".into(),
            found_at: None,
        });
        assert!(
            html.contains("<del>db is fine</del> → <ins>db is down</ins>"),
            "{html}"
        );
    }
}
