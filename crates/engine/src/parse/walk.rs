//! The walk over mail-parser's part tree that fills a [`ParsedMessage`].

use super::{
    AddressEntry, Anomaly, AnomalyKind, Attachment, Headers, Origin, ParsedMessage, TextSegment,
};
use crate::settings::Limits;
use doublecheck_extract::{self as extract, FileKind, ProblemKind};
use mail_parser::{
    Address, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

pub(super) fn parse(raw: &[u8], limits: &Limits) -> ParsedMessage {
    let mut out = ParsedMessage {
        size: raw.len(),
        ..ParsedMessage::default()
    };
    let raw = if raw.len() > limits.max_message_bytes {
        out.anomalies.push(Anomaly {
            kind: AnomalyKind::Truncated,
            path: String::new(),
            detail: format!(
                "The message is {} bytes, over the {}-byte limit; only the first {} bytes were scanned.",
                raw.len(),
                limits.max_message_bytes,
                limits.max_message_bytes
            ),
        });
        &raw[..limits.max_message_bytes]
    } else {
        raw
    };

    let parser = parser();
    // mail-parser is built never to panic; should it ever, the message is scanned as text.
    let parsed = match extract::contain(|| parser.parse(raw)) {
        Ok(p) => p.filter(|m| has_credible_header(m)),
        Err(panic) => {
            out.anomalies.push(Anomaly {
                kind: AnomalyKind::Unparseable,
                path: String::new(),
                detail: format!("The MIME structure could not be parsed ({panic}); the message was scanned as plain text."),
            });
            None
        }
    };
    let Some(message) = parsed else {
        if !out
            .anomalies
            .iter()
            .any(|a| a.kind == AnomalyKind::Unparseable)
        {
            out.anomalies.push(Anomaly {
                kind: AnomalyKind::Unparseable,
                path: String::new(),
                detail: "No header block was found; the message was scanned as plain text.".into(),
            });
        }
        let mut w = Walker::new(limits, &mut out);
        let text = String::from_utf8_lossy(raw);
        w.push_text("1", Origin::Body, &text);
        return out;
    };

    out.headers = read_headers(&message);
    if out.headers.count > limits.max_headers {
        out.anomalies.push(Anomaly {
            kind: AnomalyKind::TooManyHeaders,
            path: String::new(),
            detail: format!(
                "The message has {} header fields, over the limit of {}.",
                out.headers.count, limits.max_headers
            ),
        });
    }
    if out.headers.from.is_empty() && out.headers.count > 0 {
        out.anomalies.push(Anomaly {
            kind: AnomalyKind::BadHeader,
            path: String::new(),
            detail: "The message has no readable From address.".into(),
        });
    }
    let subject = out.headers.subject.clone();
    let mut w = Walker::new(limits, &mut out);
    if let Some(subject) = subject {
        w.push_text("", Origin::Subject, &subject);
    }
    w.walk_message(&message, "", 0);
    out
}

/// The mail-parser configuration: only the headers the detectors read are parsed; the others
/// are skipped (still counted). Built once.
fn parser() -> &'static MessageParser {
    static PARSER: std::sync::OnceLock<MessageParser> = std::sync::OnceLock::new();
    PARSER.get_or_init(|| {
        MessageParser::new()
            .with_mime_headers()
            .header_address(HeaderName::From)
            .header_address(HeaderName::Sender)
            .header_address(HeaderName::ReplyTo)
            .header_address(HeaderName::To)
            .header_address(HeaderName::Cc)
            .header_address(HeaderName::Bcc)
            .header_text(HeaderName::Subject)
            .header_id(HeaderName::MessageId)
            .default_header_ignore()
    })
}

/// At least one header field with a well-formed name (printable ASCII, no spaces): otherwise
/// the "headers" are really text, and the bytes are scanned as such.
fn has_credible_header(message: &Message<'_>) -> bool {
    message.root_part().headers.iter().any(|h| {
        let name = h.name.as_str();
        !matches!(h.name, HeaderName::Other(_))
            || (!name.is_empty()
                && name.len() <= 76
                && name.bytes().all(|b| b.is_ascii_graphic() && b != b':'))
    })
}

