//! The outbox of notices to senders, on SQLite always and on PostgreSQL when
//! `DOUBLECHECK_TEST_POSTGRES_URL` is set (`scripts/with-postgres cargo test -p doublecheck-store`).

mod support;
use support::PgSchema;

use std::time::{SystemTime, UNIX_EPOCH};

use doublecheck_store::{
    Decision, NewHold, NewNotice, NoticeFilter, NoticeStatus, Store, StoreError,
};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn new_hold() -> NewHold {
    NewHold {
        raw: b"From: agent@example.com\r\nTo: a@example.net\r\nSubject: Hi\r\n\r\nHello\r\n"
            .to_vec(),
        mail_from: "agent@example.com".into(),
        rcpt_to: vec!["a@example.net".into()],
        verdict_json: r#"{"findings":[]}"#.into(),
        reason: "test".into(),
        sender: Some("agent@example.com".into()),
        queue_id: None,
    }
}

fn notice(event: &str, hold_id: &str) -> NewNotice {
    NewNotice {
        event: event.into(),
        recipient: "agent@example.com".into(),
        raw: format!("Subject: {event} {hold_id}\r\n\r\nnotice\r\n").into_bytes(),
    }
}

async fn actions(store: &Store) -> Vec<(String, String)> {
    store
        .audit_list(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.subject))
        .collect()
}

