//! Command layer: the typed meaning of frames in both directions.
//!
//! [`Command`] is what the MTA sends to the milter; [`Response`] is what the
//! milter sends back. Both decode from and encode to [`Frame`]s. Decoding
//! never panics: a payload of the wrong shape is a [`ProtocolError`].
//!
//! Strings are kept as bytes: the MTA forwards whatever the SMTP client sent
//! (8-bit headers, SMTPUTF8 addresses), and the raw message must be exact.
//! Encoders drop interior NUL bytes from strings, since NUL ends a string on
//! the wire.

use std::ops::{BitAnd, BitOr};

use crate::error::ProtocolError;
use crate::frame::Frame;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 6;

macro_rules! flag_type {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $flag:ident = $val:expr;)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub u32);

        impl $name {
            $($(#[$fm])* pub const $flag: $name = $name($val);)*
            /// No flag set.
            pub const NONE: $name = $name(0);

            /// Whether every flag of `other` is set in `self`.
            pub fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }
        }

        impl BitOr for $name {
            type Output = $name;
            fn bitor(self, rhs: $name) -> $name {
                $name(self.0 | rhs.0)
            }
        }

        impl BitAnd for $name {
            type Output = $name;
            fn bitand(self, rhs: $name) -> $name {
                $name(self.0 & rhs.0)
            }
        }
    };
}

flag_type! {
    /// What the milter may do to a message (`SMFIF_*`), offered by the MTA and
    /// requested by the milter during option negotiation.
    Actions {
        /// Add headers.
        ADD_HEADERS = 0x001;
        /// Replace the body.
        CHANGE_BODY = 0x002;
        /// Add recipients.
        ADD_RCPT = 0x004;
        /// Remove recipients.
        DEL_RCPT = 0x008;
        /// Change or delete headers.
        CHANGE_HEADERS = 0x010;
        /// Quarantine the message.
        QUARANTINE = 0x020;
        /// Change the envelope sender.
        CHANGE_FROM = 0x040;
        /// Add recipients with ESMTP arguments.
        ADD_RCPT_PAR = 0x080;
        /// Ask for a set of macros per stage.
        SET_SYMLIST = 0x100;
    }
}

flag_type! {
    /// Which steps the MTA sends and which need no reply (`SMFIP_*`).
    ProtocolFlags {
        /// Do not send CONNECT.
        NO_CONNECT = 0x0000_0001;
        /// Do not send HELO.
        NO_HELO = 0x0000_0002;
        /// Do not send MAIL.
        NO_MAIL = 0x0000_0004;
        /// Do not send RCPT.
        NO_RCPT = 0x0000_0008;
        /// Do not send the body.
        NO_BODY = 0x0000_0010;
        /// Do not send headers.
        NO_HEADERS = 0x0000_0020;
        /// Do not send end-of-headers.
        NO_EOH = 0x0000_0040;
        /// No reply to HEADER.
        NR_HEADER = 0x0000_0080;
        /// Do not send unknown SMTP commands.
        NO_UNKNOWN = 0x0000_0100;
        /// Do not send DATA.
        NO_DATA = 0x0000_0200;
        /// The MTA understands SKIP.
        SKIP = 0x0000_0400;
        /// Also send rejected recipients.
        RCPT_REJ = 0x0000_0800;
        /// No reply to CONNECT.
        NR_CONNECT = 0x0000_1000;
        /// No reply to HELO.
        NR_HELO = 0x0000_2000;
        /// No reply to MAIL.
        NR_MAIL = 0x0000_4000;
        /// No reply to RCPT.
        NR_RCPT = 0x0000_8000;
        /// No reply to DATA.
        NR_DATA = 0x0001_0000;
        /// No reply to UNKNOWN.
        NR_UNKNOWN = 0x0002_0000;
        /// No reply to end-of-headers.
        NR_EOH = 0x0004_0000;
        /// No reply to BODY.
        NR_BODY = 0x0008_0000;
        /// Header values keep their leading space.
        HEADER_LEADING_SPACE = 0x0010_0000;
        /// Frames may carry up to 256 KiB of data.
        MAX_DATA_256K = 0x1000_0000;
        /// Frames may carry up to 1 MiB of data.
        MAX_DATA_1M = 0x2000_0000;
    }
}

