//! Errors of the protocol layers.

use thiserror::Error;

/// A violation of the milter protocol by the peer (or, for the response
/// decoder, by a milter). The connection cannot continue after one: the
/// application should close it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// A frame announced a length of zero; every frame has at least a code byte.
    #[error("the peer sent a frame of length zero, which has no command code")]
    ZeroLengthFrame,
    /// A frame announced a length over the configured bound.
    #[error("the peer announced a frame of {len} bytes, over the limit of {max} bytes")]
    FrameTooLarge {
        /// Announced length (code byte + data).
        len: u32,
        /// The bound.
        max: u32,
    },
    /// A command code this implementation does not know.
    #[error("the MTA sent an unknown command code 0x{0:02x}")]
    UnknownCommand(u8),
    /// A response code this implementation does not know.
    #[error("the milter sent an unknown response code 0x{0:02x}")]
    UnknownResponse(u8),
    /// A known command or response whose data does not have the expected shape.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which command or response.
        what: &'static str,
        /// What is wrong, as a sentence fragment.
        reason: &'static str,
    },
    /// The MTA offered a protocol version this implementation cannot speak.
    #[error("the MTA offered milter protocol version {0}, but version 2 or later is required")]
    UnsupportedVersion(u32),
    /// A command arrived in a state where the protocol does not allow it.
    #[error("the MTA sent {command} while the session was {state}")]
    OutOfOrder {
        /// The command's name.
        command: &'static str,
        /// The session state, as a phrase.
        state: &'static str,
    },
    /// A command arrived while the application had not yet answered the
    /// previous message or limit event.
    #[error("the MTA sent {command} before the answer to the pending message was given")]
    AnswerPending {
        /// The command's name.
        command: &'static str,
    },
    /// Bytes arrived after QUIT.
    #[error("the MTA sent data after QUIT")]
    AfterQuit,
}

/// Why [`crate::Session::answer`] refused an action.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AnswerError {
    /// No message or limit event is waiting for an answer.
    #[error("no message is waiting for an answer")]
    NothingPending,
    /// The action needs a capability the MTA did not grant during negotiation.
    #[error("the MTA did not allow the milter to {0}")]
    NotNegotiated(&'static str),
    /// A reply code outside 400–599, or an enhanced code that does not match it.
    #[error("invalid SMTP reply: {0}")]
    InvalidReply(&'static str),
    /// A header name that cannot be sent, or an occurrence index of 0.
    #[error("invalid header change: {0}")]
    InvalidHeader(&'static str),
    /// Header changes are only possible at the end of the message.
    #[error("{0} is only possible at the end of the message, not on a limit event before it")]
    NotAtEndOfMessage(&'static str),
}
