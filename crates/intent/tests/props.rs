//! Property tests: any input, no panic; every range in bounds and on character boundaries.

use doublecheck_intent::{Detector, MAX_SNIPPET_CHARS};
use proptest::prelude::*;
use std::sync::OnceLock;

fn detector() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(Detector::new)
}

fn check(text: &str) {
    for s in detector().find(text) {
        assert!(s.start <= s.end, "{s:?}");
        assert!(s.end <= text.len(), "{s:?}");
        assert!(
            text.is_char_boundary(s.start) && text.is_char_boundary(s.end),
            "{s:?}"
        );
        assert!(s.snippet.chars().count() <= MAX_SNIPPET_CHARS, "{s:?}");
        assert!((0.0..=1.0).contains(&s.confidence), "{s:?}");
        assert!(doublecheck_intent::CATEGORIES.contains(&s.category));
    }
}

/// Words the detector cares about, mixed with noise, so that generated text reaches the rules.
const WORDS: &[&str] = &[
    "please",
    "send",
    "us",
    "your",
    "driver’s",
    "license",
    "passport",
    "never",
    "not",
    "reply",
    "with",
    "a",
    "copy",
    "of",
    "por",
    "favor",
    "envíe",
    "su",
    "DNI",
    "no",
    "portal",
    "email",
    "upload",
    ",",
    ".",
    "\n",
    "<br>",
    "&#8217;",
    "’",
    "é",
    "\u{301}",
    "<p>",
    "¿",
    "?",
    "ñ",
    "SSN",
    "card",
    "number",
    "we",
    "need",
    "don't",
    "forget",
    "to",
    "-",
    ":",
    "&",
    "<",
    "e\u{301}",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn word_soup(words in proptest::collection::vec(proptest::sample::select(WORDS), 0..120),
                 seps in proptest::collection::vec(proptest::sample::select(&[" ", "", "  ", "\n", "\t"][..]), 0..120)) {
        let mut text = String::new();
        for (i, w) in words.iter().enumerate() {
            text.push_str(w);
            text.push_str(seps.get(i).copied().unwrap_or(" "));
        }
        check(&text);
    }
}

#[test]
fn large_adversarial_inputs_finish() {
    let started = std::time::Instant::now();
    for unit in [
        "please send your passport never ",
        "<<<<<<<<<<&&&&&&&&&&",
        "a.",
        "é\u{301}\u{301}",
        "licenselicense",
        "<p",
        "&#8217",
    ] {
        let text = unit.repeat(2 * 1024 * 1024 / unit.len());
        check(&text);
    }
    // Generous: a debug build scans these 14 MB in well under this.
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
}