/// The whole life of notices, told once for both databases.
async fn story(store: Store) {
    // Queued with the hold, in its transaction; the notice names the new hold.
    let (hold, queued) = store
        .create_hold_notify(new_hold(), |h| Some(notice("held", &h.id)))
        .await
        .unwrap();
    let held = queued.expect("queued with the hold");
    assert!(held.id.starts_with("ntc_"), "{}", held.id);
    assert_eq!(held.hold_id, hold.id);
    assert_eq!(held.status(), NoticeStatus::Pending);
    let stored = store.get_notice(&held.id).await.unwrap().expect("stored");
    assert_eq!(stored, held);
    assert!(String::from_utf8_lossy(&stored.raw).contains(&hold.id));

    // Due now; claimed once only (a second worker, or a stale read, loses).
    let due = store.notices_due(now_ms(), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let at = due[0].next_attempt_at_ms.unwrap();
    let lease = now_ms() + 120_000;
    assert!(store.notice_claim(&held.id, at, lease).await.unwrap());
    assert!(!store.notice_claim(&held.id, at, lease).await.unwrap());
    assert!(store.notices_due(now_ms(), 10).await.unwrap().is_empty());
    // The claim ends: due again (the claimer died).
    assert_eq!(store.notices_due(lease, 10).await.unwrap().len(), 1);

    // Only the claim's owner records an outcome: a stale lease (the claim read before, or
    // another) neither retries nor gives up, and leaves no audit entry.
    let before = actions(&store).await;
    for stale in [at, lease + 1] {
        assert!(
            !store
                .notice_retry_at(&held.id, stale, "stale", now_ms())
                .await
                .unwrap()
        );
        assert!(
            !store
                .notice_give_up(&held.id, stale, "stale", "test", true)
                .await
                .unwrap()
        );
    }
    let n = store.get_notice(&held.id).await.unwrap().unwrap();
    assert_eq!(n.status(), NoticeStatus::Pending);
    assert_eq!((n.attempts, n.next_attempt_at_ms), (0, Some(lease)));
    assert!(n.last_error.is_none(), "{n:?}");
    assert_eq!(actions(&store).await, before);

    // A failed attempt: counted, the error kept, due at the time given.
    let retry_at = now_ms() + 5_000;
    assert!(
        store
            .notice_retry_at(&held.id, lease, "451 4.3.0 try\r\nlater", retry_at)
            .await
            .unwrap()
    );
    let n = store.get_notice(&held.id).await.unwrap().unwrap();
    assert_eq!(n.attempts, 1);
    assert_eq!(n.next_attempt_at_ms, Some(retry_at));
    assert_eq!(n.last_error.as_deref(), Some("451 4.3.0 try  later"));
    assert!(
        store
            .notices_due(retry_at - 1, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Sent: never due again, and a late failure report changes nothing.
    let lease = now_ms() + 120_000;
    assert!(store.notice_claim(&held.id, retry_at, lease).await.unwrap());
    store.notice_sent(&held.id).await.unwrap();
    store.notice_sent(&held.id).await.unwrap();
    let n = store.get_notice(&held.id).await.unwrap().unwrap();
    assert_eq!(n.status(), NoticeStatus::Sent);
    assert_eq!(n.attempts, 2, "marking twice counts once");
    assert!(n.next_attempt_at_ms.is_none());
    assert!(
        !store
            .notice_retry_at(&held.id, lease, "late", now_ms())
            .await
            .unwrap()
    );
    assert!(
        !store
            .notice_give_up(&held.id, lease, "late", "test", true)
            .await
            .unwrap()
    );
    assert!(
        store
            .notices_due(i64::MAX / 2, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .notice_claim(&held.id, retry_at, now_ms())
            .await
            .unwrap()
    );

    // A decision queues its notice in its own transaction; one notice per hold and event.
    let (_, rejected) = store
        .decide_hold_notify(
            &hold.id,
            Decision::Reject,
            "reviewer@example.com",
            Some("no"),
            &serde_json::Map::new(),
            |h| {
                assert_eq!(h.decided_by.as_deref(), Some("reviewer@example.com"));
                Some(notice("rejected", &h.id))
            },
        )
        .await
        .unwrap();
    let rejected = rejected.expect("queued with the decision");
    // A refused decision (the sender's own) queues nothing.
    let (own, _) = store
        .create_hold_notify(new_hold(), |_| None)
        .await
        .unwrap();
    let e = store
        .decide_hold_notify(
            &own.id,
            Decision::Release,
            "agent@example.com",
            None,
            &serde_json::Map::new(),
            |h| Some(notice("released", &h.id)),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Forbidden(_)), "{e}");
    let all = store
        .notices_list(&NoticeFilter {
            limit: 100,
            ..NoticeFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.iter().all(|n| n.raw.is_empty()),
        "lists leave the message out"
    );

    // Given up: failed, never due, audited in the same transaction; then queued again.
    let lease = now_ms() + 60_000;
    assert!(
        store
            .notice_claim(&rejected.id, rejected.next_attempt_at_ms.unwrap(), lease)
            .await
            .unwrap()
    );
    assert!(
        store
            .notice_give_up(
                &rejected.id,
                lease,
                "550 5.1.1 no such user",
                "the upstream refused it",
                true
            )
            .await
            .unwrap()
    );
    let n = store.get_notice(&rejected.id).await.unwrap().unwrap();
    assert_eq!(n.status(), NoticeStatus::Failed);
    assert_eq!(n.attempts, 1);
    assert!(
        store
            .notices_due(i64::MAX / 2, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let log = actions(&store).await;
    assert!(
        log.contains(&("notice.give_up".to_string(), hold.id.clone())),
        "{log:?}"
    );
    let failed = store
        .notices_list(&NoticeFilter {
            statuses: vec![NoticeStatus::Failed, NoticeStatus::Pending],
            hold_id: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, rejected.id);
    assert_eq!(
        failed[0].last_error.as_deref(),
        Some("550 5.1.1 no such user")
    );
    let e = store.notice_requeue(&held.id, "admin").await.unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(_)),
        "a sent notice stays sent: {e}"
    );
    let back = store.notice_requeue(&rejected.id, "admin").await.unwrap();
    assert_eq!(back.status(), NoticeStatus::Pending);
    assert_eq!(store.get_notice(&back.id).await.unwrap().unwrap(), back);
    assert_eq!(store.notices_due(now_ms() + 1, 10).await.unwrap().len(), 1);
    let backlog = store.notice_backlog().await.unwrap();
    assert_eq!(backlog.pending, 1);
    assert_eq!(backlog.oldest_pending_ms, Some(rejected.created_at_ms));
    let of_hold = store
        .notices_list(&NoticeFilter {
            statuses: vec![],
            hold_id: Some(hold.id.clone()),
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(of_hold.len(), 2);
    assert!(store.audit_verify().await.unwrap().is_ok());

    // A notice the outbox does not take is left out; the hold and the decision are stored.
    let too_big = |event: &str| NewNotice {
        event: event.into(),
        recipient: "agent@example.com".into(),
        raw: vec![b'x'; doublecheck_store::MAX_NOTICE_BYTES + 1],
    };
    assert!(too_big("held").check().is_err());
    let (big, none) = store
        .create_hold_notify(new_hold(), |_| Some(too_big("held")))
        .await
        .unwrap();
    assert!(none.is_none());
    assert!(store.get_hold(&big.id).await.unwrap().is_some());
    let (decided, none) = store
        .decide_hold_notify(
            &big.id,
            Decision::Reject,
            "reviewer@example.com",
            Some("no"),
            &serde_json::Map::new(),
            |_| Some(too_big("rejected")),
        )
        .await
        .unwrap();
    assert!(none.is_none());
    assert_eq!(decided.decided_by.as_deref(), Some("reviewer@example.com"));
    let stored = store.get_hold(&big.id).await.unwrap().unwrap();
    assert_eq!(stored.decided_by.as_deref(), Some("reviewer@example.com"));
    let of_big = store
        .notices_list(&NoticeFilter {
            statuses: vec![],
            hold_id: Some(big.id.clone()),
            limit: 100,
        })
        .await
        .unwrap();
    assert!(of_big.is_empty(), "{of_big:?}");
    let log = actions(&store).await;
    assert!(
        log.contains(&("hold.create".to_string(), big.id.clone())),
        "{log:?}"
    );
    assert!(store.audit_verify().await.unwrap().is_ok());
}

/// A notice given up because of its age, then queued again, starts over: no attempts, and its
/// age (what `notices.give_up_after_secs` is measured against) counting from the requeue.
async fn requeue_starts_over(store: Store) {
    let (hold, n) = store
        .create_hold_notify(new_hold(), |h| Some(notice("held", &h.id)))
        .await
        .unwrap();
    let n = n.unwrap();
    assert_eq!(n.requeued_at_ms, None);
    assert_eq!(n.queued_since_ms(), n.created_at_ms);
    // Two temporary failures, then given up by age.
    let mut due = n.next_attempt_at_ms.unwrap();
    for _ in 0..2 {
        let lease = now_ms() + 60_000;
        assert!(store.notice_claim(&n.id, due, lease).await.unwrap());
        due = now_ms();
        assert!(
            store
                .notice_retry_at(&n.id, lease, "451 try later", due)
                .await
                .unwrap()
        );
    }
    let lease = now_ms() + 60_000;
    assert!(store.notice_claim(&n.id, due, lease).await.unwrap());
    assert!(
        store
            .notice_give_up(&n.id, lease, "451 try later", "too old", true)
            .await
            .unwrap()
    );
    let failed = store.get_notice(&n.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.status(), failed.attempts),
        (NoticeStatus::Failed, 3)
    );
    // Later, queued again: a fresh start.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let back = store.notice_requeue(&n.id, "admin").await.unwrap();
    let stored = store.get_notice(&n.id).await.unwrap().unwrap();
    assert_eq!(stored, back);
    assert_eq!(stored.status(), NoticeStatus::Pending);
    assert_eq!(stored.attempts, 0);
    let requeued = stored.requeued_at_ms.expect("requeue time kept");
    assert!(requeued >= n.created_at_ms + 20, "{stored:?}");
    assert_eq!(stored.queued_since_ms(), requeued);
    assert_eq!(stored.next_attempt_at_ms, Some(requeued));
    assert_eq!(stored.created_at_ms, n.created_at_ms, "created once");
    // It goes through the queue again like a new one: claimed, a failure recorded.
    let lease = now_ms() + 60_000;
    assert!(store.notice_claim(&n.id, requeued, lease).await.unwrap());
    assert!(
        store
            .notice_retry_at(&n.id, lease, "451 again", now_ms())
            .await
            .unwrap()
    );
    let again = store.get_notice(&n.id).await.unwrap().unwrap();
    assert_eq!((again.status(), again.attempts), (NoticeStatus::Pending, 1));
    assert_eq!(again.requeued_at_ms, Some(requeued));
    let listed = store
        .notices_list(&NoticeFilter {
            statuses: vec![],
            hold_id: Some(hold.id.clone()),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].requeued_at_ms, Some(requeued));
    let log = actions(&store).await;
    assert!(
        log.contains(&("notice.requeue".to_string(), hold.id.clone())),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeue_starts_over_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data/doublecheck.db", dir.path().display());
    requeue_starts_over(Store::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeue_starts_over_on_postgres() {
    let Some(pg) = PgSchema::new("notice_requeue").await else {
        return;
    };
    let store = Store::open(&pg.url).await.unwrap();
    requeue_starts_over(store.clone()).await;
    store.close().await;
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data/doublecheck.db", dir.path().display());
    story(Store::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_on_postgres() {
    let Some(pg) = PgSchema::new("notices").await else {
        return;
    };
    let store = Store::open(&pg.url).await.unwrap();
    story(store.clone()).await;
    store.close().await;
    pg.drop().await;
    println!("postgres: notices passed");
}

/// A hold whose notice cannot be stored is not stored either (one transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hold_without_its_notice() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data/doublecheck.db", dir.path().display());
    let store = Store::open(&url).await.unwrap();
    // Break the outbox under the store: the insert fails inside the hold's transaction.
    sqlx::query("DROP TABLE notice_outbox")
        .execute(store.pool())
        .await
        .unwrap();
    let e = store
        .create_hold_notify(new_hold(), |h| Some(notice("held", &h.id)))
        .await
        .unwrap_err();
    println!("refused: {e}");
    let holds = store
        .list_holds(doublecheck_store::HoldFilter {
            status: None,
            limit: 10,
            after: None,
        })
        .await
        .unwrap();
    assert!(holds.is_empty(), "{holds:?}");
    assert!(store.audit_list(0, 10).await.unwrap().is_empty());
}

/// Two gates on one database race for the same due notices: each is claimed by one only.
async fn racing_claims(a: Store, b: Store) {
    let mut ids = Vec::new();
    for _ in 0..20 {
        let (_, n) = a
            .create_hold_notify(new_hold(), |h| Some(notice("held", &h.id)))
            .await
            .unwrap();
        ids.push(n.unwrap().id);
    }
    let due = a.notices_due(now_ms() + 1, 100).await.unwrap();
    assert_eq!(due.len(), 20);
    let mut tasks = Vec::new();
    for store in [a.clone(), b.clone(), a.clone(), b.clone()] {
        let due = due.clone();
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for n in due {
                let at = n.next_attempt_at_ms.unwrap();
                if store
                    .notice_claim(&n.id, at, now_ms() + 60_000)
                    .await
                    .unwrap()
                {
                    won.push(n.id);
                }
            }
            won
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        won.extend(t.await.unwrap());
    }
    won.sort();
    ids.sort();
    assert_eq!(won, ids, "every notice claimed exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_claims_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data/doublecheck.db", dir.path().display());
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();
    racing_claims(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_claims_on_postgres() {
    let Some(pg) = PgSchema::new("notice_race").await else {
        return;
    };
    let a = Store::open(&pg.url).await.unwrap();
    let b = Store::open(&pg.url).await.unwrap();
    racing_claims(a.clone(), b.clone()).await;
    a.close().await;
    b.close().await;
    pg.drop().await;
}
