//! PDF text through `lopdf`.
//!
//! Before the document is parsed, a pre-scan inflates every Flate stream that
//! is not an image, counting the bytes it produces against the attachment's
//! expansion budget (images and embedded files are never decompressed for
//! text, so they do not count). A PDF that would expand past the budget is
//! reported as [`ProblemKind::LimitExceeded`] without being parsed. `lopdf`
//! itself also bounds each stream it decompresses.
//!
//! Text is read from each page's content stream: `Tj`, `TJ`, `'` and `"`
//! show text, decoded through the font's encoding (`ToUnicode` maps
//! included); text moves (`Td`, `TD`, `T*`, `Tm`) and text-object ends become
//! line breaks, wide `TJ` gaps become spaces. Form XObjects are not followed.
//! Content streams are read one token at a time by a small tokenizer of our
//! own ([`Lexer`]), one decompressed stream at a time, so a page with a huge
//! number of operations (a long statement) costs no more memory than its
//! decompressed content: operations are never collected.
//!
//! A document whose `/Encrypt` cannot be opened with the empty password is
//! reported as [`ProblemKind::Encrypted`]; one that opens (owner-password only)
//! is read normally. A PDF without any text (a scan) is reported as
//! [`ProblemKind::Unscannable`], since its content was not seen.

use std::borrow::Cow;
use std::collections::BTreeMap;

use lopdf::{DecompressError, Document, Encoding, LoadOptions, Object};

use crate::limits::{MAX_PDF_PAGES, TextSink};
use crate::text::windows_1252;
use crate::{Ctx, FileKind, ProblemKind};

pub(crate) fn extract(ctx: &mut Ctx<'_>, bytes: &[u8], path: &str) {
    if bytes.len() > ctx.limits.max_pdf_bytes {
        ctx.problem(
            path,
            ProblemKind::LimitExceeded,
            format!(
                "The PDF is larger than {} bytes and was not scanned.",
                ctx.limits.max_pdf_bytes
            ),
        );
        return;
    }
    let raw_encrypt = memchr::memmem::find(bytes, b"/Encrypt").is_some();
    let budget = ctx.budget.expand_left(ctx.limits);
    let expanded = match prescan(bytes, budget) {
        Some(n) => n,
        None => {
            ctx.budget.expanded = ctx.limits.max_expanded_bytes;
            ctx.problem(
                path,
                ProblemKind::LimitExceeded,
                format!(
                    "The PDF's streams expand to more than {} bytes (a decompression bomb?); it was not scanned.",
                    ctx.limits.max_expanded_bytes
                ),
            );
            return;
        }
    };
    ctx.budget.expanded = ctx.budget.expanded.saturating_add(expanded);
    let per_stream = usize::try_from(budget.max(1)).unwrap_or(usize::MAX);
    let options = LoadOptions {
        max_decompressed_size: Some(per_stream),
        ..LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(d) => d,
        Err(e) => {
            if raw_encrypt {
                encrypted(ctx, path);
            } else {
                ctx.problem(
                    path,
                    ProblemKind::Unscannable,
                    format!("The PDF is corrupt ({e}) and could not be scanned."),
                );
            }
            return;
        }
    };
    if doc.is_encrypted() && !doc.was_encrypted() {
        encrypted(ctx, path);
        return;
    }
    let pages = doc.get_pages();
    if pages.len() > MAX_PDF_PAGES {
        ctx.problem(
            path,
            ProblemKind::LimitExceeded,
            format!("Only the first {MAX_PDF_PAGES} pages of the PDF were scanned."),
        );
    }
    let mut sink = TextSink::new(ctx.text_room());
    let mut failed_pages = 0usize;
    let mut first_error = String::new();
    let mut content_left = budget;
    for (_, page_id) in pages.iter().take(MAX_PDF_PAGES) {
        if sink.full() {
            break;
        }
        let limit = usize::try_from(content_left.max(1)).unwrap_or(usize::MAX);
        match page_text(&doc, *page_id, limit, &mut sink) {
            Ok(used) => content_left = content_left.saturating_sub(used as u64),
            Err(e) => {
                failed_pages += 1;
                if first_error.is_empty() {
                    first_error = e;
                }
            }
        }
        sink.newline();
    }
    if failed_pages > 0 {
        ctx.problem(
            path,
            ProblemKind::Unscannable,
            format!(
                "{failed_pages} of {} PDF pages could not be read ({first_error}).",
                pages.len().min(MAX_PDF_PAGES)
            ),
        );
    }
    let truncated = sink.truncated;
    let mut text = sink.text;
    text.truncate(text.trim_end().len());
    text.shrink_to_fit();
    if text.trim().is_empty() && failed_pages == 0 && !pages.is_empty() {
        ctx.problem(
            path,
            ProblemKind::Unscannable,
            "The PDF has no text layer (a scan or images only); its content was not scanned.",
        );
    }
    ctx.emit(path, FileKind::Pdf, text, truncated);
}

fn encrypted(ctx: &mut Ctx<'_>, path: &str) {
    ctx.problem(
        path,
        ProblemKind::Encrypted,
        "The PDF is password-protected and could not be scanned.",
    );
}

