//! Documents at rest wired to the vault: key rotation re-wraps every document's data key
//! (readable after the old key is dropped; a second run changes nothing), and the retention
//! job redacts decided sessions — blobs destroyed, sealed records forgotten, an event — while
//! recent and open ones stay.

use doublecheck_engine::Policy;
use doublecheck_gate::portal_config::Secret;
use doublecheck_gate::{AppState, Config};
use doublecheck_portal::{PortalState, ServerKey, documents, retention};
use doublecheck_store::{
    Customer, EventQuery, NewDocument, NewVerificationSession, Store, Transition,
    VerificationSession, VerificationStatus as St, VerificationType, new_document_id,
};

const DAY_MS: i64 = 86_400_000;

fn key() -> String {
    doublecheck_vault::generate_master_key()
        .unwrap()
        .to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn config(dir: &std::path::Path, current: &str, previous: &[&str]) -> Config {
    let mut c = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    c.portal.master_key = Some(Secret(current.to_string()));
    c.portal.previous_master_keys = Some(previous.iter().map(|p| Secret(p.to_string())).collect());
    c
}

async fn session(store: &Store, email: &str) -> VerificationSession {
    store
        .vs_create(
            NewVerificationSession {
                livemode: true,
                kind: VerificationType::Document,
                customer: Customer {
                    email: Some(email.into()),
                    ..Customer::default()
                },
                known_json: None,
                return_url: None,
                metadata_json: "{}".into(),
                api_key_id: None,
                expires_at_ms: now() + 7 * DAY_MS,
            },
            "test",
        )
        .await
        .unwrap()
}

/// Seals `bytes` in the vault and records it for the session; the document id.
async fn add_doc(store: &Store, vault: &doublecheck_vault::Vault, s: &str, bytes: &[u8]) -> String {
    let id = new_document_id().unwrap();
    let sealed = vault
        .put(&id, bytes.to_vec().into(), "application/pdf")
        .await
        .unwrap();
    store
        .doc_add(NewDocument {
            id: id.clone(),
            session_id: s.to_string(),
            sealed_json: serde_json::to_string(&sealed).unwrap(),
            filename: Some("id.pdf".into()),
            content_type: "application/pdf".into(),
            size: bytes.len() as u64,
        })
        .await
        .unwrap();
    id
}

async fn read(
    store: &Store,
    vault: &doublecheck_vault::Vault,
    id: &str,
) -> Result<Vec<u8>, String> {
    let doc = store.doc_get(id).await.unwrap().expect("recorded");
    let sealed: doublecheck_vault::SealedDocument =
        serde_json::from_str(doc.sealed_json.as_deref().ok_or("destroyed")?).unwrap();
    vault
        .get(&sealed)
        .await
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string())
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn rotation_keeps_every_document_readable_after_the_old_key_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (key(), key());
    let cfg_a = config(dir.path(), &a, &[]);
    let store = Store::open(&cfg_a.database_url()).await.unwrap();
    let vault_a = documents::open_vault(&cfg_a).unwrap();
    let mut docs = Vec::new();
    for i in 0..5 {
        let s = session(&store, &format!("customer{i}@example.com")).await;
        let bytes = format!("%PDF-1.4 document number {i}").into_bytes();
        docs.push((add_doc(&store, &vault_a, &s.id, &bytes).await, bytes));
    }
    // B current, A listed for reading: rotate.
    let vault_ab = documents::open_vault(&config(dir.path(), &b, &[&a])).unwrap();
    let r = documents::rotate(&vault_ab, &store).await.unwrap();
    assert_eq!((r.rewrapped, r.current, r.failed.len()), (5, 0, 0), "{r:?}");
    // Idempotent: nothing left to re-wrap.
    let r = documents::rotate(&vault_ab, &store).await.unwrap();
    assert_eq!((r.rewrapped, r.current, r.failed.len()), (0, 5, 0), "{r:?}");
    // A dropped: every document reads with B alone, and A alone reads none.
    let vault_b = documents::open_vault(&config(dir.path(), &b, &[])).unwrap();
    for (id, bytes) in &docs {
        assert_eq!(&read(&store, &vault_b, id).await.unwrap(), bytes);
        assert!(
            read(&store, &vault_a, id).await.is_err(),
            "A no longer unwraps {id}"
        );
    }
    // Rotation read no blob and wrote none: the blobs are the ones sealed under A.
    assert_eq!(files(&dir.path().join("documents")).len(), 5);
}

