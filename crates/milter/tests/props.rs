//! Property tests: no input panics; encode → decode is the identity under
//! any chunking.

use doublecheck_milter::{
    Action, Actions, Command, Config, Event, Family, Frame, FrameDecoder, MacroStage, OptNeg,
    ProtocolFlags, Response, Session,
};
use proptest::prelude::*;

fn cstring() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 0..24)
}

fn nonempty_cstring() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 1..24)
}

fn blob() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..64)
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::Unix), Just(Family::Inet), Just(Family::Inet6)]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(v, a, p)| Command::OptNeg(OptNeg {
            version: v,
            actions: Actions(a),
            protocol: ProtocolFlags(p),
        })),
        (
            any::<u8>(),
            proptest::collection::vec((cstring(), cstring()), 0..4)
        )
            .prop_map(|(stage, pairs)| Command::Macro { stage, pairs }),
        (cstring(), family(), any::<u16>(), cstring()).prop_map(|(h, f, p, a)| {
            Command::Connect {
                hostname: h,
                family: f,
                port: p,
                address: a,
            }
        }),
        cstring().prop_map(|h| Command::Connect {
            hostname: h,
            family: Family::Unknown,
            port: 0,
            address: vec![],
        }),
        cstring().prop_map(Command::Helo),
        proptest::collection::vec(cstring(), 1..4).prop_map(Command::Mail),
        proptest::collection::vec(cstring(), 1..4).prop_map(Command::Rcpt),
        Just(Command::Data),
        (nonempty_cstring(), cstring()).prop_map(|(name, value)| Command::Header { name, value }),
        Just(Command::EndOfHeaders),
        blob().prop_map(Command::Body),
        blob().prop_map(Command::EndOfBody),
        Just(Command::Abort),
        Just(Command::Quit),
        Just(Command::QuitNewConnection),
        cstring().prop_map(Command::Unknown),
    ]
}

fn stage() -> impl Strategy<Value = MacroStage> {
    (0u32..7).prop_map(|n| MacroStage::from_u32(n).unwrap())
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec((stage(), cstring()), 0..3)
        )
            .prop_map(|(v, a, p, macros)| Response::OptNeg {
                opts: OptNeg {
                    version: v,
                    actions: Actions(a),
                    protocol: ProtocolFlags(p),
                },
                macros,
            }),
        prop_oneof![
            Just(Response::Continue),
            Just(Response::Accept),
            Just(Response::Reject),
            Just(Response::Tempfail),
            Just(Response::Discard),
            Just(Response::Progress),
            Just(Response::Skip),
            Just(Response::ConnFail),
            Just(Response::Shutdown),
        ],
        cstring().prop_map(Response::ReplyCode),
        cstring().prop_map(Response::Quarantine),
        (cstring(), cstring()).prop_map(|(name, value)| Response::AddHeader { name, value }),
        (any::<u32>(), cstring(), cstring())
            .prop_map(|(index, name, value)| Response::InsertHeader { index, name, value }),
        (any::<u32>(), cstring(), cstring())
            .prop_map(|(index, name, value)| Response::ChangeHeader { index, name, value }),
        cstring().prop_map(Response::AddRcpt),
        cstring().prop_map(Response::DelRcpt),
        (cstring(), proptest::option::of(cstring()))
            .prop_map(|(rcpt, args)| Response::AddRcptPar { rcpt, args }),
        blob().prop_map(Response::ReplaceBody),
        (cstring(), proptest::option::of(cstring()))
            .prop_map(|(from, args)| Response::ChangeFrom { from, args }),
        (stage(), cstring()).prop_map(|(stage, macros)| Response::SetSymList { stage, macros }),
    ]
}

fn frames_in_chunks(bytes: &[u8], chunk: usize) -> Vec<Frame> {
    let mut d = FrameDecoder::new();
    let mut frames = Vec::new();
    for piece in bytes.chunks(chunk) {
        d.feed(piece);
        while let Some(f) = d.next_frame().unwrap() {
            frames.push(f);
        }
    }
    assert_eq!(d.buffered(), 0);
    frames
}

/// A valid conversation: negotiation, connect, then messages made of
/// random headers and body chunks, then QUIT.
fn conversation() -> impl Strategy<Value = Vec<Vec<Command>>> {
    let message = (
        proptest::collection::vec(nonempty_cstring(), 1..4),
        proptest::collection::vec((nonempty_cstring(), cstring()), 0..6),
        proptest::collection::vec(blob(), 0..4),
        blob(),
        any::<bool>(),
    )
        .prop_map(|(rcpts, headers, body, tail, abort)| {
            let mut cmds = vec![
                Command::Macro {
                    stage: b'M',
                    pairs: vec![(b"i".to_vec(), b"QID".to_vec())],
                },
                Command::Mail(vec![b"<s@x.example>".to_vec()]),
            ];
            for r in rcpts {
                cmds.push(Command::Rcpt(vec![r]));
            }
            cmds.push(Command::Data);
            for (name, value) in headers {
                // Header names never contain ':' on the wire from an MTA.
                let name = name.into_iter().filter(|&b| b != b':').collect::<Vec<_>>();
                if !name.is_empty() {
                    cmds.push(Command::Header { name, value });
                }
            }
            cmds.push(Command::EndOfHeaders);
            for b in body {
                cmds.push(Command::Body(b));
            }
            if abort {
                cmds.push(Command::Abort);
            } else {
                cmds.push(Command::EndOfBody(tail));
            }
            cmds
        });
    (proptest::collection::vec(message, 0..4), any::<bool>()).prop_map(|(messages, no_reply)| {
        let protocol = if no_reply { 0x1f_ffff } else { 0 };
        let mut segments = vec![vec![
            Command::OptNeg(OptNeg {
                version: 6,
                actions: Actions(0x1ff),
                protocol: ProtocolFlags(protocol),
            }),
            Command::Connect {
                hostname: b"h".to_vec(),
                family: Family::Inet,
                port: 1,
                address: b"192.0.2.1".to_vec(),
            },
        ]];
        segments.extend(messages);
        segments.push(vec![Command::Quit]);
        segments
    })
}

