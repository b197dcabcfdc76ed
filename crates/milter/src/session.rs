//! Session layer: a pure state machine over [`Command`]s.
//!
//! [`Session::receive`] takes bytes from the MTA and returns [`Event`]s:
//! bytes to write back, or a message (or a limit breach) that needs the
//! application's answer, given with [`Session::answer`].

use std::collections::{BTreeMap, HashMap};

use crate::command::{
    Actions, Command, Family, MacroStage, OptNeg, PROTOCOL_VERSION, ProtocolFlags, Response,
};
use crate::error::{AnswerError, ProtocolError};
use crate::frame::{DEFAULT_MAX_FRAME_LEN, FrameDecoder};

/// Most text put in a REPLYCODE or QUARANTINE reason, in bytes.
pub const MAX_REPLY_TEXT: usize = 900;

/// Settings of a [`Session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Bound on one frame's announced length (code byte + data).
    pub max_frame_len: u32,
    /// Bound on the message: raw header bytes plus body bytes.
    pub max_message_size: usize,
    /// Bound on the number of header fields.
    pub max_headers: usize,
    /// Actions to ask for; the session asks only for those the MTA offers.
    pub actions: Actions,
    /// Ask the MTA not to wait for replies to CONNECT, HELO, MAIL, RCPT,
    /// DATA, HEADER, EOH, BODY and unknown commands (where it offers that):
    /// fewer round trips per message.
    pub no_reply: bool,
    /// Macros to ask for per stage (space-separated names), sent when the
    /// MTA offers [`Actions::SET_SYMLIST`]. Empty keeps the MTA's defaults.
    pub macros: Vec<(MacroStage, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_message_size: 32 * 1024 * 1024,
            max_headers: 1000,
            actions: Actions::ADD_HEADERS
                | Actions::CHANGE_HEADERS
                | Actions::ADD_RCPT
                | Actions::DEL_RCPT
                | Actions::QUARANTINE
                | Actions::CHANGE_FROM
                | Actions::SET_SYMLIST,
            no_reply: true,
            macros: vec![
                (
                    MacroStage::EnvFrom,
                    "i {auth_authen} {auth_type} {mail_addr}".to_string(),
                ),
                (MacroStage::EndOfMessage, "i".to_string()),
            ],
        }
    }
}

/// What the session tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bytes to write to the MTA.
    Reply(Vec<u8>),
    /// A complete message; answer it with [`Session::answer`].
    Message(Box<MessageEnvelope>),
    /// The message broke a limit; answer it with [`Session::answer`]
    /// (typically `Reject { code: 552, enhanced: "5.3.4", .. }`). If the
    /// answer is `Continue` and the message goes on, the data past the limit
    /// is dropped and the message arrives with
    /// [`MessageEnvelope::truncated`] set.
    Limit(LimitExceeded),
    /// The MTA sent QUIT: close the connection.
    Quit,
}

/// Which limit a message broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// [`Config::max_message_size`].
    MessageSize,
    /// [`Config::max_headers`].
    HeaderCount,
}

/// A limit breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitExceeded {
    /// Which limit.
    pub kind: LimitKind,
    /// Its configured value.
    pub limit: usize,
}

/// The SMTP client as CONNECT described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// Host name (or `[address]` when it has none).
    pub hostname: String,
    /// Address family.
    pub family: Family,
    /// Port.
    pub port: u16,
    /// Address or socket path.
    pub address: String,
}

/// One envelope recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address without angle brackets.
    pub address: String,
    /// ESMTP arguments (`NOTIFY=…`, `ORCPT=…`).
    pub args: Vec<String>,
}

/// One header field as the MTA sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    /// Field name.
    pub name: String,
    /// Value without leading white space; folded lines keep their line breaks.
    pub value: String,
    /// Occurrence of this name (case-insensitive), from 1: the index that
    /// [`HeaderChange`] takes.
    pub index: u32,
}

