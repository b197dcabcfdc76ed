//! Tokenizer: splits text into lowercase, accent-folded word tokens with byte offsets, grouped
//! into sentences.
//!
//! * A word is a run of alphanumeric characters. Apostrophes inside a word (`'`, `’`, `‘`, `ʼ`,
//!   `` ` ``, and the HTML entities `&#39;`, `&#8217;`, `&rsquo;`, `&apos;`…) are kept in the word
//!   but dropped from its folded form, so `driver’s`, `driver's` and `drivers` fold alike.
//! * Folding lowercases and strips Latin diacritics (`á`→`a`, `ñ`→`n`, `ü`→`u`); combining marks
//!   are dropped, so decomposed text folds like composed text.
//! * Sentences end at `.` (followed by a space, not after a one-letter word or a title such as
//!   `Mr.`), `!`, `?`, `¿`, `¡`, `;`, a blank line, and block-level HTML tags (`<p>`, `<div>`,
//!   `<li>`…). `<br>` counts as a line break. Other tags and entities are skipped.
//! * `,` `:` `(` `)` `|` `—` `–` `•` mark a clause break inside a sentence ([`F_SOFT`]).
//!
//! Everything is one forward pass over the bytes: linear time, no backtracking beyond a bounded
//! look-ahead for tags (256 bytes) and entities (12 bytes).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// First token of a sentence.
pub(crate) const F_SENT_START: u8 = 1;
/// A clause break (comma, colon, parenthesis, dash) precedes this token.
pub(crate) const F_SOFT: u8 = 2;
/// A line break precedes this token.
pub(crate) const F_LINE: u8 = 4;
/// The token starts with an uppercase letter.
pub(crate) const F_UPPER: u8 = 8;
/// A `:` or `-` follows the token directly (`Reply-To:`, `Email:`): a label, not a verb.
pub(crate) const F_LABEL: u8 = 16;

/// Most tokens one sentence may hold; a longer run is cut into pieces of this size.
pub(crate) const MAX_SENTENCE_TOKENS: usize = 256;

/// One word of the scanned text.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tok {
    /// Vocabulary id of the folded word; 0 when the word is in no phrase list.
    pub(crate) id: u32,
    /// Byte range of the word in the text.
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) flags: u8,
}

impl Tok {
    /// A clause begins at this token: start of a sentence, after a comma/colon/dash, or on a new
    /// line that starts with a capital letter.
    pub(crate) fn clause_start(&self) -> bool {
        self.flags & F_SENT_START != 0 || self.breaks_clause()
    }

    /// A clause break lies between the previous token and this one.
    pub(crate) fn breaks_clause(&self) -> bool {
        self.flags & F_SOFT != 0 || self.flags & (F_LINE | F_UPPER) == (F_LINE | F_UPPER)
    }
}

/// FNV-1a: fast for the short keys of the vocabulary; keys come from the phrase lists, not from
/// the scanned text, so hash flooding is not a concern.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// Folded words of all phrase lists, each with an id (1, 2, …).
#[derive(Debug, Clone)]
pub(crate) struct Vocab {
    ids: FastMap<Box<str>, u32>,
    max_len: usize,
    /// Bit set over [`sketch`] of every word: most words of a text are in no list, and this
    /// rejects them without hashing the whole word.
    sketches: Vec<u64>,
}

impl Default for Vocab {
    fn default() -> Self {
        Vocab {
            ids: FastMap::default(),
            max_len: 0,
            sketches: vec![0; SKETCH_BITS / 64],
        }
    }
}

const SKETCH_BITS: usize = 1 << 16;

/// A 16-bit digest of a word's length and first, second and last bytes.
fn sketch(word: &[u8]) -> usize {
    let n = word.len();
    let first = word.first().map_or(0, |&b| usize::from(b));
    let second = word.get(1).map_or(0, |&b| usize::from(b));
    let last = word.last().map_or(0, |&b| usize::from(b));
    ((n.wrapping_mul(0x9E37) ^ first.wrapping_mul(0x3B1) ^ second.wrapping_mul(0x61) ^ last)
        .wrapping_mul(0x2545))
        >> 3
        & (SKETCH_BITS - 1)
}

