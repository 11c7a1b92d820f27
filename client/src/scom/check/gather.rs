//! The facts the rules look at, gathered from a certificate, a request or
//! an INF's request spec, so every rule sees one shape whatever was checked.

use adcs_proto::protocol::oid;
use adcs_proto::public_key::PublicKeyKind;
use der::{Decode, Encode};
use x509_cert::Certificate;

use super::{ChainState, Facts, KeyState, RegistryState, Target};
use crate::inf::{HashChoice, KeyChoice, RequestSpec};

/// The signature algorithm's certutil name and hash.
fn signature_name(alg: &der::asn1::ObjectIdentifier) -> (String, String) {
    let known = [
        (oid::SHA1_WITH_RSA, "sha1RSA", "SHA1"),
        (oid::SHA256_WITH_RSA, "sha256RSA", "SHA256"),
        (oid::SHA384_WITH_RSA, "sha384RSA", "SHA384"),
        (oid::SHA512_WITH_RSA, "sha512RSA", "SHA512"),
        (oid::ECDSA_WITH_SHA1, "sha1ECDSA", "SHA1"),
        (oid::ECDSA_WITH_SHA256, "sha256ECDSA", "SHA256"),
        (oid::ECDSA_WITH_SHA384, "sha384ECDSA", "SHA384"),
        (oid::ECDSA_WITH_SHA512, "sha512ECDSA", "SHA512"),
    ];
    known
        .iter()
        .find(|(o, _, _)| o == alg)
        .map(|(_, n, h)| (n.to_string(), h.to_string()))
        .unwrap_or_else(|| (alg.to_string(), alg.to_string()))
}

fn cn_values(name: &x509_cert::name::Name) -> Vec<String> {
    let cn = der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");
    let mut out = Vec::new();
    for rdn in name.iter_rdn() {
        for atv in rdn.iter() {
            if atv.oid == cn {
                out.push(adcs_proto::names::attribute_text(atv));
            }
        }
    }
    // The most specific CN (encoded last) is the one Windows shows first.
    out.reverse();
    out
}

