//! Prints the engine's performance figures (run through `scripts/bench`):
//!
//! - `figures pipeline`: messages/s of the whole pipeline (parse + all detectors + policy) over
//!   the real-world corpus on one core, next to mail-parser's parse alone on the same messages
//!   in the same run (the baseline), and the ratio.
//! - `figures once [ROUNDS] [timed]`: every corpus message checked ROUNDS times (default 3),
//!   with per-detector timings when `timed` is given; a fixed amount of work for counting
//!   instructions (`valgrind --tool=callgrind`).
//! - `figures big [MB]`: time and peak memory (VmHWM) to check one large message with
//!   attachments (default 25 MB), built in memory. Run it in its own process so the peak is its own.

use doublecheck_engine::{Engine, Envelope, Policy};
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod big_message;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("pipeline") => pipeline(args.get(1).map(PathBuf::from)),
        Some("profile") => {
            // The engine alone for a few seconds, for a profiler.
            let msgs = corpus(None);
            let engine = Engine::new(Policy::builtin());
            let r = rate(&msgs, Duration::from_secs(5), |m| {
                engine.check(m, &Envelope::default()).findings.len()
            });
            println!("{r:.0} msg/s");
        }
        Some("once") => {
            // Every corpus message checked a fixed number of times (default 3): a deterministic
            // amount of work for instruction counts (valgrind --tool=callgrind).
            let msgs = corpus(None);
            let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
            let engine = Engine::new(Policy::builtin());
            let env = Envelope::default();
            // `once N timed`: with per-detector timings (what the gate runs).
            let timed = args.get(2).is_some_and(|a| a == "timed");
            let mut timings = doublecheck_engine::Timings::default();
            let mut findings = 0usize;
            for _ in 0..rounds {
                for m in &msgs {
                    findings += if timed {
                        engine
                            .try_check_timed(m, &env, &mut timings)
                            .map_or(0, |v| v.findings.len())
                    } else {
                        engine.check(m, &env).findings.len()
                    };
                }
            }
            println!("{} checks, {findings} findings", rounds * msgs.len());
        }
        Some("big") => big(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(25)),
        Some("parse-file") => {
            let raw =
                std::fs::read(args.get(1).map(String::as_str).unwrap_or("")).unwrap_or_default();
            let before = vm_hwm_kb().unwrap_or(0);
            let p = mail_parser::MessageParser::default()
                .parse(&raw)
                .map_or(0, |m| m.parts.len());
            let mid = vm_hwm_kb().unwrap_or(0);
            let m = doublecheck_engine::parse::parse(&raw, &doublecheck_engine::Limits::default());
            let after = vm_hwm_kb().unwrap_or(0);
            let text: usize = m.texts.iter().map(|t| t.text.len()).sum();
            println!(
                "raw {} MB; hwm after read {} MB, after mail-parser {} MB ({p} parts), after engine parse {} MB; texts {} MB",
                raw.len() / 1_000_000,
                before / 1024,
                mid / 1024,
                after / 1024,
                text / 1_000_000
            );
        }
        Some("extract-file") => {
            use mail_parser::MimeHeaders;
            let raw =
                std::fs::read(args.get(1).map(String::as_str).unwrap_or("")).unwrap_or_default();
            let m = mail_parser::MessageParser::default()
                .parse(&raw)
                .expect("message");
            println!("after parse: {} MB", vm_hwm_kb().unwrap_or(0) / 1024);
            for part in m.attachments() {
                let name = part.attachment_name().map(str::to_string);
                let ex = doublecheck_extract::extract(
                    part.contents(),
                    name.as_deref(),
                    None,
                    &Default::default(),
                );
                let text: usize = ex.texts.iter().map(|t| t.text.len()).sum();
                println!(
                    "  {:?} {} bytes -> {} text bytes; hwm {} MB",
                    name,
                    part.contents().len(),
                    text,
                    vm_hwm_kb().unwrap_or(0) / 1024
                );
            }
        }
        Some("hostile") => hostile(),
        Some("scan") => scan_text(),
        Some("repeat") => {
            let raw =
                std::fs::read(args.get(1).map(String::as_str).unwrap_or("")).unwrap_or_default();
            let engine = Engine::new(Policy::builtin());
            let n = 5000;
            let t = Instant::now();
            for _ in 0..n {
                std::hint::black_box(engine.check(&raw, &Envelope::default()));
            }
            println!(
                "{:.1} us per check",
                t.elapsed().as_secs_f64() * 1e6 / n as f64
            );
        }
        Some("slowest") => {
            // The messages that cost the most, for finding where time goes.
            let dir = corpus_files::corpus_dir().expect("corpus");
            let msgs = corpus_files::messages(&dir);
            let engine = Engine::new(Policy::builtin());
            let limits = doublecheck_engine::Limits::default();
            let mut times: Vec<(f64, f64, String, usize)> = msgs
                .iter()
                .map(|(name, m)| {
                    let t = Instant::now();
                    for _ in 0..20 {
                        std::hint::black_box(doublecheck_engine::parse::parse(m, &limits));
                    }
                    let p = t.elapsed().as_secs_f64() / 20.0;
                    let t = Instant::now();
                    for _ in 0..20 {
                        std::hint::black_box(engine.check(m, &Envelope::default()));
                    }
                    (t.elapsed().as_secs_f64() / 20.0, p, name.clone(), m.len())
                })
                .collect();
            let total: f64 = times.iter().map(|t| t.0).sum();
            times.sort_by(|a, b| b.0.total_cmp(&a.0));
            println!(
                "total {:.1} ms per pass over {} messages",
                total * 1e3,
                times.len()
            );
            for (c, p, n, len) in times.iter().take(15) {
                println!(
                    "  {:>8.1} us check {:>8.1} us parse {:>8} bytes  {n}",
                    c * 1e6,
                    p * 1e6,
                    len
                );
            }
        }
        Some("check-file") => check_file(args.get(1).map(String::as_str).unwrap_or("")),
        _ => {
            eprintln!("usage: figures pipeline [CORPUS_DIR] | figures big [MB]");
            std::process::exit(64);
        }
    }
}

