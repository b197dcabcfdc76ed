//! Notices to the sender: a short plain-text email when a message is held, and again when a
//! reviewer releases or rejects it.
//!
//! A notice says what was found (detector ids, masked evidence only, why it matters, how to fix
//! it), what happens next, and the hold id; a rejection adds the reviewer's reason. It goes to
//! the envelope sender — never to an empty (bounce) sender, `MAILER-DAEMON`, or the sender of a
//! message that is itself automatic (`Auto-Submitted` other than `no`) — through
//! `smtp.upstream` (else `milter.reinject`), with an empty envelope sender (`MAIL FROM:<>`, so
//! nothing ever answers it) and `Auto-Submitted: auto-generated`.
//!
//! Notices are never lost: each one is built when its hold or decision is stored and written to
//! the store's `notice_outbox` in the same transaction ([`for_hold`] with
//! `Store::create_hold_notify` / `Store::decide_hold_notify`), so a gate killed right after a
//! hold still owes, and sends, its notice after the restart. Sending never delays or fails the
//! SMTP or milter transaction the notice is about:
//!
//! - right after it is queued, a background task tries it ([`queued`]: up to [`ATTEMPTS`]
//!   tries); short-lived processes (`holds release`) wait for that with [`drain`];
//! - the worker `serve` runs ([`run`]) sends every due notice, retries temporary failures with
//!   a doubling pause (`notices.retry_initial_secs`, at most `notices.retry_max_secs`), and
//!   gives a notice up when the upstream refuses it for good (5xx) or has not accepted it
//!   `notices.give_up_after_secs` after it was queued (or queued again) — logged, counted, and audited as
//!   `notice.give_up`. It picks up the notices left pending by an earlier run.
//!
//! A notice is claimed before each attempt (no two workers, in one gate or in several sharing
//! a PostgreSQL database, send it at once) and marked sent as soon as the upstream accepted it:
//! an accepted notice is never sent again, except when the gate dies between the upstream's
//! 250 and that mark — then it goes out a second time after the claim ends ([`LEASE_MS`]).
//! Metrics: `doublecheck_notices_total{event,result}`, `doublecheck_notices_pending`,
//! `doublecheck_notices_oldest_pending_seconds`; `doublecheck holds notices` lists the queue.

use crate::delivery::{self, DeliveryError};
use crate::state::AppState;
use doublecheck_store::{Hold, NewNotice, Notice, NoticeBacklog, NoticeStatus};
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::watch;

/// Tries made right after a notice is queued, in the process that queued it (the first, and
/// the retries after temporary failures at the configured pauses); the worker does the rest.
pub const ATTEMPTS: usize = 3;
/// One try may take at most this long (connect, conversation, data).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// A claimed notice is nobody else's for this long (more than a try and the marking after it
/// take); if its claimer died, it is due again then.
pub const LEASE_MS: i64 = 2 * 60 * 1000;
/// How often the worker looks for due notices.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// Due notices read per pass, and tried at once.
const BATCH: u32 = 100;
const PARALLEL: usize = 8;
/// Most findings listed in one notice (the others are counted).
const MAX_FINDINGS: usize = 20;
/// Most rule reasons listed in one notice (the others are counted).
const MAX_REASONS: usize = 20;
/// Most recipients named in one notice (the others are counted).
const MAX_NAMED_RECIPIENTS: usize = 5;
/// Headers read from the held message (Subject, Message-ID, Auto-Submitted), at most.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// What happened to the held message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Held for review.
    Held,
    /// A reviewer approved it; it is delivered.
    Released { by: String, reason: Option<String> },
    /// A reviewer refused it; it is never delivered.
    Rejected { by: String, reason: Option<String> },
}

impl Event {
    /// `held`, `released` or `rejected`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Event::Held => "held",
            Event::Released { .. } => "released",
            Event::Rejected { .. } => "rejected",
        }
    }
}

/// The held message a notice is about.
#[derive(Clone, Copy, Debug)]
pub struct About<'a> {
    pub hold_id: &'a str,
    /// The envelope sender: the notice goes there.
    pub mail_from: &'a str,
    pub rcpt_to: &'a [String],
    /// The message (only its header is read: Subject, Message-ID, Auto-Submitted).
    pub raw: &'a [u8],
    /// The verdict as JSON (as stored with the hold): findings and rules.
    pub verdict: &'a serde_json::Value,
}