/// Runs a conversation segment by segment (the MTA waits for the answer
/// at the end of each message), answering each message with Accept.
fn run(segments: &[Vec<Command>], chunk: usize) -> (Vec<u8>, Vec<Event>) {
    let mut s = Session::new(Config::default());
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for seg in segments {
        let bytes: Vec<u8> = seg.iter().flat_map(Command::to_bytes).collect();
        for piece in bytes.chunks(chunk) {
            for e in s.receive(piece).unwrap() {
                match &e {
                    Event::Reply(b) => out.extend(b),
                    Event::Message(_) | Event::Limit(_) => {
                        out.extend(s.answer(Action::Accept).unwrap());
                        seen.push(e);
                    }
                    Event::Quit => seen.push(e),
                }
            }
        }
    }
    (out, seen)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), chunk in 1usize..64) {
        let mut s = Session::new(Config::default());
        for piece in bytes.chunks(chunk) {
            match s.receive(piece) {
                Ok(events) => {
                    if events.iter().any(|e| matches!(e, Event::Message(_) | Event::Limit(_))) {
                        let _ = s.answer(Action::Accept);
                    }
                }
                Err(_) => break,
            }
        }
        let mut d = FrameDecoder::with_max_frame_len(256);
        for piece in bytes.chunks(chunk) {
            d.feed(piece);
            while let Ok(Some(f)) = d.next_frame() {
                let _ = Command::decode(&f);
                let _ = Response::decode(&f);
            }
        }
    }

    #[test]
    fn arbitrary_frames_never_panic_the_decoders(code in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let f = Frame::new(code, data);
        let _ = Command::decode(&f);
        let _ = Response::decode(&f);
    }

    #[test]
    fn garbage_after_a_valid_start_never_panics(
        tail in proptest::collection::vec(any::<u8>(), 0..512),
        chunk in 1usize..32,
    ) {
        let mut bytes: Vec<u8> = [
            Command::OptNeg(OptNeg { version: 6, actions: Actions(0x1ff), protocol: ProtocolFlags(0x1f_ffff) }),
            Command::Connect { hostname: b"h".to_vec(), family: Family::Inet, port: 1, address: b"a".to_vec() },
            Command::Mail(vec![b"<a>".to_vec()]),
            Command::Rcpt(vec![b"<b>".to_vec()]),
        ].iter().flat_map(Command::to_bytes).collect();
        bytes.extend(tail);
        let mut s = Session::new(Config { max_message_size: 64, max_headers: 2, ..Config::default() });
        for piece in bytes.chunks(chunk) {
            match s.receive(piece) {
                Ok(events) => {
                    if events.iter().any(|e| matches!(e, Event::Message(_) | Event::Limit(_))) {
                        prop_assert!(s.answer(Action::Continue).is_ok());
                    }
                }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn random_well_framed_commands_never_panic_the_session(
        frames in proptest::collection::vec(
            (proptest::sample::select(b"ODCHMRTLNBEAQKU".to_vec()), proptest::collection::vec(any::<u8>(), 0..24)),
            0..40,
        ),
        chunk in 1usize..32,
    ) {
        let mut bytes = Command::OptNeg(OptNeg { version: 6, actions: Actions(0x1ff), protocol: ProtocolFlags(0) }).to_bytes();
        for (code, data) in frames {
            bytes.extend(Frame::new(code, data).to_bytes());
        }
        let mut s = Session::new(Config { max_message_size: 64, max_headers: 2, ..Config::default() });
        for piece in bytes.chunks(chunk) {
            match s.receive(piece) {
                Ok(events) => {
                    if events.iter().any(|e| matches!(e, Event::Message(_) | Event::Limit(_))) {
                        prop_assert!(s.answer(Action::Accept).is_ok());
                        prop_assert!(!s.is_answer_pending());
                    }
                }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn commands_round_trip_in_any_chunking(cmds in proptest::collection::vec(command(), 0..12), chunk in 1usize..40) {
        let bytes: Vec<u8> = cmds.iter().flat_map(Command::to_bytes).collect();
        let decoded: Vec<Command> = frames_in_chunks(&bytes, chunk)
            .iter()
            .map(|f| Command::decode(f).unwrap())
            .collect();
        prop_assert_eq!(decoded, cmds);
    }

    #[test]
    fn responses_round_trip_in_any_chunking(resps in proptest::collection::vec(response(), 0..12), chunk in 1usize..40) {
        let bytes: Vec<u8> = resps.iter().flat_map(Response::to_bytes).collect();
        let decoded: Vec<Response> = frames_in_chunks(&bytes, chunk)
            .iter()
            .map(|f| Response::decode(f).unwrap())
            .collect();
        prop_assert_eq!(decoded, resps);
    }

    #[test]
    fn sessions_see_the_same_conversation_in_any_chunking(segments in conversation(), chunk in 1usize..24) {
        let whole = run(&segments, usize::MAX);
        let chunked = run(&segments, chunk);
        let expected_messages = segments
            .iter()
            .filter(|s| matches!(s.last(), Some(Command::EndOfBody(_))))
            .count();
        prop_assert_eq!(
            whole.1.iter().filter(|e| matches!(e, Event::Message(_))).count(),
            expected_messages
        );
        prop_assert_eq!(whole, chunked);
    }
}
