//! The answers certsrv gives in more than one place: the error page, the
//! pending page with its `Requests` cookie, the page of a refused request,
//! and request IDs as clients send them. The certsrv pages and the
//! "Create and submit" portal both answer with these.

use super::form::{cookie, Params};
use super::pages::{self, ErrorContext, ErrorInfo};
use super::{Reply, Request, Shared};
use crate::ca::Submission;
use crate::db::RequestRow;
use adcs_proto::protocol::{endpoint, Disposition, HResult};

pub(crate) fn error_page(
    context: ErrorContext,
    mode: &str,
    row: Option<&RequestRow>,
    result: HResult,
    last_status: Option<HResult>,
) -> Reply {
    Reply::html(pages::error(&ErrorInfo {
        context,
        mode: mode.to_string(),
        disposition: row.map(|r| r.disposition.code()),
        disposition_message: row.map(|r| r.disposition_message.clone()),
        result,
        last_status: last_status.or(row.map(|r| r.status)),
    }))
}

/// A request ID as clients send it: digits. A number that names no request
/// is "property empty" (MW sends -1); anything else is an invalid argument.
pub(crate) enum ReqId {
    Id(u32),
    Unknown,
    Invalid,
}

pub(crate) fn parse_req_id(v: Option<&str>) -> ReqId {
    let Some(v) = v.map(str::trim) else {
        return ReqId::Invalid;
    };
    match v.parse::<i64>() {
        Ok(n) => u32::try_from(n).map_or(ReqId::Unknown, ReqId::Id),
        Err(_)
            if !v.is_empty()
                && v.trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            ReqId::Unknown
        }
        Err(_) => ReqId::Invalid,
    }
}

/// The page of a new request that was not issued: denied (or revoked) by
/// policy, or the error page when the CA failed on it.
pub(crate) fn refusal_page(shared: &Shared, mode: &str, submission: &Submission) -> Reply {
    let id = submission.id;
    match submission.disposition {
        Disposition::Revoked => Reply::html(pages::denied(id, &submission.message, true)),
        Disposition::Failed => {
            let row = shared.ca.request(id);
            error_page(
                ErrorContext::NewRequest,
                mode,
                row.as_ref(),
                submission.status,
                Some(submission.status),
            )
        }
        _ => Reply::html(pages::denied(id, &submission.message, false)),
    }
}

/// The pending page, with the request remembered in the `Requests` cookie
/// (the form's TargetStoreFlags and SaveCert kept with it).
pub(crate) fn pending_reply(req: &Request, id: u32, friendly: &str) -> Reply {
    let form = Params::parse(&req.body);
    let mut r = Reply::html(pages::pending(id, false));
    let mut entries = pending_cookie(req.cookie.as_deref());
    entries.push(PendingEntry {
        id,
        store_flags: form.get("TargetStoreFlags").unwrap_or("0").to_string(),
        save_cert: form.get("SaveCert").unwrap_or("yes").to_string(),
        friendly: friendly.to_string(),
    });
    r.headers.push(("Set-Cookie", set_pending_cookie(&entries)));
    r
}

/// One entry of the `Requests` cookie: `ReqID,TargetStoreFlags,SaveCert,FriendlyType`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingEntry {
    pub(crate) id: u32,
    pub(crate) store_flags: String,
    pub(crate) save_cert: String,
    pub(crate) friendly: String,
}

/// Reads the `Requests` cookie as ASP writes a keyed cookie: `key=value&…`,
/// each value `ReqID,TargetStoreFlags,SaveCert,FriendlyType` URL-encoded.
pub(crate) fn pending_cookie(header: Option<&str>) -> Vec<PendingEntry> {
    let Some(v) = header.and_then(|h| cookie(h, endpoint::REQUESTS_COOKIE)) else {
        return Vec::new();
    };
    Params::parse(v.as_bytes())
        .pairs()
        .iter()
        .filter_map(|(_, value)| {
            let mut f = value.splitn(4, ',');
            let id = f.next()?.trim().parse().ok()?;
            Some(PendingEntry {
                id,
                store_flags: f.next().unwrap_or("0").to_string(),
                save_cert: f.next().unwrap_or("yes").to_string(),
                friendly: f.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

pub(crate) fn set_pending_cookie(entries: &[PendingEntry]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for e in entries {
        s.append_pair(
            &e.id.to_string(),
            &format!("{},{},{},{}", e.id, e.store_flags, e.save_cert, e.friendly),
        );
    }
    format!(
        "{}={}; path=/certsrv",
        endpoint::REQUESTS_COOKIE,
        s.finish()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_digits_only() {
        assert!(matches!(parse_req_id(Some("42")), ReqId::Id(42)));
        assert!(matches!(parse_req_id(Some("-1")), ReqId::Unknown));
        assert!(matches!(
            parse_req_id(Some("99999999999999999999999")),
            ReqId::Unknown
        ));
        assert!(matches!(parse_req_id(Some("4294967296")), ReqId::Unknown));
        assert!(matches!(parse_req_id(Some("%!s(int=5)")), ReqId::Invalid));
        assert!(matches!(parse_req_id(Some("")), ReqId::Invalid));
        assert!(matches!(parse_req_id(None), ReqId::Invalid));
    }

    #[test]
    fn pending_cookie_round_trips() {
        let e = vec![
            PendingEntry {
                id: 5,
                store_flags: "0".into(),
                save_cert: "yes".into(),
                friendly: "Saved-Request Certificate (1/2/2026, 10:00)".into(),
            },
            PendingEntry {
                id: 6,
                store_flags: "0".into(),
                save_cert: "yes".into(),
                friendly: "x&y=z".into(),
            },
        ];
        let set = set_pending_cookie(&e);
        let value = set.split(';').next().unwrap();
        assert_eq!(pending_cookie(Some(value)), e);
        assert!(pending_cookie(Some("Requests=garbage")).is_empty());
    }
}
