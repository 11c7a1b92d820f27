//! Web enrollment client: submit to `certfnsh.asp`, check a pending request,
//! retrieve by request ID, and download CA certificates, chains and CRLs.
//! Every certsrv page shape (certsrv-protocol.md §3) becomes a typed
//! [`Outcome`]; the pages are read by `adcs_proto::page`, shared with the
//! server, but only the documented interface is used, so a real AD CS works
//! the same way.

use adcs_proto::encoding::pkcs7_certificates;
use adcs_proto::page::{digits_after, parse_error_page, parse_submit_page, PageOutcome};
use adcs_proto::protocol::{content_type, endpoint, marker, HResult};

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

impl EnrollError {
    /// True when a wait ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, EnrollError::Http(e) if e.is_timeout())
    }
}

/// What the error page of a download (certnew.cer, certnew.pfx) says of
/// request `id`: still pending, denied or revoked, or an error.
fn fetch_outcome(id: u32, page: &str) -> Outcome {
    let page = parse_error_page(page);
    let message = page.disposition_message.clone().unwrap_or_default();
    if message.contains(adcs_proto::protocol::disposition_message::PENDING) {
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

    /// Bounds each wait (connect, TLS handshake, response) by `timeout`.
    pub fn set_timeout(&mut self, timeout: std::time::Duration) {
        self.session.timeout = timeout;
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
        use adcs_proto::protocol::portal;
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
