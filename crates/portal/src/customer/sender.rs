//! How one-time codes reach the customer: [`CodeSender`], with an email implementation
//! (one message to one recipient through the gate's upstream, `smtp.upstream`) and an SMS
//! implementation that posts JSON to an HTTP hook (the deployment's SMS provider or relay),
//! configured by `[portal.sms]`.

use super::i18n::Lang;
use doublecheck_gate::delivery::{self, DeliveryError};
use doublecheck_gate::portal_config::hook_url;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A code to send.
#[derive(Debug, Clone, Copy)]
pub struct CodeMessage<'a> {
    /// An email address or a phone number in international form, from the session.
    pub to: &'a str,
    pub code: &'a str,
    pub lang: Lang,
    /// How long the code is valid, in minutes (the message says so).
    pub valid_minutes: u64,
}

/// A channel for one-time codes.
pub trait CodeSender: Send + Sync {
    /// `email` or `sms`: which contact detail of the session it sends to.
    fn channel(&self) -> &'static str;

    fn send<'a>(
        &'a self,
        m: CodeMessage<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// The text of a code message.
pub fn code_text(m: &CodeMessage<'_>) -> (&'static str, String) {
    match m.lang {
        Lang::En => (
            "Your verification code",
            format!(
                "Your verification code is {}. It is valid for {} minutes.\n\n\
                 If you did not ask for it, ignore this message. We never ask for documents by email.\n",
                m.code, m.valid_minutes
            ),
        ),
        Lang::Es => (
            "Su código de verificación",
            format!(
                "Su código de verificación es {}. Es válido durante {} minutos.\n\n\
                 Si no lo ha pedido, ignore este mensaje. Nunca pedimos documentos por correo electrónico.\n",
                m.code, m.valid_minutes
            ),
        ),
    }
}

/// Codes by email: one message, one recipient, through `smtp.upstream`.
#[derive(Debug, Clone)]
pub struct EmailCodeSender {
    pub upstream: Option<String>,
    pub from: String,
}

impl CodeSender for EmailCodeSender {
    fn channel(&self) -> &'static str {
        "email"
    }

    fn send<'a>(
        &'a self,
        m: CodeMessage<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let Some(upstream) = &self.upstream else {
                return Err("smtp.upstream is not set".into());
            };
            let (subject, body) = code_text(&m);
            let raw = crate::outbox::build_message(&self.from, m.to, subject, &body);
            if raw.is_empty() {
                return Err("the message could not be built".into());
            }
            let rcpt = [m.to.to_string()];
            match tokio::time::timeout(
                Duration::from_secs(30),
                delivery::send(upstream, &self.from, &rcpt, &raw),
            )
            .await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(DeliveryError::Temporary(e) | DeliveryError::Permanent(e))) => Err(e),
                Err(_) => Err("the upstream did not answer in 30 s".into()),
            }
        })
    }
}

/// Codes by SMS through an HTTP hook: `POST {url}` with
/// `{"to": "+34600000000", "message": "…", "channel": "sms"}` (JSON), and the authentication
/// header when one is set; any 2xx is success.
#[derive(Clone)]
pub struct SmsHookSender {
    pub url: String,
    client: reqwest::Client,
    auth: Option<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
}

impl std::fmt::Debug for SmsHookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsHookSender")
            .field("url", &self.url)
            .field("auth", &self.auth.as_ref().map(|(n, _)| n.as_str()))
            .finish()
    }
}

impl SmsHookSender {
    /// A hook at `url` (http or https, with a valid host and port), answering within
    /// `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<SmsHookSender, String> {
        hook_url("portal.sms.url", url, false)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(SmsHookSender {
            url: url.to_string(),
            client,
            auth: None,
        })
    }

    /// The same hook, authenticated by the header `name: value` on every request (the value
    /// is marked sensitive: never logged). Refused over `http://` unless the hook is on a
    /// loopback address: the value would travel in cleartext.
    pub fn with_auth(mut self, name: &str, value: &str) -> Result<SmsHookSender, String> {
        hook_url("portal.sms.url", &self.url, true)?;
        let n = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{name:?} is not a header name"))?;
        let mut v = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| format!("the value of the header {name} is not a valid header value"))?;
        v.set_sensitive(true);
        self.auth = Some((n, v));
        Ok(self)
    }

    /// The hook `[portal.sms]` describes, its header's value read through `env` from the
    /// variable `auth_env` names. Errors are sentences for the operator.
    pub fn from_config(
        cfg: &doublecheck_gate::portal_config::SmsConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<SmsHookSender, String> {
        let Some(url) = &cfg.url else {
            return Err("portal.sms.url is not set".into());
        };
        // The URL first, so that a hook refused for cleartext says so whatever the environment.
        hook_url("portal.sms.url", url, cfg.auth_env.is_some())?;
        let hook = SmsHookSender::new(url, Duration::from_secs(cfg.timeout_secs.max(1)))?;
        match cfg.auth_value(env)? {
            Some(v) => hook.with_auth(&cfg.auth_header, &v.0),
            None => Ok(hook),
        }
    }
}

/// A channel that cannot send (its configuration is unusable): every send fails with the
/// reason, so the pages say the code could not be sent rather than choose another channel.
#[derive(Debug, Clone)]
pub struct UnavailableSender(pub String);

impl CodeSender for UnavailableSender {
    fn channel(&self) -> &'static str {
        "sms"
    }

    fn send<'a>(
        &'a self,
        _m: CodeMessage<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move { Err(self.0.clone()) })
    }
}

impl CodeSender for SmsHookSender {
    fn channel(&self) -> &'static str {
        "sms"
    }

    fn send<'a>(
        &'a self,
        m: CodeMessage<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let (_, text) = code_text(&m);
            let body = serde_json::json!({
                "to": m.to,
                "message": text.trim_end(),
                "channel": "sms",
            })
            .to_string();
            let mut req = self
                .client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json");
            if let Some((n, v)) = &self.auth {
                req = req.header(n.clone(), v.clone());
            }
            let res = req
                .body(body)
                .send()
                .await
                // Without the URL: its query string may hold a key, and this ends up in logs.
                .map_err(|e| format!("SMS hook: {}", e.without_url()))?;
            if res.status().is_success() {
                Ok(())
            } else {
                Err(format!("SMS hook answered {}", res.status()))
            }
        })
    }
}
