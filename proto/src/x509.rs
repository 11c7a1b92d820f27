//! DER encoding of what the CA signs: certificates, CRLs, requests, and the
//! extensions AD CS writes. x509-cert supplies the building blocks; the
//! to-be-signed structures are assembled here so every byte (extension order,
//! string types, serial layout) is under our control.

use std::net::IpAddr;

use der::asn1::{
    Any, BitString, BmpString, Ia5String, ObjectIdentifier, OctetString, Utf8StringRef,
};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName, OtherName};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::clock::UnixTime;
use crate::protocol::oid;
use crate::signer::Signer;

/// Encodes `v` to DER; the types encoded here are built in-process and always encode.
fn to_der<T: Encode>(v: &T) -> Vec<u8> {
    v.to_der().expect("DER encoding of an in-memory value")
}

/// An X.509 time: UTCTime through 2049, GeneralizedTime after (RFC 5280).
pub fn x509_time(t: UnixTime) -> Time {
    let dt = date_time(t);
    if dt.year() < 2050 {
        Time::UtcTime(der::asn1::UtcTime::from_date_time(dt).expect("year < 2050"))
    } else {
        Time::GeneralTime(der::asn1::GeneralizedTime::from_date_time(dt))
    }
}

/// The calendar date and time of a Unix time (before 1970 reads as 1970;
/// past 9999, as the end of time).
pub fn date_time(t: UnixTime) -> der::DateTime {
    der::DateTime::from_unix_duration(std::time::Duration::from_secs(t.max(0) as u64))
        .unwrap_or(der::DateTime::INFINITY)
}

/// `2026-11-25T08:00:00Z` for display.
pub fn rfc3339(t: UnixTime) -> String {
    match der::DateTime::from_unix_duration(std::time::Duration::from_secs(t.max(0) as u64)) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minutes(),
            d.seconds()
        ),
        Err(_) => t.to_string(),
    }
}

/// Reads a time as [`rfc3339`] writes it (`2026-11-25T08:00:00Z`; the time of
/// day may be left out) or as Unix seconds.
pub fn parse_time(text: &str) -> Option<UnixTime> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Some(n);
    }
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, "00:00:00"));
    let time = time.trim_end_matches('Z');
    let d: Vec<&str> = date.split('-').collect();
    let h: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || !(2..=3).contains(&h.len()) {
        return None;
    }
    let num = |s: &str| s.parse::<u8>().ok();
    let dt = der::DateTime::new(
        d[0].parse().ok()?,
        num(d[1])?,
        num(d[2])?,
        num(h[0])?,
        num(h[1])?,
        h.get(2).map_or(Some(0), |s| num(s))?,
    )
    .ok()?;
    Some(dt.unix_duration().as_secs() as i64)
}

/// Unix seconds of an X.509 time.
pub fn unix_time(t: &Time) -> UnixTime {
    t.to_unix_duration().as_secs() as i64
}

#[derive(der::Sequence)]
struct Validity {
    not_before: Time,
    not_after: Time,
}

#[derive(der::Sequence)]
struct TbsCertificate {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    spki: Any,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

#[derive(der::Sequence)]
struct Signed {
    tbs: Any,
    algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

fn sign_structure(tbs_der: &[u8], key: &dyn Signer) -> Vec<u8> {
    let signature = key.sign(tbs_der);
    assemble_signed(tbs_der, key.signature_algorithm(), &signature)
        .expect("a structure this crate just encoded")
}

/// Puts a signed structure together (certificate, CRL or PKCS#10) from its
/// TBS DER, the signature algorithm and the signature, for signers outside
/// this crate (request keys).
pub fn assemble_signed(
    tbs_der: &[u8],
    algorithm: AlgorithmIdentifierOwned,
    signature: &[u8],
) -> Result<Vec<u8>, der::Error> {
    Signed {
        tbs: Any::from_der(tbs_der)?,
        algorithm,
        signature: BitString::from_bytes(signature)?,
    }
    .to_der()
}

/// What goes into one certificate.
pub struct CertificateSpec<'a> {
    pub serial: &'a [u8],
    pub issuer: &'a Name,
    pub subject: &'a Name,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
    /// SubjectPublicKeyInfo DER, copied verbatim.
    pub spki_der: &'a [u8],
    pub extensions: Vec<Extension>,
}

/// Encodes the to-be-signed part of a certificate.
pub fn tbs_certificate(
    spec: &CertificateSpec<'_>,
    algorithm: AlgorithmIdentifierOwned,
) -> Result<Vec<u8>, der::Error> {
    let tbs = TbsCertificate {
        version: 2,
        serial: SerialNumber::new(spec.serial)?,
        signature: algorithm,
        issuer: spec.issuer.clone(),
        validity: Validity {
            not_before: x509_time(spec.not_before),
            not_after: x509_time(spec.not_after),
        },
        subject: spec.subject.clone(),
        spki: Any::from_der(spec.spki_der)?,
        extensions: (!spec.extensions.is_empty()).then(|| spec.extensions.clone()),
    };
    tbs.to_der()
}

/// Signs a prepared TBS (certificate, CRL or request info) with `key`.
pub fn sign_tbs(tbs_der: &[u8], key: &dyn Signer) -> Vec<u8> {
    sign_structure(tbs_der, key)
}

#[derive(der::Sequence)]
struct SignedRef<'a> {
    tbs: der::asn1::AnyRef<'a>,
    algorithm: spki::AlgorithmIdentifierRef<'a>,
    signature: der::asn1::BitStringRef<'a>,
}