fn dns_of(san: &[adcs_proto::x509::SanEntry]) -> Vec<String> {
    san.iter()
        .filter_map(|e| match e {
            adcs_proto::x509::SanEntry::Dns(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn template_of(exts: &[x509_cert::ext::Extension]) -> Option<String> {
    if let Some(e) = exts.iter().find(|e| e.extn_id == oid::TEMPLATE_V2) {
        if let Ok(t) = adcs_proto::x509::TemplateV2::from_der(e.extn_value.as_bytes()) {
            return Some(t.oid.to_string());
        }
    }
    let e = exts.iter().find(|e| e.extn_id == oid::TEMPLATE_NAME)?;
    der::asn1::BmpString::from_der(e.extn_value.as_bytes())
        .ok()
        .map(|s| s.to_string())
}

fn ku_of(exts: &[x509_cert::ext::Extension]) -> Option<(u16, bool)> {
    let e = exts.iter().find(|e| e.extn_id == oid::KEY_USAGE)?;
    Some((
        adcs_proto::x509::key_usage_bits(e.extn_value.as_bytes()).unwrap_or(0),
        e.critical,
    ))
}

/// A certificate, request or INF the checker cannot read: which one
/// (its file or thumbprint; empty for one held in memory), and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", if origin.is_empty() { String::new() } else { format!("{origin}: ") })]
pub struct FactsError {
    pub origin: String,
    pub reason: String,
}

impl FactsError {
    fn new(source: &str, reason: String) -> Self {
        FactsError {
            origin: source.to_string(),
            reason,
        }
    }
}

impl Facts {
    /// The facts a certificate itself carries; key, chain and registry
    /// states start as unknown / skipped for the caller to fill in.
    pub fn of_certificate(der: &[u8], source: &str) -> Result<Facts, FactsError> {
        let cert = Certificate::from_der(der)
            .map_err(|e| FactsError::new(source, format!("not a certificate: {e}")))?;
        let tbs = cert.tbs_certificate();
        let exts: Vec<x509_cert::ext::Extension> = tbs.extensions().cloned().unwrap_or_default();
        let san = exts
            .iter()
            .find(|e| e.extn_id == oid::SUBJECT_ALT_NAME)
            .and_then(|e| adcs_proto::x509::parse_san(e.extn_value.as_bytes()).ok())
            .unwrap_or_default();
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| FactsError::new(source, format!("public key: {e}")))?;
        Ok(Facts {
            target: Target::Certificate,
            source: source.to_string(),
            subject: adcs_proto::names::format_dn(tbs.subject()),
            common_names: cn_values(tbs.subject()),
            dns_names: dns_of(&san),
            key_usage: ku_of(&exts),
            ekus: adcs_proto::x509::extended_key_usages(&exts),
            public_key: PublicKeyKind::of_spki(&spki).ok(),
            signature: Some(signature_name(&cert.signature_algorithm().oid)),
            template: template_of(&exts),
            validity: Some((
                adcs_proto::x509::unix_time(&tbs.validity().not_before),
                adcs_proto::x509::unix_time(&tbs.validity().not_after),
            )),
            key: KeyState::Unknown,
            key_spec: None,
            provider: None,
            machine_key_set: None,
            exportable: None,
            chain: ChainState::Unknown,
            registry: RegistryState::Skipped,
            thumbprint: Some(crate::store::thumbprint(der)),
            serial: Some(tbs.serial_number().as_bytes().to_vec()),
            inf_warnings: Vec::new(),
        })
    }

    /// The facts of a request file (PEM or DER PKCS#10, or a PKCS#7 renewal).
    pub fn of_request(bytes: &[u8], source: &str) -> Result<Facts, FactsError> {
        let parsed = adcs_proto::request::parse_request(bytes)
            .map_err(|e| FactsError::new(source, format!("not a certificate request: {e}")))?;
        let sig = x509_cert::request::CertReq::from_der(&parsed.der)
            .ok()
            .map(|r| signature_name(&r.algorithm.oid));
        let template = template_of(&parsed.extensions).or_else(|| {
            parsed
                .attribute(crate::request::TEMPLATE_ATTRIBUTE)
                .map(str::to_string)
        });
        Ok(Facts {
            target: Target::Request,
            source: source.to_string(),
            subject: adcs_proto::names::format_dn(&parsed.subject),
            common_names: cn_values(&parsed.subject),
            dns_names: dns_of(&parsed.san()),
            key_usage: ku_of(&parsed.extensions),
            ekus: adcs_proto::x509::extended_key_usages(&parsed.extensions),
            public_key: Some(parsed.key.clone()),
            signature: sig,
            template,
            validity: None,
            key: KeyState::Unknown,
            key_spec: parsed.csp.as_ref().map(|c| c.key_spec as u32),
            provider: parsed.csp.as_ref().map(|c| c.provider.clone()),
            machine_key_set: None,
            exportable: None,
            chain: ChainState::Unknown,
            registry: RegistryState::Skipped,
            thumbprint: None,
            serial: None,
            inf_warnings: Vec::new(),
        })
    }

    /// The facts of what an INF asks for.
    pub fn of_spec(spec: &RequestSpec, source: &str) -> Result<Facts, FactsError> {
        let subject = adcs_proto::names::parse_dn(&spec.subject)
            .map_err(|e| FactsError::new(source, format!("Subject: {e}")))?;
        // certreq marks the key usage it writes critical.
        let ku = crate::request::effective_key_usage(spec).map(|bits| (bits, true));
        let (key_spec, provider) = crate::request::provider(spec);
        let hash = match spec.hash {
            HashChoice::Sha1 => "SHA1",
            HashChoice::Sha256 => "SHA256",
            HashChoice::Sha384 => "SHA384",
            HashChoice::Sha512 => "SHA512",
        };
        Ok(Facts {
            target: Target::Inf,
            source: source.to_string(),
            subject: adcs_proto::names::format_dn(&subject),
            common_names: cn_values(&subject),
            dns_names: dns_of(&spec.san),
            key_usage: ku,
            ekus: (!spec.ekus.is_empty()).then(|| spec.ekus.clone()),
            public_key: Some(match spec.key {
                KeyChoice::Rsa(bits) => PublicKeyKind::Rsa { bits },
                KeyChoice::Dsa(bits) => PublicKeyKind::Dsa { bits },
                KeyChoice::Ecdsa(bits) => PublicKeyKind::Ec {
                    curve: format!("P-{bits}"),
                    bits,
                },
            }),
            signature: Some((format!("HashAlgorithm = {hash}"), hash.to_string())),
            template: crate::request::template_attribute(spec).map(str::to_string),
            validity: None,
            key: KeyState::Unknown,
            key_spec: Some(key_spec),
            provider: Some(provider),
            machine_key_set: Some(spec.machine_key_set),
            exportable: Some(spec.exportable),
            chain: ChainState::Unknown,
            registry: RegistryState::Skipped,
            thumbprint: None,
            serial: None,
            inf_warnings: spec.warnings.iter().map(ToString::to_string).collect(),
        })
    }
}
