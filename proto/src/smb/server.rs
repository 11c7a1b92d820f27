//! One SMB2 connection as a Windows server keeps it, sans-IO: the
//! dialect, the sessions (NTLM inside SPNEGO, their signing keys and the
//! 3.1.1 pre-authentication hash), tree connects to `IPC$` and opens of
//! named pipes. [`Connection::receive`] takes one message (or compound)
//! and answers what it can itself; reads and writes on a pipe come back
//! as [`PipeCall`]s for the caller, which answers them with
//! [`PipeCall::answer`] before [`Connection::reply`] signs and frames the
//! response.

use super::message::{self, fsctl, FileId};
use super::{command, dialect, flags, signing, status, Header, SmbError, HEADER_LEN, MAX_IO};
use crate::gss::spnego;
use crate::ntlm::ChallengeState;
use crate::rpc::assoc::Acceptor;

mod setup;

/// Capabilities this side grants: none of leasing, multi-channel or
/// encryption (a pipe needs none of them).
const CAPABILITIES: u32 = 0;
/// SIGNING_ENABLED | SIGNING_REQUIRED.
const SIGNING_REQUIRED: u16 = 0x3;
/// The open file ID a related compound command names.
const RELATED_FILE: FileId = [0xff; 16];

/// What signs SMB clients in: NTLM as an RPC association takes it, and
/// Kerberos inside SPNEGO where the site has a realm.
pub trait Authenticator {
    /// The NTLM acceptor.
    fn ntlm(&mut self) -> &mut dyn Acceptor;

    /// One Kerberos (SPNEGO) token of session `session`'s sign-in; `None`
    /// when this server takes no Kerberos.
    fn kerberos(&mut self, session: u64, token: &[u8]) -> Option<Result<KerberosStep, String>> {
        let _ = (session, token);
        None
    }
}

/// Where a Kerberos sign-in stands after one token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KerberosStep {
    /// Send this token back and wait for the next.
    Continue(Vec<u8>),
    /// Signed in as `account`; `reply` goes back (the AP-REP, mutual
    /// authentication), `session_key` is the context's key.
    Done {
        account: String,
        session_key: Vec<u8>,
        reply: Vec<u8>,
    },
}

/// What the server is.
#[derive(Clone, Debug)]
pub struct Config {
    pub server_guid: [u8; 16],
    /// The pipes served on `IPC$`, lower case (`cert`, `winreg`).
    pub pipes: Vec<String>,
    /// The server's clock as a FILETIME, for the NEGOTIATE response.
    pub now_filetime: u64,
}

/// A read, write or transceive on an open pipe, for the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipeCall {
    pub file: FileId,
    /// The pipe's name (`cert`).
    pub pipe: String,
    /// The SMB session's account.
    pub account: String,
    pub op: PipeOp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PipeOp {
    Write(Vec<u8>),
    /// Read up to this many bytes.
    Read(u32),
    /// FSCTL_PIPE_TRANSCEIVE: write, then read up to this many bytes.
    Transceive(Vec<u8>, u32),
}

/// What the caller's pipe did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PipeResult {
    Written(u32),
    /// Data read; `more` when the message did not fit (BUFFER_OVERFLOW).
    Data {
        data: Vec<u8>,
        more: bool,
    },
    Failed(u32),
}

impl PipeCall {
    /// The command's outcome once the pipe has answered.
    pub fn answer(&self, result: PipeResult) -> Outcome {
        match (result, &self.op) {
            (PipeResult::Failed(st), _) => Outcome::error(st),
            (PipeResult::Written(n), _) => Outcome::ok(message::write_response(n)),
            (PipeResult::Data { data, more }, PipeOp::Transceive(..)) => Outcome {
                status: if more {
                    status::BUFFER_OVERFLOW
                } else {
                    status::SUCCESS
                },
                body: message::ioctl_response(fsctl::PIPE_TRANSCEIVE, &self.file, &data),
            },
            (PipeResult::Data { data, more }, _) => Outcome {
                status: if more {
                    status::BUFFER_OVERFLOW
                } else {
                    status::SUCCESS
                },
                body: message::read_response(&data),
            },
        }
    }
}

