//! A short reference to an event: the first hex digits of its id, as documents cite events
//! (`[1a2b3c4d]` in a post-mortem). Parsed once where it comes in, so the store's lookup
//! only ever sees the canonical form of an id's beginning.

/// Fewest hex digits a reference may have: fewer would match a large share of any ledger.
pub const MIN_DIGITS: usize = 4;
/// A whole UUID.
pub const MAX_DIGITS: usize = 32;

/// Where the hyphens of a UUID's text go: after these many hex digits.
const HYPHENS_AFTER: [usize; 4] = [8, 12, 16, 20];

/// The beginning of an event id in its stored form (lowercase, hyphenated like a UUID:
/// `1a2b3c4d-5e`), from 4 to 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPrefix {
    /// The stored text's beginning: lowercase hex with hyphens where a UUID has them, never
    /// ending in a hyphen.
    text: String,
    /// How many hex digits it holds.
    digits: usize,
}

/// Why a text is not a reference to an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdPrefixError {
    #[error("'{0}' holds '{1}', which is not a hex digit")]
    NotHex(String, char),
    #[error("'{0}' has {1} hex digits, not {MIN_DIGITS} to {MAX_DIGITS}")]
    Length(String, usize),
    /// A reference copied with the brackets documents print around it.
    #[error(
        "'{0}' has the brackets a document prints around a reference; give the digits alone, {1}"
    )]
    Bracketed(String, String),
}

impl IdPrefix {
    /// Reads 4 to 32 hex digits, in either case, hyphens allowed anywhere (a whole UUID as
    /// printed, or the digits alone).
    pub fn parse(text: &str) -> Result<IdPrefix, IdPrefixError> {
        let shown = text.trim();
        if let Some(inner) = shown.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            return Err(IdPrefixError::Bracketed(
                shown.to_string(),
                inner.trim().to_string(),
            ));
        }
        let mut hex = String::new();
        for c in shown.chars() {
            match c {
                '-' => {}
                c if c.is_ascii_hexdigit() => hex.push(c.to_ascii_lowercase()),
                c => return Err(IdPrefixError::NotHex(shown.to_string(), c)),
            }
        }
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&hex.len()) {
            return Err(IdPrefixError::Length(shown.to_string(), hex.len()));
        }
        Ok(IdPrefix {
            text: hyphenated(&hex),
            digits: hex.len(),
        })
    }

    /// The beginning of the stored id text (`1a2b3c4d-5e`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How many hex digits it holds (32: a whole id).
    pub fn digits(&self) -> usize {
        self.digits
    }

    /// The least id text above every id that starts with this prefix: the prefix read as a
    /// hex number plus one, hyphenated the same way (`1a2f` → `1a30`); `g` when every digit
    /// is `f` (above every hex digit). Ids that start with the prefix are exactly those in
    /// `[prefix, end)`. The bound stays hex and the hyphens fall where they fall in every id,
    /// so the range holds in byte order and under a linguistic collation alike (digits before
    /// letters, `a` to `f` in order, hyphens in the same places on both sides): an index on
    /// the id text serves it on either database.
    pub fn range_end(&self) -> String {
        let mut hex: Vec<u8> = self.text.bytes().filter(|b| *b != b'-').collect();
        for i in (0..hex.len()).rev() {
            match hex[i] {
                b'f' => hex[i] = b'0',
                b'9' => {
                    hex[i] = b'a';
                    return hyphenated(&String::from_utf8_lossy(&hex));
                }
                d => {
                    hex[i] = d + 1;
                    return hyphenated(&String::from_utf8_lossy(&hex));
                }
            }
        }
        "g".to_string()
    }

    /// The least and the greatest id that start with this prefix, as UUIDs: the digits
    /// followed by all `0`s, and by all `f`s. A UUID column compares ids as 16 bytes, so
    /// these bound exactly the ids that start with the prefix.
    pub fn uuid_bounds(&self) -> (uuid::Uuid, uuid::Uuid) {
        let hex: String = self.text.chars().filter(|c| *c != '-').collect();
        let padded = |fill: &str| {
            let text = format!("{hex}{}", fill.repeat(MAX_DIGITS - self.digits));
            uuid::Uuid::parse_str(&text).expect("32 hex digits are a UUID")
        };
        (padded("0"), padded("f"))
    }
}

