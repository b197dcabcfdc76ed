//! Prints scanner throughput next to baselines over the same bytes.
//! Run: `cargo run --release -p doublecheck-pii --example throughput [-- FILE...]`
//! (each FILE, e.g. the decoded text of the corpus messages, is measured too).
//! Each figure is the best of 7 timed passes; `THROUGHPUT_RUNS=N` takes the
//! best of N instead (on a busy machine more passes find a quiet moment).

use std::time::Instant;

use doublecheck_pii::{ScanOptions, Scanner};

#[path = "../benches/support/text.rs"]
mod text;
use text::{corpus, corpus_without_json, synthetic};

fn time<F: FnMut() -> usize>(bytes: usize, runs: usize, mut f: F) -> f64 {
    let mut best = f64::MAX;
    let mut sink = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        sink += f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(sink);
    bytes as f64 / best / 1e6
}

fn main() {
    let runs = std::env::var("THROUGHPUT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let scanner = Scanner::new(ScanOptions::default());
    let re = regex::Regex::new(r"\d{3}-\d{2}-\d{4}").expect("regex");
    let mut sets = vec![("synthetic mail".to_string(), synthetic())];
    match (corpus(), corpus_without_json()) {
        (Some(c), Some(n)) => {
            sets.insert(0, ("corpus (raw messages)".to_string(), c));
            sets.insert(1, ("corpus without .json fixtures".to_string(), n));
        }
        _ => eprintln!("corpus not found; synthetic text only"),
    }
    for f in std::env::args().skip(1) {
        let b = std::fs::read(&f).expect("read file");
        sets.push((f, String::from_utf8_lossy(&b).into_owned()));
    }
    for (name, text) in &sets {
        let n = text.len();
        let mut out = Vec::new();
        let scan = time(n, runs, || {
            out.clear();
            scanner.scan_into(text, &mut out);
            out.len()
        });
        let mem = time(n, runs, || memchr::memchr(0, text.as_bytes()).unwrap_or(0));
        let rx = time(n, runs, || re.find_iter(text).count());
        println!("{name}: {:.1} MB, {} matches", n as f64 / 1e6, out.len());
        println!("  scanner            {scan:>9.0} MB/s");
        println!(
            "  memchr(0) baseline {mem:>9.0} MB/s   (scanner = {:.4}x of baseline)",
            scan / mem
        );
        println!(
            "  regex \\d{{3}}-\\d{{2}}-\\d{{4}} {rx:>6.0} MB/s   (scanner = {:.2}x)",
            scan / rx
        );
    }
}
