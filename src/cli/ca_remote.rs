//! `ca --ready-file PATH …` / `ca --server URL …`: the same verbs against a
//! running server's control API.

use std::process::ExitCode;

use adcs_client::control::{ControlClient, ControlError};
use adcs_client::http::Trust;
use serde_json::Value;

use super::ca_local::emit;
use super::common::{timeout_arg, EXIT_TIMEOUT};
use crate::{CaAction, CaTarget, RemoteAuth};

fn connect(target: &CaTarget, auth: &RemoteAuth) -> Result<ControlClient, String> {
    let mut client = open(target, auth)?;
    client.set_timeout(timeout_arg(auth.timeout)?);
    Ok(client)
}

fn open(target: &CaTarget, auth: &RemoteAuth) -> Result<ControlClient, String> {
    if let Some(r) = &target.ready_file {
        return ControlClient::from_ready_file(r).map_err(|e| e.to_string());
    }
    let url = target.server.as_deref().expect("clap requires one target");
    let trust = match &auth.root_cert {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let roots = adcs_proto::encoding::pem_blocks(&text, "CERTIFICATE");
            if roots.is_empty() {
                return Err(format!("{}: no CERTIFICATE in it", p.display()));
            }
            Trust::Roots(roots)
        }
        None => Trust::AnyCertificate,
    };
    ControlClient::new(url, trust, &auth.admin_user, &auth.admin_password)
        .map_err(|e| e.to_string())
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

fn print_row(r: &Value) {
    println!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        text(r, "id"),
        text(r, "disposition"),
        text(r, "requester"),
        text(r, "template"),
        text(r, "serial"),
        text(r, "disposition_message")
    );
}

/// Why a remote verb failed: the server (a timeout has its own exit
/// code), or anything else.
enum RemoteError {
    Control(ControlError),
    Other(String),
}

impl From<ControlError> for RemoteError {
    fn from(e: ControlError) -> Self {
        RemoteError::Control(e)
    }
}

impl From<String> for RemoteError {
    fn from(e: String) -> Self {
        RemoteError::Other(e)
    }
}

/// Runs `action` on the server named by `target`.
pub fn run(target: &CaTarget, auth: &RemoteAuth, action: CaAction) -> Result<ExitCode, String> {
    let mut c = connect(target, auth)?;
    match act(&mut c, action) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(RemoteError::Control(e)) if e.is_timeout() => {
            eprintln!("adcs-harness: {e}");
            Ok(ExitCode::from(EXIT_TIMEOUT))
        }
        Err(RemoteError::Control(e)) => Err(e.to_string()),
        Err(RemoteError::Other(e)) => Err(e),
    }
}

fn act(c: &mut ControlClient, action: CaAction) -> Result<(), RemoteError> {
    match action {
        CaAction::Init(_) | CaAction::Submit(_) | CaAction::Export { .. } => {
            return Err(RemoteError::Other("init, submit and export work on a --state-dir; a running server is reached through certsrv (submit) or `ca journal`/`ca list`".into()));
        }
        CaAction::List(l) => {
            let rows = c.requests_where(&l.params())?;
            rows.as_array().into_iter().flatten().for_each(print_row);
        }
        CaAction::Pending => {
            let rows = c.requests(Some("pending"))?;
            rows.as_array().into_iter().flatten().for_each(print_row);
        }
        CaAction::Audit { id } => {
            let r = c.request(id)?;
            let audit = serde_json::to_string_pretty(&r["audit"]).map_err(|e| e.to_string())?;
            println!("{audit}");
        }
        CaAction::Issue { id } => {
            let r = c.issue(id)?;
            println!(
                "request {id}: {} {}",
                text(&r, "disposition"),
                text(&r, "disposition_message")
            );
        }
        CaAction::Deny { id } => {
            let r = c.deny(id)?;
            println!(
                "request {id}: {} {}",
                text(&r, "disposition"),
                text(&r, "disposition_message")
            );
        }
        CaAction::Revoke { serial, reason } => {
            let reason = serde_json::to_value(reason).map_err(|x| x.to_string())?;
            let r = c.revoke(&serial, reason.as_str())?;
            println!(
                "request {}: revoked ({})",
                text(&r, "id"),
                reason.as_str().unwrap_or("-")
            );
        }
        CaAction::Unrevoke { serial } => {
            let r = c.unrevoke(&serial)?;
            println!("request {}: {}", text(&r, "id"), text(&r, "disposition"));
        }
        CaAction::Crl { delta, out } => {
            let r = c.publish_crl(delta)?;
            emit(out.as_deref(), &text(&r, "crl"), "CRL")?;
        }
        CaAction::Renew { new_key } => {
            let r = c.renew_ca(new_key)?;
            println!(
                "CA certificate {} issued (nRenewals={})",
                text(&r, "index"),
                text(&r, "n_renewals")
            );
        }
        CaAction::Clock {
            set,
            advance,
            freeze,
            resume,
        } => {
            let freeze = if freeze {
                Some(true)
            } else if resume {
                Some(false)
            } else {
                None
            };
            let r = if set.is_none() && advance.is_none() && freeze.is_none() {
                c.clock()?
            } else {
                c.move_clock(set, advance, freeze)?
            };
            println!("now {} (frozen: {})", text(&r, "now"), text(&r, "frozen"));
        }
        CaAction::Reset => {
            c.reset()?;
            println!("CA reset to its initial state");
        }
        CaAction::Journal { since } => {
            let r = c.journal(since)?;
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        }
    }
    Ok(())
}