/// The stage a macro list applies to (`SMFIM_*`), for SETSYMLIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MacroStage {
    /// CONNECT.
    Connect = 0,
    /// HELO/EHLO.
    Helo = 1,
    /// MAIL FROM.
    EnvFrom = 2,
    /// RCPT TO.
    EnvRcpt = 3,
    /// DATA.
    Data = 4,
    /// End of message.
    EndOfMessage = 5,
    /// End of headers.
    EndOfHeaders = 6,
}

impl MacroStage {
    /// The stage for a wire number.
    pub fn from_u32(n: u32) -> Option<MacroStage> {
        Some(match n {
            0 => MacroStage::Connect,
            1 => MacroStage::Helo,
            2 => MacroStage::EnvFrom,
            3 => MacroStage::EnvRcpt,
            4 => MacroStage::Data,
            5 => MacroStage::EndOfMessage,
            6 => MacroStage::EndOfHeaders,
            _ => return None,
        })
    }
}

/// Address family of the SMTP client in CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Unknown (no port or address follows).
    Unknown,
    /// Unix-domain socket (`L`).
    Unix,
    /// IPv4 (`4`).
    Inet,
    /// IPv6 (`6`).
    Inet6,
}

impl Family {
    fn code(self) -> u8 {
        match self {
            Family::Unknown => b'U',
            Family::Unix => b'L',
            Family::Inet => b'4',
            Family::Inet6 => b'6',
        }
    }
}

/// Option negotiation data: sent by the MTA ([`Command::OptNeg`]) and
/// answered by the milter ([`Response::OptNeg`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptNeg {
    /// Protocol version.
    pub version: u32,
    /// Actions offered (MTA) or requested (milter).
    pub actions: Actions,
    /// Protocol flags offered (MTA) or requested (milter).
    pub protocol: ProtocolFlags,
}

/// A command from the MTA to the milter (`SMFIC_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `O`: option negotiation.
    OptNeg(OptNeg),
    /// `D`: macros for the command with code `stage` that follows.
    Macro {
        /// The code of the command these macros belong to.
        stage: u8,
        /// Name/value pairs, names as the MTA sent them (e.g. `{auth_authen}`).
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// `C`: the SMTP client connected.
    Connect {
        /// Client host name (or `[address]`).
        hostname: Vec<u8>,
        /// Address family.
        family: Family,
        /// Client port (0 for [`Family::Unknown`]).
        port: u16,
        /// Client address or socket path (empty for [`Family::Unknown`]).
        address: Vec<u8>,
    },
    /// `H`: HELO/EHLO argument.
    Helo(Vec<u8>),
    /// `M`: MAIL FROM: the address (with angle brackets) then ESMTP arguments.
    Mail(Vec<Vec<u8>>),
    /// `R`: RCPT TO: the address (with angle brackets) then ESMTP arguments.
    Rcpt(Vec<Vec<u8>>),
    /// `T`: DATA.
    Data,
    /// `L`: one header field.
    Header {
        /// Field name.
        name: Vec<u8>,
        /// Field value (folded lines kept as sent).
        value: Vec<u8>,
    },
    /// `N`: end of headers.
    EndOfHeaders,
    /// `B`: a body chunk.
    Body(Vec<u8>),
    /// `E`: end of body, possibly with a last chunk.
    EndOfBody(Vec<u8>),
    /// `A`: abort the current message.
    Abort,
    /// `Q`: close the connection.
    Quit,
    /// `K`: the connection will be reused for a new SMTP session.
    QuitNewConnection,
    /// `U`: an SMTP command the MTA did not recognise.
    Unknown(Vec<u8>),
}

