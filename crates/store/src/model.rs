//! The records the store keeps, as the rest of the product sees them.

use serde::Serialize;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a held message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldStatus {
    /// Waiting for a reviewer.
    Held,
    /// A reviewer released it; the gate delivers it.
    Released,
    /// A reviewer rejected it; it is never delivered.
    Rejected,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Held => "held",
            HoldStatus::Released => "released",
            HoldStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<HoldStatus> {
        match s {
            "held" => Some(HoldStatus::Held),
            "released" => Some(HoldStatus::Released),
            "rejected" => Some(HoldStatus::Rejected),
            _ => None,
        }
    }
}

impl std::fmt::Display for HoldStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reviewer's decision on a held message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Release,
    Reject,
}

impl Decision {
    pub fn status(self) -> HoldStatus {
        match self {
            Decision::Release => HoldStatus::Released,
            Decision::Reject => HoldStatus::Rejected,
        }
    }

    /// The audit action recorded for this decision.
    pub fn action(self) -> &'static str {
        match self {
            Decision::Release => "hold.release",
            Decision::Reject => "hold.reject",
        }
    }
}

/// A message to quarantine.
#[derive(Debug, Clone, Default)]
pub struct NewHold {
    /// The message as received (headers and body).
    pub raw: Vec<u8>,
    /// Envelope sender (`MAIL FROM`), possibly empty for bounces.
    pub mail_from: String,
    /// Envelope recipients (`RCPT TO`), at least one.
    pub rcpt_to: Vec<String>,
    /// The engine's verdict as JSON.
    pub verdict_json: String,
    /// Why it is held, one human sentence.
    pub reason: String,
    /// Who sent it (authenticated user or envelope sender): may not approve it.
    pub sender: Option<String>,
    /// The MTA's queue id, when there is one (milter).
    pub queue_id: Option<String>,
}

/// A held message with everything the store knows about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub id: String,
    pub status: HoldStatus,
    pub created_at_ms: i64,
    /// `created_at_ms` as RFC 3339 UTC.
    pub created_at: String,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub sender: Option<String>,
    pub queue_id: Option<String>,
    pub reason: String,
    pub verdict_json: String,
    #[serde(skip)]
    pub raw: Vec<u8>,
    pub raw_size: u64,
    /// Lowercase hex SHA-256 of `raw`.
    pub raw_sha256: String,
    pub decided_by: Option<String>,
    pub decided_at_ms: Option<i64>,
    /// `decided_at_ms` as RFC 3339 UTC.
    pub decided_at: Option<String>,
    pub decision_reason: Option<String>,
}

/// A held message without its content, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldSummary {
    pub id: String,
    pub status: HoldStatus,
    pub created_at_ms: i64,
    pub created_at: String,
    pub mail_from: String,
    pub rcpt_count: u64,
    pub sender: Option<String>,
    pub queue_id: Option<String>,
    pub reason: String,
    pub raw_size: u64,
    pub decided_by: Option<String>,
    pub decided_at_ms: Option<i64>,
}

/// Which holds to list: oldest first, `limit` at most, after the hold whose id is `after`.
#[derive(Debug, Clone)]
pub struct HoldFilter {
    /// Only holds in this status (all when `None`).
    pub status: Option<HoldStatus>,
    /// At most this many (clamped to 1..=1000; default 50).
    pub limit: u32,
    /// Cursor: the id of the last hold of the previous page.
    pub after: Option<String>,
}

impl Default for HoldFilter {
    fn default() -> Self {
        HoldFilter {
            status: None,
            limit: 50,
            after: None,
        }
    }
}

impl HoldFilter {
    /// Holds waiting for a decision.
    pub fn held() -> Self {
        HoldFilter {
            status: Some(HoldStatus::Held),
            ..HoldFilter::default()
        }
    }
}

/// The record of one per-recipient copy of an exploded message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub message_key: String,
    pub recipient: String,
    pub delivered: bool,
    /// How many times the copy was claimed for sending.
    pub attempts: i64,
    pub claimed_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at_ms: i64,
    /// `at_ms` as RFC 3339 UTC.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details_json: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The outcome of walking the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum AuditReport {
    /// Every entry links to the one before and its hash matches its fields; the head matches.
    Ok { entries: i64, head_hash: String },
    /// The first entry (by sequence number) where the chain does not hold, and why.
    Broken {
        seq: i64,
        why: String,
        /// Entries verified before the break.
        verified: i64,
    },
}

impl AuditReport {
    pub fn is_ok(&self) -> bool {
        matches!(self, AuditReport::Ok { .. })
    }
}
