//! `{{verify_link}}` through the SMTP relay over real sockets: a message carrying the
//! placeholder is exploded into one copy per recipient, each with a fresh link to a
//! verification session made for that recipient; a retry after a partial failure creates no
//! second session; with the portal disabled the message is held instead. And a refusal for
//! soliciting documents tells the agent how to send a verification request instead.

use doublecheck_engine::Policy;
use doublecheck_gate::{AppState, Config};
use doublecheck_store::{HoldFilter, LinkState, SessionQuery, Store, VerificationStatus};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const INCIDENT: &str = include_str!("../../../examples/incident.eml");
const CUSTOMERS: [&str; 3] = [
    "maria.garcia@gmail.com",
    "j.smith1987@yahoo.com",
    "tomwilson@hotmail.com",
];
const WITH_LINK: &str = "From: Customer Care <care@phoneco.example>\r\n\
To: maria.garcia@gmail.com, j.smith1987@yahoo.com, tomwilson@hotmail.com\r\n\
Subject: Your account\r\nMessage-ID: <verify-1@phoneco.example>\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\r\n\
Hello,\r\n\r\nPlease open your secure page to update your contact details:\r\n\r\n\
{{verify_link}}\r\n\r\nThank you,\r\nCustomer Care\r\n";

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
}

async fn sink() -> (SocketAddr, Arc<SinkState>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(SinkState::default());
    let st = state.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(sink_session(sock, st.clone()));
        }
    });
    (addr, state)
}

