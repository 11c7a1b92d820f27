//! The CryptoAPI calls: certificate stores (crypt32) and key containers
//! (advapi32's CSPs). The crate's one module with `unsafe` code; every
//! handle is closed by a guard's `Drop`.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io;
use std::ptr::{null, null_mut};

use windows_sys::Win32::Security::Cryptography::{
    CertAddEncodedCertificateToStore, CertCloseStore, CertControlStore,
    CertDeleteCertificateFromStore, CertDuplicateCertificateContext, CertEnumCertificatesInStore,
    CertFreeCertificateContext, CertGetCertificateContextProperty, CertOpenStore,
    CertSetCertificateContextProperty, CryptAcquireContextW, CryptDestroyKey, CryptExportKey,
    CryptGetKeyParam, CryptGetUserKey, CryptImportKey, CryptReleaseContext, CERT_CONTEXT,
    CERT_FRIENDLY_NAME_PROP_ID, CERT_KEY_PROV_INFO_PROP_ID, CERT_STORE_ADD_REPLACE_EXISTING,
    CERT_STORE_CTRL_COMMIT, CERT_STORE_PROV_SYSTEM_W, CERT_SYSTEM_STORE_CURRENT_USER,
    CERT_SYSTEM_STORE_LOCAL_MACHINE, CRYPT_DELETEKEYSET, CRYPT_EXPORT, CRYPT_EXPORTABLE,
    CRYPT_INTEGER_BLOB, CRYPT_KEY_PROV_INFO, CRYPT_MACHINE_KEYSET, CRYPT_NEWKEYSET, CRYPT_SILENT,
    HCERTSTORE, KP_PERMISSIONS, PKCS_7_ASN_ENCODING, PRIVATEKEYBLOB, PUBLICKEYBLOB,
    X509_ASN_ENCODING,
};

use super::{Held, KeyFacts, Location, ProvInfo};

/// NTE_BAD_KEYSET and NTE_NO_KEY: no such container, no such key in it.
const NTE_BAD_KEYSET: i32 = 0x8009_0016_u32 as i32;
const NTE_NO_KEY: i32 = 0x8009_000D_u32 as i32;
/// NTE_EXISTS: the container is already there.
const NTE_EXISTS: i32 = 0x8009_000F_u32 as i32;

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Reads a NUL-terminated UTF-16 string.
///
/// # Safety
/// `p` is null or points at a NUL-terminated UTF-16 string.
unsafe fn from_wide(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0;
    while *p.add(len) != 0 {
        len += 1;
    }
    String::from_utf16_lossy(std::slice::from_raw_parts(p, len))
}

fn check(ok: i32) -> io::Result<()> {
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// An open system store, closed when dropped.
pub struct Store(HCERTSTORE);

impl Drop for Store {
    fn drop(&mut self) {
        // SAFETY: the handle came from CertOpenStore and is closed once.
        unsafe { CertCloseStore(self.0, 0) };
    }
}

impl Store {
    pub fn open(location: Location, name: &str) -> io::Result<Store> {
        let flags = match location {
            Location::LocalMachine => CERT_SYSTEM_STORE_LOCAL_MACHINE,
            Location::CurrentUser => CERT_SYSTEM_STORE_CURRENT_USER,
        };
        let name = wide(name);
        // SAFETY: `name` is a NUL-terminated UTF-16 name that outlives the call.
        let h =
            unsafe { CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, flags, name.as_ptr().cast()) };
        if h.is_null() {
            Err(io::Error::last_os_error())
        } else {
            Ok(Store(h))
        }
    }

    /// Makes changes durable now (Wine's registry stores keep them in
    /// memory otherwise); harmless where they already are.
    fn commit(&self) {
        // SAFETY: a valid open store, no parameter.
        unsafe { CertControlStore(self.0, 0, CERT_STORE_CTRL_COMMIT, null()) };
    }
}

/// The DER bytes of a certificate context.
///
/// # Safety
/// `ctx` is a valid certificate context.
unsafe fn der(ctx: *const CERT_CONTEXT) -> Vec<u8> {
    let c = &*ctx;
    std::slice::from_raw_parts(c.pbCertEncoded, c.cbCertEncoded as usize).to_vec()
}

/// A property's bytes, `None` when the certificate has none.
///
/// # Safety
/// `ctx` is a valid certificate context.
unsafe fn property(ctx: *const CERT_CONTEXT, id: u32) -> Option<Vec<u8>> {
    let mut len = 0u32;
    if CertGetCertificateContextProperty(ctx, id, null_mut(), &mut len) == 0 {
        return None;
    }
    // u64 cells keep the structures the property holds aligned.
    let mut buf = vec![0u64; (len as usize).div_ceil(8)];
    if CertGetCertificateContextProperty(ctx, id, buf.as_mut_ptr().cast(), &mut len) == 0 {
        return None;
    }
    let bytes = std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len as usize);
    Some(bytes.to_vec())
}