/// Text of one page. Returns the decompressed content size used.
///
/// The page's content streams are decoded one at a time and read with
/// [`Lexer`], which yields one token at a time and keeps only borrowed slices
/// of the stream: memory stays at one decompressed stream plus a bounded
/// operand stack, whatever the number of operations on the page.
fn page_text(
    doc: &Document,
    page_id: lopdf::ObjectId,
    limit: usize,
    sink: &mut TextSink,
) -> Result<usize, String> {
    let fonts = doc.get_page_fonts(page_id).unwrap_or_default();
    let encodings: BTreeMap<Vec<u8>, Encoding<'_>> = fonts
        .into_iter()
        .filter_map(|(name, font)| {
            font.get_font_encoding_with_limit(doc, limit)
                .ok()
                .map(|e| (name, e))
        })
        .collect();
    let exceeded =
        || lopdf::Error::from(DecompressError::MemoryLimitExceeded { limit }).to_string();
    let mut reader = PageReader::new(&encodings);
    let mut used = 0usize;
    // Operands left at the end of one stream, for the operator that starts
    // the next (streams are split between tokens, not between operations).
    let mut carry: Vec<u8> = Vec::new();
    for id in doc.get_page_contents(page_id) {
        if sink.full() {
            break;
        }
        let Ok(stream) = doc.get_object(id).and_then(Object::as_stream) else {
            continue;
        };
        let remaining = limit.saturating_sub(used);
        let data: Cow<'_, [u8]> = if stream.filters().is_err() {
            // Not compressed: read the stream where it is.
            if stream.content.len() > remaining {
                return Err(exceeded());
            }
            Cow::Borrowed(&stream.content)
        } else {
            match stream.decompressed_content_with_limit(remaining) {
                Ok(d) => Cow::Owned(d),
                Err(lopdf::Error::Decompress(DecompressError::MemoryLimitExceeded { .. })) => {
                    return Err(exceeded());
                }
                Err(_) if stream.content.len() <= remaining => Cow::Borrowed(&stream.content),
                Err(_) => return Err(exceeded()),
            }
        };
        // Counted as if the streams were joined with a newline each.
        used = used.saturating_add(data.len() + 1);
        let previous = std::mem::take(&mut carry);
        let parts: [&[u8]; 2] = [&previous, &data];
        if let Some((part, at)) = reader.run(&parts, sink) {
            let tail_len: usize = parts[part].len() - at
                + parts[part + 1..].iter().map(|p| p.len() + 1).sum::<usize>();
            if tail_len <= MAX_CARRY {
                carry.extend_from_slice(&parts[part][at..]);
                for p in &parts[part + 1..] {
                    carry.push(b'\n');
                    carry.extend_from_slice(p);
                }
            }
        }
    }
    Ok(used)
}

/// Operands kept for one operator; older ones are dropped first (no text
/// operator takes more than three).
const MAX_OPERANDS: usize = 16;
/// Arrays and dictionaries nested deeper than this are read as opaque operands.
const MAX_NESTING: usize = 32;
/// A string is decoded and shown this many bytes at a time (even, so two-byte
/// character codes are never split).
const STRING_CHUNK: usize = 64 * 1024;
/// Operands waiting for an operator at the end of a content stream are
/// carried to the next stream up to this size.
const MAX_CARRY: usize = 64 * 1024;
/// Tokens read in an inline image's dictionary before `ID`.
const MAX_INLINE_IMAGE_KEYS: usize = 256;
/// Longest font resource name looked up (the PDF limit is 127 bytes).
const MAX_NAME: usize = 256;

/// The text state of one page while its content is read.
struct PageReader<'e, 'd> {
    encodings: &'e BTreeMap<Vec<u8>, Encoding<'d>>,
    font: Option<&'e Encoding<'d>>,
    /// Decoded bytes of the string being shown (at most [`STRING_CHUNK`]).
    scratch: Vec<u8>,
}

impl<'e, 'd> PageReader<'e, 'd> {
    fn new(encodings: &'e BTreeMap<Vec<u8>, Encoding<'d>>) -> Self {
        PageReader {
            encodings,
            font: None,
            scratch: Vec::new(),
        }
    }

    /// Runs the operations of `parts`, read as one content stream. Returns
    /// where the operands still waiting for an operator start (part, offset).
    fn run(&mut self, parts: &[&[u8]], sink: &mut TextSink) -> Option<(usize, usize)> {
        let mut stack: Vec<Operand<'_>> = Vec::with_capacity(MAX_OPERANDS);
        // Where each operand on the stack starts: (part, offset).
        let mut starts: Vec<(usize, usize)> = Vec::with_capacity(MAX_OPERANDS);
        let mut cut = false;
        for (index, part) in parts.iter().enumerate() {
            let mut lexer = Lexer::new(part);
            while !sink.full() {
                let Some((at, token)) = lexer.token(true) else {
                    break;
                };
                match token {
                    Token::Operand(o) => {
                        if stack.len() == MAX_OPERANDS {
                            stack.remove(0);
                            starts.remove(0);
                        }
                        stack.push(o);
                        starts.push((index, at));
                    }
                    Token::Operator(op) => {
                        self.operator(op, &stack, sink);
                        stack.clear();
                        starts.clear();
                    }
                }
            }
            cut = lexer.cut;
        }
        match starts.first() {
            Some(&start) if !cut && !sink.full() => Some(start),
            _ => None,
        }
    }

