//! `doublecheck apikey create|list|revoke`: API keys of the verification portal's API, in the
//! configured database. A key is shown once, at creation; the database keeps only its SHA-256
//! and its first characters.

use crate::gate_cmds::{ConfigArgs, load_config};
use crate::user_cmds::{actor, open, store_fail};
use crate::{EX_NOINPUT, fail};
use anyhow::Context as _;
use doublecheck_store::StoreError;
use std::io::Write;

#[derive(clap::Subcommand)]
pub enum ApikeyCommand {
    /// Create a key and print it (once: it cannot be shown again).
    Create {
        /// A live key (dk_live_…) acting on live sessions; default: a test key (dk_test_…).
        #[arg(long)]
        live: bool,
        /// What the key is for.
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List keys (their first characters only).
    List {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long, value_enum, default_value_t = crate::Format::Human)]
        format: crate::Format,
    },
    /// Revoke a key by its id (key_…): requests with it are refused at once.
    Revoke {
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
}

fn time(ms: Option<i64>) -> String {
    ms.map(doublecheck_store::rfc3339)
        .unwrap_or_else(|| "-".into())
}

pub fn apikey(cmd: ApikeyCommand) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let mut out = anstream::stdout();
        match cmd {
            ApikeyCommand::Create { live, name, config } => {
                let config = load_config(&config)?;
                let store = open(&config, true).await?;
                let (k, secret) = store
                    .api_key_create(live, name.trim())
                    .await
                    .map_err(store_fail)?;
                writeln!(out, "{secret}")?;
                let mut err = anstream::stderr();
                writeln!(
                    err,
                    "created {} ({} mode{}); the key above is shown only now",
                    k.id,
                    if k.livemode { "live" } else { "test" },
                    if k.name.is_empty() {
                        String::new()
                    } else {
                        format!(", {:?}", k.name)
                    }
                )?;
                Ok(0)
            }
            ApikeyCommand::List { config, format } => {
                let config = load_config(&config)?;
                let store = open(&config, false).await?;
                let keys = store.api_key_list().await.map_err(store_fail)?;
                for k in &keys {
                    match format {
                        crate::Format::Json => {
                            serde_json::to_writer(&mut out, k)?;
                            writeln!(out)?;
                        }
                        crate::Format::Human => writeln!(
                            out,
                            "{:<22} {:<16} {:<4} {:<8} created {} last used {} {}",
                            k.id,
                            format!("{}…", k.prefix),
                            if k.livemode { "live" } else { "test" },
                            if k.revoked_at_ms.is_some() {
                                "revoked"
                            } else {
                                "active"
                            },
                            time(Some(k.created_at_ms)),
                            time(k.last_used_at_ms),
                            k.name
                        )?,
                    }
                }
                if format == crate::Format::Human {
                    writeln!(
                        out,
                        "{} key{}",
                        keys.len(),
                        if keys.len() == 1 { "" } else { "s" }
                    )?;
                }
                Ok(0)
            }
            ApikeyCommand::Revoke {
                id,
                config,
                actor: who,
            } => {
                let config = load_config(&config)?;
                let store = open(&config, false).await?;
                let k = store
                    .api_key_revoke(&id, &actor(who))
                    .await
                    .map_err(|e| match e {
                        StoreError::NotFound => fail(EX_NOINPUT, format!("no API key {id}")),
                        other => store_fail(other),
                    })?;
                writeln!(out, "revoked {} ({}…)", k.id, k.prefix)?;
                Ok(0)
            }
        }
    })
}
