//! The PKIMessage: CMS SignedData whose signed attributes carry the SCEP
//! fields and whose content is the pkcsPKIEnvelope. [`PkiMessage::parse`]
//! reads either direction (a request or a CertRep) and checks its
//! signature; [`Outgoing::sign`] builds either.

use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, ObjectIdentifier as Oid, OctetString, PrintableString, SetOfVec};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::Certificate;

use super::{oid, FailInfo, MessageType, PkiStatus, ScepError};
use crate::protocol::oid as x509_oid;
use crate::signer::Signer;

/// Message digests SCEP signers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digest {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    pub fn oid(self) -> Oid {
        Oid::new_unwrap(match self {
            Digest::Sha1 => "1.3.14.3.2.26",
            Digest::Sha256 => "2.16.840.1.101.3.4.2.1",
            Digest::Sha384 => "2.16.840.1.101.3.4.2.2",
            Digest::Sha512 => "2.16.840.1.101.3.4.2.3",
        })
    }

    pub fn from_oid(o: &Oid) -> Option<Self> {
        [Digest::Sha1, Digest::Sha256, Digest::Sha384, Digest::Sha512]
            .into_iter()
            .find(|d| d.oid() == *o)
    }

    /// The digest inside an RSA or ECDSA signature algorithm.
    pub fn of_signature(sig: &Oid) -> Option<Self> {
        Some(match sig.to_string().as_str() {
            "1.2.840.113549.1.1.5" | "1.2.840.10045.4.1" => Digest::Sha1,
            "1.2.840.113549.1.1.11" | "1.2.840.10045.4.3.2" => Digest::Sha256,
            "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => Digest::Sha384,
            "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => Digest::Sha512,
            _ => return None,
        })
    }

    /// sha*WithRSAEncryption, for signers that name only `rsaEncryption`.
    fn with_rsa(self) -> Oid {
        match self {
            Digest::Sha1 => x509_oid::SHA1_WITH_RSA,
            Digest::Sha256 => x509_oid::SHA256_WITH_RSA,
            Digest::Sha384 => x509_oid::SHA384_WITH_RSA,
            Digest::Sha512 => x509_oid::SHA512_WITH_RSA,
        }
    }

    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        use aws_lc_rs::digest;
        let alg = match self {
            Digest::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Digest::Sha256 => &digest::SHA256,
            Digest::Sha384 => &digest::SHA384,
            Digest::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// A SCEP message as read off the wire.
#[derive(Clone, Debug)]
pub struct PkiMessage {
    pub message_type: MessageType,
    pub transaction_id: String,
    pub sender_nonce: Vec<u8>,
    /// CertRep only: the request's sender nonce echoed.
    pub recipient_nonce: Option<Vec<u8>>,
    /// CertRep only.
    pub status: Option<PkiStatus>,
    /// FAILURE CertRep only.
    pub fail_info: Option<FailInfo>,
    pub digest: Digest,
    /// The signer's certificate: the requester's self-signed (or current)
    /// certificate, or the RA signing certificate of a CertRep.
    pub signer: Vec<u8>,
    /// The pkcsPKIEnvelope (EnvelopedData ContentInfo); none in a FAILURE
    /// or PENDING CertRep.
    pub envelope: Option<Vec<u8>>,
    /// The message digest and signature check out with the signer's key.
    pub signature_valid: bool,
}

fn attr_value<'a>(attrs: &'a [Attribute], id: &Oid) -> Option<&'a Any> {
    attrs
        .iter()
        .find(|a| a.oid == *id)
        .and_then(|a| a.values.iter().next())
}

/// A PrintableString attribute (SCEP sends its numbers as text).
fn attr_text(attrs: &[Attribute], id: &Oid) -> Option<String> {
    attr_value(attrs, id).and_then(|v| String::from_utf8(v.value().to_vec()).ok())
}

fn attr_octets(attrs: &[Attribute], id: &Oid) -> Option<Vec<u8>> {
    attr_value(attrs, id)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .map(|o| o.as_bytes().to_vec())
}