/// Where a notice to this envelope sender goes, if anywhere: not to an empty sender (bounces)
/// nor to `MAILER-DAEMON`.
pub fn recipient(mail_from: &str) -> Option<&str> {
    let addr = mail_from
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let local = addr.rsplit_once('@').map_or(addr, |(l, _)| l);
    if addr.is_empty()
        || local.eq_ignore_ascii_case("mailer-daemon")
        || addr.bytes().any(|b| b.is_ascii_control() || b == b' ')
    {
        return None;
    }
    Some(addr)
}

/// The few header fields of the held message a notice needs.
struct Original {
    subject: Option<String>,
    message_id: Option<String>,
    automatic: bool,
}

fn original(raw: &[u8]) -> Original {
    let end = memchr::memmem::find(raw, b"\r\n\r\n")
        .or_else(|| memchr::memmem::find(raw, b"\n\n"))
        .map_or(raw.len(), |e| e + 2)
        .min(MAX_HEADER_BYTES)
        .min(raw.len());
    let parsed = mail_parser::MessageParser::new().parse_headers(&raw[..end]);
    let Some(m) = parsed else {
        return Original {
            subject: None,
            message_id: None,
            automatic: false,
        };
    };
    let automatic = m
        .header_raw("Auto-Submitted")
        .map(|v| v.trim().split(';').next().unwrap_or("").trim())
        .is_some_and(|v| !v.eq_ignore_ascii_case("no"));
    Original {
        subject: m.subject().map(|s| one_line(s, 120)),
        message_id: m.message_id().map(|s| one_line(s, 200)),
        automatic,
    }
}

/// One line of at most `max` characters: control characters become spaces, runs of spaces one.
fn one_line(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut space = false;
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' && (space || out.is_empty()) {
            continue;
        }
        space = c == ' ';
        if n == max {
            out.push('…');
            break;
        }
        out.push(c);
        n += 1;
    }
    out.trim_end().to_string()
}

/// The text of a notice (without the header fields).
pub fn body(event: &Event, about: &About<'_>) -> String {
    let orig = original(about.raw);
    let mut t = String::new();
    let _ = match event {
        Event::Held => writeln!(
            t,
            "Your message was held for review before delivery. It has not been sent yet."
        ),
        Event::Released { by, .. } => writeln!(
            t,
            "Your held message was approved by {} and released for delivery.",
            one_line(by, 100)
        ),
        Event::Rejected { by, .. } => writeln!(
            t,
            "Your held message was rejected by {}. It will not be delivered.",
            one_line(by, 100)
        ),
    };
    t.push('\n');
    let subject = orig.subject.as_deref().unwrap_or("(no subject)");
    let _ = writeln!(t, "  Subject: {subject}");
    let n = about.rcpt_to.len();
    let named: Vec<String> = about
        .rcpt_to
        .iter()
        .take(MAX_NAMED_RECIPIENTS)
        .map(|r| one_line(r, 100))
        .collect();
    let shown = if n > MAX_NAMED_RECIPIENTS {
        format!(" ({MAX_NAMED_RECIPIENTS} shown)")
    } else {
        String::new()
    };
    wrap(
        &mut t,
        &format!(
            "To: {n} recipient{}{shown}: {}",
            if n == 1 { "" } else { "s" },
            named.join(", ")
        ),
        "  ",
        76,
    );
    let _ = writeln!(t, "  Hold id: {}", about.hold_id);
    match event {
        Event::Released {
            reason: Some(reason),
            ..
        } => {
            let _ = writeln!(t, "\nReviewer's note: {}", one_line(reason, 1000));
        }
        Event::Rejected { reason, .. } => {
            let reason = reason.as_deref().map_or_else(
                || "(none given; ask the reviewer)".to_string(),
                |r| one_line(r, 1000),
            );
            let _ = writeln!(t, "\nReviewer's reason: {reason}");
        }
        _ => {}
    }
    if !matches!(event, Event::Released { .. }) {
        findings(&mut t, about.verdict);
        if solicits_sensitive(about.verdict) {
            t.push_str(&safe_way_text());
        }
    }
    t.push_str("\nWhat happens next:\n");
    let next = match event {
        Event::Held => {
            "A reviewer (someone other than you) will look at the message. If they approve it, it \
             is delivered as it is and you get a notice. If they reject it, it is not delivered \
             and you get a notice with their reason. You do not need to send it again. If you \
             would rather fix it yourself, apply the fixes above, send a new message, and ask a \
             reviewer to reject this one (quote the hold id)."
        }
        Event::Released { .. } => {
            "Nothing: the message goes to its recipients as it was held. You do not need to send \
             it again."
        }
        Event::Rejected { .. } => {
            "Nothing is sent. If the message still needs to go out, apply the fixes above and \
             send a new message, or talk to the reviewer (quote the hold id)."
        }
    };
    wrap(&mut t, next, "  ", 76);
    t.push_str("\n-- \ndoublecheck: outgoing mail is checked before it leaves.\n");
    t
}

