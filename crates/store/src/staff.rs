//! The review queue's records: staff accounts, web sessions, sign-in throttling, the queue's
//! listing and counts, approvals, assignments, fixes, and the audit log's search. Every change a
//! person makes is recorded in the audit log in the same transaction.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::model::*;
use crate::notice::{NewNotice, Notice, notice_insert};
use crate::store::{
    AUDIT_COLS, Decided, MAX_ADDRESS, MAX_PAGE, MAX_TEXT, SUMMARY_COLS, Store, append,
    audit_from_row, decide_in_tx, hold_from_row, is_own, lock_head, merge, summary_from_row, text,
};
use crate::time::{now_ms, rfc3339};

/// The longest password hash (PHC string) accepted.
const MAX_HASH: usize = 512;

const USER_COLS: &str = "email, role, password_hash, disabled, created_at_ms";

/// Lower-cased, trimmed email address; `Invalid` unless it looks like one.
pub fn normalize_email(email: &str) -> Result<String, StoreError> {
    let e = email.trim().to_ascii_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && !d.is_empty() && !d.contains('@') && !d.starts_with('.')
        })
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | '"'));
    if ok {
        Ok(e)
    } else {
        Err(StoreError::Invalid(format!(
            "{:?} is not an email address",
            email.chars().take(80).collect::<String>()
        )))
    }
}

fn user_from_row(r: &AnyRow) -> Result<User, StoreError> {
    let role: String = r.try_get("role")?;
    let disabled: i64 = r.try_get("disabled")?;
    let created_at_ms: i64 = r.try_get("created_at_ms")?;
    Ok(User {
        email: r.try_get("email")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        password_hash: r.try_get("password_hash")?,
        disabled: disabled != 0,
        created_at_ms,
        created_at: rfc3339(created_at_ms),
    })
}

fn details(v: serde_json::Value, extra: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut v = v;
    merge(&mut v, extra);
    v.to_string()
}

impl Store {
    // ---------------------------------------------------------------- users

