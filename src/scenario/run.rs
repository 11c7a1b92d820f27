//! Runs a scenario: builds its world (a CA behind an in-process certsrv
//! server, a client store and registry in a temporary folder), runs each
//! step against both ends, and checks the step's expectations. The
//! transcript carries no absolute path, port or real time, so the same
//! scenario and seed give the same transcript on every run and machine.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use adcs_client::certsrv::Outcome;
use adcs_client::flow::{self, CaEndpoint, EnrollOptions, FlowError, NewOptions};
use adcs_client::http::{Credentials, Session, Trust};
use adcs_client::inf::{Inf, RequestSpec};
use adcs_client::registry::FileRegistry;
use adcs_client::request::{Requester, OS_VERSION};
use adcs_client::scom::check::{CheckOptions, Facts, RegistryState};
use adcs_client::scom::{self, CheckTarget, ImportOptions, ScomError, Selector};
use adcs_client::store::{thumbprint, Store, StoreName};
use adcs_proto::page::hresult_in;
use mock_ca::web::directory::User;
use mock_ca::web::Server;
use mock_ca::{CrlKind, Seed};

use super::model::{Expect, IdRef, Scenario, Step, DEFAULT_START};

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

/// What a step produced, for the expectations to look at.
#[derive(Debug, Default)]
struct Observed {
    summary: String,
    error: Option<String>,
    disposition: Option<&'static str>,
    request_id: Option<u32>,
    hresult: Option<u32>,
    certificate: Option<Vec<u8>>,
    warnings: Option<usize>,
    ok: Option<bool>,
    events: Option<Vec<u32>>,
    on_crl: Option<bool>,
    status: Option<u16>,
    body: Option<String>,
}

impl Observed {
    fn failed(message: String) -> Observed {
        Observed {
            summary: format!("error: {message}"),
            error: Some(message),
            ..Observed::default()
        }
    }

    fn outcome(o: &Outcome) -> Observed {
        match o {
            Outcome::Issued { id, certificate } => Observed {
                summary: format!("issued, request {id}"),
                disposition: Some("issued"),
                request_id: Some(*id),
                certificate: Some(certificate.clone()),
                ..Observed::default()
            },
            Outcome::Pending { id } => Observed {
                summary: format!("pending, request {id}"),
                disposition: Some("pending"),
                request_id: Some(*id),
                ..Observed::default()
            },
            Outcome::Denied {
                id,
                message,
                hresult,
            } => Observed {
                summary: format!(
                    "denied, request {}: {message}",
                    id.map_or("?".into(), |i| i.to_string())
                ),
                disposition: Some("denied"),
                request_id: *id,
                hresult: hresult.map(|h| h.0),
                ..Observed::default()
            },
            Outcome::Error { message, hresult } => Observed {
                summary: [
                    "error page".to_string(),
                    message.clone(),
                    hresult.map(|h| hex_code(h.0)).unwrap_or_default(),
                ]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
                disposition: Some("error"),
                hresult: hresult.map(|h| h.0),
                ..Observed::default()
            },
        }
    }

    /// A flow error that is an answer of the CA (pending, denied) rather
    /// than a failure of the step.
    fn flow(e: FlowError) -> Observed {
        match e {
            FlowError::StillPending { id, .. } => Observed {
                summary: format!("pending, request {id}"),
                disposition: Some("pending"),
                request_id: Some(id),
                ..Observed::default()
            },
            FlowError::NotIssued { id, outcome } => Observed {
                disposition: Some(if outcome.contains("denied") {
                    "denied"
                } else {
                    "error"
                }),
                request_id: id,
                hresult: hresult_in(&outcome).map(|h| h.0),
                summary: outcome,
                ..Observed::default()
            },
            other => Observed::failed(other.to_string()),
        }
    }
}

