//! The server side of one connection-oriented association, sans-IO: binds
//! and alter_contexts (which interfaces, which transfer syntax), NTLM
//! across bind/bind_ack/auth3, request reassembly and unprotection, and
//! the response fragments (protected, cut to the client's size). The
//! caller reads fragments off the socket, feeds them here, answers the
//! calls this hands out, and writes what comes back.

use super::pdu::{self, pfc, ptype, Bind, BindAck, Body, ContextResult, Pdu, Response};
use super::secure::{self, level, AUTHN_WINNT};
use super::{status, RpcError, SyntaxId, NDR};
use crate::ntlm::session::{Role, Session};
use crate::ntlm::{ChallengeState, Verified};

/// The largest fragment either side sends (Windows' default).
pub const MAX_FRAG: u16 = 5840;
/// The largest call stub reassembled from fragments.
pub const MAX_STUB: usize = 4 * 1024 * 1024;

/// What authenticates the association's NTLM: the caller's directory.
/// Errors are the reason, in words, kept for the caller's journal.
pub trait Acceptor {
    /// A CHALLENGE for this NEGOTIATE.
    fn challenge(&mut self, negotiate: &[u8]) -> Result<ChallengeState, String>;
    /// Proves an AUTHENTICATE: the account's name, the session key and
    /// the negotiated flags.
    fn authenticate(
        &mut self,
        state: &ChallengeState,
        authenticate: &[u8],
    ) -> Result<(String, Verified, u32), String>;
}

/// A whole call, ready to be answered.
#[derive(Debug, PartialEq, Eq)]
pub struct Call {
    pub call_id: u32,
    pub context_id: u16,
    pub interface: SyntaxId,
    pub opnum: u16,
    pub stub: Vec<u8>,
    /// The protection the request arrived under (`level::*`): packet
    /// integrity or privacy as checked, connect on an NTLM-bound
    /// association, none otherwise.
    pub auth_level: u8,
}

/// What feeding one fragment gives.
#[derive(Debug)]
pub enum Step {
    /// Nothing to send yet (an auth3, a first fragment).
    Nothing,
    /// Bytes to send back.
    Send(Vec<u8>),
    /// A call to answer with [`Association::respond`] or
    /// [`Association::fault`].
    Call(Call),
    /// Close the connection (after sending these bytes, if any).
    Close(Vec<u8>, RpcError),
}

enum Auth {
    None,
    Challenged {
        state: ChallengeState,
        level: u8,
        context_id: u32,
    },
    Failed(String),
    Done {
        session: Box<Session>,
        level: u8,
        context_id: u32,
        account: String,
    },
}

/// One association's state.
pub struct Association {
    interfaces: Vec<SyntaxId>,
    port: String,
    assoc_group: u32,
    contexts: Vec<(u16, SyntaxId)>,
    max_xmit: u16,
    auth: Auth,
    partial: Option<(u32, u16, u16, Vec<u8>)>,
}

impl Association {
    /// An association serving `interfaces`, reached on `port` (the bind_ack
    /// names it); `assoc_group` is the group a fresh bind joins.
    pub fn new(interfaces: Vec<SyntaxId>, port: u16, assoc_group: u32) -> Association {
        Association {
            interfaces,
            port: port.to_string(),
            assoc_group,
            contexts: Vec::new(),
            max_xmit: MAX_FRAG,
            auth: Auth::None,
            partial: None,
        }
    }

    /// An association on a named pipe: the bind_ack names the pipe
    /// (`\PIPE\winreg`), as Windows does for `ncacn_np`.
    pub fn on_pipe(interfaces: Vec<SyntaxId>, pipe: &str, assoc_group: u32) -> Association {
        Association {
            port: format!("\\PIPE\\{pipe}"),
            ..Association::new(interfaces, 0, assoc_group)
        }
    }

    /// The authenticated account and level, if NTLM succeeded.
    pub fn authenticated(&self) -> Option<(&str, u8)> {
        match &self.auth {
            Auth::Done { account, level, .. } => Some((account, *level)),
            _ => None,
        }
    }

    /// Why authentication failed, if it did.
    pub fn auth_failure(&self) -> Option<&str> {
        match &self.auth {
            Auth::Failed(why) => Some(why),
            _ => None,
        }
    }

