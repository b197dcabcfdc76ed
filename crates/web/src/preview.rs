//! The message page's safe preview: the message as text (HTML mail as the engine's text of it),
//! the spans the findings point at highlighted and replaced by their masked evidence, and every
//! other sensitive value the scanner recognizes masked too. Nothing here is HTML: the templates
//! escape every piece. Sizes are bounded.

use crate::WebState;
use crate::util::clip;
use doublecheck_engine::parse::{Origin, ParsedMessage};
use doublecheck_store::Hold;
use serde_json::Value;

/// Most text shown per part, and in all.
const MAX_SEGMENT_BYTES: usize = 100 * 1024;
const MAX_TOTAL_BYTES: usize = 400 * 1024;
const MAX_HEADER_FIELDS: usize = 200;
const MAX_HEADER_CHARS: usize = 2000;

#[derive(Debug, Clone)]
pub struct FindingView {
    pub id: String,
    pub severity: String,
    pub location: String,
    pub evidence: String,
    pub reason: String,
    pub fix: String,
    pub count: u64,
}

/// A run of text: plain, or a masked span (highlighted, with what it is).
#[derive(Debug, Clone)]
pub struct Piece {
    pub text: String,
    pub mark: bool,
    pub note: String,
}

#[derive(Debug, Clone)]
pub struct Segment {
    pub label: String,
    pub pieces: Vec<Piece>,
    pub truncated: bool,
}

#[derive(Debug, Clone)]
pub struct AttachmentView {
    pub path: String,
    pub name: String,
    pub content_type: String,
    pub size: String,
    pub findings: String,
    /// A top-level part: "remove this attachment" can take it out.
    pub removable: bool,
}

