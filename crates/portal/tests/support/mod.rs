//! What the portal's test binaries share: one story, two databases. A story is an
//! `async fn story(db: Db)`; `on_both_databases!(story, …)` makes `story::sqlite` (always) and
//! `story::postgres` (when `DOUBLECHECK_TEST_POSTGRES_URL` is set, as
//! `scripts/with-postgres cargo test -p doublecheck-portal` does; otherwise it says it skipped
//! and passes).
#![allow(dead_code)]

use doublecheck_gate::Config;

pub const PG_ENV: &str = "DOUBLECHECK_TEST_POSTGRES_URL";

/// The database a story runs on.
#[derive(Clone, Debug)]
pub enum Db {
    /// A file under the test's data directory.
    Sqlite,
    /// The server that `DOUBLECHECK_TEST_POSTGRES_URL` names; each store opened with
    /// [`Db::configure`] gets a fresh schema of its own.
    Postgres(String),
}

impl Db {
    /// The PostgreSQL server of the environment; `None` (after saying so) when none is set.
    pub fn postgres() -> Option<Db> {
        match std::env::var(PG_ENV) {
            Ok(url) => Some(Db::Postgres(url)),
            Err(_) => {
                println!("skipped: {PG_ENV} not set");
                None
            }
        }
    }

    /// Points `config` at a database of its own: SQLite under `config.data_dir` (the
    /// default), or a fresh schema on the PostgreSQL server, reached through `search_path`.
    pub async fn configure(&self, config: &mut Config) {
        if let Db::Postgres(base) = self {
            config.database.url = Some(fresh_schema(base).await);
        }
    }
}

async fn fresh_schema(base: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(base)
        .await
        .expect("the PostgreSQL test server");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let schema = format!(
        "dc_portal_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .expect("create a schema");
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options[search_path]={schema}")
}

/// For each story `name` (an `async fn name(db: Db)` in scope, with `Db` imported):
/// `name::sqlite` and `name::postgres`.
macro_rules! on_both_databases {
    ($($story:ident),+ $(,)?) => {$(
        mod $story {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$story(super::Db::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = super::Db::postgres() else {
                    return;
                };
                super::$story(db).await;
            }
        }
    )+};
}
