//! The `/certsrv/` pages and files, and `/CertEnroll/` publication
//! (certsrv-protocol.md §2). Application outcomes are always 200: issued,
//! pending, denied and error pages alike; only auth and HTTP-level faults
//! use other status codes.

use std::sync::Arc;

use hyper::Method;

use super::form::{cert_attributes, Params};
use super::pages::{self, ErrorContext};
use super::replies::{
    error_page, parse_req_id, pending_cookie, pending_reply, refusal_page, set_pending_cookie,
    ReqId,
};
use super::{Reply, Request, Shared};
use crate::ca::{CrlKind, PolicyOverride, Publication};
use crate::config::CaMode;
use crate::db::RequestRow;
use crate::template::Template;
use crate::web::directory::Identity;
use adcs_proto::encoding::{pem, pkcs7_certs_only};
use adcs_proto::protocol::{content_type, endpoint, Disposition, HResult};

/// Serves a page under `/certsrv/`; `page` is the lowercased name after it.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    req: &Request,
    page: &str,
    who: &Identity,
    over: Option<PolicyOverride>,
) -> Reply {
    let query = Params::parse(req.query.as_bytes());
    match page {
        "" | "default.asp" => Reply::html(pages::welcome(&shared.ca.ca_cn())),
        endpoint::SUBMIT => {
            if req.method == Method::POST {
                submit_form(shared, req, who, over).await
            } else {
                error_page(ErrorContext::NoForm, "", None, HResult::S_OK, None)
            }
        }
        endpoint::CERT | endpoint::CHAIN => fetch(shared, &query, page == endpoint::CHAIN),
        endpoint::CRL => crl(shared, &query),
        endpoint::CA_CERTS => Reply::html(pages::ca_certificates(
            &shared.ca.ca_cn(),
            shared.ca.n_renewals(),
        )),
        endpoint::TEMPLATES => templates(shared, who),
        endpoint::CHECK_PENDING => Reply::html(pages::pending_list(
            &pending_cookie(req.cookie.as_deref())
                .into_iter()
                .map(|e| (e.id, e.friendly))
                .collect::<Vec<_>>(),
        )),
        endpoint::REMOVE_PENDING => remove_pending(req),
        endpoint::CREATE_REQUEST if req.method == Method::POST => {
            super::portal::create(shared, req, who, over).await
        }
        endpoint::CREATE_REQUEST => {
            let templates = enrollable_templates(shared, who);
            Reply::html(pages::create_request_form(templates.as_deref()))
        }
        endpoint::PFX => super::portal::fetch(shared, &query, who),
        endpoint::REQUEST_TASKS => Reply::html(pages::request_tasks()),
        endpoint::ADVANCED_TASKS => Reply::html(pages::advanced_tasks()),
        _ => Reply::status(404, "Not Found"),
    }
}

async fn submit_form(
    shared: &Arc<Shared>,
    req: &Request,
    who: &Identity,
    over: Option<PolicyOverride>,
) -> Reply {
    let form = Params::parse(&req.body);
    let mode = form.get("Mode").unwrap_or("").trim().to_string();
    if form.is_empty() {
        return error_page(ErrorContext::NoForm, "", None, HResult::S_OK, None);
    }
    let script = pages::is_script_client(req.user_agent.as_deref());
    if mode.eq_ignore_ascii_case(endpoint::MODE_CHECK_PENDING) {
        return check_pending(shared, &form, script, who);
    }
    if !mode.to_ascii_lowercase().starts_with(endpoint::MODE_NEW) {
        return error_page(
            ErrorContext::UnknownMode,
            &mode,
            None,
            HResult::E_INVALIDARG,
            None,
        );
    }
    let request = form.get("CertRequest").unwrap_or("").as_bytes().to_vec();
    let attributes = cert_attributes(form.get("CertAttrib").unwrap_or(""));
    let ca = shared.ca.clone();
    let requester = who.requester.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        ca.submit_with(&request, &requester, &attributes, over)
    })
    .await;
    let submission = match outcome {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let h = e.hresult();
            return error_page(ErrorContext::NewRequest, &mode, None, h, Some(h));
        }
        Err(_) => {
            let h = HResult::CA_OFFLINE;
            return error_page(ErrorContext::NewRequest, &mode, None, h, Some(h));
        }
    };
    let id = submission.id;
    let mut reply = match submission.disposition {
        Disposition::Issued => {
            Reply::html(pages::issued(id, script, shared.ca.n_renewals(), false))
        }
        Disposition::Pending => pending_reply(
            req,
            id,
            form.get("FriendlyType")
                .unwrap_or("Saved-Request Certificate"),
        ),
        Disposition::Denied | Disposition::Revoked | Disposition::Failed => {
            refusal_page(shared, &mode, &submission)
        }
    };
    reply.request_id = Some(id);
    reply.disposition = Some(submission.disposition);
    reply
}

