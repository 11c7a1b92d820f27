//! The rules themselves, one function each, in the order a report lists
//! them. Each reads the same [`Context`] and adds its findings, so a rule
//! can be read (and changed) without the others in view.

use adcs_proto::protocol::oid;
use adcs_proto::public_key::PublicKeyKind;

use super::{
    registry_serial, serial_matches, ChainState, CheckOptions, Facts, Finding, KeyState,
    RegistryState, Severity, Status, Target,
};
use crate::scom::facts::{self, event, Event};

use Severity::*;
use Status::*;

/// What every rule reads: the facts, the options, and what follows from them.
pub(super) struct Context<'a> {
    pub facts: &'a Facts,
    pub opts: &'a CheckOptions,
    /// Before submission a template can still add what the request lacks.
    pub template_may_add: bool,
    /// "the template `T` must add", or empty when no template is named.
    pub template_note: String,
    /// The computer name as compared and reported (no trailing dot).
    pub want: &'a str,
}

impl<'a> Context<'a> {
    pub fn new(facts: &'a Facts, opts: &'a CheckOptions) -> Context<'a> {
        let is_cert = facts.target == Target::Certificate;
        Context {
            facts,
            opts,
            template_may_add: !is_cert && facts.template.is_some(),
            template_note: facts
                .template
                .as_deref()
                .map(|t| format!("the template `{t}` must add"))
                .unwrap_or_default(),
            want: opts.fqdn.trim().trim_end_matches('.'),
        }
    }

    /// A rule a template may still satisfy fails as a warning, not an error.
    fn unless_template_adds(&self) -> Severity {
        if self.template_may_add {
            Warning
        } else {
            Error
        }
    }
}

/// The findings so far, in report order.
#[derive(Default)]
pub(super) struct Findings(pub Vec<Finding>);

impl Findings {
    fn push(
        &mut self,
        rule: &'static str,
        status: Status,
        severity: Severity,
        event: Option<Event>,
        message: String,
    ) {
        self.0.push(Finding {
            rule,
            status,
            severity,
            event,
            message,
        })
    }
}

/// One rule: reads the context, adds zero or more findings.
pub(super) type Rule = fn(&Context, &mut Findings);

/// Every rule, in the order the report lists them (snapshot-tested).
pub(super) const RULES: &[Rule] = &[
    inf_warnings,
    key_usage,
    enhanced_key_usage,
    time_validity,
    name,
    private_key,
    machine_key,
    key_spec,
    chain,
    registry,
    key_size,
    signature_hash,
    template,
    exportable,
];

/// What reading the INF warned about, each as a warning.
fn inf_warnings(cx: &Context, out: &mut Findings) {
    for w in &cx.facts.inf_warnings {
        out.push("inf", Fail, Warning, None, w.clone());
    }
}

/// 20049: Digital Signature and Key Encipherment.
fn key_usage(cx: &Context, out: &mut Findings) {
    let template_note = &cx.template_note;
    match cx.facts.key_usage {
        Some((bits, critical)) if bits & facts::REQUIRED_KEY_USAGE == facts::REQUIRED_KEY_USAGE => {
            out.push(
                "key-usage",
                Pass,
                Error,
                Some(event::KEY_USAGE),
                format!(
                    "Key usage is {}{}",
                    ku_text(bits),
                    if critical { ", critical" } else { "" }
                ),
            )
        }
        Some((bits, _)) => {
            let missing = ku_text(facts::REQUIRED_KEY_USAGE & !bits);
            out.push(
                "key-usage",
                Fail,
                cx.unless_template_adds(),
                Some(event::KEY_USAGE),
                if cx.template_may_add {
                    format!("Key usage {} lacks {missing}; {template_note} Digital Signature and Key Encipherment", ku_text(bits))
                } else {
                    format!("Key usage {} lacks {missing}", ku_text(bits))
                },
            )
        }
        None => {
            out.push(
                "key-usage",
                Fail,
                cx.unless_template_adds(),
                Some(event::KEY_USAGE),
                if cx.template_may_add {
                    format!("There is no key usage; {template_note} Digital Signature and Key Encipherment")
                } else {
                    "There is no key usage extension (Digital Signature and Key Encipherment are required)".into()
                },
            )
        }
    }
}

