//! Payment cards: Luhn checksum and brand IIN ranges with per-brand lengths.

/// Card brands recognised by IIN range.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Diners,
    UnionPay,
    Maestro,
    Mir,
    /// Universal Air Travel Plan (15 digits starting with 1); weak on its own.
    Uatp,
}

/// Luhn (mod 10) checksum over ASCII digits; false for empty or non-digit input.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in digits.iter().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

fn prefix(d: &[u8], n: usize) -> u32 {
    if d.len() < n {
        return 0;
    }
    super::num(&d[..n])
}

/// The brand whose IIN range and length table accept `digits` (ASCII digits only).
/// Does not check Luhn.
pub fn card_brand(digits: &[u8]) -> Option<CardBrand> {
    let n = digits.len();
    if !(12..=19).contains(&n) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let p1 = prefix(digits, 1);
    let p2 = prefix(digits, 2);
    let p3 = prefix(digits, 3);
    let p4 = prefix(digits, 4);
    let p6 = prefix(digits, 6);
    if p1 == 4 && matches!(n, 13 | 16 | 19) {
        return Some(CardBrand::Visa);
    }
    if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && n == 16 {
        return Some(CardBrand::Mastercard);
    }
    if (p2 == 34 || p2 == 37) && n == 15 {
        return Some(CardBrand::Amex);
    }
    if (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622126..=622925).contains(&p6))
        && (16..=19).contains(&n)
    {
        return Some(CardBrand::Discover);
    }
    if (3528..=3589).contains(&p4) && (16..=19).contains(&n) {
        return Some(CardBrand::Jcb);
    }
    if ((300..=305).contains(&p3) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39)
        && (14..=19).contains(&n)
    {
        return Some(CardBrand::Diners);
    }
    if (2200..=2204).contains(&p4) && (16..=19).contains(&n) {
        return Some(CardBrand::Mir);
    }
    if p2 == 62 && (16..=19).contains(&n) {
        return Some(CardBrand::UnionPay);
    }
    if (p2 == 50 || (56..=58).contains(&p2) || p4 == 6304 || p4 == 6390 || p2 == 67)
        && (12..=19).contains(&n)
    {
        return Some(CardBrand::Maestro);
    }
    if p1 == 1 && n == 15 {
        return Some(CardBrand::Uatp);
    }
    None
}

/// Luhn-valid and a known brand.
pub fn valid_card(digits: &[u8]) -> Option<CardBrand> {
    let b = card_brand(digits)?;
    if !luhn(digits) || digits.iter().all(|&c| c == digits[0]) {
        return None;
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_cases() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"79927398710"));
        assert!(!luhn(b""));
        assert!(!luhn(b"41x1"));
        assert!(!luhn(b"4012888888881882"));
    }

    #[test]
    fn brands() {
        assert_eq!(card_brand(b"4111111111111111"), Some(CardBrand::Visa));
        assert_eq!(card_brand(b"4222222222222"), Some(CardBrand::Visa));
        assert_eq!(card_brand(b"5555555555554444"), Some(CardBrand::Mastercard));
        assert_eq!(card_brand(b"2221000000000009"), Some(CardBrand::Mastercard));
        assert_eq!(card_brand(b"2720990000000007"), Some(CardBrand::Mastercard));
        assert_eq!(card_brand(b"371449635398431"), Some(CardBrand::Amex));
        assert_eq!(card_brand(b"6011000400000000"), Some(CardBrand::Discover));
        assert_eq!(card_brand(b"3528000700000000"), Some(CardBrand::Jcb));
        assert_eq!(card_brand(b"30569309025904"), Some(CardBrand::Diners));
        assert_eq!(card_brand(b"6200000000000005"), Some(CardBrand::UnionPay));
        assert_eq!(card_brand(b"6759649826438453"), Some(CardBrand::Maestro));
        assert_eq!(card_brand(b"5019717010103742"), Some(CardBrand::Maestro));
        assert_eq!(card_brand(b"122000000000003"), Some(CardBrand::Uatp));
        // wrong lengths
        assert_eq!(card_brand(b"41111111111111"), None);
        assert_eq!(card_brand(b"37144963539843"), None);
        assert_eq!(card_brand(b"1748503543012"), None);
        assert_eq!(card_brand(b"9111111111111111"), None);
    }

    #[test]
    fn valid_cards() {
        assert!(valid_card(b"4012888888881881").is_some());
        assert!(valid_card(b"4012888888881882").is_none());
        assert!(valid_card(b"36168002586008").is_none());
        assert!(valid_card(b"5555555555555555").is_none());
    }
}
