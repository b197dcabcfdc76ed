//! `content.solicits_sensitive`: the message asks the reader to send, reply with, attach or
//! forward a sensitive document or number (the request that caused the incident).
//!
//! Language understanding (phrase lists per language, negation, discussion, safe channels)
//! lives in `doublecheck-intent`; this module turns its matches into one finding.

use super::Context;
use crate::finding::{Finding, Location, Severity};
use crate::parse::Origin;

pub const ID: &str = "content.solicits_sensitive";

/// The fix every solicitation finding suggests.
pub const FIX: &str = "Do not collect documents or numbers by email: send each customer their own expiring verification link instead (doublecheck verify send --email customer@example.com --type document, or POST /v1/verification_sessions).";

pub fn detect(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let mut first: Option<(Location, String, String, bool)> = None;
    let mut categories: Vec<String> = Vec::new();
    let mut count = 0usize;
    for seg in &ctx.msg.texts {
        let found = ctx.tools.intent.find(&seg.text);
        for s in found {
            count += 1;
            let category = s.category.to_string();
            if !categories.contains(&category) {
                categories.push(category);
            }
            if first.is_none() {
                let location = match seg.origin {
                    Origin::Subject => Location::header("Subject"),
                    _ => Location::part(&seg.path),
                }
                .with_range(s.start, s.end);
                first = Some((
                    location,
                    mask_digits(&s.snippet),
                    s.document.clone(),
                    seg.origin.is_attachment(),
                ));
            }
        }
    }
    let Some((location, snippet, document, in_attachment)) = first else {
        return;
    };
    let others = if categories.len() > 1 {
        format!(" (also asks for: {})", categories[1..].join(", "))
    } else {
        String::new()
    };
    out.push(
        Finding::new(ID, if in_attachment { Severity::Medium } else { Severity::High }, location)
            .kind(categories[0].clone())
            .count(count)
            .evidence(format!("\"{snippet}\"{others}"))
            .reason(format!(
                "The message asks the reader to send their {document} by email, where every copy stays in mailboxes and can reach the wrong people."
            ))
            .fix(FIX),
    );
}

/// Replace runs of 4+ digits with `*` so a quoted request never carries a number in full.
fn mask_digits(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let j = bytes[i..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .map_or(bytes.len(), |p| i + p);
            if j - i >= 4 {
                out.extend(std::iter::repeat_n('*', j - i));
            } else {
                out.push_str(&s[i..j]);
            }
            i = j;
        } else {
            let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&s[i..i + ch_len]);
            i += ch_len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testutil::run;

    #[test]
    fn the_incident_request_is_found() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@gmail.com\r\nSubject: Address check\r\n\r\nDear customer,\r\nplease reply to this email with a copy of your driver's license to verify your address.\r\n",
            &[],
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(f[0].location.part.as_deref(), Some("1"));
        assert!(f[0].evidence.contains("license"));
    }

    #[test]
    fn negation_is_not_a_request() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@gmail.com\r\n\r\nReminder: never send your license by email.\r\n",
            &[],
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn digits_are_masked_in_quotes() {
        assert_eq!(
            mask_digits("card 4111111111111111 or 12"),
            "card **************** or 12"
        );
        assert_eq!(mask_digits("año 2024"), "año ****");
    }
}
