//! What a responder does from an incident's page: say something, acknowledge, change the
//! severity, name the commander, post a status update, run any command (a runbook among
//! them) and confirm or approve a run. Each form becomes the console command chat would
//! send and goes through [`Warroom::handle`] as the signed-in person with the role warroom
//! gives them, so the console can do nothing chat could not. Every form carries the
//! session's token (CSRF) and a nonce that makes a form sent twice count once.
//!
//! The script sends forms in the background and shows the reply in place; without it, the
//! reply comes back as a page of its own.

use super::session::Person;
use super::{layout, refusal, Shared};
use crate::app::error::AppError;
use crate::app::incidents::view::IncidentSummary;
use crate::app::{Caller, Input, InputKind, Outcome, Warroom};
use crate::domain::access::Access;
use crate::domain::command::{parse, ParsedCommand};
use crate::domain::types::{IncidentNumber, Severity};
use axum::extract::{Path, State};
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

/// The severities a responder may pick, in order.
const SEVERITIES: [Severity; 4] = [
    Severity::Sev1,
    Severity::Sev2,
    Severity::Sev3,
    Severity::Sev4,
];

/// The longest message the console takes, in characters: Discord's own limit is 2000; a
/// console message may carry a pasted log excerpt, but not a whole log.
const MAX_TEXT: usize = 4_000;

/// The forms of an incident's page, for someone who may act on it.
pub fn forms(console: &Shared, person: &Person, i: &IncidentSummary) -> Markup {
    let token = person.session.form_token(&console.web);
    let n = i.number.0;
    let hidden = |action: &str| {
        html! {
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="nonce" value=(super::session::random_id());
            input type="hidden" name="action" value=(action);
        }
    };
    html! {
        section.actions {
            form.act.say method="post" action={ "/incidents/" (n) "/say" } {
                (hidden("say"))
                label { "Say in #" (i.channel)
                    textarea name="text" rows="2" maxlength=(MAX_TEXT) required placeholder="What you see, what you do" {}
                }
                button type="submit" { "Post" }
            }
            div.quick {
                form.act method="post" action={ "/incidents/" (n) "/act" } {
                    (hidden("ack"))
                    button type="submit" { "Acknowledge" }
                }
                form.act method="post" action={ "/incidents/" (n) "/act" } {
                    (hidden("severity"))
                    select name="severity" aria-label="Severity" {
                        @for s in SEVERITIES {
                            option value=(s) selected[s == i.severity] { (s) }
                        }
                    }
                    button type="submit" { "Set severity" }
                }
                form.act method="post" action={ "/incidents/" (n) "/act" } {
                    (hidden("commander"))
                    input type="text" name="handle" required placeholder="@handle" aria-label="Commander";
                    button type="submit" { "Make commander" }
                }
            }
            form.act method="post" action={ "/incidents/" (n) "/act" } {
                (hidden("update"))
                label { "Status update"
                    input type="text" name="text" required maxlength=(MAX_TEXT) placeholder="What stakeholders should know";
                }
                button type="submit" { "Post update" }
            }
            form.act method="post" action={ "/incidents/" (n) "/act" } {
                (hidden("command"))
                label { "Command"
                    input type="text" name="command" required placeholder="/failover dns, /incident note …, /help";
                }
                button type="submit" { "Run" }
            }
            div #reply aria-live="polite" {}
        }
    }
}

#[derive(Deserialize)]
pub struct ActForm {
    csrf: Option<String>,
    nonce: Option<String>,
    action: Option<String>,
    text: Option<String>,
    severity: Option<String>,
    handle: Option<String>,
    command: Option<String>,
    run: Option<String>,
}

/// `POST /incidents/N/say`: a message in the incident's channel, recorded as said (a `/…`
/// typed here is text, not a command: commands have their own form).
pub async fn say(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(given): Path<String>,
    Form(form): Form<ActForm>,
) -> Response {
    let (person, incident) = match checked(&console, &headers, &given, &form).await {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let refuse = |status, why: &str| {
        answer(
            &headers,
            &person,
            &console,
            incident.number,
            status,
            why,
            &[],
        )
    };
    // Every action of the page needs the responder role, and warroom checks it; a message
    // is not a command, so the console checks it here: a viewer reads.
    if !person.access.allows(Access::Responder) {
        return refuse(StatusCode::FORBIDDEN, &format!(
            "Posting in an incident needs the responder role in warroom and you have {}; ask whoever runs warroom to grant it.",
            person.access
        ));
    }
    let text = form.text.as_deref().unwrap_or("").trim().to_string();
    if text.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "Write something to post.");
    }
    let length = text.chars().count();
    if length > MAX_TEXT {
        return refuse(StatusCode::BAD_REQUEST, &format!(
            "The message has {length} characters; the console takes up to {MAX_TEXT}. Attach long logs elsewhere and link them."
        ));
    }
    let nonce = nonce(form.nonce.as_deref());
    let message_id = Some(format!("web-{nonce}"));
    let input = said_by(&console, &person, &incident, &nonce, text, message_id, true);
    run(&console, &headers, &person, incident.number, input).await
}

