//! Prints scanner throughput next to baselines over the same bytes.
//! Run: `cargo run --release -p doublecheck-pii --example throughput [-- FILE...]`
//! (each FILE, e.g. the decoded text of the corpus messages, is measured too).
//! Each figure is the best of 7 timed passes; `THROUGHPUT_RUNS=N` takes the
//! best of N instead (on a busy machine more passes find a quiet moment).
//! The passes of the scanner and of its two baselines alternate, so the
//! three figures of a text come from the same stretch of time.

use std::time::Instant;

use doublecheck_pii::{ScanOptions, Scanner};

#[path = "../benches/support/text.rs"]
mod text;
use text::{corpus, corpus_without_json, synthetic};

/// Best time of one pass of `f`, in seconds, updated with one more pass.
fn pass<F: FnMut() -> usize>(best: &mut f64, sink: &mut usize, mut f: F) {
    let t = Instant::now();
    *sink += f();
    *best = best.min(t.elapsed().as_secs_f64());
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
        let (mut scan, mut mem, mut rx, mut sink) = (f64::MAX, f64::MAX, f64::MAX, 0);
        for _ in 0..runs.max(1) {
            pass(&mut scan, &mut sink, || {
                out.clear();
                scanner.scan_into(text, &mut out);
                out.len()
            });
            pass(&mut mem, &mut sink, || {
                memchr::memchr(0, text.as_bytes()).unwrap_or(0)
            });
            pass(&mut rx, &mut sink, || re.find_iter(text).count());
        }
        std::hint::black_box(sink);
        let mbps = |secs: f64| n as f64 / secs / 1e6;
        let (scan, mem, rx) = (mbps(scan), mbps(mem), mbps(rx));
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
