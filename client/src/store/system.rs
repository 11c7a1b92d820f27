//! The Windows certificate store itself (CryptoAPI system stores: `My`,
//! `Root`, `CA` of the local machine or the current user), for acting on
//! the certificates Windows and the SCOM agent really use. Certificates
//! only so far: keys stay in the folder store. On other systems every call
//! is a clear error saying the store is Windows-only.

use super::StoreName;

/// Whose system store: the machine's (where SCOM's certificate lives) or
/// the signed-in user's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    LocalMachine,
    CurrentUser,
}

impl Location {
    fn label(self) -> &'static str {
        match self {
            Location::LocalMachine => "LocalMachine",
            Location::CurrentUser => "CurrentUser",
        }
    }
}

/// Why the system store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SystemStoreError {
    #[error("--system-store is the Windows certificate store (CryptoAPI) and needs Windows; elsewhere the store is a folder (--store DIR)")]
    NotWindows,
    #[error("{location}\\{store}: {call} failed: {source}")]
    Api {
        location: &'static str,
        store: &'static str,
        call: &'static str,
        source: std::io::Error,
    },
}

/// One system store location, opened per call.
#[derive(Clone, Copy, Debug)]
pub struct SystemStore {
    location: Location,
}

impl SystemStore {
    /// The system stores of `location`; an error on anything but Windows.
    pub fn open(location: Location) -> Result<SystemStore, SystemStoreError> {
        if cfg!(windows) {
            Ok(SystemStore { location })
        } else {
            Err(SystemStoreError::NotWindows)
        }
    }

    pub fn location(&self) -> Location {
        self.location
    }

    /// Every certificate in `name` (DER), in the store's order.
    pub fn certificates(&self, name: StoreName) -> Result<Vec<Vec<u8>>, SystemStoreError> {
        self.with(name, "CertEnumCertificatesInStore", |s| {
            Ok(win::certificates(s))
        })
    }

    /// Adds `der` to `name`, replacing the same certificate if present.
    pub fn add_certificate(&self, name: StoreName, der: &[u8]) -> Result<(), SystemStoreError> {
        self.with(name, "CertAddEncodedCertificateToStore", |s| {
            win::add(s, der)
        })
    }

    /// Removes the certificate with these bytes from `name`; false when it
    /// was not there.
    pub fn delete_certificate(
        &self,
        name: StoreName,
        der: &[u8],
    ) -> Result<bool, SystemStoreError> {
        self.with(name, "CertDeleteCertificateFromStore", |s| {
            win::delete(s, der)
        })
    }

    fn with<T>(
        &self,
        name: StoreName,
        call: &'static str,
        act: impl FnOnce(&win::Store) -> std::io::Result<T>,
    ) -> Result<T, SystemStoreError> {
        let fail = |call: &'static str| {
            move |source| SystemStoreError::Api {
                location: self.location.label(),
                store: name.folder(),
                call,
                source,
            }
        };
        let store =
            win::Store::open(self.location, name.folder()).map_err(fail("CertOpenStore"))?;
        act(&store).map_err(fail(call))
    }
}

/// The CryptoAPI calls: the crate's one module with `unsafe` code.
#[cfg(windows)]
#[allow(unsafe_code)]
mod win {
    use std::io;
    use std::ptr::{null, null_mut};

    use windows_sys::Win32::Security::Cryptography::{
        CertAddEncodedCertificateToStore, CertCloseStore, CertControlStore,
        CertDeleteCertificateFromStore, CertDuplicateCertificateContext,
        CertEnumCertificatesInStore, CertFreeCertificateContext, CertOpenStore, CERT_CONTEXT,
        CERT_STORE_ADD_REPLACE_EXISTING, CERT_STORE_CTRL_COMMIT, CERT_STORE_PROV_SYSTEM_W,
        CERT_SYSTEM_STORE_CURRENT_USER, CERT_SYSTEM_STORE_LOCAL_MACHINE, HCERTSTORE,
        PKCS_7_ASN_ENCODING, X509_ASN_ENCODING,
    };