/// 20050: Server and Client Authentication.
fn enhanced_key_usage(cx: &Context, out: &mut Findings) {
    let facts = cx.facts;
    let template_note = &cx.template_note;
    let missing_ekus: Vec<String> = facts::REQUIRED_EKUS
        .iter()
        .filter(|o| {
            !facts
                .ekus
                .as_ref()
                .is_some_and(|e| e.iter().any(|x| x == *o))
        })
        .map(|o| eku_name(o))
        .collect();
    match &facts.ekus {
        Some(e) if missing_ekus.is_empty() => out.push(
            "enhanced-key-usage",
            Pass,
            Error,
            Some(event::ENHANCED_KEY_USAGE),
            format!(
                "Enhanced key usage has {}",
                e.iter().map(|o| eku_name(o)).collect::<Vec<_>>().join(", ")
            ),
        ),
        _ => out.push(
            "enhanced-key-usage",
            Fail,
            cx.unless_template_adds(),
            Some(event::ENHANCED_KEY_USAGE),
            match (&facts.ekus, cx.template_may_add) {
                (_, true) => format!(
                    "Enhanced key usage lacks {}; {template_note} them",
                    missing_ekus.join(" and ")
                ),
                (None, false) => format!(
                    "There is no enhanced key usage extension ({} are required)",
                    missing_ekus.join(" and ")
                ),
                (Some(_), false) => {
                    format!("Enhanced key usage lacks {}", missing_ekus.join(" and "))
                }
            },
        ),
    }
}

/// 20051: valid now; 21020: not about to expire.
fn time_validity(cx: &Context, out: &mut Findings) {
    let now = cx.opts.now;
    match cx.facts.validity {
        Some((nb, _)) if now < nb => out.push(
            "validity",
            Fail,
            Error,
            Some(event::NOT_TIME_VALID),
            format!("The certificate is not valid yet: NotBefore {}", date(nb)),
        ),
        Some((_, na)) if now > na => out.push(
            "validity",
            Fail,
            Error,
            Some(event::NOT_TIME_VALID),
            format!("The certificate expired on {} (NotAfter)", date(na)),
        ),
        Some((nb, na)) => {
            out.push(
                "validity",
                Pass,
                Error,
                Some(event::NOT_TIME_VALID),
                format!("Valid from {} to {}", date(nb), date(na)),
            );
            let left = (na - now) / 86_400;
            let window = i64::from(cx.opts.expiry_warning_days);
            out.push(
                "expiry",
                if left < window { Fail } else { Pass },
                Warning,
                Some(event::EXPIRING),
                if left < window {
                    format!("The certificate expires on {} ({left} days left, within the {window}-day window): renew it", date(na))
                } else {
                    format!("{left} days until expiry")
                },
            );
        }
        None => out.push(
            "validity",
            Skip,
            Error,
            Some(event::NOT_TIME_VALID),
            "No validity period before issuance".into(),
        ),
    }
}

/// 20052: the name the agent uses against the computer name.
fn name(cx: &Context, out: &mut Findings) {
    let facts = cx.facts;
    let want = cx.want;
    let (name, from) = match (facts.dns_names.first(), facts.common_names.first()) {
        (Some(d), _) => (
            Some(d.clone()),
            "the first DNS name of the subject alternative name",
        ),
        (None, Some(cn)) => (Some(cn.clone()), "the subject common name"),
        (None, None) => (None, ""),
    };
    match name {
        None => out.push(
            "name",
            Fail,
            Error,
            Some(event::NAME_MISMATCH),
            "The subject has no common name and there is no DNS name in the subject alternative name".into(),
        ),
        Some(n) if n.trim_end_matches('.').eq_ignore_ascii_case(want) => {
            if facts.common_names.len() > 1 {
                out.push(
                    "name",
                    Fail,
                    Error,
                    Some(event::NAME_MISMATCH),
                    format!(
                        "The subject has {} common names ({}); SCOM needs exactly one",
                        facts.common_names.len(),
                        facts.common_names.join(", ")
                    ),
                )
            } else {
                out.push(
                    "name",
                    Pass,
                    Error,
                    Some(event::NAME_MISMATCH),
                    format!("The name `{n}` ({from}) matches the computer name `{want}`"),
                )
            }
        }
        Some(n) => out.push(
            "name",
            Fail,
            Error,
            Some(event::NAME_MISMATCH),
            format!("The name `{n}` ({from}) does not match the computer name `{want}`"),
        ),
    }
}

