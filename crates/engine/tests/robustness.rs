//! Hostile input: arbitrary bytes, mutated corpus messages and pathological shapes. The engine
//! never panics, always returns a verdict, and says when it could not see everything.

use doublecheck_engine::{Engine, Envelope, Policy};
use proptest::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(Policy::builtin()))
}

fn corpus_sample() -> &'static Vec<Vec<u8>> {
    static C: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    C.get_or_init(|| {
        let mut out = Vec::new();
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden");
        let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/stalwart-mail-parser");
        for dir in [golden, shared] {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                let small = p.is_file() && p.metadata().is_ok_and(|m| m.len() < 200_000);
                if small && let Ok(b) = std::fs::read(&p) {
                    out.push(b);
                }
            }
        }
        out
    })
}

fn ids(raw: &[u8]) -> Vec<(&'static str, Option<String>)> {
    engine()
        .check(raw, &Envelope::default())
        .findings
        .into_iter()
        .map(|f| (f.id, f.kind))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let v = engine().check(&raw, &Envelope::default());
        prop_assert_eq!(v.size, raw.len());
    }

    #[test]
    fn mutated_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..24),
    ) {
        let sample = corpus_sample();
        prop_assume!(!sample.is_empty());
        let mut raw = sample[pick.index(sample.len())].clone();
        for (at, byte, op) in edits {
            if raw.is_empty() { break; }
            let i = at.index(raw.len());
            match op {
                0 => raw[i] = byte,
                1 => { raw.insert(i, byte); }
                2 => { raw.truncate(i); }
                _ => { let chunk: Vec<u8> = raw[i..].iter().take(64).copied().collect(); raw.splice(i..i, chunk); }
            }
        }
        let v = engine().check(&raw, &Envelope::default());
        prop_assert_eq!(v.size, raw.len());
    }
}

#[test]
fn deep_multipart_nesting_is_reported() {
    let mut raw = String::from("From: a@example.com\r\nTo: b@gmail.com\r\nSubject: deep\r\n");
    let depth = 200;
    for i in 0..depth {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\nplease send a copy of your passport\r\n");
    for i in (0..depth).rev() {
        raw.push_str(&format!("--b{i}--\r\n"));
    }
    let found = ids(raw.as_bytes());
    assert!(
        found
            .iter()
            .any(|(id, kind)| *id == "message.malformed" && kind.as_deref() == Some("too_deep")),
        "{found:?}"
    );
}

#[test]
fn huge_header_and_long_lines_are_handled() {
    let to: Vec<String> = (0..5000).map(|i| format!("c{i}@gmail.com")).collect();
    let raw = format!(
        "From: a@example.com\r\nTo: {}\r\nSubject: {}\r\n\r\n{}\r\n",
        to.join(", "),
        "x".repeat(100_000),
        "9".repeat(1_000_000)
    );
    let v = engine().check(raw.as_bytes(), &Envelope::default());
    assert!(
        v.findings
            .iter()
            .any(|f| f.id == "recipients.exposed" && f.count == 5000)
    );
    assert!(
        v.findings
            .iter()
            .any(|f| f.id == "recipients.large_audience")
    );
}

#[test]
fn many_headers_are_reported() {
    let mut raw = String::from("From: a@example.com\r\nTo: b@example.com\r\n");
    for i in 0..3000 {
        raw.push_str(&format!("X-Filler-{i}: v\r\n"));
    }
    raw.push_str("\r\nbody\r\n");
    let found = ids(raw.as_bytes());
    assert!(
        found
            .iter()
            .any(|(_, k)| k.as_deref() == Some("too_many_headers")),
        "{found:?}"
    );
}

#[test]
fn many_parts_are_reported() {
    let mut raw = String::from(
        "From: a@example.com\r\nTo: b@example.com\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n",
    );
    for i in 0..1500 {
        raw.push_str(&format!(
            "--B\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"
        ));
    }
    raw.push_str("--B--\r\n");
    let found = ids(raw.as_bytes());
    assert!(
        found
            .iter()
            .any(|(_, k)| k.as_deref() == Some("too_many_parts")),
        "{found:?}"
    );
}

#[test]
fn empty_and_tiny_inputs() {
    for raw in [
        &b""[..],
        b"\n",
        b"From:",
        b"\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x",
    ] {
        let v = engine().check(raw, &Envelope::default());
        assert_eq!(v.size, raw.len());
    }
}

#[test]
fn forwarded_messages_are_opened_at_any_depth_within_the_limit() {
    // Six levels of message/rfc822, the request only in the innermost one.
    let mut inner = String::from(
        "From: care@example.com\r\nTo: x@gmail.com\r\nSubject: verify\r\n\r\nPlease reply with a copy of your passport.\r\n",
    );
    for i in 0..6 {
        inner = format!(
            "From: fwd{i}@example.com\r\nTo: x@gmail.com\r\nSubject: Fwd {i}\r\nContent-Type: multipart/mixed; boundary=\"f{i}\"\r\n\r\n--f{i}\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--f{i}\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--f{i}--\r\n"
        );
    }
    let found = ids(inner.as_bytes());
    assert!(
        found
            .iter()
            .any(|(id, k)| *id == "content.solicits_sensitive" && k.as_deref() == Some("passport")),
        "{found:?}"
    );
    // Beyond the depth limit it is reported, not silently skipped.
    let mut deep = String::from("From: a@example.com\r\nTo: x@gmail.com\r\n\r\nhello\r\n");
    for i in 0..30 {
        deep = format!(
            "From: f{i}@example.com\r\nTo: x@gmail.com\r\nContent-Type: message/rfc822\r\n\r\n{deep}"
        );
    }
    let found = ids(deep.as_bytes());
    assert!(
        found.iter().any(|(_, k)| k.as_deref() == Some("too_deep")),
        "{found:?}"
    );
}
