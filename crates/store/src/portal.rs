//! The verification portal's records: verification sessions and their status machine, links,
//! one-time codes, documents, events, API keys, idempotency records, webhook endpoints and
//! deliveries, batches and the outbox of messages to customers.
//!
//! Secrets are never stored in the clear: links and API keys as SHA-256 (they carry 256 and 260
//! random bits), one-time codes and `known` values as keyed hashes the portal computes with its
//! server key (see `doublecheck-portal`'s `secrets` module). The one exception is the webhook
//! signing secret, which must be kept to sign deliveries.
//!
//! Every status change goes through [`Store::vs_transition`] (the table [`ALLOWED_MOVES`]) and is
//! recorded, in the same transaction, as an event (`verification_session.<status>`), a webhook
//! delivery for each subscribed endpoint and an audit log entry (ids and statuses only, no
//! personal data).

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection};

use crate::chain::sha256_hex;
use crate::error::StoreError;
use crate::store::{MAX_ADDRESS, MAX_TEXT, Store, append, json, lock_head, new_id, text};
use crate::time::now_ms;

/// The largest JSON document (metadata, address, known hashes, event data) stored.
pub const MAX_PORTAL_JSON: usize = 64 * 1024;
/// The largest page of a list.
pub const MAX_PORTAL_PAGE: u32 = 100;
const MAX_URL: usize = 2048;
const MAX_SEALED_JSON: usize = 64 * 1024;

// ------------------------------------------------------------------------------ statuses

/// What a verification session collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationType {
    Address,
    Document,
    AddressAndDocument,
}

impl VerificationType {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationType::Address => "address",
            VerificationType::Document => "document",
            VerificationType::AddressAndDocument => "address_and_document",
        }
    }

    pub fn parse(s: &str) -> Option<VerificationType> {
        match s {
            "address" => Some(VerificationType::Address),
            "document" => Some(VerificationType::Document),
            "address_and_document" => Some(VerificationType::AddressAndDocument),
            _ => None,
        }
    }

    /// Whether the customer confirms or corrects an address.
    pub fn wants_address(self) -> bool {
        self != VerificationType::Document
    }

    /// Whether the customer uploads a document.
    pub fn wants_document(self) -> bool {
        self != VerificationType::Address
    }
}

/// Where a verification session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Waiting for the customer.
    RequiresInput,
    /// The customer submitted; checks are running.
    Processing,
    /// Waiting for a staff decision.
    RequiresReview,
    Verified,
    Rejected,
    Canceled,
    Expired,
}

/// Every allowed status change; anything else is [`StoreError::InvalidTransition`].
pub const ALLOWED_MOVES: &[(VerificationStatus, VerificationStatus)] = {
    use VerificationStatus::*;
    &[
        (RequiresInput, Processing),
        (RequiresInput, Canceled),
        (RequiresInput, Expired),
        (Processing, RequiresReview),
        (Processing, RequiresInput),
        (Processing, Verified),
        (RequiresReview, Verified),
        (RequiresReview, Rejected),
        (RequiresReview, Canceled),
    ]
};

impl VerificationStatus {
    pub const ALL: [VerificationStatus; 7] = [
        VerificationStatus::RequiresInput,
        VerificationStatus::Processing,
        VerificationStatus::RequiresReview,
        VerificationStatus::Verified,
        VerificationStatus::Rejected,
        VerificationStatus::Canceled,
        VerificationStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VerificationStatus::RequiresInput => "requires_input",
            VerificationStatus::Processing => "processing",
            VerificationStatus::RequiresReview => "requires_review",
            VerificationStatus::Verified => "verified",
            VerificationStatus::Rejected => "rejected",
            VerificationStatus::Canceled => "canceled",
            VerificationStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<VerificationStatus> {
        VerificationStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// Whether `self → to` is in [`ALLOWED_MOVES`].
    pub fn can_move_to(self, to: VerificationStatus) -> bool {
        ALLOWED_MOVES.contains(&(self, to))
    }

    /// No further change is possible.
    pub fn is_terminal(self) -> bool {
        !ALLOWED_MOVES.iter().any(|(from, _)| *from == self)
    }

    /// The event type recorded when a session enters this status.
    pub fn event_type(self) -> &'static str {
        match self {
            VerificationStatus::RequiresInput => "verification_session.requires_input",
            VerificationStatus::Processing => "verification_session.processing",
            VerificationStatus::RequiresReview => "verification_session.requires_review",
            VerificationStatus::Verified => "verification_session.verified",
            VerificationStatus::Rejected => "verification_session.rejected",
            VerificationStatus::Canceled => "verification_session.canceled",
            VerificationStatus::Expired => "verification_session.expired",
        }
    }
}

impl std::fmt::Display for VerificationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every event type the portal records.
pub const EVENT_TYPES: &[&str] = &[
    "verification_session.created",
    "verification_session.requires_input",
    "verification_session.processing",
    "verification_session.requires_review",
    "verification_session.verified",
    "verification_session.rejected",
    "verification_session.canceled",
    "verification_session.expired",
    "verification_session.redacted",
];

// ------------------------------------------------------------------------------ records

/// Who is being verified. All optional after redaction; `email` is required to create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub reference: Option<String>,
}

/// A session to create.
#[derive(Debug, Clone)]
pub struct NewVerificationSession {
    pub livemode: bool,
    pub kind: VerificationType,
    pub customer: Customer,
    /// Keyed hashes of the known values (JSON object), never the values themselves.
    pub known_json: Option<String>,
    pub return_url: Option<String>,
    /// A JSON object.
    pub metadata_json: String,
    pub api_key_id: Option<String>,
    pub expires_at_ms: i64,
}

/// A verification session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationSession {
    pub id: String,
    pub livemode: bool,
    pub kind: VerificationType,
    pub status: VerificationStatus,
    pub customer: Customer,
    /// Keyed hashes of the known values. Not part of event snapshots.
    #[serde(skip)]
    pub known_json: Option<String>,
    /// The address the customer confirmed or corrected (JSON object).
    pub address_json: Option<String>,
    pub return_url: Option<String>,
    pub metadata_json: String,
    pub api_key_id: Option<String>,
    pub batch_id: Option<String>,
    pub last_error_code: Option<String>,
    pub last_error_reason: Option<String>,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub redacted_at_ms: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_at_ms: Option<i64>,
    pub decision_reason: Option<String>,
}

impl VerificationSession {
    /// Blanks every personal field (what redaction keeps: ids, type, status, times, metadata).
    fn scrub(&mut self) {
        self.customer = Customer::default();
        self.known_json = None;
        self.address_json = None;
        self.return_url = None;
        self.last_error_reason = None;
        self.decision_reason = None;
    }
}

/// A status change: who makes it and why.
#[derive(Debug, Clone, Default)]
pub struct Transition {
    /// Recorded as `decided_by` for `verified`/`rejected`, and in the audit log.
    pub actor: String,
    /// The decision's reason (`verified`, `rejected`, `canceled`).
    pub reason: Option<String>,
    /// Refuse unless the session is in this status now (the staff review needs
    /// `requires_review`).
    pub expected_from: Option<VerificationStatus>,
    /// For a move back to `requires_input`: why (`document_unreadable`, a sentence).
    pub last_error: Option<(String, String)>,
}

/// A list query over sessions (newest first).
#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    pub livemode: Option<bool>,
    pub status: Option<VerificationStatus>,
    pub batch_id: Option<String>,
    /// 1…100 (clamped).
    pub limit: u32,
    /// Only sessions older than this one (its id).
    pub starting_after: Option<String>,
}

/// A page of a list and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

/// A link's state when it is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Valid,
    Used,
    Revoked,
    Expired,
    /// The session is canceled, expired, decided or redacted.
    SessionClosed,
}

/// A link to the customer page; only the SHA-256 of its token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationLink {
    pub token_hash: String,
    pub session_id: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// The outcome of asking for a one-time code to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeIssue {
    /// Stored; send it. `sends` counts this one.
    Issued { sends: u32 },
    /// Sent `max_sends` times already.
    TooMany,
    /// Ask again after this many milliseconds.
    TooSoon { retry_after_ms: i64 },
    /// Locked after too many wrong attempts.
    Locked,
}

/// The outcome of checking a one-time code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Verified,
    Wrong {
        attempts_left: u32,
    },
    /// Too many wrong attempts (this one included when it was the last).
    Locked,
    Expired,
    /// No code was issued, or it was used already.
    NoCode,
}

/// A document to record; `sealed_json` is the vault's `SealedDocument` as JSON.
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// From [`new_document_id`] (the vault names the blob after it).
    pub id: String,
    pub session_id: String,
    pub sealed_json: String,
    pub filename: Option<String>,
    pub content_type: String,
    pub size: u64,
}

/// A stored document; `sealed_json` is `None` once destroyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationDocument {
    pub id: String,
    pub session_id: String,
    pub sealed_json: Option<String>,
    pub filename: Option<String>,
    pub content_type: String,
    pub size: u64,
    pub created_at_ms: i64,
    pub destroyed_at_ms: Option<i64>,
}

/// An event (`evt_…`). `data_json` is `{"session": <VerificationSession snapshot>}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalEvent {
    pub id: String,
    pub kind: String,
    pub livemode: bool,
    pub session_id: Option<String>,
    pub data_json: String,
    pub created_at_ms: i64,
}

impl PortalEvent {
    /// The session as it was when the event happened (redacted if it was redacted since).
    pub fn session(&self) -> Result<Option<VerificationSession>, StoreError> {
        #[derive(Deserialize)]
        struct Data {
            session: Option<VerificationSession>,
        }
        let d: Data = serde_json::from_str(&self.data_json)
            .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", self.id)))?;
        Ok(d.session)
    }
}

/// A list query over events (newest first).
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub livemode: Option<bool>,
    pub kind: Option<String>,
    pub session_id: Option<String>,
    pub limit: u32,
    pub starting_after: Option<String>,
}

/// An API key, without the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: String,
    /// The first characters of the key (`dk_test_abcd`), to recognise it.
    pub prefix: String,
    pub name: String,
    pub livemode: bool,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// What an `Idempotency-Key` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First use: handle the request, then [`Store::idempotency_finish`] (or `_abort`).
    New,
    /// Same key and same request: give this response again.
    Replay { status: u16, body: String },
    /// Same key, another request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// A webhook endpoint to create.
#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    pub livemode: bool,
    pub url: String,
    /// Event types, or `["*"]` for all.
    pub enabled_events: Vec<String>,
    /// `whsec_…`.
    pub secret: String,
    pub description: Option<String>,
}

/// A webhook endpoint (`we_…`), its secret included (the API shows it only at creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub livemode: bool,
    pub url: String,
    pub enabled_events: Vec<String>,
    pub secret: String,
    pub description: Option<String>,
    pub created_at_ms: i64,
    pub disabled_at_ms: Option<i64>,
}