/// The key link of a certificate context.
///
/// # Safety
/// `ctx` is a valid certificate context.
unsafe fn key_link(ctx: *const CERT_CONTEXT) -> Option<ProvInfo> {
    let mut len = 0u32;
    if CertGetCertificateContextProperty(ctx, CERT_KEY_PROV_INFO_PROP_ID, null_mut(), &mut len) == 0
    {
        return None;
    }
    let mut buf = vec![0u64; (len as usize).div_ceil(8)];
    let p = buf.as_mut_ptr().cast::<c_void>();
    if CertGetCertificateContextProperty(ctx, CERT_KEY_PROV_INFO_PROP_ID, p, &mut len) == 0 {
        return None;
    }
    let info = &*(p as *const CRYPT_KEY_PROV_INFO);
    Some(ProvInfo {
        container: from_wide(info.pwszContainerName),
        provider: from_wide(info.pwszProvName),
        prov_type: info.dwProvType,
        machine_key_set: info.dwFlags & CRYPT_MACHINE_KEYSET != 0,
        key_spec: info.dwKeySpec,
    })
}

fn friendly_name(bytes: &[u8]) -> Option<String> {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .collect();
    (!units.is_empty()).then(|| String::from_utf16_lossy(&units))
}

pub fn held(store: &Store) -> Vec<Held> {
    let mut out = Vec::new();
    let mut ctx: *const CERT_CONTEXT = null();
    loop {
        // SAFETY: `ctx` is null or the previous context, which this call
        // frees; the context returned is valid until the next call.
        unsafe {
            ctx = CertEnumCertificatesInStore(store.0, ctx);
            if ctx.is_null() {
                return out;
            }
            out.push(Held {
                der: der(ctx),
                key: key_link(ctx),
                friendly_name: property(ctx, CERT_FRIENDLY_NAME_PROP_ID)
                    .as_deref()
                    .and_then(friendly_name),
            });
        }
    }
}

pub fn add(
    store: &Store,
    der: &[u8],
    key: Option<&ProvInfo>,
    friendly: Option<&str>,
) -> io::Result<()> {
    let len = u32::try_from(der.len()).map_err(io::Error::other)?;
    // Remove a copy already there first: its replacement keeps the old
    // copy's properties under Wine, whatever is set on the new context.
    delete(store, der)?;
    let mut ctx: *mut CERT_CONTEXT = null_mut();
    // SAFETY: `der` is valid for `len` bytes; the context returned is freed
    // below.
    check(unsafe {
        CertAddEncodedCertificateToStore(
            store.0,
            X509_ASN_ENCODING | PKCS_7_ASN_ENCODING,
            der.as_ptr(),
            len,
            CERT_STORE_ADD_REPLACE_EXISTING,
            &mut ctx,
        )
    })?;
    let result = set_properties(ctx, key, friendly);
    // SAFETY: the context from the add, freed once.
    unsafe { CertFreeCertificateContext(ctx) };
    store.commit();
    result
}

fn set_properties(
    ctx: *const CERT_CONTEXT,
    key: Option<&ProvInfo>,
    friendly: Option<&str>,
) -> io::Result<()> {
    if let Some(k) = key {
        let mut container = wide(&k.container);
        let mut provider = wide(&k.provider);
        let info = CRYPT_KEY_PROV_INFO {
            pwszContainerName: container.as_mut_ptr(),
            pwszProvName: provider.as_mut_ptr(),
            dwProvType: k.prov_type,
            dwFlags: if k.machine_key_set {
                CRYPT_MACHINE_KEYSET
            } else {
                0
            },
            cProvParam: 0,
            rgProvParam: null_mut(),
            dwKeySpec: k.key_spec,
        };
        // SAFETY: `info` and the strings it points at outlive the call,
        // which copies them.
        check(unsafe {
            CertSetCertificateContextProperty(
                ctx,
                CERT_KEY_PROV_INFO_PROP_ID,
                0,
                (&info as *const CRYPT_KEY_PROV_INFO).cast(),
            )
        })?;
    }
    if let Some(name) = friendly {
        let mut name = wide(name);
        let blob = CRYPT_INTEGER_BLOB {
            cbData: u32::try_from(name.len() * 2).map_err(io::Error::other)?,
            pbData: name.as_mut_ptr().cast(),
        };
        // SAFETY: as above; the blob holds the NUL-terminated name.
        check(unsafe {
            CertSetCertificateContextProperty(
                ctx,
                CERT_FRIENDLY_NAME_PROP_ID,
                0,
                (&blob as *const CRYPT_INTEGER_BLOB).cast(),
            )
        })?;
    }
    Ok(())
}

pub fn delete(store: &Store, wanted: &[u8]) -> io::Result<bool> {
    let mut ctx: *const CERT_CONTEXT = null();
    loop {
        // SAFETY: as in `held`.
        ctx = unsafe { CertEnumCertificatesInStore(store.0, ctx) };
        if ctx.is_null() {
            return Ok(false);
        }
        // SAFETY: a valid context from the enumeration.
        if unsafe { der(ctx) } == wanted {
            // SAFETY: the delete frees the duplicate it is given; the
            // enumeration's own context is freed here.
            let ok = unsafe {
                let dup = CertDuplicateCertificateContext(ctx);
                CertFreeCertificateContext(ctx);
                CertDeleteCertificateFromStore(dup)
            };
            check(ok)?;
            store.commit();
            return Ok(true);
        }
    }
}

