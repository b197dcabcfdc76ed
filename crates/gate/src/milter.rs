//! The milter listener: Postfix (`smtpd_milters`) or Sendmail (`INPUT_MAIL_FILTER`) hands each
//! message to doublecheck before it accepts it, and carries out the verdict.
//!
//! One task per MTA connection moves bytes between the socket and a
//! [`doublecheck_milter::Session`]; at the end of each message the engine checks it and the
//! policy's action becomes a milter reply:
//!
//! | action | reply |
//! |---|---|
//! | `allow` | ACCEPT (or the verdict's `X-Doublecheck-*` headers added, when it has any) |
//! | `warn` | the verdict's `X-Doublecheck-*` headers added |
//! | `reject` | `550 5.7.1` with the reason and the fix |
//! | `hold` | stored in the database first, then QUARANTINE (the MTA's hold queue) naming the hold id; a notice to the sender ([`crate::notice`]) |
//! | `bccify` | every To, Cc and Reply-To deleted, `To: undisclosed-recipients:;` and `Reply-To: <sender>` added; envelope recipients unchanged |
//! | `explode` | one copy per recipient re-injected at `milter.reinject`, then DISCARD of the original (4xx until every copy is sent; a retry sends only the missing ones); without `reinject`, stored as a hold and quarantined |
//!
//! A message over `milter.max_message_bytes` gets `552 5.3.4`. When doublecheck itself fails
//! (the engine, the database, a capability the MTA did not grant), `on_error` decides: `451 4.3.0`
//! (the MTA retries), accept, or `550`. A connection that speaks garbage is closed with one log
//! line; the listener keeps serving. Headers called `X-Doublecheck-*` that arrive with a message
//! are deleted before the verdict's own are added, so a sender cannot forge them.

use crate::config::OnError;
use crate::state::AppState;
use doublecheck_engine::{Envelope, Plan, Verdict};
use doublecheck_milter::{
    Action as Reply, Actions, Config as SessionConfig, Event, HeaderChange, MessageEnvelope,
    Session,
};
use doublecheck_store::NewHold;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Bytes read from the MTA at a time.
const READ_CHUNK: usize = 64 * 1024;
/// After shutdown starts, a connection between messages is closed after this much silence.
const DRAIN_IDLE: Duration = Duration::from_secs(5);
/// After shutdown starts, connections still open after this long are cut.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);
/// Writing a reply to the MTA may take at most this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Reason given to the MTA for an exploded message until its copies are sent.
pub const EXPLODE_PENDING: &str = "explode: one copy per recipient pending";