/// `POST /incidents/N/act`: one of the page's actions, as the console command chat sends.
pub async fn act(
    State(console): State<Shared>,
    headers: HeaderMap,
    Path(given): Path<String>,
    Form(form): Form<ActForm>,
) -> Response {
    let (person, incident) = match checked(&console, &headers, &given, &form).await {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let command = match command_of(&form, incident.number) {
        Ok(command) => command,
        Err(why) => {
            let status = StatusCode::BAD_REQUEST;
            return answer(
                &headers,
                &person,
                &console,
                incident.number,
                status,
                &why,
                &[],
            );
        }
    };
    let nonce = nonce(form.nonce.as_deref());
    let input = said_by(&console, &person, &incident, &nonce, command, None, false);
    run(&console, &headers, &person, incident.number, input).await
}

/// `text` said in the incident's channel by the signed-in person, as chat hands it over
/// (`plain_text`: recorded as said, never read as a command). Keyed by the form's nonce, so
/// a form sent twice is recorded once.
fn said_by(
    console: &Shared,
    person: &Person,
    incident: &IncidentSummary,
    nonce: &str,
    text: String,
    message_id: Option<String>,
    plain_text: bool,
) -> Input {
    Input {
        key: format!("web:{nonce}"),
        at: console.now(),
        from: person.actor.clone(),
        channel: incident.channel.clone(),
        kind: InputKind::Message {
            text,
            message_id,
            reply_to: None,
            attachments: vec![],
        },
        caller: Caller {
            access: Some(person.access),
            plain_text,
            ..Caller::default()
        },
    }
}

/// The person, the incident and the form's token, checked; else the answer to give.
async fn checked(
    console: &Shared,
    headers: &HeaderMap,
    given: &str,
    form: &ActForm,
) -> Result<(Person, IncidentSummary), Box<Response>> {
    let person = console.sender(headers, form.csrf.as_deref())?;
    let number = given.parse::<IncidentNumber>().ok();
    let incident = match number {
        Some(n) => console.warroom.incident(n).await.ok().flatten(),
        None => None,
    };
    let Some(incident) = incident else {
        return Err(Box::new(refusal(
            StatusCode::NOT_FOUND,
            &format!("There is no incident '{given}'; the list is at /incidents."),
            Some(&person),
            &console.web,
        )));
    };
    Ok((person, incident))
}

/// The console command a form stands for, in the incident it was sent from.
fn command_of(form: &ActForm, number: IncidentNumber) -> Result<String, String> {
    let field = |value: &Option<String>, what: &str| -> Result<String, String> {
        match value.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => Ok(v.to_string()),
            _ => Err(format!("Give {what}.")),
        }
    };
    let command = |words: &[&str], options: &[(&str, String)]| {
        let mut parsed = ParsedCommand {
            words: words.iter().map(|w| w.to_string()).collect(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        parsed.options.insert("incident".into(), number.to_string());
        parsed.to_console_text()
    };
    Ok(match form.action.as_deref().unwrap_or("") {
        "ack" => command(&["ack"], &[]),
        "severity" => command(
            &["incident", "severity"],
            &[("severity", field(&form.severity, "a severity")?)],
        ),
        "commander" => {
            let handle = field(&form.handle, "the new commander's @handle")?;
            let handle = if handle.starts_with('@') {
                handle
            } else {
                format!("@{handle}")
            };
            command(
                &["incident", "role"],
                &[("role", "commander".into()), ("user", handle)],
            )
        }
        "update" => command(
            &["incident", "update"],
            &[("text", field(&form.text, "the update's text")?)],
        ),
        action @ ("confirm" | "approve") => {
            command(&[action], &[("run", field(&form.run, "the run's number")?)])
        }
        "command" => {
            let text = field(&form.command, "a command, such as /help")?;
            let mut parsed = parse(&text).map_err(|e| format!("{e}."))?;
            parsed
                .options
                .entry("incident".into())
                .or_insert_with(|| number.to_string());
            parsed.to_console_text()
        }
        other => {
            return Err(format!(
                "'{other}' is not an action of this page; reload it."
            ))
        }
    })
}

/// A form's nonce when it is one the console made (hex or a browser's UUID); else a new one,
/// so a tampered nonce cannot aim at another input's key.
fn nonce(given: Option<&str>) -> String {
    match given {
        Some(n)
            if (8..=64).contains(&n.len())
                && n.chars().all(|c| c.is_ascii_hexdigit() || c == '-') =>
        {
            n.to_string()
        }
        _ => super::session::random_id(),
    }
}

/// Hands the input to the application and answers with what it said.
async fn run(
    console: &Shared,
    headers: &HeaderMap,
    person: &Person,
    number: IncidentNumber,
    input: Input,
) -> Response {
    let warroom: &Warroom = &console.warroom;
    match warroom.handle(input).await {
        Ok(Outcome {
            reply,
            refused,
            actions,
            ..
        }) => {
            let status = if refused {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            let reply = reply.unwrap_or_else(|| "Recorded.".into());
            let actions: Vec<(String, String)> =
                actions.into_iter().map(|a| (a.label, a.command)).collect();
            answer(headers, person, console, number, status, &reply, &actions)
        }
        Err(AppError::Store(e)) => {
            tracing::error!("a console action could not be recorded: {e:#}");
            answer(
                headers,
                person,
                console,
                number,
                StatusCode::SERVICE_UNAVAILABLE,
                "Not recorded: the store failed. Send it again in a moment.",
                &[],
            )
        }
        Err(AppError::Conflict(why)) => answer(
            headers,
            person,
            console,
            number,
            StatusCode::CONFLICT,
            &why,
            &[],
        ),
        Err(AppError::Refused(why)) => answer(
            headers,
            person,
            console,
            number,
            StatusCode::UNPROCESSABLE_ENTITY,
            &why,
            &[],
        ),
        Err(AppError::Invalid { message, .. }) => answer(
            headers,
            person,
            console,
            number,
            StatusCode::BAD_REQUEST,
            &message,
            &[],
        ),
    }
}

/// The reply: JSON for the page's script, a page of its own otherwise.
fn answer(
    headers: &HeaderMap,
    person: &Person,
    console: &Shared,
    number: IncidentNumber,
    status: StatusCode,
    reply: &str,
    actions: &[(String, String)],
) -> Response {
    let wants_json = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let actions: Vec<_> = actions
            .iter()
            .map(|(label, command)| json!({ "label": label, "command": command }))
            .collect();
        return (
            status,
            Json(json!({ "ok": status.is_success(), "reply": reply, "actions": actions })),
        )
            .into_response();
    }
    let body = html! {
        section.reply {
            h1 { @if status.is_success() { "Done" } @else { "Not done" } }
            pre.said { (reply) }
            p { a href={ "/incidents/" (number.0) } { "Back to " (number) } }
        }
    };
    (
        status,
        layout::page("Reply", Some(person), &console.web, body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(action: &str) -> ActForm {
        ActForm {
            csrf: None,
            nonce: None,
            action: Some(action.into()),
            text: None,
            severity: None,
            handle: None,
            command: None,
            run: None,
        }
    }

    #[test]
    fn forms_become_the_commands_chat_sends() {
        let n = IncidentNumber(7);
        assert_eq!(command_of(&form("ack"), n).unwrap(), "/ack incident:INC-7");
        let mut f = form("commander");
        f.handle = Some("rpark".into());
        assert_eq!(
            command_of(&f, n).unwrap(),
            "/incident role incident:INC-7 role:commander user:@rpark"
        );
        let mut f = form("update");
        f.text = Some("DNS \"failed\" over".into());
        assert_eq!(
            command_of(&f, n).unwrap(),
            r#"/incident update incident:INC-7 text:"DNS \"failed\" over""#
        );
        let mut f = form("command");
        f.command = Some("/failover dns incident:INC-3".into());
        assert_eq!(command_of(&f, n).unwrap(), "/failover dns incident:INC-3");
        assert!(command_of(&form("severity"), n)
            .unwrap_err()
            .contains("Give a severity"));
        assert!(command_of(&form("drop-tables"), n).is_err());
    }

    #[test]
    fn only_nonces_the_console_makes_are_kept() {
        assert_eq!(nonce(Some("0123456789abcdef")), "0123456789abcdef");
        assert_ne!(nonce(Some("x#0")), "x#0");
        assert_ne!(nonce(Some("../../etc")), "../../etc");
        assert_eq!(nonce(None).len(), 32);
    }
}