/// One command's answer: its status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: u32,
    pub body: Vec<u8>,
}

impl Outcome {
    pub fn ok(body: Vec<u8>) -> Outcome {
        Outcome {
            status: status::SUCCESS,
            body,
        }
    }

    pub fn error(status: u32) -> Outcome {
        Outcome {
            status,
            body: message::error_response(),
        }
    }
}

/// One command of a received message and where its answer stands.
#[derive(Debug)]
pub struct Command {
    pub header: Header,
    pub answer: Answer,
    /// Why it failed, in words, for the journal.
    pub why: Option<String>,
}

#[derive(Debug)]
pub enum Answer {
    Done(Outcome),
    /// For the caller's pipe.
    Pipe(PipeCall),
    /// No response at all (CANCEL).
    Silent,
}

/// What a received message asks.
#[derive(Debug, Default)]
pub struct Received {
    pub commands: Vec<Command>,
    /// Pipes closed by this message (CLOSE, a tree disconnect, a logoff).
    pub closed: Vec<FileId>,
    /// Accounts signed in by this message.
    pub signed_in: Vec<String>,
}

enum Auth {
    Challenged {
        state: Box<ChallengeState>,
        types: Option<Vec<u8>>,
    },
    Done {
        account: String,
        key: Vec<u8>,
    },
    /// A Kerberos sign-in in progress (its context is the authenticator's).
    Kerberos,
}

struct Session {
    id: u64,
    auth: Auth,
    /// 3.1.1's pre-authentication hash over this session's setup.
    preauth: [u8; 64],
    trees: Vec<u32>,
}

struct Open {
    file: FileId,
    session: u64,
    tree: u32,
    pipe: String,
}

/// One connection's state.
pub struct Connection {
    config: Config,
    dialect: Option<u16>,
    client_guid: [u8; 16],
    client_security_mode: u16,
    client_capabilities: u32,
    preauth: [u8; 64],
    sessions: Vec<Session>,
    opens: Vec<Open>,
    next_id: u64,
}

/// The `IPC$` share, whatever server name precedes it.
fn is_ipc(path: &str) -> bool {
    path.rsplit('\\')
        .next()
        .is_some_and(|s| s.eq_ignore_ascii_case("IPC$"))
}

/// A pipe's name as a CREATE gives it: `cert`, `\cert`, `pipe\cert`.
fn pipe_name(name: &str) -> String {
    let n = name.trim_start_matches('\\').to_ascii_lowercase();
    n.strip_prefix("pipe\\").map(str::to_string).unwrap_or(n)
}

impl Connection {
    pub fn new(config: Config) -> Connection {
        Connection {
            config,
            dialect: None,
            client_guid: [0; 16],
            client_security_mode: 0,
            client_capabilities: 0,
            preauth: [0; 64],
            sessions: Vec::new(),
            opens: Vec::new(),
            next_id: 0,
        }
    }

