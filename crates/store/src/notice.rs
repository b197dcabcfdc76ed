//! The outbox of notices to senders (`notice_outbox`): each notice is queued in the transaction
//! of the hold or decision it tells about ([`Store::create_hold_notify`],
//! [`Store::decide_hold_notify`]), then sent by the gate's worker, which claims a due notice
//! for a while ([`Store::notice_claim`]), sends it, and records the outcome.
//!
//! A notice is `pending` while it has a next attempt time, then `sent` or `failed` (given up,
//! with a `notice.give_up` audit entry in the same transaction). One notice per hold and event.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::error::StoreError;
use crate::store::{
    GATE_ACTOR, MAX_ADDRESS, MAX_PAGE, MAX_TEXT, Store, append, lock_head, new_id, text,
};
use crate::time::{now_ms, rfc3339};

/// The largest notice message the outbox keeps (notices are a few KiB of plain text).
pub const MAX_NOTICE_BYTES: usize = 256 * 1024;
/// The longest error kept with a notice (characters).
const MAX_ERROR_CHARS: usize = 1000;

/// A notice to queue: the message exactly as it will be sent (to `recipient` alone, with an
/// empty envelope sender).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    /// `held`, `released` or `rejected`.
    pub event: String,
    pub recipient: String,
    pub raw: Vec<u8>,
}

impl NewNotice {
    /// Whether the outbox takes this notice (event and recipient bounded, the message between 1
    /// byte and [`MAX_NOTICE_BYTES`]). A notice that fails this is not queued: the hold or
    /// decision it is about is stored without it.
    pub fn check(&self) -> Result<(), StoreError> {
        text("event", &self.event, 32, false)?;
        text("recipient", &self.recipient, MAX_ADDRESS, false)?;
        if self.raw.is_empty() || self.raw.len() > MAX_NOTICE_BYTES {
            return Err(StoreError::Invalid(format!(
                "a notice is between 1 and {MAX_NOTICE_BYTES} bytes, not {}",
                self.raw.len()
            )));
        }
        Ok(())
    }
}

/// Where a notice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeStatus {
    /// Waiting for its next attempt (or being sent now).
    Pending,
    /// The upstream accepted it.
    Sent,
    /// Given up: refused for good, or still undelivered after the configured age.
    Failed,
}

impl NoticeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeStatus::Pending => "pending",
            NoticeStatus::Sent => "sent",
            NoticeStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for NoticeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A queued notice. `raw` is empty in lists ([`Store::notices_list`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub id: String,
    pub hold_id: String,
    pub event: String,
    pub recipient: String,
    #[serde(skip)]
    pub raw: Vec<u8>,
    pub created_at_ms: i64,
    pub attempts: u32,
    /// When the next attempt is due; `None` once sent or given up.
    pub next_attempt_at_ms: Option<i64>,
    pub last_attempt_at_ms: Option<i64>,
    pub last_error: Option<String>,
    pub sent_at_ms: Option<i64>,
    pub failed_at_ms: Option<i64>,
    /// When it was last queued again after being given up ([`Store::notice_requeue`]); its
    /// give-up age counts from the later of this and `created_at_ms`.
    pub requeued_at_ms: Option<i64>,
}

impl Notice {
    pub fn status(&self) -> NoticeStatus {
        if self.sent_at_ms.is_some() {
            NoticeStatus::Sent
        } else if self.failed_at_ms.is_some() || self.next_attempt_at_ms.is_none() {
            NoticeStatus::Failed
        } else {
            NoticeStatus::Pending
        }
    }

    /// Since when it has been waiting: queued, or queued again after being given up.
    pub fn queued_since_ms(&self) -> i64 {
        self.requeued_at_ms
            .map_or(self.created_at_ms, |r| r.max(self.created_at_ms))
    }

    /// Creation time, RFC 3339 UTC.
    pub fn created_at(&self) -> String {
        rfc3339(self.created_at_ms)
    }
}

/// Which notices [`Store::notices_list`] returns, oldest first.
#[derive(Debug, Clone, Default)]
pub struct NoticeFilter {
    /// Only these statuses (all when empty).
    pub statuses: Vec<NoticeStatus>,
    /// Only the notices of this hold.
    pub hold_id: Option<String>,
    /// At most this many (clamped to 1..=1000).
    pub limit: u32,
}

/// Pending notices at a glance (for the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoticeBacklog {
    pub pending: u64,
    /// Creation time of the oldest pending notice.
    pub oldest_pending_ms: Option<i64>,
}

