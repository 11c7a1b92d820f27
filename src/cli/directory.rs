//! `ca-info` and `req templates`: AD CS as the directory publishes it,
//! read over LDAP or LDAPS as `certutil -ADCA` and `certutil -template`
//! read it (adcs_client::ldap), against the harness or a real DC.

use std::path::PathBuf;
use std::process::ExitCode;

use adcs_client::http::Trust;
use adcs_client::ldap::{self, Bind, Connection, LdapClientError};
use clap::{Args, ValueEnum};

use super::common::{timeout_arg, EXIT_TIMEOUT, EXIT_UNAUTHORIZED};

/// How to reach and sign in to the domain controller.
#[derive(Args, Clone)]
pub struct DirectoryArgs {
    /// `ldap://dc01.contoso.test` or `ldaps://…` (the ready file's `ldap.url`).
    #[arg(long, value_name = "URL")]
    ldap: String,
    /// Account (`DOMAIN\user` or `user@domain`); anonymous without it.
    #[arg(long)]
    user: Option<String>,
    /// Password; better given in ADCS_HARNESS_PASSWORD than on the command line.
    #[arg(long, env = "ADCS_HARNESS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// How to bind: NTLM (as ldap3 and Certipy do) or a simple bind.
    #[arg(long, value_enum, default_value = "ntlm")]
    bind: BindKind,
    /// PEM/DER file of root certificates to trust for LDAPS; without it
    /// the server's certificate is not checked (as ldap3 and Certipy do).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Seconds to wait for each connect, read and write (a timeout exits 8).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    timeout: f64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum BindKind {
    Ntlm,
    Simple,
}

impl DirectoryArgs {
    /// What the flags ask for, checked before any connection: the trust,
    /// the bound on each wait and the bind; a bad flag or file is named.
    fn prepare(&self) -> Result<(Trust, std::time::Duration, Bind), String> {
        let trust = match &self.ca_file {
            Some(f) => {
                let bad = |e: String| format!("--ca-file {}: {e}", f.display());
                let bytes = std::fs::read(f).map_err(|e| bad(e.to_string()))?;
                Trust::Roots(
                    adcs_client::store::read_certificates(&bytes)
                        .map_err(|e| bad(e.to_string()))?,
                )
            }
            None => Trust::AnyCertificate,
        };
        let how = match (&self.user, &self.password, self.bind) {
            (None, _, _) => Bind::Anonymous,
            (Some(_), None, _) => {
                return Err(
                    "--user needs a password: give --password or set ADCS_HARNESS_PASSWORD".into(),
                )
            }
            (Some(u), Some(p), BindKind::Ntlm) => Bind::Ntlm {
                user: u.clone(),
                password: p.clone(),
            },
            (Some(u), Some(p), BindKind::Simple) => Bind::Simple {
                name: u.clone(),
                password: p.clone(),
            },
        };
        Ok((trust, timeout_arg(self.timeout)?, how))
    }

    fn open(
        &self,
        (trust, timeout, how): &(Trust, std::time::Duration, Bind),
    ) -> Result<Connection, LdapClientError> {
        let mut c = Connection::connect(&self.ldap, trust, *timeout)?;
        c.bind(how)?;
        Ok(c)
    }
}

fn failure(e: LdapClientError) -> Result<ExitCode, String> {
    eprintln!("adcs-harness: {e}");
    Ok(ExitCode::from(if e.is_timeout() {
        EXIT_TIMEOUT
    } else if e.is_invalid_credentials() {
        EXIT_UNAUTHORIZED
    } else {
        1
    }))
}

/// `ca-info`: the enterprise CAs and the templates each issues.
pub fn ca_info(args: DirectoryArgs) -> Result<ExitCode, String> {
    let ready = args.prepare()?;
    let cas = match args
        .open(&ready)
        .and_then(|mut c| ldap::enrollment_services(&mut c))
    {
        Ok(cas) => cas,
        Err(e) => return failure(e),
    };
    if args.json {
        let v: Vec<_> = cas
            .iter()
            .map(|ca| serde_json::json!({"name": ca.name, "dns_name": ca.dns_name, "subject": ca.subject, "templates": ca.templates}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if cas.is_empty() {
        println!("No enterprise CA in this forest (a stand-alone CA publishes none).");
    }
    for ca in &cas {
        println!("CA name:     {}", ca.name);
        println!("DNS name:    {}", ca.dns_name);
        println!("Subject:     {}", ca.subject);
        println!("Config:      {}\\{}", ca.dns_name, ca.name);
        println!("Templates:   {}", ca.templates.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// `req templates`: every template, and whether the account may enroll.
pub fn templates(args: DirectoryArgs) -> Result<ExitCode, String> {
    let account = args.user.clone().unwrap_or_default();
    let ready = args.prepare()?;
    let all = match args
        .open(&ready)
        .and_then(|mut c| ldap::templates(&mut c, &account))
    {
        Ok(t) => t,
        Err(e) => return failure(e),
    };
    if args.json {
        let v: Vec<_> = all
            .iter()
            .map(|t| serde_json::json!({"name": t.name, "display_name": t.display_name, "schema_version": t.schema_version, "ekus": t.ekus, "enrollee_supplies_subject": t.enrollee_supplies_subject, "published": t.published, "may_enroll": t.may_enroll}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        );
        return Ok(ExitCode::SUCCESS);
    }
    for t in &all {
        let access = match (t.published, t.may_enroll) {
            (true, true) => "may enroll",
            (true, false) => "Access is denied",
            (false, _) => "not issued by any CA",
        };
        println!(
            "{}: {} (v{}) -- {access}",
            t.name, t.display_name, t.schema_version
        );
    }
    Ok(ExitCode::SUCCESS)
}
