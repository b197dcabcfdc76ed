//! A milter that checks nothing: it negotiates exactly as the doublecheck gate does (same
//! actions, no-reply flags and macros), collects each message the same way, and accepts it.
//! `scripts/bench-postfix` runs it as a third phase to separate what any milter costs Postfix
//! (its cleanup server hands every message to the milter and waits for the verdict) from what
//! the gate's checks cost.
//!
//! ```text
//! cargo run --release -p doublecheck-milter --example null_milter -- 127.0.0.1:18992
//! ```
//!
//! One thread per connection, std only; it stops when killed.

use doublecheck_milter::{Action, Config, Event, Session};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    // The gate sets TCP_NODELAY too: milter replies are small and latency-bound.
    stream.set_nodelay(true)?;
    let mut session = Session::new(Config::default());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        // As the gate does: acknowledge at once (Linux resets the flag after use), or the final
        // frame waits ~40 ms for a delayed ACK behind Postfix's Nagle.
        #[cfg(target_os = "linux")]
        let _ = socket2::SockRef::from(&stream).set_tcp_quickack(true);
        let events = session
            .receive(&buf[..n])
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let mut out = Vec::new();
        for event in events {
            match event {
                Event::Reply(bytes) => out.extend(bytes),
                Event::Message(_) | Event::Limit(_) => {
                    let answer = session.answer(Action::Accept).map_err(|e| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                    })?;
                    out.extend(answer);
                }
                Event::Quit => {
                    stream.write_all(&out)?;
                    return Ok(());
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
        }
    }
}

fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18992".into());
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("null_milter: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!("null_milter: listening on {addr}");
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                std::thread::spawn(move || {
                    if let Err(e) = serve(s) {
                        eprintln!("null_milter: connection ended: {e}");
                    }
                });
            }
            Err(e) => eprintln!("null_milter: accept: {e}"),
        }
    }
    ExitCode::SUCCESS
}
