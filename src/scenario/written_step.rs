//! A `[[step]]` table as written (every key optional, each with its place
//! in the file) and its conversion into a typed [`Step`]: which keys each
//! action takes, which it needs, and what their values may be. Kept apart
//! from the typed model so that the runner never sees an unchecked string.

use std::ops::Range;
use std::path::PathBuf;

use mock_ca::web::faults::FaultRule;
use serde::Deserialize;
use toml::Spanned;

use super::model::{
    Action, Auth, CertSelector, EnrollArgs, Expect, InfSource, LdapBind, LdapModify, LdapSearch,
    RequestRef, ScepChallenge, ScomCheckTarget, ScomProcedure, SerialRef, Step, Via,
};

/// The keys each action takes besides `do`, `name`, `user`, `password`,
/// `auth`, `timeout` and `expect`, which every step may have.
const ACTION_KEYS: &[(&str, &[&str])] = &[
    ("req.new", &["inf", "inf_file"]),
    (
        "req.submit",
        &["request", "template", "attrib", "via", "rpc_level"],
    ),
    ("req.retrieve", &["id"]),
    ("req.accept", &["cert"]),
    (
        "req.enroll",
        &["inf", "inf_file", "template", "attrib", "wait"],
    ),
    ("ca-cert.download", &[]),
    (
        "store.export",
        &["subject", "thumbprint", "serial", "cert", "pfx_password"],
    ),
    ("store.import", &["cert", "pfx_password"]),
    ("store.delete", &["subject", "thumbprint", "serial", "cert"]),
    ("store.repair", &["subject", "thumbprint", "serial", "cert"]),
    (
        "scom.import",
        &[
            "subject",
            "thumbprint",
            "serial",
            "cert",
            "pfx_password",
            "force",
        ],
    ),
    (
        "scom.check",
        &[
            "inf",
            "inf_file",
            "request",
            "subject",
            "thumbprint",
            "cert",
            "pfx_password",
        ],
    ),
    (
        "scom.renew",
        &[
            "subject",
            "thumbprint",
            "cert",
            "pfx_password",
            "new_key",
            "template",
            "attrib",
            "wait",
        ],
    ),
    (
        "scom.enroll",
        &[
            "inf_file",
            "template",
            "attrib",
            "wait",
            "pfx_password",
            "web_portal",
            "force",
        ],
    ),
    ("scom.remove", &[]),
    ("ca.issue", &["id"]),
    ("ca.deny", &["id"]),
    ("ca.revoke", &["serial", "reason"]),
    ("ca.unrevoke", &["serial"]),
    ("ca.crl", &["delta"]),
    ("ca.renew", &["new_key"]),
    ("clock.advance", &["seconds"]),
    ("clock.set", &["time"]),
    ("fault.set", &["faults"]),
    ("fault.clear", &[]),
    ("http", &["method", "path", "body", "via"]),
    ("scep.enroll", &["subject", "challenge", "wait"]),
    (
        "ldap.search",
        &["base", "scope", "filter", "attributes", "bind", "ldaps"],
    ),
    ("ldap.modify", &["dn", "replace", "bind", "ldaps"]),
];

/// The actions a step may name, in the README's order.
pub fn action_names() -> impl Iterator<Item = &'static str> {
    ACTION_KEYS.iter().map(|(name, _)| *name)
}

/// Why a step cannot be run, and where in the file.
#[derive(Debug)]
pub struct StepError {
    /// Byte range in the file: the offending value, or the step's header
    /// for a missing key.
    pub at: Range<usize>,
    pub message: String,
    /// The step's action was not recognised (the message says so alone).
    pub unknown_action: bool,
}

impl StepError {
    fn new(at: Range<usize>, message: impl Into<String>) -> StepError {
        StepError {
            at,
            message: message.into(),
            unknown_action: false,
        }
    }
}

/// A request ID as written: a number or a word (only `"last"` is one).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum WrittenId {
    Number(u32),
    Word(String),
}

