//! `recipients.lookalike`: a recipient domain one edit or one confusable character away from a
//! well-known provider, a partner or the organization's own domain (`gmial.com`, `rnicrosoft.com`).

use super::Context;
use crate::finding::{Finding, Location, Severity};
use crate::party::{
    CONSUMER_PROVIDERS, WELL_KNOWN_DOMAINS, domain_of, domain_within, mask_address,
};
use std::collections::BTreeSet;

pub const ID: &str = "recipients.lookalike";

pub fn detect(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let s = ctx.settings;
    let known: Vec<&str> = CONSUMER_PROVIDERS
        .iter()
        .chain(WELL_KNOWN_DOMAINS)
        .copied()
        .chain(s.org_domains.iter().map(String::as_str))
        .chain(s.partner_domains.iter().map(String::as_str))
        .collect();

    let mut seen = BTreeSet::new();
    let visible: Vec<(&str, &str)> = [
        ("To", &ctx.msg.headers.to),
        ("Cc", &ctx.msg.headers.cc),
        ("Bcc", &ctx.msg.headers.bcc),
    ]
    .into_iter()
    .flat_map(|(h, l)| l.iter().map(move |a| (h, a.address.as_str())))
    .collect();
    let envelope = ctx.envelope_recipients();
    let all = visible
        .iter()
        .copied()
        .chain(envelope.iter().map(|a| ("envelope", a.as_str())));
    for (header, addr) in all {
        let Some(domain) = domain_of(addr) else {
            continue;
        };
        if !seen.insert(domain.to_string()) {
            continue;
        }
        if known.iter().any(|k| domain_within(domain, k)) {
            continue;
        }
        if let Some((target, how)) = near_miss(domain, &known) {
            let own = s.org_domains.iter().any(|o| o == target);
            let location = if header == "envelope" {
                Location::message()
            } else {
                Location::header(header)
            };
            out.push(
                Finding::new(ID, if own { Severity::High } else { Severity::Medium }, location)
                    .kind(if own { "own_domain" } else { "known_domain" })
                    .evidence(format!("{} looks like {target} ({how})", mask_address(addr)))
                    .reason(format!(
                        "The domain {domain} is one character away from {target}: the message may go to the wrong person."
                    ))
                    .fix(format!("Check the address; did you mean @{target}?")),
            );
        }
    }
}

/// Is `domain` a near miss of one of `known`? Returns the target and how it differs.
pub fn near_miss<'k>(domain: &str, known: &[&'k str]) -> Option<(&'k str, &'static str)> {
    let folded = fold_confusables(domain);
    for &k in known {
        if folded != domain && folded == k {
            return Some((k, "confusable characters"));
        }
    }
    for &k in known {
        // Ignore very short names: one edit from a 3-letter name is another real name.
        let label_len = k.split('.').next().map_or(0, str::len);
        if label_len < 4 {
            continue;
        }
        if within_one_edit(domain, k) {
            return Some((k, "one character different"));
        }
        if folded != domain && within_one_edit(&folded, k) {
            return Some((k, "confusable characters"));
        }
    }
    None
}

/// Map characters that look alike to their ASCII twin: `rn`→`m`, `vv`→`w`, `0`→`o`, `1`→`l`,
/// and Cyrillic/Greek homoglyphs → Latin.
pub fn fold_confusables(domain: &str) -> String {
    let mut s = String::with_capacity(domain.len());
    for c in domain.chars() {
        let m = match c {
            'а' => 'a',
            'е' => 'e',
            'о' | 'ο' | '0' => 'o',
            'р' | 'ρ' => 'p',
            'с' => 'c',
            'у' => 'y',
            'х' => 'x',
            'і' | 'ι' => 'i',
            'ј' => 'j',
            'ѕ' => 's',
            'ԁ' => 'd',
            'ɡ' => 'g',
            'ո' => 'n',
            'ν' => 'v',
            'κ' => 'k',
            'τ' => 't',
            'ѵ' => 'v',
            '1' => 'l',
            other => other,
        };
        s.push(m);
    }
    s.replace("rn", "m").replace("vv", "w")
}

/// Damerau–Levenshtein distance ≤ 1 (one insertion, deletion, substitution or adjacent swap).
pub fn within_one_edit(a: &str, b: &str) -> bool {
    if a == b || a.len().abs_diff(b.len()) > 8 {
        return false;
    }
    if a.is_ascii() && b.is_ascii() {
        return a.len().abs_diff(b.len()) <= 1 && one_edit(a.as_bytes(), b.as_bytes());
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    one_edit(&a, &b)
}

fn one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    if a == b {
        return false;
    }
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let ra = la - prefix - suffix.min(la - prefix);
    let rb = lb - prefix - suffix.min(lb - prefix);
    match (ra, rb) {
        (0, 1) | (1, 0) | (1, 1) => true,
        (2, 2) => {
            let i = prefix;
            a[i] == b[i + 1] && a[i + 1] == b[i]
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testutil::run;

    #[test]
    fn edit_distance_one() {
        assert!(within_one_edit("gmial.com", "gmail.com"));
        assert!(within_one_edit("gmail.con", "gmail.com"));
        assert!(within_one_edit("gmail.co", "gmail.com"));
        assert!(within_one_edit("gmaill.com", "gmail.com"));
        assert!(within_one_edit("hotmial.com", "hotmail.com"));
        assert!(!within_one_edit("gmail.com", "gmail.com"));
        assert!(!within_one_edit("gamil.org", "gmail.com"));
        assert!(!within_one_edit("example.org", "example.com"));
    }

    #[test]
    fn confusables() {
        assert_eq!(fold_confusables("rnicrosoft.com"), "microsoft.com");
        assert_eq!(fold_confusables("gmаil.com"), "gmail.com"); // Cyrillic а
        assert_eq!(fold_confusables("paypa1.com"), "paypal.com");
    }

    #[test]
    fn flags_typo_of_provider_and_own_domain() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: jane@gmial.com\r\nCc: bob@exarnple.com\r\n\r\nhi\r\n",
            &[],
        );
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(
            f.iter()
                .any(|x| x.evidence.contains("gmail.com") && x.severity == Severity::Medium)
        );
        assert!(
            f.iter()
                .any(|x| x.kind.as_deref() == Some("own_domain") && x.severity == Severity::High)
        );
        assert!(f.iter().all(|x| !x.evidence.contains("jane@")));
    }

    #[test]
    fn real_domains_are_not_flagged() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@gmail.com, y@mail.com, z@sub.example.com, w@acme-partner.com, v@unrelated.org\r\n\r\nhi\r\n",
            &[],
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn partner_near_miss() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@acme-partners.com\r\n\r\nhi\r\n",
            &[],
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].evidence.contains("acme-partner.com"));
    }
}
