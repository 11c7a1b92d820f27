//! The Windows certificate store itself (CryptoAPI system stores: `My`,
//! `Root`, `CA` and `REQUEST` of the local machine or the current user),
//! for acting on the certificates Windows and the SCOM agent really use.
//!
//! Keys live in the legacy CSP the request names (the SChannel provider
//! SCOM wants, or another Microsoft RSA provider), in the machine or user
//! key set, with the provider's own export permission: a key made without
//! `Exportable` cannot leave it (the provider answers NTE_BAD_KEY_STATE).
//! Keys are made by the harness (seeded like everything else) and imported
//! into the provider; the container is named after the public key, which is
//! how `repair` finds it again. A waiting request is, as with certreq, a
//! self-signed stand-in certificate in `REQUEST` linked to its key.
//!
//! On other systems every call is a clear error saying the store is
//! Windows-only.

use super::backend::{Backend, FoundKey, KeyPlacement};
use super::capi_blob;
use super::{
    container_name, entry_from, CertProperties, Entry, PendingRequest, StoreError, StoreName,
    REQUEST,
};
use crate::keys::RequestKey;
use crate::request::{NewRequest, DEFAULT_RSA_PROVIDER};

#[cfg(windows)]
mod win;

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
    #[error("--system-store and --user-store are the Windows certificate store (CryptoAPI) and need Windows; elsewhere the store is a folder (--store DIR)")]
    NotWindows,
    #[error("{location}\\{store}: {call} failed: {source}")]
    Api {
        location: &'static str,
        store: &'static str,
        call: &'static str,
        source: std::io::Error,
    },
    #[error("key container {container} ({provider}): {call} failed: {source}")]
    Key {
        container: String,
        provider: String,
        call: &'static str,
        source: std::io::Error,
    },
    #[error("the Windows store keeps keys in CryptoAPI's RSA providers; `{provider}` (KeySpec {key_spec}) is not one of them: use ProviderName = \"Microsoft RSA SChannel Cryptographic Provider\" with KeySpec = 1 (what SCOM needs), or the folder store")]
    UnsupportedProvider { provider: String, key_spec: u32 },
}

/// Where a key lives in CryptoAPI (CRYPT_KEY_PROV_INFO).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvInfo {
    pub container: String,
    pub provider: String,
    pub prov_type: u32,
    pub machine_key_set: bool,
    pub key_spec: u32,
}

/// A certificate as the system store holds it.
#[derive(Debug)]
pub struct Held {
    pub der: Vec<u8>,
    pub key: Option<ProvInfo>,
    pub friendly_name: Option<String>,
}

/// What the provider says of a key.
#[derive(Debug)]
pub struct KeyFacts {
    pub exportable: bool,
    /// The `PUBLICKEYBLOB`.
    pub public_blob: Vec<u8>,
}

/// PROV_RSA_SCHANNEL, PROV_RSA_AES, PROV_RSA_FULL.
const PROV_RSA_SCHANNEL: u32 = 12;
const PROV_RSA_AES: u32 = 24;
const PROV_RSA_FULL: u32 = 1;

