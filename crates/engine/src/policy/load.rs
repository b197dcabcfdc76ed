//! Reading a policy file: TOML → validated [`Policy`], with `file:line:column` errors.

use super::{Action, Group, Mode, Policy, Rule, Scope};
use crate::finding::{Severity, id_pattern_known};
use crate::settings::Settings;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::fmt;

const BUILTIN: &str = include_str!("default.toml");

/// One problem in a policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.origin, self.line, self.column, self.message
        )
    }
}

/// Every problem found in a policy file (validation does not stop at the first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    defaults: Option<bool>,
    mode: Option<Mode>,
    org_domains: Option<Vec<Spanned<String>>>,
    partner_domains: Option<Vec<Spanned<String>>>,
    detectors: Option<RawDetectors>,
    limits: Option<RawLimits>,
    groups: Option<toml::Table>,
    rules: Option<Vec<Spanned<RawRule>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetectors {
    large_audience: Option<Spanned<i64>>,
    bulk_values: Option<Spanned<i64>>,
    exposed_high: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_message_bytes: Option<Spanned<i64>>,
    max_headers: Option<Spanned<i64>>,
    max_mime_depth: Option<Spanned<i64>>,
    max_parts: Option<Spanned<i64>>,
    max_text_bytes: Option<Spanned<i64>>,
    max_archive_depth: Option<Spanned<i64>>,
    max_archive_bytes: Option<Spanned<i64>>,
    max_archive_members: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    #[serde(default)]
    if_any: Vec<Spanned<String>>,
    #[serde(default)]
    if_all: Vec<Spanned<String>>,
    min_severity: Option<Severity>,
    min_count: Option<Spanned<i64>>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    sender_groups: Vec<Spanned<String>>,
    #[serde(default)]
    except_sender_groups: Vec<Spanned<String>>,
    recipients: Option<Scope>,
    action: Action,
    reason: Option<String>,
}

struct Ctx<'a> {
    text: &'a str,
    origin: &'a str,
    errors: Vec<PolicyError>,
}

