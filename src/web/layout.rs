//! The frame of every console page: the head (stylesheet and script from the console
//! itself, nothing inline), the navigation, who is signed in and the sign-out button.

use super::session::Person;
use crate::config::WebSettings;
use axum::response::Html;
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// Where a page's streamed middle goes: [`page`] renders it, and the streamed pages split
/// the rendered text here.
pub const STREAM_MARK: &str = "<!--warroom:stream-->";

/// A whole page around `body`.
pub fn page(title: &str, person: Option<&Person>, web: &WebSettings, body: Markup) -> Html<String> {
    Html(frame(title, person, web, body).into_string())
}

/// The page as markup, for pages that split it to stream their middle.
pub fn frame(title: &str, person: Option<&Person>, web: &WebSettings, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · warroom" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/incidents" { "warroom" }
                    @if let Some(person) = person {
                        nav {
                            a href="/incidents" { "Incidents" }
                            a href="/oncall" { "On call" }
                            a href="/runs" { "Runs" }
                            a href="/ledger" { "Ledger" }
                        }
                        div.me {
                            span.who { (person.actor) }
                            " "
                            span.role { (person.access.as_str()) }
                            form.signout method="post" action="/signout" {
                                input type="hidden" name="csrf" value=(person.session.form_token(web));
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The marker streamed pages render where their streamed part goes.
pub fn stream_mark() -> Markup {
    PreEscaped(STREAM_MARK.to_string())
}
