//! The gate's commands: `serve`, `config init`, `holds …` (with the notices to senders),
//! `audit verify`.

use crate::{EX_DATAERR, EX_IOERR, EX_NOINPUT, EX_USAGE, fail};
use anyhow::Context as _;
use doublecheck_gate::Config;
use doublecheck_store::{
    Decision, HoldFilter, HoldStatus, NoticeFilter, NoticeStatus, Store, rfc3339,
};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where the configuration comes from: `--config`, else `./doublecheck.toml` when present,
/// else the embedded defaults.
#[derive(clap::Args, Clone)]
pub struct ConfigArgs {
    /// Configuration file (default: ./doublecheck.toml if present, else the built-in defaults).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides data_dir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// HTTP listen address (overrides http.listen).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// SMTP listen address (overrides smtp.listen).
    #[arg(long, value_name = "ADDR")]
    pub smtp: Option<SocketAddr>,
    /// Milter listen address (overrides milter.listen).
    #[arg(long, value_name = "ADDR")]
    pub milter: Option<SocketAddr>,
    /// Upstream smarthost for the SMTP relay, HOST:PORT (overrides smtp.upstream).
    #[arg(long, value_name = "HOST:PORT")]
    pub upstream: Option<String>,
    /// Validate the configuration and policy, print what would listen where, and exit.
    #[arg(long)]
    pub check: bool,
}