/// A complete message with its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEnvelope {
    /// The SMTP client.
    pub client: Option<ClientInfo>,
    /// HELO/EHLO argument.
    pub helo: Option<String>,
    /// Macros of the connection and this message, names without braces
    /// (`i`, `auth_authen`, `j`…).
    pub macros: BTreeMap<String, String>,
    /// Envelope sender without angle brackets (empty for the null sender).
    pub mail_from: String,
    /// ESMTP arguments of MAIL FROM.
    pub mail_args: Vec<String>,
    /// Envelope recipients in order.
    pub rcpts: Vec<Recipient>,
    /// Header fields in order.
    pub headers: Vec<HeaderField>,
    /// The message as RFC 5322 bytes: header fields (CRLF line ends), a
    /// blank line, the body as the MTA sent it.
    pub raw: Vec<u8>,
    /// Offset of the body in `raw`.
    pub body_offset: usize,
    /// Set when a limit was broken and the application chose to go on: the
    /// data past the limit is missing.
    pub truncated: Option<LimitExceeded>,
}

impl MessageEnvelope {
    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.raw[self.body_offset..]
    }

    /// A macro's value; `name` with or without braces.
    pub fn macro_value(&self, name: &str) -> Option<&str> {
        self.macros.get(strip_braces(name)).map(String::as_str)
    }

    /// The MTA's queue id (macro `i`).
    pub fn queue_id(&self) -> Option<&str> {
        self.macro_value("i")
    }

    /// The SMTP AUTH user (macro `{auth_authen}`).
    pub fn auth_user(&self) -> Option<&str> {
        self.macro_value("auth_authen").filter(|s| !s.is_empty())
    }
}

/// A change to an existing header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderChange {
    /// Field name.
    pub name: String,
    /// Occurrence of this name, from 1 (see [`HeaderField::index`]).
    pub index: u32,
    /// New value; empty deletes the field.
    pub value: String,
}

/// The application's answer to a message or limit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Accept the message, no further filtering.
    Accept,
    /// Go on (at the end of the message: accept it).
    Continue,
    /// Refuse with an SMTP reply, e.g. `550 5.7.1 text`. `enhanced` may be empty.
    Reject {
        /// 4xx or 5xx.
        code: u16,
        /// Enhanced status code whose class matches `code`, or empty.
        enhanced: String,
        /// Human text; CR/LF become spaces, `%` is doubled, cut at
        /// [`MAX_REPLY_TEXT`] bytes.
        text: String,
    },
    /// Temporary failure: `451 4.3.0 text`, or the MTA's default when `text` is empty.
    Tempfail {
        /// Human text.
        text: String,
    },
    /// Accept and drop the message.
    Discard,
    /// Hold the message in the MTA's quarantine (end of message only).
    Quarantine {
        /// Why.
        reason: String,
    },
    /// Change the message, then let it go on (end of message only).
    Modify {
        /// Headers to append (name, value).
        add_headers: Vec<(String, String)>,
        /// Headers to change or delete.
        change_headers: Vec<HeaderChange>,
        /// Recipients to add.
        add_rcpts: Vec<String>,
        /// Recipients to remove.
        del_rcpts: Vec<String>,
        /// Also quarantine with this reason.
        quarantine: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Negotiate,
    AwaitConnect,
    Connected,
    Mail,
    Rcpt,
    Data,
    Headers,
    Body,
    Closed,
}

impl Phase {
    fn describe(self) -> &'static str {
        match self {
            Phase::Negotiate => "waiting for option negotiation",
            Phase::AwaitConnect => "waiting for CONNECT",
            Phase::Connected => "between messages",
            Phase::Mail => "waiting for the first RCPT",
            Phase::Rcpt => "receiving recipients",
            Phase::Data => "after DATA",
            Phase::Headers => "receiving headers",
            Phase::Body => "receiving the body",
            Phase::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// The answer replies to a command before the end of the message.
    MidMessage,
    /// The answer replies to end-of-body.
    EndOfMessage,
}

#[derive(Debug, Default)]
struct Message {
    mail_from: String,
    mail_args: Vec<String>,
    rcpts: Vec<Recipient>,
    headers: Vec<HeaderField>,
    header_block: Vec<u8>,
    body: Vec<u8>,
    size: usize,
    name_counts: HashMap<String, u32>,
    limit: Option<LimitExceeded>,
    limit_reported: bool,
}

/// The milter side of one MTA connection, without I/O.
#[derive(Debug)]
pub struct Session {
    config: Config,
    decoder: FrameDecoder,
    phase: Phase,
    failed: Option<ProtocolError>,
    pending: Option<Pending>,
    actions: Actions,
    protocol: ProtocolFlags,
    version: u32,
    client: Option<ClientInfo>,
    helo: Option<String>,
    conn_macros: BTreeMap<String, String>,
    msg_macros: BTreeMap<String, String>,
    msg: Message,
}

impl Session {
    /// A session waiting for the MTA's option negotiation.
    pub fn new(config: Config) -> Self {
        Session {
            decoder: FrameDecoder::with_max_frame_len(config.max_frame_len),
            config,
            phase: Phase::Negotiate,
            failed: None,
            pending: None,
            actions: Actions::NONE,
            protocol: ProtocolFlags::NONE,
            version: 0,
            client: None,
            helo: None,
            conn_macros: BTreeMap::new(),
            msg_macros: BTreeMap::new(),
            msg: Message::default(),
        }
    }