    /// Feeds one whole fragment.
    pub fn feed(&mut self, frag: &[u8], acceptor: &mut dyn Acceptor) -> Step {
        let mut frag = frag.to_vec();
        let header = match pdu::Header::parse(&frag) {
            Ok(h) => h,
            Err(e) => return Step::Close(Vec::new(), e),
        };
        let mut auth_level = level::NONE;
        if let (ptype::REQUEST, Auth::Done { session, level, .. }) = (header.ptype, &mut self.auth)
        {
            // A request carries a verifier exactly when the association
            // was bound above connect level, at that level.
            let bound = *level;
            let arrived = if header.auth_length > 0 {
                secure::unprotect(&mut frag, session)
            } else {
                Ok(level::CONNECT)
            };
            match arrived {
                Ok(l) if l == bound => auth_level = l,
                other => {
                    let why = other.err().unwrap_or(RpcError::Malformed(
                        "a request at another level than its association's",
                    ));
                    let fault = self.fault(header.call_id, 0, status::ACCESS_DENIED);
                    return Step::Close(fault, why);
                }
            }
        }
        let p = match pdu::parse(&frag) {
            Ok(p) => p,
            Err(e) => {
                let fault = self.fault(header.call_id, 0, status::NCA_S_PROTO_ERROR);
                return Step::Close(fault, e);
            }
        };
        match p.body {
            Body::Bind(ref b) => self.bind(&p, b, false, acceptor),
            Body::AlterContext(ref b) => self.bind(&p, b, true, acceptor),
            Body::Auth3 => {
                self.auth3(&p, acceptor);
                Step::Nothing
            }
            Body::Request(_) => self.request(p, auth_level),
            _ => Step::Close(Vec::new(), RpcError::PduType(header.ptype)),
        }
    }

    fn bind(&mut self, p: &Pdu, b: &Bind, alter: bool, acceptor: &mut dyn Acceptor) -> Step {
        self.max_xmit = b.max_recv_frag.clamp(1024, MAX_FRAG);
        let results = b.contexts.iter().map(|c| self.accept_context(c)).collect();
        if !alter && b.assoc_group != 0 {
            self.assoc_group = b.assoc_group;
        }
        let ack = BindAck {
            max_xmit_frag: self.max_xmit,
            max_recv_frag: MAX_FRAG,
            assoc_group: self.assoc_group,
            sec_addr: if alter {
                String::new()
            } else {
                self.port.clone()
            },
            results,
        };
        let mut auth = None;
        if let Some(a) = &p.auth {
            if a.auth_type != AUTHN_WINNT {
                return Step::Send(self.nak(p.header.call_id, 8));
            }
            match acceptor.challenge(&a.value) {
                Ok(state) => {
                    auth = Some(pdu::Auth {
                        value: state.challenge.clone(),
                        ..a.clone()
                    });
                    self.auth = Auth::Challenged {
                        state,
                        level: a.auth_level,
                        context_id: a.context_id,
                    };
                }
                Err(e) => return Step::Close(self.nak(p.header.call_id, 9), RpcError::Auth(e)),
            }
        }
        let body = if alter {
            Body::AlterContextResp(ack)
        } else {
            Body::BindAck(ack)
        };
        let t = if alter {
            ptype::ALTER_CONTEXT_RESP
        } else {
            ptype::BIND_ACK
        };
        let flags = pfc::FIRST_FRAG | pfc::LAST_FRAG;
        Step::Send(pdu::encode(
            t,
            flags,
            p.header.call_id,
            &body,
            auth.as_ref(),
        ))
    }

    fn accept_context(&mut self, c: &pdu::ContextElem) -> ContextResult {
        let reject = |reason| ContextResult {
            result: 2,
            reason,
            transfer_syntax: SyntaxId {
                uuid: [0; 16],
                version: 0,
            },
        };
        if !self.interfaces.contains(&c.abstract_syntax) {
            return reject(1);
        }
        if !c.transfer_syntaxes.contains(&NDR) {
            return reject(2);
        }
        self.contexts.retain(|(id, _)| *id != c.id);
        self.contexts.push((c.id, c.abstract_syntax));
        ContextResult {
            result: 0,
            reason: 0,
            transfer_syntax: NDR,
        }
    }

