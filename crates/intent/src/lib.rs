//! # doublecheck-intent
//!
//! The `content.solicits_sensitive` detector of doublecheck: decides whether a text **asks the
//! reader** to send, reply with, attach, forward or e-mail a sensitive document or number — a
//! driver's license, passport, national ID, social security number, tax ID, payment card, bank
//! details, date of birth, proof of address, a selfie with an ID, a password or PIN.
//!
//! It fires on "please reply to this email with a copy of your driver's license" and
//! "envíenos una foto de su pasaporte"; it stays silent on "we will never ask you to send your
//! password", "the customer sent a copy of their license yesterday" and "please upload your
//! license through our secure portal".
//!
//! ```
//! let detector = doublecheck_intent::Detector::new();
//! let found = detector.find("Please reply to this email with a copy of your driver's license.");
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].category, "drivers_license");
//! assert!(detector.find("Never send your license by email.").is_empty());
//! ```
//!
//! ## Layout
//!
//! * `lang/en.toml`, `lang/es.toml` — the phrase lists (data, one file per language), embedded
//!   with `include_str!`. The format is documented in the crate README.
//! * [`lang`](crate::lang) (`src/lang.rs`) — parses and validates a language file into a phrase
//!   trie; errors are [`LangError`]s naming the language, the line and the problem.
//! * `src/tokenize.rs` — one forward pass that splits the text into lowercase, accent-folded
//!   word tokens with byte offsets, grouped into sentences; knows clause breaks, line breaks and
//!   HTML tags/entities.
//! * `src/matcher.rs` — phrase matching over the tokens of a sentence and the decision rules
//!   (request cue, window, negation scope, discussion, channel).
//! * `src/prefilter.rs` — finds the first words of document terms without tokenizing, and the
//!   sentence starts around them, so that only those sentences are tokenized and judged.
//! * `src/lib.rs` — [`Detector`], [`Solicitation`], [`Scan`]: bounding the input, keeping the best
//!   hit per category and sentence, building snippets.
//!
//! Time is linear in the input: each token is looked up once in a hash map and walks a trie at
//! most [`lang::MAX_PHRASE_WORDS`] steps; sentences are capped at 256 tokens. At most
//! [`MAX_SCAN_BYTES`] bytes are scanned; [`Scan::truncated`] says when the text was longer.

#![forbid(unsafe_code)]

pub mod lang;
mod matcher;
mod prefilter;
mod tokenize;

pub use lang::{CATEGORIES, LangError};

use matcher::{Hit, Language, Match};
use prefilter::{AnchorScan, Anchors, restart_point};
use tokenize::{Sentences, Tok, Vocab};

/// The built-in English phrase lists.
pub const EN_SOURCE: &str = include_str!("../lang/en.toml");
/// The built-in Spanish phrase lists.
pub const ES_SOURCE: &str = include_str!("../lang/es.toml");

/// Bytes scanned at most; the rest of a longer text is ignored (and [`Scan::truncated`] is set).
pub const MAX_SCAN_BYTES: usize = 8 * 1024 * 1024;

/// Longest [`Solicitation::snippet`], in characters.
pub const MAX_SNIPPET_CHARS: usize = 160;

/// A request, found in the text, for a sensitive document or number.
#[derive(Debug, Clone, PartialEq)]
pub struct Solicitation {
    /// Byte range in the text, from the request (cue or verb) to the end of the document term.
    /// Always on character boundaries.
    pub start: usize,
    pub end: usize,
    /// Category of the document, one of [`CATEGORIES`] (e.g. `"drivers_license"`).
    pub category: &'static str,
    /// The document term as written (e.g. `"driver’s license"`), whitespace collapsed. It names
    /// the kind of document; it holds no sensitive value.
    pub document: String,
    /// Code of the language whose lists matched (`"en"`, `"es"`).
    pub language: String,
    /// 0..1: higher for an explicit polite cue and a possessive ("your"), lower for a bare
    /// imperative and a document far from the verb.
    pub confidence: f32,
    /// The sentence, whitespace collapsed and HTML tags removed, at most
    /// [`MAX_SNIPPET_CHARS`] characters (cut around the request, marked with `…`).
    pub snippet: String,
}