impl Ctx<'_> {
    fn error(&mut self, offset: usize, message: String) {
        let (line, column) = line_col(self.text, offset);
        self.errors.push(PolicyError {
            origin: self.origin.to_string(),
            line,
            column,
            message,
        });
    }

    fn positive(&mut self, v: &Option<Spanned<i64>>, what: &str, max: i64) -> Option<usize> {
        let v = v.as_ref()?;
        let n = *v.get_ref();
        if n < 1 || n > max {
            self.error(
                v.span().start,
                format!("`{what}` must be between 1 and {max}, not {n}"),
            );
            return None;
        }
        usize::try_from(n).ok()
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

pub(super) fn builtin() -> Policy {
    match parse(BUILTIN, "<built-in policy>", false) {
        Ok(p) => p,
        // The built-in policy is tested; should it ever fail, refuse nothing silently:
        // fall back to an empty rule set in enforce mode is wrong, so keep a minimal safe rule.
        Err(_) => Policy {
            mode: Mode::Enforce,
            settings: Settings::default(),
            groups: Vec::new(),
            rules: vec![Rule {
                name: "built-in fallback".into(),
                if_any: vec![
                    "content.solicits_sensitive".into(),
                    "recipients.exposed".into(),
                ],
                if_all: Vec::new(),
                min_severity: None,
                min_count: None,
                kinds: Vec::new(),
                sender_groups: Vec::new(),
                except_sender_groups: Vec::new(),
                recipients: Scope::External,
                action: Action::Hold,
                reason: None,
            }],
        },
    }
}

pub(super) fn from_toml(text: &str, origin: &str) -> Result<Policy, PolicyErrors> {
    parse(text, origin, true)
}

fn parse(text: &str, origin: &str, allow_defaults: bool) -> Result<Policy, PolicyErrors> {
    let mut cx = Ctx {
        text,
        origin,
        errors: Vec::new(),
    };
    let raw: RawPolicy = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let offset = e.span().map_or(0, |s| s.start);
            let msg = e.message().trim().to_string();
            cx.error(offset, msg);
            return Err(PolicyErrors(cx.errors));
        }
    };

    let org_domains = domains(
        &mut cx,
        raw.org_domains.as_deref().unwrap_or_default(),
        "org_domains",
    );
    let partner_domains = domains(
        &mut cx,
        raw.partner_domains.as_deref().unwrap_or_default(),
        "partner_domains",
    );
    let mut settings = Settings {
        org_domains,
        partner_domains,
        ..Settings::default()
    };
    if let Some(d) = &raw.detectors {
        if let Some(n) = cx.positive(&d.large_audience, "detectors.large_audience", 1_000_000) {
            settings.large_audience = n;
        }
        if let Some(n) = cx.positive(&d.bulk_values, "detectors.bulk_values", 1_000_000) {
            settings.bulk_values = n;
        }
        if let Some(n) = cx.positive(&d.exposed_high, "detectors.exposed_high", 1_000_000) {
            settings.exposed_high = n;
        }
    }
    if let Some(l) = &raw.limits {
        let gib = 1i64 << 30;
        let lim = &mut settings.limits;
        if let Some(n) = cx.positive(&l.max_message_bytes, "limits.max_message_bytes", gib) {
            lim.max_message_bytes = n;
        }
        if let Some(n) = cx.positive(&l.max_headers, "limits.max_headers", 100_000) {
            lim.max_headers = n;
        }
        if let Some(n) = cx.positive(&l.max_mime_depth, "limits.max_mime_depth", 100) {
            lim.max_mime_depth = n;
        }
        if let Some(n) = cx.positive(&l.max_parts, "limits.max_parts", 100_000) {
            lim.max_parts = n;
        }
        if let Some(n) = cx.positive(&l.max_text_bytes, "limits.max_text_bytes", gib) {
            lim.max_text_bytes = n;
        }
        if let Some(n) = cx.positive(&l.max_archive_depth, "limits.max_archive_depth", 10) {
            lim.attachments.max_depth = n as u32;
        }
        if let Some(n) = cx.positive(&l.max_archive_bytes, "limits.max_archive_bytes", 4 * gib) {
            lim.attachments.max_expanded_bytes = n as u64;
        }
        if let Some(n) = cx.positive(
            &l.max_archive_members,
            "limits.max_archive_members",
            1_000_000,
        ) {
            lim.attachments.max_members = n;
        }
    }

    // Groups: name → list of sender patterns.
    let builtin_groups = if allow_defaults && raw.defaults != Some(false) {
        builtin().groups
    } else {
        Vec::new()
    };
    let mut groups: Vec<Group> = Vec::new();
    if let Some(table) = &raw.groups {
        let groups_at = text.find("[groups]").unwrap_or(0);
        for (name, value) in table {
            let at = find_key(text, groups_at, name);
            let Some(list) = value.as_array() else {
                cx.error(at, format!("group `{name}` must be a list of sender addresses or patterns, like [\"*@trainees.example.com\"]"));
                continue;
            };
            let mut patterns = Vec::new();
            for v in list {
                match v.as_str() {
                    Some(s) if !s.trim().is_empty() => patterns.push(s.trim().to_string()),
                    _ => cx.error(
                        at,
                        format!("group `{name}`: every entry must be a non-empty string"),
                    ),
                }
            }
            groups.push(Group {
                name: name.clone(),
                patterns,
            });
        }
    }
    for g in builtin_groups {
        if !groups.iter().any(|x| x.name == g.name) {
            groups.push(g);
        }
    }

    let mut rules = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for r in raw.rules.unwrap_or_default() {
        let rule_at = r.span().start;
        let r = r.into_inner();
        let name = r.name.get_ref().trim().to_string();
        if name.is_empty() {
            cx.error(r.name.span().start, "rule `name` must not be empty".into());
        } else if names.contains(&name) {
            cx.error(
                r.name.span().start,
                format!("two rules are named \"{name}\"; names must be unique"),
            );
        }
        names.push(name.clone());
        for p in r.if_any.iter().chain(&r.if_all) {
            if !id_pattern_known(p.get_ref()) {
                let suggestion = crate::finding::DETECTOR_IDS
                    .iter()
                    .find(|id| {
                        id.contains(p.get_ref().trim_end_matches(".*")) || p.get_ref().contains(*id)
                    })
                    .map(|id| format!("; did you mean `{id}`?"))
                    .unwrap_or_else(|| {
                        format!("; known ids: {}", crate::finding::DETECTOR_IDS.join(", "))
                    });
                cx.error(
                    p.span().start,
                    format!("unknown detector id `{}`{suggestion}", p.get_ref()),
                );
            }
        }
        for g in r.sender_groups.iter().chain(&r.except_sender_groups) {
            if !groups.iter().any(|x| &x.name == g.get_ref()) {
                cx.error(
                    g.span().start,
                    format!(
                        "unknown sender group `{}`; define it under [groups]",
                        g.get_ref()
                    ),
                );
            }
        }
        let min_count = cx.positive(&r.min_count, "min_count", 1_000_000_000);
        if r.if_any.is_empty()
            && r.if_all.is_empty()
            && r.sender_groups.is_empty()
            && r.min_severity.is_none()
            && r.recipients.is_none()
            && r.action != Action::Allow
        {
            cx.error(rule_at, format!("rule \"{name}\" has no condition and would {} every message; add if_any, if_all, sender_groups, min_severity or recipients", r.action));
        }
        rules.push(Rule {
            name,
            if_any: r.if_any.into_iter().map(Spanned::into_inner).collect(),
            if_all: r.if_all.into_iter().map(Spanned::into_inner).collect(),
            min_severity: r.min_severity,
            min_count,
            kinds: r.kinds,
            sender_groups: r
                .sender_groups
                .into_iter()
                .map(Spanned::into_inner)
                .collect(),
            except_sender_groups: r
                .except_sender_groups
                .into_iter()
                .map(Spanned::into_inner)
                .collect(),
            recipients: r.recipients.unwrap_or(Scope::Any),
            action: r.action,
            reason: r.reason,
        });
    }
    if allow_defaults && raw.defaults != Some(false) {
        for r in builtin().rules {
            if !rules.iter().any(|x| x.name == r.name) {
                rules.push(r);
            }
        }
    }
    if !cx.errors.is_empty() {
        cx.errors.sort_by_key(|e| (e.line, e.column));
        return Err(PolicyErrors(cx.errors));
    }
    Ok(Policy {
        mode: raw.mode.unwrap_or(Mode::Enforce),
        settings,
        groups,
        rules,
    })
}

