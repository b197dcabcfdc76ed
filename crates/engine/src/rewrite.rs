//! Rewriting a message for the fix actions, on raw bytes: everything outside the header fields
//! touched is kept byte for byte (signatures over the body stay valid).
//!
//! - [`bccify`]: remove To, Cc (and Reply-To), set `To: undisclosed-recipients:;` and a
//!   Reply-To of the sender; the envelope recipients do not change.
//! - [`for_recipient`]: the copy of an exploded message for one recipient: only that recipient
//!   in To, no Cc or Bcc, and `{{verify_link}}` replaced where a link is given.
//! - [`add_headers`]: prepend header fields (the `X-Doublecheck-*` of a warning).

/// Split a message into its header block (without the blank line) and the rest (starting with
/// the blank line), tolerating LF-only line ends. No blank line: all header.
fn split(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < raw.len() {
        let line_end = memchr::memchr(b'\n', &raw[i..]).map_or(raw.len(), |p| i + p + 1);
        let line = &raw[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            return (&raw[..i], &raw[i..]);
        }
        i = line_end;
    }
    (raw, &[])
}

/// The header fields of a header block, each with its continuation lines.
fn fields(block: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < block.len() {
        let line_end = memchr::memchr(b'\n', &block[i..]).map_or(block.len(), |p| i + p + 1);
        let next_is_continuation = block
            .get(line_end)
            .is_some_and(|&b| b == b' ' || b == b'\t');
        if !next_is_continuation {
            out.push(&block[start..line_end]);
            start = line_end;
        }
        i = line_end;
    }
    if start < block.len() {
        out.push(&block[start..]);
    }
    out
}

fn field_name(field: &[u8]) -> &[u8] {
    let colon = memchr::memchr(b':', field).unwrap_or(0);
    let name = &field[..colon];
    let end = name
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    &name[..end]
}

fn is_one_of(field: &[u8], names: &[&str]) -> bool {
    let name = field_name(field);
    names
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// The line ending the message uses.
fn eol(raw: &[u8]) -> &'static [u8] {
    match memchr::memchr(b'\n', raw) {
        Some(p) if p > 0 && raw[p - 1] == b'\r' => b"\r\n",
        Some(_) => b"\n",
        None => b"\r\n",
    }
}

/// A header field value safe to write: no line breaks.
fn clean(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
}

fn rebuild(raw: &[u8], remove: &[&str], add: &[(&str, String)]) -> Vec<u8> {
    let (block, rest) = split(raw);
    let nl = eol(raw);
    let mut out = Vec::with_capacity(raw.len() + 128);
    for (name, value) in add {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(clean(value).as_bytes());
        out.extend_from_slice(nl);
    }
    for f in fields(block) {
        if !is_one_of(f, remove) {
            out.extend_from_slice(f);
        }
    }
    if rest.is_empty() {
        out.extend_from_slice(nl);
    }
    out.extend_from_slice(rest);
    out
}

/// Remove the visible recipient lists; replies go to `reply_to` (the sender).
pub fn bccify(raw: &[u8], reply_to: Option<&str>) -> Vec<u8> {
    let mut add = vec![("To", "undisclosed-recipients:;".to_string())];
    if let Some(r) = reply_to.filter(|r| !r.is_empty()) {
        add.push(("Reply-To", format!("<{}>", r.trim_matches(['<', '>']))));
    }
    rebuild(raw, &["To", "Cc", "Bcc", "Reply-To"], &add)
}

/// The copy for one recipient of an exploded message. `verify_link` replaces every
/// `{{verify_link}}` in the message (headers and body) when given.
pub fn for_recipient(raw: &[u8], recipient: &str, verify_link: Option<&str>) -> Vec<u8> {
    let out = rebuild(
        raw,
        &["To", "Cc", "Bcc"],
        &[("To", format!("<{}>", recipient.trim_matches(['<', '>'])))],
    );
    match verify_link {
        Some(link) => replace_all(&out, b"{{verify_link}}", link.as_bytes()),
        None => out,
    }
}

/// Prepend header fields.
pub fn add_headers(raw: &[u8], headers: &[(String, String)]) -> Vec<u8> {
    let add: Vec<(&str, String)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    rebuild(raw, &[], &add)
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut last = 0;
    for pos in memchr::memmem::find_iter(hay, needle) {
        out.extend_from_slice(&hay[last..pos]);
        out.extend_from_slice(with);
        last = pos + needle.len();
    }
    out.extend_from_slice(&hay[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "From: care@example.com\r\nTo: a@gmail.com,\r\n b@yahoo.com\r\nCc: c@aol.com\r\nReply-To: customers@example.com\r\nSubject: hi\r\n\r\nBody {{verify_link}} stays\r\nTo: not a header\r\n";

    #[test]
    fn bccify_removes_lists_and_keeps_the_rest() {
        let out = String::from_utf8(bccify(MSG.as_bytes(), Some("care@example.com"))).unwrap();
        assert!(out.starts_with("To: undisclosed-recipients:;\r\nReply-To: <care@example.com>\r\nFrom: care@example.com\r\nSubject: hi\r\n\r\n"), "{out}");
        assert!(
            !out.contains("a@gmail.com")
                && !out.contains("b@yahoo.com")
                && !out.contains("c@aol.com")
        );
        assert!(out.ends_with("\r\n\r\nBody {{verify_link}} stays\r\nTo: not a header\r\n"));
        let parsed = crate::parse::parse(out.as_bytes(), &crate::Limits::default());
        assert!(parsed.headers.to.is_empty());
        assert_eq!(parsed.headers.reply_to[0].address, "care@example.com");
    }

    #[test]
    fn one_copy_per_recipient() {
        let out = String::from_utf8(for_recipient(
            MSG.as_bytes(),
            "b@yahoo.com",
            Some("https://v.example/t/abc"),
        ))
        .unwrap();
        let parsed = crate::parse::parse(out.as_bytes(), &crate::Limits::default());
        let to: Vec<&str> = parsed
            .headers
            .to
            .iter()
            .map(|a| a.address.as_str())
            .collect();
        assert_eq!(to, ["b@yahoo.com"]);
        assert!(parsed.headers.cc.is_empty());
        assert!(out.contains("Body https://v.example/t/abc stays"));
        assert!(out.contains("Reply-To: customers@example.com"));
    }

    #[test]
    fn lf_only_and_headers_only_messages() {
        let out = bccify(b"From: a@x.com\nTo: b@y.com\n\nhello\n", None);
        assert_eq!(
            out,
            b"To: undisclosed-recipients:;\nFrom: a@x.com\n\nhello\n"
        );
        let out = add_headers(
            b"From: a@x.com\r\nTo: b@y.com",
            &[("X-Doublecheck-Verdict".into(), "warn\r\nInjected: x".into())],
        );
        assert_eq!(
            out,
            b"X-Doublecheck-Verdict: warn  Injected: x\r\nFrom: a@x.com\r\nTo: b@y.com\r\n"
        );
    }
}
