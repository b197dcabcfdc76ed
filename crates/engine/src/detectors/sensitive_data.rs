//! `content.sensitive_data`: validated sensitive values in the subject, bodies and attachments.
//!
//! Matching and validation live in `doublecheck-pii` (Luhn, mod-97, SSN rules, context words…).
//! Here: one finding per data type with the number of distinct values, so one card number and a
//! spreadsheet of 200 read differently. E-mail addresses and phone numbers are everywhere in
//! ordinary mail: they are reported only in bulk, and the message's own header addresses do not
//! count.

use super::Context;
use crate::finding::{Finding, Location, Severity};
use crate::parse::Origin;
use doublecheck_pii::Kind;
use std::collections::{BTreeMap, HashSet};

pub const ID: &str = "content.sensitive_data";

struct PerKind {
    keys: HashSet<u64>,
    first: Option<(Location, String)>,
    in_attachment_only: bool,
}

pub fn detect(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let header_addrs: HashSet<&str> = ctx
        .msg
        .headers
        .from
        .iter()
        .chain(&ctx.msg.headers.to)
        .chain(&ctx.msg.headers.cc)
        .chain(&ctx.msg.headers.bcc)
        .chain(&ctx.msg.headers.reply_to)
        .chain(&ctx.msg.headers.sender)
        .map(|a| a.address.as_str())
        .collect();
    let mut kinds: BTreeMap<&'static str, (Kind, PerKind)> = BTreeMap::new();
    for (seg, pii) in ctx.msg.texts.iter().zip(ctx.pii()) {
        for m in &pii.hits {
            if m.kind == Kind::Email {
                let value = seg.text.get(m.start..m.end).unwrap_or("").to_lowercase();
                if header_addrs.contains(value.as_str()) {
                    continue;
                }
            }
            let entry = kinds.entry(m.kind.as_str()).or_insert_with(|| {
                (
                    m.kind,
                    PerKind {
                        keys: HashSet::new(),
                        first: None,
                        in_attachment_only: true,
                    },
                )
            });
            entry.1.keys.insert(m.key);
            if !seg.origin.is_attachment() {
                entry.1.in_attachment_only = false;
            }
            if entry.1.first.is_none() {
                let loc = match seg.origin {
                    Origin::Subject => Location::header("Subject"),
                    _ => Location::part(&seg.path),
                }
                .with_range(m.start, m.end);
                entry.1.first = Some((loc, pii.masked(m.kind).unwrap_or("").to_string()));
            }
        }
    }
    let bulk = ctx.settings.bulk_values.max(1);
    for (name, (kind, per)) in kinds {
        let n = per.keys.len();
        let Some((location, masked)) = per.first else {
            continue;
        };
        let everyday = matches!(kind, Kind::Email | Kind::Phone);
        if everyday && n < bulk {
            continue;
        }
        let severity = match (everyday, weak_kind(kind), n >= bulk) {
            (true, _, _) => Severity::Medium,
            (false, true, false) => Severity::Medium,
            (false, true, true) => Severity::High,
            (false, false, false) => Severity::High,
            (false, false, true) => Severity::Critical,
        };
        let label = kind.label();
        let more = if n > 1 {
            format!(" and {} more", n - 1)
        } else {
            String::new()
        };
        let place = if per.in_attachment_only {
            "an attachment"
        } else {
            "the message"
        };
        let reason = if n >= bulk {
            format!(
                "{place} carries {n} distinct {label} values: a list of customers' data, not a one-off."
            )
        } else if n == 1 {
            format!("{place} contains a {label}, which email does not protect.")
        } else {
            format!("{place} contains {n} distinct {label} values, which email does not protect.")
        };
        out.push(
            Finding::new(ID, severity, location)
                .kind(name)
                .count(n)
                .evidence(format!("{masked}{more}"))
                .reason(capitalize(&reason))
                .fix(if n >= bulk {
                    "Share bulk data through an approved, access-controlled system, never as mail."
                } else {
                    "Remove the value or send only its last digits; share full values through a secure channel."
                }),
        );
    }
}

/// Types that are sensitive but common in ordinary business mail (routing numbers, birth dates).
fn weak_kind(kind: Kind) -> bool {
    matches!(kind, Kind::AbaRouting | Kind::DateOfBirth)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testutil::run;

    #[test]
    fn one_card_is_high_and_masked() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@gmail.com\r\n\r\nYour card 4556 7375 8689 9855 was charged.\r\n",
            &[],
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind.as_deref(), Some("credit_card"));
        assert_eq!(f[0].severity, Severity::High);
        assert!(!f[0].evidence.contains("7375"), "{}", f[0].evidence);
        assert_eq!(f[0].location.part.as_deref(), Some("1"));
    }

    #[test]
    fn luhn_failure_and_last_four_are_nothing() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@gmail.com\r\n\r\nOrder 4556 7375 8689 9856 shipped. Card ending in 9855.\r\n",
            &[],
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn header_addresses_do_not_count_and_few_emails_are_fine() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@gmail.com\r\n\r\nWrite to x@gmail.com or help@example.com.\r\n",
            &[],
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn bulk_values_are_critical() {
        let cards = [
            "4111111111111111",
            "4012888888881881",
            "5555555555554444",
            "5105105105105100",
            "378282246310005",
            "371449635398431",
            "6011111111111117",
            "6011000990139424",
            "3530111333300000",
            "4556737586899855",
        ];
        let body: String = cards.iter().map(|c| format!("customer,{c}\r\n")).collect();
        let raw = format!("From: a@example.com\r\nTo: x@gmail.com\r\n\r\n{body}");
        let f = run(detect, &raw, &[]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].count, 10);
        assert_eq!(f[0].severity, Severity::Critical);
    }
}
