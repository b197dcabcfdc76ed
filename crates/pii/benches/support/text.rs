//! The texts the scanner is measured on, shared by the criterion bench and the throughput
//! example: the raw corpus (where present) and a synthetic mail-like text.

/// Every file under `../shared/corpus`, read lossily as one text; `None` where it is absent.
pub fn corpus() -> Option<String> {
    corpus_where(|_| true)
}

/// [`corpus`] without the `.json` files (the parsers' expected-output fixtures, not mail).
#[allow(dead_code)]
pub fn corpus_without_json() -> Option<String> {
    corpus_where(|p| p.extension().is_none_or(|e| e != "json"))
}

fn corpus_where(keep: impl Fn(&std::path::Path) -> bool) -> Option<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus");
    let mut files = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(root)];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if keep(&p) {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut text = String::new();
    for f in files {
        if let Ok(b) = std::fs::read(&f) {
            text.push_str(&String::from_utf8_lossy(&b));
            text.push('\n');
        }
    }
    (!text.is_empty()).then_some(text)
}

/// About 8 MB of mail-like prose with a realistic sprinkling of numbers and a few values.
pub fn synthetic() -> String {
    let para = "Hi team,\n\nFollowing up on yesterday's call about the Q3 roadmap. We agreed to \
ship the onboarding changes before the 15th and revisit pricing after the review with \
finance. Order 48213 shipped on 2024-03-12 at 10:30, tracking 1Z999AA10123456784. \
\n\
The budget is $12,500 for 3 months; ticket #4471 has the details and v2.3.1 notes.\n\
Thanks,\nAlex\n\n";
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < 8 << 20 {
        s.push_str(para);
        if i.is_multiple_of(50) {
            s.push_str("Reach me at jane.doe@example.com or (415) 555-0132. Card 4111 1111 1111 1111, SSN 078-05-1121.\n");
        }
        i += 1;
    }
    s
}
