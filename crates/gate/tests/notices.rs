//! Notices to senders are never lost: the real gate (`serve`: SMTP relay, store, notice worker)
//! on SQLite (and on PostgreSQL when `DOUBLECHECK_TEST_POSTGRES_URL` is set), a real upstream
//! sink on a socket that is down at first, and a gate killed right after a hold.

use doublecheck_gate::Config;
use doublecheck_store::{NoticeFilter, NoticeStatus, Store};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const INCIDENT: &str = include_str!("../../../examples/incident.eml");
const PG_ENV: &str = "DOUBLECHECK_TEST_POSTGRES_URL";
const SENDER: &str = "care@phoneco.example";

fn incident_to_one() -> String {
    INCIDENT.replace(
        "To: maria.garcia@gmail.com, j.smith1987@yahoo.com, tomwilson@hotmail.com,\r\n li.wei@outlook.com, sam.okafor@icloud.com, ana.souza@aol.com\r\n",
        "To: maria.garcia@gmail.com\r\n",
    )
}

/// A free port on loopback (bound, then let go).
async fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

// ------------------------------------------------------------------ the upstream sink

#[derive(Clone, Debug)]
struct Received {
    from: String,
    rcpts: Vec<String>,
    data: Vec<u8>,
}

/// An SMTP sink on a given address that records what it accepts, or refuses every message
/// with 550.
#[derive(Clone)]
struct Sink {
    got: Arc<Mutex<Vec<Received>>>,
}

impl Sink {
    async fn start_at(addr: SocketAddr, refuse: bool) -> Sink {
        let listener = TcpListener::bind(addr)
            .await
            .expect("the sink's port is free");
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(session(sock, g.clone(), refuse));
            }
        });
        Sink { got }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Wait (at most 20 s) until `n` messages arrived.
    async fn wait(&self, n: usize) -> Vec<Received> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{n} message(s) expected, got {:?}", self.got());
    }
}

async fn session(sock: TcpStream, got: Arc<Mutex<Vec<Received>>>, refuse: bool) {
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
        let addr = line
            .split_once('<')
            .and_then(|(_, a)| a.split_once('>'))
            .map(|(a, _)| a.to_string())
            .unwrap_or_default();
        let answer = if upper.starts_with("EHLO") {
            "250-sink\r\n250-8BITMIME\r\n250 PIPELINING\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = addr;
            rcpts.clear();
            "250 2.1.0 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            rcpts.push(addr);
            "250 2.1.5 ok\r\n"
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
            if refuse {
                "550 5.1.1 no such mailbox\r\n"
            } else {
                got.lock().unwrap().push(Received {
                    from: from.clone(),
                    rcpts: std::mem::take(&mut rcpts),
                    data,
                });
                "250 2.0.0 queued\r\n"
            }
        } else if upper.starts_with("QUIT") {
            let _ = w.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "250 2.0.0 ok\r\n"
        };
        if w.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

// ------------------------------------------------------------------ the gate

/// `doublecheck serve` with the SMTP relay only (plus the notice worker it always runs).
struct Gate {
    smtp: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), doublecheck_gate::ServeError>>,
}

fn config(data_dir: &std::path::Path, db: &str, upstream: SocketAddr) -> Config {
    let mut c = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    c.database.url = Some(db.to_string());
    c.http.enabled = false;
    c.milter.enabled = false;
    c.web.enabled = false;
    c.smtp.upstream = Some(upstream.to_string());
    c.smtp.hostname = "relay.test".into();
    c.notices.retry_initial_secs = 1;
    c.notices.retry_max_secs = 1;
    c
}

impl Gate {
    async fn start(mut config: Config) -> Gate {
        let smtp = free_addr().await;
        config.smtp.listen = smtp;
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(doublecheck_gate::serve(config, async move {
            let _ = rx.await;
        }));
        let start = Instant::now();
        while TcpStream::connect(smtp).await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the gate did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Gate {
            smtp,
            stop: Some(stop),
            task,
        }
    }

    /// A graceful stop (SIGTERM).
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task
            .await
            .expect("serve ran")
            .expect("serve stopped cleanly");
    }

    /// Sends the incident message to one customer; it is held. Returns the hold id.
    async fn send_held(&self) -> String {
        let sock = TcpStream::connect(self.smtp).await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        assert!(read_reply(&mut r).await.starts_with("220"));
        let mut message = Vec::new();
        for line in incident_to_one().split_inclusive("\r\n") {
            if line.starts_with('.') {
                message.push(b'.');
            }
            message.extend_from_slice(line.as_bytes());
        }
        message.extend_from_slice(b".\r\n");
        let steps: Vec<(Vec<u8>, &str)> = vec![
            (b"EHLO client.test\r\n".to_vec(), "250"),
            (format!("MAIL FROM:<{SENDER}>\r\n").into_bytes(), "250"),
            (b"RCPT TO:<maria.garcia@gmail.com>\r\n".to_vec(), "250"),
            (b"DATA\r\n".to_vec(), "354"),
            (message, "250 2.6.0"),
        ];
        let mut last = String::new();
        for (cmd, want) in steps {
            w.write_all(&cmd).await.unwrap();
            last = read_reply(&mut r).await;
            assert!(last.starts_with(want), "{want} expected, got {last}");
        }
        let _ = w.write_all(b"QUIT\r\n").await;
        last.trim().rsplit(' ').next().unwrap().to_string()
    }
}

