//! Candidate finding: a window of 64-byte class masks (`simd`) gives the
//! next ASCII digit or `@`, digit runs and token bounds by bit scans;
//! stand-alone short numbers are settled at once from one read of
//! their digits and the bytes around them; shape gates send
//! the token there only to the readers it can fit; each reader looks at it
//! (bounded in length, so the whole scan is linear), validators decide, and
//! context words adjust the confidence. Matches come out sorted and non-overlapping because the
//! loop only moves forward and never starts a candidate before the end of the
//! previous match.

// Readers check shape, then validate, then boundaries, as separate steps.
#![allow(clippy::collapsible_if)]

use crate::context;
use crate::kind::{Confidence, Kind};
use crate::simd;
use crate::validate::{self, card::CardBrand};

/// A validated candidate before context and filtering.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cand {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    /// Confidence without context words (`None`: not reported without context).
    pub base: Option<Confidence>,
    /// Confidence when a context word is near.
    pub ctx: Confidence,
}

use Confidence::{High, Low, Medium};

fn cand(kind: Kind, start: usize, end: usize, base: Option<Confidence>, ctx: Confidence) -> Cand {
    Cand {
        kind,
        start,
        end,
        base,
        ctx,
    }
}

const LO_BYTES: u64 = 0x0101_0101_0101_0101;
const HI_BYTES: u64 = 0x8080_8080_8080_8080;

/// The class masks of the 64 bytes at `base` (bytes past the end of the
/// text count as zero bytes: no class), for bit scans over the current
/// stretch of text.
struct Window {
    level: simd::Level,
    base: usize,
    m: simd::Masks,
    /// Letters and digits, computed on first use.
    alnum: Option<u64>,
}

impl Window {
    /// Calls `f` with the 64 bytes at `base`, zeros past the end of `b`.
    #[inline(always)]
    fn block<R>(b: &[u8], base: usize, f: impl FnOnce(&[u8; 64]) -> R) -> R {
        match b
            .get(base..base + 64)
            .and_then(|s| <&[u8; 64]>::try_from(s).ok())
        {
            Some(a) => f(a),
            None => {
                let mut a = [0u8; 64];
                let rest = b.get(base..).unwrap_or(&[]);
                a[..rest.len()].copy_from_slice(rest);
                f(&a)
            }
        }
    }

    fn at(level: simd::Level, b: &[u8], base: usize) -> Window {
        Window {
            level,
            base,
            m: Window::block(b, base, |a| simd::masks(level, a)),
            alnum: None,
        }
    }

    #[inline(always)]
    fn alnum_mask(&mut self, b: &[u8]) -> u64 {
        match self.alnum {
            Some(m) => m,
            None => {
                let level = self.level;
                let m = Window::block(b, self.base, |a| simd::alnum(level, a));
                self.alnum = Some(m);
                m
            }
        }
    }

    /// Index of the next ASCII digit or `@` at or after `i`, moving the
    /// window forward as needed.
    #[inline(always)]
    fn next_trigger(&mut self, b: &[u8], mut i: usize) -> Option<usize> {
        loop {
            let k = i.wrapping_sub(self.base);
            if k < 64 {
                let m = self.m.trigger & (!0u64 << k);
                if m != 0 {
                    return Some(self.base + m.trailing_zeros() as usize);
                }
                i = self.base + 64;
            }
            if i >= b.len() {
                return None;
            }
            *self = Window::at(self.level, b, i);
        }
    }

    /// [`digit_run8`] at `t`, which is inside the window.
    #[inline(always)]
    fn digit_run8(&self, b: &[u8], t: usize) -> usize {
        let k = t - self.base;
        let r = (!(self.m.digit >> k)).trailing_zeros() as usize;
        if r < 8 && k + r == 64 {
            digit_run8(b, t)
        } else {
            r.min(8)
        }
    }

    /// [`alnum_run`] at `t`, which is inside the window.
    #[inline(always)]
    fn alnum_run(&mut self, b: &[u8], t: usize, max: usize) -> usize {
        let k = t - self.base;
        let r = (!(self.alnum_mask(b) >> k)).trailing_zeros() as usize;
        if r < max && k + r == 64 {
            alnum_run(b, t, max)
        } else {
            r.min(max)
        }
    }

    /// End of the run of letters and digits starting at `p`, moving the
    /// window forward through long runs (base64, hashes). Round 7: replaces
    /// a word-at-a-time walk, about four times as many instructions per
    /// byte.
    fn alnum_end(&mut self, b: &[u8], mut p: usize) -> usize {
        loop {
            let k = p.wrapping_sub(self.base);
            if k < 64 {
                // Bytes past the end of the text are zeros: not letters.
                let r = (!(self.alnum_mask(b) >> k)).trailing_zeros() as usize;
                if k + r < 64 {
                    return p + r;
                }
                p = self.base + 64;
            }
            if p >= b.len() {
                return b.len();
            }
            *self = Window::at(self.level, b, p);
        }
    }

    /// [`alnum_run_back`] ending at `t` (exclusive), which is inside the
    /// window.
    #[inline(always)]
    fn alnum_run_back(&mut self, b: &[u8], t: usize, max: usize) -> usize {
        let k = t - self.base;
        // Bits of the bytes before `t`, highest first.
        let r = if k == 0 {
            0
        } else {
            (!(self.alnum_mask(b) << (64 - k))).leading_zeros() as usize
        };
        if r < max && r == k {
            alnum_run_back(b, t, max)
        } else {
            r.min(max)
        }
    }
}

/// The eight bytes at `i` as a little-endian word (`i + 8 <= b.len()`).
#[inline(always)]
fn load8(b: &[u8], i: usize) -> u64 {
    let mut w8 = [0u8; 8];
    w8.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w8)
}

/// Number of ASCII digits at the start of `b[i..]`, at most 8.
#[inline(always)]
fn digit_run8(b: &[u8], i: usize) -> usize {
    if i + 8 <= b.len() {
        let w = load8(b, i);
        // High bit of each byte set for a non-digit (exact per byte: the
        // additions cannot carry across bytes of the low seven bits).
        let t = w & (0x7f * LO_BYTES);
        let ge0 = t.wrapping_add(0x50 * LO_BYTES);
        let gt9 = t.wrapping_add(0x46 * LO_BYTES);
        let non = (!ge0 | gt9 | w) & HI_BYTES;
        (non.trailing_zeros() / 8) as usize
    } else {
        b[i..].iter().take_while(|c| c.is_ascii_digit()).count()
    }
}

/// High bit of each byte of `w` that is an ASCII letter or digit (exact per
/// byte).
#[inline(always)]
fn word_alnum(w: u64) -> u64 {
    let t = w & (0x7f * LO_BYTES);
    let digit = t.wrapping_add(0x50 * LO_BYTES) & !t.wrapping_add(0x46 * LO_BYTES);
    let l = t | (0x20 * LO_BYTES);
    let letter = l.wrapping_add(0x1f * LO_BYTES) & !l.wrapping_add(0x05 * LO_BYTES);
    (digit | letter) & !w & HI_BYTES
}

/// Number of letters and digits at `b[p..]`, at most `max`.
#[inline(always)]
fn alnum_run(b: &[u8], mut p: usize, max: usize) -> usize {
    let st = p;
    while p + 8 <= b.len() && p - st < max {
        let non = !word_alnum(load8(b, p)) & HI_BYTES;
        if non != 0 {
            return (p - st + (non.trailing_zeros() / 8) as usize).min(max);
        }
        p += 8;
    }
    while p < b.len() && p - st < max && alnum(b[p]) {
        p += 1;
    }
    (p - st).min(max)
}

/// Number of letters and digits ending at `b[..p]`, at most `max`.
#[inline(always)]
fn alnum_run_back(b: &[u8], mut p: usize, max: usize) -> usize {
    let st = p;
    while p >= 8 && st - p < max {
        let non = !word_alnum(load8(b, p - 8)) & HI_BYTES;
        if non != 0 {
            return (st - p + (non.leading_zeros() / 8) as usize).min(max);
        }
        p -= 8;
    }
    while p > 0 && st - p < max && alnum(b[p - 1]) {
        p -= 1;
    }
    (st - p).min(max)
}

