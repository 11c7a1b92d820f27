//! The machine certificate store, laid out like Windows' LocalMachine
//! stores: `My` (personal, with keys), `Root`, `CA` and `REQUEST` (requests
//! waiting for their certificate), and the private keys. It lives either in
//! a folder (`folder`, on every system) or in Windows itself (`system`:
//! CryptoAPI system stores, keys in the CSP the INF names); [`Store`] does
//! what certreq and certutil do the same way on both.
//!
//! As on Windows, whether a key may leave the store (its export policy) is
//! the key's own: in the folder store `Keys/<container>.json`
//! ([`KeyProperties`]) beside `Keys/<container>.p8`, in Windows the key's
//! CRYPT_EXPORT permission. A folder key stored before that file existed
//! takes the `exportable` its certificate's properties (or waiting request)
//! recorded when it was made; see [`Store::key_exportable`].
//!
//! Every operation checks everything before it writes anything, so a failed
//! step leaves the store as it was; folder files are written to a temporary
//! name and renamed, keys owner-only where the OS has that.
//!
//! `certs` reads certificates, `pfx` opens, installs and exports PFX files,
//! `capi_blob` converts keys to and from CryptoAPI's blobs.

mod backend;
pub mod capi_blob;
mod certs;
mod folder;
mod pfx;
pub mod system;

use std::fmt;
use std::path::{Path, PathBuf};

use backend::{Backend, KeyPlacement};

use serde::{Deserialize, Serialize};

use adcs_proto::protocol::HResult;

use crate::inf::RequestSpec;
use crate::keys::RequestKey;
use crate::request::{template_attribute, NewRequest};

/// One of the store's certificate folders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreName {
    My,
    Root,
    #[serde(rename = "CA")]
    Ca,
}

impl StoreName {
    pub const ALL: [StoreName; 3] = [StoreName::My, StoreName::Root, StoreName::Ca];

    /// The folder name (`My`, `Root`, `CA`).
    pub fn folder(self) -> &'static str {
        match self {
            StoreName::My => "My",
            StoreName::Root => "Root",
            StoreName::Ca => "CA",
        }
    }
}

impl fmt::Display for StoreName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.folder())
    }
}

impl std::str::FromStr for StoreName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        StoreName::ALL
            .into_iter()
            .find(|n| n.folder().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown store `{s}` (My, Root or CA)"))
    }
}

pub(crate) const REQUEST: &str = "REQUEST";
pub(crate) const KEYS: &str = "Keys";

/// Why a store operation failed. Windows' code and text are given where a
/// Windows tool reports the same situation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("{0}")]
    Input(String),
    #[error("Cannot find object or property. 0x80092004 (-2146885628 CRYPT_E_NOT_FOUND): {0}")]
    NotFound(String),
    #[error("{0}")]
    Ambiguous(String),
    #[error("The specified network password is not correct. 0x80070056 (WIN32: 86 ERROR_INVALID_PASSWORD): the PFX could not be opened with this password")]
    WrongPassword,
    #[error("PFX: {0}")]
    Pfx(String),
    #[error(transparent)]
    System(#[from] system::SystemStoreError),
    /// The key was not created exportable, so it does not leave the store
    /// (certutil -exportPFX fails the same way on Windows); nothing is
    /// written. `hresult` is [`HResult::NTE_BAD_KEY_STATE`].
    #[error("{}: the private key of `{subject}` (thumbprint {thumbprint}) is not exportable; only a key created with `Exportable = TRUE` in the INF (or `--exportable`), or imported from a PFX without `--no-export`, can be exported", hresult.status_text())]
    NotExportable {
        hresult: HResult,
        subject: String,
        thumbprint: String,
    },
}

impl StoreError {
    /// The Windows HRESULT for this failure, when there is one.
    pub fn hresult(&self) -> Option<u32> {
        match self {
            StoreError::NotFound(_) => Some(0x8009_2004),
            StoreError::WrongPassword => Some(0x8007_0056),
            StoreError::NotExportable { hresult, .. } => Some(hresult.0),
            _ => None,
        }
    }
}

