//! `{{verify_link}}`: a message carrying this placeholder is exploded into one copy per
//! recipient, and each copy gets a link to the verification portal made for that recipient
//! alone — a verification session (customer email = the recipient, actor = the sender) and a
//! single-use link whose token (256 random bits) is only stored as its SHA-256.
//!
//! Retries: the session made for a (message, recipient) is recorded under a key derived from
//! both, so a retry after a partial failure reuses it (with a fresh link, which revokes the
//! undelivered one) instead of creating a second session. Copies already delivered are skipped
//! before this is reached ([`crate::delivery::explode`]).
//!
//! When the portal is disabled (or the placeholder is hidden by a transfer encoding, so it
//! cannot be filled in), the message is held with a reason saying so instead of sending the
//! placeholder to customers. The reason starts with `explode`, so releasing the message
//! explodes it (with links, once they can be made).

use crate::config::Config;
use crate::state::AppState;
use base64::Engine as _;
use doublecheck_store::{
    Customer, IdempotencyBegin, NewVerificationSession, StoreError, VerificationSession,
    VerificationStatus, VerificationType,
};

/// The placeholder, as it appears in a message.
pub const PLACEHOLDER: &str = "{{verify_link}}";

/// Who the session records are under in the idempotency table (no API key has this id).
pub const GATE_KEY_ID: &str = "gate";

/// The actor when the sender is empty (a bounce).
pub const GATE_ACTOR: &str = "gate";

/// Whether the raw message carries the placeholder literally (where it can be filled in).
pub fn contains_placeholder(raw: &[u8]) -> bool {
    memchr::memmem::find(raw, PLACEHOLDER.as_bytes()).is_some()
}

/// Why a message that asks for verification links cannot get them now (the hold reason), or
/// `None` when it can.
pub fn unavailable(config: &Config, raw: &[u8]) -> Option<String> {
    if !config.portal.enabled {
        return Some(
            "explode with verification links pending: the message asks for a link per \
             recipient ({{verify_link}}), but the verification portal is disabled \
             (portal.enabled = false); enable it and release the message, or send it without \
             the placeholder"
                .into(),
        );
    }
    if !contains_placeholder(raw) {
        return Some(
            "explode with verification links pending: the {{verify_link}} placeholder is \
             inside an encoded part and cannot be filled in; send the text as plain (7bit, 8bit \
             or quoted-printable) text"
                .into(),
        );
    }
    None
}

/// The base of customer links, without a trailing slash (`portal.public_url`, or the HTTP
/// listener's address).
pub fn public_url(config: &Config) -> String {
    match &config.portal.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("http://{}", config.http.listen),
    }
}

/// The customer link of a token.
pub fn link_url(config: &Config, token: &str) -> String {
    format!("{}/verify/{token}", public_url(config))
}

/// A link token (256 random bits, base64url: 43 characters) and the SHA-256 hex to store.
pub fn new_token() -> Result<(String, String), StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Other(format!("no randomness for a link: {e}")))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = doublecheck_store::sha256_hex(token.as_bytes());
    Ok((token, hash))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}

/// What a new session needs besides the customer's email.
#[derive(Debug, Clone)]
pub struct SessionRequest<'a> {
    pub email: &'a str,
    pub kind: VerificationType,
    pub name: Option<&'a str>,
    /// Recorded in the audit log and events.
    pub actor: &'a str,
    /// A JSON object.
    pub metadata: serde_json::Value,
}

/// Creates a live session waiting for the customer (`portal.session_ttl_secs`).
pub async fn create_session(
    state: &AppState,
    r: SessionRequest<'_>,
) -> Result<VerificationSession, StoreError> {
    let actor = Some(r.actor.trim())
        .filter(|a| !a.is_empty())
        .unwrap_or(GATE_ACTOR);
    let new = NewVerificationSession {
        livemode: true,
        kind: r.kind,
        customer: Customer {
            email: Some(r.email.trim().to_string()),
            name: r.name.map(str::to_string),
            ..Customer::default()
        },
        known_json: None,
        return_url: None,
        metadata_json: r.metadata.to_string(),
        api_key_id: None,
        expires_at_ms: now_ms().saturating_add(ms(state.config.portal.session_ttl_secs)),
    };
    state.store.vs_create(new, actor).await
}