#[derive(Debug, Clone)]
pub struct HeaderView {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct MessageView {
    pub headers: Vec<HeaderView>,
    pub raw_headers: Vec<HeaderView>,
    pub findings: Vec<FindingView>,
    pub segments: Vec<Segment>,
    pub attachments: Vec<AttachmentView>,
}

/// A finding's span in a part or header: (where, start, end, replacement, note).
struct Span {
    place: Place,
    start: usize,
    end: usize,
    with: String,
    note: String,
}

#[derive(PartialEq)]
enum Place {
    Part(String),
    Header(String),
}

/// The findings of a stored verdict (JSON as the engine serializes it).
pub fn findings(verdict_json: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(verdict_json)
        .ok()
        .and_then(|v| v.get("findings").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

fn location_text(loc: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(h) = loc["header"].as_str() {
        parts.push(format!("header {h}"));
    }
    if let Some(p) = loc["part"].as_str() {
        parts.push(format!("part {p}"));
    }
    if let (Some(s), Some(e)) = (loc["start"].as_u64(), loc["end"].as_u64()) {
        parts.push(format!("bytes {s}–{e}"));
    }
    if parts.is_empty() {
        "message".into()
    } else {
        parts.join(", ")
    }
}

/// Builds the page's view of a held message. CPU work: call it off the async runtime.
pub fn build(state: &WebState, hold: &Hold) -> MessageView {
    let limits = &state.app.engine.policy().settings.limits;
    let msg = doublecheck_engine::parse::parse(&hold.raw, limits);
    let found = findings(&hold.verdict_json);
    let mut spans = Vec::new();
    let mut views = Vec::new();
    for f in &found {
        let id = f["id"].as_str().unwrap_or("unknown").to_string();
        let severity = f["severity"].as_str().unwrap_or("info").to_string();
        let evidence = f["evidence"].as_str().unwrap_or("").to_string();
        let loc = &f["location"];
        if let (Some(s), Some(e)) = (loc["start"].as_u64(), loc["end"].as_u64()) {
            let place = match (loc["part"].as_str(), loc["header"].as_str()) {
                (Some(p), _) => Some(Place::Part(p.to_string())),
                (None, Some(h)) => Some(Place::Header(h.to_ascii_lowercase())),
                (None, None) => None,
            };
            if let Some(place) = place {
                spans.push(Span {
                    place,
                    start: usize::try_from(s).unwrap_or(usize::MAX),
                    end: usize::try_from(e).unwrap_or(usize::MAX),
                    with: if evidence.trim().is_empty() {
                        "[masked]".into()
                    } else {
                        clip(&evidence, 200)
                    },
                    note: format!("{id} ({severity})"),
                });
            }
        }
        views.push(FindingView {
            location: location_text(loc),
            evidence: mask_plain(state, &clip(&evidence, 500)),
            reason: mask_plain(state, &clip(f["reason"].as_str().unwrap_or(""), 1000)),
            fix: mask_plain(state, &clip(f["fix"].as_str().unwrap_or(""), 1000)),
            count: f["count"].as_u64().unwrap_or(1),
            id,
            severity,
        });
    }

    let headers = header_views(state, &msg, &hold.raw, &spans);
    let raw_headers = raw_header_fields(&hold.raw)
        .into_iter()
        .take(MAX_HEADER_FIELDS)
        .map(|(name, value)| HeaderView {
            value: mask_plain(state, &clip(&value, MAX_HEADER_CHARS)),
            name: clip(&name, 100),
        })
        .collect();

    let mut segments = Vec::new();
    let mut total = 0;
    for t in &msg.texts {
        let label = match &t.origin {
            Origin::Body => format!("Text (part {})", t.path),
            Origin::HtmlBody => format!("HTML, shown as text (part {})", t.path),
            _ => continue,
        };
        let place = Place::Part(t.path.clone());
        let own: Vec<&Span> = spans.iter().filter(|s| s.place == place).collect();
        let (mut pieces, _) = mask(state, &t.text, &own);
        let budget = MAX_SEGMENT_BYTES.min(MAX_TOTAL_BYTES.saturating_sub(total));
        let truncated = cut(&mut pieces, budget);
        total += pieces.iter().map(|p| p.text.len()).sum::<usize>();
        segments.push(Segment {
            label,
            pieces,
            truncated,
        });
        if total >= MAX_TOTAL_BYTES {
            break;
        }
    }

    let attachments = msg
        .attachments
        .iter()
        .take(200)
        .map(|a| {
            let ids: Vec<String> = found
                .iter()
                .filter(|f| {
                    f["location"]["part"].as_str().is_some_and(|p| {
                        p == a.path
                            || p.starts_with(&format!("{}/", a.path))
                            || p.starts_with(&format!("{}.", a.path))
                    })
                })
                .filter_map(|f| f["id"].as_str().map(str::to_string))
                .collect();
            let mut dedup: Vec<String> = Vec::new();
            for i in ids {
                if !dedup.contains(&i) {
                    dedup.push(i);
                }
            }
            AttachmentView {
                path: a.path.clone(),
                name: mask_plain(state, &clip(a.name.as_deref().unwrap_or("(no name)"), 200)),
                content_type: clip(&a.content_type, 100),
                size: human_size(a.size as u64),
                findings: if dedup.is_empty() {
                    "none".into()
                } else {
                    dedup.join(", ")
                },
                removable: !a.path.contains(['.', '/']),
            }
        })
        .collect();

    MessageView {
        headers,
        raw_headers,
        findings: views,
        segments,
        attachments,
    }
}

fn header_views(
    state: &WebState,
    msg: &ParsedMessage,
    raw: &[u8],
    spans: &[Span],
) -> Vec<HeaderView> {
    let h = &msg.headers;
    let list = |v: &[doublecheck_engine::parse::AddressEntry]| {
        v.iter()
            .take(100)
            .map(|a| match &a.name {
                Some(n) if !n.is_empty() => format!("{n} <{}>", a.address),
                _ => a.address.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    let mut push = |name: &str, value: String| {
        if !value.is_empty() {
            out.push(HeaderView {
                name: name.to_string(),
                value: mask_plain(state, &clip(&value, MAX_HEADER_CHARS)),
            });
        }
    };
    push("From", list(&h.from));
    push("To", list(&h.to));
    push("Cc", list(&h.cc));
    push("Reply-To", list(&h.reply_to));
    if let Some(s) = &h.subject {
        let own: Vec<&Span> = spans
            .iter()
            .filter(|s| s.place == Place::Header("subject".into()))
            .collect();
        let (_, masked) = mask(state, s, &own);
        push("Subject", masked);
    }
    let raw_fields = raw_header_fields(raw);
    for name in ["Date", "Message-ID"] {
        if let Some((_, v)) = raw_fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            push(name, v.clone());
        }
    }
    out
}

/// The top-level header fields, unfolded, as (name, value); at most [`MAX_HEADER_FIELDS`] + 1.
fn raw_header_fields(raw: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(last) = out.last_mut()
                && last.1.len() < MAX_HEADER_CHARS * 2
            {
                last.1.push(' ');
                last.1.push_str(text.trim());
            }
            continue;
        }
        if out.len() > MAX_HEADER_FIELDS {
            break;
        }
        match text.split_once(':') {
            Some((n, v)) => out.push((n.trim().to_string(), v.trim().to_string())),
            None => out.push(("(malformed)".into(), text.trim().to_string())),
        }
    }
    out
}

/// `text` with every sensitive value the scanner recognizes masked (for short texts: header
/// values, names, evidence).
pub fn mask_plain(state: &WebState, text: &str) -> String {
    mask(state, text, &[]).1
}

/// Masks the given finding spans (replaced by their evidence) and every value the scanner
/// recognizes; returns the pieces and the masked text as one string.
fn mask(state: &WebState, text: &str, spans: &[&Span]) -> (Vec<Piece>, String) {
    // (start, end, replacement, note), on char boundaries.
    let mut cuts: Vec<(usize, usize, String, String)> = Vec::new();
    for s in spans {
        if s.start >= s.end || s.start >= text.len() {
            continue;
        }
        let mut a = s.start;
        while !text.is_char_boundary(a) {
            a -= 1;
        }
        let mut b = s.end.min(text.len());
        while !text.is_char_boundary(b) {
            b += 1;
        }
        cuts.push((a, b, s.with.clone(), s.note.clone()));
    }
    for m in state.scanner.scan(text) {
        if m.start < m.end && m.end <= text.len() {
            cuts.push((m.start, m.end, m.masked.clone(), m.kind.label().to_string()));
        }
    }
    cuts.sort_by_key(|c| (c.0, std::cmp::Reverse(c.1)));
    // Merge overlapping spans: the union is masked; the replacements are joined.
    let mut merged: Vec<(usize, usize, String, String)> = Vec::new();
    for c in cuts {
        match merged.last_mut() {
            Some(last) if c.0 < last.1 => {
                last.1 = last.1.max(c.1);
                if !last.2.contains(&c.2) {
                    last.2.push_str(" … ");
                    last.2.push_str(&c.2);
                }
                if !last.3.contains(&c.3) {
                    last.3.push_str("; ");
                    last.3.push_str(&c.3);
                }
            }
            _ => merged.push(c),
        }
    }
    let mut pieces = Vec::new();
    let mut flat = String::with_capacity(text.len());
    let mut at = 0;
    for (a, b, with, note) in merged {
        if a > at {
            pieces.push(Piece {
                text: text[at..a].to_string(),
                mark: false,
                note: String::new(),
            });
            flat.push_str(&text[at..a]);
        }
        flat.push_str(&with);
        pieces.push(Piece {
            text: with,
            mark: true,
            note,
        });
        at = b;
    }
    if at < text.len() {
        pieces.push(Piece {
            text: text[at..].to_string(),
            mark: false,
            note: String::new(),
        });
        flat.push_str(&text[at..]);
    }
    (pieces, flat)
}

/// Keeps at most `budget` bytes of pieces (a plain piece is cut at a character boundary).
/// True when something was cut.
fn cut(pieces: &mut Vec<Piece>, budget: usize) -> bool {
    let mut used = 0;
    for i in 0..pieces.len() {
        let len = pieces[i].text.len();
        if used + len > budget {
            let mut keep = budget - used;
            let p = &mut pieces[i];
            if p.mark {
                keep = 0;
            }
            while !p.text.is_char_boundary(keep) {
                keep -= 1;
            }
            p.text.truncate(keep);
            pieces.truncate(i + 1);
            return true;
        }
        used += len;
    }
    false
}

pub fn human_size(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}