/// Serve milter connections from `listener` until `stop` becomes `true`; then stop accepting and
/// let the connections in flight finish their current message.
pub async fn run(listener: TcpListener, state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tasks = JoinSet::new();
    let for_connections = stop.clone();
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stopped => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        match accepted {
            Ok((stream, peer)) => {
                // Connections that ended are not counted.
                while tasks.try_join_next().is_some() {}
                if tasks.len() >= state.config.milter.max_connections {
                    tracing::warn!(%peer, limit = state.config.milter.max_connections,
                        "milter: connection limit reached; closing the new connection");
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                tasks.spawn(connection(
                    stream,
                    peer,
                    state.clone(),
                    for_connections.clone(),
                ));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "milter: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let in_flight = tasks.len();
    if in_flight > 0 {
        tracing::info!(
            connections = in_flight,
            "milter: finishing the connections in flight"
        );
    }
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "milter: connections still open at the end of the grace period were cut"
        );
        tasks.shutdown().await;
    }
}

/// Acknowledge at once. Postfix sends headers and body chunks without waiting for replies and
/// the milter stays silent until the end of the message; with delayed ACKs on our side and
/// Nagle on Postfix's, the final frame would wait ~40 ms for an ACK. Linux resets the flag after
/// use, so it is set after every read.
fn quick_ack(stream: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

fn session_config(state: &AppState) -> SessionConfig {
    SessionConfig {
        max_message_size: state.config.milter.max_message_bytes,
        ..SessionConfig::default()
    }
}

/// One MTA connection: any number of messages, until QUIT, EOF, an error or shutdown.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    state: AppState,
    mut stop: watch::Receiver<bool>,
) {
    let mut session = Session::new(session_config(&state));
    let mut buf = vec![0u8; READ_CHUNK];
    let mut draining = *stop.borrow();
    loop {
        let wait = if draining {
            DRAIN_IDLE
        } else {
            Duration::from_secs(state.config.milter.idle_timeout_secs)
        };
        let n = tokio::select! {
            read = tokio::time::timeout(wait, stream.read(&mut buf)) => match read {
                Err(_) => {
                    tracing::debug!(%peer, "milter: idle connection closed");
                    return;
                }
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "milter: read failed");
                    return;
                }
                Ok(Ok(0)) => return,
                Ok(Ok(n)) => {
                    quick_ack(&stream);
                    n
                }
            },
            _ = stop.changed(), if !draining => {
                draining = true;
                continue;
            }
        };
        let events = match session.receive(&buf[..n]) {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "milter: protocol error; connection closed");
                return;
            }
        };
        let mut out = Vec::new();
        let mut quit = false;
        let mut answered = false;
        for event in events {
            match event {
                Event::Reply(bytes) => out.extend_from_slice(&bytes),
                Event::Message(msg) => {
                    out.extend(answer_message(&state, &mut session, *msg).await);
                    answered = true;
                }
                Event::Limit(limit) => {
                    tracing::info!(%peer, limit = limit.limit, kind = ?limit.kind,
                        action = "reject", "milter: message over a limit refused");
                    let reply = Reply::Reject {
                        code: 552,
                        enhanced: "5.3.4".into(),
                        text: "Message too big".into(),
                    };
                    out.extend(give(&state, &mut session, reply));
                    answered = true;
                }
                Event::Quit => quit = true,
            }
        }
        if !out.is_empty() {
            match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&out)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "milter: write failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "milter: write timed out");
                    return;
                }
            }
        }
        if quit || (draining && answered) {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// Encodes `reply`; when the MTA did not grant what it needs, the `on_error` reply instead.
fn give(state: &AppState, session: &mut Session, reply: Reply) -> Vec<u8> {
    match session.answer(reply) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(error = %e, on_error = ?state.config.on_error,
                "milter: cannot give the verdict's reply; falling back");
            session
                .answer(on_error_reply(state.config.on_error))
                .or_else(|_| {
                    session.answer(Reply::Tempfail {
                        text: String::new(),
                    })
                })
                .unwrap_or_default()
        }
    }
}

/// The reply when doublecheck itself cannot decide (never because of the message).
fn on_error_reply(on_error: OnError) -> Reply {
    match on_error {
        OnError::Tempfail => Reply::Tempfail {
            text: "doublecheck could not check the message; try again later".into(),
        },
        OnError::Accept => Reply::Accept,
        OnError::Reject => Reply::Reject {
            code: 550,
            enhanced: "5.7.1".into(),
            text: "doublecheck could not check the message, so it is refused".into(),
        },
    }
}

/// How a message was answered, for the log line.
struct Outcome {
    reply: Reply,
    /// What was done: `accept`, `add_headers`, `reject`, `quarantine`, `bccify`, or `on_error`.
    done: &'static str,
    hold_id: Option<String>,
}

impl Outcome {
    fn new(reply: Reply, done: &'static str) -> Outcome {
        Outcome {
            reply,
            done,
            hold_id: None,
        }
    }
}

/// Check a complete message and return the bytes answering it.
async fn answer_message(state: &AppState, session: &mut Session, msg: MessageEnvelope) -> Vec<u8> {
    let start = Instant::now();
    let queue_id = msg.queue_id().unwrap_or("").to_string();
    let envelope = Envelope {
        mail_from: Some(msg.mail_from.clone()).filter(|s| !s.is_empty()),
        rcpt_to: msg.rcpts.iter().map(|r| r.address.clone()).collect(),
        auth_user: msg.auth_user().map(str::to_string),
    };
    let raw = Arc::new(msg.raw.clone());
    let checked = state.check(raw, envelope, "milter").await;
    let (outcome, verdict) = match checked {
        Ok(verdict) => (
            decide(state, session.actions(), &msg, &verdict).await,
            Some(verdict),
        ),
        Err(e) => {
            tracing::error!(queue_id = %queue_id, error = %e, "milter: the engine failed");
            (
                Outcome::new(on_error_reply(state.config.on_error), "on_error"),
                None,
            )
        }
    };
    let bytes = give(state, session, outcome.reply);
    let findings: Vec<&str> = verdict
        .as_ref()
        .map(|v| {
            let mut ids: Vec<&str> = Vec::new();
            for f in &v.findings {
                if !ids.contains(&f.id) {
                    ids.push(f.id);
                }
            }
            ids
        })
        .unwrap_or_default();
    tracing::info!(
        queue_id = %queue_id,
        sender = %msg.mail_from,
        rcpts = msg.rcpts.len(),
        findings = %findings.join(","),
        action = verdict.as_ref().map_or("error", |v| v.action.as_str()),
        done = outcome.done,
        hold = outcome.hold_id.as_deref().unwrap_or(""),
        ms = start.elapsed().as_secs_f64() * 1000.0,
        "milter: message checked"
    );
    bytes
}