/// Verifies a signed structure (certificate, CRL or PKCS#10) against a
/// SubjectPublicKeyInfo. RSA PKCS#1 v1.5 with SHA-1/256/384/512 (from 1024
/// bits: key size is policy, not parsing) and ECDSA on P-256/384/521.
pub fn verify_signed(signed_der: &[u8], spki_der: &[u8]) -> bool {
    let Ok(signed) = SignedRef::from_der(signed_der) else {
        return false;
    };
    let Ok(tbs) = signed.tbs.to_der() else {
        return false;
    };
    let Some(sig_bytes) = signed.signature.as_bytes() else {
        return false;
    };
    verify_signature(&signed.algorithm.oid, spki_der, &tbs, sig_bytes)
}

/// Verifies `signature` over `message` made with the algorithm `sig_oid`
/// (the algorithms [`verify_signed`] takes) by the key in `spki_der`.
pub fn verify_signature(
    sig_oid: &ObjectIdentifier,
    spki_der: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    use aws_lc_rs::signature as sig;
    let Ok(spki) = spki::SubjectPublicKeyInfoRef::from_der(spki_der) else {
        return false;
    };
    let curve = spki
        .algorithm
        .parameters
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    if let Some(ok) = verify_outside_aws_lc(sig_oid, curve, spki_der, message, signature) {
        return ok;
    }
    let alg: &dyn sig::VerificationAlgorithm = match (sig_oid.to_string().as_str(), curve) {
        ("1.2.840.113549.1.1.5", _) => &sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        ("1.2.840.113549.1.1.11", _) => &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        ("1.2.840.113549.1.1.12", _) => &sig::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", _) => &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        (ecdsa, Some(c)) => {
            let by_curve = |p256, p384, p521| -> Option<&'static sig::EcdsaVerificationAlgorithm> {
                if c == oid::SECP256R1 {
                    Some(p256)
                } else if c == oid::SECP384R1 {
                    Some(p384)
                } else if c == oid::SECP521R1 {
                    Some(p521)
                } else {
                    None
                }
            };
            let found = match ecdsa {
                "1.2.840.10045.4.1" if c != oid::SECP384R1 => by_curve(
                    &sig::ECDSA_P256_SHA1_ASN1,
                    &sig::ECDSA_P256_SHA1_ASN1,
                    &sig::ECDSA_P521_SHA1_ASN1,
                ),
                "1.2.840.10045.4.3.2" => by_curve(
                    &sig::ECDSA_P256_SHA256_ASN1,
                    &sig::ECDSA_P384_SHA256_ASN1,
                    &sig::ECDSA_P521_SHA256_ASN1,
                ),
                "1.2.840.10045.4.3.3" => by_curve(
                    &sig::ECDSA_P256_SHA384_ASN1,
                    &sig::ECDSA_P384_SHA384_ASN1,
                    &sig::ECDSA_P521_SHA384_ASN1,
                ),
                "1.2.840.10045.4.3.4" => by_curve(
                    &sig::ECDSA_P256_SHA512_ASN1,
                    &sig::ECDSA_P384_SHA512_ASN1,
                    &sig::ECDSA_P521_SHA512_ASN1,
                ),
                _ => None,
            };
            match found {
                Some(a) => a,
                None => return false,
            }
        }
        _ => return false,
    };
    let Some(key) = spki.subject_public_key.as_bytes() else {
        return false;
    };
    sig::UnparsedPublicKey::new(alg, key)
        .verify(message, signature)
        .is_ok()
}

