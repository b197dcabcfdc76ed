//! What every listener shares.

use crate::config::Config;
use doublecheck_engine::{Engine, Envelope, InternalError, Policy, Verdict};
use doublecheck_store::Store;
use std::sync::Arc;

/// Shared by all listeners and connections; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub store: Store,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(config: Config, policy: Policy, store: Store) -> AppState {
        AppState {
            engine: Arc::new(Engine::new(policy)),
            store,
            config: Arc::new(config),
        }
    }

    /// Check a message off the async runtime (the engine is CPU work), recording metrics.
    pub async fn check(
        &self,
        raw: Arc<Vec<u8>>,
        envelope: Envelope,
        front_end: &'static str,
    ) -> Result<Verdict, InternalError> {
        let engine = self.engine.clone();
        let start = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || engine.try_check(&raw, &envelope))
            .await
            .unwrap_or_else(|e| Err(InternalError(format!("the check task failed: {e}"))));
        crate::metrics::record_check(front_end, &result, start.elapsed());
        result
    }
}
