//! The few MIT GSS-API entry points both ends call, loaded from the
//! system's `libgssapi_krb5.so.2` at run time. Loading instead of linking
//! keeps the build free of Kerberos headers and libclang (the `libgssapi`
//! crate generates its bindings with bindgen at build time), so the
//! project still builds with only a Rust toolchain; Kerberos itself, its
//! crypto and its ticket checks are all MIT's.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

pub type OmUint32 = u32;
pub type Name = *mut c_void;
pub type Cred = *mut c_void;
pub type Ctx = *mut c_void;

#[repr(C)]
pub struct Buffer {
    pub length: usize,
    pub value: *mut c_void,
}

impl Buffer {
    pub fn empty() -> Buffer {
        Buffer {
            length: 0,
            value: std::ptr::null_mut(),
        }
    }

    /// A borrowed view of `bytes` (GSS-API does not write input buffers).
    pub fn of(bytes: &[u8]) -> Buffer {
        Buffer {
            length: bytes.len(),
            value: bytes.as_ptr() as *mut c_void,
        }
    }
}

#[repr(C)]
pub struct OidDesc {
    pub length: OmUint32,
    pub elements: *mut c_void,
}

#[repr(C)]
pub struct OidSet {
    pub count: usize,
    pub elements: *mut OidDesc,
}

#[repr(C)]
pub struct BufferSet {
    pub count: usize,
    pub elements: *mut Buffer,
}

#[repr(C)]
pub struct ChannelBindings {
    pub initiator_addrtype: OmUint32,
    pub initiator_address: Buffer,
    pub acceptor_addrtype: OmUint32,
    pub acceptor_address: Buffer,
    pub application_data: Buffer,
}

#[repr(C)]
pub struct KeyValue {
    pub key: *const c_char,
    pub value: *const c_char,
}

#[repr(C)]
pub struct KeyValueSet {
    pub count: OmUint32,
    pub elements: *const KeyValue,
}

pub const GSS_C_ACCEPT: c_int = 2;
pub const GSS_C_INITIATE: c_int = 1;
pub const GSS_C_GSS_CODE: c_int = 1;
pub const GSS_C_MECH_CODE: c_int = 2;
pub const GSS_S_CONTINUE_NEEDED: OmUint32 = 1;
pub const GSS_C_MUTUAL_FLAG: OmUint32 = 2;
pub const GSS_C_SEQUENCE_FLAG: OmUint32 = 8;
/// MIT 1.19 and later: the initiator's channel bindings matched ours.
pub const GSS_C_CHANNEL_BOUND_FLAG: OmUint32 = 2048;
pub const GSS_C_CONF_FLAG: OmUint32 = 16;
pub const GSS_C_INTEG_FLAG: OmUint32 = 32;

/// `major` is an error when a calling or routine error is set.
pub fn is_error(major: OmUint32) -> bool {
    major & 0xffff_0000 != 0
}

type AcquireCredFrom = unsafe extern "C" fn(
    *mut OmUint32,
    Name,
    OmUint32,
    *mut OidSet,
    c_int,
    *const KeyValueSet,
    *mut Cred,
    *mut *mut OidSet,
    *mut OmUint32,
) -> OmUint32;
type AcquireCredWithPassword = unsafe extern "C" fn(
    *mut OmUint32,
    Name,
    *mut Buffer,
    OmUint32,
    *mut OidSet,
    c_int,
    *mut Cred,
    *mut *mut OidSet,
    *mut OmUint32,
) -> OmUint32;
type AcceptSecContext = unsafe extern "C" fn(
    *mut OmUint32,
    *mut Ctx,
    Cred,
    *mut Buffer,
    *mut ChannelBindings,
    *mut Name,
    *mut *mut OidDesc,
    *mut Buffer,
    *mut OmUint32,
    *mut OmUint32,
    *mut Cred,
) -> OmUint32;
type InitSecContext = unsafe extern "C" fn(
    *mut OmUint32,
    Cred,
    *mut Ctx,
    Name,
    *mut OidDesc,
    OmUint32,
    OmUint32,
    *mut ChannelBindings,
    *mut Buffer,
    *mut *mut OidDesc,
    *mut Buffer,
    *mut OmUint32,
    *mut OmUint32,
) -> OmUint32;
type ImportName =
    unsafe extern "C" fn(*mut OmUint32, *mut Buffer, *mut OidDesc, *mut Name) -> OmUint32;
type DisplayName =
    unsafe extern "C" fn(*mut OmUint32, Name, *mut Buffer, *mut *mut OidDesc) -> OmUint32;
