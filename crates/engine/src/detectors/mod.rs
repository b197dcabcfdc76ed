//! Detectors: one module each, run in order over a [`ParsedMessage`].
//!
//! Each module exposes `detect(&Context, &mut Vec<Finding>)` and has its own tests. Later
//! detectors may read earlier findings (reply fan-out looks at solicitation findings).

pub mod attachments;
pub mod large_audience;
pub mod lookalike;
pub mod malformed;
pub mod reply_fanout;
pub mod exposed;
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

/// Everything a detector may look at for one message.
pub struct Context<'a> {
    pub msg: &'a ParsedMessage,
    pub envelope: &'a Envelope,
    pub settings: &'a Settings,
    pub tools: &'a Tools,
    /// Sensitive-data matches per text segment, computed once on first use.
    pii: OnceCell<Vec<Vec<doublecheck_pii::Match>>>,
    recipients: Vec<String>,
    has_external: bool,
}

impl<'a> Context<'a> {
    pub fn new(msg: &'a ParsedMessage, envelope: &'a Envelope, settings: &'a Settings, tools: &'a Tools) -> Context<'a> {
        let recipients: Vec<String> = envelope.rcpt_to.iter().map(|r| normalize_address(r)).collect();
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
    pub fn pii(&self) -> &[Vec<doublecheck_pii::Match>] {
        self.pii.get_or_init(|| {
            self.msg
                .texts
                .iter()
                .map(|t| self.tools.pii.scan(&t.text))
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

/// Run every detector, in a fixed order.
pub fn run_all(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    exposed::detect(ctx, &mut out);
    large_audience::detect(ctx, &mut out);
    lookalike::detect(ctx, &mut out);
    solicits_sensitive::detect(ctx, &mut out);
    reply_fanout::detect(ctx, &mut out);
    sensitive_data::detect(ctx, &mut out);
    attachments::detect(ctx, &mut out);
    malformed::detect(ctx, &mut out);
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
    pub fn run(detect: fn(&Context<'_>, &mut Vec<Finding>), raw: &str, rcpts: &[&str]) -> Vec<Finding> {
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
