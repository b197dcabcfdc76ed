//! Frame and command layer: round trips for every code, malformed inputs.

use doublecheck_milter::{
    Actions, Command, Family, Frame, FrameDecoder, MacroStage, OptNeg, ProtocolError,
    ProtocolFlags, Response,
};

/// Wire form written out by hand, independent of the crate's encoder.
fn wire(code: u8, data: &[u8]) -> Vec<u8> {
    let mut v = ((data.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(code);
    v.extend_from_slice(data);
    v
}

fn all_commands() -> Vec<(Command, Vec<u8>)> {
    vec![
        (
            Command::OptNeg(OptNeg {
                version: 6,
                actions: Actions(0x1ff),
                protocol: ProtocolFlags(0x1f_ffff),
            }),
            wire(b'O', b"\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff"),
        ),
        (
            Command::Macro {
                stage: b'C',
                pairs: vec![
                    (b"j".to_vec(), b"mx.shop.example".to_vec()),
                    (b"{daemon_name}".to_vec(), b"smtpd".to_vec()),
                ],
            },
            wire(b'D', b"Cj\0mx.shop.example\0{daemon_name}\0smtpd\0"),
        ),
        (
            Command::Macro {
                stage: b'E',
                pairs: vec![],
            },
            wire(b'D', b"E"),
        ),
        (
            Command::Connect {
                hostname: b"client.example".to_vec(),
                family: Family::Inet,
                port: 0x1234,
                address: b"192.0.2.1".to_vec(),
            },
            wire(b'C', b"client.example\x004\x12\x34192.0.2.1\0"),
        ),
        (
            Command::Connect {
                hostname: b"v6.example".to_vec(),
                family: Family::Inet6,
                port: 25,
                address: b"2001:db8::1".to_vec(),
            },
            wire(b'C', b"v6.example\x006\0\x192001:db8::1\0"),
        ),
        (
            Command::Connect {
                hostname: b"localhost".to_vec(),
                family: Family::Unix,
                port: 0,
                address: b"/run/sock".to_vec(),
            },
            wire(b'C', b"localhost\0L\0\0/run/sock\0"),
        ),
        (
            Command::Connect {
                hostname: b"unknown".to_vec(),
                family: Family::Unknown,
                port: 0,
                address: vec![],
            },
            wire(b'C', b"unknown\0U"),
        ),
        (
            Command::Helo(b"client.example".to_vec()),
            wire(b'H', b"client.example\0"),
        ),
        (
            Command::Mail(vec![b"<a@shop.example>".to_vec(), b"SIZE=100".to_vec()]),
            wire(b'M', b"<a@shop.example>\0SIZE=100\0"),
        ),
        (
            Command::Rcpt(vec![b"<b@mail.example>".to_vec()]),
            wire(b'R', b"<b@mail.example>\0"),
        ),
        (Command::Data, wire(b'T', b"")),
        (
            Command::Header {
                name: b"Subject".to_vec(),
                value: b" hi".to_vec(),
            },
            wire(b'L', b"Subject\0 hi\0"),
        ),
        (
            Command::Header {
                name: b"X-Empty".to_vec(),
                value: b"".to_vec(),
            },
            wire(b'L', b"X-Empty\0\0"),
        ),
        (Command::EndOfHeaders, wire(b'N', b"")),
        (
            Command::Body(b"line\r\n\0binary".to_vec()),
            wire(b'B', b"line\r\n\0binary"),
        ),
        (Command::EndOfBody(vec![]), wire(b'E', b"")),
        (Command::EndOfBody(b"tail".to_vec()), wire(b'E', b"tail")),
        (Command::Abort, wire(b'A', b"")),
        (Command::Quit, wire(b'Q', b"")),
        (Command::QuitNewConnection, wire(b'K', b"")),
        (Command::Unknown(b"XYZZY".to_vec()), wire(b'U', b"XYZZY\0")),
    ]
}

fn all_responses() -> Vec<(Response, Vec<u8>)> {
    vec![
        (
            Response::OptNeg {
                opts: OptNeg {
                    version: 6,
                    actions: Actions::ADD_HEADERS | Actions::QUARANTINE,
                    protocol: ProtocolFlags::NR_HEADER,
                },
                macros: vec![],
            },
            wire(b'O', b"\0\0\0\x06\0\0\0\x21\0\0\0\x80"),
        ),
        (
            Response::OptNeg {
                opts: OptNeg {
                    version: 6,
                    actions: Actions::SET_SYMLIST,
                    protocol: ProtocolFlags::NONE,
                },
                macros: vec![
                    (MacroStage::EnvFrom, b"i {auth_authen}".to_vec()),
                    (MacroStage::EndOfMessage, b"i".to_vec()),
                ],
            },
            wire(
                b'O',
                b"\0\0\0\x06\0\0\x01\0\0\0\0\0\0\0\0\x02i {auth_authen}\0\0\0\0\x05i\0",
            ),
        ),
        (Response::Continue, wire(b'c', b"")),
        (Response::Accept, wire(b'a', b"")),
        (Response::Reject, wire(b'r', b"")),
        (Response::Tempfail, wire(b't', b"")),
        (Response::Discard, wire(b'd', b"")),
        (Response::Progress, wire(b'p', b"")),
        (Response::Skip, wire(b's', b"")),
        (Response::ConnFail, wire(b'f', b"")),
        (Response::Shutdown, wire(b'4', b"")),
        (
            Response::ReplyCode(b"550 5.7.1 No".to_vec()),
            wire(b'y', b"550 5.7.1 No\0"),
        ),
        (
            Response::Quarantine(b"held for review".to_vec()),
            wire(b'q', b"held for review\0"),
        ),
        (
            Response::AddHeader {
                name: b"X-Doublecheck".to_vec(),
                value: b" warn".to_vec(),
            },
            wire(b'h', b"X-Doublecheck\0 warn\0"),
        ),
        (
            Response::InsertHeader {
                index: 0,
                name: b"X-A".to_vec(),
                value: b"1".to_vec(),
            },
            wire(b'i', b"\0\0\0\0X-A\x001\0"),
        ),
        (
            Response::ChangeHeader {
                index: 2,
                name: b"Cc".to_vec(),
                value: b"".to_vec(),
            },
            wire(b'm', b"\0\0\0\x02Cc\0\0"),
        ),
        (
            Response::AddRcpt(b"<x@y.example>".to_vec()),
            wire(b'+', b"<x@y.example>\0"),
        ),
        (
            Response::DelRcpt(b"<x@y.example>".to_vec()),
            wire(b'-', b"<x@y.example>\0"),
        ),
        (
            Response::AddRcptPar {
                rcpt: b"<x@y.example>".to_vec(),
                args: Some(b"NOTIFY=NEVER".to_vec()),
            },
            wire(b'2', b"<x@y.example>\0NOTIFY=NEVER\0"),
        ),
        (
            Response::AddRcptPar {
                rcpt: b"<x@y.example>".to_vec(),
                args: None,
            },
            wire(b'2', b"<x@y.example>\0"),
        ),
        (
            Response::ReplaceBody(b"new body\r\n".to_vec()),
            wire(b'b', b"new body\r\n"),
        ),
        (
            Response::ChangeFrom {
                from: b"<s@shop.example>".to_vec(),
                args: None,
            },
            wire(b'e', b"<s@shop.example>\0"),
        ),
        (
            Response::ChangeFrom {
                from: b"<s@shop.example>".to_vec(),
                args: Some(b"BODY=8BITMIME".to_vec()),
            },
            wire(b'e', b"<s@shop.example>\0BODY=8BITMIME\0"),
        ),
        (
            Response::SetSymList {
                stage: MacroStage::Connect,
                macros: b"j _".to_vec(),
            },
            wire(b'l', b"\0\0\0\0j _\0"),
        ),
    ]
}

fn decode_one(bytes: &[u8]) -> Frame {
    let mut d = FrameDecoder::new();
    d.feed(bytes);
    let f = d.next_frame().unwrap().expect("a whole frame");
    assert_eq!(d.next_frame().unwrap(), None);
    f
}

#[test]
fn every_command_round_trips_through_its_wire_form() {
    let cmds = all_commands();
    let codes: std::collections::BTreeSet<u8> = cmds.iter().map(|(c, _)| c.code()).collect();
    assert_eq!(codes.len(), 15, "one case per command code at least");
    for (cmd, bytes) in cmds {
        assert_eq!(cmd.to_bytes(), bytes, "encoding {}", cmd.name());
        assert_eq!(Command::decode(&decode_one(&bytes)).unwrap(), cmd);
    }
}

#[test]
fn every_response_round_trips_through_its_wire_form() {
    let resps = all_responses();
    let codes: std::collections::BTreeSet<u8> = resps.iter().map(|(r, _)| r.code()).collect();
    assert_eq!(codes.len(), 21, "one case per response code at least");
    for (resp, bytes) in resps {
        assert_eq!(resp.to_bytes(), bytes, "encoding {resp:?}");
        assert_eq!(Response::decode(&decode_one(&bytes)).unwrap(), resp);
    }
}

#[test]
fn encoders_drop_interior_nuls_from_strings() {
    let cmd = Command::Helo(b"a\0b".to_vec());
    assert_eq!(cmd.to_bytes(), wire(b'H', b"ab\0"));
}

fn malformed(code: u8, data: &[u8]) -> ProtocolError {
    Command::decode(&Frame::new(code, data.to_vec())).unwrap_err()
}

fn reason(err: ProtocolError) -> (&'static str, &'static str) {
    match err {
        ProtocolError::Malformed { what, reason } => (what, reason),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn malformed_commands_are_typed_errors() {
    assert_eq!(
        reason(malformed(b'O', b"\0\0\0\x06\0\0")),
        ("OPTNEG", "it is shorter than 12 bytes")
    );
    assert_eq!(
        reason(malformed(b'D', b"")),
        ("MACRO", "it has no command code")
    );
    assert_eq!(
        reason(malformed(b'D', b"Cj\0")),
        ("MACRO", "a macro name has no value")
    );
    assert_eq!(
        reason(malformed(b'D', b"Cj\0value")),
        ("MACRO", "a string is not terminated by NUL")
    );
    assert_eq!(
        reason(malformed(b'C', b"host")),
        ("CONNECT", "a string is not terminated by NUL")
    );
    assert_eq!(
        reason(malformed(b'C', b"host\0")),
        ("CONNECT", "it has no address family")
    );
    assert_eq!(
        reason(malformed(b'C', b"host\0X")),
        ("CONNECT", "the address family is not U, L, 4 or 6")
    );
    assert_eq!(
        reason(malformed(b'C', b"host\x004\x01")),
        ("CONNECT", "the port is missing")
    );
    assert_eq!(
        reason(malformed(b'C', b"host\x004\0\x19")),
        ("CONNECT", "a string is missing")
    );
    assert_eq!(
        reason(malformed(b'C', b"host\0Uextra")),
        ("CONNECT", "bytes follow the last field")
    );
    assert_eq!(
        reason(malformed(b'H', b"")),
        ("HELO", "a string is missing")
    );
    assert_eq!(
        reason(malformed(b'H', b"a\0b\0")),
        ("HELO", "bytes follow the last field")
    );
    assert_eq!(
        reason(malformed(b'M', b"")),
        ("MAIL", "the address is missing")
    );
    assert_eq!(
        reason(malformed(b'M', b"<a@b>\0SIZE=1")),
        ("MAIL", "a string is not terminated by NUL")
    );
    assert_eq!(
        reason(malformed(b'R', b"")),
        ("RCPT", "the address is missing")
    );
    assert_eq!(
        reason(malformed(b'L', b"Subject\0value")),
        ("HEADER", "a string is not terminated by NUL")
    );
    assert_eq!(
        reason(malformed(b'L', b"Subject\0")),
        ("HEADER", "a string is missing")
    );
    assert_eq!(
        reason(malformed(b'L', b"\0value\0")),
        ("HEADER", "the header name is empty")
    );
    assert_eq!(
        reason(malformed(b'U', b"HELP")),
        ("UNKNOWN", "a string is not terminated by NUL")
    );
    assert_eq!(malformed(b'Z', b""), ProtocolError::UnknownCommand(b'Z'));
    assert_eq!(malformed(b'c', b""), ProtocolError::UnknownCommand(b'c'));
}

#[test]
fn malformed_responses_are_typed_errors() {
    let bad =
        |code: u8, data: &[u8]| Response::decode(&Frame::new(code, data.to_vec())).unwrap_err();
    assert_eq!(
        reason(bad(b'O', b"\0\0\0\x06")),
        ("OPTNEG reply", "it is shorter than 12 bytes")
    );
    assert_eq!(
        reason(bad(b'O', b"\0\0\0\x06\0\0\0\0\0\0\0\0\0\0\0\x09i\0")),
        ("OPTNEG reply", "a macro stage is not between 0 and 6")
    );
    assert_eq!(
        reason(bad(b'O', b"\0\0\0\x06\0\0\0\0\0\0\0\0\0\0")),
        ("OPTNEG reply", "a macro stage is cut short")
    );
    assert_eq!(
        reason(bad(b'y', b"550 no nul")),
        ("REPLYCODE", "a string is not terminated by NUL")
    );
    assert_eq!(
        reason(bad(b'm', b"\0\0")),
        ("CHGHEADER", "the index is missing")
    );
    assert_eq!(
        reason(bad(b'i', b"\0\0\0\x01X\0")),
        ("INSHEADER", "a string is missing")
    );
    assert_eq!(
        reason(bad(b'l', b"\0\0\0\x07x\0")),
        ("SETSYMLIST", "the stage is not between 0 and 6")
    );
    assert_eq!(
        reason(bad(b'c', b"x")),
        ("response", "bytes follow the last field")
    );
    assert_eq!(
        reason(bad(b'2', b"<a>\0args\0more\0")),
        ("ADDRCPT_PAR", "bytes follow the last field")
    );
    assert_eq!(bad(b'Z', b""), ProtocolError::UnknownResponse(b'Z'));
}

#[test]
fn errors_read_as_sentences() {
    assert_eq!(
        malformed(b'O', b"").to_string(),
        "malformed OPTNEG: it is shorter than 12 bytes"
    );
    assert_eq!(
        ProtocolError::FrameTooLarge { len: 10, max: 5 }.to_string(),
        "the peer announced a frame of 10 bytes, over the limit of 5 bytes"
    );
}