/// The two pairs Windows clients may send that aws-lc-rs cannot verify:
/// sha384RSA with a key under 2048 bits, and ecdsa-with-SHA1 on P-384.
/// `None` for everything else.
fn verify_outside_aws_lc(
    sig_oid: &ObjectIdentifier,
    curve: Option<ObjectIdentifier>,
    spki_der: &[u8],
    tbs: &[u8],
    sig: &[u8],
) -> Option<bool> {
    use aws_lc_rs::digest;
    if *sig_oid == oid::SHA384_WITH_RSA {
        use rsa::pkcs8::DecodePublicKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::PublicKey::from_public_key_der(spki_der).ok()?;
        if key.size() >= 256 {
            return None;
        }
        let hashed = digest::digest(&digest::SHA384, tbs);
        let scheme = rsa::Pkcs1v15Sign::new::<rsa::sha2::Sha384>();
        return Some(key.verify(scheme, hashed.as_ref(), sig).is_ok());
    }
    if *sig_oid == oid::ECDSA_WITH_SHA1 && curve == Some(oid::SECP384R1) {
        use p384::ecdsa::signature::hazmat::PrehashVerifier;
        use p384::pkcs8::DecodePublicKey;
        let key = p384::ecdsa::VerifyingKey::from_public_key_der(spki_der).ok()?;
        let Ok(signature) = p384::ecdsa::Signature::from_der(sig) else {
            return Some(false);
        };
        let hashed = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, tbs);
        return Some(key.verify_prehash(hashed.as_ref(), &signature).is_ok());
    }
    None
}

/// Builds and signs a certificate.
pub fn build_certificate(
    spec: &CertificateSpec<'_>,
    key: &dyn Signer,
) -> Result<Vec<u8>, der::Error> {
    let tbs = tbs_certificate(spec, key.signature_algorithm())?;
    Ok(sign_structure(&tbs, key))
}

/// Builds and signs a PKCS#10 request (used for the CA's own web-server request).
pub fn build_request(
    subject: &Name,
    key: &dyn Signer,
    extensions: Vec<Extension>,
) -> Result<Vec<u8>, der::Error> {
    build_request_with_challenge(subject, key, extensions, None)
}

/// [`build_request`] with a PKCS#9 challengePassword (a SCEP enrollment's
/// one-time password), as a PrintableString when it fits, else UTF-8.
pub fn build_request_with_challenge(
    subject: &Name,
    key: &dyn Signer,
    extensions: Vec<Extension>,
    challenge: Option<&str>,
) -> Result<Vec<u8>, der::Error> {
    use x509_cert::attr::Attribute;
    use x509_cert::request::{CertReqInfo, Version};
    let mut attributes = der::asn1::SetOfVec::new();
    if let Some(password) = challenge {
        let value = match der::asn1::PrintableStringRef::new(password) {
            Ok(p) => Any::encode_from(&p)?,
            Err(_) => Any::encode_from(&der::asn1::Utf8StringRef::new(password)?)?,
        };
        attributes.insert(Attribute {
            oid: oid::CHALLENGE_PASSWORD,
            values: der::asn1::SetOfVec::try_from(vec![value])?,
        })?;
    }
    if !extensions.is_empty() {
        let value = Any::from_der(&extensions.to_der()?)?;
        attributes.insert(Attribute {
            oid: oid::EXTENSION_REQUEST,
            values: der::asn1::SetOfVec::try_from(vec![value])?,
        })?;
    }
    let info = CertReqInfo {
        version: Version::V1,
        subject: subject.clone(),
        public_key: spki::SubjectPublicKeyInfoOwned::from_der(key.spki_der())?,
        attributes,
    };
    Ok(sign_structure(&info.to_der()?, key))
}

/// One revoked certificate on a CRL.
pub struct CrlEntry {
    pub serial: Vec<u8>,
    pub revoked_at: UnixTime,
    /// RFC 5280 CRLReason; `None` for unspecified (AD CS then omits the extension).
    pub reason: Option<u8>,
}

