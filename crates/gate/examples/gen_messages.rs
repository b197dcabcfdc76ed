//! Writes N realistic clean messages (1–50 KB, the same in every run) into a directory, for
//! benchmarks that send them through a real MTA (`scripts/bench-postfix`).
//!
//! ```text
//! cargo run --release -p doublecheck-gate --example gen_messages -- N DIR [SEED]
//! ```
//!
//! Each message becomes `DIR/NNNNNN.eml` (CRLF line ends); `DIR/index.tsv` lists one message a
//! line: file name, envelope sender, envelope recipient, size in bytes, Message-ID.

#[path = "support/messages.rs"]
mod messages;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// The smallest and largest message size asked of the generator, in bytes.
const MIN_SIZE: usize = 1024;
const MAX_SIZE: usize = 50 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: gen_messages N DIR [SEED]");
        return ExitCode::from(2);
    }
    let Ok(n) = args[1].parse::<usize>() else {
        eprintln!("N must be a number");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(&args[2]);
    let seed: u64 = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000_000);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::from(1);
    }
    // Sizes spread evenly over 1–50 KB, drawn from their own generator so they do not depend
    // on the message contents.
    let mut sizes = messages::Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
    let mut index = String::new();
    let mut total = 0usize;
    for i in 0..n {
        let size = MIN_SIZE + sizes.below(MAX_SIZE - MIN_SIZE + 1);
        let id = seed + i as u64;
        let (from, to, m) = messages::message(id, size);
        let name = format!("{i:06}.eml");
        let path = dir.join(&name);
        let written = std::fs::File::create(&path).and_then(|mut f| f.write_all(m.as_bytes()));
        if let Err(e) = written {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(1);
        }
        total += m.len();
        index.push_str(&format!(
            "{name}\t{from}\t{to}\t{}\t<bench-{id}@phoneco.example>\n",
            m.len()
        ));
    }
    if let Err(e) = std::fs::write(dir.join("index.tsv"), index) {
        eprintln!("index.tsv: {e}");
        return ExitCode::from(1);
    }
    eprintln!(
        "{n} messages, {:.1} MB, in {}",
        total as f64 / 1e6,
        dir.display()
    );
    ExitCode::SUCCESS
}
