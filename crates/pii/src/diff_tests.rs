//! Differential tests: the scanner must report exactly what the reference
//! scanner (`reference/`, the version before the single-read speed work)
//! reports — same kinds, ranges and confidences — on the mail corpus, the
//! benchmark text, the test and conformance strings, and generated
//! digit/punctuation-heavy and PII-dense text, across settings.

use crate::kind::{Confidence, Kind};
use crate::reference;
use crate::scan;
use proptest::prelude::*;

type Hits = Vec<(Kind, usize, usize, Confidence)>;

#[derive(Clone, Copy, Debug)]
struct Setting {
    enabled: [bool; 13],
    min: Confidence,
    window: usize,
}

fn run_new(s: &Setting, text: &str) -> Hits {
    let plan = scan::Plan {
        enabled: s.enabled,
        min: s.min,
        window: s.window,
    };
    let mut v = Vec::new();
    scan::scan(&plan, text, |h| v.push(h));
    v
}

fn run_ref(s: &Setting, text: &str) -> Hits {
    let plan = reference::scan::Plan {
        enabled: s.enabled,
        min: s.min,
        window: s.window,
    };
    let mut v = Vec::new();
    reference::scan::scan(&plan, text, |h| v.push(h));
    v
}

fn same(s: &Setting, text: &str) -> Result<(), String> {
    let (a, b) = (run_new(s, text), run_ref(s, text));
    if a == b {
        return Ok(());
    }
    let first = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let show = |h: Option<&(Kind, usize, usize, Confidence)>| {
        h.map(|&(k, st, en, c)| format!("{k:?} {st}..{en} {:?} {c:?}", &text[st..en]))
    };
    Err(format!(
        "setting {s:?}: {} vs {} hits; first difference #{first}: new {:?}, reference {:?}",
        a.len(),
        b.len(),
        show(a.get(first)),
        show(b.get(first)),
    ))
}

fn all_on() -> [bool; 13] {
    [true; 13]
}

/// Every kind on, each kind alone and each kind left out, at every minimum
/// confidence and several windows.
fn settings(full: bool) -> Vec<Setting> {
    let mut kinds = vec![all_on()];
    if full {
        for &k in Kind::all() {
            let mut alone = [false; 13];
            alone[k.index()] = true;
            kinds.push(alone);
            let mut without = all_on();
            without[k.index()] = false;
            kinds.push(without);
        }
    }
    let mut out = Vec::new();
    for enabled in kinds {
        for min in [Confidence::Low, Confidence::Medium, Confidence::High] {
            for window in [0, 20, 64, 150] {
                out.push(Setting {
                    enabled,
                    min,
                    window,
                });
            }
        }
    }
    out
}

fn check_all(text: &str, full: bool) {
    for s in settings(full) {
        if let Err(e) = same(&s, text) {
            panic!("{e}");
        }
    }
}

/// Fragments that make up PII-dense text: values of every kind (valid and
/// near misses), context words, separators.
const FRAGMENTS: &[&str] = &[
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "4012888888881881",
    "3714 496353 98431",
    "122000000000003",
    "4012 8888-8888 1881",
    "078-05-1121",
    "078 05 1121",
    "078.05.1123",
    "078051121",
    "078-051121",
    "07805-1121",
    "912-70-1234",
    "911701234",
    "011000015",
    "0110-0001-5",
    "130 692 544",
    "130-692-544",
    "130692544",
    "GB82 WEST 1234 5698 7654 32",
    "GB82WEST12345698765432",
    "DE89 3704 0044 0532 0130 00",
    "DE89-3704-0044-0532-0130-00",
    "AB 12 34 56 C",
    "AB123456C",
    "QQ 12 34 56",
    "A12345678",
    "912803456",
    "AB1234567",
    "H12234567",
    "D1234567",
    "7774567901234",
    "P<GBRSMITH<<JOHN<<<<<<<<<<<<<<<<<<<<<<<<<<<",
    "1234567897GBR9001011M2501017<<<<<<<<<<<<<<02",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    "1990-03-12",
    "03/12/1990",
    "12.03.1990",
    "12/03/90",
    "31/02/1990",
    "12 March 1990",
    "March 12, 1990",
    "Apr. 23 1990",
    "23-Apr-1990",
    "23 de abril de 1990",
    "Sept. 3, 1990",
    "3 DIC 1990",
    "3-dec-1990",
    "3.Mar.1990",
    "3 de Enero del 1990",
    "mayo  3 1990",
    "setiembre",
    "noviembre",
    "Dec.",
    "de",
    "30 Abr",
    "for 3 months",
    "at 10 and",
    "(415) 555-0132",
    "415-555-0132",
    "415.555.0132",
    "1 415 555 0132",
    "4155550132",
    "+1 415 555 0132",
    "+44 20 7123 4567",
    "+91 4155 550132",
    "020 7123 4567",
    "09-7625400",
    "(11) 98456-5666",
    "13812345678",
    "138 1234 5678",
    "612 345 678",
    "612 34 56 78",
    "98765 43210",
    "jane.doe@example.com",
    "a1b2c3d4e5f6a7b8c9@example.org",
    "x@y",
    "card",
    "credit card",
    "visa",
    "SSN",
    "social security",
    "ITIN",
    "taxpayer",
    "routing",
    "ABA",
    "driver's license",
    "DL",
    "licencia de conducir",
    "passport",
    "pasaporte",
    "date of birth",
    "DOB",
    "D.O.B.",
    "born",
    "fecha de nacimiento",
    "cumpleaños",
    "phone",
    "tel",
    "teléfono",
    "national insurance",
    "NINO",
    "SIN",
    "social insurance",
    "adobe",
    "Order 48213",
    "at 10:30",
    "$12,500",
    "ticket #4471",
    "v2.3.1",
    "the 15th",
    "1Z999AA10123456784",
    "https://x.example/orders/4111111111111111",
    "id=4111111111111111&x",
    "123456789,50",
    "ñandú",
    "é",
];