/// A fresh link for the session (`portal.link_ttl_secs`; revokes its earlier links): the URL
/// to put in the message. The token itself is never stored.
pub async fn fresh_link(state: &AppState, session_id: &str) -> Result<String, StoreError> {
    let (token, hash) = new_token()?;
    state
        .store
        .link_create(session_id, &hash, ms(state.config.portal.link_ttl_secs))
        .await?;
    Ok(link_url(&state.config, &token))
}

/// The session type of links made by the gate (`portal.verify_link_type`).
pub fn gate_session_type(config: &Config) -> VerificationType {
    VerificationType::parse(&config.portal.verify_link_type).unwrap_or(VerificationType::Document)
}

/// The link for `recipient`'s copy of the message `message_key` sent by `sender`: the session
/// made for this (message, recipient) on an earlier attempt, or a new one; and a fresh link.
pub async fn link_for(
    state: &AppState,
    message_key: &str,
    recipient: &str,
    sender: &str,
) -> Result<String, StoreError> {
    let mut k = Vec::with_capacity(message_key.len() + recipient.len() + 1);
    k.extend_from_slice(message_key.as_bytes());
    k.push(0);
    k.extend_from_slice(recipient.trim().to_ascii_lowercase().as_bytes());
    let key = format!("verify_link:{}", doublecheck_store::sha256_hex(&k));
    let store = &state.store;
    let mut begin = store.idempotency_begin(GATE_KEY_ID, &key, &key).await?;
    if begin == IdempotencyBegin::InProgress {
        // An attempt that stopped between reserving and recording (or one running right now;
        // explode's claims are not exclusive either): take the reservation over.
        store.idempotency_abort(GATE_KEY_ID, &key).await?;
        begin = store.idempotency_begin(GATE_KEY_ID, &key, &key).await?;
    }
    let session_id = match begin {
        IdempotencyBegin::Replay { body, .. } => body,
        IdempotencyBegin::New => {
            let made = create_session(
                state,
                SessionRequest {
                    email: recipient,
                    kind: gate_session_type(&state.config),
                    name: None,
                    actor: sender,
                    metadata: serde_json::json!({ "source": "gate" }),
                },
            )
            .await;
            match made {
                Ok(s) => {
                    store
                        .idempotency_finish(GATE_KEY_ID, &key, 200, &s.id)
                        .await?;
                    s.id
                }
                Err(e) => {
                    let _ = store.idempotency_abort(GATE_KEY_ID, &key).await;
                    return Err(e);
                }
            }
        }
        IdempotencyBegin::Mismatch | IdempotencyBegin::InProgress => {
            return Err(StoreError::Conflict(format!(
                "the verification session for {recipient} is being created by another attempt"
            )));
        }
    };
    match fresh_link(state, &session_id).await {
        Err(StoreError::Conflict(_)) => {
            let status = store
                .vs_get(&session_id)
                .await?
                .map_or(VerificationStatus::Canceled, |s| s.status);
            Err(StoreError::Conflict(format!(
                "the verification session {session_id} made for {recipient} by an earlier \
                 attempt is {status}; no new link is sent for it"
            )))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_stored_as_hashes() {
        let (t, h) = new_token().unwrap();
        assert_eq!(t.len(), 43);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(h.len(), 64);
        assert_ne!(new_token().unwrap().0, t);
    }

    #[test]
    fn placeholder_and_availability() {
        let mut c = Config::default();
        assert!(unavailable(&c, b"Body {{verify_link}}").is_none());
        assert!(unavailable(&c, b"Body e3t2ZXJpZnlfbGlua319").is_some());
        c.portal.enabled = false;
        let why = unavailable(&c, b"Body {{verify_link}}").unwrap();
        assert!(why.contains("portal.enabled"), "{why}");
        c.portal.public_url = Some("https://verify.example.com/".into());
        assert_eq!(link_url(&c, "abc"), "https://verify.example.com/verify/abc");
    }
}
