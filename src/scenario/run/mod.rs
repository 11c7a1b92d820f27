//! Runs a scenario: builds its world, runs each step against both ends,
//! and checks the step's expectations. The transcript carries no absolute
//! path, port or real time, so the same scenario and seed give the same
//! transcript on every run and machine. Each family of actions has its own
//! module; this one holds the report and hands each step to its family.

mod ca;
mod client;
mod expect;
mod http;
mod ldap;
mod observed;
mod scep;
mod scom;
mod world;

use adcs_client::store::thumbprint;

use super::model::{Action, Scenario, Step};
use observed::Observed;
use world::Runner;

/// How a run may differ from the file.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Replaces the world's seed.
    pub seed: Option<u64>,
}

/// One step's verdict.
#[derive(Clone, Debug)]
pub struct StepResult {
    pub action: String,
    pub line: usize,
    /// What happened, in one line.
    pub summary: String,
    /// Expectations that did not hold: `what: expected …, got …`.
    pub failures: Vec<String>,
    /// SHA-1 of the certificate the step produced: the same seed gives the
    /// same bytes, so the same thumbprints.
    pub certificate: Option<String>,
}

/// A scenario's run.
#[derive(Clone, Debug)]
pub struct ScenarioReport {
    pub name: String,
    /// The file as it was named.
    pub file: String,
    pub seed: u64,
    pub steps: Vec<StepResult>,
    /// The world could not be built.
    pub setup_error: Option<String>,
}

impl ScenarioReport {
    pub fn passed(&self) -> usize {
        self.steps.iter().filter(|s| s.failures.is_empty()).count()
    }

    pub fn failed(&self) -> usize {
        self.steps.len() - self.passed() + usize::from(self.setup_error.is_some())
    }

    /// The run as text: a header with the seed, one line per step, and under
    /// a failed step what was expected and what happened.
    pub fn transcript(&self) -> String {
        let mut s = format!(
            "scenario {} ({}), seed {}\n",
            self.name, self.file, self.seed
        );
        if let Some(e) = &self.setup_error {
            s.push_str(&format!("  setup FAILED: {e}\n"));
        }
        for (i, step) in self.steps.iter().enumerate() {
            let verdict = if step.failures.is_empty() {
                "ok"
            } else {
                "FAILED"
            };
            let cert = step
                .certificate
                .as_deref()
                .map(|t| format!(" [{t}]"))
                .unwrap_or_default();
            s.push_str(&format!(
                "  [{}] {}: {}{cert} ... {verdict}\n",
                i + 1,
                step.action,
                step.summary
            ));
            for f in &step.failures {
                s.push_str(&format!("        {f}\n"));
            }
        }
        s
    }
}

/// Runs one scenario.
pub fn run_scenario(scenario: &Scenario, opts: &RunOptions) -> ScenarioReport {
    let seed = opts
        .seed
        .or(scenario.world.seed)
        .unwrap_or(mock_ca::serve::DEFAULT_SEED);
    let mut report = ScenarioReport {
        name: scenario.name.clone(),
        file: scenario.path.display().to_string().replace('\\', "/"),
        seed,
        steps: Vec::new(),
        setup_error: None,
    };
    let mut runner = match Runner::new(scenario, seed) {
        Ok(r) => r,
        Err(e) => {
            report.setup_error = Some(e);
            return report;
        }
    };
    for (i, step) in scenario.steps.iter().enumerate() {
        runner.step_index = i + 1;
        let journal_before = runner.server.journal().len();
        let obs = runner.exec(step);
        let mut failures = runner.check(&step.expect, &obs);
        if let Some(wanted) = &step.expect.journal {
            let recorded = runner.server.journal();
            failures.extend(expect::journal_failures(
                wanted,
                &recorded[journal_before.min(recorded.len())..],
            ));
        }
        if step.line > 0 && !failures.is_empty() {
            failures.insert(0, format!("(step at line {})", step.line));
        }
        report.steps.push(StepResult {
            action: step.action.keyword().to_string(),
            line: step.line,
            summary: runner.scrub(&obs.summary),
            failures: failures.iter().map(|f| runner.scrub(f)).collect(),
            certificate: obs.certificate.as_deref().map(thumbprint),
        });
    }
    report
}

