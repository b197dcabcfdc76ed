//! UK national insurance numbers: two prefix letters (with the HMRC exclusions),
//! six digits, suffix A-D.

/// Validate a NINO given as `AB123456C` (upper-case, no spaces). A missing suffix
/// is accepted when `suffix_optional`.
pub fn nino_parts(v: &[u8], suffix_optional: bool) -> bool {
    let n = v.len();
    if !(n == 9 || (suffix_optional && n == 8)) {
        return false;
    }
    let (a, b) = (v[0], v[1]);
    if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() {
        return false;
    }
    if b"DFIQUV".contains(&a) || b"DFIOQUV".contains(&b) {
        return false;
    }
    const BAD: &[&[u8; 2]] = &[b"BG", b"GB", b"NK", b"KN", b"TN", b"NT", b"ZZ"];
    if BAD.iter().any(|p| p[0] == a && p[1] == b) {
        return false;
    }
    if !v[2..8].iter().all(u8::is_ascii_digit) {
        return false;
    }
    n == 8 || matches!(v[8], b'A'..=b'D')
}

/// Validate a full NINO `AB123456C`.
pub fn nino(v: &[u8]) -> bool {
    nino_parts(v, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert!(nino(b"AB123456C"));
        assert!(nino(b"JG103759A"));
        assert!(!nino(b"AB123456E"));
        assert!(!nino(b"BG123456A"));
        assert!(!nino(b"GB123456A"));
        assert!(!nino(b"ZZ123456A"));
        assert!(!nino(b"DA123456A"));
        assert!(!nino(b"AO123456A"));
        assert!(!nino(b"ab123456c"));
        assert!(!nino(b"AB12345AC"));
        assert!(nino_parts(b"AB123456", true));
        assert!(!nino_parts(b"AB123456", false));
    }
}