/// Whether the verdict has a `content.solicits_sensitive` finding.
pub fn solicits_sensitive(verdict: &serde_json::Value) -> bool {
    verdict["findings"]
        .as_array()
        .is_some_and(|l| l.iter().any(|f| f["id"] == "content.solicits_sensitive"))
}

/// The CLI example of a verification request (the safe way to collect a document).
pub const VERIFY_CLI_EXAMPLE: &str =
    "doublecheck verify send --email customer@example.com --type document";

/// The API example of a verification request, against the portal at `base` (no trailing
/// slash).
pub fn verify_api_example(base: &str) -> String {
    format!(
        "curl -u dk_live_...: {base}/v1/verification_sessions -H 'content-type: \
         application/json' -d '{{\"type\":\"document\",\"customer\":{{\"email\":\
         \"customer@example.com\"}},\"send\":true}}'"
    )
}

/// "How to ask safely instead": send a verification request (CLI and API examples).
pub fn safe_way_text() -> String {
    format!(
        "\nHow to ask safely instead:\n  Send each customer a verification request: they get \
         their own\n  message with a single-use link to a secure page where they upload the\n  \
         document, and nothing sensitive travels by email.\n  From the command line:\n    \
         {VERIFY_CLI_EXAMPLE}\n  Through the API (a key from `doublecheck apikey create`):\n    \
         curl -u dk_live_...: https://verify.example.com/v1/verification_sessions \\\n      \
         -H 'content-type: application/json' \\\n      \
         -d '{{\"type\":\"document\",\"customer\":{{\"email\":\"customer@example.com\"}},\"send\":true}}'\n  \
         Or write {{{{verify_link}}}} in the message: each recipient gets their own copy\n  \
         with their own link.\n"
    )
}