fn entries(value: &HeaderValue<'_>, out: &mut Vec<AddressEntry>, groups: Option<&mut Vec<String>>) {
    let Some(addr) = value.as_address() else {
        return;
    };
    match addr {
        Address::List(list) => {
            for a in list {
                if let Some(address) = a.address() {
                    out.push(AddressEntry {
                        address: crate::party::normalize_address(address),
                        name: a.name().map(str::to_string),
                        group: None,
                    });
                }
            }
        }
        Address::Group(gs) => {
            let mut names = Vec::new();
            for g in gs {
                let gname = g.name.as_deref().map(str::to_string);
                if let Some(n) = &gname {
                    names.push(n.clone());
                }
                for a in &g.addresses {
                    if let Some(address) = a.address() {
                        out.push(AddressEntry {
                            address: crate::party::normalize_address(address),
                            name: a.name().map(str::to_string),
                            group: gname.clone(),
                        });
                    }
                }
            }
            if let Some(groups) = groups {
                groups.extend(names);
            }
        }
    }
}

fn read_headers(message: &Message<'_>) -> Headers {
    let mut h = Headers::default();
    let root = message.root_part();
    h.count = root.headers.len();
    for header in &root.headers {
        match &header.name {
            HeaderName::From => entries(&header.value, &mut h.from, None),
            HeaderName::Sender => entries(&header.value, &mut h.sender, None),
            HeaderName::To => entries(&header.value, &mut h.to, Some(&mut h.groups)),
            HeaderName::Cc => entries(&header.value, &mut h.cc, Some(&mut h.groups)),
            HeaderName::Bcc => entries(&header.value, &mut h.bcc, None),
            HeaderName::ReplyTo => entries(&header.value, &mut h.reply_to, None),
            HeaderName::ListArchive
            | HeaderName::ListHelp
            | HeaderName::ListId
            | HeaderName::ListOwner
            | HeaderName::ListPost
            | HeaderName::ListSubscribe
            | HeaderName::ListUnsubscribe
            | HeaderName::ListUnsubscribePost => {
                let name = canonical_list_name(&header.name);
                if !h.list_headers.iter().any(|n| n == name) {
                    h.list_headers.push(name.to_string());
                }
            }
            _ => {}
        }
    }
    h.subject = message.subject().map(str::to_string);
    h.message_id = message.message_id().map(str::to_string);
    h
}

fn canonical_list_name(name: &HeaderName<'_>) -> &'static str {
    match name {
        HeaderName::ListArchive => "List-Archive",
        HeaderName::ListHelp => "List-Help",
        HeaderName::ListId => "List-Id",
        HeaderName::ListOwner => "List-Owner",
        HeaderName::ListPost => "List-Post",
        HeaderName::ListSubscribe => "List-Subscribe",
        HeaderName::ListUnsubscribe => "List-Unsubscribe",
        _ => "List-Unsubscribe-Post",
    }
}

struct Walker<'a> {
    limits: &'a Limits,
    out: &'a mut ParsedMessage,
    parts_seen: usize,
    text_bytes: usize,
    reported_parts_limit: bool,
    reported_depth_limit: bool,
    reported_text_limit: bool,
}

