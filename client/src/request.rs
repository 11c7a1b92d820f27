//! `certreq -new`: a PKCS#10 shaped like the ones Windows makes (attributes
//! and extensions of certreq-scom.md §2), or, for `RequestType = Cert`, a
//! self-signed certificate, from a [`RequestSpec`].

use adcs_proto::clock::UnixTime;
use adcs_proto::request::{attribute_value, ClientInfo};
use adcs_proto::x509::{self, CertificateSpec};
use der::asn1::{ObjectIdentifier, SetOfVec};
use der::{Any, Decode, Encode};
use x509_cert::attr::Attribute;
use x509_cert::ext::Extension;
use x509_cert::name::Name;

use crate::inf::{KeyChoice, RequestKind, RequestSpec};
use crate::keys::{KeyError, RequestKey};
use crate::protocol::oid;

/// The OS version certreq on Windows Server 2022 reports (platform 2 = NT).
pub const OS_VERSION: &str = "10.0.20348.2";
/// szOID_REQUEST_CLIENT_INFO client id of certreq (XECI_CERTREQ in MS-WCCE).
pub const CLIENT_ID_CERTREQ: i64 = 9;
/// The CSP certreq uses for RSA keys when the INF names none.
pub const DEFAULT_RSA_PROVIDER: &str = "Microsoft Enhanced Cryptographic Provider v1.0";
/// The CNG provider Windows uses for ECDSA keys (and `KeySpec = 0`).
pub const KSP_PROVIDER: &str = "Microsoft Software Key Storage Provider";
/// The CSP certreq uses for DSA keys (AT_SIGNATURE only).
pub const DSS_PROVIDER: &str = "Microsoft Base DSS Cryptographic Provider";
/// ProviderType 12, PROV_RSA_SCHANNEL.
pub const SCHANNEL_PROVIDER: &str = "Microsoft RSA SChannel Cryptographic Provider";
/// The `[RequestAttributes]` name that selects a template.
pub const TEMPLATE_ATTRIBUTE: &str = "CertificateTemplate";

/// Who is asking, as written into szOID_REQUEST_CLIENT_INFO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requester {
    pub machine: String,
    pub user: String,
    pub os_version: String,
}

impl Requester {
    /// This machine and user, from the environment (`COMPUTERNAME` and
    /// `USERDOMAIN\USERNAME` on Windows; the host name and `USER` elsewhere).
    pub fn from_environment() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let machine = var("COMPUTERNAME")
            .or_else(|| var("HOSTNAME"))
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| "localhost".into());
        let user = match (var("USERDOMAIN"), var("USERNAME").or_else(|| var("USER"))) {
            (Some(d), Some(u)) => format!("{d}\\{u}"),
            (None, Some(u)) => u,
            _ => "unknown".into(),
        };
        Requester {
            machine,
            user,
            os_version: OS_VERSION.into(),
        }
    }
}

/// A request (or self-signed certificate) could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("encoding failed: {0}")]
    Der(#[from] der::Error),
}

/// The (KeySpec, provider) pair the CSP attribute reports.
pub fn provider(spec: &RequestSpec) -> (u32, String) {
    if let Some(p) = &spec.provider_name {
        return (spec.key_spec, p.clone());
    }
    match spec.key {
        KeyChoice::Ecdsa(_) => (0, KSP_PROVIDER.into()),
        KeyChoice::Dsa(_) => (2, DSS_PROVIDER.into()),
        KeyChoice::Rsa(_) if spec.key_spec == 0 => (0, KSP_PROVIDER.into()),
        KeyChoice::Rsa(_) if spec.provider_type == Some(12) => {
            (spec.key_spec, SCHANNEL_PROVIDER.into())
        }
        KeyChoice::Rsa(_) => (spec.key_spec, DEFAULT_RSA_PROVIDER.into()),
    }
}

/// The key usage bits the request carries: the INF's, else digitalSignature
/// plus keyEncipherment for an RSA AT_KEYEXCHANGE key and digitalSignature
/// alone otherwise (what certreq sent in the observed requests).
pub fn effective_key_usage(spec: &RequestSpec) -> Option<u16> {
    spec.key_usage.or_else(|| {
        (!spec.suppress_defaults).then_some(match (spec.key, provider(spec).0) {
            (KeyChoice::Rsa(_), 1) => 0xa0,
            _ => 0x80,
        })
    })
}

/// The template the request names in `[RequestAttributes]`, if any.
pub fn template_attribute(spec: &RequestSpec) -> Option<&str> {
    spec.attributes
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(TEMPLATE_ATTRIBUTE))
        .map(|(_, v)| v.as_str())
}

fn parse_oid(text: &str, what: &str) -> Result<ObjectIdentifier, BuildError> {
    ObjectIdentifier::new(text.trim())
        .map_err(|_| BuildError::Invalid(format!("{what} `{text}` is not an OID")))
}

