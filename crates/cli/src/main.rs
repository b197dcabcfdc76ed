//! `doublecheck`: the command line.
//!
//! - `check`: run the engine on messages (files, directories, mbox, stdin) and print verdicts.
//! - `scan`: run only the sensitive-data scanner over plain text.
//! - `policy check|show`: validate a policy file, or print the built-in one.
//! - `serve`, `config init`, `holds list|show|release|reject`, `audit verify`: the gate.
//! - `user add|list|disable`: staff accounts of the review queue.
//! - `apikey create|list|revoke`: API keys of the verification portal's API.
//! - `verify send|list`: verification requests to customers, and the sessions.
//! - `keys generate|rotate`: the master key of documents at rest.
//!
//! Exit codes: 0 everything allowed, 1 a warning, 2 something held, rewritten or rejected,
//! 64 usage error, 65 invalid policy or data, 66 input not found, 74 I/O error.

mod apikey_cmds;
mod gate_cmds;
mod input;
mod output;
mod portal_cmds;
mod user_cmds;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use doublecheck_engine::policy::Action;
use doublecheck_engine::{Engine, Envelope, Policy};
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

pub(crate) const EX_USAGE: u8 = 64;
pub(crate) const EX_DATAERR: u8 = 65;
pub(crate) const EX_NOINPUT: u8 = 66;
pub(crate) const EX_IOERR: u8 = 74;

#[derive(Parser)]
#[command(
    name = "doublecheck",
    version,
    about = "Stops the small email mistakes that become big data breaches.",
    long_about = "doublecheck double-checks outbound mail: exposed recipients, replies that fan out, \
requests for sensitive documents, sensitive data itself and misdirected recipients. A policy \
decides: allow, warn, hold for review, reject, or fix the message."
)]
struct Cli {
    /// When to use colors: auto (on a terminal), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto)]
    color: ColorWhen,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check messages (.eml files, directories, mbox files, or - for stdin).
    Check(CheckArgs),
    /// Find sensitive values in plain text (cards, SSNs, IBANs…), masked.
    Scan(ScanArgs),
    /// Validate or print a policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Run the gate: milter, SMTP relay and HTTP API, as configured.
    Serve(gate_cmds::ServeArgs),
    /// Write a commented configuration file.
    #[command(subcommand)]
    Config(gate_cmds::ConfigCommand),
    /// List, show, release or reject held messages.
    #[command(subcommand)]
    Holds(gate_cmds::HoldsCommand),
    /// Check the audit log's hash chain.
    #[command(subcommand)]
    Audit(gate_cmds::AuditCommand),
    /// Add, list or disable staff accounts of the review queue.
    #[command(subcommand)]
    User(user_cmds::UserCommand),
    /// Create, list or revoke API keys of the verification portal (dk_test_…, dk_live_…).
    #[command(subcommand)]
    Apikey(apikey_cmds::ApikeyCommand),
    /// Send a customer a verification request (their own message with a single-use link to
    /// the portal), or list verification sessions.
    #[command(subcommand)]
    Verify(portal_cmds::VerifyCommand),
    /// Generate a master key for documents at rest, or rotate to a new one.
    #[command(subcommand)]
    Keys(portal_cmds::KeysCommand),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Files, directories (searched recursively) or mbox files; - reads standard input.
    #[arg(value_name = "FILE|DIR|-", required = true)]
    inputs: Vec<String>,
    /// Envelope sender (default: the From address).
    #[arg(long, value_name = "ADDR")]
    mail_from: Option<String>,
    /// Envelope recipient, repeatable (default: the To, Cc and Bcc addresses).
    #[arg(long = "rcpt", value_name = "ADDR")]
    rcpt: Vec<String>,
    /// The organization's own domain, repeatable; added to the policy's org_domains.
    #[arg(long = "org-domain", value_name = "DOMAIN")]
    org_domain: Vec<String>,
    /// Policy file (TOML); default: the built-in policy.
    #[arg(long, value_name = "FILE")]
    policy: Option<String>,
    /// Output format: human, or json (one object per message and line).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also show informational findings.
    #[arg(long, short)]
    verbose: bool,
    /// Print only messages that are not allowed, and the summary.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
struct ScanArgs {
    /// Text files; - reads standard input (the default).
    #[arg(value_name = "FILE|-")]
    inputs: Vec<String>,
    /// Output format: human, or json (one object per match and line).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Lowest confidence reported: low, medium, high.
    #[arg(long, default_value = "medium", value_parser = ["low", "medium", "high"])]
    min_confidence: String,
    /// Only these types (repeatable): credit_card, us_ssn, iban, …
    #[arg(long = "kind", value_name = "KIND")]
    kinds: Vec<String>,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy file; errors are printed as FILE:LINE:COLUMN: message.
    Check {
        #[arg(value_name = "FILE")]
        file: String,
    },
    /// Print the built-in policy (a starting point for your own).
    Show,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => EX_USAGE,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.color {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    }
    .write_global();
    let result = match cli.command {
        Command::Check(args) => check(args),
        Command::Scan(args) => scan(args),
        Command::Policy(PolicyCommand::Check { file }) => policy_check(&file),
        Command::Serve(args) => gate_cmds::serve(args),
        Command::Config(cmd) => gate_cmds::config_cmd(cmd),
        Command::Holds(cmd) => gate_cmds::holds(cmd),
        Command::Audit(cmd) => gate_cmds::audit(cmd),
        Command::User(cmd) => user_cmds::user(cmd),
        Command::Apikey(cmd) => apikey_cmds::apikey(cmd),
        Command::Verify(cmd) => portal_cmds::verify(cmd),
        Command::Keys(cmd) => portal_cmds::keys(cmd),
        Command::Policy(PolicyCommand::Show) => {
            print!("{}", include_str!("../../engine/src/policy/default.toml"));
            Ok(0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = e.downcast_ref::<Fail>().map_or(EX_IOERR, |f| f.0);
            let mut err = anstream::stderr();
            let _ = writeln!(err, "doublecheck: error: {e:#}");
            ExitCode::from(code)
        }
    }
}

/// An error with a specific exit code.
#[derive(Debug)]
struct Fail(u8);

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Fail {}

pub(crate) fn fail(code: u8, msg: String) -> anyhow::Error {
    anyhow::Error::new(Fail(code)).context(msg)
}

fn load_policy(path: Option<&str>) -> anyhow::Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::builtin());
    };
    let text = std::fs::read(path).map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            EX_NOINPUT
        } else {
            EX_IOERR
        };
        fail(code, format!("cannot read policy {path}: {e}"))
    })?;
    let text =
        String::from_utf8(text).map_err(|_| fail(EX_DATAERR, format!("{path}: not UTF-8 text")))?;
    Policy::from_toml(&text, path).map_err(|e| fail(EX_DATAERR, format!("invalid policy:\n{e}")))
}