    /// Creates a staff account (`Conflict` when the email is taken) and records `user.add`.
    pub async fn user_add(
        &self,
        email: &str,
        role: Role,
        password_hash: &str,
        actor: &str,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<User, StoreError> {
        let email = normalize_email(email)?;
        text("password_hash", password_hash, MAX_HASH, false)?;
        text("actor", actor, MAX_ADDRESS, false)?;
        let at = now_ms();
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let head = lock_head(&mut tx).await?;
            let exists = sqlx::query("SELECT 1 FROM users WHERE email = $1")
                .bind(&email)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_some() {
                return Err(StoreError::Conflict(format!(
                    "a user {email} exists already"
                )));
            }
            sqlx::query(
                "INSERT INTO users (email, role, password_hash, disabled, created_at_ms, \
                 updated_at_ms) VALUES ($1, $2, $3, 0, $4, $4)",
            )
            .bind(&email)
            .bind(role.as_str())
            .bind(password_hash)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            let d = details(serde_json::json!({ "role": role.as_str() }), extra);
            append(&mut tx, head, actor, "user.add", &email, &d).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        Ok(User {
            email,
            role,
            password_hash: password_hash.to_string(),
            disabled: false,
            created_at_ms: at,
            created_at: rfc3339(at),
        })
    }

    /// The account with this email (any case), if any.
    pub async fn user_get(&self, email: &str) -> Result<Option<User>, StoreError> {
        let Ok(email) = normalize_email(email) else {
            return Ok(None);
        };
        self.timed(async {
            let sql = format!("SELECT {USER_COLS} FROM users WHERE email = $1");
            let row = sqlx::query(&sql)
                .bind(&email)
                .fetch_optional(self.pool())
                .await?;
            row.as_ref().map(user_from_row).transpose()
        })
        .await
    }

    /// Every account, by email.
    pub async fn user_list(&self) -> Result<Vec<User>, StoreError> {
        self.timed(async {
            let sql = format!("SELECT {USER_COLS} FROM users ORDER BY email LIMIT 10000");
            let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
            rows.iter().map(user_from_row).collect()
        })
        .await
    }

    /// Disables (or enables again) an account; disabling ends its sessions. Records
    /// `user.disable` / `user.enable`.
    pub async fn user_set_disabled(
        &self,
        email: &str,
        disabled: bool,
        actor: &str,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<User, StoreError> {
        let email = normalize_email(email)?;
        text("actor", actor, MAX_ADDRESS, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let head = lock_head(&mut tx).await?;
            if disabled {
                keep_an_admin(&mut tx, &email, "disable").await?;
            }
            let n =
                sqlx::query("UPDATE users SET disabled = $1, updated_at_ms = $2 WHERE email = $3")
                    .bind(i64::from(disabled))
                    .bind(now_ms())
                    .bind(&email)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if n != 1 {
                return Err(StoreError::NotFound);
            }
            let ended = if disabled {
                sqlx::query("DELETE FROM web_sessions WHERE email = $1")
                    .bind(&email)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            } else {
                0
            };
            let action = if disabled {
                "user.disable"
            } else {
                "user.enable"
            };
            let d = details(serde_json::json!({ "sessions_ended": ended }), extra);
            append(&mut tx, head, actor, action, &email, &d).await?;
            let sql = format!("SELECT {USER_COLS} FROM users WHERE email = $1");
            let row = sqlx::query(&sql).bind(&email).fetch_one(&mut *tx).await?;
            let user = user_from_row(&row)?;
            tx.commit().await?;
            Ok(user)
        })
        .await
    }

    /// Changes an account's role and records `user.role`.
    pub async fn user_set_role(
        &self,
        email: &str,
        role: Role,
        actor: &str,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<User, StoreError> {
        let email = normalize_email(email)?;
        text("actor", actor, MAX_ADDRESS, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let head = lock_head(&mut tx).await?;
            let sql = format!("SELECT {USER_COLS} FROM users WHERE email = $1");
            let row = sqlx::query(&sql)
                .bind(&email)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let mut user = user_from_row(&row)?;
            if role != Role::Admin {
                keep_an_admin(&mut tx, &email, "demote").await?;
            }
            sqlx::query("UPDATE users SET role = $1, updated_at_ms = $2 WHERE email = $3")
                .bind(role.as_str())
                .bind(now_ms())
                .bind(&email)
                .execute(&mut *tx)
                .await?;
            let d = details(
                serde_json::json!({ "from": user.role.as_str(), "to": role.as_str() }),
                extra,
            );
            append(&mut tx, head, actor, "user.role", &email, &d).await?;
            tx.commit().await?;
            user.role = role;
            Ok(user)
        })
        .await
    }

    /// Sets an account's password hash and ends its sessions — all of them, or all but
    /// `keep_session` (the id hash of the session that made the change, when a person changes
    /// their own password). Records `user.password` with how many sessions ended. Returns that
    /// number; `NotFound` for an unknown account.
    pub async fn user_set_password(
        &self,
        email: &str,
        password_hash: &str,
        actor: &str,
        keep_session: Option<&str>,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<u64, StoreError> {
        let email = normalize_email(email)?;
        text("password_hash", password_hash, MAX_HASH, false)?;
        text("actor", actor, MAX_ADDRESS, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let head = lock_head(&mut tx).await?;
            let n = sqlx::query(
                "UPDATE users SET password_hash = $1, updated_at_ms = $2 WHERE email = $3",
            )
            .bind(password_hash)
            .bind(now_ms())
            .bind(&email)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Err(StoreError::NotFound);
            }
            let ended = match keep_session {
                Some(keep) => {
                    sqlx::query("DELETE FROM web_sessions WHERE email = $1 AND id_hash <> $2")
                        .bind(&email)
                        .bind(keep)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                }
                None => sqlx::query("DELETE FROM web_sessions WHERE email = $1")
                    .bind(&email)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected(),
            };
            let d = details(
                serde_json::json!({
                    "sessions_ended": ended,
                    "own": actor.trim().eq_ignore_ascii_case(&email),
                }),
                extra,
            );
            append(&mut tx, head, actor, "user.password", &email, &d).await?;
            tx.commit().await?;
            Ok(ended)
        })
        .await
    }

    // ---------------------------------------------------------------- sessions