/// The extensions of the request, in the order certreq writes them.
pub fn request_extensions(
    spec: &RequestSpec,
    key: &RequestKey,
) -> Result<Vec<Extension>, BuildError> {
    let critical = |id: &str| spec.critical.iter().any(|c| c == id);
    let mut out = Vec::new();
    if let Some(t) = template_attribute(spec) {
        out.push(x509::extension(
            oid::TEMPLATE_NAME,
            false,
            x509::template_name_value(t),
        ));
    }
    if !spec.ekus.is_empty() {
        let oids = spec
            .ekus
            .iter()
            .map(|e| parse_oid(e, "EKU"))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(x509::extension(
            oid::EXTENDED_KEY_USAGE,
            critical("2.5.29.37"),
            x509::eku_value(&oids),
        ));
    }
    if let Some(ku) = effective_key_usage(spec) {
        out.push(x509::extension(
            oid::KEY_USAGE,
            true,
            x509::key_usage_value(ku),
        ));
    }
    if !spec.san.is_empty() {
        out.push(x509::extension(
            oid::SUBJECT_ALT_NAME,
            critical("2.5.29.17"),
            x509::san_value(&spec.san)?,
        ));
    }
    if let Some(bc) = spec.basic_constraints {
        let path_len = match bc.path_length {
            None => None,
            Some(n) => Some(u8::try_from(n).map_err(|_| {
                BuildError::Invalid(format!("path length {n} is too large (at most 255)"))
            })?),
        };
        out.push(x509::extension(
            oid::BASIC_CONSTRAINTS,
            critical("2.5.29.19"),
            x509::basic_constraints_value(bc.ca, path_len),
        ));
    }
    if spec.smime {
        out.push(x509::extension(
            oid::SMIME_CAPABILITIES,
            false,
            smime_capabilities_value(),
        ));
    }
    for raw in &spec.raw_extensions {
        let id = parse_oid(&raw.oid, "extension")?;
        out.push(x509::extension(id, critical(&raw.oid), raw.value.clone()));
    }
    if !spec.suppress_defaults {
        let key_id = x509::key_id(key.spki_der())?;
        out.push(x509::extension(
            oid::SUBJECT_KEY_IDENTIFIER,
            false,
            x509::ski_value(&key_id),
        ));
    }
    Ok(out)
}

/// S/MIME capabilities: AES-256, AES-128 and 3DES in CBC mode.
fn smime_capabilities_value() -> Vec<u8> {
    #[derive(der::Sequence)]
    struct Capability {
        id: ObjectIdentifier,
    }
    let caps: Vec<Capability> = [
        "2.16.840.1.101.3.4.1.42",
        "2.16.840.1.101.3.4.1.2",
        "1.2.840.113549.3.7",
    ]
    .iter()
    .map(|o| Capability {
        id: ObjectIdentifier::new_unwrap(o),
    })
    .collect();
    caps.to_der().expect("fixed capability list")
}

fn attribute(id: ObjectIdentifier, values: Vec<Any>) -> Result<Attribute, BuildError> {
    Ok(Attribute {
        oid: id,
        values: SetOfVec::try_from(values)?,
    })
}

/// The request attributes: Windows' defaults (OS version, client info, CSP),
/// the `[RequestAttributes]` pairs and the extension request.
fn request_attributes(
    spec: &RequestSpec,
    extensions: &[Extension],
    who: &Requester,
) -> Result<SetOfVec<Attribute>, BuildError> {
    let mut attrs = Vec::new();
    if !spec.suppress_defaults {
        attrs.push(attribute(
            oid::OS_VERSION,
            vec![attribute_value::os_version(&who.os_version)?],
        )?);
        attrs.push(attribute(
            oid::REQUEST_CLIENT_INFO,
            vec![attribute_value::client_info(&ClientInfo {
                client_id: CLIENT_ID_CERTREQ,
                machine: who.machine.clone(),
                user: who.user.clone(),
                process: "certreq".into(),
            })?],
        )?);
        let (key_spec, provider) = provider(spec);
        attrs.push(attribute(
            oid::ENROLLMENT_CSP_PROVIDER,
            vec![attribute_value::csp_provider(key_spec.into(), &provider)?],
        )?);
    }
    if !spec.attributes.is_empty() {
        let values = spec
            .attributes
            .iter()
            .map(|(n, v)| attribute_value::name_value_pair(n, v))
            .collect::<Result<Vec<_>, _>>()?;
        attrs.push(attribute(oid::ENROLLMENT_NAME_VALUE_PAIR, values)?);
    }
    if !extensions.is_empty() {
        attrs.push(attribute(
            oid::EXTENSION_REQUEST,
            vec![Any::from_der(&extensions.to_vec().to_der()?)?],
        )?);
    }
    // DER orders a SET by encoding, as Windows does.
    Ok(SetOfVec::try_from(attrs)?)
}

fn subject(spec: &RequestSpec) -> Result<Name, BuildError> {
    adcs_proto::names::parse_dn(&spec.subject).map_err(|e| {
        BuildError::Invalid(format!(
            "Subject `{}` is not a distinguished name: {}",
            spec.subject, e.reason
        ))
    })
}

