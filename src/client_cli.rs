//! `req`, `ca-cert` and `store`: the certreq/certutil-style client verbs,
//! thin over `adcs_client::flow` and `adcs_client::store`.
//!
//! Exit codes: 0 done (issued), 1 error, 2 usage, 3 pending, 4 denied,
//! 5 CA error page, 6 sign-in refused.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use adcs_client::certsrv::{EnrollError, Outcome};
use adcs_client::flow::{
    self, CaDownload, CaEndpoint, EnrollOptions, FlowError, NewOptions, Progress,
};
use adcs_client::http::Credentials;
use adcs_client::store::{Entry, PfxFormat, Store, StoreName};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

/// Exit code for a request still pending.
pub const EXIT_PENDING: u8 = 3;
/// Exit code for a denied request.
pub const EXIT_DENIED: u8 = 4;
/// Exit code for the CA's error page.
pub const EXIT_CA_ERROR: u8 = 5;
/// Exit code when the server refuses the credentials.
pub const EXIT_UNAUTHORIZED: u8 = 6;

/// Where the certificate store lives.
#[derive(Args, Clone)]
pub struct StoreArg {
    /// Folder of the certificate store (My, Root, CA, REQUEST, Keys).
    #[arg(
        long,
        value_name = "DIR",
        env = "ADCS_HARNESS_STORE",
        default_value = "adcs-store"
    )]
    store: PathBuf,
}

impl StoreArg {
    pub fn open(&self) -> Result<Store, String> {
        Store::open(&self.store).map_err(|e| e.to_string())
    }

