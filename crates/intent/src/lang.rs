//! Loading and validation of the per-language phrase lists (`lang/*.toml`).
//!
//! The format is described in the crate README. Every phrase is split into folded words with the
//! same tokenizer as the scanned text, so the lists may be written naturally (`driver's license`,
//! `envíenos`): case, accents and apostrophes do not matter.

use std::fmt;

use toml::{Table, Value};

use crate::matcher::{Kind, Language, Trie};
use crate::tokenize::{FastMap, Vocab, phrase_words};

/// Categories a document term may map to.
pub const CATEGORIES: &[&str] = &[
    "drivers_license",
    "passport",
    "national_id",
    "id_document",
    "selfie_with_id",
    "ssn",
    "tax_id",
    "payment_card",
    "bank_details",
    "date_of_birth",
    "proof_of_address",
    "password",
];

/// Longest phrase, in words.
pub const MAX_PHRASE_WORDS: usize = 8;

/// A problem in a language's phrase lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LangError {
    /// The language code given with the source (`"en"`, `"es"`…).
    pub language: String,
    /// 1-based line in the source where the problem is, when known.
    pub line: Option<usize>,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for LangError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "language {:?}, line {line}: {}",
                self.language, self.message
            ),
            None => write!(f, "language {:?}: {}", self.language, self.message),
        }
    }
}

impl std::error::Error for LangError {}

struct Ctx<'a> {
    code: &'a str,
    source: &'a str,
}

impl Ctx<'_> {
    fn err(&self, message: String) -> LangError {
        LangError {
            language: self.code.to_owned(),
            line: None,
            message,
        }
    }

    /// An error located at the first line of the source that contains `needle`.
    fn err_at(&self, needle: &str, message: String) -> LangError {
        let line = self.source.find(needle).map(|at| {
            self.source
                .get(..at)
                .map_or(0, |s| s.bytes().filter(|&b| b == b'\n').count())
                + 1
        });
        LangError {
            language: self.code.to_owned(),
            line,
            message,
        }
    }
}

const SETTINGS: &[&str] = &["window", "cue_window", "negation_window"];
const SECTIONS: &[(&str, &[&str])] = &[
    ("settings", SETTINGS),
    (
        "request",
        &["verbs", "upload_verbs", "standalone", "cues", "openers"],
    ),
    ("negation", &["phrases", "sentence_wide", "contrast"]),
    ("context", &["discussion", "stop", "possessives"]),
    ("channels", &["email", "safe"]),
    ("documents", CATEGORIES),
    ("not_documents", &["phrases"]),
];