/// The CryptoAPI provider type of a Microsoft RSA provider, `None` for
/// anything else (a CNG KSP, DSS).
fn rsa_provider_type(provider: &str) -> Option<u32> {
    let p = provider.to_ascii_lowercase();
    let csp = p.contains("rsa") || p.contains("cryptographic provider");
    if !p.starts_with("microsoft") || !csp {
        return None;
    }
    if p.contains("dss") || p.contains("dh ") || p.contains("key storage") {
        None
    } else if p.contains("schannel") {
        Some(PROV_RSA_SCHANNEL)
    } else if p.contains("aes") {
        Some(PROV_RSA_AES)
    } else {
        Some(PROV_RSA_FULL)
    }
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

    fn machine(&self) -> bool {
        self.location == Location::LocalMachine
    }

    /// Every certificate in `name` with its key link and friendly name.
    pub fn held(&self, name: &'static str) -> Result<Vec<Held>, SystemStoreError> {
        self.with(name, "CertEnumCertificatesInStore", |s| Ok(win::held(s)))
    }

    /// Adds `der` to `name` (replacing the same certificate) with its key
    /// link and friendly name.
    pub fn add(
        &self,
        name: &'static str,
        der: &[u8],
        key: Option<&ProvInfo>,
        friendly_name: Option<&str>,
    ) -> Result<(), SystemStoreError> {
        self.with(name, "CertAddEncodedCertificateToStore", |s| {
            win::add(s, der, key, friendly_name)
        })
    }

    /// Removes the certificate with these bytes from `name`; false when it
    /// was not there.
    pub fn remove(&self, name: &'static str, der: &[u8]) -> Result<bool, SystemStoreError> {
        self.with(name, "CertDeleteCertificateFromStore", |s| {
            win::delete(s, der)
        })
    }

    fn with<T>(
        &self,
        name: &'static str,
        call: &'static str,
        act: impl FnOnce(&win::Store) -> std::io::Result<T>,
    ) -> Result<T, SystemStoreError> {
        let fail = |call: &'static str| {
            move |source| SystemStoreError::Api {
                location: self.location.label(),
                store: name,
                call,
                source,
            }
        };
        let store = win::Store::open(self.location, name).map_err(fail("CertOpenStore"))?;
        act(&store).map_err(fail(call))
    }

    /// Where `container` is: this location's key set first, then the
    /// other, with the AT_KEYEXCHANGE key before the AT_SIGNATURE one.
    fn locate(&self, container: &str) -> Result<Option<(ProvInfo, KeyFacts)>, SystemStoreError> {
        for machine_key_set in [self.machine(), !self.machine()] {
            for key_spec in [1, 2] {
                let info = ProvInfo {
                    container: container.to_string(),
                    provider: DEFAULT_AES_PROVIDER.into(),
                    prov_type: PROV_RSA_AES,
                    machine_key_set,
                    key_spec,
                };
                if let Some(facts) = key_call(&info, "CryptGetUserKey", win::key_facts)? {
                    return Ok(Some((info, facts)));
                }
            }
        }
        Ok(None)
    }

    fn prov_info(&self, props: &CertProperties) -> Option<ProvInfo> {
        let container = props.key_container.clone()?;
        let provider = props
            .provider
            .clone()
            .unwrap_or_else(|| DEFAULT_RSA_PROVIDER.into());
        Some(ProvInfo {
            container,
            prov_type: rsa_provider_type(&provider).unwrap_or(PROV_RSA_FULL),
            provider,
            machine_key_set: props.machine_key_set,
            key_spec: props.key_spec.unwrap_or(1),
        })
    }

    fn entry(&self, store: StoreName, held: Held) -> Result<Entry, StoreError> {
        let facts = match &held.key {
            Some(info) => key_call(info, "CryptGetUserKey", win::key_facts)?,
            None => None,
        };
        let properties = CertProperties {
            friendly_name: held.friendly_name,
            key_container: held.key.as_ref().map(|k| k.container.clone()),
            provider: held.key.as_ref().map(|k| k.provider.clone()),
            key_spec: held.key.as_ref().map(|k| k.key_spec),
            exportable: facts.as_ref().is_some_and(|f| f.exportable),
            machine_key_set: held.key.as_ref().is_none_or(|k| k.machine_key_set),
        };
        entry_from(store, held.der, properties, facts.is_some()).map_err(|message| {
            StoreError::Corrupt {
                path: format!("{}\\{store}", self.location.label()).into(),
                message,
            }
        })
    }
}

/// The provider `locate` opens containers with: every Microsoft RSA CSP
/// reaches the same containers.
const DEFAULT_AES_PROVIDER: &str = "Microsoft Enhanced RSA and AES Cryptographic Provider";

/// Runs a key call; a missing container or key is `None`.
fn key_call<T>(
    info: &ProvInfo,
    call: &'static str,
    act: impl FnOnce(&ProvInfo) -> std::io::Result<Option<T>>,
) -> Result<Option<T>, SystemStoreError> {
    act(info).map_err(|source| SystemStoreError::Key {
        container: info.container.clone(),
        provider: info.provider.clone(),
        call,
        source,
    })
}

impl Backend for SystemStore {
    fn place(&self, sub: &str) -> String {
        if sub == super::KEYS {
            format!("the {} key containers", self.location.label())
        } else {
            format!("{}\\{sub}", self.location.label())
        }
    }

    fn list(&self, store: StoreName) -> Result<Vec<Entry>, StoreError> {
        self.held(store.folder())?
            .into_iter()
            .map(|h| self.entry(store, h))
            .collect()
    }

