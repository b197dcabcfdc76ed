//! Policy: findings → an action.
//!
//! A policy is a TOML file (see `default.toml` for the built-in one and the README for every
//! key). Rules are conditions → an action; every matching rule is considered and the strictest
//! action wins (`allow < warn < bccify < explode < hold < reject`). In `audit` mode the verdict
//! says what would have happened and the action is `allow`.

mod load;

pub use load::{PolicyError, PolicyErrors};

use crate::finding::{Finding, Severity, id_matches};
use crate::settings::Settings;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What happens to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Deliver unchanged.
    Allow,
    /// Deliver, with `X-Doublecheck-*` headers (and a notice to the sender where configured).
    Warn,
    /// Remove the visible recipient lists; each recipient gets the message without seeing the others.
    Bccify,
    /// One message per recipient, each seeing only itself.
    Explode,
    /// Quarantine until a reviewer decides.
    Hold,
    /// Refuse (SMTP 550 5.7.1) with the reason and the fix.
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Warn => "warn",
            Action::Bccify => "bccify",
            Action::Explode => "explode",
            Action::Hold => "hold",
            Action::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "allow" => Action::Allow,
            "warn" => Action::Warn,
            "bccify" => Action::Bccify,
            "explode" => Action::Explode,
            "hold" => Action::Hold,
            "reject" => Action::Reject,
            _ => return None,
        })
    }

    pub const ALL: [Action; 6] = [
        Action::Allow,
        Action::Warn,
        Action::Bccify,
        Action::Explode,
        Action::Hold,
        Action::Reject,
    ];
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Enforce, or only report what would happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Enforce,
    Audit,
}

/// Which recipients a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every message.
    Any,
    /// At least one recipient outside the organization.
    External,
    /// Every recipient inside the organization.
    Internal,
}

/// One rule: conditions → action.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    pub name: String,
    /// At least one finding matches one of these id patterns.
    pub if_any: Vec<String>,
    /// Each of these id patterns matches at least one finding.
    pub if_all: Vec<String>,
    pub min_severity: Option<Severity>,
    /// Total `count` over the matching findings is at least this.
    pub min_count: Option<usize>,
    /// Only findings of these sub-kinds (`credit_card`, `us_ssn`, `reply_to_list`…).
    pub kinds: Vec<String>,
    pub sender_groups: Vec<String>,
    pub except_sender_groups: Vec<String>,
    pub recipients: Scope,
    pub action: Action,
    pub reason: Option<String>,
}

/// A named set of sender patterns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    pub name: String,
    pub patterns: Vec<String>,
}

/// A loaded, validated policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Policy {
    pub mode: Mode,
    pub settings: Settings,
    pub groups: Vec<Group>,
    pub rules: Vec<Rule>,
}

/// A rule that matched one message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatchedRule {
    pub name: String,
    pub action: Action,
    pub reason: String,
}

/// What the policy decided for one message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// The action to carry out (`allow` in audit mode).
    pub action: Action,
    /// The action the policy chose (equal to `action` unless in audit mode).
    pub would: Action,
    pub audit: bool,
    /// Matching rules, strictest first.
    pub rules: Vec<MatchedRule>,
}

/// Facts about a message besides its findings.
pub struct Facts<'a> {
    /// The sender identity used for group membership (AUTH user, else MAIL FROM, else From).
    pub sender: Option<&'a str>,
    pub has_external: bool,
}

impl Policy {
    /// The built-in policy.
    pub fn builtin() -> Policy {
        load::builtin()
    }

    /// Load a policy from TOML text; `origin` names the file in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Policy, PolicyErrors> {
        load::from_toml(text, origin)
    }

    /// Groups the sender belongs to.
    pub fn groups_of(&self, sender: &str) -> Vec<&str> {
        let sender = crate::party::normalize_address(sender);
        self.groups
            .iter()
            .filter(|g| {
                g.patterns
                    .iter()
                    .any(|p| wildcard_match(&p.to_lowercase(), &sender))
            })
            .map(|g| g.name.as_str())
            .collect()
    }

    /// Apply the rules to the findings of one message.
    pub fn decide(&self, findings: &[Finding], facts: &Facts<'_>) -> Decision {
        let groups = facts.sender.map(|s| self.groups_of(s)).unwrap_or_default();
        let mut matched: Vec<(usize, &Rule)> = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule_matches(rule, findings, facts, &groups) {
                matched.push((i, rule));
            }
        }
        // Strictest first; among equals, file order.
        matched.sort_by(|a, b| b.1.action.cmp(&a.1.action).then(a.0.cmp(&b.0)));
        let would = matched.first().map_or(Action::Allow, |(_, r)| r.action);
        let audit = self.mode == Mode::Audit;
        Decision {
            action: if audit { Action::Allow } else { would },
            would,
            audit,
            rules: matched
                .into_iter()
                .map(|(_, r)| MatchedRule {
                    name: r.name.clone(),
                    action: r.action,
                    reason: r
                        .reason
                        .clone()
                        .unwrap_or_else(|| format!("Rule \"{}\" matched.", r.name)),
                })
                .collect(),
        }
    }
}

