//! Context words: whole-word, case-insensitive look-up of supporting words
//! (English and Spanish) in a byte window before and after a candidate.
//!
//! The window text is normalised to lower-case words separated by single
//! spaces (apostrophes dropped so "driver's" becomes "drivers", common Spanish
//! accents folded so "teléfono" equals "telefono"); a phrase matches only on
//! word boundaries, so "dob" never matches inside "adobe". A word cut in half by
//! the window edge is dropped rather than matched as a fragment.

use crate::kind::Kind;
use crate::simd;

/// Default window, in bytes, on each side of a candidate.
pub const DEFAULT_WINDOW: usize = 64;

const CARD: &[&str] = &[
    "card",
    "cards",
    "credit card",
    "debit card",
    "card number",
    "card no",
    "visa",
    "mastercard",
    "amex",
    "american express",
    "discover",
    "jcb",
    "diners",
    "maestro",
    "unionpay",
    "cardholder",
    "cvv",
    "tarjeta",
    "tarjetas",
    "credito",
    "debito",
    "numero de tarjeta",
];
const SSN: &[&str] = &[
    "ssn",
    "ssns",
    "social security",
    "ss number",
    "seguro social",
    "seguridad social",
];
const ITIN: &[&str] = &[
    "itin",
    "itins",
    "taxpayer",
    "tax id",
    "tax identification",
    "tin",
    "contribuyente",
    "identificacion fiscal",
    "identificacion tributaria",
];
const ABA: &[&str] = &[
    "routing",
    "aba",
    "rtn",
    "transit number",
    "routing transit",
    "numero de ruta",
    "ruta bancaria",
    "codigo de ruta",
];
const DL: &[&str] = &[
    "driver license",
    "drivers license",
    "driver licence",
    "drivers licence",
    "driving license",
    "driving licence",
    "driver license number",
    "dl",
    "dln",
    "dl no",
    "license number",
    "licence number",
    "licencia de conducir",
    "licencia de manejo",
    "licencia de conduccion",
    "permiso de conducir",
    "carnet de conducir",
];
const PASSPORT: &[&str] = &[
    "passport",
    "passports",
    "passport no",
    "pasaporte",
    "pasaportes",
    "travel document",
    "documento de viaje",
];
const DOB: &[&str] = &[
    "dob",
    "d o b",
    "date of birth",
    "birth date",
    "birthdate",
    "birthday",
    "born",
    "fecha de nacimiento",
    "fecha nacimiento",
    "nacimiento",
    "nacido",
    "nacida",
    "nacio",
    "f nac",
    "fec nac",
    "cumpleanos",
];
const PHONE: &[&str] = &[
    "phone",
    "phones",
    "telephone",
    "tel",
    "mobile",
    "cell",
    "cellphone",
    "fax",
    "call",
    "whatsapp",
    "telefono",
    "telefonos",
    "celular",
    "movil",
    "llamar",
    "llame",
];
const NINO: &[&str] = &[
    "national insurance",
    "nino",
    "ni number",
    "ni no",
    "insurance number",
];
const SIN: &[&str] = &[
    "social insurance",
    "nas",
    "assurance sociale",
    "numero de seguro social",
];

/// The context phrases (normalised) for a kind.
pub fn words(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::CreditCard => CARD,
        Kind::UsSsn => SSN,
        Kind::UsItin => ITIN,
        Kind::AbaRouting => ABA,
        Kind::UsDriverLicense => DL,
        Kind::UsPassport | Kind::UkPassport => PASSPORT,
        Kind::DateOfBirth => DOB,
        Kind::Phone => PHONE,
        Kind::UkNino => NINO,
        Kind::CaSin => SIN,
        Kind::Iban | Kind::Email => &[],
    }
}

