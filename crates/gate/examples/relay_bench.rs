//! The SMTP relay's throughput, latency and memory, measured in one process on loopback:
//!
//! 1. Throughput: an upstream sink that accepts everything, the relay in front of it (built-in
//!    policy, temporary SQLite store), and CONCURRENCY clients sending N clean messages of
//!    1–50 KB over persistent connections (MAIL, RCPT, DATA, RSET). Latency is the time from the
//!    end of the data (`.`) to the relay's reply. Baseline: the same clients sending the same
//!    messages straight to the sink.
//! 2. Memory: 200 slow clients at once, each trickling its message a few bytes every 100 ms for
//!    about 5 s; the process's peak RSS while they are connected, and how each one ended.
//!
//! ```text
//! cargo run --release -p doublecheck-gate --example relay_bench -- [N] [CONCURRENCY]
//! ```
//!
//! Clients, relay and sink share the machine's cores, so the figures are a floor for the relay.

use doublecheck_engine::{Action, Envelope, Policy};
use doublecheck_gate::{AppState, Config};
use doublecheck_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Any single read from a peer may take at most this long.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A whole throughput run may take at most this long.
const RUN_DEADLINE: Duration = Duration::from_secs(600);
/// Slow clients in the memory test.
const SLOW_CLIENTS: usize = 200;
/// Each slow client sends one piece of its message every TICK, this many times.
const SLOW_TICKS: u32 = 50;
const TICK: Duration = Duration::from_millis(100);
/// Longest reply accepted, in lines.
const MAX_REPLY_LINES: usize = 64;

// ------------------------------------------------------------------ messages

#[path = "support/messages.rs"]
mod messages;
use messages::{Rng, message};

/// A message ready for the wire: dot-stuffed, without the final `.` line (sent separately so
/// its latency can be timed).
struct Prepared {
    from: String,
    to: String,
    size: usize,
    data: Vec<u8>,
}

fn stuff(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    for line in message.split_inclusive("\r\n") {
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The message as checked: the dot-stuffing undone.
fn unstuffed(m: &Prepared) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.data.len());
    for line in m.data.split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}

/// Sizes spread from 1 to 50 KB, more small messages than large ones (log-uniform).
fn corpus(n: usize) -> Vec<Prepared> {
    let mut rng = Rng(0x5EED);
    (0..n)
        .map(|i| {
            let u = (rng.next() % 10_000) as f64 / 10_000.0;
            let size = ((1024.0 * 50f64.powf(u)) as usize).clamp(1200, 50 * 1024);
            let (from, to, m) = message(i as u64, size);
            Prepared {
                from,
                to,
                size: m.len(),
                data: stuff(&m),
            }
        })
        .collect()
}

// ------------------------------------------------------------------ the sink

/// Counts the messages the upstream sink accepted.
#[derive(Default)]
struct SinkCount {
    messages: AtomicU64,
    bytes: AtomicU64,
}

async fn start_sink() -> (SocketAddr, Arc<SinkCount>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the sink");
    let addr = listener.local_addr().expect("sink address");
    let count = Arc::new(SinkCount::default());
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let _ = sock.set_nodelay(true);
            tokio::spawn(sink_session(sock, c.clone()));
        }
    });
    (addr, count)
}

