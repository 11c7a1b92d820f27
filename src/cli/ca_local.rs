//! `ca --state-dir DIR …`: the CA engine on a state directory, in process.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use adcs_proto::encoding::pem;
use mock_ca::{Ca, CaConfig, CaMode, Clock, CrlKind, Disposition, KeyAlgorithm, Requester, Seed};

use crate::CaAction;
use clap::Args;

const OFFICER: &str = "CONTOSO\\Administrator";

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn open(dir: &Path) -> Result<Ca, String> {
    if !mock_ca::state::StateDir::exists(dir) {
        return Err(format!(
            "{}: no CA here; create one with `adcs-harness ca --state-dir {} init`",
            dir.display(),
            dir.display()
        ));
    }
    Ca::open(dir, CaConfig::default(), Seed(0), Clock::real()).map_err(|e| e.to_string())
}

/// `ca list`'s filters and page (the control plane's `GET requests` takes the same).
#[derive(Args, Debug, Default)]
pub struct ListCmd {
    /// Only this disposition (failed, denied, issued, pending, revoked).
    #[arg(long)]
    pub disposition: Option<Disposition>,
    /// Only requests of this account (`DOMAIN\name`, case ignored).
    #[arg(long, value_name = "ACCOUNT")]
    pub requester: Option<String>,
    /// Only requests for this template (case ignored).
    #[arg(long, value_name = "NAME")]
    pub template: Option<String>,
    /// Only request IDs above this one (the next page after a listing).
    #[arg(long, value_name = "ID")]
    pub after: Option<u32>,
    /// At most this many rows.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Highest request ID first.
    #[arg(long)]
    pub newest_first: bool,
}

impl ListCmd {
    /// The engine's query for these flags.
    pub fn query(&self) -> mock_ca::RowQuery {
        mock_ca::RowQuery {
            dispositions: self.disposition.into_iter().collect(),
            requester: self.requester.clone(),
            template: self.template.clone(),
            after: self.after,
            limit: self.limit,
            newest_first: self.newest_first,
            ..Default::default()
        }
    }

    /// The same as the control plane's query parameters.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if let Some(d) = self.disposition {
            p.push(("disposition", d.as_str().to_string()));
        }
        if let Some(r) = &self.requester {
            p.push(("requester", r.clone()));
        }
        if let Some(t) = &self.template {
            p.push(("template", t.clone()));
        }
        if let Some(a) = self.after {
            p.push(("after", a.to_string()));
        }
        if let Some(l) = self.limit {
            p.push(("limit", l.to_string()));
        }
        if self.newest_first {
            p.push(("order", "desc".to_string()));
        }
        p
    }
}

fn list(ca: &Ca, q: &mock_ca::RowQuery) {
    for r in ca.query(q) {
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

/// `ca --state-dir DIR <action>`.
pub fn run(state_dir: &Path, action: CaAction) -> Result<ExitCode, String> {
    let state_dir = state_dir.to_path_buf();
    match action {
        CaAction::Init(a) => init(&state_dir, a)?,
        CaAction::Submit(a) => return submit(&state_dir, a),
        CaAction::List(l) => list(&open(&state_dir)?, &l.query()),
        CaAction::Pending => list(
            &open(&state_dir)?,
            &mock_ca::RowQuery::disposition(Some(Disposition::Pending)),
        ),
        CaAction::Audit { id } => {
            let row = open(&state_dir)?
                .request(id)
                .ok_or_else(|| format!("{}: no request {id}", state_dir.display()))?;
            let audit = serde_json::to_string_pretty(&mock_ca::audit::of(&row))
                .map_err(|e| e.to_string())?;
            println!("{audit}");
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
            emit(out.as_deref(), &pem("X509 CRL", &der), "CRL")?;
        }
        CaAction::Renew { new_key } => {
            let i = open(&state_dir)?
                .renew_ca(new_key)
                .map_err(|e| e.to_string())?;
            println!("CA certificate {i} issued (nRenewals={i})");
        }
        CaAction::Clock { .. } | CaAction::Reset | CaAction::Journal { .. } => {
            return Err(format!(
                "{}: the clock, reset and journal belong to a running server; use --ready-file or --server",
                state_dir.display()
            ));
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

/// Writes `text` to `out`, or prints it when no file is given.
pub(crate) fn emit(out: Option<&Path>, text: &str, what: &str) -> Result<(), String> {
    match out {
        Some(p) => {
            write_file(p, text)?;
            println!("{what} written to {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn init(state_dir: &Path, a: InitCmd) -> Result<(), String> {
    let InitCmd {
        mode,
        seed,
        two_tier,
        key,
        config,
    } = a;
    if mock_ca::state::StateDir::exists(state_dir) {
        return Err(format!("{}: a CA already exists here", state_dir.display()));
    }
    let mut cfg = match config {
        Some(p) => {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
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
    let ca = Ca::open(state_dir, cfg, seed, Clock::real()).map_err(|e| e.to_string())?;
    println!(
        "created {:?} CA `{}` in {}",
        ca.config().mode,
        ca.config().ca_name,
        state_dir.display()
    );
    println!("seed {}", ca.seed());
    Ok(())
}

fn submit(state_dir: &Path, a: SubmitCmd) -> Result<ExitCode, String> {
    let SubmitCmd {
        request,
        template,
        attributes,
        user,
        groups,
        out,
    } = a;
    let ca = open(state_dir)?;
    let bytes = std::fs::read(&request).map_err(|e| format!("{}: {e}", request.display()))?;
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
    Ok(ExitCode::from(match s.disposition {
        Disposition::Issued => 0,
        Disposition::Pending => 3,
        Disposition::Denied | Disposition::Revoked => 4,
        Disposition::Failed => 5,
    }))
}

/// `ca init`'s arguments.
#[derive(Args)]
pub(crate) struct InitCmd {
    #[arg(long, default_value = "enterprise")]
    pub(crate) mode: CaMode,
    /// Seed for every random choice; printed when not given.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// A root CA plus an issuing CA instead of one self-signed CA.
    #[arg(long)]
    pub(crate) two_tier: bool,
    /// CA key: rsa2048, rsa3072, rsa4096, p256, p384, p521.
    #[arg(long, default_value = "rsa2048")]
    pub(crate) key: KeyAlgorithm,
    /// Configuration (JSON) replacing the defaults.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// `ca submit`'s arguments.
#[derive(Args)]
pub(crate) struct SubmitCmd {
    pub(crate) request: PathBuf,
    /// The certificate template to ask for (the `CertificateTemplate` request attribute).
    #[arg(long)]
    pub(crate) template: Option<String>,
    /// Extra request attribute `Name:Value` (repeatable).
    #[arg(long = "attrib", value_name = "NAME:VALUE")]
    pub(crate) attributes: Vec<String>,
    #[arg(long, default_value = "CONTOSO\\Administrator")]
    pub(crate) user: String,
    /// Group memberships of the user (repeatable).
    #[arg(long = "group")]
    pub(crate) groups: Vec<String>,
    /// Where to write the certificate (PEM) when issued.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}