#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Write a commented configuration file with every default (default: ./doublecheck.toml).
    Init {
        #[arg(value_name = "FILE", default_value = "doublecheck.toml")]
        file: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum HoldsCommand {
    /// List held messages (oldest first).
    List {
        #[command(flatten)]
        config: ConfigArgs,
        /// held (default), released, rejected, or all.
        #[arg(long, default_value = "held", value_parser = ["held", "released", "rejected", "all"])]
        status: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = crate::Format::Human)]
        format: crate::Format,
    },
    /// Show one held message: envelope, verdict, reason (not the message body).
    Show {
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Approve a held message (a second person: the sender may not approve their own). When
    /// `web.two_approvals_min_severity` asks for two approvers, the first approval is recorded
    /// and the command exits with 2: the message stays held until a second person releases it.
    Release {
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
        /// Who decides (default: $USER).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Refuse a held message: it is never delivered.
    Reject {
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// List the notices to senders still waiting (pending: being retried) or given up (failed),
    /// oldest first, with their attempts and last error.
    Notices {
        #[command(flatten)]
        config: ConfigArgs,
        /// waiting (pending and failed, the default), pending, failed, sent, or all.
        #[arg(long, default_value = "waiting", value_parser = ["waiting", "pending", "failed", "sent", "all"])]
        status: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = crate::Format::Human)]
        format: crate::Format,
    },
    /// Queue a notice that was given up again (after fixing what refused it); `serve` sends it.
    RequeueNotice {
        /// The notice id (ntc_…), from `holds notices`.
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
}

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain of the audit log and report the first broken entry, if any.
    Verify {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub fn load_config(args: &ConfigArgs) -> anyhow::Result<Config> {
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from("doublecheck.toml")).filter(|p| p.is_file()),
    };
    let mut config = match path {
        Some(p) => Config::load(&p).map_err(|e| {
            let code = match &e {
                doublecheck_gate::ConfigError::Read { source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    EX_NOINPUT
                }
                doublecheck_gate::ConfigError::Read { .. } => EX_IOERR,
                doublecheck_gate::ConfigError::Invalid { .. } => EX_DATAERR,
            };
            fail(code, e.to_string())
        })?,
        None => Config::default(),
    };
    if let Some(d) = &args.data_dir {
        config.data_dir = d.clone();
    }
    Ok(config)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn init_logging() {
    init_logging_at("info");
}

/// Log to standard error at `level` and above (`DOUBLECHECK_LOG` overrides).
fn init_logging_at(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DOUBLECHECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    let mut config = load_config(&args.config)?;
    if let Some(a) = args.http {
        config.http.listen = a;
    }
    if let Some(a) = args.smtp {
        config.smtp.listen = a;
    }
    if let Some(a) = args.milter {
        config.milter.listen = a;
    }
    if let Some(u) = args.upstream {
        if u.rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            return Err(fail(
                EX_USAGE,
                format!("--upstream must be HOST:PORT, not {u:?}"),
            ));
        }
        config.smtp.upstream = Some(u);
    }
    doublecheck_gate::serve::load_policy(&config).map_err(|e| fail(EX_DATAERR, e.to_string()))?;
    if args.check {
        let mut out = anstream::stdout();
        writeln!(out, "configuration OK")?;
        for (name, enabled, addr) in [
            ("http", config.http.enabled, config.http.listen),
            ("smtp", config.smtp.enabled, config.smtp.listen),
            ("milter", config.milter.enabled, config.milter.listen),
        ] {
            writeln!(
                out,
                "  {name:<7} {}",
                if enabled {
                    addr.to_string()
                } else {
                    "disabled".into()
                }
            )?;
        }
        writeln!(out, "  database {}", redact_url(&config.database_url()))?;
        writeln!(
            out,
            "  policy   {}",
            config
                .policy
                .as_ref()
                .map_or("built-in".to_string(), |p| p.display().to_string())
        )?;
        return Ok(0);
    }
    init_logging();
    let rt = runtime()?;
    rt.block_on(async move {
        let shutdown = async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut term) => {
                        tokio::select! {
                            _ = ctrl_c => {},
                            _ = term.recv() => {},
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot watch SIGTERM; stop with Ctrl-C");
                        let _ = ctrl_c.await;
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = ctrl_c.await;
            }
        };
        // The portal's workers stop with the listeners.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let shutdown = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        let mut portal_error = None;
        let served = doublecheck_gate::serve_with(
            config,
            |state| {
                let web = doublecheck_web::router(state.clone());
                match doublecheck_portal::PortalState::load(state) {
                    Ok(portal) => {
                        // Redaction and retention destroy documents' blobs in the vault.
                        let (portal, no_vault) = doublecheck_portal::documents::attach(portal);
                        if let Some(e) = no_vault {
                            tracing::warn!(error = %e, "verification portal: no document vault; redaction forgets wrapped keys only");
                        }
                        doublecheck_portal::start_workers(portal.clone(), stop_rx);
                        web.merge(doublecheck_portal::router(portal))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the verification portal is off");
                        portal_error = Some(e);
                        web
                    }
                }
            },
            shutdown,
        )
        .await;
        if let Some(e) = portal_error {
            tracing::error!(error = %e, "the verification portal was off");
        }
        served
    })
    .map_err(|e| {
        let code = match e {
            doublecheck_gate::ServeError::Policy(_) => EX_DATAERR,
            _ => EX_IOERR,
        };
        fail(code, e.to_string())
    })?;
    Ok(0)
}

/// Hide a password in a database URL before printing it.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub fn config_cmd(cmd: ConfigCommand) -> anyhow::Result<u8> {
    match cmd {
        ConfigCommand::Init { file, force } => {
            if file.exists() && !force {
                return Err(fail(
                    EX_USAGE,
                    format!("{} exists; use --force to overwrite it", file.display()),
                ));
            }
            write_new(&file, doublecheck_gate::config::TEMPLATE)?;
            writeln!(
                anstream::stdout(),
                "wrote {} (every key shown with its default)",
                file.display()
            )?;
            Ok(0)
        }
    }
}

fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text)
        .map_err(|e| fail(EX_IOERR, format!("cannot write {}: {e}", path.display())))
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database.url.is_none() && !config.data_dir.is_dir() {
        return Err(fail(
            EX_NOINPUT,
            format!(
                "no data directory at {} (start `doublecheck serve` first, or pass --data-dir)",
                config.data_dir.display()
            ),
        ));
    }
    Store::open(&config.database_url())
        .await
        .map_err(|e| fail(EX_IOERR, format!("cannot open the database: {e}")))
}

