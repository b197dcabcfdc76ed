//! What the store's test stories share: a PostgreSQL schema of their own when a server is
//! configured (`scripts/with-postgres cargo test -p doublecheck-store` sets
//! `DOUBLECHECK_TEST_POSTGRES_URL`), so that one story runs on SQLite and on PostgreSQL.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use sqlx::AnyPool;
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable naming the PostgreSQL test server.
pub const PG_ENV: &str = "DOUBLECHECK_TEST_POSTGRES_URL";

/// A name no other test run uses: `dc_{tag}_{pid}_{nanos}`.
pub fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("dc_{tag}_{}_{nanos}", std::process::id())
}

/// A PostgreSQL test database of its own: a fresh schema in the server that the environment
/// names, reached through `search_path`. `None` (after saying so) when no server is configured.
pub struct PgSchema {
    admin: AnyPool,
    schema: String,
    /// The URL a store opens to work in this schema.
    pub url: String,
}

impl PgSchema {
    pub async fn new(tag: &str) -> Option<PgSchema> {
        let Ok(base) = std::env::var(PG_ENV) else {
            println!("skipped: {PG_ENV} not set");
            return None;
        };
        sqlx::any::install_default_drivers();
        let admin = AnyPool::connect(&base)
            .await
            .expect("connect to the test server");
        let schema = unique(tag);
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={schema}");
        println!("postgres: running in schema {schema}");
        Some(PgSchema { admin, schema, url })
    }

    pub async fn drop(self) {
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&self.admin)
            .await
            .unwrap();
        self.admin.close().await;
    }
}
