//! Kerberos through GSS-API, as HTTP `Negotiate` carries it (RFC 4559):
//! the acceptor the mock's web server runs with the site's keytab, and the
//! initiator the client runs with a ticket cache or a password. Tokens go
//! in and out as bytes; MIT's library does the Kerberos (see `ffi`).
#![allow(unsafe_code)]

mod ffi;
pub mod spnego;

use std::cell::Cell;
use std::ffi::{CString, OsString};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Condvar, Mutex};

use ffi::{Api, Buffer, ChannelBindings, KeyValue, KeyValueSet, OidDesc, OmUint32};

/// A GSS-API failure, in MIT's words (major and minor status).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GssError(pub String);

/// SPNEGO, the mechanism HTTP `Negotiate` uses (1.3.6.1.5.5.2).
const SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// GSS_C_NT_HOSTBASED_SERVICE (1.2.840.113554.1.2.1.4): `HTTP@host`.
const HOSTBASED_SERVICE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x01, 0x04];
/// GSS_C_NT_USER_NAME (1.2.840.113554.1.2.1.1): `alice@REALM`.
const USER_NAME: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x01, 0x01];

/// RFC 5929's `tls-server-end-point` binding of a TLS server certificate
/// (SHA-256, as for the CA's own certificates): the application data both
/// GSS-API and NTLM (hashed once more) bind to.
pub fn tls_server_end_point(server_cert_der: &[u8]) -> Vec<u8> {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, server_cert_der);
    let mut app = b"tls-server-end-point:".to_vec();
    app.extend_from_slice(hash.as_ref());
    app
}

/// Whether MIT GSS-API can be loaded here; the error says what to install.
pub fn available() -> Result<(), GssError> {
    ffi::api().map(|_| ()).map_err(GssError)
}

fn api() -> Result<&'static Api, GssError> {
    ffi::api().map_err(GssError)
}

fn oid(bytes: &'static [u8]) -> OidDesc {
    OidDesc {
        length: bytes.len() as OmUint32,
        elements: bytes.as_ptr() as *mut _,
    }
}

/// Which `KRB5_CONFIG` GSS-API calls in flight were made under, and how
/// many are in flight. MIT reads the variable whenever a call makes its
/// Kerberos context, so calls that need different values cannot overlap;
/// calls that need the same one can, and do: MIT's library is thread-safe
/// for separate contexts, and a server accepting many clients at once
/// must not take them one at a time.
struct Realms {
    /// The krb5.conf the calls in flight use (`None`: the process's own
    /// environment, untouched).
    current: Option<PathBuf>,
    in_flight: usize,
    /// The process's `KRB5_CONFIG`, put back when the last call ends.
    saved: Option<OsString>,
}

static REALMS: Mutex<Realms> = Mutex::new(Realms {
    current: None,
    in_flight: 0,
    saved: None,
});
static REALM_FREE: Condvar = Condvar::new();

thread_local!(static HELD: Cell<bool> = const { Cell::new(false) });

/// One call in flight, counted in [`REALMS`] until dropped.
struct InFlight;

impl InFlight {
    /// Waits until the calls in flight use `conf` (or none are), then
    /// joins them. `any`: the call reads no configuration (a release) and
    /// joins whatever is in flight.
    fn enter(conf: Option<&Path>, any: bool) -> InFlight {
        let mut r = REALMS.lock().unwrap_or_else(|p| p.into_inner());
        while !any && r.in_flight > 0 && r.current.as_deref() != conf {
            r = REALM_FREE.wait(r).unwrap_or_else(|p| p.into_inner());
        }
        if r.in_flight == 0 && !any {
            if let Some(conf) = conf {
                r.saved = std::env::var_os("KRB5_CONFIG");
                std::env::set_var("KRB5_CONFIG", conf);
            }
            r.current = conf.map(Path::to_path_buf);
        }
        r.in_flight += 1;
        HELD.with(|h| h.set(true));
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        HELD.with(|h| h.set(false));
        let mut r = REALMS.lock().unwrap_or_else(|p| p.into_inner());
        r.in_flight -= 1;
        if r.in_flight == 0 {
            if r.current.take().is_some() {
                match r.saved.take() {
                    Some(v) => std::env::set_var("KRB5_CONFIG", v),
                    None => std::env::remove_var("KRB5_CONFIG"),
                }
            }
            REALM_FREE.notify_all();
        }
    }
}

/// Runs one GSS-API call, or a few, with `KRB5_CONFIG` pointing at
/// `krb5_conf` (the process's own when `None`), beside other calls that
/// use the same one (see [`Realms`]). One process can so use several
/// realms (a test's servers, a scenario world beside the user's own).
fn locked<T>(krb5_conf: Option<&Path>, f: impl FnOnce() -> T) -> T {
    // A call inside a call (a release inside a failed constructor) is
    // already counted.
    if HELD.with(Cell::get) {
        return f();
    }
    let _in_flight = InFlight::enter(krb5_conf, false);
    f()
}

/// Runs a release (of a context, a credential, a name), which reads no
/// configuration, beside whatever calls are in flight.
fn releasing<T>(f: impl FnOnce() -> T) -> T {
    if HELD.with(Cell::get) {
        return f();
    }
    let _in_flight = InFlight::enter(None, true);
    f()
}