const ALNUM: u8 = 1;
const BAD_BEFORE: u8 = 2;
const BAD_AFTER: u8 = 4;
/// May not precede a value and is not `+` (see [`bad_before_token`]).
const SKIP_BEFORE: u8 = 8;
/// `+`, `(` or `<`: a phone or MRZ line may start before the number.
const PREFIX: u8 = 16;
/// A separator after which a number may continue.
const CONT: u8 = 32;
/// A separator inside a phone number.
const PHONE_SEP: u8 = 64;

/// Per-byte flags: letter or digit; may not precede a value (word, longer
/// number, URL parameter, amount); may not follow one.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut f = 0;
        if c.is_ascii_alphanumeric() {
            f |= ALNUM | BAD_BEFORE | BAD_AFTER;
        }
        if c >= 0x80 {
            f |= BAD_BEFORE | BAD_AFTER;
        }
        let mut k = 0;
        let before = b"/=._-&%+\\$@~";
        while k < before.len() {
            if before[k] == c {
                f |= BAD_BEFORE;
            }
            k += 1;
        }
        let after = b"/=_&%@\\$~";
        let mut k = 0;
        while k < after.len() {
            if after[k] == c {
                f |= BAD_AFTER;
            }
            k += 1;
        }
        if f & BAD_BEFORE != 0 && c != b'+' {
            f |= SKIP_BEFORE;
        }
        if matches!(c, b'+' | b'(' | b'<') {
            f |= PREFIX;
        }
        if matches!(c, b' ' | b'-' | b'.' | b'/' | b')' | b',' | b'<') {
            f |= CONT;
        }
        if matches!(c, b' ' | b'-' | b'.' | b'/' | b'(' | b')') {
            f |= PHONE_SEP;
        }
        t[i] = f;
        i += 1;
    }
    t
};

#[inline(always)]
fn alnum(c: u8) -> bool {
    CLASS[usize::from(c)] & ALNUM != 0
}

/// A value may start at `s`: the byte before is not part of a word, a longer
/// number, a URL parameter or an amount.
fn ok_before(b: &[u8], s: usize) -> bool {
    s == 0 || CLASS[usize::from(b[s - 1])] & BAD_BEFORE == 0
}

/// A value may end at `e`.
fn ok_after(b: &[u8], e: usize) -> bool {
    if e >= b.len() {
        return true;
    }
    let c = b[e];
    if CLASS[usize::from(c)] & BAD_AFTER != 0 {
        return false;
    }
    let next_digit = b.get(e + 1).is_some_and(u8::is_ascii_digit);
    if (c == b'.' || c == b'-') && next_digit {
        return false;
    }
    if c == b',' && next_digit {
        // "123456789,50" is an amount; "4111...,4012..." is a list.
        let n = b[e + 1..]
            .iter()
            .take(3)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n <= 2 {
            return false;
        }
    }
    true
}

/// Digit groups separated by single separator bytes.
struct Groups {
    n: usize,
    g: [(usize, usize); 8],
    sep: [u8; 8],
}

impl Groups {
    fn len(&self, i: usize) -> usize {
        self.g[i].1 - self.g[i].0
    }
    fn lens_are(&self, want: &[usize]) -> bool {
        want.len() <= self.n && want.iter().enumerate().all(|(i, &l)| self.len(i) == l)
    }
    fn same_sep(&self, k: usize) -> bool {
        k < 2 || self.sep[..k - 1].iter().all(|&c| c == self.sep[0])
    }
    fn digits(&self, b: &[u8], k: usize, out: &mut [u8; 24]) -> usize {
        let mut n = 0;
        for &(s, e) in &self.g[..k] {
            for &c in &b[s..e] {
                if n < out.len() {
                    out[n] = c;
                    n += 1;
                }
            }
        }
        n
    }
}

fn groups(b: &[u8], s: usize, seps: &[u8], max_groups: usize, max_len: usize) -> Groups {
    let mut gr = Groups {
        n: 0,
        g: [(0, 0); 8],
        sep: [0; 8],
    };
    let mut p = s;
    let max_groups = max_groups.min(8);
    loop {
        let mut q = p;
        while q < b.len() && b[q].is_ascii_digit() && q - p <= max_len {
            q += 1;
        }
        gr.g[gr.n] = (p, q);
        gr.n += 1;
        if q - p > max_len || gr.n == max_groups || q + 1 >= b.len() {
            break;
        }
        if seps.contains(&b[q]) && b[q + 1].is_ascii_digit() {
            gr.sep[gr.n - 1] = b[q];
            p = q + 1;
        } else {
            break;
        }
    }
    gr
}

// ---------------------------------------------------------------- cards

#[inline(never)]
fn read_card(b: &[u8], s: usize, out: &mut Vec<Cand>) {
    if !ok_before(b, s) {
        return;
    }
    let g = groups(b, s, b" -", 6, 19);
    let mut buf = [0u8; 24];
    let push = |out: &mut Vec<Cand>, brand: CardBrand, end: usize, grouped: bool| {
        let (base, ctx) = match brand {
            CardBrand::Uatp => (Low, Medium),
            _ if grouped => (High, High),
            _ => (Medium, High),
        };
        out.push(cand(Kind::CreditCard, s, end, Some(base), ctx));
    };
    if g.len(0) >= 12 {
        if g.len(0) <= 19 && ok_after(b, g.g[0].1) {
            if let Some(brand) = validate::card::valid_card(&b[s..g.g[0].1]) {
                push(out, brand, g.g[0].1, false);
            }
        }
        return;
    }
    if g.n < 2 || g.len(0) != 4 {
        return;
    }
    for k in (2..=g.n).rev() {
        if !g.same_sep(k) {
            continue;
        }
        let total: usize = (0..k).map(|i| g.len(i)).sum();
        if !(12..=19).contains(&total) {
            continue;
        }
        let fours = (0..k - 1).all(|i| g.len(i) == 4) && (1..=4).contains(&g.len(k - 1));
        let amex = k == 3 && g.len(1) == 6 && (g.len(2) == 5 || g.len(2) == 4);
        if !(fours || amex) {
            continue;
        }
        let end = g.g[k - 1].1;
        if !ok_after(b, end) {
            continue;
        }
        let n = g.digits(b, k, &mut buf);
        if let Some(brand) = validate::card::valid_card(&buf[..n]) {
            push(out, brand, end, true);
            return;
        }
    }
}

// ------------------------------------------------- SSN / ITIN / ABA / SIN

