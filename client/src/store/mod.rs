//! A file-based machine certificate store, laid out like Windows'
//! LocalMachine stores: `My` (personal, with keys), `Root`, `CA` and
//! `REQUEST` (requests waiting for their certificate), plus `Keys` for the
//! private keys.
//!
//! As on Windows, whether a key may leave the store (its export policy) is
//! the key's own: `Keys/<container>.json` ([`KeyProperties`]) beside
//! `Keys/<container>.p8`. A key stored before that file existed takes the
//! `exportable` its certificate's properties (or waiting request) recorded
//! when it was made, which every version of the store has written; see
//! [`Store::key_exportable`].
//!
//! Every file is written to a temporary name and renamed, keys with
//! owner-only permissions where the OS has them, and every operation checks
//! everything before it writes anything, so a failed step leaves the store as
//! it was.
//!
//! `certs` reads certificates, `pfx` opens, installs and exports PFX files.

mod certs;
mod pfx;
pub mod system;

use std::fmt;
use std::path::{Path, PathBuf};

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

const REQUEST: &str = "REQUEST";
const KEYS: &str = "Keys";

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

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
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

/// Writes `bytes` to `path` atomically (`adcs_proto::atomic_file`); the
/// file is owner-only on Unix, which keys need.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    adcs_proto::atomic_file::write_atomic(path, bytes).map_err(|e| StoreError::Io {
        path: e.path,
        source: e.source,
    })
}

