//! The client's steps: what certreq (`req.*`), certutil's CA download
//! (`ca-cert.download`) and the certificate store (`store.*`) do on the
//! client computer, against the run's CA.

use adcs_client::flow;
use adcs_client::http::Trust;
use adcs_client::scom::Selector;
use adcs_client::store::{thumbprint, StoreName};

use super::observed::Observed;
use super::world::Runner;
use crate::scenario::model::{CertSelector, EnrollArgs, InfSource, RequestRef, Step, Via};

/// What a `req.submit` step sends besides the request, and how.
pub(super) struct Submit<'a> {
    pub(super) template: Option<&'a str>,
    pub(super) attributes: &'a [(String, String)],
    pub(super) via: Via,
}

impl Runner<'_> {
    /// `req.new`: certreq -new; the key waits in REQUEST (or a self-signed
    /// certificate is installed).
    pub(super) fn req_new(&mut self, step: &Step, inf: &InfSource) -> Result<Observed, String> {
        let inf = self.read_inf(inf)?;
        let warnings = inf.warnings;
        let label = self.label(step);
        let out = self.dir.path().join(format!("{label}.req"));
        let opts = self.new_options(step)?;
        let made = flow::new_from_spec(&inf.source, inf.spec, Some(&out), &self.store, &opts)
            .map_err(|e| e.to_string())?;
        self.files.insert(label.clone(), out);
        self.last_request = Some(label);
        let mut o = Observed {
            warnings: Some(warnings),
            ..Observed::default()
        };
        match (&made.pending, &made.installed) {
            (Some(p), _) => {
                o.summary = format!(
                    "request for {} ({}), key waiting",
                    p.subject, p.key_algorithm
                );
            }
            (None, Some(e)) => {
                o.summary = format!("self-signed {} installed in My", e.subject);
                o.certificate = Some(e.der.clone());
            }
            (None, None) => o.summary = "nothing made".into(),
        }
        if warnings > 0 {
            o.summary.push_str(&format!(", {warnings} INF warning(s)"));
        }
        Ok(o)
    }

    /// `req.submit`: certreq -submit of a request made earlier, through
    /// the pages or (`via = "rpc"`) ICertPassage.
    pub(super) fn req_submit(
        &mut self,
        step: &Step,
        request: Option<&str>,
        submit: &Submit,
    ) -> Result<Observed, String> {
        let label = request
            .map(str::to_string)
            .or_else(|| self.last_request.clone())
            .ok_or("give `request` (the label of a req.new step)")?;
        let path = self.file(&label)?.clone();
        let attrs = flow::cert_attributes(submit.template, submit.attributes);
        let o = if let Via::Rpc { level } = submit.via {
            let target = self.rpc_target(step, level)?;
            let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
            match adcs_client::icpr::submit(&target, &bytes, &attrs) {
                Ok(outcome) => Observed::outcome(&outcome),
                Err(e) => Observed::failed(e.to_string()),
            }
        } else {
            let endpoint = self.endpoint_via(step, submit.via)?;
            let mut web = endpoint.connect().map_err(|e| e.to_string())?;
            match flow::submit_file(&mut web, &path, &attrs) {
                Ok(outcome) => Observed::outcome(&outcome),
                Err(e) => Observed::flow(e),
            }
        };
        if let Some(c) = &o.certificate {
            let name = step.name.clone().unwrap_or(label);
            self.save(&name, "cer", c)?;
        }
        Ok(o)
    }

    /// `req.retrieve`: certnew.cer?ReqID=.
    pub(super) fn req_retrieve(&mut self, step: &Step, id: RequestRef) -> Result<Observed, String> {
        let id = self.request_id(id)?;
        let mut web = self.endpoint(step)?.connect().map_err(|e| e.to_string())?;
        let o = Observed::outcome(&web.retrieve(id).map_err(|e| e.to_string())?);
        if let Some(c) = &o.certificate {
            let name = self.label(step);
            self.save(&name, "cer", c)?;
        }
        Ok(o)
    }

    /// `req.accept`: certreq -accept of a certificate (the latest by default).
    pub(super) fn req_accept(&mut self, cert: Option<&str>) -> Result<Observed, String> {
        let bytes = match cert {
            Some(label) => std::fs::read(self.file(label)?).map_err(|e| e.to_string())?,
            None => self.last_certificate()?,
        };
        let a = self.store.accept(&bytes).map_err(|e| e.to_string())?;
        Ok(Observed {
            summary: format!("installed in My with its key: {}", a.entry.subject),
            certificate: Some(a.entry.der.clone()),
            ..Observed::default()
        })
    }

    /// `req.enroll`: new, submit, wait for approval and accept, in one.
    pub(super) fn req_enroll(
        &mut self,
        step: &Step,
        inf: &InfSource,
        enroll: &EnrollArgs,
    ) -> Result<Observed, String> {
        let inf = self.read_inf(inf)?;
        let warnings = inf.warnings;
        let endpoint = self.endpoint(step)?;
        let opts = self.enroll_options(step, enroll)?;
        let mut o = match flow::enroll_spec(
            &endpoint,
            &inf.source,
            inf.spec,
            None,
            &self.store,
            &opts,
            &mut |_| {},
        ) {
            Ok(done) => Observed {
                summary: format!(
                    "issued, request {}, installed in My: {}",
                    done.id, done.accepted.entry.subject
                ),
                disposition: Some("issued"),
                request_id: Some(done.id),
                certificate: Some(done.accepted.entry.der.clone()),
                ..Observed::default()
            },
            Err(e) => Observed::flow(e),
        };
        o.warnings = Some(warnings);
        Ok(o)
    }

    /// `ca-cert.download`: the first download, pinned by the root's
    /// thumbprint, into Root and CA.
    pub(super) fn ca_cert_download(&mut self, step: &Step) -> Result<Observed, String> {
        let mut endpoint = self.endpoint(step)?;
        endpoint.trust = Trust::AnyCertificate;
        let pin = thumbprint(&self.server.ca().root_certificate());
        let p7 = flow::download_ca(&endpoint, flow::CaDownload::Chain, None, Some(&pin))
            .map_err(|e| e.to_string())?;
        let mut added = Vec::new();
        for der in adcs_client::store::read_certificates(&p7).map_err(|e| e.to_string())? {
            let name = if adcs_client::store::is_self_signed(&der) {
                StoreName::Root
            } else {
                StoreName::Ca
            };
            let e = self
                .store
                .import_certificate(name, &der)
                .map_err(|e| e.to_string())?;
            added.push(format!("{name}: {}", e.subject));
        }
        Ok(Observed {
            summary: format!("CA chain imported ({})", added.join("; ")),
            ..Observed::default()
        })
    }

    /// A certificate in My, as the store's verbs name it; `keyword` says
    /// which step wanted one when a PFX was named instead.
    fn my_certificate(&self, selector: &CertSelector, keyword: &str) -> Result<String, String> {
        match self.selector(selector)? {
            Selector::Thumbprint(t) | Selector::Subject(t) | Selector::Serial(t) => Ok(t),
            _ => Err(format!("{keyword} takes a certificate in My")),
        }
    }

    /// `store.export`: a certificate and its key as a PFX, under the step's label.
    pub(super) fn store_export(
        &mut self,
        step: &Step,
        selector: &CertSelector,
        pfx_password: &str,
    ) -> Result<Observed, String> {
        let selector = self.my_certificate(selector, "store.export")?;
        let pfx = self
            .store
            .export_pfx(&selector, pfx_password, Default::default())
            .map_err(|e| e.to_string())?;
        let label = self.label(step);
        self.save(&label, "pfx", &pfx)?;
        Ok(Observed {
            summary: format!("PFX `{label}` written"),
            ..Observed::default()
        })
    }

    /// `store.import`: a certificate or PFX made earlier, into My.
    pub(super) fn store_import(
        &mut self,
        cert: &str,
        pfx_password: Option<&str>,
    ) -> Result<Observed, String> {
        let path = self.file(cert)?.clone();
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let entry = if path.extension().is_some_and(|e| e == "pfx") {
            self.store
                .import_pfx(&bytes, pfx_password.unwrap_or_default())
                .map_err(|e| e.to_string())?
        } else {
            let der = adcs_client::store::read_certificates(&bytes)
                .map_err(|e| e.to_string())?
                .remove(0);
            self.store
                .import_certificate(StoreName::My, &der)
                .map_err(|e| e.to_string())?
        };
        Ok(Observed {
            summary: format!("imported into My: {}", entry.subject),
            certificate: Some(entry.der),
            ..Observed::default()
        })
    }

    /// `store.delete`: removes a certificate from My.
    pub(super) fn store_delete(&mut self, selector: &CertSelector) -> Result<Observed, String> {
        let t = self.my_certificate(selector, "store.delete")?;
        let e = self
            .store
            .delete(StoreName::My, &t)
            .map_err(|e| e.to_string())?;
        Ok(Observed {
            summary: format!("deleted {}", e.subject),
            ..Observed::default()
        })
    }

    /// `store.repair`: certutil -repairstore links a certificate to its key.
    pub(super) fn store_repair(&mut self, selector: &CertSelector) -> Result<Observed, String> {
        let t = self.my_certificate(selector, "store.repair")?;
        let e = self.store.repair(&t).map_err(|e| e.to_string())?;
        Ok(Observed {
            summary: format!("key linked to {}", e.subject),
            ..Observed::default()
        })
    }
}
