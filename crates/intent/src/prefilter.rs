//! The prefilter: finds the few stretches of a text that could hold a request for a document, so
//! that only those are tokenized and judged.
//!
//! A hit needs a document term, that is a token that folds to the term's first word (its
//! **anchor**: `passport`, `license`, `your` for `your id`) followed by tokens that fold to the
//! rest of the term. A text with no such run of tokens holds no hit.
//!
//! [`AnchorScan`] looks for anchors without tokenizing: it walks runs of "word bytes" (ASCII
//! letters and digits, bytes ≥ 0x80, `'`, `` ` ``, `&`). A run of ASCII letters and digits only
//! is exactly one token of the tokenizer (it starts after and ends before a byte that no token
//! crosses), whose folded form is the run lowercased: it is checked against a bit filter over
//! (length, first, second and last letter) and then exactly. After an anchor the next words are
//! read with the tokenizer (see [`follows`]). Any other run — accents, combining marks,
//! apostrophes, entities — is tokenized with the real tokenizer from its first byte (a position
//! the tokenizer reaches in a pass over the whole text), so every token is seen as the full pass
//! sees it. The scan is thus conservative: every token that folds to an anchor is reported.
//!
//! Around an anchor, [`restart_point`] finds a sentence start — a position right after a byte
//! that ends a sentence in any pass (`!`, `?`, a blank line, a `.` after a word that is not an
//! abbreviation, none of them inside an HTML tag) — from which [`crate::tokenize::Sentences`]
//! yields exactly the sentences of a whole-text pass, until the first sentence break after the
//! anchor.

use crate::lang::MAX_PHRASE_WORDS;
use crate::tokenize::{Event, FastMap, Tokenizer, Vocab, html_tag};

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

const FILTER_BITS: usize = 1 << 17;

/// Key of the bit filter: length (mod 4) and the low five bits of the first, second and last
/// bytes (equal for upper and lower case ASCII letters). `word` is not empty.
#[inline]
fn filter_key(word: &[u8]) -> usize {
    let n = word.len();
    let byte = |i: usize| usize::from(word.get(i).copied().unwrap_or(0) & 0x1F);
    ((n & 3) << 15) | (byte(0) << 10) | (byte(1) << 5) | byte(n - 1)
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
    /// Per anchor, the rest of each term that begins with it.
    tails: FastMap<u32, Vec<Vec<u32>>>,
}

impl Default for Anchors {
    fn default() -> Self {
        Anchors {
            is_anchor: Vec::new(),
            filter: vec![0; FILTER_BITS / 64],
            max_len: 0,
            tails: FastMap::default(),
        }
    }
}

impl Anchors {
    /// The first word of every document term (given as word ids), with the words that follow
    /// it in each term.
    pub(crate) fn new<'w>(terms: impl IntoIterator<Item = &'w [u32]>, vocab: &Vocab) -> Anchors {
        let mut a = Anchors {
            is_anchor: vec![false; vocab.len() + 1],
            ..Anchors::default()
        };
        for term in terms {
            let Some((&first, rest)) = term.split_first() else {
                continue;
            };
            a.add(first, vocab);
            let tails = a.tails.entry(first).or_default();
            if !tails.iter().any(|t| t.as_slice() == rest) {
                tails.push(rest.to_vec());
            }
        }
        a
    }

    /// The words that may follow anchor `id` in a term; `None` when the anchor is a whole term.
    fn tails(&self, id: u32) -> Option<&[Vec<u32>]> {
        let tails = self.tails.get(&id)?;
        if tails.iter().any(Vec::is_empty) {
            None
        } else {
            Some(tails)
        }
    }

    fn add(&mut self, id: u32, vocab: &Vocab) {
        let Some(word) = vocab.word(id) else {
            return;
        };
        if let Some(slot) = self.is_anchor.get_mut(id as usize) {
            *slot = true;
        }
        let b = word.as_bytes();
        if !b.is_empty() {
            let k = filter_key(b);
            if let Some(slot) = self.filter.get_mut(k / 64) {
                *slot |= 1 << (k % 64);
            }
        }
        self.max_len = self.max_len.max(b.len());
    }

    fn is_anchor(&self, id: u32) -> bool {
        self.is_anchor.get(id as usize) == Some(&true)
    }
}

