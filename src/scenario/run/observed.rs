//! What a step produced (a CA answer, a certificate, the agent's verdict, an
//! HTTP reply), in one shape for every action, so that the expectations are
//! checked the same way whatever the step did.

use adcs_client::certsrv::Outcome;
use adcs_client::flow::FlowError;
use adcs_proto::page::hresult_in;

/// What a step produced, for the expectations to look at.
#[derive(Debug, Default)]
pub(super) struct Observed {
    pub(super) summary: String,
    pub(super) error: Option<String>,
    pub(super) disposition: Option<&'static str>,
    pub(super) request_id: Option<u32>,
    pub(super) hresult: Option<u32>,
    pub(super) certificate: Option<Vec<u8>>,
    pub(super) warnings: Option<usize>,
    pub(super) ok: Option<bool>,
    pub(super) events: Option<Vec<u32>>,
    pub(super) on_crl: Option<bool>,
    pub(super) status: Option<u16>,
    pub(super) body: Option<String>,
    /// scep.enroll: a FAILURE's failInfo.
    pub(super) fail_info: Option<&'static str>,
    /// ldap.search: the entries found.
    pub(super) entries: Option<Vec<adcs_client::ldap::Entry>>,
}

impl Observed {
    pub(super) fn failed(message: String) -> Observed {
        Observed {
            summary: format!("error: {message}"),
            error: Some(message),
            ..Observed::default()
        }
    }

    pub(super) fn outcome(o: &Outcome) -> Observed {
        match o {
            Outcome::Issued { id, certificate } => Observed {
                summary: format!("issued, request {id}"),
                disposition: Some("issued"),
                request_id: Some(*id),
                certificate: Some(certificate.clone()),
                ..Observed::default()
            },
            Outcome::Pending { id } => Observed {
                summary: format!("pending, request {id}"),
                disposition: Some("pending"),
                request_id: Some(*id),
                ..Observed::default()
            },
            Outcome::Denied {
                id,
                message,
                hresult,
            } => Observed {
                summary: format!(
                    "denied, request {}: {message}",
                    id.map_or("?".into(), |i| i.to_string())
                ),
                disposition: Some("denied"),
                request_id: *id,
                hresult: hresult.map(|h| h.0),
                ..Observed::default()
            },
            Outcome::Error { message, hresult } => Observed {
                summary: [
                    "error page".to_string(),
                    message.clone(),
                    hresult.map(|h| hex_code(h.0)).unwrap_or_default(),
                ]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
                disposition: Some("error"),
                hresult: hresult.map(|h| h.0),
                ..Observed::default()
            },
        }
    }

    /// A flow error that is an answer of the CA (pending, denied) rather
    /// than a failure of the step.
    pub(super) fn flow(e: FlowError) -> Observed {
        match e {
            FlowError::StillPending { id, .. } => Observed {
                summary: format!("pending, request {id}"),
                disposition: Some("pending"),
                request_id: Some(id),
                ..Observed::default()
            },
            FlowError::NotIssued { id, outcome } => Observed {
                disposition: Some(if outcome.contains("denied") {
                    "denied"
                } else {
                    "error"
                }),
                request_id: id,
                hresult: hresult_in(&outcome).map(|h| h.0),
                summary: outcome,
                ..Observed::default()
            },
            other => Observed::failed(other.to_string()),
        }
    }
}

/// An HRESULT as transcripts write it: `0x80094800`.
pub(super) fn hex_code(h: u32) -> String {
    format!("0x{h:08x}")
}