/// MIT's text for a status pair, "major: minor".
fn status(api: &Api, what: &str, major: OmUint32, minor: OmUint32) -> GssError {
    let mut parts = vec![];
    for (code, kind) in [(major, ffi::GSS_C_GSS_CODE), (minor, ffi::GSS_C_MECH_CODE)] {
        if code == 0 {
            continue;
        }
        let mut ctx: OmUint32 = 0;
        loop {
            let (mut m, mut buf) = (0, Buffer::empty());
            // SAFETY: out-parameters are valid; the buffer is released below.
            let r = unsafe {
                (api.display_status)(&mut m, code, kind, ptr::null_mut(), &mut ctx, &mut buf)
            };
            if ffi::is_error(r) {
                break;
            }
            parts.push(take(api, &mut buf));
            if ctx == 0 {
                break;
            }
        }
    }
    GssError(format!("{what}: {}", parts.join(": ")))
}

/// Copies a GSS-allocated buffer out and releases it.
fn take(api: &Api, buf: &mut Buffer) -> String {
    String::from_utf8_lossy(&take_bytes(api, buf)).into_owned()
}

fn take_bytes(api: &Api, buf: &mut Buffer) -> Vec<u8> {
    let out = if buf.value.is_null() || buf.length == 0 {
        vec![]
    } else {
        // SAFETY: GSS-API wrote `length` bytes at `value`.
        unsafe { std::slice::from_raw_parts(buf.value as *const u8, buf.length) }.to_vec()
    };
    let mut m = 0;
    // SAFETY: the buffer came from GSS-API (or is empty).
    unsafe { (api.release_buffer)(&mut m, buf) };
    out
}

/// A credential store (`gss_acquire_cred_from`): the keys are MIT's
/// (`keytab`, `ccache`, `password`, `rcache`…).
fn acquire(
    api: &Api,
    name: ffi::Name,
    usage: i32,
    store: &[(&str, &str)],
) -> Result<ffi::Cred, GssError> {
    let owned: Vec<(CString, CString)> = store
        .iter()
        .map(|(k, v)| Ok((CString::new(*k)?, CString::new(*v)?)))
        .collect::<Result<_, std::ffi::NulError>>()
        .map_err(|e| GssError(format!("credential store: {e}")))?;
    let elements: Vec<KeyValue> = owned
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.as_ptr(),
            value: v.as_ptr(),
        })
        .collect();
    let store = KeyValueSet {
        count: elements.len() as OmUint32,
        elements: elements.as_ptr(),
    };
    let (mut minor, mut cred) = (0, ptr::null_mut());
    // SAFETY: the store's strings outlive the call; out-parameters are valid.
    let major = unsafe {
        (api.acquire_cred_from)(
            &mut minor,
            name,
            0,
            ptr::null_mut(),
            usage,
            &store,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if ffi::is_error(major) {
        return Err(status(api, "acquiring credentials", major, minor));
    }
    Ok(cred)
}

fn import_name(api: &Api, text: &str, kind: &'static [u8]) -> Result<ffi::Name, GssError> {
    let (mut minor, mut name) = (0, ptr::null_mut());
    let mut buf = Buffer::of(text.as_bytes());
    let mut kind = oid(kind);
    // SAFETY: input buffers outlive the call; out-parameters are valid.
    let major = unsafe { (api.import_name)(&mut minor, &mut buf, &mut kind, &mut name) };
    if ffi::is_error(major) {
        return Err(status(api, &format!("name {text}"), major, minor));
    }
    Ok(name)
}

/// Channel bindings as RFC 5929 puts them in GSS-API: no addresses, the
/// application data `tls-server-end-point:<hash>`.
fn bindings(application_data: &[u8]) -> ChannelBindings {
    ChannelBindings {
        initiator_addrtype: 0,
        initiator_address: Buffer::empty(),
        acceptor_addrtype: 0,
        acceptor_address: Buffer::empty(),
        application_data: Buffer::of(application_data),
    }
}

/// The GSS-API handles of one context; released on drop.
struct Handles {
    api: &'static Api,
    ctx: ffi::Ctx,
    cred: ffi::Cred,
    name: ffi::Name,
}

// SAFETY: MIT's handles may move between threads; the owner (a connection's
// state behind a mutex, or one client call) never uses them concurrently.
unsafe impl Send for Handles {}

impl Drop for Handles {
    fn drop(&mut self) {
        let api = self.api;
        let (ctx, cred, name) = (&mut self.ctx, &mut self.cred, &mut self.name);
        releasing(|| {
            let mut m = 0;
            // SAFETY: each handle is null or was returned by GSS-API.
            unsafe {
                if !ctx.is_null() {
                    (api.delete_sec_context)(&mut m, ctx, ptr::null_mut());
                }
                if !cred.is_null() {
                    (api.release_cred)(&mut m, cred);
                }
                if !name.is_null() {
                    (api.release_name)(&mut m, name);
                }
            }
        });
    }
}

mod accept;
mod initiate;

pub use accept::{AcceptContext, Accepted, Acceptor};
pub use initiate::{Credentials, Initiator};