fn fold(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'Á' | 'À' | 'Â' | 'Ä' => 'a',
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'Ó' | 'Ò' | 'Ô' | 'Ö' => 'o',
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => 'u',
        'ñ' | 'Ñ' => 'n',
        'ç' | 'Ç' => 'c',
        _ => c,
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Whether `word` occurs with exact case as a whole word in `seg`.
fn raw_word(seg: &str, word: &str) -> bool {
    let b = seg.as_bytes();
    let mut from = 0;
    while let Some(p) = seg[from..].find(word) {
        let at = from + p;
        let end = at + word.len();
        let ok_before = at == 0 || !b[at - 1].is_ascii_alphanumeric();
        let ok_after = end >= b.len() || !b[end].is_ascii_alphanumeric();
        if ok_before && ok_after {
            return true;
        }
        from = at + 1;
    }
    false
}

/// Cheap filter: (length, first letter, last letter) of every context word of
/// every kind; a window word outside the set cannot be part of a phrase.
fn maybe_context_word(w: &str) -> bool {
    let b = w.as_bytes();
    if b.is_empty() || !w.is_ascii() {
        return !b.is_empty();
    }
    let len = b.iter().filter(|&&c| c != b'\'').count();
    let first = b[0].to_ascii_lowercase();
    let last = b[b.len() - 1].to_ascii_lowercase();
    filter_contains(len, first, last)
}

fn slot(len: usize, first: u8) -> Option<usize> {
    first
        .is_ascii_lowercase()
        .then(|| len.min(31) * 26 + usize::from(first - b'a'))
}

/// Per (length, first letter) of the phrase words of every list, a bit per
/// last letter. Round 7: built at compile time (it was built on first use
/// in each thread, about 32,000 instructions).
const FILTER: [u32; 32 * 26] = {
    let mut bits = [0u32; 32 * 26];
    let mut k = 0;
    while k < LISTS.len() {
        let list = LISTS[k];
        let mut i = 0;
        while i < list.len() {
            let p = list[i].as_bytes();
            let (mut st, mut j) = (0, 0);
            while j <= p.len() {
                if j == p.len() || p[j] == b' ' {
                    if j > st && p[st].is_ascii_lowercase() && p[j - 1].is_ascii_lowercase() {
                        let len = if j - st < 31 { j - st } else { 31 };
                        bits[len * 26 + (p[st] - b'a') as usize] |= 1 << (p[j - 1] - b'a');
                    }
                    st = j + 1;
                }
                j += 1;
            }
            i += 1;
        }
        k += 1;
    }
    bits
};

fn filter_contains(len: usize, first: u8, last: u8) -> bool {
    match slot(len, first) {
        Some(i) if last.is_ascii_lowercase() => FILTER[i] & (1 << (last - b'a')) != 0,
        _ => false,
    }
}

fn word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c >= 0x80 || c == b'\''
}