fn actor(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "cli".to_string())
}

pub fn holds(cmd: HoldsCommand) -> anyhow::Result<u8> {
    let rt = runtime()?;
    rt.block_on(async move {
        let mut out = anstream::stdout();
        match cmd {
            HoldsCommand::List { config, status, limit, format } => {
                let config = load_config(&config)?;
                let store = open_store(&config).await?;
                let filter = HoldFilter {
                    status: match status.as_str() {
                        "held" => Some(HoldStatus::Held),
                        "released" => Some(HoldStatus::Released),
                        "rejected" => Some(HoldStatus::Rejected),
                        _ => None,
                    },
                    limit,
                    after: None,
                };
                let holds = store.list_holds(filter).await.map_err(|e| fail(EX_IOERR, e.to_string()))?;
                for h in &holds {
                    match format {
                        crate::Format::Json => {
                            serde_json::to_writer(&mut out, &serde_json::json!({
                                "id": h.id, "status": h.status.as_str(), "created_at": h.created_at,
                                "mail_from": h.mail_from, "recipients": h.rcpt_count, "reason": h.reason,
                                "size": h.raw_size, "decided_by": h.decided_by,
                            }))?;
                            writeln!(out)?;
                        }
                        crate::Format::Human => writeln!(
                            out,
                            "{}  {:<8} {}  from {} to {} recipient{}  {}",
                            h.id,
                            h.status.as_str(),
                            h.created_at,
                            h.mail_from,
                            h.rcpt_count,
                            if h.rcpt_count == 1 { "" } else { "s" },
                            h.reason
                        )?,
                    }
                }
                if format == crate::Format::Human {
                    writeln!(out, "{} hold{}", holds.len(), if holds.len() == 1 { "" } else { "s" })?;
                }
                Ok(0)
            }
            HoldsCommand::Show { id, config } => {
                let config = load_config(&config)?;
                let store = open_store(&config).await?;
                let Some(h) = store.get_hold(&id).await.map_err(|e| fail(EX_IOERR, e.to_string()))? else {
                    return Err(fail(EX_NOINPUT, format!("no hold {id}")));
                };
                writeln!(out, "id:         {}", h.id)?;
                writeln!(out, "status:     {}", h.status.as_str())?;
                writeln!(out, "created:    {}", h.created_at)?;
                writeln!(out, "from:       {}", h.mail_from)?;
                writeln!(out, "to:         {}", h.rcpt_to.join(", "))?;
                writeln!(out, "size:       {} bytes (sha256 {})", h.raw_size, h.raw_sha256)?;
                writeln!(out, "reason:     {}", h.reason)?;
                if let Some(d) = &h.decided_by {
                    writeln!(out, "decided by: {d} at {}", h.decided_at.as_deref().unwrap_or("?"))?;
                }
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&h.verdict_json) {
                    for f in v["findings"].as_array().into_iter().flatten() {
                        writeln!(
                            out,
                            "  {:<8} {}  {}",
                            f["severity"].as_str().unwrap_or(""),
                            f["id"].as_str().unwrap_or(""),
                            f["evidence"].as_str().unwrap_or("")
                        )?;
                    }
                }
                let notices = store
                    .notices_list(&NoticeFilter {
                        statuses: vec![],
                        hold_id: Some(h.id.clone()),
                        limit: 10,
                    })
                    .await
                    .map_err(|e| fail(EX_IOERR, e.to_string()))?;
                for n in &notices {
                    writeln!(out, "notice:     {}", notice_line(n))?;
                }
                Ok(0)
            }
            HoldsCommand::Notices { config, status, limit, format } => {
                let config = load_config(&config)?;
                let store = open_store(&config).await?;
                let statuses = match status.as_str() {
                    "pending" => vec![NoticeStatus::Pending],
                    "failed" => vec![NoticeStatus::Failed],
                    "sent" => vec![NoticeStatus::Sent],
                    "all" => vec![],
                    _ => vec![NoticeStatus::Pending, NoticeStatus::Failed],
                };
                let list = store
                    .notices_list(&NoticeFilter { statuses, hold_id: None, limit })
                    .await
                    .map_err(|e| fail(EX_IOERR, e.to_string()))?;
                for n in &list {
                    match format {
                        crate::Format::Json => {
                            serde_json::to_writer(&mut out, &serde_json::json!({
                                "id": n.id, "hold_id": n.hold_id, "event": n.event,
                                "status": n.status().as_str(), "recipient": n.recipient,
                                "created_at": n.created_at(), "attempts": n.attempts,
                                "next_attempt_at": n.next_attempt_at_ms.map(rfc3339),
                                "last_attempt_at": n.last_attempt_at_ms.map(rfc3339),
                                "last_error": n.last_error,
                                "sent_at": n.sent_at_ms.map(rfc3339),
                                "failed_at": n.failed_at_ms.map(rfc3339),
                            }))?;
                            writeln!(out)?;
                        }
                        crate::Format::Human => {
                            writeln!(out, "{}  {}  {}", n.id, n.hold_id, notice_line(n))?
                        }
                    }
                }
                if format == crate::Format::Human {
                    let count = |s| list.iter().filter(|n| n.status() == s).count();
                    writeln!(
                        out,
                        "{} notice{} ({} pending, {} failed, {} sent)",
                        list.len(),
                        if list.len() == 1 { "" } else { "s" },
                        count(NoticeStatus::Pending),
                        count(NoticeStatus::Failed),
                        count(NoticeStatus::Sent),
                    )?;
                }
                Ok(0)
            }
            HoldsCommand::RequeueNotice { id, config, actor: who } => {
                let config = load_config(&config)?;
                let store = open_store(&config).await?;
                let n = store.notice_requeue(&id, &actor(who)).await.map_err(|e| {
                    let code = match &e {
                        doublecheck_store::StoreError::NotFound => EX_NOINPUT,
                        doublecheck_store::StoreError::Conflict(_)
                        | doublecheck_store::StoreError::Invalid(_) => EX_DATAERR,
                        _ => EX_IOERR,
                    };
                    fail(code, format!("{id}: {e}"))
                })?;
                writeln!(
                    out,
                    "{id} ({} notice of {}) queued again; `doublecheck serve` sends it",
                    n.event, n.hold_id
                )?;
                Ok(0)
            }
            HoldsCommand::Release { id, config, actor: who, reason } => {
                decide(&id, &config, Decision::Release, actor(who), reason).await
            }
            HoldsCommand::Reject { id, config, actor: who, reason } => {
                decide(&id, &config, Decision::Reject, actor(who), reason).await
            }
        }
    })
}