impl Runner<'_> {
    /// Runs one step. Whatever happens is an observation; a failure of the
    /// step itself is one too (`error`), for `expect.error` to match.
    fn exec(&mut self, step: &Step) -> Observed {
        let obs = match self.perform(step) {
            Ok(o) => o,
            Err(e) => Observed::failed(e),
        };
        if let Some(id) = obs.request_id {
            self.last_id = Some(id);
        }
        if let Some(c) = &obs.certificate {
            self.last_cert = Some(c.clone());
            // A named step's certificate can be named by later steps.
            if let Some(name) = step.name.as_ref().filter(|n| !self.files.contains_key(*n)) {
                if let Err(e) = self.save(name, "cer", c) {
                    return Observed::failed(e);
                }
            }
        }
        obs
    }

    /// Hands the step to its family.
    fn perform(&mut self, step: &Step) -> Result<Observed, String> {
        match &step.action {
            Action::ReqNew { inf } => self.req_new(step, inf),
            Action::ReqSubmit {
                request,
                template,
                attributes,
                via,
            } => {
                let submit = client::Submit {
                    template: template.as_deref(),
                    attributes,
                    via: *via,
                };
                self.req_submit(step, request.as_deref(), &submit)
            }
            Action::ReqRetrieve { id } => self.req_retrieve(step, *id),
            Action::ReqAccept { cert } => self.req_accept(cert.as_deref()),
            Action::ReqEnroll { inf, enroll } => self.req_enroll(step, inf, enroll),
            Action::CaCertDownload => self.ca_cert_download(step),
            Action::StoreExport {
                selector,
                pfx_password,
            } => self.store_export(step, selector, pfx_password),
            Action::StoreImport { cert, pfx_password } => {
                self.store_import(cert, pfx_password.as_deref())
            }
            Action::StoreDelete { selector } => self.store_delete(selector),
            Action::StoreRepair { selector } => self.store_repair(selector),
            Action::ScomImport { selector, force } => self.scom_import(selector, *force),
            Action::ScomCheck { target } => self.scom_check(target),
            Action::ScomRenew {
                selector,
                new_key,
                enroll,
            } => self.scom_renew(step, selector.as_ref(), *new_key, enroll),
            Action::ScomEnroll(procedure) => self.scom_enroll(step, procedure),
            Action::ScomRemove => self.scom_remove(),
            Action::CaIssue { id } => self.ca_decide(step, *id, ca::Decision::Issue),
            Action::CaDeny { id } => self.ca_decide(step, *id, ca::Decision::Deny),
            Action::CaRevoke { serial, reason } => self.ca_revoke(serial, *reason),
            Action::CaUnrevoke { serial } => self.ca_unrevoke(serial),
            Action::CaCrl { delta } => self.ca_crl(*delta),
            Action::CaRenew { new_key } => self.ca_renew(*new_key),
            Action::ClockAdvance { seconds } => Ok(self.clock_advance(*seconds)),
            Action::ClockSet { time } => Ok(self.clock_set(*time)),
            Action::FaultSet { rules } => self.set_faults(rules.clone()),
            Action::FaultClear => self.set_faults(Vec::new()),
            Action::Http {
                method,
                path,
                body,
                via,
            } => self.http(step, method, path, body.as_deref(), *via),
            Action::LdapSearch(search) => self.ldap_search(step, search),
            Action::LdapModify(change) => self.ldap_modify(step, change),
            Action::ScepEnroll {
                subject,
                challenge,
                wait,
            } => self.scep_enroll(step, subject, challenge, *wait),
        }
    }
}