/// "Why" (the matching rules' reasons) and "What doublecheck found" (each finding: id,
/// severity, masked evidence, why it matters, how to fix it).
fn findings(t: &mut String, verdict: &serde_json::Value) {
    let mut reasons: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut more = 0usize;
    for r in verdict["rules"].as_array().into_iter().flatten() {
        if let Some(reason) = r["reason"].as_str().map(|s| one_line(s, 500))
            && !reason.is_empty()
            && seen.insert(reason.clone())
        {
            if reasons.len() < MAX_REASONS {
                reasons.push(reason);
            } else {
                more += 1;
            }
        }
    }
    if !reasons.is_empty() {
        t.push_str("\nWhy:\n");
        for r in &reasons {
            wrap(t, &format!("- {r}"), "  ", 76);
        }
        if more > 0 {
            let _ = writeln!(t, "  … and {more} more");
        }
    }
    let list = verdict["findings"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    if list.is_empty() {
        return;
    }
    t.push_str("\nWhat doublecheck found:\n");
    for f in list.iter().take(MAX_FINDINGS) {
        let id = one_line(f["id"].as_str().unwrap_or("?"), 60);
        let severity = one_line(f["severity"].as_str().unwrap_or("?"), 20);
        wrap(t, &format!("- {id} ({severity})"), "  ", 76);
        if let Some(e) = f["evidence"].as_str().filter(|e| !e.is_empty()) {
            wrap(
                t,
                &format!("Evidence (masked): {}", one_line(e, 200)),
                "    ",
                76,
            );
        }
        if let Some(r) = f["reason"].as_str().filter(|r| !r.is_empty()) {
            wrap(t, &format!("Why: {}", one_line(r, 500)), "    ", 76);
        }
        if let Some(x) = f["fix"].as_str().filter(|x| !x.is_empty()) {
            wrap(t, &format!("Fix: {}", one_line(x, 500)), "    ", 76);
        }
    }
    if list.len() > MAX_FINDINGS {
        let _ = writeln!(t, "  … and {} more", list.len() - MAX_FINDINGS);
    }
}

/// Append `text` wrapped at `width` columns, every line starting with `indent`.
fn wrap(t: &mut String, text: &str, indent: &str, width: usize) {
    let mut line = String::from(indent);
    let mut empty = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !empty && line.chars().count() + 1 + word.chars().count() > width {
            t.push_str(line.trim_end());
            t.push('\n');
            line = format!("{indent}  ");
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    if !empty {
        t.push_str(line.trim_end());
        t.push('\n');
    }
}

/// The whole notice, ready to send; `None` when there is nobody to tell (see [`recipient`])
/// or the held message is itself automatic.
pub fn build(from: &str, event: &Event, about: &About<'_>) -> Option<(String, Vec<u8>)> {
    let to = recipient(about.mail_from)?.to_string();
    let orig = original(about.raw);
    if orig.automatic {
        return None;
    }
    let subject = orig.subject.as_deref().unwrap_or("(no subject)");
    let subject = match event {
        Event::Held => format!("Held for review: {subject}"),
        Event::Released { .. } => format!("Released: {subject}"),
        Event::Rejected { .. } => format!("Rejected: {subject}"),
    };
    let domain = from.rsplit_once('@').map_or("localhost", |(_, d)| d);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let message_id = format!(
        "doublecheck.{}.{}.{nanos:x}@{domain}",
        event.as_str(),
        about.hold_id
    );
    let mut b = MessageBuilder::new()
        .from(("doublecheck", from))
        .to(to.as_str())
        .subject(subject)
        .message_id(message_id)
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .header("X-Auto-Response-Suppress", Raw::new("All"))
        .header("X-Doublecheck-Notice", Raw::new(event.as_str()))
        .header("X-Doublecheck-Hold", Raw::new(about.hold_id.to_string()));
    if let Some(id) = orig.message_id.as_deref().filter(|id| {
        id.bytes()
            .all(|c| c.is_ascii_graphic() && c != b'<' && c != b'>')
    }) {
        b = b.in_reply_to(id.to_string()).references(id.to_string());
    }
    let raw = b.text_body(body(event, about)).write_to_vec().ok()?;
    Some((to, raw))
}

/// Where notices go: `smtp.upstream`, else `milter.reinject`.
fn upstream(state: &AppState) -> Option<String> {
    state
        .config
        .smtp
        .upstream
        .clone()
        .or_else(|| state.config.milter.reinject.clone())
}

/// The notice about `hold` to queue with it (for [`Store::create_hold_notify`] and
/// [`Store::decide_hold_notify`]): `None` when notices are off, there is nobody to tell (see
/// [`build`]), or nowhere to send it (neither `smtp.upstream` nor `milter.reinject`) — each
/// logged and counted as `skipped`.
///
/// [`Store::create_hold_notify`]: doublecheck_store::Store::create_hold_notify
/// [`Store::decide_hold_notify`]: doublecheck_store::Store::decide_hold_notify
pub fn for_hold(state: &AppState, event: &Event, hold: &Hold) -> Option<NewNotice> {
    let label = event.as_str();
    if !state.config.notices.enabled {
        return None;
    }
    let verdict = serde_json::from_str(&hold.verdict_json).unwrap_or_default();
    let about = About {
        hold_id: &hold.id,
        mail_from: &hold.mail_from,
        rcpt_to: &hold.rcpt_to,
        raw: &hold.raw,
        verdict: &verdict,
    };
    if upstream(state).is_none() {
        tracing::warn!(
            hold = %hold.id,
            event = label,
            "no notice sent: neither smtp.upstream nor milter.reinject is configured"
        );
        crate::metrics::record_notice(label, "skipped");
        return None;
    }
    let from = state
        .config
        .notices
        .from_address(&state.config.smtp.hostname);
    let Some((recipient, raw)) = build(&from, event, &about) else {
        tracing::debug!(hold = %hold.id, event = label, "no notice: no one to tell");
        crate::metrics::record_notice(label, "skipped");
        return None;
    };
    let notice = NewNotice {
        event: label.to_string(),
        recipient,
        raw,
    };
    // The store leaves out a notice its outbox does not take (and keeps the hold); say so here.
    if let Err(e) = notice.check() {
        tracing::warn!(hold = %hold.id, event = label, error = %e, "no notice: {e}");
        crate::metrics::record_notice(label, "skipped");
        return None;
    }
    Some(notice)
}

/// A notice was stored (`None`: none was, or the hold had one for this event already): count
/// it, and try to send it now in the background (up to [`ATTEMPTS`] tries, a short doubling
/// pause apart); the worker ([`run`]) takes over from there. Returns at once; never fails.
pub fn queued(state: &AppState, notice: Option<Notice>) {
    let Some(notice) = notice else {
        return;
    };
    crate::metrics::record_notice(&notice.event, "queued");
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let state = state.clone();
    let guard = Pending::start();
    runtime.spawn(async move {
        let _guard = guard;
        send_now(&state, &notice.id).await;
    });
}

/// Notices sent but not finished yet, process-wide (see [`drain`]).
fn pending() -> &'static watch::Sender<usize> {
    static PENDING: OnceLock<watch::Sender<usize>> = OnceLock::new();
    PENDING.get_or_init(|| watch::Sender::new(0))
}

struct Pending;

impl Pending {
    fn start() -> Pending {
        pending().send_modify(|n| *n += 1);
        Pending
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        pending().send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Wait until every notice this process started sending right away is sent, given up, or left
/// to the worker (after [`ATTEMPTS`] tries), at most `timeout`. Returns whether they all
/// finished. Notices not sent stay queued in the store either way.
pub async fn drain(timeout: Duration) -> bool {
    let mut rx = pending().subscribe();
    tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0))
        .await
        .is_ok_and(|r| r.is_ok())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000)
}

