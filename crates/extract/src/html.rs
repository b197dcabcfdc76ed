//! HTML to plain text in one streaming pass.
//!
//! Markup is dropped, entities are decoded, block-level elements become line
//! breaks, table cells become tabs and inline elements insert nothing, so text
//! split by formatting tags (`dri<b>ver</b>`) reads as one word again. The
//! contents of `<script>`, `<style>`, `<head>`, `<title>` and `<template>`
//! and comments are dropped. Invisible characters used to split words (soft
//! hyphen, zero-width space/joiners, word joiner, BOM) are removed, and
//! non-breaking spaces become spaces.
//!
//! Every search moves forward and no search that failed is repeated, so the
//! running time is linear in the input whatever its shape.

use crate::limits::TextSink;

/// Converts HTML to plain text. See the module documentation for the rules.
pub fn html_to_text(html: &str) -> String {
    html_to_text_limited(html, usize::MAX).0
}

/// As [`html_to_text`], keeping at most `max` bytes of output. Returns the
/// text and whether it was cut.
pub(crate) fn html_to_text_limited(html: &str, max: usize) -> (String, bool) {
    let mut c = Converter::new(html, max);
    c.run();
    let truncated = c.out.truncated;
    let mut text = c.out.text;
    // Drop trailing whitespace the separators may have left.
    let end = text.trim_end().len();
    text.truncate(end);
    (text, truncated)
}

/// What separates the previous text from the next one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Sep {
    None,
    Space,
    Tab,
    Line,
    Paragraph,
}

struct Converter<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    out: TextSink,
    sep: Sep,
    /// Newlines written at the end of the output (0, 1 or 2).
    trailing_newlines: u8,
    at_start: bool,
    pre_depth: u32,
    /// Positions past which a closing tag or quote is known to be absent.
    absent: Absent,
}

#[derive(Default)]
struct Absent {
    close_tag: [Option<usize>; RAW_TEXT.len()],
    dquote: Option<usize>,
    squote: Option<usize>,
    comment_end: Option<usize>,
}

/// Elements whose contents are never shown.
const RAW_TEXT: [&str; 6] = ["script", "style", "head", "title", "template", "xml"];

const BLOCK_LINE: [&str; 34] = [
    "div",
    "br",
    "tr",
    "li",
    "dt",
    "dd",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "aside",
    "main",
    "figure",
    "figcaption",
    "form",
    "fieldset",
    "legend",
    "address",
    "center",
    "caption",
    "thead",
    "tbody",
    "tfoot",
    "option",
    "details",
    "summary",
    "dialog",
    "menu",
    "hgroup",
    "body",
    "html",
    "label",
    "textarea",
];

const BLOCK_PARA: [&str; 13] = [
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "dl",
    "blockquote",
    "hr",
];

impl<'a> Converter<'a> {
    fn new(src: &'a str, max: usize) -> Self {
        Converter {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            out: TextSink::new(max),
            sep: Sep::None,
            trailing_newlines: 0,
            at_start: true,
            pre_depth: 0,
            absent: Absent::default(),
        }
    }

    fn run(&mut self) {
        while self.pos < self.bytes.len() && !self.out.full() {
            let rest = &self.bytes[self.pos..];
            match memchr::memchr2(b'<', b'&', rest) {
                None => {
                    let end = self.bytes.len();
                    self.text_run(self.pos, end);
                    self.pos = end;
                }
                Some(0) => {
                    if rest[0] == b'<' {
                        self.markup();
                    } else {
                        self.entity();
                    }
                }
                Some(i) => {
                    let end = self.pos + i;
                    self.text_run(self.pos, end);
                    self.pos = end;
                }
            }
        }
    }

    fn want(&mut self, sep: Sep) {
        if sep > self.sep {
            self.sep = sep;
        }
    }