#[inline(never)]
fn read_nine(b: &[u8], s: usize, out: &mut Vec<Cand>) {
    if !ok_before(b, s) {
        return;
    }
    let mut buf = [0u8; 24];
    let g = groups(b, s, b" -.", 3, 9);
    // (end, form): form 0 bare, 1 dashed 3-2-4, 2 spaced, 3 dotted, 4 partial
    let mut ssn_form = None;
    if g.len(0) == 9 {
        ssn_form = Some((g.g[0].1, 0, 1));
    } else if g.n == 3 && g.lens_are(&[3, 2, 4]) && g.same_sep(3) {
        let f = match g.sep[0] {
            b'-' => 1,
            b' ' => 2,
            _ => 3,
        };
        ssn_form = Some((g.g[2].1, f, 3));
    } else if g.n >= 2 && g.sep[0] == b'-' && (g.lens_are(&[3, 6]) || g.lens_are(&[5, 4])) {
        ssn_form = Some((g.g[1].1, 4, 2));
    }
    if let Some((end, form, k)) = ssn_form {
        if ok_after(b, end) {
            let n = g.digits(b, k, &mut buf);
            let d = &buf[..n];
            if validate::ssn(d) {
                let (base, ctx) = match form {
                    1 => (High, High),
                    2 => (Medium, High),
                    _ => (Low, Medium),
                };
                out.push(cand(Kind::UsSsn, s, end, Some(base), ctx));
            } else if validate::itin(d) {
                let (base, ctx) = match form {
                    1 | 2 => (Medium, High),
                    _ => (Low, Medium),
                };
                out.push(cand(Kind::UsItin, s, end, Some(base), ctx));
            }
            if form == 0 && validate::aba(d) {
                out.push(cand(Kind::AbaRouting, s, end, Some(Low), High));
            }
            if form == 0 && validate::sin(d) {
                out.push(cand(Kind::CaSin, s, end, Some(Low), Medium));
            }
        }
    }
    // The first group does not depend on the separators, so (round 7) the
    // two readings below are made only when it has their length and the
    // right separator follows it.
    let first = g.len(0);
    let next = b.get(s + first).copied();
    // ABA 4-4-1
    if first == 4 && next == Some(b'-') {
        let g = groups(b, s, b"-", 3, 9);
        if g.n == 3 && g.lens_are(&[4, 4, 1]) && ok_after(b, g.g[2].1) {
            let n = g.digits(b, 3, &mut buf);
            if validate::aba(&buf[..n]) {
                out.push(cand(Kind::AbaRouting, s, g.g[2].1, Some(Low), High));
            }
        }
    }
    // SIN 3-3-3
    if first == 3 && matches!(next, Some(b' ' | b'-')) {
        let g = groups(b, s, b" -", 3, 9);
        if g.n == 3 && g.lens_are(&[3, 3, 3]) && g.same_sep(3) && ok_after(b, g.g[2].1) {
            let n = g.digits(b, 3, &mut buf);
            if validate::sin(&buf[..n]) {
                out.push(cand(Kind::CaSin, s, g.g[2].1, Some(Medium), High));
            }
        }
    }
}

// ------------------------------------------- token shapes (passport, DL, NINO)

#[inline(never)]
fn read_token_shapes(b: &[u8], s: usize, t: usize, e: usize, out: &mut Vec<Cand>) {
    if !ok_before(b, s) || !ok_after(b, e) {
        return;
    }
    let tok = &b[s..e];
    let lead = t - s;
    if tok.len() == 9 {
        if validate::passport::us_passport(tok) {
            let ctx = if lead == 1 { High } else { Medium };
            out.push(cand(Kind::UsPassport, s, e, Some(Low), ctx));
        }
        if validate::passport::uk_passport(tok) {
            if lead == 0 {
                out.push(cand(Kind::UkPassport, s, e, None, Medium));
            } else if tok[..2].iter().all(u8::is_ascii_uppercase) {
                out.push(cand(Kind::UkPassport, s, e, Some(Low), High));
            } else {
                out.push(cand(Kind::UkPassport, s, e, Some(Low), Medium));
            }
        }
    }
    if validate::dl::dl_shape(tok) {
        let ctx = if lead == 0 && tok.iter().all(u8::is_ascii_digit) {
            Medium
        } else {
            High
        };
        out.push(cand(Kind::UsDriverLicense, s, e, None, ctx));
    }
    if lead == 2 && (tok.len() == 9 || tok.len() == 8) && validate::nino::nino_parts(tok, true) {
        let (base, ctx) = if tok.len() == 9 {
            (Medium, High)
        } else {
            (Low, Medium)
        };
        out.push(cand(Kind::UkNino, s, e, Some(base), ctx));
    }
}

/// NINO written as `AB 12 34 56 C`, found from the first digit group.
#[inline(never)]
fn read_nino_spaced(b: &[u8], s: usize, lo: usize, out: &mut Vec<Cand>) {
    if s < lo + 3 || b[s - 1] != b' ' {
        return;
    }
    let ls = s - 3;
    if !ok_before(b, ls) {
        return;
    }
    let g = groups(b, s, b" ", 3, 2);
    if g.n != 3 || !g.lens_are(&[2, 2, 2]) {
        return;
    }
    let mut v = [0u8; 9];
    v[0] = b[ls];
    v[1] = b[ls + 1];
    let mut buf = [0u8; 24];
    g.digits(b, 3, &mut buf);
    v[2..8].copy_from_slice(&buf[..6]);
    let mut end = g.g[2].1;
    let mut full = false;
    if end + 1 < b.len() && b[end] == b' ' && matches!(b[end + 1], b'A'..=b'D') {
        v[8] = b[end + 1];
        end += 2;
        full = true;
    }
    if !ok_after(b, end) {
        return;
    }
    let ok = if full {
        validate::nino(&v)
    } else {
        validate::nino::nino_parts(&v[..8], true)
    };
    if ok {
        let (base, ctx) = if full { (High, High) } else { (Low, Medium) };
        out.push(cand(Kind::UkNino, ls, end, Some(base), ctx));
    }
}

// ---------------------------------------------------------------- IBAN

#[inline(never)]
fn read_iban(b: &[u8], s: usize, e: usize, out: &mut Vec<Cand>) {
    if e < s + 4 || !ok_before(b, s) {
        return;
    }
    if !(b[s].is_ascii_uppercase()
        && b[s + 1].is_ascii_uppercase()
        && b[s + 2].is_ascii_digit()
        && b[s + 3].is_ascii_digit())
    {
        return;
    }
    let Some(len) = validate::iban_length(&b[s..s + 2]) else {
        return;
    };
    if e - s == len {
        if validate::iban(&b[s..e]) {
            out.push(cand(Kind::Iban, s, e, Some(High), High));
        }
        return;
    }
    if e - s != 4 || e >= b.len() || !(b[e] == b' ' || b[e] == b'-') {
        return;
    }
    let sep = b[e];
    let mut v = [0u8; 34];
    v[..4].copy_from_slice(&b[s..e]);
    let mut n = 4;
    let mut p = e;
    while n < len {
        if p >= b.len() || b[p] != sep {
            return;
        }
        p += 1;
        let mut q = p;
        while q < b.len() && alnum(b[q]) && q - p < 5 {
            q += 1;
        }
        let gl = q - p;
        let need = len - n;
        if !(gl == 4 && need >= 4 || gl == need && need < 4) {
            return;
        }
        v[n..n + gl].copy_from_slice(&b[p..q]);
        n += gl;
        p = q;
    }
    if p < b.len() && alnum(b[p]) {
        return;
    }
    if validate::iban(&v[..n]) {
        out.push(cand(Kind::Iban, s, p, Some(High), High));
    }
}

// ---------------------------------------------------------------- MRZ

fn mrz_char(c: u8) -> bool {
    c.is_ascii_digit() || c.is_ascii_uppercase() || c == b'<'
}

#[inline(never)]
fn read_mrz(b: &[u8], s: usize, e: usize, lo: usize) -> Option<Cand> {
    let near_fill = (e < b.len() && b[e] == b'<') || (s > 0 && b[s - 1] == b'<');
    if !near_fill && e - s != 44 {
        return None;
    }
    let mut ls = s;
    while ls > lo && s - ls < 44 && mrz_char(b[ls - 1]) {
        ls -= 1;
    }
    if ls > 0 && (mrz_char(b[ls - 1]) || alnum(b[ls - 1])) {
        return None;
    }
    let mut le = ls;
    while le < b.len() && mrz_char(b[le]) && le - ls <= 44 {
        le += 1;
    }
    if le - ls != 44 || (le < b.len() && alnum(b[le])) {
        return None;
    }
    let nat = validate::mrz_td3_line2(&b[ls..le])?;
    let kind = if &nat == b"GBR" {
        Kind::UkPassport
    } else {
        Kind::UsPassport
    };
    Some(cand(kind, ls, le, Some(High), High))
}

// ---------------------------------------------------------------- dates

fn num_of(b: &[u8]) -> u32 {
    validate::num(b)
}

/// Value of the `n` (at most 4) ASCII digits at `p`.
#[inline(always)]
fn num_at(b: &[u8], p: usize, n: usize) -> u32 {
    b[p..p + n]
        .iter()
        .take(4)
        .fold(0, |a, &c| a * 10 + u32::from(c.wrapping_sub(b'0')))
}

