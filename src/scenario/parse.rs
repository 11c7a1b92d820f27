//! From scenario text to a [`Scenario`]: TOML through serde into the steps
//! as written, then each step into its typed action, so that a wrong key,
//! a missing or wrong argument or an unknown action stops the file before
//! anything runs. Every error names the file, line and column.

use std::ops::Range;
use std::path::{Path, PathBuf};

use mock_ca::serve::ServeConfig;
use serde::Deserialize;
use toml::Spanned;

use super::model::{Scenario, DEFAULT_FQDN};
use super::written_step::{StepError, WrittenStep};

/// A scenario file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    world: ServeConfig,
    #[serde(default = "default_fqdn")]
    fqdn: String,
    #[serde(rename = "step", default)]
    steps: Vec<Spanned<WrittenStep>>,
}

fn default_fqdn() -> String {
    DEFAULT_FQDN.into()
}

/// 1-based line and column of byte `offset` in `text`.
fn place(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// A scenario file that cannot be used: where, and why. Displays as
/// `FILE: line L, column C: MESSAGE` (without the place when there is none).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}{message}", path.display(), place.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default())]
pub struct ScenarioError {
    pub path: PathBuf,
    /// 1-based line and column, when the error has a place in the text.
    pub place: Option<(usize, usize)>,
    pub message: String,
}

fn located(path: &Path, text: &str, at: Option<Range<usize>>, message: &str) -> ScenarioError {
    ScenarioError {
        path: path.to_path_buf(),
        place: at.map(|sp| place(text, sp.start)),
        message: message.trim_end().to_string(),
    }
}

/// Reads a scenario file; errors name the file, line and column.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        path: path.to_path_buf(),
        place: None,
        message: e.to_string(),
    })?;
    parse(path, &text)
}

/// Parses scenario text (`path` names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let file: ScenarioFile =
        toml::from_str(text).map_err(|e| located(path, text, e.span(), e.message()))?;
    let mut steps = Vec::with_capacity(file.steps.len());
    for (i, written) in file.steps.iter().enumerate() {
        let header = written.span();
        let (line, _) = place(text, header.start);
        let step = written
            .get_ref()
            .to_step(header, line)
            .map_err(|e| step_error(path, text, i + 1, written.get_ref(), &e))?;
        steps.push(step);
    }
    Ok(Scenario {
        name: file.name,
        description: file.description,
        world: file.world,
        fqdn: file.fqdn,
        steps,
        path: path.to_path_buf(),
    })
}

