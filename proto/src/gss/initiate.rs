//! The client's side: a SPNEGO context toward `HTTP@host`, with the
//! credentials Windows would use (the logged-on ticket cache) or a
//! password traded for a ticket at the realm's KDC. The KDC is found
//! through a given krb5.conf, else the one `KRB5_CONFIG` names, as for
//! kinit.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::ptr;

use super::ffi::{self, Buffer};
use super::{api, bindings, locked, oid, status, take_bytes, GssError, Handles};

/// Where the client's Kerberos credentials come from.
#[derive(Clone, Copy, Debug)]
pub enum Credentials<'a> {
    /// The default ticket cache (`KRB5CCNAME`), as after kinit.
    Default,
    /// A principal and its password: MIT gets a ticket into a private
    /// in-memory cache.
    Password {
        principal: &'a str,
        password: &'a str,
    },
    /// A ticket cache file, as kinit leaves it (`KRB5CCNAME=<path>`): the
    /// ticket-granting ticket in it is used, and service tickets are kept
    /// in it, as a signed-in client keeps them.
    Cache(&'a Path),
}

/// A ticket for `name` from the KDC, kept in a private in-memory cache.
fn with_password(
    api: &'static ffi::Api,
    name: ffi::Name,
    password: &str,
) -> Result<ffi::Cred, GssError> {
    let mut pw = Buffer::of(password.as_bytes());
    // For SPNEGO, which then gets the Kerberos ticket underneath.
    let mut spnego = super::oid(super::SPNEGO);
    let mut mechs = ffi::OidSet {
        count: 1,
        elements: &mut spnego,
    };
    let (mut minor, mut cred) = (0, ptr::null_mut());
    // SAFETY: the password outlives the call; out-parameters are valid.
    let major = unsafe {
        (api.acquire_cred_with_password)(
            &mut minor,
            name,
            &mut pw,
            0,
            &mut mechs,
            ffi::GSS_C_INITIATE,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if ffi::is_error(major) {
        return Err(status(api, "getting a ticket", major, minor));
    }
    Ok(cred)
}

/// One context toward a service.
pub struct Initiator {
    h: Handles,
    service: String,
    krb5_conf: Option<PathBuf>,
    target: ffi::Name,
    complete: bool,
}

impl Initiator {
    /// A context toward `service` (`HTTP@ca01.contoso.test`), in the
    /// realm `krb5_conf` describes (the process's `KRB5_CONFIG` when `None`).
    pub fn new(
        service: &str,
        creds: Credentials<'_>,
        krb5_conf: Option<&Path>,
    ) -> Result<Initiator, GssError> {
        locked(krb5_conf, || {
            Initiator::new_locked(service, creds, krb5_conf)
        })
    }

    fn new_locked(
        service: &str,
        creds: Credentials<'_>,
        krb5_conf: Option<&Path>,
    ) -> Result<Initiator, GssError> {
        let api = api()?;
        let target = super::import_name(api, service, super::HOSTBASED_SERVICE)?;
        let mut h = Handles {
            api,
            ctx: ptr::null_mut(),
            cred: ptr::null_mut(),
            name: ptr::null_mut(),
        };
        match creds {
            Credentials::Default => {}
            Credentials::Password {
                principal,
                password,
            } => {
                h.name = super::import_name(api, principal, super::USER_NAME)?;
                h.cred = with_password(api, h.name, password)?;
            }
            Credentials::Cache(path) => {
                let ccache = format!("FILE:{}", path.display());
                h.cred = super::acquire(
                    api,
                    ptr::null_mut(),
                    ffi::GSS_C_INITIATE,
                    &[("ccache", &ccache)],
                )?;
            }
        }
        Ok(Initiator {
            h,
            service: service.to_string(),
            krb5_conf: krb5_conf.map(Path::to_path_buf),
            target,
            complete: false,
        })
    }

    /// The next token to send: first call with `None`, then with the
    /// server's answer. Returns the token (empty when nothing is left to
    /// send) and whether the context is complete (the server proved itself).
    pub fn step(
        &mut self,
        input: Option<&[u8]>,
        binding: Option<&[u8]>,
    ) -> Result<(Vec<u8>, bool), GssError> {
        let conf = self.krb5_conf.clone();
        locked(conf.as_deref(), || self.step_locked(input, binding))
    }

    fn step_locked(
        &mut self,
        input: Option<&[u8]>,
        binding: Option<&[u8]>,
    ) -> Result<(Vec<u8>, bool), GssError> {
        let api = self.h.api;
        let mut input = input.map(Buffer::of);
        let in_ptr = input.as_mut().map_or(ptr::null_mut(), |b| b as *mut _);
        let mut cb = binding.map(bindings);
        let cb_ptr = cb.as_mut().map_or(ptr::null_mut(), |c| c as *mut _);
        let mut mech = oid(super::SPNEGO);
        let (mut minor, mut out) = (0, Buffer::empty());
        // SAFETY: every pointer is valid for the call; `self` owns the handles.
        let major = unsafe {
            (api.init_sec_context)(
                &mut minor,
                self.h.cred,
                &mut self.h.ctx,
                self.target,
                &mut mech,
                ffi::GSS_C_MUTUAL_FLAG | ffi::GSS_C_SEQUENCE_FLAG,
                0,
                cb_ptr,
                in_ptr,
                ptr::null_mut(),
                &mut out,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let token = take_bytes(api, &mut out);
        if ffi::is_error(major) {
            return Err(status(
                api,
                &format!("a context toward {}", self.service),
                major,
                minor,
            ));
        }
        self.complete = major & ffi::GSS_S_CONTINUE_NEEDED == 0;
        Ok((token, self.complete))
    }

    /// Whether the server's final token has been checked.
    pub fn is_complete(&self) -> bool {
        self.complete
    }
}

impl Drop for Initiator {
    fn drop(&mut self) {
        let (api, target) = (self.h.api, &mut self.target);
        super::releasing(|| {
            let mut m = 0;
            if !target.is_null() {
                // SAFETY: the target name came from gss_import_name.
                unsafe { (api.release_name)(&mut m, target) };
            }
        });
    }
}