fn check_pending(shared: &Arc<Shared>, form: &Params, script: bool, who: &Identity) -> Reply {
    let mode = endpoint::MODE_CHECK_PENDING;
    let id = match parse_req_id(form.get("ReqID")) {
        ReqId::Id(id) => id,
        ReqId::Unknown => {
            let h = HResult::PROPERTY_EMPTY;
            return error_page(ErrorContext::CheckPending, mode, None, h, Some(h));
        }
        ReqId::Invalid => {
            let h = HResult::E_INVALIDARG;
            return error_page(ErrorContext::CheckPending, mode, None, h, Some(h));
        }
    };
    release_held(shared, id);
    let Some(row) = shared.ca.request(id) else {
        let h = HResult::PROPERTY_EMPTY;
        return error_page(ErrorContext::CheckPending, mode, None, h, Some(h));
    };
    let mut reply = match row.disposition {
        Disposition::Pending => Reply::html(pages::pending(id, true)),
        Disposition::Issued => Reply::html(pages::issued(
            id,
            script,
            shared.ca.n_renewals(),
            super::portal::has_pfx(shared, id, who),
        )),
        Disposition::Denied => Reply::html(pages::denied(id, &row.disposition_message, false)),
        Disposition::Revoked => Reply::html(pages::denied(id, &row.disposition_message, true)),
        Disposition::Failed => error_page(
            ErrorContext::CheckPending,
            mode,
            Some(&row),
            row.status,
            None,
        ),
    };
    reply.request_id = Some(id);
    reply.disposition = Some(row.disposition);
    reply
}

/// A poll of a request a `pending_polls` fault holds: once its polls are
/// used up, the certificate manager issues or denies it.
pub(crate) fn release_held(shared: &Shared, id: u32) {
    if let Some(issue) = shared.held.poll(id) {
        let officer = "fault injection";
        let _ = if issue {
            shared.ca.issue_pending(id, officer)
        } else {
            shared.ca.deny(id, officer)
        };
    }
}

/// `Enc=bin` (exact value) gives DER; anything else PEM with CRLF (§2.3).
fn wants_der(query: &Params) -> bool {
    query.get("Enc") == Some("bin")
}

/// certnew.cer / certnew.p7b.
fn fetch(shared: &Arc<Shared>, query: &Params, chain: bool) -> Reply {
    let der = wants_der(query);
    let deliver = |bytes: Vec<u8>| {
        let ct = if chain {
            content_type::PKCS7
        } else {
            content_type::CERT
        };
        if der {
            Reply::bytes(ct, bytes)
        } else {
            Reply::bytes(ct, pem("CERTIFICATE", &bytes).into_bytes())
        }
    };
    let fetch_error = |row: Option<&RequestRow>, result: HResult, last: Option<HResult>| {
        error_page(ErrorContext::Fetch, "", row, result, last)
    };
    let req_id = query.get("ReqID").unwrap_or("").trim();
    if req_id.eq_ignore_ascii_case(endpoint::REQID_CA_CERT) {
        let n = shared.ca.n_renewals();
        let k = match query.get("Renewal").map(str::trim) {
            None | Some("") => 0,
            Some(v) => match v.parse::<u64>() {
                // Out of range asks for one past the newest (BGS): clamp.
                Ok(k) => k.min(n as u64) as u16,
                Err(_) => {
                    return fetch_error(None, HResult::E_INVALIDARG, Some(HResult::E_INVALIDARG))
                }
            },
        };
        let bytes = if chain {
            shared.ca.ca_chain(k).map(|c| pkcs7_certs_only(&c, None))
        } else {
            shared.ca.ca_certificate(k)
        };
        return match bytes {
            Some(b) => deliver(b),
            None => fetch_error(None, HResult::E_INVALIDARG, Some(HResult::E_INVALIDARG)),
        };
    }
    let id = match parse_req_id(Some(req_id)) {
        ReqId::Id(id) => id,
        ReqId::Unknown => {
            let h = HResult::PROPERTY_EMPTY;
            return fetch_error(None, h, Some(h));
        }
        ReqId::Invalid => {
            let h = HResult::E_INVALIDARG;
            return fetch_error(None, h, Some(h));
        }
    };
    release_held(shared, id);
    let Some(row) = shared.ca.request(id) else {
        let h = HResult::PROPERTY_EMPTY;
        let mut r = fetch_error(None, h, Some(h));
        r.request_id = Some(id);
        return r;
    };
    let mut reply = match (&row.certificate, row.disposition) {
        (Some(cert), Disposition::Issued) => {
            if chain {
                let mut certs = vec![cert.clone()];
                certs.extend(
                    shared
                        .ca
                        .ca_chain(row.ca_cert_index.unwrap_or(0))
                        .unwrap_or_default(),
                );
                deliver(pkcs7_certs_only(&certs, Some(cert)))
            } else {
                deliver(cert.clone())
            }
        }
        _ => fetch_error(Some(&row), HResult::S_OK, None),
    };
    reply.request_id = Some(id);
    reply.disposition = Some(row.disposition);
    reply
}