impl PkiMessage {
    /// Reads a PKIMessage (DER) and checks its signature.
    pub fn parse(der: &[u8]) -> Result<PkiMessage, ScepError> {
        let info = ContentInfo::from_der(der).map_err(ScepError::malformed)?;
        if info.content_type != x509_oid::PKCS7_SIGNED_DATA {
            return Err(ScepError::malformed("not CMS SignedData"));
        }
        let sd: SignedData = info.content.decode_as().map_err(ScepError::malformed)?;
        let si = sd
            .signer_infos
            .0
            .iter()
            .next()
            .ok_or_else(|| ScepError::malformed("SignedData without a signer"))?;
        let attrs: Vec<Attribute> = si
            .signed_attrs
            .as_ref()
            .ok_or_else(|| ScepError::malformed("no signed attributes"))?
            .iter()
            .cloned()
            .collect();
        let text = |id: &Oid, what: &str| {
            attr_text(&attrs, id).ok_or_else(|| ScepError::malformed(format!("no {what}")))
        };
        let code = text(&oid::MESSAGE_TYPE, "messageType")?;
        let message_type = MessageType::from_code(&code)
            .ok_or_else(|| ScepError::malformed(format!("unknown messageType {code:?}")))?;
        let transaction_id = text(&oid::TRANSACTION_ID, "transactionID")?;
        let sender_nonce = attr_octets(&attrs, &oid::SENDER_NONCE).unwrap_or_default();
        let digest = Digest::from_oid(&si.digest_alg.oid).ok_or_else(|| {
            ScepError::malformed(format!("digest algorithm {}", si.digest_alg.oid))
        })?;
        let signer = find_signer(&sd, &si.sid)?;
        let content = sd
            .encap_content_info
            .econtent
            .as_ref()
            .map(|c| c.decode_as::<OctetString>().map(|o| o.as_bytes().to_vec()))
            .transpose()
            .map_err(ScepError::malformed)?;
        let signature_valid = check_signature(si, &attrs, &signer, digest, content.as_deref());
        Ok(PkiMessage {
            message_type,
            transaction_id,
            sender_nonce,
            recipient_nonce: attr_octets(&attrs, &oid::RECIPIENT_NONCE),
            status: attr_text(&attrs, &oid::PKI_STATUS).and_then(|s| PkiStatus::from_code(&s)),
            fail_info: attr_text(&attrs, &oid::FAIL_INFO).and_then(|s| FailInfo::from_code(&s)),
            digest,
            signer,
            envelope: content.filter(|c| !c.is_empty()),
            signature_valid,
        })
    }
}

/// SignedData's first signer as a reader checks it: the signer's
/// certificate (among the message's), its signed attributes, and whether
/// the signature over them and their messageDigest of the content hold.
pub(crate) struct SignedBy {
    pub certificate: Vec<u8>,
    pub attributes: Vec<Attribute>,
    pub valid: bool,
}

/// The first signer of `sd`, when it has signed attributes, a known
/// digest and its certificate in the message.
pub(crate) fn signed_by(sd: &SignedData) -> Option<SignedBy> {
    let si = sd.signer_infos.0.iter().next()?;
    let attributes: Vec<Attribute> = si.signed_attrs.as_ref()?.iter().cloned().collect();
    let digest = Digest::from_oid(&si.digest_alg.oid)?;
    let certificate = find_signer(sd, &si.sid).ok()?;
    let content = sd
        .encap_content_info
        .econtent
        .as_ref()
        .and_then(|c| c.decode_as::<OctetString>().ok())
        .map(|o| o.as_bytes().to_vec())
        .unwrap_or_default();
    let valid = check_signature(si, &attributes, &certificate, digest, Some(&content));
    Some(SignedBy {
        certificate,
        attributes,
        valid,
    })
}

