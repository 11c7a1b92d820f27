//! What a place that holds certificates and keys must do for [`Store`]:
//! the folder store and the Windows system store implement these few
//! operations, and everything certreq and certutil do on top of them
//! (accept, repair, export, chains) is written once, in `Store`.
//!
//! [`Store`]: super::Store

use super::{CertProperties, Entry, PendingRequest, StoreError, StoreName};
use crate::keys::RequestKey;
use crate::request::NewRequest;

/// Where a new key goes and what may be done with it.
#[derive(Clone, Debug)]
pub(super) struct KeyPlacement {
    /// The provider the INF (or PFX) names.
    pub provider: String,
    /// 1 AT_KEYEXCHANGE, 2 AT_SIGNATURE, 0 a CNG key.
    pub key_spec: u32,
    pub exportable: bool,
    pub machine_key_set: bool,
}

/// A key the store holds, as found by its container name.
#[derive(Clone, Debug)]
pub(super) struct FoundKey {
    /// Its public key (SubjectPublicKeyInfo DER).
    pub spki: Vec<u8>,
    /// Where the provider says it lives, when the store knows.
    pub provider: Option<String>,
    pub key_spec: Option<u32>,
    pub machine_key_set: Option<bool>,
}

pub(super) trait Backend {
    /// Where `sub` (a store name, `REQUEST` or `Keys`) is, for messages.
    fn place(&self, sub: &str) -> String;
    /// The certificates in `store` with their properties.
    fn list(&self, store: StoreName) -> Result<Vec<Entry>, StoreError>;
    /// Adds (or replaces) a certificate with these properties.
    fn put_certificate(
        &self,
        store: StoreName,
        der: &[u8],
        props: &CertProperties,
    ) -> Result<(), StoreError>;
    fn remove_certificate(&self, store: StoreName, entry: &Entry) -> Result<(), StoreError>;
    /// Stores `key`; returns its container name.
    fn put_key(&self, key: &RequestKey, placement: &KeyPlacement) -> Result<String, StoreError>;
    fn find_key(&self, container: &str) -> Result<Option<FoundKey>, StoreError>;
    /// The export policy kept with the key, `None` when none is kept.
    fn key_exportable(&self, container: &str) -> Result<Option<bool>, StoreError>;
    /// The private key itself; a provider that holds a non-exportable key
    /// refuses it ([`StoreError::NotExportable`]).
    fn private_key(&self, container: &str) -> Result<Option<RequestKey>, StoreError>;
    fn remove_key(&self, container: &str) -> Result<(), StoreError>;
    /// Requests waiting for their certificate (`REQUEST`).
    fn pending(&self) -> Result<Vec<PendingRequest>, StoreError>;
    fn put_pending(&self, pending: &PendingRequest, new: &NewRequest) -> Result<(), StoreError>;
    fn remove_pending(&self, container: &str) -> Result<(), StoreError>;
}
