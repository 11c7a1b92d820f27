//! Web enrollment client: submit to `certfnsh.asp`, check a pending request,
//! retrieve by request ID, and download CA certificates, chains and CRLs.
//! Every certsrv page shape (certsrv-protocol.md §3) becomes a typed
//! [`Outcome`]; the markers come from `mock_ca::protocol`, shared with the
//! server, but only the documented interface is used, so a real AD CS works
//! the same way.

use mock_ca::encoding::pkcs7_certificates;
use mock_ca::protocol::{content_type, endpoint, marker, HResult};

use crate::http::{Credentials, HttpError, HttpResponse, Session, Trust};

/// What became of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Issued; the certificate (DER) has been downloaded.
    Issued { id: u32, certificate: Vec<u8> },
    /// Waiting for a certificate manager.
    Pending { id: u32 },
    /// Denied by policy or by an officer (`Denied by …`), or revoked.
    Denied {
        id: Option<u32>,
        message: String,
        hresult: Option<HResult>,
    },
    /// The certsrv error page: nothing to show for this request.
    Error {
        message: String,
        hresult: Option<HResult>,
    },
}

/// What the CA makes the key for ("Create and submit a request to this CA").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalRequest {
    pub subject: String,
    pub template: Option<String>,
    pub friendly_name: Option<String>,
    pub exportable: bool,
    /// Protects the PFX the CA answers with.
    pub password: String,
    /// RSA modulus size (2048, 3072, 4096).
    pub key_size: u32,
    pub ekus: Vec<String>,
    pub attributes: Vec<(String, String)>,
}

/// What became of a portal request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortalOutcome {
    /// The certificate with its key and chain, as a PFX.
    Issued { pfx: Vec<u8> },
    /// Pending, denied or an error page.
    NotIssued(Outcome),
}

/// Failures below the certsrv level.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("the server refused the credentials (HTTP 401 {0})")]
    Unauthorized(String),
    #[error("unexpected answer from {what}: {detail}")]
    Unexpected { what: String, detail: String },
}

/// The rows of certsrv's error page (§3.6) that say something.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorPage {
    pub disposition_message: Option<String>,
    pub result: Option<HResult>,
    pub last_status: Option<HResult>,
}

