//! `message.malformed`: parse anomalies. A scanner that cannot see must say so.
//!
//! One finding per kind of anomaly (with how many times it happened); anomalies about
//! attachments are reported by `attachments.*` instead.

use super::Context;
use crate::finding::{Finding, Location, Severity};
use crate::parse::AnomalyKind;

pub const ID: &str = "message.malformed";

pub fn detect(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let mut done: Vec<AnomalyKind> = Vec::new();
    for a in &ctx.msg.anomalies {
        let (severity, kind, fix) = match a.kind {
            AnomalyKind::Unparseable => (
                Severity::Medium,
                "unparseable",
                "Send a well-formed RFC 5322 message (headers, blank line, body).",
            ),
            AnomalyKind::Truncated => (
                Severity::Medium,
                "truncated",
                "Send large files through a file-sharing system instead of email.",
            ),
            AnomalyKind::TooDeep => (
                Severity::Medium,
                "too_deep",
                "Attach files directly instead of forwarding messages inside messages.",
            ),
            AnomalyKind::TooManyParts => (
                Severity::Medium,
                "too_many_parts",
                "Split the message or share the files another way.",
            ),
            AnomalyKind::Encoding => (
                Severity::Low,
                "encoding",
                "Check the mail client's encoding settings; re-send the message.",
            ),
            AnomalyKind::TooManyHeaders => (
                Severity::Low,
                "too_many_headers",
                "Check the program that generated this message.",
            ),
            AnomalyKind::BadHeader => (
                Severity::Low,
                "bad_header",
                "Check the sender and recipient headers of the program that generated this message.",
            ),
            _ => continue,
        };
        if done.contains(&a.kind) {
            if let Some(f) = out
                .iter_mut()
                .rev()
                .find(|f| f.id == ID && f.kind.as_deref() == Some(kind))
            {
                f.count += 1;
            }
            continue;
        }
        done.push(a.kind);
        let location = if a.path.is_empty() {
            Location::message()
        } else {
            Location::part(&a.path)
        };
        out.push(
            Finding::new(ID, severity, location)
                .kind(kind)
                .evidence(a.detail.clone())
                .reason("Part of the message could not be read, so it was not fully checked.")
                .fix(fix),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testutil::run;

    #[test]
    fn no_headers_is_reported() {
        let f = run(
            detect,
            "just some text without any header\r\n",
            &["x@gmail.com"],
        );
        assert!(
            f.iter().any(|x| x.kind.as_deref() == Some("unparseable")
                || x.kind.as_deref() == Some("bad_header")),
            "{f:?}"
        );
    }

    #[test]
    fn clean_message_has_none() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n",
            &[],
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn broken_base64_is_reported() {
        let raw = "From: a@example.com\r\nTo: b@example.com\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!! not base64 ####\r\n";
        let f = run(detect, raw, &[]);
        // mail-parser decodes best effort; either it flags the encoding or the text survives.
        assert!(f.iter().all(|x| x.id == ID));
    }
}