/// Accepts everything; replies as soon as a command or the data is complete.
async fn sink_session(sock: TcpStream, count: Arc<SinkCount>) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::with_capacity(64 * 1024, r);
    if w.write_all(b"220 sink ESMTP\r\n").await.is_err() {
        return;
    }
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        match tokio::time::timeout(READ_TIMEOUT, r.read_until(b'\n', &mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
        let verb: [u8; 4] = std::array::from_fn(|i| line.get(i).map_or(0, u8::to_ascii_uppercase));
        let answer: &[u8] = match &verb {
            b"EHLO" => b"250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n",
            b"HELO" => b"250 sink\r\n",
            b"DATA" => {
                if w.write_all(b"354 go\r\n").await.is_err() {
                    return;
                }
                let mut bytes = 0u64;
                loop {
                    line.clear();
                    match tokio::time::timeout(READ_TIMEOUT, r.read_until(b'\n', &mut line)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return,
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    bytes += line.len() as u64;
                }
                count.messages.fetch_add(1, Ordering::Relaxed);
                count.bytes.fetch_add(bytes, Ordering::Relaxed);
                b"250 2.0.0 queued\r\n"
            }
            b"QUIT" => {
                let _ = w.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 2.0.0 ok\r\n",
        };
        if w.write_all(answer).await.is_err() {
            return;
        }
    }
}

// ------------------------------------------------------------------ the relay

struct Relay {
    addr: SocketAddr,
    state: AppState,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

async fn start_relay(upstream: SocketAddr) -> Relay {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.smtp.upstream = Some(upstream.to_string());
    std::fs::create_dir_all(&config.data_dir).expect("data dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store = Store::open(&url).await.expect("open the store");
    let state = AppState::new(config, Policy::builtin(), store);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the relay");
    let addr = listener.local_addr().expect("relay address");
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(doublecheck_gate::smtp::run(listener, state.clone(), rx));
    Relay {
        addr,
        state,
        _dir: dir,
        _stop: stop,
    }
}

// ------------------------------------------------------------------ the client

struct Client {
    io: BufReader<TcpStream>,
}

type Res<T> = Result<T, String>;

impl Client {
    async fn connect(addr: SocketAddr) -> Res<Client> {
        let sock = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = sock.set_nodelay(true);
        let mut c = Client {
            io: BufReader::new(sock),
        };
        let greeting = c.reply().await?;
        if !greeting.starts_with("220") {
            return Err(greeting);
        }
        c.expect("EHLO client.bench", "250").await?;
        Ok(c)
    }

    /// One reply (all its lines); empty when the peer closed the connection.
    async fn reply(&mut self) -> Res<String> {
        let mut all = String::new();
        for _ in 0..MAX_REPLY_LINES {
            let mut line = String::new();
            let n = tokio::time::timeout(READ_TIMEOUT, self.io.read_line(&mut line))
                .await
                .map_err(|_| "no reply in time".to_string())?
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Ok(all);
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return Ok(all);
            }
        }
        Err("reply too long".into())
    }

    async fn write(&mut self, bytes: &[u8]) -> Res<()> {
        self.io
            .get_mut()
            .write_all(bytes)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    async fn expect(&mut self, line: &str, code: &str) -> Res<String> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        let r = self.reply().await?;
        if r.starts_with(code) {
            Ok(r)
        } else {
            Err(format!("{line}: {}", r.trim_end()))
        }
    }

    /// MAIL, RCPT, DATA and the message; returns the reply to the data and the time from the
    /// final `.` to that reply.
    async fn send(&mut self, m: &Prepared) -> Res<(String, Duration)> {
        self.expect(&format!("MAIL FROM:<{}>", m.from), "250")
            .await?;
        self.expect(&format!("RCPT TO:<{}>", m.to), "250").await?;
        self.expect("DATA", "354").await?;
        self.write(&m.data).await?;
        let t0 = Instant::now();
        self.write(b".\r\n").await?;
        let r = self.reply().await?;
        Ok((r, t0.elapsed()))
    }

    async fn quit(mut self) {
        let _ = self.write(b"QUIT\r\n").await;
        let _ = self.reply().await;
        // Wait for the server to close its side, so its session is over.
        let _ = self.reply().await;
    }
}

// ------------------------------------------------------------------ throughput

struct RunResult {
    wall: Duration,
    latencies: Vec<Duration>,
    accepted: usize,
    other_replies: Vec<String>,
    errors: Vec<String>,
}

async fn run_clients(addr: SocketAddr, msgs: Arc<Vec<Prepared>>, clients: usize) -> RunResult {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..clients {
        let msgs = msgs.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut accepted = 0;
            let mut other = Vec::new();
            let mut c = match Client::connect(addr).await {
                Ok(c) => c,
                Err(e) => return (lat, accepted, other, Some(e)),
            };
            for m in msgs.iter().skip(id).step_by(clients) {
                match c.send(m).await {
                    Ok((r, d)) => {
                        lat.push(d);
                        if r.starts_with("250") {
                            accepted += 1;
                        } else {
                            other.push(r.trim_end().to_string());
                        }
                    }
                    Err(e) => return (lat, accepted, other, Some(e)),
                }
                if let Err(e) = c.expect("RSET", "250").await {
                    return (lat, accepted, other, Some(e));
                }
            }
            c.quit().await;
            (lat, accepted, other, None)
        });
    }
    let mut result = RunResult {
        wall: Duration::ZERO,
        latencies: Vec::new(),
        accepted: 0,
        other_replies: Vec::new(),
        errors: Vec::new(),
    };
    let all = tokio::time::timeout(RUN_DEADLINE, async {
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((lat, accepted, other, err)) => {
                    result.latencies.extend(lat);
                    result.accepted += accepted;
                    result.other_replies.extend(other);
                    result.errors.extend(err);
                }
                Err(e) => result.errors.push(format!("client task: {e}")),
            }
        }
    })
    .await;
    if all.is_err() {
        result.errors.push("the run did not finish in time".into());
        tasks.shutdown().await;
    }
    result.wall = start.elapsed();
    result
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Prints the run's figures; returns messages per second.
fn report(name: &str, n: usize, r: &mut RunResult) -> f64 {
    r.latencies.sort_unstable();
    let rate = r.latencies.len() as f64 / r.wall.as_secs_f64();
    println!(
        "  {name:<22} {rate:>8.0} msg/s   latency p50 {}  p99 {}  max {}   ({} of {n} answered 250 in {:.2} s)",
        ms(pct(&r.latencies, 0.50)),
        ms(pct(&r.latencies, 0.99)),
        ms(r.latencies.last().copied().unwrap_or_default()),
        r.accepted,
        r.wall.as_secs_f64(),
    );
    for o in r.other_replies.iter().take(5) {
        println!("    not accepted: {o}");
    }
    for e in r.errors.iter().take(5) {
        println!("    error: {e}");
    }
    rate
}