    use super::Location;

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
            let wide: Vec<u16> = name.encode_utf16().chain(std::iter::once(0)).collect();
            // SAFETY: `wide` is a NUL-terminated UTF-16 name that outlives the call.
            let h = unsafe {
                CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, flags, wide.as_ptr().cast())
            };
            if h.is_null() {
                Err(io::Error::last_os_error())
            } else {
                Ok(Store(h))
            }
        }
    }

    /// The DER bytes of a certificate context.
    fn der(ctx: *const CERT_CONTEXT) -> Vec<u8> {
        // SAFETY: a context from CertEnumCertificatesInStore is valid until
        // the next call, and its encoded bytes are cbCertEncoded long.
        unsafe {
            let c = &*ctx;
            std::slice::from_raw_parts(c.pbCertEncoded, c.cbCertEncoded as usize).to_vec()
        }
    }

    pub fn certificates(store: &Store) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut ctx: *const CERT_CONTEXT = null();
        loop {
            // SAFETY: `ctx` is null or the previous context, which this call frees.
            ctx = unsafe { CertEnumCertificatesInStore(store.0, ctx) };
            if ctx.is_null() {
                return out;
            }
            out.push(der(ctx));
        }
    }

    pub fn add(store: &Store, der: &[u8]) -> io::Result<()> {
        let len = u32::try_from(der.len()).map_err(io::Error::other)?;
        // SAFETY: `der` is valid for `len` bytes; no context is returned.
        let ok = unsafe {
            CertAddEncodedCertificateToStore(
                store.0,
                X509_ASN_ENCODING | PKCS_7_ASN_ENCODING,
                der.as_ptr(),
                len,
                CERT_STORE_ADD_REPLACE_EXISTING,
                null_mut(),
            )
        };
        if ok == 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    pub fn delete(store: &Store, wanted: &[u8]) -> io::Result<bool> {
        let mut ctx: *const CERT_CONTEXT = null();
        loop {
            // SAFETY: as in `certificates`.
            ctx = unsafe { CertEnumCertificatesInStore(store.0, ctx) };
            if ctx.is_null() {
                return Ok(false);
            }
            if der(ctx) == wanted {
                // SAFETY: the delete frees the duplicate it is given; the
                // enumeration's own context is freed here.
                let ok = unsafe {
                    let dup = CertDuplicateCertificateContext(ctx);
                    CertFreeCertificateContext(ctx);
                    CertDeleteCertificateFromStore(dup)
                };
                if ok == 0 {
                    return Err(io::Error::last_os_error());
                }
                // Make the removal durable now (Wine's registry stores keep
                // it in memory otherwise); harmless where it is already.
                // SAFETY: a valid open store, no parameter.
                unsafe { CertControlStore(store.0, 0, CERT_STORE_CTRL_COMMIT, null()) };
                return Ok(true);
            }
        }
    }
}

/// Elsewhere there is no system store; `SystemStore::open` refuses first.
#[cfg(not(windows))]
mod win {
    use std::io;

    use super::Location;

    pub enum Store {}

    impl Store {
        pub fn open(_: Location, _: &str) -> io::Result<Store> {
            Err(io::Error::new(io::ErrorKind::Unsupported, "Windows only"))
        }
    }

    pub fn certificates(store: &Store) -> Vec<Vec<u8>> {
        match *store {}
    }

    pub fn add(store: &Store, _: &[u8]) -> io::Result<()> {
        match *store {}
    }

    pub fn delete(store: &Store, _: &[u8]) -> io::Result<bool> {
        match *store {}
    }
}

#[cfg(all(test, not(windows)))]
mod tests {
    use super::*;

    #[test]
    fn elsewhere_the_system_store_is_a_clear_error() {
        let e = SystemStore::open(Location::LocalMachine).unwrap_err();
        assert!(matches!(e, SystemStoreError::NotWindows));
        assert!(e.to_string().contains("needs Windows"), "{e}");
    }
}