async fn read_reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(20), r.read_line(&mut line))
            .await
            .expect("a reply in time")
            .unwrap();
        all.push_str(&line);
        if n == 0 || line.len() < 4 || line.as_bytes()[3] != b'-' {
            return all;
        }
    }
}

/// The notices of `hold_id`, read straight from the database.
async fn notices_of(store: &Store, hold_id: &str) -> Vec<doublecheck_store::Notice> {
    store
        .notices_list(&NoticeFilter {
            statuses: vec![],
            hold_id: Some(hold_id.to_string()),
            limit: 10,
        })
        .await
        .unwrap()
}

/// Wait (at most 20 s) until the hold's notice has been tried at least `n` times.
async fn wait_attempts(store: &Store, hold_id: &str, n: u32) -> doublecheck_store::Notice {
    let start = Instant::now();
    loop {
        let got = notices_of(store, hold_id).await;
        if let Some(x) = got.iter().find(|x| x.attempts >= n) {
            return x.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{n} attempts expected: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_is_the_notice(r: &Received, hold_id: &str) {
    assert!(r.from.is_empty(), "MAIL FROM:<>, not {:?}", r.from);
    assert_eq!(r.rcpts, vec![SENDER.to_string()]);
    let text = String::from_utf8_lossy(&r.data);
    assert!(
        text.contains("\r\nX-Doublecheck-Notice: held\r\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("\r\nX-Doublecheck-Hold: {hold_id}\r\n")),
        "{text}"
    );
    assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
}

// ------------------------------------------------------------------ the stories

/// The upstream is down when the message is held: the notice waits in the store, is tried
/// again and again (the tries made right away, then the worker's), and goes out once the
/// upstream comes up — once.
async fn sink_down_then_up(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let upstream = free_addr().await;
    let gate = Gate::start(config(dir.path(), db, upstream)).await;
    let store = Store::open(db).await.unwrap();
    let hold = gate.send_held().await;
    // More tries than the ones made right after the hold: the worker's too.
    let n = wait_attempts(&store, &hold, doublecheck_gate::notice::ATTEMPTS as u32 + 1).await;
    assert_eq!(n.status(), NoticeStatus::Pending);
    assert!(n.last_error.is_some(), "{n:?}");
    let sink = Sink::start_at(upstream, false).await;
    let got = sink.wait(1).await;
    assert_is_the_notice(&got[0], &hold);
    // Several more passes of the worker: nothing more is sent.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sink.got().len(), 1, "sent once");
    let n = &notices_of(&store, &hold).await[0];
    assert_eq!(n.status(), NoticeStatus::Sent, "{n:?}");
    assert!(
        n.attempts > doublecheck_gate::notice::ATTEMPTS as u32,
        "{n:?}"
    );
    let metrics = doublecheck_gate::metrics::handle().render();
    for want in [
        "doublecheck_notices_total{event=\"held\",result=\"sent\"}",
        "doublecheck_notices_total{event=\"held\",result=\"retry\"}",
        "doublecheck_notices_pending",
        "doublecheck_notices_oldest_pending_seconds",
    ] {
        assert!(metrics.contains(want), "{want} missing from:\n{metrics}");
    }
    gate.stop().await;
    assert!(store.audit_verify().await.unwrap().is_ok());
    store.close().await;
}

/// The gate is killed right after the hold (its runtime torn down mid-flight, no graceful
/// stop) while the upstream is down; a new gate on the same database sends the notice once,
/// and a third one sends nothing more.
async fn crash_then_restart(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let upstream = free_addr().await;
    let first = config(dir.path(), db, upstream);
    let (db1, first1) = (db.to_string(), first.clone());
    let hold = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let hold = rt.block_on(async move {
            let mut config = first1;
            // Long pauses: nothing else happens between the first try and the kill.
            config.notices.retry_initial_secs = 2;
            config.notices.retry_max_secs = 2;
            let gate = Gate::start(config).await;
            let store = Store::open(&db1).await.unwrap();
            let hold = gate.send_held().await;
            wait_attempts(&store, &hold, 1).await;
            std::mem::forget(gate);
            hold
        });
        // Like kill -9: every task of the gate is dropped where it stands.
        rt.shutdown_background();
        hold
    })
    .await
    .unwrap();
    let store = Store::open(db).await.unwrap();
    let before = notices_of(&store, &hold).await;
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].status(), NoticeStatus::Pending, "{before:?}");
    let sink = Sink::start_at(upstream, false).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sink.got().is_empty(), "nothing sends it while no gate runs");
    let second = Gate::start(first.clone()).await;
    let got = sink.wait(1).await;
    assert_is_the_notice(&got[0], &hold);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    second.stop().await;
    assert_eq!(sink.got().len(), 1, "sent once");
    let n = &notices_of(&store, &hold).await[0];
    assert_eq!(n.status(), NoticeStatus::Sent, "{n:?}");
    let third = Gate::start(first).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    third.stop().await;
    assert_eq!(sink.got().len(), 1, "a sent notice is never sent again");
    assert!(store.audit_verify().await.unwrap().is_ok());
    store.close().await;
}

