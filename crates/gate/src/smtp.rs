//! The SMTP relay: an ESMTP server in front of a smarthost, or a Postfix `content_filter`.
//!
//! Extensions: SIZE, PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS (see
//! [`crate::tls`]). Commands are parsed with smtp-proto; lines are read with a bound. Limits:
//! connections (excess → `421 4.7.0`), recipients (`452 4.5.3`), message size (`552 5.3.4`, the
//! session stays usable), line length (`500 5.5.2`), idle time (`421 4.4.2`), and syntax errors
//! (after [`MAX_ERRORS`] → `421 4.7.0` and close).
//!
//! After the data, the message is checked and the verdict carried out; the client hears 250
//! only once the upstream accepted the message (allow, warn, bccify, every copy of explode) or
//! the store holds it durably (hold; the sender then gets a notice, see [`crate::notice`]). Upstream down → `451 4.4.1` (the client keeps the message
//! and retries); the upstream's permanent refusal is passed on; reject → `550 5.7.1` with the
//! reason and the fix; doublecheck's own failures follow `on_error` (default `451 4.3.0`).

use crate::config::OnError;
use crate::delivery::{self, DeliveryError};
use crate::state::AppState;
use doublecheck_engine::verdict::{Plan, ascii_line};
use doublecheck_engine::{Envelope, Verdict};
use doublecheck_store::NewHold;
use smtp_proto::Request;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Syntax errors and unknown commands tolerated in one session before it is closed.
pub const MAX_ERRORS: u32 = 10;
/// Longest command line, in bytes (RFC 5321 says 512; extensions make them longer).
pub const MAX_COMMAND_LINE: usize = 4096;

/// Serve SMTP on `listener` until `stop` turns true; then stop accepting, let sessions in the
/// middle of a message finish, and close idle ones with `421 4.3.2`.
pub async fn run(listener: TcpListener, state: AppState, stop: watch::Receiver<bool>) {
    let tls = if state.config.smtp.starttls {
        match crate::tls::acceptor(&state.config) {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(error = %e, "STARTTLS is not offered");
                None
            }
        }
    } else {
        None
    };
    if state.config.smtp.upstream.is_none() {
        tracing::warn!(
            "SMTP relay without an upstream: allowed mail is answered 451 4.3.5 until smtp.upstream is set"
        );
    }
    let users = match &state.config.smtp.auth_users_file {
        None => None,
        Some(path) => match load_users(path) {
            Ok(u) => Some(Arc::new(u)),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "AUTH is not offered: cannot read the users file");
                None
            }
        },
    };
    let limit = Arc::new(Semaphore::new(state.config.smtp.max_connections));
    let shared = Arc::new(Shared { state, tls, users });
    let mut sessions = tokio::task::JoinSet::new();
    let mut stopping = stop.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut stopping) => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let _ = sock.set_nodelay(true);
                    match limit.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let shared = shared.clone();
                            let stop = stop.clone();
                            sessions.spawn(async move {
                                Session::new(shared, sock, peer, stop).run().await;
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            tracing::warn!(%peer, "SMTP connection refused: too many connections");
                            sessions.spawn(async move {
                                let mut sock = sock;
                                let _ = tokio::time::timeout(
                                    Duration::from_secs(5),
                                    sock.write_all(b"421 4.7.0 Too many connections, try again later\r\n"),
                                )
                                .await;
                                let _ = sock.shutdown().await;
                            });
                        }
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "SMTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    while sessions.join_next().await.is_some() {}
}

/// Completes once the stop signal is true (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

struct Shared {
    state: AppState,
    tls: Option<TlsAcceptor>,
    /// AUTH users: name → argon2 hash (PHC string).
    users: Option<Arc<HashMap<String, String>>>,
}

