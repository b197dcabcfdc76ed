//! The SMTP relay over real sockets: a client, the relay on 127.0.0.1:0 with a SQLite store, and
//! a small upstream sink that records what it is given (and can refuse or be absent).

use doublecheck_engine::Policy;
use doublecheck_gate::{AppState, Config};
use doublecheck_store::{HoldFilter, Store};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const INCIDENT: &str = include_str!("../../../examples/incident.eml");
const EXPOSED: &str = include_str!("../../../examples/store-closure-exposed.eml");
const CUSTOMERS: [&str; 3] = [
    "maria.garcia@gmail.com",
    "j.smith1987@yahoo.com",
    "tomwilson@hotmail.com",
];
const CLEAN: &str = "From: Alice <alice@phoneco.example>\r\nTo: bob@gmail.com\r\n\
Subject: Lunch\r\nMessage-ID: <lunch-1@phoneco.example>\r\n\r\nSee you at noon.\r\n\
.a line that starts with a dot\r\n..two dots\r\n";

// ------------------------------------------------------------------ the upstream sink

#[derive(Clone, Debug)]
struct Received {
    from: String,
    rcpts: Vec<String>,
    data: Vec<u8>,
}

#[derive(Default)]
struct SinkState {
    got: Mutex<Vec<Received>>,
    /// Recipients answered 451 once at RCPT.
    fail_once: Mutex<HashSet<String>>,
    /// Answer the data with 550.
    refuse: Mutex<bool>,
}

#[derive(Clone)]
struct Sink {
    addr: SocketAddr,
    state: Arc<SinkState>,
}

impl Sink {
    async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(SinkState::default());
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(sink_session(sock, st.clone()));
            }
        });
        Sink { addr, state }
    }

    /// The messages received, without the notices to senders.
    fn got(&self) -> Vec<Received> {
        let got = self.state.got.lock().unwrap();
        got.iter().filter(|r| !is_notice(r)).cloned().collect()
    }

    /// The notices to senders received.
    fn notices(&self) -> Vec<Received> {
        let got = self.state.got.lock().unwrap();
        got.iter().filter(|r| is_notice(r)).cloned().collect()
    }

    /// Wait (at most 20 s) until `n` notices arrived; return them.
    async fn wait_notices(&self, n: usize) -> Vec<Received> {
        for _ in 0..400 {
            let got = self.notices();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{n} notice(s) expected, got {:?}", self.notices());
    }
}

/// A notice from doublecheck to a sender: empty envelope sender, our marker header.
fn is_notice(r: &Received) -> bool {
    r.from.is_empty() && String::from_utf8_lossy(&r.data).contains("\r\nX-Doublecheck-Notice: ")
}

fn header_value(data: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n").find_map(|l| {
        l.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    })
}

/// The text of a notice (its body, decoded).
fn notice_text(r: &Received) -> String {
    mail_parser::MessageParser::new()
        .parse(&r.data)
        .and_then(|m| m.body_text(0).map(|t| t.to_string()))
        .expect("a text body")
}

async fn sink_session(sock: TcpStream, st: Arc<SinkState>) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let _ = w.write_all(b"220 sink ESMTP\r\n").await;
    let (mut from, mut rcpts) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let upper = line.to_ascii_uppercase();
        let addr = || {
            line.split_once('<')
                .and_then(|(_, a)| a.split_once('>'))
                .map(|(a, _)| a.to_string())
                .unwrap_or_default()
        };
        let answer: String = if upper.starts_with("EHLO") {
            "250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = addr();
            rcpts.clear();
            "250 2.1.0 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            let a = addr();
            if st.fail_once.lock().unwrap().remove(&a) {
                "451 4.3.0 try later\r\n".into()
            } else {
                rcpts.push(a);
                "250 2.1.5 ok\r\n".into()
            }
        } else if upper.starts_with("DATA") {
            let _ = w.write_all(b"354 go\r\n").await;
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                if r.read_until(b'\n', &mut l).await.unwrap_or(0) == 0 {
                    return;
                }
                if l == b".\r\n" {
                    break;
                }
                data.extend_from_slice(l.strip_prefix(b".").unwrap_or(&l));
            }
            if *st.refuse.lock().unwrap() {
                "550 5.7.0 sink refuses this message\r\n".into()
            } else {
                st.got.lock().unwrap().push(Received {
                    from: from.clone(),
                    rcpts: std::mem::take(&mut rcpts),
                    data,
                });
                "250 2.0.0 queued\r\n".into()
            }
        } else if upper.starts_with("QUIT") {
            let _ = w.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "250 2.0.0 ok\r\n".into()
        };
        if w.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// An address nobody listens on.
async fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a.to_string()
}

// ------------------------------------------------------------------ the relay

struct Relay {
    addr: SocketAddr,
    state: AppState,
    _dir: tempfile::TempDir,
    stop: tokio::sync::watch::Sender<bool>,
}

async fn relay_with(
    upstream: Option<String>,
    policy: Policy,
    f: impl FnOnce(&mut Config),
) -> Relay {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.smtp.upstream = upstream;
    config.smtp.hostname = "relay.test".into();
    f(&mut config);
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::open(&url).await.unwrap();
    let state = AppState::new(config, policy, store);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(doublecheck_gate::smtp::run(listener, state.clone(), rx));
    Relay {
        addr,
        state,
        _dir: dir,
        stop,
    }
}

