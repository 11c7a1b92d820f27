//! What a detection rule reads about a request, as Windows writes it into
//! the CA's security events (4886 received, 4887 issued, 4888 denied, 4889
//! set pending) and its database: who asked, for which template, with which
//! attributes, the subject and SANs as requested and as issued. A view of
//! the database row, computed when asked, never stored apart from it.

use serde::Serialize;

use crate::db::RequestRow;
use crate::Disposition;
use adcs_proto::protocol::oid;
use adcs_proto::x509;

/// A subject and its alternative names (`upn=…`, `dns=…`, `url=…`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Names {
    pub subject: String,
    pub san: Vec<String>,
}

/// One request as the audit trail gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// The security events Windows writes for it, in order (4886, then
    /// 4887, 4888 or 4889 as it stands now).
    pub events: Vec<u32>,
    pub requester: String,
    /// The enrollment agent who signed the request on the requester's
    /// behalf (and sent it), when one did.
    pub agent: Option<String>,
    /// The requester's SID, when the directory knows it.
    pub requester_sid: Option<String>,
    pub template: Option<String>,
    /// Request attributes (`CertificateTemplate`, `SAN`, …) as submitted.
    pub attributes: Vec<(String, String)>,
    /// What the request itself names (`None`: bytes that did not parse).
    pub requested: Option<Names>,
    /// What the issued certificate names.
    pub issued: Option<Names>,
    /// Whether the certificate carries the requester's objectSid extension.
    pub issued_sid: bool,
}

/// The audit view of `row`.
pub fn of(row: &RequestRow) -> Audit {
    let mut events = vec![4886];
    events.extend(match row.disposition {
        Disposition::Issued | Disposition::Revoked => Some(4887),
        Disposition::Denied => Some(4888),
        Disposition::Pending => Some(4889),
        Disposition::Failed => None,
    });
    let issued = row.certificate.as_deref().and_then(certificate_names);
    Audit {
        events,
        requester: row.requester.account.clone(),
        agent: row.agent.clone(),
        requester_sid: row.requester.sid.clone(),
        template: row.template.clone(),
        attributes: row.attributes.clone(),
        requested: adcs_proto::request::parse_request(&row.request)
            .ok()
            .map(|p| Names {
                subject: adcs_proto::names::format_dn(&p.subject),
                san: p.san().iter().map(ToString::to_string).collect(),
            }),
        issued_sid: issued.as_ref().is_some_and(|(_, sid)| *sid),
        issued: issued.map(|(names, _)| names),
    }
}

/// A certificate's subject and SANs, and whether it has the SID extension.
fn certificate_names(der: &[u8]) -> Option<(Names, bool)> {
    use der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let tbs = cert.tbs_certificate();
    let exts = tbs.extensions().map_or(&[][..], Vec::as_slice);
    let san = x509::subject_alt_names(exts);
    let sid = x509::extension_value(exts, oid::NTDS_CA_SECURITY_EXT).is_some();
    Some((
        Names {
            subject: adcs_proto::names::format_dn(tbs.subject()),
            san: san.iter().map(ToString::to_string).collect(),
        },
        sid,
    ))
}
