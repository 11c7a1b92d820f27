//! `scom`: MOMCertImport (`import`, `remove`), the agent's checks (`check`),
//! renewal (`renew`), the guide's whole procedure (`enroll`) and its INF
//! (`inf`), thin over `adcs_client::scom`.
//!
//! Exit codes as for `req`, plus 7: the checks found an error (or `import`
//! refused a certificate the agent would not load).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use adcs_client::flow::{EnrollOptions, NewOptions, Progress};
use adcs_client::registry::{FileRegistry, Registry};
use adcs_client::scom::check::{render, CheckOptions, Report};
use adcs_client::scom::{self, facts, CheckTarget, ImportOptions, ScomError, Selector};
use adcs_client::store::PfxFormat;
use clap::{Args, Subcommand};
use serde_json::json;

use super::common::{flow_failure, progress_line, Connect, StoreArg};

/// Exit code when the checks find an error.
pub const EXIT_CHECK_FAILED: u8 = 7;

/// Where SCOM's configuration is kept.
#[derive(Args, Clone)]
pub struct RegistryArg {
    /// The `.reg` file standing in for the registry (default: `registry.reg`
    /// in the store folder).
    #[arg(long, value_name = "FILE", env = "ADCS_HARNESS_REGISTRY")]
    registry: Option<PathBuf>,
    /// Use the real Windows registry (HKLM; needs an elevated prompt).
    #[arg(long, conflicts_with = "registry")]
    system_registry: bool,
}

impl RegistryArg {
    fn open(&self, store: &StoreArg) -> Result<Box<dyn Registry>, String> {
        if self.system_registry {
            #[cfg(windows)]
            return Ok(Box::new(adcs_client::registry::SystemRegistry));
            #[cfg(not(windows))]
            return Err("--system-registry needs Windows; elsewhere the registry is a .reg file (--registry FILE)".into());
        }
        let path = self
            .registry
            .clone()
            .unwrap_or_else(|| store.path().join("registry.reg"));
        Ok(Box::new(FileRegistry::new(&path)))
    }
}

/// The computer name and the time the checks compare against.
#[derive(Args, Clone)]
pub struct CheckArgs {
    /// The computer's FQDN (NetBIOS name for a workgroup machine); this
    /// machine's name by default.
    #[arg(long, value_name = "NAME")]
    fqdn: Option<String>,
    /// Check as of this time (`2027-01-01T00:00:00Z` or Unix seconds) instead of now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    now: Option<i64>,
    /// Report 21020 this many days before expiry.
    #[arg(long, value_name = "DAYS", default_value_t = facts::DEFAULT_EXPIRY_WARNING_DAYS)]
    expiry_days: u32,
}

fn parse_time(s: &str) -> Result<i64, String> {
    adcs_proto::x509::parse_time(s)
        .ok_or_else(|| format!("`{s}` is neither `YYYY-MM-DDTHH:MM:SSZ` nor Unix seconds"))
}

impl CheckArgs {
    fn fqdn(&self) -> String {
        self.fqdn.clone().unwrap_or_else(facts::machine_fqdn)
    }

    fn options(&self) -> CheckOptions {
        CheckOptions {
            fqdn: self.fqdn(),
            now: self
                .now
                .unwrap_or_else(|| adcs_proto::clock::Clock::real().now()),
            expiry_warning_days: self.expiry_days,
            for_export: false,
        }
    }
}

/// Which certificate (MOMCertImport's selectors).
#[derive(Args, Clone)]
#[group(multiple = false)]
pub struct Pick {
    /// The My certificate with this subject name (MOMCertImport /SubjectName).
    #[arg(long, value_name = "NAME")]
    subject: Option<String>,
    /// The My certificate with this serial number (hex).
    #[arg(long, value_name = "HEX")]
    serial: Option<String>,
    /// The My certificate with this SHA-1 thumbprint.
    #[arg(long, value_name = "SHA1")]
    thumbprint: Option<String>,
}

impl Pick {
    fn selector(&self) -> Option<Selector> {
        if let Some(s) = &self.subject {
            Some(Selector::Subject(s.clone()))
        } else if let Some(s) = &self.serial {
            Some(Selector::Serial(s.clone()))
        } else {
            self.thumbprint.clone().map(Selector::Thumbprint)
        }
    }
}