/// Read a users file: `user:argon2-hash` lines; blank lines and `#` comments are skipped.
pub fn load_users(path: &std::path::Path) -> io::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)?;
    let mut users = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {}: expected user:argon2-hash", n + 1),
            ));
        };
        if argon2::PasswordHash::new(hash.trim()).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {}: the hash is not an argon2 PHC string", n + 1),
            ));
        }
        users.insert(user.trim().to_string(), hash.trim().to_string());
    }
    Ok(users)
}

/// Verified against when the user is unknown, so that costs as much as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2FsU9G/2ZPqaYVlbaG7Mna8Hd7wM3P6JLyfLUQ23EIw";

/// Check a password against the user's argon2 hash, off the async runtime (it is slow on
/// purpose). Unknown users cost the same as known ones.
async fn verify_password(
    users: Arc<HashMap<String, String>>,
    user: String,
    password: String,
) -> bool {
    tokio::task::spawn_blocking(move || {
        use argon2::PasswordVerifier;
        let (hash, known) = match users.get(&user) {
            Some(h) => (h.as_str(), true),
            None => (DUMMY_HASH, false),
        };
        let Ok(parsed) = argon2::PasswordHash::new(hash) else {
            return false;
        };
        let ok = argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && known
    })
    .await
    .unwrap_or(false)
}

/// The client's connection, in clear or after STARTTLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Closed,
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Closed => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::Closed => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Closed => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// One line read with a bound.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A whole line, its line break included.
    Full,
    /// Longer than the bound: read to its end and dropped.
    TooLong,
    /// The client closed the connection (a last line without a line break is dropped).
    Eof,
}

/// Read one line (up to and including LF) into `out`, never holding more than `max` bytes.
async fn read_line(r: &mut BufReader<Conn>, out: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    out.clear();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::Eof);
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !too_long {
            if out.len() + take > max {
                too_long = true;
                out.clear();
            } else {
                out.extend_from_slice(&buf[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Full });
        }
    }
}

/// An SMTP reply: `code status text`, wrapped over several lines when the text is long.
fn reply(code: u16, status: &str, text: &str) -> String {
    let text = ascii_line(text, 4000);
    let mut lines: Vec<&str> = Vec::new();
    let mut rest = text.as_str();
    while rest.len() > 400 {
        let cut = rest[..400].rfind(' ').filter(|&c| c > 0).unwrap_or(400);
        lines.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
    lines.push(rest);
    let mut out = String::with_capacity(text.len() + 16 * lines.len());
    for (i, l) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.push_str(&format!("{code}{sep}{status} {l}\r\n"));
    }
    out
}

/// For a message refused because it asks for sensitive documents: how to send a verification
/// request instead, with the API example against this portal (the engine's text already
/// names the CLI). Wrapped by [`reply`] into lines of at most 400 characters.
fn safe_way(state: &AppState, verdict: &Verdict) -> Option<String> {
    let asks = verdict
        .findings
        .iter()
        .any(|f| f.id == "content.solicits_sensitive");
    if !asks {
        return None;
    }
    let base = crate::verify_link::public_url(&state.config);
    Some(format!(
        "API example: {}",
        crate::notice::verify_api_example(&base)
    ))
}

/// Decode base64 leniently (an invalid string decodes to nothing, which fails the check).
fn decode_b64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or_default()
}

fn queue_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{:08X}{:06X}", secs & 0xFFFF_FFFF, n & 0xFF_FFFF)
}

/// What the session ended its turn with.
enum Next {
    Continue,
    Close,
}

struct Session {
    shared: Arc<Shared>,
    io: BufReader<Conn>,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
    tls_active: bool,
    helo: Option<String>,
    mail_from: Option<String>,
    body_8bit: bool,
    smtputf8: bool,
    rcpts: Vec<String>,
    errors: u32,
    line: Vec<u8>,
    auth_user: Option<String>,
}

impl Session {
    fn new(
        shared: Arc<Shared>,
        sock: TcpStream,
        peer: SocketAddr,
        stop: watch::Receiver<bool>,
    ) -> Session {
        Session {
            shared,
            io: BufReader::with_capacity(16 * 1024, Conn::Plain(sock)),
            peer,
            stop,
            tls_active: false,
            helo: None,
            mail_from: None,
            body_8bit: false,
            smtputf8: false,
            rcpts: Vec::new(),
            errors: 0,
            line: Vec::new(),
            auth_user: None,
        }
    }