fn find_key(text: &str, from: usize, key: &str) -> usize {
    text.get(from..)
        .and_then(|rest| rest.find(key))
        .map_or(from, |i| from + i)
}

fn domains(cx: &mut Ctx<'_>, list: &[Spanned<String>], what: &str) -> Vec<String> {
    let mut out = Vec::new();
    for d in list {
        let v = d.get_ref().trim().trim_start_matches('@').to_lowercase();
        let ok = !v.is_empty()
            && v.contains('.')
            && !v.starts_with('.')
            && !v.ends_with('.')
            && v.chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if ok {
            out.push(v);
        } else {
            cx.error(
                d.span().start,
                format!(
                    "`{what}`: \"{}\" is not a domain name (like \"example.com\")",
                    d.get_ref()
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match Policy::from_toml(text, "p.toml") {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn builtin_parses() {
        let p = parse(BUILTIN, "<built-in policy>", false).expect("built-in policy is valid");
        assert!(p.rules.len() >= 10);
        assert_eq!(p.mode, Mode::Enforce);
    }

    #[test]
    fn unknown_key_has_line_and_column() {
        let e = errors("mode = \"audit\"\norg_domain = [\"example.com\"]\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("p.toml:2:1:"), "{e:?}");
        assert!(e[0].contains("org_domain"), "{e:?}");
    }

    #[test]
    fn bad_values_are_reported_where_they_are() {
        let e = errors(
            "[[rules]]\nname = \"x\"\nif_any = [\"recipients.exposd\"]\naction = \"hold\"\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("p.toml:3:11:"), "{e:?}");
        assert!(
            e[0].contains("recipients.exposed"),
            "suggests the right id: {e:?}"
        );

        let e = errors(
            "[[rules]]\nname = \"x\"\nif_any = [\"recipients.exposed\"]\naction = \"quarantine\"\n",
        );
        assert!(e[0].starts_with("p.toml:4:"), "{e:?}");
        assert!(e[0].contains("hold"), "lists the valid actions: {e:?}");

        let e = errors("[detectors]\nlarge_audience = 0\n");
        assert!(e[0].starts_with("p.toml:2:18:"), "{e:?}");

        let e = errors("org_domains = [\"example.com\", \"not a domain\"]\n");
        assert!(e[0].starts_with("p.toml:1:31:"), "{e:?}");
    }

    #[test]
    fn unknown_group_and_duplicate_names() {
        let e = errors(
            "[[rules]]\nname = \"a\"\nsender_groups = [\"interns\"]\naction = \"hold\"\n[[rules]]\nname = \"a\"\nif_any = [\"attachments.*\"]\naction = \"warn\"\n",
        );
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("interns"));
        assert!(e[1].contains("unique"));
    }

    #[test]
    fn rule_without_condition_is_refused() {
        let e = errors("[[rules]]\nname = \"everything\"\naction = \"reject\"\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("p.toml:1:1:") || e[0].starts_with("p.toml:2:1:"),
            "{e:?}"
        );
    }

    #[test]
    fn defaults_are_kept_unless_disabled() {
        let p = Policy::from_toml("org_domains = [\"Example.com\"]\n", "p.toml").unwrap();
        assert_eq!(p.settings.org_domains, vec!["example.com".to_string()]);
        assert_eq!(p.rules.len(), builtin().rules.len());
        let p = Policy::from_toml("defaults = false\n", "p.toml").unwrap();
        assert!(p.rules.is_empty());
    }

    #[test]
    fn not_toml_at_all() {
        let e = errors("this is = = not toml");
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("p.toml:1:"), "{e:?}");
    }

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 3), (2, 1));
        assert_eq!(line_col("", 10), (1, 1));
    }
}