/// "1990-03-12", "03/12/1990", "12.03.90": three groups of 1-4 digits with
/// one separator, read in one pass.
#[inline(never)]
fn read_dob_numeric(b: &[u8], s: usize, out: &mut Vec<Cand>) {
    if !ok_before(b, s) {
        return;
    }
    // Group lengths are read up to 5 digits: a fifth digit rejects the
    // group (first and second) or, for the last, the end boundary.
    let l0 = digit_run8(b, s).min(5);
    let q0 = s + l0;
    if l0 > 4 || q0 + 1 >= b.len() {
        return;
    }
    let sep = b[q0];
    if !matches!(sep, b'/' | b'-' | b'.') || !b[q0 + 1].is_ascii_digit() {
        return;
    }
    let p1 = q0 + 1;
    let l1 = digit_run8(b, p1).min(5);
    let q1 = p1 + l1;
    if l1 > 4 || q1 + 1 >= b.len() || b[q1] != sep || !b[q1 + 1].is_ascii_digit() {
        return;
    }
    let p2 = q1 + 1;
    let l2 = digit_run8(b, p2).min(5);
    let end = p2 + l2;
    let small = |l: usize| (1..=2).contains(&l);
    if !(l0 == 4 && small(l1) && small(l2) || small(l0) && small(l1) && (l2 == 4 || l2 == 2)) {
        return;
    }
    if !ok_after(b, end) {
        return;
    }
    let (v0, v1, v2) = (num_at(b, s, l0), num_at(b, p1, l1), num_at(b, p2, l2));
    if l0 == 4 {
        if validate::date_valid(v0, v1, v2) {
            out.push(cand(Kind::DateOfBirth, s, end, None, High));
        }
    } else if l2 == 4 {
        if validate::date_valid(v2, v0, v1) || validate::date_valid(v2, v1, v0) {
            out.push(cand(Kind::DateOfBirth, s, end, None, High));
        }
    } else if validate::dob::date_valid_yy(v0, v1) || validate::dob::date_valid_yy(v1, v0) {
        out.push(cand(Kind::DateOfBirth, s, end, None, Medium));
    }
}

/// Letters (as bits from `a`) that month names and abbreviations of
/// [`validate::dob::month_from_name`] start with, and end with.
const MONTH_FIRST: u32 = letter_bits(b"jefmasond");
const MONTH_LAST: u32 = letter_bits(b"ynoebhrltgpvc");

const fn letter_bits(l: &[u8]) -> u32 {
    let mut m = 0;
    let mut i = 0;
    while i < l.len() {
        m |= 1 << (l[i] - b'a');
        i += 1;
    }
    m
}

/// Whether `c` is an ASCII letter (either case) in `set`.
#[inline(always)]
fn month_letter(c: u8, set: u32) -> bool {
    let k = (c | 0x20).wrapping_sub(b'a');
    c.is_ascii_alphabetic() && set & (1 << (k & 31)) != 0
}

fn skip_spaces(b: &[u8], mut p: usize, max: usize) -> usize {
    let st = p;
    while p < b.len() && b[p] == b' ' && p - st < max {
        p += 1;
    }
    p
}

fn word_at(b: &[u8], p: usize) -> usize {
    let mut q = p;
    while q < b.len() && b[q].is_ascii_alphabetic() && q - p <= 10 {
        q += 1;
    }
    q
}

fn year4_at(b: &[u8], p: usize) -> Option<(u32, usize)> {
    let q = p + 4;
    if q <= b.len() && b[p..q].iter().all(u8::is_ascii_digit) && ok_after(b, q) {
        Some((num_of(&b[p..q]), q))
    } else {
        None
    }
}

/// "April 23, 1990", "Apr. 23 1990": month name before the day digits.
#[inline(never)]
fn read_dob_month_first(b: &[u8], s: usize, e: usize, lo: usize, out: &mut Vec<Cand>) {
    if e - s > 2 || s < lo + 4 {
        return;
    }
    let mut p = s;
    let mut spaces = 0;
    while p > lo && b[p - 1] == b' ' && spaces < 2 {
        p -= 1;
        spaces += 1;
    }
    if spaces == 0 {
        return;
    }
    if p > lo && b[p - 1] == b'.' {
        p -= 1;
    }
    if p == lo || !month_letter(b[p - 1], MONTH_LAST) {
        return;
    }
    // Every name is at least three letters long and ends with the tail of
    // a month name.
    if p < lo + 3
        || !validate::dob::month_trigram(&validate::dob::MONTH_TAILS, b[p - 3], b[p - 2], b[p - 1])
    {
        return;
    }
    let we = p;
    while p > lo && b[p - 1].is_ascii_alphabetic() && we - p <= 10 {
        p -= 1;
    }
    if p == we || (p > 0 && (alnum(b[p - 1]) || b[p - 1] >= 0x80)) {
        return;
    }
    let Some(m) = validate::dob::month_from_name(&b[p..we]) else {
        return;
    };
    let day = num_of(&b[s..e]);
    let mut q = e;
    if q < b.len() && b[q] == b',' {
        q += 1;
    }
    let q2 = skip_spaces(b, q, 2);
    if q2 == q {
        return;
    }
    if let Some((y, end)) = year4_at(b, q2) {
        if validate::date_valid(y, m, day) {
            out.push(cand(Kind::DateOfBirth, p, end, None, High));
        }
    }
}

/// "23 April 1990", "23-Apr-1990", "23 de abril de 1990".
#[inline(never)]
fn read_dob_day_first(b: &[u8], s: usize, e: usize, out: &mut Vec<Cand>) {
    if e - s > 2 || e >= b.len() || !ok_before(b, s) {
        return;
    }
    let day = num_of(&b[s..e]);
    let sep = b[e];
    if !matches!(sep, b' ' | b'-' | b'.') {
        return;
    }
    let mut p = e + 1;
    if sep == b' ' && b.get(p).is_some_and(|&c| c | 0x20 == b'd') {
        let we = word_at(b, p);
        if we < b.len() && b[p..we].eq_ignore_ascii_case(b"de") && b[we] == b' ' {
            p = we + 1;
        }
    }
    if !b.get(p).is_some_and(|&c| month_letter(c, MONTH_FIRST)) {
        return;
    }
    // Every name is at least three letters long and starts with the head
    // of a month name.
    if p + 3 > b.len()
        || !validate::dob::month_trigram(&validate::dob::MONTH_HEADS, b[p], b[p + 1], b[p + 2])
    {
        return;
    }
    let we = word_at(b, p);
    let Some(m) = validate::dob::month_from_name(&b[p..we]) else {
        return;
    };
    let mut q = we;
    if q < b.len() && b[q] == b'.' && sep != b'.' {
        q += 1;
    }
    if q >= b.len() {
        return;
    }
    if sep == b'-' || sep == b'.' {
        if b[q] != sep {
            return;
        }
        q += 1;
    } else {
        if b[q] == b',' {
            q += 1;
        }
        let q2 = skip_spaces(b, q, 2);
        if q2 == q {
            return;
        }
        q = q2;
        let w2 = word_at(b, q);
        let w = &b[q..w2];
        if (w.eq_ignore_ascii_case(b"de") || w.eq_ignore_ascii_case(b"del"))
            && w2 < b.len()
            && b[w2] == b' '
        {
            q = w2 + 1;
        }
    }
    if let Some((y, end)) = year4_at(b, q) {
        if validate::date_valid(y, m, day) {
            out.push(cand(Kind::DateOfBirth, s, end, None, High));
        }
    }
}

// ---------------------------------------------------------------- phones