/// Compare a window word with one phrase word (lower-case ASCII), ignoring
/// case, apostrophes and common accents.
#[cfg(test)]
fn word_eq(w: &str, p: &str) -> bool {
    if w.is_ascii() {
        let mut wi = w.bytes().filter(|&c| c != b'\'');
        let mut pi = p.bytes();
        loop {
            match (wi.next(), pi.next()) {
                (None, None) => return true,
                (Some(a), Some(b)) if a.to_ascii_lowercase() == b => {}
                _ => return false,
            }
        }
    }
    let mut wi = w
        .chars()
        .filter(|&c| c != '\'' && c != '\u{2019}')
        .flat_map(char::to_lowercase)
        .map(fold);
    let mut pi = p.chars();
    loop {
        match (wi.next(), pi.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// Split `seg` into words (at most 24), dropping partial words at cut edges.
fn split_words<'a>(
    seg: &'a str,
    cut_front: bool,
    cut_back: bool,
    out: &mut [&'a str; 24],
) -> usize {
    let b = seg.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < b.len() && n < out.len() {
        if !word_byte(b[i]) {
            i += 1;
            continue;
        }
        let st = i;
        while i < b.len() && word_byte(b[i]) {
            i += 1;
        }
        if (cut_front && st == 0) || (cut_back && i == b.len()) {
            continue;
        }
        // st and i sit next to ASCII bytes or the segment edges, which are
        // char boundaries.
        if let Some(w) = seg.get(st..i) {
            let w = w.trim_matches(|c| c == '\'' || c == '\u{2019}');
            if w.chars().any(char::is_alphanumeric) {
                out[n] = w;
                n += 1;
            }
        }
    }
    n
}

/// A window word as [`word_eq`] compares it (apostrophes dropped,
/// lower-cased, accents folded), at most 32 bytes; `None` when it holds a
/// character outside ASCII after folding or is longer, so that it equals no
/// phrase word (all are shorter ASCII).
type Norm = Option<([u8; 32], u8)>;

fn normalise(w: &str) -> Norm {
    let mut out = [0u8; 32];
    let mut n = 0;
    if w.is_ascii() {
        for &c in w.as_bytes() {
            if c == b'\'' {
                continue;
            }
            if n == out.len() {
                return None;
            }
            out[n] = c.to_ascii_lowercase();
            n += 1;
        }
        return Some((out, n as u8));
    }
    let chars = w
        .chars()
        .filter(|&c| c != '\'' && c != '\u{2019}')
        .flat_map(char::to_lowercase)
        .map(fold);
    for c in chars {
        if !c.is_ascii() || n == out.len() {
            return None;
        }
        out[n] = c as u8;
        n += 1;
    }
    Some((out, n as u8))
}

/// [`word_eq`] on a normalised word.
fn norm_eq(w: &Norm, p: &str) -> bool {
    w.as_ref()
        .is_some_and(|(b, n)| &b[..usize::from(*n)] == p.as_bytes())
}

fn phrase_in(words: &[Norm], phrase: &str) -> bool {
    let first = phrase.split(' ').next().unwrap_or(phrase);
    for i in 0..words.len() {
        if !norm_eq(&words[i], first) {
            continue;
        }
        if (i..)
            .zip(phrase.split(' '))
            .all(|(j, p)| j < words.len() && norm_eq(&words[j], p))
        {
            return true;
        }
    }
    false
}

const LISTS: [&[&str]; 10] = [CARD, SSN, ITIN, ABA, DL, PASSPORT, DOB, PHONE, NINO, SIN];

fn list_index(kind: Kind) -> usize {
    match kind {
        Kind::CreditCard => 0,
        Kind::UsSsn => 1,
        Kind::UsItin => 2,
        Kind::AbaRouting => 3,
        Kind::UsDriverLicense => 4,
        Kind::UsPassport | Kind::UkPassport => 5,
        Kind::DateOfBirth => 6,
        Kind::Phone => 7,
        Kind::UkNino => 8,
        Kind::CaSin | Kind::Iban | Kind::Email => 9,
    }
}

/// Per list: for each first letter, a bit per length (1..=31) of the first
/// words of its phrases. A window word outside the set cannot start a phrase.
const FIRST_WORDS: [[u32; 26]; 10] = {
    let mut t = [[0u32; 26]; 10];
    let mut k = 0;
    while k < LISTS.len() {
        let list = LISTS[k];
        let mut i = 0;
        while i < list.len() {
            let p = list[i].as_bytes();
            let mut n = 0;
            while n < p.len() && p[n] != b' ' {
                n += 1;
            }
            t[k][(p[0] - b'a') as usize] |= 1 << n;
            i += 1;
        }
        k += 1;
    }
    t
};

const fn word_class(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c >= 0x80 || c == b'\''
}

const WORD_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = word_class(i as u8);
        i += 1;
    }
    t
};

/// ASCII [`word_eq`]: `w` ignoring case and apostrophes equals `p`.
fn ascii_word_eq(w: &[u8], p: &[u8]) -> bool {
    let mut j = 0;
    for &c in w {
        if c == b'\'' {
            continue;
        }
        if j >= p.len() || c.to_ascii_lowercase() != p[j] {
            return false;
        }
        j += 1;
    }
    j == p.len()
}

/// The split-and-match of [`has_context`] for one all-ASCII segment, on byte
/// ranges: same words (partial words at cut edges dropped, apostrophes
/// trimmed, words without a letter or digit skipped, at most 24), same
/// phrase rule.
fn ascii_segment(
    seg: &[u8],
    cut_front: bool,
    cut_back: bool,
    list: &[&str],
    firsts: &[u32; 26],
) -> bool {
    let mut words = [(0usize, 0usize); 24];
    let mut n = 0;
    // Bit per word that may start a phrase.
    let mut starts = 0u32;
    let mut i = 0;
    while i < seg.len() && n < words.len() {
        if !WORD_BYTE[seg[i] as usize] {
            i += 1;
            continue;
        }
        let st = i;
        while i < seg.len() && WORD_BYTE[seg[i] as usize] {
            i += 1;
        }
        if (cut_front && st == 0) || (cut_back && i == seg.len()) {
            continue;
        }
        let (mut a, mut z) = (st, i);
        while a < z && seg[a] == b'\'' {
            a += 1;
        }
        while z > a && seg[z - 1] == b'\'' {
            z -= 1;
        }
        if !seg[a..z].iter().any(u8::is_ascii_alphanumeric) {
            continue;
        }
        words[n] = (a, z);
        let f = seg[a].to_ascii_lowercase();
        if f.is_ascii_lowercase() {
            let len = seg[a..z].iter().filter(|&&c| c != b'\'').count();
            if len < 32 && firsts[usize::from(f - b'a')] & (1 << len) != 0 {
                starts |= 1 << n;
            }
        }
        n += 1;
    }
    if starts == 0 {
        return false;
    }
    let word = |i: usize| &seg[words[i].0..words[i].1];
    // A phrase can only start at a word whose first letter and length are
    // those of a phrase's first word.
    // Round 7: the phrase's words are walked as bytes (no `str::split`), and
    // a phrase is tried at a word only if their first letters agree.
    list.iter().any(|phrase| {
        let p = phrase.as_bytes();
        let mut m = starts;
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            if seg[words[i].0].to_ascii_lowercase() == p[0] && phrase_at(p, i, n, &word) {
                return true;
            }
        }
        false
    })
}