#[derive(Subcommand)]
pub enum ScomAction {
    /// MOMCertImport: configure a My certificate (or a PFX, imported first) for SCOM.
    Import(ImportCmd),
    /// Clear SCOM's certificate configuration (the certificate stays in My).
    Remove(RemoveCmd),
    /// Check a certificate as the SCOM agent would (the configured one by
    /// default), or a request or INF before submission.
    Check(CheckCmd),
    /// Renew SCOM's certificate (same key by default) and re-import it.
    Renew(RenewCmd),
    /// The SCOM guide end to end: trust the root, request, wait for
    /// approval, retrieve, accept, import for SCOM, check.
    Enroll(EnrollCmd),
    /// Print (or write) the built-in SCOM INF.
    Inf(InfCmd),
}

/// How long to wait for a certificate manager.
#[derive(Args, Clone)]
pub struct WaitArgs {
    /// Seconds between checks of a pending request.
    #[arg(long, default_value_t = 2.0)]
    poll_interval: f64,
    /// Seconds to wait for approval before giving up (exit 3).
    #[arg(long, default_value_t = 300.0)]
    wait: f64,
    /// Seed for the key, for reproducible runs.
    #[arg(long)]
    seed: Option<u64>,
}

impl WaitArgs {
    fn enroll_options(&self, now: Option<i64>) -> EnrollOptions {
        let mut new = NewOptions {
            seed: self.seed.map(adcs_proto::seed::Seed),
            ..NewOptions::default()
        };
        if let Some(n) = now {
            new.now = n;
        }
        EnrollOptions {
            new,
            template: None,
            attributes: Vec::new(),
            poll_interval: Duration::from_secs_f64(self.poll_interval.max(0.0)),
            wait: Duration::from_secs_f64(self.wait.max(0.0)),
        }
    }
}

/// Exit code and message of a failed SCOM step.
fn failure(e: ScomError, json: bool) -> Result<ExitCode, String> {
    match e {
        ScomError::Flow(f) => flow_failure(f),
        ScomError::Rejected(report) => {
            if json {
                println!("{}", json!({ "imported": false, "report": *report }));
            } else {
                print!("{}", render(&report));
            }
            eprintln!("adcs-harness: {}", ScomError::Rejected(report));
            Ok(ExitCode::from(EXIT_CHECK_FAILED))
        }
        other => Err(other.to_string()),
    }
}

fn pfx_password(p: Option<String>) -> Result<String, String> {
    p.ok_or_else(|| "a PFX needs --pfx-password (or ADCS_HARNESS_PFX_PASSWORD)".into())
}

fn print_import(i: &scom::Imported) {
    println!("{}", facts::IMPORT_SUCCESS);
    println!(
        "Certificate: {} (thumbprint {}, serial {})",
        i.entry.subject, i.entry.thumbprint, i.entry.serial
    );
    if i.matched > 1 {
        println!(
            "  {} certificates matched; chose the one the agent can use (private key, time-valid, latest expiry)",
            i.matched
        );
    }
    println!("Wrote to {}:", i.registry);
    println!("  [{}]", facts::MACHINE_SETTINGS_KEY);
    println!(
        "  \"{}\"=hex:{}",
        facts::SERIAL_VALUE,
        i.serial_value
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    println!("  \"{}\"=\"{}\"", facts::HASH_VALUE, i.hash_value);
    if let Some(r) = &i.replaced {
        println!(
            "  (replaces serial {} reversed)",
            adcs_proto::hex::hex(r).to_ascii_uppercase()
        );
    }
    for w in i.report.findings.iter().filter(|f| f.is_warning()) {
        eprintln!("warning: {}", w.message);
    }
    println!("Restart the Microsoft Monitoring Agent (HealthService) so the agent loads it.");
}

fn import_json(i: &scom::Imported) -> serde_json::Value {
    json!({
        "imported": true,
        "thumbprint": i.entry.thumbprint,
        "serial": i.entry.serial,
        "subject": i.entry.subject,
        "registry": i.registry,
        "channel_certificate_serial_number": adcs_proto::hex::hex(&i.serial_value),
        "channel_certificate_hash": i.hash_value,
        "replaced": i.replaced.as_deref().map(adcs_proto::hex::hex),
        "matched": i.matched,
        "from_pfx": i.from_pfx,
        "report": i.report,
    })
}

fn report_exit(report: &Report) -> ExitCode {
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHECK_FAILED)
    }
}

pub fn run(action: ScomAction) -> Result<ExitCode, String> {
    match action {
        ScomAction::Import(a) => import(a),
        ScomAction::Remove(a) => remove(a),
        ScomAction::Check(a) => check(a),
        ScomAction::Renew(a) => renew(a),
        ScomAction::Enroll(a) => enroll(a),
        ScomAction::Inf(a) => inf(a),
    }
}