#[inline(never)]
fn read_phone(b: &[u8], s: usize, lo: usize, out: &mut Vec<Cand>) {
    let plus = s > lo && b[s - 1] == b'+';
    let open = !plus && s > lo && b[s - 1] == b'(';
    let start = if plus || open { s - 1 } else { s };
    if !ok_before(b, start) {
        return;
    }
    let mut g = [(0usize, 0usize); 8];
    let mut seps = [0u8; 8];
    let mut n = 0;
    let mut total = 0;
    let mut paren = open;
    let mut p = s;
    let mut closed_first = false;
    loop {
        let mut q = p;
        while q < b.len() && b[q].is_ascii_digit() && q - p <= 12 {
            q += 1;
        }
        if q - p > 12 {
            return;
        }
        g[n] = (p, q);
        n += 1;
        total += q - p;
        if total > 15 || n == 8 {
            break;
        }
        let mut r = q;
        let mut sep = 0u8;
        let mut k = 0;
        while r < b.len() && k < 3 {
            let c = b[r];
            match c {
                b'(' if !paren => paren = true,
                b')' if paren => {
                    paren = false;
                    if n == 1 && open {
                        closed_first = true;
                    }
                }
                b' ' | b'-' | b'.' | b'/' => {
                    if sep == 0 {
                        sep = c;
                    }
                }
                _ => break,
            }
            r += 1;
            k += 1;
        }
        if k == 0 || r >= b.len() || !b[r].is_ascii_digit() {
            break;
        }
        seps[n - 1] = if sep == 0 { b')' } else { sep };
        p = r;
    }
    if open && !closed_first {
        return;
    }
    // Round 7: every form below has at least 8 digits in its groups.
    if total < 8 {
        return;
    }
    let len = |i: usize| g[i].1 - g[i].0;
    let mut buf = [0u8; 24];
    let digits = |k: usize, buf: &mut [u8; 24]| {
        let mut m = 0;
        for &(a, z) in &g[..k] {
            for &c in &b[a..z] {
                if m < 24 {
                    buf[m] = c;
                    m += 1;
                }
            }
        }
        m
    };
    let total_k = |k: usize| (0..k).map(len).sum::<usize>();
    let no_slash = |k: usize| seps[..k.saturating_sub(1)].iter().all(|&c| c != b'/');
    let emit = |out: &mut Vec<Cand>, k: usize, base: Option<Confidence>, ctx: Confidence| {
        let end = g[k - 1].1;
        if ok_after(b, end) {
            out.push(cand(Kind::Phone, start, end, base, ctx));
            true
        } else {
            false
        }
    };
    if plus {
        for k in (1..=n).rev() {
            let tk = total_k(k);
            if !(8..=15).contains(&tk) || !no_slash(k) {
                continue;
            }
            let m = digits(k, &mut buf);
            let d = &buf[..m];
            let (cl, lo_n, hi_n) = match validate::phone::calling_code(d) {
                Some(c) => c,
                None if n > 1 && len(0) <= 3 && validate::phone::plausible_code(&d[..len(0)]) => {
                    (len(0), 7, 12)
                }
                None => return,
            };
            let nsn = m - cl;
            if !(lo_n..=hi_n).contains(&nsn) {
                continue;
            }
            if cl == 1 && d[0] == b'1' && !validate::phone::nanp(&d[1..]) {
                continue;
            }
            if emit(out, k, Some(Medium), High) {
                return;
            }
        }
        return;
    }
    // North American: optional leading "1" group.
    let off = usize::from(!open && n >= 2 && len(0) == 1 && b[g[0].0] == b'1');
    let rest = n - off;
    let nanp_digits = |k: usize, buf: &mut [u8; 24]| {
        let m = digits(k, buf);
        validate::phone::nanp(&buf[m - 10..m]) && m >= 10
    };
    if rest >= 3 && len(off) == 3 && len(off + 1) == 3 && len(off + 2) == 4 && no_slash(off + 3) {
        if nanp_digits(off + 3, &mut buf) && emit(out, off + 3, Some(Medium), High) {
            return;
        }
    }
    if !open && rest >= 2 && len(off) == 3 && len(off + 1) == 7 && no_slash(off + 2) {
        if nanp_digits(off + 2, &mut buf) && emit(out, off + 2, Some(Low), Medium) {
            return;
        }
    }
    if !open && n == 1 && len(0) == 10 {
        if nanp_digits(1, &mut buf) && emit(out, 1, Some(Low), Medium) {
            return;
        }
    }
    // Area code in parentheses without trunk zero (BR and similar): (11) 98456-5666
    if open
        && n >= 3
        && len(0) == 2
        && b[g[0].0] != b'0'
        && (len(1) == 4 || len(1) == 5)
        && len(2) == 4
    {
        if emit(out, 3, Some(Medium), High) {
            return;
        }
    }
    // National format with trunk prefix 0: 020 7123 4567, 09-7625400, 090-1234-5678
    if n >= 2 && len(0) >= 2 && len(0) <= 5 && b[g[0].0] == b'0' && b[g[0].0 + 1] != b'0' {
        for k in (2..=n).rev() {
            let tk = total_k(k);
            let pairs = len(0) == 2 && k >= 4 && (1..k).all(|i| len(i) == 2);
            let groups_ok = pairs || (1..k).all(|i| len(i) >= 3);
            let nine_ok = tk != 9 || (k <= 3 && len(0) <= 3 && len(k - 1) >= 4);
            if !(9..=12).contains(&tk) || (k > 2 && !no_slash(k)) || !groups_ok || !nine_ok {
                continue;
            }
            if emit(out, k, Some(Medium), High) {
                return;
            }
        }
    }
    if open {
        return;
    }
    // China mobile: 13812345678 / 138 1234 5678
    let cn_start = |i: usize| b[g[i].0] == b'1' && (b'3'..=b'9').contains(&b[g[i].0 + 1]);
    if n == 1 && len(0) == 11 && cn_start(0) {
        if emit(out, 1, Some(Low), Medium) {
            return;
        }
    }
    if n >= 3 && len(0) == 3 && len(1) == 4 && len(2) == 4 && cn_start(0) && no_slash(3) {
        if emit(out, 3, Some(Medium), High) {
            return;
        }
    }
    // Spain (9 digits from 6-9) in 3-3-3 / 3-2-2-2, India mobile 5-5.
    let first = b[g[0].0];
    if (b'6'..=b'9').contains(&first) && no_slash(n.min(4)) {
        let es1 = n >= 3 && len(0) == 3 && len(1) == 3 && len(2) == 3;
        let es2 = n >= 4 && len(0) == 3 && len(1) == 2 && len(2) == 2 && len(3) == 2;
        let in1 = n >= 2 && len(0) == 5 && len(1) == 5;
        if es2 && emit(out, 4, Some(Low), Medium) {
            return;
        }
        if es1 && emit(out, 3, Some(Low), Medium) {
            return;
        }
        if in1 {
            emit(out, 2, Some(Low), Medium);
        }
    }
}

// ---------------------------------------------------------------- email

fn read_email(b: &[u8], a: usize, lo: usize) -> Option<Cand> {
    // Round 7: an address needs a local-part character before the `@` and a
    // letter or digit after it (a domain label starts with one); most other
    // `@`s (diff hunks, uuencoded lines, "@@@@") stop here, before the
    // scans below.
    if a == lo
        || !validate::email::local_char(b[a - 1])
        || !b.get(a + 1).is_some_and(u8::is_ascii_alphanumeric)
    {
        return None;
    }
    let mut p = a;
    while p > lo && a - p <= 64 && validate::email::local_char(b[p - 1]) {
        p -= 1;
    }
    while p < a && b[p] == b'.' {
        p += 1;
    }
    if p == a || a - p > 64 || (p > 0 && validate::email::local_char(b[p - 1]) && b[p - 1] != b'.')
    {
        return None;
    }
    let mut q = a + 1;
    while q < b.len() && q - a <= 254 && validate::email::domain_char(b[q]) {
        q += 1;
    }
    if q - a > 254 {
        return None;
    }
    while q > a + 1 && (b[q - 1] == b'.' || b[q - 1] == b'-') {
        q -= 1;
    }
    let local = &b[p..a];
    // `validate::email::local_ok` without the tests the scan above already
    // made (round 7): every byte is a local-part character, the first is
    // not a dot, there are 1 to 64 of them.
    if local[local.len() - 1] == b'.'
        || double_dot(local)
        || !local.iter().any(u8::is_ascii_alphanumeric)
        || !validate::email::domain(&b[a + 1..q])
    {
        return None;
    }
    if q < b.len() && (b[q] == b'@' || b[q] >= 0x80 || b[q] == b'_') {
        return None;
    }
    let digits = local.iter().filter(|c| c.is_ascii_digit()).count();
    let hexish = local.len() >= 16
        && local
            .iter()
            .all(|c| c.is_ascii_hexdigit() || b".-_".contains(c));
    let machine = local.len() > 40 || (local.len() > 8 && digits * 2 > local.len()) || hexish;
    let conf = if machine { Low } else { High };
    Some(cand(Kind::Email, p, q, Some(conf), conf))
}

