//! Which page answers a request: the path checks, anonymous SCEP and
//! CertEnroll, sign-in (with Kerberos's mutual-authentication token on the
//! answer), then certsrv through the fault rules, NDES's password page, or
//! the control plane and console for administrators.

use std::sync::{Arc, Mutex};

use hyper::Method;

use super::auth::{self, ConnAuth, Outcome};
use super::directory::Identity;
use super::journal::JournalEntry;
use super::{certsrv, console, control, inject, ndes, pages, Reply, Request, Shared};
use adcs_proto::protocol::{content_type, endpoint};

/// Percent-decodes a path (lossy; a `%` that starts no escape stays), for
/// routing and traversal checks.
fn decode_path(p: &str) -> String {
    percent_encoding::percent_decode_str(p)
        .decode_utf8_lossy()
        .into_owned()
}

pub(super) async fn route(
    shared: &Arc<Shared>,
    conn: &Arc<Mutex<ConnAuth>>,
    req: &Request,
    raw_path: &str,
    authorization: Option<&str>,
    tls: bool,
    entry: &mut JournalEntry,
) -> Reply {
    let path = decode_path(raw_path);
    if path.contains('\0')
        || path.contains('\\')
        || path.split('/').any(|seg| seg == ".." || seg == ".")
    {
        return Reply::status(400, "Bad Request");
    }
    let lower = path.to_ascii_lowercase();
    if lower == "/favicon.ico" {
        return Reply::status(404, "Not Found");
    }
    if let Some(file) = lower.strip_prefix("/certenroll/") {
        return certsrv::cert_enroll(shared, &path[path.len() - file.len()..]);
    }
    // SCEP is anonymous, as NDES's IIS application is.
    if lower.starts_with("/certsrv/mscep/") {
        return ndes::scep(shared, req).await;
    }
    let certsrv = lower == "/certsrv" || lower.starts_with(endpoint::CERTSRV);
    let control = lower == "/control" || lower.starts_with(endpoint::CONTROL);
    if !certsrv && !control {
        return Reply::status(404, "Not Found");
    }
    let outcome = {
        let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
        auth::authenticate(
            &shared.auth,
            &shared.directory,
            &mut c,
            authorization,
            if tls { shared.binding.as_ref() } else { None },
            shared.ca.clock(),
        )
    };
    let (who, mutual): (Identity, _) = match outcome {
        Outcome::Authenticated {
            identity,
            method,
            reply,
        } => {
            entry.user = Some(identity.account.clone());
            entry.auth = Some(method.to_string());
            (identity, reply)
        }
        Outcome::Challenge { label, token } => {
            use base64::Engine;
            let mut r = Reply::bytes(
                "text/html; charset=us-ascii",
                pages::CHALLENGE_BODY.as_bytes().to_vec(),
            );
            r.status = 401;
            r.headers.push((
                "WWW-Authenticate",
                format!(
                    "{label} {}",
                    base64::engine::general_purpose::STANDARD.encode(token)
                ),
            ));
            r.headers.push(("Server", "Microsoft-HTTPAPI/2.0".into()));
            return r;
        }
        Outcome::Denied { reason } => {
            let mut r = Reply::bytes(content_type::HTML, pages::unauthorized().into_bytes());
            r.status = 401;
            // Why, for the journal (as IIS's log keeps a 401's substatus):
            // never a password, only names and the protocol's verdict.
            if authorization.is_some() {
                r.detail = Some(reason);
            }
            for offer in auth::offers(&shared.auth) {
                r.headers.push(("WWW-Authenticate", offer));
            }
            return r;
        }
    };
    let mut reply = authorized(shared, req, &lower, &who).await;
    if let Some(token) = mutual {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(token);
        reply
            .headers
            .push(("WWW-Authenticate", format!("Negotiate {token}")));
    }
    reply
}

/// The pages behind sign-in, for `who`.
async fn authorized(shared: &Arc<Shared>, req: &Request, lower: &str, who: &Identity) -> Reply {
    let ndes_admin = lower == "/certsrv/mscep_admin" || lower.starts_with("/certsrv/mscep_admin/");
    let certsrv = lower == "/certsrv" || lower.starts_with(endpoint::CERTSRV);
    if ndes_admin {
        return ndes::admin(shared, who);
    }
    if certsrv {
        let page = lower
            .strip_prefix(endpoint::CERTSRV)
            .unwrap_or("")
            .to_string();
        inject::inject(shared, req, &page, |over| {
            certsrv::handle(shared, req, &page, who, over)
        })
        .await
    } else {
        let rest = lower.strip_prefix(endpoint::CONTROL).unwrap_or("");
        let console = rest
            .strip_prefix(console::PREFIX)
            .filter(|r| r.is_empty() || r.starts_with('/'));
        let get = req.method == Method::GET || req.method == Method::HEAD;
        if !who.admin && !role_allows(shared, get, rest, who) {
            let why = format!("{} is not a CA administrator", who.account);
            return if console.is_some() {
                Reply::status(403, &format!("Forbidden: {why}"))
            } else {
                Reply::json(403, &serde_json::json!({ "error": why }))
            };
        }
        if !get && console::cross_site(req) {
            let why = "a cross-site request to the control plane was refused";
            return Reply::json(403, &serde_json::json!({ "error": why }));
        }
        match console {
            Some(page) => console::handle(shared, req, page, who).await,
            None => control::handle(shared, req, rest, who).await,
        }
    }
}

/// What the CA's roles open to an account that is not the harness's
/// administrator: certificate managers (officers) the request views and
/// the approve, deny and revoke actions; CA managers the CA's settings,
/// its templates and the CRL. The clock, faults, journal and reset stay
/// the administrator's.
fn role_allows(shared: &Shared, get: bool, rest: &str, who: &Identity) -> bool {
    let roles = shared.ca.config().roles;
    let groups = &who.requester.groups;
    let officer = roles.officer(&who.account, groups);
    let manager = roles.manages(&who.account, groups);
    let path = rest.trim_end_matches('/');
    let (first, sub) = path.split_once('/').unwrap_or((path, ""));
    let page = sub.split('/').next().unwrap_or("");
    let officers = matches!(
        (first, page, get),
        ("" | "status" | "requests", _, true)
            | ("requests" | "revoke" | "unrevoke", _, false)
            | (
                "console",
                "" | "issued" | "pending" | "failed" | "revoked",
                true
            )
            | ("console", "action", false)
    );
    let managers = matches!(
        (first, page, get),
        ("" | "status" | "ca", _, true)
            | ("crl", _, false)
            | ("console", "" | "templates" | "settings", true)
            | ("console", "action" | "templates", false)
    );
    (officer && officers) || (manager && managers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(decode_path("/a%2F..%2fb"), "/a/../b");
        assert_eq!(decode_path("/x%zz%4"), "/x%zz%4");
        assert_eq!(decode_path("/%41"), "/A");
    }
}
