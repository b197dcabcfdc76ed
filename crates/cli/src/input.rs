//! Reading messages from files, directories, mbox files and standard input.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Largest input file read, in bytes. Larger files are refused with a clear error.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// One message and where it came from (`file`, `file#3` for the third message of an mbox).
pub struct Input {
    pub source: String,
    pub raw: Vec<u8>,
}

/// A problem reading one argument; the run goes on with the others.
pub struct InputError {
    pub source: String,
    pub message: String,
    pub not_found: bool,
}

/// Expand arguments into files: directories recursively (sorted, hidden entries skipped).
pub fn expand(args: &[String], errors: &mut Vec<InputError>) -> Vec<String> {
    let mut out = Vec::new();
    for a in args {
        if a == "-" {
            out.push(a.clone());
            continue;
        }
        let p = Path::new(a);
        match fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut out, errors, 0),
            Ok(_) => out.push(a.clone()),
            Err(e) => errors.push(InputError {
                source: a.clone(),
                message: describe(&e),
                not_found: e.kind() == io::ErrorKind::NotFound,
            }),
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<String>, errors: &mut Vec<InputError>, depth: usize) {
    if depth > 32 {
        errors.push(InputError {
            source: dir.display().to_string(),
            message: "directories nested more than 32 levels deep; not descending further".into(),
            not_found: false,
        });
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(InputError {
                source: dir.display().to_string(),
                message: describe(&e),
                not_found: false,
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => walk(&p, out, errors, depth + 1),
            Ok(m) if m.is_file() && !skipped_extension(&p) => out.push(p.display().to_string()),
            _ => {}
        }
    }
}

/// Files in a directory that are clearly not mail (policies, scripts, expected results, images)
/// are skipped; files named explicitly are always read.
fn skipped_extension(p: &Path) -> bool {
    const SKIP: &[&str] = &[
        "toml", "json", "jsonl", "md", "py", "rs", "sh", "yml", "yaml", "png", "jpg", "jpeg",
        "gif", "pdf", "zip", "gz", "tar", "csv", "docx", "xlsx", "lock",
    ];
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| SKIP.contains(&e.to_ascii_lowercase().as_str()))
}

/// Read one file (or `-`) into messages: an mbox file yields one per `From ` line.
pub fn read(path: &str) -> Result<Vec<Input>, InputError> {
    let err = |e: io::Error| InputError {
        source: path.to_string(),
        message: describe(&e),
        not_found: e.kind() == io::ErrorKind::NotFound,
    };
    let mut raw = Vec::new();
    if path == "-" {
        io::stdin()
            .lock()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(err)?;
    } else {
        let f = fs::File::open(path).map_err(err)?;
        f.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(err)?;
    }
    if raw.len() as u64 > MAX_FILE_BYTES {
        return Err(InputError {
            source: path.to_string(),
            message: format!(
                "larger than {} bytes; split it into smaller files",
                MAX_FILE_BYTES
            ),
            not_found: false,
        });
    }
    let name = if path == "-" { "<stdin>" } else { path };
    if is_mbox(&raw) {
        let msgs = split_mbox(&raw);
        let many = msgs.len() > 1;
        Ok(msgs
            .into_iter()
            .enumerate()
            .map(|(i, m)| Input {
                source: if many {
                    format!("{name}#{}", i + 1)
                } else {
                    name.to_string()
                },
                raw: m,
            })
            .collect())
    } else {
        Ok(vec![Input {
            source: name.to_string(),
            raw,
        }])
    }
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::IsADirectory => "is a directory".into(),
        _ => e.to_string(),
    }
}

/// An mbox starts with a `From ` separator line (`From sender date`).
pub fn is_mbox(raw: &[u8]) -> bool {
    raw.starts_with(b"From ") && raw.iter().take(1000).position(|&b| b == b'\n').is_some()
}

/// Split an mbox (mboxrd/mboxo) into messages: drop each `From ` line, unquote `>From `.
pub fn split_mbox(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut prev_blank = true;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") && prev_blank {
            if let Some(m) = current.take() {
                out.push(m);
            }
            current = Some(Vec::new());
            prev_blank = false;
            continue;
        }
        let body = current.get_or_insert_with(Vec::new);
        let unquoted = match line.iter().position(|&b| b != b'>') {
            Some(n) if n > 0 && line[n..].starts_with(b"From ") => &line[1..],
            _ => line,
        };
        body.extend_from_slice(unquoted);
        prev_blank = line == b"\n" || line == b"\r\n";
    }
    if let Some(m) = current {
        out.push(m);
    }
    out.retain(|m| !m.iter().all(u8::is_ascii_whitespace));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_mbox_and_unquotes() {
        let mbox = b"From a@x Mon Jan  1 00:00:00 2024\nSubject: one\n\n>From here\nbody\n\nFrom b@x Mon Jan  1 00:00:00 2024\nSubject: two\n\nbody2\n";
        assert!(is_mbox(mbox));
        let m = split_mbox(mbox);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], b"Subject: one\n\nFrom here\nbody\n\n");
        assert_eq!(m[1], b"Subject: two\n\nbody2\n");
    }

    #[test]
    fn from_inside_a_paragraph_is_not_a_separator() {
        let mbox = b"From a@x date\nSubject: one\n\nline\nFrom the desk of\n";
        assert_eq!(split_mbox(mbox).len(), 1);
    }

    #[test]
    fn plain_message_is_not_mbox() {
        assert!(!is_mbox(b"Subject: x\n\nFrom me\n"));
    }
}
