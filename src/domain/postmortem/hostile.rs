//! Hostile texts in every free-text place of a post-mortem, rendered and parsed back with a
//! real Markdown parser: the headings are always exactly the document's own, no text turns
//! into HTML, code, a table, a quote or a link, and every text is found whole in one item.

use super::fixture::{directory, Log};
use super::{assemble, render_markdown, SECTIONS};
use crate::domain::event::{AlertFacts, AlertStatus, Attachment, ChatMessage, Event};
use crate::domain::types::{ImpactArea, IncidentNumber, Role, Severity};
use pulldown_cmark::{Event as Md, Options, Parser, Tag, TagEnd};

/// Texts that each broke the layout of the document before it escaped free text.
fn corpus() -> Vec<String> {
    let mut texts: Vec<String> = [
        "ok\n\n## Resolution\nFORGED: root cause was the intern",
        "```\nunclosed fence hides the rest",
        "~~~\ntilde fence",
        "<!-- hide the rest of the document",
        "<script>alert(1)</script>",
        "<h2>Heading</h2> and <b>bold</b>",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "# heading one",
        "> quote\n> more quote",
        "- item\n* item\n+ item",
        "1. one\n2) two",
        "text\n===\nmore\n---",
        "***\n___",
        "[link](http://evil.example) ![img](x.png) <http://auto.example>",
        "[ref]: http://evil.example\n[ref]",
        "&lt;b&gt; &amp; &#35; AT&T",
        "\u{202E}RTL override\u{2066}isolate\u{200B}zero\u{200D}width\u{FEFF}",
        "NUL\0inside and a bell\u{7}",
        "    indented code\n\tand a tab",
        "trailing backslash\\\nnext line",
        "@everyone @here <@&123> <#456>",
        "__init__ *bold* **strong** _em_ `code` ~~gone~~ snake_case_name",
        "[^1]\n\n[^1]: a footnote",
        "\\## already escaped",
        "<details><summary>open me</summary>",
        "line one\r\nline two\rline three",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    texts.push("x".repeat(2_000));
    texts
}

/// The text as it must read in its item: lines without their leading and trailing blanks,
/// blank lines dropped, characters that are not text shown as U+FFFD, tabs as spaces.
fn as_read(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(|l| {
            l.chars()
                .map(|c| match c {
                    '\t' => ' ',
                    c if (c.is_control())
                        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') =>
                    {
                        '\u{FFFD}'
                    }
                    c => c,
                })
                .collect::<String>()
                .trim_matches([' ', '\u{0B}', '\u{0C}'])
                .to_string()
        })
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// An incident with `text` in every place free text can go.
fn incident_full_of(text: &str) -> Log {
    let mut log = Log(vec![]);
    let one_line = text.replace(['\n', '\r'], " ");
    let message = |id: &str, author: &str, text: &str| {
        Event::MessagePosted(ChatMessage {
            channel: "ops".into(),
            message_id: Some(id.into()),
            author: author.into(),
            text: text.into(),
            mentions: crate::domain::contacts::mentions(text),
            reply_to: None,
            attachments: vec![Attachment {
                name: text.into(),
                url: "https://cdn.example/a.png".into(),
                size: 12,
            }],
        })
    };
    log.at(
        (9, 0),
        "alertmanager",
        Event::AlertReceived(AlertFacts {
            source: "alertmanager".into(),
            name: text.into(),
            status: AlertStatus::Firing,
            channel: "ops".into(),
            fingerprint: "f".into(),
            severity: None,
            summary: Some(text.into()),
            labels: Default::default(),
            annotations: Default::default(),
            starts_at: None,
            ends_at: None,
        }),
    )
    .at(
        (9, 1),
        "rpark",
        Event::IncidentOpened {
            number: IncidentNumber(1),
            title: one_line.clone(),
            severity: Severity::Sev1,
            channel: "ops".into(),
        },
    )
    .at((9, 2), "svega", message("m1", "svega", text))
    // A stranger's name as the console's `from` gives it.
    .at((9, 3), &one_line, message("m2", &one_line, "hello"))
    .at(
        (9, 4),
        "rpark",
        Event::RoleAssigned {
            role: Role::Commander,
            handle: one_line.clone(),
            previous: None,
        },
    )
    .at(
        (9, 5),
        "rpark",
        Event::StatusUpdatePosted { text: text.into() },
    )
    .at(
        (9, 6),
        "rpark",
        Event::ImpactNoted {
            area: ImpactArea::Customer,
            text: text.into(),
        },
    )
    .at((9, 7), "rpark", Event::CauseNoted { text: text.into() })
    .at(
        (9, 8),
        "rpark",
        Event::IncidentMitigated {
            text: Some(text.into()),
        },
    )
    .at(
        (9, 9),
        "rpark",
        Event::ResolutionNoted { text: text.into() },
    )
    .at(
        (9, 10),
        "rpark",
        Event::ActionAdded {
            text: text.into(),
            owner: Some(one_line.clone()),
            due: None,
        },
    )
    .at(
        (9, 11),
        "rpark",
        Event::MessageHighlighted {
            channel: "ops".into(),
            message_id: "m1".into(),
        },
    )
    .at(
        (9, 12),
        "rpark",
        Event::IncidentResolved { implicit: false },
    );
    log
}

/// What the parser found in the document.
#[derive(Default)]
struct Parsed {
    headings: Vec<String>,
    /// The text of every list item, nested items' text included.
    items: Vec<String>,
    /// Structure no free text may make.
    forbidden: Vec<String>,
}

fn parse(md: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut heading: Option<String> = None;
    let mut open_items: Vec<String> = Vec::new();
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_TASKLISTS;
    for event in Parser::new_ext(md, options) {
        let text = match &event {
            Md::Text(t) => Some(t.to_string()),
            Md::SoftBreak | Md::HardBreak => Some("\n".to_string()),
            Md::Start(Tag::Heading { .. }) => {
                heading = Some(String::new());
                None
            }
            Md::End(TagEnd::Heading(_)) => {
                parsed.headings.extend(heading.take());
                None
            }
            Md::Start(Tag::Item) => {
                open_items.push(String::new());
                None
            }
            Md::End(TagEnd::Item) => {
                let item = open_items.pop().unwrap_or_default();
                if let Some(outer) = open_items.last_mut() {
                    outer.push_str(&item);
                }
                parsed.items.push(item);
                None
            }
            Md::Code(c) => {
                parsed.forbidden.push(format!("inline code {c:?}"));
                None
            }
            Md::Html(h) | Md::InlineHtml(h) => {
                parsed.forbidden.push(format!("HTML {h:?}"));
                None
            }
            Md::FootnoteReference(f) => {
                parsed.forbidden.push(format!("footnote {f:?}"));
                None
            }
            Md::Start(
                tag @ (Tag::CodeBlock(_)
                | Tag::BlockQuote(_)
                | Tag::Table(_)
                | Tag::Link { .. }
                | Tag::Image { .. }
                | Tag::HtmlBlock
                | Tag::FootnoteDefinition(_)
                | Tag::Strikethrough
                | Tag::Emphasis),
            ) => {
                parsed.forbidden.push(format!("{tag:?}"));
                None
            }
            _ => None,
        };
        if let Some(text) = text {
            if let Some(h) = &mut heading {
                h.push_str(&text);
            }
            if let Some(item) = open_items.last_mut() {
                item.push_str(&text);
            }
        }
    }
    parsed
}

#[test]
fn no_hostile_text_changes_the_documents_structure_and_each_reads_whole_in_its_item() {
    for text in corpus() {
        let log = incident_full_of(&text);
        let pm = assemble(&log.0, &directory(), chrono_tz::UTC).unwrap();
        let md = render_markdown(&pm);
        let parsed = parse(&md);
        let shown = as_read(&text);
        let one_line = as_read(&text.replace(['\n', '\r'], " "));

        assert_eq!(parsed.headings.len(), 1 + SECTIONS.len(), "{text:?}\n{md}");
        assert_eq!(
            parsed.headings[1..],
            SECTIONS.map(String::from),
            "{text:?}\n{md}"
        );
        assert!(
            parsed.headings[0].starts_with(&format!("{one_line} — ")),
            "the title reads whole: {:?} for {text:?}",
            parsed.headings[0]
        );
        // Every section of this incident has content, so no code span of the document's
        // own instructions is there either.
        assert!(
            parsed.forbidden.is_empty(),
            "{text:?} made {:?}\n{md}",
            parsed.forbidden
        );

        // Every place: the message, its attachment's name, the alert's name and summary, the
        // update, impact, cause, mitigation, resolution and action; the stranger and the
        // role holder by name.
        let whole = parsed.items.iter().filter(|i| i.contains(&shown)).count();
        assert!(
            whole >= 10,
            "{text:?} is found whole in only {whole} items\n{md}"
        );
        assert!(
            parsed
                .items
                .iter()
                .any(|i| i.contains(&format!("@{}", one_line.trim_start_matches(['@', '!'])))),
            "the stranger's name reads whole: {text:?}\n{md}"
        );
        assert!(!md.contains('\0'), "no NUL reaches the document: {text:?}");
    }
}

#[test]
fn a_forged_heading_in_chat_stays_inside_its_timeline_line() {
    let log = incident_full_of("ok\n\n## Resolution\nFORGED: root cause was the intern");
    let md = render_markdown(&assemble(&log.0, &directory(), chrono_tz::UTC).unwrap());
    assert!(
        md.contains(
            ": **ok\n  \\## Resolution\n  FORGED: root cause was the intern** (attachment:"
        ),
        "{md}"
    );
    assert_eq!(md.matches("\n## Resolution\n").count(), 1, "{md}");
}