/// Whether the words `i..` (of `n`) are the words of `phrase` (single
/// spaces between them), compared by [`ascii_word_eq`].
fn phrase_at<'a>(phrase: &[u8], i: usize, n: usize, word: &impl Fn(usize) -> &'a [u8]) -> bool {
    let mut j = i;
    let mut rest = phrase;
    loop {
        let (pw, tail) = match rest.iter().position(|&c| c == b' ') {
            Some(k) => (&rest[..k], Some(&rest[k + 1..])),
            None => (rest, None),
        };
        if j >= n || !ascii_word_eq(word(j), pw) {
            return false;
        }
        match tail {
            Some(t) => {
                rest = t;
                j += 1;
            }
            None => return true,
        }
    }
}

/// Key trigrams (lower-case; 0 stands for a byte that is not a letter or
/// digit): every phrase of the kind contains one of them, so a region without
/// any of them cannot hold a phrase. Apostrophes and the characters the word
/// comparison folds to an ASCII letter or drops (see [`may_fold`]) make the
/// filter answer "maybe".
#[cfg_attr(not(test), allow(dead_code))]
const DOB_KEYS: [[u8; 3]; 6] = [*b"dob", *b"bir", *b"bor", *b"nac", *b"cum", [0, b'b', 0]];
const DL_KEYS: [[u8; 3]; 4] = [*b"dri", *b"lic", *b"duc", [0, b'd', b'l']];
const PASSPORT_KEYS: [[u8; 3]; 2] = [*b"pas", *b"cum"];
/// Round 7: every bare 9-digit number that passes the ABA checksum asks for
/// routing context; without a filter each look-up went to the word check.
const ABA_KEYS: [[u8; 3]; 5] = [*b"rou", *b"aba", *b"rtn", *b"tra", *b"rut"];
/// Round 7, likewise for the other national numbers (a NINO-shaped part
/// number in a Chinese price list used to cost a Unicode word check).
const SSN_KEYS: [[u8; 3]; 3] = [[0, b's', b's'], *b"soc", *b"seg"];
const ITIN_KEYS: [[u8; 3]; 5] = [*b"iti", [0, b't', b'i'], *b"tax", *b"con", *b"ide"];
const NINO_KEYS: [[u8; 3]; 3] = [[0, b'n', b'i'], *b"nat", *b"ins"];
const PHONE_KEYS: [[u8; 3]; 9] = [
    *b"pho", *b"tel", *b"mob", *b"cel", *b"fax", *b"cal", *b"wha", *b"mov", *b"lla",
];

/// Longest region the key filter looks at; longer ones go to the full check.
const KEY_REGION: usize = 238;

/// Start positions (plus one, so that 0 stands for the virtual space before
/// the text) known to hold no birth-date key: a range `lo..hi` carried from
/// one look-up to the next, so overlapping windows (dates on nearby header
/// lines) check each position once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyCache {
    dob: (usize, usize),
    /// Vector instructions for the key filter.
    level: simd::Level,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache {
            dob: (0, 0),
            level: simd::Level::detect(),
        }
    }
}

/// Whether no [`DOB_KEYS`] trigram starts at the positions `u - 1` for `u`
/// in `u0..u1`, and no [`may_fold`] character starts there. Trigrams are
/// read from the text itself (a space stands for bytes before or after it).
fn dob_free(level: simd::Level, b: &[u8], u0: usize, u1: usize) -> bool {
    // Round 7: 32 positions per step, the trigrams loaded straight from the
    // text (AVX2 where the CPU has it) instead of copied into three arrays.
    let mut u = u0;
    while u < u1 {
        let mut m = match b.get(u.wrapping_sub(1)..u + 33) {
            Some(s) if u >= 1 => match <&[u8; 34]>::try_from(s) {
                Ok(a) => simd::dob_keys32(level, a),
                Err(_) => 0,
            },
            _ => {
                let mut buf = [b' '; 34];
                for (j, c) in buf.iter_mut().enumerate() {
                    if let Some(&v) = (u + j).checked_sub(1).and_then(|q| b.get(q)) {
                        *c = v;
                    }
                }
                simd::dob_keys32(level, &buf)
            }
        };
        if u1 - u < 32 {
            m &= (1 << (u1 - u)) - 1;
        }
        if m != 0 {
            return false;
        }
        u += 32;
    }
    true
}