impl<'a> Walker<'a> {
    fn new(limits: &'a Limits, out: &'a mut ParsedMessage) -> Walker<'a> {
        Walker {
            limits,
            out,
            parts_seen: 0,
            text_bytes: 0,
            reported_parts_limit: false,
            reported_depth_limit: false,
            reported_text_limit: false,
        }
    }

    fn anomaly(&mut self, kind: AnomalyKind, path: &str, detail: String) {
        self.out.anomalies.push(Anomaly {
            kind,
            path: path.to_string(),
            detail,
        });
    }

    /// Add a text segment, bounded per part and per message.
    fn push_text(&mut self, path: &str, origin: Origin, text: &str) {
        self.push_owned(path, origin, std::borrow::Cow::Borrowed(text));
    }

    /// Like `push_text`, without copying text that is already owned.
    fn push_owned(&mut self, path: &str, origin: Origin, text: std::borrow::Cow<'_, str>) {
        if text.trim().is_empty() {
            return;
        }
        let room = self
            .limits
            .max_total_text_bytes
            .saturating_sub(self.text_bytes)
            .min(self.limits.max_text_bytes);
        let mut text = text;
        if text.len() > room {
            let cut = floor_char_boundary(&text, room);
            if !self.reported_text_limit {
                self.reported_text_limit = true;
                self.anomaly(
                    AnomalyKind::Truncated,
                    path,
                    format!(
                        "Part {} has {} bytes of text; only the first {} were scanned.",
                        display_path(path),
                        text.len(),
                        cut
                    ),
                );
            }
            match &mut text {
                std::borrow::Cow::Borrowed(t) => *t = &t[..cut],
                std::borrow::Cow::Owned(t) => t.truncate(cut),
            }
        }
        if text.is_empty() {
            return;
        }
        self.text_bytes += text.len();
        self.out.texts.push(TextSegment {
            path: path.to_string(),
            origin,
            text: text.into_owned(),
        });
    }

    fn walk_message(&mut self, message: &Message<'_>, prefix: &str, depth: usize) {
        let Some(root) = message.parts.first() else {
            return;
        };
        match &root.body {
            PartType::Multipart(children) => {
                self.walk_children(message, children, prefix, depth);
            }
            _ => {
                let path = child_path(prefix, 1);
                self.walk_part(message, root, &path, depth, true);
            }
        }
    }

    fn walk_children(
        &mut self,
        message: &Message<'_>,
        children: &[u32],
        prefix: &str,
        depth: usize,
    ) {
        for (i, &id) in children.iter().enumerate() {
            let path = child_path(prefix, i + 1);
            let Some(part) = message.parts.get(id as usize) else {
                continue;
            };
            self.walk_part(message, part, &path, depth + 1, false);
        }
    }

    fn walk_part(
        &mut self,
        message: &Message<'_>,
        part: &MessagePart<'_>,
        path: &str,
        depth: usize,
        is_root: bool,
    ) {
        self.parts_seen += 1;
        if self.parts_seen > self.limits.max_parts {
            if !self.reported_parts_limit {
                self.reported_parts_limit = true;
                let max = self.limits.max_parts;
                self.anomaly(
                    AnomalyKind::TooManyParts,
                    path,
                    format!("The message has more than {max} MIME parts; parts after {max} were not scanned."),
                );
            }
            return;
        }
        if depth > self.limits.max_mime_depth {
            if !self.reported_depth_limit {
                self.reported_depth_limit = true;
                self.anomaly(
                    AnomalyKind::TooDeep,
                    path,
                    format!(
                        "MIME parts are nested more than {} levels deep; deeper parts were not scanned.",
                        self.limits.max_mime_depth
                    ),
                );
            }
            return;
        }
        if part.is_encoding_problem {
            self.anomaly(
                AnomalyKind::Encoding,
                path,
                format!(
                    "Part {} could not be fully decoded (broken transfer encoding or charset).",
                    display_path(path)
                ),
            );
        }
        let name = part.attachment_name().map(str::to_string);
        let content_type = content_type_of(part);
        let disposition_attachment = part
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
        let is_attachment = !is_root && (disposition_attachment || name.is_some());

        match &part.body {
            PartType::Multipart(children) => self.walk_children(message, children, path, depth),
            PartType::Message(nested) => {
                if let Some(subject) = nested.subject() {
                    self.push_text(path, Origin::NestedSubject, subject);
                }
                self.walk_message(nested, path, depth + 1);
            }
            PartType::Text(text) if !is_attachment => {
                self.push_text(path, Origin::Body, text);
            }
            PartType::Html(html) if !is_attachment => {
                let text = extract::html_to_text(html);
                self.push_owned(path, Origin::HtmlBody, std::borrow::Cow::Owned(text));
            }
            PartType::Text(_)
            | PartType::Html(_)
            | PartType::Binary(_)
            | PartType::InlineBinary(_) => {
                self.attachment(part, path, name, content_type, depth);
            }
        }
    }

    fn attachment(
        &mut self,
        part: &MessagePart<'_>,
        path: &str,
        name: Option<String>,
        content_type: String,
        depth: usize,
    ) {
        let bytes = part.contents();
        let rfc822 = content_type == "message/rfc822" || content_type == "message/global";
        if rfc822 || extract::sniff(bytes, name.as_deref(), Some(&content_type)) == FileKind::Email
        {
            // A forwarded message mail-parser left unopened (it opens three levels): open it
            // here, within our own depth limit.
            if depth < self.limits.max_mime_depth
                && let Ok(Some(nested)) = extract::contain(|| parser().parse(bytes))
                && has_credible_header(&nested)
            {
                if let Some(subject) = nested.subject() {
                    self.push_text(path, Origin::NestedSubject, subject);
                }
                self.walk_message(&nested, path, depth + 1);
                return;
            }
        }
        let mut ex = extract::extract(
            bytes,
            name.as_deref(),
            Some(&content_type),
            &self.limits.attachments,
        );
        for t in std::mem::take(&mut ex.texts) {
            let seg_path = if t.path.is_empty() {
                path.to_string()
            } else {
                format!("{path}/{}", t.path)
            };
            let origin = Origin::Attachment {
                name: name.clone(),
                member: t.path.clone(),
                kind: t.kind,
            };
            self.push_owned(&seg_path, origin, std::borrow::Cow::Owned(t.text));
        }
        for p in &ex.problems {
            let kind = match p.kind {
                ProblemKind::Encrypted => AnomalyKind::Encrypted,
                ProblemKind::Unscannable => AnomalyKind::Unscannable,
                ProblemKind::LimitExceeded => AnomalyKind::AttachmentLimit,
                ProblemKind::Unsupported => AnomalyKind::Unsupported,
            };
            let p_path = if p.path.is_empty() {
                path.to_string()
            } else {
                format!("{path}/{}", p.path)
            };
            self.anomaly(kind, &p_path, p.detail.clone());
        }
        if ex.kind == FileKind::Email && depth >= self.limits.max_mime_depth {
            self.anomaly(
                AnomalyKind::TooDeep,
                path,
                format!(
                    "Attached message in part {} was nested too deep to open.",
                    display_path(path)
                ),
            );
        }
        self.out.attachments.push(Attachment {
            path: path.to_string(),
            name,
            content_type,
            size: bytes.len(),
            kind: ex.kind,
            members: ex.members,
        });
    }
}

