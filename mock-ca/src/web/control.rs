//! The control plane under `/control/`: the CA administration a test or a
//! shell needs (approve, deny, revoke, CRLs, clock, renewal, reset) and the
//! request journal, as JSON. Only administrators reach it.

use std::sync::Arc;

use hyper::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::form::Params;
use super::{Reply, Request, Shared};
use crate::ca::{Ca, CaError, CrlKind};
use crate::db::{RequestRow, RevocationReason, RowQuery};
use crate::web::directory::Identity;
use adcs_proto::encoding::pem;
use adcs_proto::protocol::Disposition;

/// A request row as the control API shows it.
fn row_json(r: &RequestRow, with_certificate: bool) -> Value {
    let mut v = json!({
        "id": r.id,
        "requester": r.requester.account,
        "disposition": r.disposition.as_str(),
        "disposition_message": r.disposition_message,
        "status": format!("0x{:08x}", r.status.0),
        "status_text": r.status.status_text(),
        "template": r.template,
        "serial": r.serial,
        "subject": r.subject,
        "submitted_at": r.submitted_at,
        "resolved_at": r.resolved_at,
        "not_before": r.not_before,
        "not_after": r.not_after,
        "revocation": r.revocation.as_ref().map(|x| json!({
            "reason": x.reason,
            "revoked_at": x.revoked_at,
        })),
    });
    if with_certificate {
        v["certificate"] = json!(r.certificate.as_ref().map(|c| pem("CERTIFICATE", c)));
        v["audit"] = json!(crate::audit::of(r));
    }
    v
}

fn error_json(status: u16, e: &CaError) -> Reply {
    Reply::json(
        status,
        &json!({
            "error": e.to_string(),
            "hresult": format!("0x{:08x}", e.hresult().0),
        }),
    )
}

/// `GET requests`' filters and page: `disposition` (a name, `all`, or
/// several joined by commas), `requester`, `template`, `submitted_since`
/// and `submitted_until` (Unix seconds), `after`/`before` (IDs), `order`
/// (`asc`, the default, or `desc`) and `limit`.
fn row_query(query: &Params) -> Result<RowQuery, String> {
    let mut q = RowQuery::default();
    if let Some(d) = query
        .get("disposition")
        .filter(|d| !d.is_empty() && *d != "all")
    {
        for one in d.split(',') {
            q.dispositions.push(one.trim().parse::<Disposition>()?);
        }
    }
    let text = |name: &str| {
        query
            .get(name)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    q.requester = text("requester");
    q.template = text("template");
    fn number<T: std::str::FromStr>(query: &Params, name: &str) -> Result<Option<T>, String> {
        match query.get(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{name} must be a number, not `{v}`")),
        }
    }
    q.submitted_since = number(query, "submitted_since")?;
    q.submitted_until = number(query, "submitted_until")?;
    q.after = number(query, "after")?;
    q.before = number(query, "before")?;
    q.limit = number(query, "limit")?;
    q.newest_first = match query.get("order") {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(o) => return Err(format!("order must be asc or desc, not `{o}`")),
    };
    Ok(q)
}

fn bad_request(msg: impl std::fmt::Display) -> Reply {
    Reply::json(400, &json!({ "error": msg.to_string() }))
}

fn ca_error(e: CaError) -> Reply {
    let status = match e {
        CaError::Refused { .. } => 409,
        _ => 500,
    };
    error_json(status, &e)
}

fn body<T: for<'de> Deserialize<'de> + Default>(req: &Request) -> Result<T, Reply> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&req.body).map_err(|e| bad_request(format!("request body: {e}")))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    serial: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CrlBody {
    #[serde(default)]
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    #[serde(default)]
    set: Option<i64>,
    #[serde(default)]
    advance: Option<i64>,
    #[serde(default)]
    freeze: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RenewBody {
    #[serde(default)]
    new_key: bool,
}

/// Runs a blocking CA call (signing) off the async executor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CaError> + Send + 'static,
) -> Result<T, Reply> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ca_error(e)),
        Err(_) => Err(Reply::json(500, &json!({ "error": "CA task failed" }))),
    }
}

