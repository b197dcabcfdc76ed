//! The store's behaviour, told once and run on SQLite always and on PostgreSQL when
//! `DOUBLECHECK_TEST_POSTGRES_URL` is set (`scripts/with-postgres cargo test -p doublecheck-store`).

mod support;
use support::PgSchema;

use std::time::{Duration, Instant};

use doublecheck_store::{
    AuditReport, Backend, Decision, HoldFilter, HoldStatus, NewHold, Store, StoreError,
    StoreOptions,
};
use sqlx::Row;

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    // A directory that does not exist yet: opening creates it.
    format!("sqlite://{}/data/doublecheck.db", dir.path().display())
}

fn new_hold(sender: &str, rcpts: &[&str]) -> NewHold {
    NewHold {
        raw: format!(
            "From: {sender}\r\nTo: {}\r\nSubject: Please send your license\r\n\r\nHello\r\n",
            rcpts.join(", ")
        )
        .into_bytes(),
        mail_from: sender.to_string(),
        rcpt_to: rcpts.iter().map(|s| s.to_string()).collect(),
        verdict_json: r#"{"action":"hold","findings":[{"id":"recipients.exposed"}]}"#.into(),
        reason: "external recipients can see each other".into(),
        sender: Some(sender.to_string()),
        queue_id: Some("4XyZ1234".into()),
    }
}