/// The birth-date key filter for the region `f..t` of `b`: the trigram
/// starting just before the region through the one starting at its last
/// byte, read from the text. A phrase the word check can find is made of
/// whole words of the region, whose neighbours outside it are not letters or
/// digits, so it holds a key here as in the padded region of [`has_key`].
fn dob_may_have(b: &[u8], f: usize, t: usize, cache: &mut KeyCache) -> bool {
    let (u0, u1) = (f, t + 1);
    let (lo, hi) = cache.dob;
    if lo <= u0 && u1 <= hi {
        return false;
    }
    let from = if lo <= u0 && u0 <= hi { hi } else { u0 };
    if !dob_free(cache.level, b, from, u1) {
        return true;
    }
    cache.dob = if from == hi { (lo, u1) } else { (u0, u1) };
    false
}

fn may_have_phrase(kind: Kind, region: &[u8]) -> bool {
    match kind {
        Kind::UsDriverLicense => has_key(region, &DL_KEYS),
        Kind::AbaRouting => has_key(region, &ABA_KEYS),
        Kind::UsSsn => has_key(region, &SSN_KEYS),
        Kind::UsItin => has_key(region, &ITIN_KEYS),
        Kind::UkNino => has_key(region, &NINO_KEYS),
        Kind::UsPassport | Kind::UkPassport => has_key(region, &PASSPORT_KEYS),
        Kind::Phone => has_key(region, &PHONE_KEYS),
        _ => true,
    }
}

/// One byte of a key: `raw` and `low` (the byte with the ASCII case bit
/// set); a 0 in the key stands for a byte that is not a letter or digit.
#[inline(always)]
fn key_byte(raw: u8, low: u8, k: u8) -> bool {
    if k == 0 {
        low.wrapping_sub(b'a') >= 26 && raw.wrapping_sub(b'0') >= 10
    } else {
        low == k
    }
}

/// Whether the character starting with byte `x` (`y`, `z` the next two
/// bytes) may become an ASCII letter or vanish when a window word is
/// normalised ([`normalise`]): an apostrophe, a Latin-1 letter (lead byte
/// 0xC3 but not `×` or `÷`: lower-cased and folded, `É` to `e`), the right single quotation mark
/// U+2019 (E2 80 99, dropped like an apostrophe) or the Kelvin sign U+212A
/// (E2 84 AA, lower-cases to `k`). Every other non-ASCII character keeps a
/// word from equalling any phrase word (all ASCII), so a key trigram can only
/// be hidden from the filter by one of these; a test checks every character.
///
/// Round 7: the filters used to answer "maybe" for any byte >= 0x80, which
/// sent every look-up in Chinese, Cyrillic or symbol-laden text to the
/// Unicode word check (about 14,000 instructions each).
#[inline(always)]
pub(crate) fn may_fold(x: u8, y: u8, z: u8) -> bool {
    (x == b'\'')
        | ((x == 0xc3) & (y != 0x97) & (y != 0xb7))
        | ((x == 0xe2) & ((y == 0x80) & (z == 0x99) | (y == 0x84) & (z == 0xaa)))
}

/// [`DOB_KEYS`] at one position (bytes `x`, `y`, `z`), written out so that
/// the compiler shares the compares between keys.
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
#[inline(always)]
pub(crate) fn dob_key(x: u8, y: u8, z: u8) -> bool {
    let (lx, ly, lz) = (x | 0x20, y | 0x20, z | 0x20);
    let non = |r: u8, l: u8| (l.wrapping_sub(b'a') >= 26) & (r.wrapping_sub(b'0') >= 10);
    ((lx == b'd') & (ly == b'o') & (lz == b'b'))
        | ((lx == b'b') & ((ly == b'i') | (ly == b'o')) & (lz == b'r'))
        | ((lx == b'n') & (ly == b'a') & (lz == b'c'))
        | ((lx == b'c') & (ly == b'u') & (lz == b'm'))
        | (non(x, lx) & (ly == b'b') & non(z, lz))
}

