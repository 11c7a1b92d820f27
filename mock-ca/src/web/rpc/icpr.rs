//! ICertPassage's `CertServerRequest` against the CA engine: a new request
//! with its attribute lines, or a retrieval by request ID; the fault rules
//! for the `rpc/CertServerRequest` endpoint; one journal entry per call.
//!
//! Windows puts a refused request's HRESULT in `pdwDisposition` (the call
//! succeeds), and a refused call's in its return value: encryption not
//! enforced-enough (E_ACCESSDENIED, which impacket's relay reports as
//! "Maybe encryption is enforced?"), a wrong CA name (E_INVALIDARG).

use std::sync::Arc;

use super::super::certsrv::release_held;
use super::super::directory::Identity;
use super::super::faults::{parse_hresult, FaultRule};
use super::super::journal::JournalEntry;
use super::super::Shared;
use crate::ca::{PolicyOverride, Submission};
use crate::web::form::cert_attributes;
use adcs_proto::encoding::pkcs7_certs_only;
use adcs_proto::protocol::{Disposition, HResult};
use adcs_proto::rpc::assoc::Call;
use adcs_proto::rpc::icpr::{CertServerRequest, CertServerResponse};
use adcs_proto::rpc::secure::level;
use adcs_proto::rpc::status;

/// The fault rules' endpoint name for this call.
pub const ENDPOINT: &str = "rpc/CertServerRequest";

/// Journals a call refused for want of a signed-in caller.
pub(super) fn unauthenticated(shared: &Shared, call: &Call, why: Option<String>, method: &str) {
    let mut entry = journal_entry(shared, call, None, method);
    entry.status = 401;
    entry.detail = Some(why.unwrap_or_else(|| "no NTLM authentication".into()));
    shared.journal.record(entry);
}

/// What the injected faults do to one call.
#[derive(Default)]
struct Injected {
    description: Option<String>,
    reset: bool,
    call_hresult: Option<HResult>,
    over: Option<PolicyOverride>,
    pending_polls: Option<(u32, bool)>,
}

/// Counts the call against the rules, waits out their delays, and says
/// what else they do.
async fn inject(shared: &Shared) -> Injected {
    let hits = shared.faults.hits(ENDPOINT, "RPC", &shared.ca.seed());
    if hits.is_empty() {
        return Injected::default();
    }
    for (rule, _) in &hits {
        if let Some(ms) = rule.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }
    let first = |f: fn(&FaultRule) -> bool| hits.iter().map(|(r, _)| r).find(|r| f(r));
    let hresult =
        |h: &Option<String>| HResult(h.as_deref().and_then(parse_hresult).unwrap_or(0x8007_06BA));
    Injected {
        description: Some(
            hits.iter()
                .map(|(r, n)| format!("{} (call {n} to {ENDPOINT})", r.describe()))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        reset: first(|r| r.reset).is_some(),
        call_hresult: first(|r| r.hresult.is_some()).map(|r| hresult(&r.hresult)),
        over: first(|r| r.deny_hresult.is_some())
            .map(|r| PolicyOverride::Deny(hresult(&r.deny_hresult)))
            .or_else(|| first(|r| r.pending_polls.is_some()).map(|_| PolicyOverride::Pending)),
        pending_polls: first(|r| r.pending_polls.is_some()).map(|r| {
            (
                r.pending_polls.unwrap_or(0),
                r.then.as_deref() != Some("deny"),
            )
        }),
    }
}

/// `CertServerRequest` from a signed-in caller. `None`: an injected reset
/// (close without an answer); `Err`: a fault status.
pub(super) async fn cert_server_request(
    shared: &Arc<Shared>,
    call: &Call,
    who: &Identity,
    enforce: bool,
    method: &str,
) -> Option<Result<Vec<u8>, u32>> {
    let mut entry = journal_entry(shared, call, Some(who), method);
    let Ok(req) = CertServerRequest::parse(&call.stub) else {
        entry.status = 400;
        entry.detail = Some("a CertServerRequest stub that does not read as NDR".into());
        shared.journal.record(entry);
        return Some(Err(status::RPC_X_BAD_STUB_DATA));
    };
    let injected = inject(shared).await;
    entry.fault = injected.description.clone();
    if injected.reset {
        entry.status = 0;
        shared.journal.record(entry);
        return None;
    }
    let response = if let Some(h) = injected.call_hresult {
        refused_call(h)
    } else if enforce && call.auth_level < level::PKT_PRIVACY {
        entry.detail = Some(format!(
            "IF_ENFORCEENCRYPTICERTREQUEST: {} is below packet privacy",
            level::name(call.auth_level)
        ));
        refused_call(HResult::E_ACCESSDENIED)
    } else if !req
        .authority
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(&shared.ca.ca_cn()))
    {
        entry.detail = Some(format!(
            "unknown CA name {:?}",
            req.authority.unwrap_or_default()
        ));
        refused_call(HResult::E_INVALIDARG)
    } else if req.is_retrieval() {
        release_held(shared, req.request_id);
        retrieve(shared, req.request_id)
    } else {
        let response = submit(shared, &req, who, injected.over).await;
        if let (Some((polls, issue)), 5) = (injected.pending_polls, response.disposition) {
            shared.held.hold(response.request_id, polls, issue);
        }
        response
    };
    entry.request_id = (response.request_id != 0).then_some(response.request_id);
    entry.disposition = disposition_name(response.disposition).map(str::to_string);
    shared.journal.record(entry);
    Some(Ok(response.encode()))
}