    /// The actions granted in negotiation.
    pub fn actions(&self) -> Actions {
        self.actions
    }

    /// The protocol flags agreed in negotiation.
    pub fn protocol(&self) -> ProtocolFlags {
        self.protocol
    }

    /// The protocol version agreed in negotiation (0 before it).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whether a message or limit event waits for [`Session::answer`].
    pub fn is_answer_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Whether the MTA has sent QUIT.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Feeds bytes from the MTA; returns what to do, in order. Adjacent
    /// replies are joined into one [`Event::Reply`].
    ///
    /// After an error the connection must be closed; the session keeps
    /// returning that error.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Vec<Event>, ProtocolError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.phase == Phase::Closed {
            if bytes.is_empty() {
                return Ok(Vec::new());
            }
            return Err(self.fail(ProtocolError::AfterQuit));
        }
        self.decoder.feed(bytes);
        let mut events = Vec::new();
        loop {
            let frame = match self.decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(self.fail(e)),
            };
            if self.phase == Phase::Closed {
                return Err(self.fail(ProtocolError::AfterQuit));
            }
            let cmd = match Command::decode(&frame) {
                Ok(c) => c,
                Err(e) => return Err(self.fail(e)),
            };
            if self.pending.is_some() {
                return Err(self.fail(ProtocolError::AnswerPending {
                    command: cmd.name(),
                }));
            }
            if let Err(e) = self.handle(cmd, &mut events) {
                return Err(self.fail(e));
            }
        }
        Ok(events)
    }

    /// Answers the pending message or limit event; returns the bytes to
    /// write to the MTA. On an error nothing changes: answer again.
    pub fn answer(&mut self, action: Action) -> Result<Vec<u8>, AnswerError> {
        let pending = self.pending.ok_or(AnswerError::NothingPending)?;
        let mut out = Vec::new();
        let ends_message = match &action {
            Action::Accept => {
                Response::Accept.write_to(&mut out);
                true
            }
            Action::Continue => {
                Response::Continue.write_to(&mut out);
                pending == Pending::EndOfMessage
            }
            Action::Reject {
                code,
                enhanced,
                text,
            } => {
                Response::ReplyCode(reply_text(*code, enhanced, text)?).write_to(&mut out);
                true
            }
            Action::Tempfail { text } => {
                if text.is_empty() {
                    Response::Tempfail.write_to(&mut out);
                } else {
                    Response::ReplyCode(reply_text(451, "4.3.0", text)?).write_to(&mut out);
                }
                true
            }
            Action::Discard => {
                Response::Discard.write_to(&mut out);
                true
            }
            Action::Quarantine { reason } => {
                if pending != Pending::EndOfMessage {
                    return Err(AnswerError::NotAtEndOfMessage("quarantine"));
                }
                self.require(Actions::QUARANTINE, "quarantine messages")?;
                Response::Quarantine(escape_text(reason, false).into_bytes()).write_to(&mut out);
                Response::Continue.write_to(&mut out);
                true
            }
            Action::Modify {
                add_headers,
                change_headers,
                add_rcpts,
                del_rcpts,
                quarantine,
            } => {
                if pending != Pending::EndOfMessage {
                    return Err(AnswerError::NotAtEndOfMessage("changing the message"));
                }
                if !add_headers.is_empty() {
                    self.require(Actions::ADD_HEADERS, "add headers")?;
                }
                if !change_headers.is_empty() {
                    self.require(Actions::CHANGE_HEADERS, "change headers")?;
                }
                if !add_rcpts.is_empty() {
                    self.require(Actions::ADD_RCPT, "add recipients")?;
                }
                if !del_rcpts.is_empty() {
                    self.require(Actions::DEL_RCPT, "remove recipients")?;
                }
                if quarantine.is_some() {
                    self.require(Actions::QUARANTINE, "quarantine messages")?;
                }
                for (name, _) in add_headers {
                    check_header_name(name)?;
                }
                for c in change_headers {
                    check_header_name(&c.name)?;
                    if c.index == 0 {
                        return Err(AnswerError::InvalidHeader(
                            "header occurrence indexes start at 1",
                        ));
                    }
                }
                for c in change_headers {
                    Response::ChangeHeader {
                        index: c.index,
                        name: c.name.clone().into_bytes(),
                        value: self.header_value(&c.value),
                    }
                    .write_to(&mut out);
                }
                for (name, value) in add_headers {
                    Response::AddHeader {
                        name: name.clone().into_bytes(),
                        value: self.header_value(value),
                    }
                    .write_to(&mut out);
                }
                for r in del_rcpts {
                    Response::DelRcpt(angle(r)).write_to(&mut out);
                }
                for r in add_rcpts {
                    Response::AddRcpt(angle(r)).write_to(&mut out);
                }
                if let Some(reason) = quarantine {
                    Response::Quarantine(escape_text(reason, false).into_bytes())
                        .write_to(&mut out);
                }
                Response::Continue.write_to(&mut out);
                true
            }
        };
        self.pending = None;
        if ends_message {
            self.end_message();
        } else {
            self.msg.limit_reported = true;
        }
        Ok(out)
    }

    fn require(&self, action: Actions, what: &'static str) -> Result<(), AnswerError> {
        if self.actions.contains(action) {
            Ok(())
        } else {
            Err(AnswerError::NotNegotiated(what))
        }
    }

    fn header_value(&self, value: &str) -> Vec<u8> {
        let clean = clean_header_value(value);
        if clean.is_empty() || !self.protocol.contains(ProtocolFlags::HEADER_LEADING_SPACE) {
            clean.into_bytes()
        } else {
            format!(" {clean}").into_bytes()
        }
    }

    fn fail(&mut self, err: ProtocolError) -> ProtocolError {
        self.failed = Some(err.clone());
        err
    }

    fn end_message(&mut self) {
        self.msg = Message::default();
        self.msg_macros.clear();
        if self.phase != Phase::Closed {
            self.phase = Phase::Connected;
        }
    }

    fn out_of_order(&self, cmd: &Command) -> ProtocolError {
        ProtocolError::OutOfOrder {
            command: cmd.name(),
            state: self.phase.describe(),
        }
    }

    fn wants_reply(&self, flag: ProtocolFlags) -> bool {
        !self.protocol.contains(flag)
    }

    /// Replies CONTINUE to a step unless the MTA expects no reply; reports
    /// an unreported limit breach instead where a reply is allowed.
    fn step_reply(&mut self, no_reply: ProtocolFlags, events: &mut Vec<Event>) {
        if !self.wants_reply(no_reply) {
            return;
        }
        if let (Some(limit), false) = (self.msg.limit, self.msg.limit_reported)
            && self.phase != Phase::Connected
        {
            self.pending = Some(Pending::MidMessage);
            events.push(Event::Limit(limit));
            return;
        }
        push_reply(events, &Response::Continue);
    }

    fn handle(&mut self, cmd: Command, events: &mut Vec<Event>) -> Result<(), ProtocolError> {
        match cmd {
            Command::OptNeg(offer) => {
                if !matches!(self.phase, Phase::Negotiate | Phase::AwaitConnect) {
                    return Err(self.out_of_order(&Command::OptNeg(offer)));
                }
                if offer.version < 2 {
                    return Err(ProtocolError::UnsupportedVersion(offer.version));
                }
                self.version = offer.version.min(PROTOCOL_VERSION);
                self.actions = self.config.actions & offer.actions;
                let mut want = ProtocolFlags::HEADER_LEADING_SPACE;
                if self.config.no_reply {
                    want = want
                        | ProtocolFlags::NR_CONNECT
                        | ProtocolFlags::NR_HELO
                        | ProtocolFlags::NR_MAIL
                        | ProtocolFlags::NR_RCPT
                        | ProtocolFlags::NR_DATA
                        | ProtocolFlags::NR_HEADER
                        | ProtocolFlags::NR_EOH
                        | ProtocolFlags::NR_BODY
                        | ProtocolFlags::NR_UNKNOWN;
                }
                self.protocol = want & offer.protocol;
                let macros = if self.actions.contains(Actions::SET_SYMLIST) {
                    self.config
                        .macros
                        .iter()
                        .map(|(stage, list)| (*stage, list.clone().into_bytes()))
                        .collect()
                } else {
                    Vec::new()
                };
                push_reply(
                    events,
                    &Response::OptNeg {
                        opts: OptNeg {
                            version: self.version,
                            actions: self.actions,
                            protocol: self.protocol,
                        },
                        macros,
                    },
                );
                self.phase = Phase::AwaitConnect;
            }
            Command::Macro { stage, pairs } => {
                if self.phase == Phase::Negotiate {
                    return Err(self.out_of_order(&Command::Macro { stage, pairs }));
                }
                let map = if matches!(stage, b'C' | b'H') {
                    &mut self.conn_macros
                } else {
                    &mut self.msg_macros
                };
                for (name, value) in pairs {
                    let name = lossy(&name);
                    map.insert(strip_braces(&name).to_string(), lossy(&value));
                }
            }
            Command::Connect {
                hostname,
                family,
                port,
                address,
            } => {
                if self.phase != Phase::AwaitConnect {
                    return Err(self.out_of_order(&Command::Connect {
                        hostname,
                        family,
                        port,
                        address,
                    }));
                }
                self.client = Some(ClientInfo {
                    hostname: lossy(&hostname),
                    family,
                    port,
                    address: lossy(&address),
                });
                self.phase = Phase::Connected;
                self.step_reply(ProtocolFlags::NR_CONNECT, events);
            }
            Command::Helo(name) => {
                if self.phase != Phase::Connected {
                    return Err(self.out_of_order(&Command::Helo(name)));
                }
                self.helo = Some(lossy(&name));
                self.step_reply(ProtocolFlags::NR_HELO, events);
            }
            Command::Mail(args) => {
                if self.phase != Phase::Connected {
                    return Err(self.out_of_order(&Command::Mail(args)));
                }
                self.msg = Message::default();
                let (addr, rest) = split_address(&args);
                self.msg.mail_from = addr;
                self.msg.mail_args = rest;
                self.phase = Phase::Mail;
                self.step_reply(ProtocolFlags::NR_MAIL, events);
            }
            Command::Rcpt(args) => {
                if !matches!(self.phase, Phase::Mail | Phase::Rcpt) {
                    return Err(self.out_of_order(&Command::Rcpt(args)));
                }
                let (address, args) = split_address(&args);
                self.msg.rcpts.push(Recipient { address, args });
                self.phase = Phase::Rcpt;
                self.step_reply(ProtocolFlags::NR_RCPT, events);
            }
            Command::Data => {
                if self.phase != Phase::Rcpt {
                    return Err(self.out_of_order(&Command::Data));
                }
                self.phase = Phase::Data;
                self.step_reply(ProtocolFlags::NR_DATA, events);
            }
            Command::Header { name, value } => {
                if !matches!(self.phase, Phase::Rcpt | Phase::Data | Phase::Headers) {
                    return Err(self.out_of_order(&Command::Header { name, value }));
                }
                self.phase = Phase::Headers;
                self.add_header(&name, &value);
                self.step_reply(ProtocolFlags::NR_HEADER, events);
            }
            Command::EndOfHeaders => {
                if !matches!(self.phase, Phase::Rcpt | Phase::Data | Phase::Headers) {
                    return Err(self.out_of_order(&Command::EndOfHeaders));
                }
                self.phase = Phase::Body;
                self.step_reply(ProtocolFlags::NR_EOH, events);
            }
            Command::Body(chunk) => {
                if !matches!(
                    self.phase,
                    Phase::Rcpt | Phase::Data | Phase::Headers | Phase::Body
                ) {
                    return Err(self.out_of_order(&Command::Body(chunk)));
                }
                self.phase = Phase::Body;
                self.add_body(&chunk);
                self.step_reply(ProtocolFlags::NR_BODY, events);
            }
            Command::EndOfBody(chunk) => {
                if !matches!(
                    self.phase,
                    Phase::Rcpt | Phase::Data | Phase::Headers | Phase::Body
                ) {
                    return Err(self.out_of_order(&Command::EndOfBody(chunk)));
                }
                self.add_body(&chunk);
                self.pending = Some(Pending::EndOfMessage);
                match (self.msg.limit, self.msg.limit_reported) {
                    (Some(limit), false) => events.push(Event::Limit(limit)),
                    _ => events.push(Event::Message(Box::new(self.take_envelope()))),
                }
            }
            Command::Abort => {
                if matches!(self.phase, Phase::Negotiate | Phase::AwaitConnect) {
                    return Err(self.out_of_order(&Command::Abort));
                }
                self.end_message();
            }
            Command::Quit => {
                self.phase = Phase::Closed;
                events.push(Event::Quit);
            }
            Command::QuitNewConnection => {
                self.end_message();
                self.client = None;
                self.helo = None;
                self.conn_macros.clear();
                self.phase = if self.phase == Phase::Negotiate {
                    Phase::Negotiate
                } else {
                    Phase::AwaitConnect
                };
            }
            Command::Unknown(_) => {
                if matches!(self.phase, Phase::Negotiate | Phase::AwaitConnect) {
                    return Err(self.out_of_order(&cmd));
                }
                if self.wants_reply(ProtocolFlags::NR_UNKNOWN) {
                    push_reply(events, &Response::Continue);
                }
            }
        }
        Ok(())
    }

    fn note_limit(&mut self, kind: LimitKind, limit: usize) {
        if self.msg.limit.is_none() {
            self.msg.limit = Some(LimitExceeded { kind, limit });
            // Data past a limit is not kept.
            self.msg.body = Vec::new();
        }
    }

    fn add_header(&mut self, name: &[u8], value: &[u8]) {
        let mut line = Vec::with_capacity(name.len() + value.len() + 4);
        line.extend_from_slice(name);
        line.push(b':');
        if !self.protocol.contains(ProtocolFlags::HEADER_LEADING_SPACE) {
            line.push(b' ');
        }
        push_crlf_normalized(&mut line, value);
        line.extend_from_slice(b"\r\n");
        self.msg.size = self.msg.size.saturating_add(line.len());
        if self.msg.headers.len() >= self.config.max_headers {
            self.note_limit(LimitKind::HeaderCount, self.config.max_headers);
        }
        if self.msg.size > self.config.max_message_size {
            self.note_limit(LimitKind::MessageSize, self.config.max_message_size);
        }
        if self.msg.limit.is_some() {
            return;
        }
        let name = lossy(name);
        let count = self
            .msg
            .name_counts
            .entry(name.to_ascii_lowercase())
            .or_insert(0);
        *count += 1;
        let index = *count;
        let value = lossy(value).trim_start().to_string();
        self.msg.headers.push(HeaderField { name, value, index });
        self.msg.header_block.extend_from_slice(&line);
    }

    fn add_body(&mut self, chunk: &[u8]) {
        self.msg.size = self.msg.size.saturating_add(chunk.len());
        if self.msg.size > self.config.max_message_size {
            self.note_limit(LimitKind::MessageSize, self.config.max_message_size);
        }
        if self.msg.limit.is_none() {
            self.msg.body.extend_from_slice(chunk);
        }
    }

    fn take_envelope(&mut self) -> MessageEnvelope {
        let msg = std::mem::take(&mut self.msg);
        let mut raw = msg.header_block;
        raw.extend_from_slice(b"\r\n");
        let body_offset = raw.len();
        raw.extend_from_slice(&msg.body);
        let mut macros = self.conn_macros.clone();
        macros.extend(self.msg_macros.iter().map(|(k, v)| (k.clone(), v.clone())));
        MessageEnvelope {
            client: self.client.clone(),
            helo: self.helo.clone(),
            macros,
            mail_from: msg.mail_from,
            mail_args: msg.mail_args,
            rcpts: msg.rcpts,
            headers: msg.headers,
            raw,
            body_offset,
            truncated: msg.limit,
        }
    }
}