/// What goes into one CRL.
pub struct CrlSpec<'a> {
    pub issuer: &'a Name,
    pub this_update: UnixTime,
    pub next_update: UnixTime,
    pub entries: &'a [CrlEntry],
    pub extensions: Vec<Extension>,
}

/// Builds and signs a v2 CRL.
pub fn build_crl(spec: &CrlSpec<'_>, key: &dyn Signer) -> Result<Vec<u8>, der::Error> {
    use x509_cert::crl::{RevokedCert, TbsCertList};
    let mut revoked: Vec<RevokedCert> = Vec::new();
    for e in spec.entries {
        let crl_entry_extensions = e
            .reason
            .map(|r| vec![extension(oid::CRL_REASON, false, vec![0x0a, 0x01, r])]);
        revoked.push(RevokedCert {
            serial_number: SerialNumber::new(&e.serial)?,
            revocation_date: x509_time(e.revoked_at),
            crl_entry_extensions,
        });
    }
    let tbs = TbsCertList {
        version: x509_cert::certificate::Version::V2,
        signature: key.signature_algorithm(),
        issuer: spec.issuer.clone(),
        this_update: x509_time(spec.this_update),
        next_update: Some(x509_time(spec.next_update)),
        revoked_certificates: (!revoked.is_empty()).then_some(revoked),
        crl_extensions: (!spec.extensions.is_empty()).then(|| spec.extensions.clone()),
    };
    Ok(sign_structure(&tbs.to_der()?, key))
}

/// An extension from its parts.
pub fn extension(extn_id: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Extension {
    Extension {
        extn_id,
        critical,
        extn_value: OctetString::new(value).expect("extension value"),
    }
}

/// KeyUsage value from the Windows CRYPT_BIT_BLOB number (`0xa0`, `0xf0`,
/// `0x8000` = decipherOnly): minimal bytes, minimal unused bits
/// (certreq-scom.md §2.4).
pub fn key_usage_value(bits: u16) -> Vec<u8> {
    let mut bytes = vec![(bits & 0xff) as u8, (bits >> 8) as u8];
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    let unused = bytes.last().map(|b| b.trailing_zeros() as u8).unwrap_or(0);
    let mut out = vec![0x03, (bytes.len() + 1) as u8, unused];
    out.extend_from_slice(&bytes);
    out
}

/// The value of the extension `id` among `extensions`, if there is one.
pub fn extension_value(extensions: &[Extension], id: der::asn1::ObjectIdentifier) -> Option<&[u8]> {
    extensions
        .iter()
        .find(|e| e.extn_id == id)
        .map(|e| e.extn_value.as_bytes())
}

/// The names a SubjectAltName extension among `extensions` holds (none
/// without one, or when it does not read).
pub fn subject_alt_names(extensions: &[Extension]) -> Vec<SanEntry> {
    extension_value(extensions, crate::protocol::oid::SUBJECT_ALT_NAME)
        .and_then(|v| parse_san(v).ok())
        .unwrap_or_default()
}

/// The purposes (OIDs) an ExtendedKeyUsage extension among `extensions`
/// names; `None` without one (any purpose), empty when it does not read.
pub fn extended_key_usages(extensions: &[Extension]) -> Option<Vec<String>> {
    let v = extension_value(extensions, crate::protocol::oid::EXTENDED_KEY_USAGE)?;
    Some(
        Vec::<der::asn1::ObjectIdentifier>::from_der(v)
            .map(|v| v.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
    )
}

/// The Windows key-usage number of a KeyUsage extension value.
pub fn key_usage_bits(value: &[u8]) -> Option<u16> {
    let bs = BitString::from_der(value).ok()?;
    let raw = bs.raw_bytes();
    Some(raw.first().copied().unwrap_or(0) as u16 | (raw.get(1).copied().unwrap_or(0) as u16) << 8)
}

/// ExtendedKeyUsage value.
pub fn eku_value(oids: &[ObjectIdentifier]) -> Vec<u8> {
    to_der(&oids.to_vec())
}

#[derive(der::Sequence)]
struct PolicyOid {
    oid: ObjectIdentifier,
}

/// Application Policies value: SEQUENCE OF SEQUENCE { OID }.
pub fn application_policies_value(oids: &[ObjectIdentifier]) -> Vec<u8> {
    let v: Vec<PolicyOid> = oids.iter().map(|o| PolicyOid { oid: *o }).collect();
    to_der(&v)
}

/// certificatePolicies value without qualifiers: SEQUENCE OF
/// PolicyInformation { policyIdentifier }, as AD CS writes issuance policies.
pub fn certificate_policies_value(oids: &[ObjectIdentifier]) -> Vec<u8> {
    application_policies_value(oids)
}

/// The policy OIDs of a certificatePolicies or Application Policies value
/// (both SEQUENCE OF SEQUENCE { OID, qualifiers OPTIONAL }), in order.
pub fn parse_policy_oids(value: &[u8]) -> Result<Vec<ObjectIdentifier>, der::Error> {
    let policies = x509_cert::ext::pkix::CertificatePolicies::from_der(value)?;
    Ok(policies.0.iter().map(|p| p.policy_identifier).collect())
}

/// v1 template name extension value: a bare BMPString.
pub fn template_name_value(name: &str) -> Vec<u8> {
    to_der(&BmpString::from_utf8(name).expect("template names are BMP text"))
}

/// v2 template extension value: { OID, major, minor }.
#[derive(der::Sequence, Debug, Clone, PartialEq, Eq)]
pub struct TemplateV2 {
    pub oid: ObjectIdentifier,
    pub major: u32,
    pub minor: u32,
}

/// SHA-1 over the subjectPublicKey bits, as Windows computes key identifiers.
pub fn key_id(spki_der: &[u8]) -> Result<Vec<u8>, der::Error> {
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(spki_der)?;
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        spki.subject_public_key.raw_bytes(),
    );
    Ok(d.as_ref().to_vec())
}

/// SubjectKeyIdentifier value.
pub fn ski_value(key_id: &[u8]) -> Vec<u8> {
    to_der(&OctetString::new(key_id).expect("key id"))
}

/// AuthorityKeyIdentifier value with the key identifier only.
pub fn aki_value(key_id: &[u8]) -> Vec<u8> {
    let aki = x509_cert::ext::pkix::AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(key_id).expect("key id")),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    to_der(&aki)
}

