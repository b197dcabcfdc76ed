//! Canadian social insurance numbers: 9 digits, Luhn, first digit not 0 or 8.

use super::digit_values;

/// Validate a 9-digit SIN (ASCII digits, no separators).
pub fn sin(d: &[u8]) -> bool {
    let Some(v) = digit_values::<9>(d) else {
        return false;
    };
    if v[0] == 0 || v[0] == 8 || v.iter().all(|&x| x == v[0]) {
        return false;
    }
    super::luhn(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert!(sin(b"130692544"));
        assert!(!sin(b"130692545"));
        // the common documentation example starts with 0 (never issued)
        assert!(!sin(b"046454286"));
        assert!(!sin(b"000000000"));
        assert!(!sin(b"800000002"));
        assert!(!sin(b"04645428"));
    }
}
