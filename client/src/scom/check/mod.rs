//! The checks the SCOM agent (OpsMgr Connector) makes of its certificate,
//! and those Test-SCOMCertificate adds, each mapped to the event the agent
//! would log (certreq-scom.md §6.4). They run over a certificate (with what
//! the store knows of its key and chain, and what the registry says) or,
//! before submission, over a request or an INF.

//!
//! This module holds the vocabulary (facts in, findings and a report out)
//! and runs the rules; `gather` collects the facts, `rules` judges them.

mod gather;

pub use gather::FactsError;
mod rules;

use adcs_proto::public_key::PublicKeyKind;
use serde::Serialize;

use super::facts::{self, event, Event};

/// How much a failed rule matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The agent would not load the certificate.
    Error,
    /// It would load, but something is off (or will be soon).
    Warning,
    /// Worth knowing.
    Info,
}

/// The outcome of one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not applicable, or not knowable from what was checked.
    Skip,
}

/// One rule's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule name (`key-usage`, `enhanced-key-usage`, …).
    pub rule: &'static str,
    pub status: Status,
    pub severity: Severity,
    /// The agent event a failure maps to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    pub message: String,
}

impl Finding {
    /// A failed rule of severity Error.
    pub fn is_error(&self) -> bool {
        self.status == Status::Fail && self.severity == Severity::Error
    }

    /// A failed rule of severity Warning.
    pub fn is_warning(&self) -> bool {
        self.status == Status::Fail && self.severity == Severity::Warning
    }
}

/// What was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Certificate,
    Request,
    Inf,
}

/// The verdict over one certificate, request or INF.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub target: Target,
    /// Where it came from (file, store entry, registry).
    pub source: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The name the agent would compare with the computer name.
    pub fqdn: String,
    pub findings: Vec<Finding>,
}

impl Report {
    /// No rule of severity Error failed.
    pub fn ok(&self) -> bool {
        !self.findings.iter().any(Finding::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_error())
    }

    /// The events the agent would log (20053 alone when all is well; an
    /// expiring certificate adds 21020).
    pub fn events(&self) -> Vec<Event> {
        let mut out: Vec<Event> = Vec::new();
        for f in &self.findings {
            if f.status == Status::Fail {
                if let Some(e) = f.event {
                    if !out.contains(&e) {
                        out.push(e);
                    }
                }
            }
        }
        if self.ok() && self.target == Target::Certificate {
            out.insert(0, event::LOADED);
        }
        out
    }

    /// The closing line: Test-SCOMCertificate's verdict for a certificate,
    /// a sentence for a request or INF.
    pub fn verdict(&self) -> String {
        match (self.target, self.ok()) {
            (Target::Certificate, true) => facts::VERDICT_GOOD.into(),
            (Target::Certificate, false) => facts::VERDICT_BAD.into(),
            (t, true) => format!(
                "This {} will produce a SCOM-usable certificate{}.",
                if t == Target::Inf { "INF" } else { "request" },
                if self.findings.iter().any(|f| f.is_warning()) {
                    " (see the warnings)"
                } else {
                    ""
                }
            ),
            (t, false) => format!(
                "This {} will not produce a SCOM-usable certificate because {}.",
                if t == Target::Inf { "INF" } else { "request" },
                self.errors()
                    .map(|f| lower_first(&f.message))
                    .collect::<Vec<_>>()
                    .join("; and ")
            ),
        }
    }
}

/// A sentence continued after "because": the first word in lower case,
/// unless it is a name (`KeySpec`, `MachineKeySet`).
fn lower_first(s: &str) -> String {
    let first_word = s.split(' ').next().unwrap_or_default();
    if first_word.chars().skip(1).any(char::is_uppercase) {
        return s.to_string();
    }
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Where the private key stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Not knowable (a request, an INF, a bare certificate file).
    Unknown,
    /// The certificate has no key linked (no key provider information).
    NotLinked,
    /// A key container is named but the key is not there.
    Missing {
        container: String,
    },
    /// The key is there but is not the certificate's.
    Mismatch {
        container: String,
    },
    Present,
}

/// Where the chain stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainState {
    Unknown,
    /// Ends in a root that is in `Root`.
    Trusted {
        root: String,
    },
    /// Ends in a root that is not in `Root`.
    UntrustedRoot {
        root: String,
    },
    /// An issuer is in neither `CA` nor `Root`.
    Incomplete {
        missing_issuer: String,
    },
}

/// What the registry says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryState {
    /// Not checked (a request, or asked not to).
    Skipped,
    /// No configuration (no file, no key or no serial value).
    NotConfigured { what: String },
    Configured {
        /// `ChannelCertificateSerialNumber` as stored (reversed).
        serial: Vec<u8>,
        hash: Option<String>,
    },
}