/// The result of [`Detector::scan`].
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub solicitations: Vec<Solicitation>,
    /// Bytes of the text that were scanned.
    pub scanned_bytes: usize,
    /// The text was longer than [`MAX_SCAN_BYTES`]; its tail was not scanned.
    pub truncated: bool,
}

/// The detector, built once from the phrase lists. `Send + Sync`; `find` takes `&self`.
#[derive(Debug, Clone)]
pub struct Detector {
    vocab: Vocab,
    languages: Vec<Language>,
    /// Indexed by word id: the word begins a document term in some language.
    doc_first: Vec<bool>,
    /// One word of every document term: only sentences with one of them are judged.
    anchors: Anchors,
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

impl Detector {
    /// The detector with the built-in English and Spanish lists.
    pub fn new() -> Detector {
        match Self::from_sources(&[("en", EN_SOURCE), ("es", ES_SOURCE)]) {
            Ok(d) => d,
            // The embedded lists are checked by the crate's tests; should they ever be broken,
            // fall back to an empty detector rather than panic.
            Err(_) => Detector {
                vocab: Vocab::default(),
                languages: Vec::new(),
                doc_first: Vec::new(),
                anchors: Anchors::default(),
            },
        }
    }

    /// Same as [`Detector::new`]: the built-in languages.
    pub fn default_languages() -> Detector {
        Self::new()
    }

    /// Builds a detector from `(language code, TOML text)` pairs.
    pub fn from_sources(langs: &[(&str, &str)]) -> Result<Detector, LangError> {
        let mut vocab = Vocab::default();
        let mut languages = Vec::with_capacity(langs.len());
        for &(code, source) in langs {
            if languages.iter().any(|l: &Language| l.code == code) {
                return Err(LangError {
                    language: code.to_owned(),
                    line: None,
                    message: "language given twice".to_owned(),
                });
            }
            languages.push(lang::load(code, source, &mut vocab)?);
        }
        let mut doc_first = vec![false; vocab.len() + 1];
        for l in &languages {
            for &id in &l.doc_first {
                if let Some(slot) = doc_first.get_mut(id as usize) {
                    *slot = true;
                }
            }
        }
        let terms: Vec<Vec<u32>> = languages
            .iter()
            .flat_map(|l| &l.doc_terms)
            .map(|words| words.iter().map(|w| vocab.get(w)).collect())
            .collect();
        let anchors = Anchors::new(terms.iter().map(Vec::as_slice), &vocab);
        Ok(Detector {
            vocab,
            languages,
            doc_first,
            anchors,
        })
    }

    /// Codes of the loaded languages, in load order.
    pub fn languages(&self) -> Vec<&str> {
        self.languages.iter().map(|l| l.code.as_str()).collect()
    }

    /// Every request for a sensitive document in `text` (first [`MAX_SCAN_BYTES`] bytes), in
    /// text order; at most one per category and sentence.
    pub fn find(&self, text: &str) -> Vec<Solicitation> {
        self.scan(text).solicitations
    }

    /// Like [`Detector::find`], and says how much of the text was scanned.
    pub fn scan(&self, full: &str) -> Scan {
        let mut cut = full.len().min(MAX_SCAN_BYTES);
        while !full.is_char_boundary(cut) {
            cut -= 1;
        }
        Scan {
            solicitations: self.find_in(&full[..cut], true),
            scanned_bytes: cut,
            truncated: cut < full.len(),
        }
    }

