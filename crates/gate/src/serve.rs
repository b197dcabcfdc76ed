//! `doublecheck serve`: open the store, build the engine, start the enabled listeners, and stop
//! them when `shutdown` completes (SIGTERM, Ctrl-C), letting requests in flight finish.
//!
//! [`serve_with`] also mounts routes built from the shared state (the review queue of the
//! `doublecheck-web` crate) on the HTTP listener, in front of the API's, and runs the
//! housekeeping task ([`purge_expired`] every [`HOUSEKEEPING_EVERY`]) until shutdown. The
//! notice worker ([`crate::notice::run`]) always runs: it sends the notices to senders queued
//! in the store, those left by an earlier run first.

use crate::config::Config;
use crate::state::AppState;
use doublecheck_engine::Policy;
use doublecheck_store::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often the housekeeping task purges expired web sessions and old sign-in failures.
pub const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(10 * 60);

/// Removes the review queue's web sessions past their idle or absolute timeout and sign-in
/// failures older than the throttling window (`[web]` settings), as of `now_ms`. Returns how
/// many sessions ended.
pub async fn purge_expired(
    state: &AppState,
    now_ms: i64,
) -> Result<u64, doublecheck_store::StoreError> {
    let web = &state.config.web;
    let secs = |s: u64| i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1000);
    state
        .store
        .session_purge(
            now_ms.saturating_sub(secs(web.session_idle_secs)),
            now_ms.saturating_sub(secs(web.session_absolute_secs)),
            now_ms.saturating_sub(secs(web.login_window_secs)),
        )
        .await
}

/// [`purge_expired`] now, then every `every`, until `stop` turns true (or its sender is gone).
/// Failures are logged and retried at the next round.
pub async fn housekeeping(
    state: AppState,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        match purge_expired(&state, now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "housekeeping: expired web sessions removed"),
            Err(e) => tracing::warn!(error = %e, "housekeeping: purge failed; retrying later"),
        }
    }
}

/// Why the gate could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid policy:\n{0}")]
    Policy(String),
    #[error("cannot open the database: {0}")]
    Store(#[from] doublecheck_store::StoreError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Load the policy named by the configuration, or the built-in one.
pub fn load_policy(config: &Config) -> Result<Policy, ServeError> {
    match &config.policy {
        None => Ok(Policy::builtin()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ServeError::Policy(format!("cannot read {}: {e}", path.display())))?;
            Policy::from_toml(&text, &path.display().to_string())
                .map_err(|e| ServeError::Policy(e.to_string()))
        }
    }
}

/// Build the shared state: data directory, database (migrated), policy, engine.
pub async fn build_state(config: Config) -> Result<AppState, ServeError> {
    let policy = load_policy(&config)?;
    if config.database.url.is_none() {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    let store = Store::open(&config.database_url()).await?;
    Ok(AppState::new(config, policy, store))
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { what, addr, source })
}

/// Run the gate until `shutdown` completes.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_with(config, |_| axum::Router::new(), shutdown).await
}

/// Like [`serve`], with more routes on the HTTP listener: `web` builds them from the shared
/// state; requests they do not match go to the API (`/healthz`, `/v1/check`, …). Handlers see
/// the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve_with(
    config: Config,
    web: impl FnOnce(AppState) -> axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = build_state(config).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    if state.config.http.enabled {
        let listener = bind("http", state.config.http.listen).await?;
        tracing::info!(addr = %state.config.http.listen, "HTTP listening");
        let app = web(state.clone()).fallback_service(crate::http::app(state.clone()));
        let mut rx = stop_rx.clone();
        tasks.spawn(async move {
            let stopped = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stopped)
            .await
        });
    }
    if state.config.web.enabled {
        let (st, rx) = (state.clone(), stop_rx.clone());
        tasks.spawn(async move {
            housekeeping(st, HOUSEKEEPING_EVERY, rx).await;
            Ok::<(), std::io::Error>(())
        });
    }
    {
        // Notices to senders, including those left pending by an earlier run.
        let (st, rx) = (state.clone(), stop_rx.clone());
        tasks.spawn(async move {
            crate::notice::run(st, rx).await;
            Ok::<(), std::io::Error>(())
        });
    }
    if state.config.milter.enabled {
        let listener = bind("milter", state.config.milter.listen).await?;
        tracing::info!(addr = %state.config.milter.listen, "milter listening");
        let (st, rx) = (state.clone(), stop_rx.clone());
        tasks.spawn(async move {
            crate::milter::run(listener, st, rx).await;
            Ok::<(), std::io::Error>(())
        });
    }
    if state.config.smtp.enabled {
        let listener = bind("smtp", state.config.smtp.listen).await?;
        tracing::info!(addr = %state.config.smtp.listen, "SMTP listening");
        let (st, rx) = (state.clone(), stop_rx.clone());
        tasks.spawn(async move {
            crate::smtp::run(listener, st, rx).await;
            Ok::<(), std::io::Error>(())
        });
    }
    shutdown.await;
    tracing::info!("shutting down: no new connections; finishing the ones in flight");
    let _ = stop_tx.send(true);
    while let Some(r) = tasks.join_next().await {
        if let Ok(Err(e)) = r {
            tracing::warn!(error = %e, "listener stopped with an error");
        }
    }
    Ok(())
}