/// Forward scan for tokens that fold to an anchor.
pub(crate) struct AnchorScan<'a> {
    text: &'a str,
    /// Where the scan goes on: a position the tokenizer reaches in a whole-text pass, or one
    /// right after a byte of class [`NONE`].
    pub(crate) pos: usize,
    tok: Tokenizer<'a>,
    /// Reads the words after an anchor.
    ahead: Tokenizer<'a>,
    lower: String,
}

impl<'a> AnchorScan<'a> {
    pub(crate) fn new(text: &'a str, vocab: &Vocab) -> Self {
        AnchorScan {
            text,
            pos: 0,
            tok: Tokenizer::new(text, vocab.max_len().saturating_add(1)),
            ahead: Tokenizer::new(text, vocab.max_len().saturating_add(1)),
            lower: String::new(),
        }
    }

    /// The byte range of the next token that folds to an anchor.
    ///
    /// Works on blocks of 64 bytes: two bit masks (word bytes, and word bytes that need the
    /// tokenizer) give the runs of the block at once; a run of plain ASCII letters and digits
    /// costs a length test and one bit of [`Anchors`]' filter.
    pub(crate) fn next(&mut self, anchors: &Anchors, vocab: &Vocab) -> Option<(usize, usize)> {
        let n = self.text.len();
        let mut p = self.pos;
        while p + 64 <= n {
            let block: &[u8; 64] = self.text.as_bytes()[p..p + 64].try_into().ok()?;
            let (plain, complex) = masks(block);
            let mut rest = plain | complex;
            let mut next = p + 64;
            while rest != 0 {
                let s = rest.trailing_zeros() as usize;
                let len = (!(rest >> s)).trailing_zeros() as usize;
                if s + len == 64 {
                    // The run may go on past the block.
                    if s == 0 {
                        match self.run_at(p, anchors, vocab) {
                            Ok(found) => return Some(found),
                            Err(after) => next = after,
                        }
                    } else {
                        next = p + s;
                    }
                    break;
                }
                let bits = ((1u64 << len) - 1) << s;
                let (start, end) = (p + s, p + s + len);
                if complex & bits != 0 {
                    match self.complex_run(start, end, anchors, vocab) {
                        Ok(found) => return Some(found),
                        Err(after) if after >= p + 64 => {
                            next = after;
                            break;
                        }
                        Err(after) => rest &= u64::MAX << (after - p),
                    }
                    continue;
                }
                if len <= anchors.max_len && self.plain_is_anchor(start, end, anchors, vocab) {
                    self.pos = end;
                    return Some((start, end));
                }
                rest &= !bits;
            }
            p = next;
        }
        // The last bytes, one run at a time.
        let b = self.text.as_bytes();
        while p < n {
            if CLASS[usize::from(b[p])] == NONE {
                p += 1;
                continue;
            }
            match self.run_at(p, anchors, vocab) {
                Ok(found) => return Some(found),
                Err(after) => p = after,
            }
        }
        self.pos = n;
        None
    }

    /// Checks the run of word bytes that starts at `start`: `Ok` with the anchor found (the
    /// scan goes on after it), or `Err` with the position after the run.
    fn run_at(
        &mut self,
        start: usize,
        anchors: &Anchors,
        vocab: &Vocab,
    ) -> Result<(usize, usize), usize> {
        let b = self.text.as_bytes();
        let n = b.len();
        let mut i = start;
        while i < n && CLASS[usize::from(b[i])] == ALNUM {
            i += 1;
        }
        if i < n && CLASS[usize::from(b[i])] == COMPLEX {
            while i < n && CLASS[usize::from(b[i])] != NONE {
                i += 1;
            }
            return self.complex_run(start, i, anchors, vocab);
        }
        if i - start <= anchors.max_len && self.plain_is_anchor(start, i, anchors, vocab) {
            self.pos = i;
            return Ok((start, i));
        }
        Err(i)
    }

