//! Page response times of the customer's pages under load: the pages served on loopback,
//! 100 customers at once (each with their own session, link and keep-alive connection), each
//! opening their link and their address page in turn. Prints p50, p99 and max.
//!
//! ```sh
//! cargo run --release -p doublecheck-portal --example customer_load [CUSTOMERS] [REQUESTS_EACH] [PACE_MS]
//! ```
//!
//! Without `PACE_MS` every customer sends the next request as soon as the previous answer
//! arrives (a closed loop: saturation, where the latency is mostly queueing, about customers ÷
//! throughput). With it, each customer starts a request every `PACE_MS` milliseconds (100
//! customers at 100 ms = 1,000 requests a second).
//!
//! SQLite under a temporary directory; `DOUBLECHECK_BENCH_DATABASE_URL` names another database.
//! The load generator runs in the same process on the same cores, so the figures include its
//! cost.
//!
//! For an external load generator (`scripts/bench-portal` runs `wrk`), `serve` only sets up the
//! customers and serves their pages until killed, writing one `PATH<TAB>COOKIE` line per
//! customer to `TARGETS` once it listens:
//!
//! ```sh
//! cargo run --release -p doublecheck-portal --example customer_load serve 127.0.0.1:18200 targets.tsv [CUSTOMERS]
//! ```

use doublecheck_engine::Policy;
use doublecheck_gate::{AppState, Config};
use doublecheck_portal::customer::{CookieKey, CustomerOptions, CustomerState, customer_routes};
use doublecheck_portal::{PortalState, ServerKey, secrets};
use doublecheck_store::{Customer, NewVerificationSession, Store, VerificationType};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let serve = if args.peek().map(String::as_str) == Some("serve") {
        args.next();
        let addr: SocketAddr = args
            .next()
            .and_then(|a| a.parse().ok())
            .expect("serve ADDR TARGETS [CUSTOMERS]: an address such as 127.0.0.1:18200");
        let targets = args
            .next()
            .expect("serve ADDR TARGETS [CUSTOMERS]: a targets file");
        Some((addr, targets))
    } else {
        None
    };
    let customers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let each: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let pace: Option<u64> = args.next().and_then(|a| a.parse().ok());

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    if let Ok(url) = std::env::var("DOUBLECHECK_BENCH_DATABASE_URL") {
        config.database.url = Some(url);
    }
    let store = Store::open(&config.database_url()).await.unwrap();
    let portal = PortalState::new(
        AppState::new(config, Policy::builtin(), store.clone()),
        ServerKey::from_bytes([5; 32]),
    );
    let keys = CookieKey::derive(&portal.key);
    let state = CustomerState::new(portal, None, CustomerOptions::default());

    // One session and link per customer, and the cookie a second factor would have given.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut who = Vec::with_capacity(customers);
    for i in 0..customers {
        let s = store
            .vs_create(
                NewVerificationSession {
                    livemode: false,
                    kind: VerificationType::AddressAndDocument,
                    customer: Customer {
                        email: Some(format!("customer{i}@example.net")),
                        ..Default::default()
                    },
                    known_json: None,
                    return_url: None,
                    metadata_json: "{}".into(),
                    api_key_id: None,
                    expires_at_ms: now + 86_400_000,
                },
                "bench",
            )
            .await
            .unwrap();
        let (token, hash) = secrets::new_link_token().unwrap();
        store.link_create(&s.id, &hash, 86_400_000).await.unwrap();
        let cookie = keys.session_cookie(&s.id, &hash, now + 3_600_000);
        who.push((format!("/verify/{token}"), cookie));
    }

    if let Some((addr, targets)) = serve {
        let listener = TcpListener::bind(addr).await.unwrap();
        let lines: String = who
            .iter()
            .map(|(link, cookie)| format!("{link}\t{cookie}\n"))
            .collect();
        // Written once the port listens: the script waits for the file.
        std::fs::write(&targets, lines).unwrap();
        eprintln!("customer_load: {customers} customers served on {addr}; targets in {targets}");
        axum::serve(
            listener,
            customer_routes(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
        return;
    }

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = customer_routes(state);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });

    let start = Instant::now();
    let mut tasks = Vec::new();
    for (link, cookie) in who {
        tasks.push(tokio::spawn(async move {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            conn.set_nodelay(true).unwrap();
            let mut times = Vec::with_capacity(each);
            let mut tick = pace.map(|ms| {
                let mut i = tokio::time::interval(Duration::from_millis(ms.max(1)));
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i
            });
            for n in 0..each {
                if let Some(i) = tick.as_mut() {
                    i.tick().await;
                }
                let path = if n % 2 == 0 {
                    link.clone()
                } else {
                    format!("{link}/address")
                };
                let req =
                    format!("GET {path} HTTP/1.1\r\nHost: bench\r\nCookie: dc_vs={cookie}\r\n\r\n");
                let t = Instant::now();
                conn.write_all(req.as_bytes()).await.unwrap();
                let status = read_response(&mut conn).await;
                times.push(t.elapsed());
                assert!(status == 200 || status == 303, "status {status} for {path}");
            }
            times
        }));
    }
    let mut all: Vec<Duration> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let wall = start.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{customers} customers × {each} requests{}: {} responses in {:.2} s ({:.0}/s); \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pace.map(|ms| format!(", one every {ms} ms each"))
            .unwrap_or_default(),
        all.len(),
        wall.as_secs_f64(),
        all.len() as f64 / wall.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        all[all.len() - 1].as_secs_f64() * 1000.0,
    );
}

/// Reads one response (headers and a `Content-Length` body); returns its status.
async fn read_response(conn: &mut TcpStream) -> u16 {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    let (head_end, len) = loop {
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse::<usize>().unwrap())
                .unwrap_or(0);
            break (i + 4, len);
        }
    };
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf[9..12]).parse().unwrap()
}