/// One `[[step]]` table as written; see scenarios/README.md for the keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrittenStep {
    #[serde(rename = "do")]
    action: Spanned<String>,
    name: Option<String>,
    user: Option<String>,
    password: Option<String>,
    auth: Option<Spanned<String>>,
    /// Seconds each network wait of the step may take (60 by default).
    timeout: Option<Spanned<u64>>,
    inf: Option<Spanned<String>>,
    inf_file: Option<Spanned<PathBuf>>,
    request: Option<Spanned<String>>,
    cert: Option<Spanned<String>>,
    template: Option<Spanned<String>>,
    attrib: Option<Spanned<Vec<String>>>,
    id: Option<Spanned<WrittenId>>,
    serial: Option<Spanned<String>>,
    reason: Option<Spanned<String>>,
    subject: Option<Spanned<String>>,
    thumbprint: Option<Spanned<String>>,
    new_key: Option<Spanned<bool>>,
    delta: Option<Spanned<bool>>,
    seconds: Option<Spanned<i64>>,
    time: Option<Spanned<String>>,
    pfx_password: Option<Spanned<String>>,
    web_portal: Option<Spanned<bool>>,
    force: Option<Spanned<bool>>,
    wait: Option<Spanned<u64>>,
    method: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    body: Option<Spanned<String>>,
    faults: Option<Spanned<Vec<FaultRule>>>,
    challenge: Option<Spanned<String>>,
    base: Option<Spanned<String>>,
    scope: Option<Spanned<String>>,
    filter: Option<Spanned<String>>,
    attributes: Option<Spanned<Vec<String>>>,
    bind: Option<Spanned<String>>,
    ldaps: Option<Spanned<bool>>,
    dn: Option<Spanned<String>>,
    replace: Option<Spanned<std::collections::BTreeMap<String, Vec<String>>>>,
    via: Option<Spanned<String>>,
    rpc_level: Option<Spanned<String>>,
    #[serde(default)]
    expect: Expect,
}

fn span_of<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
    v.as_ref().map(Spanned::span)
}

fn value<T: Clone>(v: &Option<Spanned<T>>) -> Option<T> {
    v.as_ref().map(|s| s.get_ref().clone())
}

fn flag(v: &Option<Spanned<bool>>) -> bool {
    v.as_ref().is_some_and(|s| *s.get_ref())
}

/// `a`, `a` or `b`, `a`, `b` or `c`: keys for a message.
fn key_list(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        None => "no keys".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

impl WrittenStep {
    /// The `do` word as written.
    pub fn keyword(&self) -> &str {
        self.action.get_ref()
    }

    /// The typed step; `header` is the span of its `[[step]]` header (where
    /// a missing key is reported) and `line` that header's line.
    pub fn to_step(&self, header: Range<usize>, line: usize) -> Result<Step, StepError> {
        let cx = Converting { step: self, header };
        Ok(Step {
            action: cx.action()?,
            name: self.name.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            auth: cx.auth()?,
            timeout: cx.timeout()?,
            expect: self.expect.clone(),
            line,
        })
    }

    /// The action's keys that were given, with their places.
    fn given_arguments(&self) -> Vec<(&'static str, Range<usize>)> {
        [
            ("inf", span_of(&self.inf)),
            ("inf_file", span_of(&self.inf_file)),
            ("request", span_of(&self.request)),
            ("cert", span_of(&self.cert)),
            ("template", span_of(&self.template)),
            ("attrib", span_of(&self.attrib)),
            ("id", span_of(&self.id)),
            ("serial", span_of(&self.serial)),
            ("reason", span_of(&self.reason)),
            ("subject", span_of(&self.subject)),
            ("thumbprint", span_of(&self.thumbprint)),
            ("new_key", span_of(&self.new_key)),
            ("delta", span_of(&self.delta)),
            ("seconds", span_of(&self.seconds)),
            ("time", span_of(&self.time)),
            ("pfx_password", span_of(&self.pfx_password)),
            ("web_portal", span_of(&self.web_portal)),
            ("force", span_of(&self.force)),
            ("wait", span_of(&self.wait)),
            ("method", span_of(&self.method)),
            ("path", span_of(&self.path)),
            ("body", span_of(&self.body)),
            ("faults", span_of(&self.faults)),
            ("challenge", span_of(&self.challenge)),
            ("base", span_of(&self.base)),
            ("scope", span_of(&self.scope)),
            ("filter", span_of(&self.filter)),
            ("attributes", span_of(&self.attributes)),
            ("bind", span_of(&self.bind)),
            ("ldaps", span_of(&self.ldaps)),
            ("dn", span_of(&self.dn)),
            ("replace", span_of(&self.replace)),
            ("via", span_of(&self.via)),
            ("rpc_level", span_of(&self.rpc_level)),
        ]
        .into_iter()
        .filter_map(|(key, span)| span.map(|s| (key, s)))
        .collect()
    }
}

/// One step being converted: the written table and where its header is.
struct Converting<'a> {
    step: &'a WrittenStep,
    header: Range<usize>,
}

