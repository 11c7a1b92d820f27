//! "Create and submit a request to this CA" (`certrqma.asp`): on a real CA
//! the browser makes the key pair (ActiveX, long gone); here the CA makes
//! it, submits the request as the signed-in user and answers with the
//! certificate and key as a password-protected PFX: at once when issued,
//! later from `certnew.pfx?ReqID=N` when a certificate manager approves.
//! The SCOM guide's web-portal path, without a 2008-era browser.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use der::asn1::ObjectIdentifier;

use super::form::{cert_attributes, Params};
use super::pages::ErrorContext;
use super::replies::{error_page, parse_req_id, pending_reply, refusal_page, ReqId};
use super::{Reply, Request, Shared};
use crate::keys::{KeyAlgorithm, SigningKey};
use crate::web::directory::Identity;
use adcs_proto::protocol::{content_type, endpoint, oid, portal, Disposition, HResult};

/// A key the CA made for a request, until its PFX is fetched.
pub(crate) struct PortalKey {
    pkcs8: Vec<u8>,
    spki: Vec<u8>,
    password: String,
    friendly_name: String,
    account: String,
}

/// Keys of portal requests by request ID (kept in memory only).
#[derive(Default)]
pub(crate) struct PortalKeys(Mutex<HashMap<u32, PortalKey>>);

impl PortalKey {
    /// Its requester or an administrator may fetch its PFX.
    fn belongs_to(&self, who: &Identity) -> bool {
        who.admin || self.account.eq_ignore_ascii_case(&who.account)
    }
}

impl PortalKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, PortalKey>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the form asks for, checked.
struct Form {
    subject: String,
    key: KeyAlgorithm,
    key_usage: u16,
    ekus: Vec<ObjectIdentifier>,
    attributes: Vec<(String, String)>,
    friendly_name: String,
    password: String,
}

fn read_form(form: &Params) -> Result<Form, String> {
    let subject = match form.get(portal::SUBJECT).map(str::trim) {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => portal::NAME_FIELDS
            .iter()
            .filter_map(|(k, _)| {
                form.get(k)
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("{k}={}", v.replace(',', "\\,")))
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    if subject.is_empty() {
        return Err("no subject: give Subject or at least CN".into());
    }
    let key = match form.get(portal::KEY_SIZE).map(str::trim) {
        None | Some("") | Some("2048") => KeyAlgorithm::Rsa2048,
        Some("3072") => KeyAlgorithm::Rsa3072,
        Some("4096") => KeyAlgorithm::Rsa4096,
        Some(other) => return Err(format!("KeySize {other} (2048, 3072 or 4096)")),
    };
    let key_usage = match form
        .get(portal::KEY_USAGE)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("both") => 0xa0,
        Some("exchange") => 0x20,
        Some("signature") => 0x80,
        Some(other) => return Err(format!("KeyUsage `{other}` (exchange, signature or both)")),
    };
    let mut ekus = Vec::new();
    for o in form
        .get(portal::EKU)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        ekus.push(ObjectIdentifier::new(o).map_err(|_| format!("`{o}` is not an OID"))?);
    }
    let password = form.get(portal::PASSWORD).unwrap_or("").to_string();
    if password.is_empty() {
        return Err("a PFX password is required".into());
    }
    let mut attributes = cert_attributes(form.get(portal::ATTRIBUTES).unwrap_or(""));
    if let Some(t) = form
        .get(portal::TEMPLATE)
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        attributes.push(("CertificateTemplate".into(), t.to_string()));
    }
    Ok(Form {
        friendly_name: form
            .get(portal::FRIENDLY_NAME)
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .unwrap_or(&subject)
            .to_string(),
        subject,
        key,
        key_usage,
        ekus,
        attributes,
        password,
    })
}

/// The PFX of an issued portal request: key, leaf and the CA chain.
fn pfx_for(shared: &Shared, id: u32, key: &PortalKey) -> Result<Vec<u8>, HResult> {
    let row = shared.ca.request(id).ok_or(HResult::PROPERTY_EMPTY)?;
    let leaf = row.certificate.clone().ok_or(HResult::PROPERTY_EMPTY)?;
    let mut chain = vec![leaf];
    chain.extend(
        shared
            .ca
            .ca_chain(row.ca_cert_index.unwrap_or(0))
            .unwrap_or_default(),
    );
    let local_key_id = adcs_proto::x509::key_id(&key.spki).map_err(|_| HResult::E_INVALIDARG)?;
    adcs_proto::encoding::pfx(
        &key.pkcs8,
        local_key_id,
        &chain,
        &key.friendly_name,
        &key.password,
        adcs_proto::encoding::PfxFormat::Aes256,
    )
    .map_err(|_| HResult::E_INVALIDARG)
}

fn pfx_reply(id: u32, pfx: Vec<u8>) -> Reply {
    let mut r = Reply::bytes(content_type::PKCS12, pfx);
    r.headers.push((
        "Content-Disposition",
        "attachment; filename=\"certnew.pfx\"".into(),
    ));
    r.request_id = Some(id);
    r.disposition = Some(Disposition::Issued);
    r
}