/// 20077 / 20068: a private key that is there and is the certificate's.
fn private_key(cx: &Context, out: &mut Findings) {
    match &cx.facts.key {
        KeyState::Unknown => out.push(
            "private-key",
            Skip,
            Error,
            None,
            match cx.facts.target {
                Target::Certificate => "The private key is not known for a certificate file (check the store entry or the PFX)".into(),
                _ => "The private key is made with the request".into(),
            },
        ),
        KeyState::NotLinked => out.push(
            "private-key",
            Fail,
            Error,
            Some(event::CANNOT_QUERY),
            "The certificate has no private key linked (import it with its key, or run `store repair` if the key is in the store)".into(),
        ),
        KeyState::Missing { container } => out.push(
            "private-key",
            Fail,
            Error,
            Some(event::NO_PRIVATE_KEY),
            format!("The private key (container {container}) is missing from the store"),
        ),
        KeyState::Mismatch { container } => out.push(
            "private-key",
            Fail,
            Error,
            Some(event::NO_PRIVATE_KEY),
            format!("The key in container {container} is not the certificate's key"),
        ),
        KeyState::Present => out.push(
            "private-key",
            Pass,
            Error,
            Some(event::NO_PRIVATE_KEY),
            "The private key is present and belongs to the certificate".into(),
        ),
    }
}

/// 20068: the agent runs as Local System, so the key must be the machine's.
fn machine_key(cx: &Context, out: &mut Findings) {
    let is_inf = cx.facts.target == Target::Inf;
    match cx.facts.machine_key_set {
        Some(true) => out.push(
            "machine-key",
            Pass,
            Error,
            Some(event::NO_PRIVATE_KEY),
            if is_inf {
                "MachineKeySet = TRUE: the key will be in the machine key set".into()
            } else {
                "The key is in the machine key set".into()
            },
        ),
        Some(false) => out.push(
            "machine-key",
            Fail,
            Error,
            Some(event::NO_PRIVATE_KEY),
            if is_inf {
                "MachineKeySet is FALSE: the key would belong to the user, and the agent (Local System) needs a machine key (MachineKeySet = TRUE)".into()
            } else {
                "The key belongs to a user, not to the machine; the agent needs a machine key"
                    .into()
            },
        ),
        None => out.push(
            "machine-key",
            Skip,
            Error,
            None,
            "Whether the key is a machine key is not known here".into(),
        ),
    }
}

/// 20069: a legacy CSP key with KeySpec 1 (AT_KEYEXCHANGE).
fn key_spec(cx: &Context, out: &mut Findings) {
    let facts = cx.facts;
    let in_provider = || {
        facts
            .provider
            .as_deref()
            .map(|p| format!(" in `{p}`"))
            .unwrap_or_default()
    };
    let ksp = facts
        .provider
        .as_deref()
        .is_some_and(|p| p.to_ascii_lowercase().contains("key storage provider"));
    match facts.key_spec {
        None => out.push(
            "key-spec",
            Skip,
            Error,
            None,
            "KeySpec is not known here".into(),
        ),
        Some(1) if !ksp => out.push(
            "key-spec",
            Pass,
            Error,
            Some(event::KEY_SPEC),
            format!("KeySpec is 1 (AT_KEYEXCHANGE){}", in_provider()),
        ),
        Some(spec) => out.push(
            "key-spec",
            Fail,
            Error,
            Some(event::KEY_SPEC),
            match spec {
                0 => format!(
                    "The key is a CNG (KSP) key{}; SCOM needs a legacy CSP key with KeySpec 1 (AT_KEYEXCHANGE), e.g. `Microsoft RSA SChannel Cryptographic Provider`",
                    in_provider()
                ),
                2 => "KeySpec is 2 (AT_SIGNATURE); SCOM needs 1 (AT_KEYEXCHANGE)".into(),
                n => format!("KeySpec is {n}; SCOM needs 1 (AT_KEYEXCHANGE)"),
            },
        ),
    }
}

