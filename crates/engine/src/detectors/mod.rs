//! Detectors: one module each, run in order over a [`ParsedMessage`].
//!
//! Each module exposes `detect(&Context, &mut Vec<Finding>)` and has its own tests. Later
//! detectors may read earlier findings (reply fan-out looks at solicitation findings).

pub mod attachments;
pub mod exposed;
pub mod large_audience;
pub mod lookalike;
pub mod malformed;
pub mod reply_fanout;
pub mod sensitive_data;
pub mod solicits_sensitive;

use crate::envelope::Envelope;
use crate::finding::Finding;
use crate::parse::ParsedMessage;
use crate::party::{Party, normalize_address, party_of};
use crate::settings::Settings;
use std::cell::OnceCell;

/// Shared, prebuilt matchers (built once per engine, reused for every message).
pub struct Tools {
    pub pii: doublecheck_pii::Scanner,
    pub intent: doublecheck_intent::Detector,
}

impl Tools {
    pub fn new() -> Tools {
        Tools {
            pii: doublecheck_pii::Scanner::new(doublecheck_pii::ScanOptions::default()),
            intent: doublecheck_intent::Detector::new(),
        }
    }
}

impl Default for Tools {
    fn default() -> Self {
        Tools::new()
    }
}

/// Most sensitive-data hits kept per text segment; past this, counts say "at least".
pub const MAX_HITS_PER_SEGMENT: usize = 100_000;

/// One sensitive value found in a text segment (the value itself is not kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub kind: doublecheck_pii::Kind,
    /// Hash of the normalized value, to count distinct values.
    pub key: u64,
    pub start: usize,
    pub end: usize,
}

/// The sensitive-data hits of one text segment, with the masked form of the first of each kind.
#[derive(Clone, Debug, Default)]
pub struct SegmentPii {
    pub hits: Vec<Hit>,
    masked: Vec<(doublecheck_pii::Kind, String)>,
}

impl SegmentPii {
    fn from_matches(matches: &[doublecheck_pii::Match]) -> SegmentPii {
        let mut out = SegmentPii::default();
        for m in matches.iter().take(MAX_HITS_PER_SEGMENT) {
            out.hits.push(Hit {
                kind: m.kind,
                key: m.key,
                start: m.start,
                end: m.end,
            });
            if !out.masked.iter().any(|(k, _)| *k == m.kind) {
                out.masked.push((m.kind, m.masked.clone()));
            }
        }
        out
    }

    /// The masked form of the first value of `kind` in this segment.
    pub fn masked(&self, kind: doublecheck_pii::Kind) -> Option<&str> {
        self.masked
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, m)| m.as_str())
    }
}

/// Everything a detector may look at for one message.
pub struct Context<'a> {
    pub msg: &'a ParsedMessage,
    pub envelope: &'a Envelope,
    pub settings: &'a Settings,
    pub tools: &'a Tools,
    /// Sensitive-data matches per text segment, computed once on first use.
    pii: OnceCell<Vec<SegmentPii>>,
    recipients: Vec<String>,
    has_external: bool,
}

impl<'a> Context<'a> {
    pub fn new(
        msg: &'a ParsedMessage,
        envelope: &'a Envelope,
        settings: &'a Settings,
        tools: &'a Tools,
    ) -> Context<'a> {
        let recipients: Vec<String> = envelope
            .rcpt_to
            .iter()
            .map(|r| normalize_address(r))
            .collect();
        let has_external = recipients
            .iter()
            .map(String::as_str)
            .chain(msg.visible_recipients().map(|a| a.address.as_str()))
            .any(|a| !party_of(a, settings).is_internal());
        Context {
            msg,
            envelope,
            settings,
            tools,
            pii: OnceCell::new(),
            recipients,
            has_external,
        }
    }

    /// Sensitive-data matches for each of `msg.texts` (same order).
    pub fn pii(&self) -> &[SegmentPii] {
        self.pii.get_or_init(|| {
            let mut scratch = Vec::new();
            self.msg
                .texts
                .iter()
                .map(|t| {
                    scratch.clear();
                    self.tools.pii.scan_into(&t.text, &mut scratch);
                    SegmentPii::from_matches(&scratch)
                })
                .collect()
        })
    }

    pub fn party(&self, addr: &str) -> Party {
        party_of(addr, self.settings)
    }

    /// Envelope recipients, normalized.
    pub fn envelope_recipients(&self) -> &[String] {
        &self.recipients
    }

    /// Is any recipient (envelope or visible) outside the organization?
    pub fn has_external_recipient(&self) -> bool {
        self.has_external
    }
}

/// A detector: reads the message, appends its findings.
pub type Detect = fn(&Context<'_>, &mut Vec<Finding>);

/// The detectors in the order they run: the label each is timed under, and its function.
/// `attachments` reports the four `attachments.*` ids.
pub const DETECTORS: [(&str, Detect); 8] = [
    ("recipients.exposed", exposed::detect),
    ("recipients.large_audience", large_audience::detect),
    ("recipients.lookalike", lookalike::detect),
    ("content.solicits_sensitive", solicits_sensitive::detect),
    ("recipients.reply_fanout", reply_fanout::detect),
    ("content.sensitive_data", sensitive_data::detect),
    ("attachments", attachments::detect),
    ("message.malformed", malformed::detect),
];

/// Run every detector, in a fixed order.
pub fn run_all(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (_, detect) in DETECTORS {
        detect(ctx, &mut out);
    }
    out
}

/// [`run_all`], recording how long each detector took in `times` (same order as
/// [`DETECTORS`]). The sensitive-data scan runs once per message, in the first detector that
/// asks for it (`content.sensitive_data`; `attachments` reuses it), and counts there.
pub fn run_all_timed(
    ctx: &Context<'_>,
    times: &mut [std::time::Duration; DETECTORS.len()],
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut last = std::time::Instant::now();
    for ((_, detect), time) in DETECTORS.iter().zip(times.iter_mut()) {
        detect(ctx, &mut out);
        let now = std::time::Instant::now();
        *time = now.saturating_duration_since(last);
        last = now;
    }
    out
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use std::sync::OnceLock;

    pub fn tools() -> &'static Tools {
        static TOOLS: OnceLock<Tools> = OnceLock::new();
        TOOLS.get_or_init(Tools::new)
    }

    pub fn settings() -> Settings {
        Settings {
            org_domains: vec!["example.com".into()],
            partner_domains: vec!["acme-partner.com".into()],
            ..Settings::default()
        }
    }

    /// Run one detector over a message given as text; the envelope defaults to the headers.
    pub fn run(
        detect: fn(&Context<'_>, &mut Vec<Finding>),
        raw: &str,
        rcpts: &[&str],
    ) -> Vec<Finding> {
        let settings = settings();
        let msg = crate::parse::parse(raw.as_bytes(), &settings.limits);
        let envelope = if rcpts.is_empty() {
            crate::engine::envelope_from_headers(&msg)
        } else {
            Envelope::new(msg.from_address(), rcpts)
        };
        let ctx = Context::new(&msg, &envelope, &settings, tools());
        let mut out = Vec::new();
        detect(&ctx, &mut out);
        out
    }
}