/// What reached the sink, without the notices to senders (empty envelope sender).
fn messages(st: &SinkState) -> Vec<Received> {
    let got = st.got.lock().unwrap();
    got.iter().filter(|r| !r.from.is_empty()).cloned().collect()
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
            "250-sink\r\n250-8BITMIME\r\n250 PIPELINING\r\n".into()
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
            st.got.lock().unwrap().push(Received {
                from: from.clone(),
                rcpts: std::mem::take(&mut rcpts),
                data,
            });
            "250 2.0.0 queued\r\n".into()
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

// ------------------------------------------------------------------ the relay and a client

struct Relay {
    addr: SocketAddr,
    state: AppState,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

async fn relay(upstream: SocketAddr, f: impl FnOnce(&mut Config)) -> Relay {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.smtp.upstream = Some(upstream.to_string());
    config.smtp.hostname = "relay.test".into();
    config.portal.public_url = Some("https://verify.test".into());
    f(&mut config);
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::open(&url).await.unwrap();
    let state = AppState::new(config, Policy::builtin(), store);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(doublecheck_gate::smtp::run(listener, state.clone(), rx));
    Relay {
        addr,
        state,
        _dir: dir,
        _stop: stop,
    }
}

async fn reply(io: &mut BufReader<TcpStream>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), io.read_line(&mut line))
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

async fn cmd(io: &mut BufReader<TcpStream>, line: &str) -> String {
    io.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .unwrap();
    reply(io).await
}

/// One message over a new connection; the reply to its data.
async fn send(addr: SocketAddr, from: &str, rcpts: &[&str], message: &str) -> String {
    let mut io = BufReader::new(TcpStream::connect(addr).await.unwrap());
    assert!(reply(&mut io).await.starts_with("220"));
    assert!(cmd(&mut io, "EHLO client.test").await.starts_with("250"));
    assert!(
        cmd(&mut io, &format!("MAIL FROM:<{from}>"))
            .await
            .starts_with("250")
    );
    for r in rcpts {
        assert!(
            cmd(&mut io, &format!("RCPT TO:<{r}>"))
                .await
                .starts_with("250")
        );
    }
    assert!(cmd(&mut io, "DATA").await.starts_with("354"));
    let mut data = String::new();
    for line in message.split_inclusive("\r\n") {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
    }
    data.push_str(".\r\n");
    io.get_mut().write_all(data.as_bytes()).await.unwrap();
    let r = reply(&mut io).await;
    let _ = cmd(&mut io, "QUIT").await;
    r
}

/// The link's token in a copy (`https://verify.test/verify/<token>`).
fn token_in(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    assert!(
        !text.contains("{{verify_link}}"),
        "placeholder left: {text}"
    );
    let at = text
        .find("https://verify.test/verify/")
        .unwrap_or_else(|| panic!("no link in {text}"));
    text[at + "https://verify.test/verify/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn sessions(state: &AppState) -> Vec<doublecheck_store::VerificationSession> {
    state
        .store
        .vs_list(SessionQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .data
}

/// Each copy's link resolves to a valid link of a session for that copy's recipient alone.
async fn check_links(state: &AppState, got: &[Received]) {
    let mut tokens = HashSet::new();
    for m in got {
        assert_eq!(m.rcpts.len(), 1, "one recipient per copy");
        let token = token_in(&m.data);
        assert_eq!(token.len(), 43, "256-bit token");
        assert!(tokens.insert(token.clone()), "every link differs");
        let hash = doublecheck_store::sha256_hex(token.as_bytes());
        let (_, link_state, session) = state
            .store
            .link_find(&hash)
            .await
            .unwrap()
            .expect("the link is stored by its hash");
        assert_eq!(link_state, LinkState::Valid);
        assert_eq!(session.customer.email.as_deref(), Some(m.rcpts[0].as_str()));
        assert_eq!(session.status, VerificationStatus::RequiresInput);
        assert_eq!(session.kind.as_str(), "document");
        // Nothing in the database holds the token itself.
        assert!(state.store.link_find(&token).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn each_recipient_gets_their_own_link_to_their_own_session() {
    let (addr, sink_state) = sink().await;
    let relay = relay(addr, |_| {}).await;
    let r = send(relay.addr, "care@phoneco.example", &CUSTOMERS, WITH_LINK).await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let got = messages(&sink_state);
    assert_eq!(got.len(), 3, "one copy per recipient");
    check_links(&relay.state, &got).await;
    let all = sessions(&relay.state).await;
    assert_eq!(all.len(), 3);
    let mut emails: Vec<String> = all
        .iter()
        .filter_map(|s| s.customer.email.clone())
        .collect();
    emails.sort();
    let mut want = CUSTOMERS.map(String::from).to_vec();
    want.sort();
    assert_eq!(emails, want);
    // Only that recipient in To; the others are not visible.
    for m in &got {
        let text = String::from_utf8_lossy(&m.data);
        for o in CUSTOMERS.iter().filter(|o| **o != m.rcpts[0]) {
            assert!(!text.contains(o), "{o} visible in {text}");
        }
    }
}

#[tokio::test]
async fn a_retry_after_a_partial_failure_creates_no_second_session() {
    let (addr, sink_state) = sink().await;
    sink_state
        .fail_once
        .lock()
        .unwrap()
        .insert(CUSTOMERS[1].to_string());
    let relay = relay(addr, |_| {}).await;
    let r = send(relay.addr, "care@phoneco.example", &CUSTOMERS, WITH_LINK).await;
    assert!(r.starts_with("451 4.4.1"), "{r}");
    assert_eq!(messages(&sink_state).len(), 1, "the first copy went out");
    assert_eq!(
        sessions(&relay.state).await.len(),
        2,
        "the first two were made"
    );
    let r = send(relay.addr, "care@phoneco.example", &CUSTOMERS, WITH_LINK).await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert!(r.contains("2 sent now, 1 before"), "{r}");
    let got = messages(&sink_state);
    assert_eq!(got.len(), 3, "each copy exactly once");
    check_links(&relay.state, &got).await;
    assert_eq!(
        sessions(&relay.state).await.len(),
        3,
        "one session per recipient across the attempts"
    );
    // A third attempt sends and creates nothing.
    let r = send(relay.addr, "care@phoneco.example", &CUSTOMERS, WITH_LINK).await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(messages(&sink_state).len(), 3);
    assert_eq!(sessions(&relay.state).await.len(), 3);
    // The events name the sender as the actor of each creation.
    let s = &sessions(&relay.state).await[0];
    assert!(s.metadata_json.contains("gate"), "{}", s.metadata_json);
}

#[tokio::test]
async fn with_the_portal_disabled_the_message_is_held_not_sent_with_a_placeholder() {
    let (addr, sink_state) = sink().await;
    let relay = relay(addr, |c| c.portal.enabled = false).await;
    let r = send(relay.addr, "care@phoneco.example", &CUSTOMERS, WITH_LINK).await;
    assert!(r.starts_with("250 2.6.0 Held for review"), "{r}");
    assert!(messages(&sink_state).is_empty(), "nothing left");
    assert!(sessions(&relay.state).await.is_empty());
    let holds = relay
        .state
        .store
        .list_holds(HoldFilter::default())
        .await
        .unwrap();
    assert_eq!(holds.len(), 1);
    assert!(
        holds[0].reason.contains("portal.enabled = false"),
        "{}",
        holds[0].reason
    );
    assert!(
        holds[0].reason.starts_with("explode"),
        "release explodes it"
    );
    // Released while the portal is still disabled: nothing leaves, and the reason says why.
    let e = doublecheck_gate::release::release(
        &relay.state,
        &holds[0].id,
        "rev@phoneco.example",
        Some("ok"),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("portal.enabled = false"), "{e}");
    assert!(messages(&sink_state).is_empty());
    // With the portal enabled (same database), the release sends each recipient their link.
    let mut config = (*relay.state.config).clone();
    config.portal.enabled = true;
    let enabled = AppState::new(config, Policy::builtin(), relay.state.store.clone());
    doublecheck_gate::release::release(&enabled, &holds[0].id, "rev@phoneco.example", Some("ok"))
        .await
        .unwrap();
    let got = messages(&sink_state);
    assert_eq!(got.len(), 3);
    check_links(&enabled, &got).await;
}

#[tokio::test]
async fn a_refusal_for_soliciting_documents_shows_the_safe_way() {
    let (addr, sink_state) = sink().await;
    let relay = relay(addr, |_| {}).await;
    let r = send(relay.addr, "care@phoneco.example", &CUSTOMERS, INCIDENT).await;
    assert!(r.starts_with("550"), "{r}");
    assert!(r.contains("doublecheck verify send --email"), "{r}");
    assert!(
        r.contains("https://verify.test/v1/verification_sessions"),
        "{r}"
    );
    for line in r.split("\r\n").filter(|l| !l.is_empty()) {
        assert!(line.len() <= 512, "reply line too long: {line}");
        assert!(
            line.starts_with("550-5.7.1 ") || line.starts_with("550 5.7.1 "),
            "{line}"
        );
    }
    assert!(messages(&sink_state).is_empty());
}
