//! CryptoAPI's RSA key blobs (`PRIVATEKEYBLOB`, `PUBLICKEYBLOB`), the form
//! in which keys go into and come out of a legacy CSP (`CryptImportKey`,
//! `CryptExportKey`). Sans-IO: the system store hands these bytes to the
//! provider; here they are converted to and from PKCS#8 and SPKI.
//!
//! Layout (all little-endian): `BLOBHEADER` (type, version 2, reserved,
//! `ALG_ID`), `RSAPUBKEY` (magic `RSA1`/`RSA2`, bit length, public
//! exponent), then the modulus and, for a private blob, prime1, prime2,
//! exponent1, exponent2, coefficient (half length each) and the private
//! exponent.

use der::asn1::{AnyRef, BitStringRef, OctetStringRef, UintRef};
use der::{Decode, Encode};

use crate::protocol::oid;

const PUBLICKEYBLOB: u8 = 6;
const PRIVATEKEYBLOB: u8 = 7;
const CUR_BLOB_VERSION: u8 = 2;
/// `CALG_RSA_KEYX`: an AT_KEYEXCHANGE key.
const CALG_RSA_KEYX: u32 = 0xa400;
/// `CALG_RSA_SIGN`: an AT_SIGNATURE key.
const CALG_RSA_SIGN: u32 = 0x2400;
const RSA1: u32 = 0x3141_5352;
const RSA2: u32 = 0x3241_5352;

/// Why a blob or key could not be converted.
#[derive(Debug, thiserror::Error)]
#[error("CryptoAPI key blob: {0}")]
pub struct BlobError(String);

fn err(e: impl std::fmt::Display) -> BlobError {
    BlobError(e.to_string())
}

/// The `PRIVATEKEYBLOB` of an RSA PKCS#8 key, for `key_spec` 1
/// (AT_KEYEXCHANGE) or 2 (AT_SIGNATURE).
pub fn private_blob(pkcs8: &[u8], key_spec: u32) -> Result<Vec<u8>, BlobError> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(pkcs8).map_err(err)?;
    if info.algorithm.oid != oid::RSA_ENCRYPTION {
        return Err(BlobError(
            "only RSA keys go into a CryptoAPI provider".into(),
        ));
    }
    let k = pkcs1::RsaPrivateKey::<UintRef>::from_der(info.private_key.as_bytes()).map_err(err)?;
    let n = k.modulus.as_bytes();
    let bits = n.len() * 8;
    let (full, half) = (bits / 8, bits / 16);
    let mut out = header(
        PRIVATEKEYBLOB,
        key_spec,
        RSA2,
        bits,
        k.public_exponent.as_bytes(),
    )?;
    for (value, len) in [
        (n, full),
        (k.prime1.as_bytes(), half),
        (k.prime2.as_bytes(), half),
        (k.exponent1.as_bytes(), half),
        (k.exponent2.as_bytes(), half),
        (k.coefficient.as_bytes(), half),
        (k.private_exponent.as_bytes(), full),
    ] {
        out.extend(little_endian(value, len)?);
    }
    Ok(out)
}

fn header(
    kind: u8,
    key_spec: u32,
    magic: u32,
    bits: usize,
    exponent: &[u8],
) -> Result<Vec<u8>, BlobError> {
    let alg = if key_spec == 2 {
        CALG_RSA_SIGN
    } else {
        CALG_RSA_KEYX
    };
    if exponent.len() > 4 {
        return Err(BlobError(
            "the public exponent is longer than CryptoAPI's 32 bits".into(),
        ));
    }
    let mut e = [0u8; 4];
    e[4 - exponent.len()..].copy_from_slice(exponent);
    let mut out = vec![kind, CUR_BLOB_VERSION, 0, 0];
    out.extend(alg.to_le_bytes());
    out.extend(magic.to_le_bytes());
    out.extend(u32::try_from(bits).map_err(err)?.to_le_bytes());
    out.extend(u32::from_be_bytes(e).to_le_bytes());
    Ok(out)
}

/// `value` (big-endian, no leading zeros) as `len` little-endian bytes.
fn little_endian(value: &[u8], len: usize) -> Result<Vec<u8>, BlobError> {
    if value.len() > len {
        return Err(BlobError(
            "a key component is longer than its blob field".into(),
        ));
    }
    let mut out: Vec<u8> = value.iter().rev().copied().collect();
    out.resize(len, 0);
    Ok(out)
}

/// A blob read field by field.
struct Fields<'a> {
    rest: &'a [u8],
    bits: usize,
    exponent: Vec<u8>,
    key_spec: u32,
}

impl<'a> Fields<'a> {
    fn open(blob: &'a [u8], kind: u8, magic: u32) -> Result<Self, BlobError> {
        if blob.len() < 20 || blob[0] != kind {
            return Err(BlobError(format!(
                "not a {} RSA blob",
                if kind == PRIVATEKEYBLOB {
                    "private"
                } else {
                    "public"
                }
            )));
        }
        let word = |at: usize| u32::from_le_bytes(blob[at..at + 4].try_into().expect("4 bytes"));
        if word(8) != magic {
            return Err(BlobError("the blob is not an RSA key".into()));
        }
        let key_spec = if word(4) == CALG_RSA_SIGN { 2 } else { 1 };
        let bits = word(12) as usize;
        if bits == 0 || bits % 16 != 0 {
            return Err(BlobError(format!("bad key length {bits}")));
        }
        let exponent = word(16).to_be_bytes().to_vec();
        Ok(Fields {
            rest: &blob[20..],
            bits,
            exponent,
            key_spec,
        })
    }

