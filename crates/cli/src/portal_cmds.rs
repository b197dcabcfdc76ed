//! `doublecheck verify send|list` (verification requests: a session and a single-use link for
//! one customer, sent in their own message) and `doublecheck keys generate|rotate` (the
//! master key of documents at rest).

use crate::gate_cmds::{ConfigArgs, load_config};
use crate::user_cmds::{actor, open, store_fail};
use crate::{EX_DATAERR, EX_IOERR, EX_USAGE, fail};
use anyhow::Context as _;
use doublecheck_gate::AppState;
use doublecheck_gate::delivery::{self, DeliveryError};
use doublecheck_gate::verify_link::{self, SessionRequest};
use doublecheck_store::{SessionQuery, VerificationStatus, VerificationType};
use std::io::Write;

#[derive(clap::Subcommand)]
pub enum VerifyCommand {
    /// Ask one customer to verify their details through the portal: creates a verification
    /// session and a single-use link, and sends the customer their own message with it
    /// (portal.message_subject / portal.message_body through smtp.upstream).
    Send {
        /// The customer's email address.
        #[arg(long, value_name = "ADDR")]
        email: String,
        /// What to collect: document, address or address_and_document.
        #[arg(long = "type", default_value = "document", value_parser = ["document", "address", "address_and_document"])]
        kind: String,
        /// The customer's name (for {{name}} in the message).
        #[arg(long)]
        name: Option<String>,
        /// Print the link instead of sending a message (hand it over another way).
        #[arg(long)]
        print_link: bool,
        /// Who asks (recorded in the events); default cli:$USER.
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List verification sessions, newest first.
    List {
        /// Only sessions in this status (requires_input, processing, requires_review,
        /// verified, rejected, canceled, expired).
        #[arg(long)]
        status: Option<String>,
        /// How many (1…100).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = crate::Format::Human)]
        format: crate::Format,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Print a new random master key (for DOUBLECHECK_MASTER_KEY or portal.master_key).
    Generate,
    /// Re-wrap every document's data key under the current master key, without reading or
    /// re-encrypting any document. Run it after making a new key current and listing the old
    /// one in DOUBLECHECK_PREVIOUS_MASTER_KEYS (or portal.previous_master_keys); once it
    /// reports no failures, the old key can be dropped. Safe to run again.
    Rotate {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn time(ms: Option<i64>) -> String {
    ms.map(doublecheck_store::rfc3339)
        .unwrap_or_else(|| "-".into())
}

/// A plain address: one `@`, no spaces or angle brackets, at most 254 bytes.
fn plain_address(s: &str) -> bool {
    let s = s.trim();
    s.len() <= 254
        && s.matches('@').count() == 1
        && !s.starts_with('@')
        && !s.ends_with('@')
        && !s.contains(['<', '>', ' ', ',', ';', '\r', '\n', '\t'])
}

pub fn verify(cmd: VerifyCommand) -> anyhow::Result<u8> {
    runtime()?.block_on(async move {
        let mut out = anstream::stdout();
        match cmd {
            VerifyCommand::Send {
                email,
                kind,
                name,
                print_link,
                actor: who,
                config,
            } => {
                let config = load_config(&config)?;
                if !plain_address(&email) {
                    return Err(fail(
                        EX_USAGE,
                        format!("--email must be a plain address, not {email:?}"),
                    ));
                }
                if name
                    .as_deref()
                    .is_some_and(|n| n.len() > 256 || n.contains(['\r', '\n']))
                {
                    return Err(fail(
                        EX_USAGE,
                        "--name must be one line of at most 256 bytes".into(),
                    ));
                }
                if !config.portal.enabled {
                    return Err(fail(
                        EX_DATAERR,
                        "the verification portal is disabled (portal.enabled = false)".into(),
                    ));
                }
                let upstream = config.smtp.upstream.clone();
                if !print_link && upstream.is_none() {
                    return Err(fail(
                        EX_DATAERR,
                        "smtp.upstream is not set: nothing can send the message (use --print-link \
                         to hand the link over yourself)"
                            .into(),
                    ));
                }
                let store = open(&config, true).await?;
                let state = AppState::new(config, doublecheck_engine::Policy::builtin(), store);
                let kind = VerificationType::parse(&kind)
                    .ok_or_else(|| fail(EX_USAGE, format!("unknown --type {kind}")))?;
                let session = verify_link::create_session(
                    &state,
                    SessionRequest {
                        email: email.trim(),
                        kind,
                        name: name.as_deref(),
                        actor: &actor(who),
                        metadata: serde_json::json!({ "source": "cli" }),
                    },
                )
                .await
                .map_err(store_fail)?;
                let link = verify_link::fresh_link(&state, &session.id)
                    .await
                    .map_err(store_fail)?;
                let mut err = anstream::stderr();
                if print_link {
                    writeln!(out, "{link}")?;
                    writeln!(
                        err,
                        "{} ({}) for {}: the link above works once and is not shown again",
                        session.id,
                        kind.as_str(),
                        email.trim()
                    )?;
                    return Ok(0);
                }
                let cfg = &state.config.portal;
                let body =
                    doublecheck_portal::outbox::fill(&cfg.message_body, &link, name.as_deref());
                let raw = doublecheck_portal::outbox::build_message(
                    &cfg.mail_from,
                    email.trim(),
                    &cfg.message_subject,
                    &body,
                );
                let rcpt = [email.trim().to_string()];
                let upstream = upstream.unwrap_or_default();
                match delivery::send(&upstream, &cfg.mail_from, &rcpt, &raw).await {
                    Ok(()) => {
                        writeln!(
                            out,
                            "{} ({}): sent {} their own link",
                            session.id,
                            kind.as_str(),
                            email.trim()
                        )?;
                        Ok(0)
                    }
                    Err(e) => {
                        let why = match &e {
                            DeliveryError::Temporary(w) | DeliveryError::Permanent(w) => w.clone(),
                        };
                        Err(fail(
                            EX_IOERR,
                            format!(
                                "{} was created but the message was not sent ({why}); run the \
                                 command again, or use --print-link",
                                session.id
                            ),
                        ))
                    }
                }
            }
            VerifyCommand::List {
                status,
                limit,
                format,
                config,
            } => {
                let config = load_config(&config)?;
                let status = match status.as_deref() {
                    None => None,
                    Some(s) => Some(
                        VerificationStatus::parse(s)
                            .ok_or_else(|| fail(EX_USAGE, format!("unknown --status {s}")))?,
                    ),
                };
                let store = open(&config, false).await?;
                let page = store
                    .vs_list(SessionQuery {
                        status,
                        limit: limit.clamp(1, 100),
                        ..Default::default()
                    })
                    .await
                    .map_err(store_fail)?;
                for s in &page.data {
                    match format {
                        crate::Format::Json => {
                            serde_json::to_writer(
                                &mut out,
                                &doublecheck_portal::render::session(s),
                            )?;
                            writeln!(out)?;
                        }
                        crate::Format::Human => writeln!(
                            out,
                            "{:<30} {:<16} {:<21} {:<32} created {} expires {}{}",
                            s.id,
                            s.status.as_str(),
                            s.kind.as_str(),
                            s.customer.email.as_deref().unwrap_or("(redacted)"),
                            time(Some(s.created_at_ms)),
                            time(Some(s.expires_at_ms)),
                            if s.livemode { "" } else { " test" }
                        )?,
                    }
                }
                if format == crate::Format::Human {
                    writeln!(
                        out,
                        "{} session{}{}",
                        page.data.len(),
                        if page.data.len() == 1 { "" } else { "s" },
                        if page.has_more {
                            " (more: raise --limit)"
                        } else {
                            ""
                        }
                    )?;
                }
                Ok(0)
            }
        }
    })
}

pub fn keys(cmd: KeysCommand) -> anyhow::Result<u8> {
    match cmd {
        KeysCommand::Generate => {
            let key = doublecheck_vault::generate_master_key()
                .map_err(|e| fail(EX_IOERR, e.to_string()))?;
            let mut out = anstream::stdout();
            writeln!(out, "{}", key.as_str())?;
            let mut err = anstream::stderr();
            writeln!(
                err,
                "a new master key: set DOUBLECHECK_MASTER_KEY to it (keep the old one in \
                 DOUBLECHECK_PREVIOUS_MASTER_KEYS until `doublecheck keys rotate` is done)"
            )?;
            Ok(0)
        }
        KeysCommand::Rotate { config } => runtime()?.block_on(async move {
            let config = load_config(&config)?;
            let vault = doublecheck_portal::documents::open_vault(&config)
                .map_err(|e| fail(EX_DATAERR, format!("the document vault: {e}")))?;
            let store = open(&config, false).await?;
            let report = doublecheck_portal::documents::rotate(&vault, &store)
                .await
                .map_err(store_fail)?;
            let mut out = anstream::stdout();
            writeln!(
                out,
                "{} re-wrapped under {}, {} already current, {} failed",
                report.rewrapped,
                vault.keys().current().id(),
                report.current,
                report.failed.len()
            )?;
            for f in &report.failed {
                writeln!(out, "  {f}")?;
            }
            Ok(if report.failed.is_empty() {
                0
            } else {
                EX_DATAERR
            })
        }),
    }
}
