//! `req`: certreq's verbs (new, submit, retrieve, accept) and the whole
//! enrollment in one (enroll), thin over `adcs_client::flow`.

use super::common::*;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use adcs_client::certsrv::Outcome;
use adcs_client::flow::{self, EnrollOptions, NewOptions, Progress};
use adcs_client::inf::{Inf, RequestSpec};
use clap::{Args, Subcommand};
use serde_json::json;

#[derive(Subcommand)]
pub enum ReqAction {
    /// certreq -new: key + request from an INF; the key waits in the store.
    New(NewCmd),
    /// certreq -submit: send a request; prints the disposition and request ID.
    Submit(SubmitCmd),
    /// certreq -retrieve: fetch the certificate of a request ID.
    Retrieve(RetrieveCmd),
    /// certreq -accept: install an issued certificate with its waiting key.
    Accept(AcceptCmd),
    /// new + submit + wait for approval + retrieve + accept, in one go.
    Enroll(EnrollCmd),
    /// A device's SCEP enrollment (NDES): new key, challenge, PKCSReq, polls.
    Scep(super::scep::ScepCmd),
    /// certutil -template: the templates in the directory and whether the
    /// account may enroll in each (read from their DACLs over LDAP).
    Templates(super::directory::DirectoryArgs),
}

/// The outcome of a submit/retrieve: exit code, printed lines, certificate written.
fn report_outcome(outcome: &Outcome, out: Option<&Path>, json: bool) -> Result<ExitCode, String> {
    let (code, state) = match outcome {
        Outcome::Issued { .. } => (ExitCode::SUCCESS, "issued"),
        Outcome::Pending { .. } => (ExitCode::from(EXIT_PENDING), "pending"),
        Outcome::Denied { .. } => (ExitCode::from(EXIT_DENIED), "denied"),
        Outcome::Error { .. } => (ExitCode::from(EXIT_CA_ERROR), "error"),
    };
    if let (Outcome::Issued { certificate, .. }, Some(out)) = (outcome, out) {
        flow::write_file(
            out,
            adcs_proto::encoding::pem("CERTIFICATE", certificate).as_bytes(),
        )
        .map_err(fail)?;
    }
    if json {
        let (id, message, hresult) = match outcome {
            Outcome::Issued { id, .. } | Outcome::Pending { id } => (Some(*id), None, None),
            Outcome::Denied {
                id,
                message,
                hresult,
            } => (*id, Some(message.clone()), *hresult),
            Outcome::Error { message, hresult } => (None, Some(message.clone()), *hresult),
        };
        println!(
            "{}",
            json!({
                "disposition": state,
                "request_id": id,
                "message": message,
                "hresult": hresult.map(|h| h.to_string()),
                "certificate": out.filter(|_| state == "issued").map(|p| p.display().to_string()),
            })
        );
    } else {
        println!("{}", flow::describe_outcome(outcome).replace("\r\n", "\n"));
        if let (Outcome::Issued { .. }, Some(out)) = (outcome, out) {
            println!("Certificate written to {}", out.display());
        }
    }
    Ok(code)
}

pub fn run_req(action: ReqAction) -> Result<ExitCode, String> {
    match action {
        ReqAction::New(a) => new(a),
        ReqAction::Submit(a) => submit(a),
        ReqAction::Retrieve(a) => retrieve(a),
        ReqAction::Accept(a) => accept(a),
        ReqAction::Enroll(a) => enroll(a),
        ReqAction::Scep(a) => super::scep::run(a),
        ReqAction::Templates(a) => super::directory::templates(a),
    }
}

/// The request an INF asks for; `--exportable` makes its key exportable
/// whatever the INF says.
fn read_spec(inf: &Path, exportable: bool) -> Result<RequestSpec, String> {
    let mut spec = RequestSpec::from_inf(&Inf::read(inf).map_err(fail)?).map_err(fail)?;
    spec.exportable |= exportable;
    Ok(spec)
}