    /// Writes pending separators before visible text.
    fn flush_sep(&mut self) {
        let sep = std::mem::replace(&mut self.sep, Sep::None);
        if self.at_start {
            return;
        }
        match sep {
            Sep::None => {}
            Sep::Space => {
                if self.trailing_newlines == 0 {
                    self.out.push(' ');
                }
            }
            Sep::Tab => {
                if self.trailing_newlines == 0 {
                    self.out.push('\t');
                }
            }
            Sep::Line => {
                if self.trailing_newlines == 0 {
                    self.out.push('\n');
                    self.trailing_newlines = 1;
                }
            }
            Sep::Paragraph => {
                while self.trailing_newlines < 2 {
                    self.out.push('\n');
                    self.trailing_newlines += 1;
                }
            }
        }
    }

    /// Emits one visible character.
    fn visible(&mut self, c: char) {
        match c {
            '\u{AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => {}
            '\u{A0}' => self.whitespace(' '),
            c if c.is_whitespace() => self.whitespace(c),
            c if c.is_control() => {}
            c => {
                self.flush_sep();
                self.out.push(c);
                self.at_start = false;
                self.trailing_newlines = 0;
            }
        }
    }

    fn whitespace(&mut self, c: char) {
        if self.pre_depth > 0 {
            match c {
                '\n' => {
                    self.flush_sep();
                    if !self.at_start && self.trailing_newlines < 2 {
                        self.out.push('\n');
                        self.trailing_newlines += 1;
                    }
                }
                '\r' => {}
                _ => {
                    self.flush_sep();
                    if !self.at_start {
                        self.out.push(if c == '\t' { '\t' } else { ' ' });
                    }
                }
            }
        } else {
            self.want(Sep::Space);
        }
    }

