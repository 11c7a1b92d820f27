//! `adcs-harness`: the one command-line tool. Every verb is a thin call into
//! the libraries (`mock_ca`, `adcs_client`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mock_ca::{
    Ca, CaConfig, CaMode, Clock, CrlKind, Disposition, KeyAlgorithm, Requester, RevocationReason,
    Seed,
};

#[derive(Parser)]
#[command(
    name = "adcs-harness",
    version,
    about = "A test harness that stands in for Microsoft AD CS web enrollment"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Operate a CA kept in a state directory (no server needed).
    Ca {
        /// The CA's state directory (made by `init`).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        #[command(subcommand)]
        action: CaAction,
    },
}

#[derive(Subcommand)]
enum CaAction {
    /// Create a new CA in the state directory.
    Init {
        #[arg(long, default_value = "enterprise")]
        mode: CaMode,
        /// Seed for every random choice; printed when not given.
        #[arg(long)]
        seed: Option<u64>,
        /// A root CA plus an issuing CA instead of one self-signed CA.
        #[arg(long)]
        two_tier: bool,
        /// CA key: rsa2048, rsa3072, rsa4096, p256, p384, p521.
        #[arg(long, default_value = "rsa2048")]
        key: KeyAlgorithm,
        /// Configuration (JSON) replacing the defaults.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Submit a request file (PEM or DER) as a user; prints disposition and ID.
    Submit {
        request: PathBuf,
        #[arg(long)]
        template: Option<String>,
        /// Extra request attribute `Name:Value` (repeatable).
        #[arg(long = "attrib", value_name = "NAME:VALUE")]
        attributes: Vec<String>,
        #[arg(long, default_value = "CONTOSO\\Administrator")]
        user: String,
        /// Group memberships of the user (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Where to write the certificate (PEM) when issued.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List requests, optionally one disposition.
    List {
        #[arg(long)]
        disposition: Option<Disposition>,
    },
    /// Issue a pending request.
    Issue { id: u32 },
    /// Deny a pending request.
    Deny { id: u32 },
    /// Revoke a certificate by serial number.
    Revoke {
        serial: String,
        #[arg(long, default_value = "unspecified")]
        reason: RevocationReason,
    },
    /// Take a certificate off hold.
    Unrevoke { serial: String },
    /// Publish a CRL and write it (PEM).
    Crl {
        #[arg(long)]
        delta: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// Renew the CA certificate.
    Renew {
        #[arg(long)]
        new_key: bool,
    },
    /// Write the CA certificates and keys (PEM) into a folder.
    Export { out_dir: PathBuf },
}

const OFFICER: &str = "CONTOSO\\Administrator";

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\r\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push_str("\r\n");
    }
    s.push_str(&format!("-----END {label}-----\r\n"));
    s
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn open(dir: &Path) -> Result<Ca, String> {
    if !mock_ca::store::StateDir::exists(dir) {
        return Err(format!(
            "{}: no CA here; create one with `adcs-harness ca --state-dir {} init`",
            dir.display(),
            dir.display()
        ));
    }
    Ca::open(dir, CaConfig::default(), Seed(0), Clock::real()).map_err(|e| e.to_string())
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    let Command::Ca { state_dir, action } = cli.command;
    match action {
        CaAction::Init {
            mode,
            seed,
            two_tier,
            key,
            config,
        } => {
            if mock_ca::store::StateDir::exists(&state_dir) {
                return Err(format!("{}: a CA already exists here", state_dir.display()));
            }
            let mut cfg = match config {
                Some(p) => {
                    let text =
                        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    serde_json::from_str(&text).map_err(|e| {
                        format!(
                            "{}: line {}, column {}: {e}",
                            p.display(),
                            e.line(),
                            e.column()
                        )
                    })?
                }
                None => CaConfig::default(),
            };
            cfg.mode = mode;
            cfg.two_tier |= two_tier;
            cfg.ca_key = key;
            cfg.root_key = key;
            let seed = seed.map(Seed).unwrap_or_else(Seed::random);
            let ca = Ca::open(&state_dir, cfg, seed, Clock::real()).map_err(|e| e.to_string())?;
            println!(
                "created {:?} CA `{}` in {}",
                ca.config().mode,
                ca.config().ca_name,
                state_dir.display()
            );
            println!("seed {}", ca.seed());
        }
        CaAction::Submit {
            request,
            template,
            attributes,
            user,
            groups,
            out,
        } => {
            let ca = open(&state_dir)?;
            let bytes =
                std::fs::read(&request).map_err(|e| format!("{}: {e}", request.display()))?;
            let mut attrs = Vec::new();
            if let Some(t) = template {
                attrs.push(("CertificateTemplate".to_string(), t));
            }
            for a in attributes {
                let (n, v) = a
                    .split_once(':')
                    .ok_or_else(|| format!("--attrib `{a}`: expected NAME:VALUE"))?;
                attrs.push((n.trim().to_string(), v.trim().to_string()));
            }
            let mut requester = Requester::new(&user);
            requester.groups = groups;
            let s = ca
                .submit(&bytes, &requester, &attrs)
                .map_err(|e| e.to_string())?;
            println!(
                "request {}: {} ({}) {}",
                s.id,
                s.disposition.as_str(),
                s.status.status_text(),
                s.message
            );
            if let (Some(out), Some(cert)) = (out, &s.certificate) {
                write_file(&out, &pem("CERTIFICATE", cert))?;
                println!("certificate written to {}", out.display());
            }
            return Ok(ExitCode::from(match s.disposition {
                Disposition::Issued => 0,
                Disposition::Pending => 3,
                Disposition::Denied | Disposition::Revoked => 4,
                Disposition::Failed => 5,
            }));
        }
        CaAction::List { disposition } => {
            let ca = open(&state_dir)?;
            for r in ca.list(disposition) {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    r.disposition.as_str(),
                    r.requester.account,
                    r.template.as_deref().unwrap_or("-"),
                    r.serial.as_deref().unwrap_or("-"),
                    r.disposition_message
                );
            }
        }
        CaAction::Issue { id } => {
            let s = open(&state_dir)?
                .issue_pending(id, OFFICER)
                .map_err(|e| e.to_string())?;
            println!("request {}: {} {}", s.id, s.disposition.as_str(), s.message);
        }
        CaAction::Deny { id } => {
            let s = open(&state_dir)?
                .deny(id, OFFICER)
                .map_err(|e| e.to_string())?;
            println!("request {}: {} {}", s.id, s.disposition.as_str(), s.message);
        }
        CaAction::Revoke { serial, reason } => {
            let r = open(&state_dir)?
                .revoke(&serial, reason, OFFICER)
                .map_err(|e| e.to_string())?;
            println!("request {}: revoked ({reason:?})", r.id);
        }
        CaAction::Unrevoke { serial } => {
            let r = open(&state_dir)?
                .unrevoke(&serial, OFFICER)
                .map_err(|e| e.to_string())?;
            println!("request {}: {}", r.id, r.disposition.as_str());
        }
        CaAction::Crl { delta, out } => {
            let der = open(&state_dir)?
                .publish_crl(if delta { CrlKind::Delta } else { CrlKind::Base })
                .map_err(|e| e.to_string())?;
            write_file(&out, &pem("X509 CRL", &der))?;
            println!("CRL written to {}", out.display());
        }
        CaAction::Renew { new_key } => {
            let i = open(&state_dir)?
                .renew_ca(new_key)
                .map_err(|e| e.to_string())?;
            println!("CA certificate {i} issued (nRenewals={i})");
        }
        CaAction::Export { out_dir } => {
            let ca = open(&state_dir)?;
            std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
            write_file(
                &out_dir.join("root.pem"),
                &pem("CERTIFICATE", &ca.root_certificate()),
            )?;
            for i in 0..=ca.n_renewals() {
                let cert = ca.ca_certificate(i).unwrap_or_default();
                write_file(
                    &out_dir.join(format!("ca-{i}.pem")),
                    &pem("CERTIFICATE", &cert),
                )?;
                if let Some(key) = ca.ca_key_index(i).and_then(|k| ca.ca_private_key(k)) {
                    write_file(
                        &out_dir.join(format!("ca-{i}.key")),
                        &pem("PRIVATE KEY", &key),
                    )?;
                }
            }
            println!("CA certificates and keys written to {}", out_dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("adcs-harness: {e}");
            ExitCode::FAILURE
        }
    }
}
