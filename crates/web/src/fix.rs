//! Building a fixed message from a held one, on raw bytes (everything the fix does not touch is
//! kept byte for byte):
//!
//! - bcc-ify: [`doublecheck_engine::rewrite::bccify`] — no visible recipient lists, replies to
//!   the sender; the same envelope recipients.
//! - explode: one copy per recipient with only that recipient in To
//!   ([`doublecheck_engine::rewrite::for_recipient`]).
//! - remove an attachment: [`remove_part`] drops one top-level part of a multipart message.

use doublecheck_store::FixKind;

/// The messages a fix sends: `(recipients, raw)` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    pub copies: Vec<(Vec<String>, Vec<u8>)>,
}

/// Why a fix cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixError(pub String);

impl std::fmt::Display for FixError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FixError {}

/// The fixed message(s) for `kind` (`part`: the MIME part to remove, IMAP numbering).
pub fn build(
    kind: FixKind,
    raw: &[u8],
    mail_from: &str,
    rcpt_to: &[String],
    part: Option<&str>,
) -> Result<Fixed, FixError> {
    match kind {
        FixKind::Bccify => {
            let reply_to = Some(mail_from).filter(|s| !s.is_empty());
            Ok(Fixed {
                copies: vec![(
                    rcpt_to.to_vec(),
                    doublecheck_engine::rewrite::bccify(raw, reply_to),
                )],
            })
        }
        FixKind::Explode => Ok(Fixed {
            copies: rcpt_to
                .iter()
                .map(|r| {
                    (
                        vec![r.clone()],
                        doublecheck_engine::rewrite::for_recipient(raw, r, None),
                    )
                })
                .collect(),
        }),
        FixKind::RemoveAttachment => {
            let part = part.ok_or_else(|| FixError("Choose the attachment to remove.".into()))?;
            Ok(Fixed {
                copies: vec![(rcpt_to.to_vec(), remove_part(raw, part)?)],
            })
        }
    }
}

/// Split into the header block (without the blank line) and the body (after it).
fn split(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut i = 0;
    while i < raw.len() {
        let end = raw[i..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(raw.len(), |p| i + p + 1);
        let line = &raw[i..end];
        if line == b"\r\n" || line == b"\n" {
            return Some((&raw[..i], &raw[end..]));
        }
        i = end;
    }
    None
}

/// The `boundary` parameter of the top-level Content-Type, when it is multipart.
fn boundary(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let mut value: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(v) = value.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((name, v)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-type")
        {
            value = Some(v.trim().to_string());
        }
    }
    let value = value?;
    if !value
        .to_ascii_lowercase()
        .trim_start()
        .starts_with("multipart/")
    {
        return None;
    }
    for param in value.split(';').skip(1) {
        let Some((k, v)) = param.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.split_once('"').map(|(a, _)| a))
                .unwrap_or(v);
            if !v.is_empty() && v.len() <= 200 {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// Removes top-level part `path` ("2": the second part) of a multipart message. The message
/// must keep at least one part; nested parts ("1.2") are refused.
pub fn remove_part(raw: &[u8], path: &str) -> Result<Vec<u8>, FixError> {
    let index: usize = path.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
        FixError(format!(
            "Only a top-level attachment can be removed, not part {path:?}."
        ))
    })?;
    let (header, body) = split(raw).ok_or_else(|| FixError("The message has no body.".into()))?;
    let b = boundary(header).ok_or_else(|| {
        FixError("The message is not multipart: there is no attachment to remove.".into())
    })?;
    let delim = format!("--{b}");
    // Offsets (in `body`) of each delimiter line's start, and whether it is the closing one.
    let mut lines: Vec<(usize, bool)> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let end = body[i..]
            .iter()
            .position(|c| *c == b'\n')
            .map_or(body.len(), |p| i + p + 1);
        let line = &body[i..end];
        let trimmed = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if let Some(rest) = trimmed.strip_prefix(delim.as_bytes()) {
            let rest_trim: &[u8] = {
                let mut r = rest;
                while let Some((last, init)) = r.split_last() {
                    if *last == b' ' || *last == b'\t' {
                        r = init;
                    } else {
                        break;
                    }
                }
                r
            };
            if rest_trim.is_empty() {
                lines.push((i, false));
            } else if rest_trim == b"--" {
                lines.push((i, true));
                break;
            }
        }
        i = end;
    }
    let parts = lines.iter().filter(|(_, closing)| !closing).count();
    if index > parts {
        return Err(FixError(format!("The message has no part {index}.")));
    }
    if parts < 2 {
        return Err(FixError(
            "The message would have no part left; reject it instead.".into(),
        ));
    }
    let start = lines[index - 1].0;
    let end = lines.get(index).map_or(body.len(), |l| l.0);
    let body_start = raw.len() - body.len();
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..body_start + start]);
    out.extend_from_slice(&raw[body_start + end..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = "From: a@example.com\r\nTo: b@example.net\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed;\r\n boundary=\"XYZ\"\r\n\r\npreamble\r\n--XYZ\r\n\
Content-Type: text/plain\r\n\r\nHello\r\n--XYZ\r\nContent-Type: text/csv\r\n\
Content-Disposition: attachment; filename=\"list.csv\"\r\n\r\na,b\r\n1,2\r\n--XYZ--\r\nepilogue\r\n";

    #[test]
    fn removes_the_second_part_only() {
        let out = String::from_utf8(remove_part(MIXED.as_bytes(), "2").unwrap()).unwrap();
        assert!(!out.contains("list.csv") && !out.contains("1,2"), "{out}");
        assert!(
            out.contains("--XYZ\r\nContent-Type: text/plain\r\n\r\nHello\r\n--XYZ--\r\nepilogue")
        );
        let parsed = doublecheck_engine::parse::parse(out.as_bytes(), &Default::default());
        assert!(parsed.attachments.is_empty());
        assert_eq!(
            parsed
                .texts
                .iter()
                .filter(|t| t.text.contains("Hello"))
                .count(),
            1
        );
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        assert!(remove_part(MIXED.as_bytes(), "3").is_err());
        assert!(remove_part(MIXED.as_bytes(), "1.2").is_err());
        assert!(remove_part(MIXED.as_bytes(), "0").is_err());
        assert!(remove_part(b"From: a\r\n\r\nplain\r\n", "1").is_err());
        assert!(remove_part(b"no body at all", "1").is_err());
        let one = "Content-Type: multipart/mixed; boundary=B\n\n--B\n\nonly\n--B--\n";
        assert!(remove_part(one.as_bytes(), "1").is_err());
    }

    #[test]
    fn explode_and_bccify_build_copies() {
        let rcpts = vec!["x@example.net".to_string(), "y@example.org".to_string()];
        let e = build(
            FixKind::Explode,
            MIXED.as_bytes(),
            "a@example.com",
            &rcpts,
            None,
        )
        .unwrap();
        assert_eq!(e.copies.len(), 2);
        assert_eq!(e.copies[1].0, ["y@example.org"]);
        assert!(String::from_utf8_lossy(&e.copies[1].1).starts_with("To: <y@example.org>"));
        let b = build(
            FixKind::Bccify,
            MIXED.as_bytes(),
            "a@example.com",
            &rcpts,
            None,
        )
        .unwrap();
        assert_eq!(b.copies.len(), 1);
        assert_eq!(b.copies[0].0, rcpts);
        assert!(String::from_utf8_lossy(&b.copies[0].1).contains("Reply-To: <a@example.com>"));
        assert!(
            build(
                FixKind::RemoveAttachment,
                MIXED.as_bytes(),
                "a",
                &rcpts,
                None
            )
            .is_err()
        );
    }
}
