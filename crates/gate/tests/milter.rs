//! The milter listener on a real socket, driven the way Postfix 3.x drives it: option negotiation
//! offering everything, macros before each step, no replies to the steps before the end of the
//! message, and a verdict per message. A temporary SQLite store keeps the holds.

use doublecheck_engine::Policy;
use doublecheck_gate::{AppState, Config, OnError};
use doublecheck_milter::{Actions, Command, Family, FrameDecoder, OptNeg, ProtocolFlags, Response};
use doublecheck_store::{HoldStatus, Store};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const TIMEOUT: Duration = Duration::from_secs(30);

struct Gate {
    addr: SocketAddr,
    state: AppState,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start(config: Config) -> Gate {
    start_with(config, Policy::builtin()).await
}

async fn start_with(config: Config, policy: Policy) -> Gate {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::open(&url).await.expect("store");
    let state = AppState::new(config, policy, store);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(doublecheck_gate::milter::run(listener, state.clone(), rx));
    Gate {
        addr,
        state,
        stop,
        task,
        _dir: dir,
    }
}

fn example(name: &str) -> Vec<u8> {
    let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Header fields (name, value as sent on the wire: leading space kept, folds kept) and body.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn split_message(raw: &[u8]) -> (Fields, Vec<u8>) {
    let mut headers: Fields = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let end = raw[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| i + p + 1);
        let line = &raw[i..end];
        let content = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(line);
        i = end;
        if content.is_empty() {
            break;
        }
        if content[0] == b' ' || content[0] == b'\t' {
            let last = headers.last_mut().expect("continuation after a field");
            last.1.extend_from_slice(b"\n");
            last.1.extend_from_slice(content);
            continue;
        }
        let colon = content.iter().position(|&b| b == b':').expect("a colon");
        headers.push((content[..colon].to_vec(), content[colon + 1..].to_vec()));
    }
    (headers, raw[i..].to_vec())
}

fn addr_arg(a: &str) -> Vec<u8> {
    format!("<{a}>").into_bytes()
}

fn macros(stage: u8, pairs: &[(&str, &str)]) -> Command {
    Command::Macro {
        stage,
        pairs: pairs
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
    }
}

/// What Postfix 3.x sends when an SMTP client connects: negotiation, then the connection.
fn connect_frames() -> Vec<u8> {
    let mut w = Vec::new();
    for c in [
        Command::OptNeg(OptNeg {
            version: 6,
            actions: Actions(0x1ff),
            protocol: ProtocolFlags(0x1f_ffff),
        }),
        macros(
            b'C',
            &[
                ("j", "mail.example"),
                ("{daemon_name}", "smtpd"),
                ("{client_addr}", "127.0.0.1"),
            ],
        ),
        Command::Connect {
            hostname: b"localhost".to_vec(),
            family: Family::Inet,
            port: 40000,
            address: b"127.0.0.1".to_vec(),
        },
        macros(b'H', &[("{tls_version}", "")]),
        Command::Helo(b"client.example".to_vec()),
    ] {
        w.extend(c.to_bytes());
    }
    w
}

/// One message transaction as Postfix sends it.
fn message_frames(queue_id: &str, from: &str, rcpts: &[&str], raw: &[u8]) -> Vec<u8> {
    let (headers, body) = split_message(raw);
    let mut cmds = vec![
        macros(
            b'M',
            &[
                ("i", queue_id),
                ("{auth_authen}", ""),
                ("{mail_addr}", from),
            ],
        ),
        Command::Mail(vec![addr_arg(from), b"BODY=8BITMIME".to_vec()]),
    ];
    for r in rcpts {
        cmds.push(macros(b'R', &[("{rcpt_addr}", r)]));
        cmds.push(Command::Rcpt(vec![addr_arg(r)]));
    }
    cmds.push(macros(b'T', &[]));
    cmds.push(Command::Data);
    for (name, value) in headers {
        cmds.push(Command::Header { name, value });
    }
    cmds.push(Command::EndOfHeaders);
    for chunk in body.chunks(65535) {
        cmds.push(Command::Body(chunk.to_vec()));
    }
    cmds.push(macros(b'E', &[("i", queue_id)]));
    cmds.push(Command::EndOfBody(Vec::new()));
    let mut w = Vec::new();
    for c in cmds {
        w.extend(c.to_bytes());
    }
    w
}

struct Mta {
    stream: TcpStream,
    decoder: FrameDecoder,
}

impl Mta {
    async fn connect(addr: SocketAddr) -> Mta {
        let mut mta = Mta {
            stream: TcpStream::connect(addr).await.expect("connect"),
            decoder: FrameDecoder::new(),
        };
        mta.send(&connect_frames()).await;
        match mta.next().await.expect("a negotiation reply") {
            Response::OptNeg { opts, .. } => {
                assert_eq!(opts.version, 6);
                assert!(
                    opts.actions
                        .contains(Actions::QUARANTINE | Actions::CHANGE_HEADERS)
                );
            }
            other => panic!("expected OPTNEG, got {other:?}"),
        }
        mta
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// The next response, or `None` when the milter closed the connection.
    async fn next(&mut self) -> Option<Response> {
        let mut buf = [0u8; 8192];
        loop {
            if let Some(frame) = self.decoder.next_frame().expect("valid frames") {
                return Some(Response::decode(&frame).expect("a valid response"));
            }
            let n = tokio::time::timeout(TIMEOUT, self.stream.read(&mut buf))
                .await
                .expect("a reply in time")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.decoder.feed(&buf[..n]);
        }
    }

    /// Send a message; return every response up to the final one (included).
    async fn message(
        &mut self,
        queue_id: &str,
        from: &str,
        rcpts: &[&str],
        raw: &[u8],
    ) -> Vec<Response> {
        self.send(&message_frames(queue_id, from, rcpts, raw)).await;
        let mut out = Vec::new();
        loop {
            let r = self
                .next()
                .await
                .expect("a response before the connection closed");
            let last = matches!(
                r,
                Response::Accept
                    | Response::Continue
                    | Response::ReplyCode(_)
                    | Response::Tempfail
                    | Response::Reject
                    | Response::Discard
            );
            out.push(r);
            if last {
                return out;
            }
        }
    }

    async fn quit(mut self) {
        self.send(&Command::Quit.to_bytes()).await;
        assert!(self.next().await.is_none(), "the milter closes after QUIT");
    }
}

fn reply_text(r: &[Response]) -> String {
    match r {
        [Response::ReplyCode(t)] => String::from_utf8_lossy(t).to_string(),
        other => panic!("expected one REPLYCODE, got {other:?}"),
    }
}

fn add_header(name: &str, value: &str) -> Response {
    Response::AddHeader {
        name: name.as_bytes().to_vec(),
        value: format!(" {value}").into_bytes(),
    }
}

const CUSTOMERS: [&str; 3] = [
    "maria.garcia@gmail.com",
    "j.smith1987@yahoo.com",
    "tomwilson@hotmail.com",
];

#[tokio::test]
async fn clean_message_is_accepted() {
    let gate = start(Config::default()).await;
    let mut mta = Mta::connect(gate.addr).await;
    let r = mta
        .message(
            "4ABC1",
            "care@phoneco.example",
            &["maria.garcia@gmail.com"],
            &example("verification-link-ok.eml"),
        )
        .await;
    assert_eq!(r, vec![Response::Accept]);
    mta.quit().await;
}

#[tokio::test]
async fn incident_is_refused_with_550_5_7_1() {
    let gate = start(Config::default()).await;
    let mut mta = Mta::connect(gate.addr).await;
    let raw = example("incident.eml");
    let r = mta
        .message("4ABC2", "care@phoneco.example", &CUSTOMERS, &raw)
        .await;
    let text = reply_text(&r);
    assert!(text.starts_with("550 5.7.1 "), "{text}");
    assert!(
        text.len() > 40,
        "the reply says why and how to fix it: {text}"
    );
    assert!(!text.contains('\r') && !text.contains('\n'), "{text:?}");
    mta.quit().await;
}

#[tokio::test]
async fn hold_is_stored_then_quarantined() {
    let gate = start(Config::default()).await;
    let mut mta = Mta::connect(gate.addr).await;
    let raw = example("license-photo-attached.eml");
    let r = mta
        .message(
            "4HOLD7",
            "care@phoneco.example",
            &["maria.garcia@gmail.com"],
            &raw,
        )
        .await;
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[1], Response::Continue);
    let Response::Quarantine(reason) = &r[0] else {
        panic!("expected QUARANTINE, got {r:?}");
    };
    let reason = String::from_utf8_lossy(reason).to_string();
    let id = reason
        .split_whitespace()
        .find(|w| w.starts_with("hold_"))
        .expect("the reason names the hold")
        .trim_end_matches(':')
        .to_string();
    let hold = gate
        .state
        .store
        .get_hold(&id)
        .await
        .expect("store")
        .expect("the hold exists");
    assert_eq!(hold.status, HoldStatus::Held);
    assert_eq!(hold.raw, raw, "the store keeps the message byte for byte");
    assert_eq!(hold.mail_from, "care@phoneco.example");
    assert_eq!(hold.rcpt_to, vec!["maria.garcia@gmail.com".to_string()]);
    assert_eq!(hold.queue_id.as_deref(), Some("mta:4HOLD7"));
    assert_eq!(hold.sender.as_deref(), Some("care@phoneco.example"));
    let verdict: serde_json::Value = serde_json::from_str(&hold.verdict_json).expect("json");
    assert_eq!(verdict["action"], "hold");
    assert!(reason.contains(&hold.reason), "{reason} / {}", hold.reason);
    mta.quit().await;
}

#[tokio::test]
async fn bccify_deletes_visible_recipients_and_sets_reply_to() {
    let gate = start(Config::default()).await;
    let mut mta = Mta::connect(gate.addr).await;
    let r = mta
        .message(
            "4BCC1",
            "care@phoneco.example",
            &CUSTOMERS,
            &example("store-closure-exposed.eml"),
        )
        .await;
    let expected_start = [
        Response::ChangeHeader {
            index: 1,
            name: b"To".to_vec(),
            value: Vec::new(),
        },
        add_header("To", "undisclosed-recipients:;"),
        add_header("Reply-To", "<care@phoneco.example>"),
        add_header("X-Doublecheck-Verdict", "bccify"),
    ];
    assert_eq!(r[..4], expected_start[..], "{r:?}");
    assert_eq!(r.last(), Some(&Response::Continue));
    for resp in &r {
        assert!(
            !matches!(resp, Response::AddRcpt(_) | Response::DelRcpt(_)),
            "recipients stay unchanged: {r:?}"
        );
        if let Response::AddHeader { value, .. } = resp {
            let v = String::from_utf8_lossy(value);
            assert!(CUSTOMERS.iter().all(|c| !v.contains(c)), "{v}");
        }
    }
    mta.quit().await;
}

#[tokio::test]
async fn bccify_deletes_every_to_cc_and_reply_to_last_first() {
    let gate = start(Config::default()).await;
    let mut mta = Mta::connect(gate.addr).await;
    let raw = b"From: Customer Care <care@phoneco.example>\r\n\
        To: maria.garcia@gmail.com\r\n\
        Cc: j.smith1987@yahoo.com\r\n\
        To: tomwilson@hotmail.com\r\n\
        Reply-To: list@phoneco.example\r\n\
        Subject: Store closure\r\n\r\n\
        Our Main Street store will be closed on Monday for renovation.\r\n";
    let r = mta
        .message("4BCC2", "care@phoneco.example", &CUSTOMERS, raw)
        .await;
    let changes: Vec<(String, u32, usize)> = r
        .iter()
        .filter_map(|x| match x {
            Response::ChangeHeader { index, name, value } => Some((
                String::from_utf8_lossy(name).to_string(),
                *index,
                value.len(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            ("Cc".to_string(), 1, 0),
            ("Reply-To".to_string(), 1, 0),
            ("To".to_string(), 2, 0),
            ("To".to_string(), 1, 0),
        ],
        "{r:?}"
    );
    mta.quit().await;
}

#[tokio::test]
async fn warn_adds_headers() {
    let gate = start(Config::default()).await;
    let mut mta = Mta::connect(gate.addr).await;
    let r = mta
        .message(
            "4WARN1",
            "care@phoneco.example",
            &["maria.garcia@gmial.com"],
            &example("typo-domain.eml"),
        )
        .await;
    assert_eq!(r[0], add_header("X-Doublecheck-Verdict", "warn"), "{r:?}");
    assert_eq!(
        r[1],
        add_header("X-Doublecheck-Findings", "recipients.lookalike")
    );
    assert!(matches!(&r[2], Response::AddHeader { name, .. } if name == b"X-Doublecheck-Reason"));
    assert_eq!(r[3..], [Response::Continue]);
    mta.quit().await;
}

#[tokio::test]
async fn forged_verdict_headers_are_deleted() {
    let gate = start(Config::default()).await;
    let mut mta = Mta::connect(gate.addr).await;
    let raw = b"From: care@phoneco.example\r\nTo: maria.garcia@gmail.com\r\n\
        X-Doublecheck-Verdict: allow\r\nSubject: Your appointment\r\n\r\n\
        See you on Monday at ten.\r\n";
    let r = mta
        .message(
            "4FORGE",
            "care@phoneco.example",
            &["maria.garcia@gmail.com"],
            raw,
        )
        .await;
    assert_eq!(
        r,
        vec![
            Response::ChangeHeader {
                index: 1,
                name: b"X-Doublecheck-Verdict".to_vec(),
                value: Vec::new()
            },
            Response::Continue
        ]
    );
    mta.quit().await;
}

#[tokio::test]
async fn oversized_message_gets_552_5_3_4() {
    let mut config = Config::default();
    config.milter.max_message_bytes = 2000;
    let gate = start(config).await;
    let mut mta = Mta::connect(gate.addr).await;
    let mut raw =
        b"From: care@phoneco.example\r\nTo: ann@mail.example\r\nSubject: big\r\n\r\n".to_vec();
    for _ in 0..100 {
        raw.extend_from_slice(
            b"0123456789012345678901234567890123456789012345678901234567890123456789\r\n",
        );
    }
    let r = mta
        .message("4BIG1", "care@phoneco.example", &["ann@mail.example"], &raw)
        .await;
    assert_eq!(reply_text(&r), "552 5.3.4 Message too big");
    // The connection goes on: the next message is checked.
    let r = mta
        .message(
            "4BIG2",
            "care@phoneco.example",
            &["maria.garcia@gmail.com"],
            &example("verification-link-ok.eml"),
        )
        .await;
    assert_eq!(r, vec![Response::Accept]);
    mta.quit().await;
}

#[tokio::test]
async fn garbage_closes_that_connection_and_the_listener_keeps_serving() {
    let gate = start(Config::default()).await;
    let mut first = Mta::connect(gate.addr).await;

    let mut bad = TcpStream::connect(gate.addr).await.expect("connect");
    bad.write_all(b"\x00\x00\x00\x05Zhello GET / HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(TIMEOUT, bad.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(
        n, 0,
        "nothing is answered to garbage; the connection is closed"
    );

    // A frame announcing 2 GiB is refused before anything is buffered.
    let mut huge = TcpStream::connect(gate.addr).await.expect("connect");
    huge.write_all(&[0x7f, 0xff, 0xff, 0xff, b'B'])
        .await
        .expect("write");
    let n = tokio::time::timeout(TIMEOUT, huge.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0);

    let mut third = Mta::connect(gate.addr).await;
    let raw = example("incident.eml");
    let r = third
        .message("4THIRD", "care@phoneco.example", &CUSTOMERS, &raw)
        .await;
    assert!(reply_text(&r).starts_with("550 5.7.1 "));
    third.quit().await;
    // The connection opened before the garbage is unaffected.
    let r = first
        .message(
            "4FIRST",
            "care@phoneco.example",
            &["maria.garcia@gmail.com"],
            &example("verification-link-ok.eml"),
        )
        .await;
    assert_eq!(r, vec![Response::Accept]);
    first.quit().await;
}

#[tokio::test]
async fn two_messages_on_one_connection() {
    let gate = start(Config::default()).await;
    let mut mta = Mta::connect(gate.addr).await;
    let r = mta
        .message(
            "4TWO1",
            "care@phoneco.example",
            &CUSTOMERS,
            &example("incident.eml"),
        )
        .await;
    assert!(reply_text(&r).starts_with("550 5.7.1 "));
    let r = mta
        .message(
            "4TWO2",
            "care@phoneco.example",
            &["maria.garcia@gmail.com"],
            &example("verification-link-ok.eml"),
        )
        .await;
    assert_eq!(r, vec![Response::Accept]);
    // An aborted transaction, then a third message.
    mta.send(&Command::Mail(vec![addr_arg("care@phoneco.example")]).to_bytes())
        .await;
    mta.send(&Command::Abort.to_bytes()).await;
    let r = mta
        .message(
            "4TWO3",
            "care@phoneco.example",
            &["maria.garcia@gmail.com"],
            &example("license-photo-attached.eml"),
        )
        .await;
    assert!(matches!(r[0], Response::Quarantine(_)), "{r:?}");
    mta.quit().await;
    let holds = gate
        .state
        .store
        .list_holds(doublecheck_store::HoldFilter::held())
        .await
        .expect("list");
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].queue_id.as_deref(), Some("mta:4TWO3"));
}

#[tokio::test]
async fn store_down_follows_on_error() {
    for (on_error, expect) in [
        (OnError::Tempfail, "451 4.3.0 "),
        (OnError::Reject, "550 5.7.1 "),
    ] {
        let config = Config {
            on_error,
            ..Config::default()
        };
        let gate = start(config).await;
        gate.state.store.close().await;
        let mut mta = Mta::connect(gate.addr).await;
        let r = mta
            .message(
                "4DOWN1",
                "care@phoneco.example",
                &["maria.garcia@gmail.com"],
                &example("license-photo-attached.eml"),
            )
            .await;
        let text = reply_text(&r);
        assert!(text.starts_with(expect), "{on_error:?}: {text}");
        mta.quit().await;
    }
    let config = Config {
        on_error: OnError::Accept,
        ..Config::default()
    };
    let gate = start(config).await;
    gate.state.store.close().await;
    let mut mta = Mta::connect(gate.addr).await;
    let r = mta
        .message(
            "4DOWN2",
            "care@phoneco.example",
            &["maria.garcia@gmail.com"],
            &example("license-photo-attached.eml"),
        )
        .await;
    assert_eq!(r, vec![Response::Accept]);
    mta.quit().await;
}

#[tokio::test]
async fn stop_ends_the_listener_after_sessions_in_flight() {
    let gate = start(Config::default()).await;
    let mut mta = Mta::connect(gate.addr).await;
    // A message in flight when the stop comes is still answered.
    let frames = message_frames(
        "4STOP1",
        "care@phoneco.example",
        &CUSTOMERS,
        &example("incident.eml"),
    );
    let (head, tail) = frames.split_at(frames.len() / 2);
    mta.send(head).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    gate.stop.send(true).expect("stop");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(gate.addr).await.is_err(),
        "no new connections once stopped"
    );
    mta.send(tail).await;
    let r = mta
        .next()
        .await
        .expect("the answer to the message in flight");
    assert!(
        matches!(r, Response::ReplyCode(ref t) if t.starts_with(b"550 5.7.1")),
        "{r:?}"
    );
    // Then the milter closes the connection and the listener ends.
    assert!(mta.next().await.is_none());
    tokio::time::timeout(TIMEOUT, gate.task)
        .await
        .expect("run returns")
        .expect("no panic");
}

/// A policy that explodes messages whose recipients see each other.
fn explode_policy() -> Policy {
    Policy::from_toml(
        "[[rules]]\nname = \"one copy each\"\nif_any = [\"recipients.exposed\"]\n\
         action = \"explode\"\nreason = \"Each customer gets their own copy.\"\n",
        "explode.toml",
    )
    .expect("policy")
}

/// An SMTP server that stores what it is given: (recipients, data) per message.
async fn sink() -> (
    SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<(Vec<String>, String)>>>,
) {
    use tokio::io::AsyncBufReadExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let all = got.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let got = all.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = tokio::io::BufReader::new(r);
                let _ = w.write_all(b"220 sink\r\n").await;
                let mut rcpts = Vec::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let answer: &[u8] = if upper.starts_with("EHLO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        let a = line.split(['<', '>']).nth(1).unwrap_or("").to_string();
                        rcpts.push(a);
                        b"250 ok\r\n"
                    } else if upper.starts_with("DATA") {
                        let _ = w.write_all(b"354 go\r\n").await;
                        let mut data = String::new();
                        loop {
                            let mut l = String::new();
                            if r.read_line(&mut l).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if l == ".\r\n" {
                                break;
                            }
                            data.push_str(l.strip_prefix('.').unwrap_or(&l));
                        }
                        got.lock()
                            .expect("lock")
                            .push((std::mem::take(&mut rcpts), data));
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    if w.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, got)
}

#[tokio::test]
async fn explode_reinjects_one_copy_per_recipient_once_then_discards() {
    let (sink_addr, got) = sink().await;
    let mut config = Config::default();
    config.milter.reinject = Some(sink_addr.to_string());
    let gate = start_with(config, explode_policy()).await;
    let raw = example("store-closure-exposed.eml");
    let mut mta = Mta::connect(gate.addr).await;
    let r = mta
        .message("4EXP1", "care@phoneco.example", &CUSTOMERS, &raw)
        .await;
    assert_eq!(r, vec![Response::Discard]);
    let copies = got.lock().expect("lock").clone();
    assert_eq!(copies.len(), 3, "{copies:?}");
    for (rcpts, data) in &copies {
        assert_eq!(rcpts.len(), 1);
        let head = data.split("\r\n\r\n").next().unwrap_or("");
        assert!(head.contains(&format!("To: <{}>", rcpts[0])), "{head}");
        for other in CUSTOMERS.iter().filter(|c| **c != rcpts[0]) {
            assert!(!head.contains(other), "{head}");
        }
        assert!(head.contains("X-Doublecheck-Verdict: explode"), "{head}");
    }
    // The MTA retries the same message (say, its connection broke before our answer): no copy
    // is sent twice.
    let r = mta
        .message("4EXP1", "care@phoneco.example", &CUSTOMERS, &raw)
        .await;
    assert_eq!(r, vec![Response::Discard]);
    assert_eq!(got.lock().expect("lock").len(), 3);
    mta.quit().await;
}

#[tokio::test]
async fn explode_without_reinject_is_held() {
    let gate = start_with(Config::default(), explode_policy()).await;
    let mut mta = Mta::connect(gate.addr).await;
    let r = mta
        .message(
            "4EXP2",
            "care@phoneco.example",
            &CUSTOMERS,
            &example("store-closure-exposed.eml"),
        )
        .await;
    let Response::Quarantine(reason) = &r[0] else {
        panic!("expected QUARANTINE, got {r:?}");
    };
    assert!(
        String::from_utf8_lossy(reason).contains(doublecheck_gate::milter::EXPLODE_PENDING),
        "{r:?}"
    );
    mta.quit().await;
}

const WITH_LINK: &str = "From: Customer Care <care@phoneco.example>\r\n\
To: maria.garcia@gmail.com, j.smith1987@yahoo.com, tomwilson@hotmail.com\r\n\
Subject: Your account\r\nMessage-ID: <verify-2@phoneco.example>\r\n\r\n\
Hello,\r\n\r\nPlease open your secure page to update your contact details:\r\n\r\n\
{{verify_link}}\r\n\r\nThank you,\r\nCustomer Care\r\n";

#[tokio::test]
async fn verify_link_copies_are_reinjected_each_with_its_own_session_link() {
    let (sink_addr, got) = sink().await;
    let mut config = Config::default();
    config.milter.reinject = Some(sink_addr.to_string());
    config.portal.public_url = Some("https://verify.test".into());
    let gate = start_with(config, Policy::builtin()).await;
    let mut mta = Mta::connect(gate.addr).await;
    let raw = WITH_LINK.as_bytes();
    let r = mta
        .message("4VL1", "care@phoneco.example", &CUSTOMERS, raw)
        .await;
    assert_eq!(r, vec![Response::Discard]);
    // The MTA's retry sends nothing more and makes no session.
    let r = mta
        .message("4VL1", "care@phoneco.example", &CUSTOMERS, raw)
        .await;
    assert_eq!(r, vec![Response::Discard]);
    let copies = got.lock().expect("lock").clone();
    assert_eq!(copies.len(), 3, "{copies:?}");
    let mut tokens = std::collections::HashSet::new();
    for (rcpts, data) in &copies {
        assert_eq!(rcpts.len(), 1);
        assert!(!data.contains("{{verify_link}}"), "{data}");
        let at = data.find("https://verify.test/verify/").expect("a link");
        let token: String = data[at + 27..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert_eq!(token.len(), 43);
        assert!(tokens.insert(token.clone()), "links differ");
        let (_, _, session) = gate
            .state
            .store
            .link_find(&doublecheck_store::sha256_hex(token.as_bytes()))
            .await
            .expect("store")
            .expect("the link resolves");
        assert_eq!(session.customer.email.as_deref(), Some(rcpts[0].as_str()));
    }
    let all = gate
        .state
        .store
        .vs_list(doublecheck_store::SessionQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(all.data.len(), 3, "one session per recipient");
    mta.quit().await;
}

#[tokio::test]
async fn verify_link_with_the_portal_disabled_is_held() {
    let (sink_addr, got) = sink().await;
    let mut config = Config::default();
    config.milter.reinject = Some(sink_addr.to_string());
    config.portal.enabled = false;
    let gate = start_with(config, Policy::builtin()).await;
    let mut mta = Mta::connect(gate.addr).await;
    let r = mta
        .message(
            "4VL2",
            "care@phoneco.example",
            &CUSTOMERS,
            WITH_LINK.as_bytes(),
        )
        .await;
    let Response::Quarantine(reason) = &r[0] else {
        panic!("expected QUARANTINE, got {r:?}");
    };
    assert!(
        String::from_utf8_lossy(reason).contains("portal.enabled = false"),
        "{r:?}"
    );
    assert!(got.lock().expect("lock").is_empty());
    mta.quit().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_and_idle_ones_time_out() {
    let mut config = Config::default();
    config.milter.max_connections = 1;
    config.milter.idle_timeout_secs = 1;
    let gate = start(config).await;
    // The first connection negotiates, so it is surely being served.
    let first = Mta::connect(gate.addr).await;
    let mut second = TcpStream::connect(gate.addr)
        .await
        .expect("second connection");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut second, &mut buf),
    )
    .await
    .expect("closed promptly")
    .unwrap_or(0);
    assert_eq!(
        n, 0,
        "the connection over the limit is closed without a word"
    );
    // The first, now silent connection is closed after the idle timeout...
    let mut first = first.stream;
    let n = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut first, &mut buf),
    )
    .await
    .expect("idle connection closed")
    .unwrap_or(0);
    assert_eq!(n, 0);
    // ...and then a new connection is served.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(gate.addr)
        .await
        .expect("third connection");
    let r = tokio::time::timeout(
        std::time::Duration::from_millis(400),
        tokio::io::AsyncReadExt::read(&mut third, &mut buf),
    )
    .await;
    assert!(
        r.is_err(),
        "the third connection stays open, waiting for the MTA to speak"
    );
    let _ = gate.stop.send(true);
}