/// The certificate the signer identifier names, among the message's certificates.
fn find_signer(sd: &SignedData, sid: &SignerIdentifier) -> Result<Vec<u8>, ScepError> {
    let certs = sd
        .certificates
        .as_ref()
        .map(|c| c.0.iter())
        .into_iter()
        .flatten();
    for c in certs {
        let CertificateChoices::Certificate(cert) = c else {
            continue;
        };
        let der = cert.to_der().map_err(ScepError::malformed)?;
        let isn = super::envelope::issuer_and_serial(&der).map_err(ScepError::malformed)?;
        let hit = match sid {
            SignerIdentifier::IssuerAndSerialNumber(i) => *i == isn,
            SignerIdentifier::SubjectKeyIdentifier(ski) => {
                let spki = cert.tbs_certificate().subject_public_key_info();
                let key = spki.subject_public_key.raw_bytes();
                Digest::Sha1.hash(key) == ski.0.as_bytes()
            }
        };
        if hit {
            return Ok(der);
        }
    }
    Err(ScepError::malformed(
        "the signer's certificate is not in the message",
    ))
}

fn check_signature(
    si: &SignerInfo,
    attrs: &[Attribute],
    signer: &[u8],
    digest: Digest,
    content: Option<&[u8]>,
) -> bool {
    let wanted = digest.hash(content.unwrap_or_default());
    if attr_octets(attrs, &oid::MESSAGE_DIGEST).as_deref() != Some(wanted.as_slice()) {
        return false;
    }
    let Some(signed) = si.signed_attrs.as_ref().and_then(|a| a.to_der().ok()) else {
        return false;
    };
    let Ok(cert) = Certificate::from_der(signer) else {
        return false;
    };
    let Ok(spki) = cert.tbs_certificate().subject_public_key_info().to_der() else {
        return false;
    };
    let mut alg = si.signature_algorithm.oid;
    if alg == x509_oid::RSA_ENCRYPTION {
        alg = digest.with_rsa();
    }
    crate::x509::verify_signature(&alg, &spki, &signed, si.signature.as_bytes())
}

/// A message to sign and send: a request (client) or a CertRep (NDES).
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub message_type: MessageType,
    pub transaction_id: String,
    pub sender_nonce: Vec<u8>,
    pub recipient_nonce: Option<Vec<u8>>,
    pub status: Option<PkiStatus>,
    pub fail_info: Option<FailInfo>,
    /// The pkcsPKIEnvelope; `None` for FAILURE and PENDING replies.
    pub envelope: Option<Vec<u8>>,
}

pub(crate) fn attribute(id: Oid, value: Any) -> Result<Attribute, der::Error> {
    Ok(Attribute {
        oid: id,
        values: SetOfVec::try_from(vec![value])?,
    })
}

fn printable(s: &str) -> Result<Any, der::Error> {
    Any::encode_from(&PrintableString::new(s)?)
}

pub(crate) fn octets(b: &[u8]) -> Result<Any, der::Error> {
    Any::encode_from(&OctetString::new(b.to_vec())?)
}

impl Outgoing {
    /// The signed attributes, message digest included.
    fn attributes(&self, digest: &[u8]) -> Result<SetOfVec<Attribute>, der::Error> {
        let mut list = vec![
            attribute(oid::CONTENT_TYPE, Any::encode_from(&x509_oid::PKCS7_DATA)?)?,
            attribute(oid::MESSAGE_DIGEST, octets(digest)?)?,
            attribute(
                oid::MESSAGE_TYPE,
                printable(&self.message_type.code().to_string())?,
            )?,
            attribute(oid::TRANSACTION_ID, printable(&self.transaction_id)?)?,
            attribute(oid::SENDER_NONCE, octets(&self.sender_nonce)?)?,
        ];
        if let Some(n) = &self.recipient_nonce {
            list.push(attribute(oid::RECIPIENT_NONCE, octets(n)?)?);
        }
        if let Some(s) = self.status {
            list.push(attribute(
                oid::PKI_STATUS,
                printable(&s.code().to_string())?,
            )?);
        }
        if let Some(f) = self.fail_info {
            list.push(attribute(
                oid::FAIL_INFO,
                printable(&f.code().to_string())?,
            )?);
        }
        SetOfVec::try_from(list)
    }