fn import(a: ImportCmd) -> Result<ExitCode, String> {
    let ImportCmd {
        pick,
        pfx,
        pfx_password: pw,
        force,
        check,
        store,
        registry,
        json,
    } = a;
    let selector = match (pfx, pick.selector()) {
        (Some(path), _) => Selector::Pfx {
            path,
            password: pfx_password(pw)?,
        },
        (None, Some(s)) => s,
        (None, None) => Selector::Subject(check.fqdn()),
    };
    let st = store.open()?;
    let mut reg = registry.open(&store)?;
    let opts = ImportOptions {
        check: check.options(),
        force,
    };
    match scom::import(&st, reg.as_mut(), &selector, &opts) {
        Ok(i) => {
            if json {
                println!("{}", import_json(&i));
            } else {
                print_import(&i);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => failure(e, json),
    }
}

fn remove(a: RemoveCmd) -> Result<ExitCode, String> {
    let RemoveCmd {
        store,
        registry,
        json,
    } = a;
    let mut reg = registry.open(&store)?;
    let removed = scom::remove(reg.as_mut()).map_err(|e| e.to_string())?;
    let any = removed.serial.is_some() || removed.hash.is_some();
    if json {
        println!(
            "{}",
            json!({
                "removed": any,
                "channel_certificate_serial_number": removed.serial.as_deref().map(adcs_proto::hex::hex),
                "channel_certificate_hash": removed.hash,
                "registry": reg.describe(),
            })
        );
    } else if any {
        println!(
            "Removed the SCOM certificate configuration from {} ({} and {}); the certificate stays in My.",
            reg.describe(),
            facts::SERIAL_VALUE,
            facts::HASH_VALUE
        );
    } else {
        println!("No SCOM certificate was configured in {}.", reg.describe());
    }
    Ok(ExitCode::SUCCESS)
}

fn check(a: CheckCmd) -> Result<ExitCode, String> {
    let CheckCmd {
        pick,
        cert,
        pfx,
        pfx_password: pw,
        request,
        inf,
        no_registry,
        for_export,
        check,
        store,
        registry,
        json,
    } = a;
    let given = [
        cert.is_some(),
        pfx.is_some(),
        request.is_some(),
        inf.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count()
        + usize::from(pick.selector().is_some());
    if given > 1 {
        return Err("name one thing to check: --subject, --serial, --thumbprint, --cert, --pfx, --request or --inf".into());
    }
    let target = if let Some(s) = pick.selector() {
        CheckTarget::Store(s)
    } else if let Some(p) = cert {
        CheckTarget::File(p)
    } else if let Some(p) = pfx {
        CheckTarget::Pfx {
            path: p,
            password: pfx_password(pw)?,
        }
    } else if let Some(p) = request {
        CheckTarget::Request(p)
    } else if let Some(p) = inf {
        CheckTarget::Inf(p)
    } else {
        CheckTarget::Configured
    };
    if no_registry && matches!(target, CheckTarget::Configured) {
        return Err("--no-registry needs a certificate to check (--subject, --thumbprint, --cert, --pfx …): without the registry there is no configured one".into());
    }
    let st = store.open()?;
    let reg = registry.open(&store)?;
    let reg_ref: Option<&dyn Registry> = (!no_registry).then_some(reg.as_ref());
    let opts = CheckOptions {
        for_export,
        ..check.options()
    };
    let report = scom::check(&st, reg_ref, &target, &opts).map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            json!({
                "ok": report.ok(),
                "events": report.events(),
                "verdict": report.verdict(),
                "report": report,
            })
        );
    } else {
        print!("{}", render(&report));
    }
    Ok(report_exit(&report))
}

fn renew(a: RenewCmd) -> Result<ExitCode, String> {
    let RenewCmd {
        connect,
        pick,
        new_key,
        template,
        wait,
        check,
        registry,
        json,
    } = a;
    let endpoint = connect.endpoint()?;
    let st = connect.store_arg().open()?;
    let mut reg = registry.open(connect.store_arg())?;
    let opts = scom::ScomRenewOptions {
        new_key,
        template,
        enroll: wait.enroll_options(check.now),
        check: check.options(),
    };
    let mut progress = |p: Progress| eprintln!("{}", progress_line(&p));
    let selector = pick.selector();
    match scom::renew(
        &endpoint,
        &st,
        reg.as_mut(),
        selector.as_ref(),
        &opts,
        &mut progress,
    ) {
        Ok(r) => {
            let new = &r.enrolled.accepted.entry;
            if json {
                println!(
                    "{}",
                    json!({
                        "request_id": r.enrolled.id,
                        "same_key": r.same_key,
                        "template": r.template,
                        "old": { "thumbprint": r.old.thumbprint, "serial": r.old.serial },
                        "new": { "thumbprint": new.thumbprint, "serial": new.serial, "not_after": new.not_after },
                        "imported": r.imported.as_ref().map(import_json),
                    })
                );
            } else {
                println!(
                    "Renewed `{}` with {} (request {}): serial {} → {}",
                    r.old.subject,
                    if r.same_key {
                        "the same key"
                    } else {
                        "a new key"
                    },
                    r.enrolled.id,
                    r.old.serial,
                    new.serial
                );
                println!("New certificate: thumbprint {}", new.thumbprint);
                match &r.imported {
                    Some(i) => print_import(i),
                    None => println!(
                        "The renewed certificate was not SCOM's; run `scom import --thumbprint {}` to use it.",
                        new.thumbprint
                    ),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => failure(e, json),
    }
}

fn enroll(a: EnrollCmd) -> Result<ExitCode, String> {
    let EnrollCmd {
        connect,
        ca_thumbprint,
        inf,
        template,
        no_template,
        exportable,
        web_portal,
        export_pfx,
        pfx_password: pw,
        legacy,
        force,
        wait,
        check,
        registry,
        json,
    } = a;
    let endpoint = connect.endpoint()?;
    let st = connect.store_arg().open()?;
    let mut reg = registry.open(connect.store_arg())?;
    let export = match export_pfx {
        Some(p) => Some((
            p,
            pfx_password(pw)?,
            if legacy {
                PfxFormat::Legacy3Des
            } else {
                PfxFormat::Aes256
            },
        )),
        None => None,
    };
    let opts = scom::ScomEnrollOptions {
        fqdn: check.fqdn(),
        inf,
        template: (!no_template).then_some(template),
        exportable: exportable || export.is_some(),
        web_portal,
        ca_thumbprint,
        enroll: wait.enroll_options(check.now),
        check: check.options(),
        force,
        export,
    };
    let mut progress = |p: Progress| eprintln!("{}", progress_line(&p));
    match scom::enroll(&endpoint, &st, reg.as_mut(), &opts, &mut progress) {
        Ok(done) => {
            if json {
                let added = match &done.trust {
                    scom::TrustStep::Pinned { added } | scom::TrustStep::Verified { added } => added
                        .iter()
                        .map(|e| json!({ "store": e.store, "thumbprint": e.thumbprint, "subject": e.subject }))
                        .collect::<Vec<_>>(),
                };
                println!(
                    "{}",
                    json!({
                        "ok": done.report.ok(),
                        "trusted": added,
                        "request_id": done.request_id,
                        "imported": import_json(&done.imported),
                        "events": done.report.events(),
                        "verdict": done.report.verdict(),
                        "report": done.report,
                        "exported": done.exported.as_ref().map(|p| p.display().to_string()),
                    })
                );
            } else {
                match &done.trust {
                    scom::TrustStep::Pinned { added } | scom::TrustStep::Verified { added } => {
                        for e in added {
                            println!(
                                "Trusted: {} store: {} ({})",
                                e.store, e.thumbprint, e.subject
                            );
                        }
                    }
                }
                for w in &done.warnings {
                    eprintln!("{w}");
                }
                if let Some(id) = done.request_id {
                    println!("RequestId: {id}");
                }
                print_import(&done.imported);
                print!("{}", render(&done.report));
                if let Some(p) = &done.exported {
                    println!("PFX for another machine written to {}", p.display());
                }
            }
            Ok(report_exit(&done.report))
        }
        Err(e) => failure(e, json),
    }
}

fn inf(a: InfCmd) -> Result<ExitCode, String> {
    let InfCmd {
        fqdn,
        template,
        no_template,
        exportable,
        out,
    } = a;
    let fqdn = fqdn.unwrap_or_else(facts::machine_fqdn);
    let text = facts::scom_inf(&fqdn, (!no_template).then_some(&template), exportable);
    match out {
        Some(p) => {
            adcs_client::flow::write_file(&p, text.as_bytes()).map_err(|e| e.to_string())?;
            println!("Written to {}", p.display());
        }
        None => print!("{}", text.replace("\r\n", "\n")),
    }
    Ok(ExitCode::SUCCESS)
}

/// `import`'s arguments.
#[derive(Args)]
pub struct ImportCmd {
    #[command(flatten)]
    pub pick: Pick,
    /// A PFX to import into My and configure (MOMCertImport FILE.pfx /Password).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["subject", "serial", "thumbprint"])]
    pub pfx: Option<PathBuf>,
    /// The PFX password (or ADCS_HARNESS_PFX_PASSWORD).
    #[arg(long, env = "ADCS_HARNESS_PFX_PASSWORD", hide_env_values = true)]
    pub pfx_password: Option<String>,
    /// Configure it even if the agent would refuse it.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub registry: RegistryArg,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `remove`'s arguments.
#[derive(Args)]
pub struct RemoveCmd {
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub registry: RegistryArg,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `check`'s arguments.
#[derive(Args)]
pub struct CheckCmd {
    #[command(flatten)]
    pub pick: Pick,
    /// A certificate file (PEM or DER).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// A PFX file (its password in --pfx-password).
    #[arg(long, value_name = "FILE")]
    pub pfx: Option<PathBuf>,
    #[arg(long, env = "ADCS_HARNESS_PFX_PASSWORD", hide_env_values = true)]
    pub pfx_password: Option<String>,
    /// A request file, before it is submitted.
    #[arg(long, value_name = "FILE")]
    pub request: Option<PathBuf>,
    /// An INF, before `req new`.
    #[arg(long, value_name = "FILE")]
    pub inf: Option<PathBuf>,
    /// Leave out the registry rules (a certificate not imported yet).
    #[arg(long)]
    pub no_registry: bool,
    /// The certificate is for another machine (to be exported as a PFX):
    /// warn when its key is not exportable.
    #[arg(long)]
    pub for_export: bool,
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub registry: RegistryArg,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `renew`'s arguments.
#[derive(Args)]
pub struct RenewCmd {
    #[command(flatten)]
    pub connect: Connect,
    #[command(flatten)]
    pub pick: Pick,
    /// Renew with a new key pair.
    #[arg(long)]
    pub new_key: bool,
    /// The template to ask for (default: the certificate's own).
    #[arg(long)]
    pub template: Option<String>,
    #[command(flatten)]
    pub wait: WaitArgs,
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub registry: RegistryArg,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `enroll`'s arguments.
#[derive(Args)]
pub struct EnrollCmd {
    #[command(flatten)]
    pub connect: Connect,
    /// Pin the CA's root by its SHA-1 thumbprint for the first download.
    #[arg(long, value_name = "SHA1")]
    pub ca_thumbprint: Option<String>,
    /// Use this INF instead of the built-in SCOM INF.
    #[arg(long, value_name = "FILE")]
    pub inf: Option<PathBuf>,
    /// The template the built-in INF names.
    #[arg(long, default_value = facts::DEFAULT_TEMPLATE, conflicts_with = "no_template")]
    pub template: String,
    /// Name no template (a stand-alone CA ignores it anyway).
    #[arg(long)]
    pub no_template: bool,
    /// An exportable key (the certificate is for another machine).
    #[arg(long)]
    pub exportable: bool,
    /// The web-portal path: the CA makes the key ("Create and submit a
    /// request to this CA") and answers with a PFX (harness CA only).
    #[arg(long, conflicts_with = "inf")]
    pub web_portal: bool,
    /// Also write the certificate with its key as a PFX.
    #[arg(long, value_name = "FILE", requires = "pfx_password")]
    pub export_pfx: Option<PathBuf>,
    #[arg(long, env = "ADCS_HARNESS_PFX_PASSWORD", hide_env_values = true)]
    pub pfx_password: Option<String>,
    /// 3DES/SHA-1 PFX for Windows before 10 1709 / Server 2019.
    #[arg(long)]
    pub legacy: bool,
    /// Configure SCOM even if the agent would refuse the certificate.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub registry: RegistryArg,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `inf`'s arguments.
#[derive(Args)]
pub struct InfCmd {
    /// The computer's FQDN for the subject and DNS name; this machine's name by default.
    #[arg(long, value_name = "NAME")]
    pub fqdn: Option<String>,
    /// The certificate template to ask for (the `CertificateTemplate` request attribute).
    #[arg(long, default_value = facts::DEFAULT_TEMPLATE, conflicts_with = "no_template")]
    pub template: String,
    /// Leave the template out of the INF (for a stand-alone CA).
    #[arg(long)]
    pub no_template: bool,
    /// Make the key exportable (`Exportable = TRUE`).
    #[arg(long)]
    pub exportable: bool,
    pub out: Option<PathBuf>,
}
