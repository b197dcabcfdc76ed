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
    /// The decoded Subject (empty when the message has none), at most
    /// [`crate::MAX_SUBJECT_CHARS`] characters. Not masked: callers that show it mask it.
    pub subject: String,
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

/// What a member of staff may do in the review queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees their own held messages and why; decides nothing.
    Agent,
    /// Sees the whole queue and decides (never on their own messages).
    Reviewer,
    /// A reviewer who also manages staff accounts and reads the audit log.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Agent, Role::Reviewer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" => Some(Role::Agent),
            "reviewer" => Some(Role::Reviewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Reviewers and admins decide on held messages.
    pub fn can_decide(self) -> bool {
        matches!(self, Role::Reviewer | Role::Admin)
    }

    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A staff account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Lower-cased email address; the account's name.
    pub email: String,
    pub role: Role,
    /// PHC string of the password hash (argon2id).
    #[serde(skip)]
    pub password_hash: String,
    pub disabled: bool,
    pub created_at_ms: i64,
    pub created_at: String,
}

/// A signed-in session with its user, as found by the hash of its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub id_hash: String,
    pub user: User,
    /// The token every form of this session carries.
    pub csrf_token: String,
    pub created_at_ms: i64,
    pub last_seen_ms: i64,
    pub ip: String,
}

/// Which holds the queue shows: newest first, `limit` at most, after the cursor.
#[derive(Debug, Clone)]
pub struct QueueQuery {
    pub status: Option<HoldStatus>,
    /// Only holds whose sender or envelope sender is this address (case-insensitive).
    pub sender: Option<String>,
    /// Only holds on which this detector fired.
    pub detector: Option<String>,
    /// Only holds created at or before this time (unix ms): "waiting at least …".
    pub created_before_ms: Option<i64>,
    /// Cursor: the `(created_at_ms, id)` of the last hold of the previous page.
    pub before: Option<(i64, String)>,
    /// At most this many (clamped to 1..=1000).
    pub limit: u32,
}

impl Default for QueueQuery {
    fn default() -> Self {
        QueueQuery {
            status: None,
            sender: None,
            detector: None,
            created_before_ms: None,
            before: None,
            limit: 50,
        }
    }
}

/// One row of the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueItem {
    pub hold: HoldSummary,
    /// Detector ids that fired, most severe first.
    pub detectors: Vec<String>,
    /// The highest severity among the findings (0 info … 4 critical), if any.
    pub max_severity: Option<i64>,
    pub assignee: Option<String>,
    pub approvals: i64,
}

/// A page of the queue, with the cursor of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    pub next: Option<(i64, String)>,
}

/// One approval of a held message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    pub hold_id: String,
    pub approver: String,
    pub at_ms: i64,
    pub justification: String,
}

/// Where a hold's approvals stand after one more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalCount {
    /// Distinct approvers so far, this one included.
    pub approvals: i64,
    /// How many the hold needs.
    pub required: i64,
}

impl ApprovalCount {
    pub fn complete(&self) -> bool {
        self.approvals >= self.required
    }
}

/// Who a hold is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub hold_id: String,
    pub assignee: String,
    pub assigned_by: String,
    pub at_ms: i64,
}

/// How a held message was fixed before it was released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixKind {
    /// The visible recipient lists removed; one message to the same recipients.
    Bccify,
    /// One message per recipient, each seeing only itself.
    Explode,
    /// One attachment (a top-level MIME part) removed.
    RemoveAttachment,
}

impl FixKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FixKind::Bccify => "bccify",
            FixKind::Explode => "explode",
            FixKind::RemoveAttachment => "remove_attachment",
        }
    }

    pub fn parse(s: &str) -> Option<FixKind> {
        match s {
            "bccify" => Some(FixKind::Bccify),
            "explode" => Some(FixKind::Explode),
            "remove_attachment" => Some(FixKind::RemoveAttachment),
            _ => None,
        }
    }
}

/// The record of a fix: the original message is never delivered, the fixed one is, under the
/// delivery key [`HoldFix::delivery_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldFix {
    pub hold_id: String,
    pub fix: FixKind,
    /// The MIME part removed (for `remove_attachment`).
    pub part: Option<String>,
    pub actor: String,
    pub at_ms: i64,
    pub delivered_at_ms: Option<i64>,
}

impl HoldFix {
    /// The delivery-record key of the fixed message's copies.
    pub fn delivery_key(hold_id: &str) -> String {
        format!("fix:{hold_id}")
    }
}

/// Which audit entries to list: newest first, `limit` at most, before `before_seq`.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// An action (`hold.release`) or a prefix ending in `.` (`auth.`).
    pub action: Option<String>,
    pub from_ms: Option<i64>,
    /// Exclusive.
    pub to_ms: Option<i64>,
    pub before_seq: Option<i64>,
    /// At most this many (clamped to 1..=1000).
    pub limit: u32,
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery {
            actor: None,
            action: None,
            from_ms: None,
            to_ms: None,
            before_seq: None,
            limit: 100,
        }
    }
}