async fn relay_to(sink: &Sink) -> Relay {
    relay_with(Some(sink.addr.to_string()), Policy::builtin(), |_| {}).await
}

// ------------------------------------------------------------------ the client

struct Client<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), self.io.read_line(&mut line))
                .await
                .expect("reply in time")
                .unwrap_or(0);
            if n == 0 {
                return all;
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.unwrap();
        self.io.get_mut().flush().await.unwrap();
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.write(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// MAIL, RCPT…, DATA and the message (dot-stuffed); the reply to the data.
    async fn send_mail(&mut self, from: &str, rcpts: &[&str], message: &str) -> String {
        let r = self.cmd(&format!("MAIL FROM:<{from}>")).await;
        assert!(r.starts_with("250 2.1.0"), "{r}");
        for rcpt in rcpts {
            let r = self.cmd(&format!("RCPT TO:<{rcpt}>")).await;
            assert!(r.starts_with("250 2.1.5"), "{r}");
        }
        let r = self.cmd("DATA").await;
        assert!(r.starts_with("354"), "{r}");
        self.write(&stuff(message)).await;
        self.reply().await
    }
}

fn stuff(message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in message.split_inclusive("\r\n") {
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

async fn connect(addr: SocketAddr) -> Client<TcpStream> {
    let sock = TcpStream::connect(addr).await.unwrap();
    let mut c = Client {
        io: BufReader::new(sock),
    };
    let greeting = c.reply().await;
    assert!(greeting.starts_with("220 relay.test"), "{greeting}");
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.starts_with("250-relay.test"), "{ehlo}");
    c
}

fn to_header(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    text.lines()
        .find(|l| l.starts_with("To:"))
        .unwrap_or("")
        .to_string()
}

// ------------------------------------------------------------------ cases

#[tokio::test]
async fn clean_message_is_relayed_before_250() {
    let sink = Sink::start().await;
    let relay = relay_to(&sink).await;
    let mut c = connect(relay.addr).await;
    let ehlo = c.cmd("EHLO again.test").await;
    for ext in [
        "SIZE",
        "PIPELINING",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
    ] {
        assert!(ehlo.contains(ext), "{ext} missing from {ehlo}");
    }
    let r = c
        .send_mail("alice@phoneco.example", &["bob@gmail.com"], CLEAN)
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let got = sink.got();
    assert_eq!(
        got.len(),
        1,
        "the sink has the message when the client hears 250"
    );
    assert_eq!(got[0].from, "alice@phoneco.example");
    assert_eq!(got[0].rcpts, vec!["bob@gmail.com".to_string()]);
    let body = String::from_utf8_lossy(&got[0].data);
    assert!(body.contains("Subject: Lunch\r\n"), "{body}");
    assert!(
        body.ends_with("See you at noon.\r\n.a line that starts with a dot\r\n..two dots\r\n"),
        "dot-unstuffed and re-stuffed exactly: {body:?}"
    );
    for cmd in ["NOOP", "RSET"] {
        let r = c.cmd(cmd).await;
        assert!(r.starts_with("250 2.0.0"), "{cmd}: {r}");
    }
    assert!(c.cmd("VRFY bob").await.starts_with("252 2."));
    assert!(c.cmd("HELP").await.starts_with("214 2.0.0"));
    assert!(c.cmd("QUIT").await.starts_with("221 2.0.0"));
}

#[tokio::test]
async fn incident_is_rejected_and_nothing_reaches_the_sink() {
    let sink = Sink::start().await;
    let relay = relay_to(&sink).await;
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("care@phoneco.example", &CUSTOMERS, INCIDENT)
        .await;
    assert!(r.starts_with("550"), "{r}");
    assert!(r.contains(" 5.7.1 "), "{r}");
    assert!(r.len() > 40, "the reason and the fix are in the reply: {r}");
    assert!(sink.got().is_empty());
    // The session goes on.
    let r = c
        .send_mail("alice@phoneco.example", &["bob@gmail.com"], CLEAN)
        .await;
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(sink.got().len(), 1);
}

#[tokio::test]
async fn hold_is_stored_before_250() {
    let sink = Sink::start().await;
    let relay = relay_to(&sink).await;
    let to_one = INCIDENT.replace(
        "To: maria.garcia@gmail.com, j.smith1987@yahoo.com, tomwilson@hotmail.com,\r\n li.wei@outlook.com, sam.okafor@icloud.com, ana.souza@aol.com\r\n",
        "To: maria.garcia@gmail.com\r\n",
    );
    assert_ne!(to_one, INCIDENT);
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("care@phoneco.example", &["maria.garcia@gmail.com"], &to_one)
        .await;
    assert!(r.starts_with("250 2.6.0 Held for review as hold_"), "{r}");
    let id = r.trim().rsplit(' ').next().unwrap().to_string();
    let hold = relay
        .state
        .store
        .get_hold(&id)
        .await
        .unwrap()
        .expect("hold");
    assert_eq!(hold.raw, to_one.as_bytes(), "the exact bytes");
    assert_eq!(hold.mail_from, "care@phoneco.example");
    assert_eq!(hold.rcpt_to, vec!["maria.garcia@gmail.com".to_string()]);
    assert!(hold.queue_id.is_some());
    assert!(sink.got().is_empty());
    // The sender hears about it: from <>, to the envelope sender, marked automatic.
    let notices = sink.wait_notices(1).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    let n = &notices[0];
    assert_eq!(n.from, "");
    assert_eq!(n.rcpts, vec!["care@phoneco.example".to_string()]);
    assert_eq!(
        header_value(&n.data, "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert_eq!(
        header_value(&n.data, "X-Doublecheck-Hold"),
        Some(id.clone())
    );
    assert_eq!(
        header_value(&n.data, "To").as_deref(),
        Some("<care@phoneco.example>")
    );
    assert_eq!(
        header_value(&n.data, "In-Reply-To").as_deref(),
        Some("<golden-1@phoneco.example>")
    );
    let subject = header_value(&n.data, "Subject").unwrap_or_default();
    assert!(subject.starts_with("Held for review: "), "{subject}");
    let text = notice_text(n);
    for want in [
        id.as_str(),
        "content.solicits_sensitive",
        "Evidence (masked):",
        "Fix:",
        "What happens next:",
        "maria.garcia@gmail.com",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    let listed = relay
        .state
        .store
        .list_holds(HoldFilter::held())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn bccify_sends_one_message_without_the_list() {
    let sink = Sink::start().await;
    let relay = relay_to(&sink).await;
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("care@phoneco.example", &CUSTOMERS, EXPOSED)
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let got = sink.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpts, CUSTOMERS.map(String::from).to_vec());
    assert_eq!(to_header(&got[0].data), "To: undisclosed-recipients:;");
    let body = String::from_utf8_lossy(&got[0].data);
    assert!(body.contains("Reply-To: <care@phoneco.example>"), "{body}");
    assert!(!body.contains("yahoo.com"), "{body}");
}

fn explode_policy() -> Policy {
    Policy::from_toml(
        r#"
[[rules]]
name = "one copy each"
if_any = ["recipients.exposed"]
action = "explode"
reason = "Each customer gets their own copy."
"#,
        "explode.toml",
    )
    .unwrap()
}

#[tokio::test]
async fn explode_sends_one_copy_per_recipient() {
    let sink = Sink::start().await;
    let relay = relay_with(Some(sink.addr.to_string()), explode_policy(), |_| {}).await;
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("care@phoneco.example", &CUSTOMERS, EXPOSED)
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let got = sink.got();
    assert_eq!(got.len(), 3);
    for (m, rcpt) in got.iter().zip(CUSTOMERS) {
        assert_eq!(m.rcpts, vec![rcpt.to_string()]);
        assert_eq!(to_header(&m.data), format!("To: <{rcpt}>"));
        let others = CUSTOMERS.iter().filter(|o| **o != rcpt);
        for o in others {
            assert!(!String::from_utf8_lossy(&m.data).contains(o), "{o} visible");
        }
    }
}

#[tokio::test]
async fn explode_retry_after_partial_failure_sends_no_duplicate() {
    let sink = Sink::start().await;
    sink.state
        .fail_once
        .lock()
        .unwrap()
        .insert(CUSTOMERS[1].to_string());
    let relay = relay_with(Some(sink.addr.to_string()), explode_policy(), |_| {}).await;
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("care@phoneco.example", &CUSTOMERS, EXPOSED)
        .await;
    assert!(r.starts_with("451 4.4.1"), "{r}");
    assert_eq!(sink.got().len(), 1, "the first copy went out");
    // The client retries the same message (new connection, as an MTA would).
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("care@phoneco.example", &CUSTOMERS, EXPOSED)
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert!(r.contains("2 sent now, 1 before"), "{r}");
    let got = sink.got();
    assert_eq!(got.len(), 3, "each copy exactly once");
    let mut rcpts: Vec<String> = got.iter().flat_map(|m| m.rcpts.clone()).collect();
    rcpts.sort();
    let mut want = CUSTOMERS.map(String::from).to_vec();
    want.sort();
    assert_eq!(rcpts, want);
    // A third attempt sends nothing more.
    let r = c
        .send_mail("care@phoneco.example", &CUSTOMERS, EXPOSED)
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(sink.got().len(), 3);
}

#[tokio::test]
async fn upstream_down_is_451_and_permanent_refusal_is_relayed() {
    let relay = relay_with(Some(closed_port().await), Policy::builtin(), |_| {}).await;
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("alice@phoneco.example", &["bob@gmail.com"], CLEAN)
        .await;
    assert!(r.starts_with("451 4.4.1"), "{r}");

    let sink = Sink::start().await;
    *sink.state.refuse.lock().unwrap() = true;
    let relay = relay_to(&sink).await;
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("alice@phoneco.example", &["bob@gmail.com"], CLEAN)
        .await;
    assert!(r.starts_with("550 5.7.0"), "{r}");
    assert!(r.contains("sink refuses"), "{r}");

    let relay = relay_with(None, Policy::builtin(), |_| {}).await;
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("alice@phoneco.example", &["bob@gmail.com"], CLEAN)
        .await;
    assert!(r.starts_with("451 4.3.5"), "{r}");
}

#[tokio::test]
async fn oversized_message_is_552_and_the_session_goes_on() {
    let sink = Sink::start().await;
    let relay = relay_with(Some(sink.addr.to_string()), Policy::builtin(), |c| {
        c.smtp.max_message_bytes = 2000;
    })
    .await;
    let mut c = connect(relay.addr).await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.contains("SIZE 2000"), "{ehlo}");
    let r = c.cmd("MAIL FROM:<a@phoneco.example> SIZE=5000").await;
    assert!(r.starts_with("552 5.3.4"), "{r}");
    let big = format!("{CLEAN}{}", format!("{}\r\n", "x".repeat(70)).repeat(80));
    let r = c
        .send_mail("alice@phoneco.example", &["bob@gmail.com"], &big)
        .await;
    assert!(r.starts_with("552 5.3.4"), "{r}");
    assert!(c.cmd("RSET").await.starts_with("250 2.0.0"));
    let r = c
        .send_mail("alice@phoneco.example", &["bob@gmail.com"], CLEAN)
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(sink.got().len(), 1);
}

#[tokio::test]
async fn long_line_is_500_and_the_session_goes_on() {
    let sink = Sink::start().await;
    let relay = relay_with(Some(sink.addr.to_string()), Policy::builtin(), |c| {
        c.smtp.max_line_length = 1000;
    })
    .await;
    let mut c = connect(relay.addr).await;
    let long = format!("Subject: x\r\n\r\n{}\r\n", "y".repeat(5000));
    let r = c
        .send_mail("alice@phoneco.example", &["bob@gmail.com"], &long)
        .await;
    assert!(r.starts_with("500 5.5.2"), "{r}");
    let r = c
        .send_mail("alice@phoneco.example", &["bob@gmail.com"], CLEAN)
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
}

#[tokio::test]
async fn too_many_recipients_is_452() {
    let sink = Sink::start().await;
    let relay = relay_with(Some(sink.addr.to_string()), Policy::builtin(), |c| {
        c.smtp.max_recipients = 2;
    })
    .await;
    let mut c = connect(relay.addr).await;
    assert!(
        c.cmd("MAIL FROM:<a@phoneco.example>")
            .await
            .starts_with("250")
    );
    assert!(c.cmd("RCPT TO:<b@gmail.com>").await.starts_with("250"));
    assert!(c.cmd("RCPT TO:<c@gmail.com>").await.starts_with("250"));
    let r = c.cmd("RCPT TO:<d@gmail.com>").await;
    assert!(r.starts_with("452 4.5.3"), "{r}");
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.write(&stuff(CLEAN)).await;
    let r = c.reply().await;
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(sink.got()[0].rcpts.len(), 2);
}

#[tokio::test]
async fn pipelined_commands_work() {
    let sink = Sink::start().await;
    let relay = relay_to(&sink).await;
    let mut c = connect(relay.addr).await;
    c.write(
        b"MAIL FROM:<alice@phoneco.example> BODY=8BITMIME\r\nRCPT TO:<bob@gmail.com>\r\nRCPT TO:<carol@gmail.com>\r\nDATA\r\n",
    )
    .await;
    for want in ["250 2.1.0", "250 2.1.5", "250 2.1.5", "354"] {
        let r = c.reply().await;
        assert!(r.starts_with(want), "{want}: {r}");
    }
    let mut rest = stuff(CLEAN);
    rest.extend_from_slice(b"NOOP\r\nQUIT\r\n");
    c.write(&rest).await;
    assert!(c.reply().await.starts_with("250 2.0.0 Accepted"));
    assert!(c.reply().await.starts_with("250 2.0.0"));
    assert!(c.reply().await.starts_with("221"));
    assert_eq!(sink.got()[0].rcpts.len(), 2);
}

#[tokio::test]
async fn garbage_gets_500s_then_421_and_the_listener_keeps_serving() {
    let sink = Sink::start().await;
    let relay = relay_to(&sink).await;
    let mut c = connect(relay.addr).await;
    let mut replies = Vec::new();
    for i in 0..12u8 {
        c.write(&[
            0, 0xff, 0xfe, i, b'\x1b', b'g', b'a', b'r', b'b', b'\r', b'\n',
        ])
        .await;
        let r = c.reply().await;
        if r.is_empty() {
            break;
        }
        replies.push(r);
    }
    assert!(replies.len() >= 9, "{replies:?}");
    assert!(replies[0].starts_with("500 5.5.2"), "{replies:?}");
    assert!(
        replies.last().unwrap().starts_with("421 4.7.0"),
        "{replies:?}"
    );
    assert_eq!(c.reply().await, "", "closed");
    // A binary blob without line breaks, longer than a command may be.
    let mut c = connect(relay.addr).await;
    c.write(&vec![0xAAu8; 10_000]).await;
    c.write(b"\r\n").await;
    assert!(c.reply().await.starts_with("500 5.5.2"));
    // The listener still serves.
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("alice@phoneco.example", &["bob@gmail.com"], CLEAN)
        .await;
    assert!(r.starts_with("250"), "{r}");
}

#[tokio::test]
async fn connection_limit_is_421() {
    let sink = Sink::start().await;
    let relay = relay_with(Some(sink.addr.to_string()), Policy::builtin(), |c| {
        c.smtp.max_connections = 2;
    })
    .await;
    let _a = connect(relay.addr).await;
    let _b = connect(relay.addr).await;
    let sock = TcpStream::connect(relay.addr).await.unwrap();
    let mut third = Client {
        io: BufReader::new(sock),
    };
    let r = third.reply().await;
    assert!(r.starts_with("421 4.7.0"), "{r}");
    drop(_a);
    // The slot frees once the session ends.
    let mut ok = false;
    for _ in 0..50 {
        let sock = TcpStream::connect(relay.addr).await.unwrap();
        let mut c = Client {
            io: BufReader::new(sock),
        };
        if c.reply().await.starts_with("220") {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok);
}

#[tokio::test]
async fn idle_client_gets_421() {
    let sink = Sink::start().await;
    let relay = relay_with(Some(sink.addr.to_string()), Policy::builtin(), |c| {
        c.smtp.idle_timeout_secs = 1;
    })
    .await;
    let mut c = connect(relay.addr).await;
    let r = c.reply().await;
    assert!(r.starts_with("421 4.4.2"), "{r}");
}

// ------------------------------------------------------------------ STARTTLS

/// Trusts exactly one certificate: the relay's self-signed one.
#[derive(Debug)]
struct Pinned {
    cert: rustls_pki_types::CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not the pinned certificate".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[tokio::test]
async fn starttls_with_the_self_signed_certificate() {
    use rustls_pki_types::pem::PemObject;
    let sink = Sink::start().await;
    let relay = relay_to(&sink).await;
    let mut c = connect(relay.addr).await;
    let r = c.cmd("STARTTLS").await;
    assert!(r.starts_with("220 2.0.0"), "{r}");

    let (cert_path, _) = doublecheck_gate::tls::self_signed_paths(&relay.state.config.data_dir);
    let cert = rustls_pki_types::CertificateDer::from_pem_file(&cert_path).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { cert, provider }))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let sock = c.io.into_inner();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, sock).await.expect("TLS handshake");
    let mut c = Client {
        io: BufReader::new(tls),
    };
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.starts_with("250-relay.test"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "not offered twice: {ehlo}");
    let r = c
        .send_mail("alice@phoneco.example", &["bob@gmail.com"], CLEAN)
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(sink.got().len(), 1);
    assert!(c.cmd("QUIT").await.starts_with("221"));
}

// ------------------------------------------------------------------ AUTH

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn auth_plain_and_login_with_argon2_users() {
    use argon2::PasswordHasher;
    let salt = argon2::password_hash::SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap();
    let hash = argon2::Argon2::default()
        .hash_password(b"s3cret pass", &salt)
        .unwrap()
        .to_string();
    let users = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        users.path(),
        format!("# agents\nagent@phoneco.example:{hash}\n"),
    )
    .unwrap();
    let sink = Sink::start().await;
    let path = users.path().to_path_buf();
    let relay = relay_with(Some(sink.addr.to_string()), Policy::builtin(), |c| {
        c.smtp.auth_users_file = Some(path);
        c.smtp.auth_required = true;
    })
    .await;

    let mut c = connect(relay.addr).await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(
        ehlo.contains("AUTH PLAIN LOGIN"),
        "offered on loopback: {ehlo}"
    );
    let r = c.cmd("MAIL FROM:<agent@phoneco.example>").await;
    assert!(r.starts_with("530 5.7.0"), "{r}");
    let r = c
        .cmd(&format!(
            "AUTH PLAIN {}",
            b64(b"\0agent@phoneco.example\0wrong")
        ))
        .await;
    assert!(r.starts_with("535 5.7.8"), "{r}");
    let r = c
        .cmd(&format!(
            "AUTH PLAIN {}",
            b64(b"\0nobody@phoneco.example\0s3cret pass")
        ))
        .await;
    assert!(r.starts_with("535 5.7.8"), "{r}");
    let r = c.cmd("AUTH PLAIN").await;
    assert!(r.starts_with("334"), "{r}");
    let r = c.cmd(&b64(b"\0agent@phoneco.example\0s3cret pass")).await;
    assert!(r.starts_with("235 2.7.0"), "{r}");
    let r = c.cmd("AUTH PLAIN").await;
    assert!(r.starts_with("503"), "once only: {r}");
    let r = c
        .send_mail("agent@phoneco.example", &["bob@gmail.com"], CLEAN)
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");

    let mut c = connect(relay.addr).await;
    let r = c.cmd("AUTH LOGIN").await;
    assert!(r.starts_with("334 VXNlcm5hbWU6"), "{r}");
    let r = c.cmd(&b64(b"agent@phoneco.example")).await;
    assert!(r.starts_with("334 UGFzc3dvcmQ6"), "{r}");
    let r = c.cmd(&b64(b"s3cret pass")).await;
    assert!(r.starts_with("235 2.7.0"), "{r}");
    let r = c.cmd("AUTH LOGIN").await;
    assert!(r.starts_with("503"), "{r}");
    let mut c = connect(relay.addr).await;
    let r = c.cmd("AUTH LOGIN").await;
    assert!(r.starts_with("334"), "{r}");
    let r = c.cmd("*").await;
    assert!(r.starts_with("501"), "cancelled: {r}");
    assert_eq!(sink.got().len(), 1);
}

#[tokio::test]
async fn store_down_on_hold_is_451_by_default() {
    let sink = Sink::start().await;
    let relay = relay_to(&sink).await;
    let to_one = INCIDENT.replace(
        "To: maria.garcia@gmail.com, j.smith1987@yahoo.com, tomwilson@hotmail.com,\r\n li.wei@outlook.com, sam.okafor@icloud.com, ana.souza@aol.com\r\n",
        "To: maria.garcia@gmail.com\r\n",
    );
    relay.state.store.close().await;
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("care@phoneco.example", &["maria.garcia@gmail.com"], &to_one)
        .await;
    assert!(r.starts_with("451 4.3.0"), "{r}");
    assert!(sink.got().is_empty(), "never delivered instead of held");
}

#[tokio::test]
async fn shutdown_closes_idle_sessions_and_stops_accepting() {
    let sink = Sink::start().await;
    let relay = relay_to(&sink).await;
    let mut c = connect(relay.addr).await;
    relay.stop.send(true).unwrap();
    let r = c.reply().await;
    assert!(r.starts_with("421 4.3.2"), "{r}");
    let mut refused = false;
    for _ in 0..50 {
        if TcpStream::connect(relay.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the listener is closed");
}

// ------------------------------------------------------------------ release and reject

/// A message the relay held: the sender cannot approve it, a reviewer releases it to the
/// upstream exactly once, and a second release sends nothing more.
#[tokio::test]
async fn held_message_is_released_once_by_a_second_person() {
    let sink = Sink::start().await;
    let relay = relay_to(&sink).await;
    let to_one = INCIDENT.replace(
        "To: maria.garcia@gmail.com, j.smith1987@yahoo.com, tomwilson@hotmail.com,\r\n li.wei@outlook.com, sam.okafor@icloud.com, ana.souza@aol.com\r\n",
        "To: maria.garcia@gmail.com\r\n",
    );
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("care@phoneco.example", &["maria.garcia@gmail.com"], &to_one)
        .await;
    let id = r.trim().rsplit(' ').next().unwrap().to_string();
    let own =
        doublecheck_gate::release::release(&relay.state, &id, "care@phoneco.example", None).await;
    assert!(own.is_err(), "the sender may not approve their own message");
    assert!(sink.got().is_empty());
    sink.wait_notices(1).await;
    let out = doublecheck_gate::release::release(&relay.state, &id, "reviewer", Some("checked"))
        .await
        .expect("released");
    assert_eq!(
        out,
        doublecheck_gate::release::Outcome::Delivered {
            sent: 1,
            already: 0
        }
    );
    let got = sink.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, to_one.as_bytes());
    assert_eq!(got[0].rcpts, vec!["maria.garcia@gmail.com".to_string()]);
    let again = doublecheck_gate::release::release(&relay.state, &id, "reviewer", None)
        .await
        .expect("idempotent");
    assert_eq!(
        again,
        doublecheck_gate::release::Outcome::Delivered {
            sent: 0,
            already: 1
        }
    );
    assert_eq!(sink.got().len(), 1, "no duplicate");
    // Two notices: held, then released (the refused self-approval and the repeated release
    // send none).
    sink.wait_notices(2).await;
    doublecheck_gate::notice::drain(Duration::from_secs(20)).await;
    let notices = sink.notices();
    assert_eq!(notices.len(), 2, "{notices:?}");
    let released = &notices[1];
    assert_eq!(
        header_value(&released.data, "X-Doublecheck-Notice").as_deref(),
        Some("released")
    );
    let text = notice_text(released);
    assert!(text.contains("approved by reviewer"), "{text}");
    assert!(text.contains("Reviewer's note: checked"), "{text}");
    assert!(relay.state.store.audit_verify().await.unwrap().is_ok());
    let _ = relay.stop.send(true);
}

#[tokio::test]
async fn rejected_hold_is_never_delivered_and_mta_holds_use_the_command() {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("released");
    let marker_arg = format!("{}-{{queue_id}}", marker.display());
    let relay = relay_with(Some(sink.addr.to_string()), Policy::builtin(), |c| {
        c.milter.release_command = vec!["touch".into(), marker_arg.clone()];
    })
    .await;
    // A relay hold, rejected.
    let to_one = INCIDENT.replace(
        "To: maria.garcia@gmail.com, j.smith1987@yahoo.com, tomwilson@hotmail.com,\r\n li.wei@outlook.com, sam.okafor@icloud.com, ana.souza@aol.com\r\n",
        "To: maria.garcia@gmail.com\r\n",
    );
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("care@phoneco.example", &["maria.garcia@gmail.com"], &to_one)
        .await;
    let id = r.trim().rsplit(' ').next().unwrap().to_string();
    let out = doublecheck_gate::release::reject(&relay.state, &id, "reviewer", Some("no"))
        .await
        .expect("rejected");
    assert_eq!(out, doublecheck_gate::release::Outcome::Rejected);
    assert!(
        doublecheck_gate::release::release(&relay.state, &id, "reviewer", None)
            .await
            .is_err()
    );
    assert!(sink.got().is_empty());
    let notices = sink.wait_notices(2).await;
    let rejected = notices
        .iter()
        .find(|n| header_value(&n.data, "X-Doublecheck-Notice").as_deref() == Some("rejected"))
        .expect("a rejection notice");
    let text = notice_text(rejected);
    assert!(text.contains("rejected by reviewer"), "{text}");
    assert!(text.contains("Reviewer's reason: no"), "{text}");
    assert!(text.contains("content.solicits_sensitive"), "{text}");
    // A hold the milter made (the message is in the MTA's queue): release runs the command.
    let hold = relay
        .state
        .store
        .create_hold(doublecheck_store::NewHold {
            raw: to_one.clone().into_bytes(),
            mail_from: "care@phoneco.example".into(),
            rcpt_to: vec!["maria.garcia@gmail.com".into()],
            verdict_json: "{}".into(),
            reason: "test".into(),
            sender: Some("care@phoneco.example".into()),
            queue_id: Some(format!(
                "{}4B2C71A0F3",
                doublecheck_gate::release::MTA_QUEUE_PREFIX
            )),
        })
        .await
        .unwrap();
    let out = doublecheck_gate::release::release(&relay.state, &hold.id, "reviewer", None)
        .await
        .expect("released through the MTA");
    assert_eq!(
        out,
        doublecheck_gate::release::Outcome::Mta {
            queue_id: "4B2C71A0F3".into()
        }
    );
    assert!(dir.path().join("released-4B2C71A0F3").exists());
    assert!(sink.got().is_empty(), "the MTA delivers it, not the relay");
    let _ = relay.stop.send(true);
}

// ------------------------------------------------------------------ notices

fn incident_to_one() -> String {
    INCIDENT.replace(
        "To: maria.garcia@gmail.com, j.smith1987@yahoo.com, tomwilson@hotmail.com,\r\n li.wei@outlook.com, sam.okafor@icloud.com, ana.souza@aol.com\r\n",
        "To: maria.garcia@gmail.com\r\n",
    )
}

/// The upstream refuses the notice for a while (451 at RCPT): the notice is tried again.
#[tokio::test]
async fn a_notice_is_retried_after_a_temporary_failure() {
    let sink = Sink::start().await;
    sink.state
        .fail_once
        .lock()
        .unwrap()
        .insert("care@phoneco.example".to_string());
    let relay = relay_to(&sink).await;
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail(
            "care@phoneco.example",
            &["maria.garcia@gmail.com"],
            &incident_to_one(),
        )
        .await;
    assert!(r.starts_with("250 2.6.0"), "{r}");
    let notices = sink.wait_notices(1).await;
    assert_eq!(notices[0].rcpts, vec!["care@phoneco.example".to_string()]);
    assert!(
        sink.state.fail_once.lock().unwrap().is_empty(),
        "the first try was refused"
    );
}

/// No notice to a bounce's empty sender, and none at all when notices are off.
#[tokio::test]
async fn no_notice_to_bounces_or_when_notices_are_off() {
    let sink = Sink::start().await;
    let relay = relay_to(&sink).await;
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("", &["maria.garcia@gmail.com"], &incident_to_one())
        .await;
    assert!(r.starts_with("250 2.6.0"), "{r}");
    let off = relay_with(Some(sink.addr.to_string()), Policy::builtin(), |c| {
        c.notices.enabled = false;
    })
    .await;
    let mut c = connect(off.addr).await;
    let r = c
        .send_mail(
            "care@phoneco.example",
            &["maria.garcia@gmail.com"],
            &incident_to_one(),
        )
        .await;
    assert!(r.starts_with("250 2.6.0"), "{r}");
    let id = r.trim().rsplit(' ').next().unwrap().to_string();
    doublecheck_gate::release::reject(&off.state, &id, "reviewer", None)
        .await
        .expect("rejected");
    // Whatever was going to be sent has been sent by now.
    doublecheck_gate::notice::drain(Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sink.notices().is_empty(), "{:?}", sink.notices());
}

/// With the upstream down, the hold is still answered at once: the notice waits in the
/// background (and is given up after a few tries), never the client.
#[tokio::test]
async fn an_unreachable_upstream_does_not_delay_the_hold() {
    let relay = relay_with(Some(closed_port().await), Policy::builtin(), |_| {}).await;
    let mut c = connect(relay.addr).await;
    let started = std::time::Instant::now();
    let r = c
        .send_mail(
            "care@phoneco.example",
            &["maria.garcia@gmail.com"],
            &incident_to_one(),
        )
        .await;
    assert!(r.starts_with("250 2.6.0"), "{r}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The notice is still being tried (it waits before the second try).
    assert!(!doublecheck_gate::notice::drain(Duration::from_millis(300)).await);
    let session = c.cmd("NOOP").await;
    assert!(session.starts_with("250"), "{session}");
}

/// Four eyes on the gate's release path itself (the review queue and `doublecheck holds release`
/// both go through it): under `web.two_approvals_min_severity` the first approval is recorded
/// and nothing leaves; the same person cannot count twice; the sender cannot approve; the
/// second distinct approver releases it, once.
#[tokio::test]
async fn two_approvals_on_the_release_path() {
    use doublecheck_gate::release::{self, Outcome, ReleaseError};
    use doublecheck_store::{HoldStatus, StoreError};
    let sink = Sink::start().await;
    let relay = relay_with(Some(sink.addr.to_string()), Policy::builtin(), |c| {
        c.web.two_approvals_min_severity = Some(doublecheck_engine::Severity::Info);
    })
    .await;
    let to_one = INCIDENT.replace(
        "To: maria.garcia@gmail.com, j.smith1987@yahoo.com, tomwilson@hotmail.com,\r\n li.wei@outlook.com, sam.okafor@icloud.com, ana.souza@aol.com\r\n",
        "To: maria.garcia@gmail.com\r\n",
    );
    let mut c = connect(relay.addr).await;
    let r = c
        .send_mail("care@phoneco.example", &["maria.garcia@gmail.com"], &to_one)
        .await;
    let id = r.trim().rsplit(' ').next().unwrap().to_string();
    let hold = relay.state.store.get_hold(&id).await.unwrap().unwrap();
    assert_eq!(
        release::required_approvals(&relay.state.config, &hold.verdict_json),
        2
    );
    // Without the setting, one approval is enough.
    assert_eq!(
        release::required_approvals(&Config::default(), &hold.verdict_json),
        1
    );

    let own = release::release(&relay.state, &id, "Care@PhoneCo.example", Some("fine")).await;
    assert!(
        matches!(own, Err(ReleaseError::Store(StoreError::Forbidden(_)))),
        "{own:?}"
    );
    let first = release::release(&relay.state, &id, "rev-a@phoneco.example", None)
        .await
        .expect("first approval");
    assert_eq!(
        first,
        Outcome::AwaitingApproval {
            approvals: 1,
            required: 2
        }
    );
    let again =
        release::release(&relay.state, &id, "REV-A@phoneco.example", Some("me again")).await;
    assert!(
        matches!(again, Err(ReleaseError::Store(StoreError::Conflict(_)))),
        "the same person cannot be the second approver: {again:?}"
    );
    let held = relay.state.store.get_hold(&id).await.unwrap().unwrap();
    assert_eq!(held.status, HoldStatus::Held);
    assert!(sink.got().is_empty(), "nothing leaves after one approval");
    // A fix is a release too: the first approver cannot fix and release it alone.
    assert!(
        release::check_fix_approvals(&relay.state, &held, "rev-a@phoneco.example")
            .await
            .is_err()
    );
    assert!(
        release::check_fix_approvals(&relay.state, &held, "rev-b@phoneco.example")
            .await
            .is_ok()
    );

    let second = release::release(&relay.state, &id, "rev-b@phoneco.example", Some("checked"))
        .await
        .expect("released");
    assert_eq!(
        second,
        Outcome::Delivered {
            sent: 1,
            already: 0
        }
    );
    assert_eq!(sink.got().len(), 1);
    let approvals = relay.state.store.hold_approvals(&id).await.unwrap();
    let who: Vec<&str> = approvals.iter().map(|a| a.approver.as_str()).collect();
    assert_eq!(who, ["rev-a@phoneco.example", "rev-b@phoneco.example"]);
    assert_eq!(approvals[0].justification, release::NO_REASON);
    let retry = release::release(&relay.state, &id, "rev-b@phoneco.example", None)
        .await
        .expect("a retry");
    assert_eq!(
        retry,
        Outcome::Delivered {
            sent: 0,
            already: 1
        }
    );
    assert_eq!(sink.got().len(), 1, "no duplicate");
    assert!(relay.state.store.audit_verify().await.unwrap().is_ok());
    let _ = relay.stop.send(true);
}

/// The housekeeping purge ends sessions past the idle or absolute timeout and forgets sign-in
/// failures older than the throttling window; the background task runs it and stops on
/// shutdown.
#[tokio::test]
async fn housekeeping_purges_expired_sessions_and_stops() {
    let relay = relay_with(None, Policy::builtin(), |c| {
        c.web.session_idle_secs = 60;
        c.web.session_absolute_secs = 3600;
        c.web.login_window_secs = 600;
    })
    .await;
    let store = &relay.state.store;
    store
        .user_add(
            "rev@example.com",
            doublecheck_store::Role::Reviewer,
            "h",
            "cli",
            &Default::default(),
        )
        .await
        .unwrap();
    for h in ["idle", "old", "live"] {
        store
            .session_create(h, "rev@example.com", "csrf", "127.0.0.1")
            .await
            .unwrap();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let pool = store.pool();
    sqlx_exec(
        pool,
        "UPDATE web_sessions SET last_seen_ms = $1 WHERE id_hash = 'idle'",
        now - 61_000,
    )
    .await;
    sqlx_exec(
        pool,
        "UPDATE web_sessions SET created_at_ms = $1 WHERE id_hash = 'old'",
        now - 3_601_000,
    )
    .await;
    store.login_failure(&["ip:192.0.2.7"]).await.unwrap();
    sqlx_exec(pool, "UPDATE login_failures SET at_ms = $1", now - 601_000).await;
    store.login_failure(&["ip:192.0.2.8"]).await.unwrap();

    // As of now: two sessions and one failure are past their time.
    assert_eq!(
        doublecheck_gate::serve::purge_expired(&relay.state, now)
            .await
            .unwrap(),
        2
    );
    assert!(store.session_get("live").await.unwrap().is_some());
    assert!(store.session_get("idle").await.unwrap().is_none());
    assert!(store.session_get("old").await.unwrap().is_none());
    assert_eq!(
        store.login_failures_since("ip:192.0.2.7", 0).await.unwrap(),
        0
    );
    assert_eq!(
        store.login_failures_since("ip:192.0.2.8", 0).await.unwrap(),
        1
    );

    // The task: purges on its first round, then stops when told to.
    sqlx_exec(
        pool,
        "UPDATE web_sessions SET last_seen_ms = $1 WHERE id_hash = 'live'",
        now - 120_000,
    )
    .await;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(doublecheck_gate::serve::housekeeping(
        relay.state.clone(),
        Duration::from_millis(50),
        rx,
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.session_get("live").await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the task purged nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task stops on shutdown")
        .unwrap();
    let _ = relay.stop.send(true);
}

async fn sqlx_exec(pool: &sqlx::AnyPool, sql: &str, v: i64) {
    sqlx::query(sql).bind(v).execute(pool).await.unwrap();
}