impl WebhookEndpoint {
    /// Whether the endpoint wants events of this type.
    pub fn wants(&self, kind: &str) -> bool {
        self.disabled_at_ms.is_none() && self.enabled_events.iter().any(|e| e == "*" || e == kind)
    }
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub event_id: String,
    pub endpoint_id: String,
    pub created_at_ms: i64,
    pub attempts: u32,
    pub next_attempt_at_ms: Option<i64>,
    pub last_attempt_at_ms: Option<i64>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at_ms: Option<i64>,
    pub failed_at_ms: Option<i64>,
}

/// How a delivery attempt went.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// The receiver's status code, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed (None on a 2xx).
    pub error: Option<String>,
    /// When to try again; `None` after a success or the last attempt.
    pub next_attempt_at_ms: Option<i64>,
}

/// A batch of sessions created together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationBatch {
    pub id: String,
    pub livemode: bool,
    pub api_key_id: Option<String>,
    pub count: u64,
    pub created_at_ms: i64,
}

/// The message every customer of a batch gets (each their own).
#[derive(Debug, Clone)]
pub struct MessageTemplate {
    pub subject: String,
    /// Text with `{{verify_link}}` (and optionally `{{name}}`).
    pub body: String,
}

/// A message to a customer waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: String,
    pub session_id: String,
    pub recipient: Option<String>,
    pub subject: String,
    pub body_template: String,
    pub created_at_ms: i64,
    pub attempts: u32,
    pub next_attempt_at_ms: Option<i64>,
    pub last_error: Option<String>,
    pub sent_at_ms: Option<i64>,
    pub failed_at_ms: Option<i64>,
}

// ------------------------------------------------------------------------------ helpers

/// A fresh document id, `vdoc_` and 16 base32 characters.
pub fn new_document_id() -> Result<String, StoreError> {
    new_id("vdoc_")
}

/// `n` random lowercase base32 characters (5 bits each).
pub fn random_base32(n: usize) -> Result<String, StoreError> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Other(format!("no randomness for a secret: {e}")))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect())
}

/// Equality in time independent of where the strings differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn opt_text(name: &str, v: &Option<String>, max: usize) -> Result<(), StoreError> {
    if let Some(v) = v {
        text(name, v, max, false)?;
    }
    Ok(())
}

fn b(v: bool) -> i64 {
    i64::from(v)
}

fn limit_of(l: u32) -> i64 {
    i64::from(l.clamp(1, MAX_PORTAL_PAGE))
}

enum Arg {
    I(i64),
    S(String),
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::I(i) => q.bind(*i),
            Arg::S(s) => q.bind(s.as_str()),
        };
    }
    q
}

const VS_COLS: &str = "id, livemode, type, status, customer_email, customer_phone, customer_name, \
     customer_reference, known_json, address_json, return_url, metadata_json, api_key_id, batch_id, \
     last_error_code, last_error_reason, expires_at_ms, created_at_ms, updated_at_ms, \
     redacted_at_ms, decided_by, decided_at_ms, decision_reason";

fn vs_from_row(r: &AnyRow) -> Result<VerificationSession, StoreError> {
    let kind: String = r.try_get("type")?;
    let status: String = r.try_get("status")?;
    let livemode: i64 = r.try_get("livemode")?;
    Ok(VerificationSession {
        id: r.try_get("id")?,
        livemode: livemode != 0,
        kind: VerificationType::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown session type {kind:?}")))?,
        status: VerificationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown session status {status:?}")))?,
        customer: Customer {
            email: r.try_get("customer_email")?,
            phone: r.try_get("customer_phone")?,
            name: r.try_get("customer_name")?,
            reference: r.try_get("customer_reference")?,
        },
        known_json: r.try_get("known_json")?,
        address_json: r.try_get("address_json")?,
        return_url: r.try_get("return_url")?,
        metadata_json: r.try_get("metadata_json")?,
        api_key_id: r.try_get("api_key_id")?,
        batch_id: r.try_get("batch_id")?,
        last_error_code: r.try_get("last_error_code")?,
        last_error_reason: r.try_get("last_error_reason")?,
        expires_at_ms: r.try_get("expires_at_ms")?,
        created_at_ms: r.try_get("created_at_ms")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
        redacted_at_ms: r.try_get("redacted_at_ms")?,
        decided_by: r.try_get("decided_by")?,
        decided_at_ms: r.try_get("decided_at_ms")?,
        decision_reason: r.try_get("decision_reason")?,
    })
}