fn rule_matches(rule: &Rule, findings: &[Finding], facts: &Facts<'_>, groups: &[&str]) -> bool {
    match rule.recipients {
        Scope::Any => {}
        Scope::External if !facts.has_external => return false,
        Scope::Internal if facts.has_external => return false,
        _ => {}
    }
    if !rule.sender_groups.is_empty()
        && !rule
            .sender_groups
            .iter()
            .any(|g| groups.contains(&g.as_str()))
    {
        return false;
    }
    if rule
        .except_sender_groups
        .iter()
        .any(|g| groups.contains(&g.as_str()))
    {
        return false;
    }
    let passes = |f: &Finding| {
        rule.min_severity.is_none_or(|s| f.severity >= s)
            && (rule.kinds.is_empty()
                || f.kind
                    .as_deref()
                    .is_some_and(|k| rule.kinds.iter().any(|x| x == k)))
    };
    for p in &rule.if_all {
        if !findings.iter().any(|f| passes(f) && id_matches(p, f.id)) {
            return false;
        }
    }
    // The findings the rule is about, without collecting them.
    let relevant = |f: &&Finding| {
        passes(f)
            && if !rule.if_any.is_empty() {
                rule.if_any.iter().any(|p| id_matches(p, f.id))
            } else if !rule.if_all.is_empty() {
                rule.if_all.iter().any(|p| id_matches(p, f.id))
            } else {
                true
            }
    };
    // `if_any` needs a matching finding; a rule with only filters (severity, kinds, count)
    // needs a finding that passes them; `if_all` was checked above.
    let needs_one = !rule.if_any.is_empty()
        || (rule.if_all.is_empty()
            && (rule.min_severity.is_some() || !rule.kinds.is_empty() || rule.min_count.is_some()));
    if needs_one && !findings.iter().any(|f| relevant(&f)) {
        return false;
    }
    if let Some(n) = rule.min_count {
        let total: usize = findings.iter().filter(relevant).map(|f| f.count).sum();
        if total < n {
            return false;
        }
    }
    true
}

/// Glob with `*` (any run of characters), case-sensitive on already-lowered input. Linear time.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<usize> = None;
    let mut mark = 0usize;
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            pi += 1;
            mark = ti;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Location;

    fn finding(id: &'static str, severity: Severity) -> Finding {
        Finding::new(id, severity, Location::message())
    }

    fn facts(external: bool) -> Facts<'static> {
        Facts {
            sender: Some("agent@example.com"),
            has_external: external,
        }
    }

    #[test]
    fn builtin_stops_the_incident() {
        let p = Policy::builtin();
        let f = vec![
            finding("recipients.exposed", Severity::High),
            finding("content.solicits_sensitive", Severity::High),
        ];
        let d = p.decide(&f, &facts(true));
        assert_eq!(d.action, Action::Reject);
        assert_eq!(d.rules[0].name, "group request for sensitive documents");
        assert!(d.rules.len() >= 3, "{:?}", d.rules);
    }

    #[test]
    fn if_all_and_if_any_both_have_to_hold() {
        let p = Policy::builtin();
        // A request alone is held, not rejected: the group rule needs exposure or fan-out too.
        let d = p.decide(
            &[finding("content.solicits_sensitive", Severity::High)],
            &facts(true),
        );
        assert_eq!(d.action, Action::Hold);
        assert!(
            d.rules
                .iter()
                .all(|r| r.name != "group request for sensitive documents")
        );
    }

    #[test]
    fn builtin_bccifies_plain_exposure_and_allows_clean_mail() {
        let p = Policy::builtin();
        let d = p.decide(
            &[finding("recipients.exposed", Severity::Medium)],
            &facts(true),
        );
        assert_eq!(d.action, Action::Bccify);
        assert_eq!(p.decide(&[], &facts(true)).action, Action::Allow);
        // Internal-only mail is not bcc-ified.
        assert_eq!(
            p.decide(
                &[finding("recipients.exposed", Severity::Medium)],
                &facts(false)
            )
            .action,
            Action::Allow
        );
    }

    #[test]
    fn audit_mode_changes_nothing() {
        let mut p = Policy::builtin();
        p.mode = Mode::Audit;
        let d = p.decide(
            &[finding("content.solicits_sensitive", Severity::High)],
            &facts(true),
        );
        assert_eq!(d.action, Action::Allow);
        assert_eq!(d.would, Action::Hold);
        assert!(d.audit);
    }

    #[test]
    fn groups_and_min_count() {
        let p = Policy::from_toml(
            r#"
defaults = false
[groups]
new-agents = ["*@trainees.example.com", "bob@example.com"]
[[rules]]
name = "new agents to outside"
sender_groups = ["new-agents"]
recipients = "external"
action = "hold"
[[rules]]
name = "many cards"
if_any = ["content.sensitive_data"]
kinds = ["credit_card"]
min_count = 3
action = "reject"
"#,
            "t.toml",
        )
        .unwrap();
        let trainee = Facts {
            sender: Some("Amy@Trainees.example.com"),
            has_external: true,
        };
        assert_eq!(p.decide(&[], &trainee).action, Action::Hold);
        assert_eq!(p.decide(&[], &facts(true)).action, Action::Allow);
        let mut cards = finding("content.sensitive_data", Severity::High).kind("credit_card");
        cards.count = 2;
        assert_eq!(
            p.decide(std::slice::from_ref(&cards), &facts(true)).action,
            Action::Allow
        );
        cards.count = 3;
        assert_eq!(
            p.decide(std::slice::from_ref(&cards), &facts(true)).action,
            Action::Reject
        );
        let ssn = finding("content.sensitive_data", Severity::High)
            .kind("us_ssn")
            .count(5);
        assert_eq!(p.decide(&[ssn], &facts(true)).action, Action::Allow);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*@example.com", "a@example.com"));
        assert!(!wildcard_match("*@example.com", "a@example.com.evil"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("exact@x", "exact@x"));
    }
}