/// `POST certrqma.asp`: make the key, submit, answer with the PFX (issued),
/// the pending page, or the denied / error page.
pub(crate) async fn create(
    shared: &Arc<Shared>,
    req: &Request,
    who: &Identity,
    over: Option<crate::ca::PolicyOverride>,
) -> Reply {
    let mode = endpoint::MODE_NEW;
    let params = Params::parse(&req.body);
    let form = match read_form(&params) {
        Ok(f) => f,
        Err(_) => {
            let h = HResult::E_INVALIDARG;
            return error_page(ErrorContext::NewRequest, mode, None, h, Some(h));
        }
    };
    let ca = shared.ca.clone();
    let requester = who.requester.clone();
    let made = tokio::task::spawn_blocking(move || {
        let name =
            adcs_proto::names::parse_dn(&form.subject).map_err(|_| HResult::BAD_REQUESTSUBJECT)?;
        let label = format!(
            "portal/{}/{}/{}",
            requester.account,
            form.subject,
            ca.next_request_id()
        );
        let key =
            SigningKey::generate(form.key, &ca.seed(), &label).map_err(|_| HResult::CA_OFFLINE)?;
        let mut extensions = vec![adcs_proto::x509::extension(
            oid::KEY_USAGE,
            true,
            adcs_proto::x509::key_usage_value(form.key_usage),
        )];
        if !form.ekus.is_empty() {
            extensions.push(adcs_proto::x509::extension(
                oid::EXTENDED_KEY_USAGE,
                false,
                adcs_proto::x509::eku_value(&form.ekus),
            ));
        }
        let der = adcs_proto::x509::build_request(&name, &key, extensions)
            .map_err(|_| HResult::E_INVALIDARG)?;
        let submission = ca
            .submit_with(&der, &requester, &form.attributes, over)
            .map_err(|e| e.hresult())?;
        Ok::<_, HResult>((submission, key, form))
    })
    .await;
    let (submission, key, form) = match made {
        Ok(Ok(m)) => m,
        Ok(Err(h)) => return error_page(ErrorContext::NewRequest, mode, None, h, Some(h)),
        Err(_) => {
            let h = HResult::CA_OFFLINE;
            return error_page(ErrorContext::NewRequest, mode, None, h, Some(h));
        }
    };
    let id = submission.id;
    let portal_key = PortalKey {
        pkcs8: key.pkcs8_der().to_vec(),
        spki: key.spki_der().to_vec(),
        password: form.password,
        friendly_name: form.friendly_name.clone(),
        account: who.account.clone(),
    };
    let mut reply = match submission.disposition {
        Disposition::Issued => match pfx_for(shared, id, &portal_key) {
            Ok(pfx) => return pfx_reply(id, pfx),
            Err(h) => error_page(ErrorContext::NewRequest, mode, None, h, Some(h)),
        },
        Disposition::Pending => {
            shared.portal.lock().insert(id, portal_key);
            pending_reply(req, id, &form.friendly_name)
        }
        Disposition::Denied | Disposition::Revoked | Disposition::Failed => {
            refusal_page(shared, mode, &submission)
        }
    };
    reply.request_id = Some(id);
    reply.disposition = Some(submission.disposition);
    reply
}

/// True when the CA holds the key of request `id` for `who` (its
/// requester or an administrator), so its PFX can be fetched.
pub(crate) fn has_pfx(shared: &Shared, id: u32, who: &Identity) -> bool {
    shared
        .portal
        .lock()
        .get(&id)
        .is_some_and(|k| k.belongs_to(who))
}

/// `GET certnew.pfx?ReqID=N`: the PFX of a portal request once issued, for
/// the account that made it (or an administrator); the error page otherwise.
pub(crate) fn fetch(shared: &Arc<Shared>, query: &Params, who: &Identity) -> Reply {
    let fetch_error = |row: Option<&crate::db::RequestRow>, h: HResult, last: Option<HResult>| {
        error_page(ErrorContext::Fetch, "", row, h, last)
    };
    let id = match parse_req_id(query.get("ReqID")) {
        ReqId::Id(id) => id,
        ReqId::Unknown => {
            return fetch_error(None, HResult::PROPERTY_EMPTY, Some(HResult::PROPERTY_EMPTY))
        }
        ReqId::Invalid => {
            return fetch_error(None, HResult::E_INVALIDARG, Some(HResult::E_INVALIDARG))
        }
    };
    let keys = shared.portal.lock();
    let Some(key) = keys.get(&id).filter(|k| k.belongs_to(who)) else {
        return fetch_error(None, HResult::PROPERTY_EMPTY, Some(HResult::PROPERTY_EMPTY));
    };
    let Some(row) = shared.ca.request(id) else {
        return fetch_error(None, HResult::PROPERTY_EMPTY, Some(HResult::PROPERTY_EMPTY));
    };
    if row.disposition != Disposition::Issued {
        let mut r = fetch_error(Some(&row), HResult::S_OK, None);
        r.request_id = Some(id);
        r.disposition = Some(row.disposition);
        return r;
    }
    match pfx_for(shared, id, key) {
        Ok(pfx) => pfx_reply(id, pfx),
        Err(h) => fetch_error(Some(&row), h, Some(h)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_read_and_checked() {
        let f = read_form(&Params::parse(
            b"CN=scom01.contoso.test&O=Contoso&KeySize=4096&KeyUsage=both&ExtendedKeyUsage=1.3.6.1.5.5.7.3.1,+1.3.6.1.5.5.7.3.2&PfxPassword=pw&CertificateTemplate=OperationsManager",
        ))
        .unwrap();
        assert_eq!(f.subject, "CN=scom01.contoso.test, O=Contoso");
        assert_eq!(
            (f.key, f.key_usage, f.ekus.len()),
            (KeyAlgorithm::Rsa4096, 0xa0, 2)
        );
        assert_eq!(
            f.attributes,
            vec![("CertificateTemplate".into(), "OperationsManager".into())]
        );
        assert_eq!(f.friendly_name, f.subject);
        for bad in [
            &b"CN=x"[..],
            b"PfxPassword=pw",
            b"CN=x&PfxPassword=pw&KeySize=1024",
            b"CN=x&PfxPassword=pw&KeyUsage=all",
            b"CN=x&PfxPassword=pw&ExtendedKeyUsage=serverAuth",
        ] {
            assert!(
                read_form(&Params::parse(bad)).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
