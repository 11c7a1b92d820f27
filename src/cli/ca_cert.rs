//! `ca-cert download`: the CA certificate, chain or CRL from web enrollment,
//! optionally pinned and imported into the store.

use super::common::*;
use std::path::PathBuf;
use std::process::ExitCode;

use adcs_client::flow::{self, CaDownload};
use adcs_client::store::StoreName;
use clap::{Args, Subcommand, ValueEnum};

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
    Download(DownloadCmd),
}

pub fn run_ca_cert(action: CaCertAction) -> Result<ExitCode, String> {
    let CaCertAction::Download(DownloadCmd {
        connect,
        what,
        renewal,
        encoding,
        ca_thumbprint,
        import,
        out,
    }) = action;
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
        let certs = adcs_client::store::read_certificates(&der).map_err(|e| e.to_string())?;
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

/// `download`'s arguments.
#[derive(Args)]
pub struct DownloadCmd {
    #[command(flatten)]
    pub connect: Connect,
    #[arg(long, value_enum, default_value = "cert")]
    pub what: What,
    /// CA certificate index (0 = first); the newest when omitted.
    #[arg(long)]
    pub renewal: Option<u16>,
    #[arg(long, value_enum, default_value = "b64")]
    pub encoding: Encoding,
    /// Accept the download only if the CA's root has this SHA-1
    /// thumbprint (the first download, before any root is trusted).
    #[arg(long, value_name = "SHA1")]
    pub ca_thumbprint: Option<String>,
    /// Also add the certificates to the store (roots to Root, others to CA).
    #[arg(long)]
    pub import: bool,
    pub out: PathBuf,
}