/// The reply carrying out a verdict.
async fn decide(
    state: &AppState,
    granted: Actions,
    msg: &MessageEnvelope,
    verdict: &Verdict,
) -> Outcome {
    // X-Doublecheck-* headers that came with the message are not ours: delete them.
    let forged: Vec<HeaderChange> = if granted.contains(Actions::CHANGE_HEADERS) {
        deletions(msg, |name| {
            name.len() > 13 && name[..13].eq_ignore_ascii_case("x-doublecheck")
        })
    } else {
        Vec::new()
    };
    let deliver = |mut change_headers: Vec<HeaderChange>, done: &'static str| {
        change_headers.extend(forged.iter().cloned());
        if change_headers.is_empty() && verdict.headers.is_empty() {
            return Outcome::new(Reply::Accept, "accept");
        }
        Outcome::new(
            Reply::Modify {
                add_headers: verdict.headers.clone(),
                change_headers,
                add_rcpts: Vec::new(),
                del_rcpts: Vec::new(),
                quarantine: None,
            },
            done,
        )
    };
    match &verdict.plan {
        Plan::Deliver => {
            let done = if verdict.headers.is_empty() {
                "accept"
            } else {
                "add_headers"
            };
            deliver(Vec::new(), done)
        }
        Plan::Reject {
            code,
            enhanced,
            text,
        } => Outcome::new(
            Reply::Reject {
                code: *code,
                enhanced: enhanced.clone(),
                text: text.clone(),
            },
            "reject",
        ),
        Plan::Hold { reason } => hold(state, granted, msg, verdict, reason).await,
        Plan::Explode {
            recipients,
            verify_link,
        } => match &state.config.milter.reinject {
            Some(reinject) => {
                let wants_links =
                    *verify_link || crate::verify_link::contains_placeholder(&msg.raw);
                match crate::verify_link::unavailable(&state.config, &msg.raw) {
                    // Never the bare placeholder to customers: held, with the reason.
                    Some(why) if wants_links => hold(state, granted, msg, verdict, &why).await,
                    _ => explode(state, reinject, msg, verdict, recipients, wants_links).await,
                }
            }
            // Without a re-injection port the copies cannot be sent from here: the original
            // waits in the store and in the MTA's hold queue.
            None => hold(state, granted, msg, verdict, EXPLODE_PENDING).await,
        },
        Plan::Bccify {
            remove_headers,
            set_headers,
        } => {
            if !granted.contains(Actions::CHANGE_HEADERS) || !granted.contains(Actions::ADD_HEADERS)
            {
                tracing::warn!(
                    "milter: the MTA does not let the milter change headers; cannot bcc-ify"
                );
                return Outcome::new(on_error_reply(state.config.on_error), "on_error");
            }
            let removed = deletions(msg, |name| {
                remove_headers.iter().any(|r| r.eq_ignore_ascii_case(name))
            });
            let mut out = deliver(removed, "bccify");
            if let Reply::Modify { add_headers, .. } = &mut out.reply {
                let mut set: Vec<(String, String)> = set_headers
                    .iter()
                    .map(|(name, value)| {
                        if name.eq_ignore_ascii_case("Reply-To") && !value.contains('<') {
                            (name.clone(), format!("<{}>", value.trim()))
                        } else {
                            (name.clone(), value.clone())
                        }
                    })
                    .collect();
                set.append(add_headers);
                *add_headers = set;
            }
            out
        }
    }
}

