//! Client of the harness's `/control/` API: what `adcs-harness ca … --server`
//! uses to approve, deny, revoke and move the clock of a running server.

use std::path::Path;

use adcs_proto::ready::ReadyInfo;
use serde_json::{json, Value};

use crate::http::{Credentials, HttpError, Session, Trust};

/// Errors talking to the control plane.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("ready file {path}: {message}")]
    ReadyFile { path: String, message: String },
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server refused (the message is the server's `error` field).
    #[error("{message} (HTTP {status})")]
    Refused { status: u16, message: String },
}

impl ControlError {
    /// True when a wait for the server ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ControlError::Http(e) if e.is_timeout())
    }
}

/// A signed-in administrator session on `/control/`.
pub struct ControlClient {
    session: Session,
}

impl ControlClient {
    /// Connects as `user`/`password` (Basic) to a control URL.
    pub fn new(
        control_url: &str,
        trust: Trust,
        user: &str,
        password: &str,
    ) -> Result<Self, ControlError> {
        let url = if control_url.ends_with('/') {
            control_url.to_string()
        } else {
            format!("{control_url}/")
        };
        Ok(ControlClient {
            session: Session::new(
                &url,
                trust,
                Credentials::Basic {
                    user: user.to_string(),
                    password: password.to_string(),
                },
            )?,
        })
    }

    /// Bounds each wait (connect, TLS handshake, response) by `timeout`.
    pub fn set_timeout(&mut self, timeout: std::time::Duration) {
        self.session.timeout = timeout;
    }

    /// Reads a `serve --ready-file` and connects with its admin account,
    /// trusting its root certificate.
    pub fn from_ready_file(path: &Path) -> Result<Self, ControlError> {
        let err = |message: String| ControlError::ReadyFile {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let info: ReadyInfo = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        let trust = if info.scheme == "https" {
            let pem = std::fs::read_to_string(&info.root_cert)
                .map_err(|e| err(format!("root certificate {}: {e}", info.root_cert)))?;
            let roots = adcs_proto::encoding::pem_blocks(&pem, "CERTIFICATE");
            if roots.is_empty() {
                return Err(err(format!("no certificate in {}", info.root_cert)));
            }
            Trust::Roots(roots)
        } else {
            Trust::AnyCertificate
        };
        Self::new(
            &info.control_url,
            trust,
            &info.admin.user,
            &info.admin.password,
        )
    }

    fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ControlError> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let ct = (!bytes.is_empty()).then_some("application/json");
        let resp = self.session.request(method, path, ct, &bytes)?;
        let value: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        if resp.status != 200 {
            let message = value
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{} {}", resp.status, resp.reason));
            return Err(ControlError::Refused {
                status: resp.status,
                message,
            });
        }
        Ok(value)
    }

    pub fn status(&mut self) -> Result<Value, ControlError> {
        self.call("GET", "status", None)
    }

    /// Requests, optionally only one disposition (`pending`, `issued`, …).
    pub fn requests(&mut self, disposition: Option<&str>) -> Result<Value, ControlError> {
        match disposition {
            Some(d) => self.call("GET", &format!("requests?disposition={d}"), None),
            None => self.call("GET", "requests", None),
        }
    }

    /// Requests the filters select (`disposition`, `requester`, `template`,
    /// `submitted_since`, `submitted_until`, `after`, `before`, `order`, `limit`).
    pub fn requests_where(&mut self, params: &[(&str, String)]) -> Result<Value, ControlError> {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        if query.is_empty() {
            self.call("GET", "requests", None)
        } else {
            self.call("GET", &format!("requests?{query}"), None)
        }
    }

    pub fn request(&mut self, id: u32) -> Result<Value, ControlError> {
        self.call("GET", &format!("requests/{id}"), None)
    }

    pub fn issue(&mut self, id: u32) -> Result<Value, ControlError> {
        self.call("POST", &format!("requests/{id}/issue"), None)
    }

    pub fn deny(&mut self, id: u32) -> Result<Value, ControlError> {
        self.call("POST", &format!("requests/{id}/deny"), None)
    }

    pub fn revoke(&mut self, serial: &str, reason: Option<&str>) -> Result<Value, ControlError> {
        self.call(
            "POST",
            "revoke",
            Some(json!({ "serial": serial, "reason": reason })),
        )
    }

    pub fn unrevoke(&mut self, serial: &str) -> Result<Value, ControlError> {
        self.call("POST", "unrevoke", Some(json!({ "serial": serial })))
    }

    pub fn publish_crl(&mut self, delta: bool) -> Result<Value, ControlError> {
        let kind = if delta { "delta" } else { "base" };
        self.call("POST", "crl", Some(json!({ "kind": kind })))
    }

    pub fn clock(&mut self) -> Result<Value, ControlError> {
        self.call("GET", "clock", None)
    }

    /// Sets (`set`, Unix seconds) and/or advances (`advance`, seconds) the clock.
    pub fn move_clock(
        &mut self,
        set: Option<i64>,
        advance: Option<i64>,
        freeze: Option<bool>,
    ) -> Result<Value, ControlError> {
        self.call(
            "POST",
            "clock",
            Some(json!({ "set": set, "advance": advance, "freeze": freeze })),
        )
    }

    pub fn renew_ca(&mut self, new_key: bool) -> Result<Value, ControlError> {
        self.call("POST", "renew", Some(json!({ "new_key": new_key })))
    }

    pub fn reset(&mut self) -> Result<Value, ControlError> {
        self.call("POST", "reset", None)
    }

    pub fn journal(&mut self, since: u64) -> Result<Value, ControlError> {
        self.call("GET", &format!("journal?since={since}"), None)
    }

    pub fn ca(&mut self) -> Result<Value, ControlError> {
        self.call("GET", "ca", None)
    }
}