fn uri(u: &str) -> Result<GeneralName, der::Error> {
    Ok(GeneralName::UniformResourceIdentifier(Ia5String::new(u)?))
}

fn distribution_points(
    urls: &[String],
) -> Result<Vec<x509_cert::ext::pkix::crl::dp::DistributionPoint>, der::Error> {
    let names = urls.iter().map(|u| uri(u)).collect::<Result<Vec<_>, _>>()?;
    Ok(vec![x509_cert::ext::pkix::crl::dp::DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(names)),
        reasons: None,
        crl_issuer: None,
    }])
}

/// CRLDistributionPoints value with one point listing `urls`.
pub fn cdp_value(urls: &[String]) -> Result<Vec<u8>, der::Error> {
    x509_cert::ext::pkix::CrlDistributionPoints(distribution_points(urls)?).to_der()
}

/// FreshestCRL value (points at the delta CRL).
pub fn freshest_crl_value(urls: &[String]) -> Result<Vec<u8>, der::Error> {
    x509_cert::ext::pkix::FreshestCrl(distribution_points(urls)?).to_der()
}

/// AuthorityInfoAccess value with caIssuers URLs.
pub fn aia_value(ca_issuers: &[String]) -> Result<Vec<u8>, der::Error> {
    use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
    let v = ca_issuers
        .iter()
        .map(|u| {
            Ok(AccessDescription {
                access_method: oid::AD_CA_ISSUERS,
                access_location: uri(u)?,
            })
        })
        .collect::<Result<Vec<_>, der::Error>>()?;
    AuthorityInfoAccessSyntax(v).to_der()
}

/// BasicConstraints value.
pub fn basic_constraints_value(ca: bool, path_len: Option<u8>) -> Vec<u8> {
    to_der(&x509_cert::ext::pkix::BasicConstraints {
        ca,
        path_len_constraint: path_len,
    })
}

/// CA Version value: key index in the high 16 bits, certificate index low.
pub fn ca_version_value(cert_index: u16, key_index: u16) -> Vec<u8> {
    to_der(&(((key_index as u32) << 16) | cert_index as u32))
}