/// The pause after the `attempts`-th failed attempt: `retry_initial_secs` doubled each time,
/// at most `retry_max_secs`.
pub fn backoff(config: &crate::config::NoticesConfig, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(40);
    let secs = config
        .retry_initial_secs
        .saturating_mul(1u64 << doublings)
        .min(config.retry_max_secs);
    Duration::from_secs(secs)
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tried {
    Sent,
    /// A temporary failure: the next attempt is due then.
    Retry(i64),
    GaveUp,
    /// The store did not record the outcome (unreachable, or the claim had ended); the notice
    /// is due again when its claim ends, unless another worker has it.
    Unrecorded,
}

/// Right after a notice is queued: up to [`ATTEMPTS`] tries, each at the time the previous
/// failure set (unless the worker took it first).
async fn send_now(state: &AppState, id: &str) {
    let max_wait = Duration::from_secs(60);
    for _ in 0..ATTEMPTS {
        let notice = match state.store.get_notice(id).await {
            Ok(Some(n)) if n.status() == NoticeStatus::Pending => n,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(notice = id, error = %e, "notice: store unavailable; the worker retries");
                return;
            }
        };
        let Some(due) = notice.next_attempt_at_ms else {
            return;
        };
        let wait = Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0));
        if wait > max_wait {
            return;
        }
        tokio::time::sleep(wait).await;
        if !matches!(
            claim_and_try(state, notice, due).await,
            Some(Tried::Retry(_))
        ) {
            return;
        }
    }
}

/// Claims `notice` (due at `due`) and makes one attempt; `None` when another worker had it.
async fn claim_and_try(state: &AppState, notice: Notice, due: i64) -> Option<Tried> {
    let lease = now_ms().saturating_add(LEASE_MS);
    match state.store.notice_claim(&notice.id, due, lease).await {
        Ok(true) => Some(attempt(state, &notice, lease).await),
        Ok(false) => None,
        Err(e) => {
            tracing::warn!(notice = %notice.id, error = %e, "notice: cannot claim; retrying later");
            None
        }
    }
}

