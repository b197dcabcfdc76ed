//! Delivery to the upstream MTA (a smarthost, or Postfix's re-injection port) over SMTP, and
//! `explode`: one copy per recipient, each delivered exactly once across retries.

use crate::state::AppState;
use mail_send::SmtpClientBuilder;
use mail_send::smtp::message::{Address, Message, Parameters};
use std::sync::Arc;
use std::time::Duration;

/// How long one conversation with the upstream may take (connect, each reply, the data).
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the upstream did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Try again later: unreachable, timed out, a 4xx reply, a broken conversation.
    #[error("temporary delivery failure: {0}")]
    Temporary(String),
    /// The upstream refused for good: its 5xx reply (`"550 5.1.1 text"`).
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

impl DeliveryError {
    /// The SMTP reply to give our client: 451 4.4.1 for a temporary failure; the upstream's
    /// own 5xx code, status and text for a permanent one.
    pub fn smtp_reply(&self) -> String {
        match self {
            DeliveryError::Temporary(_) => {
                "451 4.4.1 Upstream unavailable; try again later".to_string()
            }
            DeliveryError::Permanent(text) => {
                let text = doublecheck_engine::verdict::ascii_line(text, 400);
                let code_ok = text.len() >= 4
                    && text.as_bytes()[0] == b'5'
                    && text.as_bytes()[..3].iter().all(u8::is_ascii_digit)
                    && text.as_bytes()[3] == b' ';
                if !code_ok {
                    return format!("554 5.0.0 Upstream refused the message: {text}");
                }
                let rest = &text[4..];
                let has_status = rest
                    .split(' ')
                    .next()
                    .is_some_and(|s| s.starts_with("5.") && s.split('.').count() == 3);
                if has_status {
                    text
                } else {
                    format!("{} 5.0.0 {rest}", &text[..3])
                }
            }
        }
    }
}

fn classify(e: mail_send::Error) -> DeliveryError {
    match e {
        mail_send::Error::UnexpectedReply(r) | mail_send::Error::AuthenticationFailed(r) => {
            let status = if r.esc[0] != 0 {
                format!("{}.{}.{} ", r.esc[0], r.esc[1], r.esc[2])
            } else {
                String::new()
            };
            let text = format!("{} {status}{}", r.code, r.message);
            if (500..600).contains(&r.code) {
                DeliveryError::Permanent(text)
            } else {
                DeliveryError::Temporary(text)
            }
        }
        mail_send::Error::Io(e) => DeliveryError::Temporary(format!("connection: {e}")),
        mail_send::Error::Timeout => DeliveryError::Temporary("timed out".into()),
        other => DeliveryError::Temporary(other.to_string()),
    }
}

/// A TLS connector the builder requires; the upstream is spoken to in clear (loopback or a
/// trusted network), so it is never used to connect.
fn unused_tls_connector() -> tokio_rustls::TlsConnector {
    static CONNECTOR: std::sync::OnceLock<tokio_rustls::TlsConnector> = std::sync::OnceLock::new();
    CONNECTOR
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap_or_else(|e| panic!("the ring provider supports TLS 1.2 and 1.3: {e}"))
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            tokio_rustls::TlsConnector::from(Arc::new(config))
        })
        .clone()
}

/// Send `raw` from `mail_from` to `rcpts` through the upstream at `host:port`. Returns once the
/// upstream accepted the message (its 250 after the data).
pub async fn send(
    upstream: &str,
    mail_from: &str,
    rcpts: &[String],
    raw: &[u8],
) -> Result<(), DeliveryError> {
    let (host, port) = upstream
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
        .ok_or_else(|| DeliveryError::Permanent(format!("invalid upstream {upstream:?}")))?;
    if rcpts.is_empty() {
        return Err(DeliveryError::Permanent("no recipients".into()));
    }
    let mut client = SmtpClientBuilder::new_with_tls_connector(host, port, unused_tls_connector())
        .implicit_tls(false)
        .timeout(UPSTREAM_TIMEOUT)
        .helo_host("doublecheck")
        .connect_plain()
        .await
        .map_err(classify)?;
    // Small SMTP writes must not wait for the upstream's delayed ACK (Nagle): ~40 ms a message.
    let _ = client.stream.set_nodelay(true);
    let mut params = Parameters::new();
    if raw.iter().any(|b| *b >= 0x80) {
        params.add(("BODY", "8BITMIME"));
    }
    if !mail_from.is_ascii() || rcpts.iter().any(|r| !r.is_ascii()) {
        params.add("SMTPUTF8");
    }
    // mail-send ends the data with CRLF "." CRLF itself: give it the message without its last
    // line break so nothing is added.
    let body = raw
        .strip_suffix(b"\r\n")
        .or_else(|| raw.strip_suffix(b"\n"))
        .unwrap_or(raw);
    let message = Message {
        mail_from: Address::new(mail_from, params),
        rcpt_to: rcpts
            .iter()
            .map(|r| Address::new(r.as_str(), Parameters::new()))
            .collect(),
        body: body.into(),
    };
    client.send(message).await.map_err(classify)?;
    let _ = client.quit().await;
    Ok(())
}

