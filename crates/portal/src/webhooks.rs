//! The webhook worker: delivers every event to every subscribed endpoint, signed by the
//! Standard Webhooks scheme, and retries with exponential backoff (`portal.webhook_retry_secs`).
//!
//! Each request is a `POST` of the event as JSON with
//! - `webhook-id`: the event id (the same across retries, for de-duplication),
//! - `webhook-timestamp`: unix seconds of this attempt,
//! - `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed
//!   by the base64-decoded secret after `whsec_`.
//!
//! A 2xx answer delivers it; anything else (or no answer within `portal.webhook_timeout_secs`)
//! is retried after the next wait of the schedule, and given up after the last. Every attempt
//! is in the delivery log (`GET /v1/webhook_endpoints/{id}/deliveries`). Deliveries are claimed
//! with a lease, so several gate instances sharing a database do not send one twice at once.
//! The same loop expires sessions past their `expires_at`, forgets idempotency records older
//! than 24 hours and runs the retention job ([`crate::retention`]).

use crate::PortalState;
use crate::api::now_ms;
use crate::render;
use doublecheck_store::{AttemptOutcome, PortalEvent, WebhookDelivery, WebhookEndpoint};
use std::time::Duration;
use tokio::sync::watch;

/// The worker's actor in the audit log.
pub const ACTOR: &str = "portal";

/// Runs until `stop` turns true.
pub async fn run(state: PortalState, mut stop: watch::Receiver<bool>) {
    let client = match client(&state) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: no HTTP client; deliveries stay queued");
            return;
        }
    };
    let interval = Duration::from_millis(state.app.config.portal.worker_interval_ms.max(1));
    let mut last_housekeeping = 0i64;
    loop {
        if *stop.borrow() {
            return;
        }
        let now = now_ms();
        if now - last_housekeeping > 60_000 {
            last_housekeeping = now;
            match state.app.store.vs_expire_due(now, ACTOR).await {
                Ok(n) if n > 0 => tracing::info!(sessions = n, "expired verification sessions"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "expiring sessions failed"),
            }
            if let Err(e) = state
                .app
                .store
                .idempotency_purge(now - 24 * 3_600_000)
                .await
            {
                tracing::warn!(error = %e, "purging idempotency records failed");
            }
            if let Err(e) = crate::customer::limits::purge(&state.app.store, now).await {
                tracing::warn!(error = %e, "purging the customer pages' old counts failed");
            }
            let retention = crate::retention::retention_ms(&state);
            match crate::retention::run_once(&state, now, retention).await {
                Ok(r) if r.sessions > 0 => tracing::info!(
                    sessions = r.sessions,
                    documents = r.documents,
                    "retention: decided sessions redacted"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention: redaction failed"),
            }
        }
        if let Err(e) = tick(&state, &client).await {
            tracing::warn!(error = %e, "webhooks: store unavailable");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// The HTTP client: rustls with ring, no redirects, a whole-request timeout.
pub fn client(state: &PortalState) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(
            state.app.config.portal.webhook_timeout_secs.max(1),
        ))
        .connect_timeout(Duration::from_secs(10))
        .user_agent("doublecheck-webhooks/1")
        .build()
        .map_err(|e| e.to_string())
}

/// One pass: every due delivery once. Returns how many were attempted.
pub async fn tick(
    state: &PortalState,
    client: &reqwest::Client,
) -> Result<usize, doublecheck_store::StoreError> {
    let store = &state.app.store;
    let due = store.webhook_due(now_ms(), 100).await?;
    let timeout_ms =
        i64::try_from(state.app.config.portal.webhook_timeout_secs).unwrap_or(60) * 1000;
    let mut n = 0;
    for (d, ev, ep) in due {
        let Some(expected) = d.next_attempt_at_ms else {
            continue;
        };
        if !store
            .webhook_claim(
                &d.event_id,
                &d.endpoint_id,
                expected,
                now_ms() + timeout_ms + 30_000,
            )
            .await?
        {
            continue;
        }
        n += 1;
        let outcome = attempt(state, client, &d, &ev, &ep).await;
        store
            .webhook_record(&d.event_id, &d.endpoint_id, outcome)
            .await?;
    }
    Ok(n)
}

/// The event as the receiver gets it.
pub fn payload(ev: &PortalEvent) -> String {
    render::event(ev).to_string()
}

async fn attempt(
    state: &PortalState,
    client: &reqwest::Client,
    d: &WebhookDelivery,
    ev: &PortalEvent,
    ep: &WebhookEndpoint,
) -> AttemptOutcome {
    let schedule = &state.app.config.portal.webhook_retry_secs;
    // `d.attempts` were made before this one; the wait after attempt k is schedule[k].
    let next = schedule
        .get(d.attempts as usize)
        .map(|s| now_ms() + i64::try_from(*s).unwrap_or(i64::MAX / 2000) * 1000);
    if ep.disabled_at_ms.is_some() {
        return AttemptOutcome {
            status_code: None,
            error: Some("endpoint disabled".into()),
            next_attempt_at_ms: None,
        };
    }
    let body = payload(ev);
    let ts = now_ms() / 1000;
    let Some(sig) = crate::secrets::sign_webhook(&ep.secret, &ev.id, ts, &body) else {
        return AttemptOutcome {
            status_code: None,
            error: Some("the endpoint's secret is not valid base64".into()),
            next_attempt_at_ms: None,
        };
    };
    let sent = client
        .post(&ep.url)
        .header("content-type", "application/json")
        .header("webhook-id", &ev.id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => AttemptOutcome {
            status_code: Some(r.status().as_u16()),
            error: None,
            next_attempt_at_ms: None,
        },
        Ok(r) => AttemptOutcome {
            status_code: Some(r.status().as_u16()),
            error: Some(format!("the endpoint answered {}", r.status())),
            next_attempt_at_ms: next,
        },
        Err(e) => AttemptOutcome {
            status_code: None,
            error: Some(if e.is_timeout() {
                "no answer in time".to_string()
            } else if e.is_connect() {
                "no connection".to_string()
            } else {
                format!("request failed: {e}")
            }),
            next_attempt_at_ms: next,
        },
    }
}
