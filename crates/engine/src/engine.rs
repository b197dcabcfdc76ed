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
        doublecheck_extract::contain(|| self.check_inner(raw, envelope, None))
            .map_err(InternalError)
    }

    /// Like [`Engine::try_check`], and records in `timings` how long parsing and each detector
    /// took (for metrics). The verdict is the same as without timings; only a monotonic clock
    /// is read (a few times per message), nothing else.
    pub fn try_check_timed(
        &self,
        raw: &[u8],
        envelope: &Envelope,
        timings: &mut Timings,
    ) -> Result<Verdict, InternalError> {
        *timings = Timings::default();
        doublecheck_extract::contain(|| self.check_inner(raw, envelope, Some(&mut *timings)))
            .map_err(InternalError)
    }

    fn check_inner(
        &self,
        raw: &[u8],
        envelope: &Envelope,
        timings: Option<&mut Timings>,
    ) -> Verdict {
        let settings = &self.policy.settings;
        let started = timings.as_ref().map(|_| std::time::Instant::now());
        let msg = parse::parse(raw, &settings.limits);
        let envelope = complete_envelope(envelope, &msg);
        let ctx = Context::new(&msg, &envelope, settings, &self.tools);
        let mut findings = match (timings, started) {
            (Some(t), Some(started)) => {
                t.parse = started.elapsed();
                detectors::run_all_timed(&ctx, &mut t.detectors)
            }
            _ => detectors::run_all(&ctx),
        };
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

/// How long the stages of one check took ([`Engine::try_check_timed`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Parsing: MIME, decoding, attachment text.
    pub parse: std::time::Duration,
    /// Each detector, in the order of [`Timings::DETECTORS`].
    pub detectors: [std::time::Duration; detectors::DETECTORS.len()],
}

impl Timings {
    /// The labels of [`Timings::detectors`], in order (`attachments` covers `attachments.*`).
    pub const DETECTORS: [&'static str; detectors::DETECTORS.len()] = {
        let mut out = [""; detectors::DETECTORS.len()];
        let mut i = 0;
        while i < out.len() {
            out[i] = detectors::DETECTORS[i].0;
            i += 1;
        }
        out
    };

    /// `(label, time)` for each detector.
    pub fn per_detector(&self) -> impl Iterator<Item = (&'static str, std::time::Duration)> + '_ {
        Self::DETECTORS
            .iter()
            .copied()
            .zip(self.detectors.iter().copied())
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
    // A request for documents by email is the finding whose fix matters most: it says how to
    // send a verification request instead.
    let fix = findings
        .iter()
        .find(|f| f.id == crate::detectors::solicits_sensitive::ID)
        .or(findings.first())
        .map(|f| f.fix.clone())
        .unwrap_or_default();
    // `{{verify_link}}` asks for one copy per recipient, each with its own verification link:
    // such a message is exploded unless the policy holds or rejects it.
    let verify_link = msg.texts.iter().any(|t| t.text.contains("{{verify_link}}"));
    let plan = match decision.action {
        Action::Allow | Action::Warn | Action::Bccify if verify_link => Plan::Explode {
            recipients: envelope.rcpt_to.clone(),
            verify_link: true,
        },
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
            verify_link,
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

#[cfg(test)]
mod tests {
    use super::*;

    const INCIDENT: &[u8] = include_bytes!("../../../examples/incident.eml");

    #[test]
    fn verify_link_placeholder_explodes_unless_held_or_rejected() {
        let engine = Engine::new(Policy::builtin());
        let one = b"From: care@phoneco.example\r\nTo: ana@gmail.com\r\nSubject: Details\r\n\r\n\
Please update your contact details here: {{verify_link}}\r\n";
        let env = Envelope {
            mail_from: Some("care@phoneco.example".into()),
            rcpt_to: vec!["ana@gmail.com".into()],
            auth_user: None,
        };
        let v = engine.check(one, &env);
        assert!(
            matches!(&v.plan, Plan::Explode { recipients, verify_link: true } if recipients == &env.rcpt_to),
            "{:?}",
            v.plan
        );
        // Without the placeholder the same message is simply delivered.
        let plain = String::from_utf8_lossy(one).replace("{{verify_link}}", "our website");
        assert!(matches!(
            engine.check(plain.as_bytes(), &env).plan,
            Plan::Deliver
        ));
        // The incident stays refused, and its reason says how to ask safely instead.
        let v = engine.check(INCIDENT, &Envelope::default());
        let Plan::Reject { text, .. } = &v.plan else {
            panic!("{:?}", v.plan);
        };
        assert!(text.contains("doublecheck verify send"), "{text}");
        assert!(text.len() <= 400, "{text}");
    }

    #[test]
    fn timed_check_gives_the_same_verdict_and_times_every_detector() {
        let engine = Engine::new(Policy::builtin());
        let env = Envelope::default();
        let plain = engine.try_check(INCIDENT, &env).expect("checked");
        let mut timings = Timings::default();
        let timed = engine
            .try_check_timed(INCIDENT, &env, &mut timings)
            .expect("checked");
        assert_eq!(plain, timed);
        assert!(timings.parse > std::time::Duration::ZERO, "{timings:?}");
        let labels: Vec<&str> = timings.per_detector().map(|(l, _)| l).collect();
        assert_eq!(labels.len(), 8);
        // Every finding's detector has a label (attachments.* under `attachments`).
        for f in &timed.findings {
            assert!(
                labels
                    .iter()
                    .any(|l| f.id == *l || f.id.starts_with("attachments.") && *l == "attachments"),
                "{} has no timing label",
                f.id
            );
        }
        // The detectors that found something took measurable time.
        for id in ["recipients.exposed", "content.solicits_sensitive"] {
            let (_, t) = timings.per_detector().find(|(l, _)| *l == id).expect(id);
            assert!(t > std::time::Duration::ZERO, "{id}: {timings:?}");
        }
        // A timed check overwrites whatever the record held before.
        let stale = std::time::Duration::from_secs(1000);
        let mut again = Timings {
            parse: stale,
            detectors: [stale; 8],
        };
        engine
            .try_check_timed(b"From: a@b.example\r\n\r\nhi\r\n", &env, &mut again)
            .expect("checked");
        assert!(again.parse < stale && again.detectors.iter().all(|t| *t < stale));
    }
}
