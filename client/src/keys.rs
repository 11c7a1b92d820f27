//! Request keys: what `certreq -new` generates and the request store keeps.
//!
//! Unlike the CA's keys these come in any RSA size from 1024 to 4096 bits
//! (and DSA, which certreq still makes) and sign with the hash the INF names
//! (`HashAlgorithm`), so they use the pure Rust `rsa`, `dsa` and RustCrypto
//! curve crates. Generation draws from a ChaCha20
//! stream: seeded for reproducible runs, else seeded from the system.

use der::Decode;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use spki::AlgorithmIdentifierOwned;

use crate::inf::{HashChoice, KeyChoice};
use crate::protocol::oid;

/// Why a key could not be made, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot generate a {0}: {1}")]
    Generate(String, String),
    #[error("the private key is unreadable: {0}")]
    Load(String),
    #[error("{0} cannot sign with {1}")]
    Unsupported(String, String),
}

enum Inner {
    Rsa(Box<RsaKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Dsa(Box<dsa::SigningKey>),
}

/// An RSA key in both libraries: aws-lc signs about ten times faster, and
/// is made once (parsing and checking it costs more than a signature);
/// the `rsa` crate signs what aws-lc will not (SHA-1, under 2048 bits).
struct RsaKey {
    slow: rsa::PrivateKey,
    fast: Option<aws_lc_rs::rsa::KeyPair>,
}

/// A private key with its public half.
pub struct RequestKey {
    choice: KeyChoice,
    pkcs8: Vec<u8>,
    spki: Vec<u8>,
    inner: Inner,
}

impl std::fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestKey")
            .field("choice", &self.choice)
            .finish_non_exhaustive()
    }
}

/// A random stream for key generation: from `seed` when given (reproducible
/// runs), else from the operating system.
pub fn key_rng(seed: Option<&adcs_proto::seed::Seed>, label: &str) -> ChaCha20Rng {
    match seed {
        Some(s) => s.rng(&format!("client-key/{label}")),
        None => {
            let mut b = [0u8; 32];
            aws_lc_rs::rand::fill(&mut b).expect("system random source");
            ChaCha20Rng::from_seed(b)
        }
    }
}

/// The modulus length of an RSA SubjectPublicKeyInfo, `None` for other keys.
pub fn rsa_bits(spki_der: &[u8]) -> Option<usize> {
    let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der).ok()?;
    if spki.algorithm.oid != oid::RSA_ENCRYPTION {
        return None;
    }
    let key =
        pkcs1::RsaPublicKey::<der::asn1::UintRef>::from_der(spki.subject_public_key.as_bytes()?)
            .ok()?;
    let n = key.modulus.as_bytes();
    Some(n.len() * 8 - n.first().map_or(0, |b| b.leading_zeros() as usize))
}

/// Human name of a key choice (`RSA 2048`, `ECDSA P-256`).
pub fn describe(choice: KeyChoice) -> String {
    match choice {
        KeyChoice::Rsa(bits) => format!("RSA {bits}-bit key"),
        KeyChoice::Ecdsa(bits) => format!("ECDSA P-{bits} key"),
        KeyChoice::Dsa(bits) => format!("DSA {bits}-bit key"),
    }
}

impl RequestKey {
    /// A new key of the chosen kind.
    pub fn generate(choice: KeyChoice, rng: &mut ChaCha20Rng) -> Result<Self, KeyError> {
        use p256::elliptic_curve::Generate;
        let fail = |e: String| KeyError::Generate(describe(choice), e);
        let pkcs8 = match choice {
            KeyChoice::Rsa(bits) => {
                if !(1024..=4096).contains(&bits) {
                    return Err(fail("RSA keys are 1024 to 4096 bits".into()));
                }
                let key =
                    rsa::PrivateKey::new(rng, bits as usize).map_err(|e| fail(e.to_string()))?;
                key.to_pkcs8_der().map_err(|e| fail(e.to_string()))?
            }
            KeyChoice::Ecdsa(256) => p256::SecretKey::generate_from_rng(rng)
                .to_pkcs8_der()
                .map_err(|e| fail(e.to_string()))?,
            KeyChoice::Ecdsa(384) => p384::SecretKey::generate_from_rng(rng)
                .to_pkcs8_der()
                .map_err(|e| fail(e.to_string()))?,
            KeyChoice::Ecdsa(521) => p521::SecretKey::generate_from_rng(rng)
                .to_pkcs8_der()
                .map_err(|e| fail(e.to_string()))?,
            KeyChoice::Ecdsa(_) => return Err(fail("curves are P-256, P-384 and P-521".into())),
            KeyChoice::Dsa(bits) => {
                // The Base DSS CSP, what certreq uses, makes 1024-bit keys only.
                #[allow(deprecated)]
                let size = match bits {
                    1024 => dsa::KeySize::DSA_1024_160,
                    2048 => dsa::KeySize::DSA_2048_256,
                    3072 => dsa::KeySize::DSA_3072_256,
                    _ => return Err(fail("DSA keys are 1024, 2048 or 3072 bits".into())),
                };
                let components = dsa::Components::try_generate_from_rng_with_key_size(rng, size)
                    .map_err(|e| fail(e.to_string()))?;
                dsa::SigningKey::try_generate_from_rng_with_components(rng, components)
                    .map_err(|e| fail(e.to_string()))?
                    .to_pkcs8_der()
                    .map_err(|e| fail(e.to_string()))?
            }
        };
        Self::from_pkcs8(pkcs8.as_bytes())
    }

