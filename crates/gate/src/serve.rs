//! `doublecheck serve`: open the store, build the engine, start the enabled listeners, and stop
//! them when `shutdown` completes (SIGTERM, Ctrl-C), letting requests in flight finish.
//!
//! [`serve_with`] also mounts routes built from the shared state (the review queue of the
//! `doublecheck-web` crate) on the HTTP listener, in front of the API's.

use crate::config::Config;
use crate::state::AppState;
use doublecheck_engine::Policy;
use doublecheck_store::Store;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

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
