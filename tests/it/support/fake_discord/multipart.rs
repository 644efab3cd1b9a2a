//! Just enough of a `multipart/form-data` reader for what serenity uploads: a `payload_json`
//! text part and file parts (`files[0]`, `files[1]`, …) with a filename and raw bytes.

/// One part of a form.
#[derive(Debug)]
pub(super) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// The parts of `body`, given the request's `Content-Type` (which carries the boundary).
pub(super) fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|param| param.strip_prefix("boundary="))
        .ok_or_else(|| format!("no boundary in {content_type:?}"))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    // Every part after the first is introduced by CRLF + delimiter; searching for that (and
    // not the bare delimiter) keeps a file that happens to contain "--boundary" at a line
    // start from being split, as far as the boundary's randomness allows.
    let separator = [b"\r\n".as_slice(), &delimiter].concat();

    let mut at = find(body, &delimiter, 0).ok_or("no opening boundary")? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body[at..].starts_with(b"--") {
            return Ok(parts);
        }
        at += skip_line_break(&body[at..]);
        let headers_end = find(body, b"\r\n\r\n", at).ok_or("a part without a blank line")?;
        let headers = std::str::from_utf8(&body[at..headers_end])
            .map_err(|_| "part headers are not UTF-8")?;
        let data_start = headers_end + 4;
        let data_end = find(body, &separator, data_start).ok_or("a part without an end")?;
        parts.push(part(headers, body[data_start..data_end].to_vec())?);
        at = data_end + separator.len();
    }
}

fn part(headers: &str, data: Vec<u8>) -> Result<Part, String> {
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in headers.split("\r\n") {
        let Some((header, value)) = line.split_once(':') else {
            continue;
        };
        match header.trim().to_ascii_lowercase().as_str() {
            "content-disposition" => {
                name = param(value, "name");
                filename = param(value, "filename");
            }
            "content-type" => content_type = Some(value.trim().to_string()),
            _ => {}
        }
    }
    Ok(Part {
        name: name.ok_or_else(|| format!("a part without a name: {headers:?}"))?,
        filename,
        content_type,
        data,
    })
}

/// The value of `key` in a `Content-Disposition` header: a quoted string (with reqwest's
/// backslash escapes undone) or a bare token.
fn param(header: &str, key: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let start = rest.find(key)?;
        let before = rest[..start].trim_end();
        let after = &rest[start + key.len()..];
        // Only a whole parameter name counts: "name" must not match inside "filename".
        if (before.is_empty() || before.ends_with(';')) && after.starts_with('=') {
            let value = &after[1..];
            let Some(quoted) = value.strip_prefix('"') else {
                return Some(value.split(';').next().unwrap_or("").trim().to_string());
            };
            let mut out = String::new();
            let mut chars = quoted.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    '"' => return Some(out),
                    c => out.push(c),
                }
            }
            return Some(out);
        }
        rest = after;
    }
}

fn skip_line_break(rest: &[u8]) -> usize {
    if rest.starts_with(b"\r\n") {
        2
    } else if rest.starts_with(b"\n") {
        1
    } else {
        0
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|i| i + from)
}