/// Whether `region` may contain one of `keys` (see [`DOB_KEYS`]). Works on
/// 16 positions at a time with no early exit inside a block, so the compiler
/// can vectorise it.
#[inline(always)]
fn has_key<const N: usize>(region: &[u8], keys: &[[u8; 3]; N]) -> bool {
    if region.len() > KEY_REGION {
        return true;
    }
    // One space before and after the region so words at its edges have
    // non-word neighbours; more spaces to fill the last block.
    let mut buf = [b' '; KEY_REGION + 18];
    buf[1..1 + region.len()].copy_from_slice(region);
    let starts = region.len() + 2;
    let mut i = 0;
    while i < starts {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        let mut d = [0u8; 16];
        a.copy_from_slice(&buf[i..i + 16]);
        b.copy_from_slice(&buf[i + 1..i + 17]);
        d.copy_from_slice(&buf[i + 2..i + 18]);
        let mut acc = 0u8;
        for j in 0..16 {
            let (la, lb, ld) = (a[j] | 0x20, b[j] | 0x20, d[j] | 0x20);
            let mut m = may_fold(a[j], b[j], d[j]);
            for k in keys {
                m |= key_byte(a[j], la, k[0]) & key_byte(b[j], lb, k[1]) & key_byte(d[j], ld, k[2]);
            }
            acc |= u8::from(m);
        }
        if acc != 0 {
            return true;
        }
        i += 16;
    }
    false
}

/// Whether a context phrase for `kind` occurs within `window` bytes before
/// `start` or after `end` in `text`. `window == 0` disables context.
#[cfg_attr(not(test), allow(dead_code))]
pub fn has_context(text: &str, start: usize, end: usize, window: usize, kind: Kind) -> bool {
    has_context_cached(text, start, end, window, kind, &mut KeyCache::default())
}