impl Vocab {
    pub(crate) fn intern(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.ids.get(word) {
            return id;
        }
        let id = u32::try_from(self.ids.len() + 1).unwrap_or(u32::MAX);
        self.ids.insert(word.into(), id);
        self.max_len = self.max_len.max(word.len());
        let k = sketch(word.as_bytes());
        if let Some(slot) = self.sketches.get_mut(k / 64) {
            *slot |= 1 << (k % 64);
        }
        id
    }

    pub(crate) fn get(&self, word: &str) -> u32 {
        if word.is_empty() || word.len() > self.max_len {
            return 0;
        }
        let k = sketch(word.as_bytes());
        if self
            .sketches
            .get(k / 64)
            .is_none_or(|s| s & (1 << (k % 64)) == 0)
        {
            return 0;
        }
        self.ids.get(word).copied().unwrap_or(0)
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The word with id `id`.
    pub(crate) fn word(&self, id: u32) -> Option<&str> {
        self.ids.iter().find(|e| *e.1 == id).map(|e| &**e.0)
    }

    /// Longest word, in bytes.
    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }
}

/// Splits a phrase from a phrase list into folded words (same rules as the scanned text).
pub(crate) fn phrase_words(phrase: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut t = Tokenizer::new(phrase, usize::MAX);
    while let Some((start, end)) = t.next_word() {
        let _ = (start, end);
        words.push(t.word.clone());
    }
    words
}

/// Lowercases and strips the diacritics of one character, appending the result.
fn fold_into(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    if is_combining(c) {
        return;
    }
    for l in c.to_lowercase() {
        out.push(strip_diacritic(l));
    }
}

fn is_combining(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

fn strip_diacritic(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => 'c',
        'ď' | 'đ' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ĥ' | 'ħ' => 'h',
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => 'i',
        'ĵ' => 'j',
        'ķ' => 'k',
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => 'o',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' => 's',
        'ţ' | 'ť' | 'ŧ' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ŵ' => 'w',
        'ý' | 'ÿ' | 'ŷ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        other => other,
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | '‘' | 'ʼ' | '`' | '´')
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// What an HTML tag means for sentence structure.
pub(crate) enum TagKind {
    Inline,
    LineBreak,
    Block,
}

fn classify_tag(name: &[u8]) -> TagKind {
    let mut lower = [0u8; 12];
    let n = name.len().min(lower.len());
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    match &lower[..n] {
        b"br" => TagKind::LineBreak,
        b"p" | b"div" | b"li" | b"ul" | b"ol" | b"tr" | b"td" | b"th" | b"table" | b"h1"
        | b"h2" | b"h3" | b"h4" | b"h5" | b"h6" | b"hr" | b"blockquote" | b"section"
        | b"article" | b"header" | b"footer" | b"title" | b"body" | b"html" | b"head" | b"dd"
        | b"dt" => TagKind::Block,
        _ => TagKind::Inline,
    }
}

/// If `b[i..]` starts an HTML tag (`<p>`, `</div>`, `<br/>`, `<!-- … -->` up to 256 bytes),
/// returns its kind and the index after `>`.
pub(crate) fn html_tag(b: &[u8], i: usize) -> Option<(TagKind, usize)> {
    let next = *b.get(i + 1)?;
    if !(next.is_ascii_alphabetic() || next == b'/' || next == b'!') {
        return None;
    }
    let limit = b.len().min(i + 256);
    let mut k = i + 1;
    while k < limit {
        match b[k] {
            b'>' => {
                let mut s = i + 1;
                if b[s] == b'/' {
                    s += 1;
                }
                let mut e = s;
                while e < k && b[e].is_ascii_alphanumeric() {
                    e += 1;
                }
                return Some((classify_tag(&b[s..e]), k + 1));
            }
            b'<' => return None,
            _ => k += 1,
        }
    }
    None
}

/// What an HTML entity stands for.
#[derive(PartialEq, Eq)]
enum Entity {
    Apostrophe,
    Space,
    Other,
}

/// If `b[i..]` starts an entity (`&name;`, `&#123;`, `&#x1F;`, at most 12 bytes), returns its
/// meaning and the index after `;`.
fn html_entity(b: &[u8], i: usize) -> Option<(Entity, usize)> {
    let limit = b.len().min(i + 12);
    let mut k = i + 1;
    while k < limit && (b[k].is_ascii_alphanumeric() || b[k] == b'#') {
        k += 1;
    }
    if k >= limit || b[k] != b';' || k == i + 1 {
        return None;
    }
    let mut lower = [0u8; 11];
    let name = &b[i + 1..k];
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let kind = match &lower[..name.len()] {
        b"apos" | b"rsquo" | b"lsquo" | b"#39" | b"#039" | b"#8217" | b"#8216" | b"#x27"
        | b"#x2019" | b"#x2018" => Entity::Apostrophe,
        b"nbsp" | b"#160" | b"#xa0" | b"ensp" | b"emsp" | b"thinsp" | b"#32" => Entity::Space,
        _ => Entity::Other,
    };
    Some((kind, k + 1))
}

fn char_at(text: &str, i: usize) -> Option<char> {
    text.get(i..).and_then(|s| s.chars().next())
}

/// Titles and abbreviations whose trailing `.` does not end a sentence.
pub(crate) fn is_abbreviation(word: &str) -> bool {
    matches!(
        word,
        "mr" | "mrs"
            | "ms"
            | "dr"
            | "sr"
            | "sra"
            | "srta"
            | "ud"
            | "uds"
            | "vs"
            | "st"
            | "jr"
            | "prof"
            | "dept"
            | "approx"
            | "nro"
            | "num"
            | "av"
            | "avda"
    )
}

/// Byte classes for the scanner's fast skip loop.
const SKIP: u8 = 0;
const OTHER: u8 = 1;

const fn byte_classes() -> [u8; 256] {
    let mut t = [SKIP; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if b >= 0x80 || b.is_ascii_alphanumeric() {
            t[i] = OTHER;
        }
        i += 1;
    }
    let special = b"\n\x0b\x0c!?;.,:()|[]<&";
    let mut k = 0;
    while k < special.len() {
        t[special[k] as usize] = OTHER;
        k += 1;
    }
    t
}

static BYTE_CLASS: [u8; 256] = byte_classes();

/// Forward scanner over a text.
pub(crate) struct Tokenizer<'a> {
    text: &'a str,
    pub(crate) pos: usize,
    /// Folded form of the last word returned by `next_word`.
    pub(crate) word: String,
    /// Words longer than this are not folded in full (they match nothing anyway).
    fold_limit: usize,
}