    /// The store folder.
    pub fn path(&self) -> &Path {
        &self.store
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AuthKind {
    Basic,
    Ntlm,
    /// NTLM tokens under the `Negotiate` label (what browsers send to IIS).
    Negotiate,
}

/// How to reach and sign in to the CA's web enrollment pages.
#[derive(Args, Clone)]
pub struct Connect {
    /// The certsrv URL, e.g. `https://ca.contoso.com/certsrv/`.
    #[arg(long, value_name = "URL")]
    server: String,
    /// Account (`DOMAIN\user`, `user@domain` or `user`).
    #[arg(long)]
    user: Option<String>,
    /// Password; better given in ADCS_HARNESS_PASSWORD than on the command line.
    #[arg(long, env = "ADCS_HARNESS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    #[arg(long, value_enum, default_value = "ntlm")]
    auth: AuthKind,
    /// PEM/DER file of root certificates to trust for HTTPS, besides the
    /// store's Root.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArg,
}

impl Connect {
    /// The store these flags name.
    pub fn store_arg(&self) -> &StoreArg {
        &self.store
    }

    pub fn endpoint(&self) -> Result<CaEndpoint, String> {
        let credentials = match (&self.user, &self.password) {
            (None, _) => Credentials::None,
            (Some(_), None) => {
                return Err(
                    "--user needs a password: give --password or set ADCS_HARNESS_PASSWORD".into(),
                )
            }
            (Some(u), Some(p)) => match self.auth {
                AuthKind::Basic => Credentials::Basic {
                    user: u.clone(),
                    password: p.clone(),
                },
                AuthKind::Ntlm | AuthKind::Negotiate => Credentials::Ntlm {
                    user: u.clone(),
                    password: p.clone(),
                    negotiate_label: matches!(self.auth, AuthKind::Negotiate),
                },
            },
        };
        let store = self.store.open()?;
        let trust = flow::trust_from(&store, self.ca_file.as_deref()).map_err(|e| e.to_string())?;
        Ok(CaEndpoint {
            url: self.server.clone(),
            trust,
            credentials,
        })
    }
}

#[derive(Subcommand)]
pub enum ReqAction {
    /// certreq -new: key + request from an INF; the key waits in the store.
    New {
        inf: PathBuf,
        /// Where to write the request (PEM); standard output when omitted.
        out: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArg,
        /// Seed for the key, for reproducible runs.
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// certreq -submit: send a request; prints the disposition and request ID.
    Submit {
        #[command(flatten)]
        connect: Connect,
        #[arg(long)]
        template: Option<String>,
        /// Request attribute `Name:Value` (repeatable).
        #[arg(long = "attrib", value_name = "NAME:VALUE")]
        attributes: Vec<String>,
        request: PathBuf,
        /// Where to write the certificate (PEM) when issued.
        out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// certreq -retrieve: fetch the certificate of a request ID.
    Retrieve {
        #[command(flatten)]
        connect: Connect,
        id: u32,
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// certreq -accept: install an issued certificate with its waiting key.
    Accept {
        certificate: PathBuf,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
    /// new + submit + wait for approval + retrieve + accept, in one go.
    Enroll {
        #[command(flatten)]
        connect: Connect,
        inf: PathBuf,
        #[arg(long)]
        template: Option<String>,
        #[arg(long = "attrib", value_name = "NAME:VALUE")]
        attributes: Vec<String>,
        /// Seconds between checks of a pending request.
        #[arg(long, default_value_t = 2.0)]
        poll_interval: f64,
        /// Seconds to wait for approval before giving up (exit 3).
        #[arg(long, default_value_t = 300.0)]
        wait: f64,
        /// Also write the request (PEM) here.
        #[arg(long, value_name = "FILE")]
        request_out: Option<PathBuf>,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum What {
    Cert,
    Chain,
    Crl,
    DeltaCrl,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Encoding {
    B64,
    Bin,
}

#[derive(Subcommand)]
pub enum CaCertAction {
    /// Download the CA certificate, chain (PKCS#7) or CRL.
    Download {
        #[command(flatten)]
        connect: Connect,
        #[arg(long, value_enum, default_value = "cert")]
        what: What,
        /// CA certificate index (0 = first); the newest when omitted.
        #[arg(long)]
        renewal: Option<u16>,
        #[arg(long, value_enum, default_value = "b64")]
        encoding: Encoding,
        /// Accept the download only if the CA's root has this SHA-1
        /// thumbprint (the first download, before any root is trusted).
        #[arg(long, value_name = "SHA1")]
        ca_thumbprint: Option<String>,
        /// Also add the certificates to the store (roots to Root, others to CA).
        #[arg(long)]
        import: bool,
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum StoreAction {
    /// List certificates (or, with --name REQUEST, the waiting requests).
    List {
        #[command(flatten)]
        store: StoreArg,
        /// My, Root, CA or REQUEST; all stores when omitted.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Import a certificate (into --name) or a PFX (into My, with its key).
    Import {
        #[command(flatten)]
        store: StoreArg,
        #[arg(long, default_value = "My")]
        name: StoreName,
        file: PathBuf,
        /// PFX password (or ADCS_HARNESS_PFX_PASSWORD).
        #[arg(long, env = "ADCS_HARNESS_PFX_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Export a My certificate with its key and chain as a PFX.
    Export {
        #[command(flatten)]
        store: StoreArg,
        /// Thumbprint, serial number or subject text.
        selector: String,
        out: PathBuf,
        #[arg(long, env = "ADCS_HARNESS_PFX_PASSWORD", hide_env_values = true)]
        password: String,
        /// 3DES/SHA-1 instead of AES-256, for Windows before 10 1709 / Server 2019.
        #[arg(long)]
        legacy: bool,
    },
    /// certutil -repairstore: re-link a My certificate to its private key.
    Repair {
        #[command(flatten)]
        store: StoreArg,
        selector: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a certificate (a key stays, as on Windows).
    Delete {
        #[command(flatten)]
        store: StoreArg,
        #[arg(long, default_value = "My")]
        name: StoreName,
        selector: String,
    },
}

fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Exit code and message for a failed flow.
pub fn flow_failure(e: FlowError) -> Result<ExitCode, String> {
    match &e {
        FlowError::Enroll(EnrollError::Unauthorized(_)) => {
            eprintln!("adcs-harness: {e}");
            Ok(ExitCode::from(EXIT_UNAUTHORIZED))
        }
        FlowError::StillPending { .. } => {
            eprintln!("adcs-harness: {e}");
            Ok(ExitCode::from(EXIT_PENDING))
        }
        FlowError::NotIssued { outcome, .. } => {
            eprintln!("adcs-harness: {e}");
            Ok(ExitCode::from(if outcome.contains("denied") {
                EXIT_DENIED
            } else {
                EXIT_CA_ERROR
            }))
        }
        _ => Err(e.to_string()),
    }
}

/// One line of `enroll` progress.
pub fn progress_line(p: &Progress) -> String {
    match p {
        Progress::Created { subject } => format!("Request created for {subject}"),
        Progress::Submitted { id: Some(id) } => {
            format!("Request {id} is pending approval by a certificate manager")
        }
        Progress::Submitted { id: None } => "Request submitted".into(),
        Progress::Waiting { id, attempt } => {
            format!("Waiting for request {id} (check {attempt})")
        }
        Progress::Issued { id } => format!("Request {id} issued"),
    }
}

fn parse_attributes(list: &[String]) -> Result<Vec<(String, String)>, String> {
    flow::parse_attributes(list).map_err(|e| format!("--attrib: {e}"))
}

fn print_warnings(warnings: &[adcs_client::inf::InfWarning]) {
    for w in warnings {
        eprintln!("{w}");
    }
}

fn entry_json(e: &Entry) -> serde_json::Value {
    serde_json::to_value(e).expect("serialisable")
}

fn print_entry(e: &Entry) {
    println!("{} store: {}", e.store, e.thumbprint);
    println!("  Serial Number: {}", e.serial);
    println!("  Issuer: {}", e.issuer);
    println!("  Subject: {}", e.subject);
    println!(
        "  NotBefore: {}  NotAfter: {}",
        adcs_proto::x509::rfc3339(e.not_before),
        adcs_proto::x509::rfc3339(e.not_after)
    );
    if let Some(f) = &e.properties.friendly_name {
        println!("  Friendly name: {f}");
    }
    match (&e.properties.key_container, e.has_private_key) {
        (Some(c), true) => println!("  Key Container = {c}\n  Private key is present"),
        (Some(c), false) => println!("  Key Container = {c}\n  Missing stored keyset"),
        (None, _) => println!("  No key provider information"),
    }
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
        ReqAction::New {
            inf,
            out,
            store,
            seed,
            json,
        } => {
            let store = store.open()?;
            let opts = NewOptions {
                seed: seed.map(adcs_proto::seed::Seed),
                ..NewOptions::default()
            };
            let created = flow::new_from_inf(&inf, out.as_deref(), &store, &opts).map_err(fail)?;
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
                        store.path().join("REQUEST").display(),
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
        ReqAction::Submit {
            connect,
            template,
            attributes,
            request,
            out,
            json,
        } => {
            let attributes =
                flow::cert_attributes(template.as_deref(), &parse_attributes(&attributes)?);
            let mut web = connect.endpoint()?.connect().map_err(fail)?;
            match flow::submit_file(&mut web, &request, &attributes) {
                Ok(o) => report_outcome(&o, out.as_deref(), json),
                Err(e) => flow_failure(e),
            }
        }
        ReqAction::Retrieve {
            connect,
            id,
            out,
            json,
        } => {
            let mut web = connect.endpoint()?.connect().map_err(fail)?;
            match web.retrieve(id) {
                Ok(o) => report_outcome(&o, Some(&out), json),
                Err(e) => flow_failure(e.into()),
            }
        }
        ReqAction::Accept {
            certificate,
            store,
            json,
        } => {
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
        ReqAction::Enroll {
            connect,
            inf,
            template,
            attributes,
            poll_interval,
            wait,
            request_out,
            seed,
            json,
        } => {
            let endpoint = connect.endpoint()?;
            let store = connect.store.open()?;
            let opts = EnrollOptions {
                new: NewOptions {
                    seed: seed.map(adcs_proto::seed::Seed),
                    ..NewOptions::default()
                },
                template,
                attributes: parse_attributes(&attributes)?,
                poll_interval: Duration::from_secs_f64(poll_interval.max(0.0)),
                wait: Duration::from_secs_f64(wait.max(0.0)),
            };
            let mut progress = |p: Progress| eprintln!("{}", progress_line(&p));
            match flow::enroll(&endpoint, &inf, &store, &opts, &mut progress) {
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
    }
}

pub fn run_ca_cert(action: CaCertAction) -> Result<ExitCode, String> {
    let CaCertAction::Download {
        connect,
        what,
        renewal,
        encoding,
        ca_thumbprint,
        import,
        out,
    } = action;
    let endpoint = connect.endpoint()?;
    let kind = match what {
        What::Cert => CaDownload::Certificate,
        What::Chain => CaDownload::Chain,
        What::Crl => CaDownload::Crl,
        What::DeltaCrl => CaDownload::DeltaCrl,
    };
    let der = match flow::download_ca(&endpoint, kind, renewal, ca_thumbprint.as_deref()) {
        Ok(d) => d,
        Err(e) => return flow_failure(e),
    };
    let label = match kind {
        CaDownload::Certificate => "CERTIFICATE",
        CaDownload::Chain => "PKCS7",
        CaDownload::Crl | CaDownload::DeltaCrl => "X509 CRL",
    };
    let bytes = match encoding {
        Encoding::Bin => der.clone(),
        Encoding::B64 => adcs_proto::encoding::pem(label, &der).into_bytes(),
    };
    flow::write_file(&out, &bytes).map_err(fail)?;
    println!("Written to {}", out.display());
    if import {
        if matches!(kind, CaDownload::Crl | CaDownload::DeltaCrl) {
            return Err("--import takes certificates, not CRLs".into());
        }
        let store = connect.store.open()?;
        let certs = adcs_client::store::read_certificates(&der)?;
        for c in certs {
            let name = if adcs_client::store::is_self_signed(&c) {
                StoreName::Root
            } else {
                StoreName::Ca
            };
            let e = store.import_certificate(name, &c).map_err(fail)?;
            println!("Added to {name}: {} ({})", e.thumbprint, e.subject);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_store(action: StoreAction) -> Result<ExitCode, String> {
    match action {
        StoreAction::List { store, name, json } => {
            let store = store.open()?;
            let wants = |n: &str| name.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(n));
            let mut entries = Vec::new();
            for n in StoreName::ALL {
                if wants(n.folder()) {
                    entries.extend(store.list(n).map_err(fail)?);
                }
            }
            let pending = if wants("REQUEST") {
                store.pending().map_err(fail)?
            } else {
                Vec::new()
            };
            if let Some(n) = &name {
                if !StoreName::ALL
                    .iter()
                    .any(|s| s.folder().eq_ignore_ascii_case(n))
                    && !n.eq_ignore_ascii_case("REQUEST")
                {
                    return Err(format!("unknown store `{n}` (My, Root, CA or REQUEST)"));
                }
            }
            if json {
                println!(
                    "{}",
                    json!({
                        "certificates": entries.iter().map(entry_json).collect::<Vec<_>>(),
                        "pending": pending,
                    })
                );
            } else {
                for e in &entries {
                    print_entry(e);
                }
                for p in &pending {
                    println!("REQUEST store: {}", p.key_container);
                    println!("  Subject: {}", p.subject);
                    println!(
                        "  Key: {} ({}, KeySpec {})",
                        p.key_algorithm, p.provider, p.key_spec
                    );
                    if let Some(t) = &p.template {
                        println!("  Template: {t}");
                    }
                }
                println!(
                    "{} certificate(s), {} pending request(s)",
                    entries.len(),
                    pending.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        StoreAction::Import {
            store,
            name,
            file,
            password,
            json,
        } => {
            let store = store.open()?;
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let is_pfx = file
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("pfx") || x.eq_ignore_ascii_case("p12"));
            let entries = if is_pfx {
                let password =
                    password.ok_or("a PFX needs --password (or ADCS_HARNESS_PFX_PASSWORD)")?;
                vec![store
                    .import_pfx(&bytes, &password)
                    .map_err(|e| format!("{}: {e}", file.display()))?]
            } else {
                let certs = adcs_client::store::read_certificates(&bytes)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                let mut out = Vec::new();
                for c in certs {
                    out.push(store.import_certificate(name, &c).map_err(fail)?);
                }
                out
            };
            if json {
                println!(
                    "{}",
                    json!(entries.iter().map(entry_json).collect::<Vec<_>>())
                );
            } else {
                for e in &entries {
                    print_entry(e);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        StoreAction::Export {
            store,
            selector,
            out,
            password,
            legacy,
        } => {
            let store = store.open()?;
            let format = if legacy {
                PfxFormat::Legacy3Des
            } else {
                PfxFormat::Aes256
            };
            let pfx = store
                .export_pfx(&selector, &password, format)
                .map_err(fail)?;
            flow::write_file(&out, &pfx).map_err(fail)?;
            println!("PFX written to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        StoreAction::Repair {
            store,
            selector,
            json,
        } => {
            let store = store.open()?;
            let e = store.repair(&selector).map_err(fail)?;
            if json {
                println!("{}", entry_json(&e));
            } else {
                print_entry(&e);
                println!("CertUtil: -repairstore command completed successfully.");
            }
            Ok(ExitCode::SUCCESS)
        }
        StoreAction::Delete {
            store,
            name,
            selector,
        } => {
            let store = store.open()?;
            let e = store.delete(name, &selector).map_err(fail)?;
            println!("Deleted from {name}: {} ({})", e.thumbprint, e.subject);
            Ok(ExitCode::SUCCESS)
        }
    }
}