    fn operator(&mut self, op: &[u8], operands: &[Operand<'_>], sink: &mut TextSink) {
        match op {
            b"Tf" => {
                self.font = match operands.first() {
                    Some(Operand::Name(raw)) => {
                        let name = decode_name(raw);
                        self.encodings.get(name.as_ref())
                    }
                    _ => None,
                };
            }
            b"Tj" => self.show(operands, sink),
            b"'" => {
                sink.newline();
                self.show(operands, sink);
            }
            b"\"" => {
                sink.newline();
                self.show(operands.get(2..).unwrap_or(&[]), sink);
            }
            b"TJ" => {
                for o in operands {
                    if let Operand::Array(items) = o {
                        let mut lexer = Lexer::new(items);
                        while let Some((_, token)) = lexer.token(false) {
                            if sink.full() {
                                break;
                            }
                            match token {
                                Token::Operand(s @ (Operand::Literal(_) | Operand::Hex(_))) => {
                                    self.show_string(s, sink);
                                }
                                Token::Operand(Operand::Number(n)) if n < -200.0 => space(sink),
                                _ => {}
                            }
                        }
                    }
                }
            }
            b"Td" | b"TD" => {
                let dy = match operands.get(1) {
                    Some(Operand::Number(n)) => *n,
                    _ => 0.0,
                };
                if dy.abs() > 0.01 {
                    sink.newline();
                } else {
                    space(sink);
                }
            }
            b"T*" | b"Tm" | b"ET" => sink.newline(),
            _ => {}
        }
    }

    fn show(&mut self, operands: &[Operand<'_>], sink: &mut TextSink) {
        for &o in operands {
            self.show_string(o, sink);
        }
    }

    /// Decodes one string operand and writes it through the current font,
    /// [`STRING_CHUNK`] bytes at a time.
    fn show_string(&mut self, o: Operand<'_>, sink: &mut TextSink) {
        let font = self.font;
        let scratch = &mut self.scratch;
        scratch.clear();
        let mut out = |b: u8| {
            scratch.push(b);
            if scratch.len() >= STRING_CHUNK {
                write_text(font, scratch, sink);
                scratch.clear();
            }
        };
        match o {
            Operand::Literal(raw) => decode_literal(raw, &mut out),
            Operand::Hex(raw) => decode_hex(raw, &mut out),
            _ => return,
        }
        if !scratch.is_empty() {
            write_text(font, scratch, sink);
            scratch.clear();
        }
    }
}

fn space(sink: &mut TextSink) {
    if !matches!(sink.last_char(), None | Some(' ' | '\n')) {
        sink.push(' ');
    }
}

/// Writes the bytes of a shown string, decoded through the font's encoding
/// (or as Windows-1252 without one), without control characters.
fn write_text(font: Option<&Encoding<'_>>, bytes: &[u8], sink: &mut TextSink) {
    if sink.full() {
        return;
    }
    let decoded = font.and_then(|enc| Document::decode_text(enc, bytes).ok());
    match decoded {
        Some(s) => {
            for c in s.chars() {
                if !c.is_control() || c == '\t' {
                    sink.push(c);
                }
            }
        }
        None => {
            for &b in bytes {
                let c = windows_1252(b);
                if !c.is_control() {
                    sink.push(c);
                }
            }
        }
    }
}

/// Decodes the body of a literal string (between its parentheses): escapes,
/// octal codes, line continuations, and end-of-line markers read as `\n`.
fn decode_literal(raw: &[u8], out: &mut impl FnMut(u8)) {
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        i += 1;
        match c {
            b'\\' => {
                let Some(&e) = raw.get(i) else {
                    break;
                };
                i += 1;
                match e {
                    b'n' => out(b'\n'),
                    b'r' => out(b'\r'),
                    b't' => out(b'\t'),
                    b'b' => out(0x08),
                    b'f' => out(0x0C),
                    b'0'..=b'7' => {
                        let mut v = u16::from(e - b'0');
                        for _ in 0..2 {
                            match raw.get(i) {
                                Some(&d @ b'0'..=b'7') => {
                                    v = v * 8 + u16::from(d - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        // High-order overflow is ignored.
                        out((v & 0xFF) as u8);
                    }
                    b'\r' => {
                        if raw.get(i) == Some(&b'\n') {
                            i += 1;
                        }
                    }
                    b'\n' => {}
                    other => out(other),
                }
            }
            b'\r' => {
                if raw.get(i) == Some(&b'\n') {
                    i += 1;
                }
                out(b'\n');
            }
            other => out(other),
        }
    }
}

/// Decodes the body of a hex string: white space (and any other non-digit) is
/// skipped, and a final odd digit stands for its high nibble.
fn decode_hex(raw: &[u8], out: &mut impl FnMut(u8)) {
    let mut high: Option<u8> = None;
    for &c in raw {
        let Some(v) = hex_value(c) else {
            continue;
        };
        match high.take() {
            Some(h) => out(h << 4 | v),
            None => high = Some(v),
        }
    }
    if let Some(h) = high {
        out(h << 4);
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A name with its `#xx` escapes decoded (a `#` without two hex digits is
/// kept as is). Names longer than [`MAX_NAME`] are cut (they match no font).
fn decode_name(raw: &[u8]) -> Cow<'_, [u8]> {
    let raw = &raw[..raw.len().min(MAX_NAME)];
    if !raw.contains(&b'#') {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        let escaped = match (c, raw.get(i + 1..i + 3)) {
            (b'#', Some(&[h, l])) => hex_value(h).zip(hex_value(l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// One operand of a content-stream operator. Strings, names and arrays are
/// slices of the stream, decoded only when an operator uses them.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Operand<'a> {
    Number(f64),
    /// The bytes between a literal string's parentheses, escapes undecoded.
    Literal(&'a [u8]),
    /// The bytes between a hex string's angle brackets.
    Hex(&'a [u8]),
    /// The bytes of a name after its slash, `#xx` escapes undecoded.
    Name(&'a [u8]),
    /// The bytes between an array's brackets, read again when it is shown.
    Array(&'a [u8]),
    Bool(bool),
    /// `null`, a dictionary, an array nested too deep, a malformed number.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Token<'a> {
    Operand(Operand<'a>),
    Operator(&'a [u8]),
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0 | 0x0C)
}

fn is_delimiter(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(c: u8) -> bool {
    !is_whitespace(c) && !is_delimiter(c)
}

/// A content-stream tokenizer over decompressed bytes. It allocates nothing:
/// every token is a slice of the input, and nesting (parentheses in strings,
/// arrays, dictionaries) is tracked with counters, not recursion. Malformed
/// input never fails: stray delimiters are skipped and an unterminated token
/// runs to the end of the input (and sets [`Lexer::cut`]).
struct Lexer<'a> {
    buf: &'a [u8],
    pos: usize,
    /// A token ran into the end of the input.
    cut: bool,
}

impl<'a> Lexer<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Lexer {
            buf,
            pos: 0,
            cut: false,
        }
    }

    /// The next token and the offset where it starts. With `images`, the
    /// operator `BI` also skips the inline image it starts, through `EI`.
    fn token(&mut self, images: bool) -> Option<(usize, Token<'a>)> {
        loop {
            self.skip_space();
            let start = self.pos;
            let c = *self.buf.get(start)?;
            self.pos += 1;
            let token = match c {
                b'(' => Token::Operand(Operand::Literal(self.literal())),
                b'<' if self.buf.get(self.pos) == Some(&b'<') => {
                    self.pos += 1;
                    self.container();
                    Token::Operand(Operand::Other)
                }
                b'<' => Token::Operand(Operand::Hex(self.hex())),
                b'[' => {
                    let (body, deep) = self.container();
                    Token::Operand(if deep {
                        Operand::Other
                    } else {
                        Operand::Array(body)
                    })
                }
                b'/' => Token::Operand(Operand::Name(self.regular())),
                // A stray closing delimiter (or a PostScript brace): skipped.
                b')' | b'>' | b']' | b'{' | b'}' => continue,
                _ => {
                    self.pos = start;
                    let word = self.regular();
                    match word {
                        b"true" => Token::Operand(Operand::Bool(true)),
                        b"false" => Token::Operand(Operand::Bool(false)),
                        b"null" => Token::Operand(Operand::Other),
                        [b'0'..=b'9' | b'+' | b'-' | b'.', ..] => {
                            let (value, len) = parse_number(word);
                            if len > 0 {
                                // "12Tf": the number ends where its digits do.
                                self.pos = start + len;
                            }
                            Token::Operand(value.map_or(Operand::Other, Operand::Number))
                        }
                        b"BI" if images => {
                            self.skip_inline_image();
                            Token::Operator(word)
                        }
                        _ => Token::Operator(word),
                    }
                }
            };
            return Some((start, token));
        }
    }

    /// Skips white space and comments.
    fn skip_space(&mut self) {
        while let Some(&c) = self.buf.get(self.pos) {
            if is_whitespace(c) {
                self.pos += 1;
            } else if c == b'%' {
                self.pos = memchr::memchr2(b'\r', b'\n', &self.buf[self.pos..])
                    .map_or(self.buf.len(), |i| self.pos + i);
            } else {
                break;
            }
        }
    }

    /// A run of regular characters from the current position.
    fn regular(&mut self) -> &'a [u8] {
        let start = self.pos;
        let len = self.buf[start..]
            .iter()
            .position(|&c| !is_regular(c))
            .unwrap_or(self.buf.len() - start);
        self.pos = start + len;
        &self.buf[start..self.pos]
    }

    /// The body of a literal string whose `(` was just read; moves past `)`.
    fn literal(&mut self) -> &'a [u8] {
        let start = self.pos;
        let mut depth = 1usize;
        while let Some(i) = memchr::memchr3(b'(', b')', b'\\', &self.buf[self.pos..]) {
            let at = self.pos + i;
            self.pos = at + 1;
            match self.buf[at] {
                b'\\' => self.pos = (at + 2).min(self.buf.len()),
                b'(' => depth += 1,
                _ => {
                    depth -= 1;
                    if depth == 0 {
                        return &self.buf[start..at];
                    }
                }
            }
        }
        self.pos = self.buf.len();
        self.cut = true;
        &self.buf[start..]
    }

    /// The body of a hex string whose `<` was just read; moves past `>`.
    fn hex(&mut self) -> &'a [u8] {
        let start = self.pos;
        match memchr::memchr(b'>', &self.buf[start..]) {
            Some(i) => {
                self.pos = start + i + 1;
                &self.buf[start..start + i]
            }
            None => {
                self.pos = self.buf.len();
                self.cut = true;
                &self.buf[start..]
            }
        }
    }

    /// The body of an array or dictionary whose opening delimiter was just
    /// read; moves past the matching close. Also says whether it nests deeper
    /// than [`MAX_NESTING`].
    fn container(&mut self) -> (&'a [u8], bool) {
        let start = self.pos;
        let mut depth = 1usize;
        let mut deep = false;
        while let Some(&c) = self.buf.get(self.pos) {
            let end = self.pos;
            self.pos += 1;
            match c {
                b'(' => {
                    self.literal();
                }
                b'<' if self.buf.get(self.pos) == Some(&b'<') => {
                    self.pos += 1;
                    depth += 1;
                }
                b'<' => {
                    self.hex();
                }
                b'[' => depth += 1,
                b'>' if self.buf.get(self.pos) == Some(&b'>') => {
                    self.pos += 1;
                    depth -= 1;
                }
                b']' => depth -= 1,
                b'%' => {
                    self.pos = end;
                    self.skip_space();
                }
                _ => {}
            }
            if depth > MAX_NESTING {
                deep = true;
            }
            if depth == 0 {
                return (&self.buf[start..end], deep);
            }
        }
        self.cut = true;
        (&self.buf[start..], deep)
    }

    /// Skips an inline image after its `BI`: the dictionary, `ID`, the data
    /// and `EI`. Without a filter, the data length follows from the image's
    /// size; otherwise (or if `EI` is not where expected) the data ends at the
    /// first `EI` between white space.
    fn skip_inline_image(&mut self) {
        let mut key: Option<&[u8]> = None;
        let mut width = None;
        let mut height = None;
        let mut bits = None;
        let mut components = None;
        let mut filtered = false;
        let mut mask = false;
        let mut found = false;
        for _ in 0..MAX_INLINE_IMAGE_KEYS {
            let Some((_, token)) = self.token(false) else {
                return;
            };
            let value = match token {
                Token::Operator(b"ID") => {
                    found = true;
                    break;
                }
                // Not an inline image after all: read on from here.
                Token::Operator(_) => return,
                Token::Operand(o) => o,
            };
            let Some(k) = key.take() else {
                if let Operand::Name(n) = value {
                    key = Some(n);
                }
                continue;
            };
            let count = match value {
                Operand::Number(n) if (0.0..=1e9).contains(&n) && n.fract() == 0.0 => {
                    Some(n as u64)
                }
                _ => None,
            };
            match k {
                b"W" | b"Width" => width = count,
                b"H" | b"Height" => height = count,
                b"BPC" | b"BitsPerComponent" => bits = count,
                b"CS" | b"ColorSpace" => components = color_components(value),
                b"F" | b"Filter" => filtered = value != Operand::Array(b""),
                b"IM" | b"ImageMask" => mask = value == Operand::Bool(true),
                _ => {}
            }
        }
        if !found {
            return;
        }
        // One white-space byte (CR LF counts as one) separates ID from the data.
        if self.buf[self.pos..].starts_with(b"\r\n") {
            self.pos += 2;
        } else if self.buf.get(self.pos).is_some_and(|&c| is_whitespace(c)) {
            self.pos += 1;
        }
        let data = self.pos;
        if mask {
            components = Some(1);
            bits = Some(1);
        }
        let expected = match (filtered, width, height, bits, components) {
            (false, Some(w), Some(h), Some(b @ (1 | 2 | 4 | 8 | 16)), Some(c)) => w
                .checked_mul(c)
                .and_then(|n| n.checked_mul(b))
                .map(|n| n.div_ceil(8))
                .and_then(|row| row.checked_mul(h))
                .and_then(|n| usize::try_from(n).ok()),
            _ => None,
        };
        if let Some(end) = expected.and_then(|n| data.checked_add(n))
            && let Some(after) = self.ei_at(end)
        {
            self.pos = after;
            return;
        }
        let finder = memchr::memmem::Finder::new(b"EI");
        let mut from = data;
        while let Some(i) = self.buf.get(from..).and_then(|rest| finder.find(rest)) {
            let at = from + i;
            let before = at.checked_sub(1).and_then(|p| self.buf.get(p));
            let after = self.buf.get(at + 2);
            if before.is_some_and(|&c| is_whitespace(c)) && after.is_none_or(|&c| is_whitespace(c))
            {
                self.pos = at + 2;
                return;
            }
            from = at + 1;
        }
        self.pos = self.buf.len();
        self.cut = true;
    }

    /// The offset after an `EI` that follows `at` (after white space), if any.
    fn ei_at(&self, at: usize) -> Option<usize> {
        let rest = self.buf.get(at..)?;
        let skip = rest.iter().take_while(|&&c| is_whitespace(c)).count();
        let ei = at + skip;
        let ends = self
            .buf
            .get(ei + 2)
            .is_none_or(|&c| is_whitespace(c) || is_delimiter(c));
        (self.buf.get(ei..ei + 2) == Some(b"EI") && ends).then_some(ei + 2)
    }
}

/// Colour components of an inline image's colour space, when known.
fn color_components(cs: Operand<'_>) -> Option<u64> {
    let name = match cs {
        Operand::Name(n) => n,
        Operand::Array(body) => match Lexer::new(body).token(false) {
            Some((_, Token::Operand(Operand::Name(n)))) => n,
            _ => return None,
        },
        _ => return None,
    };
    match name {
        b"G" | b"DeviceGray" | b"CalGray" | b"I" | b"Indexed" => Some(1),
        b"RGB" | b"DeviceRGB" | b"CalRGB" => Some(3),
        b"CMYK" | b"DeviceCMYK" => Some(4),
        _ => None,
    }
}

/// A number at the start of `word`: its value (if it has digits) and length.
/// A `-` inside the fraction is ignored, as some producers write one there.
fn parse_number(word: &[u8]) -> (Option<f64>, usize) {
    let mut i = 0;
    let negative = match word.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    // All digits as one integer, then scaled: 0.3 reads as 3 / 10, exactly
    // as the nearest f64.
    let mut mantissa = 0.0f64;
    let mut digits = 0usize;
    let mut decimals = 0i32;
    while let Some(&d @ b'0'..=b'9') = word.get(i) {
        mantissa = mantissa * 10.0 + f64::from(d - b'0');
        digits += 1;
        i += 1;
    }
    if word.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&c) = word.get(i) {
            match c {
                b'0'..=b'9' => {
                    mantissa = mantissa * 10.0 + f64::from(c - b'0');
                    digits += 1;
                    decimals = decimals.saturating_add(1);
                }
                b'-' if digits > 0 => {}
                _ => break,
            }
            i += 1;
        }
    }
    let value = mantissa / 10f64.powi(decimals);
    if digits == 0 {
        return (None, 0);
    }
    (Some(if negative { -value } else { value }), i)
}

/// Inflates every non-image stream, counting output bytes. Returns the total,
/// or `None` once it passes `budget`.
fn prescan(bytes: &[u8], budget: u64) -> Option<u64> {
    let mut total: u64 = 0;
    let mut pos = 0;
    let finder = memchr::memmem::Finder::new(b"stream");
    let end_finder = memchr::memmem::Finder::new(b"endstream");
    while let Some(off) = finder.find(&bytes[pos..]) {
        let kw = pos + off;
        pos = kw + 6;
        // "endstream" also contains "stream".
        if kw >= 3 && &bytes[kw - 3..kw] == b"end" {
            continue;
        }
        let mut start = pos;
        if bytes.get(start) == Some(&b'\r') {
            start += 1;
        }
        if bytes.get(start) != Some(&b'\n') {
            continue;
        }
        start += 1;
        let dict_from = kw.saturating_sub(2048);
        let dict = &bytes[dict_from..kw];
        let dict = match memchr::memmem::rfind(dict, b"obj") {
            Some(i) => &dict[i..],
            None => dict,
        };
        let end = end_finder
            .find(&bytes[start..])
            .map_or(bytes.len(), |i| start + i);
        pos = end.max(start);
        if memchr::memmem::find(dict, b"/Image").is_some()
            || memchr::memmem::find(dict, b"/EmbeddedFile").is_some()
            || memchr::memmem::find(dict, b"/FlateDecode").is_none()
        {
            continue;
        }
        total = total.saturating_add(inflate_count(&bytes[start..end], budget - total + 1));
        if total > budget {
            return None;
        }
    }
    Some(total)
}

/// Bytes a zlib (or raw deflate) stream inflates to, stopping past `cap`.
fn inflate_count(data: &[u8], cap: u64) -> u64 {
    let zlib = data.first().is_some_and(|b| b & 0x0F == 8);
    let mut d = flate2::Decompress::new(zlib);
    let mut out = vec![0u8; 64 * 1024];
    let mut input = data;
    loop {
        let before_in = d.total_in();
        let before_out = d.total_out();
        let status = d.decompress(input, &mut out, flate2::FlushDecompress::None);
        let used = (d.total_in() - before_in) as usize;
        let produced = d.total_out() - before_out;
        input = &input[used.min(input.len())..];
        match status {
            Ok(flate2::Status::StreamEnd) | Err(_) => break,
            Ok(_) => {}
        }
        if d.total_out() > cap || (used == 0 && produced == 0) {
            break;
        }
    }
    d.total_out()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// All tokens of `content`.
    fn tokens(content: &[u8]) -> Vec<Token<'_>> {
        let mut lexer = Lexer::new(content);
        std::iter::from_fn(|| lexer.token(true).map(|(_, t)| t)).collect()
    }

    /// The text shown by `parts`, read as one page without fonts.
    fn text_of_parts(parts: &[&[u8]]) -> String {
        let encodings = BTreeMap::new();
        let mut reader = PageReader::new(&encodings);
        let mut sink = TextSink::new(usize::MAX);
        reader.run(parts, &mut sink);
        sink.text
    }

    fn text(content: &[u8]) -> String {
        text_of_parts(&[content])
    }

    fn literal(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        decode_literal(raw, &mut |b| out.push(b));
        out
    }

    fn hex(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        decode_hex(raw, &mut |b| out.push(b));
        out
    }

    #[test]
    fn nested_parentheses() {
        assert_eq!(
            tokens(b"(a (b (c)) d) Tj"),
            [
                Token::Operand(Operand::Literal(b"a (b (c)) d")),
                Token::Operator(b"Tj")
            ]
        );
        assert_eq!(text(b"(a (b) c) Tj"), "a (b) c");
        // An escaped parenthesis does not count.
        assert_eq!(text(br"(a \( b) Tj"), "a ( b");
        assert_eq!(text(br"(a \) b) Tj"), "a ) b");
    }

    #[test]
    fn escapes() {
        assert_eq!(literal(br"\n\r\t\b\f\(\)\\x\q"), b"\n\r\t\x08\x0C()\\xq");
        // Line continuations (LF, CR LF, CR) vanish; a bare end of line is a newline.
        assert_eq!(literal(b"ab\\\ncd\\\r\nef\\\rgh"), b"abcdefgh");
        assert_eq!(literal(b"a\r\nb\rc\nd"), b"a\nb\nc\nd");
        // A backslash at the very end is dropped.
        assert_eq!(literal(b"ab\\"), b"ab");
    }

    #[test]
    fn octal_escapes() {
        assert_eq!(literal(br"\101\1011\7\0537\400\53x"), b"AA1\x07+7\x00+x");
        assert_eq!(
            text(br"(\123\123N 123\05545\0556789) Tj"),
            "SSN 123-45-6789"
        );
    }

    #[test]
    fn hex_strings() {
        assert_eq!(hex(b"48 65\n6c6C 6"), b"Hell\x60");
        assert_eq!(hex(b""), b"");
        assert_eq!(hex(b"4"), b"\x40");
        assert_eq!(hex(b"4z1"), b"\x41");
        assert_eq!(
            tokens(b"<48 65> Tj"),
            [
                Token::Operand(Operand::Hex(b"48 65")),
                Token::Operator(b"Tj")
            ]
        );
        assert_eq!(text(b"<48656C6C6F2>Tj"), "Hello ");
        // A dictionary is not a hex string.
        assert_eq!(
            tokens(b"<</A <41>>> BDC"),
            [Token::Operand(Operand::Other), Token::Operator(b"BDC")]
        );
    }

    #[test]
    fn tj_arrays_and_kerning() {
        assert_eq!(
            text(b"[(Hel) -20 (lo) -500 (World) 100.5 <21>] TJ"),
            "Hello World!"
        );
        assert_eq!(text(b"[(a) -200 (b) -200.5 (c) -1000 (d)] TJ"), "ab c d");
        // Nested arrays are not shown (they are not TJ items).
        assert_eq!(text(b"[(a) [(b)] (c)] TJ"), "ac");
        // Several gaps in a row give one space.
        assert_eq!(text(b"[(a) -900 -900 (b)] TJ"), "a b");
    }

    #[test]
    fn text_operators() {
        assert_eq!(
            text(b"BT (a) Tj 10 0 Td (b) Tj 0 -12 Td (c) Tj T* (d) Tj ET (e) Tj"),
            "a b\nc\nd\ne"
        );
        assert_eq!(text(b"(a) Tj (b) ' 1 2 (c) \" (d)'"), "a\nb\nc\nd");
        assert_eq!(text(b"1 0 0 1 0 0 Tm (x) Tj 0 -14 TD (y) Tj"), "x\ny");
        // Every string operand of Tj is shown.
        assert_eq!(text(b"(a) (b) Tj"), "ab");
        // Text that is never shown is not read.
        assert_eq!(text(b"(a) Tw (b) Tz"), "");
        // Control characters are dropped.
        assert_eq!(text(b"(a\\001\\nb) Tj"), "ab");
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(decode_name(b"F1").as_ref(), b"F1");
        assert_eq!(decode_name(b"F#31#2").as_ref(), b"F1#2");
        assert_eq!(decode_name(&[b'a'; 1000]).len(), MAX_NAME);
        assert_eq!(parse_number(b"12"), (Some(12.0), 2));
        assert_eq!(parse_number(b"-3.5"), (Some(-3.5), 4));
        assert_eq!(parse_number(b".5"), (Some(0.5), 2));
        assert_eq!(parse_number(b"+7."), (Some(7.0), 3));
        assert_eq!(parse_number(b"12Tf"), (Some(12.0), 2));
        assert_eq!(parse_number(b"-"), (None, 0));
        assert_eq!(parse_number(b"-.x"), (None, 0));
        let (v, n) = parse_number(b"0.00-41");
        assert!((v.unwrap() - 0.0041).abs() < 1e-12 && n == 7);
        assert_eq!(
            tokens(b"/F1 12Tf true false null - 1.2.3"),
            [
                Token::Operand(Operand::Name(b"F1")),
                Token::Operand(Operand::Number(12.0)),
                Token::Operator(b"Tf"),
                Token::Operand(Operand::Bool(true)),
                Token::Operand(Operand::Bool(false)),
                Token::Operand(Operand::Other),
                Token::Operand(Operand::Other),
                Token::Operand(Operand::Number(1.2)),
                Token::Operand(Operand::Number(0.3)),
            ]
        );
    }

    #[test]
    fn dictionaries_comments_and_stray_delimiters() {
        assert_eq!(
            text(b"/Span <</ActualText (x>> \\) y) /A [1 2] /B <</C <3E>>> >> BDC (t) Tj EMC"),
            "t"
        );
        assert_eq!(
            text(b"% (hidden) Tj\n(shown) Tj %(also hidden) Tj\r(too) Tj % end"),
            "showntoo"
        );
        assert_eq!(text(b"[(a) % (b) ]\n (c)] TJ"), "ac");
        assert_eq!(text(b"<< /A (b) % >>\n >> BDC (x) Tj"), "x");
        assert_eq!(text(b") ] > } { >> (ok) Tj"), "ok");
    }

    #[test]
    fn inline_images_are_skipped() {
        // Known length: an "EI" inside the data is not the end.
        let content = b"(before) Tj BI /W 4 /H 1 /BPC 8 /CS /G ID a EI EI\n(after) Tj";
        assert_eq!(text(content), "beforeafter");
        let content = b"BI /W 2 /H 2 /CS /RGB /BPC 8 ID\r\n EI (x) Tj\x00 EI (after) Tj";
        assert_eq!(text(content), "after");
        let content = b"BI /IM true /W 16 /H 2 ID \xff EI\x00 EI (after) Tj";
        assert_eq!(text(content), "after");
        let content = b"BI /W 2 /H 1 /CS [/I /RGB 1 <000000FFFFFF>] /BPC 8 ID  EI EI (after) Tj";
        assert_eq!(text(content), "after");
        // Unknown length (filtered): the first EI between white space ends it.
        let content = b"BI /W 4 /H 4 /F /AHx ID 00EI11(x)EI)Tj EI (after) Tj";
        assert_eq!(text(content), "after");
        let content = b"BI /W 1 /H 1 /CS /Unknown /BPC 8 ID \x00\n EI\t(after) Tj";
        assert_eq!(text(content), "after");
        // A wrong size falls back to the search.
        let content = b"BI /W 100 /H 100 /BPC 8 /CS /G ID xyz EI (after) Tj";
        assert_eq!(text(content), "after");
        // Empty data.
        assert_eq!(text(b"BI /W 0 /H 0 /F /A85 ID EI (after) Tj"), "after");
        // No EI: the rest of the stream is image data.
        assert_eq!(text(b"(a) Tj BI /W 1 ID (b) Tj"), "a");
        // BI without ID: reading goes on after the unexpected operator.
        assert_eq!(text(b"BI /W 1 Tj (after) Tj"), "after");
    }

    #[test]
    fn truncated_input() {
        assert_eq!(text(b"(unterminated Tj"), "");
        assert_eq!(text(b"(a) Tj [(b) (c"), "a");
        assert_eq!(text(b"(a) Tj <48 65"), "a");
        assert_eq!(text(b"(a) Tj << /A (b"), "a");
        assert_eq!(text(b"(a) Tj (b\\"), "a");
        let full: &[u8] = b"BT /F1 12 Tf 72 700 Td [(A) -300 (B)] TJ (C\\101\\\n) ' <4445> Tj BI /W 1 /H 1 /BPC 8 /CS /G ID x EI ET % end";
        for n in 0..=full.len() {
            let _ = tokens(&full[..n]);
            let _ = text(&full[..n]);
        }
        assert_eq!(text(full), "A B\nCADE\n");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut deep = vec![b'['; 200_000];
        deep.extend_from_slice(b"(x)");
        deep.extend(std::iter::repeat_n(b']', 200_000));
        deep.extend_from_slice(b" TJ (after) Tj");
        assert_eq!(text(&deep), "after");
        let t = tokens(&deep);
        assert_eq!(t[0], Token::Operand(Operand::Other));
        // Unclosed: everything after is inside the array.
        assert_eq!(text(&vec![b'['; 100_000]), "");
        assert_eq!(text(&[&b"(a) Tj "[..], &vec![b'<'; 100_000]].concat()), "a");
        assert_eq!(text(&vec![b'('; 100_000]), "");
        let mut just = b"[".repeat(MAX_NESTING);
        just.extend_from_slice(&b"]".repeat(MAX_NESTING));
        assert!(matches!(
            tokens(&just)[0],
            Token::Operand(Operand::Array(_))
        ));
    }

    #[test]
    fn huge_string_is_shown_in_bounded_chunks() {
        let mut content = b"(".to_vec();
        content.extend(std::iter::repeat_n(b'A', 1_000_000));
        content.extend_from_slice(b"\\101) Tj <");
        content.extend(b"42".repeat(300_000));
        content.extend_from_slice(b"> Tj");
        let encodings = BTreeMap::new();
        let mut reader = PageReader::new(&encodings);
        let mut sink = TextSink::new(usize::MAX);
        reader.run(&[&content], &mut sink);
        assert_eq!(sink.text.len(), 1_300_001);
        assert!(sink.text.starts_with('A') && sink.text.ends_with('B'));
        assert!(
            reader.scratch.capacity() <= STRING_CHUNK,
            "{}",
            reader.scratch.capacity()
        );
        // The text limit stops reading.
        let mut sink = TextSink::new(10);
        reader.run(&[&content], &mut sink);
        assert_eq!(sink.text, "AAAAAAAAAA");
        assert!(sink.full());
    }

    #[test]
    fn operand_stack_is_bounded() {
        let mut content = Vec::new();
        for i in 0..10_000 {
            content.extend_from_slice(format!("{i} ").as_bytes());
        }
        content.extend_from_slice(b"(a) Tj");
        assert_eq!(text(&content), "a");
        let many = b"(x) ".repeat(100);
        let shown = text(&[&many[..], b"Tj"].concat());
        assert_eq!(shown, "x".repeat(MAX_OPERANDS));
    }

    #[test]
    fn operands_carry_across_streams() {
        assert_eq!(text_of_parts(&[b"BT (a) Tj (b)", b"Tj ET"]), "ab\n");
        assert_eq!(text_of_parts(&[b"(a)", b"(b)", b"Tj"]), "ab");
        let encodings = BTreeMap::new();
        let mut reader = PageReader::new(&encodings);
        let mut sink = TextSink::new(usize::MAX);
        assert_eq!(reader.run(&[b"", b"(a) Tj 1 2"], &mut sink), Some((1, 7)));
        assert_eq!(reader.run(&[b"(x) Tj"], &mut sink), None);
        // An unterminated token is not carried.
        assert_eq!(reader.run(&[b"1 (x"], &mut sink), None);
    }

    /// The text `lopdf::content::Content::decode` and the operator handling
    /// this reader replaced give for `content` (no fonts).
    fn reference_text(content: &[u8]) -> Option<String> {
        let content = lopdf::content::Content::decode(content).ok()?;
        let mut sink = TextSink::new(usize::MAX);
        let show = |operands: &[Object], sink: &mut TextSink| {
            for o in operands {
                if let Object::String(bytes, _) = o {
                    write_text(None, bytes, sink);
                }
            }
        };
        for op in &content.operations {
            match op.operator.as_str() {
                "Tj" => show(&op.operands, &mut sink),
                "'" => {
                    sink.newline();
                    show(&op.operands, &mut sink);
                }
                "\"" => {
                    sink.newline();
                    show(op.operands.get(2..).unwrap_or(&[]), &mut sink);
                }
                "TJ" => {
                    for o in &op.operands {
                        if let Object::Array(items) = o {
                            for item in items {
                                match item {
                                    Object::String(..) => {
                                        show(std::slice::from_ref(item), &mut sink)
                                    }
                                    Object::Integer(i) if *i < -200 => space(&mut sink),
                                    Object::Real(r) if *r < -200.0 => space(&mut sink),
                                    _ => {}
                                }
                            }
                        }
                    }
                }
                "Td" | "TD" => {
                    let dy = match op.operands.get(1) {
                        Some(Object::Integer(i)) => *i as f64,
                        Some(Object::Real(r)) => f64::from(*r),
                        _ => 0.0,
                    };
                    if dy.abs() > 0.01 {
                        sink.newline();
                    } else {
                        space(&mut sink);
                    }
                }
                "T*" | "Tm" | "ET" => sink.newline(),
                _ => {}
            }
        }
        Some(sink.text)
    }

    fn literal_source() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop::sample::select(vec![
                "a", "Z", "0", " ", "(x)", "\\(", "\\)", "\\\\", "\\n", "\\101", "\\7", "\\\n",
                "\r\n", "\\q", "\u{e9}",
            ]),
            0..8,
        )
        .prop_map(|v| format!("({})", v.concat()))
    }

    fn operation() -> impl Strategy<Value = String> {
        prop_oneof![
            literal_source().prop_map(|s| format!("{s} Tj")),
            literal_source().prop_map(|s| format!("{s} '")),
            (literal_source(), -3i32..3).prop_map(|(s, n)| format!("{n} 0.5 {s} \"")),
            proptest::collection::vec(
                prop_oneof![
                    literal_source(),
                    Just("<414 2>".to_owned()),
                    (-900i32..300).prop_map(|n| n.to_string()),
                    (-900i32..300).prop_map(|n| format!("{}.5", n)),
                ],
                0..6
            )
            .prop_map(|items| format!("[{}] TJ", items.join(" "))),
            (-20i32..20, -20i32..20).prop_map(|(x, y)| format!("{x} {y} Td")),
            (-20i32..20).prop_map(|y| format!("0 {y}.25 TD")),
            Just("T*".to_owned()),
            Just("BT".to_owned()),
            Just("ET".to_owned()),
            Just("1 0 0 1 72 700 Tm".to_owned()),
            Just("/F1 12 Tf".to_owned()),
            Just("q 1 0 0 1 5 5 cm Q".to_owned()),
            Just("/P <</MCID 3 /Alt (a>b)>> BDC EMC".to_owned()),
            Just("% a comment (x) Tj\n".to_owned()),
            Just("BI /W 2 /H 1 /BPC 8 /CS /G ID ab EI".to_owned()),
            Just("<48656C6C6F> Tj".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = tokens(&bytes);
            let half = bytes.len() / 2;
            let _ = text_of_parts(&[&bytes[..half], &bytes[half..]]);
        }

        #[test]
        fn content_like_bytes_never_panic(
            pieces in proptest::collection::vec(
                prop::sample::select(vec![
                    &b"("[..], b")", b"\\", b"\\1", b"<", b">", b"<<", b">>", b"[", b"]",
                    b"/F1", b"%", b"\n", b"\r", b" ", b"12", b"-300", b".5", b"Tj", b"TJ",
                    b"'", b"\"", b"Td", b"T*", b"Tf", b"BI", b"ID", b"EI", b"/W 1", b"/H 1",
                    b"/BPC 8", b"/CS /G", b"/F /AHx", b"true", b"\x00", b"\xff", b"4A",
                ]),
                0..200,
            )
        ) {
            let bytes = pieces.concat();
            let _ = tokens(&bytes);
            let s = text(&bytes);
            prop_assert!(s.len() <= bytes.len() * 4 + 1);
        }

        #[test]
        fn same_text_as_content_decode(ops in proptest::collection::vec(operation(), 0..40)) {
            let content = ops.join("\n");
            if let Some(expected) = reference_text(content.as_bytes()) {
                prop_assert_eq!(text(content.as_bytes()), expected, "{}", content);
            }
        }
    }

    #[test]
    fn inflate_counts_and_stops() {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&vec![0u8; 1_000_000]).unwrap();
        let z = e.finish().unwrap();
        assert_eq!(inflate_count(&z, u64::MAX), 1_000_000);
        let n = inflate_count(&z, 1000);
        assert!(n > 1000 && n < 200_000, "{n}");
        assert_eq!(inflate_count(b"not deflate", 100), 0);
    }
}