async fn vs_in_tx(conn: &mut AnyConnection, id: &str) -> Result<VerificationSession, StoreError> {
    let sql = format!("SELECT {VS_COLS} FROM verification_sessions WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    vs_from_row(&row)
}

const EVT_COLS: &str = "id, type, livemode, session_id, data_json, created_at_ms";

fn event_from_row(r: &AnyRow) -> Result<PortalEvent, StoreError> {
    let livemode: i64 = r.try_get("livemode")?;
    Ok(PortalEvent {
        id: r.try_get("id")?,
        kind: r.try_get("type")?,
        livemode: livemode != 0,
        session_id: r.try_get("session_id")?,
        data_json: r.try_get("data_json")?,
        created_at_ms: r.try_get("created_at_ms")?,
    })
}

fn snapshot(s: &VerificationSession) -> Result<String, StoreError> {
    serde_json::to_string(&serde_json::json!({ "session": s }))
        .map_err(|e| StoreError::Other(format!("encoding an event: {e}")))
}

const WE_COLS: &str =
    "id, livemode, url, enabled_events_json, secret, description, created_at_ms, disabled_at_ms";

fn endpoint_from_row(r: &AnyRow) -> Result<WebhookEndpoint, StoreError> {
    let livemode: i64 = r.try_get("livemode")?;
    let events: String = r.try_get("enabled_events_json")?;
    Ok(WebhookEndpoint {
        id: r.try_get("id")?,
        livemode: livemode != 0,
        url: r.try_get("url")?,
        enabled_events: serde_json::from_str(&events)
            .map_err(|e| StoreError::Corrupt(format!("enabled events: {e}")))?,
        secret: r.try_get("secret")?,
        description: r.try_get("description")?,
        created_at_ms: r.try_get("created_at_ms")?,
        disabled_at_ms: r.try_get("disabled_at_ms")?,
    })
}

/// Records an event, a delivery for every subscribed endpoint, and an audit entry.
async fn record_event(
    conn: &mut AnyConnection,
    kind: &str,
    actor: &str,
    session: &VerificationSession,
    details: serde_json::Value,
) -> Result<PortalEvent, StoreError> {
    let id = new_id("evt_")?;
    let at = now_ms();
    let data_json = snapshot(session)?;
    sqlx::query(
        "INSERT INTO portal_events (id, type, livemode, session_id, data_json, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(kind)
    .bind(b(session.livemode))
    .bind(&session.id)
    .bind(&data_json)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    let sql = format!(
        "SELECT {WE_COLS} FROM webhook_endpoints WHERE livemode = $1 AND disabled_at_ms IS NULL"
    );
    let rows = sqlx::query(&sql)
        .bind(b(session.livemode))
        .fetch_all(&mut *conn)
        .await?;
    for r in &rows {
        let ep = endpoint_from_row(r)?;
        if ep.wants(kind) {
            sqlx::query(
                "INSERT INTO webhook_deliveries (event_id, endpoint_id, created_at_ms, attempts, \
                 next_attempt_at_ms) VALUES ($1, $2, $3, 0, $3)",
            )
            .bind(&id)
            .bind(&ep.id)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
    }
    let head = lock_head(&mut *conn).await?;
    let mut d = details;
    if let Some(m) = d.as_object_mut() {
        m.insert("event".into(), serde_json::Value::String(id.clone()));
        m.insert(
            "status".into(),
            serde_json::Value::String(session.status.as_str().into()),
        );
    }
    append(&mut *conn, head, actor, kind, &session.id, &d.to_string()).await?;
    Ok(PortalEvent {
        id,
        kind: kind.to_string(),
        livemode: session.livemode,
        session_id: Some(session.id.clone()),
        data_json,
        created_at_ms: at,
    })
}

fn check_new_session(s: &NewVerificationSession) -> Result<(), StoreError> {
    let Some(email) = &s.customer.email else {
        return Err(StoreError::Invalid("customer.email is required".into()));
    };
    text("customer.email", email, MAX_ADDRESS, false)?;
    opt_text("customer.phone", &s.customer.phone, 64)?;
    opt_text("customer.name", &s.customer.name, 256)?;
    opt_text("customer.reference", &s.customer.reference, 256)?;
    if let Some(k) = &s.known_json {
        json("known", k, MAX_PORTAL_JSON)?;
    }
    opt_text("return_url", &s.return_url, MAX_URL)?;
    json("metadata", &s.metadata_json, MAX_PORTAL_JSON)?;
    opt_text("api_key_id", &s.api_key_id, MAX_TEXT)?;
    Ok(())
}

async fn insert_session(
    conn: &mut AnyConnection,
    s: NewVerificationSession,
    batch_id: Option<&str>,
    actor: &str,
) -> Result<VerificationSession, StoreError> {
    let id = new_id("vs_")?;
    let at = now_ms();
    sqlx::query(
        "INSERT INTO verification_sessions (id, livemode, type, status, customer_email, \
         customer_phone, customer_name, customer_reference, known_json, return_url, \
         metadata_json, api_key_id, batch_id, expires_at_ms, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, 'requires_input', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
    )
    .bind(&id)
    .bind(b(s.livemode))
    .bind(s.kind.as_str())
    .bind(s.customer.email.as_deref())
    .bind(s.customer.phone.as_deref())
    .bind(s.customer.name.as_deref())
    .bind(s.customer.reference.as_deref())
    .bind(s.known_json.as_deref())
    .bind(s.return_url.as_deref())
    .bind(&s.metadata_json)
    .bind(s.api_key_id.as_deref())
    .bind(batch_id)
    .bind(s.expires_at_ms)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    let session = VerificationSession {
        id,
        livemode: s.livemode,
        kind: s.kind,
        status: VerificationStatus::RequiresInput,
        customer: s.customer,
        known_json: s.known_json,
        address_json: None,
        return_url: s.return_url,
        metadata_json: s.metadata_json,
        api_key_id: s.api_key_id,
        batch_id: batch_id.map(str::to_string),
        last_error_code: None,
        last_error_reason: None,
        expires_at_ms: s.expires_at_ms,
        created_at_ms: at,
        updated_at_ms: at,
        redacted_at_ms: None,
        decided_by: None,
        decided_at_ms: None,
        decision_reason: None,
    };
    record_event(
        conn,
        "verification_session.created",
        actor,
        &session,
        serde_json::json!({ "type": session.kind.as_str() }),
    )
    .await?;
    Ok(session)
}

/// Moves a session (read in the transaction) to `to`, enforcing [`ALLOWED_MOVES`].
async fn transition_in_tx(
    conn: &mut AnyConnection,
    id: &str,
    to: VerificationStatus,
    t: &Transition,
) -> Result<(VerificationSession, PortalEvent), StoreError> {
    let mut s = vs_in_tx(conn, id).await?;
    let from = s.status;
    if t.expected_from.is_some_and(|e| e != from) || !from.can_move_to(to) {
        return Err(StoreError::InvalidTransition {
            from: from.as_str(),
            to: to.as_str(),
        });
    }
    let at = now_ms();
    s.status = to;
    s.updated_at_ms = at;
    if matches!(
        to,
        VerificationStatus::Verified | VerificationStatus::Rejected | VerificationStatus::Canceled
    ) {
        s.decided_by = Some(t.actor.clone());
        s.decided_at_ms = Some(at);
        s.decision_reason = t.reason.clone();
    }
    if to == VerificationStatus::RequiresInput {
        s.last_error_code = t.last_error.as_ref().map(|e| e.0.clone());
        s.last_error_reason = t.last_error.as_ref().map(|e| e.1.clone());
    }
    let n = sqlx::query(
        "UPDATE verification_sessions SET status = $1, updated_at_ms = $2, decided_by = $3, \
         decided_at_ms = $4, decision_reason = $5, last_error_code = $6, last_error_reason = $7 \
         WHERE id = $8 AND status = $9",
    )
    .bind(to.as_str())
    .bind(at)
    .bind(s.decided_by.as_deref())
    .bind(s.decided_at_ms)
    .bind(s.decision_reason.as_deref())
    .bind(s.last_error_code.as_deref())
    .bind(s.last_error_reason.as_deref())
    .bind(id)
    .bind(from.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n != 1 {
        return Err(StoreError::Conflict(format!(
            "session {id} changed meanwhile"
        )));
    }
    if to.is_terminal() {
        // A closed session's links open nothing any more.
        sqlx::query(
            "UPDATE verification_links SET revoked_at_ms = $1 \
             WHERE session_id = $2 AND revoked_at_ms IS NULL AND used_at_ms IS NULL",
        )
        .bind(at)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    let ev = record_event(
        conn,
        to.event_type(),
        &t.actor,
        &s,
        serde_json::json!({ "from": from.as_str() }),
    )
    .await?;
    Ok((s, ev))
}

fn doc_from_row(r: &AnyRow) -> Result<VerificationDocument, StoreError> {
    let size: i64 = r.try_get("size")?;
    Ok(VerificationDocument {
        id: r.try_get("id")?,
        session_id: r.try_get("session_id")?,
        sealed_json: r.try_get("sealed_json")?,
        filename: r.try_get("filename")?,
        content_type: r.try_get("content_type")?,
        size: u64::try_from(size).unwrap_or(0),
        created_at_ms: r.try_get("created_at_ms")?,
        destroyed_at_ms: r.try_get("destroyed_at_ms")?,
    })
}

const DOC_COLS: &str =
    "id, session_id, sealed_json, filename, content_type, size, created_at_ms, destroyed_at_ms";

fn link_from_row(r: &AnyRow) -> Result<VerificationLink, StoreError> {
    Ok(VerificationLink {
        token_hash: r.try_get("token_hash")?,
        session_id: r.try_get("session_id")?,
        created_at_ms: r.try_get("created_at_ms")?,
        expires_at_ms: r.try_get("expires_at_ms")?,
        used_at_ms: r.try_get("used_at_ms")?,
        revoked_at_ms: r.try_get("revoked_at_ms")?,
    })
}

fn link_state(l: &VerificationLink, s: &VerificationSession, now: i64) -> LinkState {
    if l.used_at_ms.is_some() {
        LinkState::Used
    } else if l.revoked_at_ms.is_some() {
        LinkState::Revoked
    } else if s.status.is_terminal() || s.redacted_at_ms.is_some() {
        LinkState::SessionClosed
    } else if now >= l.expires_at_ms || now >= s.expires_at_ms {
        LinkState::Expired
    } else {
        LinkState::Valid
    }
}

const KEY_COLS: &str = "id, prefix, name, livemode, created_at_ms, last_used_at_ms, revoked_at_ms";

fn key_from_row(r: &AnyRow) -> Result<ApiKey, StoreError> {
    let livemode: i64 = r.try_get("livemode")?;
    Ok(ApiKey {
        id: r.try_get("id")?,
        prefix: r.try_get("prefix")?,
        name: r.try_get("name")?,
        livemode: livemode != 0,
        created_at_ms: r.try_get("created_at_ms")?,
        last_used_at_ms: r.try_get("last_used_at_ms")?,
        revoked_at_ms: r.try_get("revoked_at_ms")?,
    })
}

const WD_COLS: &str = "event_id, endpoint_id, created_at_ms, attempts, next_attempt_at_ms, \
     last_attempt_at_ms, last_status_code, last_error, delivered_at_ms, failed_at_ms";

fn delivery_from_row(r: &AnyRow) -> Result<WebhookDelivery, StoreError> {
    let attempts: i64 = r.try_get("attempts")?;
    let code: Option<i64> = r.try_get("last_status_code")?;
    Ok(WebhookDelivery {
        event_id: r.try_get("event_id")?,
        endpoint_id: r.try_get("endpoint_id")?,
        created_at_ms: r.try_get("created_at_ms")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at_ms: r.try_get("next_attempt_at_ms")?,
        last_attempt_at_ms: r.try_get("last_attempt_at_ms")?,
        last_status_code: code.and_then(|c| u16::try_from(c).ok()),
        last_error: r.try_get("last_error")?,
        delivered_at_ms: r.try_get("delivered_at_ms")?,
        failed_at_ms: r.try_get("failed_at_ms")?,
    })
}

const OUT_COLS: &str = "id, session_id, recipient, subject, body_template, created_at_ms, attempts, \
     next_attempt_at_ms, last_error, sent_at_ms, failed_at_ms";

fn outbox_from_row(r: &AnyRow) -> Result<OutboxMessage, StoreError> {
    let attempts: i64 = r.try_get("attempts")?;
    Ok(OutboxMessage {
        id: r.try_get("id")?,
        session_id: r.try_get("session_id")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        body_template: r.try_get("body_template")?,
        created_at_ms: r.try_get("created_at_ms")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at_ms: r.try_get("next_attempt_at_ms")?,
        last_error: r.try_get("last_error")?,
        sent_at_ms: r.try_get("sent_at_ms")?,
        failed_at_ms: r.try_get("failed_at_ms")?,
    })
}

/// The `seq` of a row named by id in `table`, or `Invalid` naming `param`.
async fn seq_of(
    conn: &mut AnyConnection,
    table: &str,
    id: &str,
    param: &str,
) -> Result<i64, StoreError> {
    text(param, id, MAX_TEXT, false)?;
    let sql = format!("SELECT seq FROM {table} WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("{param}: no object {id}")))?;
    Ok(row.try_get(0)?)
}

// ------------------------------------------------------------------------------ the store

impl Store {
    // ------------------------------------------------------------ sessions

    /// Creates a session (`requires_input`) and records `verification_session.created`.
    pub async fn vs_create(
        &self,
        s: NewVerificationSession,
        actor: &str,
    ) -> Result<VerificationSession, StoreError> {
        check_new_session(&s)?;
        text("actor", actor, MAX_ADDRESS, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let session = insert_session(&mut tx, s, None, actor).await?;
            tx.commit().await?;
            Ok(session)
        })
        .await
    }

    /// The session with this id.
    pub async fn vs_get(&self, id: &str) -> Result<Option<VerificationSession>, StoreError> {
        if text("id", id, MAX_TEXT, false).is_err() {
            return Ok(None);
        }
        self.timed(async {
            let sql = format!("SELECT {VS_COLS} FROM verification_sessions WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&self.pool_ref())
                .await?;
            row.map(|r| vs_from_row(&r)).transpose()
        })
        .await
    }

    /// Sessions newest first, `limit` of them after the cursor.
    pub async fn vs_list(&self, q: SessionQuery) -> Result<Page<VerificationSession>, StoreError> {
        let limit = limit_of(q.limit);
        self.timed(async {
            let mut conn = self.pool_ref().acquire().await?;
            let mut wh = Vec::new();
            let mut args = Vec::new();
            if let Some(l) = q.livemode {
                args.push(Arg::I(b(l)));
                wh.push(format!("livemode = ${}", args.len()));
            }
            if let Some(s) = q.status {
                args.push(Arg::S(s.as_str().into()));
                wh.push(format!("status = ${}", args.len()));
            }
            if let Some(bid) = &q.batch_id {
                args.push(Arg::S(bid.clone()));
                wh.push(format!("batch_id = ${}", args.len()));
            }
            if let Some(after) = &q.starting_after {
                let seq =
                    seq_of(&mut conn, "verification_sessions", after, "starting_after").await?;
                args.push(Arg::I(seq));
                wh.push(format!("seq < ${}", args.len()));
            }
            args.push(Arg::I(limit + 1));
            let sql = format!(
                "SELECT {VS_COLS} FROM verification_sessions {} ORDER BY seq DESC LIMIT ${}",
                where_clause(&wh),
                args.len()
            );
            let rows = bind_all(sqlx::query(&sql), &args)
                .fetch_all(&mut *conn)
                .await?;
            let mut data = rows
                .iter()
                .map(vs_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = data.len() as i64 > limit;
            data.truncate(limit as usize);
            Ok(Page { data, has_more })
        })
        .await
    }

    /// How many sessions are in each status (every status listed, zeros included), for the
    /// staff queue; `livemode` filters when given.
    pub async fn vs_counts(
        &self,
        livemode: Option<bool>,
    ) -> Result<Vec<(VerificationStatus, i64)>, StoreError> {
        self.timed(async {
            let rows = match livemode {
                None => {
                    sqlx::query(
                        "SELECT status, COUNT(*) FROM verification_sessions GROUP BY status",
                    )
                    .fetch_all(&self.pool_ref())
                    .await?
                }
                Some(l) => {
                    sqlx::query(
                        "SELECT status, COUNT(*) FROM verification_sessions \
                         WHERE livemode = $1 GROUP BY status",
                    )
                    .bind(b(l))
                    .fetch_all(&self.pool_ref())
                    .await?
                }
            };
            let mut out: Vec<(VerificationStatus, i64)> = VerificationStatus::ALL
                .into_iter()
                .map(|s| (s, 0))
                .collect();
            for r in rows {
                let status: String = r.try_get(0)?;
                let n: i64 = r.try_get(1)?;
                if let Some(slot) = out.iter_mut().find(|(s, _)| s.as_str() == status) {
                    slot.1 = n;
                }
            }
            Ok(out)
        })
        .await
    }

    /// The one way a session's status changes: refuses moves not in [`ALLOWED_MOVES`] (and a
    /// status other than `t.expected_from`) with [`StoreError::InvalidTransition`]; records the
    /// event, its webhook deliveries and an audit entry in the same transaction. Entering a
    /// terminal status revokes the session's open links.
    pub async fn vs_transition(
        &self,
        id: &str,
        to: VerificationStatus,
        t: Transition,
    ) -> Result<(VerificationSession, PortalEvent), StoreError> {
        text("id", id, MAX_TEXT, false)?;
        text("actor", &t.actor, MAX_ADDRESS, false)?;
        opt_text("reason", &t.reason, MAX_TEXT)?;
        if let Some((code, reason)) = &t.last_error {
            text("last_error.code", code, 128, false)?;
            text("last_error.reason", reason, MAX_TEXT, false)?;
        }
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let r = transition_in_tx(&mut tx, id, to, &t).await?;
            tx.commit().await?;
            Ok(r)
        })
        .await
    }

    /// Stores the address the customer confirmed or corrected (a JSON object) while the session
    /// waits for input.
    pub async fn vs_set_address(
        &self,
        id: &str,
        address_json: &str,
    ) -> Result<VerificationSession, StoreError> {
        json("address", address_json, MAX_PORTAL_JSON)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let n = sqlx::query(
                "UPDATE verification_sessions SET address_json = $1, updated_at_ms = $2 \
                 WHERE id = $3 AND status = 'requires_input' AND redacted_at_ms IS NULL",
            )
            .bind(address_json)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let s = vs_in_tx(&mut tx, id).await?;
            if n != 1 {
                return Err(StoreError::Conflict(format!(
                    "session {id} is {} and takes no address",
                    s.status
                )));
            }
            tx.commit().await?;
            Ok(s)
        })
        .await
    }

    /// Erases a session's personal data (customer, known hashes, address, return URL, reasons,
    /// and the personal fields of its events' snapshots), destroys its documents' sealed records
    /// (without the wrapped data key the blob is unreadable) and revokes its links and codes.
    /// Keeps the id, type, status, times and metadata. A session waiting for input or review is
    /// canceled first; one in `processing` cannot be redacted (`InvalidTransition`).
    /// Returns the session and the documents whose blobs the vault should now delete (with
    /// their sealed records as they were). Redacting twice is a no-op.
    pub async fn vs_redact(
        &self,
        id: &str,
        actor: &str,
    ) -> Result<(VerificationSession, Vec<VerificationDocument>), StoreError> {
        text("id", id, MAX_TEXT, false)?;
        text("actor", actor, MAX_ADDRESS, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let mut s = vs_in_tx(&mut tx, id).await?;
            if s.redacted_at_ms.is_some() {
                return Ok((s, Vec::new()));
            }
            match s.status {
                VerificationStatus::Processing => {
                    return Err(StoreError::InvalidTransition {
                        from: "processing",
                        to: "redacted",
                    });
                }
                VerificationStatus::RequiresInput | VerificationStatus::RequiresReview => {
                    let t = Transition {
                        actor: actor.to_string(),
                        reason: Some("redacted".into()),
                        ..Default::default()
                    };
                    s = transition_in_tx(&mut tx, id, VerificationStatus::Canceled, &t)
                        .await?
                        .0;
                }
                _ => {}
            }
            let at = now_ms();
            let sql = format!(
                "SELECT {DOC_COLS} FROM verification_documents \
                 WHERE session_id = $1 AND destroyed_at_ms IS NULL"
            );
            let docs = sqlx::query(&sql)
                .bind(id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(doc_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            sqlx::query(
                "UPDATE verification_documents SET sealed_json = NULL, filename = NULL, \
                 destroyed_at_ms = $1 WHERE session_id = $2 AND destroyed_at_ms IS NULL",
            )
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE verification_sessions SET customer_email = NULL, customer_phone = NULL, \
                 customer_name = NULL, customer_reference = NULL, known_json = NULL, \
                 address_json = NULL, return_url = NULL, last_error_reason = NULL, \
                 decision_reason = NULL, redacted_at_ms = $1, updated_at_ms = $1 WHERE id = $2",
            )
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE verification_links SET revoked_at_ms = $1 \
                 WHERE session_id = $2 AND revoked_at_ms IS NULL",
            )
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM verification_codes WHERE session_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE portal_outbox SET recipient = NULL, failed_at_ms = $1, \
                 next_attempt_at_ms = NULL, last_error = 'redacted' \
                 WHERE session_id = $2 AND sent_at_ms IS NULL AND failed_at_ms IS NULL",
            )
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE portal_outbox SET recipient = NULL WHERE session_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            // The events keep their status, but not the personal fields of their snapshots.
            let sql = format!("SELECT {EVT_COLS} FROM portal_events WHERE session_id = $1");
            let events = sqlx::query(&sql)
                .bind(id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(event_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            for ev in events {
                if let Some(mut snap) = ev.session()? {
                    snap.scrub();
                    snap.redacted_at_ms = Some(at);
                    sqlx::query("UPDATE portal_events SET data_json = $1 WHERE id = $2")
                        .bind(snapshot(&snap)?)
                        .bind(&ev.id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            s.scrub();
            s.redacted_at_ms = Some(at);
            s.updated_at_ms = at;
            record_event(
                &mut tx,
                "verification_session.redacted",
                actor,
                &s,
                serde_json::json!({ "documents": docs.len() }),
            )
            .await?;
            tx.commit().await?;
            Ok((s, docs))
        })
        .await
    }

    /// Moves every `requires_input` session whose `expires_at` has passed to `expired`;
    /// returns how many.
    pub async fn vs_expire_due(&self, now_ms: i64, actor: &str) -> Result<u64, StoreError> {
        let ids: Vec<String> = self
            .timed(async {
                let rows = sqlx::query(
                    "SELECT id FROM verification_sessions \
                     WHERE status = 'requires_input' AND expires_at_ms <= $1 LIMIT 1000",
                )
                .bind(now_ms)
                .fetch_all(&self.pool_ref())
                .await?;
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
                    .collect()
            })
            .await?;
        let mut n = 0;
        for id in ids {
            let t = Transition {
                actor: actor.to_string(),
                expected_from: Some(VerificationStatus::RequiresInput),
                ..Default::default()
            };
            match self
                .vs_transition(&id, VerificationStatus::Expired, t)
                .await
            {
                Ok(_) => n += 1,
                Err(StoreError::InvalidTransition { .. } | StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Ids of sessions due for redaction by the retention job: decided (verified, rejected),
    /// canceled or expired at or before `before_ms` (the decision time, else the last change),
    /// not redacted yet; at most `limit` (1…1000), oldest first.
    pub async fn vs_retention_due(
        &self,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let limit = i64::from(limit.clamp(1, 1000));
        self.timed(async {
            let rows = sqlx::query(
                "SELECT id FROM verification_sessions \
                 WHERE redacted_at_ms IS NULL \
                 AND status IN ('verified', 'rejected', 'canceled', 'expired') \
                 AND COALESCE(decided_at_ms, updated_at_ms) <= $1 \
                 ORDER BY COALESCE(decided_at_ms, updated_at_ms), id LIMIT $2",
            )
            .bind(before_ms)
            .bind(limit)
            .fetch_all(&self.pool_ref())
            .await?;
            rows.iter()
                .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
                .collect()
        })
        .await
    }

    // ------------------------------------------------------------ links

    /// Records a new link (only `token_hash`, the SHA-256 hex of the token) valid for `ttl_ms`
    /// (never past the session's own expiry) and revokes the session's earlier links. Refused
    /// (`Conflict`) for a session that is closed or redacted.
    pub async fn link_create(
        &self,
        session_id: &str,
        token_hash: &str,
        ttl_ms: i64,
    ) -> Result<VerificationLink, StoreError> {
        text("token_hash", token_hash, 128, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let s = vs_in_tx(&mut tx, session_id).await?;
            if s.status != VerificationStatus::RequiresInput || s.redacted_at_ms.is_some() {
                return Err(StoreError::Conflict(format!(
                    "session {session_id} is {} and takes no new link",
                    s.status
                )));
            }
            let at = now_ms();
            sqlx::query(
                "UPDATE verification_links SET revoked_at_ms = $1 \
                 WHERE session_id = $2 AND revoked_at_ms IS NULL",
            )
            .bind(at)
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
            let expires = at.saturating_add(ttl_ms.max(1)).min(s.expires_at_ms);
            sqlx::query(
                "INSERT INTO verification_links (token_hash, session_id, created_at_ms, \
                 expires_at_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(session_id)
            .bind(at)
            .bind(expires)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(VerificationLink {
                token_hash: token_hash.to_string(),
                session_id: session_id.to_string(),
                created_at_ms: at,
                expires_at_ms: expires,
                used_at_ms: None,
                revoked_at_ms: None,
            })
        })
        .await
    }

    /// The link with this token hash, its state and its session (None: no such link).
    pub async fn link_find(
        &self,
        token_hash: &str,
    ) -> Result<Option<(VerificationLink, LinkState, VerificationSession)>, StoreError> {
        if text("token_hash", token_hash, 128, false).is_err() {
            return Ok(None);
        }
        self.timed(async {
            let mut conn = self.pool_ref().acquire().await?;
            let row = sqlx::query(
                "SELECT token_hash, session_id, created_at_ms, expires_at_ms, used_at_ms, \
                 revoked_at_ms FROM verification_links WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let link = link_from_row(&row)?;
            let s = vs_in_tx(&mut conn, &link.session_id).await?;
            let state = link_state(&link, &s, now_ms());
            Ok(Some((link, state, s)))
        })
        .await
    }

    /// Uses a link once: marks it used if it is valid and returns its session; otherwise the
    /// state that stopped it (`Ok(Err(state))`), or `NotFound`.
    pub async fn link_use(
        &self,
        token_hash: &str,
    ) -> Result<Result<VerificationSession, LinkState>, StoreError> {
        text("token_hash", token_hash, 128, false).map_err(|_| StoreError::NotFound)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let row = sqlx::query(
                "SELECT token_hash, session_id, created_at_ms, expires_at_ms, used_at_ms, \
                 revoked_at_ms FROM verification_links WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            let link = link_from_row(&row)?;
            let s = vs_in_tx(&mut tx, &link.session_id).await?;
            let now = now_ms();
            let state = link_state(&link, &s, now);
            if state != LinkState::Valid {
                return Ok(Err(state));
            }
            sqlx::query(
                "UPDATE verification_links SET used_at_ms = $1 \
                 WHERE token_hash = $2 AND used_at_ms IS NULL",
            )
            .bind(now)
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(s))
        })
        .await
    }

    // ------------------------------------------------------------ one-time codes

    /// Stores a new code's keyed hash for the session (replacing the previous code), valid for
    /// `ttl_ms`, unless the code was sent `max_sends` times already, the last send was less
    /// than `min_interval_ms` ago, or the codes are locked.
    pub async fn code_issue(
        &self,
        session_id: &str,
        code_hash: &str,
        channel: &str,
        ttl_ms: i64,
        max_sends: u32,
        min_interval_ms: i64,
    ) -> Result<CodeIssue, StoreError> {
        text("code_hash", code_hash, 256, false)?;
        text("channel", channel, 64, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            vs_in_tx(&mut tx, session_id).await?;
            let now = now_ms();
            let row = sqlx::query(
                "SELECT sends, last_sent_at_ms, locked FROM verification_codes \
                 WHERE session_id = $1",
            )
            .bind(session_id)
            .fetch_optional(&mut *tx)
            .await?;
            let sends = match row {
                Some(r) => {
                    let sends: i64 = r.try_get(0)?;
                    let last: i64 = r.try_get(1)?;
                    let locked: i64 = r.try_get(2)?;
                    if locked != 0 {
                        return Ok(CodeIssue::Locked);
                    }
                    if sends >= i64::from(max_sends) {
                        return Ok(CodeIssue::TooMany);
                    }
                    if now < last.saturating_add(min_interval_ms) {
                        return Ok(CodeIssue::TooSoon {
                            retry_after_ms: last + min_interval_ms - now,
                        });
                    }
                    sqlx::query(
                        "UPDATE verification_codes SET code_hash = $1, channel = $2, \
                         created_at_ms = $3, expires_at_ms = $4, attempts = 0, sends = $5, \
                         last_sent_at_ms = $3, verified_at_ms = NULL WHERE session_id = $6",
                    )
                    .bind(code_hash)
                    .bind(channel)
                    .bind(now)
                    .bind(now.saturating_add(ttl_ms))
                    .bind(sends + 1)
                    .bind(session_id)
                    .execute(&mut *tx)
                    .await?;
                    sends + 1
                }
                None => {
                    if max_sends == 0 {
                        return Ok(CodeIssue::TooMany);
                    }
                    sqlx::query(
                        "INSERT INTO verification_codes (session_id, code_hash, channel, \
                         created_at_ms, expires_at_ms, attempts, sends, last_sent_at_ms, locked) \
                         VALUES ($1, $2, $3, $4, $5, 0, 1, $4, 0)",
                    )
                    .bind(session_id)
                    .bind(code_hash)
                    .bind(channel)
                    .bind(now)
                    .bind(now.saturating_add(ttl_ms))
                    .execute(&mut *tx)
                    .await?;
                    1
                }
            };
            tx.commit().await?;
            Ok(CodeIssue::Issued {
                sends: u32::try_from(sends).unwrap_or(u32::MAX),
            })
        })
        .await
    }

    /// Checks a code's keyed hash (constant-time comparison). A wrong code counts an attempt;
    /// the `max_attempts`-th wrong one locks the session's codes for good. A right code is used
    /// up.
    pub async fn code_check(
        &self,
        session_id: &str,
        candidate_hash: &str,
        max_attempts: u32,
    ) -> Result<CodeCheck, StoreError> {
        text("code_hash", candidate_hash, 256, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let row = sqlx::query(
                "SELECT code_hash, expires_at_ms, attempts, locked, verified_at_ms \
                 FROM verification_codes WHERE session_id = $1",
            )
            .bind(session_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(r) = row else {
                return Ok(CodeCheck::NoCode);
            };
            let stored: String = r.try_get(0)?;
            let expires: i64 = r.try_get(1)?;
            let attempts: i64 = r.try_get(2)?;
            let locked: i64 = r.try_get(3)?;
            let verified: Option<i64> = r.try_get(4)?;
            if locked != 0 {
                return Ok(CodeCheck::Locked);
            }
            if verified.is_some() {
                return Ok(CodeCheck::NoCode);
            }
            let now = now_ms();
            if now >= expires {
                return Ok(CodeCheck::Expired);
            }
            let result = if constant_time_eq(&stored, candidate_hash) {
                sqlx::query(
                    "UPDATE verification_codes SET verified_at_ms = $1 WHERE session_id = $2",
                )
                .bind(now)
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
                CodeCheck::Verified
            } else {
                let attempts = attempts + 1;
                let lock = attempts >= i64::from(max_attempts);
                sqlx::query(
                    "UPDATE verification_codes SET attempts = $1, locked = $2 WHERE session_id = $3",
                )
                .bind(attempts)
                .bind(b(lock))
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
                if lock {
                    CodeCheck::Locked
                } else {
                    CodeCheck::Wrong {
                        attempts_left: u32::try_from(i64::from(max_attempts) - attempts)
                            .unwrap_or(0),
                    }
                }
            };
            tx.commit().await?;
            Ok(result)
        })
        .await
    }

    /// Records a knowledge-check answer (the customer typed the session's `known` values; the
    /// portal compared their keyed hashes). It shares the one-time code's attempt counter and
    /// lock: a locked session stays locked even for a right answer, a wrong answer counts an
    /// attempt and the `max_attempts`-th wrong one locks for good. Creates the session's code
    /// row (no code, no send) when none exists yet.
    pub async fn code_knowledge_attempt(
        &self,
        session_id: &str,
        matched: bool,
        max_attempts: u32,
    ) -> Result<CodeCheck, StoreError> {
        text("id", session_id, MAX_TEXT, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            vs_in_tx(&mut tx, session_id).await?;
            let row = sqlx::query(
                "SELECT attempts, locked FROM verification_codes WHERE session_id = $1",
            )
            .bind(session_id)
            .fetch_optional(&mut *tx)
            .await?;
            let (attempts, exists) = match row {
                Some(r) => {
                    let attempts: i64 = r.try_get(0)?;
                    let locked: i64 = r.try_get(1)?;
                    if locked != 0 {
                        return Ok(CodeCheck::Locked);
                    }
                    (attempts, true)
                }
                None => (0, false),
            };
            if matched {
                return Ok(CodeCheck::Verified);
            }
            let attempts = attempts + 1;
            let lock = attempts >= i64::from(max_attempts);
            if exists {
                sqlx::query(
                    "UPDATE verification_codes SET attempts = $1, locked = $2 WHERE session_id = $3",
                )
                .bind(attempts)
                .bind(b(lock))
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
            } else {
                // No code was sent: a row that holds only the count (its hash matches no code,
                // it expired at once, and it counts no send).
                sqlx::query(
                    "INSERT INTO verification_codes (session_id, code_hash, channel, \
                     created_at_ms, expires_at_ms, attempts, sends, last_sent_at_ms, locked) \
                     VALUES ($1, '-', 'knowledge', $2, 0, $3, 0, 0, $4)",
                )
                .bind(session_id)
                .bind(now_ms())
                .bind(attempts)
                .bind(b(lock))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(if lock {
                CodeCheck::Locked
            } else {
                CodeCheck::Wrong {
                    attempts_left: u32::try_from(i64::from(max_attempts) - attempts).unwrap_or(0),
                }
            })
        })
        .await
    }

    // ------------------------------------------------------------ documents

    /// Records a sealed document of a session that waits for input.
    pub async fn doc_add(&self, d: NewDocument) -> Result<VerificationDocument, StoreError> {
        text("id", &d.id, MAX_TEXT, false)?;
        json("sealed_json", &d.sealed_json, MAX_SEALED_JSON)?;
        opt_text("filename", &d.filename, 255)?;
        text("content_type", &d.content_type, 128, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let s = vs_in_tx(&mut tx, &d.session_id).await?;
            if s.status != VerificationStatus::RequiresInput || s.redacted_at_ms.is_some() {
                return Err(StoreError::Conflict(format!(
                    "session {} is {} and takes no document",
                    s.id, s.status
                )));
            }
            let at = now_ms();
            sqlx::query(
                "INSERT INTO verification_documents (id, session_id, sealed_json, filename, \
                 content_type, size, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&d.id)
            .bind(&d.session_id)
            .bind(&d.sealed_json)
            .bind(d.filename.as_deref())
            .bind(&d.content_type)
            .bind(i64::try_from(d.size).unwrap_or(i64::MAX))
            .bind(at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(VerificationDocument {
                id: d.id,
                session_id: d.session_id,
                sealed_json: Some(d.sealed_json),
                filename: d.filename,
                content_type: d.content_type,
                size: d.size,
                created_at_ms: at,
                destroyed_at_ms: None,
            })
        })
        .await
    }

    /// The document with this id.
    pub async fn doc_get(&self, id: &str) -> Result<Option<VerificationDocument>, StoreError> {
        if text("id", id, MAX_TEXT, false).is_err() {
            return Ok(None);
        }
        self.timed(async {
            let sql = format!("SELECT {DOC_COLS} FROM verification_documents WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&self.pool_ref())
                .await?;
            row.map(|r| doc_from_row(&r)).transpose()
        })
        .await
    }

    /// A session's documents, oldest first (destroyed ones included).
    pub async fn doc_list(
        &self,
        session_id: &str,
    ) -> Result<Vec<VerificationDocument>, StoreError> {
        self.timed(async {
            let sql = format!(
                "SELECT {DOC_COLS} FROM verification_documents WHERE session_id = $1 \
                 ORDER BY created_at_ms, id"
            );
            let rows = sqlx::query(&sql)
                .bind(session_id)
                .fetch_all(&self.pool_ref())
                .await?;
            rows.iter().map(doc_from_row).collect()
        })
        .await
    }

    /// Documents not destroyed, by id, `limit` (1…1000) of them after `after_id` (for key
    /// rotation, which walks them all).
    pub async fn doc_list_live(
        &self,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<VerificationDocument>, StoreError> {
        let limit = i64::from(limit.clamp(1, 1000));
        self.timed(async {
            let sql = format!(
                "SELECT {DOC_COLS} FROM verification_documents \
                 WHERE destroyed_at_ms IS NULL AND id > $1 ORDER BY id LIMIT $2"
            );
            let rows = sqlx::query(&sql)
                .bind(after_id.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool_ref())
                .await?;
            rows.iter().map(doc_from_row).collect()
        })
        .await
    }

    /// Replaces a document's sealed record (after the vault re-wrapped its data key).
    pub async fn doc_update_sealed(&self, id: &str, sealed_json: &str) -> Result<(), StoreError> {
        json("sealed_json", sealed_json, MAX_SEALED_JSON)?;
        self.timed(async {
            let n = sqlx::query(
                "UPDATE verification_documents SET sealed_json = $1 \
                 WHERE id = $2 AND destroyed_at_ms IS NULL",
            )
            .bind(sealed_json)
            .bind(id)
            .execute(&self.pool_ref())
            .await?
            .rows_affected();
            if n == 1 {
                Ok(())
            } else {
                Err(StoreError::NotFound)
            }
        })
        .await
    }

    /// Forgets one document's sealed record (its wrapped data key) and returns the record as
    /// it was, for the vault to delete the blob; `None` when it was destroyed already.
    pub async fn doc_destroy(&self, id: &str) -> Result<Option<VerificationDocument>, StoreError> {
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let sql = format!(
                "SELECT {DOC_COLS} FROM verification_documents \
                 WHERE id = $1 AND destroyed_at_ms IS NULL"
            );
            let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await?;
            let Some(row) = row else { return Ok(None) };
            let doc = doc_from_row(&row)?;
            sqlx::query(
                "UPDATE verification_documents SET sealed_json = NULL, filename = NULL, \
                 destroyed_at_ms = $1 WHERE id = $2",
            )
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(doc))
        })
        .await
    }

    // ------------------------------------------------------------ events

    /// The event with this id.
    pub async fn event_get(&self, id: &str) -> Result<Option<PortalEvent>, StoreError> {
        if text("id", id, MAX_TEXT, false).is_err() {
            return Ok(None);
        }
        self.timed(async {
            let sql = format!("SELECT {EVT_COLS} FROM portal_events WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&self.pool_ref())
                .await?;
            row.map(|r| event_from_row(&r)).transpose()
        })
        .await
    }

    /// Events newest first.
    pub async fn event_list(&self, q: EventQuery) -> Result<Page<PortalEvent>, StoreError> {
        let limit = limit_of(q.limit);
        self.timed(async {
            let mut conn = self.pool_ref().acquire().await?;
            let mut wh = Vec::new();
            let mut args = Vec::new();
            if let Some(l) = q.livemode {
                args.push(Arg::I(b(l)));
                wh.push(format!("livemode = ${}", args.len()));
            }
            if let Some(k) = &q.kind {
                args.push(Arg::S(k.clone()));
                wh.push(format!("type = ${}", args.len()));
            }
            if let Some(s) = &q.session_id {
                args.push(Arg::S(s.clone()));
                wh.push(format!("session_id = ${}", args.len()));
            }
            if let Some(after) = &q.starting_after {
                let seq = seq_of(&mut conn, "portal_events", after, "starting_after").await?;
                args.push(Arg::I(seq));
                wh.push(format!("seq < ${}", args.len()));
            }
            args.push(Arg::I(limit + 1));
            let sql = format!(
                "SELECT {EVT_COLS} FROM portal_events {} ORDER BY seq DESC LIMIT ${}",
                where_clause(&wh),
                args.len()
            );
            let rows = bind_all(sqlx::query(&sql), &args)
                .fetch_all(&mut *conn)
                .await?;
            let mut data = rows
                .iter()
                .map(event_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = data.len() as i64 > limit;
            data.truncate(limit as usize);
            Ok(Page { data, has_more })
        })
        .await
    }

    // ------------------------------------------------------------ API keys

    /// Creates an API key (`dk_test_…` or `dk_live_…`, 52 base32 characters after the prefix:
    /// 260 random bits) and returns it with the key itself, which is never stored: only its
    /// SHA-256 and its first 12 characters after the mode prefix.
    pub async fn api_key_create(
        &self,
        livemode: bool,
        name: &str,
    ) -> Result<(ApiKey, String), StoreError> {
        text("name", name, 256, true)?;
        let mode = if livemode { "dk_live_" } else { "dk_test_" };
        let key = format!("{mode}{}", random_base32(52)?);
        let prefix = key[..mode.len() + 4].to_string();
        let id = new_id("key_")?;
        let at = now_ms();
        self.timed(async {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO api_keys (id, key_hash, prefix, name, livemode, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(sha256_hex(key.as_bytes()))
            .bind(&prefix)
            .bind(name)
            .bind(b(livemode))
            .bind(at)
            .execute(&mut *tx)
            .await?;
            let head = lock_head(&mut tx).await?;
            let d = serde_json::json!({ "livemode": livemode, "name": name }).to_string();
            append(&mut tx, head, "cli", "api_key.create", &id, &d).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        Ok((
            ApiKey {
                id,
                prefix,
                name: name.to_string(),
                livemode,
                created_at_ms: at,
                last_used_at_ms: None,
                revoked_at_ms: None,
            },
            key,
        ))
    }

    /// The unrevoked key whose SHA-256 matches `key` (the secret as presented), and notes its
    /// use (at most once a minute).
    pub async fn api_key_authenticate(&self, key: &str) -> Result<Option<ApiKey>, StoreError> {
        if key.len() > 128 || !(key.starts_with("dk_test_") || key.starts_with("dk_live_")) {
            return Ok(None);
        }
        let hash = sha256_hex(key.as_bytes());
        self.timed(async {
            let sql = format!(
                "SELECT {KEY_COLS} FROM api_keys WHERE key_hash = $1 AND revoked_at_ms IS NULL"
            );
            let row = sqlx::query(&sql)
                .bind(&hash)
                .fetch_optional(&self.pool_ref())
                .await?;
            let Some(row) = row else { return Ok(None) };
            let k = key_from_row(&row)?;
            let now = now_ms();
            if k.last_used_at_ms.is_none_or(|t| now - t > 60_000) {
                sqlx::query("UPDATE api_keys SET last_used_at_ms = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&k.id)
                    .execute(&self.pool_ref())
                    .await?;
            }
            Ok(Some(k))
        })
        .await
    }

    /// Every API key, oldest first.
    pub async fn api_key_list(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.timed(async {
            let sql = format!("SELECT {KEY_COLS} FROM api_keys ORDER BY created_at_ms, id");
            let rows = sqlx::query(&sql).fetch_all(&self.pool_ref()).await?;
            rows.iter().map(key_from_row).collect()
        })
        .await
    }

    /// Revokes a key (`NotFound` if there is none; revoking twice keeps the first time).
    pub async fn api_key_revoke(&self, id: &str, actor: &str) -> Result<ApiKey, StoreError> {
        text("id", id, MAX_TEXT, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let sql = format!("SELECT {KEY_COLS} FROM api_keys WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let mut k = key_from_row(&row)?;
            if k.revoked_at_ms.is_none() {
                let at = now_ms();
                sqlx::query("UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let head = lock_head(&mut tx).await?;
                append(&mut tx, head, actor, "api_key.revoke", id, "{}").await?;
                k.revoked_at_ms = Some(at);
            }
            tx.commit().await?;
            Ok(k)
        })
        .await
    }

    // ------------------------------------------------------------ idempotency

    /// Looks up (and, when new, reserves) an `Idempotency-Key` of an API key. `fingerprint`
    /// identifies the request (method, path and body hash).
    pub async fn idempotency_begin(
        &self,
        api_key_id: &str,
        idem_key: &str,
        fingerprint: &str,
    ) -> Result<IdempotencyBegin, StoreError> {
        text("Idempotency-Key", idem_key, 255, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let row = sqlx::query(
                "SELECT fingerprint, status_code, response_json FROM idempotency_keys \
                 WHERE api_key_id = $1 AND idem_key = $2",
            )
            .bind(api_key_id)
            .bind(idem_key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(r) = row {
                let fp: String = r.try_get(0)?;
                let status: i64 = r.try_get(1)?;
                let body: Option<String> = r.try_get(2)?;
                return Ok(if fp != fingerprint {
                    IdempotencyBegin::Mismatch
                } else if status == 0 {
                    IdempotencyBegin::InProgress
                } else {
                    IdempotencyBegin::Replay {
                        status: u16::try_from(status).unwrap_or(500),
                        body: body.unwrap_or_default(),
                    }
                });
            }
            sqlx::query(
                "INSERT INTO idempotency_keys (api_key_id, idem_key, fingerprint, status_code, \
                 created_at_ms) VALUES ($1, $2, $3, 0, $4)",
            )
            .bind(api_key_id)
            .bind(idem_key)
            .bind(fingerprint)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(IdempotencyBegin::New)
        })
        .await
    }

    /// Stores the response given to the request that reserved the key.
    pub async fn idempotency_finish(
        &self,
        api_key_id: &str,
        idem_key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        self.timed(async {
            sqlx::query(
                "UPDATE idempotency_keys SET status_code = $1, response_json = $2 \
                 WHERE api_key_id = $3 AND idem_key = $4",
            )
            .bind(i64::from(status.max(1)))
            .bind(body)
            .bind(api_key_id)
            .bind(idem_key)
            .execute(&self.pool_ref())
            .await?;
            Ok(())
        })
        .await
    }

    /// Releases a reservation (the request failed in a way worth retrying).
    pub async fn idempotency_abort(
        &self,
        api_key_id: &str,
        idem_key: &str,
    ) -> Result<(), StoreError> {
        self.timed(async {
            sqlx::query(
                "DELETE FROM idempotency_keys \
                 WHERE api_key_id = $1 AND idem_key = $2 AND status_code = 0",
            )
            .bind(api_key_id)
            .bind(idem_key)
            .execute(&self.pool_ref())
            .await?;
            Ok(())
        })
        .await
    }

    /// Forgets idempotency records older than `before_ms` (Stripe keeps them 24 h).
    pub async fn idempotency_purge(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.timed(async {
            Ok(
                sqlx::query("DELETE FROM idempotency_keys WHERE created_at_ms < $1")
                    .bind(before_ms)
                    .execute(&self.pool_ref())
                    .await?
                    .rows_affected(),
            )
        })
        .await
    }

    // ------------------------------------------------------------ webhooks

    /// Creates a webhook endpoint.
    pub async fn webhook_endpoint_create(
        &self,
        e: NewWebhookEndpoint,
        actor: &str,
    ) -> Result<WebhookEndpoint, StoreError> {
        text("url", &e.url, MAX_URL, false)?;
        text("secret", &e.secret, 256, false)?;
        opt_text("description", &e.description, 1024)?;
        if e.enabled_events.is_empty() || e.enabled_events.len() > 64 {
            return Err(StoreError::Invalid(
                "enabled_events needs between 1 and 64 event types".into(),
            ));
        }
        let events = serde_json::to_string(&e.enabled_events)
            .map_err(|err| StoreError::Other(format!("encoding events: {err}")))?;
        let id = new_id("we_")?;
        let at = now_ms();
        self.timed(async {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO webhook_endpoints (id, livemode, url, enabled_events_json, secret, \
                 description, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(b(e.livemode))
            .bind(&e.url)
            .bind(&events)
            .bind(&e.secret)
            .bind(e.description.as_deref())
            .bind(at)
            .execute(&mut *tx)
            .await?;
            let head = lock_head(&mut tx).await?;
            let d =
                serde_json::json!({ "url": e.url, "enabled_events": e.enabled_events }).to_string();
            append(&mut tx, head, actor, "webhook_endpoint.create", &id, &d).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        Ok(WebhookEndpoint {
            id,
            livemode: e.livemode,
            url: e.url,
            enabled_events: e.enabled_events,
            secret: e.secret,
            description: e.description,
            created_at_ms: at,
            disabled_at_ms: None,
        })
    }

    /// The endpoint with this id.
    pub async fn webhook_endpoint_get(
        &self,
        id: &str,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        if text("id", id, MAX_TEXT, false).is_err() {
            return Ok(None);
        }
        self.timed(async {
            let sql = format!("SELECT {WE_COLS} FROM webhook_endpoints WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&self.pool_ref())
                .await?;
            row.map(|r| endpoint_from_row(&r)).transpose()
        })
        .await
    }

    /// Endpoints newest first.
    pub async fn webhook_endpoint_list(
        &self,
        livemode: Option<bool>,
        limit: u32,
        starting_after: Option<&str>,
    ) -> Result<Page<WebhookEndpoint>, StoreError> {
        let limit = limit_of(limit);
        self.timed(async {
            let mut conn = self.pool_ref().acquire().await?;
            let mut wh = Vec::new();
            let mut args = Vec::new();
            if let Some(l) = livemode {
                args.push(Arg::I(b(l)));
                wh.push(format!("livemode = ${}", args.len()));
            }
            if let Some(after) = starting_after {
                let seq = seq_of(&mut conn, "webhook_endpoints", after, "starting_after").await?;
                args.push(Arg::I(seq));
                wh.push(format!("seq < ${}", args.len()));
            }
            args.push(Arg::I(limit + 1));
            let sql = format!(
                "SELECT {WE_COLS} FROM webhook_endpoints {} ORDER BY seq DESC LIMIT ${}",
                where_clause(&wh),
                args.len()
            );
            let rows = bind_all(sqlx::query(&sql), &args)
                .fetch_all(&mut *conn)
                .await?;
            let mut data = rows
                .iter()
                .map(endpoint_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = data.len() as i64 > limit;
            data.truncate(limit as usize);
            Ok(Page { data, has_more })
        })
        .await
    }

    /// Disables an endpoint: no new deliveries, pending ones are dropped.
    pub async fn webhook_endpoint_disable(
        &self,
        id: &str,
        actor: &str,
    ) -> Result<WebhookEndpoint, StoreError> {
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let at = now_ms();
            let n = sqlx::query(
                "UPDATE webhook_endpoints SET disabled_at_ms = $1 \
                 WHERE id = $2 AND disabled_at_ms IS NULL",
            )
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query(
                    "UPDATE webhook_deliveries SET next_attempt_at_ms = NULL, failed_at_ms = $1, \
                     last_error = 'endpoint disabled' WHERE endpoint_id = $2 \
                     AND delivered_at_ms IS NULL AND failed_at_ms IS NULL",
                )
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let head = lock_head(&mut tx).await?;
                append(&mut tx, head, actor, "webhook_endpoint.disable", id, "{}").await?;
            }
            let sql = format!("SELECT {WE_COLS} FROM webhook_endpoints WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let e = endpoint_from_row(&row)?;
            tx.commit().await?;
            Ok(e)
        })
        .await
    }

    /// Deliveries due at `now_ms` (oldest first), with their event and endpoint.
    pub async fn webhook_due(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<(WebhookDelivery, PortalEvent, WebhookEndpoint)>, StoreError> {
        self.timed(async {
            let mut conn = self.pool_ref().acquire().await?;
            let sql = format!(
                "SELECT {WD_COLS} FROM webhook_deliveries WHERE next_attempt_at_ms <= $1 \
                 ORDER BY next_attempt_at_ms LIMIT $2"
            );
            let rows = sqlx::query(&sql)
                .bind(now_ms)
                .bind(i64::from(limit.clamp(1, 1000)))
                .fetch_all(&mut *conn)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let d = delivery_from_row(r)?;
                let sql = format!("SELECT {EVT_COLS} FROM portal_events WHERE id = $1");
                let Some(ev) = sqlx::query(&sql)
                    .bind(&d.event_id)
                    .fetch_optional(&mut *conn)
                    .await?
                else {
                    continue;
                };
                let sql = format!("SELECT {WE_COLS} FROM webhook_endpoints WHERE id = $1");
                let Some(ep) = sqlx::query(&sql)
                    .bind(&d.endpoint_id)
                    .fetch_optional(&mut *conn)
                    .await?
                else {
                    continue;
                };
                out.push((d, event_from_row(&ev)?, endpoint_from_row(&ep)?));
            }
            Ok(out)
        })
        .await
    }

    /// Claims a due delivery for an attempt: moves its next attempt to `lease_until_ms` if it
    /// is still `expected_next_ms` (another worker has not claimed it). True when claimed.
    pub async fn webhook_claim(
        &self,
        event_id: &str,
        endpoint_id: &str,
        expected_next_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.timed(async {
            Ok(sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at_ms = $1 \
                 WHERE event_id = $2 AND endpoint_id = $3 AND next_attempt_at_ms = $4",
            )
            .bind(lease_until_ms)
            .bind(event_id)
            .bind(endpoint_id)
            .bind(expected_next_ms)
            .execute(&self.pool_ref())
            .await?
            .rows_affected()
                == 1)
        })
        .await
    }

    /// Records an attempt: delivered (no error), to be retried (`next_attempt_at_ms`), or given up.
    pub async fn webhook_record(
        &self,
        event_id: &str,
        endpoint_id: &str,
        o: AttemptOutcome,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let err = o.error.map(|e| e.chars().take(1000).collect::<String>());
        let (delivered, failed) = match (&err, o.next_attempt_at_ms) {
            (None, _) => (Some(now), None),
            (Some(_), Some(_)) => (None, None),
            (Some(_), None) => (None, Some(now)),
        };
        let next = if err.is_some() {
            o.next_attempt_at_ms
        } else {
            None
        };
        self.timed(async {
            sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at_ms = $1, \
                 last_status_code = $2, last_error = $3, next_attempt_at_ms = $4, \
                 delivered_at_ms = $5, failed_at_ms = $6 WHERE event_id = $7 AND endpoint_id = $8",
            )
            .bind(now)
            .bind(o.status_code.map(i64::from))
            .bind(err.as_deref())
            .bind(next)
            .bind(delivered)
            .bind(failed)
            .bind(event_id)
            .bind(endpoint_id)
            .execute(&self.pool_ref())
            .await?;
            Ok(())
        })
        .await
    }

    /// The delivery log: of one event, of one endpoint, or all; newest first.
    pub async fn webhook_deliveries(
        &self,
        event_id: Option<&str>,
        endpoint_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        self.timed(async {
            let mut wh = Vec::new();
            let mut args = Vec::new();
            if let Some(e) = event_id {
                args.push(Arg::S(e.into()));
                wh.push(format!("event_id = ${}", args.len()));
            }
            if let Some(e) = endpoint_id {
                args.push(Arg::S(e.into()));
                wh.push(format!("endpoint_id = ${}", args.len()));
            }
            args.push(Arg::I(i64::from(limit.clamp(1, 1000))));
            let sql = format!(
                "SELECT {WD_COLS} FROM webhook_deliveries {} \
                 ORDER BY created_at_ms DESC, event_id LIMIT ${}",
                where_clause(&wh),
                args.len()
            );
            let rows = bind_all(sqlx::query(&sql), &args)
                .fetch_all(&self.pool_ref())
                .await?;
            rows.iter().map(delivery_from_row).collect()
        })
        .await
    }

    // ------------------------------------------------------------ batches and outbox

    /// Creates one session per customer and, for each, one message to that customer alone,
    /// all in one transaction (all or nothing). Each session must have a customer email.
    pub async fn batch_create(
        &self,
        livemode: bool,
        api_key_id: Option<&str>,
        sessions: Vec<NewVerificationSession>,
        message: &MessageTemplate,
        actor: &str,
    ) -> Result<(VerificationBatch, Vec<VerificationSession>), StoreError> {
        if sessions.is_empty() || sessions.len() > 10_000 {
            return Err(StoreError::Invalid(format!(
                "a batch holds between 1 and 10000 customers, not {}",
                sessions.len()
            )));
        }
        for s in &sessions {
            check_new_session(s)?;
        }
        text("subject", &message.subject, 998, false)?;
        text("body", &message.body, MAX_PORTAL_JSON, false)?;
        let id = new_id("vb_")?;
        let at = now_ms();
        let count = sessions.len() as u64;
        let created = self
            .timed(async {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO verification_batches (id, livemode, api_key_id, count, \
                     created_at_ms) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&id)
                .bind(b(livemode))
                .bind(api_key_id)
                .bind(count as i64)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                let mut created = Vec::with_capacity(sessions.len());
                for s in sessions {
                    let s = insert_session(&mut tx, s, Some(&id), actor).await?;
                    sqlx::query(
                        "INSERT INTO portal_outbox (id, session_id, recipient, subject, \
                         body_template, created_at_ms, attempts, next_attempt_at_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, 0, $6)",
                    )
                    .bind(new_id("msg_")?)
                    .bind(&s.id)
                    .bind(s.customer.email.as_deref())
                    .bind(&message.subject)
                    .bind(&message.body)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    created.push(s);
                }
                tx.commit().await?;
                Ok(created)
            })
            .await?;
        Ok((
            VerificationBatch {
                id,
                livemode,
                api_key_id: api_key_id.map(str::to_string),
                count,
                created_at_ms: at,
            },
            created,
        ))
    }

    /// Queues one message to one session's customer (a fresh link is made when it is sent).
    pub async fn outbox_add(
        &self,
        session_id: &str,
        message: &MessageTemplate,
    ) -> Result<OutboxMessage, StoreError> {
        text("subject", &message.subject, 998, false)?;
        text("body", &message.body, MAX_PORTAL_JSON, false)?;
        let id = new_id("msg_")?;
        let at = now_ms();
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let s = vs_in_tx(&mut tx, session_id).await?;
            let Some(rcpt) = s.customer.email.clone() else {
                return Err(StoreError::Conflict(format!(
                    "session {session_id} has no customer email"
                )));
            };
            sqlx::query(
                "INSERT INTO portal_outbox (id, session_id, recipient, subject, body_template, \
                 created_at_ms, attempts, next_attempt_at_ms) VALUES ($1, $2, $3, $4, $5, $6, 0, $6)",
            )
            .bind(&id)
            .bind(session_id)
            .bind(&rcpt)
            .bind(&message.subject)
            .bind(&message.body)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(OutboxMessage {
                id,
                session_id: session_id.to_string(),
                recipient: Some(rcpt),
                subject: message.subject.clone(),
                body_template: message.body.clone(),
                created_at_ms: at,
                attempts: 0,
                next_attempt_at_ms: Some(at),
                last_error: None,
                sent_at_ms: None,
                failed_at_ms: None,
            })
        })
        .await
    }

    /// Messages due at `now_ms`, oldest first.
    pub async fn outbox_due(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.timed(async {
            let sql = format!(
                "SELECT {OUT_COLS} FROM portal_outbox WHERE next_attempt_at_ms <= $1 \
                 ORDER BY next_attempt_at_ms, id LIMIT $2"
            );
            let rows = sqlx::query(&sql)
                .bind(now_ms)
                .bind(i64::from(limit.clamp(1, 1000)))
                .fetch_all(&self.pool_ref())
                .await?;
            rows.iter().map(outbox_from_row).collect()
        })
        .await
    }

    /// A batch's (or a session's) messages.
    pub async fn outbox_list(
        &self,
        batch_id: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.timed(async {
            let (sql, arg) = match (batch_id, session_id) {
                (_, Some(s)) => (
                    format!("SELECT {OUT_COLS} FROM portal_outbox WHERE session_id = $1 ORDER BY created_at_ms, id"),
                    s,
                ),
                (Some(bid), None) => (
                    format!(
                        "SELECT {OUT_COLS} FROM portal_outbox WHERE session_id IN \
                         (SELECT id FROM verification_sessions WHERE batch_id = $1) \
                         ORDER BY created_at_ms, id"
                    ),
                    bid,
                ),
                (None, None) => return Err(StoreError::Invalid("name a batch or a session".into())),
            };
            let rows = sqlx::query(&sql).bind(arg).fetch_all(&self.pool_ref()).await?;
            rows.iter().map(outbox_from_row).collect()
        })
        .await
    }

    /// Claims a due message (see [`Store::webhook_claim`]).
    pub async fn outbox_claim(
        &self,
        id: &str,
        expected_next_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.timed(async {
            Ok(sqlx::query(
                "UPDATE portal_outbox SET next_attempt_at_ms = $1 \
                 WHERE id = $2 AND next_attempt_at_ms = $3",
            )
            .bind(lease_until_ms)
            .bind(id)
            .bind(expected_next_ms)
            .execute(&self.pool_ref())
            .await?
            .rows_affected()
                == 1)
        })
        .await
    }

    /// Records a send: sent (`error` None), to be retried (`next_attempt_at_ms`), or given up.
    pub async fn outbox_record(
        &self,
        id: &str,
        error: Option<&str>,
        next_attempt_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let err = error.map(|e| e.chars().take(1000).collect::<String>());
        let (sent, failed, next) = match (&err, next_attempt_at_ms) {
            (None, _) => (Some(now), None, None),
            (Some(_), Some(n)) => (None, None, Some(n)),
            (Some(_), None) => (None, Some(now), None),
        };
        self.timed(async {
            sqlx::query(
                "UPDATE portal_outbox SET attempts = attempts + 1, last_error = $1, \
                 next_attempt_at_ms = $2, sent_at_ms = $3, failed_at_ms = $4 WHERE id = $5",
            )
            .bind(err.as_deref())
            .bind(next)
            .bind(sent)
            .bind(failed)
            .bind(id)
            .execute(&self.pool_ref())
            .await?;
            Ok(())
        })
        .await
    }

    fn pool_ref(&self) -> sqlx::AnyPool {
        self.pool().clone()
    }
}

fn where_clause(wh: &[String]) -> String {
    if wh.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", wh.join(" AND "))
    }
}

// ------------------------------------------------------------ rate limits

/// One limit a request of the customer's pages counts against: at most `limit` actions of
/// `kind` by `subject` (a session id, a keyed hash of an address) in any `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit<'a> {
    pub kind: &'a str,
    pub subject: &'a str,
    pub limit: u32,
    pub window_ms: i64,
}

/// The outcome of [`Store::rate_count`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateCount {
    /// Counted under every limit. `ticket` gives the counts back ([`Store::rate_release`]) when
    /// the action did not happen after all.
    Counted { ticket: String },
    /// Over `limits[index]`: nothing was counted. Under it again in `retry_after_ms` at the
    /// earliest (sooner is impossible: counts are only ever added until they age out).
    Over { index: usize, retry_after_ms: i64 },
}

const MAX_RATE_KIND: usize = 64;
const MAX_RATE_SUBJECT: usize = 256;
const MAX_RATE_LIMITS: usize = 8;

impl Store {
    /// Counts one action at `now_ms` against every limit in `limits` — all of them or none:
    /// when any limit already holds `limit` actions in the window ending now, nothing is
    /// counted and the answer says which limit and for how long. The windows slide (the
    /// actions of the last `window_ms`, not of a clock hour), the counts are in the database
    /// (so they hold across restarts and across instances sharing it), and one subject's
    /// counting is serialized (its row in `portal_rate_subjects` is written first, which locks
    /// it on PostgreSQL; SQLite's write transactions are serial), so concurrent requests on
    /// several instances never count past a limit. A subject's actions older than the window
    /// are deleted on the way.
    pub async fn rate_count(
        &self,
        limits: &[RateLimit<'_>],
        now_ms: i64,
    ) -> Result<RateCount, StoreError> {
        if limits.len() > MAX_RATE_LIMITS {
            return Err(StoreError::Invalid(format!(
                "at most {MAX_RATE_LIMITS} limits per count"
            )));
        }
        for l in limits {
            text("kind", l.kind, MAX_RATE_KIND, false)?;
            text("subject", l.subject, MAX_RATE_SUBJECT, false)?;
            if l.window_ms < 1 {
                return Err(StoreError::Invalid("window_ms must be at least 1".into()));
            }
        }
        let ticket = random_base32(20)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            // Lock the subjects in one order everywhere, so two requests never wait on each
            // other crosswise.
            let mut order: Vec<&RateLimit<'_>> = limits.iter().collect();
            order.sort_by_key(|l| (l.kind, l.subject));
            order.dedup_by_key(|l| (l.kind, l.subject));
            for l in &order {
                sqlx::query(
                    "INSERT INTO portal_rate_subjects (kind, subject, touched_at_ms) \
                     VALUES ($1, $2, $3) ON CONFLICT (kind, subject) \
                     DO UPDATE SET touched_at_ms = excluded.touched_at_ms",
                )
                .bind(l.kind)
                .bind(l.subject)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            for (index, l) in limits.iter().enumerate() {
                let since = now_ms.saturating_sub(l.window_ms);
                sqlx::query(
                    "DELETE FROM portal_rate_hits WHERE kind = $1 AND subject = $2 AND at_ms <= $3",
                )
                .bind(l.kind)
                .bind(l.subject)
                .bind(since)
                .execute(&mut *tx)
                .await?;
                let count: i64 = sqlx::query(
                    "SELECT COUNT(*) FROM portal_rate_hits \
                     WHERE kind = $1 AND subject = $2 AND at_ms > $3",
                )
                .bind(l.kind)
                .bind(l.subject)
                .bind(since)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
                if count >= i64::from(l.limit) {
                    // Under the limit again when enough of the oldest actions age out.
                    let oldest: Option<i64> = if l.limit == 0 {
                        None
                    } else {
                        sqlx::query(
                            "SELECT at_ms FROM portal_rate_hits \
                             WHERE kind = $1 AND subject = $2 AND at_ms > $3 \
                             ORDER BY at_ms ASC LIMIT 1 OFFSET $4",
                        )
                        .bind(l.kind)
                        .bind(l.subject)
                        .bind(since)
                        .bind(count - i64::from(l.limit))
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|r| r.try_get::<i64, _>(0))
                        .transpose()?
                    };
                    tx.rollback().await?;
                    let retry_after_ms = match oldest {
                        Some(at) => at.saturating_add(l.window_ms).saturating_sub(now_ms),
                        None => l.window_ms,
                    };
                    return Ok(RateCount::Over {
                        index,
                        retry_after_ms: retry_after_ms.clamp(1, l.window_ms),
                    });
                }
            }
            for l in limits {
                sqlx::query(
                    "INSERT INTO portal_rate_hits (ticket, kind, subject, at_ms) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&ticket)
                .bind(l.kind)
                .bind(l.subject)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(RateCount::Counted {
                ticket: ticket.clone(),
            })
        })
        .await
    }

    /// Gives back the counts of a [`RateCount::Counted`] whose action did not happen (a code
    /// that was not issued after all). Returns how many counts were removed.
    pub async fn rate_release(&self, ticket: &str) -> Result<u64, StoreError> {
        text("ticket", ticket, 64, false)?;
        self.timed(async {
            let n = sqlx::query("DELETE FROM portal_rate_hits WHERE ticket = $1")
                .bind(ticket)
                .execute(&self.pool_ref())
                .await?
                .rows_affected();
            Ok(n)
        })
        .await
    }

    /// How many actions of `kind` by `subject` are counted after `since_ms`.
    pub async fn rate_hits(
        &self,
        kind: &str,
        subject: &str,
        since_ms: i64,
    ) -> Result<u64, StoreError> {
        self.timed(async {
            let n: i64 = sqlx::query(
                "SELECT COUNT(*) FROM portal_rate_hits \
                 WHERE kind = $1 AND subject = $2 AND at_ms > $3",
            )
            .bind(kind)
            .bind(subject)
            .bind(since_ms)
            .fetch_one(&self.pool_ref())
            .await?
            .try_get(0)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    /// Deletes the counts made before `before_ms` and the subjects not counted since (run by
    /// the portal's housekeeping with `now − the longest window`). Returns the counts deleted.
    pub async fn rate_purge(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.timed(async {
            let n = sqlx::query("DELETE FROM portal_rate_hits WHERE at_ms < $1")
                .bind(before_ms)
                .execute(&self.pool_ref())
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM portal_rate_subjects WHERE touched_at_ms < $1")
                .bind(before_ms)
                .execute(&self.pool_ref())
                .await?;
            Ok(n)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_table() {
        use VerificationStatus::*;
        assert!(RequiresInput.can_move_to(Processing));
        assert!(RequiresReview.can_move_to(Verified));
        assert!(!Verified.can_move_to(Rejected));
        assert!(!RequiresInput.can_move_to(Verified));
        for s in [Verified, Rejected, Canceled, Expired] {
            assert!(s.is_terminal(), "{s}");
        }
        for s in VerificationStatus::ALL {
            assert_eq!(VerificationStatus::parse(s.as_str()), Some(s));
            assert!(EVENT_TYPES.contains(&s.event_type()));
        }
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
