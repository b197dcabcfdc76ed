//! The prefilter: finds the few stretches of a text that could hold a request for a document, so
//! that only those are tokenized and judged.
//!
//! A hit needs a document term, and a document term needs every one of its words. Per term one
//! word is chosen as its **anchor** (the longest, then the one shared by fewest terms: `passport`,
//! `license`, `your` for `your id`); a text in which no token folds to an anchor holds no hit.
//!
//! [`AnchorScan`] looks for anchors without tokenizing: it walks runs of "word bytes" (ASCII
//! letters and digits, bytes ≥ 0x80, `'`, `` ` ``, `&`). A run of ASCII letters and digits only
//! is exactly one token of the tokenizer (it starts after and ends before a byte that no token
//! crosses), whose folded form is the run lowercased: it is checked against a bit filter over
//! (length, first, last letter) and then exactly. Any other run — accents, combining marks,
//! apostrophes, entities — is tokenized with the real tokenizer from its first byte (a position
//! the tokenizer reaches in a pass over the whole text), so every token is seen as the full pass
//! sees it. The scan is thus conservative: every token that folds to an anchor is reported.
//!
//! Around an anchor, [`restart_point`] finds a sentence start — a position right after a byte
//! that ends a sentence in any pass (`!`, `?`, a blank line, a `.` after a word that is not an
//! abbreviation, none of them inside an HTML tag) — from which [`crate::tokenize::Sentences`]
//! yields exactly the sentences of a whole-text pass, until the first sentence break after the
//! anchor.

use crate::tokenize::{Event, Tokenizer, Vocab, html_tag};

/// Byte classes of the anchor scan.
const NONE: u8 = 0;
const ALNUM: u8 = 1;
/// Bytes ≥ 0x80 and `'`, `` ` ``, `&`: the run needs the tokenizer.
const COMPLEX: u8 = 2;

const fn classes() -> [u8; 256] {
    let mut t = [NONE; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if b.is_ascii_alphanumeric() {
            t[i] = ALNUM;
        } else if b >= 0x80 || b == b'\'' || b == b'`' || b == b'&' {
            t[i] = COMPLEX;
        }
        i += 1;
    }
    t
}

static CLASS: [u8; 256] = classes();

const FILTER_BITS: usize = 1 << 14;

/// Key of the bit filter: length (mod 16) and the low five bits of the first and last bytes
/// (equal for upper and lower case ASCII letters).
fn filter_key(len: usize, first: u8, last: u8) -> usize {
    ((len & 0xF) << 10) | (usize::from(first & 0x1F) << 5) | usize::from(last & 0x1F)
}

/// The anchor words of all loaded languages.
#[derive(Debug, Clone)]
pub(crate) struct Anchors {
    /// Indexed by vocabulary id.
    is_anchor: Vec<bool>,
    /// Bit set over [`filter_key`] of every anchor.
    filter: Vec<u64>,
    /// Longest anchor, in bytes.
    max_len: usize,
}

impl Default for Anchors {
    fn default() -> Self {
        Anchors {
            is_anchor: Vec::new(),
            filter: vec![0; FILTER_BITS / 64],
            max_len: 0,
        }
    }
}

impl Anchors {
    /// Chooses one anchor per document term (each term given as its folded words).
    pub(crate) fn new<'w>(
        terms: impl IntoIterator<Item = &'w [String]> + Clone,
        vocab: &Vocab,
    ) -> Anchors {
        // How many terms use each word: a word shared by many terms (`card`, `number`, `id`) is
        // a generic one, and so more frequent in text.
        let mut shared: std::collections::HashMap<&str, usize> = Default::default();
        for term in terms.clone() {
            for w in term {
                *shared.entry(w.as_str()).or_default() += 1;
            }
        }
        let mut a = Anchors {
            is_anchor: vec![false; vocab.len() + 1],
            ..Anchors::default()
        };
        for term in terms {
            let Some(best) = term.iter().max_by_key(|w| {
                (
                    w.chars().count().min(5),
                    std::cmp::Reverse(shared.get(w.as_str()).copied().unwrap_or(0)),
                )
            }) else {
                continue;
            };
            a.add(best, vocab);
        }
        a
    }

    fn add(&mut self, word: &str, vocab: &Vocab) {
        let id = vocab.get(word) as usize;
        if id == 0 {
            return;
        }
        if let Some(slot) = self.is_anchor.get_mut(id) {
            *slot = true;
        }
        let b = word.as_bytes();
        if let (Some(&f), Some(&l)) = (b.first(), b.last()) {
            let k = filter_key(b.len(), f, l);
            if let Some(slot) = self.filter.get_mut(k / 64) {
                *slot |= 1 << (k % 64);
            }
        }
        self.max_len = self.max_len.max(b.len());
    }

    fn is_anchor(&self, id: u32) -> bool {
        self.is_anchor.get(id as usize) == Some(&true)
    }

    #[cfg(test)]
    pub(crate) fn words<'v>(&self, vocab: &'v Vocab) -> Vec<&'v str> {
        vocab
            .words()
            .filter(|(_, id)| self.is_anchor(*id))
            .map(|(w, _)| w)
            .collect()
    }
}