fn push_reply(events: &mut Vec<Event>, resp: &Response) {
    if let Some(Event::Reply(buf)) = events.last_mut() {
        resp.write_to(buf);
    } else {
        events.push(Event::Reply(resp.to_bytes()));
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn strip_braces(name: &str) -> &str {
    name.strip_prefix('{')
        .and_then(|n| n.strip_suffix('}'))
        .unwrap_or(name)
}

fn split_address(args: &[Vec<u8>]) -> (String, Vec<String>) {
    let first = args.first().map(|a| lossy(a)).unwrap_or_default();
    let trimmed = first.trim();
    let addr = trimmed
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(trimmed)
        .to_string();
    (addr, args.iter().skip(1).map(|a| lossy(a)).collect())
}

fn angle(addr: &str) -> Vec<u8> {
    let clean: String = addr.chars().filter(|c| !c.is_control()).collect();
    if clean.starts_with('<') {
        clean.into_bytes()
    } else {
        format!("<{clean}>").into_bytes()
    }
}

fn push_crlf_normalized(out: &mut Vec<u8>, value: &[u8]) {
    let mut prev = 0u8;
    for &b in value {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
}

/// Makes text safe for one SMTP reply line or a quarantine reason: no
/// control characters (CR, LF, tabs become spaces), `%` doubled when
/// `percent` is set, at most [`MAX_REPLY_TEXT`] bytes, cut on a character
/// boundary.
fn escape_text(text: &str, percent: bool) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_REPLY_TEXT));
    for c in text.chars() {
        let piece: &str = match c {
            '%' if percent => "%%",
            c if c.is_control() => " ",
            _ => {
                if out.len() + c.len_utf8() > MAX_REPLY_TEXT {
                    break;
                }
                out.push(c);
                continue;
            }
        };
        if out.len() + piece.len() > MAX_REPLY_TEXT {
            break;
        }
        out.push_str(piece);
    }
    out.trim_end().to_string()
}

