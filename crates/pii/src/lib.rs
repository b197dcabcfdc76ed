//! Validated detection of sensitive values in plain text: payment cards, US
//! SSN/ITIN, IBAN, ABA routing numbers, US driver's licenses, passports (US,
//! UK, ICAO MRZ), dates of birth, phone numbers, e-mail addresses, UK NINO and
//! Canadian SIN.
//!
//! Each value goes through pattern → validator → context words: a candidate
//! shape is read, checked with the real rules for that kind (Luhn, mod-97,
//! area/group ranges, check digits...), and its confidence is raised (or, for
//! kinds without a checksum, made reportable at all) by supporting words such
//! as "routing", "passport" or "fecha de nacimiento" near it.
//!
//! ```
//! use doublecheck_pii::{Kind, Scanner, ScanOptions};
//! let s = Scanner::new(ScanOptions::default());
//! let m = s.scan("card 4111 1111 1111 1111, SSN 078-05-1121");
//! assert_eq!(m.len(), 2);
//! assert_eq!(m[0].kind, Kind::CreditCard);
//! assert_eq!(m[0].masked, "4111 **** **** 1111");
//! assert_eq!(m[1].kind, Kind::UsSsn);
//! ```
//!
//! # Layout
//!
//! - `kind`: [`Kind`] and [`Confidence`], names and labels.
//! - `scan`: candidate finding — bit scans over 64-byte class masks to the
//!   next digit or `@` and to token bounds, cheap shape gates that send each
//!   token only to the readers it can fit, bounded per-kind pattern readers,
//!   choice among overlapping candidates.
//! - `simd`: the class masks and the birth-date key filter (SSE2 on x86_64,
//!   AVX2 where runtime detection finds it; the crate's only `unsafe` code;
//!   a portable version elsewhere, tested against both).
//! - `context`: whole-word, case-insensitive context words (English, Spanish)
//!   in a window around a candidate.
//! - `mask`: masked evidence for reports ([`mask()`]).
//! - [`validate`]: one file per kind with the pure validators (`luhn`,
//!   `card_brand`, `ssn`, `itin`, `iban`, `aba`, `mrz_check_digit`, `nino`,
//!   `sin`, dates, phone numbering, e-mail) and their tests.
//!
//! The scanner never panics, allocates only for matches (and for context
//! look-ups of validated candidates), and is linear in the input length.

#![deny(unsafe_code)]

mod context;
mod kind;
mod mask;
mod scan;
mod simd;
pub mod validate;

pub use context::DEFAULT_WINDOW;
pub use kind::{Confidence, Kind};
pub use mask::mask;

/// One sensitive value found in the text.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Match {
    pub kind: Kind,
    /// Byte offset of the first byte of the value.
    pub start: usize,
    /// Byte offset one past the value.
    pub end: usize,
    pub confidence: Confidence,
    /// The value masked for display; never the full value.
    pub masked: String,
    /// Hash of the normalised value (digits only, upper-cased alphanumerics,
    /// lower-cased e-mail) with the kind, for counting distinct values. Not
    /// meant to be printed.
    pub key: u64,
}

/// What to look for.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Enabled kinds.
    pub kinds: Vec<Kind>,
    /// Matches below this confidence are dropped.
    pub min_confidence: Confidence,
    /// Bytes on each side of a candidate searched for context words
    /// (0 disables context words).
    pub context_window: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            kinds: Kind::all().to_vec(),
            min_confidence: Confidence::Medium,
            context_window: context::DEFAULT_WINDOW,
        }
    }
}

impl ScanOptions {
    /// Only the given kinds, other settings default.
    pub fn only(kinds: &[Kind]) -> Self {
        ScanOptions {
            kinds: kinds.to_vec(),
            ..Default::default()
        }
    }
}

/// A configured scanner; build once, reuse from any thread.
#[derive(Debug)]
pub struct Scanner {
    enabled: [bool; 13],
    min: Confidence,
    window: usize,
}

fn key_of(kind: Kind, value: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (kind.index() as u64);
    let mut feed = |c: u8| {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    match kind {
        Kind::Email => value.bytes().for_each(|c| feed(c.to_ascii_lowercase())),
        Kind::Phone
        | Kind::CreditCard
        | Kind::UsSsn
        | Kind::UsItin
        | Kind::AbaRouting
        | Kind::CaSin
        | Kind::DateOfBirth => value.bytes().filter(u8::is_ascii_digit).for_each(&mut feed),
        _ => value
            .bytes()
            .filter(|c| c.is_ascii_alphanumeric() || *c == b'<')
            .for_each(|c| feed(c.to_ascii_uppercase())),
    }
    h
}

impl Scanner {
    pub fn new(opts: ScanOptions) -> Scanner {
        let mut enabled = [false; 13];
        for k in &opts.kinds {
            enabled[k.index()] = true;
        }
        Scanner {
            enabled,
            min: opts.min_confidence,
            window: opts.context_window,
        }
    }

    /// Find all enabled values at or above the minimum confidence, sorted by
    /// start and non-overlapping.
    pub fn scan(&self, text: &str) -> Vec<Match> {
        let mut out = Vec::new();
        self.scan_into(text, &mut out);
        out
    }

    /// Like [`Scanner::scan`], appending to `out`.
    pub fn scan_into(&self, text: &str, out: &mut Vec<Match>) {
        let plan = scan::Plan {
            enabled: self.enabled,
            min: self.min,
            window: self.window,
        };
        scan::scan(&plan, text, |(kind, start, end, confidence)| {
            let value = &text[start..end];
            out.push(Match {
                kind,
                start,
                end,
                confidence,
                masked: mask(kind, value),
                key: key_of(kind, value),
            });
        });
    }
}

#[cfg(test)]
mod diff_tests;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
