//! Reading the real-world corpus (`../shared/corpus`): the messages only — not the expected-output
//! `.json` files, licences or header-parser vectors — with `nice.mbox` split into its messages.
//! Shared by the tests, the benchmark and the figures example.

use std::path::{Path, PathBuf};

/// The corpus directory beside this checkout, if present.
pub fn corpus_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    d.is_dir().then_some(d)
}

fn is_message_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let upper = name.to_ascii_uppercase();
    let not_mail = name.ends_with(".json")
        || name.ends_with(".md")
        || upper.contains("LICENSE")
        || upper.starts_with("COPYING")
        || upper.starts_with("NOTICE")
        || upper.starts_with("README");
    !not_mail && !p.components().any(|c| c.as_os_str() == "header-vectors")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.is_file() && is_message_file(&p) {
            out.push(p);
        }
    }
}

/// Every message of the corpus as (name relative to the corpus, raw bytes).
pub fn messages(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    let mut out = Vec::new();
    for f in files {
        let Ok(raw) = std::fs::read(&f) else { continue };
        let rel = f
            .strip_prefix(dir)
            .unwrap_or(&f)
            .to_string_lossy()
            .to_string();
        if rel.ends_with(".mbox") {
            for (i, m) in split_mbox(&raw).into_iter().enumerate() {
                out.push((format!("{rel}#{}", i + 1), m));
            }
        } else {
            out.push((rel, raw));
        }
    }
    out
}

fn split_mbox(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            out.push(Vec::new());
        } else if let Some(m) = out.last_mut() {
            m.extend_from_slice(line);
        }
    }
    out
}