// ------------------------------------------------------------------ on SQLite

fn sqlite_db(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/doublecheck.db", dir.path().display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_waits_for_the_upstream_on_sqlite() {
    let db = tempfile::tempdir().unwrap();
    sink_down_then_up(&sqlite_db(&db)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_survives_a_killed_gate_on_sqlite() {
    let db = tempfile::tempdir().unwrap();
    crash_then_restart(&sqlite_db(&db)).await;
}

/// Not accepted within `notices.give_up_after_secs`: given up, once, with an audit entry; a
/// permanent refusal (5xx) gives the notice up at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_are_given_up_after_their_age_or_a_permanent_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(&dir);
    let store = Store::open(&db).await.unwrap();
    // The upstream stays down: tried, then given up after a second.
    let down = free_addr().await;
    let mut c = config(dir.path(), &db, down);
    c.notices.give_up_after_secs = 1;
    let gate = Gate::start(c).await;
    let hold = gate.send_held().await;
    let start = Instant::now();
    let n = loop {
        let n = notices_of(&store, &hold).await.remove(0);
        if n.status() != NoticeStatus::Pending {
            break n;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{n:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(n.status(), NoticeStatus::Failed, "{n:?}");
    assert!(n.attempts >= 2, "{n:?}");
    gate.stop().await;
    // The upstream refuses for good: given up after one try.
    let refusing = free_addr().await;
    let _sink = Sink::start_at(refusing, true).await;
    let gate = Gate::start(config(dir.path(), &db, refusing)).await;
    let refused = gate.send_held().await;
    let start = Instant::now();
    let r = loop {
        let r = notices_of(&store, &refused).await.remove(0);
        if r.status() != NoticeStatus::Pending {
            break r;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    gate.stop().await;
    assert_eq!(r.status(), NoticeStatus::Failed, "{r:?}");
    assert_eq!(r.attempts, 1, "{r:?}");
    assert!(
        r.last_error.as_deref().is_some_and(|e| e.contains("550")),
        "{r:?}"
    );
    let log = store.audit_list(0, 1000).await.unwrap();
    for id in [&hold, &refused] {
        let entries: Vec<_> = log
            .iter()
            .filter(|e| e.action == "notice.give_up" && &e.subject == id)
            .collect();
        assert_eq!(entries.len(), 1, "{log:?}");
    }
    assert!(store.audit_verify().await.unwrap().is_ok());
    let metrics = doublecheck_gate::metrics::handle().render();
    assert!(
        metrics.contains("doublecheck_notices_total{event=\"held\",result=\"failed\"}"),
        "{metrics}"
    );
    // Queued again after it was given up by age: its age counts from the requeue, so a
    // temporary failure is retried, not given up at once (counted from its creation, more
    // than notices.give_up_after_secs ago, it would be).
    let mut c = config(dir.path(), &db, down);
    c.notices.give_up_after_secs = 5;
    let old = Duration::from_millis(u64::try_from(n.created_at_ms).unwrap() + 6_000);
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    tokio::time::sleep(old.saturating_sub(since_epoch)).await;
    let gate = Gate::start(c).await;
    let back = store.notice_requeue(&n.id, "admin").await.unwrap();
    assert_eq!(back.attempts, 0);
    let again = wait_attempts(&store, &hold, 1).await;
    gate.stop().await;
    assert_eq!(again.status(), NoticeStatus::Pending, "{again:?}");
    assert!(again.failed_at_ms.is_none(), "{again:?}");
    store.close().await;
}

// ------------------------------------------------------------------ on PostgreSQL

/// A schema of its own in the server the environment names; `None` when none is.
async fn pg_schema(tag: &str) -> Option<(sqlx::AnyPool, String, String)> {
    let Ok(base) = std::env::var(PG_ENV) else {
        println!("skipped: {PG_ENV} not set");
        return None;
    };
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base).await.expect("connect");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("dc_{tag}_{}_{nanos}", std::process::id());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    Some((admin, schema, url))
}

async fn drop_schema(admin: sqlx::AnyPool, schema: String) {
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_waits_for_the_upstream_on_postgres() {
    let Some((admin, schema, url)) = pg_schema("notice_wait").await else {
        return;
    };
    sink_down_then_up(&url).await;
    drop_schema(admin, schema).await;
    println!("postgres: notice waited for the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_survives_a_killed_gate_on_postgres() {
    let Some((admin, schema, url)) = pg_schema("notice_crash").await else {
        return;
    };
    crash_then_restart(&url).await;
    drop_schema(admin, schema).await;
    println!("postgres: notice survived the killed gate");
}