/// Everything the rules look at.
#[derive(Clone, Debug)]
pub struct Facts {
    pub target: Target,
    pub source: String,
    pub subject: String,
    pub common_names: Vec<String>,
    pub dns_names: Vec<String>,
    /// Key usage bits (Windows numbering) and whether critical; `None` = no extension.
    pub key_usage: Option<(u16, bool)>,
    /// EKU OIDs; `None` = no extension.
    pub ekus: Option<Vec<String>>,
    pub public_key: Option<PublicKeyKind>,
    /// Signature algorithm name (`sha256RSA`) and its hash (`SHA256`).
    pub signature: Option<(String, String)>,
    /// Template name or OID, when the certificate or request carries one.
    pub template: Option<String>,
    pub validity: Option<(i64, i64)>,
    pub key: KeyState,
    pub key_spec: Option<u32>,
    pub provider: Option<String>,
    pub machine_key_set: Option<bool>,
    /// Whether the key may be exported (the store's record for a store
    /// certificate, `true` for a PFX, the INF's `Exportable`); `None` when
    /// not knowable (a request, a bare certificate file).
    pub exportable: Option<bool>,
    pub chain: ChainState,
    pub registry: RegistryState,
    pub thumbprint: Option<String>,
    /// Serial number bytes as in the certificate.
    pub serial: Option<Vec<u8>>,
    /// What reading the INF warned about (file, line, what was done).
    pub inf_warnings: Vec<String>,
}

/// What the rules compare against.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The computer's FQDN (or, for a workgroup machine, its NetBIOS name).
    pub fqdn: String,
    /// "Now" for time validity (Unix seconds).
    pub now: i64,
    /// 21020 is reported this many days before expiry.
    pub expiry_warning_days: u32,
    /// The certificate is meant for another machine: it is to leave this
    /// store as a PFX (the guide's path for an agent that cannot enroll
    /// itself; `scom enroll --export-pfx`, `scom check --for-export`).
    /// Only then is a key that is not exportable reported (rule
    /// `exportable`, a warning: the agent itself does not care); otherwise
    /// the rule adds nothing to the report.
    pub for_export: bool,
}

impl CheckOptions {
    pub fn new(fqdn: &str, now: i64) -> CheckOptions {
        CheckOptions {
            fqdn: fqdn.to_string(),
            now,
            expiry_warning_days: facts::DEFAULT_EXPIRY_WARNING_DAYS,
            for_export: false,
        }
    }
}

/// The serial's bytes as the registry holds them: least-significant first,
/// without the DER sign byte (CryptoAPI's CRYPT_INTEGER_BLOB form).
pub fn registry_serial(serial: &[u8]) -> Vec<u8> {
    let mut s = strip_leading_zeros(serial).to_vec();
    s.reverse();
    s
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b
        .iter()
        .position(|x| *x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    &b[first..]
}

/// Whether registry bytes name this serial (compared as integers).
pub fn serial_matches(registry: &[u8], serial: &[u8]) -> bool {
    let mut r = registry.to_vec();
    r.reverse();
    strip_leading_zeros(&r) == strip_leading_zeros(serial)
}

/// Runs every rule over `facts`, in the order of `rules::RULES`.
pub fn evaluate(facts: &Facts, opts: &CheckOptions) -> Report {
    let cx = rules::Context::new(facts, opts);
    let mut findings = rules::Findings::default();
    for rule in rules::RULES {
        rule(&cx, &mut findings);
    }
    Report {
        target: facts.target,
        source: facts.source.clone(),
        subject: facts.subject.clone(),
        thumbprint: facts.thumbprint.clone(),
        serial: facts.serial.as_deref().map(crate::store::hex_upper),
        fqdn: cx.want.to_string(),
        findings: findings.0,
    }
}

/// The report as people read it: one line per rule, then the events and the verdict.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    let what = match report.target {
        Target::Certificate => "Certificate",
        Target::Request => "Request",
        Target::Inf => "INF",
    };
    s.push_str(&format!("{what}: {} ({})\n", report.subject, report.source));
    if let Some(t) = &report.thumbprint {
        s.push_str(&format!("  Thumbprint: {t}\n"));
    }
    if let Some(serial) = &report.serial {
        s.push_str(&format!("  Serial Number: {serial}\n"));
    }
    s.push_str(&format!("  Computer name: {}\n", report.fqdn));
    for f in &report.findings {
        let tag = match (f.status, f.severity) {
            (Status::Pass, _) => "PASS",
            (Status::Skip, _) => "SKIP",
            (Status::Fail, Severity::Error) => "FAIL",
            (Status::Fail, Severity::Warning) => "WARN",
            (Status::Fail, Severity::Info) => "INFO",
        };
        let event = match (f.status, f.event) {
            (Status::Fail, Some(e)) => format!(" [event {}]", e.id),
            _ => String::new(),
        };
        s.push_str(&format!("  [{tag}] {}: {}{event}\n", f.rule, f.message));
    }
    let events = report.events();
    if report.target == Target::Certificate {
        for e in &events {
            s.push_str(&format!("SCOM would log {}: {}\n", e.id, e.text));
        }
    }
    s.push_str(&report.verdict());
    s.push('\n');
    s
}
