//! The certification authorities: a root and optionally an issuing CA under
//! it, their keys, their certificates across renewals, and the
//! `/CertEnroll/` publication names written into CDP and AIA.

use std::sync::Arc;

use der::Decode;
use x509_cert::name::Name;

use crate::config::CaConfig;
use crate::keys::{KeyAlgorithm, KeyError, SigningKey};
use adcs_proto::clock::UnixTime;
use adcs_proto::names::{common_name, parse_dn};
use adcs_proto::protocol::oid;
use adcs_proto::seed::Seed;
use adcs_proto::x509::{self, extension, CertificateSpec};

/// AD CS backdates notBefore by its clock-skew allowance (10 minutes).
pub const CLOCK_SKEW_SECS: i64 = 600;
const DAY: i64 = 86_400;

/// One certificate of the issuing CA (index = renewal number).
#[derive(Clone, Debug)]
pub struct CaCertificate {
    pub der: Vec<u8>,
    pub key_index: u16,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
}

/// The root of a two-tier hierarchy.
#[derive(Clone, Debug)]
pub struct Root {
    pub key: Arc<SigningKey>,
    pub der: Vec<u8>,
    pub name: Name,
}

/// Keys and certificates of the CA hierarchy.
#[derive(Clone, Debug)]
pub struct Authority {
    pub name: Name,
    pub root: Option<Root>,
    pub certs: Vec<CaCertificate>,
    pub keys: Vec<Arc<SigningKey>>,
}

/// Why the hierarchy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("{0}")]
    Name(#[from] adcs_proto::names::NameError),
    #[error("certificate encoding failed: {0}")]
    Der(#[from] der::Error),
}

fn random_serial(seed: &Seed, label: &str) -> Vec<u8> {
    let mut s = seed.derive(label)[..16].to_vec();
    s[0] &= 0x7f;
    if s[0] == 0 {
        s[0] = 0x61;
    }
    s
}

/// `http://host/CertEnroll/` for this CA.
pub fn enroll_base(config: &CaConfig) -> String {
    let base = config
        .publish_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.host_name));
    format!("{}/CertEnroll/", base.trim_end_matches('/'))
}

fn suffix(index: u16) -> String {
    if index == 0 {
        String::new()
    } else {
        format!("({index})")
    }
}

/// Escapes a file name for a URL as AD CS writes it (spaces as %20).
pub fn url_escape(s: &str) -> String {
    s.replace('%', "%25").replace(' ', "%20")
}

/// The `/CertEnroll/` file name of a CA's CRL for key `key_index`
/// (`<CaName><CRLNameSuffix><DeltaCRLAllowed>.crl`).
pub fn crl_file_name(ca_cn: &str, key_index: u16, delta: bool) -> String {
    format!(
        "{ca_cn}{}{}.crl",
        suffix(key_index),
        if delta { "+" } else { "" }
    )
}

/// The `/CertEnroll/` file name of a CA certificate
/// (`<ServerDNSName>_<CaName><CertificateName>.crt`).
pub fn crt_file_name(host: &str, ca_cn: &str, cert_index: u16) -> String {
    format!("{host}_{ca_cn}{}.crt", suffix(cert_index))
}

fn ca_extensions(
    template_name: &str,
    spki: &[u8],
    issuer_key_id: Option<&[u8]>,
    issuer_urls: Option<(String, String)>,
    cert_index: u16,
    key_index: u16,
) -> Result<Vec<x509_cert::ext::Extension>, der::Error> {
    let kid = x509::key_id(spki)?;
    let mut ext = vec![
        extension(
            oid::TEMPLATE_NAME,
            false,
            x509::template_name_value(template_name),
        ),
        extension(oid::KEY_USAGE, false, x509::key_usage_value(0x86)),
        extension(
            oid::BASIC_CONSTRAINTS,
            true,
            x509::basic_constraints_value(true, None),
        ),
        extension(oid::SUBJECT_KEY_IDENTIFIER, false, x509::ski_value(&kid)),
    ];
    if let Some(aki) = issuer_key_id {
        ext.push(extension(
            oid::AUTHORITY_KEY_IDENTIFIER,
            false,
            x509::aki_value(aki),
        ));
    }
    if let Some((crl, crt)) = issuer_urls {
        ext.push(extension(
            oid::CRL_DISTRIBUTION_POINTS,
            false,
            x509::cdp_value(&[crl])?,
        ));
        ext.push(extension(
            oid::AUTHORITY_INFO_ACCESS,
            false,
            x509::aia_value(&[crt])?,
        ));
    }
    ext.push(extension(
        oid::CA_VERSION,
        false,
        x509::ca_version_value(cert_index, key_index),
    ));
    Ok(ext)
}

impl Authority {
    /// Builds the hierarchy from the seed at time `now`.
    pub fn create(config: &CaConfig, seed: &Seed, now: UnixTime) -> Result<Self, AuthorityError> {
        let name = parse_dn(&config.ca_name)?;
        let root = if config.two_tier {
            let root_name = parse_dn(&config.root_name)?;
            let key = Arc::new(SigningKey::generate(config.root_key, seed, "root/0")?);
            let spki = key.spki_der().to_vec();
            let spec = CertificateSpec {
                serial: &random_serial(seed, "serial/root/0"),
                issuer: &root_name,
                subject: &root_name,
                not_before: now - CLOCK_SKEW_SECS,
                not_after: now + config.root_validity_days as i64 * DAY,
                spki_der: &spki,
                extensions: ca_extensions("CA", &spki, None, None, 0, 0)?,
            };
            let der = x509::build_certificate(&spec, &key)?;
            Some(Root {
                key,
                der,
                name: root_name,
            })
        } else {
            None
        };
        let mut auth = Authority {
            name,
            root,
            certs: Vec::new(),
            keys: Vec::new(),
        };
        auth.add_ca_certificate(config, seed, now, true)?;
        Ok(auth)
    }