/// Whether `l` holds two dots in a row.
fn double_dot(l: &[u8]) -> bool {
    let mut prev = false;
    for &c in l {
        let dot = c == b'.';
        if dot && prev {
            return true;
        }
        prev = dot;
    }
    false
}

// ---------------------------------------------------------------- driver

/// Bounded length of a token we look at; longer runs of letters and digits
/// (base64, hashes) are skipped whole.
const MAX_TOKEN: usize = 64;

fn priority(k: Kind) -> u8 {
    match k {
        Kind::Iban => 0,
        Kind::CreditCard => 1,
        Kind::UkNino => 2,
        Kind::UsItin => 3,
        Kind::UsSsn => 4,
        Kind::AbaRouting => 5,
        Kind::CaSin => 6,
        Kind::DateOfBirth => 7,
        Kind::Phone => 8,
        Kind::UsPassport => 9,
        Kind::UkPassport => 10,
        Kind::UsDriverLicense => 11,
        Kind::Email => 12,
    }
}

/// Scanner settings resolved for the loop.
pub(crate) struct Plan {
    pub enabled: [bool; 13],
    pub min: Confidence,
    pub window: usize,
}

impl Plan {
    fn on(&self, k: Kind) -> bool {
        self.enabled[k.index()]
    }

    fn final_conf(
        &self,
        text: &str,
        c: &Cand,
        cache: &mut context::KeyCache,
    ) -> Option<Confidence> {
        let base = c.base;
        if base.is_some_and(|x| x >= c.ctx) || c.ctx < self.min {
            return base;
        }
        if context::has_context_cached(text, c.start, c.end, self.window, c.kind, cache) {
            Some(c.ctx)
        } else {
            base
        }
    }
}

/// A chosen match: (kind, start, end, confidence).
pub(crate) type Hit = (Kind, usize, usize, Confidence);

pub(crate) fn scan(plan: &Plan, text: &str, mut emit: impl FnMut(Hit)) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut lo = 0;
    let mut cands: Vec<Cand> = Vec::new();
    let any_token_kind = Kind::all().iter().any(|&k| k != Kind::Email && plan.on(k));
    let mut w = Window::at(simd::Level::detect(), b, 0);
    let mut key_cache = context::KeyCache::default();
    while let Some(t) = w.next_trigger(b, i) {
        if b[t] == b'@' {
            if plan.on(Kind::Email) {
                if let Some(c) = read_email(b, t, lo) {
                    if let Some(conf) = plan
                        .final_conf(text, &c, &mut key_cache)
                        .filter(|&x| x >= plan.min)
                    {
                        emit((c.kind, c.start, c.end, conf));
                        i = c.end.max(t + 1);
                        lo = c.end;
                        continue;
                    }
                }
            }
            i = t + 1;
            continue;
        }
        // Token bounds: letters and digits around the digit at `t`, at most
        // MAX_TOKEN each side, not before `lo`.
        let before = if t > 0 {
            CLASS[usize::from(b[t - 1])]
        } else {
            0
        };
        // `checked`: the token is a digit run the fast path has already
        // passed through every skip rule below.
        let (s, mut e, checked) = if t == lo || before & ALNUM == 0 {
            let d = w.digit_run8(b, t);
            let e = t + d;
            let after = b.get(e).map_or(0, |&c| CLASS[usize::from(c)]);
            if d < 8 && after & ALNUM == 0 {
                // Fast path: a run of fewer than 8 digits (most numbers in
                // mail: times, counts, amounts, lists, the parts of dates and
                // versions). Same decisions as below for such a token
                // ([`bad_before_token`], then the short-number rule).
                if !any_token_kind || (before & SKIP_BEFORE != 0 && b.get(e) != Some(&b'<')) {
                    i = e;
                    continue;
                }
                if d < 7 {
                    let prefixed = before & PREFIX != 0
                        || (t >= 3
                            && b[t - 1] == b' '
                            && b[t - 2].is_ascii_uppercase()
                            && b[t - 3].is_ascii_uppercase());
                    if !prefixed
                        && (after & CONT == 0 || short_digits_alone(plan, b, t, e, after, lo))
                    {
                        i = e;
                        continue;
                    }
                }
                (t, e, true)
            } else {
                let e = t + w.alnum_run(b, t, MAX_TOKEN);
                // Round 7: after a byte no value may follow ("=3D", "/2USB",
                // ".4d8119") the token is skipped as `skip_token` would
                // (`bad_before_token`, or a glued run), unless an MRZ line
                // may hold it.
                if before & SKIP_BEFORE != 0 && e - t != 44 && b.get(e) != Some(&b'<') {
                    i = if e - t < MAX_TOKEN {
                        e
                    } else {
                        w.alnum_end(b, e)
                    };
                    continue;
                }
                (t, e, false)
            }
        } else {
            let e = t + w.alnum_run(b, t, MAX_TOKEN);
            // Round 7: a lower-case letter just before the digit ("b3",
            // "f118", "utf8", "lang1045") is in the token's letters, so
            // `skip_token` skips it (one or two letters with a lower-case one,
            // or more than two, where an MRZ line cannot hold it either),
            // unless it may be a UK passport (two letters, 9 long). Resume
            // where `skip_token` would: past the glued run.
            if b[t - 1].is_ascii_lowercase()
                && !(t >= 2 && b[t - 2].is_ascii_alphabetic() && e + 2 - t == 9)
            {
                i = if e - t < MAX_TOKEN {
                    e
                } else {
                    w.alnum_end(b, e)
                };
                continue;
            }
            (
                t - w.alnum_run_back(b, t, (t - lo).min(MAX_TOKEN)),
                e,
                false,
            )
        };
        if !checked && skip_token(plan, b, &mut w, (s, t, e, lo), any_token_kind, &mut e) {
            i = e.max(t + 1);
            continue;
        }
        cands.clear();
        collect(plan, b, (s, t, e, lo), &mut cands);
        let mut best: Option<(Cand, Confidence)> = None;
        for c in cands.iter() {
            if !plan.on(c.kind) || c.start < lo || c.end <= c.start || c.end > b.len() {
                continue;
            }
            if !text.is_char_boundary(c.start) || !text.is_char_boundary(c.end) {
                continue;
            }
            let Some(conf) = plan.final_conf(text, c, &mut key_cache) else {
                continue;
            };
            if conf < plan.min {
                continue;
            }
            let better = match &best {
                None => true,
                Some((bc, bconf)) => {
                    (conf, c.end - c.start, std::cmp::Reverse(priority(c.kind)))
                        > (
                            *bconf,
                            bc.end - bc.start,
                            std::cmp::Reverse(priority(bc.kind)),
                        )
                }
            };
            if better {
                best = Some((*c, conf));
            }
        }
        if let Some((c, conf)) = best {
            emit((c.kind, c.start, c.end, conf));
            i = c.end.max(t + 1);
            lo = c.end;
        } else {
            i = e.max(t + 1);
        }
    }
}

