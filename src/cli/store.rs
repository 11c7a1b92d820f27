//! `store`: certutil's store verbs (list, import, export as PFX, repair,
//! delete), thin over `adcs_client::store`.

use super::common::*;
use std::path::PathBuf;
use std::process::ExitCode;

use adcs_client::flow::{self};
use adcs_client::store::{PfxFormat, StoreName};
use clap::{Args, Subcommand};
use serde_json::json;

#[derive(Subcommand)]
pub enum StoreAction {
    /// List certificates (or, with --name REQUEST, the waiting requests).
    List(ListCmd),
    /// Import a certificate (into --name) or a PFX (into My, with its key).
    Import(ImportCmd),
    /// Export a My certificate with its key and chain as a PFX (an
    /// exportable key only: else NTE_BAD_KEY_STATE, exit 1, nothing written).
    Export(ExportCmd),
    /// certutil -repairstore: re-link a My certificate to its private key.
    Repair(RepairCmd),
    /// Remove a certificate (a key stays, as on Windows).
    Delete(DeleteCmd),
}

pub fn run_store(action: StoreAction) -> Result<ExitCode, String> {
    match action {
        StoreAction::List(a) => list(a),
        StoreAction::Import(a) => import(a),
        StoreAction::Export(a) => export(a),
        StoreAction::Repair(a) => repair(a),
        StoreAction::Delete(a) => delete(a),
    }
}

fn list(a: ListCmd) -> Result<ExitCode, String> {
    let ListCmd { store, name, json } = a;
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
            println!("  {}", exportable_line(p.exportable));
        }
        println!(
            "{} certificate(s), {} pending request(s)",
            entries.len(),
            pending.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn import(a: ImportCmd) -> Result<ExitCode, String> {
    let ImportCmd {
        store,
        name,
        file,
        password,
        no_export,
        json,
    } = a;
    let store = store.open()?;
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let is_pfx = file
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("pfx") || x.eq_ignore_ascii_case("p12"));
    let entries = if is_pfx {
        let password = password.ok_or("a PFX needs --password (or ADCS_HARNESS_PFX_PASSWORD)")?;
        vec![store
            .import_pfx_exportable(&bytes, &password, !no_export)
            .map_err(|e| format!("{}: {e}", file.display()))?]
    } else {
        if no_export {
            return Err(format!(
                "{}: --no-export applies to a PFX (its key); a certificate file has no key",
                file.display()
            ));
        }
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

fn export(a: ExportCmd) -> Result<ExitCode, String> {
    let ExportCmd {
        store,
        selector,
        out,
        password,
        legacy,
    } = a;
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

fn repair(a: RepairCmd) -> Result<ExitCode, String> {
    let RepairCmd {
        store,
        selector,
        json,
    } = a;
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

fn delete(a: DeleteCmd) -> Result<ExitCode, String> {
    let DeleteCmd {
        store,
        name,
        selector,
    } = a;
    let store = store.open()?;
    let e = store.delete(name, &selector).map_err(fail)?;
    println!("Deleted from {name}: {} ({})", e.thumbprint, e.subject);
    Ok(ExitCode::SUCCESS)
}

/// `list`'s arguments.
#[derive(Args)]
pub struct ListCmd {
    #[command(flatten)]
    pub store: StoreArg,
    /// My, Root, CA or REQUEST; all stores when omitted.
    #[arg(long)]
    pub name: Option<String>,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `import`'s arguments.
#[derive(Args)]
pub struct ImportCmd {
    #[command(flatten)]
    pub store: StoreArg,
    #[arg(long, default_value = "My")]
    pub name: StoreName,
    pub file: PathBuf,
    /// PFX password (or ADCS_HARNESS_PFX_PASSWORD).
    #[arg(long, env = "ADCS_HARNESS_PFX_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Import the PFX's key as not exportable (certutil -importpfx's
    /// `NoExport`); by default it stays exportable.
    #[arg(long)]
    pub no_export: bool,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `export`'s arguments.
#[derive(Args)]
pub struct ExportCmd {
    #[command(flatten)]
    pub store: StoreArg,
    /// Thumbprint, serial number or subject text.
    pub selector: String,
    pub out: PathBuf,
    #[arg(long, env = "ADCS_HARNESS_PFX_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// 3DES/SHA-1 instead of AES-256, for Windows before 10 1709 / Server 2019.
    #[arg(long)]
    pub legacy: bool,
}

/// `repair`'s arguments.
#[derive(Args)]
pub struct RepairCmd {
    #[command(flatten)]
    pub store: StoreArg,
    pub selector: String,
    /// Print JSON instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// `delete`'s arguments.
#[derive(Args)]
pub struct DeleteCmd {
    #[command(flatten)]
    pub store: StoreArg,
    #[arg(long, default_value = "My")]
    pub name: StoreName,
    pub selector: String,
}