impl std::fmt::Display for IdPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Lowercase hex digits with a UUID's hyphens inserted where the digits reach them.
fn hyphenated(hex: &str) -> String {
    let mut out = String::with_capacity(hex.len() + 4);
    for (i, c) in hex.chars().enumerate() {
        if HYPHENS_AFTER.contains(&i) {
            out.push('-');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_into_the_stored_form() {
        let p = IdPrefix::parse("1A2B3C4D").unwrap();
        assert_eq!((p.as_str(), p.digits()), ("1a2b3c4d", 8));
        assert_eq!(
            IdPrefix::parse("1a2b3c4d5e").unwrap().as_str(),
            "1a2b3c4d-5e"
        );
        assert_eq!(
            IdPrefix::parse(" 1a2b-3c4d-5e ").unwrap().as_str(),
            "1a2b3c4d-5e"
        );
        let whole = "be9801a7-25d7-5890-a8cc-01e6e0f80c48";
        let p = IdPrefix::parse(&whole.to_uppercase()).unwrap();
        assert_eq!((p.as_str(), p.digits()), (whole, 32));
        assert_eq!(
            IdPrefix::parse(&whole.replace('-', "")).unwrap().as_str(),
            whole
        );
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        assert_eq!(
            IdPrefix::parse("1a2"),
            Err(IdPrefixError::Length("1a2".into(), 3))
        );
        assert_eq!(
            IdPrefix::parse("1a2b3c4d-25d7-5890-a8cc-01e6e0f80c48a"),
            Err(IdPrefixError::Length(
                "1a2b3c4d-25d7-5890-a8cc-01e6e0f80c48a".into(),
                33
            ))
        );
        assert_eq!(
            IdPrefix::parse("[1a2b3c4d]"),
            Err(IdPrefixError::Bracketed(
                "[1a2b3c4d]".into(),
                "1a2b3c4d".into()
            ))
        );
        assert_eq!(
            IdPrefix::parse("1a2b3c4d]"),
            Err(IdPrefixError::NotHex("1a2b3c4d]".into(), ']'))
        );
        assert_eq!(
            IdPrefix::parse("INC-1"),
            Err(IdPrefixError::NotHex("INC-1".into(), 'I'))
        );
        assert!(IdPrefix::parse("----").is_err());
    }

    #[test]
    fn the_range_ends_at_the_next_prefix() {
        let end = |p: &str| IdPrefix::parse(p).unwrap().range_end();
        assert_eq!(end("1a2b"), "1a2c");
        assert_eq!(end("1a29"), "1a2a");
        assert_eq!(end("1a2f"), "1a30");
        assert_eq!(end("1a2b3c4f-ff"), "1a2b3c50-00");
        assert_eq!(end("ffff"), "g");
        // Every id that starts with the prefix is inside, the next one is not.
        let p = IdPrefix::parse("be9801a7-2").unwrap();
        let (lo, hi) = (p.as_str().to_string(), p.range_end());
        let inside = "be9801a7-2fff-5890-a8cc-01e6e0f80c48";
        let after = "be9801a7-3000-0000-0000-000000000000";
        assert!(lo.as_str() <= inside && inside < hi.as_str());
        assert!(after >= hi.as_str());
    }

    #[test]
    fn the_uuid_bounds_hold_exactly_the_ids_with_the_prefix() {
        let bounds = |p: &str| {
            let (lo, hi) = IdPrefix::parse(p).unwrap().uuid_bounds();
            (lo.to_string(), hi.to_string())
        };
        assert_eq!(
            bounds("be9801a7-2"),
            (
                "be9801a7-2000-0000-0000-000000000000".to_string(),
                "be9801a7-2fff-ffff-ffff-ffffffffffff".to_string()
            )
        );
        assert_eq!(bounds("ffff").1, "ffffffff-ffff-ffff-ffff-ffffffffffff");
        let whole = "be9801a7-25d7-5890-a8cc-01e6e0f80c48";
        assert_eq!(bounds(whole), (whole.to_string(), whole.to_string()));
    }
}
