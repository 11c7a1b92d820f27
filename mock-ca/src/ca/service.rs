//! Certificates the CA issues to its own services when they are set up:
//! the certsrv site's TLS certificate (request 1 of every fresh CA), the
//! two registration-authority certificates NDES enrolls for at install
//! (Exchange Enrollment Agent (Offline request) to sign SCEP replies, CEP
//! Encryption to receive SCEP requests), and the domain controller's
//! certificate its LDAPS listener presents.

use super::*;

/// What one service certificate holds.
struct ServiceCert<'a> {
    subject: String,
    key: &'a SigningKey,
    san: Option<x509_cert::ext::Extension>,
    key_usage: u16,
    ekus: &'a [&'a str],
    template: &'a str,
    validity_days: u32,
}

/// NDES's RA certificates (DER), issued by the current CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaCertificates {
    /// Signs CertRep messages (digitalSignature).
    pub signing: Vec<u8>,
    /// Requests are encrypted to it (keyEncipherment).
    pub encryption: Vec<u8>,
}

/// Template names of the RA certificates (what NDES setup enrolls for).
const RA_SIGNING_TEMPLATE: &str = "EnrollmentAgentOffline";
const RA_ENCRYPTION_TEMPLATE: &str = "CEPEncryption";
/// The template of a domain controller's certificate.
const DC_TEMPLATE: &str = "DomainController";

impl Ca {
    /// Request 1 of every fresh CA: the certsrv site's own TLS certificate
    /// (the "HTTPS binding"), so ID 1 always exists and is retrievable.
    pub(super) fn issue_web_server_certificate(&self) -> Result<(), CaError> {
        let mut st = self.lock();
        let host = st.config.host_name.clone();
        let san: Vec<SanEntry> = st
            .config
            .server_names
            .iter()
            .map(|n| {
                n.parse()
                    .map(SanEntry::Ip)
                    .unwrap_or_else(|_| SanEntry::Dns(n.clone()))
            })
            .collect();
        let san_ext = extension(
            oid::SUBJECT_ALT_NAME,
            false,
            x509::san_value(&san).map_err(AuthorityError::from)?,
        );
        let key = st.tls_key.clone();
        let spec = ServiceCert {
            subject: format!("CN={host}"),
            key: &key,
            san: Some(san_ext),
            key_usage: 0x80,
            ekus: &[oid::EKU_SERVER_AUTH],
            template: "WebServer",
            validity_days: 730,
        };
        self.issue_service(&mut st, &spec).map(|_| ())
    }

    /// NDES's RA certificates for these keys: the ones issued before (a
    /// restarted server keeps them), else two new requests.
    pub fn ra_certificates(
        &self,
        signing: &SigningKey,
        encryption: &SigningKey,
    ) -> Result<RaCertificates, CaError> {
        let mut st = self.lock();
        let host = st.config.host_name.clone();
        let computer = host.split('.').next().unwrap_or(&host).to_ascii_uppercase();
        let mut get = |key: &SigningKey, template: &str, key_usage: u16| {
            if let Some(der) = find_issued(&st, template, key.spki_der())? {
                return Ok(der);
            }
            let spec = ServiceCert {
                subject: format!("CN={computer}-MSCEP-RA, C=US"),
                key,
                san: None,
                key_usage,
                ekus: &[oid::EKU_CERTIFICATE_REQUEST_AGENT],
                template,
                validity_days: 730,
            };
            let id = self.issue_service(&mut st, &spec)?;
            Ok::<_, CaError>(
                st.db
                    .get(id)?
                    .and_then(|r| r.certificate.clone())
                    .unwrap_or_default(),
            )
        };
        Ok(RaCertificates {
            signing: get(signing, RA_SIGNING_TEMPLATE, 0x80)?,
            encryption: get(encryption, RA_ENCRYPTION_TEMPLATE, 0x20)?,
        })
    }