    fn text_run(&mut self, start: usize, end: usize) {
        let s = &self.src[start..end];
        // Fast path: copy runs of plain visible ASCII at once.
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if self.out.full() {
                return;
            }
            let c = b[i];
            if c > b' ' && c < 0x7F {
                let mut j = i + 1;
                while j < b.len() && b[j] > b' ' && b[j] < 0x7F {
                    j += 1;
                }
                self.flush_sep();
                self.out.push_str(&s[i..j]);
                self.at_start = false;
                self.trailing_newlines = 0;
                i = j;
            } else {
                let ch = s[i..].chars().next().unwrap_or('\u{FFFD}');
                self.visible(ch);
                i += ch.len_utf8();
            }
        }
    }

    /// At `&`: decodes a character reference or writes the `&` literally.
    fn entity(&mut self) {
        let rest = &self.bytes[self.pos + 1..];
        if let Some((text, used)) = decode_entity(rest) {
            self.pos += 1 + used;
            for c in text.chars() {
                self.visible(c);
            }
        } else {
            self.pos += 1;
            self.visible('&');
        }
    }

    /// At `<`: a tag, comment or declaration; or a literal `<`.
    fn markup(&mut self) {
        let rest = &self.bytes[self.pos..];
        let next = rest.get(1).copied().unwrap_or(0);
        if rest.starts_with(b"<!--") {
            self.skip_comment();
        } else if next == b'!' || next == b'?' {
            // Declarations, processing instructions, CDATA: dropped up to '>'.
            match memchr::memchr(b'>', rest) {
                Some(i) => self.pos += i + 1,
                None => self.pos = self.bytes.len(),
            }
        } else if next.is_ascii_alphabetic()
            || (next == b'/' && rest.get(2).is_some_and(|c| c.is_ascii_alphabetic()))
        {
            self.tag();
        } else {
            self.pos += 1;
            self.visible('<');
        }
    }

    fn skip_comment(&mut self) {
        let from = self.pos + 4;
        if self.absent.comment_end.is_some_and(|p| p <= from) {
            self.pos = self.bytes.len();
            return;
        }
        match memchr::memmem::find(&self.bytes[from..], b"-->") {
            Some(i) => self.pos = from + i + 3,
            None => {
                // An unclosed comment hides the rest, as in a browser.
                self.absent.comment_end = Some(from);
                self.pos = self.bytes.len();
            }
        }
    }

    /// Finds the `>` that ends the tag starting at `self.pos`, honouring
    /// quoted attribute values whose closing quote exists.
    fn tag_end(&mut self) -> Option<usize> {
        let mut i = self.pos + 1;
        let b = self.bytes;
        while i < b.len() {
            let off = memchr::memchr3(b'>', b'"', b'\'', &b[i..])?;
            let j = i + off;
            match b[j] {
                b'>' => return Some(j),
                q => {
                    let known = if q == b'"' {
                        &mut self.absent.dquote
                    } else {
                        &mut self.absent.squote
                    };
                    if known.is_some_and(|p| p <= j + 1) {
                        i = j + 1;
                        continue;
                    }
                    match memchr::memchr(q, &b[j + 1..]) {
                        Some(k) => i = j + 1 + k + 1,
                        None => {
                            *known = Some(j + 1);
                            i = j + 1;
                        }
                    }
                }
            }
        }
        None
    }

    fn tag(&mut self) {
        let start = self.pos;
        let Some(end) = self.tag_end() else {
            // Unterminated tag: the rest is markup, as in a browser.
            self.pos = self.bytes.len();
            return;
        };
        self.pos = end + 1;
        let inner = &self.bytes[start + 1..end];
        let (closing, inner) = match inner.first() {
            Some(b'/') => (true, &inner[1..]),
            _ => (false, inner),
        };
        let name_len = inner
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || *c == b'-' || *c == b':'))
            .unwrap_or(inner.len());
        if name_len == 0 || name_len > 16 {
            return;
        }
        let mut buf = [0u8; 16];
        for (d, s) in buf.iter_mut().zip(&inner[..name_len]) {
            *d = s.to_ascii_lowercase();
        }
        let name = std::str::from_utf8(&buf[..name_len]).unwrap_or("");
        let self_closing = inner.last() == Some(&b'/');

        if !closing
            && !self_closing
            && let Some(idx) = RAW_TEXT.iter().position(|t| *t == name)
        {
            self.skip_raw_text(idx);
            return;
        }
        match name {
            "br" => {
                self.flush_sep();
                if !self.at_start && self.trailing_newlines < 2 {
                    self.out.push('\n');
                    self.trailing_newlines += 1;
                }
            }
            "td" | "th" if !closing => self.want(Sep::Tab),
            "pre" | "listing" | "plaintext" => {
                self.want(Sep::Paragraph);
                if closing {
                    self.pre_depth = self.pre_depth.saturating_sub(1);
                } else if !self_closing {
                    self.pre_depth = self.pre_depth.saturating_add(1).min(64);
                }
            }
            n if BLOCK_PARA.contains(&n) => self.want(Sep::Paragraph),
            n if BLOCK_LINE.contains(&n) => self.want(Sep::Line),
            _ => {}
        }
    }

    /// After the opening tag of a raw-text element: skips to its closing tag.
    /// If there is none, the contents are treated as ordinary markup.
    fn skip_raw_text(&mut self, idx: usize) {
        let name = RAW_TEXT[idx].as_bytes();
        let from = self.pos;
        if self.absent.close_tag[idx].is_some_and(|p| p <= from) {
            return;
        }
        let mut i = from;
        while let Some(off) = memchr::memmem::find(&self.bytes[i..], b"</") {
            let at = i + off + 2;
            let cand = &self.bytes[at..];
            if cand.len() >= name.len()
                && cand[..name.len()].eq_ignore_ascii_case(name)
                && cand
                    .get(name.len())
                    .is_none_or(|c| !c.is_ascii_alphanumeric())
            {
                self.pos = match memchr::memchr(b'>', cand) {
                    Some(k) => at + k + 1,
                    None => self.bytes.len(),
                };
                self.want(Sep::Space);
                return;
            }
            i = at;
        }
        self.absent.close_tag[idx] = Some(from);
    }
}

