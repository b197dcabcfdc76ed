//! The store: one code path over sqlx's `Any` driver, SQLite or PostgreSQL by URL.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, Connection, Executor, Row};

use crate::chain::{GENESIS_HASH, entry_hash, sha256_hex};
use crate::error::StoreError;
use crate::model::*;
use crate::notice::{NewNotice, Notice, notice_insert};
use crate::time::{now_ms, rfc3339};

static MIGRATE_SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static MIGRATE_POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// Default largest raw message the store accepts: 50 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 50 * 1024 * 1024;

/// The actor recorded for what the gate does on its own (creating a hold).
pub const GATE_ACTOR: &str = "gate";

pub(crate) const MAX_ADDRESS: usize = 1024;
const MAX_RECIPIENTS: usize = 10_000;
pub(crate) const MAX_TEXT: usize = 4096;
const MAX_VERDICT_JSON: usize = 8 * 1024 * 1024;
const MAX_DETAILS_JSON: usize = 1024 * 1024;
pub(crate) const MAX_PAGE: u32 = 1000;
/// Applied to every SQLite connection: wait up to 10 s for the write lock, write-ahead log,
/// fsync at every commit.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;";

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Largest raw message `create_hold` accepts (default 50 MiB).
    pub max_message_bytes: u64,
    /// How long opening (and acquiring a connection) may take before `Unavailable` (default 5 s).
    pub connect_timeout: Duration,
    /// How long one operation may take before `Unavailable` (default 30 s).
    pub op_timeout: Duration,
    /// Pool size (default 8; an in-memory SQLite database always uses one connection).
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            connect_timeout: Duration::from_secs(5),
            op_timeout: Duration::from_secs(30),
            max_connections: 8,
        }
    }
}

/// Held messages, explode delivery records and the audit log, in SQLite or PostgreSQL.
/// Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    opts: StoreOptions,
}

pub(crate) const HOLD_COLS: &str = "id, status, created_at_ms, mail_from, rcpt_to_json, sender, queue_id, \
     reason, verdict_json, raw, raw_size, raw_sha256, decided_by, decided_at_ms, decision_reason";

pub(crate) const SUMMARY_COLS: &str = "id, status, created_at_ms, mail_from, rcpt_count, sender, queue_id, \
     reason, raw_size, decided_by, decided_at_ms, subject";

/// The longest subject kept for the queue's rows (characters).
pub const MAX_SUBJECT_CHARS: usize = 300;
/// Holds whose subject is read per statement when filling in those stored before migration 0004.
const BACKFILL_BATCH: i64 = 200;
/// Bytes of a raw message read to find its subject (the header block).
const BACKFILL_HEAD_BYTES: i64 = 64 * 1024;

pub(crate) const AUDIT_COLS: &str =
    "seq, at_ms, actor, action, subject, details_json, prev_hash, hash";

