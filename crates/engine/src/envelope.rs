//! The SMTP envelope that travels with a message.

use serde::{Deserialize, Serialize};

/// Envelope sender and recipients. When a front-end has no envelope (a file on disk), build
/// one from the headers with [`Envelope::from_headers`] semantics: `Engine::check` fills an empty
/// envelope from From and To/Cc/Bcc.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// `MAIL FROM` (empty for the null sender).
    #[serde(default)]
    pub mail_from: Option<String>,
    /// `RCPT TO`, one entry per recipient.
    #[serde(default)]
    pub rcpt_to: Vec<String>,
    /// The SMTP AUTH identity, if the client authenticated.
    #[serde(default)]
    pub auth_user: Option<String>,
}

impl Envelope {
    pub fn new(mail_from: Option<&str>, rcpt_to: &[&str]) -> Envelope {
        Envelope {
            mail_from: mail_from.map(str::to_string),
            rcpt_to: rcpt_to.iter().map(|s| s.to_string()).collect(),
            auth_user: None,
        }
    }
}