impl Command {
    /// The command's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::OptNeg(_) => "OPTNEG",
            Command::Macro { .. } => "MACRO",
            Command::Connect { .. } => "CONNECT",
            Command::Helo(_) => "HELO",
            Command::Mail(_) => "MAIL",
            Command::Rcpt(_) => "RCPT",
            Command::Data => "DATA",
            Command::Header { .. } => "HEADER",
            Command::EndOfHeaders => "EOH",
            Command::Body(_) => "BODY",
            Command::EndOfBody(_) => "EOB",
            Command::Abort => "ABORT",
            Command::Quit => "QUIT",
            Command::QuitNewConnection => "QUIT_NC",
            Command::Unknown(_) => "UNKNOWN",
        }
    }

    /// The command code byte.
    pub fn code(&self) -> u8 {
        match self {
            Command::OptNeg(_) => b'O',
            Command::Macro { .. } => b'D',
            Command::Connect { .. } => b'C',
            Command::Helo(_) => b'H',
            Command::Mail(_) => b'M',
            Command::Rcpt(_) => b'R',
            Command::Data => b'T',
            Command::Header { .. } => b'L',
            Command::EndOfHeaders => b'N',
            Command::Body(_) => b'B',
            Command::EndOfBody(_) => b'E',
            Command::Abort => b'A',
            Command::Quit => b'Q',
            Command::QuitNewConnection => b'K',
            Command::Unknown(_) => b'U',
        }
    }

    /// Decodes a frame sent by the MTA.
    pub fn decode(frame: &Frame) -> Result<Command, ProtocolError> {
        let mut r = Reader::new(&frame.data);
        let cmd = match frame.code {
            b'O' => {
                r.what = "OPTNEG";
                let version = r.u32("it is shorter than 12 bytes")?;
                let actions = Actions(r.u32("it is shorter than 12 bytes")?);
                let protocol = ProtocolFlags(r.u32("it is shorter than 12 bytes")?);
                // Later fields, if a future MTA sends any, are ignored.
                return Ok(Command::OptNeg(OptNeg {
                    version,
                    actions,
                    protocol,
                }));
            }
            b'D' => {
                r.what = "MACRO";
                let stage = r.u8("it has no command code")?;
                let mut pairs = Vec::new();
                while !r.is_empty() {
                    let name = r.cstr()?.to_vec();
                    if r.is_empty() {
                        return Err(r.malformed("a macro name has no value"));
                    }
                    let value = r.cstr()?.to_vec();
                    pairs.push((name, value));
                }
                return Ok(Command::Macro { stage, pairs });
            }
            b'C' => {
                r.what = "CONNECT";
                let hostname = r.cstr()?.to_vec();
                let family = match r.u8("it has no address family")? {
                    b'U' => Family::Unknown,
                    b'L' => Family::Unix,
                    b'4' => Family::Inet,
                    b'6' => Family::Inet6,
                    _ => return Err(r.malformed("the address family is not U, L, 4 or 6")),
                };
                let (port, address) = if family == Family::Unknown {
                    (0, Vec::new())
                } else {
                    let port = r.u16("the port is missing")?;
                    (port, r.cstr()?.to_vec())
                };
                Command::Connect {
                    hostname,
                    family,
                    port,
                    address,
                }
            }
            b'H' => {
                r.what = "HELO";
                Command::Helo(r.cstr()?.to_vec())
            }
            b'M' => {
                r.what = "MAIL";
                Command::Mail(r.cstr_list()?)
            }
            b'R' => {
                r.what = "RCPT";
                Command::Rcpt(r.cstr_list()?)
            }
            b'T' => return Ok(Command::Data),
            b'L' => {
                r.what = "HEADER";
                let name = r.cstr()?.to_vec();
                if name.is_empty() {
                    return Err(r.malformed("the header name is empty"));
                }
                let value = r.cstr()?.to_vec();
                Command::Header { name, value }
            }
            b'N' => return Ok(Command::EndOfHeaders),
            b'B' => return Ok(Command::Body(frame.data.clone())),
            b'E' => return Ok(Command::EndOfBody(frame.data.clone())),
            b'A' => return Ok(Command::Abort),
            b'Q' => return Ok(Command::Quit),
            b'K' => return Ok(Command::QuitNewConnection),
            b'U' => {
                r.what = "UNKNOWN";
                Command::Unknown(r.cstr()?.to_vec())
            }
            other => return Err(ProtocolError::UnknownCommand(other)),
        };
        r.end()?;
        Ok(cmd)
    }

    /// Encodes the command as a frame.
    pub fn to_frame(&self) -> Frame {
        let mut d = Vec::new();
        match self {
            Command::OptNeg(o) => {
                d.extend_from_slice(&o.version.to_be_bytes());
                d.extend_from_slice(&o.actions.0.to_be_bytes());
                d.extend_from_slice(&o.protocol.0.to_be_bytes());
            }
            Command::Macro { stage, pairs } => {
                d.push(*stage);
                for (n, v) in pairs {
                    push_cstr(&mut d, n);
                    push_cstr(&mut d, v);
                }
            }
            Command::Connect {
                hostname,
                family,
                port,
                address,
            } => {
                push_cstr(&mut d, hostname);
                d.push(family.code());
                if *family != Family::Unknown {
                    d.extend_from_slice(&port.to_be_bytes());
                    push_cstr(&mut d, address);
                }
            }
            Command::Helo(s) | Command::Unknown(s) => push_cstr(&mut d, s),
            Command::Mail(args) | Command::Rcpt(args) => {
                for a in args {
                    push_cstr(&mut d, a);
                }
            }
            Command::Header { name, value } => {
                push_cstr(&mut d, name);
                push_cstr(&mut d, value);
            }
            Command::Body(b) | Command::EndOfBody(b) => d.extend_from_slice(b),
            Command::Data
            | Command::EndOfHeaders
            | Command::Abort
            | Command::Quit
            | Command::QuitNewConnection => {}
        }
        Frame::new(self.code(), d)
    }

    /// Encodes the command in wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_frame().to_bytes()
    }
}

