//! US individual taxpayer identification numbers: 9xx-GG-xxxx with the IRS
//! group ranges 50-65, 70-88, 90-92, 94-99.

use super::digit_values;

/// Validate a 9-digit ITIN (ASCII digits, no separators).
pub fn itin(d: &[u8]) -> bool {
    let Some(v) = digit_values::<9>(d) else {
        return false;
    };
    if v[0] != 9 {
        return false;
    }
    let g = v[3] * 10 + v[4];
    matches!(g, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(itin(b"911701234"));
        assert!(itin(b"911531234"));
        assert!(itin(b"911641234"));
        assert!(itin(b"900501234"));
        assert!(itin(b"999991234"));
        assert!(!itin(b"911891234"));
        assert!(!itin(b"911931234"));
        assert!(!itin(b"911491234"));
        assert!(!itin(b"811701234"));
        assert!(!itin(b"91170123"));
    }
}
