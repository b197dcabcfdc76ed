fn main() {
    let s = doublecheck_pii::Scanner::new(doublecheck_pii::ScanOptions { min_confidence: doublecheck_pii::Confidence::Low, ..Default::default() });
    for a in std::env::args().skip(1) {
        for m in s.scan(&a) { println!("{:?} {:?} {:?} {}", m.kind, &a[m.start..m.end], m.confidence, m.masked); }
    }
}