    fn nak(&self, call_id: u32, reason: u16) -> Vec<u8> {
        let flags = pfc::FIRST_FRAG | pfc::LAST_FRAG;
        pdu::encode(
            ptype::BIND_NAK,
            flags,
            call_id,
            &Body::BindNak(reason),
            None,
        )
    }

    fn auth3(&mut self, p: &Pdu, acceptor: &mut dyn Acceptor) {
        let Auth::Challenged {
            state,
            level,
            context_id,
        } = std::mem::replace(&mut self.auth, Auth::None)
        else {
            self.auth = Auth::Failed("an auth3 without a bind that asked for NTLM".into());
            return;
        };
        let Some(a) = &p.auth else {
            self.auth = Auth::Failed("an auth3 without an AUTHENTICATE".into());
            return;
        };
        self.auth = match acceptor.authenticate(&state, &a.value) {
            Ok((account, verified, flags)) => {
                match Session::new(&verified.exported_session_key, flags, Role::Server) {
                    Ok(session) => Auth::Done {
                        session: Box::new(session),
                        level,
                        context_id,
                        account,
                    },
                    Err(e) => Auth::Failed(e.to_string()),
                }
            }
            Err(e) => Auth::Failed(e),
        };
    }

    fn request(&mut self, p: Pdu, auth_level: u8) -> Step {
        let Body::Request(r) = p.body else {
            unreachable!("matched as a request")
        };
        let call_id = p.header.call_id;
        let first = p.header.flags & pfc::FIRST_FRAG != 0;
        let last = p.header.flags & pfc::LAST_FRAG != 0;
        let (mut stub, opnum, context_id) = match self.partial.take() {
            Some((id, op, ctx, so_far)) if !first && id == call_id => (so_far, op, ctx),
            None if first => (Vec::new(), r.opnum, r.context_id),
            _ => {
                let fault = self.fault(call_id, r.context_id, status::NCA_S_PROTO_ERROR);
                return Step::Close(fault, RpcError::Malformed("request fragment order"));
            }
        };
        stub.extend(&r.stub);
        if stub.len() > MAX_STUB {
            let fault = self.fault(call_id, context_id, status::RPC_X_BAD_STUB_DATA);
            return Step::Close(fault, RpcError::Malformed("a call larger than 4 MiB"));
        }
        if !last {
            self.partial = Some((call_id, opnum, context_id, stub));
            return Step::Nothing;
        }
        let Some((_, interface)) = self.contexts.iter().find(|(id, _)| *id == context_id) else {
            return Step::Send(self.fault(call_id, context_id, status::NCA_S_UNK_IF));
        };
        Step::Call(Call {
            call_id,
            context_id,
            interface: *interface,
            opnum,
            stub,
            auth_level,
        })
    }

    /// The response fragments of a call, protected at the bound level.
    pub fn respond(&mut self, call: &Call, stub: &[u8]) -> Vec<u8> {
        let protected = match &self.auth {
            Auth::Done {
                level: l,
                context_id,
                ..
            } if *l >= level::PKT_INTEGRITY => Some(secure::placeholder(*l, *context_id)),
            _ => None,
        };
        let mut out = Vec::new();
        for piece in pdu::split_stub(stub, self.max_xmit) {
            let body = Body::Response(Response {
                alloc_hint: piece.alloc_hint,
                context_id: call.context_id,
                stub: piece.bytes.to_vec(),
            });
            let mut frag = pdu::encode(
                ptype::RESPONSE,
                piece.flags,
                call.call_id,
                &body,
                protected.as_ref(),
            );
            if let (Some(_), Auth::Done { session, .. }) = (&protected, &mut self.auth) {
                secure::protect(&mut frag, session)
                    .expect("a response we encoded with a signature");
            }
            out.extend(frag);
        }
        out
    }

    /// A fault PDU for a call.
    pub fn fault(&self, call_id: u32, context_id: u16, status: u32) -> Vec<u8> {
        let flags = pfc::FIRST_FRAG | pfc::LAST_FRAG;
        pdu::encode(
            ptype::FAULT,
            flags,
            call_id,
            &Body::Fault { context_id, status },
            None,
        )
    }
}
