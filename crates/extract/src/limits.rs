//! Size, depth and count limits, and the running budget of one extraction.

use serde::{Deserialize, Serialize};

/// Bounds applied to the extraction of one attachment.
///
/// Every limit that is hit is reported as a [`crate::Problem`] of kind
/// [`crate::ProblemKind::LimitExceeded`]; nothing is silently skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// How many archives deep members are opened (a zip inside a zip inside a
    /// zip is depth 3). Default 3.
    pub max_depth: u32,
    /// Total bytes decompressed across one attachment (all archive members and
    /// OOXML parts together). Default 64 MiB.
    pub max_expanded_bytes: u64,
    /// Archive members listed and opened across one attachment. Default 1000.
    pub max_members: usize,
    /// Text kept per extracted document. Default 8 MiB.
    pub max_text_bytes: usize,
    /// Largest PDF that is parsed. Default 20 MiB.
    pub max_pdf_bytes: usize,
    /// Decompressed/compressed ratio of one member above which it is treated as
    /// a decompression bomb (once it has expanded past 1 MiB). Default 100.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 3,
            max_expanded_bytes: 64 * 1024 * 1024,
            max_members: 1000,
            max_text_bytes: 8 * 1024 * 1024,
            max_pdf_bytes: 20 * 1024 * 1024,
            max_ratio: 100,
        }
    }
}

/// Members smaller than this are never judged by their compression ratio:
/// small, very repetitive files (a page of spaces) compress extremely well.
pub(crate) const RATIO_GRACE_BYTES: u64 = 1024 * 1024;

/// Pages of one PDF that are read.
pub(crate) const MAX_PDF_PAGES: usize = 5000;

/// Running totals of one call to [`crate::extract`].
#[derive(Debug)]
pub(crate) struct Budget {
    /// Bytes decompressed so far.
    pub expanded: u64,
    /// Archive members seen so far.
    pub members: usize,
    /// Text bytes emitted so far (all documents together).
    pub text: u64,
}

impl Budget {
    pub fn new() -> Self {
        Budget {
            expanded: 0,
            members: 0,
            text: 0,
        }
    }

    /// Bytes that may still be decompressed.
    pub fn expand_left(&self, limits: &Limits) -> u64 {
        limits.max_expanded_bytes.saturating_sub(self.expanded)
    }

    /// Text bytes that may still be emitted across the whole extraction:
    /// one document's worth plus the expansion budget, so that amplifying
    /// formats (shared strings repeated in many cells) stay bounded too.
    pub fn text_left(&self, limits: &Limits) -> usize {
        let total = (limits.max_text_bytes as u64).saturating_add(limits.max_expanded_bytes);
        let left = total.saturating_sub(self.text);
        usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(limits.max_text_bytes)
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary. Returns whether
/// anything was cut.
pub(crate) fn truncate_str(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut cut = max;
    while cut > 0 && !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    true
}

/// A text buffer that stops growing at a byte limit.
#[derive(Debug)]
pub(crate) struct TextSink {
    pub text: String,
    pub max: usize,
    pub truncated: bool,
}

impl TextSink {
    pub fn new(max: usize) -> Self {
        TextSink {
            text: String::new(),
            max,
            truncated: false,
        }
    }

    /// True once the limit has been reached: callers may stop producing.
    pub fn full(&self) -> bool {
        self.truncated
    }

    pub fn push_str(&mut self, s: &str) {
        if self.truncated {
            return;
        }
        let room = self.max - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            let mut cut = room;
            while cut > 0 && !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.push_str(&s[..cut]);
            self.truncated = true;
        }
    }

    pub fn push(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.push_str(c.encode_utf8(&mut buf));
    }

    /// Last character written, if any.
    pub fn last_char(&self) -> Option<char> {
        self.text.chars().next_back()
    }

    /// Adds a newline unless the text is empty or already ends with one.
    pub fn newline(&mut self) {
        match self.last_char() {
            None | Some('\n') => {}
            _ => self.push('\n'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let l = Limits::default();
        assert_eq!(l.max_depth, 3);
        assert_eq!(l.max_expanded_bytes, 64 << 20);
        assert_eq!(l.max_members, 1000);
        assert_eq!(l.max_text_bytes, 8 << 20);
        assert_eq!(l.max_pdf_bytes, 20 << 20);
        assert_eq!(l.max_ratio, 100);
    }

    #[test]
    fn truncate_on_char_boundary() {
        let mut s = String::from("añb");
        assert!(truncate_str(&mut s, 2));
        assert_eq!(s, "a");
        let mut s = String::from("abc");
        assert!(!truncate_str(&mut s, 3));
    }

    #[test]
    fn sink_stops_at_limit() {
        let mut sink = TextSink::new(5);
        sink.push_str("héllo world");
        assert!(sink.full());
        assert_eq!(sink.text, "héll");
        sink.push_str("more");
        assert_eq!(sink.text, "héll");
    }
}