    fn idle(&self) -> Duration {
        Duration::from_secs(self.shared.state.config.smtp.idle_timeout_secs.max(1))
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.body_8bit = false;
        self.smtputf8 = false;
        self.rcpts.clear();
    }

    async fn send(&mut self, text: &str) -> io::Result<()> {
        let idle = self.idle();
        let io = self.io.get_mut();
        match tokio::time::timeout(idle, async {
            io.write_all(text.as_bytes()).await?;
            io.flush().await
        })
        .await
        {
            Ok(r) => r,
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        }
    }

    async fn close(&mut self, text: &str) {
        let _ = self.send(text).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.io.get_mut().shutdown()).await;
    }

    async fn run(mut self) {
        let host = self.shared.state.config.smtp.hostname.clone();
        if self
            .send(&format!("220 {host} ESMTP doublecheck\r\n"))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let idle = self.idle();
            let read = tokio::select! {
                biased;
                r = tokio::time::timeout(idle, read_line(&mut self.io, &mut self.line, MAX_COMMAND_LINE)) => Some(r),
                _ = stopped(&mut self.stop) => None,
            };
            let Some(read) = read else {
                self.close("421 4.3.2 Service shutting down, try again later\r\n")
                    .await;
                return;
            };
            let line = match read {
                Err(_) => {
                    self.close("421 4.4.2 Idle for too long, closing connection\r\n")
                        .await;
                    return;
                }
                Ok(Err(_)) | Ok(Ok(Line::Eof)) => return,
                Ok(Ok(Line::TooLong)) => {
                    if self.error("500 5.5.2 Line too long\r\n").await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(Ok(Line::Full)) => std::mem::take(&mut self.line),
            };
            let next = self.command(&line).await;
            self.line = line;
            match next {
                Ok(Next::Continue) => {}
                Ok(Next::Close) | Err(_) => return,
            }
        }
    }

    /// Answer a client error; after too many, close the session.
    async fn error(&mut self, text: &str) -> io::Result<()> {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            self.close("421 4.7.0 Too many errors, closing connection\r\n")
                .await;
            return Err(io::ErrorKind::InvalidData.into());
        }
        self.send(text).await
    }

    async fn command(&mut self, line: &[u8]) -> io::Result<Next> {
        let request = Request::parse(&mut line.iter()).map(Request::into_owned);
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                let text = match e {
                    smtp_proto::Error::UnknownCommand | smtp_proto::Error::NeedsMoreData { .. } => {
                        "500 5.5.2 Syntax error, command unrecognized\r\n".to_string()
                    }
                    smtp_proto::Error::SyntaxError { syntax } => {
                        format!("501 5.5.4 Syntax: {syntax}\r\n")
                    }
                    smtp_proto::Error::InvalidSenderAddress => {
                        "501 5.1.7 Invalid sender address\r\n".to_string()
                    }
                    smtp_proto::Error::InvalidRecipientAddress => {
                        "501 5.1.3 Invalid recipient address\r\n".to_string()
                    }
                    smtp_proto::Error::InvalidParameter { param } => {
                        format!("501 5.5.4 Invalid value for {param}\r\n")
                    }
                    smtp_proto::Error::UnsupportedParameter { .. } => {
                        "555 5.5.4 Unsupported parameter\r\n".to_string()
                    }
                    _ => "500 5.5.2 Syntax error\r\n".to_string(),
                };
                self.error(&text).await?;
                return Ok(Next::Continue);
            }
        };
        let config = &self.shared.state.config.smtp;
        let max_size = config.max_message_bytes;
        let max_rcpts = config.max_recipients;
        let host = config.hostname.clone();
        match request {
            Request::Ehlo { host: client } => {
                self.reset();
                self.helo = Some(client.clone());
                let mut r = format!("250-{host} Hello {}\r\n", ascii_line(&client, 200));
                r.push_str(&format!("250-SIZE {max_size}\r\n"));
                r.push_str("250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n");
                r.push_str("250-ENHANCEDSTATUSCODES\r\n");
                if self.shared.tls.is_some() && !self.tls_active {
                    r.push_str("250-STARTTLS\r\n");
                }
                if self.auth_offered() && self.auth_user.is_none() {
                    r.push_str("250-AUTH PLAIN LOGIN\r\n");
                }
                r.push_str("250 HELP\r\n");
                self.send(&r).await?;
            }
            Request::Helo { host: client } | Request::Lhlo { host: client } => {
                self.reset();
                self.helo = Some(client);
                self.send(&format!("250 {host}\r\n")).await?;
            }
            Request::Mail { from } => {
                if self.helo.is_none() {
                    self.error("503 5.5.1 Send EHLO or HELO first\r\n").await?;
                } else if self.mail_from.is_some() {
                    self.error("503 5.5.1 Sender already given\r\n").await?;
                } else if self.shared.state.config.smtp.auth_required && self.auth_user.is_none() {
                    self.error("530 5.7.0 Authentication required\r\n").await?;
                } else if from.size > max_size {
                    self.send(&format!(
                        "552 5.3.4 Message too big: the limit is {max_size} bytes\r\n"
                    ))
                    .await?;
                } else {
                    self.mail_from = Some(from.address);
                    self.body_8bit = from.flags & smtp_proto::MAIL_BODY_8BITMIME != 0;
                    self.smtputf8 = from.flags & smtp_proto::MAIL_SMTPUTF8 != 0;
                    self.send("250 2.1.0 Sender OK\r\n").await?;
                }
            }
            Request::Rcpt { to } => {
                if self.mail_from.is_none() {
                    self.error("503 5.5.1 Need MAIL before RCPT\r\n").await?;
                } else if to.address.is_empty() {
                    self.error("501 5.1.3 Empty recipient address\r\n").await?;
                } else if self.rcpts.len() >= max_rcpts {
                    self.send("452 4.5.3 Too many recipients\r\n").await?;
                } else {
                    self.rcpts.push(to.address);
                    self.send("250 2.1.5 Recipient OK\r\n").await?;
                }
            }
            Request::Data => {
                if self.mail_from.is_none() {
                    self.error("503 5.5.1 Need MAIL before DATA\r\n").await?;
                } else if self.rcpts.is_empty() {
                    self.error("503 5.5.1 Need RCPT before DATA\r\n").await?;
                } else {
                    self.send("354 Start mail input; end with <CRLF>.<CRLF>\r\n")
                        .await?;
                    return self.data().await;
                }
            }
            Request::Rset => {
                self.reset();
                self.send("250 2.0.0 OK\r\n").await?;
            }
            Request::Noop { .. } => self.send("250 2.0.0 OK\r\n").await?,
            Request::Quit => {
                self.close("221 2.0.0 Bye\r\n").await;
                return Ok(Next::Close);
            }
            Request::Vrfy { .. } => {
                self.send("252 2.5.0 Cannot verify the user, but will accept the message\r\n")
                    .await?
            }
            Request::Help { .. } => {
                self.send(
                    "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS\r\n",
                )
                .await?
            }
            Request::StartTls => {
                if self.tls_active {
                    self.error("503 5.5.1 TLS already active\r\n").await?;
                } else if let Some(acceptor) = self.shared.tls.clone() {
                    self.send("220 2.0.0 Ready to start TLS\r\n").await?;
                    return self.starttls(acceptor).await;
                } else {
                    self.send("454 4.7.0 TLS not available\r\n").await?;
                }
            }
            Request::Auth {
                mechanism,
                initial_response,
            } => return self.auth(mechanism, initial_response).await,
            Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. }
            | Request::Bdat { .. } => {
                self.error("502 5.5.1 Command not implemented\r\n").await?
            }
        }
        Ok(Next::Continue)
    }

    /// AUTH is offered when users are configured and the line is safe: after STARTTLS, or
    /// from loopback.
    fn auth_offered(&self) -> bool {
        self.shared.users.is_some() && (self.tls_active || self.peer.ip().is_loopback())
    }

    /// Read one line of an AUTH exchange (base64), or `None` when the client cancelled (`*`).
    async fn auth_line(&mut self, prompt: &str) -> io::Result<Option<Vec<u8>>> {
        self.send(prompt).await?;
        let idle = self.idle();
        let mut line = Vec::new();
        match tokio::time::timeout(idle, read_line(&mut self.io, &mut line, MAX_COMMAND_LINE)).await
        {
            Ok(Ok(Line::Full)) => {}
            Ok(Ok(Line::TooLong)) => return Ok(None),
            _ => return Err(io::ErrorKind::UnexpectedEof.into()),
        }
        let text = String::from_utf8_lossy(&line).trim().to_string();
        if text == "*" {
            return Ok(None);
        }
        Ok(Some(decode_b64(&text)))
    }

    async fn auth(&mut self, mechanism: u64, initial: String) -> io::Result<Next> {
        if self.helo.is_none() {
            self.error("503 5.5.1 Send EHLO first\r\n").await?;
            return Ok(Next::Continue);
        }
        if self.auth_user.is_some() {
            self.error("503 5.5.1 Already authenticated\r\n").await?;
            return Ok(Next::Continue);
        }
        if self.mail_from.is_some() {
            self.error("503 5.5.1 AUTH is not allowed during a mail transaction\r\n")
                .await?;
            return Ok(Next::Continue);
        }
        let Some(users) = self.shared.users.clone() else {
            self.error("502 5.5.1 Authentication is not offered\r\n")
                .await?;
            return Ok(Next::Continue);
        };
        if !self.auth_offered() {
            self.error("538 5.7.11 Encryption required: use STARTTLS first\r\n")
                .await?;
            return Ok(Next::Continue);
        }
        let initial = initial.trim().to_string();
        let credentials = if mechanism == smtp_proto::AUTH_PLAIN {
            let data = if initial.is_empty() {
                self.auth_line("334 \r\n").await?
            } else if initial == "=" {
                Some(Vec::new())
            } else {
                Some(decode_b64(&initial))
            };
            data.and_then(|d| {
                let mut parts = d.split(|b| *b == 0);
                let _authzid = parts.next()?;
                let user = parts.next()?;
                let pass = parts.next()?;
                Some((
                    String::from_utf8_lossy(user).to_string(),
                    String::from_utf8_lossy(pass).to_string(),
                ))
            })
        } else if mechanism == smtp_proto::AUTH_LOGIN {
            let user = if initial.is_empty() {
                self.auth_line("334 VXNlcm5hbWU6\r\n").await?
            } else {
                Some(decode_b64(&initial))
            };
            match user {
                None => None,
                Some(user) => self.auth_line("334 UGFzc3dvcmQ6\r\n").await?.map(|p| {
                    (
                        String::from_utf8_lossy(&user).to_string(),
                        String::from_utf8_lossy(&p).to_string(),
                    )
                }),
            }
        } else {
            self.error("504 5.5.4 Unrecognized authentication type\r\n")
                .await?;
            return Ok(Next::Continue);
        };
        let Some((user, password)) = credentials else {
            self.error("501 5.5.2 Authentication cancelled or malformed\r\n")
                .await?;
            return Ok(Next::Continue);
        };
        if !user.is_empty() && verify_password(users, user.clone(), password).await {
            tracing::info!(peer = %self.peer, user = %user, "SMTP client authenticated");
            self.auth_user = Some(user);
            self.send("235 2.7.0 Authentication successful\r\n").await?;
        } else {
            tracing::info!(peer = %self.peer, "SMTP authentication failed");
            self.error("535 5.7.8 Authentication credentials invalid\r\n")
                .await?;
        }
        Ok(Next::Continue)
    }

    async fn starttls(&mut self, acceptor: TlsAcceptor) -> io::Result<Next> {
        // Whatever the client sent after STARTTLS in clear is dropped (no command injection).
        let io = std::mem::replace(&mut self.io, BufReader::new(Conn::Closed));
        let Conn::Plain(sock) = io.into_inner() else {
            return Ok(Next::Close);
        };
        let idle = self.idle();
        match tokio::time::timeout(idle, acceptor.accept(sock)).await {
            Ok(Ok(tls)) => {
                self.io = BufReader::with_capacity(16 * 1024, Conn::Tls(Box::new(tls)));
                self.tls_active = true;
                self.helo = None;
                self.auth_user = None;
                self.reset();
                Ok(Next::Continue)
            }
            Ok(Err(e)) => {
                tracing::info!(peer = %self.peer, error = %e, "STARTTLS handshake failed");
                Ok(Next::Close)
            }
            Err(_) => Ok(Next::Close),
        }
    }

    /// Read the message after 354, then check it and carry out the verdict.
    async fn data(&mut self) -> io::Result<Next> {
        let config = &self.shared.state.config.smtp;
        let max_size = config.max_message_bytes;
        let max_line = config.max_line_length;
        let idle = self.idle();
        let mut raw = Vec::new();
        let mut too_big = false;
        let mut too_long = false;
        let mut line = Vec::new();
        loop {
            let read = tokio::time::timeout(idle, read_line(&mut self.io, &mut line, max_line));
            match read.await {
                Err(_) => {
                    self.close("421 4.4.2 Idle for too long, closing connection\r\n")
                        .await;
                    return Ok(Next::Close);
                }
                Ok(Err(_)) | Ok(Ok(Line::Eof)) => return Ok(Next::Close),
                Ok(Ok(Line::TooLong)) => too_long = true,
                Ok(Ok(Line::Full)) => {
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    let content = line.strip_prefix(b".").unwrap_or(&line);
                    if too_big || raw.len() + content.len() > max_size {
                        too_big = true;
                        raw = Vec::new();
                    } else {
                        raw.extend_from_slice(content);
                    }
                }
            }
        }
        if too_big {
            self.reset();
            self.send(&format!(
                "552 5.3.4 Message too big: the limit is {max_size} bytes\r\n"
            ))
            .await?;
            return Ok(Next::Continue);
        }
        if too_long {
            self.reset();
            self.send(&format!(
                "500 5.5.2 Line too long: the limit is {max_line} bytes\r\n"
            ))
            .await?;
            return Ok(Next::Continue);
        }
        let mail_from = self.mail_from.take().unwrap_or_default();
        let rcpts = std::mem::take(&mut self.rcpts);
        self.reset();
        let answer = self.process(raw, mail_from, rcpts).await;
        self.send(&answer).await?;
        Ok(Next::Continue)
    }

    /// Check the message and carry out the verdict; returns the reply for the client.
    async fn process(&self, raw: Vec<u8>, mail_from: String, rcpts: Vec<String>) -> String {
        let start = Instant::now();
        let qid = queue_id();
        let state = &self.shared.state;
        let raw = Arc::new(raw);
        let envelope = Envelope {
            mail_from: Some(mail_from.clone()),
            rcpt_to: rcpts.clone(),
            auth_user: self.auth_user.clone(),
        };
        let job = Job {
            state,
            qid: &qid,
            auth_user: self.auth_user.as_deref(),
            mail_from: &mail_from,
            rcpts: &rcpts,
            raw: &raw,
        };
        let (answer, action, findings) = match state.check(raw.clone(), envelope, "smtp").await {
            Ok(verdict) => {
                let ids: Vec<&'static str> = verdict.findings.iter().map(|f| f.id).collect();
                let (answer, action) = job.carry_out(&verdict).await;
                (answer, action, ids)
            }
            Err(e) => {
                tracing::error!(queue_id = %qid, error = %e, "checking the message failed");
                let (answer, action) = job.on_error().await;
                (answer, action, Vec::new())
            }
        };
        let code = answer.get(..3).unwrap_or("");
        tracing::info!(
            queue_id = %qid,
            sender = %mail_from,
            rcpts = rcpts.len(),
            size = raw.len(),
            findings = %findings.join(","),
            action,
            reply = code,
            ms = start.elapsed().as_millis() as u64,
            tls = self.tls_active,
            auth = self.auth_user.is_some(),
            "smtp message"
        );
        answer
    }
}

