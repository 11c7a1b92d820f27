//! NDES's two IIS applications: `mscep/mscep.dll` (SCEP, anonymous) and
//! `mscep_admin/` (the challenge-password page, behind the site's
//! authentication, UTF-16LE as NDES writes it).

use std::sync::Arc;

use base64::Engine;
use hyper::Method;

use super::directory::Identity;
use super::{pages, Reply, Request, Shared};
use crate::ndes::{Challenge, Operation};
use adcs_proto::scep::{admin_page, content_type, operation};

/// `…/mscep.dll[/pkiclient.exe]?operation=…[&message=…]`.
pub(crate) async fn scep(shared: &Arc<Shared>, req: &Request) -> Reply {
    let Some(ndes) = shared.ndes.as_ref() else {
        return Reply::status(404, "Not Found");
    };
    let mut op = String::new();
    let mut message = None;
    for (k, v) in form_urlencoded::parse(req.query.as_bytes()) {
        if k.eq_ignore_ascii_case("operation") {
            op = v.into_owned();
        } else if k.eq_ignore_ascii_case("message") {
            message = Some(v.into_owned());
        }
    }
    let ca = &shared.ca;
    match op.as_str() {
        operation::GET_CA_CAPS => {
            let mut r = Reply::bytes(content_type::CAPS, ndes.capabilities().into_bytes());
            r.detail = Some(op);
            r
        }
        operation::GET_CA_CERT => {
            let mut r = Reply::bytes(content_type::CA_RA_CERT, ndes.ca_ra_certificates(ca));
            r.detail = Some(op);
            r
        }
        operation::PKI_OPERATION => {
            let Some(bytes) = pki_message(req, message.as_deref()) else {
                return failed(&op, "the message is neither DER nor base64");
            };
            let shared = shared.clone();
            super::inject::inject(
                &shared.clone(),
                req,
                "mscep/mscep.dll",
                move |over| async move {
                    let Some(ndes) = shared.ndes.as_ref() else {
                        return Reply::status(404, "Not Found");
                    };
                    match ndes.pki_operation(&shared.ca, &bytes, over) {
                        Ok(done) => answered(done),
                        Err(e) => failed(operation::PKI_OPERATION, &e.to_string()),
                    }
                },
            )
            .await
        }
        "" => Reply::html(pages::ndes_page("")),
        other => failed(other, "unknown operation"),
    }
}

/// The request's PKIMessage: a POST body (DER, or base64 as some clients
/// send it) or the `message` parameter of a GET.
fn pki_message(req: &Request, message: Option<&str>) -> Option<Vec<u8>> {
    let b64 = |s: &str| {
        // Either alphabet, padded or not; a '+' that query decoding turned
        // into a space is put back.
        let cleaned: String = s
            .chars()
            .filter(|c| !matches!(c, '\r' | '\n' | '='))
            .map(|c| match c {
                ' ' | '-' => '+',
                '_' => '/',
                c => c,
            })
            .collect();
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(cleaned)
            .ok()
    };
    if req.method == Method::POST && !req.body.is_empty() {
        if req.body.first() == Some(&0x30) {
            return Some(req.body.to_vec());
        }
        return std::str::from_utf8(&req.body).ok().and_then(b64);
    }
    message.and_then(b64)
}

/// The CertRep, whatever its pkiStatus (SCEP reports failures inside it).
fn answered(done: Operation) -> Reply {
    let mut r = Reply::bytes(content_type::PKI_MESSAGE, done.reply);
    r.request_id = done.request_id;
    r.disposition = done.disposition;
    let mut detail = format!(
        "{} {} {}",
        done.message_type.name(),
        done.transaction_id,
        done.status.name()
    );
    if let Some(f) = done.fail_info {
        detail.push(' ');
        detail.push_str(f.name());
    }
    if let Some(why) = done.reason {
        detail.push_str(": ");
        detail.push_str(&why);
    }
    r.detail = Some(detail);
    r
}

/// What NDES does with a message it cannot read: HTTP 500.
fn failed(op: &str, why: &str) -> Reply {
    let mut r = Reply::status(500, "Internal Server Error");
    r.detail = Some(format!("{op}: {why}"));
    r
}

/// `mscep_admin/`: a challenge password for users who may enroll on the
/// NDES template (and CA administrators), else NDES's refusal.
pub(crate) fn admin(shared: &Arc<Shared>, who: &Identity) -> Reply {
    let Some(ndes) = shared.ndes.as_ref() else {
        return Reply::status(404, "Not Found");
    };
    let template = &ndes.config().general_purpose_template;
    let allowed = who.admin
        || shared
            .ca
            .template(template)
            .is_some_and(|t| t.may_enroll(&who.account, &who.requester.groups));
    let body = if !allowed {
        format!(
            "<P> {}  Please contact your system administrator. </P>",
            admin_page::NO_PERMISSION
        )
    } else {
        match ndes.challenge(&shared.ca) {
            Challenge::Password(p) => format!(
                "<P> To complete certificate enrollment for your network device you will need the following information: <P> The thumbprint (hash value) for the CA certificate is: <B> {} </B> <P> {} <B> {p} </B> <P> This password can be used only once and will expire within {} minutes. <P> Each enrollment requires a new challenge password. You can refresh this web page to obtain a new challenge password. </P>",
                thumbprint(&shared.ca.ca_certificate(shared.ca.n_renewals()).unwrap_or_default()),
                admin_page::PASSWORD_MARKER,
                ndes.config().password_validity_minutes,
            ),
            Challenge::CacheFull => format!(
                "<P> {} <P> Network Device Enrollment Service stores unused password for later use. By default, passwords are stored for 60 minutes.<P>Use one of the existing passwords. If you cannot use an existing password: <UL> <LI> Wait until one or more existing passwords expire (by default passwords expire 60 minutes after they are created). </LI> <LI> Restart Internet Information Services (IIS). </LI> <LI> Configure the service to cache more than {} passwords. </LI> </UL> </P>",
                admin_page::CACHE_FULL,
                ndes.config().password_max,
            ),
        }
    };
    let page = pages::ndes_page(&body);
    let utf16: Vec<u8> = page.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut r = Reply::bytes(adcs_proto::protocol::content_type::HTML, utf16);
    r.headers.push(("Cache-Control", "private".into()));
    r
}

/// The CA certificate's MD5 thumbprint as NDES prints it: four groups of eight hex digits.
fn thumbprint(cert: &[u8]) -> String {
    use md5::Digest;
    let hex = adcs_proto::hex::hex(&md5::Md5::digest(cert)).to_ascii_uppercase();
    hex.as_bytes()
        .chunks(8)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
