//! The four request folders (Issued, Pending, Failed, Revoked) with the
//! console's columns, and their actions: Issue, Deny, Revoke with a reason,
//! Unrevoke and Publish CRL.

use super::*;

/// The template a request asked for: the one it was issued under, else
/// the `CertificateTemplate` attribute.
pub(super) fn requested_template(r: &RequestRow) -> String {
    r.template.clone().unwrap_or_else(|| {
        r.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("CertificateTemplate"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    })
}

/// The subject the request asked for (the issued one once issued).
pub(super) fn request_subject(r: &RequestRow) -> String {
    r.subject.clone().unwrap_or_else(|| {
        adcs_proto::request::parse_request(&r.request)
            .map(|p| adcs_proto::names::format_dn(&p.subject))
            .unwrap_or_default()
    })
}

pub(super) const REASONS: [(&str, &str); 7] = [
    ("unspecified", "Unspecified"),
    ("key_compromise", "Key Compromise"),
    ("ca_compromise", "CA Compromise"),
    ("affiliation_changed", "Change of Affiliation"),
    ("superseded", "Superseded"),
    ("cessation_of_operation", "Cease of Operation"),
    ("certificate_hold", "Certificate Hold"),
];

/// The rows a folder shows at most (the newest).
const FOLDER_ROWS: usize = 1000;

pub(super) fn reason_label(r: RevocationReason) -> &'static str {
    REASONS[r.code() as usize].1
}

/// One folder of the CA console: its rows, newest first, and the actions
/// each row offers.
/// Shows the newest [`FOLDER_ROWS`] of a folder; the count is of all.
pub(super) fn folder(shared: &Shared, who: &Identity, view: &str) -> String {
    let dispositions = match view {
        "pending" => vec![Disposition::Pending],
        "revoked" => vec![Disposition::Revoked],
        // The console's Failed Requests holds denied and failed requests.
        "failed" => vec![Disposition::Failed, Disposition::Denied],
        _ => vec![Disposition::Issued],
    };
    let mut q = RowQuery {
        dispositions,
        newest_first: true,
        ..RowQuery::default()
    };
    let total = shared.ca.count(&q);
    q.limit = Some(FOLDER_ROWS);
    let rows: Vec<RequestRow> = shared.ca.query(&q);
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
    b.push_str(&format!("<p id=count>{total} request(s)</p>\n"));
    if total > rows.len() {
        b.push_str(&format!(
            "<p id=more>The newest {} are shown; the control plane lists every one \
(<code>GET /control/requests?disposition=…&amp;after=ID&amp;limit=N</code>).</p>\n",
            rows.len()
        ));
    }
    b.push_str("<table id=requests><tr>");
    for c in columns {
        b.push_str(&format!("<th>{c}</th>"));
    }
    if has_actions {
        b.push_str("<th>Actions</th>");
    }
    b.push_str("</tr>\n");
    for r in &rows {
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

/// An action run off the executor: what it did, and the request it touched.
pub(super) type ConsoleJob = Box<dyn FnOnce() -> Result<(String, Option<u32>), CaError> + Send>;

/// Issue, Deny, Revoke, Unrevoke, Publish CRL.
pub(super) async fn action(shared: &Arc<Shared>, who: &Identity, form: &Params) -> Reply {
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