/// Undoes the HTML escaping certsrv applies to echoed text.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The first `0x…` code in `text` (as `Denied by Policy Module  0x80094800, …`
/// and `… 0x80094012 (-2146877422 …)` write it).
pub fn hresult_in(text: &str) -> Option<HResult> {
    let mut rest = text;
    while let Some(i) = rest.find("0x") {
        let hex: String = rest[i + 2..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        if !hex.is_empty() {
            return u32::from_str_radix(&hex, 16).ok().map(HResult);
        }
        rest = &rest[i + 2..];
    }
    None
}

fn digits_after(text: &str, marker: &str) -> Option<u32> {
    let i = text.find(marker)? + marker.len();
    text[i..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// The value of an error-page row: the line two TABs into the `<DD>`.
fn row(page: &str, label: &str) -> Option<String> {
    let i = page.find(label)? + label.len();
    let rest = &page[i..];
    let tabs = rest.find("\t\t")?;
    if rest[..tabs].contains('\t') {
        return None;
    }
    let value = rest[tabs + 2..].lines().next()?.trim();
    Some(unescape(value))
}

/// Reads the error page's rows.
pub fn parse_error_page(page: &str) -> ErrorPage {
    let message = row(page, marker::LABEL_DISPOSITION_MESSAGE)
        .filter(|m| !m.contains("(none)") && !m.is_empty());
    ErrorPage {
        disposition_message: message,
        result: row(page, "Result:").and_then(|r| hresult_in(&r)),
        last_status: row(page, marker::LABEL_LAST_STATUS).and_then(|r| hresult_in(&r)),
    }
}

/// What a `certfnsh.asp` answer says. An issued page gives the request ID
/// only (`Issued` needs the certificate: see [`WebEnrollment::submit`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageOutcome {
    Issued {
        id: u32,
    },
    Pending {
        id: Option<u32>,
    },
    Denied {
        id: Option<u32>,
        message: String,
        hresult: Option<HResult>,
    },
    Error(ErrorPage),
}

/// Classifies a certfnsh.asp page, in the order the real clients check.
pub fn parse_submit_page(page: &str) -> PageOutcome {
    let id = digits_after(page, marker::REQUEST_ID);
    if let Some(id) = digits_after(page, "certnew.cer?ReqID=") {
        return PageOutcome::Issued { id };
    }
    if page.contains(marker::PENDING_TITLE) {
        return PageOutcome::Pending { id };
    }
    if page.contains(marker::DENIED_TITLE) {
        let message = page
            .find(marker::DISPOSITION_MESSAGE)
            .map(|i| {
                let rest = &page[i + marker::DISPOSITION_MESSAGE.len()..];
                let end = rest
                    .find("\".")
                    .or_else(|| rest.find('"'))
                    .unwrap_or(rest.len());
                unescape(&rest[..end])
            })
            .unwrap_or_default();
        let hresult = hresult_in(&message);
        return PageOutcome::Denied {
            id,
            message,
            hresult,
        };
    }
    PageOutcome::Error(parse_error_page(page))
}

/// What the error page of a download (certnew.cer, certnew.pfx) says of
/// request `id`: still pending, denied or revoked, or an error.
fn fetch_outcome(id: u32, page: &str) -> Outcome {
    let page = parse_error_page(page);
    let message = page.disposition_message.clone().unwrap_or_default();
    if message.contains(mock_ca::protocol::disposition_message::PENDING) {
        Outcome::Pending { id }
    } else if message.starts_with("Denied by") || message.starts_with("Revoked") {
        Outcome::Denied {
            id: Some(id),
            message,
            hresult: page.last_status.filter(|h| !h.is_success()),
        }
    } else {
        Outcome::Error {
            message,
            hresult: page.last_status.or(page.result),
        }
    }
}

/// A signed-in web enrollment session against one `/certsrv/` URL.
pub struct WebEnrollment {
    session: Session,
}

impl WebEnrollment {
    /// `url` is the certsrv base (`https://host/certsrv/`).
    pub fn new(url: &str, trust: Trust, credentials: Credentials) -> Result<Self, EnrollError> {
        let url = if url.ends_with('/') {
            url.to_string()
        } else {
            format!("{url}/")
        };
        let mut session = Session::new(&url, trust, credentials)?;
        // Browser-class agents get the script page variant; ours parses both.
        session.user_agent = Some(format!(
            "Mozilla/5.0 (compatible; adcs-harness/{})",
            env!("CARGO_PKG_VERSION")
        ));
        Ok(WebEnrollment { session })
    }

    fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<HttpResponse, EnrollError> {
        let ct = body.map(|_| "application/x-www-form-urlencoded");
        let r = self
            .session
            .request(method, path, ct, body.unwrap_or_default())?;
        if r.status == 401 {
            return Err(EnrollError::Unauthorized(r.reason));
        }
        if r.status != 200 {
            return Err(EnrollError::Unexpected {
                what: path.to_string(),
                detail: format!("HTTP {} {}", r.status, r.reason),
            });
        }
        Ok(r)
    }

    /// The TLS certificate the server presented (after the first call).
    pub fn server_certificate(&self) -> Option<&[u8]> {
        self.session.server_certificate()
    }

    /// Whether the credentials open `/certsrv/`.
    pub fn check_credentials(&mut self) -> Result<bool, EnrollError> {
        match self.call("GET", "", None) {
            Ok(_) => Ok(true),
            Err(EnrollError::Unauthorized(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn resolve(&mut self, page: PageOutcome) -> Result<Outcome, EnrollError> {
        Ok(match page {
            PageOutcome::Issued { id } => self.retrieve(id)?,
            PageOutcome::Pending { id: Some(id) } => Outcome::Pending { id },
            PageOutcome::Pending { id: None } => {
                return Err(EnrollError::Unexpected {
                    what: endpoint::SUBMIT.into(),
                    detail: "a pending page without a request ID".into(),
                })
            }
            PageOutcome::Denied {
                id,
                message,
                hresult,
            } => {
                // The short policy message carries no code; certnew.cer's
                // LastStatus has it (as Certipy does).
                let hresult = match (hresult, id) {
                    (None, Some(id)) => match self.retrieve(id)? {
                        Outcome::Denied { hresult, .. } => hresult,
                        _ => None,
                    },
                    (h, _) => h,
                };
                Outcome::Denied {
                    id,
                    message,
                    hresult,
                }
            }
            PageOutcome::Error(e) => Outcome::Error {
                message: e.disposition_message.unwrap_or_default(),
                hresult: e.last_status.or(e.result),
            },
        })
    }

    /// Submits a request (PEM or base64) with CertAttrib pairs.
    pub fn submit(
        &mut self,
        request_pem: &str,
        attributes: &[(String, String)],
    ) -> Result<Outcome, EnrollError> {
        let attrib: String = attributes
            .iter()
            .map(|(n, v)| format!("{n}:{v}\r\n"))
            .collect();
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Mode", endpoint::MODE_NEW)
            .append_pair("CertRequest", request_pem)
            .append_pair("CertAttrib", &attrib)
            .append_pair("FriendlyType", "Saved-Request Certificate")
            .append_pair("TargetStoreFlags", "0")
            .append_pair("SaveCert", "yes");
        let body = form.finish();
        let page = self
            .call("POST", endpoint::SUBMIT, Some(body.as_bytes()))?
            .text();
        let outcome = parse_submit_page(&page);
        self.resolve(outcome)
    }

    /// `Mode=chkpnd`: what the CA says of request `id` now.
    pub fn check_pending(&mut self, id: u32) -> Result<Outcome, EnrollError> {
        let body = format!("Mode={}&ReqID={id}", endpoint::MODE_CHECK_PENDING);
        let page = self
            .call("POST", endpoint::SUBMIT, Some(body.as_bytes()))?
            .text();
        let outcome = match parse_submit_page(&page) {
            PageOutcome::Pending { .. } => PageOutcome::Pending { id: Some(id) },
            PageOutcome::Denied {
                message, hresult, ..
            } => PageOutcome::Denied {
                id: Some(id),
                message,
                hresult,
            },
            other => other,
        };
        self.resolve(outcome)
    }

    /// `certnew.cer?ReqID=N`: the certificate, or what the error page says.
    pub fn retrieve(&mut self, id: u32) -> Result<Outcome, EnrollError> {
        let r = self.call(
            "GET",
            &format!("{}?ReqID={id}&Enc=bin", endpoint::CERT),
            None,
        )?;
        if r.header("Content-Type") == Some(content_type::CERT) {
            return Ok(Outcome::Issued {
                id,
                certificate: r.body,
            });
        }
        Ok(fetch_outcome(id, &r.text()))
    }

    /// "Create and submit a request to this CA" on the harness's CA, which
    /// makes the key itself (real AD CS leaves that to the browser): the PFX
    /// when issued at once, else what the pages say (pending: fetch it later
    /// with [`WebEnrollment::retrieve_pfx`]).
    pub fn create_and_submit(&mut self, req: &PortalRequest) -> Result<PortalOutcome, EnrollError> {
        use mock_ca::protocol::portal;
        let attrib: String = req
            .attributes
            .iter()
            .map(|(n, v)| format!("{n}:{v}\r\n"))
            .collect();
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair(portal::SUBJECT, &req.subject)
            .append_pair(portal::KEY_SIZE, &req.key_size.to_string())
            .append_pair(portal::KEY_USAGE, "both")
            .append_pair(portal::EKU, &req.ekus.join(","))
            .append_pair(portal::PASSWORD, &req.password)
            .append_pair(portal::ATTRIBUTES, &attrib)
            .append_pair(portal::EXPORTABLE, if req.exportable { "on" } else { "" });
        if let Some(t) = &req.template {
            form.append_pair(portal::TEMPLATE, t);
        }
        if let Some(f) = &req.friendly_name {
            form.append_pair(portal::FRIENDLY_NAME, f);
        }
        let body = form.finish();
        let r = self.call("POST", endpoint::CREATE_REQUEST, Some(body.as_bytes()))?;
        if r.header("Content-Type") == Some(content_type::PKCS12) {
            return Ok(PortalOutcome::Issued { pfx: r.body });
        }
        let page = parse_submit_page(&r.text());
        Ok(PortalOutcome::NotIssued(match page {
            PageOutcome::Pending { id: Some(id) } => Outcome::Pending { id },
            other => self.resolve(other)?,
        }))
    }

    /// `certnew.pfx?ReqID=N`: the PFX of a portal request, once issued.
    pub fn retrieve_pfx(&mut self, id: u32) -> Result<PortalOutcome, EnrollError> {
        let r = self.call("GET", &format!("{}?ReqID={id}", endpoint::PFX), None)?;
        if r.header("Content-Type") == Some(content_type::PKCS12) {
            return Ok(PortalOutcome::Issued { pfx: r.body });
        }
        Ok(PortalOutcome::NotIssued(fetch_outcome(id, &r.text())))
    }

    /// `var nRenewals=K;` of certcarc.asp.
    pub fn n_renewals(&mut self) -> Result<u16, EnrollError> {
        let page = self.call("GET", endpoint::CA_CERTS, None)?.text();
        digits_after(&page, marker::N_RENEWALS)
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| EnrollError::Unexpected {
                what: endpoint::CA_CERTS.into(),
                detail: format!("no `{}` in the page", marker::N_RENEWALS),
            })
    }

    fn file(&mut self, path: &str, expected: &str) -> Result<Vec<u8>, EnrollError> {
        let r = self.call("GET", path, None)?;
        if r.header("Content-Type") != Some(expected) {
            let page = parse_error_page(&r.text());
            return Err(EnrollError::Unexpected {
                what: path.to_string(),
                detail: format!(
                    "{} instead of {expected}: {}",
                    r.header("Content-Type").unwrap_or("no content type"),
                    page.result.map(|h| h.status_text()).unwrap_or_default()
                ),
            });
        }
        Ok(r.body)
    }

    /// CA certificate `renewal` (0 = the first; `None` = the newest), DER.
    pub fn ca_certificate(&mut self, renewal: Option<u16>) -> Result<Vec<u8>, EnrollError> {
        let k = match renewal {
            Some(k) => k,
            None => self.n_renewals()?,
        };
        self.file(
            &format!(
                "{}?ReqID={}&Renewal={k}&Enc=bin",
                endpoint::CERT,
                endpoint::REQID_CA_CERT
            ),
            content_type::CERT,
        )
    }

    /// The CA chain of `renewal` from certnew.p7b, CA first, DER each.
    pub fn ca_chain(&mut self, renewal: Option<u16>) -> Result<Vec<Vec<u8>>, EnrollError> {
        let k = match renewal {
            Some(k) => k,
            None => self.n_renewals()?,
        };
        let p7 = self.file(
            &format!(
                "{}?ReqID={}&Renewal={k}&Enc=bin",
                endpoint::CHAIN,
                endpoint::REQID_CA_CERT
            ),
            content_type::PKCS7,
        )?;
        pkcs7_certificates(&p7).map_err(|e| EnrollError::Unexpected {
            what: endpoint::CHAIN.into(),
            detail: e.to_string(),
        })
    }

    /// The base or delta CRL of CA certificate `renewal`, DER.
    pub fn crl(&mut self, renewal: u16, delta: bool) -> Result<Vec<u8>, EnrollError> {
        let kind = if delta { "delta" } else { "base" };
        self.file(
            &format!("{}?Type={kind}&Renewal={renewal}&Enc=bin", endpoint::CRL),
            content_type::CRL,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mock_ca::web::pages;

    #[test]
    fn pages_become_typed_outcomes() {
        assert_eq!(
            parse_submit_page(&pages::issued(12, true, 0, false)),
            PageOutcome::Issued { id: 12 }
        );
        assert_eq!(
            parse_submit_page(&pages::issued(13, false, 0, true)),
            PageOutcome::Issued { id: 13 }
        );
        assert_eq!(
            parse_submit_page(&pages::pending(14, false)),
            PageOutcome::Pending { id: Some(14) }
        );
        let long = "Denied by Policy Module  0x80094800, The request was for a certificate template that is not supported by the Active Directory Certificate Services policy: X.";
        assert_eq!(
            parse_submit_page(&pages::denied(15, long, false)),
            PageOutcome::Denied {
                id: Some(15),
                message: long.into(),
                hresult: Some(HResult::UNSUPPORTED_CERT_TYPE)
            }
        );
        assert_eq!(
            parse_submit_page(&pages::denied(16, "Denied by \"CONTOSO\\x\"", false)),
            PageOutcome::Denied {
                id: Some(16),
                message: "Denied by \"CONTOSO\\x\"".into(),
                hresult: None
            }
        );
    }

    #[test]
    fn error_pages_give_their_codes() {
        let page = pages::error(&pages::ErrorInfo {
            context: pages::ErrorContext::Fetch,
            mode: String::new(),
            disposition: None,
            disposition_message: None,
            result: HResult::PROPERTY_EMPTY,
            last_status: Some(HResult::PROPERTY_EMPTY),
        });
        assert_eq!(
            parse_error_page(&page),
            ErrorPage {
                disposition_message: None,
                result: Some(HResult::PROPERTY_EMPTY),
                last_status: Some(HResult::PROPERTY_EMPTY)
            }
        );
        assert!(matches!(parse_submit_page(&page), PageOutcome::Error(_)));
        assert_eq!(hresult_in("ok 0x0 (WIN32: 0)"), Some(HResult::S_OK));
        assert_eq!(hresult_in("no code"), None);
        assert_eq!(parse_error_page("garbage"), ErrorPage::default());
    }
}