    /// Loads a PKCS#8 key (RSA or a NIST curve), recognising its kind.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let info =
            pkcs8::PrivateKeyInfoRef::from_der(pkcs8).map_err(|e| KeyError::Load(e.to_string()))?;
        let load = |e: String| KeyError::Load(e);
        let alg = info.algorithm.oid;
        let (choice, inner, spki) = if alg == oid::RSA_ENCRYPTION {
            let key = rsa::PrivateKey::from_pkcs8_der(pkcs8).map_err(|e| load(e.to_string()))?;
            let bits = (rsa::traits::PublicKeyParts::size(&key) * 8) as u32;
            let spki = key
                .to_public_key()
                .to_public_key_der()
                .map_err(|e| load(e.to_string()))?;
            (
                KeyChoice::Rsa(bits),
                Inner::Rsa(Box::new(RsaKey {
                    slow: key,
                    fast: aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).ok(),
                })),
                spki.into_vec(),
            )
        } else if alg == oid::EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
            match curve {
                Some(c) if c == oid::SECP256R1 => {
                    let k =
                        p256::SecretKey::from_pkcs8_der(pkcs8).map_err(|e| load(e.to_string()))?;
                    let spki = k
                        .public_key()
                        .to_public_key_der()
                        .map_err(|e| load(e.to_string()))?;
                    (
                        KeyChoice::Ecdsa(256),
                        Inner::P256((&k).into()),
                        spki.into_vec(),
                    )
                }
                Some(c) if c == oid::SECP384R1 => {
                    let k =
                        p384::SecretKey::from_pkcs8_der(pkcs8).map_err(|e| load(e.to_string()))?;
                    let spki = k
                        .public_key()
                        .to_public_key_der()
                        .map_err(|e| load(e.to_string()))?;
                    (
                        KeyChoice::Ecdsa(384),
                        Inner::P384((&k).into()),
                        spki.into_vec(),
                    )
                }
                Some(c) if c == oid::SECP521R1 => {
                    let k =
                        p521::SecretKey::from_pkcs8_der(pkcs8).map_err(|e| load(e.to_string()))?;
                    let spki = k
                        .public_key()
                        .to_public_key_der()
                        .map_err(|e| load(e.to_string()))?;
                    (
                        KeyChoice::Ecdsa(521),
                        Inner::P521((&k).into()),
                        spki.into_vec(),
                    )
                }
                _ => {
                    return Err(load(
                        "an elliptic curve other than P-256, P-384 or P-521".into(),
                    ))
                }
            }
        } else if alg == oid::DSA {
            let key = dsa::SigningKey::from_pkcs8_der(pkcs8).map_err(|e| load(e.to_string()))?;
            let vk = key.verifying_key();
            let bits = vk.components().p().bit_width();
            let spki = vk.to_public_key_der().map_err(|e| load(e.to_string()))?;
            (
                KeyChoice::Dsa(bits),
                Inner::Dsa(Box::new(key)),
                spki.into_vec(),
            )
        } else {
            return Err(load(format!(
                "key algorithm {alg} is neither RSA, ECDSA nor DSA"
            )));
        };
        Ok(RequestKey {
            choice,
            pkcs8: pkcs8.to_vec(),
            spki,
            inner,
        })
    }

    /// Kind and size.
    pub fn choice(&self) -> KeyChoice {
        self.choice
    }

    /// The private key as PKCS#8 DER.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The AlgorithmIdentifier of a signature with `hash`.
    pub fn signature_algorithm(&self, hash: HashChoice) -> AlgorithmIdentifierOwned {
        if matches!(self.inner, Inner::Dsa(_)) {
            let oid = match hash {
                HashChoice::Sha1 => oid::DSA_WITH_SHA1,
                HashChoice::Sha256 => oid::DSA_WITH_SHA256,
                HashChoice::Sha384 => oid::DSA_WITH_SHA384,
                HashChoice::Sha512 => oid::DSA_WITH_SHA512,
            };
            return AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            };
        }
        let rsa = matches!(self.inner, Inner::Rsa(_));
        let oid = match (rsa, hash) {
            (true, HashChoice::Sha1) => oid::SHA1_WITH_RSA,
            (true, HashChoice::Sha256) => oid::SHA256_WITH_RSA,
            (true, HashChoice::Sha384) => oid::SHA384_WITH_RSA,
            (true, HashChoice::Sha512) => oid::SHA512_WITH_RSA,
            (false, HashChoice::Sha1) => oid::ECDSA_WITH_SHA1,
            (false, HashChoice::Sha256) => oid::ECDSA_WITH_SHA256,
            (false, HashChoice::Sha384) => oid::ECDSA_WITH_SHA384,
            (false, HashChoice::Sha512) => oid::ECDSA_WITH_SHA512,
        };
        AlgorithmIdentifierOwned {
            oid,
            // RSA signature algorithms carry an explicit NULL; ECDSA none.
            parameters: rsa.then(der::Any::null),
        }
    }

    /// Signs `msg` with `hash` (RSA PKCS#1 v1.5, or deterministic ECDSA).
    pub fn sign(&self, hash: HashChoice, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        use aws_lc_rs::digest;
        let alg = match hash {
            HashChoice::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashChoice::Sha256 => &digest::SHA256,
            HashChoice::Sha384 => &digest::SHA384,
            HashChoice::Sha512 => &digest::SHA512,
        };
        let hashed = digest::digest(alg, msg);
        let hashed = hashed.as_ref();
        let unsupported = |e: String| KeyError::Unsupported(describe(self.choice), e);
        match &self.inner {
            Inner::Rsa(key) => {
                // PKCS#1 v1.5 is deterministic: the bytes are the same on
                // either library.
                let alg = match hash {
                    HashChoice::Sha1 => None,
                    HashChoice::Sha256 => Some(&aws_lc_rs::signature::RSA_PKCS1_SHA256),
                    HashChoice::Sha384 => Some(&aws_lc_rs::signature::RSA_PKCS1_SHA384),
                    HashChoice::Sha512 => Some(&aws_lc_rs::signature::RSA_PKCS1_SHA512),
                };
                if let (Some(alg), Some(pair)) = (alg, &key.fast) {
                    let mut sig = vec![0u8; pair.public_modulus_len()];
                    let rng = aws_lc_rs::rand::SystemRandom::new();
                    if pair.sign(alg, &rng, msg, &mut sig).is_ok() {
                        return Ok(sig);
                    }
                }
                let key = &key.slow;
                let padding = match hash {
                    HashChoice::Sha1 => rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
                    HashChoice::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    HashChoice::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                    HashChoice::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                key.sign(padding, hashed)
                    .map_err(|e| unsupported(e.to_string()))
            }
            Inner::P256(k) => {
                let s: p256::ecdsa::Signature = k
                    .sign_prehash(hashed)
                    .map_err(|e| unsupported(e.to_string()))?;
                Ok(s.to_der().as_bytes().to_vec())
            }
            Inner::P384(k) => {
                let s: p384::ecdsa::Signature = k
                    .sign_prehash(hashed)
                    .map_err(|e| unsupported(e.to_string()))?;
                Ok(s.to_der().as_bytes().to_vec())
            }
            Inner::P521(k) => {
                let s: p521::ecdsa::Signature = k
                    .sign_prehash(hashed)
                    .map_err(|e| unsupported(e.to_string()))?;
                Ok(s.to_der().as_bytes().to_vec())
            }
            Inner::Dsa(k) => {
                use der::Encode;
                let s = match hash {
                    HashChoice::Sha1 => k.sign_prehashed_rfc6979::<sha1::Sha1>(hashed),
                    HashChoice::Sha256 => k.sign_prehashed_rfc6979::<sha2::Sha256>(hashed),
                    HashChoice::Sha384 => k.sign_prehashed_rfc6979::<sha2::Sha384>(hashed),
                    HashChoice::Sha512 => k.sign_prehashed_rfc6979::<sha2::Sha512>(hashed),
                }
                .map_err(|e| unsupported(e.to_string()))?;
                s.to_der().map_err(|e| unsupported(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcs_proto::seed::Seed;

    /// RSA request signatures go through aws-lc where it can; the bytes
    /// must be the ones the `rsa` crate makes (PKCS#1 v1.5 is deterministic).
    #[test]
    fn rsa_signatures_are_the_same_bytes_on_either_signer() {
        let key =
            RequestKey::generate(KeyChoice::Rsa(2048), &mut key_rng(Some(&Seed(3)), "s")).unwrap();
        let Inner::Rsa(both) = &key.inner else {
            unreachable!("an RSA key")
        };
        assert!(both.fast.is_some(), "a 2048-bit key signs in aws-lc");
        let slow = &both.slow;
        let msg = b"to be signed";
        for (hash, padding) in [
            (HashChoice::Sha256, rsa::Pkcs1v15Sign::new::<sha2::Sha256>()),
            (HashChoice::Sha384, rsa::Pkcs1v15Sign::new::<sha2::Sha384>()),
            (HashChoice::Sha512, rsa::Pkcs1v15Sign::new::<sha2::Sha512>()),
        ] {
            let alg = match hash {
                HashChoice::Sha256 => &aws_lc_rs::digest::SHA256,
                HashChoice::Sha384 => &aws_lc_rs::digest::SHA384,
                _ => &aws_lc_rs::digest::SHA512,
            };
            let digest = aws_lc_rs::digest::digest(alg, msg);
            let expected = slow.sign(padding, digest.as_ref()).unwrap();
            assert_eq!(key.sign(hash, msg).unwrap(), expected, "{hash:?}");
        }
    }

    #[test]
    fn seeded_keys_repeat_and_sign_verifiably() {
        let seed = Seed(7);
        for choice in [
            KeyChoice::Rsa(1024),
            KeyChoice::Ecdsa(256),
            KeyChoice::Ecdsa(521),
        ] {
            let a = RequestKey::generate(choice, &mut key_rng(Some(&seed), "a")).unwrap();
            let b = RequestKey::generate(choice, &mut key_rng(Some(&seed), "a")).unwrap();
            assert_eq!(a.pkcs8_der(), b.pkcs8_der());
            assert_eq!(a.choice(), choice);
            let again = RequestKey::from_pkcs8(a.pkcs8_der()).unwrap();
            assert_eq!(again.spki_der(), a.spki_der());
            for hash in [
                HashChoice::Sha1,
                HashChoice::Sha256,
                HashChoice::Sha384,
                HashChoice::Sha512,
            ] {
                let signed = signed_blob(&a, hash);
                assert!(
                    adcs_proto::x509::verify_signed(&signed, a.spki_der()),
                    "{choice:?} {hash:?}"
                );
                let other = RequestKey::generate(choice, &mut key_rng(Some(&seed), "b")).unwrap();
                assert!(!adcs_proto::x509::verify_signed(&signed, other.spki_der()));
            }
        }
    }

    /// A signed structure { tbs, algorithm, signature } over a small TBS.
    fn signed_blob(key: &RequestKey, hash: HashChoice) -> Vec<u8> {
        use der::Encode;
        #[derive(der::Sequence)]
        struct Signed {
            tbs: der::Any,
            alg: AlgorithmIdentifierOwned,
            sig: der::asn1::BitString,
        }
        let tbs = der::Any::new(der::Tag::OctetString, b"message".to_vec()).unwrap();
        let sig = key.sign(hash, &tbs.to_der().unwrap()).unwrap();
        Signed {
            tbs,
            alg: key.signature_algorithm(hash),
            sig: der::asn1::BitString::from_bytes(&sig).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn dsa_keys_repeat_and_sign_verifiably() {
        use dsa::signature::hazmat::PrehashVerifier;
        use p256::pkcs8::DecodePublicKey;
        let seed = Seed(7);
        let a = RequestKey::generate(KeyChoice::Dsa(1024), &mut key_rng(Some(&seed), "d")).unwrap();
        let b = RequestKey::generate(KeyChoice::Dsa(1024), &mut key_rng(Some(&seed), "d")).unwrap();
        assert_eq!(a.pkcs8_der(), b.pkcs8_der());
        assert_eq!(a.choice(), KeyChoice::Dsa(1024));
        let again = RequestKey::from_pkcs8(a.pkcs8_der()).unwrap();
        assert_eq!(again.spki_der(), a.spki_der());
        assert_eq!(
            a.signature_algorithm(HashChoice::Sha1).oid,
            oid::DSA_WITH_SHA1
        );
        let vk = dsa::VerifyingKey::from_public_key_der(a.spki_der()).unwrap();
        let hashed =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, b"tbs");
        let sig = dsa::Signature::from_der(&a.sign(HashChoice::Sha1, b"tbs").unwrap()).unwrap();
        assert!(vk.verify_prehash(hashed.as_ref(), &sig).is_ok());
        let other =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, b"other");
        assert!(vk.verify_prehash(other.as_ref(), &sig).is_err());
    }

    #[test]
    fn out_of_range_sizes_are_refused() {
        let mut rng = key_rng(None, "x");
        assert!(RequestKey::generate(KeyChoice::Rsa(512), &mut rng).is_err());
        assert!(RequestKey::generate(KeyChoice::Ecdsa(224), &mut rng).is_err());
    }
}