    /// Signs the message with `key` (whose certificate is `signer_cert`),
    /// carrying `signer_cert` and `extra_certs`: the PKIMessage DER.
    pub fn sign(
        &self,
        signer_cert: &[u8],
        key: &dyn Signer,
        extra_certs: &[Vec<u8>],
    ) -> Result<Vec<u8>, ScepError> {
        sign_data(
            self.envelope.as_deref(),
            |digest| self.attributes(digest),
            signer_cert,
            key,
            extra_certs,
        )
    }
}

/// CMS SignedData (a PKCS#7 ContentInfo) over `content` as id-data,
/// signed by `key` (whose certificate is `signer_cert`) over the signed
/// attributes `attributes` makes from the content's digest, carrying
/// `signer_cert` and `extra_certs`: SCEP's messages and an enrollment
/// agent's request ([`crate::agent`]) alike.
pub(crate) fn sign_data(
    content: Option<&[u8]>,
    attributes: impl FnOnce(&[u8]) -> Result<SetOfVec<Attribute>, der::Error>,
    signer_cert: &[u8],
    key: &dyn Signer,
    extra_certs: &[Vec<u8>],
) -> Result<Vec<u8>, ScepError> {
    let sig_alg = key.signature_algorithm();
    let digest = Digest::of_signature(&sig_alg.oid)
        .ok_or_else(|| ScepError::malformed(format!("signature algorithm {}", sig_alg.oid)))?;
    let attrs =
        attributes(&digest.hash(content.unwrap_or_default())).map_err(ScepError::malformed)?;
    let signature = key.sign(&attrs.to_der().map_err(ScepError::malformed)?);
    let digest_alg = AlgorithmIdentifierOwned {
        oid: digest.oid(),
        parameters: None,
    };
    // As Windows' CryptMsg and strongSwan expect: an RSA signer names
    // `rsaEncryption` and leaves the hash to the digest algorithm.
    let rsa = [
        x509_oid::SHA1_WITH_RSA,
        x509_oid::SHA256_WITH_RSA,
        x509_oid::SHA384_WITH_RSA,
        x509_oid::SHA512_WITH_RSA,
    ];
    let sig_alg = if rsa.contains(&sig_alg.oid) {
        AlgorithmIdentifierOwned {
            oid: x509_oid::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        }
    } else {
        sig_alg
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(
            super::envelope::issuer_and_serial(signer_cert).map_err(ScepError::malformed)?,
        ),
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(attrs),
        signature_algorithm: sig_alg,
        signature: OctetString::new(signature).map_err(ScepError::malformed)?,
        unsigned_attrs: None,
    };
    let econtent = match content {
        Some(e) => Some(octets(e).map_err(ScepError::malformed)?),
        None => None,
    };
    let mut certs = vec![signer_cert.to_vec()];
    certs.extend(extra_certs.iter().cloned());
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_alg]).map_err(ScepError::malformed)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: x509_oid::PKCS7_DATA,
            econtent,
        },
        certificates: Some(certificate_set(&certs)?),
        crls: None,
        signer_infos: SignerInfos(
            SetOfVec::try_from(vec![signer_info]).map_err(ScepError::malformed)?,
        ),
    };
    let info = ContentInfo {
        content_type: x509_oid::PKCS7_SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(ScepError::malformed)?,
    };
    info.to_der().map_err(ScepError::malformed)
}

fn certificate_set(certs: &[Vec<u8>]) -> Result<CertificateSet, ScepError> {
    let mut set = Vec::new();
    for c in certs {
        let cert = Certificate::from_der(c).map_err(ScepError::malformed)?;
        set.push(CertificateChoices::Certificate(cert));
    }
    Ok(CertificateSet(
        SetOfVec::try_from(set).map_err(ScepError::malformed)?,
    ))
}