    /// The domain controller's certificate for `key`, leaf first with the
    /// CA's chain, as its autoenrollment gets one from the DomainController
    /// template: CN=<DC's DNS name>, `names` in the SAN, client and server
    /// authentication. Signed by the CA but kept out of its database (its
    /// serial carries request ID 0), so that whether the directory runs
    /// does not move the request numbering clients see.
    pub fn domain_controller_certificate(
        &self,
        key: &SigningKey,
        dc_host: &str,
        names: &[String],
    ) -> Result<Vec<Vec<u8>>, CaError> {
        let st = self.lock();
        let san: Vec<SanEntry> = names
            .iter()
            .map(|n| {
                n.parse()
                    .map(SanEntry::Ip)
                    .unwrap_or_else(|_| SanEntry::Dns(n.clone()))
            })
            .collect();
        let san = extension(
            oid::SUBJECT_ALT_NAME,
            false,
            x509::san_value(&san).map_err(AuthorityError::from)?,
        );
        let spec = ServiceCert {
            subject: format!("CN={dc_host}"),
            key,
            san: Some(san),
            key_usage: 0xa0,
            ekus: &[oid::EKU_CLIENT_AUTH, oid::EKU_SERVER_AUTH],
            template: DC_TEMPLATE,
            validity_days: 365,
        };
        let (plan, _) = service_plan(&st, &spec)?;
        let leaf = self.sign_unrecorded(&st, &plan, key.spki_der())?;
        let mut chain = vec![leaf];
        chain.extend(
            st.authority
                .chain(st.authority.current_index())
                .unwrap_or_default(),
        );
        Ok(chain)
    }

    /// Issues `spec` as a new request from the CA host's computer account.
    fn issue_service(&self, st: &mut State, spec: &ServiceCert<'_>) -> Result<u32, CaError> {
        let host = st.config.host_name.clone();
        let (plan, requested) = service_plan(st, spec)?;
        let request = x509::build_request(&plan.subject, spec.key, requested)
            .map_err(AuthorityError::from)?;
        let requester = Requester::new(&format!(
            "{}\\{}$",
            st.config.netbios_domain,
            host.split('.').next().unwrap_or(&host).to_ascii_uppercase()
        ));
        let spki = spec.key.spki_der().to_vec();
        let id = st.db.allocate_id();
        let now = self.clock.now();
        let mut row = new_row(id, request, requester, Vec::new(), now);
        self.issue_into(st, &mut row, &plan, &spki, now, disposition_message::ISSUED)?;
        commit(st, row)?;
        Ok(id)
    }
}

/// What a service certificate's issuance writes, and the extensions its
/// request asks for (SAN, key usage).
fn service_plan(
    st: &State,
    spec: &ServiceCert<'_>,
) -> Result<(IssuePlan, Vec<x509_cert::ext::Extension>), CaError> {
    let subject =
        parse_dn(&spec.subject).map_err(|e| ConfigError::new("host_name", e.to_string()))?;
    let ku = extension(oid::KEY_USAGE, true, x509::key_usage_value(spec.key_usage));
    let mut requested: Vec<_> = spec.san.iter().cloned().collect();
    requested.push(ku.clone());
    let enterprise = st.config.mode == CaMode::Enterprise;
    let mut body = Vec::new();
    if enterprise {
        body.push(extension(
            oid::TEMPLATE_NAME,
            false,
            x509::template_name_value(spec.template),
        ));
    }
    body.push(ku);
    let ekus: Vec<_> = spec
        .ekus
        .iter()
        .map(|e| der::asn1::ObjectIdentifier::new_unwrap(e))
        .collect();
    body.push(extension(
        oid::EXTENDED_KEY_USAGE,
        false,
        x509::eku_value(&ekus),
    ));
    let plan = IssuePlan {
        template: enterprise.then(|| spec.template.to_string()),
        subject,
        validity_days: spec.validity_days,
        san: spec.san.clone(),
        body,
    };
    Ok((plan, requested))
}

/// An issued, unrevoked certificate of `template` (or of no template, on a
/// stand-alone CA) for the key `spki`.
fn find_issued(st: &State, template: &str, spki: &[u8]) -> Result<Option<Vec<u8>>, CaError> {
    use x509_cert::der::{Decode, Encode};
    let mut q = RowQuery::disposition(Some(Disposition::Issued));
    q.template = Some(template.to_string());
    let mut rows = st.db.query(&q)?;
    if rows.is_empty() {
        q.template = None;
        rows = st.db.query(&q)?;
        rows.retain(|r| r.template.is_none());
    }
    Ok(rows.into_iter().filter_map(|r| r.certificate).find(|der| {
        x509_cert::Certificate::from_der(der)
            .ok()
            .and_then(|c| c.tbs_certificate().subject_public_key_info().to_der().ok())
            .is_some_and(|k| k == spki)
    }))
}