/// A held message's sender gets a notice, re-injected at `milter.reinject` (no smtp.upstream),
/// while the MTA already has its answer.
#[tokio::test]
async fn hold_sends_the_sender_a_notice_through_reinject() {
    let (sink_addr, got) = sink().await;
    let mut config = Config::default();
    config.milter.reinject = Some(sink_addr.to_string());
    config.notices.from = Some("dc@mail.phoneco.example".into());
    let gate = start(config).await;
    let mut mta = Mta::connect(gate.addr).await;
    let r = mta
        .message(
            "4HOLD9",
            "care@phoneco.example",
            &["maria.garcia@gmail.com"],
            &example("license-photo-attached.eml"),
        )
        .await;
    assert!(matches!(r[0], Response::Quarantine(_)), "{r:?}");
    let mut notices = Vec::new();
    for _ in 0..400 {
        notices = got.lock().expect("lock").clone();
        if !notices.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(notices.len(), 1, "one notice, nothing else: {notices:?}");
    let (rcpts, data) = &notices[0];
    assert_eq!(rcpts, &vec!["care@phoneco.example".to_string()]);
    let hold = gate
        .state
        .store
        .list_holds(doublecheck_store::HoldFilter::held())
        .await
        .expect("store");
    assert_eq!(hold.len(), 1);
    for want in [
        "Auto-Submitted: auto-generated\r\n",
        "X-Doublecheck-Notice: held\r\n",
        "From: \"doublecheck\" <dc@mail.phoneco.example>\r\n",
        &format!("X-Doublecheck-Hold: {}\r\n", hold[0].id),
        "attachments.id_document",
    ] {
        assert!(data.contains(want), "{want:?} missing from:\n{data}");
    }
    mta.quit().await;
}
