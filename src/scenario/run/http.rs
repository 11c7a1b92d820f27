//! The raw HTTP step (`http`): one signed-in request to the server, for
//! what no client verb does (odd pages, forged forms, status codes).

use adcs_client::http::Session;

use super::observed::Observed;
use super::world::Runner;
use crate::scenario::model::{Step, Via};

impl Runner<'_> {
    /// `http`: sends `method path` (with a form `body`) as the step's user,
    /// over HTTPS or (`via = "http"`) IIS's plain port.
    pub(super) fn http(
        &mut self,
        step: &Step,
        method: &str,
        path: &str,
        body: Option<&str>,
        via: Via,
    ) -> Result<Observed, String> {
        let mut session =
            Session::new(&self.pages_url(via)?, self.trust(), self.credentials(step)?)
                .map_err(|e| e.to_string())?;
        session.timeout = step.timeout;
        let content_type = body.map(|_| "application/x-www-form-urlencoded");
        let r = session
            .request(
                method,
                path,
                content_type,
                body.unwrap_or_default().as_bytes(),
            )
            .map_err(|e| e.to_string())?;
        Ok(Observed {
            summary: format!("{method} {path}: {} {}", r.status, r.reason),
            status: Some(r.status),
            body: Some(r.text()),
            ..Observed::default()
        })
    }
}