fn content_type_of(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "text/plain".to_string(),
    }
}

fn child_path(prefix: &str, n: usize) -> String {
    if prefix.is_empty() {
        n.to_string()
    } else {
        format!("{prefix}.{n}")
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "(top level)" } else { path }
}

/// The largest char boundary ≤ `i`.
pub(crate) fn floor_char_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    let mut i = i;
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> ParsedMessage {
        super::parse(raw.as_bytes(), &Limits::default())
    }

    #[test]
    fn reads_addresses_groups_and_subject() {
        let m = parse(
            "From: Shop <shop@example.com>\r\nTo: Customers: a@gmail.com, B@Yahoo.com;\r\nCc: c@corp.example\r\nSubject: =?utf-8?q?Verificaci=C3=B3n?=\r\n\r\nHello\r\n",
        );
        assert_eq!(m.headers.from[0].address, "shop@example.com");
        assert_eq!(m.headers.to.len(), 2);
        assert_eq!(m.headers.to[1].address, "b@yahoo.com");
        assert_eq!(m.headers.to[0].group.as_deref(), Some("Customers"));
        assert_eq!(m.headers.cc[0].address, "c@corp.example");
        assert_eq!(m.headers.subject.as_deref(), Some("Verificación"));
        assert!(
            m.texts
                .iter()
                .any(|t| t.origin == Origin::Body && t.text.contains("Hello"))
        );
        assert!(m.anomalies.is_empty(), "{:?}", m.anomalies);
    }

    #[test]
    fn numbers_parts_like_imap() {
        let raw = "From: a@example.com\r\nTo: b@example.com\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: multipart/alternative; boundary=Y\r\n\r\n--Y\r\nContent-Type: text/plain\r\n\r\nplain words\r\n--Y\r\nContent-Type: text/html\r\n\r\n<p>html <b>wo</b>rds</p>\r\n--Y--\r\n--X\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@example.com\r\nSubject: inner subject\r\n\r\ninner body\r\n--X--\r\n";
        let m = parse(raw);
        let find = |needle: &str| {
            m.texts
                .iter()
                .find(|t| t.text.contains(needle))
                .map(|t| (t.path.clone(), t.origin.clone()))
        };
        assert_eq!(find("plain words"), Some(("1.1".into(), Origin::Body)));
        assert_eq!(find("html words"), Some(("1.2".into(), Origin::HtmlBody)));
        assert_eq!(
            find("inner subject"),
            Some(("2".into(), Origin::NestedSubject))
        );
        assert_eq!(find("inner body"), Some(("2.1".into(), Origin::Body)));
    }

    #[test]
    fn garbage_is_scanned_as_text_and_reported() {
        let m = super::parse(b"\x00\x01 no headers at all 4111", &Limits::default());
        assert!(
            m.anomalies
                .iter()
                .any(|a| a.kind == AnomalyKind::Unparseable)
        );
    }

    #[test]
    fn oversized_message_is_truncated_and_reported() {
        let limits = Limits {
            max_message_bytes: 64,
            ..Limits::default()
        };
        let raw = format!(
            "From: a@example.com\r\nTo: b@example.com\r\n\r\n{}",
            "x".repeat(500)
        );
        let m = super::parse(raw.as_bytes(), &limits);
        assert!(m.anomalies.iter().any(|a| a.kind == AnomalyKind::Truncated));
    }

    #[test]
    fn char_boundary() {
        assert_eq!(floor_char_boundary("aé", 2), 1);
        assert_eq!(floor_char_boundary("aé", 3), 3);
        assert_eq!(floor_char_boundary("", 3), 0);
    }
}