/// Every control route as (method, path under `/control/`), with `N` for a
/// request ID. The security tests walk this list; keep it in step with
/// [`run`]'s `match`.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", ""),
    ("GET", "status"),
    ("GET", "requests"),
    ("GET", "requests/N"),
    ("POST", "requests/N/issue"),
    ("POST", "requests/N/deny"),
    ("POST", "revoke"),
    ("POST", "unrevoke"),
    ("POST", "crl"),
    ("GET", "clock"),
    ("POST", "clock"),
    ("POST", "renew"),
    ("GET", "ca"),
    ("POST", "reset"),
    ("GET", "faults"),
    ("POST", "faults"),
    ("GET", "journal"),
    // The browser console (super::console).
    ("GET", "console"),
    ("GET", "console/issued"),
    ("GET", "console/pending"),
    ("GET", "console/failed"),
    ("GET", "console/revoked"),
    ("GET", "console/templates"),
    ("GET", "console/templates/properties"),
    ("GET", "console/templates/duplicate"),
    ("GET", "console/settings"),
    ("POST", "console/action"),
    ("POST", "console/templates/publish"),
    ("POST", "console/templates/save"),
    ("POST", "console/clock"),
    ("POST", "console/faults"),
    ("POST", "console/renew"),
];

pub(crate) async fn handle(
    shared: &Arc<Shared>,
    req: &Request,
    path: &str,
    who: &Identity,
) -> Reply {
    match run(shared, req, path, who).await {
        Ok(r) | Err(r) => r,
    }
}

async fn run(
    shared: &Arc<Shared>,
    req: &Request,
    path: &str,
    who: &Identity,
) -> Result<Reply, Reply> {
    let ca = shared.ca.clone();
    let officer = who.account.clone();
    let query = Params::parse(req.query.as_bytes());
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let get = req.method == Method::GET || req.method == Method::HEAD;
    let post = req.method == Method::POST;
    let ok = |v: Value| Ok(Reply::json(200, &v));
    match (parts.as_slice(), get, post) {
        ([""], true, _) | (["status"], true, _) => ok(json!({
            "ca_name": adcs_proto::names::format_dn(&ca.ca_name()),
            "mode": ca.config().mode,
            "n_renewals": ca.n_renewals(),
            "next_request_id": ca.next_request_id(),
            "now": ca.clock().now(),
            "clock_frozen": ca.clock().is_frozen(),
            "seed": ca.seed().0,
            "connections": shared.connections.counts(),
        })),
        (["requests"], true, _) => {
            let q = row_query(&query).map_err(bad_request)?;
            ok(Value::Array(
                ca.query(&q).iter().map(|r| row_json(r, false)).collect(),
            ))
        }
        (["requests", id], true, _) => {
            let id: u32 = id
                .parse()
                .map_err(|_| bad_request("request ID must be a number"))?;
            match ca.request(id) {
                Some(r) => ok(row_json(&r, true)),
                None => Err(Reply::json(
                    404,
                    &json!({ "error": format!("no request {id}") }),
                )),
            }
        }
        (["requests", id, action @ ("issue" | "deny")], _, true) => {
            resolve(&ca, id, *action == "issue", officer).await
        }
        (["revoke"], _, true) => {
            let b: RevokeBody = body(req)?;
            let reason = match b.reason.as_deref() {
                None => RevocationReason::Unspecified,
                Some(r) => r.parse().map_err(bad_request)?,
            };
            let row = blocking(move || ca.revoke(&b.serial, reason, &officer)).await?;
            ok(row_json(&row, false))
        }
        (["unrevoke"], _, true) => {
            let b: RevokeBody = body(req)?;
            let row = blocking(move || ca.unrevoke(&b.serial, &officer)).await?;
            ok(row_json(&row, false))
        }
        (["crl"], _, true) => publish_crl(ca, body(req)?).await,
        (["clock"], true, _) => ok(json!({
            "now": ca.clock().now(),
            "frozen": ca.clock().is_frozen(),
        })),
        (["clock"], _, true) => ok(set_clock(&ca, body(req)?)),
        (["renew"], _, true) => {
            let b: RenewBody = body(req)?;
            let c = ca.clone();
            let index = blocking(move || c.renew_ca(b.new_key)).await?;
            ok(json!({ "index": index, "n_renewals": ca.n_renewals() }))
        }
        (["ca"], true, _) => ok(ca_material(&ca)),
        (["reset"], _, true) => {
            blocking(move || ca.reset()).await?;
            shared.journal.clear();
            shared.faults.reset();
            shared.held.clear();
            ok(json!({ "reset": true }))
        }
        (["faults"], true, _) => {
            ok(serde_json::to_value(shared.faults.rules()).expect("rules serialise"))
        }
        (["faults"], _, true) => {
            let rules: Vec<super::faults::FaultRule> = body(req)?;
            for r in &rules {
                r.validate().map_err(bad_request)?;
            }
            shared.faults.set(rules);
            ok(serde_json::to_value(shared.faults.rules()).expect("rules serialise"))
        }
        (["journal"], true, _) => {
            let since = query
                .get("since")
                .map(|s| {
                    s.parse::<u64>()
                        .map_err(|_| bad_request("since must be a number"))
                })
                .transpose()?
                .unwrap_or(0);
            ok(serde_json::to_value(shared.journal.since(since)).expect("journal serialises"))
        }
        _ => Err(Reply::json(
            404,
            &json!({ "error": format!("no control route {} /control/{path}", req.method) }),
        )),
    }
}