#[path = "../../tests/support/corpus.rs"]
mod corpus_files;

fn corpus(dir: Option<PathBuf>) -> Vec<Vec<u8>> {
    let Some(dir) = dir.or_else(corpus_files::corpus_dir) else {
        return Vec::new();
    };
    corpus_files::messages(&dir)
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

/// Run `f` over all messages repeatedly for at least `min`, return messages per second.
fn rate(msgs: &[Vec<u8>], min: Duration, mut f: impl FnMut(&[u8]) -> usize) -> f64 {
    let mut n = 0usize;
    let mut sink = 0usize;
    let start = Instant::now();
    while start.elapsed() < min {
        for m in msgs {
            sink = sink.wrapping_add(f(m));
            n += 1;
        }
    }
    std::hint::black_box(sink);
    n as f64 / start.elapsed().as_secs_f64()
}

fn pipeline(dir: Option<PathBuf>) {
    let msgs = corpus(dir);
    if msgs.is_empty() {
        eprintln!("skipped: no corpus found (../shared/corpus)");
        return;
    }
    let bytes: usize = msgs.iter().map(Vec::len).sum();
    let engine = Engine::new(Policy::builtin());
    let env = Envelope::default();
    let parser = mail_parser::MessageParser::default();
    // Warm up, then alternate baseline and engine rounds so both see the same machine load.
    rate(&msgs, Duration::from_millis(300), |m| {
        engine.check(m, &env).findings.len()
    });
    let (mut base, mut full) = (Vec::new(), Vec::new());
    if std::env::var_os("FIGURES_STAGES").is_some() {
        let limits = doublecheck_engine::Limits::default();
        let r = rate(&msgs, Duration::from_secs(2), |m| {
            doublecheck_engine::parse::parse(m, &limits).texts.len()
        });
        println!("  engine parse stage alone (MIME + attachment text): {r:>10.0} msg/s");
    }
    for _ in 0..3 {
        base.push(rate(&msgs, Duration::from_secs(1), |m| {
            parser.parse(m).map_or(0, |p| p.parts.len())
        }));
        full.push(rate(&msgs, Duration::from_secs(1), |m| {
            engine.check(m, &env).findings.len()
        }));
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let (b, e) = (best(&base), best(&full));
    println!(
        "pipeline: {} messages, {:.1} KB average",
        msgs.len(),
        bytes as f64 / msgs.len() as f64 / 1e3
    );
    println!("  mail-parser parse only (baseline): {b:>10.0} msg/s");
    println!(
        "  doublecheck check (parse + detectors + policy): {e:>10.0} msg/s  ({:.1} MB/s)",
        e * bytes as f64 / msgs.len() as f64 / 1e6
    );
    println!("  ratio check / parse: {:.2}", e / b);
}

fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn big(mb: usize) {
    // Build the message, write it to a file, and check it in a fresh process, so the peak memory
    // reported is the check's (plus the message it read), not the generator's.
    let raw = big_message::build(mb);
    let path = std::env::temp_dir().join(format!("doublecheck-big-{}.eml", std::process::id()));
    if let Err(e) = std::fs::write(&path, &raw) {
        eprintln!("cannot write {}: {e}", path.display());
        std::process::exit(74);
    }
    drop(raw);
    let exe = std::env::current_exe().expect("own path");
    let status = std::process::Command::new(exe)
        .arg("check-file")
        .arg(&path)
        .status();
    if std::env::var_os("FIGURES_PARSE_PROBE").is_some() {
        let exe = std::env::current_exe().expect("own path");
        let _ = std::process::Command::new(&exe)
            .arg("parse-file")
            .arg(&path)
            .status();
        let _ = std::process::Command::new(&exe)
            .arg("extract-file")
            .arg(&path)
            .status();
    }
    let _ = std::fs::remove_file(&path);
    if !status.is_ok_and(|s| s.success()) {
        std::process::exit(1);
    }
}

fn check_file(path: &str) {
    let engine = Engine::new(Policy::builtin());
    let before = vm_hwm_kb().unwrap_or(0);
    let raw = match std::fs::read(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(66);
        }
    };
    let start = Instant::now();
    let v = engine.check(&raw, &Envelope::default());
    let elapsed = start.elapsed();
    let after = vm_hwm_kb().unwrap_or(0);
    println!(
        "big message: {:.1} MB raw, {} findings, action {}",
        raw.len() as f64 / 1e6,
        v.findings.len(),
        v.would
    );
    for f in &v.findings {
        println!(
            "  {} ({}) count {}",
            f.id,
            f.kind.as_deref().unwrap_or("-"),
            f.count
        );
    }
    println!("  check time: {:.3} s", elapsed.as_secs_f64());
    println!(
        "  peak memory of the checking process (VmHWM): {:.1} MB (before reading the message: {:.1} MB)",
        after as f64 / 1024.0,
        before as f64 / 1024.0
    );
}

/// Check times for hostile shapes: each must stay roughly linear in its size.
fn hostile() {
    let engine = Engine::new(Policy::builtin());
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    let head = "From: a@example.com\r\nTo: b@gmail.com\r\nSubject: x\r\n";
    for mb in [1usize, 4] {
        let n = mb * 1_000_000;
        cases.push((
            format!("{mb} MB line of digits"),
            format!("{head}\r\n{}\r\n", "4".repeat(n)).into_bytes(),
        ));
        cases.push((
            format!("{mb} MB line of '@'"),
            format!("{head}\r\n{}\r\n", "@".repeat(n)).into_bytes(),
        ));
        cases.push((
            format!("{mb} MB of 'a@b.c ' tokens"),
            format!("{head}\r\n{}\r\n", "a@b.co ".repeat(n / 7)).into_bytes(),
        ));
        cases.push((
            format!("{mb} MB of 'please send your passport '"),
            format!(
                "{head}\r\n{}\r\n",
                "please send your passport ".repeat(n / 26)
            )
            .into_bytes(),
        ));
        cases.push((
            format!("{mb} MB of '<b>' tags (HTML)"),
            format!(
                "{head}Content-Type: text/html\r\n\r\n{}\r\n",
                "<b>".repeat(n / 3)
            )
            .into_bytes(),
        ));
        let to: Vec<String> = (0..mb * 20_000)
            .map(|i| format!("c{i}@d{i}.example"))
            .collect();
        cases.push((
            format!(
                "{} recipients in To ({:.1} MB)",
                to.len(),
                to.join(", ").len() as f64 / 1e6
            ),
            format!("From: a@example.com\r\nTo: {}\r\n\r\nhi\r\n", to.join(", ")).into_bytes(),
        ));
        let mut h = String::from(head);
        for i in 0..mb * 25_000 {
            h.push_str(&format!("X-Filler-{i}: value {i}\r\n"));
        }
        h.push_str("\r\nbody\r\n");
        cases.push((format!("{} header fields", mb * 25_000), h.into_bytes()));
        let depth = mb * 1000;
        let mut d = String::from(head);
        for i in 0..depth {
            d.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
            ));
        }
        d.push_str("Content-Type: text/plain\r\n\r\nhello\r\n");
        cases.push((format!("{depth} nested multiparts"), d.into_bytes()));
    }
    println!(
        "hostile inputs (check time; each case should scale about linearly from 1 MB to 4 MB):"
    );
    for (name, raw) in &cases {
        let start = Instant::now();
        let v = engine.check(raw, &Envelope::default());
        println!(
            "  {name:<44} {:>8.1} ms  {} findings",
            start.elapsed().as_secs_f64() * 1e3,
            v.findings.len()
        );
    }
}