/// The skip rules for the token `s..e` (first digit at `t`): true when it
/// holds nothing, with `e` moved to where scanning resumes (the end of a
/// glued run of letters and digits).
#[inline(always)]
fn skip_token(
    plan: &Plan,
    b: &[u8],
    w: &mut Window,
    (s, t, e0, lo): (usize, usize, usize, usize),
    any_token_kind: bool,
    e: &mut usize,
) -> bool {
    if (s > lo && alnum(b[s - 1])) || (e0 < b.len() && alnum(b[e0])) || !any_token_kind {
        *e = w.alnum_end(b, e0);
        return true;
    }
    let e = e0;
    // A short stand-alone number ("10:30", "#4471", "$12") cannot be
    // anything: no reader accepts fewer than 7 digits without a separator
    // continuing the number or a prefix before it. (Round 7: the separator
    // and prefix tests run only for such a number.)
    if s == t && e - s < 7 {
        let cont = e < b.len() && matches!(b[e], b' ' | b'-' | b'.' | b'/' | b')' | b',' | b'<');
        let prefixed = s > 0 && matches!(b[s - 1], b'+' | b'(' | b'<')
            || (s >= 3
                && b[s - 1] == b' '
                && b[s - 2].is_ascii_uppercase()
                && b[s - 3].is_ascii_uppercase());
        if !prefixed && (!cont || short_number_alone(plan, b, s, e, lo)) {
            return true;
        }
    }
    if bad_before_token(b, s, e) {
        return true;
    }
    // Round 7: one or two letters before the first digit with a lower-case
    // one among them ("b3", "f118", "cs16": RTF escapes, CSS, hex) fit no
    // reader: IBANs, NINOs, driver's licences and US passports start with
    // capitals, and an MRZ line cannot hold a lower-case letter (so it
    // cannot end inside this token either). The one exception is a UK
    // passport, two letters of either case and 7 digits.
    if s < t
        && t - s <= 2
        && b[s..t].iter().any(u8::is_ascii_lowercase)
        && !(t - s == 2 && e - s == 9)
    {
        return true;
    }
    // Letters before the first digit: only IBAN (2), passport, license
    // and NINO shapes (1-2), or an MRZ line (next to `<` fill or 44 long).
    s + 2 < t && (e - s != 44 && b.get(e) != Some(&b'<') && (s == 0 || b[s - 1] != b'<'))
}

/// Every candidate starting at `s` needs a clean byte before it; the only
/// ones that start earlier are a phone after `+` and an MRZ line (44 long or
/// next to `<` fill). Month-first dates and spaced NINOs need a space before
/// `s`, which is clean. So a token `s..e` after any other byte that may not
/// precede a value holds nothing.
#[inline(always)]
fn bad_before_token(b: &[u8], s: usize, e: usize) -> bool {
    s > 0
        && CLASS[usize::from(b[s - 1])] & BAD_BEFORE != 0
        && b[s - 1] != b'+'
        && e - s != 44
        && b.get(e) != Some(&b'<')
}

/// Whether no reader can accept the stand-alone token `b[s..e]` of fewer than
/// 7 bytes with no prefix before it (`+`, `(`, `<`, two capitals): a run of
/// digits is only read further when a digit follows its separator, a phone
/// number may continue after it, or (one or two digits) a month name is next
/// to it. This is the union of the gates in [`collect`] for such a token.
#[inline(always)]
fn short_number_alone(plan: &Plan, b: &[u8], s: usize, e: usize, lo: usize) -> bool {
    b[s..e].iter().all(u8::is_ascii_digit) && digits_alone(plan, b, s, e, lo)
}

/// [`short_number_alone`] for a token known to be all digits.
#[inline(always)]
fn digits_alone(plan: &Plan, b: &[u8], s: usize, e: usize, lo: usize) -> bool {
    let d0 = e - s;
    if b.get(e) == Some(&b'<') || b.get(e + 1).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    if plan.on(Kind::Phone) && phone_may_start(b, s, d0, lo) && phone_continues(b, e) {
        return false;
    }
    if d0 <= 2 && plan.on(Kind::DateOfBirth) {
        if month_before(b, s, lo) || month_after(b, e) {
            return false;
        }
    }
    true
}

/// [`digits_alone`] for the fast path: `b[s..e]` is fewer than 7 digits,
/// not after `+`, `(` or `<` (so a phone starts at `s` itself), followed by a
/// byte of class `after` (a [`CONT`] byte).
#[inline(always)]
fn short_digits_alone(plan: &Plan, b: &[u8], s: usize, e: usize, after: u8, lo: usize) -> bool {
    let d0 = e - s;
    if b.get(e) == Some(&b'<') || b.get(e + 1).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    // `phone_may_start` without a prefix, and `phone_continues` needs a
    // phone separator at `e`.
    if after & PHONE_SEP != 0
        && plan.on(Kind::Phone)
        && (matches!(d0, 3 | 5)
            || (d0 == 1 && b[s] == b'1')
            || ((2..=5).contains(&d0) && b[s] == b'0'))
        && phone_continues(b, e)
    {
        return false;
    }
    if d0 <= 2 && plan.on(Kind::DateOfBirth) {
        if month_before(b, s, lo) || month_after(b, e) {
            return false;
        }
    }
    true
}

/// The gate of [`read_dob_month_first`] for the day at `s`: one or two
/// spaces, maybe a dot, and three letters that end a month name, all at or
/// after `lo`.
#[inline(always)]
fn month_before(b: &[u8], s: usize, lo: usize) -> bool {
    if s < lo + 4 || b[s - 1] != b' ' {
        return false;
    }
    let mut p = s - 1;
    if b[p - 1] == b' ' {
        p -= 1;
    }
    if b[p - 1] == b'.' {
        p -= 1;
    }
    p >= lo + 3
        && validate::dob::month_trigram(&validate::dob::MONTH_TAILS, b[p - 3], b[p - 2], b[p - 1])
}

/// The gate of [`read_dob_day_first`] for the day ending at `e`: a space,
/// dash or dot, then three letters that start a month name (or, after a
/// space, a `d` that may start "de").
#[inline(always)]
fn month_after(b: &[u8], e: usize) -> bool {
    let Some(&sep) = b.get(e) else {
        return false;
    };
    let p = e + 1;
    matches!(sep, b' ' | b'-' | b'.')
        && p + 3 <= b.len()
        && (validate::dob::month_trigram(&validate::dob::MONTH_HEADS, b[p], b[p + 1], b[p + 2])
            || (sep == b' ' && b[p] | 0x20 == b'd'))
}

/// A digit follows `b[p]` after up to three phone separator bytes.
fn phone_continues(b: &[u8], p: usize) -> bool {
    let mut r = p;
    while r < b.len() && r - p < 3 && matches!(b[r], b' ' | b'-' | b'.' | b'/' | b'(' | b')') {
        r += 1;
    }
    r > p && r < b.len() && b[r].is_ascii_digit()
}

/// The second group of every grouped form [`read_nine`] reads after a first
/// group of `d0` (3 or 5) digits ending at `e` with separator `nb`: 3-2-4
/// with the same separator again (SSN, ITIN), 3-6 and 5-4 with `-`
/// (partial SSN), 3-3-3 with a space or `-` (SIN). Round 7: IP addresses,
/// versions and SMTP codes ("550-5.1.1") no longer reach the reader.
#[inline(always)]
fn nine_second_group(b: &[u8], e: usize, d0: usize, nb: u8) -> bool {
    let l1 = digit_run8(b, e + 1);
    if d0 == 5 {
        return nb == b'-' && l1 == 4;
    }
    (l1 == 2 && b.get(e + 3) == Some(&nb))
        || (l1 == 6 && nb == b'-')
        || (l1 == 3 && matches!(nb, b' ' | b'-'))
}

/// The first digit group of every form [`read_phone`] accepts: after `+`
/// any; after `(` 2-3 digits or a trunk `0` group; otherwise 3, 5, 10 or 11
/// digits, a leading `1`, or a trunk `0` group of 2-5. Every form also has at
/// least 8 digits in all (checked by the caller).
fn phone_may_start(b: &[u8], s: usize, d0: usize, lo: usize) -> bool {
    let trunk = (2..=5).contains(&d0) && b[s] == b'0';
    if s > lo && b[s - 1] == b'+' {
        return true;
    }
    if s > lo && b[s - 1] == b'(' {
        return d0 == 2 || d0 == 3 || trunk;
    }
    matches!(d0, 3 | 5 | 10 | 11) || (d0 == 1 && b[s] == b'1') || trunk
}