/// One copy per recipient, re-injected into the MTA at `reinject` (a port without the milter),
/// then the original discarded. Each copy is recorded in the store: when a copy fails the MTA
/// gets a temporary failure, and its retry sends only the copies still missing.
async fn explode(
    state: &AppState,
    reinject: &str,
    msg: &MessageEnvelope,
    verdict: &Verdict,
    recipients: &[String],
    verify_link: bool,
) -> Outcome {
    let rcpts: Vec<String> = if recipients.is_empty() {
        msg.rcpts.iter().map(|r| r.address.clone()).collect()
    } else {
        recipients.to_vec()
    };
    let key = crate::delivery::message_key(&msg.mail_from, &rcpts, &msg.raw);
    let raw = doublecheck_engine::rewrite::add_headers(&msg.raw, &verdict.headers);
    match crate::delivery::explode(
        state,
        &key,
        reinject,
        &msg.mail_from,
        &rcpts,
        &raw,
        verify_link,
    )
    .await
    {
        Ok(report) => {
            tracing::info!(
                delivered = report.delivered,
                skipped = report.skipped,
                "milter: exploded into one copy per recipient"
            );
            Outcome::new(Reply::Discard, "explode")
        }
        Err(crate::delivery::DeliveryError::Temporary(why)) => {
            tracing::warn!(error = %why, "milter: explode could not send every copy; tempfail");
            Outcome::new(
                Reply::Tempfail {
                    text: "Could not send every per-recipient copy yet; try again later".into(),
                },
                "tempfail",
            )
        }
        Err(e @ crate::delivery::DeliveryError::Permanent(_)) => {
            let reply = e.smtp_reply();
            let mut parts = reply.splitn(3, ' ');
            let code = parts.next().and_then(|c| c.parse().ok()).unwrap_or(554);
            let enhanced = parts.next().unwrap_or("5.0.0").to_string();
            let text = parts.next().unwrap_or("").to_string();
            Outcome::new(
                Reply::Reject {
                    code,
                    enhanced,
                    text,
                },
                "reject",
            )
        }
    }
}

/// Deletions of every header whose name `matches`, last occurrence first, so the indexes of the
/// ones still to delete stay valid whichever way the MTA counts deleted headers.
fn deletions(msg: &MessageEnvelope, matches: impl Fn(&str) -> bool) -> Vec<HeaderChange> {
    let mut out: Vec<HeaderChange> = msg
        .headers
        .iter()
        .filter(|h| matches(&h.name))
        .map(|h| HeaderChange {
            name: h.name.clone(),
            index: h.index,
            value: String::new(),
        })
        .collect();
    out.sort_by(|a, b| {
        a.name
            .to_ascii_lowercase()
            .cmp(&b.name.to_ascii_lowercase())
            .then(b.index.cmp(&a.index))
    });
    out
}

/// Store the message for review, then quarantine it in the MTA. The store comes first: once
/// the MTA has accepted the message, the review queue must have it.
async fn hold(
    state: &AppState,
    granted: Actions,
    msg: &MessageEnvelope,
    verdict: &Verdict,
    reason: &str,
) -> Outcome {
    if !granted.contains(Actions::QUARANTINE) {
        tracing::warn!("milter: the MTA does not let the milter quarantine; cannot hold");
        return Outcome::new(on_error_reply(state.config.on_error), "on_error");
    }
    let verdict_value = serde_json::to_value(verdict);
    let verdict_json = match verdict_value.as_ref().map(serde_json::Value::to_string) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(error = %e, "milter: cannot encode the verdict");
            return Outcome::new(on_error_reply(state.config.on_error), "on_error");
        }
    };
    let sender = msg
        .auth_user()
        .map(str::to_string)
        .or_else(|| Some(msg.mail_from.clone()).filter(|s| !s.is_empty()));
    let new = NewHold {
        raw: msg.raw.clone(),
        mail_from: msg.mail_from.clone(),
        rcpt_to: msg.rcpts.iter().map(|r| r.address.clone()).collect(),
        verdict_json,
        reason: reason.to_string(),
        sender,
        // The message stays in the MTA's hold queue: release and reject act there.
        queue_id: msg
            .queue_id()
            .filter(|q| !q.is_empty())
            .map(|q| format!("{}{q}", crate::release::MTA_QUEUE_PREFIX)),
    };
    let notice = |h: &doublecheck_store::Hold| {
        crate::notice::for_hold(state, &crate::notice::Event::Held, h)
    };
    match state.store.create_hold_notify(new, notice).await {
        Ok((h, queued)) => {
            crate::notice::queued(state, queued);
            Outcome {
                reply: Reply::Quarantine {
                    reason: format!("doublecheck {}: {reason}", h.id),
                },
                done: "quarantine",
                hold_id: Some(h.id),
            }
        }
        Err(e) => {
            tracing::error!(error = %e, on_error = ?state.config.on_error,
                "milter: cannot store the held message");
            Outcome::new(on_error_reply(state.config.on_error), "on_error")
        }
    }
}