impl Store {
    /// Opens (and creates, for SQLite) the database at `url` with default options and applies
    /// the migrations. URLs: `sqlite://path/doublecheck.db?mode=rwc`, `sqlite::memory:`,
    /// `postgres://user@host:port/db`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, StoreOptions::default()).await
    }

    /// Like [`Store::open`] with explicit options.
    pub async fn open_with(url: &str, opts: StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let mut pool_opts = AnyPoolOptions::new()
            .acquire_timeout(opts.connect_timeout)
            .max_connections(opts.max_connections.max(1));
        let url = match backend {
            Backend::Sqlite => {
                let (url, in_memory) = prepare_sqlite_url(url)?;
                if in_memory {
                    // Every connection to `:memory:` is a database of its own: keep exactly one.
                    pool_opts = pool_opts
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                }
                pool_opts = pool_opts.after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute(SQLITE_PRAGMAS).await?;
                        Ok(())
                    })
                });
                url
            }
            Backend::Postgres => {
                // One direct connection first, so that a refused or unreachable server is
                // reported with its own cause rather than as a pool timeout.
                let probe = tokio::time::timeout(opts.connect_timeout, AnyConnection::connect(url))
                    .await
                    .map_err(|_| {
                        StoreError::Unavailable(format!(
                            "no connection to the database within {} ms",
                            opts.connect_timeout.as_millis()
                        ))
                    })?
                    .map_err(StoreError::from)
                    .map_err(connect_failure)?;
                let _ = probe.close().await;
                url.to_string()
            }
        };
        let pool = tokio::time::timeout(opts.connect_timeout * 2, pool_opts.connect(&url))
            .await
            .map_err(|_| StoreError::Unavailable("opening the database timed out".into()))?
            .map_err(StoreError::from)
            .map_err(connect_failure)?;
        let migrator = match backend {
            Backend::Sqlite => &MIGRATE_SQLITE,
            Backend::Postgres => &MIGRATE_POSTGRES,
        };
        migrator.run(&pool).await?;
        let store = Store {
            pool,
            backend,
            opts,
        };
        store.backfill_subjects().await?;
        Ok(store)
    }

    /// Reads the subject of holds stored before the `subject` column existed (NULL), a batch at
    /// a time, from the head of their raw message. Returns how many were filled in.
    pub async fn backfill_subjects(&self) -> Result<u64, StoreError> {
        let mut done = 0u64;
        loop {
            // The length as a literal: PostgreSQL has substr(bytea, int, int) only.
            let sql = format!(
                "SELECT id, substr(raw, 1, {BACKFILL_HEAD_BYTES}) FROM holds \
                 WHERE subject IS NULL ORDER BY id LIMIT $1"
            );
            let rows = sqlx::query(&sql)
                .bind(BACKFILL_BATCH)
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                return Ok(done);
            }
            let mut tx = self.pool.begin().await?;
            for r in &rows {
                let id: String = r.try_get(0)?;
                let head: Vec<u8> = r.try_get(1)?;
                sqlx::query("UPDATE holds SET subject = $1 WHERE id = $2 AND subject IS NULL")
                    .bind(subject_of(&head))
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                done += 1;
            }
            tx.commit().await?;
        }
    }

    /// Which database this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The largest raw message `create_hold` accepts.
    pub fn max_message_bytes(&self) -> u64 {
        self.opts.max_message_bytes
    }

    /// The connection pool, for maintenance and tests. Writes through it bypass every check the
    /// store makes (and the audit log's triggers say no to updates and deletes).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool; waits for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Succeeds when the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.timed(async {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
        .await
    }

    // ---------------------------------------------------------------- holds

    /// Stores a message for review (status `held`) and records `hold.create` in the audit log,
    /// in one transaction. Durable when this returns: the gate may then answer 250.
    pub async fn create_hold(&self, h: NewHold) -> Result<Hold, StoreError> {
        Ok(self.create_hold_notify(h, |_| None).await?.0)
    }

    /// Like [`Store::create_hold`], and queues the notice `notice` builds from the new hold
    /// (its id included) in the same transaction: the hold is never stored without its notice.
    /// A notice the outbox does not take ([`NewNotice::check`]: too large) is left out and the
    /// hold stored without it (`None`).
    pub async fn create_hold_notify(
        &self,
        h: NewHold,
        notice: impl FnOnce(&Hold) -> Option<NewNotice>,
    ) -> Result<(Hold, Option<Notice>), StoreError> {
        let size = h.raw.len() as u64;
        if size > self.opts.max_message_bytes {
            return Err(StoreError::TooLarge {
                size,
                max: self.opts.max_message_bytes,
            });
        }
        text("mail_from", &h.mail_from, MAX_ADDRESS, true)?;
        if h.rcpt_to.is_empty() || h.rcpt_to.len() > MAX_RECIPIENTS {
            return Err(StoreError::Invalid(format!(
                "a hold needs between 1 and {MAX_RECIPIENTS} recipients, not {}",
                h.rcpt_to.len()
            )));
        }
        for r in &h.rcpt_to {
            text("recipient", r, MAX_ADDRESS, false)?;
        }
        text("reason", &h.reason, MAX_TEXT, true)?;
        json("verdict_json", &h.verdict_json, MAX_VERDICT_JSON)?;
        if let Some(s) = &h.sender {
            text("sender", s, MAX_ADDRESS, false)?;
        }
        if let Some(q) = &h.queue_id {
            text("queue_id", q, MAX_TEXT, false)?;
        }

        let id = new_id("hold_")?;
        let subject = subject_of(&h.raw);
        let detectors = detectors_of(&h.verdict_json);
        let created_at_ms = now_ms();
        let raw_sha256 = sha256_hex(&h.raw);
        let rcpt_to_json = serde_json::to_string(&h.rcpt_to)
            .map_err(|e| StoreError::Other(format!("encoding recipients: {e}")))?;
        let details = serde_json::json!({
            "mail_from": h.mail_from,
            "rcpt_count": h.rcpt_to.len(),
            "sender": h.sender,
            "queue_id": h.queue_id,
            "reason": h.reason,
            "raw_size": size,
            "raw_sha256": raw_sha256,
        })
        .to_string();

        let hold = Hold {
            id,
            status: HoldStatus::Held,
            created_at_ms,
            created_at: rfc3339(created_at_ms),
            mail_from: h.mail_from,
            rcpt_to: h.rcpt_to,
            sender: h.sender,
            queue_id: h.queue_id,
            reason: h.reason,
            verdict_json: h.verdict_json,
            raw: h.raw,
            raw_size: size,
            raw_sha256,
            decided_by: None,
            decided_at_ms: None,
            decided_at: None,
            decision_reason: None,
        };
        // A notice the outbox does not take is left out: the hold is stored all the same.
        let notice = notice(&hold).filter(|n| n.check().is_ok());
        let (id, h) = (&hold.id, &hold);
        let queued = self
            .timed(async {
            let mut tx = self.begin_write().await?;
            let head = lock_head(&mut tx).await?;
            sqlx::query(
                "INSERT INTO holds (id, status, created_at_ms, mail_from, rcpt_to_json, rcpt_count, \
                 sender, queue_id, reason, verdict_json, raw, raw_size, raw_sha256, subject) \
                 VALUES ($1, 'held', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(id)
            .bind(created_at_ms)
            .bind(&h.mail_from)
            .bind(&rcpt_to_json)
            .bind(h.rcpt_to.len() as i64)
            .bind(h.sender.as_deref())
            .bind(h.queue_id.as_deref())
            .bind(&h.reason)
            .bind(&h.verdict_json)
            .bind(&h.raw[..])
            .bind(size as i64)
            .bind(&h.raw_sha256)
            .bind(&subject)
            .execute(&mut *tx)
            .await?;
            for (detector, severity) in &detectors {
                sqlx::query(
                    "INSERT INTO hold_detectors (hold_id, detector_id, severity) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(detector.as_str())
                .bind(*severity)
                .execute(&mut *tx)
                .await?;
            }
            append(&mut tx, head, GATE_ACTOR, "hold.create", id, &details).await?;
            let queued = match &notice {
                Some(n) => notice_insert(&mut tx, id, n).await?,
                None => None,
            };
            tx.commit().await?;
            Ok(queued)
        })
        .await?;
        Ok((hold, queued))
    }

    /// The hold with this id, content included.
    pub async fn get_hold(&self, id: &str) -> Result<Option<Hold>, StoreError> {
        text("id", id, MAX_TEXT, false)?;
        self.timed(async {
            let sql = format!("SELECT {HOLD_COLS} FROM holds WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| hold_from_row(&r)).transpose()
        })
        .await
    }

    /// Holds matching `filter`, oldest first, without their content.
    pub async fn list_holds(&self, filter: HoldFilter) -> Result<Vec<HoldSummary>, StoreError> {
        let limit = i64::from(filter.limit.clamp(1, MAX_PAGE));
        self.timed(async {
            let cursor = match &filter.after {
                None => None,
                Some(after) => {
                    text("cursor", after, MAX_TEXT, false)?;
                    let row = sqlx::query("SELECT created_at_ms FROM holds WHERE id = $1")
                        .bind(after)
                        .fetch_optional(&self.pool)
                        .await?
                        .ok_or_else(|| StoreError::Invalid(format!("unknown cursor {after:?}")))?;
                    let ms: i64 = row.try_get(0)?;
                    Some((ms, after.clone()))
                }
            };
            let mut conds = Vec::new();
            let mut n = 0;
            let mut next = || {
                n += 1;
                format!("${n}")
            };
            if filter.status.is_some() {
                conds.push(format!("status = {}", next()));
            }
            if cursor.is_some() {
                let (a, b, c) = (next(), next(), next());
                conds.push(format!(
                    "(created_at_ms > {a} OR (created_at_ms = {b} AND id > {c}))"
                ));
            }
            let limit_param = next();
            let where_clause = if conds.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conds.join(" AND "))
            };
            let sql = format!(
                "SELECT {SUMMARY_COLS} FROM holds {where_clause} \
                 ORDER BY created_at_ms, id LIMIT {limit_param}"
            );
            let mut q = sqlx::query(&sql);
            if let Some(s) = filter.status {
                q = q.bind(s.as_str());
            }
            if let Some((ms, id)) = &cursor {
                q = q.bind(*ms).bind(*ms).bind(id.as_str());
            }
            let rows = q.bind(limit).fetch_all(&self.pool).await?;
            rows.iter().map(summary_from_row).collect()
        })
        .await
    }

    /// Releases or rejects a held message. Only from `held` (otherwise `Conflict`); the sender
    /// (and the envelope sender) may not decide on their own message (`Forbidden`, and the
    /// attempt is audited). The decision and its audit entry are one transaction.
    pub async fn decide_hold(
        &self,
        id: &str,
        decision: Decision,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Hold, StoreError> {
        self.decide_hold_with(id, decision, actor, reason, &serde_json::Map::new())
            .await
    }

    /// Like [`Store::decide_hold`]; `extra` fields (the client's address) are added to the
    /// audit entry's details.
    pub async fn decide_hold_with(
        &self,
        id: &str,
        decision: Decision,
        actor: &str,
        reason: Option<&str>,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Hold, StoreError> {
        Ok(self
            .decide_hold_notify(id, decision, actor, reason, extra, |_| None)
            .await?
            .0)
    }

    /// Like [`Store::decide_hold_with`], and queues the notice `notice` builds from the decided
    /// hold in the same transaction: the decision is never stored without its notice (one per
    /// hold and event: a notice queued before for the same event is kept, not doubled). A
    /// notice that fails [`NewNotice::check`] is left out (`None`); the decision is stored.
    pub async fn decide_hold_notify(
        &self,
        id: &str,
        decision: Decision,
        actor: &str,
        reason: Option<&str>,
        extra: &serde_json::Map<String, serde_json::Value>,
        notice: impl FnOnce(&Hold) -> Option<NewNotice>,
    ) -> Result<(Hold, Option<Notice>), StoreError> {
        text("id", id, MAX_TEXT, false)?;
        text("actor", actor, MAX_ADDRESS, false)?;
        if let Some(r) = reason {
            text("reason", r, MAX_TEXT, true)?;
        }
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let head = lock_head(&mut tx).await?;
            match decide_in_tx(&mut tx, head, id, decision, actor, reason, extra).await? {
                Decided::Done(hold) => {
                    // A notice the outbox does not take is left out, never the decision.
                    let queued = match notice(&hold).filter(|n| n.check().is_ok()) {
                        Some(n) => notice_insert(&mut tx, id, &n).await?,
                        None => None,
                    };
                    tx.commit().await?;
                    Ok((*hold, queued))
                }
                Decided::Denied(e) => {
                    tx.commit().await?;
                    Err(e)
                }
            }
        })
        .await
    }

    // ---------------------------------------------------------------- deliveries

    /// Claims the copy of `message_key` for `recipient` before sending it. `true` when that copy
    /// has not been delivered yet (send it, then call [`Store::delivery_done`]); `false` when it
    /// was (skip it). Claims are not exclusive: two senders racing may both get `true`.
    pub async fn delivery_claim(
        &self,
        message_key: &str,
        recipient: &str,
    ) -> Result<bool, StoreError> {
        text("message_key", message_key, MAX_TEXT, false)?;
        text("recipient", recipient, MAX_ADDRESS, false)?;
        self.timed(async {
            let now = now_ms();
            sqlx::query(
                "INSERT INTO deliveries (message_key, recipient, status, attempts, claimed_at_ms) \
                 VALUES ($1, $2, 'pending', 1, $3) \
                 ON CONFLICT (message_key, recipient) DO UPDATE \
                 SET attempts = deliveries.attempts + 1, claimed_at_ms = excluded.claimed_at_ms \
                 WHERE deliveries.status = 'pending'",
            )
            .bind(message_key)
            .bind(recipient)
            .bind(now)
            .execute(&self.pool)
            .await?;
            let row = sqlx::query(
                "SELECT status FROM deliveries WHERE message_key = $1 AND recipient = $2",
            )
            .bind(message_key)
            .bind(recipient)
            .fetch_one(&self.pool)
            .await?;
            let status: String = row.try_get(0)?;
            Ok(status != "delivered")
        })
        .await
    }

    /// Records that the copy of `message_key` for `recipient` was delivered. Idempotent.
    pub async fn delivery_done(
        &self,
        message_key: &str,
        recipient: &str,
    ) -> Result<(), StoreError> {
        text("message_key", message_key, MAX_TEXT, false)?;
        text("recipient", recipient, MAX_ADDRESS, false)?;
        self.timed(async {
            let now = now_ms();
            sqlx::query(
                "INSERT INTO deliveries \
                 (message_key, recipient, status, attempts, claimed_at_ms, delivered_at_ms) \
                 VALUES ($1, $2, 'delivered', 1, $3, $3) \
                 ON CONFLICT (message_key, recipient) DO UPDATE \
                 SET status = 'delivered', delivered_at_ms = excluded.delivered_at_ms \
                 WHERE deliveries.status = 'pending'",
            )
            .bind(message_key)
            .bind(recipient)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    /// Every per-recipient record of `message_key`, by recipient.
    pub async fn deliveries(&self, message_key: &str) -> Result<Vec<Delivery>, StoreError> {
        text("message_key", message_key, MAX_TEXT, false)?;
        self.timed(async {
            let rows = sqlx::query(
                "SELECT message_key, recipient, status, attempts, claimed_at_ms, delivered_at_ms \
                 FROM deliveries WHERE message_key = $1 ORDER BY recipient",
            )
            .bind(message_key)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let status: String = r.try_get(2)?;
                    Ok(Delivery {
                        message_key: r.try_get(0)?,
                        recipient: r.try_get(1)?,
                        delivered: status == "delivered",
                        attempts: r.try_get(3)?,
                        claimed_at_ms: r.try_get(4)?,
                        delivered_at_ms: r.try_get(5)?,
                    })
                })
                .collect()
        })
        .await
    }

    // ---------------------------------------------------------------- audit

    /// Appends an entry to the audit log. `details_json` must be a JSON value (≤ 1 MiB).
    /// Appends from any number of tasks or gate instances are serialized: the chain never forks.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        details_json: &str,
    ) -> Result<AuditEntry, StoreError> {
        text("actor", actor, MAX_ADDRESS, false)?;
        text("action", action, MAX_TEXT, false)?;
        text("subject", subject, MAX_TEXT, true)?;
        json("details_json", details_json, MAX_DETAILS_JSON)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let head = lock_head(&mut tx).await?;
            let entry = append(&mut tx, head, actor, action, subject, details_json).await?;
            tx.commit().await?;
            Ok(entry)
        })
        .await
    }

    /// Walks the whole chain from the first entry: sequence numbers consecutive from 1, each
    /// entry's `prev_hash` equal to the previous entry's hash, each hash recomputed from the
    /// fields, and the recorded head equal to the last entry.
    pub async fn audit_verify(&self) -> Result<AuditReport, StoreError> {
        // A consistent snapshot: entries appended meanwhile are not half-seen.
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        let mut tx = self.pool.begin_with(begin).await?;
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::Corrupt("the audit head row is missing".into()))?;
        let head_seq: i64 = head.try_get(0)?;
        let head_hash: String = head.try_get(1)?;

        let mut expected = 1i64;
        let mut prev = GENESIS_HASH.to_string();
        let sql =
            format!("SELECT {AUDIT_COLS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT 1000");
        loop {
            let rows = sqlx::query(&sql).bind(expected).fetch_all(&mut *tx).await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let e = audit_from_row(r)?;
                let verified = expected - 1;
                let broken = |seq: i64, why: String| AuditReport::Broken { seq, why, verified };
                if e.seq != expected {
                    return Ok(broken(
                        expected,
                        format!("entry {expected} is missing (the next entry is {})", e.seq),
                    ));
                }
                if e.prev_hash != prev {
                    return Ok(broken(
                        e.seq,
                        format!(
                            "its prev_hash does not match the hash of entry {}",
                            e.seq - 1
                        ),
                    ));
                }
                let recomputed = entry_hash(
                    &e.prev_hash,
                    e.seq,
                    e.at_ms,
                    &e.actor,
                    &e.action,
                    &e.subject,
                    &e.details_json,
                );
                if recomputed != e.hash {
                    return Ok(broken(
                        e.seq,
                        "its contents do not match its hash (the entry was altered)".into(),
                    ));
                }
                prev = e.hash;
                expected += 1;
            }
        }
        let last = expected - 1;
        let verified = last;
        tx.rollback().await?;
        if head_seq > last {
            return Ok(AuditReport::Broken {
                seq: last + 1,
                why: format!("entries {} to {head_seq} are missing", last + 1),
                verified,
            });
        }
        if head_seq < last {
            return Ok(AuditReport::Broken {
                seq: head_seq + 1,
                why: format!("entries after {head_seq} were added outside the store"),
                verified,
            });
        }
        if head_hash != prev {
            return Ok(AuditReport::Broken {
                seq: last,
                why: "the recorded head hash does not match the last entry".into(),
                verified,
            });
        }
        Ok(AuditReport::Ok {
            entries: last,
            head_hash,
        })
    }

    /// Entries with `seq > after_seq`, in order, at most `limit` (clamped to 1..=1000).
    pub async fn audit_list(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit.clamp(1, i64::from(MAX_PAGE));
        self.timed(async {
            let sql =
                format!("SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
            let rows = sqlx::query(&sql)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(audit_from_row).collect()
        })
        .await
    }

    // ---------------------------------------------------------------- helpers

    /// A transaction that writes. On SQLite `BEGIN IMMEDIATE` takes the write lock at once (so
    /// the busy timeout applies, and no read snapshot goes stale before the first write).
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let stmt = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        Ok(self.pool.begin_with(stmt).await?)
    }

    pub(crate) async fn timed<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.opts.op_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Unavailable(format!(
                "the database did not answer within {} ms",
                self.opts.op_timeout.as_millis()
            ))),
        }
    }
}