/// Decodes the character reference after an `&`. Returns the text and the
/// number of bytes consumed after the `&`.
fn decode_entity(rest: &[u8]) -> Option<(String, usize)> {
    if rest.first() == Some(&b'#') {
        let (hex, digits_at) = match rest.get(1) {
            Some(b'x' | b'X') => (true, 2),
            _ => (false, 1),
        };
        let digits = &rest[digits_at..];
        let n = digits
            .iter()
            .take(16)
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if n == 0 {
            return None;
        }
        let s = std::str::from_utf8(&digits[..n]).ok()?;
        let value = u32::from_str_radix(s, if hex { 16 } else { 10 }).unwrap_or(u32::MAX);
        let mut used = digits_at + n;
        if rest.get(used) == Some(&b';') {
            used += 1;
        }
        return Some((numeric_char(value).to_string(), used));
    }
    let n = rest
        .iter()
        .take(32)
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if n == 0 {
        return None;
    }
    let name = std::str::from_utf8(&rest[..n]).ok()?;
    let has_semicolon = rest.get(n) == Some(&b';');
    if has_semicolon {
        let c = named_entity(name)?;
        return Some((c.to_string(), n + 1));
    }
    // Legacy references without ';' (&amp, &nbsp, &copy ...): longest known prefix.
    for len in (2..=n.min(8)).rev() {
        if let Some(c) = named_entity(&name[..len])
            && LEGACY_NO_SEMICOLON.contains(&&name[..len])
        {
            return Some((c.to_string(), len));
        }
    }
    None
}

const LEGACY_NO_SEMICOLON: [&str; 12] = [
    "amp", "AMP", "lt", "LT", "gt", "GT", "quot", "QUOT", "nbsp", "copy", "reg", "shy",
];