    /// Rebuilds a hierarchy from stored parts (the state directory).
    pub fn restore(
        name: Name,
        root: Option<Root>,
        certs: Vec<CaCertificate>,
        keys: Vec<Arc<SigningKey>>,
    ) -> Self {
        Authority {
            name,
            root,
            certs,
            keys,
        }
    }

    /// The CA's common name, as used in publication file names.
    pub fn ca_cn(&self) -> String {
        common_name(&self.name).unwrap_or_else(|| "CA".into())
    }

    /// Renews the CA certificate, with the same key or a new one; returns the new certificate index.
    pub fn renew(
        &mut self,
        config: &CaConfig,
        seed: &Seed,
        now: UnixTime,
        new_key: bool,
    ) -> Result<u16, AuthorityError> {
        self.add_ca_certificate(config, seed, now, new_key)?;
        Ok((self.certs.len() - 1) as u16)
    }

    fn add_ca_certificate(
        &mut self,
        config: &CaConfig,
        seed: &Seed,
        now: UnixTime,
        new_key: bool,
    ) -> Result<(), AuthorityError> {
        if new_key || self.keys.is_empty() {
            let index = self.keys.len();
            self.keys.push(Arc::new(SigningKey::generate(
                config.ca_key,
                seed,
                &format!("ca/{index}"),
            )?));
        }
        let key_index = (self.keys.len() - 1) as u16;
        let cert_index = self.certs.len() as u16;
        let key = self.keys[key_index as usize].clone();
        let spki = key.spki_der().to_vec();
        let not_before = now - CLOCK_SKEW_SECS;
        let serial = random_serial(seed, &format!("serial/ca/{cert_index}"));
        let der = match &self.root {
            Some(root) => {
                let root_cn = common_name(&root.name).unwrap_or_else(|| "CA".into());
                let base = enroll_base(config);
                let urls = (
                    format!("{base}{}", url_escape(&crl_file_name(&root_cn, 0, false))),
                    format!(
                        "{base}{}",
                        url_escape(&crt_file_name(&config.host_name, &root_cn, 0))
                    ),
                );
                let root_kid = x509::key_id(root.key.spki_der())?;
                let root_cert = x509_cert::Certificate::from_der(&root.der)?;
                let root_not_after =
                    x509::unix_time(&root_cert.tbs_certificate().validity().not_after);
                let spec = CertificateSpec {
                    serial: &serial,
                    issuer: &root.name,
                    subject: &self.name,
                    not_before,
                    not_after: (now + config.ca_validity_days as i64 * DAY).min(root_not_after),
                    spki_der: &spki,
                    extensions: ca_extensions(
                        "SubCA",
                        &spki,
                        Some(&root_kid),
                        Some(urls),
                        cert_index,
                        key_index,
                    )?,
                };
                x509::build_certificate(&spec, &root.key)?
            }
            None => {
                let spec = CertificateSpec {
                    serial: &serial,
                    issuer: &self.name,
                    subject: &self.name,
                    not_before,
                    not_after: now + config.root_validity_days as i64 * DAY,
                    spki_der: &spki,
                    extensions: ca_extensions("CA", &spki, None, None, cert_index, key_index)?,
                };
                x509::build_certificate(&spec, &key)?
            }
        };
        let cert = x509_cert::Certificate::from_der(&der)?;
        let validity = cert.tbs_certificate().validity();
        self.certs.push(CaCertificate {
            der,
            key_index,
            not_before: x509::unix_time(&validity.not_before),
            not_after: x509::unix_time(&validity.not_after),
        });
        Ok(())
    }

    /// The certificate index issuance uses now (the newest).
    pub fn current_index(&self) -> u16 {
        (self.certs.len() - 1) as u16
    }

    /// The newest CA certificate.
    pub fn current(&self) -> &CaCertificate {
        self.certs
            .last()
            .expect("a CA has at least one certificate")
    }

    /// The key of a CA certificate.
    pub fn key_for(&self, cert_index: u16) -> Option<&Arc<SigningKey>> {
        let c = self.certs.get(cert_index as usize)?;
        self.keys.get(c.key_index as usize)
    }

    /// The newest certificate made with key `key_index` (it signs that key's CRLs).
    pub fn cert_for_key(&self, key_index: u16) -> Option<&CaCertificate> {
        self.certs.iter().rev().find(|c| c.key_index == key_index)
    }

    /// The chain of CA certificate `cert_index`, issuing CA first, root last.
    pub fn chain(&self, cert_index: u16) -> Option<Vec<Vec<u8>>> {
        let c = self.certs.get(cert_index as usize)?;
        let mut chain = vec![c.der.clone()];
        if let Some(root) = &self.root {
            chain.push(root.der.clone());
        }
        Some(chain)
    }

    /// The self-signed trust anchor (the root, or the only CA's first certificate).
    pub fn trust_anchor(&self) -> &[u8] {
        match &self.root {
            Some(r) => &r.der,
            None => &self.certs[0].der,
        }
    }

    /// Number of CA certificate renewals (certsrv's `nRenewals`).
    pub fn n_renewals(&self) -> u16 {
        self.current_index()
    }

    /// The key algorithm of the issuing CA.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.keys[0].algorithm()
    }
}
