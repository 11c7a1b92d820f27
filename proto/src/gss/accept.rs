//! The server's side: a keytab, and one context per connection that takes
//! the client's tokens (SPNEGO or raw Kerberos) until it names the client.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::ptr;

use super::ffi::{self, Buffer, OidDesc};
use super::{api, bindings, locked, status, take, take_bytes, GssError, Handles};

/// Accepts tickets for the service principals of one keytab.
#[derive(Clone, Debug)]
pub struct Acceptor {
    keytab: PathBuf,
    /// The realm's krb5.conf: its `clockskew` governs ticket times.
    krb5_conf: PathBuf,
}

/// What one accepted token gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Send this token back in a 401 and wait for the next one.
    Continue(Vec<u8>),
    /// The client is `principal` (`alice@CONTOSO.TEST`); `reply` is the
    /// mutual-authentication token for the final `WWW-Authenticate`.
    Done {
        principal: String,
        reply: Vec<u8>,
        /// The client's channel bindings matched the ones given.
        channel_bound: bool,
        /// The client asked for integrity or confidentiality: what follows
        /// the authentication is wrapped (AD's Kerberos-signed LDAP).
        integrity: bool,
    },
}

/// One security context in progress.
pub struct AcceptContext {
    krb5_conf: PathBuf,
    h: Handles,
}

impl Acceptor {
    /// An acceptor for `keytab` in the realm `krb5_conf` describes; fails
    /// when MIT GSS-API is missing.
    pub fn new(keytab: &Path, krb5_conf: &Path) -> Result<Acceptor, GssError> {
        api()?;
        Ok(Acceptor {
            keytab: keytab.to_path_buf(),
            krb5_conf: krb5_conf.to_path_buf(),
        })
    }

    /// A fresh context with credentials from the keytab (any principal in
    /// it may be the target, as IIS accepts any of its SPNs).
    pub fn start(&self) -> Result<AcceptContext, GssError> {
        let api = api()?;
        let keytab = format!("FILE:{}", self.keytab.display());
        let store = [("keytab", keytab.as_str())];
        let cred = locked(Some(&self.krb5_conf), || {
            super::acquire(api, ptr::null_mut(), ffi::GSS_C_ACCEPT, &store)
        })?;
        Ok(AcceptContext {
            krb5_conf: self.krb5_conf.clone(),
            h: Handles {
                api,
                ctx: ptr::null_mut(),
                cred,
                name: ptr::null_mut(),
            },
        })
    }
}

impl AcceptContext {
    /// Takes the client's token; `binding` is the TLS channel's
    /// `tls-server-end-point:<hash>` application data, when there is one.
    pub fn step(&mut self, token: &[u8], binding: Option<&[u8]>) -> Result<Accepted, GssError> {
        let conf = self.krb5_conf.clone();
        locked(Some(&conf), || self.step_locked(token, binding))
    }