/// What [`decide_in_tx`] did: decided (the hold as it is now), or
/// refused because the actor sent the message (the refusal is in the audit log: commit, then
/// return the error).
pub(crate) enum Decided {
    Done(Box<Hold>),
    Denied(StoreError),
}

/// Decides on a held message inside the caller's write transaction, after `head` was locked.
/// `extra` fields (the client's address) go into the audit entry's details.
pub(crate) async fn decide_in_tx(
    tx: &mut AnyConnection,
    head: (i64, String),
    id: &str,
    decision: Decision,
    actor: &str,
    reason: Option<&str>,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<Decided, StoreError> {
    let sql = format!("SELECT {HOLD_COLS} FROM holds WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut hold = hold_from_row(&row)?;
    if hold.status != HoldStatus::Held {
        return Err(StoreError::Conflict(format!(
            "hold {id} was already {} by {} at {}",
            hold.status,
            hold.decided_by.as_deref().unwrap_or("someone"),
            hold.decided_at.as_deref().unwrap_or("an unknown time"),
        )));
    }
    if is_own(&hold, actor) {
        let mut details = serde_json::json!({
            "decision": decision.status().as_str(),
            "why": "the sender may not decide on their own message",
        });
        merge(&mut details, extra);
        append(
            tx,
            head,
            actor,
            "hold.decide_denied",
            id,
            &details.to_string(),
        )
        .await?;
        return Ok(Decided::Denied(StoreError::Forbidden(format!(
            "{actor} sent hold {id} and may not {} it; another reviewer must decide",
            match decision {
                Decision::Release => "release",
                Decision::Reject => "reject",
            }
        ))));
    }
    let at = now_ms();
    let status = decision.status();
    let done = sqlx::query(
        "UPDATE holds SET status = $1, decided_by = $2, decided_at_ms = $3, \
         decision_reason = $4 WHERE id = $5 AND status = 'held'",
    )
    .bind(status.as_str())
    .bind(actor)
    .bind(at)
    .bind(reason)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done != 1 {
        return Err(StoreError::Conflict(format!(
            "hold {id} changed while deciding"
        )));
    }
    let mut details = serde_json::json!({
        "reason": reason,
        "raw_sha256": hold.raw_sha256,
    });
    merge(&mut details, extra);
    append(tx, head, actor, decision.action(), id, &details.to_string()).await?;
    hold.status = status;
    hold.decided_by = Some(actor.to_string());
    hold.decided_at_ms = Some(at);
    hold.decided_at = Some(rfc3339(at));
    hold.decision_reason = reason.map(str::to_string);
    Ok(Decided::Done(Box::new(hold)))
}

/// Did `actor` send this hold (its sender or its envelope sender)?
pub(crate) fn is_own(hold: &Hold, actor: &str) -> bool {
    hold.sender
        .iter()
        .chain(std::iter::once(&hold.mail_from))
        .any(|s| same_identity(s, actor))
}

/// Adds `extra`'s fields to a JSON object (existing fields win).
pub(crate) fn merge(
    details: &mut serde_json::Value,
    extra: &serde_json::Map<String, serde_json::Value>,
) {
    if let Some(obj) = details.as_object_mut() {
        for (k, v) in extra {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

/// The detector ids of a verdict's findings with their highest severity (0 info … 4 critical).
pub(crate) fn detectors_of(verdict_json: &str) -> Vec<(String, i64)> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(verdict_json) else {
        return Vec::new();
    };
    let mut out: Vec<(String, i64)> = Vec::new();
    for f in v["findings"].as_array().into_iter().flatten() {
        let Some(id) = f["id"]
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= MAX_TEXT)
        else {
            continue;
        };
        let sev = severity_rank(f["severity"].as_str().unwrap_or(""));
        match out.iter_mut().find(|(d, _)| d == id) {
            Some((_, s)) => *s = (*s).max(sev),
            None => out.push((id.to_string(), sev)),
        }
    }
    out
}

/// 0 info … 4 critical (unknown names rank as info).
pub fn severity_rank(name: &str) -> i64 {
    match name {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

/// The severity name of a rank from [`severity_rank`].
pub fn severity_name(rank: i64) -> &'static str {
    match rank {
        4 => "critical",
        3 => "high",
        2 => "medium",
        1 => "low",
        _ => "info",
    }
}

/// Locks the chain's head row for this transaction and reads it. The no-op update takes the row
/// lock on PostgreSQL (concurrent appenders wait here, then read the new head) and is a write on
/// SQLite (inside `BEGIN IMMEDIATE`, which already holds the database's write lock).
pub(crate) async fn lock_head(conn: &mut AnyConnection) -> Result<(i64, String), StoreError> {
    let locked = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if locked != 1 {
        return Err(StoreError::Corrupt("the audit head row is missing".into()));
    }
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Appends one entry after `head` (which the caller locked) and moves the head to it.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    head: (i64, String),
    actor: &str,
    action: &str,
    subject: &str,
    details_json: &str,
) -> Result<AuditEntry, StoreError> {
    let (prev_seq, prev_hash) = head;
    let seq = prev_seq + 1;
    let at_ms = now_ms();
    let hash = entry_hash(&prev_hash, seq, at_ms, actor, action, subject, details_json);
    sqlx::query(
        "INSERT INTO audit_log (seq, at_ms, actor, action, subject, details_json, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(seq)
    .bind(at_ms)
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(details_json)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(AuditEntry {
        seq,
        at_ms,
        at: rfc3339(at_ms),
        actor: actor.to_string(),
        action: action.to_string(),
        subject: subject.to_string(),
        details_json: details_json.to_string(),
        prev_hash,
        hash,
    })
}

pub(crate) fn hold_from_row(r: &AnyRow) -> Result<Hold, StoreError> {
    let status: String = r.try_get("status")?;
    let rcpt_to_json: String = r.try_get("rcpt_to_json")?;
    let rcpt_to: Vec<String> = serde_json::from_str(&rcpt_to_json)
        .map_err(|e| StoreError::Corrupt(format!("recipients of a hold: {e}")))?;
    let created_at_ms: i64 = r.try_get("created_at_ms")?;
    let decided_at_ms: Option<i64> = r.try_get("decided_at_ms")?;
    let raw_size: i64 = r.try_get("raw_size")?;
    Ok(Hold {
        id: r.try_get("id")?,
        status: parse_status(&status)?,
        created_at_ms,
        created_at: rfc3339(created_at_ms),
        mail_from: r.try_get("mail_from")?,
        rcpt_to,
        sender: r.try_get("sender")?,
        queue_id: r.try_get("queue_id")?,
        reason: r.try_get("reason")?,
        verdict_json: r.try_get("verdict_json")?,
        raw: r.try_get("raw")?,
        raw_size: u64::try_from(raw_size).unwrap_or(0),
        raw_sha256: r.try_get("raw_sha256")?,
        decided_by: r.try_get("decided_by")?,
        decided_at_ms,
        decided_at: decided_at_ms.map(rfc3339),
        decision_reason: r.try_get("decision_reason")?,
    })
}

pub(crate) fn summary_from_row(r: &AnyRow) -> Result<HoldSummary, StoreError> {
    let status: String = r.try_get("status")?;
    let created_at_ms: i64 = r.try_get("created_at_ms")?;
    let rcpt_count: i64 = r.try_get("rcpt_count")?;
    let raw_size: i64 = r.try_get("raw_size")?;
    Ok(HoldSummary {
        id: r.try_get("id")?,
        status: parse_status(&status)?,
        created_at_ms,
        created_at: rfc3339(created_at_ms),
        mail_from: r.try_get("mail_from")?,
        rcpt_count: u64::try_from(rcpt_count).unwrap_or(0),
        sender: r.try_get("sender")?,
        queue_id: r.try_get("queue_id")?,
        reason: r.try_get("reason")?,
        raw_size: u64::try_from(raw_size).unwrap_or(0),
        decided_by: r.try_get("decided_by")?,
        decided_at_ms: r.try_get("decided_at_ms")?,
        subject: r
            .try_get::<Option<String>, _>("subject")?
            .unwrap_or_default(),
    })
}

/// The message's Subject, RFC 2047 words decoded, control characters turned into spaces,
/// at most [`MAX_SUBJECT_CHARS`] characters; empty when it has none. Only the header block is
/// parsed. Never panics on input: a parser panic counts as no subject.
pub fn subject_of(raw: &[u8]) -> String {
    let parsed = std::panic::catch_unwind(|| {
        mail_parser::MessageParser::new()
            .parse_headers(raw)
            .and_then(|m| m.subject().map(str::to_string))
    });
    let Ok(Some(s)) = parsed else {
        return String::new();
    };
    let mut out = String::with_capacity(s.len().min(MAX_SUBJECT_CHARS * 4));
    let mut space = false;
    let mut n = 0;
    for c in s.trim().chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' {
            if space {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        if n >= MAX_SUBJECT_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
        n += 1;
    }
    out
}

pub(crate) fn audit_from_row(r: &AnyRow) -> Result<AuditEntry, StoreError> {
    let at_ms: i64 = r.try_get("at_ms")?;
    Ok(AuditEntry {
        seq: r.try_get("seq")?,
        at_ms,
        at: rfc3339(at_ms),
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        subject: r.try_get("subject")?,
        details_json: r.try_get("details_json")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

fn parse_status(s: &str) -> Result<HoldStatus, StoreError> {
    HoldStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown hold status {s:?}")))
}

/// The same mailbox or user name, ignoring case, surrounding blanks and angle brackets.
pub(crate) fn same_identity(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .to_ascii_lowercase()
    };
    let (a, b) = (norm(a), norm(b));
    !a.is_empty() && a == b
}

/// Bounded text: at most `max` bytes, no NUL (PostgreSQL's text cannot hold it).
pub(crate) fn text(
    name: &str,
    value: &str,
    max: usize,
    may_be_empty: bool,
) -> Result<(), StoreError> {
    if value.is_empty() && !may_be_empty {
        return Err(StoreError::Invalid(format!("{name} is empty")));
    }
    if value.len() > max {
        return Err(StoreError::Invalid(format!(
            "{name} is {} bytes long, more than the {max} allowed",
            value.len()
        )));
    }
    if value.contains('\0') {
        return Err(StoreError::Invalid(format!(
            "{name} contains a NUL character"
        )));
    }
    Ok(())
}

/// Bounded JSON text that parses.
pub(crate) fn json(name: &str, value: &str, max: usize) -> Result<(), StoreError> {
    text(name, value, max, false)?;
    serde_json::from_str::<serde::de::IgnoredAny>(value)
        .map_err(|e| StoreError::Invalid(format!("{name} is not JSON: {e}")))?;
    Ok(())
}

/// `prefix` followed by 16 characters of lowercase base32 (80 random bits).
pub(crate) fn new_id(prefix: &str) -> Result<String, StoreError> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Other(format!("no randomness for an id: {e}")))?;
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | u128::from(b);
    }
    let mut id = String::with_capacity(prefix.len() + 16);
    id.push_str(prefix);
    for i in (0..16).rev() {
        id.push(ALPHABET[((bits >> (i * 5)) & 31) as usize] as char);
    }
    Ok(id)
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::Invalid(
            "the database URL must start with sqlite: or postgres://".into(),
        ))
    }
}

/// Makes sure a SQLite database file can be created: its directory exists and the URL asks for
/// `mode=rwc` unless it names a mode. Returns the URL to use and whether it is in memory.
fn prepare_sqlite_url(url: &str) -> Result<(String, bool), StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let in_memory =
        path == ":memory:" || query.is_some_and(|q| q.split('&').any(|kv| kv == "mode=memory"));
    if in_memory {
        return Ok((url.to_string(), true));
    }
    if path.is_empty() {
        return Err(StoreError::Invalid("the SQLite URL names no file".into()));
    }
    let file = PathBuf::from(percent_decode(path));
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create the directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let has_mode = query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("mode=")));
    let url = match (query, has_mode) {
        (_, true) => url.to_string(),
        (Some(_), false) => format!("{url}&mode=rwc"),
        (None, false) => format!("{url}?mode=rwc"),
    };
    Ok((url, false))
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A failure to connect is always "unavailable" (the gate tempfails), whatever sqlx called it.
fn connect_failure(e: StoreError) -> StoreError {
    match e {
        StoreError::Other(m) | StoreError::Corrupt(m) => StoreError::Unavailable(m),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_right() {
        let a = new_id("hold_").unwrap();
        let b = new_id("hold_").unwrap();
        assert_eq!(a.len(), 21);
        assert!(a.starts_with("hold_"));
        assert!(
            a[5..]
                .bytes()
                .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c))
        );
        assert_ne!(a, b);
    }

    #[test]
    fn sqlite_urls_get_a_create_mode() {
        let dir = std::env::temp_dir().join(format!("dc-store-url-{}", std::process::id()));
        let url = format!("sqlite://{}/sub/x.db", dir.display());
        let (u, mem) = prepare_sqlite_url(&url).unwrap();
        assert!(!mem);
        assert!(u.ends_with("?mode=rwc"));
        assert!(dir.join("sub").is_dir());
        let (u, _) = prepare_sqlite_url(&format!("{url}?mode=ro")).unwrap();
        assert!(u.ends_with("?mode=ro"));
        let (u, _) = prepare_sqlite_url(&format!("{url}?cache=shared")).unwrap();
        assert!(u.ends_with("?cache=shared&mode=rwc"));
        assert!(prepare_sqlite_url("sqlite::memory:").unwrap().1);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn identities_compare_loosely() {
        assert!(same_identity("<Ann@Example.com>", "ann@example.com"));
        assert!(!same_identity("ann@example.com", "bob@example.com"));
        assert!(!same_identity("", ""));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/a%20b/c"), "/a b/c");
        assert_eq!(percent_decode("/a%2"), "/a%2");
        assert_eq!(percent_decode("%"), "%");
    }
}
