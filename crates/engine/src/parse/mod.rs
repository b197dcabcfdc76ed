//! Parse: raw RFC 5322 bytes → [`ParsedMessage`], the engine's view of a message.
//!
//! MIME structure, transfer encodings, charsets and RFC 2047 words are decoded by mail-parser;
//! HTML and attachments (PDF, DOCX, XLSX, ZIP…) are turned into text by `doublecheck-extract`.
//! Nothing here panics or fails: what cannot be read becomes an [`Anomaly`], which the
//! `message.malformed` and `attachments.*` detectors report.

mod walk;

use crate::settings::Limits;
use doublecheck_extract::{FileKind, Member};
use serde::Serialize;

/// One address from an address header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddressEntry {
    /// Lower-cased address (`jane@example.com`); may lack an `@` in broken headers.
    pub address: String,
    /// Display name, decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The RFC 5322 group the address was listed in (`Customers: a@x, b@y;`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// The header fields the detectors look at.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Headers {
    pub from: Vec<AddressEntry>,
    pub sender: Vec<AddressEntry>,
    pub to: Vec<AddressEntry>,
    pub cc: Vec<AddressEntry>,
    pub bcc: Vec<AddressEntry>,
    pub reply_to: Vec<AddressEntry>,
    /// Names of RFC 5322 groups in To/Cc (even empty ones such as `undisclosed-recipients:;`).
    pub groups: Vec<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    /// `List-*` header names present (`List-Id`, `List-Post`, …).
    pub list_headers: Vec<String>,
    /// Number of header fields in the top-level header block.
    pub count: usize,
}

/// Where a piece of scannable text came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Origin {
    /// The top-level Subject.
    Subject,
    /// A text/plain body part.
    Body,
    /// A text/html body part, turned into text.
    HtmlBody,
    /// The Subject of a forwarded (message/rfc822) message.
    NestedSubject,
    /// An attachment or a member of one (`member` is the path inside an archive).
    Attachment {
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(skip_serializing_if = "String::is_empty")]
        member: String,
        kind: FileKind,
    },
}

impl Origin {
    pub fn is_attachment(&self) -> bool {
        matches!(self, Origin::Attachment { .. })
    }
}

/// A piece of decoded text the detectors scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TextSegment {
    /// MIME part path (`1`, `2.1`), plus `/member` for archive members; empty for the Subject.
    pub path: String,
    pub origin: Origin,
    pub text: String,
}

/// One attachment (any non-body part).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub content_type: String,
    pub size: usize,
    pub kind: FileKind,
    /// Archive members, including nested ones, as listed by the extractor.
    pub members: Vec<Member>,
}

/// What kind of trouble the parser or an extractor had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// No header block could be found: the bytes were scanned as plain text.
    Unparseable,
    /// A part's transfer encoding or charset could not be decoded.
    Encoding,
    /// MIME nesting deeper than the limit; deeper parts were not scanned.
    TooDeep,
    /// More parts than the limit; the rest were not scanned.
    TooManyParts,
    /// More header fields than the limit.
    TooManyHeaders,
    /// The message or a text was larger than the limit and was scanned only in part.
    Truncated,
    /// A required header is missing (From) or an address header could not be parsed.
    BadHeader,
    /// An attachment (or a member) is encrypted or password-protected.
    Encrypted,
    /// An attachment could not be read: corrupt, or its extractor failed.
    Unscannable,
    /// An attachment hit an expansion limit (depth, size, ratio, member count).
    AttachmentLimit,
    /// An attachment format that is recognized but not opened (RAR, 7z, legacy Office).
    Unsupported,
}

/// Something the engine could not see or read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    /// MIME part path (plus archive member) where it happened; empty for the whole message.
    pub path: String,
    /// One human sentence.
    pub detail: String,
}

/// The engine's view of one message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ParsedMessage {
    pub headers: Headers,
    pub texts: Vec<TextSegment>,
    pub attachments: Vec<Attachment>,
    pub anomalies: Vec<Anomaly>,
    /// Size of the raw message in bytes.
    pub size: usize,
}

impl ParsedMessage {
    /// All visible recipients: To then Cc.
    pub fn visible_recipients(&self) -> impl Iterator<Item = &AddressEntry> {
        self.headers.to.iter().chain(self.headers.cc.iter())
    }

    /// The From address, if any.
    pub fn from_address(&self) -> Option<&str> {
        self.headers.from.first().map(|a| a.address.as_str())
    }
}

/// Parse a raw message. Never fails: problems are recorded as anomalies.
pub fn parse(raw: &[u8], limits: &Limits) -> ParsedMessage {
    walk::parse(raw, limits)
}