const NOTICE_COLS: &str = "id, hold_id, event, recipient, raw, created_at_ms, attempts, \
     next_attempt_at_ms, last_attempt_at_ms, last_error, sent_at_ms, failed_at_ms, requeued_at_ms";
/// Without the message, for lists.
const NOTICE_LIST_COLS: &str = "id, hold_id, event, recipient, created_at_ms, attempts, \
     next_attempt_at_ms, last_attempt_at_ms, last_error, sent_at_ms, failed_at_ms, requeued_at_ms";

/// Queues `n` for `hold_id` inside the caller's write transaction, due at once. `None` when
/// the hold already has a notice for this event (it is kept as it is).
pub(crate) async fn notice_insert(
    conn: &mut AnyConnection,
    hold_id: &str,
    n: &NewNotice,
) -> Result<Option<Notice>, StoreError> {
    let id = new_id("ntc_")?;
    let at = now_ms();
    let done = sqlx::query(
        "INSERT INTO notice_outbox (id, hold_id, event, recipient, raw, created_at_ms, attempts, \
         next_attempt_at_ms) VALUES ($1, $2, $3, $4, $5, $6, 0, $6) \
         ON CONFLICT (hold_id, event) DO NOTHING",
    )
    .bind(&id)
    .bind(hold_id)
    .bind(&n.event)
    .bind(&n.recipient)
    .bind(&n.raw[..])
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if done != 1 {
        return Ok(None);
    }
    Ok(Some(Notice {
        id,
        hold_id: hold_id.to_string(),
        event: n.event.clone(),
        recipient: n.recipient.clone(),
        raw: n.raw.clone(),
        created_at_ms: at,
        attempts: 0,
        next_attempt_at_ms: Some(at),
        last_attempt_at_ms: None,
        last_error: None,
        sent_at_ms: None,
        failed_at_ms: None,
        requeued_at_ms: None,
    }))
}

fn notice_from_row(r: &AnyRow, with_raw: bool) -> Result<Notice, StoreError> {
    let attempts: i64 = r.try_get("attempts")?;
    Ok(Notice {
        id: r.try_get("id")?,
        hold_id: r.try_get("hold_id")?,
        event: r.try_get("event")?,
        recipient: r.try_get("recipient")?,
        raw: if with_raw {
            r.try_get("raw")?
        } else {
            Vec::new()
        },
        created_at_ms: r.try_get("created_at_ms")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at_ms: r.try_get("next_attempt_at_ms")?,
        last_attempt_at_ms: r.try_get("last_attempt_at_ms")?,
        last_error: r.try_get("last_error")?,
        sent_at_ms: r.try_get("sent_at_ms")?,
        failed_at_ms: r.try_get("failed_at_ms")?,
        requeued_at_ms: r.try_get("requeued_at_ms")?,
    })
}

fn bounded_error(e: &str) -> String {
    e.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_CHARS)
        .collect()
}

