//! `doublecheck user add|list|disable|enable|passwd|role`: staff accounts for the review queue, in the configured
//! database (the same `--config` / `--data-dir` as `holds`).

use crate::gate_cmds::{ConfigArgs, load_config};
use crate::{EX_DATAERR, EX_IOERR, EX_NOINPUT, EX_USAGE, fail};
use anyhow::Context as _;
use doublecheck_store::{Role, Store, StoreError};
use std::io::{BufRead, IsTerminal, Write};

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Add a staff account. The password is read from standard input when it is not a
    /// terminal (one line), and asked for twice otherwise.
    Add {
        /// The account's email address (its name when signing in).
        email: String,
        /// agent (sees their own held messages), reviewer (decides), admin (also manages staff).
        #[arg(long, value_parser = ["agent", "reviewer", "admin"])]
        role: String,
        #[command(flatten)]
        config: ConfigArgs,
        /// Who is making the change, for the audit log (default: cli:$USER).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// List staff accounts.
    List {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long, value_enum, default_value_t = crate::Format::Human)]
        format: crate::Format,
    },
    /// Disable an account: it can no longer sign in, and its sessions end at once.
    Disable {
        email: String,
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// Enable a disabled account again: it can sign in with its password.
    Enable {
        email: String,
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// Set an account's password (one line of standard input, or asked twice on a terminal);
    /// every session of the account ends.
    Passwd {
        email: String,
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// Change an account's role (agent, reviewer or admin).
    Role {
        email: String,
        #[arg(value_parser = ["agent", "reviewer", "admin"])]
        role: String,
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
}

pub(crate) fn actor(given: Option<String>) -> String {
    given.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "unknown".into())
        )
    })
}

pub(crate) async fn open(config: &doublecheck_gate::Config, create: bool) -> anyhow::Result<Store> {
    if config.database.url.is_none() && !config.data_dir.is_dir() {
        if create {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                fail(
                    EX_IOERR,
                    format!("cannot create {}: {e}", config.data_dir.display()),
                )
            })?;
        } else {
            return Err(fail(
                EX_NOINPUT,
                format!(
                    "no data directory at {} (add a user or start `doublecheck serve` first, or pass --data-dir)",
                    config.data_dir.display()
                ),
            ));
        }
    }
    Store::open(&config.database_url())
        .await
        .map_err(|e| fail(EX_IOERR, format!("cannot open the database: {e}")))
}

pub(crate) fn store_fail(e: StoreError) -> anyhow::Error {
    let code = match &e {
        StoreError::NotFound => EX_NOINPUT,
        StoreError::Conflict(_) | StoreError::Invalid(_) | StoreError::Forbidden(_) => EX_DATAERR,
        _ => EX_IOERR,
    };
    fail(code, e.to_string())
}

fn not_found(e: StoreError, email: &str) -> anyhow::Error {
    match e {
        StoreError::NotFound => fail(EX_NOINPUT, format!("no user {email}")),
        other => store_fail(other),
    }
}

/// The account's new password: one line of standard input, or asked twice on a terminal.
/// At least 12 characters, and not the account's email address.
fn read_password(email: &str) -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ").context("reading the password")?;
        let b = rpassword::prompt_password("Password again: ").context("reading the password")?;
        if a != b {
            return Err(fail(EX_USAGE, "the two passwords differ".into()));
        }
        a
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if let Some(problem) = doublecheck_web::password::problem_for(email, &password) {
        return Err(fail(EX_USAGE, problem));
    }
    Ok(password)
}

