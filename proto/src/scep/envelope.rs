//! The pkcsPKIEnvelope: CMS EnvelopedData with RSA key transport
//! (PKCS#1 v1.5) and a CBC content cipher. SCEP clients encrypt requests to
//! the RA encryption certificate; NDES encrypts the issued certificate back
//! to the requester's signing certificate with the cipher it was sent.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit,
};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use der::asn1::{Any, ObjectIdentifier as Oid, OctetString};
use der::{Decode, Encode};
use rand_core::CryptoRng;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use crate::protocol::oid as x509_oid;

/// Content ciphers SCEP clients use (single DES only for old clients, as NDES still takes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    Des,
    TripleDes,
    Aes128,
    Aes192,
    Aes256,
}

impl Cipher {
    pub fn oid(self) -> Oid {
        Oid::new_unwrap(match self {
            Cipher::Des => "1.3.14.3.2.7",
            Cipher::TripleDes => "1.2.840.113549.3.7",
            Cipher::Aes128 => "2.16.840.1.101.3.4.1.2",
            Cipher::Aes192 => "2.16.840.1.101.3.4.1.22",
            Cipher::Aes256 => "2.16.840.1.101.3.4.1.42",
        })
    }

    pub fn from_oid(o: &Oid) -> Option<Self> {
        [
            Cipher::Des,
            Cipher::TripleDes,
            Cipher::Aes128,
            Cipher::Aes192,
            Cipher::Aes256,
        ]
        .into_iter()
        .find(|c| c.oid() == *o)
    }

    pub fn name(self) -> &'static str {
        match self {
            Cipher::Des => "DES-CBC",
            Cipher::TripleDes => "DES-EDE3-CBC",
            Cipher::Aes128 => "AES-128-CBC",
            Cipher::Aes192 => "AES-192-CBC",
            Cipher::Aes256 => "AES-256-CBC",
        }
    }

    fn key_len(self) -> usize {
        match self {
            Cipher::Des => 8,
            Cipher::TripleDes | Cipher::Aes192 => 24,
            Cipher::Aes128 => 16,
            Cipher::Aes256 => 32,
        }
    }

    fn iv_len(self) -> usize {
        match self {
            Cipher::Des | Cipher::TripleDes => 8,
            _ => 16,
        }
    }

    fn encrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        match self {
            Cipher::Des => cbc_encrypt::<des::Des>(key, iv, data),
            Cipher::TripleDes => cbc_encrypt::<des::TdesEde3>(key, iv, data),
            Cipher::Aes128 => cbc_encrypt::<aes::Aes128>(key, iv, data),
            Cipher::Aes192 => cbc_encrypt::<aes::Aes192>(key, iv, data),
            Cipher::Aes256 => cbc_encrypt::<aes::Aes256>(key, iv, data),
        }
    }

    fn decrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        match self {
            Cipher::Des => cbc_decrypt::<des::Des>(key, iv, data),
            Cipher::TripleDes => cbc_decrypt::<des::TdesEde3>(key, iv, data),
            Cipher::Aes128 => cbc_decrypt::<aes::Aes128>(key, iv, data),
            Cipher::Aes192 => cbc_decrypt::<aes::Aes192>(key, iv, data),
            Cipher::Aes256 => cbc_decrypt::<aes::Aes256>(key, iv, data),
        }
    }
}

fn cbc_encrypt<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, EnvelopeError>
where
    C: BlockCipherEncrypt + KeyInit,
{
    let enc = cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(|_| EnvelopeError::Cipher)?;
    Ok(enc.encrypt_padded_vec::<Pkcs7>(data))
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, EnvelopeError>
where
    C: BlockCipherDecrypt + KeyInit,
{
    let dec = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| EnvelopeError::Cipher)?;
    dec.decrypt_padded_vec::<Pkcs7>(data)
        .map_err(|_| EnvelopeError::Cipher)
}

/// Why an envelope could not be opened (a FAILURE with badMessageCheck).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("the envelope is not CMS EnvelopedData: {0}")]
    Malformed(String),
    #[error("the envelope is not encrypted to this certificate (issuer and serial number match no recipient)")]
    NotForUs,
    #[error("the content cipher {0} is not supported")]
    UnsupportedCipher(String),
    #[error("the content-encryption key could not be decrypted with the recipient's private key")]
    KeyTransport,
    #[error("the content could not be decrypted (wrong key or padding)")]
    Cipher,
    #[error("the recipient's private key: {0}")]
    Key(String),
}

