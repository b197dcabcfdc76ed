//! The review queue's records — staff accounts, sessions, sign-in throttling, the queue, approvals,
//! assignments, fixes and the audit search — told once and run on SQLite always and on PostgreSQL
//! when `DOUBLECHECK_TEST_POSTGRES_URL` is set (`scripts/with-postgres cargo test -p doublecheck-store`).

mod support;
use sqlx::AnyPool;
use support::PgSchema;

use std::time::{SystemTime, UNIX_EPOCH};

use doublecheck_store::{
    AuditQuery, Backend, Decision, FixKind, HoldFix, HoldStatus, NewHold, NewNotice, QueueQuery,
    Role, Store, StoreError,
};

fn verdict(findings: &[(&str, &str)]) -> String {
    let f: Vec<serde_json::Value> = findings
        .iter()
        .map(|(id, sev)| serde_json::json!({ "id": id, "severity": sev, "evidence": "x" }))
        .collect();
    serde_json::json!({ "action": "hold", "findings": f }).to_string()
}

fn hold(sender: &str, rcpts: &[&str], findings: &[(&str, &str)]) -> NewHold {
    NewHold {
        raw: format!(
            "From: {sender}\r\nTo: {}\r\nSubject: s\r\n\r\nHello\r\n",
            rcpts.join(", ")
        )
        .into_bytes(),
        mail_from: sender.to_string(),
        rcpt_to: rcpts.iter().map(|s| s.to_string()).collect(),
        verdict_json: verdict(findings),
        reason: "held".into(),
        sender: Some(sender.to_string()),
        queue_id: None,
    }
}

fn no_extra() -> serde_json::Map<String, serde_json::Value> {
    serde_json::Map::new()
}

fn ip(addr: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("ip".into(), addr.into());
    m
}

