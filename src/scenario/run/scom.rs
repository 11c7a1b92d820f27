//! The SCOM steps (`scom.*`): MOMCertImport, the agent's checks, renewal,
//! the guide's whole procedure and clearing the configuration, on the
//! client computer's store and registry.

use adcs_client::http::Trust;
use adcs_client::scom::{self, CheckTarget, ImportOptions, ScomError};
use adcs_client::store::thumbprint;

use super::observed::Observed;
use super::world::Runner;
use crate::scenario::model::{
    CertSelector, EnrollArgs, InfSource, ScomCheckTarget, ScomProcedure, Step,
};

/// The agent's verdict as a transcript says it.
fn verdict(ok: bool) -> &'static str {
    if ok {
        "the agent would load it"
    } else {
        "the agent would refuse it"
    }
}

impl Runner<'_> {
    /// `scom.import`: MOMCertImport; a certificate the agent would refuse is
    /// reported with its events (unless `force`).
    pub(super) fn scom_import(
        &mut self,
        selector: &CertSelector,
        force: bool,
    ) -> Result<Observed, String> {
        let selector = self.selector(selector)?;
        let opts = ImportOptions {
            check: self.check_options(),
            force,
        };
        Ok(
            match scom::import(&self.store, &mut self.registry, &selector, &opts) {
                Ok(i) => Observed {
                    summary: format!(
                        "configured {}: ChannelCertificateSerialNumber {}",
                        i.entry.subject,
                        adcs_proto::hex::hex(&i.serial_value)
                    ),
                    certificate: Some(i.entry.der.clone()),
                    ..Observed::default()
                },
                Err(ScomError::Rejected(report)) => Observed {
                    ok: Some(false),
                    events: Some(report.events().iter().map(|e| e.id).collect()),
                    ..Observed::failed(ScomError::Rejected(report).to_string())
                },
                Err(e) => Observed::failed(e.to_string()),
            },
        )
    }

    /// What the client toolkit checks for `scom.check`.
    fn check_target(&self, target: &ScomCheckTarget) -> Result<CheckTarget, String> {
        Ok(match target {
            ScomCheckTarget::Inf(InfSource::File(f)) => CheckTarget::Inf(self.scenario_file(f)),
            ScomCheckTarget::Inf(InfSource::Inline(text)) => {
                let path = self.dir.path().join(format!("step{}.inf", self.step_index));
                std::fs::write(&path, text).map_err(|e| e.to_string())?;
                CheckTarget::Inf(path)
            }
            ScomCheckTarget::Request(label) => CheckTarget::Request(self.file(label)?.clone()),
            ScomCheckTarget::Store(selector) => CheckTarget::Store(self.selector(selector)?),
            ScomCheckTarget::Configured => CheckTarget::Configured,
        })
    }

    /// `scom.check`: what the agent would log about a certificate, a
    /// request or an INF.
    pub(super) fn scom_check(&mut self, target: &ScomCheckTarget) -> Result<Observed, String> {
        let target = self.check_target(target)?;
        let report = scom::check(
            &self.store,
            Some(&self.registry),
            &target,
            &self.check_options(),
        )
        .map_err(|e| e.to_string())?;
        let events: Vec<u32> = report.events().iter().map(|e| e.id).collect();
        Ok(Observed {
            summary: format!(
                "{} (events {})",
                verdict(report.ok()),
                events
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ok: Some(report.ok()),
            events: Some(events),
            ..Observed::default()
        })
    }

    /// `scom.renew`: renews the configured (or selected) certificate and
    /// imports the new one for SCOM.
    pub(super) fn scom_renew(
        &mut self,
        step: &Step,
        selector: Option<&CertSelector>,
        new_key: bool,
        enroll: &EnrollArgs,
    ) -> Result<Observed, String> {
        let selector = selector.map(|s| self.selector(s)).transpose()?;
        let opts = scom::ScomRenewOptions {
            new_key,
            template: enroll.template.clone(),
            enroll: self.enroll_options(step, enroll)?,
            check: self.check_options(),
        };
        let endpoint = self.endpoint(step)?;
        Ok(
            match scom::renew(
                &endpoint,
                &self.store,
                &mut self.registry,
                selector.as_ref(),
                &opts,
                &mut |_| {},
            ) {
                Ok(r) => Observed {
                    summary: format!(
                        "renewed with {}, request {}{}",
                        if r.same_key {
                            "the same key"
                        } else {
                            "a new key"
                        },
                        r.enrolled.id,
                        if r.imported.is_some() {
                            ", re-imported for SCOM"
                        } else {
                            ""
                        }
                    ),
                    disposition: Some("issued"),
                    request_id: Some(r.enrolled.id),
                    certificate: Some(r.enrolled.accepted.entry.der.clone()),
                    ..Observed::default()
                },
                Err(ScomError::Flow(e)) => Observed::flow(e),
                Err(e) => Observed::failed(e.to_string()),
            },
        )
    }

    /// `scom.enroll`: the SCOM guide's whole procedure, trusting the root
    /// only through its pinned thumbprint.
    pub(super) fn scom_enroll(
        &mut self,
        step: &Step,
        procedure: &ScomProcedure,
    ) -> Result<Observed, String> {
        let opts = scom::ScomEnrollOptions {
            fqdn: self.scenario.fqdn.clone(),
            inf: procedure.inf_file.as_deref().map(|f| self.scenario_file(f)),
            template: Some(
                procedure
                    .enroll
                    .template
                    .clone()
                    .unwrap_or_else(|| adcs_client::scom::facts::DEFAULT_TEMPLATE.to_string()),
            ),
            exportable: procedure.exportable,
            web_portal: procedure.web_portal,
            ca_thumbprint: Some(thumbprint(&self.server.ca().root_certificate())),
            enroll: self.enroll_options(step, &procedure.enroll)?,
            check: self.check_options(),
            force: procedure.force,
            export: None,
        };
        let mut endpoint = self.endpoint(step)?;
        endpoint.trust = Trust::Roots(Vec::new());
        Ok(
            match scom::enroll(
                &endpoint,
                &self.store,
                &mut self.registry,
                &opts,
                &mut |_| {},
            ) {
                Ok(done) => {
                    let events: Vec<u32> = done.report.events().iter().map(|e| e.id).collect();
                    Observed {
                        summary: format!(
                            "issued{}, configured {}: {}",
                            done.request_id
                                .map(|i| format!(", request {i}"))
                                .unwrap_or_default(),
                            done.imported.entry.subject,
                            verdict(done.report.ok())
                        ),
                        disposition: Some("issued"),
                        request_id: done.request_id,
                        certificate: Some(done.imported.entry.der.clone()),
                        ok: Some(done.report.ok()),
                        events: Some(events),
                        ..Observed::default()
                    }
                }
                Err(ScomError::Flow(e)) => Observed::flow(e),
                Err(e) => Observed::failed(e.to_string()),
            },
        )
    }

    /// `scom.remove`: clears the registry's SCOM configuration.
    pub(super) fn scom_remove(&mut self) -> Result<Observed, String> {
        let r = scom::remove(&mut self.registry).map_err(|e| e.to_string())?;
        Ok(Observed {
            summary: if r.serial.is_some() {
                "SCOM configuration removed".into()
            } else {
                "nothing was configured".into()
            },
            ..Observed::default()
        })
    }
}