    /// The dialect in use, once negotiated.
    pub fn dialect(&self) -> Option<u16> {
        self.dialect
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Takes one message. An SMB1 NEGOTIATE is answered only as the
    /// first message; anything else that is not SMB2 closes the connection.
    pub fn receive(
        &mut self,
        msg: &[u8],
        acceptor: &mut dyn Authenticator,
    ) -> Result<Received, SmbError> {
        if msg.starts_with(b"\xffSMB") {
            return self.smb1_negotiate(msg);
        }
        let mut out = Received::default();
        let mut at = 0;
        let mut last_file = None;
        let mut last_ids = (0u64, 0u32);
        loop {
            let rest = &msg[at..];
            let mut header = Header::parse(rest)?;
            let end = match header.next_command as usize {
                0 => rest.len(),
                n if n >= HEADER_LEN && n <= rest.len() && n % 8 == 0 => n,
                _ => return Err(SmbError::Malformed("a compound's next command offset")),
            };
            if header.flags & flags::RELATED_OPERATIONS != 0 {
                (header.session_id, header.tree_id) = last_ids;
            }
            let raw = &rest[..end];
            let cmd = self.command(header, raw, acceptor, &mut last_file, &mut out);
            last_ids = (cmd.header.session_id, cmd.header.tree_id);
            out.commands.push(cmd);
            if end == rest.len() {
                break;
            }
            at += end;
        }
        Ok(out)
    }

    /// The answer to an SMB1 NEGOTIATE naming SMB2's dialects: SMB2's
    /// NEGOTIATE response with the wildcard (or 2.0.2 when that is all).
    fn smb1_negotiate(&mut self, msg: &[u8]) -> Result<Received, SmbError> {
        if self.dialect.is_some() || msg.get(4) != Some(&0x72) {
            return Err(SmbError::Protocol("SMB1 is not served".into()));
        }
        let data = msg.get(35..).unwrap_or_default();
        let names: Vec<&[u8]> = data
            .split(|b| *b == 0)
            .map(|d| d.strip_prefix(&[2]).unwrap_or(d))
            .collect();
        let chosen = if names.contains(&&b"SMB 2.???"[..]) {
            dialect::WILDCARD
        } else if names.contains(&&b"SMB 2.002"[..]) {
            dialect::SMB_2_0_2
        } else {
            return Err(SmbError::Protocol(
                "an SMB1 NEGOTIATE without SMB2 dialects".into(),
            ));
        };
        if chosen != dialect::WILDCARD {
            self.dialect = Some(chosen);
        }
        let header = Header {
            command: command::NEGOTIATE,
            ..Header::default()
        };
        Ok(Received {
            commands: vec![Command {
                header,
                answer: Answer::Done(Outcome::ok(self.negotiate_response(chosen, false))),
                why: None,
            }],
            ..Received::default()
        })
    }

    fn session(&mut self, id: u64) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|s| s.id == id)
    }

    /// One command: checked against its session's signing, then done.
    fn command(
        &mut self,
        mut header: Header,
        raw: &[u8],
        acceptor: &mut dyn Authenticator,
        last_file: &mut Option<FileId>,
        out: &mut Received,
    ) -> Command {
        let body = &raw[HEADER_LEN..];
        let result = match header.command {
            command::NEGOTIATE => self.negotiate(body, raw),
            command::SESSION_SETUP => self.session_setup(&mut header, body, raw, acceptor, out),
            command::ECHO => Ok(Answer::Done(Outcome::ok(message::empty()))),
            command::CANCEL => Ok(Answer::Silent),
            _ => match self.signed_in(&header, raw) {
                Err(e) => Err(e),
                Ok(account) => self.in_session(&mut header, body, account, last_file, out),
            },
        };
        let (answer, why) = match result {
            Ok(a) => (a, None),
            Err((st, why)) => (Answer::Done(Outcome::error(st)), Some(why)),
        };
        Command {
            header,
            answer,
            why,
        }
    }

    /// The account of a request's session, its signature checked: every
    /// request after sign-in is signed, as this server requires.
    fn signed_in(&mut self, header: &Header, raw: &[u8]) -> Result<String, (u32, String)> {
        let dialect = self.dialect.unwrap_or(dialect::SMB_2_0_2);
        let Some(s) = self.session(header.session_id) else {
            return Err((status::USER_SESSION_DELETED, "no such session".into()));
        };
        let Auth::Done { account, key } = &s.auth else {
            return Err((
                status::USER_SESSION_DELETED,
                "the session is not signed in".into(),
            ));
        };
        if header.flags & flags::SIGNED == 0 {
            return Err((
                status::ACCESS_DENIED,
                "an unsigned request; signing is required".into(),
            ));
        }
        if !signing::verifies(dialect, key, raw) {
            return Err((
                status::ACCESS_DENIED,
                "the request's signature does not verify".into(),
            ));
        }
        Ok(account.clone())
    }

    fn negotiate(&mut self, body: &[u8], raw: &[u8]) -> Result<Answer, (u32, String)> {
        if self.dialect.is_some() {
            return Err((status::INVALID_PARAMETER, "a second NEGOTIATE".into()));
        }
        let n = message::Negotiate::parse(body)
            .map_err(|e| (status::INVALID_PARAMETER, e.to_string()))?;
        let Some(chosen) = dialect::SERVED.into_iter().find(|d| n.dialects.contains(d)) else {
            return Err((status::NOT_SUPPORTED, "no dialect in common".into()));
        };
        self.dialect = Some(chosen);
        self.client_guid = n.client_guid;
        self.client_security_mode = n.security_mode;
        self.client_capabilities = n.capabilities;
        if chosen == dialect::SMB_3_1_1 {
            let sha512 = n.contexts.iter().any(|(kind, data)| {
                *kind == message::context::PREAUTH_INTEGRITY
                    && data.get(4..).is_some_and(|algs| {
                        algs.chunks_exact(2)
                            .take(usize::from(data[0]))
                            .any(|a| u16::from_le_bytes([a[0], a[1]]) == message::context::SHA512)
                    })
            });
            if !sha512 {
                return Err((
                    status::INVALID_PARAMETER,
                    "3.1.1 without SHA-512 pre-authentication integrity".into(),
                ));
            }
            self.preauth = signing::preauth(&[0; 64], raw);
        }
        Ok(Answer::Done(Outcome::ok(
            self.negotiate_response(chosen, chosen == dialect::SMB_3_1_1),
        )))
    }

    fn negotiate_response(&self, chosen: u16, contexts: bool) -> Vec<u8> {
        let contexts = if contexts {
            let mut salt = Vec::from(1u16.to_le_bytes());
            salt.extend(32u16.to_le_bytes());
            salt.extend(message::context::SHA512.to_le_bytes());
            salt.extend(self.config.server_guid.repeat(2));
            // No cipher in common: this server does not encrypt.
            let ciphers = vec![1, 0, 0, 0];
            vec![
                (message::context::PREAUTH_INTEGRITY, salt),
                (message::context::ENCRYPTION, ciphers),
            ]
        } else {
            Vec::new()
        };
        message::NegotiateResponse {
            security_mode: SIGNING_REQUIRED,
            dialect: chosen,
            server_guid: self.config.server_guid,
            capabilities: CAPABILITIES,
            max_io: MAX_IO,
            system_time: self.config.now_filetime,
            security_buffer: spnego::server_hint(),
            contexts,
        }
        .encode()
    }

    /// The commands of a signed-in session.
    fn in_session(
        &mut self,
        header: &mut Header,
        body: &[u8],
        account: String,
        last_file: &mut Option<FileId>,
        out: &mut Received,
    ) -> Result<Answer, (u32, String)> {
        let bad = |e: SmbError| (status::INVALID_PARAMETER, e.to_string());
        let sid = header.session_id;
        match header.command {
            command::LOGOFF => {
                self.sessions.retain(|s| s.id != sid);
                self.close_where(out, |o| o.session == sid);
                return Ok(Answer::Done(Outcome::ok(message::empty())));
            }
            command::TREE_CONNECT => {
                let path = message::tree_connect_path(body).map_err(bad)?;
                if !is_ipc(&path) {
                    return Err((status::BAD_NETWORK_NAME, format!("no share {path}")));
                }
                let tree = self.fresh_id() as u32;
                if let Some(s) = self.session(sid) {
                    s.trees.push(tree);
                }
                header.tree_id = tree;
                return Ok(Answer::Done(Outcome::ok(message::tree_connect_response(
                    message::SHARE_TYPE_PIPE,
                    0x001f_01ff,
                ))));
            }
            _ => {}
        }
        let tree = header.tree_id;
        let in_tree = self.session(sid).is_some_and(|s| s.trees.contains(&tree));
        if !in_tree && header.command != command::IOCTL {
            return Err((status::NETWORK_NAME_DELETED, format!("no tree {tree}")));
        }
        match header.command {
            command::TREE_DISCONNECT => {
                if let Some(s) = self.session(sid) {
                    s.trees.retain(|t| *t != tree);
                }
                self.close_where(out, |o| o.session == sid && o.tree == tree);
                Ok(Answer::Done(Outcome::ok(message::empty())))
            }
            command::CREATE => self.create(sid, tree, body, last_file),
            command::CLOSE => {
                let file = self.file(message::close_file(body).map_err(bad)?, *last_file, sid)?;
                self.close_where(out, |o| o.file == file);
                Ok(Answer::Done(Outcome::ok(message::close_response())))
            }
            command::READ => {
                let r = message::Read::parse(body).map_err(bad)?;
                let file = self.file(r.file, *last_file, sid)?;
                self.pipe_call(file, account, PipeOp::Read(r.length.min(MAX_IO)))
            }
            command::WRITE => {
                let w = message::Write::parse(body).map_err(bad)?;
                let file = self.file(w.file, *last_file, sid)?;
                self.pipe_call(file, account, PipeOp::Write(w.data))
            }
            command::IOCTL => self.ioctl(body, account, *last_file, sid, in_tree),
            other => Err((
                status::NOT_SUPPORTED,
                format!("{} on a pipe", command::name(other)),
            )),
        }
    }

    fn create(
        &mut self,
        session: u64,
        tree: u32,
        body: &[u8],
        last_file: &mut Option<FileId>,
    ) -> Result<Answer, (u32, String)> {
        let c =
            message::Create::parse(body).map_err(|e| (status::INVALID_PARAMETER, e.to_string()))?;
        let pipe = pipe_name(&c.name);
        if !self.config.pipes.contains(&pipe) {
            return Err((status::OBJECT_NAME_NOT_FOUND, format!("no pipe {}", c.name)));
        }
        let n = self.fresh_id();
        let mut file = [0u8; 16];
        file[..8].copy_from_slice(&n.to_le_bytes());
        file[8..].copy_from_slice(&n.to_le_bytes());
        self.opens.push(Open {
            file,
            session,
            tree,
            pipe,
        });
        *last_file = Some(file);
        Ok(Answer::Done(Outcome::ok(message::create_response(&file))))
    }

    /// An open of this session, or the compound's last one.
    fn file(
        &self,
        named: FileId,
        last: Option<FileId>,
        session: u64,
    ) -> Result<FileId, (u32, String)> {
        let file = if named == RELATED_FILE {
            last.unwrap_or(named)
        } else {
            named
        };
        if self
            .opens
            .iter()
            .any(|o| o.file == file && o.session == session)
        {
            Ok(file)
        } else {
            Err((status::FILE_CLOSED, "no such open".into()))
        }
    }

    fn pipe_call(
        &self,
        file: FileId,
        account: String,
        op: PipeOp,
    ) -> Result<Answer, (u32, String)> {
        let pipe = self
            .opens
            .iter()
            .find(|o| o.file == file)
            .map(|o| o.pipe.clone())
            .unwrap_or_default();
        Ok(Answer::Pipe(PipeCall {
            file,
            pipe,
            account,
            op,
        }))
    }

    fn ioctl(
        &mut self,
        body: &[u8],
        account: String,
        last_file: Option<FileId>,
        session: u64,
        in_tree: bool,
    ) -> Result<Answer, (u32, String)> {
        let io =
            message::Ioctl::parse(body).map_err(|e| (status::INVALID_PARAMETER, e.to_string()))?;
        match io.ctl_code {
            fsctl::VALIDATE_NEGOTIATE_INFO => {
                let mut info = Vec::from(CAPABILITIES.to_le_bytes());
                info.extend(self.config.server_guid);
                info.extend(SIGNING_REQUIRED.to_le_bytes());
                info.extend(self.dialect.unwrap_or_default().to_le_bytes());
                Ok(Answer::Done(Outcome::ok(message::ioctl_response(
                    io.ctl_code,
                    &io.file,
                    &info,
                ))))
            }
            _ if !in_tree => Err((status::NETWORK_NAME_DELETED, "no such tree".into())),
            fsctl::PIPE_TRANSCEIVE => {
                let file = self.file(io.file, last_file, session)?;
                let max = io.max_output.min(MAX_IO);
                self.pipe_call(file, account, PipeOp::Transceive(io.input, max))
            }
            fsctl::DFS_GET_REFERRALS => Err((status::FS_DRIVER_REQUIRED, "no DFS here".into())),
            other => Err((status::NOT_SUPPORTED, format!("FSCTL 0x{other:08x}"))),
        }
    }

    fn close_where(&mut self, out: &mut Received, gone: impl Fn(&Open) -> bool) {
        for o in self.opens.iter().filter(|o| gone(o)) {
            out.closed.push(o.file);
        }
        self.opens.retain(|o| !gone(o));
    }

    /// The response to a received message: each command's answer (pipe
    /// calls answered by now, see [`PipeCall::answer`]), compounded as
    /// received, each signed under its session.
    pub fn reply(&mut self, received: Received) -> Vec<u8> {
        let dialect = self.dialect.unwrap_or(dialect::SMB_2_0_2);
        let mut parts: Vec<Vec<u8>> = Vec::new();
        for c in received.commands {
            let outcome = match c.answer {
                Answer::Done(o) => o,
                Answer::Pipe(_) => Outcome::error(status::PIPE_DISCONNECTED),
                Answer::Silent => continue,
            };
            let mut h = c.header.response(outcome.status);
            if c.header.command == command::NEGOTIATE {
                h.credits = 1;
            }
            let mut m = h.encode().to_vec();
            m.extend(&outcome.body);
            self.after(&c.header, outcome.status, &m);
            parts.push(m);
        }
        let n = parts.len();
        let mut out = Vec::new();
        for (i, mut m) in parts.into_iter().enumerate() {
            if i + 1 < n {
                m.resize(m.len().next_multiple_of(8), 0);
                let next = m.len() as u32;
                m[20..24].copy_from_slice(&next.to_le_bytes());
            }
            let session = u64::from_le_bytes(m[40..48].try_into().expect("8 bytes"));
            let command = u16::from_le_bytes([m[12], m[13]]);
            if command != command::NEGOTIATE {
                if let Some(Session {
                    auth: Auth::Done { key, .. },
                    ..
                }) = self.sessions.iter().find(|s| s.id == session)
                {
                    signing::sign(dialect, key, &mut m);
                }
            }
            out.extend(m);
        }
        out
    }

    /// Folds a sent response into 3.1.1's pre-authentication hashes.
    fn after(&mut self, request: &Header, st: u32, response: &[u8]) {
        if self.dialect != Some(dialect::SMB_3_1_1) {
            return;
        }
        match (request.command, st) {
            (command::NEGOTIATE, status::SUCCESS) => {
                self.preauth = signing::preauth(&self.preauth, response);
            }
            (command::SESSION_SETUP, status::MORE_PROCESSING_REQUIRED) => {
                let id = u64::from_le_bytes(response[40..48].try_into().expect("8 bytes"));
                if let Some(s) = self.session(id) {
                    s.preauth = signing::preauth(&s.preauth, response);
                }
            }
            _ => {}
        }
    }
}