type DisplayStatus = unsafe extern "C" fn(
    *mut OmUint32,
    OmUint32,
    c_int,
    *mut OidDesc,
    *mut OmUint32,
    *mut Buffer,
) -> OmUint32;
type Wrap = unsafe extern "C" fn(
    *mut OmUint32,
    Ctx,
    c_int,
    OmUint32,
    *mut Buffer,
    *mut c_int,
    *mut Buffer,
) -> OmUint32;
type Unwrap = unsafe extern "C" fn(
    *mut OmUint32,
    Ctx,
    *mut Buffer,
    *mut Buffer,
    *mut c_int,
    *mut OmUint32,
) -> OmUint32;
type ReleaseBuffer = unsafe extern "C" fn(*mut OmUint32, *mut Buffer) -> OmUint32;
type InquireSecContextByOid =
    unsafe extern "C" fn(*mut OmUint32, Ctx, *mut OidDesc, *mut *mut BufferSet) -> OmUint32;
type ReleaseBufferSet = unsafe extern "C" fn(*mut OmUint32, *mut *mut BufferSet) -> OmUint32;
type ReleaseName = unsafe extern "C" fn(*mut OmUint32, *mut Name) -> OmUint32;
type ReleaseCred = unsafe extern "C" fn(*mut OmUint32, *mut Cred) -> OmUint32;
type DeleteSecContext = unsafe extern "C" fn(*mut OmUint32, *mut Ctx, *mut Buffer) -> OmUint32;

/// The loaded entry points; the library stays loaded for the process.
pub struct Api {
    _lib: libloading::Library,
    pub acquire_cred_from: AcquireCredFrom,
    pub acquire_cred_with_password: AcquireCredWithPassword,
    pub accept_sec_context: AcceptSecContext,
    pub init_sec_context: InitSecContext,
    pub import_name: ImportName,
    pub display_name: DisplayName,
    pub display_status: DisplayStatus,
    pub release_buffer: ReleaseBuffer,
    pub release_name: ReleaseName,
    pub release_cred: ReleaseCred,
    pub delete_sec_context: DeleteSecContext,
    pub wrap: Wrap,
    pub unwrap: Unwrap,
    pub inquire_sec_context_by_oid: InquireSecContextByOid,
    pub release_buffer_set: ReleaseBufferSet,
}

/// The library names tried, newest soname first.
const LIBRARIES: &[&str] = &["libgssapi_krb5.so.2", "libgssapi_krb5.so"];

/// Loads MIT GSS-API once; the error says what to install.
pub fn api() -> Result<&'static Api, String> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Api, String> {
    if !cfg!(unix) {
        return Err("Kerberos through MIT GSS-API is available on Linux only".into());
    }
    let mut last = String::new();
    for name in LIBRARIES {
        // SAFETY: loading MIT's GSS-API runs only its ELF initialisers.
        match unsafe { libloading::Library::new(name) } {
            Ok(lib) => return bind(lib).map_err(|e| format!("{name}: {e}")),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!(
        "MIT GSS-API is not installed ({last}); install Debian's libgssapi-krb5-2"
    ))
}

fn bind(lib: libloading::Library) -> Result<Api, libloading::Error> {
    // SAFETY: each symbol is declared with the C prototype of MIT's
    // <gssapi/gssapi.h> and <gssapi/gssapi_ext.h> (1.11 and later).
    unsafe {
        Ok(Api {
            acquire_cred_from: *lib.get(b"gss_acquire_cred_from\0")?,
            acquire_cred_with_password: *lib.get(b"gss_acquire_cred_with_password\0")?,
            accept_sec_context: *lib.get(b"gss_accept_sec_context\0")?,
            init_sec_context: *lib.get(b"gss_init_sec_context\0")?,
            import_name: *lib.get(b"gss_import_name\0")?,
            display_name: *lib.get(b"gss_display_name\0")?,
            display_status: *lib.get(b"gss_display_status\0")?,
            release_buffer: *lib.get(b"gss_release_buffer\0")?,
            release_name: *lib.get(b"gss_release_name\0")?,
            release_cred: *lib.get(b"gss_release_cred\0")?,
            delete_sec_context: *lib.get(b"gss_delete_sec_context\0")?,
            wrap: *lib.get(b"gss_wrap\0")?,
            unwrap: *lib.get(b"gss_unwrap\0")?,
            inquire_sec_context_by_oid: *lib.get(b"gss_inquire_sec_context_by_oid\0")?,
            release_buffer_set: *lib.get(b"gss_release_buffer_set\0")?,
            _lib: lib,
        })
    }
}