    fn step_locked(&mut self, token: &[u8], binding: Option<&[u8]>) -> Result<Accepted, GssError> {
        let api = self.h.api;
        let framed = super::spnego::frame_bare_ap_req(token);
        let mut input = Buffer::of(framed.as_deref().unwrap_or(token));
        let mut cb = binding.map(bindings);
        let cb_ptr = cb.as_mut().map_or(ptr::null_mut(), |c| c as *mut _);
        let (mut minor, mut flags) = (0, 0);
        let mut out = Buffer::empty();
        let mut mech: *mut OidDesc = ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `self.h` owns the
        // context, credential and name handles GSS-API fills in.
        let major = unsafe {
            (api.accept_sec_context)(
                &mut minor,
                &mut self.h.ctx,
                self.h.cred,
                &mut input,
                cb_ptr,
                &mut self.h.name,
                &mut mech,
                &mut out,
                &mut flags,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let reply = take_bytes(api, &mut out);
        if ffi::is_error(major) {
            return Err(status(api, "Kerberos", major, minor));
        }
        if major & ffi::GSS_S_CONTINUE_NEEDED != 0 {
            return Ok(Accepted::Continue(reply));
        }
        let mut text = Buffer::empty();
        // SAFETY: the context is complete, so the source name is set.
        let major =
            unsafe { (api.display_name)(&mut minor, self.h.name, &mut text, ptr::null_mut()) };
        if ffi::is_error(major) {
            return Err(status(api, "client name", major, minor));
        }
        Ok(Accepted::Done {
            principal: take(api, &mut text),
            reply,
            channel_bound: flags & ffi::GSS_C_CHANNEL_BOUND_FLAG != 0,
            integrity: flags & (ffi::GSS_C_INTEG_FLAG | ffi::GSS_C_CONF_FLAG) != 0,
        })
    }
}

impl AcceptContext {
    /// Wraps `message` with the established context (RFC 2743 GSS_Wrap):
    /// sealed when `confidential`, else signed. SASL security layers
    /// (RFC 4752) and AD's Kerberos-sealed LDAP are made of these.
    pub fn wrap(&mut self, message: &[u8], confidential: bool) -> Result<Vec<u8>, GssError> {
        let conf = self.krb5_conf.clone();
        locked(Some(&conf), || {
            let api = self.h.api;
            let mut input = Buffer::of(message);
            let mut out = Buffer::empty();
            let (mut minor, mut state) = (0, 0);
            // SAFETY: the context is established; the buffers are valid
            // for the call and `out` is released by `take_bytes`.
            let major = unsafe {
                (api.wrap)(
                    &mut minor,
                    self.h.ctx,
                    i32::from(confidential),
                    0,
                    &mut input,
                    &mut state,
                    &mut out,
                )
            };
            let bytes = take_bytes(api, &mut out);
            if ffi::is_error(major) {
                return Err(status(api, "GSS wrap", major, minor));
            }
            Ok(bytes)
        })
    }

    /// Unwraps a peer's wrap token: the message, and whether it was sealed.
    pub fn unwrap(&mut self, token: &[u8]) -> Result<(Vec<u8>, bool), GssError> {
        let conf = self.krb5_conf.clone();
        locked(Some(&conf), || {
            let api = self.h.api;
            let mut input = Buffer::of(token);
            let mut out = Buffer::empty();
            let (mut minor, mut state, mut qop) = (0, 0, 0);
            // SAFETY: as in `wrap`.
            let major = unsafe {
                (api.unwrap)(
                    &mut minor, self.h.ctx, &mut input, &mut out, &mut state, &mut qop,
                )
            };
            let bytes = take_bytes(api, &mut out);
            if ffi::is_error(major) {
                return Err(status(api, "GSS unwrap", major, minor));
            }
            Ok((bytes, state != 0))
        })
    }
}

/// GSS_C_INQ_SSPI_SESSION_KEY (1.2.840.113554.1.2.2.5.5): the key SSPI
/// hands protocols that sign with the context's key, as SMB does.
const INQ_SSPI_SESSION_KEY: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x05\x05";

impl AcceptContext {
    /// The established context's session key, as SSPI gives it (the
    /// acceptor's subkey, else the initiator's, else the ticket's): what
    /// SMB signs with.
    pub fn session_key(&mut self) -> Result<Vec<u8>, GssError> {
        let conf = self.krb5_conf.clone();
        locked(Some(&conf), || {
            let api = self.h.api;
            let mut which = super::oid(INQ_SSPI_SESSION_KEY);
            let mut set: *mut ffi::BufferSet = ptr::null_mut();
            let mut minor = 0;
            // SAFETY: the context is established; `set` is filled by the
            // call and released below.
            let major = unsafe {
                (api.inquire_sec_context_by_oid)(&mut minor, self.h.ctx, &mut which, &mut set)
            };
            if ffi::is_error(major) {
                return Err(status(api, "session key", major, minor));
            }
            // SAFETY: on success `set` points to `count` buffers, the
            // first of which is the key.
            let key = unsafe {
                match set.as_ref() {
                    Some(s) if s.count > 0 && !s.elements.is_null() => {
                        let b = &*s.elements;
                        std::slice::from_raw_parts(b.value as *const u8, b.length).to_vec()
                    }
                    _ => Vec::new(),
                }
            };
            // SAFETY: `set` came from the call above.
            unsafe { (api.release_buffer_set)(&mut minor, &mut set) };
            if key.is_empty() {
                return Err(GssError("the context has no session key".into()));
            }
            Ok(key)
        })
    }
}

impl std::fmt::Debug for AcceptContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptContext")
    }
}
