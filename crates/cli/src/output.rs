//! Rendering verdicts: human (like a linter, colored on a terminal) and JSON (one object a line).

use anstyle::{AnsiColor, Style};
use doublecheck_engine::policy::Action;
use doublecheck_engine::{Severity, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

fn color(c: AnsiColor) -> Style {
    Style::new().fg_color(Some(c.into()))
}

fn action_style(a: Action) -> Style {
    match a {
        Action::Allow => color(AnsiColor::Green).bold(),
        Action::Warn => color(AnsiColor::Yellow).bold(),
        Action::Bccify | Action::Explode => color(AnsiColor::Cyan).bold(),
        Action::Hold => color(AnsiColor::Magenta).bold(),
        Action::Reject => color(AnsiColor::Red).bold(),
    }
}

fn severity_style(s: Severity) -> Style {
    match s {
        Severity::Info => DIM,
        Severity::Low => color(AnsiColor::Blue),
        Severity::Medium => color(AnsiColor::Yellow),
        Severity::High => color(AnsiColor::Red),
        Severity::Critical => color(AnsiColor::Red).bold(),
    }
}

/// The human-readable report for one message.
pub fn human(
    out: &mut impl Write,
    source: &str,
    v: &Verdict,
    verbose: bool,
) -> std::io::Result<()> {
    let a = v.would;
    let st = action_style(a);
    let label = a.as_str().to_uppercase();
    let audit = if v.audit {
        " (audit mode: delivered unchanged)"
    } else {
        ""
    };
    write!(out, "{BOLD}{source}{BOLD:#}: {st}{label}{st:#}{audit}")?;
    let hidden = if verbose {
        0
    } else {
        v.findings
            .iter()
            .filter(|f| f.severity == Severity::Info)
            .count()
    };
    let hidden_note = if hidden > 0 {
        format!(" ({hidden} informational, shown with --verbose)")
    } else {
        String::new()
    };
    match v.findings.len() {
        0 => writeln!(out, " {DIM}no findings{DIM:#}")?,
        1 => writeln!(out, " {DIM}1 finding{hidden_note}{DIM:#}")?,
        n => writeln!(out, " {DIM}{n} findings{hidden_note}{DIM:#}")?,
    }
    for f in &v.findings {
        if f.severity == Severity::Info && !verbose {
            continue;
        }
        let ss = severity_style(f.severity);
        let kind = f
            .kind
            .as_deref()
            .map(|k| format!(" ({k})"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {ss}{:<8}{ss:#} {BOLD}{}{BOLD:#}{kind}  {DIM}at {}{DIM:#}",
            f.severity.as_str(),
            f.id,
            f.location
        )?;
        if !f.evidence.is_empty() {
            writeln!(out, "           {}", f.evidence)?;
        }
        writeln!(out, "           {DIM}why:{DIM:#} {}", f.reason)?;
        writeln!(out, "           {DIM}fix:{DIM:#} {}", f.fix)?;
    }
    if let Some(r) = v.rules.first() {
        let rs = action_style(r.action);
        writeln!(
            out,
            "  {rs}→ {}{rs:#}: {} {DIM}[rule: {}]{DIM:#}",
            r.action, r.reason, r.name
        )?;
    }
    Ok(())
}

/// The JSON object for one message (stable field names, documented in the README).
#[derive(Serialize)]
pub struct JsonVerdict<'a> {
    pub source: &'a str,
    #[serde(flatten)]
    pub verdict: &'a Verdict,
    pub elapsed_us: u128,
}

/// Totals for the summary line.
#[derive(Default)]
pub struct Summary {
    pub messages: usize,
    pub bytes: usize,
    pub findings: BTreeMap<&'static str, usize>,
    pub actions: BTreeMap<Action, usize>,
    pub errors: usize,
}

impl Summary {
    pub fn add(&mut self, v: &Verdict) {
        self.messages += 1;
        self.bytes += v.size;
        for f in &v.findings {
            *self.findings.entry(f.id).or_default() += 1;
        }
        *self.actions.entry(v.would).or_default() += 1;
    }

    pub fn line(&self, elapsed: std::time::Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let actions: Vec<String> = Action::ALL
            .iter()
            .rev()
            .filter_map(|a| self.actions.get(a).map(|n| format!("{n} {}", past(*a))))
            .collect();
        let findings: Vec<String> = self
            .findings
            .iter()
            .map(|(id, n)| format!("{id} {n}"))
            .collect();
        let errors = if self.errors > 0 {
            format!(
                "; {} unreadable input{}",
                self.errors,
                if self.errors == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        format!(
            "{} message{} checked in {:.3}s ({:.0} msg/s, {:.1} MB/s): {}; findings: {}{errors}",
            self.messages,
            if self.messages == 1 { "" } else { "s" },
            secs,
            self.messages as f64 / secs,
            self.bytes as f64 / secs / 1e6,
            if actions.is_empty() {
                "none".to_string()
            } else {
                actions.join(", ")
            },
            if findings.is_empty() {
                "none".to_string()
            } else {
                findings.join(", ")
            },
        )
    }
}

fn past(a: Action) -> &'static str {
    match a {
        Action::Allow => "allowed",
        Action::Warn => "warned",
        Action::Bccify => "bcc-ified",
        Action::Explode => "exploded",
        Action::Hold => "held",
        Action::Reject => "rejected",
    }
}