/// The sensitive-data scanner over the text the engine actually scans in real mail: the decoded
/// bodies, subjects and attachment text of every corpus message (no headers, no base64), next to
/// a memchr pass over the same bytes in the same run.
fn scan_text() {
    let Some(dir) = corpus_files::corpus_dir() else {
        eprintln!("skipped: no corpus found (../shared/corpus)");
        return;
    };
    let limits = doublecheck_engine::Limits::default();
    let mut text = String::new();
    for (_, m) in corpus_files::messages(&dir) {
        for t in doublecheck_engine::parse::parse(&m, &limits).texts {
            text.push_str(&t.text);
            text.push('\n');
        }
    }
    let scanner =
        doublecheck_engine::pii::Scanner::new(doublecheck_engine::pii::ScanOptions::default());
    let mb = text.len() as f64 / 1e6;
    let mut best_scan: f64 = 0.0;
    let mut best_base: f64 = 0.0;
    let mut found = 0;
    for _ in 0..7 {
        let t = Instant::now();
        found = scanner.scan(&text).len();
        best_scan = best_scan.max(mb / t.elapsed().as_secs_f64());
        let t = Instant::now();
        std::hint::black_box(memchr::memchr(0, text.as_bytes()));
        best_base = best_base.max(mb / t.elapsed().as_secs_f64());
    }
    println!(
        "sensitive-data scan over the decoded text of the corpus ({mb:.1} MB, {found} matches):"
    );
    println!(
        "  scanner: {best_scan:>8.0} MB/s   memchr baseline: {best_base:>8.0} MB/s   ratio {:.4}",
        best_scan / best_base
    );
}