/// A recipient's RSA private key, for PKCS#1 v1.5 key transport: in
/// aws-lc for 2048 to 8192 bits (its private operation is about ten times
/// the `rsa` crate's), in the `rsa` crate for other sizes (an old device's
/// 1024-bit key).
pub enum RecipientKey {
    AwsLc(aws_lc_rs::rsa::Pkcs1PrivateDecryptingKey),
    Rsa(Box<rsa::PrivateKey>),
}

impl RecipientKey {
    /// From a PKCS#8 PrivateKeyInfo (DER).
    pub fn from_pkcs8(der: &[u8]) -> Result<RecipientKey, EnvelopeError> {
        use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
        if let Ok(k) = PrivateDecryptingKey::from_pkcs8(der) {
            if let Ok(k) = Pkcs1PrivateDecryptingKey::new(k) {
                return Ok(RecipientKey::AwsLc(k));
            }
        }
        use rsa::pkcs8::DecodePrivateKey;
        rsa::PrivateKey::from_pkcs8_der(der)
            .map(|k| RecipientKey::Rsa(Box::new(k)))
            .map_err(|e| EnvelopeError::Key(e.to_string()))
    }

    /// The content-encryption key inside `enc_key`.
    fn decrypt(&self, enc_key: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        match self {
            RecipientKey::AwsLc(k) => {
                let mut out = vec![0u8; k.min_output_size()];
                k.decrypt(enc_key, &mut out)
                    .map(|plain| plain.to_vec())
                    .map_err(|_| EnvelopeError::KeyTransport)
            }
            RecipientKey::Rsa(k) => k
                .decrypt(rsa::Pkcs1v15Encrypt, enc_key)
                .map_err(|_| EnvelopeError::KeyTransport),
        }
    }
}

impl From<rsa::PrivateKey> for RecipientKey {
    fn from(k: rsa::PrivateKey) -> Self {
        RecipientKey::Rsa(Box::new(k))
    }
}

fn malformed(e: impl std::fmt::Display) -> EnvelopeError {
    EnvelopeError::Malformed(e.to_string())
}

/// The issuer and serial number a certificate is addressed by.
pub(crate) fn issuer_and_serial(cert_der: &[u8]) -> Result<IssuerAndSerialNumber, der::Error> {
    let cert = Certificate::from_der(cert_der)?;
    let tbs = cert.tbs_certificate();
    Ok(IssuerAndSerialNumber {
        issuer: tbs.issuer().clone(),
        serial_number: tbs.serial_number().clone(),
    })
}

/// Encrypts `content` to each of `recipients` (certificate DERs, RSA keys):
/// the ContentInfo DER of an EnvelopedData.
pub fn seal<R: CryptoRng>(
    content: &[u8],
    recipients: &[&[u8]],
    cipher: Cipher,
    rng: &mut R,
) -> Result<Vec<u8>, EnvelopeError> {
    let mut key = vec![0u8; cipher.key_len()];
    rng.fill_bytes(&mut key);
    let mut iv = vec![0u8; cipher.iv_len()];
    rng.fill_bytes(&mut iv);
    let mut infos = Vec::new();
    for cert in recipients {
        infos.push(key_transport(cert, &key, rng)?);
    }
    let iv_param =
        Any::encode_from(&OctetString::new(iv.clone()).map_err(malformed)?).map_err(malformed)?;
    let encrypted = cipher.encrypt(&key, &iv, content)?;
    let data = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos(der::asn1::SetOfVec::try_from(infos).map_err(malformed)?),
        encrypted_content: EncryptedContentInfo {
            content_type: x509_oid::PKCS7_DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: cipher.oid(),
                parameters: Some(iv_param),
            },
            encrypted_content: Some(OctetString::new(encrypted).map_err(malformed)?),
        },
        unprotected_attrs: None,
    };
    let info = ContentInfo {
        content_type: super::oid::ENVELOPED_DATA,
        content: Any::encode_from(&data).map_err(malformed)?,
    };
    info.to_der().map_err(malformed)
}

