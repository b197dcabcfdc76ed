//! One scan of a file, for instruction counts under callgrind.
use doublecheck_pii::{ScanOptions, Scanner};
fn main() {
    let p = std::env::args().nth(1).expect("file");
    let text = String::from_utf8_lossy(&std::fs::read(p).expect("read")).into_owned();
    let scanner = Scanner::new(ScanOptions::default());
    let mut out = Vec::new();
    scanner.scan_into(std::hint::black_box(&text), &mut out);
    println!("{} bytes, {} matches", text.len(), out.len());
}