fn policy_check(path: &str) -> anyhow::Result<u8> {
    let p = load_policy(Some(path))?;
    let mut out = anstream::stdout();
    writeln!(
        out,
        "{path}: OK — mode {}, {} rules, {} groups, org_domains: {}",
        match p.mode {
            doublecheck_engine::Mode::Enforce => "enforce",
            doublecheck_engine::Mode::Audit => "audit",
        },
        p.rules.len(),
        p.groups.len(),
        if p.settings.org_domains.is_empty() {
            "none (every recipient counts as external)".to_string()
        } else {
            p.settings.org_domains.join(", ")
        }
    )?;
    Ok(0)
}

fn check(args: CheckArgs) -> anyhow::Result<u8> {
    let mut policy = load_policy(args.policy.as_deref())?;
    for d in &args.org_domain {
        let d = d.trim().trim_start_matches('@').to_lowercase();
        if d.is_empty() || !d.contains('.') {
            return Err(fail(
                EX_USAGE,
                format!("--org-domain {d:?} is not a domain name (like example.com)"),
            ));
        }
        if !policy.settings.org_domains.contains(&d) {
            policy.settings.org_domains.push(d);
        }
    }
    let engine = Engine::new(policy);
    let envelope = Envelope {
        mail_from: args.mail_from.clone(),
        rcpt_to: args.rcpt.clone(),
        auth_user: None,
    };
    let mut errors = Vec::new();
    let files = input::expand(&args.inputs, &mut errors);
    let mut out = anstream::stdout().lock();
    let mut err = anstream::stderr();
    let mut summary = output::Summary::default();
    let mut worst = Action::Allow;
    let start = Instant::now();
    for file in &files {
        let messages = match input::read(file) {
            Ok(m) => m,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for msg in messages {
            let t = Instant::now();
            let verdict = engine.check(&msg.raw, &envelope);
            let elapsed = t.elapsed();
            summary.add(&verdict);
            worst = worst.max(verdict.would);
            match args.format {
                Format::Json => {
                    let j = output::JsonVerdict {
                        source: &msg.source,
                        verdict: &verdict,
                        elapsed_us: elapsed.as_micros(),
                    };
                    serde_json::to_writer(&mut out, &j).context("writing JSON")?;
                    writeln!(out)?;
                }
                Format::Human => {
                    if !(args.quiet && verdict.would == Action::Allow) {
                        output::human(&mut out, &msg.source, &verdict, args.verbose)?;
                    }
                }
            }
        }
    }
    let elapsed = start.elapsed();
    out.flush()?;
    for e in &errors {
        writeln!(err, "doublecheck: {}: {}", e.source, e.message)?;
    }
    summary.errors = errors.len();
    match args.format {
        Format::Human => writeln!(out, "\n{}", summary.line(elapsed))?,
        Format::Json => writeln!(err, "{}", summary.line(elapsed))?,
    }
    if !errors.is_empty() {
        let code = if errors.iter().all(|e| e.not_found) {
            EX_NOINPUT
        } else {
            EX_IOERR
        };
        return Ok(code);
    }
    Ok(match worst {
        Action::Allow => 0,
        Action::Warn => 1,
        _ => 2,
    })
}

#[derive(serde::Serialize)]
struct JsonMatch<'a> {
    source: &'a str,
    kind: &'static str,
    start: usize,
    end: usize,
    confidence: &'static str,
    masked: &'a str,
}