/// The whole life of held messages, delivery records and the audit log.
async fn story(store: Store) {
    // A hold is created and reads back exactly.
    let h = store
        .create_hold(new_hold(
            "agent@example.com",
            &["ann@example.net", "bob@example.org"],
        ))
        .await
        .unwrap();
    assert!(h.id.starts_with("hold_") && h.id.len() == 21, "{}", h.id);
    assert_eq!(h.status, HoldStatus::Held);
    assert_eq!(h.raw_size, h.raw.len() as u64);
    let got = store
        .get_hold(&h.id)
        .await
        .unwrap()
        .expect("the hold is stored");
    assert_eq!(got, h);
    assert!(
        store
            .get_hold("hold_aaaaaaaaaaaaaaaa")
            .await
            .unwrap()
            .is_none()
    );

    let h2 = store
        .create_hold(new_hold("agent@example.com", &["carol@example.com"]))
        .await
        .unwrap();

    // Listing: both waiting, paged one at a time, oldest first.
    let held = store.list_holds(HoldFilter::held()).await.unwrap();
    let mut ids: Vec<_> = held.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    let mut want = vec![h.id.clone(), h2.id.clone()];
    want.sort();
    assert_eq!(ids, want);
    let first = store
        .list_holds(HoldFilter {
            limit: 1,
            ..HoldFilter::held()
        })
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let second = store
        .list_holds(HoldFilter {
            limit: 1,
            after: Some(first[0].id.clone()),
            ..HoldFilter::held()
        })
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].id, second[0].id);
    let s = held.iter().find(|s| s.id == h.id).unwrap();
    assert_eq!(s.rcpt_count, 2);
    assert_eq!(s.raw_size, h.raw_size);

    // The sender may not approve their own message (whatever the case of the address).
    match store
        .decide_hold(&h.id, Decision::Release, "Agent@Example.COM", None)
        .await
    {
        Err(StoreError::Forbidden(m)) => assert!(m.contains("may not"), "{m}"),
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert_eq!(
        store.get_hold(&h.id).await.unwrap().unwrap().status,
        HoldStatus::Held
    );

    // A reviewer releases it.
    let released = store
        .decide_hold(
            &h.id,
            Decision::Release,
            "reviewer@example.com",
            Some("customers agreed to the shared list"),
        )
        .await
        .unwrap();
    assert_eq!(released.status, HoldStatus::Released);
    assert_eq!(released.decided_by.as_deref(), Some("reviewer@example.com"));
    assert_eq!(released.raw, h.raw);
    let stored = store.get_hold(&h.id).await.unwrap().unwrap();
    assert_eq!(stored, released);

    // A second decision conflicts; an unknown hold is not found.
    match store
        .decide_hold(&h.id, Decision::Reject, "other@example.com", None)
        .await
    {
        Err(StoreError::Conflict(m)) => assert!(m.contains("released"), "{m}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(matches!(
        store
            .decide_hold(
                "hold_aaaaaaaaaaaaaaaa",
                Decision::Reject,
                "r@example.com",
                None
            )
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .decide_hold(&h2.id, Decision::Reject, "reviewer@example.com", None)
        .await
        .unwrap();
    assert!(
        store
            .list_holds(HoldFilter::held())
            .await
            .unwrap()
            .is_empty()
    );
    let released_list = store
        .list_holds(HoldFilter {
            status: Some(HoldStatus::Released),
            ..HoldFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(released_list.len(), 1);
    assert_eq!(released_list[0].id, h.id);
    assert_eq!(
        store.list_holds(HoldFilter::default()).await.unwrap().len(),
        2
    );

    // Bad input is refused before it reaches the database.
    let mut no_rcpt = new_hold("agent@example.com", &[]);
    no_rcpt.rcpt_to.clear();
    assert!(matches!(
        store.create_hold(no_rcpt).await,
        Err(StoreError::Invalid(_))
    ));
    let mut bad_json = new_hold("agent@example.com", &["a@example.com"]);
    bad_json.verdict_json = "{not json".into();
    assert!(matches!(
        store.create_hold(bad_json).await,
        Err(StoreError::Invalid(_))
    ));

    // Explode delivery records: a retry delivers each copy exactly once.
    let key = format!("{}:explode", h.id);
    assert!(store.delivery_claim(&key, "ann@example.net").await.unwrap());
    assert!(store.delivery_claim(&key, "bob@example.org").await.unwrap());
    store.delivery_done(&key, "ann@example.net").await.unwrap();
    // ... the connection to the upstream drops before bob's copy; the retry:
    assert!(!store.delivery_claim(&key, "ann@example.net").await.unwrap());
    assert!(store.delivery_claim(&key, "bob@example.org").await.unwrap());
    store.delivery_done(&key, "bob@example.org").await.unwrap();
    store.delivery_done(&key, "bob@example.org").await.unwrap();
    assert!(!store.delivery_claim(&key, "bob@example.org").await.unwrap());
    let ds = store.deliveries(&key).await.unwrap();
    assert_eq!(ds.len(), 2);
    assert!(
        ds.iter()
            .all(|d| d.delivered && d.delivered_at_ms.is_some())
    );
    assert_eq!(ds[0].recipient, "ann@example.net");
    assert_eq!(ds[0].attempts, 1);
    assert_eq!(ds[1].attempts, 2);
    assert!(store.deliveries("other").await.unwrap().is_empty());

    // The audit log: creations, the refused attempt, both decisions, and a view.
    let view = store
        .audit(
            "reviewer@example.com",
            "hold.view",
            &h.id,
            r#"{"via":"cli"}"#,
        )
        .await
        .unwrap();
    assert_eq!(view.seq, 6);
    let entries = store.audit_list(0, 100).await.unwrap();
    let actions: Vec<_> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "hold.create",
            "hold.create",
            "hold.decide_denied",
            "hold.release",
            "hold.reject",
            "hold.view"
        ]
    );
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(entries[3].actor, "reviewer@example.com");
    assert_eq!(entries[3].subject, h.id);
    assert_eq!(entries[0].prev_hash, doublecheck_store::GENESIS_HASH);
    for w in entries.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
    }
    let page = store.audit_list(3, 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
    assert!(matches!(
        store.audit("a", "b", "c", "not json").await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store.audit_verify().await.unwrap(),
        AuditReport::Ok {
            entries: 6,
            head_hash: view.hash.clone()
        }
    );

    // The log is append-only even for a plain SQL client ...
    let pool = store.pool();
    assert!(
        sqlx::query("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 4")
            .execute(pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM audit_log WHERE seq = 6")
            .execute(pool)
            .await
            .is_err()
    );
    // ... and one who removes the guard and rewrites an entry is caught.
    let drop_guard = match store.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
        Backend::Postgres => "DROP TRIGGER audit_log_no_update ON audit_log",
    };
    sqlx::query(drop_guard).execute(pool).await.unwrap();
    sqlx::query("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 4")
        .execute(pool)
        .await
        .unwrap();
    match store.audit_verify().await.unwrap() {
        AuditReport::Broken { seq, why, verified } => {
            assert_eq!(seq, 4, "{why}");
            assert_eq!(verified, 3);
            assert!(why.contains("altered"), "{why}");
        }
        ok => panic!("tampering went unnoticed: {ok:?}"),
    }
    // Re-hashing the altered entry moves the break to the next one.
    let row = sqlx::query(
        "SELECT seq, at_ms, actor, action, subject, details_json, prev_hash FROM audit_log WHERE seq = 4",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let rehash = doublecheck_store::entry_hash(
        &row.get::<String, _>(6),
        row.get::<i64, _>(0),
        row.get::<i64, _>(1),
        &row.get::<String, _>(2),
        &row.get::<String, _>(3),
        &row.get::<String, _>(4),
        &row.get::<String, _>(5),
    );
    sqlx::query("UPDATE audit_log SET hash = $1 WHERE seq = 4")
        .bind(&rehash)
        .execute(pool)
        .await
        .unwrap();
    match store.audit_verify().await.unwrap() {
        AuditReport::Broken { seq, why, .. } => {
            assert_eq!(seq, 5, "{why}");
            assert!(why.contains("prev_hash"), "{why}");
        }
        ok => panic!("tampering went unnoticed: {ok:?}"),
    }
    assert!(store.ping().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&sqlite_url(&dir)).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    assert!(dir.path().join("data/doublecheck.db").is_file());
    story(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_sqlite_in_memory() {
    story(Store::open("sqlite::memory:").await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_postgres() {
    let Some(pg) = PgSchema::new("story").await else {
        return;
    };
    let store = Store::open(&pg.url).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    story(store.clone()).await;
    store.close().await;
    pg.drop().await;
    println!("postgres: story passed");
}

/// Appends from 8 tasks over two stores on one database (two gate instances): the chain does
/// not fork and sequence numbers are consecutive.
async fn concurrent_appends(a: Store, b: Store) {
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = if t % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                store
                    .audit(
                        &format!("task-{t}"),
                        "test.append",
                        &format!("item-{i}"),
                        &format!(r#"{{"task":{t},"i":{i}}}"#),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    match a.audit_verify().await.unwrap() {
        AuditReport::Ok { entries, .. } => assert_eq!(entries, 80),
        broken => panic!("{broken:?}"),
    }
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = b.audit_list(after, 30).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        all.extend(page);
    }
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=80).collect::<Vec<_>>()
    );
    for t in 0..8 {
        assert_eq!(
            all.iter()
                .filter(|e| e.actor == format!("task-{t}"))
                .count(),
            10
        );
    }
}

/// Two reviewers on two gate instances release the same hold at once: exactly one decision
/// lands, the other is a conflict, and the chain still verifies.
async fn racing_decisions(a: Store, b: Store) {
    let before = match a.audit_verify().await.unwrap() {
        AuditReport::Ok { entries, .. } => entries,
        broken => panic!("{broken:?}"),
    };
    let h = a
        .create_hold(new_hold("agent@example.com", &["ann@example.net"]))
        .await
        .unwrap();
    let (ra, rb) = tokio::join!(
        {
            let (a, id) = (a.clone(), h.id.clone());
            tokio::spawn(async move {
                a.decide_hold(&id, Decision::Release, "r1@example.com", None)
                    .await
            })
        },
        {
            let (b, id) = (b.clone(), h.id.clone());
            tokio::spawn(async move {
                b.decide_hold(&id, Decision::Reject, "r2@example.com", None)
                    .await
            })
        }
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let oks = [ra.is_ok(), rb.is_ok()].iter().filter(|x| **x).count();
    assert_eq!(oks, 1, "{ra:?} {rb:?}");
    assert!(
        matches!(ra, Err(StoreError::Conflict(_))) || matches!(rb, Err(StoreError::Conflict(_)))
    );
    let stored = b.get_hold(&h.id).await.unwrap().unwrap();
    let winner = ra.or(rb).unwrap();
    assert_eq!(stored.status, winner.status);
    assert_eq!(stored.decided_by, winner.decided_by);
    match b.audit_verify().await.unwrap() {
        AuditReport::Ok { entries, .. } => assert_eq!(entries, before + 2),
        broken => panic!("{broken:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_audit_appends_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();
    concurrent_appends(a.clone(), b.clone()).await;
    racing_decisions(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_audit_appends_on_postgres() {
    let Some(pg) = PgSchema::new("concurrent").await else {
        return;
    };
    let a = Store::open(&pg.url).await.unwrap();
    let b = Store::open(&pg.url).await.unwrap();
    concurrent_appends(a.clone(), b.clone()).await;
    racing_decisions(a.clone(), b.clone()).await;
    a.close().await;
    b.close().await;
    pg.drop().await;
    println!("postgres: concurrent appends passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_survives_reopening_the_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let store = Store::open(&url).await.unwrap();
    let h = store
        .create_hold(new_hold("agent@example.com", &["ann@example.net"]))
        .await
        .unwrap();
    drop(store);

    let again = Store::open(&url).await.unwrap();
    let got = again.get_hold(&h.id).await.unwrap().expect("still held");
    assert_eq!(got, h);
    assert_eq!(again.list_holds(HoldFilter::held()).await.unwrap().len(), 1);
    again
        .decide_hold(&h.id, Decision::Release, "reviewer@example.com", None)
        .await
        .unwrap();
    assert!(again.audit_verify().await.unwrap().is_ok());
    // Opening again applies no migration twice.
    drop(again);
    let third = Store::open(&url).await.unwrap();
    assert_eq!(
        third.get_hold(&h.id).await.unwrap().unwrap().status,
        HoldStatus::Released
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_tail_is_noticed() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    for i in 0..3 {
        store
            .audit("admin", "test", &format!("s{i}"), "{}")
            .await
            .unwrap();
    }
    sqlx::query("DROP TRIGGER audit_log_no_delete")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq = 3")
        .execute(store.pool())
        .await
        .unwrap();
    match store.audit_verify().await.unwrap() {
        AuditReport::Broken { seq, why, .. } => assert_eq!(seq, 3, "{why}"),
        ok => panic!("{ok:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_refused() {
    let store = Store::open_with(
        "sqlite::memory:",
        StoreOptions {
            max_message_bytes: 64,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    let mut h = new_hold("agent@example.com", &["ann@example.net"]);
    h.raw = vec![b'x'; 65];
    match store.create_hold(h).await {
        Err(e @ StoreError::TooLarge { size: 65, max: 64 }) => {
            assert!(e.to_string().contains("65 bytes"))
        }
        other => panic!("{other:?}"),
    }
    assert!(store.audit_list(0, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_is_unavailable_quickly() {
    let started = Instant::now();
    let r = Store::open_with(
        "postgres://postgres@127.0.0.1:1/doublecheck",
        StoreOptions {
            connect_timeout: Duration::from_secs(2),
            ..StoreOptions::default()
        },
    )
    .await;
    match r {
        Err(e @ StoreError::Unavailable(_)) => {
            assert!(e.is_temporary());
            println!("{e}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(6));

    // A server that accepts TCP but never answers: the connect timeout still applies.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let r = Store::open_with(
        &format!("postgres://postgres@127.0.0.1:{port}/doublecheck"),
        StoreOptions {
            connect_timeout: Duration::from_secs(2),
            ..StoreOptions::default()
        },
    )
    .await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(6));
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_sqlite_path_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let url = format!("sqlite://{}/sub/doublecheck.db", file.display());
    assert!(matches!(
        Store::open(&url).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        Store::open("mysql://localhost/x").await,
        Err(StoreError::Invalid(_))
    ));
}