    /// The next `len` bytes as a big-endian integer.
    fn take(&mut self, len: usize) -> Result<Vec<u8>, BlobError> {
        if self.rest.len() < len {
            return Err(BlobError("the blob is truncated".into()));
        }
        let (field, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(field.iter().rev().copied().collect())
    }
}

/// The RSA key of a `PRIVATEKEYBLOB` as PKCS#8, with the blob's KeySpec.
pub fn pkcs8_from_private_blob(blob: &[u8]) -> Result<(Vec<u8>, u32), BlobError> {
    let mut f = Fields::open(blob, PRIVATEKEYBLOB, RSA2)?;
    let (full, half) = (f.bits / 8, f.bits / 16);
    let n = f.take(full)?;
    let p = f.take(half)?;
    let q = f.take(half)?;
    let dp = f.take(half)?;
    let dq = f.take(half)?;
    let qinv = f.take(half)?;
    let d = f.take(full)?;
    let e = f.exponent.clone();
    let pkcs1 = pkcs1::RsaPrivateKey {
        modulus: uint(&n)?,
        public_exponent: uint(&e)?,
        private_exponent: uint(&d)?,
        prime1: uint(&p)?,
        prime2: uint(&q)?,
        exponent1: uint(&dp)?,
        exponent2: uint(&dq)?,
        coefficient: uint(&qinv)?,
        other_prime_infos: None,
    }
    .to_der()
    .map_err(err)?;
    let info =
        pkcs8::PrivateKeyInfoRef::new(rsa_algorithm(), OctetStringRef::new(&pkcs1).map_err(err)?);
    Ok((info.to_der().map_err(err)?, f.key_spec))
}

/// The SubjectPublicKeyInfo of a `PUBLICKEYBLOB`, as the key's certificate
/// carries it.
pub fn spki_from_public_blob(blob: &[u8]) -> Result<Vec<u8>, BlobError> {
    let mut f = Fields::open(blob, PUBLICKEYBLOB, RSA1)?;
    let n = f.take(f.bits / 8)?;
    let e = f.exponent.clone();
    let public = pkcs1::RsaPublicKey {
        modulus: UintRef::new(&n).map_err(err)?,
        public_exponent: UintRef::new(&e).map_err(err)?,
    }
    .to_der()
    .map_err(err)?;
    spki::SubjectPublicKeyInfoRef {
        algorithm: rsa_algorithm(),
        subject_public_key: BitStringRef::from_bytes(&public).map_err(err)?,
    }
    .to_der()
    .map_err(err)
}

fn uint(b: &[u8]) -> Result<UintRef<'_>, BlobError> {
    UintRef::new(b).map_err(err)
}

fn rsa_algorithm() -> spki::AlgorithmIdentifierRef<'static> {
    spki::AlgorithmIdentifierRef {
        oid: oid::RSA_ENCRYPTION,
        parameters: Some(AnyRef::NULL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inf::KeyChoice;
    use crate::keys::RequestKey;
    use rand_core::SeedableRng;

    fn key() -> RequestKey {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        RequestKey::generate(KeyChoice::Rsa(1024), &mut rng).unwrap()
    }

    #[test]
    fn a_private_key_survives_the_blob_round_trip() {
        let k = key();
        let blob = private_blob(k.pkcs8_der(), 1).unwrap();
        // header 8 + RSAPUBKEY 12 + 9 half-length fields of 64 bytes
        assert_eq!(blob.len(), 20 + 9 * 64);
        assert_eq!(&blob[..8], &[7, 2, 0, 0, 0x00, 0xa4, 0, 0]);
        assert_eq!(&blob[8..12], b"RSA2");
        let (pkcs8, spec) = pkcs8_from_private_blob(&blob).unwrap();
        assert_eq!(spec, 1);
        let back = RequestKey::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(back.spki_der(), k.spki_der());
        assert_eq!(
            pkcs8_from_private_blob(&private_blob(k.pkcs8_der(), 2).unwrap())
                .unwrap()
                .1,
            2
        );
    }

    #[test]
    fn a_public_blob_gives_the_keys_spki() {
        let k = key();
        let private = private_blob(k.pkcs8_der(), 1).unwrap();
        // A PUBLICKEYBLOB is the private blob's header and modulus.
        let mut public = private[..20 + 128].to_vec();
        public[0] = PUBLICKEYBLOB;
        public[8..12].copy_from_slice(b"RSA1");
        assert_eq!(spki_from_public_blob(&public).unwrap(), k.spki_der());
    }

    #[test]
    fn bad_blobs_are_errors_not_panics() {
        let k = key();
        let blob = private_blob(k.pkcs8_der(), 1).unwrap();
        for cut in [0, 7, 19, 20, 100, blob.len() - 1] {
            assert!(pkcs8_from_private_blob(&blob[..cut]).is_err(), "cut {cut}");
        }
        assert!(spki_from_public_blob(&blob).is_err(), "a private blob");
        let mut ec = vec![0u8; 40];
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let p256 = RequestKey::generate(KeyChoice::Ecdsa(256), &mut rng).unwrap();
        assert!(private_blob(p256.pkcs8_der(), 1).is_err());
        ec[0] = PRIVATEKEYBLOB;
        assert!(pkcs8_from_private_blob(&ec).is_err());
    }
}
