//! A realistic Postfix conversation fed in chunks of 1 to 17 bytes.

use doublecheck_milter::{
    Action, Actions, Command, Config, Event, Family, HeaderChange, HeaderField, MessageEnvelope,
    OptNeg, ProtocolFlags, Session,
};

/// Wire form written out by hand, independent of the crate's encoder.
fn wire(code: u8, data: &[u8]) -> Vec<u8> {
    let mut v = ((data.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(code);
    v.extend_from_slice(data);
    v
}

fn encode(cmds: &[Command]) -> Vec<u8> {
    cmds.iter().flat_map(|c| c.to_bytes()).collect()
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

fn header(name: &str, value: &str) -> Command {
    Command::Header {
        name: name.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
}

/// What Postfix 3.x offers: version 6, all actions, all protocol flags.
fn postfix_optneg() -> Command {
    Command::OptNeg(OptNeg {
        version: 6,
        actions: Actions(0x1ff),
        protocol: ProtocolFlags(0x001f_ffff),
    })
}

/// The connection up to the first MAIL.
fn connection_start() -> Vec<Command> {
    vec![
        macros(
            b'C',
            &[
                ("j", "mx.shop.example"),
                ("{daemon_name}", "mx.shop.example"),
                ("v", "Postfix 3.7.11"),
            ],
        ),
        Command::Connect {
            hostname: b"desk-17.shop.example".to_vec(),
            family: Family::Inet,
            port: 51234,
            address: b"10.1.2.17".to_vec(),
        },
        macros(b'H', &[("{tls_version}", "TLSv1.3")]),
        Command::Helo(b"desk-17.shop.example".to_vec()),
    ]
}

/// The incident message: one group mail to three customers.
fn first_message(leading_space: bool) -> Vec<Command> {
    let sp = if leading_space { " " } else { "" };
    let h = |n: &str, v: &str| header(n, &format!("{sp}{v}"));
    vec![
        macros(
            b'M',
            &[
                ("i", "4XyZ1l2m3n"),
                ("{auth_type}", "PLAIN"),
                ("{auth_authen}", "agent7"),
                ("{mail_addr}", "agent7@shop.example"),
            ],
        ),
        Command::Mail(vec![
            b"<agent7@shop.example>".to_vec(),
            b"SIZE=1234".to_vec(),
            b"BODY=8BITMIME".to_vec(),
        ]),
        macros(b'R', &[("{rcpt_addr}", "ann@mail.example")]),
        Command::Rcpt(vec![b"<ann@mail.example>".to_vec()]),
        macros(b'R', &[("{rcpt_addr}", "bob@post.example")]),
        Command::Rcpt(vec![
            b"<bob@post.example>".to_vec(),
            b"NOTIFY=NEVER".to_vec(),
        ]),
        macros(b'R', &[("{rcpt_addr}", "cy@web.example")]),
        Command::Rcpt(vec![b"<cy@web.example>".to_vec()]),
        Command::Data,
        h(
            "Received",
            "from desk-17.shop.example (desk-17 [10.1.2.17])\n\tby mx.shop.example",
        ),
        h("From", "Agent Seven <agent7@shop.example>"),
        h("To", "ann@mail.example, bob@post.example"),
        h("Cc", "cy@web.example"),
        h("Subject", "Verify your address"),
        h("received", "from elsewhere"),
        h("Date", "Mon, 2 Jun 2025 10:00:00 +0000"),
        Command::EndOfHeaders,
        Command::Body(b"Hello,\r\nPlease reply with a photo of your driver's license".to_vec()),
        Command::Body(b" to verify your address.\r\n\r\nThanks\r\n".to_vec()),
        macros(b'E', &[("i", "4XyZ1l2m3n")]),
        Command::EndOfBody(Vec::new()),
    ]
}

fn second_message(leading_space: bool) -> Vec<Command> {
    let sp = if leading_space { " " } else { "" };
    vec![
        macros(b'M', &[("i", "5AbCdEfGh")]),
        Command::Mail(vec![b"<>".to_vec()]),
        Command::Rcpt(vec![b"<ops@shop.example>".to_vec()]),
        Command::Data,
        header("Subject", &format!("{sp}second")),
        Command::EndOfHeaders,
        Command::Body(b"short\r\n".to_vec()),
        Command::EndOfBody(b"tail\r\n".to_vec()),
    ]
}

/// Feeds `bytes` in chunks of `chunk`; collects replies into `out`, hands
/// messages to `on_message` and writes its answer into `out`.
fn feed(
    session: &mut Session,
    bytes: &[u8],
    chunk: usize,
    out: &mut Vec<u8>,
    messages: &mut Vec<MessageEnvelope>,
    answer: &mut dyn FnMut(&MessageEnvelope) -> Action,
) -> bool {
    let mut quit = false;
    for piece in bytes.chunks(chunk) {
        for event in session.receive(piece).expect("valid stream") {
            match event {
                Event::Reply(b) => out.extend(b),
                Event::Message(m) => {
                    let action = answer(&m);
                    out.extend(session.answer(action).expect("answer accepted"));
                    messages.push(*m);
                }
                Event::Limit(l) => panic!("unexpected limit {l:?}"),
                Event::Quit => quit = true,
            }
        }
    }
    quit
}

fn modify_action() -> Action {
    Action::Modify {
        add_headers: vec![("X-Doublecheck-Action".into(), "bccify".into())],
        change_headers: vec![
            HeaderChange {
                name: "To".into(),
                index: 1,
                value: "undisclosed-recipients:;".into(),
            },
            HeaderChange {
                name: "Cc".into(),
                index: 1,
                value: String::new(),
            },
        ],
        add_rcpts: vec!["review@shop.example".into()],
        del_rcpts: vec!["cy@web.example".into()],
        quarantine: Some("recipients exposed; held for review".into()),
    }
}

fn check_first(m: &MessageEnvelope) {
    let client = m.client.as_ref().unwrap();
    assert_eq!(client.hostname, "desk-17.shop.example");
    assert_eq!(client.family, Family::Inet);
    assert_eq!(client.port, 51234);
    assert_eq!(client.address, "10.1.2.17");
    assert_eq!(m.helo.as_deref(), Some("desk-17.shop.example"));
    assert_eq!(m.queue_id(), Some("4XyZ1l2m3n"));
    assert_eq!(m.auth_user(), Some("agent7"));
    assert_eq!(m.macro_value("{daemon_name}"), Some("mx.shop.example"));
    assert_eq!(m.macro_value("tls_version"), Some("TLSv1.3"));
    assert_eq!(m.mail_from, "agent7@shop.example");
    assert_eq!(m.mail_args, vec!["SIZE=1234", "BODY=8BITMIME"]);
    let rcpts: Vec<&str> = m.rcpts.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(
        rcpts,
        vec!["ann@mail.example", "bob@post.example", "cy@web.example"]
    );
    assert_eq!(m.rcpts[1].args, vec!["NOTIFY=NEVER"]);
    let names: Vec<(&str, u32)> = m
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.index))
        .collect();
    assert_eq!(
        names,
        vec![
            ("Received", 1),
            ("From", 1),
            ("To", 1),
            ("Cc", 1),
            ("Subject", 1),
            ("received", 2),
            ("Date", 1)
        ]
    );
    assert_eq!(
        m.headers[2],
        HeaderField {
            name: "To".into(),
            value: "ann@mail.example, bob@post.example".into(),
            index: 1
        }
    );
    let expected_raw = b"Received: from desk-17.shop.example (desk-17 [10.1.2.17])\r\n\tby mx.shop.example\r\n\
From: Agent Seven <agent7@shop.example>\r\n\
To: ann@mail.example, bob@post.example\r\n\
Cc: cy@web.example\r\n\
Subject: Verify your address\r\n\
received: from elsewhere\r\n\
Date: Mon, 2 Jun 2025 10:00:00 +0000\r\n\
\r\n\
Hello,\r\nPlease reply with a photo of your driver's license to verify your address.\r\n\r\nThanks\r\n";
    assert_eq!(
        String::from_utf8_lossy(&m.raw),
        String::from_utf8_lossy(expected_raw)
    );
    assert_eq!(
        m.body(),
        b"Hello,\r\nPlease reply with a photo of your driver's license to verify your address.\r\n\r\nThanks\r\n"
    );
    assert_eq!(m.truncated, None);
}

fn check_second(m: &MessageEnvelope) {
    assert_eq!(m.mail_from, "");
    assert_eq!(m.rcpts.len(), 1);
    assert_eq!(m.rcpts[0].address, "ops@shop.example");
    assert_eq!(m.queue_id(), Some("5AbCdEfGh"));
    // Message macros of the first message are gone; connection macros stay.
    assert_eq!(m.auth_user(), None);
    assert_eq!(m.macro_value("j"), Some("mx.shop.example"));
    assert_eq!(m.raw, b"Subject: second\r\n\r\nshort\r\ntail\r\n");
}

/// Postfix offers everything; the default config asks for no replies to the
/// steps, header values with their leading space, and the macros it needs.
#[test]
fn postfix_conversation_with_no_reply_steps_in_every_chunking() {
    let optneg_reply = wire(
        b'O',
        &[
            &6u32.to_be_bytes()[..],
            &0x17du32.to_be_bytes(), // ADDHDRS CHGHDRS ADDRCPT DELRCPT QUARANTINE CHGFROM SETSYMLIST
            &0x001f_f080u32.to_be_bytes(), // NR_* for every step, HDR_LEADSPC
            b"\0\0\0\x02i {auth_authen} {auth_type} {mail_addr}\0",
            b"\0\0\0\x05i\0",
        ]
        .concat(),
    );
    let mut first_answer = Vec::new();
    first_answer.extend(wire(b'm', b"\0\0\0\x01To\0 undisclosed-recipients:;\0"));
    first_answer.extend(wire(b'm', b"\0\0\0\x01Cc\0\0"));
    first_answer.extend(wire(b'h', b"X-Doublecheck-Action\0 bccify\0"));
    first_answer.extend(wire(b'-', b"<cy@web.example>\0"));
    first_answer.extend(wire(b'+', b"<review@shop.example>\0"));
    first_answer.extend(wire(b'q', b"recipients exposed; held for review\0"));
    first_answer.extend(wire(b'c', b""));
    let second_answer = wire(
        b'y',
        b"550 5.7.1 Do not ask for ID documents by email; use a verification link\0",
    );

    let mut start = vec![postfix_optneg()];
    start.extend(connection_start());
    start.extend(first_message(true));
    let segments = [
        encode(&start),
        encode(&second_message(true)),
        encode(&[Command::Quit]),
    ];
    for chunk in 1..=17 {
        let mut session = Session::new(Config::default());
        let mut out = Vec::new();
        let mut messages = Vec::new();
        let mut n = 0;
        let mut answer = |_: &MessageEnvelope| {
            n += 1;
            if n == 1 {
                modify_action()
            } else {
                Action::Reject {
                    code: 550,
                    enhanced: "5.7.1".into(),
                    text: "Do not ask for ID documents by email; use a verification link".into(),
                }
            }
        };
        assert!(!feed(
            &mut session,
            &segments[0],
            chunk,
            &mut out,
            &mut messages,
            &mut answer
        ));
        assert_eq!(
            out,
            [optneg_reply.clone(), first_answer.clone()].concat(),
            "chunk {chunk}"
        );
        out.clear();
        assert!(!feed(
            &mut session,
            &segments[1],
            chunk,
            &mut out,
            &mut messages,
            &mut answer
        ));
        assert_eq!(out, second_answer, "chunk {chunk}");
        out.clear();
        assert!(feed(
            &mut session,
            &segments[2],
            chunk,
            &mut out,
            &mut messages,
            &mut answer
        ));
        assert!(out.is_empty());
        assert!(session.is_closed());
        assert_eq!(messages.len(), 2);
        check_first(&messages[0]);
        check_second(&messages[1]);
    }
}

/// An MTA that offers no "no reply" flags and no leading space (or a config
/// that does not ask for them): every step gets CONTINUE.
#[test]
fn conversation_with_a_reply_to_every_step_in_every_chunking() {
    let offer = Command::OptNeg(OptNeg {
        version: 6,
        actions: Actions(0x1ff),
        protocol: ProtocolFlags(0x000f_ffff), // no HDR_LEADSPC
    });
    let config = Config {
        no_reply: false,
        macros: vec![],
        ..Config::default()
    };
    let c = wire(b'c', b"");
    let optneg_reply = wire(b'O', b"\0\0\0\x06\0\0\x01\x7d\0\0\0\0");
    // CONNECT, HELO, MAIL, RCPT x3, DATA, HEADER x7, EOH, BODY x2.
    let mut expected = optneg_reply;
    for _ in 0..(1 + 1 + 1 + 3 + 1 + 7 + 1 + 2) {
        expected.extend(&c);
    }
    expected.extend(wire(b'q', b"held: recipients exposed\0"));
    expected.extend(&c);
    let mut start = vec![offer];
    start.extend(connection_start());
    start.extend(first_message(false));
    let mut second_expected = Vec::new();
    // MAIL, RCPT, DATA, HEADER, EOH, BODY, then the answer.
    for _ in 0..6 {
        second_expected.extend(&c);
    }
    second_expected.extend(wire(b'h', b"X-Doublecheck-Findings\0none\0"));
    second_expected.extend(&c);

    for chunk in 1..=17 {
        let mut session = Session::new(config.clone());
        let mut out = Vec::new();
        let mut messages = Vec::new();
        let mut n = 0;
        let mut answer = |_: &MessageEnvelope| {
            n += 1;
            if n == 1 {
                Action::Quarantine {
                    reason: "held: recipients exposed".into(),
                }
            } else {
                Action::Modify {
                    add_headers: vec![("X-Doublecheck-Findings".into(), "none".into())],
                    change_headers: vec![],
                    add_rcpts: vec![],
                    del_rcpts: vec![],
                    quarantine: None,
                }
            }
        };
        feed(
            &mut session,
            &encode(&start),
            chunk,
            &mut out,
            &mut messages,
            &mut answer,
        );
        assert_eq!(out, expected, "chunk {chunk}");
        out.clear();
        feed(
            &mut session,
            &encode(&second_message(false)),
            chunk,
            &mut out,
            &mut messages,
            &mut answer,
        );
        assert_eq!(out, second_expected, "chunk {chunk}");
        out.clear();
        assert!(feed(
            &mut session,
            &encode(&[Command::Quit]),
            chunk,
            &mut out,
            &mut messages,
            &mut answer
        ));
        check_first(&messages[0]);
        check_second(&messages[1]);
    }
}

#[test]
fn abort_resets_the_message_and_keeps_the_connection() {
    let mut session = Session::new(Config::default());
    let mut cmds = vec![postfix_optneg()];
    cmds.extend(connection_start());
    let mut msg = first_message(true);
    msg.truncate(12); // through a few headers
    cmds.extend(msg);
    cmds.push(Command::Abort);
    cmds.extend(second_message(true));
    let events = session.receive(&encode(&cmds)).unwrap();
    let msgs: Vec<_> = events
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(msgs.len(), 1);
    check_second(&msgs[0]);
    assert!(msgs[0].client.is_some());
}

#[test]
fn quit_nc_starts_a_new_smtp_session_on_the_same_connection() {
    let mut session = Session::new(Config::default());
    let mut cmds = vec![postfix_optneg()];
    cmds.extend(connection_start());
    cmds.push(Command::QuitNewConnection);
    cmds.push(Command::Connect {
        hostname: b"other.example".to_vec(),
        family: Family::Inet6,
        port: 1,
        address: b"2001:db8::2".to_vec(),
    });
    cmds.extend(second_message(true));
    let events = session.receive(&encode(&cmds)).unwrap();
    let Some(Event::Message(m)) = events.last() else {
        panic!("expected a message, got {events:?}")
    };
    assert_eq!(m.client.as_ref().unwrap().hostname, "other.example");
    assert_eq!(m.helo, None);
    assert_eq!(m.macro_value("j"), None);
}