/// What [`explode`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExplodeReport {
    /// Copies sent now.
    pub delivered: usize,
    /// Copies skipped because an earlier attempt delivered them.
    pub skipped: usize,
}

/// The key under which the copies of one message are recorded: the SHA-256 of the envelope
/// and the raw message, so a client's retry of the same message finds the same records.
pub fn message_key(mail_from: &str, rcpts: &[String], raw: &[u8]) -> String {
    let mut buf = Vec::with_capacity(raw.len() + 256);
    buf.extend_from_slice(mail_from.as_bytes());
    buf.push(0);
    for r in rcpts {
        buf.extend_from_slice(r.as_bytes());
        buf.push(0);
    }
    buf.push(0);
    buf.extend_from_slice(raw);
    format!("msg_{}", doublecheck_store::sha256_hex(&buf))
}

/// One message per recipient, each with only that recipient in To, sent to that recipient
/// alone. Each copy is claimed in the store before it is sent and marked delivered after the
/// upstream accepted it; copies an earlier attempt delivered are skipped. Stops at the first
/// failure (the caller answers 4xx and the client retries; the retry sends only what is left).
///
/// `verify_link`: the message carries the `{{verify_link}}` placeholder (a message whose raw
/// text has it literally is treated so either way): each copy gets its recipient's own
/// verification link ([`crate::verify_link::link_for`]: a session per (message, recipient),
/// reused by retries, and a fresh link). When links cannot be made (the portal is disabled,
/// the placeholder is encoded) nothing is sent: a permanent failure whose text says why.
pub async fn explode(
    state: &AppState,
    message_key: &str,
    upstream: &str,
    mail_from: &str,
    rcpts: &[String],
    raw: &[u8],
    verify_link: bool,
) -> Result<ExplodeReport, DeliveryError> {
    let verify_link = verify_link || crate::verify_link::contains_placeholder(raw);
    if verify_link && let Some(why) = crate::verify_link::unavailable(&state.config, raw) {
        return Err(DeliveryError::Permanent(why));
    }
    let mut report = ExplodeReport::default();
    let store_err = |e: doublecheck_store::StoreError| {
        DeliveryError::Temporary(format!("recording deliveries: {e}"))
    };
    for rcpt in rcpts {
        if !state
            .store
            .delivery_claim(message_key, rcpt)
            .await
            .map_err(store_err)?
        {
            report.skipped += 1;
            continue;
        }
        let link = if verify_link {
            let made = crate::verify_link::link_for(state, message_key, rcpt, mail_from).await;
            Some(made.map_err(|e| link_error(rcpt, e))?)
        } else {
            None
        };
        let copy = doublecheck_engine::rewrite::for_recipient(raw, rcpt, link.as_deref());
        send(upstream, mail_from, std::slice::from_ref(rcpt), &copy).await?;
        state
            .store
            .delivery_done(message_key, rcpt)
            .await
            .map_err(store_err)?;
        report.delivered += 1;
    }
    Ok(report)
}

/// A verification link that could not be made: permanent when the request itself is refused
/// (an address the portal does not take, a session closed meanwhile), temporary otherwise.
fn link_error(rcpt: &str, e: doublecheck_store::StoreError) -> DeliveryError {
    use doublecheck_store::StoreError as E;
    match e {
        E::Invalid(_) | E::Conflict(_) | E::InvalidTransition { .. } => {
            DeliveryError::Permanent(format!("550 5.7.1 no verification link for {rcpt}: {e}"))
        }
        other => DeliveryError::Temporary(format!("verification link for {rcpt}: {other}")),
    }
}
