//! PFX (PKCS#12) files: opened with their password, installed into the
//! store as certutil -importpfx does, and exported with key and chain when
//! the key is exportable (else refused as Windows refuses it).

use super::backend::KeyPlacement;
use super::certs::{cert_info, container_name, is_self_signed};
use super::{CertProperties, Entry, PfxFormat, Store, StoreError, StoreName};
use crate::keys::RequestKey;

impl Store {
    /// Exports a `My` certificate with its key and chain as a PFX. A key
    /// that was not created exportable is refused with
    /// [`StoreError::NotExportable`] (NTE_BAD_KEY_STATE), as certutil
    /// -exportPFX refuses it.
    pub fn export_pfx(
        &self,
        selector: &str,
        password: &str,
        format: PfxFormat,
    ) -> Result<Vec<u8>, StoreError> {
        let entry = self.find(StoreName::My, selector)?;
        let container = entry.properties.key_container.clone().ok_or_else(|| {
            StoreError::NotFound(format!(
                "`{}` has no private key linked (run `store repair {}` if the key is in the store)",
                entry.subject, entry.thumbprint
            ))
        })?;
        let missing = || {
            StoreError::NotFound(format!(
                "the key container {container} of `{}` is missing",
                entry.subject
            ))
        };
        if !entry.has_private_key {
            return Err(missing());
        }
        let refused = || StoreError::NotExportable {
            hresult: adcs_proto::protocol::HResult::NTE_BAD_KEY_STATE,
            subject: entry.subject.clone(),
            thumbprint: entry.thumbprint.clone(),
        };
        // `entry` carries the key's own policy (see `Store::key_exportable`);
        // a Windows provider also refuses a non-exportable key itself.
        if !entry.properties.exportable {
            return Err(refused());
        }
        let key = match self.backend().private_key(&container) {
            Ok(Some(key)) => key,
            Ok(None) => return Err(missing()),
            Err(StoreError::NotExportable { .. }) => return Err(refused()),
            Err(e) => return Err(e),
        };
        let chain = self.chain(&entry.der)?;
        let local_key_id =
            adcs_proto::x509::key_id(key.spki_der()).map_err(|e| StoreError::Pfx(e.to_string()))?;
        let alias = entry
            .properties
            .friendly_name
            .clone()
            .unwrap_or_else(|| entry.subject.clone());
        adcs_proto::encoding::pfx(
            key.pkcs8_der(),
            local_key_id,
            &chain,
            &alias,
            password,
            format,
        )
        .map_err(|e| StoreError::Pfx(e.to_string()))
    }

    /// certutil -importpfx: the key into `Keys` (exportable, certutil's
    /// default), the certificate into `My` linked to it, issuers into `CA`
    /// and self-signed roots into `Root`.
    pub fn import_pfx(&self, bytes: &[u8], password: &str) -> Result<Entry, StoreError> {
        self.import_pfx_exportable(bytes, password, true)
    }

    /// [`Store::import_pfx`] with the key's export policy given:
    /// `exportable = false` is certutil -importpfx's `NoExport` modifier.
    pub fn import_pfx_exportable(
        &self,
        bytes: &[u8],
        password: &str,
        exportable: bool,
    ) -> Result<Entry, StoreError> {
        let mut pfx = read_pfx(bytes, password)?;
        pfx.exportable = exportable;
        self.install_pfx(&pfx)
    }

    /// Installs what [`read_pfx`] read (see [`Store::import_pfx`]); the key
    /// is exportable as [`Pfx::exportable`] says.
    pub fn install_pfx(&self, pfx: &Pfx) -> Result<Entry, StoreError> {
        let mut props = pfx.properties();
        let container = self.backend().put_key(
            &pfx.key,
            &KeyPlacement {
                provider: props.provider.clone().unwrap_or_default(),
                key_spec: props.key_spec.unwrap_or(1),
                exportable: pfx.exportable,
                machine_key_set: props.machine_key_set,
            },
        )?;
        props.key_container = Some(container);
        let entry = self.write_cert(StoreName::My, &pfx.leaf, &props)?;
        for der in &pfx.issuers {
            let store = if is_self_signed(der) {
                StoreName::Root
            } else {
                StoreName::Ca
            };
            self.import_certificate(store, der)?;
        }
        Ok(entry)
    }
}

/// A PFX opened with its password: the key, the certificate it belongs to
/// and the other certificates, nothing written yet.
#[derive(Debug)]
pub struct Pfx {
    pub key: RequestKey,
    pub leaf: Vec<u8>,
    /// The other certificates (issuers), in PFX order.
    pub issuers: Vec<Vec<u8>>,
    /// The friendly name (alias), if any.
    pub friendly_name: Option<String>,
    /// Whether the key stays exportable once installed: `true` from
    /// [`read_pfx`] (certutil -importpfx's default), `false` for `NoExport`.
    pub exportable: bool,
}

impl Pfx {
    /// The properties the certificate gets when installed: an RSA key goes
    /// to the legacy CSP as AT_KEYEXCHANGE (what certutil -importpfx does),
    /// an ECDSA key to the KSP; exportable as [`Pfx::exportable`] says, in
    /// the machine key set.
    pub fn properties(&self) -> CertProperties {
        use crate::inf::KeyChoice;
        let (key_spec, provider) = match self.key.choice() {
            KeyChoice::Ecdsa(_) => (0, crate::request::KSP_PROVIDER),
            KeyChoice::Dsa(_) => (2, crate::request::DSS_PROVIDER),
            KeyChoice::Rsa(_) => (1, crate::request::DEFAULT_RSA_PROVIDER),
        };
        CertProperties {
            friendly_name: self.friendly_name.clone(),
            key_container: Some(container_name(self.key.spki_der())),
            provider: Some(provider.into()),
            key_spec: Some(key_spec),
            exportable: self.exportable,
            machine_key_set: true,
        }
    }
}

/// Opens a PFX (wrong password: [`StoreError::WrongPassword`]).
pub fn read_pfx(bytes: &[u8], password: &str) -> Result<Pfx, StoreError> {
    use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
    let ks =
        KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Relaxed).map_err(
            |e| match e {
                p12_keystore::error::Error::MacError(_) => StoreError::WrongPassword,
                other => StoreError::Pfx(format!("not a readable PFX: {other}")),
            },
        )?;
    let (alias, chain) = ks
        .private_key_chain()
        .ok_or_else(|| StoreError::Pfx("the PFX holds no private key".into()))?;
    let key =
        RequestKey::from_pkcs8(chain.key().as_der()).map_err(|e| StoreError::Pfx(e.to_string()))?;
    let certs: Vec<Vec<u8>> = chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
    let leaf = certs
        .iter()
        .find(|c| cert_info(c).is_ok_and(|i| i.spki == key.spki_der()))
        .cloned()
        .ok_or_else(|| StoreError::Pfx("no certificate in the PFX matches its key".into()))?;
    for der in &certs {
        cert_info(der).map_err(StoreError::Input)?;
    }
    let issuers = certs.into_iter().filter(|c| *c != leaf).collect();
    Ok(Pfx {
        key,
        leaf,
        issuers,
        friendly_name: (!alias.is_empty()).then(|| alias.to_string()),
        exportable: true,
    })
}