/// CRLNumber / DeltaCRLIndicator value.
pub fn crl_number_value(n: u64) -> Vec<u8> {
    to_der(&n)
}

/// One subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "value")]
pub enum SanEntry {
    Dns(String),
    Ip(IpAddr),
    Upn(String),
    Email(String),
    Url(String),
}

impl std::fmt::Display for SanEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SanEntry::Dns(v) => write!(f, "dns={v}"),
            SanEntry::Ip(v) => write!(f, "ipaddress={v}"),
            SanEntry::Upn(v) => write!(f, "upn={v}"),
            SanEntry::Email(v) => write!(f, "email={v}"),
            SanEntry::Url(v) => write!(f, "url={v}"),
        }
    }
}

/// SubjectAltName value.
pub fn san_value(entries: &[SanEntry]) -> Result<Vec<u8>, der::Error> {
    let mut names = Vec::new();
    for e in entries {
        names.push(match e {
            SanEntry::Dns(v) => GeneralName::DnsName(Ia5String::new(v)?),
            SanEntry::Email(v) => GeneralName::Rfc822Name(Ia5String::new(v)?),
            SanEntry::Url(v) => uri(v)?,
            SanEntry::Ip(IpAddr::V4(a)) => GeneralName::IpAddress(OctetString::new(a.octets())?),
            SanEntry::Ip(IpAddr::V6(a)) => GeneralName::IpAddress(OctetString::new(a.octets())?),
            SanEntry::Upn(v) => GeneralName::OtherName(OtherName {
                type_id: oid::UPN,
                value: Any::encode_from(&Utf8StringRef::new(v)?)?,
            }),
        });
    }
    names.to_der()
}

