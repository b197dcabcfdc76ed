//! Masking: evidence shown to people never contains the full value.

use crate::kind::Kind;

fn is_val(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// Mask the value characters of `value` (letters and digits), keeping the
/// first `head` and last `tail` of them and all separators. If that would
/// leave the value fully visible, fewer characters are kept.
fn keep(value: &str, mut head: usize, mut tail: usize) -> String {
    let n = value.chars().filter(|&c| is_val(c)).count();
    if n == 0 {
        return "*".repeat(value.chars().count().max(1));
    }
    // Always hide at least half (rounded up) of the value characters.
    let max_visible = n / 2;
    while head + tail > max_visible {
        if head > 0 && head >= tail {
            head -= 1;
        } else {
            tail = tail.saturating_sub(1);
        }
    }
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    for c in value.chars() {
        if is_val(c) {
            if i < head || i >= n - tail {
                out.push(c);
            } else {
                out.push('*');
            }
            i += 1;
        } else {
            out.push(c);
        }
    }
    out
}

/// Mask a found value for display, e.g. card `4556 **** **** 9855`, SSN
/// `***-**-6789`, IBAN `DE89 **** **** **** **30 00`, e-mail `j***@example.com`.
pub fn mask(kind: Kind, value: &str) -> String {
    match kind {
        Kind::CreditCard => keep(value, 4, 4),
        Kind::Iban => keep(value, 4, 4),
        Kind::UsSsn | Kind::UsItin | Kind::CaSin => keep(value, 0, 4),
        Kind::AbaRouting => keep(value, 0, 4),
        Kind::Phone => keep(value, 0, 2),
        Kind::Email => match value.rfind('@') {
            Some(at) if at > 0 => {
                let first = value[..at].chars().next().unwrap_or('*');
                let shown = if first.is_alphanumeric() { first } else { '*' };
                format!("{shown}***{}", &value[at..])
            }
            _ => keep(value, 0, 0),
        },
        Kind::DateOfBirth => keep(value, 0, 2),
        Kind::UsDriverLicense | Kind::UsPassport | Kind::UkPassport | Kind::UkNino => {
            keep(value, 0, 3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert_eq!(
            mask(Kind::CreditCard, "4556 7375 8689 9855"),
            "4556 **** **** 9855"
        );
        assert_eq!(
            mask(Kind::CreditCard, "4556737586899855"),
            "4556********9855"
        );
        assert_eq!(mask(Kind::UsSsn, "123-45-6789"), "***-**-6789");
        assert_eq!(
            mask(Kind::Iban, "DE89 3704 0044 0532 0130 00"),
            "DE89 **** **** **** **30 00"
        );
        assert_eq!(mask(Kind::Email, "john@example.com"), "j***@example.com");
        assert_eq!(mask(Kind::Phone, "+1 415 555 0132"), "+* *** *** **32");
        assert_eq!(mask(Kind::DateOfBirth, "1990-04-23"), "****-**-23");
    }

    #[test]
    fn never_full_value() {
        for &k in Kind::all() {
            for v in [
                "",
                "1",
                "12",
                "123",
                "ab",
                "x@y.z",
                "@",
                "1234567890123456",
                "ñ",
            ] {
                let m = mask(k, v);
                if v.chars().filter(|c| c.is_ascii_alphanumeric()).count() > 0 && k != Kind::Email {
                    assert_ne!(m, v, "{k:?} {v}");
                }
            }
        }
        assert_ne!(mask(Kind::Email, "a@b.co"), "a@b.co");
    }
}
