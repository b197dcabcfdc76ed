//! Documents at rest, wired to the vault: the vault's settings from `[portal]` (documents
//! directory, master key and previous keys — or `DOUBLECHECK_MASTER_KEY` /
//! `DOUBLECHECK_PREVIOUS_MASTER_KEYS`), the [`VaultShredder`] that destroys a redacted
//! session's blobs, and key rotation ([`rotate`]): every document's data key re-wrapped under
//! the current master key, without reading or re-encrypting any blob.

use crate::DocumentShredder;
use doublecheck_store::{Store, StoreError, VerificationDocument};
use doublecheck_vault::{SealedDocument, Vault};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use doublecheck_gate::portal_config::{documents_dir, open_vault, vault_config};

/// Destroys redacted documents' blobs in the vault (the store has already forgotten their
/// sealed records, so the blobs were unreadable anyway).
pub struct VaultShredder {
    pub vault: Arc<Vault>,
}

impl VaultShredder {
    async fn destroy_doc(&self, doc: &VerificationDocument) -> Result<(), String> {
        let sealed = doc
            .sealed_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<SealedDocument>(j).ok());
        match sealed {
            Some(s) if s.doc_id == doc.id => {
                self.vault.destroy(&s).await.map_err(|e| e.to_string())
            }
            // Without its record the blob cannot be read by anyone (the wrapped data key is
            // gone); say so rather than guess at a path.
            _ => Err(format!(
                "document {} has no readable sealed record; its blob stays as ciphertext",
                doc.id
            )),
        }
    }
}

impl DocumentShredder for VaultShredder {
    fn destroy<'a>(
        &'a self,
        doc: &'a VerificationDocument,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            self.destroy_doc(doc).await?;
            tracing::info!(document = %doc.id, "document destroyed (blob and wrapped key)");
            Ok(())
        })
    }
}

/// The portal state with the vault as its document shredder, when the vault opens (no master
/// key: the state is returned as it was, and the reason).
pub fn attach(state: crate::PortalState) -> (crate::PortalState, Option<String>) {
    match open_vault(&state.app.config) {
        Ok(v) => (
            state.with_documents(Arc::new(VaultShredder { vault: Arc::new(v) })),
            None,
        ),
        Err(e) => (state, Some(e.to_string())),
    }
}

/// What [`rotate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotateReport {
    /// Data keys re-wrapped under the current master key now.
    pub rewrapped: u64,
    /// Already under the current master key (checked to unwrap).
    pub current: u64,
    /// Documents that could not be re-wrapped (`id: why`): a missing old key, a broken
    /// record. They stay readable by whatever key wraps them now.
    pub failed: Vec<String>,
}

/// Re-wraps every live document's data key under the vault's current master key and stores
/// the new sealed record. Blobs are neither read nor written. Idempotent: a second run finds
/// every document current. Only store failures stop it; a document that cannot be re-wrapped
/// is reported in `failed` and the run goes on.
pub async fn rotate(vault: &Vault, store: &Store) -> Result<RotateReport, StoreError> {
    let mut report = RotateReport::default();
    let mut after: Option<String> = None;
    loop {
        let page = store.doc_list_live(after.as_deref(), 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for doc in &page {
            let Some(json) = doc.sealed_json.as_deref() else {
                continue;
            };
            let sealed: SealedDocument = match serde_json::from_str(json) {
                Ok(s) => s,
                Err(e) => {
                    report
                        .failed
                        .push(format!("{}: unreadable record: {e}", doc.id));
                    continue;
                }
            };
            if sealed.doc_id != doc.id {
                report
                    .failed
                    .push(format!("{}: the record names another document", doc.id));
                continue;
            }
            let was_current = !vault.needs_rewrap(&sealed);
            match vault.rewrap(&sealed).await {
                Ok(_) if was_current => report.current += 1,
                Ok(new) => {
                    let json = serde_json::to_string(&new)
                        .map_err(|e| StoreError::Other(format!("sealed record: {e}")))?;
                    match store.doc_update_sealed(&doc.id, &json).await {
                        Ok(()) => report.rewrapped += 1,
                        // Destroyed meanwhile (redaction): nothing left to re-wrap.
                        Err(StoreError::NotFound | StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => report.failed.push(format!("{}: {e}", doc.id)),
            }
        }
    }
    Ok(report)
}
