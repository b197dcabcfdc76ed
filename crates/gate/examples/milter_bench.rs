//! The milter listener's latency and throughput, measured in one process on loopback.
//!
//! A client speaks to the listener the way Postfix 3.x does (option negotiation offering
//! everything, macros before each step, the headers one by one, the body in chunks of at most
//! 64 KB) and sends N clean messages of about 50 KB, then N of about 5 KB, over 1 and then 8
//! concurrent connections. Latency is the time from sending the end of the message (the `E`
//! macros and EOB) to receiving the final reply: what the milter adds to each message at the
//! MTA. Baseline in the same run: the engine checking the same messages directly (one core, no
//! I/O).
//!
//! ```text
//! cargo run --release -p doublecheck-gate --example milter_bench -- [N]
//! ```
//!
//! The client and the milter share the machine's cores, so the figures are a floor for the milter.

use doublecheck_engine::{Action, Envelope, Policy};
use doublecheck_gate::{AppState, Config};
use doublecheck_milter::{Actions, Command, Family, FrameDecoder, OptNeg, ProtocolFlags, Response};
use doublecheck_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Any single read from the milter may take at most this long.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A whole run may take at most this long.
const RUN_DEADLINE: Duration = Duration::from_secs(600);
/// Responses read for one message at most.
const MAX_RESPONSES: usize = 64;
/// The target for a 50 KB message at the milter.
const TARGET_P99: Duration = Duration::from_millis(2);

// ------------------------------------------------------------------ messages

#[path = "support/messages.rs"]
mod messages;
use messages::message;

// ------------------------------------------------------------------ Postfix's side

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
            if let Some(last) = headers.last_mut() {
                last.1.extend_from_slice(b"\n");
                last.1.extend_from_slice(content);
            }
            continue;
        }
        let colon = content.iter().position(|&b| b == b':').unwrap_or(0);
        headers.push((content[..colon].to_vec(), content[colon + 1..].to_vec()));
    }
    (headers, raw[i..].to_vec())
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

fn encode(cmds: Vec<Command>) -> Vec<u8> {
    let mut w = Vec::new();
    for c in cmds {
        w.extend(c.to_bytes());
    }
    w
}