    fn put_certificate(
        &self,
        store: StoreName,
        der: &[u8],
        props: &CertProperties,
    ) -> Result<(), StoreError> {
        let key = self.prov_info(props);
        Ok(self.add(
            store.folder(),
            der,
            key.as_ref(),
            props.friendly_name.as_deref(),
        )?)
    }

    fn remove_certificate(&self, store: StoreName, entry: &Entry) -> Result<(), StoreError> {
        self.remove(store.folder(), &entry.der)?;
        Ok(())
    }

    fn put_key(&self, key: &RequestKey, placement: &KeyPlacement) -> Result<String, StoreError> {
        let unsupported = || SystemStoreError::UnsupportedProvider {
            provider: placement.provider.clone(),
            key_spec: placement.key_spec,
        };
        let prov_type = rsa_provider_type(&placement.provider)
            .filter(|_| matches!(placement.key_spec, 1 | 2))
            .ok_or_else(unsupported)?;
        let blob = capi_blob::private_blob(key.pkcs8_der(), placement.key_spec)
            .map_err(|_| unsupported())?;
        let info = ProvInfo {
            container: container_name(key.spki_der()),
            provider: placement.provider.clone(),
            prov_type,
            machine_key_set: placement.machine_key_set,
            key_spec: placement.key_spec,
        };
        key_call(&info, "CryptImportKey", |i| {
            win::import_key(i, &blob, placement.exportable).map(Some)
        })?;
        Ok(info.container)
    }

    fn find_key(&self, container: &str) -> Result<Option<FoundKey>, StoreError> {
        let Some((info, facts)) = self.locate(container)? else {
            return Ok(None);
        };
        let spki = capi_blob::spki_from_public_blob(&facts.public_blob).map_err(|e| {
            StoreError::Corrupt {
                path: self.place(super::KEYS).into(),
                message: format!("{container}: {e}"),
            }
        })?;
        Ok(Some(FoundKey {
            spki,
            provider: Some(info.provider),
            key_spec: Some(info.key_spec),
            machine_key_set: Some(info.machine_key_set),
        }))
    }

    fn key_exportable(&self, container: &str) -> Result<Option<bool>, StoreError> {
        Ok(self.locate(container)?.map(|(_, f)| f.exportable))
    }

    fn private_key(&self, container: &str) -> Result<Option<RequestKey>, StoreError> {
        let Some((info, facts)) = self.locate(container)? else {
            return Ok(None);
        };
        let blob = match win::export_private(&info) {
            Ok(blob) => blob,
            Err(e) if e.raw_os_error() == Some(NTE_BAD_KEY_STATE) || !facts.exportable => {
                return Err(StoreError::NotExportable {
                    hresult: adcs_proto::protocol::HResult::NTE_BAD_KEY_STATE,
                    subject: format!("key container {container}"),
                    thumbprint: String::new(),
                })
            }
            Err(source) => {
                return Err(SystemStoreError::Key {
                    container: container.into(),
                    provider: info.provider,
                    call: "CryptExportKey",
                    source,
                }
                .into())
            }
        };
        let bad = |e: String| StoreError::Corrupt {
            path: self.place(super::KEYS).into(),
            message: format!("{container}: {e}"),
        };
        let (pkcs8, _) =
            capi_blob::pkcs8_from_private_blob(&blob).map_err(|e| bad(e.to_string()))?;
        RequestKey::from_pkcs8(&pkcs8)
            .map(Some)
            .map_err(|e| bad(e.to_string()))
    }

    fn remove_key(&self, container: &str) -> Result<(), StoreError> {
        if let Some((info, _)) = self.locate(container)? {
            key_call(&info, "CryptAcquireContext(DELETEKEYSET)", |i| {
                win::delete_key(i).map(Some)
            })?;
        }
        Ok(())
    }

    fn pending(&self) -> Result<Vec<PendingRequest>, StoreError> {
        let mut out = Vec::new();
        for held in self.held(REQUEST)? {
            let Some(info) = held.key.clone() else {
                continue;
            };
            let exportable =
                key_call(&info, "CryptGetUserKey", win::key_facts)?.is_some_and(|f| f.exportable);
            let entry = self.entry(StoreName::My, held)?;
            out.push(PendingRequest {
                key_container: info.container,
                subject: entry.subject,
                template: None,
                key_algorithm: rsa_description(&entry.der),
                provider: info.provider,
                key_spec: info.key_spec,
                exportable,
                machine_key_set: info.machine_key_set,
                friendly_name: entry.properties.friendly_name,
                request: String::new(),
            });
        }
        Ok(out)
    }

