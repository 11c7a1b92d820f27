//! The one thing the certificate, CRL and request builders need from a key.
//! The CA's keys implement it (in mock-ca); the builders stay free of any
//! key store, cache or provider.

use spki::AlgorithmIdentifierOwned;

/// A private key that signs whole messages with one fixed algorithm.
pub trait Signer {
    /// The key's SubjectPublicKeyInfo (DER).
    fn spki_der(&self) -> &[u8];
    /// The AlgorithmIdentifier its signatures carry.
    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned;
    /// Signs `msg` (hashing it as the algorithm says).
    fn sign(&self, msg: &[u8]) -> Vec<u8>;
}

impl<T: Signer + ?Sized> Signer for std::sync::Arc<T> {
    fn spki_der(&self) -> &[u8] {
        (**self).spki_der()
    }
    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        (**self).signature_algorithm()
    }
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        (**self).sign(msg)
    }
}
