//! Durable storage for the doublecheck gate: messages held for review, the delivery records
//! that make `explode` idempotent, and an append-only, hash-chained audit log.
//!
//! One code path over sqlx's `Any` driver: SQLite by default (a file under the data
//! directory), PostgreSQL when the URL starts with `postgres://` (several gate instances share
//! one database). Migrations for both live under `migrations/{sqlite,postgres}` and are applied
//! by [`Store::open`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), doublecheck_store::StoreError> {
//! use doublecheck_store::{Decision, NewHold, Store};
//! let store = Store::open("sqlite://doublecheck-data/doublecheck.db").await?;
//! let hold = store
//!     .create_hold(NewHold {
//!         raw: b"Subject: hi\r\n\r\nbody\r\n".to_vec(),
//!         mail_from: "agent@example.com".into(),
//!         rcpt_to: vec!["a@example.net".into(), "b@example.org".into()],
//!         verdict_json: "{}".into(),
//!         reason: "recipients can see each other".into(),
//!         sender: Some("agent@example.com".into()),
//!         queue_id: None,
//!     })
//!     .await?; // durable now: the gate may answer 250
//! store.decide_hold(&hold.id, Decision::Release, "reviewer@example.com", None).await?;
//! assert!(store.audit_verify().await?.is_ok());
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - `holds`: one row per held message — id (`hold_` + 16 base32 characters), status
//!   (`held` → `released` | `rejected`, decided once), creation time (unix ms), envelope
//!   (`mail_from`, recipients as a JSON array and their count), the sending user, the MTA queue
//!   id, the reason, the verdict JSON, the raw message with its size and SHA-256, its decoded
//!   subject (for the queue's rows; [`subject_of`]), and who decided, when, and why.
//! - `deliveries`: primary key (`message_key`, `recipient`), status `pending` → `delivered`,
//!   attempts, claim and delivery times. A retried explode skips the copies marked delivered.
//! - `audit_log`: `seq` (1, 2, 3 …), time, actor, action, subject, details JSON, `prev_hash` and
//!   `hash` = SHA-256 over the previous hash and the length-prefixed fields. Triggers refuse
//!   updates and deletes.
//! - `users`, `web_sessions` (only the SHA-256 of a session id), `login_failures` (throttling):
//!   the review queue's staff accounts and sign-ins.
//! - `hold_detectors` (detector ids and severity per hold, for the queue's filters),
//!   `hold_approvals`, `hold_assignments`, `hold_fixes`: the review queue's work on holds.
//!   Every change a person makes is recorded in the audit log in the same transaction.
//! - The verification portal (`portal` module): `verification_sessions` (status machine in
//!   [`ALLOWED_MOVES`]), `verification_links` and `verification_codes` (hashes only),
//!   `verification_documents` (the vault's sealed records), `portal_events` (`evt_…`),
//!   `api_keys` (SHA-256 and prefix), `idempotency_keys`, `webhook_endpoints`,
//!   `webhook_deliveries`, `verification_batches` and `portal_outbox` (one message per customer);
//!   `portal_rate_hits` and `portal_rate_subjects`: the customer pages' per-hour limits
//!   ([`Store::rate_count`]: sliding windows, all or nothing, serialized per subject).
//! - `notice_outbox`: notices to senders (`ntc_…`, one per hold and event: held, released,
//!   rejected), queued in the same transaction as the hold or decision they tell about
//!   ([`Store::create_hold_notify`], [`Store::decide_hold_notify`]) and sent by the gate's
//!   worker: pending (next attempt time, attempts, last error) → sent, or failed (given up,
//!   audited as `notice.give_up`).
//! - `audit_head`: one row with the last `seq` and `hash`. Every append first updates it, inside
//!   the same transaction as the change it records: that serializes appenders across connections
//!   and gate instances (a row lock on PostgreSQL; `BEGIN IMMEDIATE` holds SQLite's write lock),
//!   so the chain never forks, and [`Store::audit_verify`] notices a cut-off tail.
//!
//! Times are stored as unix milliseconds (`BIGINT`) and shown as RFC 3339 UTC. SQLite runs in WAL
//! mode with `synchronous = FULL` and a 10 s busy timeout, so a committed hold survives a crash.
//!
//! Errors: [`StoreError::Unavailable`] means the database cannot be reached or is busy — the gate
//! answers with a temporary failure and the client retries.

mod chain;
mod error;
mod model;
mod notice;
mod portal;
mod staff;
mod store;
mod time;

pub use chain::{GENESIS_HASH, entry_hash, sha256_hex};
pub use error::StoreError;
pub use model::{
    Approval, ApprovalCount, Assignment, AuditEntry, AuditQuery, AuditReport, Backend, Decision,
    Delivery, FixKind, Hold, HoldFilter, HoldFix, HoldStatus, HoldSummary, NewHold, QueueItem,
    QueuePage, QueueQuery, Role, User, WebSession,
};
pub use notice::{MAX_NOTICE_BYTES, NewNotice, Notice, NoticeBacklog, NoticeFilter, NoticeStatus};
pub use portal::{
    ALLOWED_MOVES, ApiKey, AttemptOutcome, CodeCheck, CodeIssue, Customer, EVENT_TYPES, EventQuery,
    IdempotencyBegin, LinkState, MAX_PORTAL_JSON, MAX_PORTAL_PAGE, MessageTemplate, NewDocument,
    NewVerificationSession, NewWebhookEndpoint, OutboxMessage, Page, PortalEvent, RateCount,
    RateLimit, SessionQuery, Transition, VerificationBatch, VerificationDocument, VerificationLink,
    VerificationSession, VerificationStatus, VerificationType, WebhookDelivery, WebhookEndpoint,
    constant_time_eq, new_document_id, random_base32,
};
pub use staff::normalize_email;
pub use store::{
    DEFAULT_MAX_MESSAGE_BYTES, GATE_ACTOR, MAX_SUBJECT_CHARS, Store, StoreOptions, severity_name,
    severity_rank, subject_of,
};
pub use time::rfc3339;