/// [`has_context`] with the key-filter state of earlier look-ups in the same
/// text.
pub(crate) fn has_context_cached(
    text: &str,
    start: usize,
    end: usize,
    window: usize,
    kind: Kind,
    cache: &mut KeyCache,
) -> bool {
    if window == 0 {
        return false;
    }
    let list = words(kind);
    if list.is_empty() && kind != Kind::CaSin {
        return false;
    }
    let start = floor_boundary(text, start.min(text.len()));
    let end = ceil_boundary(text, end.min(text.len()).max(start));
    let b_from = floor_boundary(text, start.saturating_sub(window));
    let a_to = ceil_boundary(text, end.saturating_add(window).min(text.len()));
    let before = &text[b_from..start];
    let after = &text[end..a_to];
    let tb = text.as_bytes();
    let cut_front = b_from > 0 && word_byte(tb[b_from - 1]);
    let cut_back = a_to < text.len() && word_byte(tb[a_to]);
    let maybe = if kind == Kind::DateOfBirth {
        dob_may_have(tb, b_from, a_to, cache)
    } else {
        may_have_phrase(kind, &tb[b_from..a_to])
    };
    if !maybe {
        return false;
    }
    if kind == Kind::CaSin && (raw_word(before, "SIN") || raw_word(after, "SIN")) {
        return true;
    }
    let firsts = &FIRST_WORDS[list_index(kind)];
    if before.is_ascii() && after.is_ascii() {
        return ascii_segment(before.as_bytes(), cut_front, false, list, firsts)
            || ascii_segment(after.as_bytes(), false, cut_back, list, firsts);
    }
    let mut buf: [&str; 24] = [""; 24];
    for (seg, front, back) in [(before, cut_front, false), (after, false, cut_back)] {
        let n = split_words(seg, front, back, &mut buf);
        if !buf[..n].iter().any(|w| maybe_context_word(w)) {
            continue;
        }
        let mut norms: [Norm; 24] = [None; 24];
        for (q, w) in norms.iter_mut().zip(&buf[..n]) {
            *q = normalise(w);
        }
        // "d.o.b." and similar dotted forms are separate one-letter words.
        if list.iter().any(|p| phrase_in(&norms[..n], p)) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(text: &str, needle: &str, kind: Kind) -> bool {
        let s = text.find(needle).unwrap();
        has_context(text, s, s + needle.len(), DEFAULT_WINDOW, kind)
    }

    #[test]
    fn whole_words_only() {
        assert!(ctx("DOB: 1990-01-02", "1990-01-02", Kind::DateOfBirth));
        assert!(!ctx("adobe 1990-01-02", "1990-01-02", Kind::DateOfBirth));
        assert!(!ctx(
            "dobermann 1990-01-02",
            "1990-01-02",
            Kind::DateOfBirth
        ));
        assert!(ctx("D.O.B. 1990-01-02", "1990-01-02", Kind::DateOfBirth));
        assert!(ctx(
            "my passport number is 912803456",
            "912803456",
            Kind::UsPassport
        ));
        assert!(!ctx(
            "my passportnumber is 912803456",
            "912803456",
            Kind::UsPassport
        ));
    }

    #[test]
    fn case_insensitive_and_apostrophes() {
        assert!(ctx(
            "my DrIvEr LiCeNsE is: 7774567901234",
            "7774567901234",
            Kind::UsDriverLicense
        ));
        assert!(ctx(
            "Driver's license: D1234567",
            "D1234567",
            Kind::UsDriverLicense
        ));
        assert!(ctx(
            "driver\u{2019}s license D1234567",
            "D1234567",
            Kind::UsDriverLicense
        ));
    }

    #[test]
    fn spanish_words() {
        assert!(ctx(
            "Fecha de nacimiento: 23/04/1990",
            "23/04/1990",
            Kind::DateOfBirth
        ));
        assert!(ctx(
            "Número de teléfono 555 123 4567",
            "555 123 4567",
            Kind::Phone
        ));
        assert!(ctx(
            "licencia de conducir X1234567",
            "X1234567",
            Kind::UsDriverLicense
        ));
        assert!(ctx(
            "su pasaporte es A12345678",
            "A12345678",
            Kind::UsPassport
        ));
        assert!(ctx(
            "NÚMERO DE TARJETA 4111111111111111",
            "4111111111111111",
            Kind::CreditCard
        ));
    }

    #[test]
    fn after_window_and_limits() {
        assert!(ctx("078051121 is my ssn", "078051121", Kind::UsSsn));
        let far = format!("ssn {} 078051121", "x ".repeat(60));
        assert!(!ctx(&far, "078051121", Kind::UsSsn));
        assert!(!has_context("ssn 078051121", 4, 13, 0, Kind::UsSsn));
    }

    #[test]
    fn window_edge_fragment_is_dropped() {
        // "kdob" cut so that only "dob" would be visible must not count.
        let text = format!("kdob{}1990-01-02", " ".repeat(DEFAULT_WINDOW - 3));
        let s = text.find("1990").unwrap();
        assert!(!has_context(
            &text,
            s,
            s + 10,
            DEFAULT_WINDOW,
            Kind::DateOfBirth
        ));
    }

    #[test]
    fn sin_is_case_sensitive() {
        assert!(ctx("SIN: 130 692 544", "130 692 544", Kind::CaSin));
        assert!(!ctx("sin cargo 130 692 544", "130 692 544", Kind::CaSin));
        assert!(ctx(
            "social insurance number 130 692 544",
            "130 692 544",
            Kind::CaSin
        ));
    }

    #[test]
    fn dob_key_is_the_dob_keys() {
        let mut bytes: Vec<u8> = (0..=b'~').collect();
        bytes.extend([0x80, 0xc3, 0xff]);
        for &x in &bytes {
            for &y in &bytes {
                for &z in &bytes {
                    let want = DOB_KEYS.iter().any(|k| {
                        key_byte(x, x | 0x20, k[0])
                            & key_byte(y, y | 0x20, k[1])
                            & key_byte(z, z | 0x20, k[2])
                    });
                    assert_eq!(dob_key(x, y, z), want, "{x:#x} {y:#x} {z:#x}");
                }
            }
        }
    }

    /// Every phrase of a kind with a key filter holds one of its keys (a 0
    /// in a key: a byte that is not a letter or digit).
    #[test]
    fn every_phrase_holds_a_key() {
        let filters: [(Kind, &[[u8; 3]]); 9] = [
            (Kind::DateOfBirth, &DOB_KEYS),
            (Kind::UsDriverLicense, &DL_KEYS),
            (Kind::UsPassport, &PASSPORT_KEYS),
            (Kind::UkPassport, &PASSPORT_KEYS),
            (Kind::Phone, &PHONE_KEYS),
            (Kind::AbaRouting, &ABA_KEYS),
            (Kind::UsSsn, &SSN_KEYS),
            (Kind::UsItin, &ITIN_KEYS),
            (Kind::UkNino, &NINO_KEYS),
        ];
        for (kind, keys) in filters {
            for p in words(kind) {
                let padded: Vec<u8> = format!(" {p} ").bytes().collect();
                let found = padded.windows(3).any(|w| {
                    keys.iter().any(|k| {
                        (0..3).all(|i| match k[i] {
                            0 => !w[i].is_ascii_alphanumeric(),
                            c => w[i] == c,
                        })
                    })
                });
                assert!(found, "{kind:?} {p}");
                assert!(may_have_phrase(kind, p.as_bytes()) || kind == Kind::DateOfBirth);
            }
        }
    }

    /// Every non-ASCII character that the word comparison turns (lower-cased
    /// and folded) into an ASCII character, or drops, starts with bytes that
    /// [`may_fold`] flags; so does the apostrophe.
    #[test]
    fn may_fold_flags_every_folding_char() {
        let mut flagged = 0;
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            if c.is_ascii() && c != '\'' {
                continue;
            }
            let n = normalise(&c.to_string());
            let becomes_ascii = c == '\'' || n.is_some();
            let mut e = [b' '; 4];
            c.encode_utf8(&mut e);
            if becomes_ascii {
                assert!(may_fold(e[0], e[1], e[2]), "{c:?} U+{:04X}", c as u32);
                flagged += 1;
            }
        }
        // The apostrophe, U+2019, the Kelvin sign and the 44 accented
        // Latin-1 letters that fold.
        assert_eq!(flagged, 3 + 44, "{flagged}");
        // Ordinary punctuation and other scripts are not flagged.
        for c in [
            '\u{201c}', '\u{2013}', '\u{20ac}', '\u{7535}', '\u{0436}', '\u{00a3}', '×', '÷',
        ] {
            let mut e = [b' '; 4];
            c.encode_utf8(&mut e);
            assert!(!may_fold(e[0], e[1], e[2]), "{c:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// The birth-date look-ups of one text, in order with one key cache,
        /// answer as the reference look-up (padded key filter, no cache) does.
        #[test]
        fn dob_cached_equals_reference(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "dob", "DOB:", "d.o.b.", "b", "B ", " b", "born", "Birth date", "birthday",
                    "nacimiento", "fecha de nacimiento", "nació", "cumpleaños", "bob", "adobe",
                    "x", " ", "  ", "\n", "'", "driver's", "é", "1990-01-02", "12", "-", ".",
                    ",", "Received: by", "Date: Tue, 15 Nov 1994", "kdob", "nac", "cum", "bir",
                ]),
                0..40,
            ),
            cuts in proptest::collection::vec((0usize..400, 0usize..12), 1..12),
            window in proptest::sample::select(vec![1usize, 3, 20, 64, 150, 300]),
        ) {
            let text: String = parts.concat();
            let mut cuts = cuts;
            cuts.sort();
            let mut cache = KeyCache::default();
            for (s, l) in cuts {
                let s = s.min(text.len());
                let e = (s + l).min(text.len());
                let got = has_context_cached(&text, s, e, window, Kind::DateOfBirth, &mut cache);
                let want = crate::reference::context::has_context(
                    &text, s, e, window, Kind::DateOfBirth,
                );
                proptest::prop_assert_eq!(got, want, "{:?} {}..{} window {}", text, s, e, window);
            }
        }
    }

    fn all_phrase_words() -> Vec<&'static str> {
        LISTS
            .iter()
            .flat_map(|l| l.iter().flat_map(|p| p.split(' ')))
            .collect()
    }

    #[test]
    fn normalised_words_compare_as_word_eq() {
        let words = [
            "DOB",
            "dob",
            "d'ob",
            "Teléfono",
            "TELÉFONO",
            "cumpleaños",
            "CUMPLEAÑOS",
            "driver\u{2019}s",
            "drivers",
            "nació",
            "naciÓ",
            "\u{212a}",
            "İd",
            "Straße",
            "ß",
            "tarjeta",
            "número",
            "NÚMERO",
            "x",
            "passportnumber",
            "ñ",
            "Ç",
            "çard",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'l'",
        ];
        for w in words {
            for p in all_phrase_words() {
                assert_eq!(norm_eq(&normalise(w), p), word_eq(w, p), "{w} {p}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn normalised_equals_word_eq_random(
            w in "[a-zA-Z'\u{2019}áéíóúñÑÉçÇüİ\u{212a}ß]{0,40}",
        ) {
            for p in all_phrase_words() {
                proptest::prop_assert_eq!(norm_eq(&normalise(&w), p), word_eq(&w, p), "{} {}", w, p);
            }
        }
    }

    #[test]
    fn no_panic_on_odd_offsets() {
        let t = "ñandú 123 ü";
        for s in 0..=t.len() + 2 {
            for e in 0..=t.len() + 2 {
                let _ = has_context(t, s, e, 3, Kind::Phone);
            }
        }
    }
}