#[tokio::test]
async fn rotation_reports_documents_it_cannot_unwrap() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (key(), key());
    let cfg_a = config(dir.path(), &a, &[]);
    let store = Store::open(&cfg_a.database_url()).await.unwrap();
    let vault_a = documents::open_vault(&cfg_a).unwrap();
    let s = session(&store, "c@example.com").await;
    let id = add_doc(&store, &vault_a, &s.id, b"%PDF-1.4 x").await;
    // B without A: the document cannot be re-wrapped; reported, left as it was.
    let vault_b = documents::open_vault(&config(dir.path(), &b, &[])).unwrap();
    let r = documents::rotate(&vault_b, &store).await.unwrap();
    assert_eq!((r.rewrapped, r.failed.len()), (0, 1), "{r:?}");
    assert!(r.failed[0].starts_with(&id), "{r:?}");
    assert_eq!(read(&store, &vault_a, &id).await.unwrap(), b"%PDF-1.4 x");
}

async fn decide(store: &Store, id: &str, to: St) {
    for step in [St::Processing, St::RequiresReview, to] {
        store
            .vs_transition(
                id,
                step,
                Transition {
                    actor: "reviewer@example.com".into(),
                    reason: Some("checked".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn retention_redacts_decided_sessions_and_destroys_their_documents() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &key(), &[]);
    let store = Store::open(&cfg.database_url()).await.unwrap();
    let app = AppState::new(cfg, Policy::builtin(), store.clone());
    let (state, no_vault) =
        documents::attach(PortalState::new(app, ServerKey::from_bytes([3; 32])));
    assert!(no_vault.is_none(), "{no_vault:?}");
    let vault = documents::open_vault(&state.app.config).unwrap();
    let docs_dir = dir.path().join("documents");

    let verified = session(&store, "verified@example.com").await;
    let verified_doc = add_doc(&store, &vault, &verified.id, b"%PDF-1.4 verified").await;
    decide(&store, &verified.id, St::Verified).await;
    let rejected = session(&store, "rejected@example.com").await;
    add_doc(&store, &vault, &rejected.id, b"%PDF-1.4 rejected").await;
    decide(&store, &rejected.id, St::Rejected).await;
    let open = session(&store, "open@example.com").await;
    let open_doc = add_doc(&store, &vault, &open.id, b"%PDF-1.4 open").await;
    assert_eq!(files(&docs_dir).len(), 3);

    // Decided just now: within the retention period, nothing happens.
    let r = retention::run_once(&state, now(), retention::retention_ms(&state))
        .await
        .unwrap();
    assert_eq!(r.sessions, 0);
    assert_eq!(
        retention::retention_ms(&state),
        30 * DAY_MS,
        "default 30 days"
    );

    // 31 days later (a clock moved forward, the configured threshold).
    let r = retention::run_once(&state, now() + 31 * DAY_MS, retention::retention_ms(&state))
        .await
        .unwrap();
    assert_eq!(
        (r.sessions, r.documents, r.blob_failures),
        (2, 2, 0),
        "{r:?}"
    );
    for id in [&verified.id, &rejected.id] {
        let s = store.vs_get(id).await.unwrap().unwrap();
        assert!(s.redacted_at_ms.is_some());
        assert_eq!(s.customer.email, None);
        assert!(
            matches!(s.status, St::Verified | St::Rejected),
            "status kept"
        );
        let events = store
            .event_list(EventQuery {
                kind: Some("verification_session.redacted".into()),
                session_id: Some(id.clone()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(events.data.len(), 1, "one redacted event for {id}");
    }
    let d = store.doc_get(&verified_doc).await.unwrap().unwrap();
    assert!(d.sealed_json.is_none() && d.destroyed_at_ms.is_some());
    // Only the open session's blob is left, still readable.
    let left = files(&docs_dir);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].ends_with(&open_doc));
    assert_eq!(
        read(&store, &vault, &open_doc).await.unwrap(),
        b"%PDF-1.4 open"
    );
    // A second round finds nothing more.
    let r = retention::run_once(&state, now() + 31 * DAY_MS, retention::retention_ms(&state))
        .await
        .unwrap();
    assert_eq!(r.sessions, 0);
    // A short threshold (one second) with the real clock: an expired session goes too.
    store
        .vs_expire_due(now() + 8 * DAY_MS, "test")
        .await
        .unwrap();
    let r = retention::run_once(&state, now() + 8 * DAY_MS + 2_000, 1_000)
        .await
        .unwrap();
    assert_eq!((r.sessions, r.documents), (1, 1), "{r:?}");
    assert!(files(&docs_dir).is_empty());
}
