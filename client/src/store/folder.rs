//! The folder store's files: `My`, `Root`, `CA` (`<thumbprint>.cer` with
//! `<thumbprint>.json` properties), `REQUEST` (`<container>.json`) and
//! `Keys` (`<container>.p8` with `<container>.json`, the key's export
//! policy). Every file is written to a temporary name and renamed, keys
//! owner-only where the OS has that.

use std::path::{Path, PathBuf};

use super::backend::{Backend, FoundKey, KeyPlacement};
use super::{
    container_name, entry_from, thumbprint, CertProperties, Entry, KeyProperties, PendingRequest,
    StoreError, StoreName, KEYS, REQUEST,
};
use crate::keys::RequestKey;
use crate::request::NewRequest;

/// A store rooted at a folder.
#[derive(Clone, Debug)]
pub(super) struct Folder {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically (`adcs_proto::atomic_file`); the
/// file is owner-only on Unix, which keys need.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    adcs_proto::atomic_file::write_atomic(path, bytes).map_err(|e| StoreError::Io {
        path: e.path,
        source: e.source,
    })
}

/// Removes `path`; one already gone is fine.
fn remove(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
    }
}

/// Reads the JSON at `path`, `None` when there is no file.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

impl Folder {
    /// Opens (creating when needed) the store at `root`.
    pub(super) fn open(root: &Path) -> Result<Folder, StoreError> {
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
        Ok(Folder {
            root: root.to_path_buf(),
        })
    }

    pub(super) fn root(&self) -> &Path {
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

    /// The key in `container`, if present.
    fn load_key(&self, container: &str) -> Result<Option<RequestKey>, StoreError> {
        let path = self.key_path(container);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key = RequestKey::from_pkcs8(&bytes).map_err(|e| StoreError::Corrupt {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                if container_name(key.spki_der()) != container {
                    return Err(StoreError::Corrupt {
                        path,
                        message: "the stored key does not match its container name".into(),
                    });
                }
                Ok(Some(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn entry(&self, store: StoreName, thumb: &str) -> Result<Entry, StoreError> {
        let path = self.cert_path(store, thumb);
        let der = std::fs::read(&path).map_err(io(&path))?;
        let mut properties: CertProperties =
            read_json(&self.props_path(store, thumb))?.unwrap_or_default();
        if let Some(c) = &properties.key_container {
            if let Some(exportable) = self.key_exportable(c)? {
                properties.exportable = exportable;
            }
        }
        let has_private_key = properties
            .key_container
            .as_deref()
            .is_some_and(|c| self.key_path(c).exists());
        entry_from(store, der, properties, has_private_key)
            .map_err(|message| StoreError::Corrupt { path, message })
    }
}

impl Backend for Folder {
    fn place(&self, sub: &str) -> String {
        self.root.join(sub).display().to_string()
    }

    fn list(&self, store: StoreName) -> Result<Vec<Entry>, StoreError> {
        let dir = self.root.join(store.folder());
        sorted_files(&dir, "cer")?
            .iter()
            .map(|p| {
                let thumb = p.file_stem().unwrap_or_default().to_string_lossy();
                self.entry(store, &thumb)
            })
            .collect()
    }

    fn put_certificate(
        &self,
        store: StoreName,
        der: &[u8],
        props: &CertProperties,
    ) -> Result<(), StoreError> {
        let thumb = thumbprint(der);
        let json = serde_json::to_vec_pretty(props).expect("serialisable");
        write_atomic(&self.props_path(store, &thumb), &json)?;
        write_atomic(&self.cert_path(store, &thumb), der)
    }

    fn remove_certificate(&self, store: StoreName, entry: &Entry) -> Result<(), StoreError> {
        remove(&self.cert_path(store, &entry.thumbprint))?;
        remove(&self.props_path(store, &entry.thumbprint))
    }

    /// A key stored again (say from a PFX) takes the new export policy.
    fn put_key(&self, key: &RequestKey, placement: &KeyPlacement) -> Result<String, StoreError> {
        let container = container_name(key.spki_der());
        let props = serde_json::to_vec_pretty(&KeyProperties {
            exportable: placement.exportable,
        })
        .expect("serialisable");
        write_atomic(&self.key_path(&container), key.pkcs8_der())?;
        write_atomic(&self.key_props_path(&container), &props)?;
        Ok(container)
    }

    fn find_key(&self, container: &str) -> Result<Option<FoundKey>, StoreError> {
        Ok(self.load_key(container)?.map(|k| FoundKey {
            spki: k.spki_der().to_vec(),
            provider: None,
            key_spec: None,
            machine_key_set: None,
        }))
    }

    fn key_exportable(&self, container: &str) -> Result<Option<bool>, StoreError> {
        Ok(read_json::<KeyProperties>(&self.key_props_path(container))?.map(|p| p.exportable))
    }

    fn private_key(&self, container: &str) -> Result<Option<RequestKey>, StoreError> {
        self.load_key(container)
    }

    fn remove_key(&self, container: &str) -> Result<(), StoreError> {
        remove(&self.key_path(container))?;
        remove(&self.key_props_path(container))
    }

    fn pending(&self) -> Result<Vec<PendingRequest>, StoreError> {
        let mut out = Vec::new();
        for path in sorted_files(&self.root.join(REQUEST), "json")? {
            out.extend(read_json(&path)?);
        }
        Ok(out)
    }

    fn put_pending(&self, pending: &PendingRequest, _: &NewRequest) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(pending).expect("serialisable");
        write_atomic(&self.pending_path(&pending.key_container), &json)
    }

    fn remove_pending(&self, container: &str) -> Result<(), StoreError> {
        remove(&self.pending_path(container))
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
