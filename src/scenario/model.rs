//! The scenario file format (TOML): a world, then steps against both ends,
//! each with what must hold after it. See scenarios/README.md.

use std::path::{Path, PathBuf};

use mock_ca::serve::ServeConfig;
use serde::Deserialize;

/// Where the virtual clock starts unless the world says otherwise:
/// 2026-01-01T00:00:00Z, so every run sees the same times.
pub const DEFAULT_START: i64 = 1_767_225_600;
/// The client computer's name unless the scenario says otherwise.
pub const DEFAULT_FQDN: &str = "scom01.contoso.test";

/// One scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The CA, its users, auth and clock: the `serve --config` format.
    #[serde(default)]
    pub world: ServeConfig,
    /// The client computer's FQDN (subjects, SCOM name checks).
    #[serde(default = "default_fqdn")]
    pub fqdn: String,
    #[serde(rename = "step", default)]
    pub steps: Vec<Step>,
    /// The file it came from (set by [`load`]).
    #[serde(skip)]
    pub path: PathBuf,
}

fn default_fqdn() -> String {
    DEFAULT_FQDN.into()
}

/// A request ID as a step names it: a number, or `"last"` (the one the
/// latest step produced).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum IdRef {
    Number(u32),
    Word(String),
}

/// One step: `do` names the action, the other keys are its arguments
/// (each action uses the ones it needs), `expect` what must hold after it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(rename = "do")]
    pub action: String,
    /// Label of what the step makes (a request, a certificate, a PFX), for
    /// later steps to name.
    pub name: Option<String>,
    /// Account name (`CONTOSO\alice` or `alice`); the world's first user by default.
    pub user: Option<String>,
    /// Overrides the account's password (wrong-password cases).
    pub password: Option<String>,
    /// `ntlm` (default), `negotiate` or `basic`.
    pub auth: Option<String>,
    /// An INF, inline.
    pub inf: Option<String>,
    /// An INF file, relative to the scenario file.
    pub inf_file: Option<PathBuf>,
    /// The label of a request made earlier.
    pub request: Option<String>,
    /// The label of a certificate or PFX made earlier.
    pub cert: Option<String>,
    pub template: Option<String>,
    /// Request attributes `NAME:VALUE`.
    #[serde(default)]
    pub attrib: Vec<String>,
    pub id: Option<IdRef>,
    /// A serial number (hex), or `"last"`.
    pub serial: Option<String>,
    /// Revocation reason (`key_compromise`, `certificate_hold`, …).
    pub reason: Option<String>,
    /// Certificate selector: subject name, serial or thumbprint (store and scom steps).
    pub subject: Option<String>,
    pub thumbprint: Option<String>,
    #[serde(default)]
    pub new_key: bool,
    #[serde(default)]
    pub delta: bool,
    /// clock.advance: seconds (negative goes back).
    pub seconds: Option<i64>,
    /// clock.set: `2027-01-01T00:00:00Z` or Unix seconds.
    pub time: Option<String>,
    pub pfx_password: Option<String>,
    #[serde(default)]
    pub web_portal: bool,
    #[serde(default)]
    pub force: bool,
    /// Seconds `req.enroll` waits for approval (0: report pending at once).
    pub wait: Option<u64>,
    /// http: method, path under /certsrv/ (or absolute), form body.
    pub method: Option<String>,
    pub path: Option<String>,
    pub body: Option<String>,
    /// fault.set: the rules (`[[step.faults]]`, as `[[world.faults]]`).
    #[serde(default)]
    pub faults: Vec<mock_ca::web::faults::FaultRule>,
    #[serde(default)]
    pub expect: Expect,
    /// Line of the step's `[[step]]` header (set by [`load`]).
    #[serde(skip)]
    pub line: usize,
}