/// Forward scan for tokens that fold to an anchor.
pub(crate) struct AnchorScan<'a> {
    text: &'a str,
    /// Where the scan goes on: a position the tokenizer reaches in a whole-text pass, or one
    /// right after a byte of class [`NONE`].
    pub(crate) pos: usize,
    tok: Tokenizer<'a>,
    lower: String,
}

impl<'a> AnchorScan<'a> {
    pub(crate) fn new(text: &'a str, vocab: &Vocab) -> Self {
        AnchorScan {
            text,
            pos: 0,
            tok: Tokenizer::new(text, vocab.max_len().saturating_add(1)),
            lower: String::new(),
        }
    }

    /// The byte range of the next token that folds to an anchor.
    pub(crate) fn next(&mut self, anchors: &Anchors, vocab: &Vocab) -> Option<(usize, usize)> {
        let b = self.text.as_bytes();
        let n = b.len();
        let mut i = self.pos;
        loop {
            while i < n && CLASS[usize::from(b[i])] == NONE {
                i += 1;
            }
            if i >= n {
                self.pos = n;
                return None;
            }
            let start = i;
            while i < n && CLASS[usize::from(b[i])] == ALNUM {
                i += 1;
            }
            if i < n && CLASS[usize::from(b[i])] == COMPLEX {
                while i < n && CLASS[usize::from(b[i])] != NONE {
                    i += 1;
                }
                let end = i;
                let t = &mut self.tok;
                t.pos = start;
                while t.pos < end {
                    match t.next_event() {
                        Some(Event::Word(s, e)) => {
                            if anchors.is_anchor(vocab.get(&t.word)) {
                                self.pos = t.pos;
                                return Some((s, e));
                            }
                        }
                        Some(_) => {}
                        None => break,
                    }
                }
                i = t.pos.max(end);
                continue;
            }
            let len = i - start;
            if len > anchors.max_len {
                continue;
            }
            let k = filter_key(len, b[start], b[i - 1]);
            if anchors.filter[k / 64] & (1 << (k % 64)) == 0 {
                continue;
            }
            self.lower.clear();
            self.lower.push_str(&self.text[start..i]);
            self.lower.make_ascii_lowercase();
            if anchors.is_anchor(vocab.get(&self.lower)) {
                self.pos = i;
                return Some((start, i));
            }
        }
    }
}

/// The byte at `i` lies inside an HTML tag that the tokenizer skips.
fn in_tag(b: &[u8], i: usize) -> bool {
    // A tag spans less than 256 bytes and holds no other `<` or `>`.
    for k in (i.saturating_sub(255)..i).rev() {
        match b[k] {
            b'>' => return false,
            b'<' => return html_tag(b, k).is_some_and(|(_, after)| after > i),
            _ => {}
        }
    }
    false
}

/// A sentence start at or before `at` and not before `floor` (`floor` is returned when there is
/// none in between): a position right after `!`, `?`, a blank line (`\n`, spaces, `\n`), or a
/// `.` followed by a space or `<` that ends a plain ASCII word of two letters or more that is not
/// an abbreviation — none of them inside an HTML tag. Each of these ends a sentence (and empties
/// the sentence being built) in a whole-text pass.
pub(crate) fn restart_point(text: &str, at: usize, floor: usize) -> usize {
    let b = text.as_bytes();
    let mut i = at.min(b.len());
    while i > floor {
        i -= 1;
        let ok = match b[i] {
            b'!' | b'?' => !in_tag(b, i),
            b'\n' => {
                let mut j = i;
                while j > floor && matches!(b[j - 1], b' ' | b'\t' | b'\r') {
                    j -= 1;
                }
                j > floor && b[j - 1] == b'\n' && !in_tag(b, j - 1) && !in_tag(b, i)
            }
            b'.' => {
                b.get(i + 1)
                    .is_some_and(|&n| n.is_ascii_whitespace() || n == b'<')
                    && dot_ends_sentence(b, i)
                    && !in_tag(b, i)
            }
            _ => false,
        };
        if ok {
            return i + 1;
        }
    }
    floor
}

/// The `.` at `i` ends a sentence whatever precedes it: it does not follow a word, or it follows
/// a plain ASCII word of two characters or more that is not an abbreviation.
fn dot_ends_sentence(b: &[u8], i: usize) -> bool {
    let Some(&prev) = i.checked_sub(1).and_then(|p| b.get(p)) else {
        return true;
    };
    if prev >= 0x80 {
        return false;
    }
    if !prev.is_ascii_alphanumeric() {
        return true;
    }
    let mut j = i;
    while j > 0 && b[j - 1].is_ascii_alphanumeric() {
        j -= 1;
    }
    if j > 0 && CLASS[usize::from(b[j - 1])] != NONE {
        return false;
    }
    let word = &b[j..i];
    if word.len() < 2 {
        return false;
    }
    let lower = word.to_ascii_lowercase();
    !std::str::from_utf8(&lower).is_ok_and(crate::tokenize::is_abbreviation)
}