fn reply_text(code: u16, enhanced: &str, text: &str) -> Result<Vec<u8>, AnswerError> {
    if !(400..600).contains(&code) {
        return Err(AnswerError::InvalidReply("the code must be 4xx or 5xx"));
    }
    let mut out = code.to_string();
    if !enhanced.is_empty() {
        let parts: Vec<&str> = enhanced.split('.').collect();
        let digits_ok = parts.len() == 3
            && parts.iter().zip([1usize, 3, 3]).all(|(p, max)| {
                !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit())
            });
        if !digits_ok {
            return Err(AnswerError::InvalidReply(
                "the enhanced code must look like 5.7.1",
            ));
        }
        if parts[0].as_bytes()[0] != out.as_bytes()[0] {
            return Err(AnswerError::InvalidReply(
                "the enhanced code's class must match the reply code",
            ));
        }
        out.push(' ');
        out.push_str(enhanced);
    }
    let text = escape_text(text, true);
    if !text.is_empty() {
        out.push(' ');
        out.push_str(&text);
    }
    Ok(out.into_bytes())
}

fn check_header_name(name: &str) -> Result<(), AnswerError> {
    if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
        return Err(AnswerError::InvalidHeader(
            "a header name must be printable ASCII without ':' or spaces",
        ));
    }
    Ok(())
}

