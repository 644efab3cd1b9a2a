//! Free text — chat messages, titles, notes, names, alert summaries — written into the
//! Markdown so that it reads as itself and can never change the document's structure.
//!
//! Anyone in the incident channel can type text that ends up in a published document; a
//! message like `ok\n\n## Resolution\nFORGED` must stay one line of the timeline. So every
//! character CommonMark or GitHub's extensions give a meaning is escaped with a backslash
//! (which every renderer, Discord's included, shows as the character itself), line breaks
//! become continuation lines indented inside their list item, and characters that are not
//! text at all (NUL and other controls, bidirectional overrides) become U+FFFD. Only what can
//! take effect is escaped, so an ordinary sentence stays as it was typed.

/// Where the text goes: inside a list item whose content starts `indent` columns in, or on a
/// line of its own that cannot hold a line break (the title heading).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Place {
    /// Continuation lines are indented by this many spaces so they stay in the item.
    Item(usize),
    /// A line or paragraph of its own (the title heading, the summary): line breaks become
    /// spaces, block markers are escaped at its start, and `#` anywhere, since a heading
    /// strips a trailing run of them.
    Line,
}

/// Appends `text` to `out`, made inert for `place`.
pub(crate) fn push_inert(out: &mut String, text: &str, place: Place) {
    // One line without a leading space that the careful pass would copy as it is.
    if !text.starts_with(' ') && is_plain(text, place) {
        out.push_str(text);
        return;
    }
    let mut first = true;
    for line in text.split(['\n', '\r']) {
        // Leading whitespace would make an indented code block or leave the item; a blank
        // line would make the list loose or end it.
        let line = line.trim_start_matches([' ', '\t', '\u{0B}', '\u{0C}']);
        if line.trim().is_empty() {
            continue;
        }
        if !first {
            match place {
                Place::Item(indent) => {
                    out.push('\n');
                    out.extend(std::iter::repeat_n(' ', indent));
                }
                Place::Line => out.push(' '),
            }
        }
        push_line(out, line, place);
        first = false;
    }
}

/// `text` made inert for `place`, as a new string.
pub(crate) fn inert(text: &str, place: Place) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    push_inert(&mut out, text, place);
    out
}

/// One line. Its start is treated as the start of a block, where markers (headings, quotes,
/// lists, rules, setext underlines, fences) count: a later line always is one, and the first
/// is one wherever the text opens a list item (`- {text}`).
fn push_line(out: &mut String, line: &str, place: Place) {
    if is_plain(line, place) {
        out.push_str(line);
    } else {
        push_escaped(out, line, place);
    }
}

/// One line, character by character.
fn push_escaped(out: &mut String, line: &str, place: Place) {
    let chars: Vec<char> = line.chars().collect();
    // An ordered-list marker: digits, then `.` or `)` — escape the punctuation.
    let digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
    let list_number_end =
        (digits > 0 && digits <= 9 && matches!(chars.get(digits), Some('.') | Some(')')))
            .then_some(digits);
    for (i, &c) in chars.iter().enumerate() {
        let at_start = i == 0;
        let escape = match c {
            // Always meaningful inline: escapes, code, emphasis, strikethrough, links,
            // images, footnotes, HTML, autolinks, table cells.
            '\\' | '`' | '*' | '~' | '[' | ']' | '<' | '>' | '|' => true,
            // `_` inside a word cannot open or close emphasis (`service_name` stays as is).
            '_' => !(is_word(chars.get(i.wrapping_sub(1))) && is_word(next_non(&chars, i, '_'))),
            // An entity (`&lt;`, `&#60;`) would be decoded into another character.
            '&' => {
                let name = chars[i + 1..]
                    .iter()
                    .take_while(|n| n.is_ascii_alphanumeric() || **n == '#')
                    .count();
                name > 0 && chars.get(i + 1 + name) == Some(&';')
            }
            '#' => at_start || matches!(place, Place::Line),
            // List bullets, thematic breaks and setext underlines start a line.
            '-' | '+' | '=' => at_start,
            '.' | ')' => list_number_end == Some(i),
            _ => false,
        };
        if escape {
            out.push('\\');
            out.push(c);
        } else if is_not_text(c) {
            out.push('\u{FFFD}');
        } else if c == '\t' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
}

/// Whether `line` would come out of the character-by-character pass unchanged: not empty,
/// printable ASCII without any character that is ever escaped (nor a line break), and no
/// block marker (a digit, `#`, `-`, `+`, `=`) at its start. Most chat lines are, and copying
/// them whole is what keeps a 100k-line timeline fast.
fn is_plain(line: &str, place: Place) -> bool {
    let Some(&first) = line.as_bytes().first() else {
        return false;
    };
    let starts_block = first.is_ascii_digit() || matches!(first, b'#' | b'-' | b'+' | b'=');
    !starts_block
        && line.bytes().all(|b| PLAIN[usize::from(b)])
        && !(matches!(place, Place::Line) && line.contains('#'))
}

/// The bytes `is_plain` lets through, by value: a table, so that the check of a long text
/// is one lookup a byte.
static PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut b = b' ';
    while b <= b'~' {
        plain[b as usize] = !matches!(
            b,
            b'\\' | b'`' | b'*' | b'~' | b'[' | b']' | b'<' | b'>' | b'|' | b'_' | b'&'
        );
        b += 1;
    }
    plain
};