/// One notice in a line: event, status, recipient, when queued, attempts, and the next attempt
/// or the outcome, and the last error.
fn notice_line(n: &doublecheck_store::Notice) -> String {
    let status = n.status();
    let mut line = format!(
        "{:<8} {:<7} to {}  queued {}  {} attempt{}",
        n.event,
        status.as_str(),
        n.recipient,
        n.created_at(),
        n.attempts,
        if n.attempts == 1 { "" } else { "s" }
    );
    match status {
        NoticeStatus::Pending => {
            if let Some(t) = n.next_attempt_at_ms {
                line.push_str(&format!("  next {}", rfc3339(t)));
            }
        }
        NoticeStatus::Sent => {
            if let Some(t) = n.sent_at_ms {
                line.push_str(&format!("  sent {}", rfc3339(t)));
            }
        }
        NoticeStatus::Failed => {
            if let Some(t) = n.failed_at_ms {
                line.push_str(&format!("  given up {}", rfc3339(t)));
            }
        }
    }
    if status != NoticeStatus::Sent
        && let Some(e) = &n.last_error
    {
        line.push_str(&format!("  last error: {e}"));
    }
    line
}

/// How long `holds release` / `holds reject` wait for the notice to the sender.
const NOTICE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

async fn decide(
    id: &str,
    config: &ConfigArgs,
    decision: Decision,
    actor: String,
    reason: Option<String>,
) -> anyhow::Result<u8> {
    use doublecheck_gate::release::{self, Outcome, ReleaseError};
    let config = load_config(config)?;
    if config.database.url.is_none() && !config.data_dir.is_dir() {
        return Err(fail(
            EX_NOINPUT,
            format!(
                "no data directory at {} (start `doublecheck serve` first, or pass --data-dir)",
                config.data_dir.display()
            ),
        ));
    }
    // Problems sending the sender's notice are worth a line on standard error.
    init_logging_at("warn");
    let state = doublecheck_gate::serve::build_state(config)
        .await
        .map_err(|e| fail(EX_IOERR, e.to_string()))?;
    let result = match decision {
        Decision::Release => release::release(&state, id, &actor, reason.as_deref()).await,
        Decision::Reject => release::reject(&state, id, &actor, reason.as_deref()).await,
    };
    let outcome = result.map_err(|e| {
        let code = match &e {
            ReleaseError::Store(doublecheck_store::StoreError::NotFound) => EX_NOINPUT,
            ReleaseError::Store(doublecheck_store::StoreError::Conflict(_))
            | ReleaseError::Store(doublecheck_store::StoreError::Forbidden(_))
            | ReleaseError::AlreadyRejected => EX_DATAERR,
            _ => EX_IOERR,
        };
        fail(code, format!("{id}: {e}"))
    })?;
    let mut out = anstream::stdout();
    match outcome {
        Outcome::Delivered { sent, already } => writeln!(
            out,
            "{id} released by {actor}: {sent} delivered{}",
            if already > 0 {
                format!(", {already} delivered before")
            } else {
                String::new()
            }
        )?,
        Outcome::Mta { queue_id } => writeln!(
            out,
            "{id} released by {actor}: the MTA releases queue id {queue_id}"
        )?,
        Outcome::Rejected => writeln!(out, "{id} rejected by {actor}: it will not be delivered")?,
        Outcome::AwaitingApproval {
            approvals,
            required,
        } => {
            // Four eyes: still held, nothing delivered; exit 2 like any held message.
            writeln!(
                out,
                "{id}: approval by {actor} recorded ({approvals} of {required}); another \
                 reviewer must approve it before it is released — nothing was delivered"
            )?;
            return Ok(2);
        }
    }
    // The notice to the sender is stored with the decision and tried at once: wait for that
    // before exiting. Whatever is not sent by then stays queued for `doublecheck serve`.
    if !doublecheck_gate::notice::drain(NOTICE_WAIT).await {
        tracing::warn!(
            "the notice to the sender was not sent within {} s; it stays queued and \
             `doublecheck serve` keeps trying (see `doublecheck holds notices`)",
            NOTICE_WAIT.as_secs()
        );
    }
    Ok(0)
}

pub fn audit(cmd: AuditCommand) -> anyhow::Result<u8> {
    let rt = runtime()?;
    rt.block_on(async move {
        let AuditCommand::Verify { config } = cmd;
        let config = load_config(&config)?;
        let store = open_store(&config).await?;
        let report = store
            .audit_verify()
            .await
            .map_err(|e| fail(EX_IOERR, e.to_string()))?;
        let mut out = anstream::stdout();
        match report {
            doublecheck_store::AuditReport::Ok { entries, head_hash } => {
                writeln!(out, "audit log OK: {entries} entries, head {head_hash}")?;
                Ok(0)
            }
            doublecheck_store::AuditReport::Broken { seq, why, verified } => {
                writeln!(
                    out,
                    "audit log BROKEN at entry {seq}: {why} ({verified} entries before it verify)"
                )?;
                Ok(EX_DATAERR)
            }
        }
    })
}