    /// Every hit in `text`. With `prefilter`, only the sentences around anchor words (see
    /// `prefilter`) are tokenized and judged; without, every sentence is (the reference the
    /// prefilter is tested against).
    fn find_in(&self, text: &str, prefilter: bool) -> Vec<Solicitation> {
        let mut found = Vec::new();
        let mut toks = Vec::new();
        let mut work = Work::default();
        let mut sentences = Sentences::new(text, &self.vocab);
        let mut on_sentence = |sentence: &[Tok]| self.judge(text, sentence, &mut work, &mut found);
        if !prefilter {
            sentences.run(&self.vocab, &mut toks, usize::MAX, &mut on_sentence);
            return found;
        }
        let mut scan = AnchorScan::new(text, &self.vocab);
        // Sentences are complete up to `done`, where the splitter stopped after a sentence break.
        let mut done = 0;
        while let Some((start, end)) = scan.next(&self.anchors, &self.vocab) {
            let from = restart_point(text, start, done);
            if from > done {
                sentences.restart(from);
            }
            let more = sentences.run(&self.vocab, &mut toks, end, &mut on_sentence);
            done = sentences.pos();
            if !more {
                break;
            }
            scan.pos = scan.pos.max(done);
        }
        found
    }

    /// Judges one sentence in every language; appends its best hit per category.
    fn judge(&self, text: &str, sentence: &[Tok], w: &mut Work, found: &mut Vec<Solicitation>) {
        let relevant = sentence
            .iter()
            .any(|t| self.doc_first.get(t.id as usize) == Some(&true));
        if !relevant {
            return;
        }
        w.best.clear();
        for (li, lang) in self.languages.iter().enumerate() {
            w.hits.clear();
            lang.evaluate(sentence, &mut w.matches, &mut w.hits);
            for h in &w.hits {
                match w.best.iter_mut().find(|(b, _)| b.category == h.category) {
                    Some(slot) if slot.0.confidence < h.confidence => *slot = (*h, li),
                    Some(_) => {}
                    None => w.best.push((*h, li)),
                }
            }
        }
        w.best.sort_by_key(|(h, _)| (h.start, h.doc_start));
        for &(h, li) in &w.best {
            found.push(self.solicitation(text, sentence, &h, li));
        }
    }

