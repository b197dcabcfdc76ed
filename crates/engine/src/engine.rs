//! The engine: parse → detectors → policy → verdict, for one message at a time.

use crate::detectors::{self, Context, Tools};
use crate::envelope::Envelope;
use crate::finding::Finding;
use crate::parse::{self, ParsedMessage};
use crate::party::normalize_address;
use crate::policy::{Action, Decision, Facts, Policy};
use crate::verdict::{Plan, Verdict, ascii_line};

/// A built engine: policy plus prebuilt matchers. Cheap to share (`Send + Sync`); build once.
pub struct Engine {
    policy: Policy,
    tools: Tools,
}

impl Engine {
    pub fn new(policy: Policy) -> Engine {
        Engine {
            policy,
            tools: Tools::new(),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Check one raw message. An empty envelope is filled from the headers (From; To, Cc, Bcc).
    /// Never panics and never fails: what cannot be read becomes a finding. Should the engine
    /// itself fail (a bug), the message is held for review (fail closed); front-ends that need
    /// their own fail-open/fail-closed choice use [`Engine::try_check`].
    pub fn check(&self, raw: &[u8], envelope: &Envelope) -> Verdict {
        match self.try_check(raw, envelope) {
            Ok(v) => v,
            Err(e) => internal_error_verdict(raw.len(), envelope, &e),
        }
    }

    /// Like [`Engine::check`], but an internal failure is returned as an error.
    pub fn try_check(&self, raw: &[u8], envelope: &Envelope) -> Result<Verdict, InternalError> {
        doublecheck_extract::contain(|| self.check_inner(raw, envelope)).map_err(InternalError)
    }

    fn check_inner(&self, raw: &[u8], envelope: &Envelope) -> Verdict {
        let settings = &self.policy.settings;
        let msg = parse::parse(raw, &settings.limits);
        let envelope = complete_envelope(envelope, &msg);
        let ctx = Context::new(&msg, &envelope, settings, &self.tools);
        let mut findings = detectors::run_all(&ctx);
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let sender = envelope
            .auth_user
            .as_deref()
            .or(envelope.mail_from.as_deref())
            .filter(|s| !s.is_empty())
            .or(msg.from_address());
        let decision = self.policy.decide(
            &findings,
            &Facts {
                sender,
                has_external: ctx.has_external_recipient(),
            },
        );
        build_verdict(&msg, &envelope, findings, decision)
    }

    /// Run only the sensitive-data scanner over plain text.
    pub fn scan_text(&self, text: &str) -> Vec<doublecheck_pii::Match> {
        self.tools.pii.scan(text)
    }
}

/// The engine failed on a message (a bug, never bad input): the message was not checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalError(pub String);

impl std::fmt::Display for InternalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "internal error while checking the message: {}", self.0)
    }
}

impl std::error::Error for InternalError {}

fn internal_error_verdict(size: usize, envelope: &Envelope, e: &InternalError) -> Verdict {
    let finding = Finding::new(
        "message.malformed",
        crate::finding::Severity::High,
        crate::finding::Location::message(),
    )
    .kind("internal_error")
    .evidence(ascii_line(&e.0, 200))
    .reason("doublecheck failed while checking this message, so it was not checked.")
    .fix("Keep the message for the administrators; it is held until someone looks at it.");
    let reason = "The message could not be checked and is held for review.".to_string();
    Verdict {
        action: Action::Hold,
        would: Action::Hold,
        audit: false,
        findings: vec![finding],
        rules: vec![crate::policy::MatchedRule {
            name: "internal error".into(),
            action: Action::Hold,
            reason: reason.clone(),
        }],
        plan: Plan::Hold { reason },
        headers: Vec::new(),
        message_id: None,
        size,
        recipients: envelope.rcpt_to.len(),
    }
}

/// The envelope a message implies: From as sender; To, Cc and Bcc as recipients.
pub fn envelope_from_headers(msg: &ParsedMessage) -> Envelope {
    let h = &msg.headers;
    let mut seen = std::collections::HashSet::new();
    let mut rcpts: Vec<String> = Vec::new();
    for a in h.to.iter().chain(&h.cc).chain(&h.bcc) {
        if seen.insert(a.address.as_str()) {
            rcpts.push(a.address.clone());
        }
    }
    Envelope {
        mail_from: msg.from_address().map(str::to_string),
        rcpt_to: rcpts,
        auth_user: None,
    }
}

fn complete_envelope(given: &Envelope, msg: &ParsedMessage) -> Envelope {
    let implied = envelope_from_headers(msg);
    Envelope {
        mail_from: given.mail_from.clone().or(implied.mail_from),
        rcpt_to: if given.rcpt_to.is_empty() {
            implied.rcpt_to
        } else {
            given.rcpt_to.iter().map(|r| normalize_address(r)).collect()
        },
        auth_user: given.auth_user.clone(),
    }
}

fn build_verdict(
    msg: &ParsedMessage,
    envelope: &Envelope,
    findings: Vec<Finding>,
    decision: Decision,
) -> Verdict {
    let reason = decision
        .rules
        .first()
        .map(|r| r.reason.clone())
        .unwrap_or_default();
    let fix = findings.first().map(|f| f.fix.clone()).unwrap_or_default();
    let plan = match decision.action {
        Action::Allow | Action::Warn => Plan::Deliver,
        Action::Bccify => {
            let sender = msg
                .from_address()
                .or(envelope.mail_from.as_deref())
                .unwrap_or("")
                .to_string();
            let mut set = vec![("To".to_string(), "undisclosed-recipients:;".to_string())];
            if !sender.is_empty() {
                set.push(("Reply-To".to_string(), sender));
            }
            Plan::Bccify {
                remove_headers: vec!["To".into(), "Cc".into(), "Reply-To".into()],
                set_headers: set,
            }
        }
        Action::Explode => Plan::Explode {
            recipients: envelope.rcpt_to.clone(),
            verify_link: msg.texts.iter().any(|t| t.text.contains("{{verify_link}}")),
        },
        Action::Hold => Plan::Hold {
            reason: reason.clone(),
        },
        Action::Reject => Plan::Reject {
            code: 550,
            enhanced: "5.7.1".into(),
            text: ascii_line(&format!("{reason} {fix}"), 400),
        },
    };
    let mut headers = Vec::new();
    if !findings.is_empty() || decision.would != Action::Allow {
        headers.push((
            "X-Doublecheck-Verdict".to_string(),
            decision.would.as_str().to_string(),
        ));
        let mut ids: Vec<&str> = findings.iter().map(|f| f.id).collect();
        ids.dedup();
        let mut uniq: Vec<&str> = Vec::new();
        for id in ids {
            if !uniq.contains(&id) {
                uniq.push(id);
            }
        }
        if !uniq.is_empty() {
            headers.push(("X-Doublecheck-Findings".to_string(), uniq.join(", ")));
        }
        if !reason.is_empty() {
            headers.push(("X-Doublecheck-Reason".to_string(), ascii_line(&reason, 200)));
        }
    }
    Verdict {
        action: decision.action,
        would: decision.would,
        audit: decision.audit,
        findings,
        rules: decision.rules,
        plan,
        headers,
        message_id: msg.headers.message_id.clone(),
        size: msg.size,
        recipients: envelope.rcpt_to.len(),
    }
}