/// Properties kept beside a certificate (Windows keeps them in the store).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// Key container of the linked private key (CERT_KEY_PROV_INFO_PROP_ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<u32>,
    /// Whether the linked key may be exported. In an [`Entry`] this is the
    /// key's own policy ([`Store::key_exportable`]); the certificate's
    /// properties file keeps the copy made when the key was created, which
    /// is what a key stored without [`KeyProperties`] goes by. Missing from
    /// a properties file: not exportable (Windows' default).
    #[serde(default)]
    pub exportable: bool,
    /// Whether the key belongs to the machine (MachineKeySet = TRUE) rather
    /// than to the user who made the request.
    #[serde(default = "yes")]
    pub machine_key_set: bool,
}

impl Default for CertProperties {
    fn default() -> Self {
        CertProperties {
            friendly_name: None,
            key_container: None,
            provider: None,
            key_spec: None,
            exportable: false,
            machine_key_set: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// What the store keeps beside a private key (`Keys/<container>.json`):
/// Windows keeps a key's export policy with the key, so it holds whichever
/// certificate is linked to it (after `store repair`, a renewal with the
/// same key, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyProperties {
    /// The key may leave the store as a PFX (CRYPT_EXPORTABLE /
    /// NCRYPT_ALLOW_EXPORT_FLAG): `Exportable = TRUE` or
    /// `ExportableEncrypted = TRUE` in the INF, `--exportable`, or a PFX
    /// imported without `NoExport`.
    pub exportable: bool,
}

/// A request waiting in `REQUEST` for its certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    pub key_container: String,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    pub key_algorithm: String,
    pub provider: String,
    pub key_spec: u32,
    pub exportable: bool,
    #[serde(default = "yes")]
    pub machine_key_set: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// The PKCS#10, base64.
    pub request: String,
}

/// A certificate in the store, as `store list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub store: StoreName,
    /// SHA-1 of the certificate, upper-case hex (Windows' "Cert Hash(sha1)").
    pub thumbprint: String,
    /// Serial number, upper-case hex, as certutil prints it.
    pub serial: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    #[serde(flatten)]
    pub properties: CertProperties,
    /// Whether the linked key is present in `Keys`.
    pub has_private_key: bool,
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// What `accept` installed.
#[derive(Debug)]
pub struct Accepted {
    pub entry: Entry,
    /// Issuer certificates added to `CA`.
    pub intermediates: Vec<String>,
    /// Set when the chain ends in a root that is not in `Root`.
    pub untrusted_root: Option<String>,
}

/// A PFX format (AES-256 by default, or the legacy 3DES/SHA-1 one).
pub use adcs_proto::encoding::PfxFormat;

use certs::cert_info;
pub use certs::{
    container_name, hex_upper, is_self_signed, read_certificates, thumbprint, NotCertificates,
};
pub use pfx::{read_pfx, Pfx};

/// The store's entry for a certificate and its properties.
fn entry_from(
    store: StoreName,
    der: Vec<u8>,
    properties: CertProperties,
    has_private_key: bool,
) -> Result<Entry, String> {
    let info = cert_info(&der)?;
    Ok(Entry {
        store,
        thumbprint: thumbprint(&der),
        serial: info.serial,
        subject: info.subject,
        issuer: info.issuer,
        not_before: info.not_before,
        not_after: info.not_after,
        properties,
        has_private_key,
        der,
    })
}

/// A certificate store: a folder, or Windows' own.
#[derive(Clone, Debug)]
pub struct Store {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Folder(folder::Folder),
    System(system::SystemStore),
}

impl Store {
    /// Opens (creating when needed) the folder store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            kind: Kind::Folder(folder::Folder::open(root)?),
        })
    }

    /// The Windows certificate store of `location` (an error elsewhere).
    pub fn open_system(location: system::Location) -> Result<Store, StoreError> {
        Ok(Store {
            kind: Kind::System(system::SystemStore::open(location)?),
        })
    }

    /// The store's folder; `None` for the Windows store.
    pub fn folder(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Folder(f) => Some(f.root()),
            Kind::System(_) => None,
        }
    }

    /// Where `sub` (`My`, `REQUEST`, `Keys`…) is, for messages: a folder, or
    /// `LocalMachine\My`.
    pub fn place(&self, sub: &str) -> String {
        self.backend().place(sub)
    }

    fn backend(&self) -> &dyn Backend {
        match &self.kind {
            Kind::Folder(f) => f,
            Kind::System(s) => s,
        }
    }

    /// The export policy kept with the key in `container`, or `None` when
    /// the store holds none: a folder key stored before the store kept it,
    /// which goes by the `exportable` its certificate (or waiting request)
    /// recorded when it was made.
    pub fn key_exportable(&self, container: &str) -> Result<Option<bool>, StoreError> {
        self.backend().key_exportable(container)
    }

    /// The private key in `container`, if present (a Windows provider
    /// gives out an exportable key only).
    pub fn load_key(&self, container: &str) -> Result<Option<RequestKey>, StoreError> {
        self.backend().private_key(container)
    }

    /// The public key (SPKI DER) of the key in `container`, if present.
    pub fn key_public(&self, container: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.backend().find_key(container)?.map(|k| k.spki))
    }

    /// Keeps the key of a new request and the request in `REQUEST` until
    /// its certificate is accepted (what certreq -new does).
    pub fn add_pending(
        &self,
        new: &NewRequest,
        spec: &RequestSpec,
    ) -> Result<PendingRequest, StoreError> {
        use base64::Engine;
        let placement = placement(spec);
        let pending = PendingRequest {
            key_container: container_name(new.key.spki_der()),
            subject: spec.subject.clone(),
            template: template_attribute(spec).map(str::to_string),
            key_algorithm: crate::keys::describe(new.key.choice()),
            provider: placement.provider.clone(),
            key_spec: placement.key_spec,
            exportable: spec.exportable,
            machine_key_set: spec.machine_key_set,
            friendly_name: spec.friendly_name.clone(),
            request: base64::engine::general_purpose::STANDARD.encode(&new.der),
        };
        self.backend().put_key(&new.key, &placement)?;
        if let Err(e) = self.backend().put_pending(&pending, new) {
            let _ = self.backend().remove_key(&pending.key_container);
            return Err(e);
        }
        Ok(pending)
    }

    /// Requests waiting in `REQUEST`.
    pub fn pending(&self) -> Result<Vec<PendingRequest>, StoreError> {
        self.backend().pending()
    }

    /// Drops a waiting request and its key (the request was never sent, or
    /// the CA refused it). A key that a `My` certificate links to stays.
    pub fn forget_pending(&self, container: &str) -> Result<(), StoreError> {
        let in_use = self
            .list(StoreName::My)?
            .iter()
            .any(|e| e.properties.key_container.as_deref() == Some(container));
        self.backend().remove_pending(container)?;
        if !in_use {
            self.backend().remove_key(container)?;
        }
        Ok(())
    }

    /// Installs a self-signed certificate made by `RequestType = Cert` in `My`
    /// with its key (certreq -new installs it at once).
    pub fn install_self_signed(
        &self,
        new: &NewRequest,
        spec: &RequestSpec,
    ) -> Result<Entry, StoreError> {
        let placement = placement(spec);
        let props = CertProperties {
            friendly_name: spec.friendly_name.clone(),
            key_container: Some(container_name(new.key.spki_der())),
            provider: Some(placement.provider.clone()),
            key_spec: Some(placement.key_spec),
            exportable: spec.exportable,
            machine_key_set: spec.machine_key_set,
        };
        self.backend().put_key(&new.key, &placement)?;
        self.write_cert(StoreName::My, &new.der, &props)
    }

    fn write_cert(
        &self,
        store: StoreName,
        der: &[u8],
        props: &CertProperties,
    ) -> Result<Entry, StoreError> {
        self.backend().put_certificate(store, der, props)?;
        self.entry(store, &thumbprint(der))
    }

    fn entry(&self, store: StoreName, thumb: &str) -> Result<Entry, StoreError> {
        self.list(store)?
            .into_iter()
            .find(|e| e.thumbprint == thumb)
            .ok_or_else(|| {
                StoreError::NotFound(format!("{thumb} is not in {}", self.place(store.folder())))
            })
    }

    /// certreq -accept: finds the waiting key whose public key is the
    /// certificate's, installs the certificate with it in `My`, issuer
    /// certificates of a chain in `CA`, and drops the request. Without a
    /// matching key nothing is written.
    pub fn accept(&self, bytes: &[u8]) -> Result<Accepted, StoreError> {
        let certs = read_certificates(bytes).map_err(|e| StoreError::Input(e.to_string()))?;
        let pending = self.pending()?;
        let mut found = None;
        for der in &certs {
            let info = cert_info(der).map_err(StoreError::Input)?;
            let container = container_name(&info.spki);
            if let Some(p) = pending.iter().find(|p| p.key_container == container) {
                found = Some((der.clone(), info, p.clone()));
                break;
            }
        }
        let Some((leaf, info, request)) = found else {
            let first = cert_info(&certs[0]).map_err(StoreError::Input)?;
            return Err(StoreError::NotFound(format!(
                "no request waiting in {} holds the private key of `{}` (serial {}); was the request made with this store?",
                self.place(REQUEST),
                first.subject,
                first.serial
            )));
        };
        let key = self
            .backend()
            .find_key(&request.key_container)?
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "the key container {} of the waiting request is missing from {}",
                    request.key_container,
                    self.place(KEYS)
                ))
            })?;
        if key.spki != info.spki {
            return Err(StoreError::Input(format!(
                "the key in container {} does not match `{}`",
                request.key_container, info.subject
            )));
        }
        let props = CertProperties {
            friendly_name: request.friendly_name.clone(),
            key_container: Some(request.key_container.clone()),
            provider: Some(request.provider.clone()),
            key_spec: Some(request.key_spec),
            exportable: request.exportable,
            machine_key_set: request.machine_key_set,
        };
        let entry = self.write_cert(StoreName::My, &leaf, &props)?;
        let mut intermediates = Vec::new();
        for der in certs.iter().filter(|d| **d != leaf) {
            let ci = cert_info(der).map_err(StoreError::Input)?;
            if ci.subject_der != ci.issuer_der {
                self.write_cert(StoreName::Ca, der, &CertProperties::default())?;
                intermediates.push(ci.subject);
            }
        }
        let untrusted_root = self.untrusted_root(&leaf)?;
        self.backend().remove_pending(&request.key_container)?;
        Ok(Accepted {
            entry,
            intermediates,
            untrusted_root,
        })
    }

    /// The root `leaf` chains to when `Root` does not hold it (the
    /// CERT_E_UNTRUSTEDROOT case), else `None`.
    pub fn untrusted_root(&self, leaf: &[u8]) -> Result<Option<String>, StoreError> {
        let chain = self.chain(leaf)?;
        let top = chain.last().expect("chain starts with the leaf");
        let info = cert_info(top).map_err(StoreError::Input)?;
        if info.subject_der != info.issuer_der {
            return Ok(Some(info.issuer));
        }
        let thumb = thumbprint(top);
        let trusted = self
            .list(StoreName::Root)?
            .iter()
            .any(|e| e.thumbprint == thumb);
        Ok((!trusted).then_some(info.subject))
    }

    /// Adds a certificate (no key) to `store`. As on Windows, a certificate
    /// added to `My` is not linked to a key even when the store holds it
    /// (that is what `repair` does); one already present keeps its properties.
    pub fn import_certificate(&self, store: StoreName, der: &[u8]) -> Result<Entry, StoreError> {
        cert_info(der).map_err(StoreError::Input)?;
        let thumb = thumbprint(der);
        let props = match self
            .list(store)?
            .into_iter()
            .find(|e| e.thumbprint == thumb)
        {
            Some(existing) => return Ok(existing),
            None => CertProperties::default(),
        };
        self.write_cert(store, der, &props)
    }

    /// The certificates in `store`, by thumbprint.
    pub fn list(&self, store: StoreName) -> Result<Vec<Entry>, StoreError> {
        self.backend().list(store)
    }

    /// The one certificate in `store` that `selector` names: a thumbprint, a
    /// serial number (hex, spaces allowed) or text in the subject (as
    /// certutil's CertId).
    pub fn find(&self, store: StoreName, selector: &str) -> Result<Entry, StoreError> {
        let want = selector.replace([' ', ':'], "").to_ascii_uppercase();
        let all = self.list(store)?;
        let exact: Vec<&Entry> = all
            .iter()
            .filter(|e| e.thumbprint == want || e.serial == want)
            .collect();
        let matches: Vec<&Entry> = if exact.is_empty() {
            all.iter()
                .filter(|e| {
                    e.subject
                        .to_ascii_lowercase()
                        .contains(&selector.to_ascii_lowercase())
                })
                .collect()
        } else {
            exact
        };
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(StoreError::NotFound(format!(
                "no certificate in {store} matches `{selector}`"
            ))),
            many => Err(StoreError::Ambiguous(format!(
                "`{selector}` matches {} certificates in {store}: {}; give a thumbprint",
                many.len(),
                many.iter()
                    .map(|e| format!("{} ({})", e.thumbprint, e.subject))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// certutil -repairstore: links a `My` certificate to the key whose
    /// public key matches it (the key in the container named after it).
    pub fn repair(&self, selector: &str) -> Result<Entry, StoreError> {
        let entry = self.find(StoreName::My, selector)?;
        let info = cert_info(&entry.der).map_err(StoreError::Input)?;
        let container = container_name(&info.spki);
        let key = self
            .backend()
            .find_key(&container)?
            .filter(|k| k.spki == info.spki)
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "no private key in {} matches `{}` (thumbprint {})",
                    self.place(KEYS),
                    entry.subject,
                    entry.thumbprint
                ))
            })?;
        let mut props = entry.properties.clone();
        // The key's own export policy, when the store keeps one; else the
        // certificate's record stands.
        if let Some(exportable) = self.key_exportable(&container)? {
            props.exportable = exportable;
        }
        if props.provider.is_none() {
            props.provider = key.provider;
        }
        if props.key_spec.is_none() {
            props.key_spec = key.key_spec;
        }
        if let Some(machine) = key.machine_key_set {
            props.machine_key_set = machine;
        }
        props.key_container = Some(container);
        self.write_cert(StoreName::My, &entry.der, &props)
    }

    /// The issuer chain of `leaf` from `CA` and `Root` (leaf first), as far as
    /// the store holds it; each link's signature is checked.
    pub fn chain(&self, leaf: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        self.chain_with(leaf, &[])
    }

    /// [`Store::chain`] with `extra` issuers besides the store's (those of a
    /// PFX not imported yet).
    pub fn chain_with(&self, leaf: &[u8], extra: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut pool = extra.to_vec();
        for s in [StoreName::Ca, StoreName::Root] {
            for e in self.list(s)? {
                pool.push(e.der);
            }
        }
        let mut chain = vec![leaf.to_vec()];
        loop {
            let last = chain.last().expect("non-empty");
            let info = cert_info(last).map_err(StoreError::Input)?;
            if info.subject_der == info.issuer_der || chain.len() > 8 {
                break;
            }
            let next = pool.iter().find(|c| {
                cert_info(c).is_ok_and(|ci| {
                    ci.subject_der == info.issuer_der
                        && adcs_proto::x509::verify_signed(last, &ci.spki)
                })
            });
            match next {
                Some(n) if !chain.contains(n) => chain.push(n.clone()),
                _ => break,
            }
        }
        Ok(chain)
    }

    /// Removes a certificate from `store` (its key stays, as in Windows).
    pub fn delete(&self, store: StoreName, selector: &str) -> Result<Entry, StoreError> {
        let entry = self.find(store, selector)?;
        self.backend().remove_certificate(store, &entry)?;
        Ok(entry)
    }
}

/// Where the key of a request made from `spec` goes.
fn placement(spec: &RequestSpec) -> KeyPlacement {
    let (key_spec, provider) = crate::request::provider(spec);
    KeyPlacement {
        provider,
        key_spec,
        exportable: spec.exportable,
        machine_key_set: spec.machine_key_set,
    }
}
