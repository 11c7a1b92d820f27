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
use crate::db::{RequestRow, RevocationReason, RowQuery};
use crate::template::{SubjectSource, Template};
use crate::web::directory::Identity;
use adcs_proto::protocol::{endpoint, oid, Disposition};

mod folders;
mod settings;
mod templates;

use folders::{action, folder};
use settings::{clock, faults, renew, settings};
use templates::{properties_form, publish, save_template, templates, Props};

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
}
