//! Limits, protocol violations and refused answers.

use doublecheck_milter::{
    Action, Actions, AnswerError, Command, Config, Event, Family, LimitExceeded, LimitKind, OptNeg,
    ProtocolError, ProtocolFlags, Session,
};

fn wire(code: u8, data: &[u8]) -> Vec<u8> {
    let mut v = ((data.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(code);
    v.extend_from_slice(data);
    v
}

fn encode(cmds: &[Command]) -> Vec<u8> {
    cmds.iter().flat_map(|c| c.to_bytes()).collect()
}

fn optneg(protocol: u32) -> Command {
    Command::OptNeg(OptNeg {
        version: 6,
        actions: Actions(0x1ff),
        protocol: ProtocolFlags(protocol),
    })
}

fn start(protocol: u32) -> Vec<Command> {
    vec![
        optneg(protocol),
        Command::Connect {
            hostname: b"h".to_vec(),
            family: Family::Inet,
            port: 25,
            address: b"192.0.2.1".to_vec(),
        },
        Command::Mail(vec![b"<a@x.example>".to_vec()]),
        Command::Rcpt(vec![b"<b@y.example>".to_vec()]),
        Command::Data,
    ]
}

fn header(i: usize) -> Command {
    Command::Header {
        name: b"X-H".to_vec(),
        value: format!(" {i}").into_bytes(),
    }
}

fn reject_552() -> Action {
    Action::Reject {
        code: 552,
        enhanced: "5.3.4".into(),
        text: "Message too big".into(),
    }
}

fn replies(events: &[Event]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Reply(b) => Some(b.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn body_limit_with_no_reply_steps_is_reported_at_end_of_body() {
    let config = Config {
        max_message_size: 100,
        ..Config::default()
    };
    let mut s = Session::new(config);
    let mut cmds = start(0x1f_ffff);
    cmds.push(header(1)); // "X-H: 1\r\n" = 8 bytes
    cmds.push(Command::EndOfHeaders);
    cmds.push(Command::Body(vec![b'a'; 60]));
    cmds.push(Command::Body(vec![b'b'; 60]));
    cmds.push(Command::EndOfBody(vec![]));
    let events = s.receive(&encode(&cmds)).unwrap();
    assert_eq!(
        events.last(),
        Some(&Event::Limit(LimitExceeded {
            kind: LimitKind::MessageSize,
            limit: 100
        }))
    );
    assert!(s.is_answer_pending());
    assert_eq!(
        s.answer(reject_552()).unwrap(),
        wire(b'y', b"552 5.3.4 Message too big\0")
    );
    // The connection goes on with the next message.
    let events = s
        .receive(&encode(&[
            Command::Abort,
            Command::Mail(vec![b"<a@x.example>".to_vec()]),
            Command::Rcpt(vec![b"<b@y.example>".to_vec()]),
            Command::EndOfBody(b"small".to_vec()),
        ]))
        .unwrap();
    let Some(Event::Message(m)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(m.raw, b"\r\nsmall");
}

#[test]
fn body_limit_with_replies_is_reported_on_the_chunk_that_breaks_it() {
    let config = Config {
        max_message_size: 100,
        no_reply: false,
        ..Config::default()
    };
    let mut s = Session::new(config);
    let mut cmds = start(0x1f_ffff);
    cmds.push(header(1));
    cmds.push(Command::EndOfHeaders);
    cmds.push(Command::Body(vec![b'a'; 60]));
    let events = s.receive(&encode(&cmds)).unwrap();
    assert!(matches!(events.last(), Some(Event::Reply(_))));
    let events = s
        .receive(&Command::Body(vec![b'b'; 60]).to_bytes())
        .unwrap();
    assert_eq!(
        events,
        vec![Event::Limit(LimitExceeded {
            kind: LimitKind::MessageSize,
            limit: 100
        })]
    );
    // Changes are refused before the end of the message; the event stays pending.
    assert_eq!(
        s.answer(Action::Quarantine { reason: "x".into() }),
        Err(AnswerError::NotAtEndOfMessage("quarantine"))
    );
    assert_eq!(
        s.answer(reject_552()).unwrap(),
        wire(b'y', b"552 5.3.4 Message too big\0")
    );
    assert!(!s.is_answer_pending());
    // The MTA then aborts and may start again.
    assert_eq!(s.receive(&Command::Abort.to_bytes()).unwrap(), vec![]);
    let events = s
        .receive(&Command::Mail(vec![b"<c@x.example>".to_vec()]).to_bytes())
        .unwrap();
    assert_eq!(replies(&events), wire(b'c', b""));
}

#[test]
fn continuing_past_a_limit_delivers_a_truncated_message() {
    let config = Config {
        max_message_size: 100,
        no_reply: false,
        ..Config::default()
    };
    let mut s = Session::new(config);
    let mut cmds = start(0x1f_ffff);
    cmds.push(Command::EndOfHeaders);
    cmds.push(Command::Body(vec![b'a'; 101]));
    let events = s.receive(&encode(&cmds)).unwrap();
    assert!(matches!(events.last(), Some(Event::Limit(_))));
    assert_eq!(s.answer(Action::Continue).unwrap(), wire(b'c', b""));
    let events = s
        .receive(&encode(&[
            Command::Body(b"more".to_vec()),
            Command::EndOfBody(vec![]),
        ]))
        .unwrap();
    assert_eq!(replies(&events), wire(b'c', b""));
    let Some(Event::Message(m)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(
        m.truncated,
        Some(LimitExceeded {
            kind: LimitKind::MessageSize,
            limit: 100
        })
    );
    assert!(m.body().is_empty());
}

#[test]
fn header_count_limit() {
    let config = Config {
        max_headers: 3,
        ..Config::default()
    };
    let mut s = Session::new(config);
    let mut cmds = start(0x1f_ffff);
    for i in 0..3 {
        cmds.push(header(i));
    }
    cmds.push(Command::EndOfHeaders);
    cmds.push(Command::EndOfBody(vec![]));
    let events = s.receive(&encode(&cmds)).unwrap();
    let Some(Event::Message(m)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(m.headers.len(), 3);
    assert_eq!(s.answer(Action::Accept).unwrap(), wire(b'a', b""));

    let mut cmds = vec![
        Command::Mail(vec![b"<a@x.example>".to_vec()]),
        Command::Rcpt(vec![b"<b@y.example>".to_vec()]),
    ];
    for i in 0..4 {
        cmds.push(header(i));
    }
    cmds.push(Command::EndOfHeaders);
    cmds.push(Command::EndOfBody(vec![]));
    let events = s.receive(&encode(&cmds)).unwrap();
    assert_eq!(
        events,
        vec![Event::Limit(LimitExceeded {
            kind: LimitKind::HeaderCount,
            limit: 3
        })]
    );
    assert_eq!(
        s.answer(Action::Reject {
            code: 552,
            enhanced: "5.3.4".into(),
            text: "Too many header fields".into()
        })
        .unwrap(),
        wire(b'y', b"552 5.3.4 Too many header fields\0")
    );
}

#[test]
fn frame_limit_is_a_protocol_error() {
    let config = Config {
        max_frame_len: 1024,
        ..Config::default()
    };
    let mut s = Session::new(config);
    let mut cmds = start(0x1f_ffff);
    cmds.push(Command::EndOfHeaders);
    s.receive(&encode(&cmds)).unwrap();
    // Only the length prefix of a too-large BODY frame has arrived.
    let big = Command::Body(vec![b'x'; 1024]).to_bytes();
    assert_eq!(
        s.receive(&big[..4]),
        Err(ProtocolError::FrameTooLarge {
            len: 1025,
            max: 1024
        })
    );
    // The session stays failed.
    assert!(s.receive(&[]).is_err());
}

#[test]
fn out_of_order_commands_are_protocol_errors() {
    let cases: Vec<(Vec<Command>, &str, &str)> = vec![
        (
            vec![Command::Helo(b"x".to_vec())],
            "HELO",
            "waiting for option negotiation",
        ),
        (
            vec![optneg(0), Command::Mail(vec![b"<a>".to_vec()])],
            "MAIL",
            "waiting for CONNECT",
        ),
        (start(0)[..3].to_vec(), "", ""),
        (
            [start(0)[..3].to_vec(), vec![Command::Data]].concat(),
            "DATA",
            "waiting for the first RCPT",
        ),
        (
            [start(0)[..2].to_vec(), vec![Command::EndOfBody(vec![])]].concat(),
            "EOB",
            "between messages",
        ),
        (
            [
                start(0),
                vec![
                    Command::EndOfHeaders,
                    Command::Header {
                        name: b"X".to_vec(),
                        value: b"y".to_vec(),
                    },
                ],
            ]
            .concat(),
            "HEADER",
            "receiving the body",
        ),
        ([start(0), vec![optneg(0)]].concat(), "OPTNEG", "after DATA"),
    ];
    for (cmds, command, state) in cases {
        let mut s = Session::new(Config::default());
        let result = s.receive(&encode(&cmds));
        if command.is_empty() {
            assert!(result.is_ok());
            continue;
        }
        assert_eq!(
            result,
            Err(ProtocolError::OutOfOrder { command, state }),
            "{cmds:?}"
        );
        assert_eq!(
            result.unwrap_err().to_string(),
            format!("the MTA sent {command} while the session was {state}")
        );
    }
}

#[test]
fn commands_while_an_answer_is_pending_and_after_quit_are_errors() {
    let mut s = Session::new(Config::default());
    let mut cmds = start(0x1f_ffff);
    cmds.push(Command::EndOfBody(vec![]));
    cmds.push(Command::Mail(vec![b"<a>".to_vec()]));
    assert_eq!(
        s.receive(&encode(&cmds)),
        Err(ProtocolError::AnswerPending { command: "MAIL" })
    );

    let mut s = Session::new(Config::default());
    assert_eq!(
        s.receive(&encode(&[optneg(0), Command::Quit]))
            .unwrap()
            .last(),
        Some(&Event::Quit)
    );
    assert_eq!(s.receive(&[]), Ok(vec![]));
    assert_eq!(s.receive(&[0]), Err(ProtocolError::AfterQuit));
}

#[test]
fn old_versions_and_garbage_are_refused() {
    let mut s = Session::new(Config::default());
    let cmd = Command::OptNeg(OptNeg {
        version: 1,
        actions: Actions(0),
        protocol: ProtocolFlags(0),
    });
    assert_eq!(
        s.receive(&cmd.to_bytes()),
        Err(ProtocolError::UnsupportedVersion(1))
    );

    let mut s = Session::new(Config::default());
    assert_eq!(s.receive(b"\0\0\0\0"), Err(ProtocolError::ZeroLengthFrame));
    let mut s = Session::new(Config::default());
    assert_eq!(
        s.receive(b"GET / HTTP/1.1\r\n"),
        Err(ProtocolError::FrameTooLarge {
            len: u32::from_be_bytes(*b"GET "),
            max: doublecheck_milter::DEFAULT_MAX_FRAME_LEN
        })
    );
}

#[test]
fn negotiation_never_claims_more_than_offered() {
    let mut s = Session::new(Config::default());
    let offer = Command::OptNeg(OptNeg {
        version: 2,
        actions: Actions::ADD_HEADERS | Actions::CHANGE_BODY,
        protocol: ProtocolFlags(0x7f),
    });
    let events = s.receive(&offer.to_bytes()).unwrap();
    // Version 2, only ADDHDRS (CHGBODY is not wanted), no protocol flags, no macro lists.
    assert_eq!(
        replies(&events),
        wire(b'O', b"\0\0\0\x02\0\0\0\x01\0\0\0\0")
    );
    assert_eq!(s.actions(), Actions::ADD_HEADERS);
    assert_eq!(s.version(), 2);

    // Changes the MTA did not allow are refused, and the answer stays pending.
    let mut cmds = start(0)[1..].to_vec();
    cmds.push(Command::EndOfBody(vec![]));
    s.receive(&encode(&cmds)).unwrap();
    let quarantine = Action::Quarantine { reason: "r".into() };
    assert_eq!(
        s.answer(quarantine),
        Err(AnswerError::NotNegotiated("quarantine messages"))
    );
    let del = Action::Modify {
        add_headers: vec![],
        change_headers: vec![],
        add_rcpts: vec![],
        del_rcpts: vec!["b@y.example".into()],
        quarantine: None,
    };
    assert_eq!(
        s.answer(del),
        Err(AnswerError::NotNegotiated("remove recipients"))
    );
    let bad = Action::Reject {
        code: 250,
        enhanced: String::new(),
        text: String::new(),
    };
    assert!(matches!(s.answer(bad), Err(AnswerError::InvalidReply(_))));
    assert_eq!(
        s.answer(Action::Tempfail {
            text: "try later".into()
        })
        .unwrap(),
        wire(b'y', b"451 4.3.0 try later\0")
    );
    assert_eq!(s.answer(Action::Discard), Err(AnswerError::NothingPending));
}

#[test]
fn simple_answers_encode_as_expected() {
    for (action, bytes) in [
        (Action::Accept, wire(b'a', b"")),
        (Action::Continue, wire(b'c', b"")),
        (Action::Discard, wire(b'd', b"")),
        (
            Action::Tempfail {
                text: String::new(),
            },
            wire(b't', b""),
        ),
        (
            Action::Reject {
                code: 550,
                enhanced: "5.7.1".into(),
                text: "50% of\r\nrecipients".into(),
            },
            wire(b'y', b"550 5.7.1 50%% of  recipients\0"),
        ),
    ] {
        let mut s = Session::new(Config::default());
        let mut cmds = start(0x1f_ffff);
        cmds.push(Command::EndOfBody(vec![]));
        s.receive(&encode(&cmds)).unwrap();
        assert_eq!(s.answer(action).unwrap(), bytes);
    }
}