    /// Stores a new session (by the hash of its id) for `email`.
    pub async fn session_create(
        &self,
        id_hash: &str,
        email: &str,
        csrf_token: &str,
        ip: &str,
    ) -> Result<(), StoreError> {
        text("id_hash", id_hash, MAX_TEXT, false)?;
        text("csrf_token", csrf_token, MAX_TEXT, false)?;
        text("ip", ip, MAX_TEXT, true)?;
        let email = normalize_email(email)?;
        let now = now_ms();
        self.timed(async {
            sqlx::query(
                "INSERT INTO web_sessions (id_hash, email, csrf_token, created_at_ms, \
                 last_seen_ms, ip) VALUES ($1, $2, $3, $4, $4, $5)",
            )
            .bind(id_hash)
            .bind(&email)
            .bind(csrf_token)
            .bind(now)
            .bind(ip)
            .execute(self.pool())
            .await?;
            Ok(())
        })
        .await
    }

    /// The session with this id hash and its user, if any (expiry is the caller's business).
    pub async fn session_get(&self, id_hash: &str) -> Result<Option<WebSession>, StoreError> {
        if id_hash.is_empty() || id_hash.len() > MAX_TEXT {
            return Ok(None);
        }
        self.timed(async {
            let row = sqlx::query(
                "SELECT s.id_hash, s.csrf_token, s.created_at_ms AS s_created, s.last_seen_ms, \
                 s.ip, u.email, u.role, u.password_hash, u.disabled, u.created_at_ms \
                 FROM web_sessions s JOIN users u ON u.email = s.email WHERE s.id_hash = $1",
            )
            .bind(id_hash)
            .fetch_optional(self.pool())
            .await?;
            let Some(r) = row else { return Ok(None) };
            Ok(Some(WebSession {
                id_hash: r.try_get("id_hash")?,
                user: user_from_row(&r)?,
                csrf_token: r.try_get("csrf_token")?,
                created_at_ms: r.try_get("s_created")?,
                last_seen_ms: r.try_get("last_seen_ms")?,
                ip: r.try_get("ip")?,
            }))
        })
        .await
    }

    /// Records activity on a session (for the idle timeout).
    pub async fn session_touch(&self, id_hash: &str) -> Result<(), StoreError> {
        self.timed(async {
            sqlx::query("UPDATE web_sessions SET last_seen_ms = $1 WHERE id_hash = $2")
                .bind(now_ms())
                .bind(id_hash)
                .execute(self.pool())
                .await?;
            Ok(())
        })
        .await
    }

    /// Ends one session. `true` when it existed.
    pub async fn session_delete(&self, id_hash: &str) -> Result<bool, StoreError> {
        self.timed(async {
            let n = sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(self.pool())
                .await?
                .rows_affected();
            Ok(n > 0)
        })
        .await
    }

    /// Ends every session of `email`; returns how many there were.
    pub async fn session_delete_user(&self, email: &str) -> Result<u64, StoreError> {
        let email = normalize_email(email)?;
        self.timed(async {
            Ok(sqlx::query("DELETE FROM web_sessions WHERE email = $1")
                .bind(&email)
                .execute(self.pool())
                .await?
                .rows_affected())
        })
        .await
    }

    /// Removes sessions idle since before `idle_before_ms` or created before
    /// `created_before_ms`, and sign-in failures older than `failures_before_ms`.
    pub async fn session_purge(
        &self,
        idle_before_ms: i64,
        created_before_ms: i64,
        failures_before_ms: i64,
    ) -> Result<u64, StoreError> {
        self.timed(async {
            let n = sqlx::query(
                "DELETE FROM web_sessions WHERE last_seen_ms < $1 OR created_at_ms < $2",
            )
            .bind(idle_before_ms)
            .bind(created_before_ms)
            .execute(self.pool())
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM login_failures WHERE at_ms < $1")
                .bind(failures_before_ms)
                .execute(self.pool())
                .await?;
            Ok(n)
        })
        .await
    }

    // ---------------------------------------------------------------- throttling