/// One attempt at a notice claimed until `lease` (the claim's value: a failure is recorded
/// only while the claim is still this one), and its outcome recorded.
///
/// Exactly once, nearly: the notice is claimed before it is sent, and marked sent as soon as
/// the upstream accepted it (250 after the data). If the gate dies (or the database is
/// unreachable for longer than the claim) between that 250 and the mark, the notice is due
/// again when the claim ends ([`LEASE_MS`]) and is sent a second time: that is the only
/// window, and it is at least once, never zero.
async fn attempt(state: &AppState, n: &Notice, lease: i64) -> Tried {
    let notices = &state.config.notices;
    let result = match upstream(state) {
        None => Err(DeliveryError::Temporary(
            "neither smtp.upstream nor milter.reinject is configured".into(),
        )),
        Some(upstream) => {
            let rcpts = [n.recipient.clone()];
            match tokio::time::timeout(
                ATTEMPT_TIMEOUT,
                delivery::send(&upstream, "", &rcpts, &n.raw),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(DeliveryError::Temporary("timed out".into())),
            }
        }
    };
    let tries = n.attempts.saturating_add(1);
    // Queued, or queued again after being given up: the give-up age counts from then.
    let since = n.queued_since_ms();
    let age = Duration::from_millis(u64::try_from(now_ms() - since).unwrap_or(0));
    match result {
        Ok(()) => {
            // Accepted: mark it at once, and keep trying for a while under the claim.
            for pause in [0u64, 1, 2, 4, 8, 15] {
                tokio::time::sleep(Duration::from_secs(pause)).await;
                match state.store.notice_sent(&n.id).await {
                    Ok(()) => {
                        tracing::info!(hold = %n.hold_id, notice = %n.id, event = %n.event,
                            to = %n.recipient, tries, "notice sent");
                        crate::metrics::record_notice(&n.event, "sent");
                        return Tried::Sent;
                    }
                    Err(e) => {
                        tracing::warn!(notice = %n.id, error = %e,
                            "notice sent, but not marked yet; retrying the mark");
                    }
                }
            }
            tracing::error!(hold = %n.hold_id, notice = %n.id,
                "notice sent, but the store could not record it: it may be sent again");
            crate::metrics::record_notice(&n.event, "sent");
            Tried::Unrecorded
        }
        Err(DeliveryError::Permanent(e)) => {
            give_up(state, n, lease, &e, "the upstream refused it").await
        }
        Err(DeliveryError::Temporary(e)) => {
            let deadline = since.saturating_add(secs_ms(notices.give_up_after_secs));
            let now = now_ms();
            if now >= deadline {
                let why = format!(
                    "not accepted within notices.give_up_after_secs ({} s)",
                    notices.give_up_after_secs
                );
                return give_up(state, n, lease, &e, &why).await;
            }
            let pause = i64::try_from(backoff(notices, tries).as_millis()).unwrap_or(i64::MAX);
            let next = now.saturating_add(pause).min(deadline);
            match state.store.notice_retry_at(&n.id, lease, &e, next).await {
                Ok(false) => {
                    tracing::warn!(notice = %n.id, error = %e,
                        "notice: attempt failed after its claim ended; not recorded");
                    Tried::Unrecorded
                }
                Ok(true) => {
                    tracing::warn!(hold = %n.hold_id, notice = %n.id, event = %n.event,
                        to = %n.recipient, tries, age_secs = age.as_secs(), error = %e,
                        retry_in_secs = (next - now) / 1000, "notice not sent yet; will retry");
                    crate::metrics::record_notice(&n.event, "retry");
                    Tried::Retry(next)
                }
                Err(se) => {
                    tracing::warn!(notice = %n.id, error = %se,
                        "notice: cannot record the attempt; it is due again when its claim ends");
                    Tried::Unrecorded
                }
            }
        }
    }
}

async fn give_up(state: &AppState, n: &Notice, lease: i64, error: &str, why: &str) -> Tried {
    match state
        .store
        .notice_give_up(&n.id, lease, error, why, true)
        .await
    {
        Ok(false) => {
            tracing::warn!(notice = %n.id, error = %error,
                "notice: not given up, it was sent, given up, or claimed again meanwhile");
            Tried::Unrecorded
        }
        Ok(true) => {
            tracing::error!(hold = %n.hold_id, notice = %n.id, event = %n.event,
                to = %n.recipient, tries = n.attempts.saturating_add(1), error = %error,
                "notice given up: {why}");
            crate::metrics::record_notice(&n.event, "failed");
            Tried::GaveUp
        }
        Err(se) => {
            tracing::warn!(notice = %n.id, error = %se,
                "notice: cannot record giving up; it is due again when its claim ends");
            Tried::Unrecorded
        }
    }
}

/// One pass of the worker: every due notice (at most [`BATCH`]), claimed and tried, at most
/// [`PARALLEL`] at once; then the backlog gauges. Returns how many were tried.
pub async fn deliver_due(state: &AppState) -> Result<usize, doublecheck_store::StoreError> {
    let due = state.store.notices_due(now_ms(), BATCH).await?;
    let mut tried = 0;
    let mut running = tokio::task::JoinSet::new();
    for n in due {
        let Some(at) = n.next_attempt_at_ms else {
            continue;
        };
        while running.len() >= PARALLEL {
            if let Some(Ok(Some(_))) = running.join_next().await {
                tried += 1;
            }
        }
        let st = state.clone();
        running.spawn(async move { claim_and_try(&st, n, at).await });
    }
    while let Some(r) = running.join_next().await {
        if let Ok(Some(_)) = r {
            tried += 1;
        }
    }
    backlog(state).await?;
    Ok(tried)
}

