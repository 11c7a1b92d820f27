//! The Certification Authority console in a browser, under
//! `/control/console/`: the four request folders and their actions (issue,
//! deny, revoke with a reason, unrevoke, publish CRLs), the Certificate
//! Templates console (publish, unpublish, duplicate, properties), and the
//! clock and fault controls. Administrators only (the router checks). Every
//! form carries a per-account token against cross-site request forgery,
//! every value on a page is escaped, and each change goes through the same
//! engine calls as the JSON API, so certsrv and the journals see it at once.

use std::sync::Arc;

use hyper::Method;

use super::form::Params;
use super::pages::escape;
use super::{Reply, Request, Shared};
use crate::ca::{CaError, CrlKind};
use crate::db::{RequestRow, RevocationReason};
use crate::template::{SubjectSource, Template};
use crate::web::directory::Identity;
use adcs_proto::protocol::{endpoint, oid, Disposition};

/// Where the console lives, under [`endpoint::CONTROL`].
pub const PREFIX: &str = "console";
/// The name of the hidden anti-forgery field in every console form.
pub const CSRF_FIELD: &str = "csrf";

fn base() -> String {
    format!("{}{PREFIX}/", endpoint::CONTROL)
}

/// Anti-forgery tokens: an HMAC of the account under a secret drawn from
/// the system's random source when the server starts (never from the seed,
/// which is public), so another site cannot know them.
pub(crate) struct Csrf(aws_lc_rs::hmac::Key);

impl Csrf {
    pub(crate) fn new() -> Csrf {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).expect("system random source");
        Csrf(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            &secret,
        ))
    }

    fn token(&self, account: &str) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.0, account.to_ascii_lowercase().as_bytes());
        adcs_proto::hex::hex(tag.as_ref())
    }

    fn check(&self, account: &str, token: &str) -> bool {
        adcs_proto::hex::unhex(token.trim()).is_some_and(|tag| {
            aws_lc_rs::hmac::verify(&self.0, account.to_ascii_lowercase().as_bytes(), &tag).is_ok()
        })
    }
}

/// True when a browser says a request comes from another site: an `Origin`
/// other than this server (or `null`), or `Sec-Fetch-Site: cross-site` or
/// `same-site`. Scripts send neither header, so the JSON API stays open to
/// them while a forged cross-site post is refused.
pub(crate) fn cross_site(req: &Request) -> bool {
    if let Some(site) = &req.sec_fetch_site {
        if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
            return true;
        }
    }
    match (&req.origin, &req.host) {
        (Some(origin), Some(host)) => {
            let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
            !authority.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => true,
        _ => false,
    }
}

/// A message above the page: what an action did, or why it was refused.
enum Banner {
    Done(String),
    Refused(String),
}

/// The folders and pages of the console, in the order of its navigation.
const VIEWS: [(&str, &str); 6] = [
    ("issued", "Issued Certificates"),
    ("pending", "Pending Requests"),
    ("failed", "Failed Requests"),
    ("revoked", "Revoked Certificates"),
    ("templates", "Certificate Templates"),
    ("settings", "CA, Clock and Faults"),
];

/// Serves `/control/console/<path>` to an administrator.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    req: &Request,
    path: &str,
    who: &Identity,
) -> Reply {
    let path = path.trim_matches('/');
    let query = Params::parse(req.query.as_bytes());
    let banner = query.get("done").map(|d| Banner::Done(d.to_string()));
    let get = req.method == Method::GET || req.method == Method::HEAD;
    if get {
        return match path {
            "" | "issued" | "pending" | "failed" | "revoked" => {
                let view = if path.is_empty() { "issued" } else { path };
                page(shared, who, view, banner, &folder(shared, who, view), 200)
            }
            "templates" => page(shared, who, path, banner, &templates(shared, who), 200),
            "templates/properties" | "templates/duplicate" => {
                let name = query.get("name").unwrap_or("");
                let Some(t) = shared.ca.template(name) else {
                    return not_found(shared, who, &format!("no template named `{name}`"));
                };
                let duplicate = path.ends_with("duplicate");
                let props = if duplicate {
                    Props::from_template(&t.duplicate("", &format!("Copy of {}", t.display_name)))
                } else {
                    Props::from_template(&t)
                };
                let op = if duplicate { "duplicate" } else { "edit" };
                let body = properties_form(shared, who, op, &t.name, &props);
                page(shared, who, "templates", banner, &body, 200)
            }
            "settings" => page(shared, who, path, banner, &settings(shared, who, None), 200),
            _ => not_found(shared, who, &format!("no console page `{path}`")),
        };
    }
    if req.method != Method::POST {
        return not_found(
            shared,
            who,
            &format!("no console page {} `{path}`", req.method),
        );
    }
    let form = Params::parse(&req.body);
    if !shared
        .csrf
        .check(&who.account, form.get(CSRF_FIELD).unwrap_or(""))
    {
        let mut r = Reply::status(
            403,
            "Forbidden: the form's anti-forgery token is missing or wrong (cross-site request forgery protection); reload the console page and try again",
        );
        r.headers.extend(security_headers());
        return r;
    }
    match path {
        "action" => action(shared, who, &form).await,
        "templates/publish" => publish(shared, who, &form),
        "templates/save" => save_template(shared, who, &form),
        "clock" => clock(shared, who, &form),
        "faults" => faults(shared, who, &form),
        "renew" => renew(shared, who, &form).await,
        _ => not_found(shared, who, &format!("no console action `{path}`")),
    }
}