impl Converting<'_> {
    fn missing(&self, what: &str) -> StepError {
        StepError::new(self.header.clone(), format!("missing {what}"))
    }

    fn timeout(&self) -> Result<std::time::Duration, StepError> {
        match &self.step.timeout {
            None => Ok(adcs_client::http::DEFAULT_TIMEOUT),
            Some(t) if *t.get_ref() == 0 => Err(StepError::new(
                t.span(),
                "timeout: give a number of seconds above 0",
            )),
            Some(t) => Ok(std::time::Duration::from_secs(*t.get_ref())),
        }
    }

    fn auth(&self) -> Result<Auth, StepError> {
        let Some(auth) = &self.step.auth else {
            return Ok(Auth::default());
        };
        match auth.get_ref().as_str() {
            "ntlm" => Ok(Auth::Ntlm),
            "negotiate" => Ok(Auth::Negotiate),
            "basic" => Ok(Auth::Basic),
            "kerberos" => Ok(Auth::Kerberos),
            other => Err(StepError::new(
                auth.span(),
                format!("auth `{other}` (basic, ntlm, negotiate or kerberos)"),
            )),
        }
    }

    /// Refuses an unknown action and any key the action does not take.
    fn check_keys(&self) -> Result<(), StepError> {
        let keyword = self.step.keyword();
        let Some((_, allowed)) = ACTION_KEYS.iter().find(|(name, _)| *name == keyword) else {
            return Err(StepError {
                at: self.step.action.span(),
                message: format!(
                    "unknown action `{keyword}` (one of {})",
                    action_names().collect::<Vec<_>>().join(", ")
                ),
                unknown_action: true,
            });
        };
        for (key, at) in self.step.given_arguments() {
            if !allowed.contains(&key) {
                let takes = if allowed.is_empty() {
                    format!("{keyword} takes no arguments")
                } else {
                    format!("{keyword} takes {}", key_list(allowed))
                };
                return Err(StepError::new(
                    at,
                    format!("`{key}` does not apply here ({takes})"),
                ));
            }
        }
        Ok(())
    }

    fn action(&self) -> Result<Action, StepError> {
        self.check_keys()?;
        let s = self.step;
        Ok(match s.keyword() {
            "req.new" => Action::ReqNew { inf: self.inf()? },
            "req.submit" => Action::ReqSubmit {
                request: value(&s.request),
                template: value(&s.template),
                attributes: self.attributes()?,
                via: self.via(true)?,
            },
            "req.retrieve" => Action::ReqRetrieve { id: self.id()? },
            "req.accept" => Action::ReqAccept {
                cert: value(&s.cert),
            },
            "req.enroll" => Action::ReqEnroll {
                inf: self.inf()?,
                enroll: self.enroll_args()?,
            },
            "ca-cert.download" => Action::CaCertDownload,
            "store.export" => Action::StoreExport {
                selector: self.selector(false)?,
                pfx_password: value(&s.pfx_password)
                    .ok_or_else(|| self.missing("`pfx_password` (the PFX's password)"))?,
            },
            "store.import" => Action::StoreImport {
                cert: value(&s.cert)
                    .ok_or_else(|| self.missing("`cert` (the label of a certificate or PFX)"))?,
                pfx_password: value(&s.pfx_password),
            },
            "store.delete" => Action::StoreDelete {
                selector: self.selector(false)?,
            },
            "store.repair" => Action::StoreRepair {
                selector: self.selector(false)?,
            },
            "scom.import" => Action::ScomImport {
                selector: self
                    .pfx_password_needs_cert()
                    .and_then(|()| self.selector(true))?,
                force: flag(&s.force),
            },
            "scom.check" => Action::ScomCheck {
                target: self
                    .pfx_password_needs_cert()
                    .and_then(|()| self.scom_check_target())?,
            },
            "scom.renew" => Action::ScomRenew {
                selector: self
                    .pfx_password_needs_cert()
                    .and_then(|()| self.optional_selector())?,
                new_key: flag(&s.new_key),
                enroll: self.enroll_args()?,
            },
            "scom.enroll" => Action::ScomEnroll(ScomProcedure {
                inf_file: value(&s.inf_file),
                web_portal: flag(&s.web_portal),
                force: flag(&s.force),
                exportable: s.pfx_password.is_some(),
                enroll: self.enroll_args()?,
            }),
            "scom.remove" => Action::ScomRemove,
            other => self.ca_action(other)?,
        })
    }

    /// The CA's, the clock's, the faults' and the raw HTTP actions.
    fn ca_action(&self, keyword: &str) -> Result<Action, StepError> {
        let s = self.step;
        Ok(match keyword {
            "ca.issue" => Action::CaIssue { id: self.id()? },
            "ca.deny" => Action::CaDeny { id: self.id()? },
            "ca.revoke" => Action::CaRevoke {
                serial: self.serial(),
                reason: match &s.reason {
                    None => mock_ca::RevocationReason::Unspecified,
                    Some(r) => r
                        .get_ref()
                        .parse()
                        .map_err(|e: String| StepError::new(r.span(), format!("reason: {e}")))?,
                },
            },
            "ca.unrevoke" => Action::CaUnrevoke {
                serial: self.serial(),
            },
            "ca.crl" => Action::CaCrl {
                delta: flag(&s.delta),
            },
            "ca.renew" => Action::CaRenew {
                new_key: flag(&s.new_key),
            },
            "clock.advance" => Action::ClockAdvance {
                seconds: value(&s.seconds)
                    .ok_or_else(|| self.missing("`seconds` (negative goes back)"))?,
            },
            "clock.set" => {
                let time = s.time.as_ref().ok_or_else(|| {
                    self.missing("`time` (`2027-01-01T00:00:00Z` or Unix seconds)")
                })?;
                Action::ClockSet {
                    time: adcs_proto::x509::parse_time(time.get_ref()).ok_or_else(|| {
                        StepError::new(time.span(), format!("`{}` is not a time", time.get_ref()))
                    })?,
                }
            }
            "fault.set" => Action::FaultSet {
                rules: value(&s.faults).unwrap_or_default(),
            },
            "fault.clear" => Action::FaultClear,
            "scep.enroll" => Action::ScepEnroll {
                subject: value(&s.subject)
                    .ok_or_else(|| self.missing("`subject` (e.g. \"CN=router01.contoso.test\")"))?,
                challenge: match value(&s.challenge).as_deref() {
                    None | Some("admin") => ScepChallenge::Admin,
                    Some("none") => ScepChallenge::None,
                    Some(p) => ScepChallenge::Given(p.to_string()),
                },
                wait: value(&s.wait).unwrap_or(0),
            },
            "http" => Action::Http {
                method: value(&s.method).unwrap_or_else(|| "GET".into()),
                path: value(&s.path)
                    .ok_or_else(|| self.missing("`path` (under /certsrv/, or absolute)"))?,
                body: value(&s.body),
                via: self.via(false)?,
            },
            "ldap.search" => Action::LdapSearch(self.ldap_search()?),
            "ldap.modify" => Action::LdapModify(LdapModify {
                dn: value(&s.dn).ok_or_else(|| self.missing("`dn` (the entry to change)"))?,
                replace: value(&s.replace)
                    .ok_or_else(|| self.missing("`replace` (attribute = [values])"))?
                    .into_iter()
                    .collect(),
                bind: self.ldap_bind()?,
                ldaps: flag(&s.ldaps),
            }),
            other => unreachable!("`{other}` is in ACTION_KEYS but not converted"),
        })
    }

    /// `ldap.search`'s keys: the filter in RFC 4515's form, `sub` scope
    /// and an NTLM bind unless said otherwise.
    fn ldap_search(&self) -> Result<LdapSearch, StepError> {
        use adcs_proto::ldap::SearchRequestScope as S;
        let s = self.step;
        let scope = match value(&s.scope).as_deref() {
            None | Some("sub") => S::WholeSubtree,
            Some("one") => S::SingleLevel,
            Some("base") => S::BaseObject,
            Some(other) => {
                return Err(StepError::new(
                    span_of(&s.scope).unwrap_or(self.header.clone()),
                    format!("`scope = \"{other}\"`: expected base, one or sub"),
                ))
            }
        };
        let text = value(&s.filter).unwrap_or_else(|| "(objectClass=*)".into());
        let filter = adcs_proto::ldap::parse_filter(&text).map_err(|e| {
            StepError::new(
                span_of(&s.filter).unwrap_or(self.header.clone()),
                format!("`filter`: {e}"),
            )
        })?;
        Ok(LdapSearch {
            base: value(&s.base),
            scope,
            filter,
            attributes: value(&s.attributes).unwrap_or_default(),
            bind: self.ldap_bind()?,
            ldaps: flag(&s.ldaps),
        })
    }

    /// `via` (and, for RPC, `rpc_level`): HTTPS unless said otherwise;
    /// RPC only where the step submits (`rpc`).
    fn via(&self, rpc: bool) -> Result<Via, StepError> {
        let s = self.step;
        let at = |v: &Option<Spanned<String>>| span_of(v).unwrap_or(self.header.clone());
        let via = match value(&s.via).as_deref() {
            None | Some("https") => Via::Https,
            Some("http") => Via::Http,
            Some("rpc") if rpc => {
                let name = value(&s.rpc_level).unwrap_or_else(|| "privacy".into());
                let level = adcs_proto::rpc::secure::level::from_name(&name).ok_or_else(|| {
                    StepError::new(
                        at(&s.rpc_level),
                        format!("`rpc_level = \"{name}\"`: expected privacy, integrity or connect"),
                    )
                })?;
                Via::Rpc { level }
            }
            Some(other) => {
                let ways = if rpc {
                    "https, http or rpc"
                } else {
                    "https or http"
                };
                return Err(StepError::new(
                    at(&s.via),
                    format!("`via = \"{other}\"`: expected {ways}"),
                ));
            }
        };
        if s.rpc_level.is_some() && !matches!(via, Via::Rpc { .. }) {
            return Err(StepError::new(
                at(&s.rpc_level),
                "`rpc_level` goes with `via = \"rpc\"`",
            ));
        }
        Ok(via)
    }

    /// `bind`: NTLM unless said otherwise.
    fn ldap_bind(&self) -> Result<LdapBind, StepError> {
        let s = self.step;
        Ok(match value(&s.bind).as_deref() {
            None | Some("ntlm") => LdapBind::Ntlm,
            Some("simple") => LdapBind::Simple,
            Some("anonymous") => LdapBind::Anonymous,
            Some(other) => {
                return Err(StepError::new(
                    span_of(&s.bind).unwrap_or(self.header.clone()),
                    format!("`bind = \"{other}\"`: expected ntlm, simple or anonymous"),
                ))
            }
        })
    }

    /// `inf` or `inf_file`, exactly one.
    fn inf(&self) -> Result<InfSource, StepError> {
        match (&self.step.inf, &self.step.inf_file) {
            (Some(text), None) => Ok(InfSource::Inline(text.get_ref().clone())),
            (None, Some(file)) => Ok(InfSource::File(file.get_ref().clone())),
            (Some(_), Some(file)) => Err(StepError::new(
                file.span(),
                "give `inf` (inline) or `inf_file`, not both",
            )),
            (None, None) => Err(self.missing("`inf` (inline) or `inf_file`")),
        }
    }

    fn attributes(&self) -> Result<Vec<(String, String)>, StepError> {
        let Some(list) = &self.step.attrib else {
            return Ok(Vec::new());
        };
        adcs_client::flow::parse_attributes(list.get_ref())
            .map_err(|e| StepError::new(list.span(), format!("attrib: {e}")))
    }

    fn enroll_args(&self) -> Result<EnrollArgs, StepError> {
        Ok(EnrollArgs {
            template: value(&self.step.template),
            attributes: self.attributes()?,
            wait: value(&self.step.wait).unwrap_or(0),
        })
    }

    fn id(&self) -> Result<RequestRef, StepError> {
        let id = self
            .step
            .id
            .as_ref()
            .ok_or_else(|| self.missing("`id` (a number or \"last\")"))?;
        match id.get_ref() {
            WrittenId::Number(n) => Ok(RequestRef::Number(*n)),
            WrittenId::Word(w) if w == "last" => Ok(RequestRef::Last),
            WrittenId::Word(w) => Err(StepError::new(
                id.span(),
                format!("id `{w}` (a number or \"last\")"),
            )),
        }
    }

    fn serial(&self) -> SerialRef {
        match self.step.serial.as_ref().map(|s| s.get_ref().as_str()) {
            Some("last") | None => SerialRef::Latest,
            Some(s) => SerialRef::Hex(s.replace([' ', ':'], "").to_ascii_lowercase()),
        }
    }

    /// `subject`, `thumbprint`, `serial` or `cert` (at most one); the latest
    /// certificate when none is given. With `with_pfx_password`, the step's
    /// `pfx_password` opens a PFX that `cert` names.
    fn selector(&self, with_pfx_password: bool) -> Result<CertSelector, StepError> {
        let s = self.step;
        let given: Vec<(&str, Range<usize>)> = [
            ("subject", span_of(&s.subject)),
            ("thumbprint", span_of(&s.thumbprint)),
            ("serial", span_of(&s.serial)),
            ("cert", span_of(&s.cert)),
        ]
        .into_iter()
        .filter_map(|(k, span)| span.map(|at| (k, at)))
        .collect();
        if let [(first, _), (second, at), ..] = given.as_slice() {
            return Err(StepError::new(
                at.clone(),
                format!("give one certificate selector, not both `{first}` and `{second}`"),
            ));
        }
        Ok(if let Some(subject) = value(&s.subject) {
            CertSelector::Subject(subject)
        } else if let Some(thumbprint) = value(&s.thumbprint) {
            CertSelector::Thumbprint(thumbprint)
        } else if let Some(label) = value(&s.cert) {
            CertSelector::Label {
                label,
                pfx_password: value(&s.pfx_password).filter(|_| with_pfx_password),
            }
        } else {
            match value(&s.serial).as_deref() {
                Some("last") | None => CertSelector::Latest,
                Some(serial) => CertSelector::Serial(serial.to_string()),
            }
        })
    }

    /// A selector when one is given, else none.
    fn optional_selector(&self) -> Result<Option<CertSelector>, StepError> {
        let s = self.step;
        let any =
            s.subject.is_some() || s.thumbprint.is_some() || s.serial.is_some() || s.cert.is_some();
        Ok(if any {
            Some(self.selector(true)?)
        } else {
            None
        })
    }

    /// Where `pfx_password` only opens a PFX, it needs the `cert` that names one.
    fn pfx_password_needs_cert(&self) -> Result<(), StepError> {
        match (&self.step.pfx_password, &self.step.cert) {
            (Some(p), None) => Err(StepError::new(
                p.span(),
                "`pfx_password` goes with `cert` (the label of a PFX)",
            )),
            _ => Ok(()),
        }
    }

    /// An INF, a request, a store certificate, or the configured one:
    /// at most one is given.
    fn scom_check_target(&self) -> Result<ScomCheckTarget, StepError> {
        let s = self.step;
        let kinds = [
            span_of(&s.inf).or(span_of(&s.inf_file)),
            span_of(&s.request),
            span_of(&s.subject)
                .or(span_of(&s.thumbprint))
                .or(span_of(&s.cert)),
        ];
        if let [_, second, ..] = kinds.iter().flatten().collect::<Vec<_>>().as_slice() {
            return Err(StepError::new(
                (*second).clone(),
                "give one of an INF (`inf`/`inf_file`), a `request` or a certificate selector",
            ));
        }
        if s.inf.is_some() || s.inf_file.is_some() {
            return Ok(ScomCheckTarget::Inf(self.inf()?));
        }
        if let Some(label) = value(&s.request) {
            return Ok(ScomCheckTarget::Request(label));
        }
        Ok(match self.optional_selector()? {
            Some(selector) => ScomCheckTarget::Store(selector),
            None => ScomCheckTarget::Configured,
        })
    }
}