/// `FILE: line L, column C: step N (`do = "…"`): MESSAGE`.
fn step_error(
    path: &Path,
    text: &str,
    n: usize,
    step: &WrittenStep,
    e: &StepError,
) -> ScenarioError {
    let which = if e.unknown_action {
        format!("step {n}")
    } else {
        format!("step {n} (`do = \"{}\"`)", step.keyword())
    };
    located(
        path,
        text,
        Some(e.at.clone()),
        &format!("{which}: {}", e.message),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::{Action, CertSelector, RequestRef, ScomCheckTarget, Via};

    fn error(text: &str) -> String {
        match parse(Path::new("x.toml"), text) {
            Ok(s) => panic!("loaded, but should not have: {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn actions(text: &str) -> Vec<Action> {
        let s = parse(Path::new("x.toml"), text).unwrap_or_else(|e| panic!("{e}"));
        s.steps.into_iter().map(|s| s.action).collect()
    }

    #[test]
    fn a_missing_required_argument_is_refused_at_its_step() {
        let e = error("name = \"x\"\n\n[[step]]\ndo = \"ca.issue\"\n");
        assert_eq!(
            e,
            "x.toml: line 3, column 1: step 1 (`do = \"ca.issue\"`): missing `id` (a number or \"last\")"
        );
        let e = error(
            "name = \"x\"\n[[step]]\ndo = \"ca.crl\"\nname = \"a\"\n[[step]]\ndo = \"http\"\n",
        );
        assert!(
            e.starts_with("x.toml: line 5, column 1: step 2 (`do = \"http\"`): missing `path`"),
            "{e}"
        );
        for (action, missing) in [
            ("req.new", "`inf` (inline) or `inf_file`"),
            ("req.enroll", "`inf` (inline) or `inf_file`"),
            ("req.retrieve", "`id`"),
            ("ca.deny", "`id`"),
            ("store.export", "`pfx_password`"),
            ("store.import", "`cert`"),
            ("clock.advance", "`seconds`"),
            ("clock.set", "`time`"),
        ] {
            let e = error(&format!("name = \"x\"\n[[step]]\ndo = \"{action}\"\n"));
            assert!(
                e.starts_with(&format!(
                    "x.toml: line 2, column 1: step 1 (`do = \"{action}\"`): missing {missing}"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn a_wrong_typed_argument_is_refused_where_it_is_written() {
        let e = error("name = \"x\"\n[[step]]\ndo = \"clock.advance\"\nseconds = \"soon\"\n");
        assert!(e.starts_with("x.toml: line 4, column 11: "), "{e}");
        assert!(e.contains("invalid type: string \"soon\""), "{e}");
        let e = error("name = \"x\"\n[[step]]\ndo = \"ca.issue\"\nid = \"first\"\n");
        assert_eq!(
            e,
            "x.toml: line 4, column 6: step 1 (`do = \"ca.issue\"`): id `first` (a number or \"last\")"
        );
        let e = error("name = \"x\"\n[[step]]\ndo = \"ca.crl\"\ndelta = 1\n");
        assert!(
            e.starts_with(
                "x.toml: line 4, column 9: invalid type: integer `1`, expected a boolean"
            ),
            "{e}"
        );
        let e = error("name = \"x\"\n[[step]]\ndo = \"clock.set\"\ntime = \"tomorrow\"\n");
        assert_eq!(
            e,
            "x.toml: line 4, column 8: step 1 (`do = \"clock.set\"`): `tomorrow` is not a time"
        );
        let e = error("name = \"x\"\n[[step]]\ndo = \"http\"\npath = \"/\"\nauth = \"digest\"\n");
        assert!(
            e.starts_with("x.toml: line 5, column 8: step 1 (`do = \"http\"`): auth `digest`"),
            "{e}"
        );
        let e = error("name = \"x\"\n[[step]]\ndo = \"ca.revoke\"\nreason = \"boredom\"\n");
        assert!(
            e.starts_with("x.toml: line 4, column 10: step 1 (`do = \"ca.revoke\"`): reason: "),
            "{e}"
        );
        let e = error("name = \"x\"\n[[step]]\ndo = \"req.submit\"\nattrib = [\"nocolon\"]\n");
        assert!(
            e.starts_with("x.toml: line 4, column 10: step 1 (`do = \"req.submit\"`): attrib: "),
            "{e}"
        );
    }

    #[test]
    fn a_step_timeout_bounds_its_network_waits() {
        let s = parse(
            Path::new("x.toml"),
            "name = \"x\"\n[[step]]\ndo = \"ca-cert.download\"\ntimeout = 5\n[[step]]\ndo = \"scom.remove\"\n",
        )
        .unwrap();
        assert_eq!(s.steps[0].timeout, std::time::Duration::from_secs(5));
        assert_eq!(s.steps[1].timeout, adcs_client::http::DEFAULT_TIMEOUT);
        let e = error("name = \"x\"\n[[step]]\ndo = \"ca-cert.download\"\ntimeout = 0\n");
        assert!(e.starts_with("x.toml: line 4, column 11: "), "{e}");
        assert!(
            e.contains("timeout: give a number of seconds above 0"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_action_is_refused_with_the_known_ones() {
        let e = error("name = \"x\"\n\n[[step]]\ndo = \"req.neww\"\n");
        assert!(
            e.starts_with("x.toml: line 4, column 6: step 1: unknown action `req.neww` (one of req.new, req.submit,"),
            "{e}"
        );
        assert!(
            e.ends_with("http, scep.enroll, ldap.search, ldap.modify)"),
            "{e}"
        );
        let e = error("name = \"x\"\n[[step]]\nname = \"a\"\n");
        assert_eq!(e, "x.toml: line 2, column 1: missing field `do`");
    }

    #[test]
    fn a_key_the_action_does_not_take_is_refused() {
        let e =
            error("name = \"x\"\n[[step]]\ndo = \"ca.issue\"\nid = 2\ntemplate = \"WebServer\"\n");
        assert_eq!(
            e,
            "x.toml: line 5, column 12: step 1 (`do = \"ca.issue\"`): `template` does not apply here (ca.issue takes `id`)"
        );
        let e = error("name = \"x\"\n[[step]]\ndo = \"scom.remove\"\nforce = true\n");
        assert!(e.ends_with("(scom.remove takes no arguments)"), "{e}");
        let e =
            error("name = \"x\"\n[[step]]\ndo = \"req.new\"\ninf = \"a\"\ninf_file = \"b.inf\"\n");
        assert!(e.contains("line 5, column 12: step 1 (`do = \"req.new\"`): give `inf` (inline) or `inf_file`, not both"), "{e}");
        let e =
            error("name = \"x\"\n[[step]]\ndo = \"scom.import\"\nsubject = \"a\"\ncert = \"b\"\n");
        assert!(e.contains("line 5, column 8: step 1 (`do = \"scom.import\"`): give one certificate selector, not both `subject` and `cert`"), "{e}");
        let e = error("name = \"x\"\n[[step]]\ndo = \"scom.import\"\npfx_password = \"p\"\n");
        assert!(e.contains("line 4, column 16: step 1 (`do = \"scom.import\"`): `pfx_password` goes with `cert`"), "{e}");
        let e = error(
            "name = \"x\"\n[[step]]\ndo = \"scom.check\"\nrequest = \"r\"\nsubject = \"s\"\n",
        );
        assert!(
            e.contains("line 5, column 11: step 1 (`do = \"scom.check\"`): give one of"),
            "{e}"
        );
    }

    #[test]
    fn via_and_rpc_level_say_how_a_step_reaches_the_ca() {
        let s = parse(
            Path::new("x.toml"),
            "name = \"x\"\n[[step]]\ndo = \"req.submit\"\nvia = \"rpc\"\nrpc_level = \"Integrity\"\n[[step]]\ndo = \"http\"\npath = \"\"\nvia = \"http\"\n",
        )
        .unwrap();
        assert!(matches!(
            s.steps[0].action,
            Action::ReqSubmit {
                via: Via::Rpc { level: 5 },
                ..
            }
        ));
        assert!(matches!(
            s.steps[1].action,
            Action::Http { via: Via::Http, .. }
        ));
        for (text, says) in [
            (
                "do = \"http\"\npath = \"\"\nvia = \"rpc\"\n",
                "line 5, column 7: step 1 (`do = \"http\"`): `via = \"rpc\"`: expected https or http",
            ),
            (
                "do = \"req.submit\"\nvia = \"rpc\"\nrpc_level = \"sealed\"\n",
                "line 5, column 13: step 1 (`do = \"req.submit\"`): `rpc_level = \"sealed\"`: expected privacy, integrity or connect",
            ),
            (
                "do = \"req.submit\"\nrpc_level = \"integrity\"\n",
                "line 4, column 13: step 1 (`do = \"req.submit\"`): `rpc_level` goes with `via = \"rpc\"`",
            ),
        ] {
            let e = error(&format!("name = \"x\"\n[[step]]\n{text}"));
            assert!(e.ends_with(says), "{e}");
        }
    }

    #[test]
    fn errors_outside_steps_still_name_the_file_line_and_column() {
        let e = error("name = \"x\"\n[[step]]\ndo = \"req.new\"\nbogus = 1\n");
        assert!(
            e.starts_with("x.toml: line 4, column 1: unknown field `bogus`"),
            "{e}"
        );
        let e = error(
            "name = \"x\"\n[[step]]\ndo = \"ca.issue\"\nid = 1\n[step.expect]\ndisposition = 3\n",
        );
        assert!(e.contains("line 6, column 15"), "{e}");
        let e = error("nme = \"x\"\n");
        assert!(
            e.starts_with("x.toml: line 1, column 1: unknown field `nme`"),
            "{e}"
        );
    }

    #[test]
    fn steps_load_as_typed_actions_with_their_header_lines() {
        let s = parse(Path::new("x.toml"), "name = \"x\"\n[world]\nseed = 4\nmode = \"standalone\"\n[[step]]\ndo = \"ca.issue\"\nid = \"last\"\n[[step]]\ndo = \"clock.advance\"\nseconds = 60\n").unwrap();
        assert_eq!(s.world.seed, Some(4));
        assert_eq!((s.steps[0].line, s.steps[1].line), (5, 8));
        assert!(matches!(
            s.steps[0].action,
            Action::CaIssue {
                id: RequestRef::Last
            }
        ));
        assert!(matches!(
            s.steps[1].action,
            Action::ClockAdvance { seconds: 60 }
        ));
        let a = actions("name = \"x\"\n[[step]]\ndo = \"scom.check\"\n[[step]]\ndo = \"scom.check\"\ncert = \"p\"\npfx_password = \"pw\"\n[[step]]\ndo = \"store.delete\"\nserial = \"last\"\n");
        assert!(matches!(
            &a[0],
            Action::ScomCheck {
                target: ScomCheckTarget::Configured
            }
        ));
        assert!(
            matches!(&a[1], Action::ScomCheck { target: ScomCheckTarget::Store(CertSelector::Label { label, pfx_password: Some(p) }) } if label == "p" && p == "pw")
        );
        assert!(matches!(
            &a[2],
            Action::StoreDelete {
                selector: CertSelector::Latest
            }
        ));
        for s in parse(
            Path::new("x.toml"),
            "name = \"x\"\n[[step]]\ndo = \"ca.crl\"\n",
        )
        .unwrap()
        .steps
        {
            assert_eq!(s.action.keyword(), "ca.crl");
        }
    }

    #[test]
    fn the_library_and_the_fuzz_seeds_load() {
        let library = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let files = crate::scenario::files(&[library]).unwrap();
        assert!(files.len() >= 12, "{files:?}");
        for f in files {
            load(&f).unwrap_or_else(|e| panic!("{e}"));
        }
        for (target, name, bytes) in crate::fuzzing::seeds().unwrap() {
            if target == "scenario" {
                let text = std::str::from_utf8(&bytes).unwrap();
                parse(Path::new(&name), text).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    #[test]
    fn every_action_name_converts_to_an_action_of_that_name() {
        for name in super::super::written_step::action_names() {
            let args = match name {
                "req.new" | "req.enroll" => "inf = \"[NewRequest]\"\n",
                "req.retrieve" | "ca.issue" | "ca.deny" => "id = 1\n",
                "store.export" => "pfx_password = \"p\"\n",
                "store.import" => "cert = \"c\"\n",
                "clock.advance" => "seconds = 1\n",
                "clock.set" => "time = \"0\"\n",
                "http" => "path = \"/\"\n",
                "scep.enroll" => "subject = \"CN=x\"\n",
                "ldap.modify" => "dn = \"CN=x\"\nreplace = { cn = [] }\n",
                _ => "",
            };
            let a = actions(&format!("name = \"x\"\n[[step]]\ndo = \"{name}\"\n{args}"));
            assert_eq!(a[0].keyword(), name);
        }
    }
}