fn numeric_char(v: u32) -> char {
    // Windows-1252 code points that HTML maps for 0x80..=0x9F.
    const C1: [char; 32] = [
        '\u{20AC}', '\u{81}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{8D}',
        '\u{017D}', '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}',
        '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}',
        '\u{9D}', '\u{017E}', '\u{0178}',
    ];
    match v {
        0 => '\u{FFFD}',
        0x80..=0x9F => C1[(v - 0x80) as usize],
        _ => char::from_u32(v).unwrap_or('\u{FFFD}'),
    }
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" | "NonBreakingSpace" => '\u{A0}',
        "ensp" | "emsp" | "thinsp" | "hairsp" => ' ',
        "shy" => '\u{AD}',
        "zwsp" | "ZeroWidthSpace" => '\u{200B}',
        "zwnj" => '\u{200C}',
        "zwj" => '\u{200D}',
        "NoBreak" => '\u{2060}',
        "Tab" => '\t',
        "NewLine" => '\n',
        "aacute" => 'á',
        "Aacute" => 'Á',
        "eacute" => 'é',
        "Eacute" => 'É',
        "iacute" => 'í',
        "Iacute" => 'Í',
        "oacute" => 'ó',
        "Oacute" => 'Ó',
        "uacute" => 'ú',
        "Uacute" => 'Ú',
        "yacute" => 'ý',
        "Yacute" => 'Ý',
        "ntilde" => 'ñ',
        "Ntilde" => 'Ñ',
        "atilde" => 'ã',
        "Atilde" => 'Ã',
        "otilde" => 'õ',
        "Otilde" => 'Õ',
        "uuml" => 'ü',
        "Uuml" => 'Ü',
        "auml" => 'ä',
        "Auml" => 'Ä',
        "euml" => 'ë',
        "Euml" => 'Ë',
        "iuml" => 'ï',
        "Iuml" => 'Ï',
        "ouml" => 'ö',
        "Ouml" => 'Ö',
        "yuml" => 'ÿ',
        "agrave" => 'à',
        "Agrave" => 'À',
        "egrave" => 'è',
        "Egrave" => 'È',
        "igrave" => 'ì',
        "Igrave" => 'Ì',
        "ograve" => 'ò',
        "Ograve" => 'Ò',
        "ugrave" => 'ù',
        "Ugrave" => 'Ù',
        "acirc" => 'â',
        "Acirc" => 'Â',
        "ecirc" => 'ê',
        "Ecirc" => 'Ê',
        "icirc" => 'î',
        "Icirc" => 'Î',
        "ocirc" => 'ô',
        "Ocirc" => 'Ô',
        "ucirc" => 'û',
        "Ucirc" => 'Û',
        "ccedil" => 'ç',
        "Ccedil" => 'Ç',
        "aring" => 'å',
        "Aring" => 'Å',
        "aelig" => 'æ',
        "AElig" => 'Æ',
        "oslash" => 'ø',
        "Oslash" => 'Ø',
        "szlig" => 'ß',
        "eth" => 'ð',
        "ETH" => 'Ð',
        "thorn" => 'þ',
        "THORN" => 'Þ',
        "iexcl" => '¡',
        "iquest" => '¿',
        "ordf" => 'ª',
        "ordm" => 'º',
        "deg" => '°',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "sect" => '§',
        "para" => '¶',
        "middot" => '·',
        "bull" => '•',
        "hellip" => '…',
        "ndash" => '–',
        "mdash" => '—',
        "lsquo" => '\u{2018}',
        "rsquo" => '\u{2019}',
        "sbquo" => '\u{201A}',
        "ldquo" => '\u{201C}',
        "rdquo" => '\u{201D}',
        "bdquo" => '\u{201E}',
        "laquo" => '«',
        "raquo" => '»',
        "lsaquo" => '‹',
        "rsaquo" => '›',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "curren" => '¤',
        "plusmn" => '±',
        "times" => '×',
        "divide" => '÷',
        "micro" => 'µ',
        "frac12" => '½',
        "frac14" => '¼',
        "frac34" => '¾',
        "sup1" => '¹',
        "sup2" => '²',
        "sup3" => '³',
        "acute" => '´',
        "uml" => '¨',
        "cedil" => '¸',
        "macr" => '¯',
        "not" => '¬',
        "brvbar" => '¦',
        "dagger" => '†',
        "Dagger" => '‡',
        "permil" => '‰',
        "prime" => '′',
        "Prime" => '″',
        "larr" => '←',
        "rarr" => '→',
        "uarr" => '↑',
        "darr" => '↓',
        "check" | "checkmark" => '✓',
        "minus" => '−',
        "num" => '#',
        "commat" => '@',
        "period" => '.',
        "comma" => ',',
        "colon" => ':',
        "semi" => ';',
        "excl" => '!',
        "quest" => '?',
        "lpar" => '(',
        "rpar" => ')',
        "sol" => '/',
        "bsol" => '\\',
        "hyphen" | "dash" => '-',
        "lowbar" => '_',
        "plus" => '+',
        "equals" => '=',
        "dollar" => '$',
        "percnt" => '%',
        "ast" => '*',
        "verbar" | "vert" => '|',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_tags_insert_nothing() {
        assert_eq!(
            html_to_text("dri<b>ver</b>&#39;s lic<span style=\"x\">ense</span>"),
            "driver's license"
        );
        assert_eq!(
            html_to_text("<p>send <a href='x'>your</a> <i>SSN</i></p>"),
            "send your SSN"
        );
        assert_eq!(html_to_text("pass<font color=red>port</font>"), "passport");
    }

    #[test]
    fn entities() {
        assert_eq!(
            html_to_text("a&nbsp;b &amp; c &lt;d&gt; &quot;e&quot; &#x27;f&#39; &apos;"),
            "a b & c <d> \"e\" 'f' '"
        );
        assert_eq!(
            html_to_text(
                "env&iacute;e su licencia de conducir y n&uacute;mero de identificaci&oacute;n, se&ntilde;or"
            ),
            "envíe su licencia de conducir y número de identificación, señor"
        );
        assert_eq!(
            html_to_text("&Aacute;&Eacute;&Ntilde;&uuml;&iquest;"),
            "ÁÉÑü¿"
        );
        assert_eq!(html_to_text("&#233;&#xE9;&#XE9;"), "ééé");
        assert_eq!(
            html_to_text("&#0;&#xD800;&#99999999999;"),
            "\u{FFFD}\u{FFFD}\u{FFFD}"
        );
        assert_eq!(html_to_text("&#150;&#8217;"), "–\u{2019}");
        assert_eq!(html_to_text("a &unknown; b & c &"), "a &unknown; b & c &");
        assert_eq!(html_to_text("AT&amp T &copy 2024"), "AT& T © 2024");
        assert_eq!(html_to_text("x &ampy"), "x &y");
    }

    #[test]
    fn invisible_splitters_removed() {
        assert_eq!(html_to_text("li&shy;cen\u{200B}se"), "license");
        assert_eq!(html_to_text("pass&zwj;port&#8203;"), "passport");
    }

    #[test]
    fn dropped_elements() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head>\
                    <body><script>var a = '<p>no</p>';</script><!-- hidden -->Hi<SCRIPT type=x>x</SCRIPT> there</body></html>";
        assert_eq!(html_to_text(html), "Hi there");
        assert_eq!(html_to_text("a<!-- unclosed comment b"), "a");
        assert_eq!(html_to_text("a<!DOCTYPE html>b<?xml x?>c"), "abc");
    }

    #[test]
    fn blocks_and_cells() {
        assert_eq!(html_to_text("<p>one</p><p>two</p>"), "one\n\ntwo");
        assert_eq!(html_to_text("a<br>b<br/>c"), "a\nb\nc");
        assert_eq!(html_to_text("<div>a</div><div>b</div>"), "a\nb");
        assert_eq!(
            html_to_text(
                "<table><tr><td>Name</td><td>SSN</td></tr><tr><th>Ann</th><td>123</td></tr></table>"
            ),
            "Name\tSSN\nAnn\t123"
        );
        assert_eq!(html_to_text("<ul><li>x</li><li>y</li></ul>"), "x\ny");
        assert_eq!(html_to_text("<h1>Title</h1>text"), "Title\n\ntext");
    }

    #[test]
    fn whitespace_collapses() {
        assert_eq!(html_to_text("  a \n\t b   c  "), "a b c");
        assert_eq!(html_to_text("<p>\n  a\n</p>\n\n<p>  b</p>"), "a\n\nb");
        assert_eq!(html_to_text("a<br><br><br><br>b"), "a\n\nb");
        assert_eq!(html_to_text("<pre>x  y\n z</pre>"), "x  y\n z");
    }

    #[test]
    fn garbage_and_unclosed() {
        assert_eq!(html_to_text("a < b > c"), "a < b > c");
        assert_eq!(html_to_text("1<2 and 3>2"), "1<2 and 3>2");
        assert_eq!(html_to_text("text <b"), "text");
        assert_eq!(html_to_text("x<a title=\"a>b\">y</a>"), "xy");
        assert_eq!(html_to_text("x<a title=\"unclosed>y"), "xy");
        assert_eq!(
            html_to_text("<script>never closed, text stays"),
            "never closed, text stays"
        );
        assert_eq!(html_to_text("</>"), "</>");
        assert_eq!(html_to_text(""), "");
        assert_eq!(html_to_text("<<<<>>>>"), "<<<<>>>>");
    }

    #[test]
    fn limited_output() {
        let (t, cut) = html_to_text_limited("<p>hello world</p>", 5);
        assert_eq!(t, "hello");
        assert!(cut);
        let (t, cut) = html_to_text_limited("<p>hi</p>", 5);
        assert_eq!(t, "hi");
        assert!(!cut);
    }

    #[test]
    fn adversarial_shapes_are_linear() {
        for unit in [
            "<head>",
            "<script>",
            "<a \"",
            "<a '",
            "<!--",
            "&#",
            "&amp",
            "<!",
            "</",
            "<a x='>",
            "<style>a</scrip",
        ] {
            let s = unit.repeat(200_000);
            let t = std::time::Instant::now();
            let _ = html_to_text(&s);
            assert!(
                t.elapsed() < std::time::Duration::from_secs(5),
                "{unit:?} took {:?}",
                t.elapsed()
            );
        }
    }
}