fn journal_entry(
    shared: &Shared,
    call: &Call,
    who: Option<&Identity>,
    method: &str,
) -> JournalEntry {
    JournalEntry {
        seq: 0,
        time: shared.ca.clock().now(),
        method: method.into(),
        path: "ICertPassage.CertServerRequest".into(),
        user: who.map(|w| w.account.clone()),
        auth: Some(format!("ntlm {}", level::name(call.auth_level))),
        status: 200,
        request_id: None,
        disposition: None,
        detail: None,
        fault: None,
    }
}

fn disposition_name(code: u32) -> Option<&'static str> {
    [
        Disposition::Issued,
        Disposition::Pending,
        Disposition::Denied,
        Disposition::Failed,
        Disposition::Revoked,
    ]
    .into_iter()
    .find(|d| d.code() == code)
    .map(Disposition::as_str)
    .or((code & 0x8000_0000 != 0).then_some("denied"))
}

/// A call the CA refuses outright: the HRESULT is its return value (and
/// its disposition), no request ID.
fn refused_call(h: HResult) -> CertServerResponse {
    CertServerResponse {
        request_id: 0,
        disposition: h.0,
        cert_chain: Vec::new(),
        encoded_cert: Vec::new(),
        disposition_message: h.message().to_string(),
        status: h.0,
    }
}

/// The answer for a request's row: the certificate and chain when issued,
/// the HRESULT as the disposition when refused.
fn outcome(shared: &Shared, s: &Submission, ca_cert_index: u16) -> CertServerResponse {
    let (cert_chain, encoded_cert) = match (&s.certificate, s.disposition) {
        (Some(cert), Disposition::Issued | Disposition::Revoked) => {
            let mut certs = vec![cert.clone()];
            certs.extend(shared.ca.ca_chain(ca_cert_index).unwrap_or_default());
            (pkcs7_certs_only(&certs, Some(cert)), cert.clone())
        }
        _ => (Vec::new(), Vec::new()),
    };
    let disposition = match s.disposition {
        Disposition::Denied | Disposition::Failed if s.status.0 != 0 => s.status.0,
        d => d.code(),
    };
    CertServerResponse {
        request_id: s.id,
        disposition,
        cert_chain,
        encoded_cert,
        disposition_message: s.message.clone(),
        status: 0,
    }
}

/// A retrieval; an unknown ID is CERTSRV_E_PROPERTY_EMPTY, as on the pages.
fn retrieve(shared: &Shared, id: u32) -> CertServerResponse {
    match shared.ca.request(id) {
        Some(row) => outcome(
            shared,
            &Submission::from(&row),
            row.ca_cert_index.unwrap_or(0),
        ),
        None => {
            let h = HResult::PROPERTY_EMPTY;
            CertServerResponse {
                request_id: id,
                ..refused_call(h)
            }
        }
    }
}

async fn submit(
    shared: &Arc<Shared>,
    req: &CertServerRequest,
    who: &Identity,
    over: Option<PolicyOverride>,
) -> CertServerResponse {
    let ca = shared.ca.clone();
    let request = req.request.clone();
    let attributes = cert_attributes(&req.attributes);
    let requester = who.requester.clone();
    let done = tokio::task::spawn_blocking(move || {
        ca.submit_with(&request, &requester, &attributes, over)
    })
    .await;
    match done {
        Ok(Ok(s)) => {
            let index = shared
                .ca
                .request(s.id)
                .and_then(|r| r.ca_cert_index)
                .unwrap_or(0);
            outcome(shared, &s, index)
        }
        Ok(Err(e)) => refused_call(e.hresult()),
        Err(_) => refused_call(HResult::CA_OFFLINE),
    }
}
