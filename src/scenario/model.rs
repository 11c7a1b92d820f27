//! A scenario as typed values: a world, then steps against both ends, each
//! an [`Action`] with the arguments it needs and what must hold after it.
//! Reading TOML into these types (and refusing a wrong argument before
//! anything runs) is `parse`'s job; see scenarios/README.md.

use std::path::PathBuf;

use mock_ca::serve::ServeConfig;
use mock_ca::web::faults::FaultRule;
use mock_ca::RevocationReason;
use serde::Deserialize;

/// Where the virtual clock starts unless the world says otherwise:
/// 2026-01-01T00:00:00Z, so every run sees the same times.
pub const DEFAULT_START: i64 = 1_767_225_600;
/// The client computer's name unless the scenario says otherwise.
pub const DEFAULT_FQDN: &str = "scom01.contoso.test";

/// One scenario file.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The CA, its users, auth and clock: the `serve --config` format.
    pub world: ServeConfig,
    /// The client computer's FQDN (subjects, SCOM name checks).
    pub fqdn: String,
    pub steps: Vec<Step>,
    /// The file it came from (set by `load`).
    pub path: PathBuf,
}

/// One step: what it does, as whom, and what must hold after it.
#[derive(Clone, Debug)]
pub struct Step {
    pub action: Action,
    /// Label of what the step makes (a request, a certificate, a PFX), for
    /// later steps to name.
    pub name: Option<String>,
    /// Account name (`CONTOSO\alice` or `alice`); the world's first user by default.
    pub user: Option<String>,
    /// Overrides the account's password (wrong-password cases).
    pub password: Option<String>,
    pub auth: Auth,
    /// The bound on each network wait (`timeout`, seconds; 60 by default).
    pub timeout: std::time::Duration,
    pub expect: Expect,
    /// Line of the step's `[[step]]` header, for messages.
    pub line: usize,
}

/// How a step signs in to certsrv.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    #[default]
    Ntlm,
    /// NTLM under the `Negotiate` label.
    Negotiate,
    Basic,
    /// Kerberos under `Negotiate`: a ticket from the world's KDC
    /// (`[world.kerberos]`) with the account's password.
    Kerberos,
}

/// What a step does (`do = "…"`), with its arguments.
#[derive(Clone, Debug)]
pub enum Action {
    /// `req.new`: certreq -new (or a self-signed certificate for `RequestType = Cert`).
    ReqNew { inf: InfSource },
    /// `req.submit`: certreq -submit through certfnsh.asp.
    ReqSubmit {
        /// The label of a `req.new` step; the latest request by default.
        request: Option<String>,
        template: Option<String>,
        attributes: Vec<(String, String)>,
        via: Via,
    },
    /// `req.retrieve`: certnew.cer?ReqID=.
    ReqRetrieve { id: RequestRef },
    /// `req.accept`: certreq -accept into My.
    ReqAccept {
        /// A certificate's label; the latest certificate by default.
        cert: Option<String>,
    },
    /// `req.enroll`: new, submit, wait and accept in one.
    ReqEnroll { inf: InfSource, enroll: EnrollArgs },
    /// `ca-cert.download`: the CA chain, pinned, into Root and CA.
    CaCertDownload,
    /// `store.export`: a My certificate and its key as a PFX.
    StoreExport {
        selector: CertSelector,
        pfx_password: String,
    },
    /// `store.import`: a certificate or PFX made earlier, into My.
    StoreImport {
        cert: String,
        pfx_password: Option<String>,
    },
    /// `store.delete`: remove from My.
    StoreDelete { selector: CertSelector },
    /// `store.repair`: certutil -repairstore.
    StoreRepair { selector: CertSelector },
    /// `scom.import`: MOMCertImport.
    ScomImport { selector: CertSelector, force: bool },
    /// `scom.check`: the agent's checks.
    ScomCheck { target: ScomCheckTarget },
    /// `scom.renew`: renew the configured (or selected) certificate and re-import it.
    ScomRenew {
        selector: Option<CertSelector>,
        new_key: bool,
        enroll: EnrollArgs,
    },
    /// `scom.enroll`: the SCOM guide's whole procedure.
    ScomEnroll(ScomProcedure),
    /// `scom.remove`: clear the configuration.
    ScomRemove,
    /// `ca.issue`: the certificate manager issues a pending request (the
    /// step's `user`, when given, through the control plane and its roles).
    CaIssue { id: RequestRef },
    /// `ca.deny`: the certificate manager denies a pending request.
    CaDeny { id: RequestRef },
    /// `ca.revoke`.
    CaRevoke {
        serial: SerialRef,
        reason: RevocationReason,
    },
    /// `ca.unrevoke`.
    CaUnrevoke { serial: SerialRef },
    /// `ca.crl`: publish a base or delta CRL.
    CaCrl { delta: bool },
    /// `ca.renew`: renew the CA certificate.
    CaRenew { new_key: bool },
    /// `clock.advance`: seconds (negative goes back).
    ClockAdvance { seconds: i64 },
    /// `clock.set`: Unix seconds.
    ClockSet { time: i64 },
    /// `fault.set`: replace the server's fault rules.
    FaultSet { rules: Vec<FaultRule> },
    /// `fault.clear`: remove them.
    FaultClear,
    /// `scep.enroll`: a device's SCEP enrollment through NDES (the world
    /// needs `[world.ndes]`).
    ScepEnroll {
        /// The requested subject.
        subject: String,
        challenge: ScepChallenge,
        /// Seconds to poll a pending request (0: report pending at once).
        wait: u64,
    },
    /// `ldap.search`: a search of the world's directory (`[world.ldap]`),
    /// bound as the step's user.
    LdapSearch(LdapSearch),
    /// `ldap.modify`: a change of one entry (a template, as `certipy
    /// template` writes it), bound as the step's user.
    LdapModify(LdapModify),
    /// `http`: a raw request, signed in.
    Http {
        method: String,
        /// Under /certsrv/ (or absolute).
        path: String,
        /// A form body (sent as `application/x-www-form-urlencoded`).
        body: Option<String>,
        via: Via,
    },
}