/// The world of one run.
struct Runner<'a> {
    scenario: &'a Scenario,
    seed: u64,
    server: Server,
    dir: tempfile::TempDir,
    store: Store,
    registry: FileRegistry,
    /// Files later steps name by label.
    files: HashMap<String, PathBuf>,
    last_request: Option<String>,
    last_id: Option<u32>,
    last_cert: Option<Vec<u8>>,
    step_index: usize,
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
            failures.extend(journal_failures(
                wanted,
                &recorded[journal_before.min(recorded.len())..],
            ));
        }
        if step.line > 0 && !failures.is_empty() {
            failures.insert(0, format!("(step at line {})", step.line));
        }
        report.steps.push(StepResult {
            action: step.action.clone(),
            line: step.line,
            summary: runner.scrub(&obs.summary),
            failures: failures.iter().map(|f| runner.scrub(f)).collect(),
            certificate: obs.certificate.as_deref().map(thumbprint),
        });
    }
    report
}

fn hex_code(h: u32) -> String {
    format!("0x{h:08x}")
}

impl<'a> Runner<'a> {
    fn new(scenario: &'a Scenario, seed: u64) -> Result<Runner<'a>, String> {
        let mut world = scenario.world.clone();
        world.seed = Some(seed);
        world.start_time = Some(world.start_time.unwrap_or(DEFAULT_START));
        world.listen = None;
        // A scenario's CA lives for the run only.
        world.state_dir = None;
        let (ca, opts) = mock_ca::serve::build(&world).map_err(|e| e.to_string())?;
        let server = Server::start(ca, opts).map_err(|e| format!("cannot listen: {e}"))?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let store = Store::open(&dir.path().join("store")).map_err(|e| e.to_string())?;
        let registry = FileRegistry::new(&dir.path().join("registry.reg"));
        Ok(Runner {
            scenario,
            seed,
            server,
            dir,
            store,
            registry,
            files: HashMap::new(),
            last_request: None,
            last_id: None,
            last_cert: None,
            step_index: 0,
        })
    }

    /// Takes run-specific text (the temporary folder, the port) out of a message.
    fn scrub(&self, s: &str) -> String {
        let dir = self.dir.path().display().to_string();
        let port = self.server.addr().to_string();
        s.replace(&dir, "<run>")
            .replace(&dir.replace('\\', "/"), "<run>")
            .replace(&port, "<server>")
    }

    fn now(&self) -> i64 {
        self.server.ca().clock().now()
    }

    fn user(&self, step: &Step) -> Result<&User, String> {
        let users = self.server.users();
        match &step.user {
            None => users
                .iter()
                .find(|u| !u.admin)
                .or(users.first())
                .ok_or_else(|| "the world has no users".into()),
            Some(name) => users
                .iter()
                .find(|u| {
                    u.name.eq_ignore_ascii_case(name)
                        || u.name
                            .rsplit('\\')
                            .next()
                            .is_some_and(|short| short.eq_ignore_ascii_case(name))
                })
                .ok_or_else(|| format!("no user `{name}` in the world")),
        }
    }

    fn trust(&self) -> Trust {
        Trust::Roots(vec![self.server.ca().root_certificate()])
    }

    fn credentials(&self, step: &Step) -> Result<Credentials, String> {
        let u = self.user(step)?;
        let user = u.name.clone();
        let password = step.password.clone().unwrap_or_else(|| u.password.clone());
        Ok(match step.auth.as_deref().unwrap_or("ntlm") {
            "basic" => Credentials::Basic { user, password },
            "ntlm" => Credentials::Ntlm {
                user,
                password,
                negotiate_label: false,
            },
            "negotiate" => Credentials::Ntlm {
                user,
                password,
                negotiate_label: true,
            },
            other => return Err(format!("auth `{other}` (basic, ntlm or negotiate)")),
        })
    }

    fn endpoint(&self, step: &Step) -> Result<CaEndpoint, String> {
        Ok(CaEndpoint {
            url: self.server.certsrv_url(),
            trust: self.trust(),
            credentials: self.credentials(step)?,
        })
    }

    fn new_options(&self, step: &Step) -> Result<NewOptions, String> {
        Ok(NewOptions {
            seed: Some(Seed(self.seed)),
            requester: Requester {
                machine: self.scenario.fqdn.clone(),
                user: self.user(step)?.name.clone(),
                os_version: OS_VERSION.into(),
            },
            now: self.now(),
        })
    }

    fn enroll_options(&self, step: &Step) -> Result<EnrollOptions, String> {
        Ok(EnrollOptions {
            new: self.new_options(step)?,
            template: step.template.clone(),
            attributes: attributes(&step.attrib)?,
            poll_interval: Duration::from_millis(20),
            wait: Duration::from_secs(step.wait.unwrap_or(0)),
        })
    }

    fn check_options(&self) -> CheckOptions {
        CheckOptions::new(&self.scenario.fqdn, self.now())
    }

    /// A file a scenario names, relative to the scenario file.
    fn scenario_file(&self, f: &Path) -> PathBuf {
        self.scenario
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join(f)
    }

    /// The step's INF: its source name (as written in the scenario) and text.
    fn inf(&self, step: &Step) -> Result<(String, RequestSpec, usize), String> {
        let (source, bytes) = match (&step.inf, &step.inf_file) {
            (Some(text), None) => (
                format!("step {} INF", self.step_index),
                text.clone().into_bytes(),
            ),
            (None, Some(file)) => {
                let bytes = std::fs::read(self.scenario_file(file))
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                (file.display().to_string().replace('\\', "/"), bytes)
            }
            _ => return Err("give `inf` (inline) or `inf_file`".into()),
        };
        let inf = Inf::parse(&source, &bytes).map_err(|e| e.to_string())?;
        let spec = RequestSpec::from_inf(&inf).map_err(|e| e.to_string())?;
        let warnings = spec.warnings.len();
        Ok((source, spec, warnings))
    }

    fn label(&self, step: &Step) -> String {
        step.name
            .clone()
            .unwrap_or_else(|| format!("step{}", self.step_index))
    }

    fn file(&self, label: &str) -> Result<&PathBuf, String> {
        self.files
            .get(label)
            .ok_or_else(|| format!("no earlier step made `{label}`"))
    }

    fn save(&mut self, label: &str, ext: &str, bytes: &[u8]) -> Result<(), String> {
        let path = self.dir.path().join(format!("{label}.{ext}"));
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        self.files.insert(label.to_string(), path);
        Ok(())
    }

    fn request_id(&self, step: &Step) -> Result<u32, String> {
        match &step.id {
            Some(IdRef::Number(n)) => Ok(*n),
            Some(IdRef::Word(w)) if w == "last" => self
                .last_id
                .ok_or_else(|| "`last`: no earlier step gave a request ID".into()),
            Some(IdRef::Word(w)) => Err(format!("id `{w}` (a number or \"last\")")),
            None => Err("give `id` (a number or \"last\")".into()),
        }
    }

    fn last_certificate(&self) -> Result<Vec<u8>, String> {
        self.last_cert
            .clone()
            .ok_or_else(|| "no earlier step produced a certificate".into())
    }

    /// The step's certificate selector; the latest certificate by default.
    fn selector(&self, step: &Step) -> Result<Selector, String> {
        if let Some(s) = &step.subject {
            return Ok(Selector::Subject(s.clone()));
        }
        if let Some(t) = &step.thumbprint {
            return Ok(Selector::Thumbprint(t.clone()));
        }
        match step.serial.as_deref() {
            Some("last") | None => {}
            Some(s) => return Ok(Selector::Serial(s.to_string())),
        }
        if let Some(label) = &step.cert {
            let path = self.file(label)?.clone();
            if path.extension().is_some_and(|e| e == "pfx") {
                return Ok(Selector::Pfx {
                    path,
                    password: step.pfx_password.clone().unwrap_or_default(),
                });
            }
            let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
            let der = adcs_client::store::read_certificates(&bytes)?.remove(0);
            return Ok(Selector::Thumbprint(thumbprint(&der)));
        }
        Ok(Selector::Thumbprint(thumbprint(&self.last_certificate()?)))
    }

    fn serial(&self, step: &Step) -> Result<String, String> {
        match step.serial.as_deref() {
            Some("last") | None => {
                let f = Facts::of_certificate(&self.last_certificate()?, "")?;
                Ok(adcs_proto::hex::hex(&f.serial.unwrap_or_default()))
            }
            Some(s) => Ok(s.replace([' ', ':'], "").to_ascii_lowercase()),
        }
    }

    /// Runs one step. Whatever happens is an observation; a failure of the
    /// step itself is one too (`error`), for `expect.error` to match.
    fn exec(&mut self, step: &Step) -> Observed {
        let obs = match self.exec_inner(step) {
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

    fn exec_inner(&mut self, step: &Step) -> Result<Observed, String> {
        let ca = self.server.ca().clone();
        let admin = self
            .server
            .admin()
            .map(|u| u.name.clone())
            .unwrap_or_else(|| "CONTOSO\\Administrator".into());
        Ok(match step.action.as_str() {
            "req.new" => {
                let (source, spec, warnings) = self.inf(step)?;
                let label = self.label(step);
                let out = self.dir.path().join(format!("{label}.req"));
                let opts = self.new_options(step)?;
                let made = flow::new_from_spec(&source, spec, Some(&out), &self.store, &opts)
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
                o
            }
            "req.submit" => {
                let label = step
                    .request
                    .clone()
                    .or_else(|| self.last_request.clone())
                    .ok_or("give `request` (the label of a req.new step)")?;
                let path = self.file(&label)?.clone();
                let mut web = self.endpoint(step)?.connect().map_err(|e| e.to_string())?;
                let attrs =
                    flow::cert_attributes(step.template.as_deref(), &attributes(&step.attrib)?);
                let o = match flow::submit_file(&mut web, &path, &attrs) {
                    Ok(outcome) => Observed::outcome(&outcome),
                    Err(e) => Observed::flow(e),
                };
                if let Some(c) = &o.certificate {
                    let name = step.name.clone().unwrap_or(label);
                    self.save(&name, "cer", c)?;
                }
                o
            }
            "req.retrieve" => {
                let id = self.request_id(step)?;
                let mut web = self.endpoint(step)?.connect().map_err(|e| e.to_string())?;
                let o = Observed::outcome(&web.retrieve(id).map_err(|e| e.to_string())?);
                if let Some(c) = &o.certificate {
                    let name = self.label(step);
                    self.save(&name, "cer", c)?;
                }
                o
            }
            "req.accept" => {
                let bytes = match &step.cert {
                    Some(label) => std::fs::read(self.file(label)?).map_err(|e| e.to_string())?,
                    None => self.last_certificate()?,
                };
                let a = self.store.accept(&bytes).map_err(|e| e.to_string())?;
                Observed {
                    summary: format!("installed in My with its key: {}", a.entry.subject),
                    certificate: Some(a.entry.der.clone()),
                    ..Observed::default()
                }
            }
            "req.enroll" => {
                let (source, spec, warnings) = self.inf(step)?;
                let endpoint = self.endpoint(step)?;
                let opts = self.enroll_options(step)?;
                let mut o = match flow::enroll_spec(
                    &endpoint,
                    &source,
                    spec,
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
                o
            }
            "ca-cert.download" => {
                // The first download, pinned by the root's thumbprint, into Root and CA.
                let mut endpoint = self.endpoint(step)?;
                endpoint.trust = Trust::AnyCertificate;
                let pin = thumbprint(&ca.root_certificate());
                let p7 = flow::download_ca(&endpoint, flow::CaDownload::Chain, None, Some(&pin))
                    .map_err(|e| e.to_string())?;
                let mut added = Vec::new();
                for der in adcs_client::store::read_certificates(&p7)? {
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
                Observed {
                    summary: format!("CA chain imported ({})", added.join("; ")),
                    ..Observed::default()
                }
            }
            "store.export" => {
                let password = step.pfx_password.clone().ok_or("give `pfx_password`")?;
                let selector = match self.selector(step)? {
                    Selector::Thumbprint(t) => t,
                    Selector::Subject(s) => s,
                    Selector::Serial(s) => s,
                    _ => return Err("store.export takes a certificate in My".into()),
                };
                let pfx = self
                    .store
                    .export_pfx(&selector, &password, Default::default())
                    .map_err(|e| e.to_string())?;
                let label = self.label(step);
                self.save(&label, "pfx", &pfx)?;
                Observed {
                    summary: format!("PFX `{label}` written"),
                    ..Observed::default()
                }
            }
            "store.import" => {
                let label = step.cert.clone().ok_or("give `cert` (a label)")?;
                let path = self.file(&label)?.clone();
                let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
                let entry = if path.extension().is_some_and(|e| e == "pfx") {
                    self.store
                        .import_pfx(&bytes, step.pfx_password.as_deref().unwrap_or_default())
                        .map_err(|e| e.to_string())?
                } else {
                    let der = adcs_client::store::read_certificates(&bytes)?.remove(0);
                    self.store
                        .import_certificate(StoreName::My, &der)
                        .map_err(|e| e.to_string())?
                };
                Observed {
                    summary: format!("imported into My: {}", entry.subject),
                    certificate: Some(entry.der),
                    ..Observed::default()
                }
            }
            "store.delete" | "store.repair" => {
                let t = match self.selector(step)? {
                    Selector::Thumbprint(t) | Selector::Subject(t) | Selector::Serial(t) => t,
                    _ => return Err(format!("{} takes a certificate in My", step.action)),
                };
                let e = if step.action == "store.delete" {
                    self.store.delete(StoreName::My, &t)
                } else {
                    self.store.repair(&t)
                }
                .map_err(|e| e.to_string())?;
                Observed {
                    summary: format!(
                        "{} {}",
                        if step.action == "store.delete" {
                            "deleted"
                        } else {
                            "key linked to"
                        },
                        e.subject
                    ),
                    ..Observed::default()
                }
            }
            "scom.import" => {
                let selector = self.selector(step)?;
                let opts = ImportOptions {
                    check: self.check_options(),
                    force: step.force,
                };
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
                }
            }
            "scom.check" => {
                let target = if let Some(f) = &step.inf_file {
                    CheckTarget::Inf(self.scenario_file(f))
                } else if let Some(text) = &step.inf {
                    let path = self.dir.path().join(format!("step{}.inf", self.step_index));
                    std::fs::write(&path, text).map_err(|e| e.to_string())?;
                    CheckTarget::Inf(path)
                } else if let Some(label) = &step.request {
                    CheckTarget::Request(self.file(label)?.clone())
                } else if step.subject.is_some() || step.thumbprint.is_some() || step.cert.is_some()
                {
                    CheckTarget::Store(self.selector(step)?)
                } else {
                    CheckTarget::Configured
                };
                let report = scom::check(
                    &self.store,
                    Some(&self.registry),
                    &target,
                    &self.check_options(),
                )
                .map_err(|e| e.to_string())?;
                let events: Vec<u32> = report.events().iter().map(|e| e.id).collect();
                Observed {
                    summary: format!(
                        "{} (events {})",
                        if report.ok() {
                            "the agent would load it"
                        } else {
                            "the agent would refuse it"
                        },
                        events
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    ok: Some(report.ok()),
                    events: Some(events),
                    ..Observed::default()
                }
            }
            "scom.renew" => {
                let selector =
                    if step.subject.is_some() || step.thumbprint.is_some() || step.cert.is_some() {
                        Some(self.selector(step)?)
                    } else {
                        None
                    };
                let opts = scom::ScomRenewOptions {
                    new_key: step.new_key,
                    template: step.template.clone(),
                    enroll: self.enroll_options(step)?,
                    check: self.check_options(),
                };
                let endpoint = self.endpoint(step)?;
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
                }
            }
            "scom.enroll" => {
                let opts =
                    scom::ScomEnrollOptions {
                        fqdn: self.scenario.fqdn.clone(),
                        inf: step.inf_file.as_deref().map(|f| self.scenario_file(f)),
                        template: Some(step.template.clone().unwrap_or_else(|| {
                            adcs_client::scom::facts::DEFAULT_TEMPLATE.to_string()
                        })),
                        exportable: step.pfx_password.is_some(),
                        web_portal: step.web_portal,
                        ca_thumbprint: Some(thumbprint(&ca.root_certificate())),
                        enroll: self.enroll_options(step)?,
                        check: self.check_options(),
                        force: step.force,
                        export: None,
                    };
                let mut endpoint = self.endpoint(step)?;
                endpoint.trust = Trust::Roots(Vec::new());
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
                                if done.report.ok() {
                                    "the agent would load it"
                                } else {
                                    "the agent would refuse it"
                                }
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
                }
            }
            "scom.remove" => {
                let r = scom::remove(&mut self.registry).map_err(|e| e.to_string())?;
                Observed {
                    summary: if r.serial.is_some() {
                        "SCOM configuration removed".into()
                    } else {
                        "nothing was configured".into()
                    },
                    ..Observed::default()
                }
            }
            "ca.issue" | "ca.deny" => {
                let id = self.request_id(step)?;
                let s = if step.action == "ca.issue" {
                    ca.issue_pending(id, &admin)
                } else {
                    ca.deny(id, &admin)
                }
                .map_err(|e| e.to_string())?;
                let mut o = Observed::outcome(&match (s.disposition, s.certificate.clone()) {
                    (mock_ca::Disposition::Issued, Some(c)) => {
                        Outcome::Issued { id, certificate: c }
                    }
                    _ => Outcome::Denied {
                        id: Some(id),
                        message: s.message.clone(),
                        hresult: Some(s.status),
                    },
                });
                o.summary = format!(
                    "{} by {admin}: {}",
                    if step.action == "ca.issue" {
                        "issued"
                    } else {
                        "denied"
                    },
                    o.summary
                );
                o
            }
            "ca.revoke" | "ca.unrevoke" => {
                let serial = self.serial(step)?;
                let row = if step.action == "ca.revoke" {
                    let reason: mock_ca::RevocationReason =
                        step.reason.as_deref().unwrap_or("unspecified").parse()?;
                    ca.revoke(&serial, reason, &admin)
                } else {
                    ca.unrevoke(&serial, &admin)
                }
                .map_err(|e| e.to_string())?;
                Observed {
                    summary: format!(
                        "{} serial {serial} (request {})",
                        if step.action == "ca.revoke" {
                            "revoked"
                        } else {
                            "unrevoked"
                        },
                        row.id
                    ),
                    request_id: Some(row.id),
                    ..Observed::default()
                }
            }
            "ca.crl" => {
                let kind = if step.delta {
                    CrlKind::Delta
                } else {
                    CrlKind::Base
                };
                let crl = ca.publish_crl(kind).map_err(|e| e.to_string())?;
                let serials = crl_serials(&crl)?;
                let on = match &self.last_cert {
                    Some(c) => Some(
                        Facts::of_certificate(c, "")?
                            .serial
                            .is_some_and(|s| serials.contains(&s)),
                    ),
                    None => None,
                };
                Observed {
                    summary: format!(
                        "{} CRL published with {} serial(s)",
                        if step.delta { "delta" } else { "base" },
                        serials.len()
                    ),
                    on_crl: on,
                    ..Observed::default()
                }
            }
            "ca.renew" => {
                let n = ca.renew_ca(step.new_key).map_err(|e| e.to_string())?;
                Observed {
                    summary: format!(
                        "CA renewed {} (nRenewals {n})",
                        if step.new_key {
                            "with a new key"
                        } else {
                            "with the same key"
                        }
                    ),
                    ..Observed::default()
                }
            }
            "clock.advance" => {
                let secs = step.seconds.ok_or("give `seconds`")?;
                ca.clock().advance(secs);
                Observed {
                    summary: format!("clock now {}", adcs_proto::x509::rfc3339(self.now())),
                    ..Observed::default()
                }
            }
            "clock.set" => {
                let t = step.time.as_deref().ok_or("give `time`")?;
                let t = adcs_proto::x509::parse_time(t)
                    .ok_or_else(|| format!("`{t}` is not a time"))?;
                ca.clock().set(t);
                Observed {
                    summary: format!("clock now {}", adcs_proto::x509::rfc3339(self.now())),
                    ..Observed::default()
                }
            }
            "fault.set" | "fault.clear" => {
                let rules = if step.action == "fault.set" {
                    step.faults.clone()
                } else {
                    Vec::new()
                };
                let n = rules.len();
                self.server.set_faults(rules).map_err(|e| e.to_string())?;
                Observed {
                    summary: format!("{n} fault rule(s) in force"),
                    ..Observed::default()
                }
            }
            "http" => {
                let method = step.method.clone().unwrap_or_else(|| "GET".into());
                let path = step.path.clone().ok_or("give `path`")?;
                let mut session = Session::new(
                    &self.server.certsrv_url(),
                    self.trust(),
                    self.credentials(step)?,
                )
                .map_err(|e| e.to_string())?;
                let body = step.body.clone().unwrap_or_default();
                let ct = step
                    .body
                    .as_ref()
                    .map(|_| "application/x-www-form-urlencoded");
                let r = session
                    .request(&method, &path, ct, body.as_bytes())
                    .map_err(|e| e.to_string())?;
                Observed {
                    summary: format!("{method} {path}: {} {}", r.status, r.reason),
                    status: Some(r.status),
                    body: Some(r.text()),
                    ..Observed::default()
                }
            }
            other => return Err(format!("unknown action `{other}`")),
        })
    }

    /// The expectations of a step that do not hold.
    fn check(&self, e: &Expect, o: &Observed) -> Vec<String> {
        let mut out = Vec::new();
        let mut want = |what: &str, expected: String, got: String| {
            if expected != got {
                out.push(format!("{what}: expected {expected}, got {got}"));
            }
        };
        match (&e.error, &o.error) {
            (Some(sub), Some(msg)) if !msg.contains(sub.as_str()) => want(
                "error",
                format!("a message containing `{sub}`"),
                format!("`{msg}`"),
            ),
            (Some(sub), None) => want(
                "error",
                format!("a failure containing `{sub}`"),
                "success".into(),
            ),
            (None, Some(msg)) => want("the step", "to succeed".into(), format!("error: {msg}")),
            _ => {}
        }
        let opt = |v: Option<String>| v.unwrap_or_else(|| "nothing".into());
        if let Some(d) = &e.disposition {
            want(
                "disposition",
                d.clone(),
                opt(o.disposition.map(str::to_string)),
            );
        }
        if let Some(id) = e.request_id {
            want(
                "request ID",
                id.to_string(),
                opt(o.request_id.map(|i| i.to_string())),
            );
        }
        if let Some(h) = &e.hresult {
            let expected = u32::from_str_radix(h.trim_start_matches("0x"), 16)
                .map(hex_code)
                .unwrap_or_else(|_| h.clone());
            want("HRESULT", expected, opt(o.hresult.map(hex_code)));
        }
        if let Some(n) = e.warnings {
            want(
                "INF warnings",
                n.to_string(),
                opt(o.warnings.map(|w| w.to_string())),
            );
        }
        let wants_cert = e.subject.is_some()
            || e.dns.is_some()
            || e.eku.is_some()
            || e.key_usage.is_some()
            || e.template.is_some()
            || e.validity_days.is_some()
            || e.configured.is_some();
        match (wants_cert, &o.certificate) {
            (true, None) => want("certificate", "one from this step".into(), "none".into()),
            (true, Some(der)) => match Facts::of_certificate(der, "") {
                Err(err) => want("certificate", "a certificate".into(), err),
                Ok(f) => {
                    if let Some(s) = &e.subject {
                        want("subject", s.clone(), f.subject.clone());
                    }
                    if let Some(d) = &e.dns {
                        want("DNS names", d.join(", "), f.dns_names.join(", "));
                    }
                    if let Some(ekus) = &e.eku {
                        let mut a = ekus.clone();
                        let mut b = f.ekus.clone().unwrap_or_default();
                        a.sort();
                        b.sort();
                        want("EKUs", a.join(", "), b.join(", "));
                    }
                    if let Some(ku) = &e.key_usage {
                        let expected = u16::from_str_radix(ku.trim_start_matches("0x"), 16)
                            .map(|b| format!("{b:#04x}"))
                            .unwrap_or_else(|_| ku.clone());
                        want(
                            "key usage",
                            expected,
                            opt(f.key_usage.map(|(b, _)| format!("{b:#04x}"))),
                        );
                    }
                    if let Some(t) = &e.template {
                        let config = self.server.ca().config();
                        let name = f.template.clone().map(|got| {
                            config
                                .templates
                                .iter()
                                .find(|x| x.template_oid() == got)
                                .map(|x| x.name.clone())
                                .unwrap_or(got)
                        });
                        want("template", t.clone(), opt(name));
                    }
                    if let Some(days) = e.validity_days {
                        let (nb, na) = f.validity.unwrap_or_default();
                        want(
                            "validity in days",
                            days.to_string(),
                            ((na - nb) / 86_400).to_string(),
                        );
                    }
                    if let Some(c) = e.configured {
                        let configured = match scom::registry_state(&self.registry) {
                            Ok(RegistryState::Configured { serial, .. }) => f
                                .serial
                                .as_deref()
                                .is_some_and(|s| scom::check::serial_matches(&serial, s)),
                            _ => false,
                        };
                        want("configured for SCOM", c.to_string(), configured.to_string());
                    }
                }
            },
            (false, _) => {}
        }
        let count = |name: StoreName| self.store.list(name).map(|l| l.len()).unwrap_or(usize::MAX);
        for (what, expected, got) in [
            ("My", e.my, count(StoreName::My)),
            ("Root", e.root, count(StoreName::Root)),
            ("CA", e.ca, count(StoreName::Ca)),
            (
                "REQUEST",
                e.pending,
                self.store.pending().map(|p| p.len()).unwrap_or(usize::MAX),
            ),
        ] {
            if let Some(n) = expected {
                want(
                    &format!("certificates in {what}"),
                    n.to_string(),
                    got.to_string(),
                );
            }
        }
        if let Some(ok) = e.ok {
            want(
                "the agent loads it",
                ok.to_string(),
                opt(o.ok.map(|b| b.to_string())),
            );
        }
        if let Some(ev) = &e.events {
            let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
            want("events", list(ev), opt(o.events.as_deref().map(list)));
        }
        if let Some(on) = e.on_crl {
            want(
                "on the CRL",
                on.to_string(),
                opt(o.on_crl.map(|b| b.to_string())),
            );
        }
        if let Some(s) = e.status {
            want(
                "HTTP status",
                s.to_string(),
                opt(o.status.map(|s| s.to_string())),
            );
        }
        if let Some(piece) = &e.body_contains {
            let has = o
                .body
                .as_deref()
                .is_some_and(|b| b.contains(piece.as_str()));
            want(
                "body",
                format!("containing `{piece}`"),
                if has {
                    format!("containing `{piece}`")
                } else {
                    "without it".into()
                },
            );
        }
        if let Some(n) = e.n_renewals {
            want(
                "nRenewals",
                n.to_string(),
                self.server.ca().n_renewals().to_string(),
            );
        }
        out
    }
}

/// The wanted journal entries that no entry of the step matches.
fn journal_failures(
    wanted: &[super::model::JournalExpect],
    recorded: &[mock_ca::web::journal::JournalEntry],
) -> Vec<String> {
    let matches = |w: &super::model::JournalExpect, e: &mock_ca::web::journal::JournalEntry| {
        w.path.as_deref().is_none_or(|p| {
            e.path
                .to_ascii_lowercase()
                .contains(&p.to_ascii_lowercase())
        }) && w
            .method
            .as_deref()
            .is_none_or(|m| e.method.eq_ignore_ascii_case(m))
            && w.status.is_none_or(|s| e.status == s)
            && w.user
                .as_deref()
                .is_none_or(|u| e.user.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(u)))
            && w.auth
                .as_deref()
                .is_none_or(|a| e.auth.as_deref() == Some(a))
            && w.request_id.is_none_or(|id| e.request_id == Some(id))
            && w.disposition
                .as_deref()
                .is_none_or(|d| e.disposition.as_deref() == Some(d))
            && w.fault.is_none_or(|f| e.fault.is_some() == f)
    };
    let seen = || {
        recorded
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}{}{}",
                    e.method,
                    e.path,
                    e.status,
                    e.user
                        .as_deref()
                        .map(|u| format!(" {u}"))
                        .unwrap_or_default(),
                    if e.fault.is_some() { " (fault)" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    wanted
        .iter()
        .filter(|w| !recorded.iter().any(|e| matches(w, e)))
        .map(|w| format!("journal: expected an entry like {w:?}, got: {}", seen()))
        .collect()
}

/// `NAME:VALUE` request attributes.
fn attributes(list: &[String]) -> Result<Vec<(String, String)>, String> {
    flow::parse_attributes(list).map_err(|e| format!("attrib: {e}"))
}

/// The serial numbers a CRL lists.
fn crl_serials(der: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use der::Decode;
    let crl = x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der)
        .map_err(|e| e.to_string())?;
    Ok(crl
        .tbs_cert_list
        .revoked_certificates
        .map(|list| {
            list.iter()
                .map(|r| r.serial_number.as_bytes().to_vec())
                .collect()
        })
        .unwrap_or_default())
}