fn new(a: NewCmd) -> Result<ExitCode, String> {
    let NewCmd {
        inf,
        out,
        store,
        seed,
        exportable,
        json,
    } = a;
    let store = store.open()?;
    let opts = NewOptions {
        seed: seed.map(adcs_proto::seed::Seed),
        ..NewOptions::default()
    };
    let spec = read_spec(&inf, exportable)?;
    let source = inf.display().to_string();
    let created =
        flow::new_from_spec(&source, spec, out.as_deref(), &store, &opts).map_err(fail)?;
    print_warnings(&created.warnings);
    if json {
        println!(
            "{}",
            json!({
                "request": out.as_ref().map(|p| p.display().to_string()),
                "pending": created.pending,
                "installed": created.installed.as_ref().map(entry_json),
            })
        );
    } else {
        if out.is_none() {
            print!("{}", created.pem);
        }
        if let Some(p) = &created.pending {
            eprintln!(
                "Request created: {} ({}); the key waits in {} as {}",
                p.subject,
                p.key_algorithm,
                store.place("REQUEST"),
                p.key_container
            );
        }
        if let Some(e) = &created.installed {
            eprintln!(
                "Self-signed certificate installed in My: {} ({})",
                e.thumbprint, e.subject
            );
        }
        if let Some(o) = &out {
            eprintln!("Written to {}", o.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn submit(a: SubmitCmd) -> Result<ExitCode, String> {
    let SubmitCmd {
        connect,
        rpc,
        template,
        attributes,
        request,
        out,
        json,
    } = a;
    let attributes = flow::cert_attributes(
        template.as_deref(),
        &parse_attributes(&attributes).map_err(|e| e.to_string())?,
    );
    if let Some(target) = rpc.target(&connect)? {
        let bytes = std::fs::read(&request).map_err(|e| format!("{}: {e}", request.display()))?;
        return match adcs_client::icpr::submit(&target, &bytes, &attributes) {
            Ok(o) => report_outcome(&o, out.as_deref(), json),
            Err(e) => rpc_failure(e),
        };
    }
    let mut web = connect.endpoint()?.connect().map_err(fail)?;
    match flow::submit_file(&mut web, &request, &attributes) {
        Ok(o) => report_outcome(&o, out.as_deref(), json),
        Err(e) => flow_failure(e),
    }
}

fn retrieve(a: RetrieveCmd) -> Result<ExitCode, String> {
    let RetrieveCmd {
        connect,
        rpc,
        id,
        out,
        json,
    } = a;
    if let Some(target) = rpc.target(&connect)? {
        return match adcs_client::icpr::retrieve(&target, id) {
            Ok(o) => report_outcome(&o, Some(&out), json),
            Err(e) => rpc_failure(e),
        };
    }
    let mut web = connect.endpoint()?.connect().map_err(fail)?;
    match web.retrieve(id) {
        Ok(o) => report_outcome(&o, Some(&out), json),
        Err(e) => flow_failure(e.into()),
    }
}

fn accept(a: AcceptCmd) -> Result<ExitCode, String> {
    let AcceptCmd {
        certificate,
        store,
        json,
    } = a;
    let store = store.open()?;
    let accepted = flow::accept_file(&store, &certificate).map_err(fail)?;
    if json {
        println!(
            "{}",
            json!({
                "installed": entry_json(&accepted.entry),
                "intermediates": accepted.intermediates,
                "untrusted_root": accepted.untrusted_root,
            })
        );
    } else {
        print_entry(&accepted.entry);
        for i in &accepted.intermediates {
            println!("Added to CA: {i}");
        }
    }
    if let Some(root) = &accepted.untrusted_root {
        eprintln!("warning: A certificate chain processed, but terminated in a root certificate which is not trusted by the trust provider. 0x800b0109 (-2146762487 CERT_E_UNTRUSTEDROOT): `{root}` is not in Root; add it with `ca-cert download --import` or `store import --name Root`");
    }
    Ok(ExitCode::SUCCESS)
}

fn enroll(a: EnrollCmd) -> Result<ExitCode, String> {
    let EnrollCmd {
        connect,
        inf,
        template,
        attributes,
        poll_interval,
        wait,
        request_out,
        seed,
        exportable,
        json,
    } = a;
    let endpoint = connect.endpoint()?;
    let store = connect.store.open()?;
    let opts = EnrollOptions {
        new: NewOptions {
            seed: seed.map(adcs_proto::seed::Seed),
            ..NewOptions::default()
        },
        template,
        attributes: parse_attributes(&attributes).map_err(|e| e.to_string())?,
        poll_interval: Duration::from_secs_f64(poll_interval.max(0.0)),
        wait: Duration::from_secs_f64(wait.max(0.0)),
    };
    let mut progress = |p: Progress| eprintln!("{}", progress_line(&p));
    let spec = read_spec(&inf, exportable)?;
    let source = inf.display().to_string();
    match flow::enroll_spec(&endpoint, &source, spec, None, &store, &opts, &mut progress) {
        Ok(done) => {
            print_warnings(&done.warnings);
            if let Some(p) = &request_out {
                flow::write_file(p, done.request_pem.as_bytes()).map_err(fail)?;
            }
            if json {
                println!(
                    "{}",
                    json!({
                        "request_id": done.id,
                        "installed": entry_json(&done.accepted.entry),
                        "untrusted_root": done.accepted.untrusted_root,
                    })
                );
            } else {
                println!("RequestId: {}", done.id);
                print_entry(&done.accepted.entry);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => flow_failure(e),
    }
}

/// `new`'s arguments.
#[derive(Args)]
pub struct NewCmd {
    pub inf: PathBuf,
    /// Where to write the request (PEM); standard output when omitted.
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
    /// Seed for the key, for reproducible runs.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Make the key exportable whatever the INF says (`Exportable = TRUE`).
    #[arg(long)]
    pub exportable: bool,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `submit`'s arguments.
#[derive(Args)]
pub struct SubmitCmd {
    #[command(flatten)]
    pub connect: Connect,
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// The certificate template to ask for (the `CertificateTemplate` request attribute).
    #[arg(long)]
    pub template: Option<String>,
    /// Request attribute `Name:Value` (repeatable).
    #[arg(long = "attrib", value_name = "NAME:VALUE")]
    pub attributes: Vec<String>,
    pub request: PathBuf,
    /// Where to write the certificate (PEM) when issued.
    pub out: Option<PathBuf>,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `retrieve`'s arguments.
#[derive(Args)]
pub struct RetrieveCmd {
    #[command(flatten)]
    pub connect: Connect,
    #[command(flatten)]
    pub rpc: RpcArgs,
    pub id: u32,
    pub out: PathBuf,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `accept`'s arguments.
#[derive(Args)]
pub struct AcceptCmd {
    pub certificate: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `enroll`'s arguments.
#[derive(Args)]
pub struct EnrollCmd {
    #[command(flatten)]
    pub connect: Connect,
    pub inf: PathBuf,
    /// The certificate template to ask for (the `CertificateTemplate` request attribute).
    #[arg(long)]
    pub template: Option<String>,
    /// Request attribute `Name:Value` (repeatable).
    #[arg(long = "attrib", value_name = "NAME:VALUE")]
    pub attributes: Vec<String>,
    /// Seconds between checks of a pending request.
    #[arg(long, default_value_t = 2.0)]
    pub poll_interval: f64,
    /// Seconds to wait for approval before giving up (exit 3).
    #[arg(long, default_value_t = 300.0)]
    pub wait: f64,
    /// Also write the request (PEM) here.
    #[arg(long, value_name = "FILE")]
    pub request_out: Option<PathBuf>,
    /// Seed for the key, for reproducible runs.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Make the key exportable whatever the INF says (`Exportable = TRUE`).
    #[arg(long)]
    pub exportable: bool,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}