/// 20072: a chain that builds to a trusted root.
fn chain(cx: &Context, out: &mut Findings) {
    match &cx.facts.chain {
        ChainState::Unknown => out.push(
            "chain",
            Skip,
            Error,
            None,
            "The chain is built once the certificate is issued".into(),
        ),
        ChainState::Trusted { root } => out.push(
            "chain",
            Pass,
            Error,
            Some(event::NOT_TRUSTED),
            format!("The chain ends in `{root}`, which is in Root"),
        ),
        ChainState::UntrustedRoot { root } => out.push(
            "chain",
            Fail,
            Error,
            Some(event::NOT_TRUSTED),
            format!("The chain ends in `{root}`, which is not in Root (import the CA's root certificate)"),
        ),
        ChainState::Incomplete { missing_issuer } => out.push(
            "chain",
            Fail,
            Error,
            Some(event::NOT_TRUSTED),
            format!("The issuer `{missing_issuer}` is in neither CA nor Root, so the chain does not build"),
        ),
    }
}

/// 20066 / 21022: the registry names this certificate (serial, then hash).
fn registry(cx: &Context, out: &mut Findings) {
    match (&cx.facts.registry, &cx.facts.serial) {
        (RegistryState::Skipped, _) | (_, None) => {}
        (RegistryState::NotConfigured { what }, _) => out.push(
            "registry-serial",
            Fail,
            Error,
            Some(event::NONE_SPECIFIED),
            format!("{what}: no certificate is configured for SCOM (run `scom import`)"),
        ),
        (RegistryState::Configured { serial, hash }, Some(cert_serial)) => {
            registry_serial_rule(serial, cert_serial, out);
            registry_hash_rule(cx, hash.as_deref(), out);
        }
    }
}

/// The registry's serial (reversed) against the certificate's.
fn registry_serial_rule(serial: &[u8], cert_serial: &[u8], out: &mut Findings) {
    if serial_matches(serial, cert_serial) {
        out.push(
            "registry-serial",
            Pass,
            Error,
            Some(event::NOT_FOUND),
            format!(
                "{} holds this certificate's serial, reversed ({})",
                facts::SERIAL_VALUE,
                adcs_proto::hex::hex(serial)
            ),
        );
    } else {
        out.push(
            "registry-serial",
            Fail,
            Error,
            Some(event::NOT_FOUND),
            format!(
                "{} names another certificate: {} (reversed), this one is {}",
                facts::SERIAL_VALUE,
                adcs_proto::hex::hex(serial),
                adcs_proto::hex::hex(&registry_serial(cert_serial))
            ),
        );
    }
}

/// The registry's thumbprint, when set, against the certificate's.
fn registry_hash_rule(cx: &Context, hash: Option<&str>, out: &mut Findings) {
    let thumb = cx.facts.thumbprint.clone().unwrap_or_default();
    match hash {
        None => out.push(
            "registry-hash",
            Skip,
            Warning,
            None,
            format!("{} is not set", facts::HASH_VALUE),
        ),
        Some(h) if h.trim().eq_ignore_ascii_case(&thumb) => out.push(
            "registry-hash",
            Pass,
            Warning,
            None,
            format!("{} is this certificate's thumbprint", facts::HASH_VALUE),
        ),
        Some(h) => out.push(
            "registry-hash",
            Fail,
            Warning,
            None,
            format!(
                "{} is {h}, not this certificate's thumbprint {thumb}",
                facts::HASH_VALUE
            ),
        ),
    }
}

/// Warning: the SCOM guide asks for an RSA key of 2048 bits or more.
fn key_size(cx: &Context, out: &mut Findings) {
    match &cx.facts.public_key {
        Some(PublicKeyKind::Rsa { bits }) if *bits >= facts::MIN_RSA_BITS => out.push(
            "key-size",
            Pass,
            Warning,
            None,
            format!("RSA {bits}-bit key"),
        ),
        Some(PublicKeyKind::Rsa { bits }) => out.push(
            "key-size",
            Fail,
            Warning,
            None,
            format!("The RSA key has {bits} bits; the SCOM guide asks for 2048 or 4096"),
        ),
        Some(other) => out.push(
            "key-size",
            Fail,
            Warning,
            None,
            format!(
                "The key is {} rather than RSA, which the SCOM guide asks for",
                describe_key(other)
            ),
        ),
        None => {}
    }
}