/// Issue or deny pending request `id` as `officer`.
async fn resolve(ca: &Arc<Ca>, id: &str, issue: bool, officer: String) -> Result<Reply, Reply> {
    let id: u32 = id
        .parse()
        .map_err(|_| bad_request("request ID must be a number"))?;
    let c = ca.clone();
    blocking(move || {
        if issue {
            c.issue_pending(id, &officer)
        } else {
            c.deny(id, &officer)
        }
    })
    .await?;
    let row = ca
        .request(id)
        .expect("row exists after a successful action");
    Ok(Reply::json(200, &row_json(&row, true)))
}

async fn publish_crl(ca: Arc<Ca>, b: CrlBody) -> Result<Reply, Reply> {
    let kind = match b.kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("base") => CrlKind::Base,
        Some("delta") => CrlKind::Delta,
        Some(k) => return Err(bad_request(format!("unknown CRL kind `{k}`"))),
    };
    let crl = blocking(move || ca.publish_crl(kind)).await?;
    Ok(Reply::json(200, &json!({ "crl": pem("X509 CRL", &crl) })))
}

fn set_clock(ca: &Ca, b: ClockBody) -> Value {
    if let Some(t) = b.set {
        ca.clock().set(t);
    }
    if let Some(s) = b.advance {
        ca.clock().advance(s);
    }
    match b.freeze {
        Some(true) => ca.clock().freeze(),
        Some(false) => ca.clock().resume(),
        None => {}
    }
    json!({ "now": ca.clock().now(), "frozen": ca.clock().is_frozen() })
}

/// Every CA certificate, the current chain, the root and the CA keys (a
/// test CA's keys are exportable, as Pebble's are).
fn ca_material(ca: &Ca) -> Value {
    let n = ca.n_renewals();
    let certs: Vec<String> = (0..=n)
        .filter_map(|i| ca.ca_certificate(i))
        .map(|c| pem("CERTIFICATE", &c))
        .collect();
    let keys: Vec<String> = (0..=n)
        .filter_map(|i| ca.ca_key_index(i))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter_map(|k| ca.ca_private_key(k))
        .map(|k| pem("PRIVATE KEY", &k))
        .collect();
    let chain: Vec<String> = ca
        .ca_chain(n)
        .unwrap_or_default()
        .iter()
        .map(|c| pem("CERTIFICATE", c))
        .collect();
    json!({
        "certificates": certs,
        "chain": chain,
        "root": pem("CERTIFICATE", &ca.root_certificate()),
        "keys": keys,
    })
}
