//! What kind of public key a SubjectPublicKeyInfo holds, and how large.

use der::asn1::ObjectIdentifier;
use der::Decode;

use crate::protocol::oid;

/// The algorithm family of a SubjectPublicKeyInfo, with its size in bits.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PublicKeyKind {
    Rsa { bits: u32 },
    Ec { curve: String, bits: u32 },
    Dsa { bits: u32 },
    Other { oid: String },
}

impl PublicKeyKind {
    /// Key size in bits (0 when unknown).
    pub fn bits(&self) -> u32 {
        match self {
            PublicKeyKind::Rsa { bits }
            | PublicKeyKind::Ec { bits, .. }
            | PublicKeyKind::Dsa { bits } => *bits,
            PublicKeyKind::Other { .. } => 0,
        }
    }

    /// Inspects a SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> Result<Self, der::Error> {
        let spki = spki::SubjectPublicKeyInfoOwned::from_der(spki_der)?;
        let key_bytes = spki.subject_public_key.raw_bytes();
        Ok(if spki.algorithm.oid == oid::RSA_ENCRYPTION {
            let pk = rsa_modulus_bits(key_bytes)?;
            PublicKeyKind::Rsa { bits: pk }
        } else if spki.algorithm.oid == oid::EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            let (name, bits) = match curve {
                Some(c) if c == oid::SECP256R1 => ("P-256", 256),
                Some(c) if c == oid::SECP384R1 => ("P-384", 384),
                Some(c) if c == oid::SECP521R1 => ("P-521", 521),
                Some(c) => {
                    return Ok(PublicKeyKind::Other {
                        oid: format!("{}/{c}", oid::EC_PUBLIC_KEY),
                    })
                }
                None => ("unknown", 0),
            };
            PublicKeyKind::Ec {
                curve: name.to_string(),
                bits,
            }
        } else if spki.algorithm.oid == oid::DSA {
            // DSA public key: INTEGER y; its size approximates the modulus size.
            let y = der::asn1::UintRef::from_der(key_bytes)?;
            PublicKeyKind::Dsa {
                bits: bit_len(y.as_bytes()),
            }
        } else {
            PublicKeyKind::Other {
                oid: spki.algorithm.oid.to_string(),
            }
        })
    }
}

fn bit_len(be: &[u8]) -> u32 {
    let first = be.iter().position(|b| *b != 0);
    match first {
        None => 0,
        Some(i) => ((be.len() - i) * 8) as u32 - be[i].leading_zeros(),
    }
}

fn rsa_modulus_bits(pkcs1: &[u8]) -> Result<u32, der::Error> {
    #[derive(der::Sequence)]
    struct RsaPublic<'a> {
        n: der::asn1::UintRef<'a>,
        _e: der::asn1::UintRef<'a>,
    }
    let k = RsaPublic::from_der(pkcs1)?;
    Ok(bit_len(k.n.as_bytes()))
}
