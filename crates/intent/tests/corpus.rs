//! Runs the detector over the real-world mail corpus (`../shared/corpus` next to the checkout,
//! or the directory named by `DOUBLECHECK_CORPUS`). Every file is read lossily as text, raw
//! (headers, MIME boundaries, base64 and all), which is harsher than what the engine passes in.
//!
//! Spam folders legitimately contain phishing that asks for card numbers and passwords; every
//! other folder is ordinary mail, test fixtures and newsletters, where a request for a sensitive
//! document should be rare. Every hit is printed (file, category, snippet) for a human to judge.

use std::path::{Path, PathBuf};

use doublecheck_intent::Detector;

fn corpus_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOUBLECHECK_CORPUS") {
        return Some(PathBuf::from(dir));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    dir.is_dir().then_some(dir)
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

/// Most hits allowed outside the spam folders. When this bound was set the 641 non-spam files
/// yielded 0 hits (2 before `Reply-To:`-style header labels stopped counting as imperative
/// verbs: both were raw header lines, which the engine does not pass in as body text). A bound
/// of 3 leaves room for a fixture that really does ask for a document, while a regression in
/// the negation/discussion/channel rules, which would light up dozens of newsletters and test
/// messages, fails the test. The spam folder held no request for a document either: its
/// messages mention cards only as "NO CREDIT CARD NEEDED".
const NON_SPAM_BOUND: usize = 3;

#[test]
fn corpus_hits_are_rare_outside_spam() {
    let Some(dir) = corpus_dir() else {
        println!(
            "skipped: no corpus (../shared/corpus next to the checkout, or DOUBLECHECK_CORPUS)"
        );
        return;
    };
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    if paths.is_empty() {
        println!("skipped: {} holds no files", dir.display());
        return;
    }
    let detector = Detector::new();
    let (mut spam_files, mut other_files) = (0usize, 0usize);
    let (mut spam_hits, mut other_hits) = (0usize, 0usize);
    let (mut spam_firing, mut other_firing) = (0usize, 0usize);
    for path in &paths {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let rel = path.strip_prefix(&dir).unwrap_or(path);
        let spam = rel.components().any(|c| c.as_os_str() == "spam");
        let found = detector.find(&text);
        if spam {
            spam_files += 1;
            spam_hits += found.len();
            spam_firing += usize::from(!found.is_empty());
        } else {
            other_files += 1;
            other_hits += found.len();
            other_firing += usize::from(!found.is_empty());
        }
        for s in &found {
            assert!(s.start <= s.end && s.end <= text.len());
            assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
            println!(
                "{} {}: {} ({:.2}) {:?} — {}",
                if spam { "SPAM " } else { "OTHER" },
                rel.display(),
                s.category,
                s.confidence,
                s.document,
                s.snippet
            );
        }
    }
    println!(
        "corpus: {} files; spam: {spam_files} files, {spam_firing} firing, {spam_hits} hits; \
         other: {other_files} files, {other_firing} firing, {other_hits} hits",
        paths.len()
    );
    assert!(
        other_hits <= NON_SPAM_BOUND,
        "{other_hits} hits outside spam folders (bound {NON_SPAM_BOUND})"
    );
}