/// An acquired CSP context, released when dropped.
struct Provider(usize);

impl Drop for Provider {
    fn drop(&mut self) {
        // SAFETY: a context from CryptAcquireContextW, released once.
        unsafe { CryptReleaseContext(self.0, 0) };
    }
}

/// A key handle, destroyed (not the key, the handle) when dropped.
struct Key(usize);

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: a handle from CryptGetUserKey/CryptImportKey, destroyed once.
        unsafe { CryptDestroyKey(self.0) };
    }
}

fn acquire(info: &ProvInfo, flags: u32) -> io::Result<Provider> {
    acquire_raw(info, flags).map(Provider)
}

/// CryptAcquireContextW for the container in `info`; with
/// CRYPT_DELETEKEYSET there is no context to release.
fn acquire_raw(info: &ProvInfo, flags: u32) -> io::Result<usize> {
    let container = wide(&info.container);
    let provider = wide(&info.provider);
    let machine = if info.machine_key_set {
        CRYPT_MACHINE_KEYSET
    } else {
        0
    };
    let mut h = 0usize;
    // SAFETY: the names are NUL-terminated and outlive the call.
    check(unsafe {
        CryptAcquireContextW(
            &mut h,
            container.as_ptr(),
            provider.as_ptr(),
            info.prov_type,
            flags | machine | CRYPT_SILENT,
        )
    })?;
    Ok(h)
}

/// Whether an error means "no such container or key".
fn absent(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(NTE_BAD_KEYSET | NTE_NO_KEY))
}

fn user_key(p: &Provider, key_spec: u32) -> io::Result<Key> {
    let mut k = 0usize;
    // SAFETY: a valid context; the handle is owned by the guard.
    check(unsafe { CryptGetUserKey(p.0, key_spec, &mut k) })?;
    Ok(Key(k))
}

/// Imports a `PRIVATEKEYBLOB` into the container, making it when needed.
pub fn import_key(info: &ProvInfo, blob: &[u8], exportable: bool) -> io::Result<()> {
    let p = match acquire(info, CRYPT_NEWKEYSET) {
        Ok(p) => p,
        Err(e) if e.raw_os_error() == Some(NTE_EXISTS) => acquire(info, 0)?,
        Err(e) => return Err(e),
    };
    let len = u32::try_from(blob.len()).map_err(io::Error::other)?;
    let flags = if exportable { CRYPT_EXPORTABLE } else { 0 };
    let mut k = 0usize;
    // SAFETY: `blob` is valid for `len` bytes; the handle is owned below.
    check(unsafe { CryptImportKey(p.0, blob.as_ptr(), len, 0, flags, &mut k) })?;
    drop(Key(k));
    Ok(())
}

/// Export permission and public key of the container's key, `None` when
/// there is no such container or key.
pub fn key_facts(info: &ProvInfo) -> io::Result<Option<KeyFacts>> {
    let found = acquire(info, 0).and_then(|p| {
        let k = user_key(&p, info.key_spec)?;
        Ok((p, k))
    });
    let (_p, k) = match found {
        Ok(v) => v,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut perm = 0u32;
    let mut len = 4u32;
    // SAFETY: `perm` is a 4-byte buffer of the length given.
    check(unsafe {
        CryptGetKeyParam(
            k.0,
            KP_PERMISSIONS,
            (&mut perm as *mut u32).cast(),
            &mut len,
            0,
        )
    })?;
    Ok(Some(KeyFacts {
        exportable: perm & CRYPT_EXPORT != 0,
        public_blob: export(&k, PUBLICKEYBLOB)?,
    }))
}

fn export(k: &Key, kind: u32) -> io::Result<Vec<u8>> {
    let mut len = 0u32;
    // SAFETY: a null buffer asks for the length.
    check(unsafe { CryptExportKey(k.0, 0, kind, 0, null_mut(), &mut len) })?;
    let mut buf = vec![0u8; len as usize];
    // SAFETY: `buf` has the length the provider asked for.
    check(unsafe { CryptExportKey(k.0, 0, kind, 0, buf.as_mut_ptr(), &mut len) })?;
    buf.truncate(len as usize);
    Ok(buf)
}

/// The key's `PRIVATEKEYBLOB`; a key made without CRYPT_EXPORTABLE is
/// refused by the provider (NTE_BAD_KEY_STATE).
pub fn export_private(info: &ProvInfo) -> io::Result<Vec<u8>> {
    let p = acquire(info, 0)?;
    let k = user_key(&p, info.key_spec)?;
    export(&k, PRIVATEKEYBLOB)
}

/// Deletes the container and its keys.
pub fn delete_key(info: &ProvInfo) -> io::Result<()> {
    acquire_raw(info, CRYPT_DELETEKEYSET).map(drop)
}
