//! Property tests: no panics, matches in bounds, on char boundaries, sorted,
//! non-overlapping, for arbitrary and digit-heavy text; large degenerate
//! inputs finish.

use doublecheck_pii::{Confidence, Kind, ScanOptions, Scanner, mask};
use proptest::prelude::*;

fn low() -> Scanner {
    Scanner::new(ScanOptions {
        min_confidence: Confidence::Low,
        ..Default::default()
    })
}

fn check(text: &str) {
    for s in [low(), Scanner::new(ScanOptions::default())] {
        let ms = s.scan(text);
        let mut last = 0;
        for m in &ms {
            assert!(m.start < m.end && m.end <= text.len());
            assert!(text.is_char_boundary(m.start) && text.is_char_boundary(m.end));
            assert!(m.start >= last, "sorted and non-overlapping");
            last = m.end;
            assert_ne!(m.masked, text[m.start..m.end]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn digit_heavy(text in "[0-9 ()+./@<A-Za-z-]{0,200}") {
        check(&text);
    }

    #[test]
    fn digits_and_unicode(text in "[0-9 \\-ñé@.Z]{0,120}") {
        check(&text);
    }

    #[test]
    fn mask_never_full(v in "[0-9A-Za-z@. -]{1,40}") {
        for &k in Kind::all() {
            let m = mask(k, &v);
            if v.chars().filter(char::is_ascii_alphanumeric).count() >= 2 {
                prop_assert_ne!(m, v.clone());
            }
        }
    }
}

#[test]
fn large_degenerate_inputs() {
    let s = low();
    for unit in ["1", "@", "1-", "a@", "1 ", "A1", "<1", "+1 ", "4111 "] {
        let text = unit.repeat((1 << 20) / unit.len());
        let t = std::time::Instant::now();
        let ms = s.scan(&text);
        check(&text[..4096]);
        assert!(ms.iter().all(|m| m.end <= text.len()));
        eprintln!("{unit:?} x 1 MB: {} matches in {:?}", ms.len(), t.elapsed());
    }
}