/// What Postfix 3.x sends when an SMTP client connects: negotiation, then the connection.
fn connect_frames() -> Vec<u8> {
    encode(vec![
        Command::OptNeg(OptNeg {
            version: 6,
            actions: Actions(0x1ff),
            protocol: ProtocolFlags(0x1f_ffff),
        }),
        macros(
            b'C',
            &[
                ("j", "mail.phoneco.example"),
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
        Command::Helo(b"client.phoneco.example".to_vec()),
    ])
}

/// One message as Postfix sends it, in two parts: everything before the end of the message,
/// and the end of the message (`E` macros and EOB).
struct Conversation {
    before_end: Vec<u8>,
    end: Vec<u8>,
}

fn conversation(queue_id: &str, from: &str, to: &str, raw: &[u8]) -> Conversation {
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
        Command::Mail(vec![
            format!("<{from}>").into_bytes(),
            b"BODY=8BITMIME".to_vec(),
        ]),
        macros(b'R', &[("{rcpt_addr}", to)]),
        Command::Rcpt(vec![format!("<{to}>").into_bytes()]),
        macros(b'T', &[]),
        Command::Data,
    ];
    for (name, value) in headers {
        cmds.push(Command::Header { name, value });
    }
    cmds.push(Command::EndOfHeaders);
    for chunk in body.chunks(65535) {
        cmds.push(Command::Body(chunk.to_vec()));
    }
    Conversation {
        before_end: encode(cmds),
        end: encode(vec![
            macros(b'E', &[("i", queue_id)]),
            Command::EndOfBody(Vec::new()),
        ]),
    }
}

struct Mta {
    stream: TcpStream,
    decoder: FrameDecoder,
    buf: Vec<u8>,
}

type Res<T> = Result<T, String>;

impl Mta {
    async fn connect(addr: SocketAddr) -> Res<Mta> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut mta = Mta {
            stream,
            decoder: FrameDecoder::new(),
            buf: vec![0; 16 * 1024],
        };
        mta.send(&connect_frames()).await?;
        match mta.next().await? {
            Response::OptNeg { .. } => Ok(mta),
            other => Err(format!("expected OPTNEG, got {other:?}")),
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Res<()> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    async fn next(&mut self) -> Res<Response> {
        // Bounded: each round either returns or waits for more bytes (up to READ_TIMEOUT).
        for _ in 0..100_000 {
            if let Some(frame) = self
                .decoder
                .next_frame()
                .map_err(|e| format!("bad frame: {e}"))?
            {
                return Response::decode(&frame).map_err(|e| format!("bad response: {e}"));
            }
            let n = tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut self.buf))
                .await
                .map_err(|_| "no response in time".to_string())?
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("the milter closed the connection".into());
            }
            self.decoder.feed(&self.buf[..n]);
        }
        Err("no complete response".into())
    }

    /// Sends one message; returns the final response and the time from the end of the message
    /// to it.
    async fn message(&mut self, c: &Conversation) -> Res<(Response, Duration)> {
        self.send(&c.before_end).await?;
        let t0 = Instant::now();
        self.send(&c.end).await?;
        for _ in 0..MAX_RESPONSES {
            let r = self.next().await?;
            if matches!(
                r,
                Response::Accept
                    | Response::Continue
                    | Response::ReplyCode(_)
                    | Response::Tempfail
                    | Response::Reject
                    | Response::Discard
            ) {
                return Ok((r, t0.elapsed()));
            }
        }
        Err("too many responses".into())
    }

    async fn quit(mut self) {
        let _ = self.send(&Command::Quit.to_bytes()).await;
        let _ = self.stream.shutdown().await;
    }
}

// ------------------------------------------------------------------ runs

struct Prepared {
    from: String,
    to: String,
    raw: Vec<u8>,
    conversation: Conversation,
}

fn corpus(n: usize, size: usize, seed: u64) -> Vec<Prepared> {
    (0..n)
        .map(|i| {
            let (from, to, m) = message(seed + i as u64, size);
            let conversation = conversation(
                &format!("4B{:07X}", seed + i as u64),
                &from,
                &to,
                m.as_bytes(),
            );
            Prepared {
                from,
                to,
                raw: m.into_bytes(),
                conversation,
            }
        })
        .collect()
}

struct RunResult {
    wall: Duration,
    latencies: Vec<Duration>,
    accepted: usize,
    other: Vec<String>,
    errors: Vec<String>,
}