impl Store {
    /// The notice with this id, message included.
    pub async fn get_notice(&self, id: &str) -> Result<Option<Notice>, StoreError> {
        text("id", id, MAX_TEXT, false)?;
        self.timed(async {
            let sql = format!("SELECT {NOTICE_COLS} FROM notice_outbox WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
            row.map(|r| notice_from_row(&r, true)).transpose()
        })
        .await
    }

    /// Pending notices due at `now_ms`, message included, the most overdue first.
    pub async fn notices_due(&self, now_ms: i64, limit: u32) -> Result<Vec<Notice>, StoreError> {
        self.timed(async {
            let sql = format!(
                "SELECT {NOTICE_COLS} FROM notice_outbox WHERE next_attempt_at_ms <= $1 \
                 AND sent_at_ms IS NULL AND failed_at_ms IS NULL \
                 ORDER BY next_attempt_at_ms, id LIMIT $2"
            );
            let rows = sqlx::query(&sql)
                .bind(now_ms)
                .bind(i64::from(limit.clamp(1, MAX_PAGE)))
                .fetch_all(self.pool())
                .await?;
            rows.iter().map(|r| notice_from_row(r, true)).collect()
        })
        .await
    }

    /// Notices matching `filter`, oldest first, without their message.
    pub async fn notices_list(&self, filter: &NoticeFilter) -> Result<Vec<Notice>, StoreError> {
        if let Some(h) = &filter.hold_id {
            text("hold_id", h, MAX_TEXT, false)?;
        }
        let limit = i64::from(filter.limit.clamp(1, MAX_PAGE));
        self.timed(async {
            let mut conds: Vec<String> = Vec::new();
            if !filter.statuses.is_empty() {
                let any: Vec<&str> = filter
                    .statuses
                    .iter()
                    .map(|s| match s {
                        NoticeStatus::Pending => {
                            "(next_attempt_at_ms IS NOT NULL AND sent_at_ms IS NULL \
                             AND failed_at_ms IS NULL)"
                        }
                        NoticeStatus::Sent => "sent_at_ms IS NOT NULL",
                        NoticeStatus::Failed => {
                            "(sent_at_ms IS NULL AND (failed_at_ms IS NOT NULL \
                             OR next_attempt_at_ms IS NULL))"
                        }
                    })
                    .collect();
                conds.push(format!("({})", any.join(" OR ")));
            }
            let (hold_cond, limit_param) = match &filter.hold_id {
                Some(_) => (Some("hold_id = $1"), "$2"),
                None => (None, "$1"),
            };
            conds.extend(hold_cond.map(str::to_string));
            let where_clause = if conds.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conds.join(" AND "))
            };
            let sql = format!(
                "SELECT {NOTICE_LIST_COLS} FROM notice_outbox {where_clause} \
                 ORDER BY created_at_ms, id LIMIT {limit_param}"
            );
            let mut q = sqlx::query(&sql);
            if let Some(h) = &filter.hold_id {
                q = q.bind(h.as_str());
            }
            let rows = q.bind(limit).fetch_all(self.pool()).await?;
            rows.iter().map(|r| notice_from_row(r, false)).collect()
        })
        .await
    }

    /// How many notices are pending, and since when the oldest.
    pub async fn notice_backlog(&self) -> Result<NoticeBacklog, StoreError> {
        self.timed(async {
            let row = sqlx::query(
                "SELECT COUNT(*), MIN(created_at_ms) FROM notice_outbox \
                 WHERE next_attempt_at_ms IS NOT NULL AND sent_at_ms IS NULL \
                 AND failed_at_ms IS NULL",
            )
            .fetch_one(self.pool())
            .await?;
            let pending: i64 = row.try_get(0)?;
            Ok(NoticeBacklog {
                pending: u64::try_from(pending).unwrap_or(0),
                oldest_pending_ms: row.try_get(1)?,
            })
        })
        .await
    }

    /// Claims a pending notice for one attempt: its next attempt moves from `expected_next_ms`
    /// (as read) to `lease_until_ms`, so no other worker (in this process or another gate
    /// sharing the database) sends it meanwhile. `false` when someone else claimed it first,
    /// or it is no longer pending. If the claimer dies, the notice is due again at
    /// `lease_until_ms`.
    pub async fn notice_claim(
        &self,
        id: &str,
        expected_next_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.timed(async {
            Ok(sqlx::query(
                "UPDATE notice_outbox SET next_attempt_at_ms = $1 \
                 WHERE id = $2 AND next_attempt_at_ms = $3 \
                 AND sent_at_ms IS NULL AND failed_at_ms IS NULL",
            )
            .bind(lease_until_ms)
            .bind(id)
            .bind(expected_next_ms)
            .execute(self.pool())
            .await?
            .rows_affected()
                == 1)
        })
        .await
    }

    /// Records that the upstream accepted the notice: it is never sent again. Idempotent. It
    /// does not ask for the claim: whoever got the upstream's 250 marks it, even after its
    /// claim ended (a notice accepted once is sent, whatever another worker is doing with it).
    pub async fn notice_sent(&self, id: &str) -> Result<(), StoreError> {
        self.timed(async {
            let now = now_ms();
            sqlx::query(
                "UPDATE notice_outbox SET attempts = attempts + 1, last_attempt_at_ms = $1, \
                 sent_at_ms = $1, next_attempt_at_ms = NULL, failed_at_ms = NULL \
                 WHERE id = $2 AND sent_at_ms IS NULL",
            )
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
            Ok(())
        })
        .await
    }

    /// Records a failed attempt made under the claim `lease_ms` (the `lease_until_ms` given to
    /// [`Store::notice_claim`]) and when to try again. Nothing changes for a notice that was
    /// sent, given up, or claimed by someone else meanwhile (the claim ended). Returns whether
    /// it was recorded.
    pub async fn notice_retry_at(
        &self,
        id: &str,
        lease_ms: i64,
        error: &str,
        next_attempt_at_ms: i64,
    ) -> Result<bool, StoreError> {
        let error = bounded_error(error);
        self.timed(async {
            Ok(sqlx::query(
                "UPDATE notice_outbox SET attempts = attempts + 1, last_attempt_at_ms = $1, \
                 last_error = $2, next_attempt_at_ms = $3 \
                 WHERE id = $4 AND next_attempt_at_ms = $5 \
                 AND sent_at_ms IS NULL AND failed_at_ms IS NULL",
            )
            .bind(now_ms())
            .bind(&error)
            .bind(next_attempt_at_ms)
            .bind(id)
            .bind(lease_ms)
            .execute(self.pool())
            .await?
            .rows_affected()
                == 1)
        })
        .await
    }

    /// Gives a pending notice up under the claim `lease_ms` (the `lease_until_ms` given to
    /// [`Store::notice_claim`]; after a failed attempt when `attempted`): it is never sent, and
    /// `notice.give_up` goes into the audit log with `why` and the last error, in the same
    /// transaction. Returns whether it was given up now (`false`: sent or given up already, or
    /// claimed by someone else since).
    pub async fn notice_give_up(
        &self,
        id: &str,
        lease_ms: i64,
        error: &str,
        why: &str,
        attempted: bool,
    ) -> Result<bool, StoreError> {
        let error = bounded_error(error);
        text("why", why, MAX_TEXT, true)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let sql = format!(
                "SELECT {NOTICE_LIST_COLS} FROM notice_outbox WHERE id = $1 \
                 AND next_attempt_at_ms = $2 AND sent_at_ms IS NULL AND failed_at_ms IS NULL"
            );
            let Some(row) = sqlx::query(&sql)
                .bind(id)
                .bind(lease_ms)
                .fetch_optional(&mut *tx)
                .await?
            else {
                tx.rollback().await?;
                return Ok(false);
            };
            let n = notice_from_row(&row, false)?;
            let head = lock_head(&mut tx).await?;
            let now = now_ms();
            let bump = i64::from(attempted);
            let changed = sqlx::query(
                "UPDATE notice_outbox SET attempts = attempts + $1, \
                 last_attempt_at_ms = CASE WHEN $2 = 1 THEN $3 ELSE last_attempt_at_ms END, \
                 last_error = $4, next_attempt_at_ms = NULL, failed_at_ms = $3 \
                 WHERE id = $5 AND next_attempt_at_ms = $6 \
                 AND sent_at_ms IS NULL AND failed_at_ms IS NULL",
            )
            .bind(bump)
            .bind(bump)
            .bind(now)
            .bind(&error)
            .bind(id)
            .bind(lease_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed != 1 {
                // Sent, given up or claimed again since it was read: no audit entry either.
                tx.rollback().await?;
                return Ok(false);
            }
            let details = serde_json::json!({
                "notice": n.id,
                "event": n.event,
                "attempts": i64::from(n.attempts) + bump,
                "created_at_ms": n.created_at_ms,
                "why": why,
                "error": error,
            })
            .to_string();
            append(
                &mut tx,
                head,
                GATE_ACTOR,
                "notice.give_up",
                &n.hold_id,
                &details,
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// Puts a notice that was given up back in the queue, due now (after the cause was fixed),
    /// with `notice.requeue` by `actor` in the audit log. It starts over: no attempts counted,
    /// and its give-up age counting from now (`requeued_at_ms`). `Conflict` unless it was given
    /// up.
    pub async fn notice_requeue(&self, id: &str, actor: &str) -> Result<Notice, StoreError> {
        text("id", id, MAX_TEXT, false)?;
        text("actor", actor, MAX_ADDRESS, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let sql = format!("SELECT {NOTICE_COLS} FROM notice_outbox WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let mut n = notice_from_row(&row, true)?;
            if n.status() != NoticeStatus::Failed {
                return Err(StoreError::Conflict(format!(
                    "notice {id} is {}; only a notice that was given up can be queued again",
                    n.status()
                )));
            }
            let head = lock_head(&mut tx).await?;
            let now = now_ms();
            sqlx::query(
                "UPDATE notice_outbox SET next_attempt_at_ms = $1, failed_at_ms = NULL, \
                 requeued_at_ms = $1, attempts = 0 WHERE id = $2",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let details = serde_json::json!({
                "notice": n.id,
                "event": n.event,
                "attempts": n.attempts,
            })
            .to_string();
            append(&mut tx, head, actor, "notice.requeue", &n.hold_id, &details).await?;
            tx.commit().await?;
            n.next_attempt_at_ms = Some(now);
            n.failed_at_ms = None;
            n.requeued_at_ms = Some(now);
            n.attempts = 0;
            Ok(n)
        })
        .await
    }
}