/// One accepted message on its way out.
struct Job<'a> {
    state: &'a AppState,
    qid: &'a str,
    auth_user: Option<&'a str>,
    mail_from: &'a str,
    rcpts: &'a [String],
    raw: &'a Arc<Vec<u8>>,
}

impl Job<'_> {
    fn upstream(&self) -> Option<&str> {
        let u = self.state.config.smtp.upstream.as_deref();
        if u.is_none() {
            tracing::warn!(queue_id = %self.qid, "no upstream configured: answering 451 4.3.5");
        }
        u
    }

    async fn forward(&self, message: &[u8], accepted: &str) -> String {
        let Some(upstream) = self.upstream() else {
            return reply(451, "4.3.5", "No upstream configured; try again later");
        };
        match delivery::send(upstream, self.mail_from, self.rcpts, message).await {
            Ok(()) => reply(250, "2.0.0", &format!("{accepted} as {}", self.qid)),
            Err(e) => self.delivery_failed(&e),
        }
    }

    fn delivery_failed(&self, e: &DeliveryError) -> String {
        tracing::warn!(queue_id = %self.qid, error = %e, "upstream did not take the message");
        format!("{}\r\n", e.smtp_reply())
    }

    /// doublecheck itself failed: answer as `on_error` says.
    async fn on_error(&self) -> (String, &'static str) {
        match self.state.config.on_error {
            OnError::Tempfail => (
                reply(451, "4.3.0", "Temporary internal error; try again later"),
                "tempfail",
            ),
            OnError::Reject => (
                reply(550, "5.3.0", "Internal error; the message was not accepted"),
                "reject",
            ),
            OnError::Accept => (
                self.forward(self.raw, "Accepted unchecked").await,
                "accept-unchecked",
            ),
        }
    }

    /// Stores the message as held for review (and notifies the sender); the reply, or `None`
    /// when the store failed (the caller answers as `on_error` says).
    async fn hold(&self, verdict: &Verdict, reason: &str) -> Option<String> {
        let verdict_value = serde_json::to_value(verdict).unwrap_or_default();
        let hold = NewHold {
            raw: self.raw.to_vec(),
            mail_from: self.mail_from.to_string(),
            rcpt_to: self.rcpts.to_vec(),
            verdict_json: verdict_value.to_string(),
            reason: reason.to_string(),
            sender: self
                .auth_user
                .or(Some(self.mail_from))
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            queue_id: Some(self.qid.to_string()),
        };
        let notice = |h: &doublecheck_store::Hold| {
            crate::notice::for_hold(self.state, &crate::notice::Event::Held, h)
        };
        match self.state.store.create_hold_notify(hold, notice).await {
            Ok((h, queued)) => {
                crate::notice::queued(self.state, queued);
                Some(reply(250, "2.6.0", &format!("Held for review as {}", h.id)))
            }
            Err(e) => {
                tracing::error!(queue_id = %self.qid, error = %e, "cannot store the held message");
                None
            }
        }
    }

    async fn carry_out(&self, verdict: &Verdict) -> (String, &'static str) {
        let action = verdict.action.as_str();
        let answer = match &verdict.plan {
            Plan::Deliver => {
                if verdict.headers.is_empty() {
                    self.forward(self.raw, "Accepted").await
                } else {
                    let with = doublecheck_engine::rewrite::add_headers(self.raw, &verdict.headers);
                    self.forward(&with, "Accepted").await
                }
            }
            Plan::Bccify { .. } => {
                let sender = Some(self.mail_from).filter(|s| !s.is_empty());
                let mut out = doublecheck_engine::rewrite::bccify(self.raw, sender);
                if !verdict.headers.is_empty() {
                    out = doublecheck_engine::rewrite::add_headers(&out, &verdict.headers);
                }
                self.forward(&out, "Accepted without the visible recipient list")
                    .await
            }
            Plan::Explode {
                recipients,
                verify_link,
            } => {
                let Some(upstream) = self.upstream() else {
                    return (
                        reply(451, "4.3.5", "No upstream configured; try again later"),
                        action,
                    );
                };
                let rcpts = if recipients.is_empty() {
                    self.rcpts
                } else {
                    recipients.as_slice()
                };
                let wants_links =
                    *verify_link || crate::verify_link::contains_placeholder(self.raw);
                if wants_links
                    && let Some(why) = crate::verify_link::unavailable(&self.state.config, self.raw)
                {
                    // Never the bare placeholder to customers: held, with the reason.
                    tracing::warn!(queue_id = %self.qid, reason = %why, "verification links unavailable; holding");
                    return match self.hold(verdict, &why).await {
                        Some(answer) => (answer, "hold"),
                        None => self.on_error().await,
                    };
                }
                let key = delivery::message_key(self.mail_from, self.rcpts, self.raw);
                let message = if verdict.headers.is_empty() {
                    None
                } else {
                    Some(doublecheck_engine::rewrite::add_headers(
                        self.raw,
                        &verdict.headers,
                    ))
                };
                let message = message.as_deref().unwrap_or(self.raw.as_slice());
                match delivery::explode(
                    self.state,
                    &key,
                    upstream,
                    self.mail_from,
                    rcpts,
                    message,
                    *verify_link,
                )
                .await
                {
                    Ok(report) => reply(
                        250,
                        "2.0.0",
                        &format!(
                            "Accepted as {}: one copy per recipient ({} sent now, {} before)",
                            self.qid, report.delivered, report.skipped
                        ),
                    ),
                    Err(e @ DeliveryError::Temporary(_)) => {
                        tracing::warn!(queue_id = %self.qid, error = %e, "explode incomplete; the client will retry");
                        reply(
                            451,
                            "4.4.1",
                            "Not every copy could be delivered yet; try again later (copies already delivered are not sent twice)",
                        )
                    }
                    Err(e) => self.delivery_failed(&e),
                }
            }
            Plan::Hold { reason } => match self.hold(verdict, reason).await {
                Some(answer) => answer,
                None => return self.on_error().await,
            },
            Plan::Reject {
                code,
                enhanced,
                text,
            } => {
                let code = if (500..600).contains(code) {
                    *code
                } else {
                    550
                };
                let enhanced = if enhanced.starts_with("5.") {
                    enhanced.as_str()
                } else {
                    "5.7.1"
                };
                let text = match safe_way(self.state, verdict) {
                    Some(hint) => format!("{text} {hint}"),
                    None => text.clone(),
                };
                reply(code, enhanced, &text)
            }
        };
        (answer, action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_replies_wrap() {
        let r = reply(550, "5.7.1", &"word ".repeat(200));
        let lines: Vec<&str> = r.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert!(lines.len() >= 3, "{r}");
        assert!(
            lines[..lines.len() - 1]
                .iter()
                .all(|l| l.starts_with("550-5.7.1 "))
        );
        assert!(lines[lines.len() - 1].starts_with("550 5.7.1 "));
        assert!(lines.iter().all(|l| l.len() <= 420));
        assert_eq!(reply(250, "2.0.0", "OK"), "250 2.0.0 OK\r\n");
    }

    #[tokio::test]
    async fn unknown_users_fail_after_the_same_work() {
        let users = Arc::new(HashMap::new());
        assert!(!verify_password(users, "x".into(), "y".into()).await);
        // The stand-in hash parses, so unknown users cost a real verification.
        assert!(argon2::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