/// How a step reaches the CA (`via`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Via {
    /// The pages over HTTPS at the server's address (the default).
    #[default]
    Https,
    /// The pages over plain HTTP on IIS's port (`[world.iis]`), as a
    /// relay reaches web enrollment (ESC8).
    Http,
    /// ICertPassage over DCE/RPC at an `RPC_C_AUTHN_LEVEL_*` (`rpc_level`:
    /// packet privacy unless said otherwise; below it is ESC11's request).
    Rpc { level: u8 },
}

impl Action {
    /// The `do` word that names it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Action::ReqNew { .. } => "req.new",
            Action::ReqSubmit { .. } => "req.submit",
            Action::ReqRetrieve { .. } => "req.retrieve",
            Action::ReqAccept { .. } => "req.accept",
            Action::ReqEnroll { .. } => "req.enroll",
            Action::CaCertDownload => "ca-cert.download",
            Action::StoreExport { .. } => "store.export",
            Action::StoreImport { .. } => "store.import",
            Action::StoreDelete { .. } => "store.delete",
            Action::StoreRepair { .. } => "store.repair",
            Action::ScomImport { .. } => "scom.import",
            Action::ScomCheck { .. } => "scom.check",
            Action::ScomRenew { .. } => "scom.renew",
            Action::ScomEnroll(_) => "scom.enroll",
            Action::ScomRemove => "scom.remove",
            Action::CaIssue { .. } => "ca.issue",
            Action::CaDeny { .. } => "ca.deny",
            Action::CaRevoke { .. } => "ca.revoke",
            Action::CaUnrevoke { .. } => "ca.unrevoke",
            Action::CaCrl { .. } => "ca.crl",
            Action::CaRenew { .. } => "ca.renew",
            Action::ClockAdvance { .. } => "clock.advance",
            Action::ClockSet { .. } => "clock.set",
            Action::FaultSet { .. } => "fault.set",
            Action::FaultClear => "fault.clear",
            Action::ScepEnroll { .. } => "scep.enroll",
            Action::Http { .. } => "http",
            Action::LdapSearch(_) => "ldap.search",
            Action::LdapModify(_) => "ldap.modify",
        }
    }
}

/// An `ldap.search` step's search and bind.
#[derive(Clone, Debug, PartialEq)]
pub struct LdapSearch {
    /// The base DN, with `{domain}` and `{config}` standing for the naming
    /// contexts; the domain when absent.
    pub base: Option<String>,
    pub scope: adcs_proto::ldap::SearchRequestScope,
    pub filter: adcs_proto::ldap::Filter,
    pub attributes: Vec<String>,
    pub bind: LdapBind,
    /// Over LDAPS (trusting the world's root) instead of LDAP.
    pub ldaps: bool,
}

