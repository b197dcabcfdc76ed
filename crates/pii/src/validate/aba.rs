//! ABA routing transit numbers: Federal Reserve prefix ranges and the 3-7-1
//! weighted checksum.

use super::digit_values;

/// Validate a 9-digit routing number (ASCII digits, no separators).
pub fn aba(d: &[u8]) -> bool {
    let Some(v) = digit_values::<9>(d) else {
        return false;
    };
    let p = v[0] * 10 + v[1];
    if !matches!(p, 0..=12 | 21..=32 | 61..=72 | 80) {
        return false;
    }
    if v.iter().all(|&x| x == 0) {
        return false;
    }
    let w = [3u32, 7, 1, 3, 7, 1, 3, 7, 1];
    let s: u32 = v.iter().zip(w).map(|(&x, w)| u32::from(x) * w).sum();
    s.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert!(aba(b"121000358"));
        assert!(aba(b"121042882"));
        assert!(aba(b"322271627"));
        assert!(aba(b"071101307"));
        assert!(aba(b"101205681"));
        assert!(!aba(b"421042111"));
        assert!(!aba(b"123400000"));
        assert!(!aba(b"121000359"));
        assert!(!aba(b"000000000"));
        assert!(!aba(b"12100035"));
    }
}