/// One event of the scan.
pub(crate) enum Event {
    Word(usize, usize),
    SentenceEnd,
    Soft,
    Line,
}

impl<'a> Tokenizer<'a> {
    pub(crate) fn new(text: &'a str, fold_limit: usize) -> Self {
        Tokenizer {
            text,
            pos: 0,
            word: String::new(),
            fold_limit,
        }
    }

    /// The next word, skipping everything else.
    fn next_word(&mut self) -> Option<(usize, usize)> {
        loop {
            match self.next_event()? {
                Event::Word(s, e) => return Some((s, e)),
                _ => continue,
            }
        }
    }

    /// Scans a word starting at `start` (an alphanumeric character).
    fn scan_word(&mut self, start: usize) -> (usize, usize) {
        let b = self.text.as_bytes();
        self.word.clear();
        let mut i = start;
        while i < b.len() {
            // Fast path: a run of ASCII letters and digits, copied at once (lowercased below).
            let run = i;
            while b.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                i += 1;
            }
            if i > run {
                let take = (i - run).min(self.fold_limit.saturating_sub(self.word.len()));
                self.word
                    .push_str(self.text.get(run..run + take).unwrap_or(""));
            }
            let Some(&byte) = b.get(i) else {
                break;
            };
            if byte < 0x80 && byte != b'\'' && byte != b'`' && byte != b'&' {
                break;
            }
            let Some(c) = char_at(self.text, i) else {
                break;
            };
            let len = c.len_utf8();
            if c.is_alphanumeric() || (i > start && is_combining(c)) {
                if self.word.len() < self.fold_limit {
                    fold_into(c, &mut self.word);
                }
                i += len;
                continue;
            }
            // An apostrophe joins two runs of letters: driver's, don't.
            if is_apostrophe(c) {
                if char_at(self.text, i + len).is_some_and(char::is_alphanumeric) {
                    i += len;
                    continue;
                }
                break;
            }
            if c == '&'
                && let Some((Entity::Apostrophe, after)) = html_entity(b, i)
                && char_at(self.text, after).is_some_and(char::is_alphanumeric)
            {
                i = after;
                continue;
            }
            break;
        }
        // Folded non-ASCII characters are lowercase already.
        self.word.make_ascii_lowercase();
        (start, i)
    }

    pub(crate) fn next_event(&mut self) -> Option<Event> {
        let b = self.text.as_bytes();
        while self.pos < b.len() {
            // Skip spaces and plain punctuation in a tight loop.
            while b
                .get(self.pos)
                .is_some_and(|&c| BYTE_CLASS[usize::from(c)] == SKIP)
            {
                self.pos += 1;
            }
            if self.pos >= b.len() {
                break;
            }
            let i = self.pos;
            let c0 = b[i];
            if c0 < 0x80 {
                if c0.is_ascii_alphanumeric() {
                    let (s, e) = self.scan_word(i);
                    self.pos = e;
                    return Some(Event::Word(s, e));
                }
                self.pos += 1;
                match c0 {
                    b'\n' | 0x0b | 0x0c => return Some(Event::Line),
                    b'!' | b'?' | b';' => return Some(Event::SentenceEnd),
                    b'.' => {
                        let next = b.get(i + 1).copied();
                        if next.is_none_or(|n| n.is_ascii_whitespace() || n == b'<') {
                            return Some(Event::SentenceEnd);
                        }
                    }
                    b',' | b':' | b'(' | b')' | b'|' | b'[' | b']' => return Some(Event::Soft),
                    b'<' => {
                        if let Some((kind, after)) = html_tag(b, i) {
                            self.pos = after;
                            match kind {
                                TagKind::Inline => {}
                                TagKind::LineBreak => return Some(Event::Line),
                                TagKind::Block => return Some(Event::SentenceEnd),
                            }
                        }
                    }
                    b'&' => {
                        if let Some((_, after)) = html_entity(b, i) {
                            self.pos = after;
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let Some(c) = char_at(self.text, i) else {
                // Not on a character boundary: cannot happen for a &str walked this way, but
                // never loop forever.
                self.pos += 1;
                continue;
            };
            if c.is_alphanumeric() {
                let (s, e) = self.scan_word(i);
                self.pos = e;
                return Some(Event::Word(s, e));
            }
            self.pos += c.len_utf8();
            match c {
                '¿' | '¡' | '。' | '！' | '？' | '…' => return Some(Event::SentenceEnd),
                '\u{2028}' | '\u{2029}' | '\u{85}' => return Some(Event::Line),
                '—' | '–' | '•' | '·' | '：' | '，' => return Some(Event::Soft),
                c if is_space(c) => {}
                _ => {}
            }
        }
        None
    }
}

/// Tokenizes `text` and calls `on_sentence` once per sentence with its tokens (never empty).
#[cfg(test)]
pub(crate) fn for_each_sentence(
    text: &str,
    vocab: &Vocab,
    toks: &mut Vec<Tok>,
    on_sentence: impl FnMut(&[Tok]),
) {
    toks.clear();
    Sentences::new(text, vocab).run(vocab, toks, usize::MAX, on_sentence);
}

/// The sentence splitter: a resumable pass over the text that groups tokens into sentences.
///
/// It can start at any sentence start of the text ([`Sentences::restart`]) and stop after any
/// sentence break ([`Sentences::run`]): the sentences it yields from there are exactly those of a
/// pass over the whole text, so a caller may process only some stretches of a text.
pub(crate) struct Sentences<'a> {
    text: &'a str,
    t: Tokenizer<'a>,
    /// Flags ([`F_SOFT`], [`F_LINE`]) for the next token.
    pending: u8,
    /// Line breaks since the last word.
    newlines: u32,
}

impl<'a> Sentences<'a> {
    pub(crate) fn new(text: &'a str, vocab: &Vocab) -> Self {
        Sentences {
            text,
            t: Tokenizer::new(text, vocab.max_len.saturating_add(1)),
            pending: 0,
            newlines: 0,
        }
    }

    /// Byte offset of the scan.
    pub(crate) fn pos(&self) -> usize {
        self.t.pos
    }

    /// Continues at `pos`, which must be the start of a sentence: the start of the text or the
    /// position right after a sentence break (see `prefilter::restart_point`). The state is that
    /// of a pass over the whole text at `pos` except, possibly, the clause/line flags pending for
    /// the first token of the sentence, which no rule reads (a sentence's first token opens a
    /// clause anyway).
    pub(crate) fn restart(&mut self, pos: usize) {
        self.t.pos = pos.min(self.text.len());
        self.pending = 0;
        self.newlines = 0;
    }

    /// Calls `on_sentence` for each sentence from the current position, and stops after the first
    /// sentence break (not a cut of an over-long sentence) that lies past byte `until`; `toks`
    /// is then empty. Returns `false` when the text ended instead (the last sentence is emitted).
    /// `toks` must be empty when called at a sentence start.
    pub(crate) fn run(
        &mut self,
        vocab: &Vocab,
        toks: &mut Vec<Tok>,
        until: usize,
        mut on_sentence: impl FnMut(&[Tok]),
    ) -> bool {
        let text = self.text;
        let t = &mut self.t;
        while let Some(ev) = t.next_event() {
            match ev {
                Event::Word(s, e) => {
                    if toks.len() >= MAX_SENTENCE_TOKENS {
                        on_sentence(toks);
                        toks.clear();
                        self.pending = 0;
                    }
                    let upper = match text.as_bytes().get(s) {
                        Some(&b) if b < 0x80 => b.is_ascii_uppercase(),
                        _ => char_at(text, s).is_some_and(char::is_uppercase),
                    };
                    let mut flags = self.pending;
                    if toks.is_empty() {
                        flags |= F_SENT_START;
                    }
                    if upper {
                        flags |= F_UPPER;
                    }
                    if matches!(text.as_bytes().get(e), Some(b':' | b'-')) {
                        flags |= F_LABEL;
                    }
                    toks.push(Tok {
                        id: vocab.get(&t.word),
                        start: s,
                        end: e,
                        flags,
                    });
                    self.pending = 0;
                    self.newlines = 0;
                }
                Event::SentenceEnd => {
                    // `U.S.`, `e.g.`, `Mr.`: a dot right after a one-letter word or a title.
                    if text.as_bytes().get(t.pos.wrapping_sub(1)) == Some(&b'.')
                        && let Some(last) = toks.last()
                        && last.end + 1 == t.pos
                        && (t.word.chars().count() == 1 || is_abbreviation(&t.word))
                    {
                        continue;
                    }
                    if !toks.is_empty() {
                        on_sentence(toks);
                        toks.clear();
                    }
                    self.pending = 0;
                    if t.pos > until {
                        return true;
                    }
                }
                Event::Soft => self.pending |= F_SOFT,
                Event::Line => {
                    self.pending |= F_LINE;
                    self.newlines += 1;
                    if self.newlines >= 2 && !toks.is_empty() {
                        on_sentence(toks);
                        toks.clear();
                        self.pending = 0;
                        if t.pos > until {
                            return true;
                        }
                    }
                }
            }
        }
        if !toks.is_empty() {
            on_sentence(toks);
            toks.clear();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_apostrophes_and_accents() {
        assert_eq!(phrase_words("Driver’s License"), ["drivers", "license"]);
        assert_eq!(
            phrase_words("driver&#8217;s licence"),
            ["drivers", "licence"]
        );
        assert_eq!(
            phrase_words("envíenos su CÉDULA"),
            ["envienos", "su", "cedula"]
        );
        assert_eq!(phrase_words("e-mail"), ["e", "mail"]);
        assert_eq!(phrase_words("ne\u{301}e"), ["nee"]);
        assert_eq!(phrase_words("año"), ["ano"]);
    }

    fn sentences(text: &str) -> Vec<String> {
        let mut v = Vocab::default();
        v.intern("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
        let mut out = Vec::new();
        let mut toks = Vec::new();
        for_each_sentence(text, &v, &mut toks, |s| {
            out.push(
                s.iter()
                    .map(|t| &text[t.start..t.end])
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        });
        out
    }

    #[test]
    fn splits_sentences() {
        assert_eq!(
            sentences("Hi. Send it!<p>Now the U.S. office\nreplies\n\nok"),
            ["Hi", "Send it", "Now the U S office replies", "ok"]
        );
        assert_eq!(sentences("a<br>b<br><br>c"), ["a b", "c"]);
        assert_eq!(sentences("¿Puede enviar? Sí"), ["Puede enviar", "Sí"]);
    }
}