fn security_headers() -> [(&'static str, String); 3] {
    [
        (
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'".into(),
        ),
        ("X-Frame-Options", "DENY".into()),
        ("Cache-Control", "no-store".into()),
    ]
}

fn page(
    shared: &Shared,
    who: &Identity,
    active: &str,
    banner: Option<Banner>,
    body: &str,
    status: u16,
) -> Reply {
    let title = VIEWS
        .iter()
        .find(|(v, _)| *v == active)
        .map_or("Certification Authority", |(_, t)| t);
    let mut nav = String::new();
    for (view, label) in VIEWS {
        let class = if view == active { " class=active" } else { "" };
        nav.push_str(&format!(
            "<a href=\"{}{view}\" id=nav-{view}{class}>{label}</a>\n",
            base()
        ));
    }
    let banner = match banner {
        Some(Banner::Done(m)) => format!("<p class=done id=banner>{}</p>\n", escape(&m)),
        Some(Banner::Refused(m)) => format!("<p class=refused id=banner>{}</p>\n", escape(&m)),
        None => String::new(),
    };
    let html = format!(
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{title} - Certification Authority</title>\n\
<style>body{{font-family:Segoe UI,Arial,sans-serif;font-size:13px;margin:0}}header{{background:#1f4e79;color:#fff;padding:6px 12px}}\
nav{{background:#eef3f8;padding:6px 12px;border-bottom:1px solid #c8d4e0}}nav a{{margin-right:14px}}nav a.active{{font-weight:bold}}\
main{{padding:8px 12px}}table{{border-collapse:collapse}}th,td{{border:1px solid #c8d4e0;padding:3px 6px;text-align:left;vertical-align:top}}\
th{{background:#f4f7fa}}.done{{background:#e6f4e6;padding:4px}}.refused{{background:#fbe3e3;padding:4px}}form.inline{{display:inline}}</style>\n\
</head><body>\n<header>Certification Authority (Local) &rsaquo; <b id=ca-name>{ca}</b> <span style=\"float:right\">Signed in as {user} &middot; <a style=\"color:#fff\" href=\"{certsrv}\">certsrv</a></span></header>\n\
<nav>{nav}</nav>\n<main>\n<h1>{title}</h1>\n{banner}{body}</main>\n</body></html>\n",
        ca = escape(&shared.ca.ca_cn()),
        user = escape(&who.account),
        certsrv = endpoint::CERTSRV,
    );
    let mut r = Reply::bytes("text/html; charset=utf-8", html.into_bytes());
    r.status = status;
    r.headers.extend(security_headers());
    r
}

fn not_found(shared: &Shared, who: &Identity, what: &str) -> Reply {
    page(
        shared,
        who,
        "",
        Some(Banner::Refused(what.to_string())),
        "",
        404,
    )
}

/// The opening of a console form with its anti-forgery token.
fn form_start(shared: &Shared, who: &Identity, action: &str, class: &str) -> String {
    format!(
        "<form method=post action=\"{}{action}\"{class}><input type=hidden name={CSRF_FIELD} value=\"{}\">",
        base(),
        shared.csrf.token(&who.account)
    )
}

/// `12/2/2026 6:45 PM`, as the console shows dates (UTC here).
pub fn console_date(t: adcs_proto::clock::UnixTime) -> String {
    match der::DateTime::from_unix_duration(std::time::Duration::from_secs(t.max(0) as u64)) {
        Ok(d) => {
            let (h, ampm) = match d.hour() {
                0 => (12, "AM"),
                h @ 1..=11 => (h, "AM"),
                12 => (12, "PM"),
                h => (h - 12, "PM"),
            };
            format!(
                "{}/{}/{} {h}:{:02} {ampm}",
                d.month(),
                d.day(),
                d.year(),
                d.minutes()
            )
        }
        Err(_) => t.to_string(),
    }
}

fn opt_date(t: Option<adcs_proto::clock::UnixTime>) -> String {
    t.map(console_date).unwrap_or_default()
}

/// The template a request asked for: the one it was issued under, else
/// the `CertificateTemplate` attribute.
fn requested_template(r: &RequestRow) -> String {
    r.template.clone().unwrap_or_else(|| {
        r.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("CertificateTemplate"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    })
}

/// The subject the request asked for (the issued one once issued).
fn request_subject(r: &RequestRow) -> String {
    r.subject.clone().unwrap_or_else(|| {
        adcs_proto::request::parse_request(&r.request)
            .map(|p| adcs_proto::names::format_dn(&p.subject))
            .unwrap_or_default()
    })
}

const REASONS: [(&str, &str); 7] = [
    ("unspecified", "Unspecified"),
    ("key_compromise", "Key Compromise"),
    ("ca_compromise", "CA Compromise"),
    ("affiliation_changed", "Change of Affiliation"),
    ("superseded", "Superseded"),
    ("cessation_of_operation", "Cease of Operation"),
    ("certificate_hold", "Certificate Hold"),
];

fn reason_label(r: RevocationReason) -> &'static str {
    REASONS[r.code() as usize].1
}

/// One folder of the CA console: its rows, newest first, and the actions
/// each row offers.
fn folder(shared: &Shared, who: &Identity, view: &str) -> String {
    let rows: Vec<RequestRow> = match view {
        "pending" => shared.ca.list(Some(Disposition::Pending)),
        "revoked" => shared.ca.list(Some(Disposition::Revoked)),
        // The console's Failed Requests holds denied and failed requests.
        "failed" => {
            let mut v = shared.ca.list(Some(Disposition::Failed));
            v.extend(shared.ca.list(Some(Disposition::Denied)));
            v.sort_by_key(|r| r.id);
            v
        }
        _ => shared.ca.list(Some(Disposition::Issued)),
    };
    let columns: &[&str] = match view {
        "pending" | "failed" => &[
            "Request ID",
            "Requester Name",
            "Request Status Code",
            "Request Disposition Message",
            "Request Submission Date",
            "Request Common Name",
            "Certificate Template",
        ],
        "revoked" => &[
            "Request ID",
            "Requester Name",
            "Serial Number",
            "Revocation Date",
            "Revocation Reason",
            "Certificate Effective Date",
            "Certificate Expiration Date",
            "Certificate Template",
        ],
        _ => &[
            "Request ID",
            "Requester Name",
            "Request Disposition Message",
            "Serial Number",
            "Certificate Template",
            "Certificate Effective Date",
            "Certificate Expiration Date",
            "Issued Common Name",
        ],
    };
    // Failed requests have no action; the other folders end with theirs.
    let has_actions = view != "failed";
    let mut b = String::new();
    if view == "revoked" {
        b.push_str(&form_start(shared, who, "action", ""));
        b.push_str(
            "<input type=hidden name=back value=revoked>All Tasks: \
<button name=action value=crl id=publish-crl>Publish new CRL</button> \
<button name=action value=crl-delta id=publish-delta>Publish delta CRL only</button></form>\n",
        );
    }
    b.push_str(&format!(
        "<p id=count>{} request(s)</p>\n<table id=requests><tr>",
        rows.len()
    ));
    for c in columns {
        b.push_str(&format!("<th>{c}</th>"));
    }
    if has_actions {
        b.push_str("<th>Actions</th>");
    }
    b.push_str("</tr>\n");
    for r in rows.iter().rev() {
        let id = r.id;
        let cells: Vec<String> = match view {
            "pending" | "failed" => vec![
                id.to_string(),
                escape(&r.requester.account),
                escape(&r.status.status_text()),
                escape(&r.disposition_message),
                console_date(r.submitted_at),
                escape(&request_subject(r)),
                escape(&requested_template(r)),
            ],
            "revoked" => vec![
                id.to_string(),
                escape(&r.requester.account),
                escape(r.serial.as_deref().unwrap_or("")),
                opt_date(r.revocation.as_ref().map(|x| x.revoked_at)),
                r.revocation
                    .as_ref()
                    .map_or("", |x| reason_label(x.reason))
                    .to_string(),
                opt_date(r.not_before),
                opt_date(r.not_after),
                escape(&requested_template(r)),
            ],
            _ => vec![
                id.to_string(),
                escape(&r.requester.account),
                escape(&r.disposition_message),
                escape(r.serial.as_deref().unwrap_or("")),
                escape(&requested_template(r)),
                opt_date(r.not_before),
                opt_date(r.not_after),
                escape(r.subject.as_deref().unwrap_or("")),
            ],
        };
        b.push_str(&format!("<tr id=row-{id} data-request=\"{id}\">"));
        for c in cells {
            b.push_str(&format!("<td>{c}</td>"));
        }
        let serial = escape(r.serial.as_deref().unwrap_or(""));
        let actions = match view {
            "pending" => format!(
                "{}<input type=hidden name=id value={id}><input type=hidden name=back value=pending>\
<button name=action value=issue id=issue-{id}>Issue</button> <button name=action value=deny id=deny-{id}>Deny</button></form>",
                form_start(shared, who, "action", " class=inline")
            ),
            "revoked"
                if r.revocation.as_ref().map(|x| x.reason)
                    == Some(RevocationReason::CertificateHold) =>
            {
                format!(
                    "{}<input type=hidden name=serial value=\"{serial}\"><input type=hidden name=back value=revoked>\
<button name=action value=unrevoke id=unrevoke-{id}>Unrevoke</button></form>",
                    form_start(shared, who, "action", " class=inline")
                )
            }
            "revoked" | "failed" => String::new(),
            _ => {
                let mut options = String::new();
                for (value, label) in REASONS {
                    options.push_str(&format!("<option value={value}>{label}</option>"));
                }
                format!(
                    "{}<input type=hidden name=serial value=\"{serial}\"><input type=hidden name=back value=issued>\
<select name=reason id=reason-{id} aria-label=\"Reason code\">{options}</select> <button name=action value=revoke id=revoke-{id}>Revoke</button></form>",
                    form_start(shared, who, "action", " class=inline")
                )
            }
        };
        if has_actions {
            b.push_str(&format!("<td>{actions}</td>"));
        }
        b.push_str("</tr>\n");
    }
    b.push_str("</table>\n");
    b
}

/// After a successful action: back to the folder, with what was done (so a
/// reload does not post again).
fn redirect(view: &str, done: &str) -> Reply {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("done", done);
    let mut r = Reply::status(303, "See Other");
    r.headers
        .push(("Location", format!("{}{view}?{}", base(), q.finish())));
    r
}

fn refused(shared: &Shared, who: &Identity, view: &str, status: u16, why: String) -> Reply {
    let body = match view {
        "templates" => templates(shared, who),
        "settings" => settings(shared, who, None),
        _ => folder(shared, who, view),
    };
    page(shared, who, view, Some(Banner::Refused(why)), &body, status)
}

fn refusal_status(e: &CaError) -> u16 {
    match e {
        CaError::Refused { .. } => 409,
        _ => 500,
    }
}

/// An action run off the executor: what it did, and the request it touched.
type ConsoleJob = Box<dyn FnOnce() -> Result<(String, Option<u32>), CaError> + Send>;

/// Issue, Deny, Revoke, Unrevoke, Publish CRL.
async fn action(shared: &Arc<Shared>, who: &Identity, form: &Params) -> Reply {
    let back = form
        .get("back")
        .filter(|b| VIEWS.iter().any(|(v, _)| v == b))
        .unwrap_or("issued")
        .to_string();
    let what = form.get("action").unwrap_or("").to_string();
    let id = form.get("id").and_then(|v| v.trim().parse::<u32>().ok());
    let serial = form.get("serial").unwrap_or("").trim().to_string();
    let reason = match form.get("reason").map(str::parse::<RevocationReason>) {
        None => Ok(RevocationReason::Unspecified),
        Some(r) => r,
    };
    let ca = shared.ca.clone();
    let officer = who.account.clone();
    let job: ConsoleJob =
        match (what.as_str(), id, reason) {
            ("issue", Some(id), _) => Box::new(move || {
                let s = ca.issue_pending(id, &officer)?;
                Ok((
                    format!("Request {id}: {} ({})", s.disposition.as_str(), s.message),
                    Some(id),
                ))
            }),
            ("deny", Some(id), _) => Box::new(move || {
                ca.deny(id, &officer)?;
                Ok((format!("Request {id} was denied"), Some(id)))
            }),
            ("revoke", _, Ok(reason)) if !serial.is_empty() => Box::new(move || {
                let row = ca.revoke(&serial, reason, &officer)?;
                Ok((
                    format!(
                        "Certificate {serial} (request {}) was revoked: {}",
                        row.id,
                        reason_label(reason)
                    ),
                    Some(row.id),
                ))
            }),
            ("unrevoke", _, _) if !serial.is_empty() => Box::new(move || {
                let row = ca.unrevoke(&serial, &officer)?;
                Ok((
                    format!("Certificate {serial} (request {}) was unrevoked", row.id),
                    Some(row.id),
                ))
            }),
            ("crl" | "crl-delta", _, _) => {
                let kind = if what == "crl" {
                    CrlKind::Base
                } else {
                    CrlKind::Delta
                };
                Box::new(move || {
                    ca.publish_crl(kind)?;
                    Ok((
                        format!(
                            "A new {} CRL was published",
                            if kind == CrlKind::Base {
                                "base"
                            } else {
                                "delta"
                            }
                        ),
                        None,
                    ))
                })
            }
            (_, _, Err(e)) => return refused(shared, who, &back, 400, e),
            _ => {
                return refused(
                    shared,
                    who,
                    &back,
                    400,
                    format!("the form does not say what to do (action `{what}` needs a request ID or a serial number)"),
                )
            }
        };
    match tokio::task::spawn_blocking(job).await {
        Ok(Ok((done, id))) => {
            let mut r = redirect(&back, &done);
            r.request_id = id;
            if let Some(row) = id.and_then(|i| shared.ca.request(i)) {
                r.disposition = Some(row.disposition);
            }
            r
        }
        Ok(Err(e)) => {
            let status = refusal_status(&e);
            refused(shared, who, &back, status, e.to_string())
        }
        Err(_) => refused(shared, who, &back, 500, "the CA task failed".into()),
    }
}

fn known_eku_name(o: &str) -> Option<&'static str> {
    oid::EKU_NAMES
        .iter()
        .find(|(k, _)| *k == o)
        .map(|(_, n)| *n)
}

/// Certificate Templates: every template the CA knows, with publish and
/// unpublish, Properties and Duplicate.
fn templates(shared: &Shared, who: &Identity) -> String {
    let mut b = String::from(
        "<table id=templates><tr><th>Template Display Name</th><th>Template Name</th><th>Schema Version</th><th>Version</th>\
<th>Intended Purposes</th><th>Validity</th><th>Minimum Key Size</th><th>Issuance Requirements</th><th>Enroll</th><th>Issued by this CA</th><th>Actions</th></tr>\n",
    );
    for t in shared.ca.templates() {
        let purposes = t
            .ekus
            .iter()
            .map(|e| known_eku_name(e).map_or_else(|| escape(e), str::to_string))
            .collect::<Vec<_>>()
            .join(", ");
        let name_q = form_urlencoded::byte_serialize(t.name.as_bytes()).collect::<String>();
        let name = escape(&t.name);
        let (verb, label) = if t.published {
            ("no", "Unpublish")
        } else {
            ("yes", "Publish")
        };
        b.push_str(&format!(
            "<tr data-template=\"{name}\"><td>{}</td><td>{name}</td><td>{}</td><td>{}.{}</td><td>{purposes}</td><td>{} days</td><td>{}</td><td>{}</td><td>{}</td><td class=published>{}</td>\
<td>{}<input type=hidden name=name value=\"{name}\"><button name=publish value={verb} class=publish>{label}</button></form> \
<a class=properties href=\"{base}templates/properties?name={name_q}\">Properties</a> <a class=duplicate href=\"{base}templates/duplicate?name={name_q}\">Duplicate Template</a></td></tr>\n",
            escape(&t.display_name),
            t.schema_version,
            t.major_version,
            t.minor_version,
            t.validity_days,
            t.min_key_size,
            if t.requires_approval { "CA certificate manager approval" } else { "None" },
            escape(&t.enroll.join("; ")),
            if t.published { "Yes" } else { "No" },
            form_start(shared, who, "templates/publish", " class=inline"),
            base = base(),
        ));
    }
    b.push_str("</table>\n");
    b
}

fn publish(shared: &Shared, who: &Identity, form: &Params) -> Reply {
    let name = form.get("name").unwrap_or("").trim();
    let on = form.get("publish") == Some("yes");
    match shared.ca.publish_template(name, on) {
        Ok(t) => redirect(
            "templates",
            &format!(
                "{} {}",
                t.display_name,
                if on {
                    "is issued by this CA"
                } else {
                    "is no longer issued by this CA"
                }
            ),
        ),
        Err(e) => refused(shared, who, "templates", refusal_status(&e), e.to_string()),
    }
}

/// A template's properties as the form shows them: text, so that a
/// refused form comes back with exactly what was typed.
struct Props {
    name: String,
    display_name: String,
    compatibility: String,
    validity_days: String,
    purpose: String,
    key_usage_critical: bool,
    exportable_key: bool,
    min_key_size: String,
    ekus: Vec<String>,
    other_ekus: String,
    subject: String,
    requires_approval: bool,
    enroll: String,
}

const COMPATIBILITY: [(&str, &str); 4] = [
    ("1", "Windows 2000 (version 1 template)"),
    ("2", "Windows Server 2003"),
    ("3", "Windows Server 2008"),
    ("4", "Windows Server 2012"),
];
const PURPOSES: [(&str, &str, u16); 3] = [
    ("both", "Signature and encryption", 0xa0),
    ("signature", "Signature", 0x80),
    ("encryption", "Encryption", 0x20),
];
const SUBJECTS: [(&str, &str, SubjectSource); 3] = [
    ("request", "Supply in the request", SubjectSource::Request),
    (
        "requester_machine",
        "Build from this Active Directory information (computer)",
        SubjectSource::RequesterMachine,
    ),
    (
        "requester_user",
        "Build from this Active Directory information (user)",
        SubjectSource::RequesterUser,
    ),
];

impl Props {
    fn from_template(t: &Template) -> Props {
        let (known, other): (Vec<_>, Vec<_>) = t
            .ekus
            .iter()
            .cloned()
            .partition(|e| known_eku_name(e).is_some());
        Props {
            name: t.name.clone(),
            display_name: t.display_name.clone(),
            compatibility: t.schema_version.to_string(),
            validity_days: t.validity_days.to_string(),
            // A key usage the console has no name for is kept as it is.
            purpose: PURPOSES
                .iter()
                .find(|p| p.2 == t.key_usage)
                .map_or_else(|| format!("0x{:02x}", t.key_usage), |p| p.0.to_string()),
            key_usage_critical: t.key_usage_critical,
            exportable_key: t.exportable_key,
            min_key_size: t.min_key_size.to_string(),
            ekus: known,
            other_ekus: other.join("\n"),
            subject: SUBJECTS
                .iter()
                .find(|s| s.2 == t.subject)
                .map_or("request", |s| s.0)
                .to_string(),
            requires_approval: t.requires_approval,
            enroll: t.enroll.join("\n"),
        }
    }

    fn from_form(form: &Params) -> Props {
        let text = |k: &str| form.get(k).unwrap_or("").to_string();
        let on = |k: &str| form.get(k).is_some();
        Props {
            name: text("name"),
            display_name: text("display_name"),
            compatibility: text("compatibility"),
            validity_days: text("validity_days"),
            purpose: text("purpose"),
            key_usage_critical: on("key_usage_critical"),
            exportable_key: on("exportable_key"),
            min_key_size: text("min_key_size"),
            ekus: form
                .pairs()
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("eku"))
                .map(|(_, v)| v.clone())
                .collect(),
            other_ekus: text("other_ekus"),
            subject: text("subject"),
            requires_approval: on("requires_approval"),
            enroll: text("enroll"),
        }
    }

    /// `base` with these properties, or what is wrong with them.
    fn apply(&self, base: &Template) -> Result<Template, String> {
        let number = |label: &str, v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("{label}: `{v}` is not a whole number"))
        };
        let schema_version = match self.compatibility.trim() {
            "" => base.schema_version,
            v => match v.parse::<u8>() {
                Ok(n @ 1..=4) => n,
                _ => return Err(format!("Compatibility: `{v}` is not a template version")),
            },
        };
        let validity_days = number("Validity period (days)", &self.validity_days)?;
        if validity_days == 0 {
            return Err("Validity period (days): at least 1".into());
        }
        let key_usage = PURPOSES
            .iter()
            .find(|p| p.0 == self.purpose)
            .map(|p| p.2)
            .or_else(|| {
                let hex = self.purpose.strip_prefix("0x")?;
                u16::from_str_radix(hex, 16).ok()
            })
            .ok_or_else(|| format!("Purpose: `{}` is not one of the choices", self.purpose))?;
        let subject = SUBJECTS
            .iter()
            .find(|s| s.0 == self.subject)
            .map(|s| s.2)
            .ok_or_else(|| format!("Subject Name: `{}` is not one of the choices", self.subject))?;
        let mut ekus: Vec<String> = self.ekus.iter().map(|e| e.trim().to_string()).collect();
        for e in self
            .other_ekus
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            der::asn1::ObjectIdentifier::new(e)
                .map_err(|_| format!("Application Policies: `{e}` is not an OID"))?;
            if !ekus.iter().any(|k| k == e) {
                ekus.push(e.to_string());
            }
        }
        Ok(Template {
            display_name: self.display_name.trim().to_string(),
            schema_version,
            validity_days,
            key_usage,
            key_usage_critical: self.key_usage_critical,
            exportable_key: self.exportable_key,
            min_key_size: number("Minimum key size", &self.min_key_size)?,
            ekus,
            subject,
            san_from_request: if subject == base.subject {
                base.san_from_request
            } else {
                subject == SubjectSource::Request
            },
            requires_approval: self.requires_approval,
            enroll: self
                .enroll
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            ..base.clone()
        })
    }
}

/// The properties sheet, for editing a template or for its duplicate.
fn properties_form(shared: &Shared, who: &Identity, op: &str, source: &str, p: &Props) -> String {
    let checked = |on: bool| if on { " checked" } else { "" };
    let select = |name: &str, current: &str, choices: &[(&str, &str)]| {
        let mut s = format!("<select name={name} id={name}>");
        for (value, label) in choices {
            let sel = if *value == current { " selected" } else { "" };
            s.push_str(&format!(
                "<option value=\"{}\"{sel}>{label}</option>",
                escape(value)
            ));
        }
        s.push_str("</select>");
        s
    };
    let heading = if op == "duplicate" {
        format!(
            "Properties of New Template (a duplicate of {})",
            escape(source)
        )
    } else {
        format!("{} Properties", escape(&p.display_name))
    };
    let mut ekus = String::new();
    for (o, label) in oid::EKU_NAMES {
        ekus.push_str(&format!(
            "<label><input type=checkbox name=eku value=\"{o}\"{}> {label}</label><br>",
            checked(p.ekus.iter().any(|e| e == o))
        ));
    }
    let custom = format!("Key usage {}", escape(&p.purpose));
    let mut purposes: Vec<(&str, &str)> = PURPOSES.iter().map(|p| (p.0, p.1)).collect();
    if !purposes.iter().any(|(v, _)| *v == p.purpose) {
        purposes.push((&p.purpose, &custom));
    }
    let subjects: Vec<(&str, &str)> = SUBJECTS.iter().map(|s| (s.0, s.1)).collect();
    let name_attr = if op == "edit" {
        " readonly"
    } else {
        " required"
    };
    format!(
        "<h2 id=properties-heading>{heading}</h2>\n{form}<input type=hidden name=op value={op}><input type=hidden name=source value=\"{source}\">\n\
<fieldset><legend>General</legend>\
<label>Template display name: <input name=display_name id=display_name size=40 required value=\"{display}\"></label><br>\
<label>Template name: <input name=name id=name size=40{name_attr} value=\"{name}\"></label><br>\
<label>Validity period (days): <input name=validity_days id=validity_days size=6 value=\"{validity}\"></label></fieldset>\n\
<fieldset><legend>Compatibility</legend><label>Certificate recipient / template version: {compat}</label></fieldset>\n\
<fieldset><legend>Request Handling</legend><label>Purpose: {purpose}</label><br>\
<label><input type=checkbox name=exportable_key id=exportable_key{exportable}> Allow private key to be exported</label></fieldset>\n\
<fieldset><legend>Cryptography</legend><label>Minimum key size: <input name=min_key_size id=min_key_size size=6 value=\"{min_key}\"></label></fieldset>\n\
<fieldset><legend>Extensions</legend><b>Application Policies</b><br>{ekus}\
<label>Other OIDs (one per line): <br><textarea name=other_ekus id=other_ekus rows=2 cols=50>{other}</textarea></label><br>\
<b>Key Usage</b><br><label><input type=checkbox name=key_usage_critical id=key_usage_critical{critical}> Make this extension critical</label></fieldset>\n\
<fieldset><legend>Subject Name</legend>{subject}</fieldset>\n\
<fieldset><legend>Issuance Requirements</legend><label><input type=checkbox name=requires_approval id=requires_approval{approval}> CA certificate manager approval</label></fieldset>\n\
<fieldset><legend>Security</legend><label>Allowed to enroll (users or groups, one per line):<br><textarea name=enroll id=enroll rows=4 cols=50>{enroll}</textarea></label></fieldset>\n\
<p><button id=save-template>OK</button> <a href=\"{base}templates\">Cancel</a></p></form>\n",
        form = form_start(shared, who, "templates/save", ""),
        source = escape(source),
        display = escape(&p.display_name),
        name = escape(&p.name),
        validity = escape(&p.validity_days),
        compat = select("compatibility", &p.compatibility, &COMPATIBILITY),
        purpose = select("purpose", &p.purpose, &purposes),
        exportable = checked(p.exportable_key),
        min_key = escape(&p.min_key_size),
        other = escape(&p.other_ekus),
        critical = checked(p.key_usage_critical),
        subject = select("subject", &p.subject, &subjects),
        approval = checked(p.requires_approval),
        enroll = escape(&p.enroll),
        base = base(),
    )
}

fn save_template(shared: &Shared, who: &Identity, form: &Params) -> Reply {
    let op = form.get("op").unwrap_or("");
    let source = form.get("source").unwrap_or("").trim();
    let props = Props::from_form(form);
    let again = |status: u16, why: String| {
        let body = properties_form(shared, who, op, source, &props);
        page(
            shared,
            who,
            "templates",
            Some(Banner::Refused(why)),
            &body,
            status,
        )
    };
    let Some(base_template) = shared.ca.template(source) else {
        return again(404, format!("no template named `{source}`"));
    };
    let result = match op {
        "edit" => props.apply(&base_template).and_then(|mut t| {
            t.minor_version += 1;
            shared
                .ca
                .put_template(t.clone())
                .map(|_| t)
                .map_err(|e| e.to_string())
        }),
        "duplicate" => {
            if props.name.trim().is_empty() {
                return again(400, "Template name: a duplicate needs a name".into());
            }
            props
                .apply(&base_template.duplicate(&props.name, &props.display_name))
                .and_then(|t| {
                    shared
                        .ca
                        .add_template(t.clone())
                        .map(|_| t)
                        .map_err(|e| e.to_string())
                })
        }
        other => Err(format!("unknown template operation `{other}`")),
    };
    match result {
        Ok(t) => redirect(
            "templates",
            &format!(
                "{} ({}) was saved at version {}.{}{}",
                t.display_name,
                t.name,
                t.major_version,
                t.minor_version,
                if t.published {
                    ""
                } else {
                    "; publish it to issue it"
                }
            ),
        ),
        Err(why) => again(400, why),
    }
}

/// Clock and faults: the virtual clock (advance, set, freeze) and the
/// fault rules as JSON.
fn settings(shared: &Shared, who: &Identity, faults_text: Option<&str>) -> String {
    let clock = shared.ca.clock();
    let now = clock.now();
    let rules = faults_text.map(str::to_string).unwrap_or_else(|| {
        serde_json::to_string_pretty(&shared.faults.rules()).expect("rules serialise")
    });
    let form = |action: &str| form_start(shared, who, action, "");
    let n = shared.ca.n_renewals();
    format!(
        "<h2>CA certificate</h2>\n<p>CA certificates: <b id=ca-count>{}</b> (renewals: {n}); the newest is valid until {}.</p>\n\
{f6}<input type=hidden name=new_key value=no><button id=renew-same-key>Renew CA certificate (same key)</button></form>\n\
{f7}<input type=hidden name=new_key value=yes><button id=renew-new-key>Renew CA certificate (new key)</button></form>\n\
<h2>Clock</h2>\n<p>CA time: <b id=clock-now>{}</b> ({}) &middot; <span id=clock-state>{}</span></p>\n\
{f1}<button name=advance value=3600>+1 hour</button> <button name=advance value=86400 id=advance-day>+1 day</button> \
<button name=advance value=2592000>+30 days</button></form>\n\
{f2}<label>Advance by seconds: <input name=advance id=advance size=10></label> <button id=advance-go>Advance</button></form>\n\
{f3}<label>Set to (YYYY-MM-DDTHH:MM:SSZ or Unix seconds): <input name=set id=clock-set size=24></label> <button id=set-go>Set</button></form>\n\
{f4}<button name=op value={op} id=freeze-toggle>{label}</button></form>\n\
<h2>Fault injection</h2>\n<p>Rules as JSON (see the README's fault rules); an empty list <code>[]</code> turns faults off.</p>\n\
{f5}<textarea name=rules id=rules rows=10 cols=80>{}</textarea><br><button id=save-faults>Save rules</button></form>\n",
        n + 1,
        shared
            .ca
            .ca_certificate(n)
            .and_then(|c| <x509_cert::Certificate as der::Decode>::from_der(&c).ok())
            .map(|c| {
                console_date(adcs_proto::x509::unix_time(
                    &c.tbs_certificate().validity().not_after,
                ))
            })
            .unwrap_or_default(),
        adcs_proto::x509::rfc3339(now),
        console_date(now),
        if clock.is_frozen() { "frozen" } else { "running" },
        escape(&rules),
        f1 = form("clock"),
        f2 = form("clock"),
        f3 = form("clock"),
        f4 = form("clock"),
        f5 = form("faults"),
        f6 = form("renew"),
        f7 = form("renew"),
        op = if clock.is_frozen() { "resume" } else { "freeze" },
        label = if clock.is_frozen() { "Let the clock run" } else { "Freeze the clock" },
    )
}

/// "Renew CA Certificate": a new CA certificate, with the same key or a new one.
async fn renew(shared: &Arc<Shared>, who: &Identity, form: &Params) -> Reply {
    let new_key = form.get("new_key") == Some("yes");
    let ca = shared.ca.clone();
    match tokio::task::spawn_blocking(move || ca.renew_ca(new_key)).await {
        Ok(Ok(index)) => redirect(
            "settings",
            &format!(
                "The CA certificate was renewed with {} key: certificate {index}",
                if new_key { "a new" } else { "the same" }
            ),
        ),
        Ok(Err(e)) => refused(shared, who, "settings", refusal_status(&e), e.to_string()),
        Err(_) => refused(shared, who, "settings", 500, "the CA task failed".into()),
    }
}

fn clock(shared: &Shared, who: &Identity, form: &Params) -> Reply {
    let clock = shared.ca.clock();
    let bad = |why: String| {
        let body = settings(shared, who, None);
        page(
            shared,
            who,
            "settings",
            Some(Banner::Refused(why)),
            &body,
            400,
        )
    };
    if let Some(t) = form.get("set").map(str::trim).filter(|t| !t.is_empty()) {
        match adcs_proto::x509::parse_time(t) {
            Some(t) => clock.set(t),
            None => return bad(format!("Set to: `{t}` is not a time")),
        }
    }
    if let Some(a) = form.get("advance").map(str::trim).filter(|a| !a.is_empty()) {
        match a.parse::<i64>() {
            Ok(s) => clock.advance(s),
            Err(_) => return bad(format!("Advance: `{a}` is not a number of seconds")),
        }
    }
    match form.get("op") {
        Some("freeze") => clock.freeze(),
        Some("resume") => clock.resume(),
        _ => {}
    }
    redirect(
        "settings",
        &format!("CA time is now {}", adcs_proto::x509::rfc3339(clock.now())),
    )
}

fn faults(shared: &Shared, who: &Identity, form: &Params) -> Reply {
    let text = form.get("rules").unwrap_or("").trim();
    let parsed: Result<Vec<super::faults::FaultRule>, String> = if text.is_empty() {
        Ok(Vec::new())
    } else {
        serde_json::from_str(text).map_err(|e| format!("Rules: {e}"))
    };
    let checked = parsed.and_then(|rules| {
        for r in &rules {
            r.validate().map_err(|e| format!("Rules: {e}"))?;
        }
        Ok(rules)
    });
    match checked {
        Ok(rules) => {
            let n = rules.len();
            shared.faults.set(rules);
            redirect("settings", &format!("{n} fault rule(s) in force"))
        }
        Err(why) => {
            let body = settings(shared, who, Some(text));
            page(
                shared,
                who,
                "settings",
                Some(Banner::Refused(why)),
                &body,
                400,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_dates_read_like_the_mmc() {
        assert_eq!(console_date(1_767_225_600), "1/1/2026 12:00 AM");
        assert_eq!(
            console_date(1_767_225_600 + 13 * 3600 + 5 * 60),
            "1/1/2026 1:05 PM"
        );
        assert_eq!(console_date(1_767_225_600 + 12 * 3600), "1/1/2026 12:00 PM");
    }

    #[test]
    fn tokens_are_per_account_and_unforgeable() {
        let c = Csrf::new();
        let t = c.token("CONTOSO\\Administrator");
        assert!(c.check("contoso\\administrator", &t));
        assert!(!c.check("CONTOSO\\root", &t));
        assert!(!c.check("CONTOSO\\Administrator", ""));
        assert!(!c.check("CONTOSO\\Administrator", &t[..t.len() - 2]));
        assert!(!Csrf::new().check("CONTOSO\\Administrator", &t));
    }

    #[test]
    fn properties_round_trip_and_refuse_bad_values() {
        let t = crate::template::default_templates()
            .into_iter()
            .find(|t| t.name == "OperationsManager")
            .unwrap();
        let same = Props::from_template(&t).apply(&t).unwrap();
        assert_eq!(same, t);
        let mut p = Props::from_template(&t);
        p.min_key_size = "big".into();
        assert!(p.apply(&t).unwrap_err().contains("Minimum key size"));
        let mut p = Props::from_template(&t);
        p.other_ekus = "1.2.3.4\nnot-an-oid".into();
        assert!(p.apply(&t).unwrap_err().contains("not-an-oid"));
        let mut p = Props::from_template(&t);
        p.purpose = "signature".into();
        p.exportable_key = false;
        p.other_ekus = "1.3.6.1.4.1.311.10.3.12".into();
        let changed = p.apply(&t).unwrap();
        assert_eq!(changed.key_usage, 0x80);
        assert!(!changed.exportable_key);
        assert!(changed.ekus.iter().any(|e| e == "1.3.6.1.4.1.311.10.3.12"));
    }
}