/// Sets the backlog gauges; returns the backlog.
async fn backlog(state: &AppState) -> Result<NoticeBacklog, doublecheck_store::StoreError> {
    let b = state.store.notice_backlog().await?;
    let oldest = b.oldest_pending_ms.map_or(Duration::ZERO, |t| {
        Duration::from_millis(u64::try_from(now_ms() - t).unwrap_or(0))
    });
    crate::metrics::record_notice_backlog(b.pending, oldest);
    Ok(b)
}

/// The notice worker `serve` runs: at start it reports the notices left pending (by a
/// previous run, or by `doublecheck holds release`), then sends due notices every
/// [`POLL_EVERY`] until `stop` turns true;
/// attempts in flight finish first.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    match backlog(&state).await {
        Ok(b) if b.pending > 0 => tracing::info!(
            pending = b.pending,
            oldest = %b.oldest_pending_ms.map(doublecheck_store::rfc3339).unwrap_or_default(),
            "notices to senders pending; sending them"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "notices: store unavailable; retrying"),
    }
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = deliver_due(&state).await {
            tracing::warn!(error = %e, "notices: store unavailable; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INCIDENT: &[u8] = include_bytes!("../../../examples/incident.eml");

    fn verdict() -> serde_json::Value {
        let engine = doublecheck_engine::Engine::new(doublecheck_engine::Policy::builtin());
        let v = engine.check(INCIDENT, &doublecheck_engine::Envelope::default());
        serde_json::to_value(&v).expect("json")
    }

    fn about<'a>(verdict: &'a serde_json::Value, rcpts: &'a [String]) -> About<'a> {
        About {
            hold_id: "hold_abc123",
            mail_from: "care@phoneco.example",
            rcpt_to: rcpts,
            raw: INCIDENT,
            verdict,
        }
    }

    #[test]
    fn bounces_and_mailer_daemon_get_no_notice() {
        assert_eq!(recipient(""), None);
        assert_eq!(recipient("<>"), None);
        assert_eq!(recipient("MAILER-DAEMON@mail.example"), None);
        assert_eq!(recipient("mailer-daemon"), None);
        assert_eq!(recipient("a\r\nb@x.example"), None);
        assert_eq!(
            recipient("care@phoneco.example"),
            Some("care@phoneco.example")
        );
        let v = verdict();
        let rcpts = vec!["a@gmail.com".to_string()];
        let mut a = about(&v, &rcpts);
        a.mail_from = "";
        assert!(build("dc@x.example", &Event::Held, &a).is_none());
        // A message that is itself automatic gets no answer (RFC 3834).
        let auto = [b"Auto-Submitted: auto-replied\r\n".as_slice(), INCIDENT].concat();
        let mut a = about(&v, &rcpts);
        a.raw = &auto;
        assert!(build("dc@x.example", &Event::Held, &a).is_none());
        let no = [b"Auto-Submitted: no\r\n".as_slice(), INCIDENT].concat();
        a.raw = &no;
        assert!(build("dc@x.example", &Event::Held, &a).is_some());
    }

    #[test]
    fn held_notice_says_what_was_found_masked_and_what_happens_next() {
        let v = verdict();
        let rcpts: Vec<String> = (0..7).map(|i| format!("customer{i}@gmail.com")).collect();
        let (to, raw) = build("dc@mail.example", &Event::Held, &about(&v, &rcpts)).expect("built");
        assert_eq!(to, "care@phoneco.example");
        let text = String::from_utf8_lossy(&raw).to_string();
        let parsed = mail_parser::MessageParser::new()
            .parse(&raw)
            .expect("parses");
        let body = parsed.body_text(0).expect("text body").to_string();
        assert!(
            text.contains("Auto-Submitted: auto-generated\r\n"),
            "{text}"
        );
        assert!(
            text.contains("X-Doublecheck-Hold: hold_abc123\r\n"),
            "{text}"
        );
        assert!(
            parsed
                .subject()
                .is_some_and(|s| s.starts_with("Held for review: "))
        );
        assert!(parsed.in_reply_to().as_text().is_some(), "{text}");
        for want in [
            "held for review",
            "hold_abc123",
            "content.solicits_sensitive (high)",
            "recipients.exposed",
            "How to ask safely instead:",
            "doublecheck verify send --email customer@example.com --type document",
            "/v1/verification_sessions",
            "Evidence (masked):",
            "Fix:",
            "What happens next:",
            "7 recipients (5 shown):",
        ] {
            assert!(body.contains(want), "missing {want:?} in:\n{body}");
        }
        // Only masked evidence: no recipient beyond the first five, and the findings'
        // evidence exactly as the verdict has it (already masked).
        assert!(!body.contains("customer6@"), "{body}");
        for f in v["findings"].as_array().expect("findings") {
            if let Some(e) = f["evidence"].as_str().filter(|e| !e.is_empty()) {
                let start: String = one_line(e, 200).chars().take(20).collect();
                assert!(body.contains(&start), "{e} not in:\n{body}");
            }
        }
        assert!(body.lines().all(|l| l.chars().count() <= 100), "{body}");
    }

    #[test]
    fn rejected_notice_carries_the_reviewers_reason() {
        let v = verdict();
        let rcpts = vec!["a@gmail.com".to_string()];
        let event = Event::Rejected {
            by: "rita".into(),
            reason: Some("Use the portal\r\nBcc: x@evil.example".into()),
        };
        let (_, raw) = build("dc@mail.example", &event, &about(&v, &rcpts)).expect("built");
        let parsed = mail_parser::MessageParser::new()
            .parse(&raw)
            .expect("parses");
        let body = parsed.body_text(0).expect("text").to_string();
        assert!(body.contains("rejected by rita"), "{body}");
        assert!(
            body.contains("Reviewer's reason: Use the portal Bcc: x@evil.example"),
            "{body}"
        );
        assert!(parsed.bcc().is_none());
        assert!(
            parsed
                .subject()
                .is_some_and(|s| s.starts_with("Rejected: "))
        );
        let released = Event::Released {
            by: "rita".into(),
            reason: None,
        };
        let (_, raw) = build("dc@mail.example", &released, &about(&v, &rcpts)).expect("built");
        let parsed = mail_parser::MessageParser::new()
            .parse(&raw)
            .expect("parses");
        let body = parsed.body_text(0).expect("text").to_string();
        assert!(body.contains("approved by rita"), "{body}");
        assert!(!body.contains("Reviewer's reason"), "{body}");
    }

    /// However many rules and findings a verdict has, a notice lists at most twenty of each,
    /// counts the rest, and stays small enough for the outbox.
    #[test]
    fn many_rules_and_findings_are_capped() {
        let long = "x".repeat(5000);
        let rules: Vec<serde_json::Value> = (0..500)
            .map(|i| serde_json::json!({"reason": format!("rule {i} {long}")}))
            .collect();
        let findings: Vec<serde_json::Value> = (0..500)
            .map(|i| {
                serde_json::json!({"id": format!("d{i}"), "severity": "high",
                    "evidence": long, "reason": long, "fix": long})
            })
            .collect();
        let v = serde_json::json!({"rules": rules, "findings": findings});
        let rcpts = vec!["a@gmail.com".to_string()];
        let text = body(&Event::Held, &about(&v, &rcpts));
        assert!(text.contains("- rule 19\n"), "{text}");
        assert!(!text.contains("- rule 20\n"), "{text}");
        assert!(text.contains("  … and 480 more"), "{text}");
        assert_eq!(text.matches("… and 480 more").count(), 2, "{text}");
        assert!(
            text.contains("- d19 (high)") && !text.contains("- d20 ("),
            "{text}"
        );
        let (to, raw) = build("dc@mail.example", &Event::Held, &about(&v, &rcpts)).expect("built");
        assert!(raw.len() < 128 * 1024, "{} bytes", raw.len());
        let n = NewNotice {
            event: "held".into(),
            recipient: to,
            raw,
        };
        assert!(n.check().is_ok());
    }

    #[test]
    fn one_line_bounds_and_flattens() {
        assert_eq!(one_line("a\r\n  b\tc", 10), "a b c");
        assert_eq!(one_line("ééééé", 3), "ééé…");
        let mut t = String::new();
        wrap(&mut t, &"word ".repeat(40), "  ", 30);
        assert!(
            t.lines().count() > 5 && t.lines().all(|l| l.len() <= 30),
            "{t}"
        );
    }
}
