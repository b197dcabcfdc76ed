//! One scan of a benchmark text, for instruction counts under callgrind.
//! Run: `cargo run --release -p doublecheck-pii --example scan_once -- corpus|synthetic`

use doublecheck_pii::{ScanOptions, Scanner};

#[path = "../benches/support/text.rs"]
mod text;

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let text = match which.as_str() {
        "synthetic" => text::synthetic(),
        _ => text::corpus().expect("corpus under shared/corpus"),
    };
    let scanner = Scanner::new(ScanOptions::default());
    let mut out = Vec::new();
    scanner.scan_into(std::hint::black_box(&text), &mut out);
    println!("{} bytes, {} matches", text.len(), out.len());
}