fn scan(args: ScanArgs) -> anyhow::Result<u8> {
    use doublecheck_engine::pii::{Confidence, Kind, ScanOptions, Scanner};
    let min_confidence = match args.min_confidence.as_str() {
        "low" => Confidence::Low,
        "high" => Confidence::High,
        _ => Confidence::Medium,
    };
    let mut kinds = Vec::new();
    for k in &args.kinds {
        match Kind::parse(k) {
            Some(k) => kinds.push(k),
            None => {
                let known: Vec<&str> = Kind::all().iter().map(|k| k.as_str()).collect();
                return Err(fail(
                    EX_USAGE,
                    format!("unknown --kind {k:?}; known kinds: {}", known.join(", ")),
                ));
            }
        }
    }
    if kinds.is_empty() {
        kinds = Kind::all().to_vec();
    }
    let scanner = Scanner::new(ScanOptions {
        kinds,
        min_confidence,
        ..ScanOptions::default()
    });
    let inputs = if args.inputs.is_empty() {
        vec!["-".to_string()]
    } else {
        args.inputs.clone()
    };
    let mut out = anstream::stdout().lock();
    let mut err = anstream::stderr();
    let mut errors = Vec::new();
    let (mut bytes, mut matches) = (0usize, 0usize);
    let start = Instant::now();
    for path in &inputs {
        let raw = match read_plain(path) {
            Ok(r) => r,
            Err(e) => {
                errors.push((path.clone(), e));
                continue;
            }
        };
        let text = String::from_utf8_lossy(&raw);
        bytes += raw.len();
        let source = if path == "-" {
            "<stdin>"
        } else {
            path.as_str()
        };
        for m in scanner.scan(&text) {
            matches += 1;
            let confidence = match m.confidence {
                Confidence::Low => "low",
                Confidence::Medium => "medium",
                Confidence::High => "high",
            };
            match args.format {
                Format::Json => {
                    let j = JsonMatch {
                        source,
                        kind: m.kind.as_str(),
                        start: m.start,
                        end: m.end,
                        confidence,
                        masked: &m.masked,
                    };
                    serde_json::to_writer(&mut out, &j)?;
                    writeln!(out)?;
                }
                Format::Human => {
                    writeln!(
                        out,
                        "{source}:{}..{}  {:<18} {:<6}  {}",
                        m.start,
                        m.end,
                        m.kind.as_str(),
                        confidence,
                        m.masked
                    )?;
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    for (p, e) in &errors {
        writeln!(err, "doublecheck: {p}: {e}")?;
    }
    writeln!(
        err,
        "{matches} match{} in {bytes} bytes ({:.1} MB/s)",
        if matches == 1 { "" } else { "es" },
        bytes as f64 / secs / 1e6
    )?;
    if !errors.is_empty() {
        return Ok(EX_NOINPUT);
    }
    Ok(if matches > 0 { 1 } else { 0 })
}

fn read_plain(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut raw = Vec::new();
    let limit = input::MAX_FILE_BYTES;
    let r = if path == "-" {
        std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut raw)
    } else {
        match std::fs::File::open(path) {
            Ok(f) => f.take(limit + 1).read_to_end(&mut raw),
            Err(e) => return Err(e.to_string()),
        }
    };
    r.map_err(|e| e.to_string())?;
    if raw.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(raw)
}
