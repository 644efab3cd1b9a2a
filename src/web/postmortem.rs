//! `GET /incidents/N/postmortem`: the post-mortem draft rendered from the same model as
//! `warroom postmortem` (folded timeline), every cited line linking to its event's line in
//! the incident's timeline; `…/postmortem.md` and `…/postmortem.json` download the Markdown
//! and JSON forms, byte for byte what the command prints.

use super::incident::incident_for;
use super::timeline::anchor;
use super::{layout, Shared};
use crate::domain::postmortem::{render_json, render_markdown, PostMortem, TimelineEntry};
use crate::domain::types::IncidentNumber;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{html, Markup};
use uuid::Uuid;

/// The draft of the incident a path names, or the answer to give instead.
async fn draft(
    console: &Shared,
    headers: &HeaderMap,
    given: &str,
) -> Result<(super::session::Person, PostMortem), Box<Response>> {
    let back = format!("/incidents/{given}/postmortem");
    let (person, incident) = incident_for(console, headers, given, &back).await?;
    match console.warroom.postmortem(incident.number).await {
        Ok(pm) => Ok((person, pm)),
        Err(e) => Err(Box::new(console.unavailable(
            &person,
            "the post-mortem",
            &e,
        ))),
    }
}

pub async fn page(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(given): Path<String>,
) -> Response {
    let (person, pm) = match draft(&console, &headers, &given).await {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let number: IncidentNumber = pm.id.parse().expect("a post-mortem's id is its incident's");
    let tz = console.warroom.settings().timezone;
    let view = Document {
        pm: &pm,
        number,
        tz,
    };
    let title = format!("Post-mortem: {}", pm.title);
    layout::page(&title, Some(&person), &console.web, view.render()).into_response()
}

/// `GET /incidents/N/postmortem.md`: the Markdown form, as a file.
pub async fn markdown(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(given): Path<String>,
) -> Response {
    download(&console, &headers, &given, "md").await
}

/// `GET /incidents/N/postmortem.json`: the JSON form, as a file.
pub async fn json(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(given): Path<String>,
) -> Response {
    download(&console, &headers, &given, "json").await
}

async fn download(console: &Shared, headers: &HeaderMap, given: &str, format: &str) -> Response {
    let (_, pm) = match draft(console, headers, given).await {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let (body, content_type) = match format {
        "md" => (render_markdown(&pm), "text/markdown; charset=utf-8"),
        _ => (render_json(&pm), "application/json"),
    };
    let disposition = format!("attachment; filename=\"{}-postmortem.{format}\"", pm.id);
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).expect("ids are plain text"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The draft as HTML.
struct Document<'a> {
    pm: &'a PostMortem,
    number: IncidentNumber,
    tz: Tz,
}

impl Document<'_> {
    /// `[1a2b3c4d]`, linking to the event's line in the incident's timeline.
    fn cite(&self, event_id: &Uuid) -> Markup {
        let short = crate::domain::postmortem::short_ref(event_id);
        html! {
            " "
            a.cite href={ "/incidents/" (self.number.0) "#" (anchor(event_id)) } title="the event in the timeline" { "[" (short) "]" }
        }
    }

    fn hhmm(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz).format("%H:%M").to_string()
    }

    fn render(&self) -> Markup {
        let pm = self.pm;
        let n = self.number.0;
        html! {
            article.postmortem {
                h1 { (pm.title) }
                p.status {
                    (pm.id) " · " (pm.severity) " · started "
                    (pm.started_at.with_timezone(&self.tz).format("%Y-%m-%d %H:%M")) " (" (self.tz.name()) ")"
                    @if let Some(t) = pm.resolved_at { " · resolved " (self.hhmm(t)) }
                    @if let Some(t) = pm.closed_at { " · closed " (self.hhmm(t)) }
                    @if let Some(d) = &pm.impact.duration { " · " (d) }
                }
                p.downloads {
                    a href={ "/incidents/" (n) } { "Timeline" } " · "
                    a href={ "/incidents/" (n) "/postmortem.md" } download { "Markdown" } " · "
                    a href={ "/incidents/" (n) "/postmortem.json" } download { "JSON" }
                }
                h2 { "Summary" }
                p.summary { (pm.summary) }
                (self.key_moments())
                (self.stakeholders())
                (self.timeline())
                (self.impact())
                (self.factors())
                (self.resolution())
                (self.actions())
                (self.runs())
            }
        }
    }

    fn key_moments(&self) -> Markup {
        let km = &self.pm.key_moments;
        let after = |name: &str| match name {
            "Acknowledged" => km.minutes_to_acknowledge,
            "Mitigated" => km.minutes_to_mitigate,
            "Resolved" => km.minutes_to_resolve,
            _ => None,
        };
        html! {
            h2 { "Key moments" }
            ul.moments {
                @for (name, moment) in km.in_order() {
                    li {
                        strong { (name) } " "
                        @match moment {
                            Some(m) => {
                                (self.hhmm(m.at)) " — " (m.what())
                                @if let Some(minutes) = after(name) {
                                    ", " (crate::domain::postmortem::minutes_in_words(minutes)) " after detection"
                                }
                                (self.cite(&m.event_id))
                            }
                            None => { span.hint { "not recorded" } }
                        }
                    }
                }
            }
        }
    }

    fn stakeholders(&self) -> Markup {
        let mut teams: Vec<(&str, Vec<&crate::domain::postmortem::Stakeholder>)> = Vec::new();
        for s in &self.pm.stakeholders {
            match teams.last_mut() {
                Some((team, people)) if *team == s.team => people.push(s),
                _ => teams.push((&s.team, vec![s])),
            }
        }
        html! {
            h2 { "Stakeholders" }
            @if teams.is_empty() { p.hint { "No participants were recorded." } }
            ul.stakeholders {
                @for (team, people) in &teams {
                    li { (team) ": "
                        @for (i, s) in people.iter().enumerate() {
                            @if i > 0 { ", " }
                            (s.name) " (@" (s.handle) ")"
                        }
                    }
                }
            }
        }
    }

    fn timeline(&self) -> Markup {
        html! {
            h2 { "Timeline" }
            ol.pm-timeline {
                @for e in &self.pm.timeline { (self.entry(e)) }
            }
        }
    }

    fn entry(&self, e: &TimelineEntry) -> Markup {
        let extras = e.extras();
        let who = if e.shown_as().is_empty() {
            e.author.as_str()
        } else {
            e.shown_as()
        };
        html! {
            li class={ "k-" (e.kind) @if extras.deleted_at.is_some() { " deleted" } } {
                span.at { (self.hhmm(e.at)) }
                " "
                span.who { (who) }
                " "
                span.said {
                    @if extras.highlighted { "⭐ " }
                    (e.text)
                }
                (self.cite(&e.event_id))
                @for edit in &extras.edits {
                    div.edit {
                        "edited " (self.hhmm(edit.at)) ": "
                        @match &edit.before { Some(b) => { del { (b) } " → " } None => {} }
                        ins { (edit.after) }
                        (self.cite(&edit.event_id))
                    }
                }
                @if let Some(at) = extras.deleted_at {
                    div.edit { "deleted " (self.hhmm(at)) @if extras.deleted_while_away { " (found missing)" } }
                }
            }
        }
    }

    fn impact(&self) -> Markup {
        let impact = &self.pm.impact;
        html! {
            h2 { "Impact" }
            p { (impact.summary) }
            ul {
                @for note in &impact.notes {
                    li { strong { (note.area) } ": " (note.text) " — " (note.author) (self.cite(&note.event_id)) }
                }
            }
        }
    }

    fn factors(&self) -> Markup {
        let f = &self.pm.contributing_factors;
        html! {
            h2 { "Contributing factors" }
            @if f.causes.is_empty() && f.changes_before.is_empty() { p.hint { "None was noted." } }
            ul {
                @for c in &f.causes { li { (c.text) " — " (c.author) (self.cite(&c.event_id)) } }
                @for c in &f.changes_before { li { (self.hhmm(c.at)) " " (c.text) (self.cite(&c.event_id)) } }
            }
        }
    }

    fn resolution(&self) -> Markup {
        html! {
            h2 { "Resolution" }
            @if self.pm.resolution.is_empty() { p.hint { "None was noted." } }
            ul {
                @for r in &self.pm.resolution { li { (r.text) " — " (r.author) (self.cite(&r.event_id)) } }
            }
        }
    }

    fn actions(&self) -> Markup {
        html! {
            h2 { "Action plan" }
            @if self.pm.action_plan.is_empty() { p.hint { "No follow-up action was added." } }
            ul.actions-plan {
                @for a in &self.pm.action_plan {
                    li {
                        strong { (a.id) } " " (a.text)
                        @if let Some(owner) = &a.owner { " — owner " (owner) }
                        @if let Some(due) = a.due { ", due " (due) }
                        @if a.done_at.is_some() { " " span.done { "done" } }
                        @if let Some(url) = &a.issue_url {
                            @if url.starts_with("https://") || url.starts_with("http://") {
                                " " a href=(url) rel="noopener noreferrer" { "issue" }
                            }
                        }
                        (self.cite(&a.event_id))
                    }
                }
            }
        }
    }

    fn runs(&self) -> Markup {
        html! {
            @if !self.pm.runs.is_empty() {
                h2 { "Runs" }
                @for run in &self.pm.runs {
                    section.run id={ "run-" (run.run) } {
                        h3 { "Run " (run.run) ": " code { (run.command) } }
                        p {
                            "asked by " (run.asked_by) " at " (self.hhmm(run.asked_at))
                            @if let Some(by) = &run.confirmed_by { ", confirmed by " (by) }
                            @if let Some(by) = &run.approved_by { ", approved by " (by) }
                            @if let Some(agent) = &run.agent { ", run by agent " (agent) }
                            @if let Some(outcome) = &run.outcome { " — " strong { (outcome) } }
                            @if let Some(message) = &run.message { ": " (message) }
                            (self.cite(&run.event_id))
                        }
                        @if !run.params.is_empty() {
                            p { @for (k, v) in &run.params { code { (k) "=" (v) } " " } }
                        }
                        table.steps {
                            thead { tr { th { "Step" } th { "Attempt" } th { "Program" } th { "Started" } th { "Exit" } th {} } }
                            tbody {
                                @for s in &run.steps {
                                    tr {
                                        td { (s.step) }
                                        td { (s.attempt) }
                                        td { code { (s.program) @for a in &s.args { " " (a) } } }
                                        td { (self.hhmm(s.started_at)) }
                                        td { @match (s.exit, s.succeeded) {
                                            (Some(code), _) => (code),
                                            (None, Some(false)) => "failed",
                                            (None, _) => "—",
                                        } }
                                        td { (self.cite(&s.event_id)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
