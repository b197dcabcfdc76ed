//! Prints scanner throughput next to baselines over the same bytes.
//! Run: `cargo run --release -p doublecheck-pii --example throughput`

use std::time::Instant;

use doublecheck_pii::{ScanOptions, Scanner};

#[path = "../benches/support/text.rs"]
mod text;
use text::{corpus, synthetic};

fn time<F: FnMut() -> usize>(bytes: usize, mut f: F) -> f64 {
    let mut best = f64::MAX;
    let mut sink = 0;
    for _ in 0..7 {
        let t = Instant::now();
        sink += f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(sink);
    bytes as f64 / best / 1e6
}

fn main() {
    let scanner = Scanner::new(ScanOptions::default());
    let re = regex::Regex::new(r"\d{3}-\d{2}-\d{4}").expect("regex");
    let mut sets = vec![("synthetic mail", synthetic())];
    match corpus() {
        Some(c) => sets.insert(0, ("corpus (raw messages)", c)),
        None => eprintln!("corpus not found; synthetic text only"),
    }
    for (name, text) in &sets {
        let n = text.len();
        let mut out = Vec::new();
        let scan = time(n, || {
            out.clear();
            scanner.scan_into(text, &mut out);
            out.len()
        });
        let mem = time(n, || memchr::memchr(0, text.as_bytes()).unwrap_or(0));
        let rx = time(n, || re.find_iter(text).count());
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
