//! The message worker: each queued message goes to one customer alone (one recipient, never
//! one message to many) through the gate's upstream (`smtp.upstream`), with a fresh link made
//! at the moment it is sent (so no token is ever stored; making it revokes the customer's
//! older links). Temporary failures are retried after `portal.message_retry_secs`; permanent
//! ones, and sessions that closed meanwhile, are given up.

use crate::PortalState;
use crate::api::now_ms;
use doublecheck_gate::delivery::{self, DeliveryError};
use doublecheck_store::{OutboxMessage, StoreError, VerificationStatus};
use std::time::Duration;
use tokio::sync::watch;

/// The most messages one pass takes from the store.
pub const PAGE: u32 = 100;

/// Runs until `stop` turns true. After a full page it goes on at once (a batch of 1,000 is
/// ten pages, not ten intervals); otherwise it waits `portal.worker_interval_ms`.
pub async fn run(state: PortalState, mut stop: watch::Receiver<bool>) {
    let interval = Duration::from_millis(state.app.config.portal.worker_interval_ms.max(1));
    loop {
        if *stop.borrow() {
            return;
        }
        match tick(&state).await {
            Ok(n) if n >= PAGE as usize => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "messages to customers: store unavailable"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Fills the template: `{{verify_link}}` and `{{name}}` (the customer's name, or "there").
pub fn fill(template: &str, link: &str, name: Option<&str>) -> String {
    template
        .replace("{{name}}", name.unwrap_or("there"))
        .replace("{{verify_link}}", link)
}

/// The message to one customer, as RFC 5322 text.
pub fn build_message(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    let id = doublecheck_store::random_base32(20).unwrap_or_default();
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost");
    mail_builder::MessageBuilder::new()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(format!("{id}@{domain}"))
        .text_body(body)
        .write_to_vec()
        .unwrap_or_default()
}

/// One pass over at most [`PAGE`] due messages; returns how many were attempted.
pub async fn tick(state: &PortalState) -> Result<usize, StoreError> {
    let store = &state.app.store;
    let due = store.outbox_due(now_ms(), PAGE).await?;
    let mut n = 0;
    for m in due {
        let Some(expected) = m.next_attempt_at_ms else {
            continue;
        };
        if !store
            .outbox_claim(&m.id, expected, now_ms() + 300_000)
            .await?
        {
            continue;
        }
        n += 1;
        let (error, next) = send_one(state, &m).await;
        store.outbox_record(&m.id, error.as_deref(), next).await?;
    }
    Ok(n)
}

async fn send_one(state: &PortalState, m: &OutboxMessage) -> (Option<String>, Option<i64>) {
    let cfg = &state.app.config;
    let retry = cfg
        .portal
        .message_retry_secs
        .get(m.attempts as usize)
        .map(|s| now_ms() + i64::try_from(*s).unwrap_or(i64::MAX / 2000) * 1000);
    let Some(upstream) = cfg.smtp.upstream.clone() else {
        return (Some("smtp.upstream is not set".into()), retry);
    };
    let session = match state.app.store.vs_get(&m.session_id).await {
        Ok(Some(s)) => s,
        Ok(None) => return (Some("no such session".into()), None),
        Err(e) => return (Some(e.to_string()), retry),
    };
    let Some(rcpt) = session.customer.email.clone().or(m.recipient.clone()) else {
        return (Some("the session has no customer email".into()), None);
    };
    if session.status != VerificationStatus::RequiresInput || session.redacted_at_ms.is_some() {
        return (Some(format!("the session is {}", session.status)), None);
    }
    let (token, hash) = match crate::secrets::new_link_token() {
        Ok(t) => t,
        Err(e) => return (Some(e.to_string()), retry),
    };
    let ttl = i64::try_from(cfg.portal.link_ttl_secs).unwrap_or(i64::MAX / 1000) * 1000;
    if let Err(e) = state.app.store.link_create(&session.id, &hash, ttl).await {
        let temporary = e.is_temporary();
        return (Some(e.to_string()), if temporary { retry } else { None });
    }
    let body = fill(
        &m.body_template,
        &state.link_url(&token),
        session.customer.name.as_deref(),
    );
    let raw = build_message(&cfg.portal.mail_from, &rcpt, &m.subject, &body);
    match delivery::send(
        &upstream,
        &cfg.portal.mail_from,
        std::slice::from_ref(&rcpt),
        &raw,
    )
    .await
    {
        Ok(()) => (None, None),
        Err(DeliveryError::Temporary(e)) => (Some(e), retry),
        Err(DeliveryError::Permanent(e)) => (Some(e), None),
    }
}