    /// Tokenizes the run `start..end` that holds bytes other than ASCII letters and digits:
    /// `Ok` with the first token that folds to an anchor, or `Err` with the position where the
    /// tokenizer stopped (at or after `end`; an entity may carry a word past it).
    fn complex_run(
        &mut self,
        start: usize,
        end: usize,
        anchors: &Anchors,
        vocab: &Vocab,
    ) -> Result<(usize, usize), usize> {
        let t = &mut self.tok;
        t.pos = start;
        while t.pos < end {
            match t.next_event() {
                Some(Event::Word(s, e)) => {
                    let id = vocab.get(&t.word);
                    if anchors.is_anchor(id) && follows(&mut self.ahead, e, id, anchors, vocab) {
                        self.pos = t.pos;
                        return Ok((s, e));
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
        Err(t.pos.max(end))
    }

    /// The plain run `start..end` (ASCII letters and digits, one token) folds to an anchor.
    #[inline]
    fn plain_is_anchor(
        &mut self,
        start: usize,
        end: usize,
        anchors: &Anchors,
        vocab: &Vocab,
    ) -> bool {
        let k = filter_key(&self.text.as_bytes()[start..end]);
        if anchors.filter[k / 64] & (1 << (k % 64)) == 0 {
            return false;
        }
        self.plain_lookup(start, end, anchors, vocab)
    }

    #[inline(never)]
    fn plain_lookup(&mut self, start: usize, end: usize, anchors: &Anchors, vocab: &Vocab) -> bool {
        self.lower.clear();
        self.lower.push_str(&self.text[start..end]);
        self.lower.make_ascii_lowercase();
        let id = vocab.get(&self.lower);
        anchors.is_anchor(id) && follows(&mut self.ahead, end, id, anchors, vocab)
    }
}

/// The words after anchor `id` (which ends at `end`) may complete a term that begins with it:
/// the next tokens, read with the tokenizer from `end` (where a whole-text pass stands after
/// the anchor), fold to the rest of one such term. Sentence breaks are not looked at, so this
/// may say yes where the matcher finds nothing, never the reverse.
fn follows(t: &mut Tokenizer<'_>, end: usize, id: u32, anchors: &Anchors, vocab: &Vocab) -> bool {
    let Some(tails) = anchors.tails(id) else {
        return true;
    };
    let want = tails.iter().map(Vec::len).max().unwrap_or(0);
    let mut next = [0u32; MAX_PHRASE_WORDS];
    let mut got = 0;
    t.pos = end;
    while got < want.min(next.len()) {
        match t.next_event() {
            Some(Event::Word(..)) => {
                let id = vocab.get(&t.word);
                if id == 0 {
                    break;
                }
                next[got] = id;
                got += 1;
                if !tails
                    .iter()
                    .any(|tail| tail.starts_with(&next[..got]) || next[..got].starts_with(tail))
                {
                    return false;
                }
            }
            Some(_) => {}
            None => break,
        }
    }
    tails.iter().any(|tail| {
        next.get(..tail.len())
            .is_some_and(|n| tail.len() <= got && n == tail.as_slice())
    })
}

/// Bit `j` of the first mask: `block[j]` is an ASCII letter or digit; of the second: it is a
/// byte ≥ 0x80, `'`, `` ` `` or `&`.
pub(crate) fn masks(block: &[u8; 64]) -> (u64, u64) {
    let mut plain = [0u8; 64];
    let mut complex = [0u8; 64];
    for ((c, p), x) in block.iter().zip(&mut plain).zip(&mut complex) {
        let lower = c | 0x20;
        *p = u8::from(lower.wrapping_sub(b'a') < 26 || c.wrapping_sub(b'0') < 10);
        *x = u8::from(*c >= 0x80 || *c == b'\'' || *c == b'`' || *c == b'&');
    }
    (pack(&plain), pack(&complex))
}

/// Packs 64 bytes that are 0 or 1 into the bits of a word.
fn pack(bits: &[u8; 64]) -> u64 {
    let mut out = 0u64;
    for (k, chunk) in bits.chunks_exact(8).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        // Moves byte j's low bit to bit 56 + j; the partial products never overlap.
        let gathered = u64::from_le_bytes(w).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        out |= gathered << (8 * k);
    }
    out
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
