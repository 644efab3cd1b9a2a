//! `GET /oncall`: who is on call now in each schedule, the next two weeks of each, and the
//! overrides and covers in force or to come — what `warroom oncall` and `/oncall who` say.

use super::{layout, Shared};
use crate::domain::schedule::{Source, Span};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{html, Markup};

/// How far ahead each schedule is shown.
const AHEAD_DAYS: i64 = 14;

pub async fn page(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let person = match console.reader(&headers, "/oncall") {
        Ok(p) => p,
        Err(answer) => return *answer,
    };
    let now = console.now();
    let (views, overrides) = match console.warroom.schedules_now(now).await {
        Ok(found) => found,
        Err(e) => return console.unavailable(&person, "the schedules", &e),
    };
    let directory = &console.warroom.settings().directory;
    let name = |handle: &str| directory.display(handle);
    let until = now + chrono::Duration::days(AHEAD_DAYS);
    let current: Vec<_> = overrides.iter().filter(|o| o.rule.to > now).collect();
    let body = html! {
        h1 { "On call" }
        @if views.is_empty() {
            p.empty { "No schedule is configured; add [[schedules]] to warroom.toml (docs/oncall.md)." }
        }
        @for (schedule, view) in &views {
            @let spans = view.roster.resolve(now, until);
            section.schedule {
                h2 { (schedule) }
                p.now {
                    @match spans.first() {
                        Some(Span { person: Some(p), .. }) => { strong { (name(p)) } " is on call" }
                        _ => { strong.gap { "Nobody is on call" } }
                    }
                    @if let Some(next) = spans.get(1) {
                        " until " (local(next.start, view.zone)) ", then "
                        (next.person.as_deref().map(&name).unwrap_or_else(|| "nobody".into()))
                    }
                    @if view.unrecorded_configuration {
                        " " span.hint { "(warroom.toml's version, recorded when warroom serve starts)" }
                    }
                }
                table.spans {
                    thead { tr { th { "From" } th { "To" } th { "On call" } th { "Why" } } }
                    tbody {
                        @for span in &spans {
                            tr class=(if matches!(span.source, Source::Gap) { "gap" } else { "" }) {
                                td { (local(span.start, view.zone)) }
                                td { (local(span.end, view.zone)) }
                                td { (span.person.as_deref().map(&name).unwrap_or_else(|| "nobody".into())) }
                                td { (source(&span.source, &name)) }
                            }
                        }
                    }
                }
                p.hint { "Times in " (view.zone.name()) "." }
            }
        }
        h2 { "Overrides and covers" }
        @if current.is_empty() {
            p.empty { "None in force or to come." }
        } @else {
            table.overrides {
                thead { tr { th { "Schedule" } th { "On call" } th { "From" } th { "To" } th { "Instead of" } th { "By" } th { "Reference" } } }
                tbody {
                    @for o in &current {
                        @let zone = o.schedule.as_ref().and_then(|s| views.get(s)).map_or(console.warroom.settings().timezone, |v| v.zone);
                        tr {
                            td { (o.schedule.as_deref().unwrap_or("every schedule")) }
                            td { (name(&o.rule.person)) }
                            td { (local(o.rule.from, zone)) }
                            td { (local(o.rule.to, zone)) }
                            td { (o.rule.replaces.as_deref().map(&name).unwrap_or_else(|| "whoever is on call".into())) }
                            td { (name(&o.rule.by)) }
                            td { code { (o.rule.reference) } }
                        }
                    }
                }
            }
        }
    };
    layout::page("On call", Some(&person), &console.web, body).into_response()
}

fn local(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone).format("%a %d %b %H:%M").to_string()
}

fn source(s: &Source, name: &dyn Fn(&str) -> String) -> Markup {
    html! {
        @match s {
            Source::Layer { layer } => { "rotation " (layer) }
            Source::Override { by, reference } => { "override by " (name(by)) " " code { (reference) } }
            Source::Gap => { "no layer covers it" }
        }
    }
}