/// Parses and validates one language, adding its words to `vocab`.
pub(crate) fn load(code: &str, source: &str, vocab: &mut Vocab) -> Result<Language, LangError> {
    let cx = Ctx { code, source };
    if code.is_empty()
        || code.len() > 16
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(cx.err(format!(
            "invalid language code {code:?} (use letters, digits, '-' or '_', at most 16)"
        )));
    }
    let table: Table = source
        .parse()
        .map_err(|e: toml::de::Error| cx.err(format!("not valid TOML: {e}")))?;

    for (key, value) in &table {
        if key == "language" {
            let Value::String(s) = value else {
                return Err(cx.err_at("language", "`language` must be a string".to_owned()));
            };
            if s != code {
                return Err(cx.err_at(
                    "language",
                    format!("the file says language = {s:?} but was loaded as {code:?}"),
                ));
            }
            continue;
        }
        let Some((_, keys)) = SECTIONS.iter().find(|(name, _)| name == key) else {
            return Err(cx.err_at(
                &format!("[{key}]"),
                format!(
                    "unknown section [{key}]; expected one of: {}",
                    SECTIONS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let Value::Table(t) = value else {
            return Err(cx.err_at(key, format!("`{key}` must be a [section]")));
        };
        for k in t.keys() {
            if !keys.contains(&k.as_str()) {
                return Err(cx.err_at(
                    k,
                    format!(
                        "unknown key `{k}` in [{key}]; expected one of: {}",
                        keys.join(", ")
                    ),
                ));
            }
        }
    }

    let mut lang = Language {
        code: code.to_owned(),
        window: 12,
        cue_window: 3,
        negation_window: 8,
        trie: Trie::default(),
        openers: FastMap::default(),
        possessives: FastMap::default(),
        doc_first: Vec::new(),
        doc_terms: Vec::new(),
    };

    if let Some(Value::Table(s)) = table.get("settings") {
        for (key, slot, max) in [
            ("window", &mut lang.window, 40usize),
            ("cue_window", &mut lang.cue_window, 10),
            ("negation_window", &mut lang.negation_window, 20),
        ] {
            if let Some(v) = s.get(key) {
                let n = v
                    .as_integer()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| {
                        cx.err_at(
                            key,
                            format!("[settings] {key} must be a whole number from 1 to {max}"),
                        )
                    })?;
                *slot = n;
            }
        }
    }

    let lists: &[(&str, &str, Kind)] = &[
        ("request", "verbs", Kind::Verb),
        ("request", "upload_verbs", Kind::Upload),
        ("request", "standalone", Kind::Standalone),
        ("request", "cues", Kind::Cue),
        ("negation", "phrases", Kind::Negation),
        ("negation", "sentence_wide", Kind::StrongNegation),
        ("negation", "contrast", Kind::Contrast),
        ("context", "discussion", Kind::Discussion),
        ("context", "stop", Kind::Stop),
        ("channels", "email", Kind::Email),
        ("channels", "safe", Kind::Safe),
        ("not_documents", "phrases", Kind::NotDocument),
    ];
    for &(section, key, kind) in lists {
        for (phrase, words) in phrases(&cx, &table, section, key)? {
            let ids: Vec<u32> = words.iter().map(|w| vocab.intern(w)).collect();
            debug_assert!(!phrase.is_empty());
            lang.trie.insert(&ids, kind);
        }
    }
    for (key, map) in [
        ("openers", &mut lang.openers),
        ("possessives", &mut lang.possessives),
    ] {
        let section = if key == "openers" {
            "request"
        } else {
            "context"
        };
        for (phrase, words) in phrases(&cx, &table, section, key)? {
            if words.len() != 1 {
                return Err(cx.err_at(
                    &format!("\"{phrase}\""),
                    format!("[{section}] {key}: {phrase:?} must be a single word"),
                ));
            }
            map.insert(vocab.intern(&words[0]), ());
        }
    }
    let mut documents = 0usize;
    for (index, category) in CATEGORIES.iter().enumerate() {
        for (_, words) in phrases(&cx, &table, "documents", category)? {
            let ids: Vec<u32> = words.iter().map(|w| vocab.intern(w)).collect();
            lang.trie.insert(&ids, Kind::Document(index));
            lang.doc_first.extend(ids.first().copied());
            lang.doc_terms.push(words);
            documents += 1;
        }
    }
    if documents == 0 {
        return Err(cx.err("[documents] lists no document term".to_owned()));
    }
    if !lang.trie.has(Kind::Verb) && !lang.trie.has(Kind::Standalone) {
        return Err(
            cx.err("[request] needs at least one entry in `verbs` or `standalone`".to_owned())
        );
    }
    Ok(lang)
}

/// The phrases of `[section] key`, each with its folded words. A missing list is empty.
fn phrases(
    cx: &Ctx<'_>,
    table: &Table,
    section: &str,
    key: &str,
) -> Result<Vec<(String, Vec<String>)>, LangError> {
    let Some(value) = table.get(section).and_then(|s| s.get(key)) else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = value else {
        return Err(cx.err_at(
            key,
            format!("[{section}] {key} must be a list of strings: [\"…\", \"…\"]"),
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(phrase) = item else {
            return Err(cx.err_at(
                key,
                format!("[{section}] {key}: every entry must be a string in quotes"),
            ));
        };
        let words = phrase_words(phrase);
        if words.is_empty() {
            return Err(cx.err_at(
                &format!("\"{phrase}\""),
                format!("[{section}] {key}: {phrase:?} contains no word"),
            ));
        }
        if words.len() > MAX_PHRASE_WORDS {
            return Err(cx.err_at(
                &format!("\"{phrase}\""),
                format!(
                    "[{section}] {key}: {phrase:?} has {} words; at most {MAX_PHRASE_WORDS}",
                    words.len()
                ),
            ));
        }
        out.push((phrase.clone(), words));
    }
    Ok(out)
}