/// certcrl.crl?Type=base|delta&Renewal=k&Enc=b64|bin.
fn crl(shared: &Arc<Shared>, query: &Params) -> Reply {
    let kind = match query.get("Type").map(str::to_ascii_lowercase).as_deref() {
        Some("delta") => CrlKind::Delta,
        _ => CrlKind::Base,
    };
    let k = match query.get("Renewal").map(str::trim) {
        None | Some("") => 0,
        Some(v) => v
            .parse::<u64>()
            .map_or(u16::MAX, |k| k.min(shared.ca.n_renewals() as u64) as u16),
    };
    let crl = shared
        .ca
        .ca_key_index(k)
        .ok_or(HResult::E_INVALIDARG)
        .and_then(|key| shared.ca.crl(key, kind).map_err(|e| e.hresult()));
    match crl {
        Ok(bytes) if wants_der(query) => Reply::bytes(content_type::CRL, bytes),
        Ok(bytes) => Reply::bytes(content_type::CRL, pem("X509 CRL", &bytes).into_bytes()),
        Err(h) => error_page(ErrorContext::Fetch, "", None, h, Some(h)),
    }
}

/// The published templates this user may enroll in; `None` on a
/// stand-alone CA, which has no templates.
fn enrollable_templates(shared: &Shared, who: &Identity) -> Option<Vec<Template>> {
    let config = shared.ca.config();
    (config.mode == CaMode::Enterprise).then(|| {
        config
            .templates
            .into_iter()
            .filter(|t| t.published && t.may_enroll(&who.requester.account, &who.requester.groups))
            .collect()
    })
}

/// certrqxt.asp: the templates this user may enroll in (enterprise only).
fn templates(shared: &Arc<Shared>, who: &Identity) -> Reply {
    let templates = enrollable_templates(shared, who);
    Reply::html(pages::advanced_request(templates.as_deref()))
}

/// certrmpn.asp: forget a pending request (`Action=rmpn`) or confirm an install.
fn remove_pending(req: &Request) -> Reply {
    let form = Params::parse(&req.body);
    let id = match parse_req_id(form.get("ReqID")) {
        ReqId::Id(id) => Some(id),
        _ => None,
    };
    let entries: Vec<_> = pending_cookie(req.cookie.as_deref())
        .into_iter()
        .filter(|e| Some(e.id) != id)
        .collect();
    let mut r = Reply::html(pages::removed(id));
    r.headers.push(("Set-Cookie", set_pending_cookie(&entries)));
    r
}

/// `/CertEnroll/<file>`: CA certificates and CRLs at the AIA/CDP URLs.
pub(crate) fn cert_enroll(shared: &Arc<Shared>, file: &str) -> Reply {
    let Some((_, what)) = shared
        .ca
        .publication()
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(file))
    else {
        return Reply::status(404, "Not Found");
    };
    let ca = &shared.ca;
    let (ct, bytes) = match what {
        Publication::CaCertificate(i) => (content_type::CERT, ca.ca_certificate(i)),
        Publication::RootCertificate => (content_type::CERT, Some(ca.root_certificate())),
        Publication::Crl(k, kind) => (content_type::CRL, ca.crl(k, kind).ok()),
        Publication::RootCrl => (content_type::CRL, ca.root_crl().ok().flatten()),
    };
    match bytes {
        Some(b) => Reply::bytes(ct, b),
        None => Reply::status(404, "Not Found"),
    }
}