/// An `ldap.modify` step's change and bind.
#[derive(Clone, Debug, PartialEq)]
pub struct LdapModify {
    /// The entry, with `{domain}` and `{config}` as in `ldap.search`.
    pub dn: String,
    /// Each attribute replaced with these values (none: deleted).
    pub replace: Vec<(String, Vec<String>)>,
    pub bind: LdapBind,
    pub ldaps: bool,
}

/// How an `ldap.search` or `ldap.modify` step binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LdapBind {
    Ntlm,
    Simple,
    Anonymous,
}

/// Where a `scep.enroll` step's challenge password comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScepChallenge {
    /// From `mscep_admin`, signed in as the step's user (the default).
    Admin,
    /// `challenge = "none"`: no password.
    None,
    /// Any other text: sent as the password.
    Given(String),
}

/// Where a step's INF comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InfSource {
    /// `inf = """…"""`.
    Inline(String),
    /// `inf_file`, relative to the scenario file.
    File(PathBuf),
}

/// What an enrolment submits besides the request, and how long it waits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnrollArgs {
    pub template: Option<String>,
    /// Request attributes (`attrib = ["NAME:VALUE"]`).
    pub attributes: Vec<(String, String)>,
    /// Seconds to wait for approval (0: report pending at once).
    pub wait: u64,
}

/// How `scom.enroll` runs the SCOM guide's procedure.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScomProcedure {
    /// The guide's INF unless given (relative to the scenario file).
    pub inf_file: Option<PathBuf>,
    /// The CA makes the key (certrqma.asp) and answers with a PFX.
    pub web_portal: bool,
    /// Import even a certificate the agent would refuse.
    pub force: bool,
    /// A `pfx_password` was given: the key is made exportable.
    pub exportable: bool,
    pub enroll: EnrollArgs,
}

/// A request ID as a step names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestRef {
    Number(u32),
    /// `"last"`: the one the latest step produced.
    Last,
}

/// A serial number as a CA step names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SerialRef {
    /// Hex, lower case, without spaces or colons.
    Hex(String),
    /// `"last"` or none: the latest certificate's.
    Latest,
}

/// Which certificate a store or SCOM step means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertSelector {
    /// A My certificate by subject name.
    Subject(String),
    Thumbprint(String),
    /// Hex, as written.
    Serial(String),
    /// A certificate or PFX an earlier step made (`cert`), with the PFX's
    /// password.
    Label {
        label: String,
        pfx_password: Option<String>,
    },
    /// The certificate the latest step produced.
    Latest,
}

/// What `scom.check` looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScomCheckTarget {
    /// An INF, before any request is made.
    Inf(InfSource),
    /// A request an earlier step made (its label).
    Request(String),
    Store(CertSelector),
    /// The certificate the registry names (what the agent loads).
    Configured,
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
    /// Of the step's certificate: the UPNs in its SAN, whether it carries
    /// the objectSid extension (1.3.6.1.4.1.311.25.2), and the OIDs of its
    /// certificatePolicies (issuance policies) and Application Policies
    /// extensions (`[]`: none).
    pub upn: Option<Vec<String>>,
    pub sid: Option<bool>,
    pub policies: Option<Vec<String>>,
    pub application_policies: Option<Vec<String>>,
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
    /// scep.enroll: the failInfo of a FAILURE (`badRequest`, …).
    pub fail_info: Option<String>,
    /// Entries the server's journal must have recorded during the step.
    pub journal: Option<Vec<JournalExpect>>,
    /// ldap.search: how many entries it found.
    pub entries: Option<usize>,
    /// ldap.search: attribute values that must be among the entries'
    /// (`values = { certificateTemplates = ["User"] }`).
    pub values: Option<std::collections::BTreeMap<String, Vec<String>>>,
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
    /// `basic`, `ntlm`, `negotiate`, `kerberos`, `connection`.
    pub auth: Option<String>,
    pub request_id: Option<u32>,
    pub disposition: Option<String>,
    /// Whether a fault was injected into it.
    pub fault: Option<bool>,
    /// Part of what the journal says beyond the status (SCEP: operation,
    /// transaction ID, pkiStatus, failInfo; LDAP: base, filter, entries).
    pub detail: Option<String>,
}