/// A response from the milter to the MTA (`SMFIR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `O`: option negotiation reply, with optional macro lists per stage.
    OptNeg {
        /// Version, actions and protocol flags the milter uses.
        opts: OptNeg,
        /// Macros wanted per stage (space-separated names); needs
        /// [`Actions::SET_SYMLIST`].
        macros: Vec<(MacroStage, Vec<u8>)>,
    },
    /// `c`: continue.
    Continue,
    /// `a`: accept the message (or connection) without further filtering.
    Accept,
    /// `r`: reject with the MTA's default 5xx reply.
    Reject,
    /// `t`: temporary failure with the MTA's default 4xx reply.
    Tempfail,
    /// `d`: accept and silently discard.
    Discard,
    /// `p`: still working, reset the MTA's timeout.
    Progress,
    /// `s`: skip further body chunks.
    Skip,
    /// `f`: fail the connection.
    ConnFail,
    /// `4`: 421, shut down.
    Shutdown,
    /// `y`: a full SMTP reply, e.g. `550 5.7.1 text`.
    ReplyCode(Vec<u8>),
    /// `q`: quarantine (hold) the message with a reason.
    Quarantine(Vec<u8>),
    /// `h`: append a header.
    AddHeader {
        /// Name.
        name: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// `i`: insert a header at position `index` (0 = first).
    InsertHeader {
        /// Position among all headers.
        index: u32,
        /// Name.
        name: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// `m`: change the `index`-th (from 1) header called `name`; an empty value deletes it.
    ChangeHeader {
        /// Occurrence of this name, from 1.
        index: u32,
        /// Name.
        name: Vec<u8>,
        /// New value, empty to delete.
        value: Vec<u8>,
    },
    /// `+`: add a recipient.
    AddRcpt(Vec<u8>),
    /// `-`: remove a recipient.
    DelRcpt(Vec<u8>),
    /// `2`: add a recipient with ESMTP arguments.
    AddRcptPar {
        /// Recipient.
        rcpt: Vec<u8>,
        /// ESMTP arguments, if any.
        args: Option<Vec<u8>>,
    },
    /// `b`: a chunk of the replacement body.
    ReplaceBody(Vec<u8>),
    /// `e`: change the envelope sender.
    ChangeFrom {
        /// New sender.
        from: Vec<u8>,
        /// ESMTP arguments, if any.
        args: Option<Vec<u8>>,
    },
    /// `l`: macros wanted for one stage.
    SetSymList {
        /// Stage.
        stage: MacroStage,
        /// Space-separated macro names.
        macros: Vec<u8>,
    },
}

impl Response {
    /// The response code byte.
    pub fn code(&self) -> u8 {
        match self {
            Response::OptNeg { .. } => b'O',
            Response::Continue => b'c',
            Response::Accept => b'a',
            Response::Reject => b'r',
            Response::Tempfail => b't',
            Response::Discard => b'd',
            Response::Progress => b'p',
            Response::Skip => b's',
            Response::ConnFail => b'f',
            Response::Shutdown => b'4',
            Response::ReplyCode(_) => b'y',
            Response::Quarantine(_) => b'q',
            Response::AddHeader { .. } => b'h',
            Response::InsertHeader { .. } => b'i',
            Response::ChangeHeader { .. } => b'm',
            Response::AddRcpt(_) => b'+',
            Response::DelRcpt(_) => b'-',
            Response::AddRcptPar { .. } => b'2',
            Response::ReplaceBody(_) => b'b',
            Response::ChangeFrom { .. } => b'e',
            Response::SetSymList { .. } => b'l',
        }
    }

    /// Encodes the response as a frame.
    pub fn to_frame(&self) -> Frame {
        let mut d = Vec::new();
        match self {
            Response::OptNeg { opts, macros } => {
                d.extend_from_slice(&opts.version.to_be_bytes());
                d.extend_from_slice(&opts.actions.0.to_be_bytes());
                d.extend_from_slice(&opts.protocol.0.to_be_bytes());
                for (stage, list) in macros {
                    d.extend_from_slice(&(*stage as u32).to_be_bytes());
                    push_cstr(&mut d, list);
                }
            }
            Response::Continue
            | Response::Accept
            | Response::Reject
            | Response::Tempfail
            | Response::Discard
            | Response::Progress
            | Response::Skip
            | Response::ConnFail
            | Response::Shutdown => {}
            Response::ReplyCode(s)
            | Response::Quarantine(s)
            | Response::AddRcpt(s)
            | Response::DelRcpt(s) => push_cstr(&mut d, s),
            Response::AddHeader { name, value } => {
                push_cstr(&mut d, name);
                push_cstr(&mut d, value);
            }
            Response::InsertHeader { index, name, value }
            | Response::ChangeHeader { index, name, value } => {
                d.extend_from_slice(&index.to_be_bytes());
                push_cstr(&mut d, name);
                push_cstr(&mut d, value);
            }
            Response::AddRcptPar { rcpt: a, args } | Response::ChangeFrom { from: a, args } => {
                push_cstr(&mut d, a);
                if let Some(args) = args {
                    push_cstr(&mut d, args);
                }
            }
            Response::ReplaceBody(b) => d.extend_from_slice(b),
            Response::SetSymList { stage, macros } => {
                d.extend_from_slice(&(*stage as u32).to_be_bytes());
                push_cstr(&mut d, macros);
            }
        }
        Frame::new(self.code(), d)
    }

    /// Appends the response in wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.to_frame().write_to(out);
    }

    /// Encodes the response in wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_frame().to_bytes()
    }

    /// Decodes a frame sent by a milter (used by tests and by an MTA-side
    /// client).
    pub fn decode(frame: &Frame) -> Result<Response, ProtocolError> {
        let mut r = Reader::new(&frame.data);
        r.what = "response";
        let resp = match frame.code {
            b'O' => {
                r.what = "OPTNEG reply";
                let short = "it is shorter than 12 bytes";
                let opts = OptNeg {
                    version: r.u32(short)?,
                    actions: Actions(r.u32(short)?),
                    protocol: ProtocolFlags(r.u32(short)?),
                };
                let mut macros = Vec::new();
                while !r.is_empty() {
                    let stage = MacroStage::from_u32(r.u32("a macro stage is cut short")?)
                        .ok_or_else(|| r.malformed("a macro stage is not between 0 and 6"))?;
                    macros.push((stage, r.cstr()?.to_vec()));
                }
                Response::OptNeg { opts, macros }
            }
            b'c' => Response::Continue,
            b'a' => Response::Accept,
            b'r' => Response::Reject,
            b't' => Response::Tempfail,
            b'd' => Response::Discard,
            b'p' => Response::Progress,
            b's' => Response::Skip,
            b'f' => Response::ConnFail,
            b'4' => Response::Shutdown,
            b'y' => {
                r.what = "REPLYCODE";
                Response::ReplyCode(r.cstr()?.to_vec())
            }
            b'q' => {
                r.what = "QUARANTINE";
                Response::Quarantine(r.cstr()?.to_vec())
            }
            b'h' => {
                r.what = "ADDHEADER";
                let name = r.cstr()?.to_vec();
                let value = r.cstr()?.to_vec();
                Response::AddHeader { name, value }
            }
            b'i' | b'm' => {
                r.what = if frame.code == b'i' {
                    "INSHEADER"
                } else {
                    "CHGHEADER"
                };
                let index = r.u32("the index is missing")?;
                let name = r.cstr()?.to_vec();
                let value = r.cstr()?.to_vec();
                if frame.code == b'i' {
                    Response::InsertHeader { index, name, value }
                } else {
                    Response::ChangeHeader { index, name, value }
                }
            }
            b'+' => {
                r.what = "ADDRCPT";
                Response::AddRcpt(r.cstr()?.to_vec())
            }
            b'-' => {
                r.what = "DELRCPT";
                Response::DelRcpt(r.cstr()?.to_vec())
            }
            b'2' | b'e' => {
                r.what = if frame.code == b'2' {
                    "ADDRCPT_PAR"
                } else {
                    "CHGFROM"
                };
                let a = r.cstr()?.to_vec();
                let args = if r.is_empty() {
                    None
                } else {
                    Some(r.cstr()?.to_vec())
                };
                if frame.code == b'2' {
                    Response::AddRcptPar { rcpt: a, args }
                } else {
                    Response::ChangeFrom { from: a, args }
                }
            }
            b'b' => return Ok(Response::ReplaceBody(frame.data.clone())),
            b'l' => {
                r.what = "SETSYMLIST";
                let stage = MacroStage::from_u32(r.u32("the stage is missing")?)
                    .ok_or_else(|| r.malformed("the stage is not between 0 and 6"))?;
                Response::SetSymList {
                    stage,
                    macros: r.cstr()?.to_vec(),
                }
            }
            other => return Err(ProtocolError::UnknownResponse(other)),
        };
        r.end()?;
        Ok(resp)
    }
}