async fn story(store: Store) {
    // ---- users
    let admin = store
        .user_add(
            "Admin@Example.com",
            Role::Admin,
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            "cli",
            &no_extra(),
        )
        .await
        .unwrap();
    assert_eq!(admin.email, "admin@example.com");
    assert!(matches!(
        store
            .user_add("admin@EXAMPLE.com", Role::Agent, "h", "cli", &no_extra())
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .user_add("not an email", Role::Agent, "h", "cli", &no_extra())
            .await,
        Err(StoreError::Invalid(_))
    ));
    store
        .user_add(
            "rev@example.com",
            Role::Reviewer,
            "h1",
            "admin@example.com",
            &ip("10.0.0.1"),
        )
        .await
        .unwrap();
    store
        .user_add(
            "rev2@example.com",
            Role::Reviewer,
            "h2",
            "admin@example.com",
            &no_extra(),
        )
        .await
        .unwrap();
    store
        .user_add(
            "agent@example.com",
            Role::Agent,
            "h3",
            "admin@example.com",
            &no_extra(),
        )
        .await
        .unwrap();
    let got = store.user_get("REV@example.com").await.unwrap().unwrap();
    assert_eq!(
        (got.role, got.disabled, got.password_hash.as_str()),
        (Role::Reviewer, false, "h1")
    );
    assert!(
        store
            .user_get("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.user_get("garbage").await.unwrap().is_none());
    let all: Vec<String> = store
        .user_list()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.email)
        .collect();
    assert_eq!(
        all,
        [
            "admin@example.com",
            "agent@example.com",
            "rev2@example.com",
            "rev@example.com"
        ]
    );
    let changed = store
        .user_set_role(
            "agent@example.com",
            Role::Reviewer,
            "admin@example.com",
            &no_extra(),
        )
        .await
        .unwrap();
    assert_eq!(changed.role, Role::Reviewer);
    store
        .user_set_role(
            "agent@example.com",
            Role::Agent,
            "admin@example.com",
            &no_extra(),
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .user_set_role("nobody@example.com", Role::Agent, "a", &no_extra())
            .await,
        Err(StoreError::NotFound)
    ));

    // ---- sessions: stored by hash; disabling a user ends them
    store
        .session_create("hash-a", "rev@example.com", "csrf-a", "127.0.0.1")
        .await
        .unwrap();
    store
        .session_create("hash-b", "rev@example.com", "csrf-b", "127.0.0.2")
        .await
        .unwrap();
    store
        .session_create("hash-c", "rev2@example.com", "csrf-c", "127.0.0.3")
        .await
        .unwrap();
    let s = store.session_get("hash-a").await.unwrap().unwrap();
    assert_eq!(s.user.email, "rev@example.com");
    assert_eq!(s.csrf_token, "csrf-a");
    assert_eq!(s.ip, "127.0.0.1");
    assert!(s.last_seen_ms >= s.created_at_ms);
    assert!(store.session_get("nope").await.unwrap().is_none());
    store.session_touch("hash-a").await.unwrap();
    assert!(store.session_delete("hash-a").await.unwrap());
    assert!(!store.session_delete("hash-a").await.unwrap());
    assert!(store.session_get("hash-a").await.unwrap().is_none());
    let disabled = store
        .user_set_disabled("rev@example.com", true, "admin@example.com", &no_extra())
        .await
        .unwrap();
    assert!(disabled.disabled);
    assert!(
        store.session_get("hash-b").await.unwrap().is_none(),
        "disabling ends sessions"
    );
    store
        .user_set_disabled("rev@example.com", false, "admin@example.com", &no_extra())
        .await
        .unwrap();
    assert_eq!(
        store.session_delete_user("rev2@example.com").await.unwrap(),
        1
    );
    store
        .session_create("hash-old", "rev2@example.com", "c", "ip")
        .await
        .unwrap();
    let far_future = i64::MAX / 2;
    assert_eq!(store.session_purge(far_future, 0, 0).await.unwrap(), 1);

    // ---- throttling
    for _ in 0..3 {
        store
            .login_failure(&["account:rev@example.com", "ip:127.0.0.9"])
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .login_failures_since("account:rev@example.com", 0)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store.login_failures_since("ip:127.0.0.9", 0).await.unwrap(),
        3
    );
    assert_eq!(
        store
            .login_failures_since("ip:127.0.0.9", far_future)
            .await
            .unwrap(),
        0
    );
    store
        .login_failures_clear("account:rev@example.com")
        .await
        .unwrap();
    assert_eq!(
        store
            .login_failures_since("account:rev@example.com", 0)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.login_failures_since("ip:127.0.0.9", 0).await.unwrap(),
        3
    );

    // ---- the queue: newest first, filters, cursor, counts
    let mut ids = Vec::new();
    for i in 0..5 {
        let sender = if i % 2 == 0 {
            "agent@example.com"
        } else {
            "Other@Example.com"
        };
        let findings: &[(&str, &str)] = if i == 4 {
            &[
                ("content.sensitive_data", "critical"),
                ("recipients.exposed", "high"),
            ]
        } else {
            &[("recipients.exposed", "high")]
        };
        let h = store
            .create_hold(hold(sender, &["a@example.net", "b@example.org"], findings))
            .await
            .unwrap();
        ids.push(h.id);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let page = store.queue(&QueueQuery::default()).await.unwrap();
    let listed: Vec<&str> = page.items.iter().map(|i| i.hold.id.as_str()).collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, newest_first);
    assert!(page.next.is_none());
    assert_eq!(
        page.items[0].detectors,
        ["content.sensitive_data", "recipients.exposed"]
    );
    assert_eq!(page.items[0].max_severity, Some(4));
    assert_eq!(page.items[1].max_severity, Some(3));

    let p1 = store
        .queue(&QueueQuery {
            limit: 2,
            ..QueueQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(p1.items.len(), 2);
    let p2 = store
        .queue(&QueueQuery {
            limit: 2,
            before: p1.next.clone(),
            ..QueueQuery::default()
        })
        .await
        .unwrap();
    let p3 = store
        .queue(&QueueQuery {
            limit: 2,
            before: p2.next.clone(),
            ..QueueQuery::default()
        })
        .await
        .unwrap();
    let paged: Vec<&str> = p1
        .items
        .iter()
        .chain(&p2.items)
        .chain(&p3.items)
        .map(|i| i.hold.id.as_str())
        .collect();
    assert_eq!(paged, newest_first);
    assert!(p3.next.is_none());

    let mine = store
        .queue(&QueueQuery {
            sender: Some("AGENT@example.com".into()),
            ..QueueQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.items.len(), 3);
    let other = store
        .queue(&QueueQuery {
            sender: Some("other@example.com".into()),
            ..QueueQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(other.items.len(), 2, "the sender matches whatever its case");
    let sensitive = store
        .queue(&QueueQuery {
            detector: Some("content.sensitive_data".into()),
            ..QueueQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(sensitive.items.len(), 1);
    assert_eq!(sensitive.items[0].hold.id, ids[4]);
    let old = store
        .queue(&QueueQuery {
            created_before_ms: Some(0),
            ..QueueQuery::default()
        })
        .await
        .unwrap();
    assert!(old.items.is_empty());

    // ---- approvals: never the sender, never twice by one person
    match store
        .hold_approve(&ids[0], "agent@example.com", "mine", 2, &no_extra())
        .await
    {
        Err(StoreError::Forbidden(_)) => {}
        other => panic!("the sender approved: {other:?}"),
    }
    let one = store
        .hold_approve(
            &ids[0],
            "Rev@example.com",
            "checked with the customer",
            2,
            &ip("10.1.1.1"),
        )
        .await
        .unwrap();
    assert_eq!((one.approvals, one.complete()), (1, false));
    assert!(matches!(
        store
            .hold_approve(&ids[0], "rev@example.com", "again", 2, &no_extra())
            .await,
        Err(StoreError::Conflict(_))
    ));
    let two = store
        .hold_approve(&ids[0], "rev2@example.com", "agreed", 2, &no_extra())
        .await
        .unwrap();
    assert!(two.complete());
    let approvals = store.hold_approvals(&ids[0]).await.unwrap();
    assert_eq!(approvals.len(), 2);
    assert_eq!(approvals[0].approver, "rev@example.com");

    // ---- assignment
    let a = store
        .hold_assign(&ids[1], "REV2@example.com", "rev@example.com", &no_extra())
        .await
        .unwrap();
    assert_eq!(a.assignee, "rev2@example.com");
    store
        .hold_assign(&ids[1], "rev@example.com", "rev2@example.com", &no_extra())
        .await
        .unwrap();
    assert_eq!(
        store
            .hold_assignment(&ids[1])
            .await
            .unwrap()
            .unwrap()
            .assignee,
        "rev@example.com"
    );
    let page = store.queue(&QueueQuery::default()).await.unwrap();
    let row = page.items.iter().find(|i| i.hold.id == ids[1]).unwrap();
    assert_eq!(row.assignee.as_deref(), Some("rev@example.com"));
    let row = page.items.iter().find(|i| i.hold.id == ids[0]).unwrap();
    assert_eq!(row.approvals, 2);

    // ---- fix and release: decided, recorded, the original never delivered
    match store
        .release_fixed(
            &ids[2],
            FixKind::Bccify,
            None,
            "agent@example.com",
            "fixed",
            &no_extra(),
            |_| None,
        )
        .await
    {
        Err(StoreError::Forbidden(_)) => {}
        other => panic!("the sender released their own message: {other:?}"),
    }
    let (released, fix, queued) = store
        .release_fixed(
            &ids[2],
            FixKind::Explode,
            None,
            "rev@example.com",
            "exploded",
            &ip("10.2.2.2"),
            |h| {
                Some(NewNotice {
                    event: "released".into(),
                    recipient: h.mail_from.clone(),
                    raw: format!("Subject: released {}\r\n\r\nexploded\r\n", h.id).into_bytes(),
                })
            },
        )
        .await
        .unwrap();
    assert_eq!(released.status, HoldStatus::Released);
    assert_eq!(fix.fix, FixKind::Explode);
    // The sender's notice was queued with the decision.
    let queued = queued.expect("a release notice queued");
    assert_eq!(queued.event, "released");
    assert_eq!(queued.recipient, "agent@example.com");
    let pending = store
        .notices_due(i64::MAX, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.hold_id == ids[2])
        .count();
    assert_eq!(pending, 1);
    assert!(
        !store.delivery_claim(&ids[2], "*").await.unwrap(),
        "the original never leaves"
    );
    assert!(
        !store
            .delivery_claim(&ids[2], "a@example.net")
            .await
            .unwrap()
    );
    let key = HoldFix::delivery_key(&ids[2]);
    assert!(store.delivery_claim(&key, "a@example.net").await.unwrap());
    store
        .hold_fix_delivered(&ids[2], "rev@example.com", 2)
        .await
        .unwrap();
    store
        .hold_fix_delivered(&ids[2], "rev@example.com", 2)
        .await
        .unwrap();
    let fix = store.hold_fix(&ids[2]).await.unwrap().unwrap();
    assert!(fix.delivered_at_ms.is_some());
    assert!(store.hold_fix(&ids[3]).await.unwrap().is_none());
    assert!(matches!(
        store
            .release_fixed(
                &ids[2],
                FixKind::Bccify,
                None,
                "rev@example.com",
                "again",
                &no_extra(),
                |_| None,
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .hold_approve(&ids[2], "rev2@example.com", "late", 1, &no_extra())
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .decide_hold_with(
            &ids[3],
            Decision::Reject,
            "rev@example.com",
            Some("no"),
            &ip("10.3.3.3"),
        )
        .await
        .unwrap();

    let counts = store.queue_counts(None).await.unwrap();
    assert_eq!(
        counts,
        [
            (HoldStatus::Held, 3),
            (HoldStatus::Released, 1),
            (HoldStatus::Rejected, 1)
        ]
    );
    let counts = store.queue_counts(Some("agent@example.com")).await.unwrap();
    assert_eq!(
        counts,
        [
            (HoldStatus::Held, 2),
            (HoldStatus::Released, 1),
            (HoldStatus::Rejected, 0)
        ]
    );
    let held = store
        .queue(&QueueQuery {
            status: Some(HoldStatus::Held),
            ..QueueQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(held.items.len(), 3);

    // ---- the audit log has every step, with the client's address, and still verifies
    let by_rev = store
        .audit_search(&AuditQuery {
            actor: Some("rev@example.com".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = by_rev.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "hold.reject",
            "hold.fix_delivered",
            "hold.release",
            "hold.reassign",
            "hold.approve"
        ]
    );
    let release = &by_rev[2];
    let d: serde_json::Value = serde_json::from_str(&release.details_json).unwrap();
    assert_eq!(d["fix"], "explode");
    assert_eq!(d["ip"], "10.2.2.2");
    assert_eq!(d["reason"], "exploded");
    let users = store
        .audit_search(&AuditQuery {
            action: Some("user.".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(users.iter().all(|e| e.action.starts_with("user.")));
    assert_eq!(users.len(), 8, "{users:?}");
    let denied = store
        .audit_search(&AuditQuery {
            action: Some("hold.approve_denied".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(denied.len(), 1);
    let last_two = store
        .audit_search(&AuditQuery {
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(last_two.len(), 2);
    assert!(last_two[0].seq > last_two[1].seq);
    let before = store
        .audit_search(&AuditQuery {
            before_seq: Some(last_two[1].seq),
            limit: 1,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(before[0].seq, last_two[1].seq - 1);
    let none = store
        .audit_search(&AuditQuery {
            from_ms: Some(far_future),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(store.audit_verify().await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_story_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!(
        "sqlite://{}/d/doublecheck.db",
        dir.path().display()
    ))
    .await
    .unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    story(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_story_on_postgres() {
    let Some(pg) = PgSchema::new("staff").await else {
        return;
    };
    let store = Store::open(&pg.url).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    story(store.clone()).await;
    store.close().await;
    pg.drop().await;
    println!("postgres: staff story passed");
}

/// Holds stored before the staff migration get their detectors from their verdicts.
async fn backfill(url: &str, backend: Backend) {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.unwrap();
    let dir = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    // The schema as it was before the staff migration: migration 0001 alone.
    let mut first = sqlx::migrate::Migrator::new(std::path::Path::new(&format!(
        "{}/migrations/{dir}",
        env!("CARGO_MANIFEST_DIR")
    )))
    .await
    .unwrap();
    let only_first: Vec<_> = first.iter().filter(|m| m.version == 1).cloned().collect();
    first.migrations = std::borrow::Cow::Owned(only_first);
    first.run(&pool).await.unwrap();
    let v = verdict(&[
        ("recipients.exposed", "high"),
        ("recipients.exposed", "medium"),
        ("content.sensitive_data", "critical"),
    ]);
    sqlx::query(
        "INSERT INTO holds (id, status, created_at_ms, mail_from, rcpt_to_json, rcpt_count, \
         reason, verdict_json, raw, raw_size, raw_sha256) \
         VALUES ('hold_old', 'held', 1, 'a@example.com', '[\"b@example.net\"]', 1, 'r', $1, $2, 1, 'x')",
    )
    .bind(v)
    .bind(&b"From: a@example.com\r\nSubject: =?UTF-8?B?VmVyaWZpY2FjacOzbg==?= pending\r\n\r\nbody\r\n"[..])
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO holds (id, status, created_at_ms, mail_from, rcpt_to_json, rcpt_count, \
         reason, verdict_json, raw, raw_size, raw_sha256) \
         VALUES ('hold_odd', 'held', 2, 'a@example.com', '[\"b@example.net\"]', 1, 'r', '{}', $1, 1, 'x')",
    )
    .bind(&b"x"[..])
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let store = Store::open(url).await.unwrap();
    let page = store.queue(&QueueQuery::default()).await.unwrap();
    let old = page.items.iter().find(|i| i.hold.id == "hold_old").unwrap();
    assert_eq!(
        old.detectors,
        ["content.sensitive_data", "recipients.exposed"]
    );
    assert_eq!(old.max_severity, Some(4));
    let odd = page.items.iter().find(|i| i.hold.id == "hold_odd").unwrap();
    assert!(odd.detectors.is_empty());
    // The subject of holds stored before migration 0004 is read from their raw message.
    assert_eq!(old.hold.subject, "Verificación pending");
    assert_eq!(odd.hold.subject, "", "no Subject field: empty");
    assert_eq!(store.backfill_subjects().await.unwrap(), 0, "nothing left");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detectors_backfilled_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/old.db?mode=rwc", dir.path().display());
    backfill(&url, Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detectors_backfilled_on_postgres() {
    let Some(pg) = PgSchema::new("backfill").await else {
        return;
    };
    backfill(&pg.url, Backend::Postgres).await;
    pg.drop().await;
}

/// Subjects are read at hold creation; passwords change with sessions ended; the housekeeping
/// purge removes expired sessions and old sign-in failures and keeps the rest.
async fn accounts_story(store: Store) {
    // ---- subjects
    let mut h = hold("agent@example.com", &["x@example.net"], &[]);
    h.raw = b"From: agent@example.com\r\nSubject: =?ISO-8859-1?Q?Caf=E9?= \r\n =?UTF-8?B?4pyT?=\r\n\r\nHi\r\n".to_vec();
    let a = store.create_hold(h).await.unwrap();
    let mut h = hold("agent@example.com", &["x@example.net"], &[]);
    h.raw = format!("Subject: {}\r\n\r\nHi\r\n", "long ".repeat(200)).into_bytes();
    let b = store.create_hold(h).await.unwrap();
    let mut h = hold("agent@example.com", &["x@example.net"], &[]);
    h.raw = b"\xff\xfe\x00garbage without headers".to_vec();
    let c = store.create_hold(h).await.unwrap();
    let page = store.queue(&QueueQuery::default()).await.unwrap();
    let subject = |id: &str| {
        page.items
            .iter()
            .find(|i| i.hold.id == id)
            .map(|i| i.hold.subject.clone())
            .unwrap()
    };
    assert_eq!(subject(&a.id), "Café✓");
    let long = subject(&b.id);
    assert_eq!(
        long.chars().count(),
        doublecheck_store::MAX_SUBJECT_CHARS + 1
    );
    assert!(long.ends_with('…'));
    assert_eq!(subject(&c.id), "");

    // ---- passwords
    store
        .user_add(
            "pw@example.com",
            Role::Reviewer,
            "old-hash",
            "cli",
            &no_extra(),
        )
        .await
        .unwrap();
    for (h, ip) in [("s-1", "a"), ("s-2", "b"), ("s-3", "c")] {
        store
            .session_create(h, "pw@example.com", "csrf", ip)
            .await
            .unwrap();
    }
    // Their own change keeps the session that made it.
    let ended = store
        .user_set_password(
            "pw@example.com",
            "new-hash",
            "pw@example.com",
            Some("s-1"),
            &ip("10.0.0.7"),
        )
        .await
        .unwrap();
    assert_eq!(ended, 2);
    let kept = store.session_get("s-1").await.unwrap().expect("kept");
    assert_eq!(kept.user.password_hash, "new-hash");
    assert!(store.session_get("s-2").await.unwrap().is_none());
    // An administrator's reset ends every session.
    let ended = store
        .user_set_password(
            "PW@example.com",
            "reset-hash",
            "admin@example.com",
            None,
            &no_extra(),
        )
        .await
        .unwrap();
    assert_eq!(ended, 1);
    assert!(store.session_get("s-1").await.unwrap().is_none());
    assert_eq!(
        store
            .user_get("pw@example.com")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "reset-hash"
    );
    assert!(matches!(
        store
            .user_set_password("nobody@example.com", "h", "cli", None, &no_extra())
            .await,
        Err(StoreError::NotFound)
    ));
    let audit = store
        .audit_search(&AuditQuery {
            action: Some("user.password".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
    let newest: serde_json::Value = serde_json::from_str(&audit[0].details_json).unwrap();
    assert_eq!(audit[0].actor, "admin@example.com");
    assert_eq!(newest["sessions_ended"], 1);
    assert_eq!(newest["own"], false);
    let oldest: serde_json::Value = serde_json::from_str(&audit[1].details_json).unwrap();
    assert_eq!(oldest["own"], true);
    assert_eq!(oldest["ip"], "10.0.0.7");
    assert!(store.audit_verify().await.unwrap().is_ok());

    // ---- the last administrator stays
    store
        .user_add("boss@example.com", Role::Admin, "h", "cli", &no_extra())
        .await
        .unwrap();
    let last = |r: Result<doublecheck_store::User, StoreError>| match r {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("expected the last-administrator refusal, got {other:?}"),
    };
    let m = last(
        store
            .user_set_role("boss@example.com", Role::Reviewer, "cli", &no_extra())
            .await,
    );
    assert!(
        m.contains("last active administrator") && m.contains("demote"),
        "{m}"
    );
    let m = last(
        store
            .user_set_disabled("boss@example.com", true, "cli", &no_extra())
            .await,
    );
    assert!(m.contains("disable"), "{m}");
    let boss = store.user_get("boss@example.com").await.unwrap().unwrap();
    assert_eq!(boss.role, Role::Admin);
    assert!(!boss.disabled);
    // With a second administrator, either may go; then the other is the last again.
    store
        .user_add("deputy@example.com", Role::Admin, "h", "cli", &no_extra())
        .await
        .unwrap();
    store
        .user_set_role("boss@example.com", Role::Reviewer, "cli", &no_extra())
        .await
        .unwrap();
    last(
        store
            .user_set_disabled("deputy@example.com", true, "cli", &no_extra())
            .await,
    );
    // A disabled administrator does not count; re-enabling or promoting is always allowed.
    store
        .user_set_role("boss@example.com", Role::Admin, "cli", &no_extra())
        .await
        .unwrap();
    store
        .user_set_disabled("deputy@example.com", true, "cli", &no_extra())
        .await
        .unwrap();
    last(
        store
            .user_set_role("boss@example.com", Role::Agent, "cli", &no_extra())
            .await,
    );
    store
        .user_set_disabled("deputy@example.com", false, "cli", &no_extra())
        .await
        .unwrap();
    // Non-administrators are never held back by the rule.
    store
        .user_set_disabled("pw@example.com", true, "cli", &no_extra())
        .await
        .unwrap();

    // ---- housekeeping purge
    for h in ["p-idle", "p-old", "p-live"] {
        store
            .session_create(h, "pw@example.com", "csrf", "ip")
            .await
            .unwrap();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let pool = store.pool();
    sqlx::query("UPDATE web_sessions SET last_seen_ms = $1 WHERE id_hash = 'p-idle'")
        .bind(now - 3_600_000)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE web_sessions SET created_at_ms = $1 WHERE id_hash = 'p-old'")
        .bind(now - 86_400_000)
        .execute(pool)
        .await
        .unwrap();
    store
        .login_failure(&["account:pw@example.com"])
        .await
        .unwrap();
    sqlx::query(
        "UPDATE login_failures SET at_ms = $1 WHERE throttle_key = 'account:pw@example.com'",
    )
    .bind(now - 7_200_000)
    .execute(pool)
    .await
    .unwrap();
    store.login_failure(&["ip:192.0.2.1"]).await.unwrap();
    // Idle for more than 30 minutes, or signed in more than 12 hours ago; failures older than
    // an hour.
    let purged = store
        .session_purge(now - 1_800_000, now - 43_200_000, now - 3_600_000)
        .await
        .unwrap();
    assert_eq!(purged, 2);
    assert!(store.session_get("p-idle").await.unwrap().is_none());
    assert!(store.session_get("p-old").await.unwrap().is_none());
    assert!(store.session_get("p-live").await.unwrap().is_some());
    assert_eq!(
        store
            .login_failures_since("account:pw@example.com", 0)
            .await
            .unwrap(),
        0,
        "old failures purged"
    );
    assert_eq!(
        store.login_failures_since("ip:192.0.2.1", 0).await.unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_story_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/accounts.db?mode=rwc", dir.path().display());
    let store = Store::open(&url).await.unwrap();
    accounts_story(store.clone()).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_story_on_postgres() {
    let Some(pg) = PgSchema::new("accounts").await else {
        return;
    };
    let store = Store::open(&pg.url).await.unwrap();
    accounts_story(store.clone()).await;
    store.close().await;
    pg.drop().await;
}