fn key_transport<R: CryptoRng>(
    cert_der: &[u8],
    key: &[u8],
    rng: &mut R,
) -> Result<RecipientInfo, EnvelopeError> {
    use rsa::pkcs8::DecodePublicKey;
    let cert = Certificate::from_der(cert_der).map_err(malformed)?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(malformed)?;
    let public = rsa::PublicKey::from_public_key_der(&spki)
        .map_err(|_| EnvelopeError::UnsupportedCipher("non-RSA key transport".into()))?;
    let enc_key = public
        .encrypt(rng, rsa::Pkcs1v15Encrypt, key)
        .map_err(|_| EnvelopeError::KeyTransport)?;
    Ok(RecipientInfo::Ktri(KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(
            issuer_and_serial(cert_der).map_err(malformed)?,
        ),
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: x509_oid::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        enc_key: OctetString::new(enc_key).map_err(malformed)?,
    }))
}

/// EnvelopedData as clients send it: Go's pkcs7 (micromdm's scepclient)
/// writes the encrypted content as a constructed `[0]` holding OCTET STRING
/// chunks, which strict DER refuses; this reads either form.
#[derive(der::Sequence)]
pub(super) struct LenientEnvelopedData {
    version: CmsVersion,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    originator_info: Option<cms::enveloped_data::OriginatorInfo>,
    recip_infos: RecipientInfos,
    pub(super) encrypted_content: LenientEncryptedContent,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    unprotected_attrs: Option<x509_cert::attr::Attributes>,
}

#[derive(der::Sequence)]
pub(super) struct LenientEncryptedContent {
    content_type: Oid,
    content_enc_alg: AlgorithmIdentifierOwned,
    /// `[0]`, primitive or constructed.
    #[asn1(optional = "true")]
    pub(super) encrypted_content: Option<Any>,
}

/// The octets of the `[0]` encrypted content, whichever form it has.
pub(super) fn encrypted_octets(any: &Any) -> Result<Vec<u8>, EnvelopeError> {
    use der::Tagged;
    let tag = any.tag();
    if tag.number() != der::TagNumber(0) || !matches!(tag.class(), der::Class::ContextSpecific) {
        return Err(malformed(format!(
            "unexpected {tag} for the encrypted content"
        )));
    }
    if !tag.is_constructed() {
        return Ok(any.value().to_vec());
    }
    let mut out = Vec::new();
    let mut reader = der::SliceReader::new(any.value()).map_err(malformed)?;
    while !der::Reader::is_finished(&reader) {
        let chunk: OctetString = der::Decode::decode(&mut reader).map_err(malformed)?;
        out.extend_from_slice(chunk.as_bytes());
    }
    Ok(out)
}

/// Opens an envelope addressed to `cert_der` with its private key: the
/// content and the cipher it was sent with.
pub fn open(
    envelope: &[u8],
    cert_der: &[u8],
    key: &RecipientKey,
) -> Result<(Vec<u8>, Cipher), EnvelopeError> {
    let info = ContentInfo::from_der(envelope).map_err(malformed)?;
    if info.content_type != super::oid::ENVELOPED_DATA {
        return Err(malformed(format!(
            "content type {} is not envelopedData",
            info.content_type
        )));
    }
    let data: LenientEnvelopedData = info.content.decode_as().map_err(malformed)?;
    let me = issuer_and_serial(cert_der).map_err(malformed)?;
    let enc_key = data
        .recip_infos
        .0
        .iter()
        .find_map(|r| match r {
            RecipientInfo::Ktri(k) => match &k.rid {
                RecipientIdentifier::IssuerAndSerialNumber(i) if *i == me => Some(&k.enc_key),
                _ => None,
            },
            _ => None,
        })
        .ok_or(EnvelopeError::NotForUs)?;
    let content_key = key.decrypt(enc_key.as_bytes())?;
    let _ = (
        &data.version,
        &data.originator_info,
        &data.unprotected_attrs,
    );
    let alg = &data.encrypted_content.content_enc_alg;
    let cipher = Cipher::from_oid(&alg.oid)
        .ok_or_else(|| EnvelopeError::UnsupportedCipher(alg.oid.to_string()))?;
    let iv = alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<OctetString>().ok())
        .ok_or_else(|| malformed("the content cipher has no IV"))?;
    let body = data
        .encrypted_content
        .encrypted_content
        .as_ref()
        .ok_or_else(|| malformed("the envelope has no encrypted content"))
        .and_then(encrypted_octets)?;
    if content_key.len() != cipher.key_len() || iv.as_bytes().len() != cipher.iv_len() {
        return Err(EnvelopeError::Cipher);
    }
    let content = cipher.decrypt(&content_key, iv.as_bytes(), &body)?;
    Ok((content, cipher))
}