    /// Records one failed sign-in under each key (`account:EMAIL`, `ip:ADDRESS`).
    pub async fn login_failure(&self, keys: &[&str]) -> Result<(), StoreError> {
        for k in keys {
            text("throttle key", k, MAX_TEXT, false)?;
        }
        let now = now_ms();
        self.timed(async {
            let mut tx = self.pool().begin().await?;
            for k in keys {
                sqlx::query("INSERT INTO login_failures (throttle_key, at_ms) VALUES ($1, $2)")
                    .bind(*k)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Failed sign-ins under `key` since `since_ms`.
    pub async fn login_failures_since(&self, key: &str, since_ms: i64) -> Result<i64, StoreError> {
        text("throttle key", key, MAX_TEXT, false)?;
        self.timed(async {
            let row = sqlx::query(
                "SELECT COUNT(*) FROM login_failures WHERE throttle_key = $1 AND at_ms >= $2",
            )
            .bind(key)
            .bind(since_ms)
            .fetch_one(self.pool())
            .await?;
            Ok(row.try_get::<i64, _>(0)?)
        })
        .await
    }

    /// Forgets the failures under `key` (after a successful sign-in).
    pub async fn login_failures_clear(&self, key: &str) -> Result<(), StoreError> {
        self.timed(async {
            sqlx::query("DELETE FROM login_failures WHERE throttle_key = $1")
                .bind(key)
                .execute(self.pool())
                .await?;
            Ok(())
        })
        .await
    }

    // ---------------------------------------------------------------- the queue

    /// A page of the queue, newest first, with each hold's detectors, assignee and approvals.
    pub async fn queue(&self, q: &QueueQuery) -> Result<QueuePage, StoreError> {
        let limit = q.limit.clamp(1, MAX_PAGE);
        if let Some(s) = &q.sender {
            text("sender", s, MAX_ADDRESS, false)?;
        }
        if let Some(d) = &q.detector {
            text("detector", d, MAX_TEXT, false)?;
        }
        if let Some((_, id)) = &q.before {
            text("cursor", id, MAX_TEXT, false)?;
        }
        self.timed(async {
            let mut conds: Vec<String> = Vec::new();
            let mut n = 0;
            let mut next = || {
                n += 1;
                format!("${n}")
            };
            if q.status.is_some() {
                conds.push(format!("status = {}", next()));
            }
            if q.sender.is_some() {
                let (a, b) = (next(), next());
                // Two index lookups (holds_sender_lower, holds_mail_from_lower) rather than
                // an OR that makes SQLite scan the whole table.
                conds.push(format!(
                    "id IN (SELECT id FROM holds WHERE lower(sender) = {a} \
                     UNION SELECT id FROM holds WHERE lower(mail_from) = {b})"
                ));
            }
            if q.detector.is_some() {
                conds.push(format!(
                    "EXISTS (SELECT 1 FROM hold_detectors d WHERE d.hold_id = holds.id \
                     AND d.detector_id = {})",
                    next()
                ));
            }
            if q.created_before_ms.is_some() {
                conds.push(format!("created_at_ms <= {}", next()));
            }
            if q.before.is_some() {
                let (a, b, c) = (next(), next(), next());
                conds.push(format!(
                    "(created_at_ms < {a} OR (created_at_ms = {b} AND id < {c}))"
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
                 ORDER BY created_at_ms DESC, id DESC LIMIT {limit_param}"
            );
            let mut query = sqlx::query(&sql);
            if let Some(s) = q.status {
                query = query.bind(s.as_str());
            }
            if let Some(s) = &q.sender {
                let s = s.trim().to_ascii_lowercase();
                query = query.bind(s.clone()).bind(s);
            }
            if let Some(d) = &q.detector {
                query = query.bind(d.as_str());
            }
            if let Some(ms) = q.created_before_ms {
                query = query.bind(ms);
            }
            if let Some((ms, id)) = &q.before {
                query = query.bind(*ms).bind(*ms).bind(id.as_str());
            }
            // One more than asked: tells whether there is a next page.
            let rows = query
                .bind(i64::from(limit) + 1)
                .fetch_all(self.pool())
                .await?;
            let mut holds: Vec<HoldSummary> = rows
                .iter()
                .map(summary_from_row)
                .collect::<Result<_, _>>()?;
            let more = holds.len() > limit as usize;
            holds.truncate(limit as usize);
            let next = if more {
                holds.last().map(|h| (h.created_at_ms, h.id.clone()))
            } else {
                None
            };
            let mut items: Vec<QueueItem> = holds
                .into_iter()
                .map(|hold| QueueItem {
                    hold,
                    detectors: Vec::new(),
                    max_severity: None,
                    assignee: None,
                    approvals: 0,
                })
                .collect();
            if !items.is_empty() {
                let placeholders: Vec<String> =
                    (1..=items.len()).map(|i| format!("${i}")).collect();
                let list = placeholders.join(", ");
                let ids: Vec<String> = items.iter().map(|i| i.hold.id.clone()).collect();
                let find = |items: &mut Vec<QueueItem>, id: &str| {
                    items.iter().position(|i| i.hold.id == id)
                };

                let sql = format!(
                    "SELECT hold_id, detector_id, severity FROM hold_detectors \
                     WHERE hold_id IN ({list}) ORDER BY severity DESC, detector_id"
                );
                let mut qd = sqlx::query(&sql);
                for id in &ids {
                    qd = qd.bind(id.as_str());
                }
                for r in qd.fetch_all(self.pool()).await? {
                    let hid: String = r.try_get(0)?;
                    let det: String = r.try_get(1)?;
                    let sev: i64 = r.try_get(2)?;
                    if let Some(p) = find(&mut items, &hid) {
                        let it = &mut items[p];
                        it.detectors.push(det);
                        it.max_severity = Some(it.max_severity.map_or(sev, |m| m.max(sev)));
                    }
                }

                let sql = format!(
                    "SELECT hold_id, assignee FROM hold_assignments WHERE hold_id IN ({list})"
                );
                let mut qa = sqlx::query(&sql);
                for id in &ids {
                    qa = qa.bind(id.as_str());
                }
                for r in qa.fetch_all(self.pool()).await? {
                    let hid: String = r.try_get(0)?;
                    if let Some(p) = find(&mut items, &hid) {
                        items[p].assignee = Some(r.try_get(1)?);
                    }
                }

                let sql = format!(
                    "SELECT hold_id, COUNT(*) FROM hold_approvals WHERE hold_id IN ({list}) \
                     GROUP BY hold_id"
                );
                let mut qp = sqlx::query(&sql);
                for id in &ids {
                    qp = qp.bind(id.as_str());
                }
                for r in qp.fetch_all(self.pool()).await? {
                    let hid: String = r.try_get(0)?;
                    if let Some(p) = find(&mut items, &hid) {
                        items[p].approvals = r.try_get(1)?;
                    }
                }
            }
            Ok(QueuePage { items, next })
        })
        .await
    }

    /// How many holds are in each status (only `sender`'s when given).
    pub async fn queue_counts(
        &self,
        sender: Option<&str>,
    ) -> Result<Vec<(HoldStatus, i64)>, StoreError> {
        self.timed(async {
            let rows = match sender {
                None => {
                    sqlx::query("SELECT status, COUNT(*) FROM holds GROUP BY status")
                        .fetch_all(self.pool())
                        .await?
                }
                Some(s) => {
                    let s = s.trim().to_ascii_lowercase();
                    sqlx::query(
                        "SELECT status, COUNT(*) FROM holds WHERE id IN \
                         (SELECT id FROM holds WHERE lower(sender) = $1 \
                         UNION SELECT id FROM holds WHERE lower(mail_from) = $2) \
                         GROUP BY status",
                    )
                    .bind(s.clone())
                    .bind(s)
                    .fetch_all(self.pool())
                    .await?
                }
            };
            let mut out: Vec<(HoldStatus, i64)> =
                [HoldStatus::Held, HoldStatus::Released, HoldStatus::Rejected]
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

    // ---------------------------------------------------------------- approvals

    /// Records `approver`'s approval of a held message (`hold.approve`), refusing the sender
    /// (`Forbidden`, audited as `hold.approve_denied`) and a second approval by the same person
    /// (`Conflict`). Returns how many distinct approvals the hold has now. Releasing it once
    /// enough approvals are in is the caller's next step.
    pub async fn hold_approve(
        &self,
        id: &str,
        approver: &str,
        justification: &str,
        required: i64,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ApprovalCount, StoreError> {
        text("id", id, MAX_TEXT, false)?;
        text("approver", approver, MAX_ADDRESS, false)?;
        text("justification", justification, MAX_TEXT, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let head = lock_head(&mut tx).await?;
            let hold = self.hold_in_tx(&mut tx, id).await?;
            if hold.status != HoldStatus::Held {
                return Err(StoreError::Conflict(format!(
                    "hold {id} was already {}",
                    hold.status
                )));
            }
            if is_own(&hold, approver) {
                let d = details(
                    serde_json::json!({ "why": "the sender may not approve their own message" }),
                    extra,
                );
                append(&mut tx, head, approver, "hold.approve_denied", id, &d).await?;
                tx.commit().await?;
                return Err(StoreError::Forbidden(format!(
                    "{approver} sent hold {id} and may not approve it"
                )));
            }
            let approver = approver.trim().to_ascii_lowercase();
            let dup =
                sqlx::query("SELECT 1 FROM hold_approvals WHERE hold_id = $1 AND approver = $2")
                    .bind(id)
                    .bind(&approver)
                    .fetch_optional(&mut *tx)
                    .await?;
            if dup.is_some() {
                return Err(StoreError::Conflict(format!(
                    "{approver} approved hold {id} already; a second reviewer must approve it"
                )));
            }
            sqlx::query(
                "INSERT INTO hold_approvals (hold_id, approver, at_ms, justification) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(&approver)
            .bind(now_ms())
            .bind(justification)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query("SELECT COUNT(*) FROM hold_approvals WHERE hold_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            let approvals: i64 = row.try_get(0)?;
            let d = details(
                serde_json::json!({
                    "reason": justification,
                    "approvals": approvals,
                    "required": required,
                }),
                extra,
            );
            append(&mut tx, head, &approver, "hold.approve", id, &d).await?;
            tx.commit().await?;
            Ok(ApprovalCount {
                approvals,
                required,
            })
        })
        .await
    }

    /// The approvals of a hold, oldest first.
    pub async fn hold_approvals(&self, id: &str) -> Result<Vec<Approval>, StoreError> {
        text("id", id, MAX_TEXT, false)?;
        self.timed(async {
            let rows = sqlx::query(
                "SELECT hold_id, approver, at_ms, justification FROM hold_approvals \
                 WHERE hold_id = $1 ORDER BY at_ms, approver",
            )
            .bind(id)
            .fetch_all(self.pool())
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(Approval {
                        hold_id: r.try_get(0)?,
                        approver: r.try_get(1)?,
                        at_ms: r.try_get(2)?,
                        justification: r.try_get(3)?,
                    })
                })
                .collect()
        })
        .await
    }

    // ---------------------------------------------------------------- assignments

    /// Assigns a held message to `assignee` (`hold.reassign`).
    pub async fn hold_assign(
        &self,
        id: &str,
        assignee: &str,
        by: &str,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Assignment, StoreError> {
        text("id", id, MAX_TEXT, false)?;
        let assignee = crate::staff::normalize_email(assignee)?;
        text("by", by, MAX_ADDRESS, false)?;
        let at = now_ms();
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let head = lock_head(&mut tx).await?;
            let hold = self.hold_in_tx(&mut tx, id).await?;
            if hold.status != HoldStatus::Held {
                return Err(StoreError::Conflict(format!(
                    "hold {id} was already {}",
                    hold.status
                )));
            }
            let prev = sqlx::query("SELECT assignee FROM hold_assignments WHERE hold_id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get::<String, _>(0))
                .transpose()?;
            sqlx::query("DELETE FROM hold_assignments WHERE hold_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO hold_assignments (hold_id, assignee, assigned_by, at_ms) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(&assignee)
            .bind(by)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            let d = details(serde_json::json!({ "from": prev, "to": assignee }), extra);
            append(&mut tx, head, by, "hold.reassign", id, &d).await?;
            tx.commit().await?;
            Ok(Assignment {
                hold_id: id.to_string(),
                assignee: assignee.clone(),
                assigned_by: by.to_string(),
                at_ms: at,
            })
        })
        .await
    }

    /// Who a hold is assigned to, if anyone.
    pub async fn hold_assignment(&self, id: &str) -> Result<Option<Assignment>, StoreError> {
        text("id", id, MAX_TEXT, false)?;
        self.timed(async {
            let row = sqlx::query(
                "SELECT hold_id, assignee, assigned_by, at_ms FROM hold_assignments \
                 WHERE hold_id = $1",
            )
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
            row.map(|r| {
                Ok(Assignment {
                    hold_id: r.try_get(0)?,
                    assignee: r.try_get(1)?,
                    assigned_by: r.try_get(2)?,
                    at_ms: r.try_get(3)?,
                })
            })
            .transpose()
        })
        .await
    }

    // ---------------------------------------------------------------- fixes

    /// Releases a held message after a fix, in one transaction: the decision (four eyes, as
    /// [`Store::decide_hold`]; `hold.release` with the fix in its details), the fix record, and
    /// the original's delivery records marked done so that no retry of a plain release ever
    /// sends the unfixed message. The caller then delivers the fixed message under
    /// [`HoldFix::delivery_key`] and calls [`Store::hold_fix_delivered`]. The sender's notice
    /// that `notice` builds from the released hold is queued in the same transaction (left out
    /// when it fails [`NewNotice::check`]; the release is stored all the same).
    #[allow(clippy::too_many_arguments)]
    pub async fn release_fixed(
        &self,
        id: &str,
        fix: FixKind,
        part: Option<&str>,
        actor: &str,
        reason: &str,
        extra: &serde_json::Map<String, serde_json::Value>,
        notice: impl FnOnce(&Hold) -> Option<NewNotice>,
    ) -> Result<(Hold, HoldFix, Option<Notice>), StoreError> {
        text("id", id, MAX_TEXT, false)?;
        text("actor", actor, MAX_ADDRESS, false)?;
        text("reason", reason, MAX_TEXT, true)?;
        if let Some(p) = part {
            text("part", p, MAX_TEXT, false)?;
        }
        let mut extra = extra.clone();
        extra.insert("fix".into(), fix.as_str().into());
        if let Some(p) = part {
            extra.insert("part".into(), p.into());
        }
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let head = lock_head(&mut tx).await?;
            let hold = match decide_in_tx(
                &mut tx,
                head,
                id,
                Decision::Release,
                actor,
                Some(reason),
                &extra,
            )
            .await?
            {
                Decided::Done(hold) => *hold,
                Decided::Denied(e) => {
                    tx.commit().await?;
                    return Err(e);
                }
            };
            let at = now_ms();
            sqlx::query(
                "INSERT INTO hold_fixes (hold_id, fix, part, actor, at_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(fix.as_str())
            .bind(part)
            .bind(actor)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            // The original, whole or per recipient, counts as delivered: it never leaves.
            let keys = std::iter::once("*").chain(hold.rcpt_to.iter().map(String::as_str));
            for rcpt in keys {
                sqlx::query(
                    "INSERT INTO deliveries (message_key, recipient, status, attempts, \
                     claimed_at_ms, delivered_at_ms) VALUES ($1, $2, 'delivered', 0, $3, $3) \
                     ON CONFLICT (message_key, recipient) DO NOTHING",
                )
                .bind(id)
                .bind(rcpt)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            // The sender's release notice, in the same transaction as the decision.
            // A notice the outbox does not take is left out, never the release.
            let queued = match notice(&hold).filter(|n| n.check().is_ok()) {
                Some(n) => notice_insert(&mut tx, id, &n).await?,
                None => None,
            };
            tx.commit().await?;
            Ok((
                hold,
                HoldFix {
                    hold_id: id.to_string(),
                    fix,
                    part: part.map(str::to_string),
                    actor: actor.to_string(),
                    at_ms: at,
                    delivered_at_ms: None,
                },
                queued,
            ))
        })
        .await
    }

    /// The fix a hold was released with, if any.
    pub async fn hold_fix(&self, id: &str) -> Result<Option<HoldFix>, StoreError> {
        text("id", id, MAX_TEXT, false)?;
        self.timed(async {
            let row = sqlx::query(
                "SELECT hold_id, fix, part, actor, at_ms, delivered_at_ms FROM hold_fixes \
                 WHERE hold_id = $1",
            )
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
            row.map(|r| {
                let fix: String = r.try_get(1)?;
                Ok(HoldFix {
                    hold_id: r.try_get(0)?,
                    fix: FixKind::parse(&fix)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown fix {fix:?}")))?,
                    part: r.try_get(2)?,
                    actor: r.try_get(3)?,
                    at_ms: r.try_get(4)?,
                    delivered_at_ms: r.try_get(5)?,
                })
            })
            .transpose()
        })
        .await
    }

    /// Records that the fixed message of `id` was delivered (`hold.fix_delivered`).
    pub async fn hold_fix_delivered(
        &self,
        id: &str,
        actor: &str,
        copies: usize,
    ) -> Result<(), StoreError> {
        text("id", id, MAX_TEXT, false)?;
        self.timed(async {
            let mut tx = self.begin_write().await?;
            let head = lock_head(&mut tx).await?;
            let n = sqlx::query(
                "UPDATE hold_fixes SET delivered_at_ms = $1 WHERE hold_id = $2 \
                 AND delivered_at_ms IS NULL",
            )
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                let d = serde_json::json!({ "copies": copies }).to_string();
                append(&mut tx, head, actor, "hold.fix_delivered", id, &d).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn hold_in_tx(&self, tx: &mut sqlx::AnyConnection, id: &str) -> Result<Hold, StoreError> {
        let sql = format!(
            "SELECT {} FROM holds WHERE id = $1",
            crate::store::HOLD_COLS
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        hold_from_row(&row)
    }

    // ---------------------------------------------------------------- audit search

    /// Audit entries matching `q`, newest first.
    pub async fn audit_search(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = i64::from(q.limit.clamp(1, MAX_PAGE));
        if let Some(a) = &q.actor {
            text("actor", a, MAX_ADDRESS, false)?;
        }
        if let Some(a) = &q.action {
            text("action", a, MAX_TEXT, false)?;
        }
        self.timed(async {
            let mut conds: Vec<String> = Vec::new();
            let mut n = 0;
            let mut next = || {
                n += 1;
                format!("${n}")
            };
            let action_prefix = q.action.as_deref().filter(|a| a.ends_with('.'));
            if q.actor.is_some() {
                conds.push(format!("actor = {}", next()));
            }
            if q.action.is_some() {
                if action_prefix.is_some() {
                    let (a, b) = (next(), next());
                    conds.push(format!("(action >= {a} AND action < {b})"));
                } else {
                    conds.push(format!("action = {}", next()));
                }
            }
            if q.from_ms.is_some() {
                conds.push(format!("at_ms >= {}", next()));
            }
            if q.to_ms.is_some() {
                conds.push(format!("at_ms < {}", next()));
            }
            if q.before_seq.is_some() {
                conds.push(format!("seq < {}", next()));
            }
            let limit_param = next();
            let where_clause = if conds.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conds.join(" AND "))
            };
            let sql = format!(
                "SELECT {AUDIT_COLS} FROM audit_log {where_clause} ORDER BY seq DESC \
                 LIMIT {limit_param}"
            );
            let mut query = sqlx::query(&sql);
            if let Some(a) = &q.actor {
                query = query.bind(a.as_str());
            }
            if let Some(a) = &q.action {
                match action_prefix {
                    // Every action starting with the prefix: [prefix, prefix with '.' → '/').
                    Some(p) => {
                        let upper = format!("{}/", &p[..p.len() - 1]);
                        query = query.bind(p.to_string()).bind(upper);
                    }
                    None => query = query.bind(a.as_str()),
                }
            }
            if let Some(v) = q.from_ms {
                query = query.bind(v);
            }
            if let Some(v) = q.to_ms {
                query = query.bind(v);
            }
            if let Some(v) = q.before_seq {
                query = query.bind(v);
            }
            let rows = query.bind(limit).fetch_all(self.pool()).await?;
            rows.iter().map(audit_from_row).collect()
        })
        .await
    }
}

/// Refuses to `verb` (disable or demote) `email` when it is the last enabled administrator:
/// without one, nobody could manage accounts or read the audit log from the web, and only
/// someone with shell access to the server could repair it. Runs inside the write transaction
/// (after the audit head is locked), so two concurrent changes cannot both pass.
async fn keep_an_admin(
    conn: &mut sqlx::AnyConnection,
    email: &str,
    verb: &str,
) -> Result<(), StoreError> {
    let others: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = $1 AND disabled = 0 AND email <> $2",
    )
    .bind(Role::Admin.as_str())
    .bind(email)
    .fetch_one(&mut *conn)
    .await?;
    let target_is_admin: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = $1 AND disabled = 0 AND email = $2",
    )
    .bind(Role::Admin.as_str())
    .bind(email)
    .fetch_one(&mut *conn)
    .await?;
    if target_is_admin > 0 && others == 0 {
        return Err(StoreError::Conflict(format!(
            "{email} is the last active administrator; make another account an administrator \
             before you {verb} this one"
        )));
    }
    Ok(())
}