async fn run(addr: SocketAddr, msgs: Arc<Vec<Prepared>>, connections: usize) -> RunResult {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..connections {
        let msgs = msgs.clone();
        tasks.spawn(async move {
            let (mut lat, mut accepted, mut other) = (Vec::new(), 0, Vec::new());
            let mut mta = match Mta::connect(addr).await {
                Ok(m) => m,
                Err(e) => return (lat, accepted, other, Some(e)),
            };
            for m in msgs.iter().skip(id).step_by(connections) {
                match mta.message(&m.conversation).await {
                    Ok((r, d)) => {
                        lat.push(d);
                        if r == Response::Accept {
                            accepted += 1;
                        } else {
                            other.push(format!("{r:?}"));
                        }
                    }
                    Err(e) => return (lat, accepted, other, Some(e)),
                }
            }
            mta.quit().await;
            (lat, accepted, other, None)
        });
    }
    let mut result = RunResult {
        wall: Duration::ZERO,
        latencies: Vec::new(),
        accepted: 0,
        other: Vec::new(),
        errors: Vec::new(),
    };
    let all = tokio::time::timeout(RUN_DEADLINE, async {
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((lat, accepted, other, err)) => {
                    result.latencies.extend(lat);
                    result.accepted += accepted;
                    result.other.extend(other);
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
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn line(name: &str, rate: f64, sorted: &[Duration], extra: &str) {
    println!(
        "  {name:<26} {rate:>7.0} msg/s   p50 {}  p99 {}  max {}{extra}",
        ms(pct(sorted, 0.50)),
        ms(pct(sorted, 0.99)),
        ms(sorted.last().copied().unwrap_or_default()),
    );
}

/// The engine alone over the same messages, one core, no I/O.
fn engine_baseline(state: &AppState, msgs: &[Prepared]) -> (f64, Vec<Duration>, usize) {
    let mut lat = Vec::with_capacity(msgs.len());
    let mut flagged = 0;
    let start = Instant::now();
    for m in msgs {
        let env = Envelope {
            mail_from: Some(m.from.clone()),
            rcpt_to: vec![m.to.clone()],
            auth_user: None,
        };
        let t0 = Instant::now();
        let v = state.engine.check(&m.raw, &env);
        lat.push(t0.elapsed());
        if v.action != Action::Allow || !v.headers.is_empty() {
            flagged += 1;
        }
    }
    let rate = msgs.len() as f64 / start.elapsed().as_secs_f64();
    lat.sort_unstable();
    (rate, lat, flagged)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000)
        .max(8);

    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store = Store::open(&url).await.expect("open the store");
    let state = AppState::new(config, Policy::builtin(), store);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the milter");
    let addr = listener.local_addr().expect("milter address");
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(doublecheck_gate::milter::run(listener, state.clone(), rx));

    let mut met = true;
    for (label, size, seed) in [
        ("50 KB", 50 * 1024, 1_000_000u64),
        ("5 KB", 5 * 1024, 2_000_000),
    ] {
        let msgs = Arc::new(corpus(n, size, seed));
        let mut sizes: Vec<usize> = msgs.iter().map(|m| m.raw.len()).collect();
        sizes.sort_unstable();
        println!(
            "== milter, {n} clean messages of about {label} ({} to {} bytes; 60% text, 30% text + HTML, 10% with an attachment)",
            sizes.first().copied().unwrap_or(0),
            sizes.last().copied().unwrap_or(0),
        );
        println!(
            "  latency: from sending the end of the message (E macros + EOB) to the final reply"
        );
        let (rate, lat, flagged) = engine_baseline(&state, &msgs);
        line(
            "engine alone (baseline)",
            rate,
            &lat,
            &format!("   ({flagged} of {n} flagged)"),
        );
        // Warm-up, not counted.
        let warm = Arc::new(corpus(16, size, seed + 900_000));
        let _ = run(addr, warm, 2).await;
        for connections in [1, 8] {
            let mut r = run(addr, msgs.clone(), connections).await;
            r.latencies.sort_unstable();
            let rate = r.latencies.len() as f64 / r.wall.as_secs_f64();
            let extra = format!("   ({} of {n} accepted)", r.accepted);
            line(
                &format!(
                    "milter, {connections} connection{}",
                    if connections == 1 { "" } else { "s" }
                ),
                rate,
                &r.latencies,
                &extra,
            );
            for o in r.other.iter().take(3) {
                println!("    not accepted: {o}");
            }
            for e in r.errors.iter().take(3) {
                println!("    error: {e}");
            }
            if size == 50 * 1024 && connections == 1 {
                let p99 = pct(&r.latencies, 0.99);
                let ok = p99 <= TARGET_P99 && r.accepted == n;
                met &= ok;
                println!(
                    "  target p99 <= {} for a 50 KB message, 1 connection: {} ({})",
                    ms(TARGET_P99),
                    if ok { "met" } else { "NOT met" },
                    ms(p99)
                );
            }
        }
        println!();
    }
    if !met {
        std::process::exit(1);
    }
}