/// Runs only the readers whose shape can fit the token at `s..e` (first digit
/// at `t`): every gate below is a necessary condition of the reader it guards,
/// so skipping never loses a match.
fn collect(
    plan: &Plan,
    b: &[u8],
    (s, t, e, lo): (usize, usize, usize, usize),
    out: &mut Vec<Cand>,
) {
    let lead = t - s;
    let dates = plan.on(Kind::DateOfBirth);
    let passports = plan.on(Kind::UsPassport) || plan.on(Kind::UkPassport);
    let near_fill = (e < b.len() && b[e] == b'<') || (s > 0 && b[s - 1] == b'<');
    if passports && (near_fill || e - s == 44) {
        if let Some(c) = read_mrz(b, s, e, lo) {
            out.push(c);
            return;
        }
    }
    let len = e - s;
    let mut shapes = (4..=14).contains(&len);
    if lead == 0 {
        let d0 = b[s..e].iter().take_while(|c| c.is_ascii_digit()).count();
        let all_digits = d0 == len;
        let nb = b.get(e).copied().unwrap_or(0);
        let sep_digit = b.get(e + 1).is_some_and(u8::is_ascii_digit);
        if all_digits {
            // Digits only: passports are 9 digits, licenses 7-13.
            shapes = (7..=13).contains(&len);
            // A group of 4 continues with 4 (or Amex 6) digits.
            let four_more = b.len() >= e + 5 && b[e + 1..e + 5].iter().all(u8::is_ascii_digit);
            if plan.on(Kind::CreditCard)
                && (d0 >= 12 || (d0 == 4 && matches!(nb, b' ' | b'-') && four_more))
            {
                read_card(b, s, out);
            }
            if (plan.on(Kind::UsSsn)
                || plan.on(Kind::UsItin)
                || plan.on(Kind::AbaRouting)
                || plan.on(Kind::CaSin))
                && (d0 == 9
                    || ((d0 == 3 || d0 == 5)
                        && matches!(nb, b' ' | b'-' | b'.')
                        && sep_digit
                        && nine_second_group(b, e, d0, nb))
                    || (d0 == 4 && nb == b'-' && four_more))
            {
                read_nine(b, s, out);
            }
            if plan.on(Kind::Phone)
                && phone_may_start(b, s, d0, lo)
                && (d0 >= 8 || phone_continues(b, e))
            {
                read_phone(b, s, lo, out);
            }
            if dates {
                let numeric =
                    d0 != 3 && d0 <= 4 && matches!(nb, b'/' | b'-' | b'.') && sep_digit && {
                        // Three groups with the same separator.
                        let mut q = e + 1;
                        while q < b.len() && q - e <= 5 && b[q].is_ascii_digit() {
                            q += 1;
                        }
                        b.get(q) == Some(&nb) && b.get(q + 1).is_some_and(u8::is_ascii_digit)
                    };
                // A month name (maybe abbreviated with a dot) and one or two
                // spaces before the day.
                let month_first = d0 <= 2 && month_before(b, s, lo);
                let day_first = d0 <= 2 && month_after(b, e);
                {
                    if numeric {
                        read_dob_numeric(b, s, out);
                    }
                    if month_first {
                        read_dob_month_first(b, s, e, lo, out);
                    }
                    if day_first {
                        read_dob_day_first(b, s, e, out);
                    }
                }
            }
        } else if len <= 2 && dates {
            read_dob_month_first(b, s, e, lo, out);
            read_dob_day_first(b, s, e, out);
        }
        // "AB 12 34 56 C": two capitals and a space before, more pairs after.
        if plan.on(Kind::UkNino)
            && len == 2
            && all_digits
            && s >= lo + 3
            && b[s - 1] == b' '
            && b[s - 2].is_ascii_uppercase()
            && b[s - 3].is_ascii_uppercase()
            && nb == b' '
            && sep_digit
        {
            read_nino_spaced(b, s, lo, out);
        }
    }
    if lead == 2 && plan.on(Kind::Iban) {
        read_iban(b, s, e, out);
    }
    // A lower-case letter after leading digits fits no token shape.
    let lower_after_digits = lead == 0 && b[s..e].iter().any(u8::is_ascii_lowercase);
    if lead <= 2
        && shapes
        && !lower_after_digits
        && (passports || plan.on(Kind::UsDriverLicense) || plan.on(Kind::UkNino))
    {
        read_token_shapes(b, s, t, e, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next_trigger(b: &[u8], i: usize) -> Option<usize> {
        Window::at(simd::Level::detect(), b, 0).next_trigger(b, i)
    }

    #[test]
    fn trigger_finds_first_digit_or_at() {
        let t = b"hello world, no digits here but one @ and 7";
        let at = t.iter().position(|&c| c == b'@').unwrap();
        assert_eq!(next_trigger(t, 0), Some(at));
        assert_eq!(next_trigger(t, at + 1), Some(t.len() - 1));
        assert_eq!(next_trigger(t, t.len()), None);
        for n in 0..140 {
            let mut v = vec![b'x'; n];
            v.push(b'5');
            v.extend_from_slice(b"abc");
            assert_eq!(next_trigger(&v, 0), Some(n));
        }
        // bytes >= 0x80 and bytes just outside the digit range are not hits
        let odd = "/:?\u{e9}\u{e9}\u{e9}\u{e9}AZaz".as_bytes();
        assert_eq!(next_trigger(odd, 0), None);
    }

    fn scalar_run(b: &[u8], p: usize, max: usize, f: fn(&u8) -> bool) -> usize {
        b[p..].iter().take(max).take_while(|c| f(c)).count()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The window's bit scans equal byte-by-byte searches, for every
        /// trigger the scan loop would stop at and for runs across window
        /// edges.
        #[test]
        fn window_equals_scalar(
            v in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"0123456789@aZ -.\xc3\x80".to_vec()),
                    proptest::prelude::any::<u8>(),
                ],
                0..300,
            ),
            steps in proptest::collection::vec(0usize..90, 1..40),
        ) {
            let b = &v[..];
            let mut w = Window::at(simd::Level::detect(), b, 0);
            let mut i = 0;
            for st in steps {
                let want = b.iter().skip(i).position(|&c| c.is_ascii_digit() || c == b'@').map(|p| p + i);
                let got = w.next_trigger(b, i);
                proptest::prop_assert_eq!(got, want);
                let Some(t) = got else { break };
                proptest::prop_assert_eq!(w.digit_run8(b, t), scalar_run(b, t, 8, u8::is_ascii_digit));
                proptest::prop_assert_eq!(w.digit_run8(b, t), digit_run8(b, t));
                for max in [0, 1, 5, MAX_TOKEN, usize::MAX] {
                    proptest::prop_assert_eq!(
                        w.alnum_run(b, t, max),
                        scalar_run(b, t, max, u8::is_ascii_alphanumeric)
                    );
                    let back = b[..t].iter().rev().take(max).take_while(|c| c.is_ascii_alphanumeric()).count();
                    proptest::prop_assert_eq!(w.alnum_run_back(b, t, max), back);
                }
                let end = t + scalar_run(b, t, usize::MAX, u8::is_ascii_alphanumeric);
                proptest::prop_assert_eq!(w.alnum_end(b, t), end);
                i = t + 1 + st;
            }
        }
    }

    #[test]
    fn alnum_end_crosses_windows() {
        for pre in [0, 1, 30, 63, 64, 65, 100] {
            for len in [0, 1, 63, 64, 65, 127, 128, 129, 200, 1000] {
                for tail in [&b""[..], b" ", b"-x", b"\xc3\xa9"] {
                    let mut v = vec![b' '; pre];
                    v.extend((0..len).map(|j| b"aZ09"[j % 4]));
                    v.extend_from_slice(tail);
                    for start in [0, pre] {
                        let mut w = Window::at(simd::Level::detect(), &v, start);
                        assert_eq!(w.alnum_end(&v, pre), pre + len, "{pre} {len} {tail:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn boundaries() {
        assert!(ok_before(b"x 1", 2));
        assert!(!ok_before(b"x1", 1));
        assert!(!ok_before(b"/1", 1));
        assert!(ok_after(b"1, 2", 1));
        assert!(!ok_after(b"1.5", 1));
        assert!(!ok_after(b"1,50", 1));
        assert!(ok_after(b"1,500", 1));
    }
}