fn push_cstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(s.iter().copied().filter(|&b| b != 0));
    out.push(0);
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            what: "command",
        }
    }

    fn malformed(&self, reason: &'static str) -> ProtocolError {
        ProtocolError::Malformed {
            what: self.what,
            reason,
        }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn u8(&mut self, missing: &'static str) -> Result<u8, ProtocolError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| self.malformed(missing))?;
        self.pos += 1;
        Ok(b)
    }

    fn u16(&mut self, missing: &'static str) -> Result<u16, ProtocolError> {
        let bytes = self
            .data
            .get(self.pos..)
            .and_then(|s| s.first_chunk::<2>())
            .ok_or_else(|| self.malformed(missing))?;
        self.pos += 2;
        Ok(u16::from_be_bytes(*bytes))
    }

    fn u32(&mut self, missing: &'static str) -> Result<u32, ProtocolError> {
        let bytes = self
            .data
            .get(self.pos..)
            .and_then(|s| s.first_chunk::<4>())
            .ok_or_else(|| self.malformed(missing))?;
        self.pos += 4;
        Ok(u32::from_be_bytes(*bytes))
    }

    fn cstr(&mut self) -> Result<&'a [u8], ProtocolError> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            return Err(self.malformed("a string is missing"));
        }
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| self.malformed("a string is not terminated by NUL"))?;
        self.pos += nul + 1;
        Ok(&rest[..nul])
    }

    fn cstr_list(&mut self) -> Result<Vec<Vec<u8>>, ProtocolError> {
        if self.is_empty() {
            return Err(self.malformed("the address is missing"));
        }
        let mut out = Vec::new();
        while !self.is_empty() {
            out.push(self.cstr()?.to_vec());
        }
        Ok(out)
    }

    fn end(&self) -> Result<(), ProtocolError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.malformed("bytes follow the last field"))
        }
    }
}