    fn put_pending(&self, pending: &PendingRequest, new: &NewRequest) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let stand_in = crate::request::placeholder_certificate(&new.der, &new.key, now)
            .map_err(|e| StoreError::Input(e.to_string()))?;
        let props = CertProperties {
            friendly_name: pending.friendly_name.clone(),
            key_container: Some(pending.key_container.clone()),
            provider: Some(pending.provider.clone()),
            key_spec: Some(pending.key_spec),
            exportable: pending.exportable,
            machine_key_set: pending.machine_key_set,
        };
        let key = self.prov_info(&props);
        Ok(self.add(
            REQUEST,
            &stand_in,
            key.as_ref(),
            props.friendly_name.as_deref(),
        )?)
    }

    fn remove_pending(&self, container: &str) -> Result<(), StoreError> {
        for held in self.held(REQUEST)? {
            if held.key.as_ref().is_some_and(|k| k.container == container) {
                self.remove(REQUEST, &held.der)?;
            }
        }
        Ok(())
    }
}

/// NTE_BAD_KEY_STATE as the OS error code `std::io::Error` carries.
const NTE_BAD_KEY_STATE: i32 = adcs_proto::protocol::HResult::NTE_BAD_KEY_STATE.0 as i32;

/// "RSA 2048-bit key" for a certificate's RSA public key.
fn rsa_description(der: &[u8]) -> String {
    super::cert_info(der)
        .ok()
        .and_then(|i| crate::keys::rsa_bits(&i.spki))
        .map_or_else(|| "RSA key".into(), |bits| format!("RSA {bits}-bit key"))
}

/// Elsewhere there is no system store; `SystemStore::open` refuses first,
/// so none of these is reached.
#[cfg(not(windows))]
mod win {
    use std::io;

    use super::{Held, KeyFacts, Location, ProvInfo};

    pub enum Store {}

    impl Store {
        pub fn open(_: Location, _: &str) -> io::Result<Store> {
            Err(io::Error::new(io::ErrorKind::Unsupported, "Windows only"))
        }
    }

    fn unsupported<T>() -> io::Result<T> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "Windows only"))
    }

    pub fn held(store: &Store) -> Vec<Held> {
        match *store {}
    }

    pub fn add(store: &Store, _: &[u8], _: Option<&ProvInfo>, _: Option<&str>) -> io::Result<()> {
        match *store {}
    }

    pub fn delete(store: &Store, _: &[u8]) -> io::Result<bool> {
        match *store {}
    }

    pub fn import_key(_: &ProvInfo, _: &[u8], _: bool) -> io::Result<()> {
        unsupported()
    }

    pub fn key_facts(_: &ProvInfo) -> io::Result<Option<KeyFacts>> {
        unsupported()
    }

    pub fn export_private(_: &ProvInfo) -> io::Result<Vec<u8>> {
        unsupported()
    }

    pub fn delete_key(_: &ProvInfo) -> io::Result<()> {
        unsupported()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(windows))]
    #[test]
    fn elsewhere_the_system_store_is_a_clear_error() {
        let e = SystemStore::open(Location::LocalMachine).unwrap_err();
        assert!(matches!(e, SystemStoreError::NotWindows));
        assert!(e.to_string().contains("need Windows"), "{e}");
    }

    #[test]
    fn microsoft_rsa_providers_have_their_types_and_others_none() {
        for (name, want) in [
            (crate::request::SCHANNEL_PROVIDER, Some(PROV_RSA_SCHANNEL)),
            (DEFAULT_AES_PROVIDER, Some(PROV_RSA_AES)),
            (DEFAULT_RSA_PROVIDER, Some(PROV_RSA_FULL)),
            (
                "Microsoft Strong Cryptographic Provider",
                Some(PROV_RSA_FULL),
            ),
            (
                "Microsoft Base Cryptographic Provider v1.0",
                Some(PROV_RSA_FULL),
            ),
            (crate::request::KSP_PROVIDER, None),
            (crate::request::DSS_PROVIDER, None),
            (
                "Microsoft Enhanced DSS and Diffie-Hellman Cryptographic Provider",
                None,
            ),
            ("Contoso HSM Provider", None),
        ] {
            assert_eq!(rsa_provider_type(name), want, "{name}");
        }
    }
}