/// Reads the entries of a SubjectAltName value; names of other kinds are skipped.
pub fn parse_san(value: &[u8]) -> Result<Vec<SanEntry>, der::Error> {
    let names = Vec::<GeneralName>::from_der(value)?;
    let mut out = Vec::new();
    for n in names {
        match n {
            GeneralName::DnsName(s) => out.push(SanEntry::Dns(s.to_string())),
            GeneralName::Rfc822Name(s) => out.push(SanEntry::Email(s.to_string())),
            GeneralName::UniformResourceIdentifier(s) => out.push(SanEntry::Url(s.to_string())),
            GeneralName::IpAddress(o) => {
                let b = o.as_bytes();
                if let Ok(a) = <[u8; 4]>::try_from(b) {
                    out.push(SanEntry::Ip(IpAddr::from(a)));
                } else if let Ok(a) = <[u8; 16]>::try_from(b) {
                    out.push(SanEntry::Ip(IpAddr::from(a)));
                }
            }
            GeneralName::OtherName(o) if o.type_id == oid::UPN => {
                if let Ok(s) = o.value.decode_as::<der::asn1::Utf8StringRef<'_>>() {
                    out.push(SanEntry::Upn(s.as_str().to_string()));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The szOID_NTDS_CA_SECURITY_EXT value an enterprise CA writes for the
/// requester's objectSid (MS-WCCE 2.2.2.7.7.4): a GeneralNames (as a
/// SubjectAltName value) with one otherName whose type is
/// szOID_NTDS_OBJECTSID and whose value is `[0] EXPLICIT OCTET STRING`
/// holding the SID's text in ASCII (`S-1-5-21-…`), not the binary SID:
///
/// ```text
/// 30 L  a0 L  06 0a 2b06010401823719 0201  a0 L  04 L "S-1-5-21-…"
/// ```
///
/// The SID text is the last thing in the value, which is what Certipy's
/// reader relies on (it takes the bytes from `S-1-5` to the end).
pub fn sid_extension_value(sid: &str) -> Result<Vec<u8>, der::Error> {
    if !sid.is_ascii() {
        return Err(der::Tag::OctetString.value_error().into());
    }
    let names = vec![GeneralName::OtherName(OtherName {
        type_id: oid::NTDS_OBJECTSID,
        value: Any::encode_from(&OctetString::new(sid.as_bytes())?)?,
    })];
    names.to_der()
}

/// The SID of a szOID_NTDS_CA_SECURITY_EXT value ([`sid_extension_value`]);
/// `None` when it holds no szOID_NTDS_OBJECTSID otherName with ASCII text.
pub fn parse_sid_extension(value: &[u8]) -> Result<Option<String>, der::Error> {
    let names = Vec::<GeneralName>::from_der(value)?;
    Ok(names.into_iter().find_map(|n| match n {
        GeneralName::OtherName(o) if o.type_id == oid::NTDS_OBJECTSID => o
            .value
            .decode_as::<OctetString>()
            .ok()
            .and_then(|s| String::from_utf8(s.as_bytes().to_vec()).ok())
            .filter(|s| s.is_ascii()),
        _ => None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back_as_written() {
        for t in [0, 1_767_225_600, 2_524_608_000 + 59] {
            assert_eq!(parse_time(&rfc3339(t)), Some(t));
        }
        assert_eq!(parse_time("2026-01-01"), Some(1_767_225_600));
        assert_eq!(parse_time("1767225600"), Some(1_767_225_600));
        assert_eq!(parse_time("2026-13-01"), None);
        assert_eq!(parse_time("soon"), None);
    }

    #[test]
    fn key_usage_encodings_match_windows() {
        assert_eq!(key_usage_value(0xf0), [0x03, 0x02, 0x04, 0xf0]);
        assert_eq!(key_usage_value(0xa0), [0x03, 0x02, 0x05, 0xa0]);
        assert_eq!(key_usage_value(0x80), [0x03, 0x02, 0x07, 0x80]);
        assert_eq!(key_usage_value(0x86), [0x03, 0x02, 0x01, 0x86]);
        assert_eq!(key_usage_value(0x8000), [0x03, 0x03, 0x07, 0x00, 0x80]);
        assert_eq!(key_usage_bits(&key_usage_value(0xa0)), Some(0xa0));
        assert_eq!(key_usage_bits(&key_usage_value(0x8000)), Some(0x8000));
    }

    #[test]
    fn template_name_is_bare_bmpstring() {
        assert_eq!(
            template_name_value("User"),
            [0x1e, 0x08, 0, 0x55, 0, 0x73, 0, 0x65, 0, 0x72]
        );
    }

    #[test]
    fn san_round_trips() {
        let e = vec![
            SanEntry::Dns("a.contoso.test".into()),
            SanEntry::Ip("127.0.0.1".parse().unwrap()),
            SanEntry::Ip("::1".parse().unwrap()),
            SanEntry::Upn("jane@contoso.test".into()),
            SanEntry::Email("jane@contoso.test".into()),
            SanEntry::Url("http://x/".into()),
        ];
        assert_eq!(parse_san(&san_value(&e).unwrap()).unwrap(), e);
    }

    #[test]
    fn times_switch_to_generalized_in_2050() {
        assert!(matches!(x509_time(2_524_607_999), Time::UtcTime(_)));
        assert!(matches!(x509_time(2_524_608_000), Time::GeneralTime(_)));
        assert_eq!(unix_time(&x509_time(1_700_000_000)), 1_700_000_000);
    }

    #[test]
    fn sid_extension_matches_a_windows_ca_and_round_trips() {
        // The layout `openssl asn1parse` shows for a certificate a patched
        // Windows CA issued: SEQUENCE(64) { [0](62) { OID(10) 1.3.6.1.4.1.311.25.2.1,
        // [0](48) { OCTET STRING(46) "S-1-5-21-…-1113" } } }.
        let sid = "S-1-5-21-1954401763-2568157779-1971089446-1113";
        let v = sid_extension_value(sid).unwrap();
        let mut expected = vec![0x30, 0x40, 0xa0, 0x3e, 0x06, 0x0a];
        expected.extend_from_slice(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x19, 0x02, 0x01]);
        expected.extend_from_slice(&[0xa0, 0x30, 0x04, 0x2e]);
        expected.extend_from_slice(sid.as_bytes());
        assert_eq!(v, expected);
        assert_eq!(parse_sid_extension(&v).unwrap().as_deref(), Some(sid));
        // A UPN otherName is not a SID; a SAN value without one reads as None.
        let upn = san_value(&[SanEntry::Upn("a@b".into())]).unwrap();
        assert_eq!(parse_sid_extension(&upn).unwrap(), None);
        assert!(parse_sid_extension(b"\x04\x01x").is_err());
        assert!(sid_extension_value("S-1-5-21-\u{e9}").is_err());
    }
}