fn dense_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::sample::select(FRAGMENTS).prop_map(str::to_string),
        2 => "[0-9]{1,12}",
        2 => "[0-9 ./()+<,:-]{1,10}",
        1 => "[A-Za-z]{1,8}",
        1 => "[A-Z]{2}[0-9]{2}",
        // Letters of either case before digits (passport, licence, NINO and
        // IBAN shapes next to RTF escapes and CSS-like tokens).
        1 => "[A-Za-z]{1,2}[0-9]{3,9}[A-Da-z<]{0,2}",
        // Context words next to characters the word check folds, drops or
        // rejects (the key filters' "maybe" characters).
        1 => proptest::sample::select(&[
            "teléfono", "TELÉFONO", "driver\u{2019}s license", "d\u{2019}ob", "\u{212a}", "电话",
            "Intel", "число", "№", "\u{2014}", "routing", "ABA", "rtn", "ruta", "tránsito",
            "pasaporte", "pásaporte", "cumpleaños", "nació", "número", "'b'", "born", "dob",
        ][..]).prop_map(str::to_string),
        2 => "(jan|Feb|MAR|apr|may|jun|jul|aug|sep|Sept|oct|nov|dec|de|del|enero|abril|set|dic|months|mark|dece|augusto|ene|ago|june|julio)\\.?",
    ];
    let sep =
        proptest::sample::select(&[" ", " ", "\n", ", ", ": ", "-", "/", ".", "", "  ", "<"][..]);
    proptest::collection::vec((piece, sep), 0..24).prop_map(|v| {
        let mut s = String::new();
        for (p, q) in v {
            s.push_str(&p);
            s.push_str(q);
        }
        s
    })
}

fn quick() -> Vec<Setting> {
    let mut v = Vec::new();
    for min in [Confidence::Low, Confidence::Medium] {
        for window in [0, 20, 64] {
            v.push(Setting {
                enabled: all_on(),
                min,
                window,
            });
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn same_as_reference_on_digit_punctuation_text(text in "[0-9 ()+./@<,:$#A-Za-z\n-]{0,160}") {
        for s in quick() {
            prop_assert!(same(&s, &text).is_ok(), "{}", same(&s, &text).unwrap_err());
        }
    }

    #[test]
    fn same_as_reference_on_dense_text(text in dense_text()) {
        for s in quick() {
            prop_assert!(same(&s, &text).is_ok(), "{}", same(&s, &text).unwrap_err());
        }
    }

    #[test]
    fn same_as_reference_on_digits_and_unicode(text in "[0-9 \\-ñé@.Z<+(]{0,100}") {
        for s in quick() {
            prop_assert!(same(&s, &text).is_ok(), "{}", same(&s, &text).unwrap_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn same_as_reference_every_setting(text in dense_text()) {
        for s in settings(true) {
            prop_assert!(same(&s, &text).is_ok(), "{}", same(&s, &text).unwrap_err());
        }
    }
}

#[test]
fn same_as_reference_on_fragments_in_context() {
    let mut text = String::new();
    for (i, a) in FRAGMENTS.iter().enumerate() {
        for b in FRAGMENTS.iter().skip(i % 7).step_by(7) {
            text.push_str(a);
            text.push_str(if i % 3 == 0 { ": " } else { " " });
            text.push_str(b);
            text.push_str(".\n");
        }
    }
    check_all(&text, true);
}

#[test]
fn same_as_reference_on_conformance_strings() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/presidio_vectors.jsonl"
    );
    let Ok(data) = std::fs::read_to_string(path) else {
        eprintln!("conformance vectors not available at {path}; skipping");
        return;
    };
    let mut mix = String::new();
    for line in data.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(t) = v.get("text").and_then(|t| t.as_str()) {
            check_all(t, false);
            mix.push_str(t);
            mix.push('\n');
        }
    }
    check_all(&mix, true);
}

fn bench_text() -> Vec<String> {
    #[allow(dead_code)]
    #[path = "../benches/support/text.rs"]
    mod text;
    let mut v = vec![text::synthetic()];
    v.extend(text::corpus());
    v
}

#[test]
fn same_as_reference_on_corpus_and_synthetic_mail() {
    for text in bench_text() {
        for min in [Confidence::Low, Confidence::Medium, Confidence::High] {
            for window in [0, 64] {
                let s = Setting {
                    enabled: all_on(),
                    min,
                    window,
                };
                if let Err(e) = same(&s, &text) {
                    panic!("{e}");
                }
            }
        }
    }
}