pub fn user(cmd: UserCommand) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let mut out = anstream::stdout();
        match cmd {
            UserCommand::Add {
                email,
                role,
                config,
                actor: who,
            } => {
                let role =
                    Role::parse(&role).ok_or_else(|| fail(EX_USAGE, "unknown role".into()))?;
                let email = doublecheck_store::normalize_email(&email).map_err(store_fail)?;
                let config = load_config(&config)?;
                let store = open(&config, true).await?;
                if store.user_get(&email).await.map_err(store_fail)?.is_some() {
                    return Err(fail(EX_DATAERR, format!("a user {email} exists already")));
                }
                let password = read_password(&email)?;
                let hash = doublecheck_web::password::hash(password)
                    .await
                    .map_err(|e| fail(EX_IOERR, e))?;
                let user = store
                    .user_add(&email, role, &hash, &actor(who), &serde_json::Map::new())
                    .await
                    .map_err(store_fail)?;
                writeln!(out, "added {} ({})", user.email, user.role)?;
                Ok(0)
            }
            UserCommand::List { config, format } => {
                let config = load_config(&config)?;
                let store = open(&config, false).await?;
                let users = store.user_list().await.map_err(store_fail)?;
                for u in &users {
                    match format {
                        crate::Format::Json => {
                            serde_json::to_writer(&mut out, u)?;
                            writeln!(out)?;
                        }
                        crate::Format::Human => writeln!(
                            out,
                            "{:<40} {:<9} {:<9} since {}",
                            u.email,
                            u.role.as_str(),
                            if u.disabled { "disabled" } else { "active" },
                            u.created_at
                        )?,
                    }
                }
                if format == crate::Format::Human {
                    writeln!(
                        out,
                        "{} user{}",
                        users.len(),
                        if users.len() == 1 { "" } else { "s" }
                    )?;
                }
                Ok(0)
            }
            UserCommand::Disable {
                email,
                config,
                actor: who,
            } => {
                let config = load_config(&config)?;
                let store = open(&config, false).await?;
                let user = store
                    .user_set_disabled(&email, true, &actor(who), &serde_json::Map::new())
                    .await
                    .map_err(|e| match e {
                        StoreError::NotFound => fail(EX_NOINPUT, format!("no user {email}")),
                        other => store_fail(other),
                    })?;
                writeln!(
                    out,
                    "disabled {}: it cannot sign in, and its sessions ended",
                    user.email
                )?;
                Ok(0)
            }
            UserCommand::Enable {
                email,
                config,
                actor: who,
            } => {
                let config = load_config(&config)?;
                let store = open(&config, false).await?;
                let user = store
                    .user_set_disabled(&email, false, &actor(who), &serde_json::Map::new())
                    .await
                    .map_err(|e| not_found(e, &email))?;
                writeln!(out, "enabled {} ({})", user.email, user.role)?;
                Ok(0)
            }
            UserCommand::Passwd {
                email,
                config,
                actor: who,
            } => {
                let email = doublecheck_store::normalize_email(&email).map_err(store_fail)?;
                let config = load_config(&config)?;
                let store = open(&config, false).await?;
                if store.user_get(&email).await.map_err(store_fail)?.is_none() {
                    return Err(fail(EX_NOINPUT, format!("no user {email}")));
                }
                let password = read_password(&email)?;
                let hash = doublecheck_web::password::hash(password)
                    .await
                    .map_err(|e| fail(EX_IOERR, e))?;
                let ended = store
                    .user_set_password(&email, &hash, &actor(who), None, &serde_json::Map::new())
                    .await
                    .map_err(|e| not_found(e, &email))?;
                writeln!(
                    out,
                    "password of {email} changed; {ended} session{} ended",
                    if ended == 1 { "" } else { "s" }
                )?;
                Ok(0)
            }
            UserCommand::Role {
                email,
                role,
                config,
                actor: who,
            } => {
                let role =
                    Role::parse(&role).ok_or_else(|| fail(EX_USAGE, "unknown role".into()))?;
                let config = load_config(&config)?;
                let store = open(&config, false).await?;
                let user = store
                    .user_set_role(&email, role, &actor(who), &serde_json::Map::new())
                    .await
                    .map_err(|e| not_found(e, &email))?;
                writeln!(out, "{} is now {}", user.email, user.role)?;
                Ok(0)
            }
        }
    })
}
