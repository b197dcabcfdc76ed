//! Who a recipient is: internal, a consumer mailbox (a party of its own), or an organization.

use crate::settings::Settings;

/// Consumer mail providers: every address at one of these is its own party.
pub const CONSUMER_PROVIDERS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "hotmail.es",
    "hotmail.de",
    "hotmail.it",
    "live.com",
    "live.co.uk",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.es",
    "yahoo.de",
    "yahoo.it",
    "yahoo.com.mx",
    "yahoo.com.ar",
    "yahoo.com.br",
    "ymail.com",
    "rocketmail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "protonmail.com",
    "proton.me",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "gmx.at",
    "gmx.ch",
    "web.de",
    "t-online.de",
    "mail.com",
    "zoho.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "cox.net",
    "charter.net",
    "bellsouth.net",
    "earthlink.net",
    "btinternet.com",
    "sky.com",
    "virginmedia.com",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "wanadoo.fr",
    "sfr.fr",
    "libero.it",
    "virgilio.it",
    "tiscali.it",
    "telefonica.net",
    "movistar.es",
    "terra.com.br",
    "uol.com.br",
    "bol.com.br",
    "qq.com",
    "163.com",
    "126.com",
    "naver.com",
    "hanmail.net",
    "rediffmail.com",
    "fastmail.com",
    "tutanota.com",
    "hey.com",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "interia.pl",
    "shaw.ca",
    "rogers.com",
    "sympatico.ca",
    "bigpond.com",
    "optusnet.com.au",
    "xtra.co.nz",
];

/// Well-known domains whose near misses are likely typos or impersonation.
pub const WELL_KNOWN_DOMAINS: &[&str] = &[
    "microsoft.com",
    "google.com",
    "apple.com",
    "amazon.com",
    "paypal.com",
    "facebook.com",
    "linkedin.com",
    "salesforce.com",
    "office365.com",
    "dropbox.com",
    "docusign.com",
    "irs.gov",
];

/// The party a recipient belongs to, for deciding who can see whom.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Party {
    /// One of the organization's own domains.
    Internal,
    /// A consumer mailbox: the address itself is the party.
    Person(String),
    /// Any other external domain: the domain is the party.
    Organization(String),
}

impl Party {
    pub fn is_internal(&self) -> bool {
        matches!(self, Party::Internal)
    }
}

/// Lower-cased address with surrounding angle brackets and whitespace removed.
pub fn normalize_address(addr: &str) -> String {
    addr.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_lowercase()
}

/// The domain of an address (after the last `@`), lower-cased, without a trailing dot.
pub fn domain_of(addr: &str) -> Option<&str> {
    let (_, d) = addr.rsplit_once('@')?;
    let d = d.trim().trim_end_matches('>').trim_end_matches('.');
    if d.is_empty() { None } else { Some(d) }
}

/// Is `domain` equal to `base` or a subdomain of it? Both lower-case.
pub fn domain_within(domain: &str, base: &str) -> bool {
    domain == base
        || (domain.len() > base.len()
            && domain.ends_with(base)
            && domain.as_bytes()[domain.len() - base.len() - 1] == b'.')
}

pub fn is_consumer_domain(domain: &str) -> bool {
    CONSUMER_PROVIDERS.contains(&domain)
}

/// Classify one (normalized) address.
pub fn party_of(addr: &str, settings: &Settings) -> Party {
    let Some(domain) = domain_of(addr) else {
        // No domain: a local name, delivered inside the organization.
        return Party::Internal;
    };
    if settings
        .org_domains
        .iter()
        .any(|o| domain_within(domain, o))
    {
        return Party::Internal;
    }
    if is_consumer_domain(domain) {
        return Party::Person(addr.to_string());
    }
    Party::Organization(domain.to_string())
}

/// Mask an address for evidence: `jane.doe@gmail.com` → `j***@gmail.com`.
pub fn mask_address(addr: &str) -> String {
    match addr.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => {
            let first: String = addr.chars().take(1).collect();
            format!("{first}***")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            org_domains: vec!["example.com".into()],
            ..Settings::default()
        }
    }

    #[test]
    fn classifies_parties() {
        let s = settings();
        assert_eq!(party_of("a@example.com", &s), Party::Internal);
        assert_eq!(party_of("a@mail.example.com", &s), Party::Internal);
        assert_eq!(
            party_of("a@badexample.com", &s),
            Party::Organization("badexample.com".into())
        );
        assert_eq!(
            party_of("x@gmail.com", &s),
            Party::Person("x@gmail.com".into())
        );
        assert_eq!(party_of("postmaster", &s), Party::Internal);
    }

    #[test]
    fn normalizes_and_masks() {
        assert_eq!(normalize_address(" <Jane@Gmail.COM> "), "jane@gmail.com");
        assert_eq!(mask_address("jane@gmail.com"), "j***@gmail.com");
        assert_eq!(mask_address("élodie@free.fr"), "é***@free.fr");
        assert_eq!(domain_of("a@b.com."), Some("b.com"));
        assert_eq!(domain_of("a@"), None);
    }
}
