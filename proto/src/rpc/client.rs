//! The client side of an association, sans-IO: the bind (with NTLM's
//! NEGOTIATE), the auth3, and calls protected at the bound level, read
//! back from response fragments. The toolkit's `--rpc` and the tests
//! drive the server with it.

use super::pdu::{self, pfc, ptype, Bind, Body, ContextElem, Request};
use super::secure::{self, level, AUTHN_WINNT};
use super::{RpcError, SyntaxId, NDR};
use crate::ntlm::session::{Role, Session};
use crate::ntlm::{self, ClientOptions};

/// The auth context ID this client names in its trailers.
const AUTH_CONTEXT: u32 = 79231;

/// A bound, authenticated association's client end.
pub struct ClientAssociation {
    session: Option<Session>,
    level: u8,
    call_id: u32,
    max_xmit: u16,
    /// The stub read so far of a fragmented response.
    partial: Vec<u8>,
}

/// What the client needs to sign in.
pub struct Credentials<'a> {
    pub user: &'a str,
    pub domain: &'a str,
    pub password: &'a str,
}

/// The bind for `interface` over NDR; with a level above none, NTLM's
/// NEGOTIATE rides in it. Returns the PDU and the NEGOTIATE sent.
pub fn bind(interface: &SyntaxId, auth_level: u8) -> (Vec<u8>, Vec<u8>) {
    let body = Body::Bind(Bind {
        max_xmit_frag: super::assoc::MAX_FRAG,
        max_recv_frag: super::assoc::MAX_FRAG,
        assoc_group: 0,
        contexts: vec![ContextElem {
            id: 0,
            abstract_syntax: *interface,
            transfer_syntaxes: vec![NDR],
        }],
    });
    let negotiate = ntlm::client_negotiate_sealing();
    let auth = (auth_level > level::NONE).then(|| pdu::Auth {
        auth_type: AUTHN_WINNT,
        auth_level,
        pad_length: 0,
        context_id: AUTH_CONTEXT,
        value: negotiate.clone(),
    });
    let flags = pfc::FIRST_FRAG | pfc::LAST_FRAG;
    (
        pdu::encode(ptype::BIND, flags, 1, &body, auth.as_ref()),
        negotiate,
    )
}

/// The fault or rejection a PDU carries, as an error.
fn refusal(p: &pdu::Pdu) -> Option<RpcError> {
    match &p.body {
        Body::Fault { status, .. } => Some(RpcError::Fault(*status)),
        Body::BindNak(reason) => Some(RpcError::Rejected(*reason)),
        _ => None,
    }
}

/// Reads the bind_ack; with NTLM, answers its CHALLENGE: the auth3 to
/// send (if any) and the association, ready for calls.
pub fn bound(
    bind_ack: &[u8],
    negotiate: &[u8],
    auth_level: u8,
    creds: &Credentials,
) -> Result<(Option<Vec<u8>>, ClientAssociation), RpcError> {
    let p = pdu::parse(bind_ack)?;
    if let Some(e) = refusal(&p) {
        return Err(e);
    }
    let Body::BindAck(ack) = &p.body else {
        return Err(RpcError::PduType(p.header.ptype));
    };
    if let Some(r) = ack.results.iter().find(|r| r.result != 0) {
        return Err(RpcError::Rejected(r.reason));
    }
    let mut assoc = ClientAssociation {
        session: None,
        level: auth_level,
        call_id: 2,
        max_xmit: ack.max_recv_frag.clamp(1024, super::assoc::MAX_FRAG),
        partial: Vec::new(),
    };
    if auth_level == level::NONE {
        return Ok((None, assoc));
    }
    let challenge = p
        .auth
        .as_ref()
        .ok_or(RpcError::Malformed("bind_ack without a CHALLENGE"))?;
    let opts = ClientOptions {
        mic: true,
        ..ClientOptions::default()
    };
    let authenticate = ntlm::client_authenticate(
        negotiate,
        &challenge.value,
        creds.user,
        creds.domain,
        creds.password,
        &opts,
    )
    .map_err(|e| RpcError::Auth(e.to_string()))?;
    let key = ntlm::client_session_key(&authenticate, creds.password)
        .map_err(|e| RpcError::Auth(e.to_string()))?;
    let flags = ntlm::parse_authenticate(&authenticate)
        .map_err(|e| RpcError::Auth(e.to_string()))?
        .flags;
    assoc.session =
        Some(Session::new(&key, flags, Role::Client).map_err(|e| RpcError::Auth(e.to_string()))?);
    let auth = pdu::Auth {
        auth_type: AUTHN_WINNT,
        auth_level,
        pad_length: 0,
        context_id: AUTH_CONTEXT,
        value: authenticate,
    };
    let flags = pfc::FIRST_FRAG | pfc::LAST_FRAG;
    let auth3 = pdu::encode(
        ptype::AUTH3,
        flags,
        p.header.call_id,
        &Body::Auth3,
        Some(&auth),
    );
    Ok((Some(auth3), assoc))
}

impl ClientAssociation {
    /// A call's request fragments, protected at the bound level.
    pub fn call(&mut self, opnum: u16, stub: &[u8]) -> Vec<u8> {
        self.call_id += 1;
        let protect = self.level >= level::PKT_INTEGRITY && self.session.is_some();
        let mut out = Vec::new();
        for piece in pdu::split_stub(stub, self.max_xmit) {
            let body = Body::Request(Request {
                alloc_hint: piece.alloc_hint,
                context_id: 0,
                opnum,
                object: None,
                stub: piece.bytes.to_vec(),
            });
            let auth = protect.then(|| secure::placeholder(self.level, AUTH_CONTEXT));
            let mut frag = pdu::encode(
                ptype::REQUEST,
                piece.flags,
                self.call_id,
                &body,
                auth.as_ref(),
            );
            if let (true, Some(s)) = (protect, self.session.as_mut()) {
                secure::protect(&mut frag, s).expect("a request we encoded with a signature");
            }
            out.extend(frag);
        }
        out
    }

    /// Reads one response fragment: the whole stub once the last has come.
    pub fn response(&mut self, frag: &[u8]) -> Result<Option<Vec<u8>>, RpcError> {
        let mut frag = frag.to_vec();
        let header = pdu::Header::parse(&frag)?;
        if header.ptype == ptype::RESPONSE && header.auth_length > 0 {
            let session = self.session.as_mut().ok_or(RpcError::Signature)?;
            secure::unprotect(&mut frag, session)?;
        } else if header.ptype == ptype::RESPONSE && self.level >= level::PKT_INTEGRITY {
            return Err(RpcError::Malformed("a response without its signature"));
        }
        let p = pdu::parse(&frag)?;
        if let Some(e) = refusal(&p) {
            return Err(e);
        }
        let Body::Response(r) = p.body else {
            return Err(RpcError::PduType(p.header.ptype));
        };
        self.partial.extend(r.stub);
        if self.partial.len() > super::assoc::MAX_STUB {
            return Err(RpcError::Malformed("a response larger than 4 MiB"));
        }
        if p.header.flags & pfc::LAST_FRAG == 0 {
            return Ok(None);
        }
        Ok(Some(std::mem::take(&mut self.partial)))
    }
}
