//! The API's objects as JSON, Stripe-style: `id`, `object`, `livemode`, `created` in unix
//! seconds. Secrets never appear here except where returned once (a new API key, a webhook
//! endpoint's `secret` at creation, a link's `url`).

use doublecheck_store::{PortalEvent, VerificationSession, WebhookDelivery, WebhookEndpoint};
use serde_json::{Value, json};

/// Unix seconds of unix milliseconds.
pub fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

fn opt_secs(ms: Option<i64>) -> Value {
    ms.map(|m| Value::from(secs(m))).unwrap_or(Value::Null)
}

fn parse_obj(s: Option<&str>) -> Value {
    s.and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

/// A verification session.
pub fn session(s: &VerificationSession) -> Value {
    let known: Vec<&str> = s
        .known_json
        .as_deref()
        .and_then(|k| serde_json::from_str::<serde_json::Map<String, Value>>(k).ok())
        .map(|m| {
            crate::secrets::KNOWN_FIELDS
                .iter()
                .copied()
                .filter(|f| m.contains_key(*f))
                .collect()
        })
        .unwrap_or_default();
    let review = s.decided_at_ms.map(|at| {
        json!({
            "decision": match s.status.as_str() {
                "verified" => "approved",
                "rejected" => "rejected",
                other => other,
            },
            "reason": s.decision_reason,
            "decided_by": s.decided_by,
            "decided_at": secs(at),
        })
    });
    let last_error = s
        .last_error_code
        .as_ref()
        .map(|c| json!({ "code": c, "reason": s.last_error_reason }));
    json!({
        "id": s.id,
        "object": "verification_session",
        "livemode": s.livemode,
        "type": s.kind.as_str(),
        "status": s.status.as_str(),
        "created": secs(s.created_at_ms),
        "updated": secs(s.updated_at_ms),
        "expires_at": secs(s.expires_at_ms),
        "customer": {
            "email": s.customer.email,
            "phone": s.customer.phone,
            "name": s.customer.name,
            "reference": s.customer.reference,
        },
        "known_fields": known,
        "address": parse_obj(s.address_json.as_deref()),
        "return_url": s.return_url,
        "metadata": parse_obj(Some(&s.metadata_json)),
        "batch": s.batch_id,
        "last_error": last_error,
        "review": review,
        "redaction": s.redacted_at_ms.map(|at| json!({ "status": "redacted", "redacted_at": secs(at) })),
    })
}

/// An event; its `data.object` is the session as it was (redacted if it was redacted since).
pub fn event(e: &PortalEvent) -> Value {
    let object = match e.session() {
        Ok(Some(s)) => session(&s),
        _ => Value::Null,
    };
    json!({
        "id": e.id,
        "object": "event",
        "type": e.kind,
        "livemode": e.livemode,
        "created": secs(e.created_at_ms),
        "data": { "object": object },
    })
}

/// A webhook endpoint; `secret` only when `with_secret` (its creation).
pub fn endpoint(e: &WebhookEndpoint, with_secret: bool) -> Value {
    let mut v = json!({
        "id": e.id,
        "object": "webhook_endpoint",
        "livemode": e.livemode,
        "url": e.url,
        "enabled_events": e.enabled_events,
        "description": e.description,
        "status": if e.disabled_at_ms.is_some() { "disabled" } else { "enabled" },
        "created": secs(e.created_at_ms),
    });
    if with_secret {
        v["secret"] = e.secret.clone().into();
    }
    v
}

/// One line of the delivery log.
pub fn delivery(d: &WebhookDelivery) -> Value {
    json!({
        "object": "webhook_delivery",
        "event": d.event_id,
        "webhook_endpoint": d.endpoint_id,
        "created": secs(d.created_at_ms),
        "attempts": d.attempts,
        "status": if d.delivered_at_ms.is_some() { "delivered" }
                  else if d.failed_at_ms.is_some() { "failed" } else { "pending" },
        "next_attempt": opt_secs(d.next_attempt_at_ms),
        "last_attempt": opt_secs(d.last_attempt_at_ms),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
    })
}

/// A list: `{object: "list", data, has_more, url}`.
pub fn list(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({ "object": "list", "url": url, "has_more": has_more, "data": data })
}