    fn solicitation(&self, text: &str, sentence: &[Tok], h: &Hit, li: usize) -> Solicitation {
        let tok = |i: usize| sentence.get(i).copied();
        let start = tok(h.start).map_or(0, |t| t.start);
        let end = tok(h.doc_end.saturating_sub(1)).map_or(start, |t| t.end);
        let doc_start = tok(h.doc_start).map_or(start, |t| t.start);
        let first = sentence.first().map_or(start, |t| t.start);
        let mut last = sentence.last().map_or(end, |t| t.end);
        if let Some(c) = text.get(last..).and_then(|s| s.chars().next())
            && matches!(c, '.' | '?' | '!')
        {
            last += 1;
        }
        Solicitation {
            start,
            end,
            category: lang::CATEGORIES
                .get(h.category)
                .copied()
                .unwrap_or("unknown"),
            document: clean(text.get(doc_start..end).unwrap_or("")),
            language: self
                .languages
                .get(li)
                .map(|l| l.code.clone())
                .unwrap_or_default(),
            confidence: h.confidence,
            snippet: snippet(text, first, last, start),
        }
    }
}

/// Scratch buffers of [`Detector::judge`].
#[derive(Default)]
struct Work {
    matches: Vec<Match>,
    hits: Vec<Hit>,
    best: Vec<(Hit, usize)>,
}

/// Removes HTML tags and collapses whitespace.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    let mut space = false;
    for (i, c) in s.char_indices() {
        if in_tag {
            if c == '>' {
                in_tag = false;
                space = true;
            }
            continue;
        }
        if c == '<' {
            let rest = &s.as_bytes()[i + 1..];
            let tag_like = rest
                .first()
                .is_some_and(|&n| n.is_ascii_alphabetic() || n == b'/' || n == b'!');
            if tag_like && rest.iter().take(256).any(|&b| b == b'>') {
                in_tag = true;
                continue;
            }
        }
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    out
}

/// The sentence `text[first..last]`, cleaned, cut to [`MAX_SNIPPET_CHARS`] around `at`.
fn snippet(text: &str, first: usize, last: usize, at: usize) -> String {
    let full = clean(text.get(first..last).unwrap_or(""));
    let total = full.chars().count();
    if total <= MAX_SNIPPET_CHARS {
        return full;
    }
    let before = clean(text.get(first..at).unwrap_or("")).chars().count();
    let skip = before.saturating_sub(40);
    let mut out = String::new();
    let mut room = MAX_SNIPPET_CHARS;
    if skip > 0 {
        out.push('…');
        room -= 1;
    }
    let rest = total - skip;
    if rest > room {
        out.extend(full.chars().skip(skip).take(room - 1));
        out.push('…');
    } else {
        out.extend(full.chars().skip(skip));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_languages_load() {
        let d = Detector::from_sources(&[("en", EN_SOURCE), ("es", ES_SOURCE)]);
        assert!(d.is_ok(), "{:?}", d.err());
        assert_eq!(Detector::new().languages(), ["en", "es"]);
    }

    #[test]
    fn snippet_is_bounded() {
        let long = format!(
            "{} please send us a copy of your passport {}",
            "word ".repeat(100),
            "more ".repeat(100)
        );
        let found = Detector::new().find(&long);
        assert_eq!(found.len(), 1);
        assert!(found[0].snippet.chars().count() <= MAX_SNIPPET_CHARS);
        assert!(
            found[0].snippet.contains("passport"),
            "{}",
            found[0].snippet
        );
    }

    #[test]
    fn clean_strips_tags() {
        assert_eq!(clean("driver's<br>\n license"), "driver's license");
        assert_eq!(clean("a < b"), "a < b");
    }

    #[test]
    fn truncation_is_reported() {
        let d = Detector::new();
        let s = d.scan("é".repeat(MAX_SCAN_BYTES / 2 + 1).as_str());
        assert!(s.truncated);
        assert!(s.scanned_bytes <= MAX_SCAN_BYTES);
    }

    #[test]
    fn errors_name_language_and_line() {
        let e = Detector::from_sources(&[(
            "xx",
            "language = \"xx\"\n[request]\nverbs = [\"send\"]\n[documents]\npassport = [\"passport\"]\nbogus = [\"x\"]\n",
        )])
        .unwrap_err();
        assert_eq!(e.language, "xx");
        assert_eq!(e.line, Some(6));
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = Detector::from_sources(&[("en", "language = \"es\"\n")]).unwrap_err();
        assert!(e.message.contains("\"es\""), "{e}");
        let e = Detector::from_sources(&[("en", "[request\n")]).unwrap_err();
        assert!(e.message.contains("TOML"), "{e}");
        let e = Detector::from_sources(&[(
            "en",
            "[request]\nverbs = [\"send\"]\n[documents]\npassport = [\"...\"]\n",
        )])
        .unwrap_err();
        assert!(e.message.contains("no word"), "{e}");
        assert_eq!(e.line, Some(4));
    }

    #[test]
    fn detector_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Detector>();
    }
}

#[cfg(test)]
mod prefilter_tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn detector() -> &'static Detector {
        static D: OnceLock<Detector> = OnceLock::new();
        D.get_or_init(Detector::new)
    }

    /// Pieces of text: request words, cues, negations, document terms (with accents, case,
    /// apostrophes and entities the lists do not spell), filler, punctuation and markup.
    const PIECES: &[&str] = &[
        "please",
        "Please",
        "send",
        "Send us",
        "reply with",
        "could you",
        "we need your",
        "never",
        "don't",
        "no",
        "but",
        "portal",
        "email",
        "upload",
        "to verify",
        "asked customers to",
        "your",
        "YOUR",
        "a copy of",
        "an",
        "ID",
        "id",
        "Your ID",
        "an id",
        "license",
        "LICENSE",
        "licen\u{301}se",
        "driver's license",
        "driver’s licence",
        "driver&#8217;s license",
        "driver&rsquo;s license",
        "passport",
        "Pas\u{301}sport",
        "SSN",
        "s.s.n",
        "social security number",
        "date of birth",
        "d.o.b.",
        "D.O.B.",
        "credit card",
        "card number",
        "bank account",
        "account number",
        "one-time code",
        "PIN",
        "password",
        "pass'word",
        "tax id",
        "ein",
        "nie",
        "por favor",
        "envíe",
        "Envíenos",
        "envie",
        "su",
        "tu clave",
        "DNI",
        "número de tarjeta",
        "NÚMERO DE TARJETA",
        "nu\u{301}mero de cuenta",
        "fecha de nacimiento",
        "contraseña",
        "CONTRASEÑA",
        "contrasena",
        "cédula",
        "CÉDULA",
        "pasaporte",
        "licencia de conducir",
        "necesitamos su",
        "no envíe",
        "Kelvin \u{212A}",
        "the",
        "office",
        "Mr.",
        "U.S.",
        "e.g.",
        "x",
        "QUJD",
        "+",
        "/",
        "=",
        ".",
        ". ",
        "!",
        "?",
        ";",
        ",",
        ":",
        "-",
        "\n",
        "\n\n",
        "\r\n",
        "<br>",
        "<p>",
        "</div>",
        "<b>",
        "<a href=\"x\">",
        "<",
        ">",
        "&nbsp;",
        "&amp;",
        "&",
        "&#39;",
        "’",
        "'",
        "`",
        "\u{a0}",
        "¿",
        "¡",
        "…",
        "—",
        "é",
        "\u{301}",
        "ñ",
        "Ł",
        "日本",
    ];

    fn assemble(pieces: &[&str], seps: &[&str]) -> String {
        let mut text = String::new();
        for (i, p) in pieces.iter().enumerate() {
            text.push_str(p);
            text.push_str(seps.get(i).copied().unwrap_or(" "));
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The prefilter only saves work: the findings are those of judging every sentence.
        #[test]
        fn prefilter_changes_nothing(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..160),
            seps in proptest::collection::vec(
                proptest::sample::select(&[" ", "", "  ", "\n", "\t", "\n\n", ". "][..]), 0..160),
        ) {
            let text = assemble(&pieces, &seps);
            let d = detector();
            prop_assert_eq!(d.find_in(&text, true), d.find_in(&text, false), "{:?}", text);
        }

        #[test]
        fn prefilter_changes_nothing_on_any_string(text in any::<String>()) {
            let d = detector();
            prop_assert_eq!(d.find_in(&text, true), d.find_in(&text, false));
        }
    }

    #[test]
    fn prefilter_matches_table_and_long_sentences() {
        let d = detector();
        let long = format!(
            "{} please send us your passport. {}",
            "word ".repeat(300),
            "QUJD+d/o+b/ein+".repeat(100)
        );
        for text in [
            long.as_str(),
            "Please send us a copy of your driver's license.",
            "Hi Ann,\n\nCould you reply with your d.o.b. and an ID? Thanks!",
            "<p>Por favor, envíenos su número de tarjeta.</p>",
        ] {
            let found = d.find_in(text, true);
            assert_eq!(found, d.find_in(text, false), "{text}");
            assert!(!found.is_empty(), "{text}");
        }
    }

    #[test]
    fn masks_and_pack() {
        let mut block = [b' '; 64];
        block[0] = b'a';
        block[9] = b'Z';
        block[63] = b'7';
        block[5] = 0xC3;
        block[6] = b'\'';
        let (plain, complex) = prefilter::masks(&block);
        assert_eq!(plain, 1 | 1 << 9 | 1 << 63);
        assert_eq!(complex, 1 << 5 | 1 << 6);
    }
}
