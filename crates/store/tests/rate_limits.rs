//! The verification portal's durable rate limits (`rate_count`, `rate_release`, `rate_purge`):
//! sliding windows counted in the database, all-or-nothing over several limits, the same
//! counts seen by a store reopened on the same database (a restart) and by concurrent
//! counters (several instances). On SQLite always and on PostgreSQL when
//! `DOUBLECHECK_TEST_POSTGRES_URL` is set (`scripts/with-postgres cargo test -p doublecheck-store`).

mod support;
use support::PgSchema;

use doublecheck_store::{RateCount, RateLimit, Store, StoreError};

const HOUR: i64 = 3_600_000;

fn limit<'a>(kind: &'a str, subject: &'a str, n: u32) -> RateLimit<'a> {
    RateLimit {
        kind,
        subject,
        limit: n,
        window_ms: HOUR,
    }
}

fn ticket(c: RateCount) -> String {
    match c {
        RateCount::Counted { ticket } => ticket,
        other => panic!("expected a count, got {other:?}"),
    }
}

/// The story, on a database `url` opened twice (the second time as after a restart).
async fn story(url: &str) {
    let t0 = 1_900_000_000_000_i64;
    let store = Store::open(url).await.unwrap();
    let sends = [limit("code_send", "vs_a", 3)];
    for i in 0..3 {
        ticket(store.rate_count(&sends, t0 + i * 1000).await.unwrap());
    }
    // The fourth within the hour is over; it may go again when the first ages out.
    assert_eq!(
        store.rate_count(&sends, t0 + 10_000).await.unwrap(),
        RateCount::Over {
            index: 0,
            retry_after_ms: HOUR - 10_000
        }
    );
    assert_eq!(
        store.rate_hits("code_send", "vs_a", t0 - 1).await.unwrap(),
        3
    );
    // Another subject and another kind count apart.
    ticket(
        store
            .rate_count(&[limit("code_send", "vs_b", 3)], t0)
            .await
            .unwrap(),
    );
    ticket(
        store
            .rate_count(&[limit("renew_session", "vs_a", 3)], t0)
            .await
            .unwrap(),
    );
    store.close().await;

    // A restart: the counts are where they were.
    let store = Store::open(url).await.unwrap();
    assert!(matches!(
        store.rate_count(&sends, t0 + 20_000).await.unwrap(),
        RateCount::Over { index: 0, .. }
    ));
    // The window slides: one hour after the first send, one more is allowed (and only one).
    ticket(store.rate_count(&sends, t0 + HOUR).await.unwrap());
    assert_eq!(
        store.rate_count(&sends, t0 + HOUR + 1).await.unwrap(),
        RateCount::Over {
            index: 0,
            retry_after_ms: 1000 - 1
        }
    );

    // Several limits: all or nothing. The address is at its limit, so the session's limit
    // counts nothing either.
    let addr = [limit("renew_address", "h1", 1)];
    ticket(store.rate_count(&addr, t0).await.unwrap());
    let both = [
        limit("renew_session", "vs_c", 3),
        limit("renew_address", "h1", 1),
    ];
    assert!(matches!(
        store.rate_count(&both, t0 + 1).await.unwrap(),
        RateCount::Over { index: 1, .. }
    ));
    assert_eq!(
        store
            .rate_hits("renew_session", "vs_c", t0 - 1)
            .await
            .unwrap(),
        0,
        "nothing counted when one limit is over"
    );

    // A count given back frees its place.
    let t = ticket(
        store
            .rate_count(&[limit("code_send", "vs_d", 1)], t0)
            .await
            .unwrap(),
    );
    assert!(matches!(
        store
            .rate_count(&[limit("code_send", "vs_d", 1)], t0 + 1)
            .await
            .unwrap(),
        RateCount::Over { .. }
    ));
    assert_eq!(store.rate_release(&t).await.unwrap(), 1);
    ticket(
        store
            .rate_count(&[limit("code_send", "vs_d", 1)], t0 + 2)
            .await
            .unwrap(),
    );

    // A limit of zero allows nothing; bad input is refused.
    assert!(matches!(
        store
            .rate_count(&[limit("code_send", "vs_e", 0)], t0)
            .await
            .unwrap(),
        RateCount::Over { .. }
    ));
    assert!(matches!(
        store.rate_count(&[limit("", "vs_e", 1)], t0).await,
        Err(StoreError::Invalid(_))
    ));
    let long = "x".repeat(300);
    assert!(matches!(
        store.rate_count(&[limit("code_send", &long, 1)], t0).await,
        Err(StoreError::Invalid(_))
    ));

    // The purge removes what is older than the window.
    let purged = store.rate_purge(t0 + HOUR).await.unwrap();
    assert!(purged >= 4, "{purged}");
    assert_eq!(store.rate_hits("code_send", "vs_b", 0).await.unwrap(), 0);
    assert_eq!(
        store.rate_hits("code_send", "vs_a", t0 - 1).await.unwrap(),
        1,
        "the send one hour later stays"
    );
    store.close().await;
}

/// Eight counters at once (as many requests on several instances) against a limit of 3: three
/// get through, never more.
async fn concurrent(url: &str) {
    let t0 = 1_900_000_000_000_i64;
    let stores = [
        Store::open(url).await.unwrap(),
        Store::open(url).await.unwrap(),
    ];
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            s.rate_count(&[limit("code_send", "vs_race", 3)], t0 + i as i64)
                .await
                .unwrap()
        }));
    }
    let mut counted = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), RateCount::Counted { .. }) {
            counted += 1;
        }
    }
    assert_eq!(counted, 3);
    assert_eq!(
        stores[0]
            .rate_hits("code_send", "vs_race", t0 - 1)
            .await
            .unwrap(),
        3
    );
    for s in stores {
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/doublecheck.db?mode=rwc", dir.path().display());
    story(&url).await;
    let url = format!("sqlite://{}/race.db?mode=rwc", dir.path().display());
    concurrent(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_on_postgres() {
    let Some(pg) = PgSchema::new("rate").await else {
        return;
    };
    story(&pg.url).await;
    pg.drop().await;
    let Some(pg) = PgSchema::new("rate_race").await else {
        return;
    };
    concurrent(&pg.url).await;
    pg.drop().await;
    println!("postgres: rate limits passed");
}
