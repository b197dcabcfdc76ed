//! The verification portal's records — sessions and their status machine, links, codes, documents,
//! events, API keys, idempotency, webhooks, batches and the outbox — told once and run on SQLite always and on PostgreSQL
//! when `DOUBLECHECK_TEST_POSTGRES_URL` is set (`scripts/with-postgres cargo test -p doublecheck-store`).

mod support;
use support::PgSchema;

use std::time::{SystemTime, UNIX_EPOCH};

use doublecheck_store::{
    AttemptOutcome, Backend, CodeCheck, CodeIssue, Customer, EventQuery, IdempotencyBegin,
    LinkState, MessageTemplate, NewDocument, NewVerificationSession, NewWebhookEndpoint,
    SessionQuery, Store, StoreError, Transition, VerificationStatus as St, VerificationType,
    new_document_id, sha256_hex,
};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn new_session(email: &str) -> NewVerificationSession {
    NewVerificationSession {
        livemode: false,
        kind: VerificationType::AddressAndDocument,
        customer: Customer {
            email: Some(email.into()),
            phone: Some("+34600000000".into()),
            name: Some("Ana Ruiz".into()),
            reference: Some("C-1".into()),
        },
        known_json: Some(r#"{"salt":"s","postcode":"ab12"}"#.into()),
        return_url: Some("https://example.com/done".into()),
        metadata_json: r#"{"order":"42"}"#.into(),
        api_key_id: None,
        expires_at_ms: now() + 3_600_000,
    }
}

fn by(actor: &str) -> Transition {
    Transition {
        actor: actor.into(),
        ..Default::default()
    }
}

async fn story(store: Store) {
    // ---- a webhook endpoint first, so every event below gets a delivery
    let ep = store
        .webhook_endpoint_create(
            NewWebhookEndpoint {
                livemode: false,
                url: "http://127.0.0.1:9/hook".into(),
                enabled_events: vec!["*".into()],
                secret: "whsec_c2VjcmV0".into(),
                description: None,
            },
            "key_x",
        )
        .await
        .unwrap();
    let only_verified = store
        .webhook_endpoint_create(
            NewWebhookEndpoint {
                livemode: false,
                url: "http://127.0.0.1:9/v".into(),
                enabled_events: vec!["verification_session.verified".into()],
                secret: "whsec_eA==".into(),
                description: Some("verified only".into()),
            },
            "key_x",
        )
        .await
        .unwrap();

    // ---- create, get, list with pagination
    let mut ids = Vec::new();
    for i in 0..5 {
        let s = store
            .vs_create(new_session(&format!("c{i}@example.net")), "key_x")
            .await
            .unwrap();
        assert!(s.id.starts_with("vs_"));
        assert_eq!(s.status, St::RequiresInput);
        ids.push(s.id);
    }
    let got = store.vs_get(&ids[0]).await.unwrap().unwrap();
    assert_eq!(got.customer.email.as_deref(), Some("c0@example.net"));
    assert!(got.known_json.is_some());
    assert!(store.vs_get("vs_nope").await.unwrap().is_none());
    let p1 = store
        .vs_list(SessionQuery {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(p1.data.len(), 2);
    assert!(p1.has_more);
    assert_eq!(p1.data[0].id, ids[4], "newest first");
    let p2 = store
        .vs_list(SessionQuery {
            limit: 10,
            starting_after: Some(p1.data[1].id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        p2.data.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![ids[2].clone(), ids[1].clone(), ids[0].clone()]
    );
    assert!(!p2.has_more);
    assert!(matches!(
        store
            .vs_list(SessionQuery {
                starting_after: Some("vs_unknown".into()),
                ..Default::default()
            })
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .vs_create(
                NewVerificationSession {
                    customer: Customer::default(),
                    ..new_session("x@example.net")
                },
                "k"
            )
            .await,
        Err(StoreError::Invalid(_))
    ));

    // ---- links: a new one revokes the old; single use
    let id = ids[0].clone();
    let h1 = sha256_hex(b"token one");
    let h2 = sha256_hex(b"token two");
    store.link_create(&id, &h1, 72 * 3_600_000).await.unwrap();
    let l2 = store.link_create(&id, &h2, 72 * 3_600_000).await.unwrap();
    assert!(
        l2.expires_at_ms <= now() + 3_600_000,
        "capped by the session's expiry"
    );
    assert_eq!(
        store.link_find(&h1).await.unwrap().unwrap().1,
        LinkState::Revoked
    );
    assert_eq!(store.link_use(&h1).await.unwrap(), Err(LinkState::Revoked));
    assert_eq!(store.link_use(&h2).await.unwrap().unwrap().id, id);
    assert_eq!(store.link_use(&h2).await.unwrap(), Err(LinkState::Used));
    assert!(matches!(
        store.link_use(&sha256_hex(b"guess")).await,
        Err(StoreError::NotFound)
    ));
    let h3 = sha256_hex(b"token three");
    store.link_create(&id, &h3, -5).await.unwrap();
    // ttl clamps to 1 ms: expired right away
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(store.link_use(&h3).await.unwrap(), Err(LinkState::Expired));

    // ---- one-time codes: resend limits, 5 attempts then locked
    let issue = |h: &'static str| {
        let store = store.clone();
        let id = id.clone();
        async move {
            store
                .code_issue(&id, h, "email", 600_000, 3, 0)
                .await
                .unwrap()
        }
    };
    assert_eq!(issue("hash-a").await, CodeIssue::Issued { sends: 1 });
    assert!(matches!(
        store.code_issue(&id, "hash-b", "email", 600_000, 3, 60_000).await.unwrap(),
        CodeIssue::TooSoon { retry_after_ms } if retry_after_ms > 0 && retry_after_ms <= 60_000
    ));
    assert_eq!(issue("hash-b").await, CodeIssue::Issued { sends: 2 });
    assert_eq!(
        store.code_check(&id, "hash-a", 5).await.unwrap(),
        CodeCheck::Wrong { attempts_left: 4 },
        "the replaced code no longer works"
    );
    assert_eq!(
        store.code_check(&id, "hash-b", 5).await.unwrap(),
        CodeCheck::Verified
    );
    assert_eq!(
        store.code_check(&id, "hash-b", 5).await.unwrap(),
        CodeCheck::NoCode
    );
    assert_eq!(issue("hash-c").await, CodeIssue::Issued { sends: 3 });
    assert_eq!(issue("hash-d").await, CodeIssue::TooMany);
    for left in (1..5).rev() {
        assert_eq!(
            store.code_check(&id, "wrong", 5).await.unwrap(),
            CodeCheck::Wrong {
                attempts_left: left
            }
        );
    }
    assert_eq!(
        store.code_check(&id, "wrong", 5).await.unwrap(),
        CodeCheck::Locked
    );
    assert_eq!(
        store.code_check(&id, "hash-c", 5).await.unwrap(),
        CodeCheck::Locked
    );
    assert_eq!(issue("hash-e").await, CodeIssue::Locked);

    // ---- address, documents, and the status machine
    store
        .vs_set_address(&id, r#"{"line1":"1 Calle Mayor","postal_code":"28013"}"#)
        .await
        .unwrap();
    let doc_id = new_document_id().unwrap();
    assert!(doc_id.starts_with("vdoc_"));
    store
        .doc_add(NewDocument {
            id: doc_id.clone(),
            session_id: id.clone(),
            sealed_json: r#"{"wrapped_key":"AAAA","path":"docs/x"}"#.into(),
            filename: Some("passport.jpg".into()),
            content_type: "image/jpeg".into(),
            size: 1234,
        })
        .await
        .unwrap();
    assert_eq!(store.doc_list(&id).await.unwrap().len(), 1);
    // refused moves
    for to in [
        St::Verified,
        St::Rejected,
        St::RequiresReview,
        St::RequiresInput,
    ] {
        match store.vs_transition(&id, to, by("portal")).await {
            Err(StoreError::InvalidTransition { from, to: t }) => {
                assert_eq!((from, t), ("requires_input", to.as_str()));
            }
            other => panic!("requires_input → {to}: {other:?}"),
        }
    }
    let (s, ev) = store
        .vs_transition(&id, St::Processing, by("customer"))
        .await
        .unwrap();
    assert_eq!(s.status, St::Processing);
    assert_eq!(ev.kind, "verification_session.processing");
    assert!(matches!(
        store.vs_set_address(&id, "{}").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.vs_redact(&id, "key_x").await,
        Err(StoreError::InvalidTransition { .. })
    ));
    store
        .vs_transition(&id, St::RequiresReview, by("portal"))
        .await
        .unwrap();
    // the staff review demands requires_review
    let review = Transition {
        actor: "rev@example.com".into(),
        reason: Some("document matches".into()),
        expected_from: Some(St::RequiresReview),
        ..Default::default()
    };
    let (s, _) = store
        .vs_transition(&id, St::Verified, review.clone())
        .await
        .unwrap();
    assert_eq!(s.decided_by.as_deref(), Some("rev@example.com"));
    assert!(matches!(
        store.vs_transition(&id, St::Rejected, review.clone()).await,
        Err(StoreError::InvalidTransition {
            from: "verified",
            to: "rejected"
        })
    ));
    assert!(matches!(
        store
            .vs_transition("vs_missing", St::Canceled, by("x"))
            .await,
        Err(StoreError::NotFound)
    ));

    // ---- cancel, expire
    store
        .vs_transition(&ids[1], St::Canceled, by("key_x"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .vs_transition(&ids[1], St::Processing, by("key_x"))
            .await,
        Err(StoreError::InvalidTransition { .. })
    ));
    let mut short = new_session("late@example.net");
    short.expires_at_ms = now() - 1;
    let late = store.vs_create(short, "key_x").await.unwrap();
    assert_eq!(store.vs_expire_due(now(), "retention").await.unwrap(), 1);
    assert_eq!(
        store.vs_get(&late.id).await.unwrap().unwrap().status,
        St::Expired
    );

    // ---- redaction: personal data and sealed records gone, status and times kept
    let (r, docs) = store.vs_redact(&id, "key_x").await.unwrap();
    assert_eq!(docs.len(), 1);
    assert!(
        docs[0].sealed_json.is_some(),
        "the vault gets the record to delete the blob"
    );
    assert_eq!(r.status, St::Verified);
    let r = store.vs_get(&id).await.unwrap().unwrap();
    assert_eq!(r.customer, Customer::default());
    assert!(r.known_json.is_none() && r.address_json.is_none() && r.return_url.is_none());
    assert!(r.redacted_at_ms.is_some());
    assert_eq!(r.metadata_json, r#"{"order":"42"}"#);
    let d = store.doc_get(&doc_id).await.unwrap().unwrap();
    assert!(d.sealed_json.is_none() && d.filename.is_none() && d.destroyed_at_ms.is_some());
    assert!(store.vs_redact(&id, "key_x").await.unwrap().1.is_empty());
    let evs = store
        .event_list(EventQuery {
            session_id: Some(id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let kinds: Vec<_> = evs.data.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            "verification_session.redacted",
            "verification_session.verified",
            "verification_session.requires_review",
            "verification_session.processing",
            "verification_session.created",
        ]
    );
    for e in &evs.data {
        assert!(!e.data_json.contains("c0@example.net"), "{}", e.data_json);
        assert!(!e.data_json.contains("Ana Ruiz"));
        assert!(!e.data_json.contains("Calle Mayor"));
    }
    // redacting a session waiting for input cancels it first
    let (r2, _) = store.vs_redact(&ids[2], "key_x").await.unwrap();
    assert_eq!(r2.status, St::Canceled);
    assert!(matches!(
        store.link_create(&ids[2], &sha256_hex(b"t4"), 1000).await,
        Err(StoreError::Conflict(_))
    ));

    // ---- webhook deliveries: `*` gets every event, the other only `verified`
    let all = store
        .webhook_deliveries(None, Some(&ep.id), 1000)
        .await
        .unwrap();
    let verified_only = store
        .webhook_deliveries(None, Some(&only_verified.id), 1000)
        .await
        .unwrap();
    assert_eq!(verified_only.len(), 1);
    let all_events = store
        .event_list(EventQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), all_events.data.len());
    let due = store.webhook_due(now() + 1, 1000).await.unwrap();
    assert_eq!(due.len(), all.len() + 1);
    let (d, ev, e) = &due[0];
    assert!(
        store
            .webhook_claim(
                &d.event_id,
                &d.endpoint_id,
                d.next_attempt_at_ms.unwrap(),
                now() + 60_000
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .webhook_claim(
                &d.event_id,
                &d.endpoint_id,
                d.next_attempt_at_ms.unwrap(),
                now() + 60_000
            )
            .await
            .unwrap(),
        "claimed once"
    );
    store
        .webhook_record(
            &ev.id,
            &e.id,
            AttemptOutcome {
                status_code: Some(503),
                error: Some("HTTP 503".into()),
                next_attempt_at_ms: Some(now() + 5000),
            },
        )
        .await
        .unwrap();
    store
        .webhook_record(
            &ev.id,
            &e.id,
            AttemptOutcome {
                status_code: Some(200),
                error: None,
                next_attempt_at_ms: None,
            },
        )
        .await
        .unwrap();
    let log = store
        .webhook_deliveries(Some(&ev.id), Some(&e.id), 10)
        .await
        .unwrap();
    assert_eq!(log[0].attempts, 2);
    assert_eq!(log[0].last_status_code, Some(200));
    assert!(log[0].delivered_at_ms.is_some() && log[0].next_attempt_at_ms.is_none());
    let disabled = store
        .webhook_endpoint_disable(&ep.id, "key_x")
        .await
        .unwrap();
    assert!(disabled.disabled_at_ms.is_some());
    assert_eq!(
        store
            .webhook_endpoint_list(Some(false), 10, None)
            .await
            .unwrap()
            .data
            .len(),
        2
    );

    // ---- API keys
    let (k, secret) = store.api_key_create(false, "ci").await.unwrap();
    assert!(secret.starts_with("dk_test_") && secret.len() == 60);
    assert!(secret.starts_with(&k.prefix));
    let (lk, live) = store.api_key_create(true, "prod").await.unwrap();
    assert!(live.starts_with("dk_live_") && lk.livemode);
    assert_eq!(
        store
            .api_key_authenticate(&secret)
            .await
            .unwrap()
            .unwrap()
            .id,
        k.id
    );
    assert!(
        store
            .api_key_authenticate("dk_test_nope")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .api_key_authenticate("Bearer x")
            .await
            .unwrap()
            .is_none()
    );
    store.api_key_revoke(&k.id, "cli").await.unwrap();
    assert!(store.api_key_authenticate(&secret).await.unwrap().is_none());
    assert_eq!(store.api_key_list().await.unwrap().len(), 2);
    assert!(matches!(
        store.api_key_revoke("key_none", "cli").await,
        Err(StoreError::NotFound)
    ));

    // ---- idempotency
    assert_eq!(
        store.idempotency_begin(&lk.id, "k1", "fp1").await.unwrap(),
        IdempotencyBegin::New
    );
    assert_eq!(
        store.idempotency_begin(&lk.id, "k1", "fp1").await.unwrap(),
        IdempotencyBegin::InProgress
    );
    store
        .idempotency_finish(&lk.id, "k1", 200, "{\"id\":1}")
        .await
        .unwrap();
    assert_eq!(
        store.idempotency_begin(&lk.id, "k1", "fp1").await.unwrap(),
        IdempotencyBegin::Replay {
            status: 200,
            body: "{\"id\":1}".into()
        }
    );
    assert_eq!(
        store.idempotency_begin(&lk.id, "k1", "fp2").await.unwrap(),
        IdempotencyBegin::Mismatch
    );
    assert_eq!(
        store.idempotency_begin(&k.id, "k1", "fp2").await.unwrap(),
        IdempotencyBegin::New,
        "keys are per API key"
    );
    store.idempotency_abort(&k.id, "k1").await.unwrap();
    assert_eq!(
        store.idempotency_begin(&k.id, "k1", "fp3").await.unwrap(),
        IdempotencyBegin::New
    );
    assert_eq!(store.idempotency_purge(now() + 1).await.unwrap(), 2);

    // ---- a batch: one session and one message per customer
    let rows: Vec<_> = (0..3)
        .map(|i| new_session(&format!("b{i}@example.org")))
        .collect();
    let tpl = MessageTemplate {
        subject: "Please verify".into(),
        body: "Hello {{name}}, {{verify_link}}".into(),
    };
    let (batch, created) = store
        .batch_create(false, Some(&lk.id), rows, &tpl, "key_x")
        .await
        .unwrap();
    assert!(batch.id.starts_with("vb_"));
    assert_eq!(created.len(), 3);
    let msgs = store.outbox_list(Some(&batch.id), None).await.unwrap();
    assert_eq!(msgs.len(), 3);
    let mut rcpts: Vec<_> = msgs.iter().map(|m| m.recipient.clone().unwrap()).collect();
    rcpts.sort();
    assert_eq!(
        rcpts,
        vec!["b0@example.org", "b1@example.org", "b2@example.org"]
    );
    let due = store.outbox_due(now() + 1, 10).await.unwrap();
    assert_eq!(due.len(), 3);
    let m = &due[0];
    assert!(
        store
            .outbox_claim(&m.id, m.next_attempt_at_ms.unwrap(), now() + 60_000)
            .await
            .unwrap()
    );
    store
        .outbox_record(&m.id, Some("451 try later"), Some(now() + 1000))
        .await
        .unwrap();
    store.outbox_record(&m.id, None, None).await.unwrap();
    let m = &store.outbox_list(None, Some(&m.session_id)).await.unwrap()[0];
    assert_eq!(m.attempts, 2);
    assert!(m.sent_at_ms.is_some());
    assert!(matches!(
        store.batch_create(false, None, Vec::new(), &tpl, "k").await,
        Err(StoreError::Invalid(_))
    ));

    assert!(store.audit_verify().await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_story_on_sqlite() {
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
async fn portal_story_on_postgres() {
    let Some(pg) = PgSchema::new("portal").await else {
        return;
    };
    let store = Store::open(&pg.url).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    story(store.clone()).await;
    store.close().await;
    pg.drop().await;
    println!("postgres: portal story passed");
}

/// The look-ups of key rotation (every live document, by id, in pages) and of the retention
/// job (sessions decided before a time, not redacted yet).
async fn rotation_and_retention_lookups(store: Store) {
    let mut docs = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..3 {
        let s = store
            .vs_create(new_session(&format!("c{i}@example.com")), "t")
            .await
            .unwrap();
        for _ in 0..2 {
            let id = new_document_id().unwrap();
            store
                .doc_add(NewDocument {
                    id: id.clone(),
                    session_id: s.id.clone(),
                    sealed_json: r#"{"sealed":true}"#.into(),
                    filename: None,
                    content_type: "image/png".into(),
                    size: 1,
                })
                .await
                .unwrap();
            docs.push(id);
        }
        sessions.push(s);
    }
    docs.sort();
    // Pages of 4 then 2, in id order, then nothing.
    let first = store.doc_list_live(None, 4).await.unwrap();
    let ids: Vec<String> = first.iter().map(|d| d.id.clone()).collect();
    assert_eq!(ids, docs[..4]);
    let rest = store.doc_list_live(Some(&ids[3]), 4).await.unwrap();
    assert_eq!(
        rest.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        docs[4..]
    );
    assert!(
        store
            .doc_list_live(Some(&docs[5]), 4)
            .await
            .unwrap()
            .is_empty()
    );

    // Nothing decided yet: nothing due.
    assert!(
        store
            .vs_retention_due(now() + 1_000_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    for step in [St::Processing, St::RequiresReview, St::Verified] {
        store
            .vs_transition(&sessions[0].id, step, by("rev"))
            .await
            .unwrap();
    }
    store
        .vs_transition(&sessions[1].id, St::Canceled, by("rev"))
        .await
        .unwrap();
    assert!(
        store
            .vs_retention_due(now() - 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut due = store.vs_retention_due(now() + 1_000, 10).await.unwrap();
    due.sort();
    let mut want = vec![sessions[0].id.clone(), sessions[1].id.clone()];
    want.sort();
    assert_eq!(due, want);
    // Redacted: no longer due, and its documents are no longer live.
    let (_, gone) = store.vs_redact(&sessions[0].id, "retention").await.unwrap();
    assert_eq!(gone.len(), 2);
    assert_eq!(
        store.vs_retention_due(now() + 1_000, 10).await.unwrap(),
        vec![sessions[1].id.clone()]
    );
    assert_eq!(store.doc_list_live(None, 100).await.unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_and_retention_lookups_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!(
        "sqlite://{}/d/doublecheck.db",
        dir.path().display()
    ))
    .await
    .unwrap();
    rotation_and_retention_lookups(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_and_retention_lookups_on_postgres() {
    let Some(pg) = PgSchema::new("lookups").await else {
        return;
    };
    let store = Store::open(&pg.url).await.unwrap();
    rotation_and_retention_lookups(store.clone()).await;
    store.close().await;
    pg.drop().await;
    println!("postgres: rotation and retention look-ups passed");
}