/// Builds and signs the PKCS#10 request (DER).
pub fn build_pkcs10(
    spec: &RequestSpec,
    key: &RequestKey,
    who: &Requester,
) -> Result<Vec<u8>, BuildError> {
    use x509_cert::request::{CertReqInfo, Version};
    let extensions = request_extensions(spec, key)?;
    let info = CertReqInfo {
        version: Version::V1,
        subject: subject(spec)?,
        public_key: spki::SubjectPublicKeyInfoOwned::from_der(key.spki_der())?,
        attributes: request_attributes(spec, &extensions, who)?,
    };
    let tbs = info.to_der()?;
    let signature = key.sign(spec.hash, &tbs)?;
    Ok(x509::assemble_signed(
        &tbs,
        key.signature_algorithm(spec.hash),
        &signature,
    )?)
}

/// Builds the self-signed certificate of `RequestType = Cert`: valid from
/// `now` for `ValidityPeriod` (one year by default), with the request's
/// extensions and a 16-byte serial from `serial_random`.
pub fn build_self_signed(
    spec: &RequestSpec,
    key: &RequestKey,
    now: UnixTime,
    serial_random: [u8; 16],
) -> Result<Vec<u8>, BuildError> {
    let name = subject(spec)?;
    let mut serial = serial_random.to_vec();
    serial[0] &= 0x7f;
    serial[0] |= 0x40; // positive and exactly 16 bytes long
    let days = i64::from(spec.validity_days.unwrap_or(365));
    let cert = CertificateSpec {
        serial: &serial,
        issuer: &name,
        subject: &name,
        not_before: now,
        not_after: now + days * 86_400,
        spki_der: key.spki_der(),
        extensions: request_extensions(spec, key)?,
    };
    let tbs = x509::tbs_certificate(&cert, key.signature_algorithm(spec.hash))?;
    let signature = key.sign(spec.hash, &tbs)?;
    Ok(x509::assemble_signed(
        &tbs,
        key.signature_algorithm(spec.hash),
        &signature,
    )?)
}

/// The stand-in certificate certreq keeps in the Windows `REQUEST` store
/// while a request waits: self-signed by the request's key, with the
/// request's subject, valid a year from `now`, so the key has a
/// certificate to hang on until the real one is accepted.
pub fn placeholder_certificate(
    pkcs10: &[u8],
    key: &RequestKey,
    now: UnixTime,
) -> Result<Vec<u8>, BuildError> {
    use crate::inf::HashChoice;
    let request = x509_cert::request::CertReq::from_der(pkcs10)?;
    let name = &request.info.subject;
    let mut serial = x509::key_id(key.spki_der())?;
    serial.truncate(16);
    serial[0] = (serial[0] & 0x7f) | 0x40;
    let cert = CertificateSpec {
        serial: &serial,
        issuer: name,
        subject: name,
        not_before: now,
        not_after: now + 365 * 86_400,
        spki_der: key.spki_der(),
        extensions: Vec::new(),
    };
    let algorithm = key.signature_algorithm(HashChoice::Sha256);
    let tbs = x509::tbs_certificate(&cert, algorithm.clone())?;
    let signature = key.sign(HashChoice::Sha256, &tbs)?;
    Ok(x509::assemble_signed(&tbs, algorithm, &signature)?)
}

/// What `certreq -new` wrote.
#[derive(Debug)]
pub struct NewRequest {
    pub kind: RequestKind,
    /// The PKCS#10 or, for `RequestType = Cert`, the certificate (DER).
    pub der: Vec<u8>,
    pub key: RequestKey,
}

impl NewRequest {
    /// The file text certreq writes: `NEW CERTIFICATE REQUEST` armour (or
    /// `CERTIFICATE` for a self-signed certificate), CRLF, 64 columns.
    pub fn pem(&self) -> String {
        let label = match self.kind {
            RequestKind::Pkcs10 => "NEW CERTIFICATE REQUEST",
            RequestKind::Cert => "CERTIFICATE",
        };
        adcs_proto::encoding::pem(label, &self.der)
    }
}

/// Generates the key and builds what the spec asks for.
pub fn new_request(
    spec: &RequestSpec,
    rng: &mut rand_chacha::ChaCha20Rng,
    who: &Requester,
    now: UnixTime,
) -> Result<NewRequest, BuildError> {
    use rand_core::Rng;
    let key = RequestKey::generate(spec.key, rng)?;
    let der = match spec.request_type {
        RequestKind::Pkcs10 => build_pkcs10(spec, &key, who)?,
        RequestKind::Cert => {
            let mut serial = [0u8; 16];
            rng.fill_bytes(&mut serial);
            build_self_signed(spec, &key, now, serial)?
        }
    };
    Ok(NewRequest {
        kind: spec.request_type,
        der,
        key,
    })
}