/// Warning: the SCOM guide asks for SHA-256 signatures.
fn signature_hash(cx: &Context, out: &mut Findings) {
    if let Some((name, hash)) = &cx.facts.signature {
        let ok = hash == "SHA256";
        out.push(
            "signature-hash",
            if ok { Pass } else { Fail },
            Warning,
            None,
            if ok {
                format!("Signed with {name}")
            } else {
                format!("Signed with {name}; the SCOM guide asks for SHA-256")
            },
        );
    }
}

/// Warning: expiry alerts, and enterprise CAs, need a template.
fn template(cx: &Context, out: &mut Findings) {
    let is_cert = cx.facts.target == Target::Certificate;
    match (&cx.facts.template, is_cert) {
        (Some(t), _) => out.push(
            "template",
            Pass,
            Warning,
            None,
            format!("Template `{t}`"),
        ),
        (None, true) => out.push(
            "template",
            Fail,
            Warning,
            None,
            "The certificate carries no template information; SCOM's expiry alerts need a certificate from an enterprise CA template".into(),
        ),
        (None, false) => out.push(
            "template",
            Fail,
            Warning,
            None,
            "No template is named; an enterprise CA will refuse the request without one (a stand-alone CA does not need it)".into(),
        ),
    }
}

/// Warning, only when the certificate is meant for another machine
/// ([`CheckOptions::for_export`]): its key must be exportable to leave this
/// store as a PFX, else the export fails with NTE_BAD_KEY_STATE. The agent
/// itself does not care, so without `for_export` this rule reports nothing.
fn exportable(cx: &Context, out: &mut Findings) {
    if !cx.opts.for_export {
        return;
    }
    let is_inf = cx.facts.target == Target::Inf;
    match cx.facts.exportable {
        Some(true) => out.push(
            "exportable",
            Pass,
            Warning,
            None,
            if is_inf {
                "Exportable = TRUE: the key can be moved to another machine as a PFX".into()
            } else {
                "The private key is exportable, so the certificate can be moved to another machine as a PFX".into()
            },
        ),
        Some(false) => out.push(
            "exportable",
            Fail,
            Warning,
            None,
            if is_inf {
                "Exportable is not TRUE: the key will not be exportable, so the certificate cannot be moved to another machine as a PFX; write `Exportable = TRUE`".into()
            } else {
                format!(
                    "The private key is not exportable, so the certificate cannot be moved to another machine as a PFX (export fails: {}); request it again with `Exportable = TRUE` (or `--exportable`)",
                    adcs_proto::protocol::HResult::NTE_BAD_KEY_STATE.status_text()
                )
            },
        ),
        None => out.push(
            "exportable",
            Skip,
            Warning,
            None,
            "Whether the key is exportable is not known here".into(),
        ),
    }
}

const KU_NAMES: [(u16, &str); 9] = [
    (0x80, "Digital Signature"),
    (0x40, "Non Repudiation"),
    (0x20, "Key Encipherment"),
    (0x10, "Data Encipherment"),
    (0x08, "Key Agreement"),
    (0x04, "Certificate Signing"),
    (0x02, "CRL Signing"),
    (0x01, "Encipher Only"),
    (0x8000, "Decipher Only"),
];

fn ku_text(bits: u16) -> String {
    let names: Vec<&str> = KU_NAMES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        format!("none ({bits:#04x})")
    } else {
        format!("{} ({bits:#04x})", names.join(", "))
    }
}

fn eku_name(o: &str) -> String {
    match o {
        oid::EKU_SERVER_AUTH => format!("Server Authentication ({o})"),
        oid::EKU_CLIENT_AUTH => format!("Client Authentication ({o})"),
        _ => o.to_string(),
    }
}

fn date(t: i64) -> String {
    adcs_proto::x509::rfc3339(t)
}

fn describe_key(k: &PublicKeyKind) -> String {
    match k {
        PublicKeyKind::Rsa { bits } => format!("RSA {bits}"),
        PublicKeyKind::Ec { curve, .. } => format!("ECDSA {curve}"),
        PublicKeyKind::Dsa { bits } => format!("DSA {bits}"),
        PublicKeyKind::Other { oid } => format!("a {oid} key"),
    }
}
