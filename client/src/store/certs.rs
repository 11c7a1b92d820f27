//! What the store reads from certificates: thumbprints, the files
//! certreq -accept takes (DER, PEM, base64, PKCS#7), the fields an entry
//! shows, and the key container a public key lands in.

use der::{Decode, Encode};
use x509_cert::Certificate;

/// Upper-case hex.
pub fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// SHA-1 thumbprint of a certificate.
pub fn thumbprint(der: &[u8]) -> String {
    hex_upper(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref())
}

/// The certificates in a file as certreq -accept takes it: DER or PEM, a
/// single certificate or a PKCS#7 chain.
pub fn read_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, NotCertificates> {
    certificates_in(bytes).map_err(NotCertificates)
}

/// Bytes that hold no certificate certreq -accept would take, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotCertificates(pub String);

fn certificates_in(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let text = std::str::from_utf8(bytes).ok();
    let mut ders = Vec::new();
    if let Some(text) = text.filter(|t| t.contains("-----BEGIN")) {
        // certsrv labels its PKCS#7 downloads CERTIFICATE too.
        for block in adcs_proto::encoding::pem_blocks(text, "CERTIFICATE") {
            if Certificate::from_der(&block).is_ok() {
                ders.push(block);
            } else {
                ders.extend(
                    adcs_proto::encoding::pkcs7_certificates(&block).map_err(|e| {
                        format!(
                            "a CERTIFICATE block is neither a certificate nor a PKCS#7 chain ({e})"
                        )
                    })?,
                );
            }
        }
        for label in ["PKCS7", "CERTIFICATE CHAIN"] {
            for p7 in adcs_proto::encoding::pem_blocks(text, label) {
                ders.extend(
                    adcs_proto::encoding::pkcs7_certificates(&p7).map_err(|e| e.to_string())?,
                );
            }
        }
        if ders.is_empty() {
            return Err("no CERTIFICATE or PKCS7 block in the PEM text".into());
        }
    } else if let Some(text) = text.filter(|t| {
        let t = t.trim();
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=\r\n ".contains(&b))
    }) {
        use base64::Engine;
        let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map_err(|e| format!("not base64: {e}"))?;
        return certificates_in(&der);
    } else if Certificate::from_der(bytes).is_ok() {
        ders.push(bytes.to_vec());
    } else {
        ders.extend(
            adcs_proto::encoding::pkcs7_certificates(bytes)
                .map_err(|e| format!("neither a certificate nor a PKCS#7 chain ({e})"))?,
        );
    }
    for d in &ders {
        Certificate::from_der(d).map_err(|e| format!("a certificate does not parse: {e}"))?;
    }
    Ok(ders)
}

/// Whether a certificate names itself as issuer (a root).
pub fn is_self_signed(der: &[u8]) -> bool {
    cert_info(der).is_ok_and(|i| i.subject_der == i.issuer_der)
}

/// Parsed fields of a certificate, as the store files and finds it.
pub(super) struct CertInfo {
    pub(super) subject: String,
    pub(super) issuer: String,
    pub(super) subject_der: Vec<u8>,
    pub(super) issuer_der: Vec<u8>,
    pub(super) serial: String,
    pub(super) not_before: i64,
    pub(super) not_after: i64,
    pub(super) spki: Vec<u8>,
}

pub(super) fn cert_info(der: &[u8]) -> Result<CertInfo, String> {
    let c = Certificate::from_der(der).map_err(|e| format!("certificate does not parse: {e}"))?;
    let tbs = c.tbs_certificate();
    Ok(CertInfo {
        subject: adcs_proto::names::format_dn(tbs.subject()),
        issuer: adcs_proto::names::format_dn(tbs.issuer()),
        subject_der: tbs.subject().to_der().map_err(|e| e.to_string())?,
        issuer_der: tbs.issuer().to_der().map_err(|e| e.to_string())?,
        serial: hex_upper(tbs.serial_number().as_bytes()),
        not_before: adcs_proto::x509::unix_time(&tbs.validity().not_before),
        not_after: adcs_proto::x509::unix_time(&tbs.validity().not_after),
        spki: tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| e.to_string())?,
    })
}

/// The key container name for a public key: stable, so the same key always
/// lands in the same container.
pub fn container_name(spki_der: &[u8]) -> String {
    let id = adcs_proto::x509::key_id(spki_der).unwrap_or_else(|_| {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, spki_der)
            .as_ref()
            .to_vec()
    });
    format!("adcs-{}", adcs_proto::hex::hex(&id))
}