fn is_word(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric())
}

/// The first character after `i` that is not `skip`.
fn next_non(chars: &[char], i: usize, skip: char) -> Option<&char> {
    chars[i + 1..].iter().find(|&&c| c != skip)
}

/// Control characters and the bidirectional embeddings, overrides and isolates, which can
/// make a line display as something else than it says.
fn is_not_text(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The shortcut for plain lines never changes what the careful pass would write.
        #[test]
        fn plain_lines_come_out_as_the_careful_pass_writes_them(line in "[ -~]{0,40}") {
            for place in [Place::Item(2), Place::Line] {
                let mut careful = String::new();
                push_escaped(&mut careful, &line, place);
                let mut written = String::new();
                push_line(&mut written, &line, place);
                proptest::prop_assert_eq!(&written, &careful);
                // A text of one line takes the same shortcut, unless a leading space or
                // its emptiness makes the careful pass drop something.
                let mut whole = String::new();
                push_inert(&mut whole, &line, place);
                let trimmed = line.trim_start_matches(' ');
                let mut expected = String::new();
                if !trimmed.trim().is_empty() {
                    push_escaped(&mut expected, trimmed, place);
                }
                proptest::prop_assert_eq!(&whole, &expected);
            }
        }
    }

    #[test]
    fn ordinary_text_is_left_as_typed() {
        for text in [
            "Main app is back up.",
            "App is still not responding, checking db_primary now",
            "AT&T says 5 - 3 = 2 (really) #ops",
            "I'll restart it at 10:15!",
        ] {
            assert_eq!(inert(text, Place::Item(2)), text);
        }
    }

    #[test]
    fn structure_is_escaped_and_lines_stay_in_the_item() {
        assert_eq!(
            inert("ok\n\n## Resolution\nFORGED", Place::Item(2)),
            "ok\n  \\## Resolution\n  FORGED"
        );
        assert_eq!(
            inert("a\n- b\n1. c\n---\n> q", Place::Item(4)),
            "a\n    \\- b\n    1\\. c\n    \\---\n    \\> q"
        );
        assert_eq!(
            inert(
                "<script>x</script> `code` *b* _i_ [l](u) &lt;",
                Place::Item(2)
            ),
            "\\<script\\>x\\</script\\> \\`code\\` \\*b\\* \\_i\\_ \\[l\\](u) \\&lt;"
        );
        assert_eq!(
            inert("Title ##\nsecond", Place::Line),
            "Title \\#\\# second"
        );
        assert_eq!(
            inert("a\0b\u{202E}c", Place::Item(2)),
            "a\u{FFFD}b\u{FFFD}c"
        );
    }
}
