//! Passport number shapes (US and UK). They carry no checksum, so the scanner
//! only reports them with context words, or as Low without.

/// US passport book: 9 digits, or one letter followed by 8 digits (upper-case).
pub fn us_passport(v: &[u8]) -> bool {
    v.len() == 9
        && (v[0].is_ascii_digit() || v[0].is_ascii_uppercase())
        && v[1..].iter().all(u8::is_ascii_digit)
        && !v[1..].iter().all(|&c| c == v[1])
}

/// UK passport: 9 digits, or two letters followed by 7 digits.
pub fn uk_passport(v: &[u8]) -> bool {
    if v.len() != 9 {
        return false;
    }
    let digits_only = v.iter().all(u8::is_ascii_digit);
    let lettered = v[0].is_ascii_alphabetic()
        && v[1].is_ascii_alphabetic()
        && v[2..].iter().all(u8::is_ascii_digit);
    (digits_only || lettered) && !v[2..].iter().all(|&c| c == v[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us() {
        assert!(us_passport(b"912803456"));
        assert!(us_passport(b"A12803456"));
        assert!(!us_passport(b"AB2803456"));
        assert!(!us_passport(b"a12803456"));
        assert!(!us_passport(b"91280345"));
        assert!(!us_passport(b"000000000"));
    }

    #[test]
    fn uk() {
        assert!(uk_passport(b"AB1234567"));
        assert!(uk_passport(b"ab1234567"));
        assert!(uk_passport(b"123456789"));
        assert!(!uk_passport(b"A12345678"));
        assert!(!uk_passport(b"ABC123456"));
        assert!(!uk_passport(b"AB123456"));
    }
}