/// What must hold after a step; every key is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `issued`, `pending`, `denied` or `error`.
    pub disposition: Option<String>,
    pub request_id: Option<u32>,
    /// `0x80094800`.
    pub hresult: Option<String>,
    /// The step fails with a message containing this (otherwise it must succeed).
    pub error: Option<String>,
    /// req.new / req.enroll: how many warnings reading the INF gave.
    pub warnings: Option<usize>,
    /// Of the step's certificate: subject (Windows order), DNS names, EKU OIDs,
    /// key usage (`0xa0`), template name or OID, validity in days.
    pub subject: Option<String>,
    pub dns: Option<Vec<String>>,
    pub eku: Option<Vec<String>>,
    pub key_usage: Option<String>,
    pub template: Option<String>,
    pub validity_days: Option<i64>,
    /// How many certificates the store's My, Root and CA hold, and how many
    /// requests wait in REQUEST.
    pub my: Option<usize>,
    pub root: Option<usize>,
    pub ca: Option<usize>,
    pub pending: Option<usize>,
    /// Whether the registry names the step's certificate for SCOM.
    pub configured: Option<bool>,
    /// scom.check: whether the agent would load it, and the events, in order.
    pub ok: Option<bool>,
    pub events: Option<Vec<u32>>,
    /// ca.crl: whether the latest certificate's serial is on the CRL.
    pub on_crl: Option<bool>,
    /// http: status and a piece of the body.
    pub status: Option<u16>,
    pub body_contains: Option<String>,
    /// The CA's renewal count (certcarc.asp's nRenewals).
    pub n_renewals: Option<u16>,
    /// Entries the server's journal must have recorded during the step.
    pub journal: Option<Vec<JournalExpect>>,
}

/// One journal entry a step must have caused; every key is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalExpect {
    /// Part of the path (`certfnsh.asp`).
    pub path: Option<String>,
    pub method: Option<String>,
    pub status: Option<u16>,
    /// The signed-in account (`CONTOSO\alice`).
    pub user: Option<String>,
    /// `basic`, `ntlm`, `negotiate`, `connection`.
    pub auth: Option<String>,
    pub request_id: Option<u32>,
    pub disposition: Option<String>,
    /// Whether a fault was injected into it.
    pub fault: Option<bool>,
}

/// The actions a step may name.
pub const ACTIONS: &[&str] = &[
    "req.new",
    "req.submit",
    "req.retrieve",
    "req.accept",
    "req.enroll",
    "ca-cert.download",
    "store.export",
    "store.import",
    "store.delete",
    "store.repair",
    "scom.import",
    "scom.check",
    "scom.renew",
    "scom.enroll",
    "scom.remove",
    "ca.issue",
    "ca.deny",
    "ca.revoke",
    "ca.unrevoke",
    "ca.crl",
    "ca.renew",
    "clock.advance",
    "clock.set",
    "fault.set",
    "fault.clear",
    "http",
];

/// 1-based line and column of byte `offset` in `text`.
fn place(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Reads a scenario file; errors name the file, line and column.
pub fn load(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(path, &text)
}

/// Parses scenario text (`path` names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, String> {
    let mut s: Scenario = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|sp| {
                let (l, c) = place(text, sp.start);
                format!("line {l}, column {c}: ")
            })
            .unwrap_or_default();
        format!("{}: {at}{}", path.display(), e.message().trim_end())
    })?;
    s.path = path.to_path_buf();
    // The line of each `[[step]]` header, for messages.
    let headers: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[step]]"))
        .map(|(i, _)| i + 1)
        .collect();
    for (i, step) in s.steps.iter_mut().enumerate() {
        step.line = headers.get(i).copied().unwrap_or(0);
        if !ACTIONS.contains(&step.action.as_str()) {
            return Err(format!(
                "{}: line {}: step {}: unknown action `{}` (one of {})",
                path.display(),
                step.line,
                i + 1,
                step.action,
                ACTIONS.join(", ")
            ));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_line_and_column() {
        let p = Path::new("x.toml");
        let e = parse(p, "name = \"x\"\n[[step]]\ndo = \"req.new\"\nbogus = 1\n").unwrap_err();
        assert!(
            e.starts_with("x.toml: line 4, column 1: unknown field `bogus`"),
            "{e}"
        );
        let e = parse(p, "name = \"x\"\n\n[[step]]\ndo = \"req.neww\"\n").unwrap_err();
        assert!(
            e.contains("line 3: step 1: unknown action `req.neww`"),
            "{e}"
        );
        let e = parse(
            p,
            "name = \"x\"\n[[step]]\ndo = \"ca.issue\"\n[step.expect]\ndisposition = 3\n",
        )
        .unwrap_err();
        assert!(e.contains("line 5, column 15"), "{e}");
        let s = parse(p, "name = \"x\"\n[world]\nseed = 4\nmode = \"standalone\"\n[[step]]\ndo = \"ca.issue\"\nid = \"last\"\n[[step]]\ndo = \"clock.advance\"\nseconds = 60\n").unwrap();
        assert_eq!(s.world.seed, Some(4));
        assert_eq!((s.steps[0].line, s.steps[1].line), (5, 8));
        assert_eq!(s.steps[0].id, Some(IdRef::Word("last".into())));
    }
}
