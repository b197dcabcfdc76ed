//! Property tests: no input makes `extract` or `html_to_text` panic, and
//! every text stays within `max_text_bytes`.

mod common;

use doublecheck_extract::{Limits, extract, html_to_text};
use proptest::prelude::*;

fn small_limits() -> Limits {
    Limits {
        max_depth: 2,
        max_expanded_bytes: 1 << 20,
        max_members: 20,
        max_text_bytes: 4096,
        max_pdf_bytes: 1 << 20,
        max_ratio: 50,
    }
}

fn check(bytes: &[u8], name: Option<&str>) {
    let limits = small_limits();
    let x = extract(bytes, name, None, &limits);
    for t in &x.texts {
        assert!(t.text.len() <= limits.max_text_bytes);
    }
    assert!(x.members.len() <= limits.max_members);
}

fn fixtures() -> Vec<(Vec<u8>, &'static str)> {
    vec![
        (
            common::docx(&["Hello there", "SSN 123-45-6789"], "Header"),
            "a.docx",
        ),
        (common::xlsx(&[&["a", "b"], &["1", "x"]]), "a.xlsx"),
        (common::pptx(&["slide one", "slide two"]), "a.pptx"),
        (common::pdf(&["Hello PDF", "line two"]), "a.pdf"),
        (
            common::zip(&[
                ("x.csv", b"a,b\n"),
                ("in.zip", &common::zip(&[("y.txt", b"deep")])),
            ]),
            "a.zip",
        ),
        (common::ole("WordDocument"), "a.doc"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check(&bytes, None);
        check(&bytes, Some("x.pdf"));
        check(&bytes, Some("x.docx"));
    }

    #[test]
    fn magic_prefixed_bytes(
        prefix in prop::sample::select(vec![
            &b"%PDF-1.4\n"[..], b"PK\x03\x04", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", b"<html>",
        ]),
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut b = prefix.to_vec();
        b.extend_from_slice(&bytes);
        check(&b, None);
    }

    #[test]
    fn mutated_fixtures(
        which in 0usize..6,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let (mut b, name) = fixtures().swap_remove(which);
        for (at, v) in edits {
            let i = at.index(b.len());
            b[i] = v;
        }
        if do_cut {
            let n = cut.index(b.len());
            b.truncate(n);
        }
        check(&b, Some(name));
        check(&b, None);
    }

    #[test]
    fn html_any_string(s in any::<String>()) {
        let t = html_to_text(&s);
        // Output never grows past a small multiple of the input.
        prop_assert!(t.len() <= s.len() * 4 + 4);
    }

    #[test]
    fn html_markup_soup(parts in proptest::collection::vec(prop::sample::select(vec![
        "<", ">", "</", "<!--", "-->", "&", "&amp;", "&#", "&#x", ";", "\"", "'", "<script>",
        "</script>", "<p>", "<b>", "</b>", "<td>", "<br>", "<head>", "</head>", "text", " ", "\n",
        "é", "&nbsp;", "<pre>", "</pre>", "<!", "<?",
    ]), 0..200)) {
        let s: String = parts.concat();
        let _ = html_to_text(&s);
    }
}
