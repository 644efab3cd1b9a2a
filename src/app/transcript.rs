//! Transcripts: JSON Lines of chat messages, edits, deletes, alerts and deploys, replayed in order with
//! each line's `at` as the event time. The whole file is checked before anything is replayed,
//! so a bad line costs nothing but a clear error with its line number.

use crate::domain::deploy::Deploy;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One checked transcript line.
#[derive(Debug, Clone, PartialEq)]
pub enum TranscriptEntry {
    /// A chat message; a text starting with `/` is a command.
    Chat {
        from: String,
        text: String,
        channel: Option<String>,
        id: Option<String>,
        /// The id of the message of the same channel it answers (a chat service's reply).
        reply_to: Option<String>,
    },
    Edit {
        from: String,
        message_id: String,
        text: String,
        channel: Option<String>,
    },
    Delete {
        from: String,
        message_id: String,
        channel: Option<String>,
    },
    /// An alert body exactly as the HTTP endpoint of its source would receive it.
    Alert {
        source: String,
        body: serde_json::Value,
        channel: Option<String>,
    },
    /// A deploy, with the body `POST /v1/deploys` takes.
    Deploy(Box<Deploy>),
}

/// A transcript line with its place in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptLine {
    /// 1-based line number in the file.
    pub line: usize,
    pub at: DateTime<Utc>,
    pub entry: TranscriptEntry,
}

/// A line that cannot be replayed, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct TranscriptError {
    pub line: usize,
    pub problem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    at: String,
    from: Option<String>,
    text: Option<String>,
    channel: Option<String>,
    id: Option<String>,
    reply_to: Option<String>,
    edits: Option<String>,
    deletes: Option<String>,
    alert: Option<RawAlert>,
    deploy: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    source: String,
    body: serde_json::Value,
}

/// Checks every line of a transcript. Blank lines are skipped.
pub fn parse(text: &str) -> Result<Vec<TranscriptLine>, TranscriptError> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let fail = |problem: String| TranscriptError { line, problem };
        let parsed: RawLine =
            serde_json::from_str(raw).map_err(|e| fail(describe_json_error(&e)))?;
        let at = DateTime::parse_from_rfc3339(parsed.at.trim())
            .map_err(|e| {
                fail(format!(
                    "'at' is '{}', not an RFC 3339 time such as 2021-03-09T09:15:00Z ({e})",
                    parsed.at
                ))
            })?
            .with_timezone(&Utc);
        let at = crate::time_range::check("'at'", at).map_err(fail)?;
        // Names become stream ids and actors: a control character there is a mistake in
        // the line, and the store could not keep a NUL.
        for (field, name) in [("channel", &parsed.channel), ("from", &parsed.from)] {
            if name
                .as_deref()
                .is_some_and(|n| n.chars().any(char::is_control))
            {
                return Err(fail(format!(
                    "'{field}' holds a control character; names are plain text"
                )));
            }
        }
        let channel = parsed
            .channel
            .map(|c| c.trim().trim_start_matches('#').to_string());
        if channel.as_deref() == Some("") {
            return Err(fail(
                "'channel' is empty; leave it out to use the default channel".into(),
            ));
        }
        let from = || {
            parsed
                .from
                .clone()
                .filter(|f| !f.trim().is_empty())
                .ok_or_else(|| fail("'from' is missing: say who wrote it".into()))
        };
        let is_message = parsed.alert.is_none()
            && parsed.deploy.is_none()
            && parsed.edits.is_none()
            && parsed.deletes.is_none();
        if parsed.reply_to.is_some() && !is_message {
            return Err(fail(
                "'reply_to' belongs to a message line (the id of the message it answers)".into(),
            ));
        }
        let entry = match (&parsed.alert, &parsed.deploy, &parsed.edits, &parsed.deletes) {
            (Some(_), _, _, _) if parsed.text.is_some() || parsed.from.is_some() => {
                return Err(fail("an alert line has only 'at', 'alert' and optionally 'channel'".into()))
            }
            (Some(alert), None, None, None) => {
                if !matches!(alert.source.as_str(), "alertmanager" | "grafana" | "generic") {
                    return Err(fail(format!(
                        "alert source '{}' is unknown; use alertmanager, grafana or generic",
                        alert.source
                    )));
                }
                TranscriptEntry::Alert {
                    source: alert.source.clone(),
                    body: alert.body.clone(),
                    channel,
                }
            }
            (None, Some(_), _, _)
                if parsed.text.is_some() || parsed.from.is_some() || channel.is_some() =>
            {
                return Err(fail("a deploy line has only 'at' and 'deploy'".into()))
            }
            (None, Some(body), None, None) => TranscriptEntry::Deploy(Box::new(
                Deploy::from_json(body).map_err(|e| fail(format!("deploy.{e}")))?,
            )),
            (None, None, Some(target), None) => TranscriptEntry::Edit {
                from: from()?,
                message_id: target.clone(),
                text: parsed
                    .text
                    .clone()
                    .ok_or_else(|| fail("an edit needs 'text', the message's new text".into()))?,
                channel,
            },
            (None, None, None, Some(target)) => {
                if parsed.text.is_some() {
                    return Err(fail("a delete has no 'text'".into()));
                }
                TranscriptEntry::Delete {
                    from: from()?,
                    message_id: target.clone(),
                    channel,
                }
            }
            (None, None, None, None) => TranscriptEntry::Chat {
                from: from()?,
                text: parsed.text.clone().ok_or_else(|| {
                    fail("'text' is missing; a line is a message (text), an edit (edits), a delete (deletes) or an alert (alert)".into())
                })?,
                channel,
                id: parsed.id.clone(),
                reply_to: parsed.reply_to.clone(),
            },
            _ => {
                return Err(fail(
                    "a line is one of: a message, an edit (edits), a delete (deletes), an alert (alert), a deploy (deploy) — not several".into(),
                ))
            }
        };
        lines.push(TranscriptLine { line, at, entry });
    }
    Ok(lines)
}

fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // serde_json appends " at line 1 column N", which is noise for a one-line object.
    let text = text.split(" at line ").next().unwrap_or(&text).to_string();
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("not a JSON object ({text})")
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_line() {
        let text = r##"{"at":"2021-03-09T09:15:00Z","from":"svega","text":"app down","id":"m1"}

{"at":"2021-03-09T09:16:00+01:00","from":"svega","edits":"m1","text":"app is down","channel":"#ops"}
{"at":"2021-03-09T09:17:00Z","from":"svega","deletes":"m1"}
{"at":"2021-03-09T09:18:00Z","alert":{"source":"generic","body":{"name":"AppDown"}}}"##;
        let lines = parse(text).unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1].line, 3);
        assert_eq!(lines[1].at.to_rfc3339(), "2021-03-09T08:16:00+00:00");
        assert!(
            matches!(&lines[1].entry, TranscriptEntry::Edit { channel: Some(c), .. } if c == "ops")
        );
        assert!(matches!(lines[2].entry, TranscriptEntry::Delete { .. }));
        assert!(matches!(lines[3].entry, TranscriptEntry::Alert { .. }));
    }

    #[test]
    fn a_message_may_answer_another_and_nothing_else_may() {
        let lines = parse(
            r#"{"at":"2021-03-09T09:16:00Z","from":"rpark","text":"on it","id":"m2","reply_to":"m1"}"#,
        )
        .unwrap();
        assert!(matches!(
            &lines[0].entry,
            TranscriptEntry::Chat { reply_to: Some(r), .. } if r == "m1"
        ));
        let refused = parse(
            r#"{"at":"2021-03-09T09:16:00Z","from":"rpark","edits":"m2","text":"on it!","reply_to":"m1"}"#,
        )
        .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "line 1: 'reply_to' belongs to a message line (the id of the message it answers)"
        );
    }

    #[test]
    fn bad_lines_name_their_number_and_the_problem() {
        let err = |text: &str| parse(text).unwrap_err().to_string();
        assert_eq!(
            err("{\"at\":\"2021-03-09T09:15:00Z\",\"from\":\"a\",\"text\":\"x\"}\n{\"at\":\"9:15\",\"from\":\"a\",\"text\":\"x\"}"),
            "line 2: 'at' is '9:15', not an RFC 3339 time such as 2021-03-09T09:15:00Z (premature end of input)"
        );
        assert!(
            err("{\"at\":\"2021-03-09T09:15:00Z\",\"text\":\"x\"}").contains("'from' is missing")
        );
        assert!(
            err("{\"at\":\"-0001-01-01T00:00:00Z\",\"from\":\"a\",\"text\":\"x\"}")
                .starts_with("line 1: 'at' is '-0001-01-01T00:00:00Z', not an RFC 3339 time")
        );
        assert_eq!(
            err("{\"at\":\"1969-12-31T23:59:59Z\",\"from\":\"a\",\"text\":\"x\"}"),
            format!(
                "line 1: 'at': 1969-12-31T23:59:59+00:00 is outside the times warroom accepts ({})",
                crate::time_range::DESCRIPTION
            )
        );
        assert!(
            err("{\"at\":\"2021-03-09T09:15:00Z\",\"from\":\"a\\u0000b\",\"text\":\"x\"}")
                .contains("'from' holds a control character")
        );
        assert!(err("{\"at\":\"2021-03-09T09:15:00Z\",\"channel\":\"ops\\u0000\",\"from\":\"a\",\"text\":\"x\"}")
            .contains("'channel' holds a control character"));
        assert!(
            err("{\"at\":\"2021-03-09T09:15:00Z\",\"from\":\"a\",\"txt\":\"x\"}")
                .contains("unknown field `txt`")
        );
        assert!(err("not json").starts_with("line 1: not a JSON object"));
        assert!(err("{\"from\":\"a\",\"text\":\"x\"}").contains("missing field `at`"));
        assert!(err(
            "{\"at\":\"2021-03-09T09:15:00Z\",\"alert\":{\"source\":\"nagios\",\"body\":{}}}"
        )
        .contains("alert source 'nagios' is unknown"));
    }
}
