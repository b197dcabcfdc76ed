//! What every listener shares.

use crate::config::Config;
use doublecheck_engine::{Engine, Envelope, InternalError, Policy, Timings, Verdict};
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
        let checked = tokio::task::spawn_blocking(move || {
            let mut timings = Timings::default();
            let result = engine.try_check_timed(&raw, &envelope, &mut timings);
            (result, timings)
        })
        .await;
        let (result, timings) = checked.unwrap_or_else(|e| {
            (
                Err(InternalError(format!("the check task failed: {e}"))),
                Timings::default(),
            )
        });
        crate::metrics::record_check(front_end, &result, start.elapsed());
        if result.is_ok() {
            crate::metrics::record_timings(&timings);
        }
        result
    }
}
