//! The milter protocol (version 6) for the doublecheck gate, without I/O.
//!
//! Postfix and Sendmail hand each SMTP transaction to a *milter* over a
//! socket: the MTA sends commands (connect, MAIL, RCPT, headers, body…), the
//! milter answers each step and, at the end of the message, says what to do
//! with it (accept, reject with a reply, quarantine, add or change headers and
//! recipients). This crate speaks that protocol; a network server only moves
//! bytes between a socket and a [`Session`].
//!
//! # Layout
//!
//! Three layers, each usable alone:
//!
//! - [`frame`]: bytes → [`Frame`]. A frame is a 4-byte big-endian length, a
//!   code byte and data. [`FrameDecoder`] takes any chunking of the stream,
//!   bounds the frame size and never panics.
//! - [`command`]: [`Frame`] ↔ [`Command`] (MTA to milter) and [`Response`]
//!   (milter to MTA), with the negotiation flags [`Actions`] and
//!   [`ProtocolFlags`]. Malformed data is a [`ProtocolError`].
//! - [`session`]: a state machine over commands. [`Session::receive`] takes
//!   bytes and returns [`Event`]s: replies to write, and complete messages
//!   ([`MessageEnvelope`]: client, macros, envelope, headers, raw RFC 5322
//!   bytes) or limit breaches that the application answers with an
//!   [`Action`] through [`Session::answer`].
//!
//! Every input is bounded ([`Config::max_frame_len`],
//! [`Config::max_message_size`], [`Config::max_headers`]); a breach of the
//! message limits is an [`Event::Limit`] for the application to answer
//! (usually `552 5.3.4`), any protocol violation a [`ProtocolError`] after
//! which the connection should be closed.
//!
//! # Example
//!
//! ```
//! use doublecheck_milter::{Action, Actions, Command, Config, Event, Family, OptNeg,
//!     ProtocolFlags, Session};
//!
//! // What an MTA would send, encoded with this crate's own encoder.
//! let mut wire = Vec::new();
//! for cmd in [
//!     Command::OptNeg(OptNeg { version: 6, actions: Actions(0x1ff), protocol: ProtocolFlags(0x1f_ffff) }),
//!     Command::Connect { hostname: b"client.example".to_vec(), family: Family::Inet,
//!                        port: 40000, address: b"192.0.2.7".to_vec() },
//!     Command::Mail(vec![b"<agent@shop.example>".to_vec()]),
//!     Command::Rcpt(vec![b"<ann@mail.example>".to_vec()]),
//!     Command::Header { name: b"Subject".to_vec(), value: b" Hello".to_vec() },
//!     Command::EndOfHeaders,
//!     Command::Body(b"Please send a copy of your license.\r\n".to_vec()),
//!     Command::EndOfBody(Vec::new()),
//! ] {
//!     wire.extend(cmd.to_bytes());
//! }
//!
//! let mut session = Session::new(Config::default());
//! let mut to_mta = Vec::new();
//! for chunk in wire.chunks(7) {            // bytes as a socket delivers them
//!     for event in session.receive(chunk)? {
//!         match event {
//!             Event::Reply(bytes) => to_mta.extend(bytes),
//!             Event::Message(msg) => {
//!                 assert_eq!(msg.mail_from, "agent@shop.example");
//!                 assert_eq!(msg.rcpts[0].address, "ann@mail.example");
//!                 assert!(msg.raw.starts_with(b"Subject: Hello\r\n\r\n"));
//!                 let answer = session.answer(Action::Reject {
//!                     code: 550,
//!                     enhanced: "5.7.1".into(),
//!                     text: "Do not ask customers for ID documents by email".into(),
//!                 }).expect("a valid reply");
//!                 to_mta.extend(answer);
//!             }
//!             Event::Limit(_) => {
//!                 to_mta.extend(session.answer(Action::Reject {
//!                     code: 552, enhanced: "5.3.4".into(), text: "Message too big".into(),
//!                 }).expect("a valid reply"));
//!             }
//!             Event::Quit => break,
//!         }
//!     }
//! }
//! // The negotiation reply, then the REPLYCODE frame.
//! assert_eq!(to_mta[4], b'O');
//! assert!(to_mta.ends_with(b"y550 5.7.1 Do not ask customers for ID documents by email\0"));
//! # Ok::<(), doublecheck_milter::ProtocolError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod command;
pub mod error;
pub mod frame;
pub mod session;

pub use command::{
    Actions, Command, Family, MacroStage, OptNeg, PROTOCOL_VERSION, ProtocolFlags, Response,
};
pub use error::{AnswerError, ProtocolError};
pub use frame::{DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, encode_frame};
pub use session::{
    Action, ClientInfo, Config, Event, HeaderChange, HeaderField, LimitExceeded, LimitKind,
    MAX_REPLY_TEXT, MessageEnvelope, Recipient, Session,
};