/// Header values may be folded (a line break followed by white space);
/// any other line break becomes a space, CR is dropped.
fn clean_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' | '\0' => {}
            '\n' => {
                if matches!(chars.peek(), Some(' ' | '\t')) {
                    out.push('\n');
                } else {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_text_is_escaped_and_bounded() {
        assert_eq!(
            reply_text(550, "5.7.1", "100% sure\r\nnext").unwrap(),
            b"550 5.7.1 100%% sure  next".to_vec()
        );
        let long = "é".repeat(1000);
        let t = reply_text(550, "", &long).unwrap();
        assert!(t.len() <= 4 + MAX_REPLY_TEXT);
        assert!(std::str::from_utf8(&t).is_ok());
        assert!(reply_text(250, "", "x").is_err());
        assert!(reply_text(550, "4.7.1", "x").is_err());
        assert!(reply_text(550, "5.7", "x").is_err());
        assert!(reply_text(550, "5.x.1", "x").is_err());
        assert_eq!(reply_text(452, "", "").unwrap(), b"452".to_vec());
    }

    #[test]
    fn header_values_are_cleaned() {
        assert_eq!(clean_header_value("a\r\n b"), "a\n b");
        assert_eq!(clean_header_value("a\nb"), "a b");
        assert!(check_header_name("X-Doublecheck-Action").is_ok());
        assert!(check_header_name("Bad Name").is_err());
        assert!(check_header_name("Bad:").is_err());
        assert!(check_header_name("").is_err());
    }

    #[test]
    fn addresses_are_split() {
        let (a, rest) = split_address(&[b"<a@b.example>".to_vec(), b"SIZE=10".to_vec()]);
        assert_eq!(a, "a@b.example");
        assert_eq!(rest, vec!["SIZE=10".to_string()]);
        assert_eq!(split_address(&[b"<>".to_vec()]).0, "");
        assert_eq!(angle("x@y"), b"<x@y>".to_vec());
        assert_eq!(angle("<x@y>"), b"<x@y>".to_vec());
    }
}