// ------------------------------------------------------------------ memory

/// A field of /proc/self/status in KiB (VmRSS, VmHWM), or 0 where there is none.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// How a slow client's message ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ending {
    Accepted,
    Reply(String),
    Cut(String),
}

/// Connects, says EHLO, starts a message, then trickles it a few bytes every TICK.
async fn slow_client(addr: SocketAddr, id: usize, started: Arc<AtomicU64>) -> Ending {
    let mut c = match Client::connect(addr).await {
        Ok(c) => c,
        Err(e) => return Ending::Cut(e),
    };
    let steps = async {
        c.expect("MAIL FROM:<care@phoneco.example>", "250").await?;
        c.expect(&format!("RCPT TO:<slow{id}@example.org>"), "250")
            .await?;
        c.expect("DATA", "354").await?;
        started.fetch_add(1, Ordering::Relaxed);
        c.write(
            format!(
                "From: care@phoneco.example\r\nTo: slow{id}@example.org\r\n\
                 Subject: Slow {id}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await?;
        for tick in 0..SLOW_TICKS {
            tokio::time::sleep(TICK).await;
            let piece: &[u8] = if tick % 4 == 3 {
                b"store update\r\n"
            } else {
                b"thanks for "
            };
            c.write(piece).await?;
        }
        c.write(b"\r\n.\r\n").await?;
        c.reply().await
    };
    match steps.await {
        Ok(r) if r.starts_with("250") => {
            c.quit().await;
            Ending::Accepted
        }
        Ok(r) if r.is_empty() => Ending::Cut("closed without a reply".into()),
        Ok(r) => Ending::Reply(r.get(..9).unwrap_or(&r).trim_end().to_string()),
        Err(e) => Ending::Cut(e),
    }
}

async fn memory_test(relay: &Relay) {
    let limits = &relay.state.config.smtp;
    println!(
        "== memory: {SLOW_CLIENTS} concurrent slow clients, each trickling its message for {:.1} s",
        (TICK * SLOW_TICKS).as_secs_f64()
    );
    println!(
        "  relay limits: {} connections, idle timeout {} s, line length {} bytes",
        limits.max_connections, limits.idle_timeout_secs, limits.max_line_length
    );
    let (rss_before, hwm_before) = (status_kib("VmRSS"), status_kib("VmHWM"));
    // "5" resets the peak RSS to the current RSS (Linux ≥ 4.0), so VmHWM covers only this test.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    println!(
        "  before: RSS {}, peak so far {}{}",
        mib(rss_before),
        mib(hwm_before),
        if reset {
            " (peak reset now)"
        } else {
            " (peak could not be reset: it includes the throughput runs)"
        }
    );
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let started = Arc::new(AtomicU64::new(0));
    for id in 0..SLOW_CLIENTS {
        let (addr, started) = (relay.addr, started.clone());
        tasks.spawn(async move { slow_client(addr, id, started).await });
    }
    // Once they are all in the middle of their data, one more connection is tried.
    for _ in 0..40 {
        if started.load(Ordering::Relaxed) as usize >= SLOW_CLIENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let in_data = started.load(Ordering::Relaxed);
    let extra = match TcpStream::connect(relay.addr).await {
        Ok(sock) => {
            let mut c = Client {
                io: BufReader::new(sock),
            };
            c.reply().await.unwrap_or_else(|e| e)
        }
        Err(e) => format!("connect: {e}"),
    };
    let mut sampled_max = 0;
    let mut endings = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !tasks.is_empty() && Instant::now() < deadline {
        sampled_max = sampled_max.max(status_kib("VmRSS"));
        match tokio::time::timeout(Duration::from_millis(50), tasks.join_next()).await {
            Ok(Some(Ok(e))) => endings.push(e),
            Ok(Some(Err(e))) => endings.push(Ending::Cut(format!("client task: {e}"))),
            Ok(None) | Err(_) => {}
        }
    }
    let unfinished = tasks.len();
    tasks.shutdown().await;
    let elapsed = start.elapsed();
    let (rss_after, hwm_after) = (status_kib("VmRSS"), status_kib("VmHWM"));
    println!(
        "  peak RSS during the test {} (VmHWM; sampled max {}), RSS after {}; {:.1} s",
        mib(hwm_after),
        mib(sampled_max),
        mib(rss_after),
        elapsed.as_secs_f64()
    );
    println!(
        "  growth over the RSS before: {}, {:.1} KiB per slow client",
        mib(hwm_after.saturating_sub(rss_before)),
        hwm_after.saturating_sub(rss_before) as f64 / SLOW_CLIENTS as f64
    );
    endings.sort();
    let accepted = endings.iter().filter(|e| **e == Ending::Accepted).count();
    println!(
        "  {accepted} of {SLOW_CLIENTS} got 250 for their message{}",
        if unfinished > 0 {
            format!("; {unfinished} still waiting at the deadline")
        } else {
            String::new()
        }
    );
    let mut others: Vec<(String, usize)> = Vec::new();
    for e in endings.iter().filter(|e| **e != Ending::Accepted) {
        let k = format!("{e:?}");
        match others.iter_mut().find(|(o, _)| *o == k) {
            Some((_, n)) => *n += 1,
            None => others.push((k, 1)),
        }
    }
    for (k, n) in others {
        println!("  {n} ended: {k}");
    }
    println!(
        "  connection {} while {in_data} slow clients were in their data: {}",
        SLOW_CLIENTS + 1,
        extra.trim_end()
    );
}

// ------------------------------------------------------------------ main

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let clients: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(50)
        .clamp(1, 190);

    let msgs = Arc::new(corpus(n));
    let total: usize = msgs.iter().map(|m| m.size).sum();
    let mut sizes: Vec<usize> = msgs.iter().map(|m| m.size).collect();
    sizes.sort_unstable();

    let (sink_addr, sink) = start_sink().await;
    let relay = start_relay(sink_addr).await;

    // Every message must be one the built-in policy lets through unchanged. The engine alone over every message, on one core, is the baseline for the relay's work.
    let mut flagged = 0;
    let engine_start = Instant::now();
    for (i, m) in msgs.iter().enumerate() {
        let raw = unstuffed(m);
        let env = Envelope {
            mail_from: Some(m.from.clone()),
            rcpt_to: vec![m.to.clone()],
            auth_user: None,
        };
        let v = relay.state.engine.check(&raw, &env);
        if v.action != Action::Allow || !v.headers.is_empty() {
            flagged += 1;
            if flagged <= 3 {
                let ids: Vec<&str> = v.findings.iter().map(|f| f.id).collect();
                println!("  message {i} is not clean: {} {ids:?}", v.action.as_str());
            }
        }
    }
    let engine_rate = n as f64 / engine_start.elapsed().as_secs_f64();

    println!(
        "== relay throughput: {n} clean messages ({} to {} bytes, median {}, {:.1} MB in all), {clients} persistent connections",
        sizes.first().copied().unwrap_or(0),
        sizes.last().copied().unwrap_or(0),
        sizes.get(sizes.len() / 2).copied().unwrap_or(0),
        total as f64 / 1e6
    );
    println!(
        "  mix: 60% text, 30% text + HTML alternative, 10% with a 1–3 KB attachment; built-in policy: {flagged} of {n} flagged"
    );
    println!("  latency: from the end of the data (the final \".\") to the reply");
    println!("  engine alone, one core, no I/O:   {engine_rate:>8.0} msg/s");

    // Warm up both paths (connections, allocator, engine tables); not counted.
    let warm: Arc<Vec<Prepared>> = Arc::new(corpus(clients.min(n) * 2));
    let _ = run_clients(sink_addr, warm.clone(), clients).await;
    let _ = run_clients(relay.addr, warm.clone(), clients).await;

    let before = sink.messages.load(Ordering::Relaxed);
    let mut direct = run_clients(sink_addr, msgs.clone(), clients).await;
    let direct_rate = report("sink alone (baseline)", n, &mut direct);
    let mid = sink.messages.load(Ordering::Relaxed);
    let mut relayed = run_clients(relay.addr, msgs.clone(), clients).await;
    let relay_rate = report("relay -> sink", n, &mut relayed);
    let after = sink.messages.load(Ordering::Relaxed);
    let one_n = n.min(500);
    let one: Arc<Vec<Prepared>> = Arc::new(corpus(one_n));
    let mut single = run_clients(relay.addr, one, 1).await;
    report("relay, 1 connection", one_n, &mut single);
    let after_one = sink.messages.load(Ordering::Relaxed);
    let through = after - mid;
    println!(
        "  relay/baseline: {:.1}% of the direct rate; added p50 {:+.2} ms, p99 {:+.2} ms",
        100.0 * relay_rate / direct_rate.max(f64::MIN_POSITIVE),
        (pct(&relayed.latencies, 0.5).as_secs_f64() - pct(&direct.latencies, 0.5).as_secs_f64())
            * 1000.0,
        (pct(&relayed.latencies, 0.99).as_secs_f64() - pct(&direct.latencies, 0.99).as_secs_f64())
            * 1000.0,
    );
    let check = if through as usize == n
        && relayed.accepted == n
        && mid - before == n as u64
        && (after_one - after) as usize == one_n
    {
        "all delivered"
    } else {
        "MISMATCH"
    };
    println!(
        "  sink received {through} of {n} relayed messages ({} direct): {check}",
        mid - before
    );
    println!(
        "  peak RSS after the throughput runs: {}",
        mib(status_kib("VmHWM"))
    );
    println!();

    // Let the throughput sessions' connection slots go before the memory test.
    tokio::time::sleep(Duration::from_millis(500)).await;
    memory_test(&relay).await;
}