/// A certificate store rooted at a folder.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating when needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for sub in [
            StoreName::My.folder(),
            StoreName::Root.folder(),
            StoreName::Ca.folder(),
            REQUEST,
            KEYS,
        ] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// The store's folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    fn key_path(&self, container: &str) -> PathBuf {
        self.root.join(KEYS).join(format!("{container}.p8"))
    }

    fn key_props_path(&self, container: &str) -> PathBuf {
        self.root.join(KEYS).join(format!("{container}.json"))
    }

    fn cert_path(&self, store: StoreName, thumb: &str) -> PathBuf {
        self.root.join(store.folder()).join(format!("{thumb}.cer"))
    }

    fn props_path(&self, store: StoreName, thumb: &str) -> PathBuf {
        self.root.join(store.folder()).join(format!("{thumb}.json"))
    }

    fn pending_path(&self, container: &str) -> PathBuf {
        self.root.join(REQUEST).join(format!("{container}.json"))
    }

    /// Writes `key` and its export policy into `Keys` (a key stored again,
    /// say from a PFX, takes the new policy).
    fn write_key(&self, key: &RequestKey, exportable: bool) -> Result<String, StoreError> {
        let container = container_name(key.spki_der());
        let props = serde_json::to_vec_pretty(&KeyProperties { exportable }).expect("serialisable");
        write_atomic(&self.key_path(&container), key.pkcs8_der())?;
        write_atomic(&self.key_props_path(&container), &props)?;
        Ok(container)
    }

    /// The export policy kept with the key in `container`, or `None` when
    /// the store holds none: a key stored before the store kept it, which
    /// goes by the `exportable` its certificate (or waiting request)
    /// recorded when it was made.
    pub fn key_exportable(&self, container: &str) -> Result<Option<bool>, StoreError> {
        let path = self.key_props_path(container);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice::<KeyProperties>(&b)
                .map(|p| Some(p.exportable))
                .map_err(|e| StoreError::Corrupt {
                    path,
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// The private key in `container`, if present.
    pub fn load_key(&self, container: &str) -> Result<Option<RequestKey>, StoreError> {
        let path = self.key_path(container);
        match std::fs::read(&path) {
            Ok(bytes) => {
                RequestKey::from_pkcs8(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        path,
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Keeps the key of a new request in `Keys` and the request in `REQUEST`
    /// until its certificate is accepted (what certreq -new does).
    pub fn add_pending(
        &self,
        new: &NewRequest,
        spec: &RequestSpec,
    ) -> Result<PendingRequest, StoreError> {
        use base64::Engine;
        let (key_spec, provider) = crate::request::provider(spec);
        let pending = PendingRequest {
            key_container: container_name(new.key.spki_der()),
            subject: spec.subject.clone(),
            template: template_attribute(spec).map(str::to_string),
            key_algorithm: crate::keys::describe(new.key.choice()),
            provider,
            key_spec,
            exportable: spec.exportable,
            machine_key_set: spec.machine_key_set,
            friendly_name: spec.friendly_name.clone(),
            request: base64::engine::general_purpose::STANDARD.encode(&new.der),
        };
        let json = serde_json::to_vec_pretty(&pending).expect("serialisable");
        self.write_key(&new.key, spec.exportable)?;
        write_atomic(&self.pending_path(&pending.key_container), &json)?;
        Ok(pending)
    }

    /// Requests waiting in `REQUEST`.
    pub fn pending(&self) -> Result<Vec<PendingRequest>, StoreError> {
        let dir = self.root.join(REQUEST);
        let mut out = Vec::new();
        for path in sorted_files(&dir, "json")? {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            out.push(
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                    path: path.clone(),
                    message: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    /// Drops a waiting request and its key (the request was never sent, or
    /// the CA refused it).
    /// A key that a `My` certificate links to stays.
    pub fn forget_pending(&self, container: &str) -> Result<(), StoreError> {
        let in_use = self
            .list(StoreName::My)?
            .iter()
            .any(|e| e.properties.key_container.as_deref() == Some(container));
        let mut paths = vec![self.pending_path(container)];
        if !in_use {
            paths.push(self.key_path(container));
            paths.push(self.key_props_path(container));
        }
        for p in paths {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&p)(e)),
            }
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
        let (key_spec, provider) = crate::request::provider(spec);
        let props = CertProperties {
            friendly_name: spec.friendly_name.clone(),
            key_container: Some(container_name(new.key.spki_der())),
            provider: Some(provider),
            key_spec: Some(key_spec),
            exportable: spec.exportable,
            machine_key_set: spec.machine_key_set,
        };
        self.write_key(&new.key, spec.exportable)?;
        self.write_cert(StoreName::My, &new.der, &props)
    }

    fn write_cert(
        &self,
        store: StoreName,
        der: &[u8],
        props: &CertProperties,
    ) -> Result<Entry, StoreError> {
        let thumb = thumbprint(der);
        let json = serde_json::to_vec_pretty(props).expect("serialisable");
        write_atomic(&self.props_path(store, &thumb), &json)?;
        write_atomic(&self.cert_path(store, &thumb), der)?;
        self.entry(store, &thumb)
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
                self.root.join(REQUEST).display(),
                first.subject,
                first.serial
            )));
        };
        let key = self.load_key(&request.key_container)?.ok_or_else(|| {
            StoreError::NotFound(format!(
                "the key container {} of the waiting request is missing from {}",
                request.key_container,
                self.root.join(KEYS).display()
            ))
        })?;
        if key.spki_der() != info.spki.as_slice() {
            return Err(StoreError::Corrupt {
                path: self.key_path(&request.key_container),
                message: "the stored key does not match its container name".into(),
            });
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
        let path = self.pending_path(&request.key_container);
        std::fs::remove_file(&path).map_err(io(&path))?;
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
        let trusted = self.cert_path(StoreName::Root, &thumbprint(top)).exists();
        Ok((!trusted).then_some(info.subject))
    }

    /// Adds a certificate (no key) to `store`. As on Windows, a certificate
    /// added to `My` is not linked to a key even when the store holds it
    /// (that is what `repair` does); one already present keeps its properties.
    pub fn import_certificate(&self, store: StoreName, der: &[u8]) -> Result<Entry, StoreError> {
        cert_info(der).map_err(StoreError::Input)?;
        let thumb = thumbprint(der);
        let props = self.properties(store, &thumb)?.unwrap_or_default();
        self.write_cert(store, der, &props)
    }

    fn properties(
        &self,
        store: StoreName,
        thumb: &str,
    ) -> Result<Option<CertProperties>, StoreError> {
        let path = self.props_path(store, thumb);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    path,
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn entry(&self, store: StoreName, thumb: &str) -> Result<Entry, StoreError> {
        let path = self.cert_path(store, thumb);
        let der = std::fs::read(&path).map_err(io(&path))?;
        let info = cert_info(&der).map_err(|message| StoreError::Corrupt {
            path: path.clone(),
            message,
        })?;
        let mut properties = self.properties(store, thumb)?.unwrap_or_default();
        if let Some(c) = &properties.key_container {
            if let Some(exportable) = self.key_exportable(c)? {
                properties.exportable = exportable;
            }
        }
        let has_private_key = properties
            .key_container
            .as_deref()
            .is_some_and(|c| self.key_path(c).exists());
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

    /// The certificates in `store`, by thumbprint.
    pub fn list(&self, store: StoreName) -> Result<Vec<Entry>, StoreError> {
        let dir = self.root.join(store.folder());
        sorted_files(&dir, "cer")?
            .iter()
            .map(|p| {
                let thumb = p.file_stem().unwrap_or_default().to_string_lossy();
                self.entry(store, &thumb)
            })
            .collect()
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

    /// certutil -repairstore: links a `My` certificate to the key in `Keys`
    /// whose public key matches it.
    pub fn repair(&self, selector: &str) -> Result<Entry, StoreError> {
        let entry = self.find(StoreName::My, selector)?;
        let info = cert_info(&entry.der).map_err(StoreError::Input)?;
        let container = container_name(&info.spki);
        let key = self.load_key(&container)?.ok_or_else(|| {
            StoreError::NotFound(format!(
                "no private key in {} matches `{}` (thumbprint {})",
                self.root.join(KEYS).display(),
                entry.subject,
                entry.thumbprint
            ))
        })?;
        if key.spki_der() != info.spki.as_slice() {
            return Err(StoreError::Corrupt {
                path: self.key_path(&container),
                message: "the stored key does not match its container name".into(),
            });
        }
        let mut props = entry.properties.clone();
        // The key's own export policy, when the store keeps one; else the
        // certificate's record stands.
        if let Some(exportable) = self.key_exportable(&container)? {
            props.exportable = exportable;
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
        for p in [
            self.cert_path(store, &entry.thumbprint),
            self.props_path(store, &entry.thumbprint),
        ] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&p)(e)),
            }
        }
        Ok(entry)
    }
}

/// Files with `ext` in `dir`, sorted by name (temporary files skipped).
fn sorted_files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, StoreError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let p = e.map_err(io(dir))?.path();
        if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}
