//! The checks the SCOM agent (OpsMgr Connector) makes of its certificate,
//! and those Test-SCOMCertificate adds, each mapped to the event the agent
//! would log (certreq-scom.md §6.4). They run over a certificate (with what
//! the store knows of its key and chain, and what the registry says) or,
//! before submission, over a request or an INF.

use adcs_proto::protocol::oid;
use adcs_proto::public_key::PublicKeyKind;
use der::{Decode, Encode};
use serde::Serialize;
use x509_cert::Certificate;

use super::facts::{self, event, Event};
use crate::inf::{HashChoice, KeyChoice, RequestSpec};

/// How much a failed rule matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The agent would not load the certificate.
    Error,
    /// It would load, but something is off (or will be soon).
    Warning,
    /// Worth knowing.
    Info,
}

/// The outcome of one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not applicable, or not knowable from what was checked.
    Skip,
}

/// One rule's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule name (`key-usage`, `enhanced-key-usage`, …).
    pub rule: &'static str,
    pub status: Status,
    pub severity: Severity,
    /// The agent event a failure maps to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    pub message: String,
}

impl Finding {
    /// A failed rule of severity Error.
    pub fn is_error(&self) -> bool {
        self.status == Status::Fail && self.severity == Severity::Error
    }

    /// A failed rule of severity Warning.
    pub fn is_warning(&self) -> bool {
        self.status == Status::Fail && self.severity == Severity::Warning
    }
}

/// What was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Certificate,
    Request,
    Inf,
}

/// The verdict over one certificate, request or INF.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub target: Target,
    /// Where it came from (file, store entry, registry).
    pub source: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The name the agent would compare with the computer name.
    pub fqdn: String,
    pub findings: Vec<Finding>,
}

impl Report {
    /// No rule of severity Error failed.
    pub fn ok(&self) -> bool {
        !self.findings.iter().any(Finding::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_error())
    }

    /// The events the agent would log (20053 alone when all is well; an
    /// expiring certificate adds 21020).
    pub fn events(&self) -> Vec<Event> {
        let mut out: Vec<Event> = Vec::new();
        for f in &self.findings {
            if f.status == Status::Fail {
                if let Some(e) = f.event {
                    if !out.contains(&e) {
                        out.push(e);
                    }
                }
            }
        }
        if self.ok() && self.target == Target::Certificate {
            out.insert(0, event::LOADED);
        }
        out
    }

    /// The closing line: Test-SCOMCertificate's verdict for a certificate,
    /// a sentence for a request or INF.
    pub fn verdict(&self) -> String {
        match (self.target, self.ok()) {
            (Target::Certificate, true) => facts::VERDICT_GOOD.into(),
            (Target::Certificate, false) => facts::VERDICT_BAD.into(),
            (t, true) => format!(
                "This {} will produce a SCOM-usable certificate{}.",
                if t == Target::Inf { "INF" } else { "request" },
                if self.findings.iter().any(|f| f.is_warning()) {
                    " (see the warnings)"
                } else {
                    ""
                }
            ),
            (t, false) => format!(
                "This {} will not produce a SCOM-usable certificate because {}.",
                if t == Target::Inf { "INF" } else { "request" },
                self.errors()
                    .map(|f| lower_first(&f.message))
                    .collect::<Vec<_>>()
                    .join("; and ")
            ),
        }
    }
}

/// A sentence continued after "because": the first word in lower case,
/// unless it is a name (`KeySpec`, `MachineKeySet`).
fn lower_first(s: &str) -> String {
    let first_word = s.split(' ').next().unwrap_or_default();
    if first_word.chars().skip(1).any(char::is_uppercase) {
        return s.to_string();
    }
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Where the private key stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Not knowable (a request, an INF, a bare certificate file).
    Unknown,
    /// The certificate has no key linked (no key provider information).
    NotLinked,
    /// A key container is named but the key is not there.
    Missing {
        container: String,
    },
    /// The key is there but is not the certificate's.
    Mismatch {
        container: String,
    },
    Present,
}

/// Where the chain stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainState {
    Unknown,
    /// Ends in a root that is in `Root`.
    Trusted {
        root: String,
    },
    /// Ends in a root that is not in `Root`.
    UntrustedRoot {
        root: String,
    },
    /// An issuer is in neither `CA` nor `Root`.
    Incomplete {
        missing_issuer: String,
    },
}

/// What the registry says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryState {
    /// Not checked (a request, or asked not to).
    Skipped,
    /// No configuration (no file, no key or no serial value).
    NotConfigured { what: String },
    Configured {
        /// `ChannelCertificateSerialNumber` as stored (reversed).
        serial: Vec<u8>,
        hash: Option<String>,
    },
}

/// Everything the rules look at.
#[derive(Clone, Debug)]
pub struct Facts {
    pub target: Target,
    pub source: String,
    pub subject: String,
    pub common_names: Vec<String>,
    pub dns_names: Vec<String>,
    /// Key usage bits (Windows numbering) and whether critical; `None` = no extension.
    pub key_usage: Option<(u16, bool)>,
    /// EKU OIDs; `None` = no extension.
    pub ekus: Option<Vec<String>>,
    pub public_key: Option<PublicKeyKind>,
    /// Signature algorithm name (`sha256RSA`) and its hash (`SHA256`).
    pub signature: Option<(String, String)>,
    /// Template name or OID, when the certificate or request carries one.
    pub template: Option<String>,
    pub validity: Option<(i64, i64)>,
    pub key: KeyState,
    pub key_spec: Option<u32>,
    pub provider: Option<String>,
    pub machine_key_set: Option<bool>,
    pub chain: ChainState,
    pub registry: RegistryState,
    pub thumbprint: Option<String>,
    /// Serial number bytes as in the certificate.
    pub serial: Option<Vec<u8>>,
    /// What reading the INF warned about (file, line, what was done).
    pub inf_warnings: Vec<String>,
}

/// What the rules compare against.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The computer's FQDN (or, for a workgroup machine, its NetBIOS name).
    pub fqdn: String,
    /// "Now" for time validity (Unix seconds).
    pub now: i64,
    /// 21020 is reported this many days before expiry.
    pub expiry_warning_days: u32,
}

impl CheckOptions {
    pub fn new(fqdn: &str, now: i64) -> CheckOptions {
        CheckOptions {
            fqdn: fqdn.to_string(),
            now,
            expiry_warning_days: facts::DEFAULT_EXPIRY_WARNING_DAYS,
        }
    }
}

/// The signature algorithm's certutil name and hash.
fn signature_name(alg: &der::asn1::ObjectIdentifier) -> (String, String) {
    let known = [
        (oid::SHA1_WITH_RSA, "sha1RSA", "SHA1"),
        (oid::SHA256_WITH_RSA, "sha256RSA", "SHA256"),
        (oid::SHA384_WITH_RSA, "sha384RSA", "SHA384"),
        (oid::SHA512_WITH_RSA, "sha512RSA", "SHA512"),
        (oid::ECDSA_WITH_SHA1, "sha1ECDSA", "SHA1"),
        (oid::ECDSA_WITH_SHA256, "sha256ECDSA", "SHA256"),
        (oid::ECDSA_WITH_SHA384, "sha384ECDSA", "SHA384"),
        (oid::ECDSA_WITH_SHA512, "sha512ECDSA", "SHA512"),
    ];
    known
        .iter()
        .find(|(o, _, _)| o == alg)
        .map(|(_, n, h)| (n.to_string(), h.to_string()))
        .unwrap_or_else(|| (alg.to_string(), alg.to_string()))
}

fn cn_values(name: &x509_cert::name::Name) -> Vec<String> {
    let cn = der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");
    let mut out = Vec::new();
    for rdn in name.iter_rdn() {
        for atv in rdn.iter() {
            if atv.oid == cn {
                out.push(adcs_proto::names::attribute_text(atv));
            }
        }
    }
    // The most specific CN (encoded last) is the one Windows shows first.
    out.reverse();
    out
}

fn dns_of(san: &[adcs_proto::x509::SanEntry]) -> Vec<String> {
    san.iter()
        .filter_map(|e| match e {
            adcs_proto::x509::SanEntry::Dns(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn template_of(exts: &[x509_cert::ext::Extension]) -> Option<String> {
    if let Some(e) = exts.iter().find(|e| e.extn_id == oid::TEMPLATE_V2) {
        if let Ok(t) = adcs_proto::x509::TemplateV2::from_der(e.extn_value.as_bytes()) {
            return Some(t.oid.to_string());
        }
    }
    let e = exts.iter().find(|e| e.extn_id == oid::TEMPLATE_NAME)?;
    der::asn1::BmpString::from_der(e.extn_value.as_bytes())
        .ok()
        .map(|s| s.to_string())
}

fn eku_of(exts: &[x509_cert::ext::Extension]) -> Option<Vec<String>> {
    let e = exts.iter().find(|e| e.extn_id == oid::EXTENDED_KEY_USAGE)?;
    Some(
        Vec::<der::asn1::ObjectIdentifier>::from_der(e.extn_value.as_bytes())
            .map(|v| v.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
    )
}

fn ku_of(exts: &[x509_cert::ext::Extension]) -> Option<(u16, bool)> {
    let e = exts.iter().find(|e| e.extn_id == oid::KEY_USAGE)?;
    Some((
        adcs_proto::x509::key_usage_bits(e.extn_value.as_bytes()).unwrap_or(0),
        e.critical,
    ))
}

impl Facts {
    /// The facts a certificate itself carries; key, chain and registry
    /// states start as unknown / skipped for the caller to fill in.
    pub fn of_certificate(der: &[u8], source: &str) -> Result<Facts, String> {
        let cert =
            Certificate::from_der(der).map_err(|e| format!("{source}: not a certificate: {e}"))?;
        let tbs = cert.tbs_certificate();
        let exts: Vec<x509_cert::ext::Extension> = tbs.extensions().cloned().unwrap_or_default();
        let san = exts
            .iter()
            .find(|e| e.extn_id == oid::SUBJECT_ALT_NAME)
            .and_then(|e| adcs_proto::x509::parse_san(e.extn_value.as_bytes()).ok())
            .unwrap_or_default();
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| e.to_string())?;
        Ok(Facts {
            target: Target::Certificate,
            source: source.to_string(),
            subject: adcs_proto::names::format_dn(tbs.subject()),
            common_names: cn_values(tbs.subject()),
            dns_names: dns_of(&san),
            key_usage: ku_of(&exts),
            ekus: eku_of(&exts),
            public_key: PublicKeyKind::of_spki(&spki).ok(),
            signature: Some(signature_name(&cert.signature_algorithm().oid)),
            template: template_of(&exts),
            validity: Some((
                adcs_proto::x509::unix_time(&tbs.validity().not_before),
                adcs_proto::x509::unix_time(&tbs.validity().not_after),
            )),
            key: KeyState::Unknown,
            key_spec: None,
            provider: None,
            machine_key_set: None,
            chain: ChainState::Unknown,
            registry: RegistryState::Skipped,
            thumbprint: Some(crate::store::thumbprint(der)),
            serial: Some(tbs.serial_number().as_bytes().to_vec()),
            inf_warnings: Vec::new(),
        })
    }

    /// The facts of a request file (PEM or DER PKCS#10, or a PKCS#7 renewal).
    pub fn of_request(bytes: &[u8], source: &str) -> Result<Facts, String> {
        let parsed = adcs_proto::request::parse_request(bytes)
            .map_err(|e| format!("{source}: not a certificate request: {e}"))?;
        let sig = x509_cert::request::CertReq::from_der(&parsed.der)
            .ok()
            .map(|r| signature_name(&r.algorithm.oid));
        let template = template_of(&parsed.extensions).or_else(|| {
            parsed
                .attribute(crate::request::TEMPLATE_ATTRIBUTE)
                .map(str::to_string)
        });
        Ok(Facts {
            target: Target::Request,
            source: source.to_string(),
            subject: adcs_proto::names::format_dn(&parsed.subject),
            common_names: cn_values(&parsed.subject),
            dns_names: dns_of(&parsed.san()),
            key_usage: ku_of(&parsed.extensions),
            ekus: eku_of(&parsed.extensions),
            public_key: Some(parsed.key.clone()),
            signature: sig,
            template,
            validity: None,
            key: KeyState::Unknown,
            key_spec: parsed.csp.as_ref().map(|c| c.key_spec as u32),
            provider: parsed.csp.as_ref().map(|c| c.provider.clone()),
            machine_key_set: None,
            chain: ChainState::Unknown,
            registry: RegistryState::Skipped,
            thumbprint: None,
            serial: None,
            inf_warnings: Vec::new(),
        })
    }

    /// The facts of what an INF asks for.
    pub fn of_spec(spec: &RequestSpec, source: &str) -> Result<Facts, String> {
        let subject = adcs_proto::names::parse_dn(&spec.subject)
            .map_err(|e| format!("{source}: Subject: {e}"))?;
        // certreq marks the key usage it writes critical.
        let ku = crate::request::effective_key_usage(spec).map(|bits| (bits, true));
        let (key_spec, provider) = crate::request::provider(spec);
        let hash = match spec.hash {
            HashChoice::Sha1 => "SHA1",
            HashChoice::Sha256 => "SHA256",
            HashChoice::Sha384 => "SHA384",
            HashChoice::Sha512 => "SHA512",
        };
        Ok(Facts {
            target: Target::Inf,
            source: source.to_string(),
            subject: adcs_proto::names::format_dn(&subject),
            common_names: cn_values(&subject),
            dns_names: dns_of(&spec.san),
            key_usage: ku,
            ekus: (!spec.ekus.is_empty()).then(|| spec.ekus.clone()),
            public_key: Some(match spec.key {
                KeyChoice::Rsa(bits) => PublicKeyKind::Rsa { bits },
                KeyChoice::Dsa(bits) => PublicKeyKind::Dsa { bits },
                KeyChoice::Ecdsa(bits) => PublicKeyKind::Ec {
                    curve: format!("P-{bits}"),
                    bits,
                },
            }),
            signature: Some((format!("HashAlgorithm = {hash}"), hash.to_string())),
            template: crate::request::template_attribute(spec).map(str::to_string),
            validity: None,
            key: KeyState::Unknown,
            key_spec: Some(key_spec),
            provider: Some(provider),
            machine_key_set: Some(spec.machine_key_set),
            chain: ChainState::Unknown,
            registry: RegistryState::Skipped,
            thumbprint: None,
            serial: None,
            inf_warnings: spec.warnings.iter().map(ToString::to_string).collect(),
        })
    }
}

/// The serial's bytes as the registry holds them: least-significant first,
/// without the DER sign byte (CryptoAPI's CRYPT_INTEGER_BLOB form).
pub fn registry_serial(serial: &[u8]) -> Vec<u8> {
    let mut s = strip_leading_zeros(serial).to_vec();
    s.reverse();
    s
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b
        .iter()
        .position(|x| *x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    &b[first..]
}

/// Whether registry bytes name this serial (compared as integers).
pub fn serial_matches(registry: &[u8], serial: &[u8]) -> bool {
    let mut r = registry.to_vec();
    r.reverse();
    strip_leading_zeros(&r) == strip_leading_zeros(serial)
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

/// Runs every rule over `facts`.
pub fn evaluate(facts: &Facts, opts: &CheckOptions) -> Report {
    let mut out = Vec::new();
    let is_cert = facts.target == Target::Certificate;
    // Before submission a template can still add what the request lacks.
    let template_may_add = !is_cert && facts.template.is_some();
    let template_note = facts
        .template
        .as_deref()
        .map(|t| format!("the template `{t}` must add"))
        .unwrap_or_default();
    let mut push = |rule, status, severity, event: Option<Event>, message: String| {
        out.push(Finding {
            rule,
            status,
            severity,
            event,
            message,
        })
    };
    use Severity::*;
    use Status::*;

    for w in &facts.inf_warnings {
        push("inf", Fail, Warning, None, w.clone());
    }

    // 20049: key usage.
    match facts.key_usage {
        Some((bits, critical)) if bits & facts::REQUIRED_KEY_USAGE == facts::REQUIRED_KEY_USAGE => {
            push(
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
            push(
                "key-usage",
                Fail,
                if template_may_add { Warning } else { Error },
                Some(event::KEY_USAGE),
                if template_may_add {
                    format!("Key usage {} lacks {missing}; {template_note} Digital Signature and Key Encipherment", ku_text(bits))
                } else {
                    format!("Key usage {} lacks {missing}", ku_text(bits))
                },
            )
        }
        None => {
            push(
                "key-usage",
                Fail,
                if template_may_add { Warning } else { Error },
                Some(event::KEY_USAGE),
                if template_may_add {
                    format!("There is no key usage; {template_note} Digital Signature and Key Encipherment")
                } else {
                    "There is no key usage extension (Digital Signature and Key Encipherment are required)".into()
                },
            )
        }
    }

    // 20050: enhanced key usage.
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
        Some(e) if missing_ekus.is_empty() => push(
            "enhanced-key-usage",
            Pass,
            Error,
            Some(event::ENHANCED_KEY_USAGE),
            format!(
                "Enhanced key usage has {}",
                e.iter().map(|o| eku_name(o)).collect::<Vec<_>>().join(", ")
            ),
        ),
        _ => push(
            "enhanced-key-usage",
            Fail,
            if template_may_add { Warning } else { Error },
            Some(event::ENHANCED_KEY_USAGE),
            match (&facts.ekus, template_may_add) {
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

    // 20051 / 21020: time validity.
    match facts.validity {
        Some((nb, _)) if opts.now < nb => push(
            "validity",
            Fail,
            Error,
            Some(event::NOT_TIME_VALID),
            format!("The certificate is not valid yet: NotBefore {}", date(nb)),
        ),
        Some((_, na)) if opts.now > na => push(
            "validity",
            Fail,
            Error,
            Some(event::NOT_TIME_VALID),
            format!("The certificate expired on {} (NotAfter)", date(na)),
        ),
        Some((nb, na)) => {
            push(
                "validity",
                Pass,
                Error,
                Some(event::NOT_TIME_VALID),
                format!("Valid from {} to {}", date(nb), date(na)),
            );
            let left = (na - opts.now) / 86_400;
            let window = i64::from(opts.expiry_warning_days);
            push(
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
        None => push(
            "validity",
            Skip,
            Error,
            Some(event::NOT_TIME_VALID),
            "No validity period before issuance".into(),
        ),
    }

    // 20052: the name the agent uses, and its computer name.
    let want = opts.fqdn.trim().trim_end_matches('.');
    let (name, from) = match (facts.dns_names.first(), facts.common_names.first()) {
        (Some(d), _) => (
            Some(d.clone()),
            "the first DNS name of the subject alternative name",
        ),
        (None, Some(cn)) => (Some(cn.clone()), "the subject common name"),
        (None, None) => (None, ""),
    };
    match name {
        None => push(
            "name",
            Fail,
            Error,
            Some(event::NAME_MISMATCH),
            "The subject has no common name and there is no DNS name in the subject alternative name".into(),
        ),
        Some(n) if n.trim_end_matches('.').eq_ignore_ascii_case(want) => {
            if facts.common_names.len() > 1 {
                push(
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
                push(
                    "name",
                    Pass,
                    Error,
                    Some(event::NAME_MISMATCH),
                    format!("The name `{n}` ({from}) matches the computer name `{want}`"),
                )
            }
        }
        Some(n) => push(
            "name",
            Fail,
            Error,
            Some(event::NAME_MISMATCH),
            format!("The name `{n}` ({from}) does not match the computer name `{want}`"),
        ),
    }

    // 20077 / 20068: the private key.
    match &facts.key {
        KeyState::Unknown => push(
            "private-key",
            Skip,
            Error,
            None,
            match facts.target {
                Target::Certificate => "The private key is not known for a certificate file (check the store entry or the PFX)".into(),
                _ => "The private key is made with the request".into(),
            },
        ),
        KeyState::NotLinked => push(
            "private-key",
            Fail,
            Error,
            Some(event::CANNOT_QUERY),
            "The certificate has no private key linked (import it with its key, or run `store repair` if the key is in the store)".into(),
        ),
        KeyState::Missing { container } => push(
            "private-key",
            Fail,
            Error,
            Some(event::NO_PRIVATE_KEY),
            format!("The private key (container {container}) is missing from the store"),
        ),
        KeyState::Mismatch { container } => push(
            "private-key",
            Fail,
            Error,
            Some(event::NO_PRIVATE_KEY),
            format!("The key in container {container} is not the certificate's key"),
        ),
        KeyState::Present => push(
            "private-key",
            Pass,
            Error,
            Some(event::NO_PRIVATE_KEY),
            "The private key is present and belongs to the certificate".into(),
        ),
    }
    match facts.machine_key_set {
        Some(true) => push(
            "machine-key",
            Pass,
            Error,
            Some(event::NO_PRIVATE_KEY),
            if facts.target == Target::Inf {
                "MachineKeySet = TRUE: the key will be in the machine key set".into()
            } else {
                "The key is in the machine key set".into()
            },
        ),
        Some(false) => push(
            "machine-key",
            Fail,
            Error,
            Some(event::NO_PRIVATE_KEY),
            if facts.target == Target::Inf {
                "MachineKeySet is FALSE: the key would belong to the user, and the agent (Local System) needs a machine key (MachineKeySet = TRUE)".into()
            } else {
                "The key belongs to a user, not to the machine; the agent needs a machine key"
                    .into()
            },
        ),
        None => push(
            "machine-key",
            Skip,
            Error,
            None,
            "Whether the key is a machine key is not known here".into(),
        ),
    }

    // 20069: KeySpec and provider.
    let ksp = facts
        .provider
        .as_deref()
        .is_some_and(|p| p.to_ascii_lowercase().contains("key storage provider"));
    match facts.key_spec {
        None => push(
            "key-spec",
            Skip,
            Error,
            None,
            "KeySpec is not known here".into(),
        ),
        Some(1) if !ksp => push(
            "key-spec",
            Pass,
            Error,
            Some(event::KEY_SPEC),
            format!(
                "KeySpec is 1 (AT_KEYEXCHANGE){}",
                facts
                    .provider
                    .as_deref()
                    .map(|p| format!(" in `{p}`"))
                    .unwrap_or_default()
            ),
        ),
        Some(spec) => push(
            "key-spec",
            Fail,
            Error,
            Some(event::KEY_SPEC),
            match spec {
                0 => format!(
                    "The key is a CNG (KSP) key{}; SCOM needs a legacy CSP key with KeySpec 1 (AT_KEYEXCHANGE), e.g. `Microsoft RSA SChannel Cryptographic Provider`",
                    facts.provider.as_deref().map(|p| format!(" in `{p}`")).unwrap_or_default()
                ),
                2 => "KeySpec is 2 (AT_SIGNATURE); SCOM needs 1 (AT_KEYEXCHANGE)".into(),
                n => format!("KeySpec is {n}; SCOM needs 1 (AT_KEYEXCHANGE)"),
            },
        ),
    }

    // 20072: the chain.
    match &facts.chain {
        ChainState::Unknown => push(
            "chain",
            Skip,
            Error,
            None,
            "The chain is built once the certificate is issued".into(),
        ),
        ChainState::Trusted { root } => push(
            "chain",
            Pass,
            Error,
            Some(event::NOT_TRUSTED),
            format!("The chain ends in `{root}`, which is in Root"),
        ),
        ChainState::UntrustedRoot { root } => push(
            "chain",
            Fail,
            Error,
            Some(event::NOT_TRUSTED),
            format!("The chain ends in `{root}`, which is not in Root (import the CA's root certificate)"),
        ),
        ChainState::Incomplete { missing_issuer } => push(
            "chain",
            Fail,
            Error,
            Some(event::NOT_TRUSTED),
            format!("The issuer `{missing_issuer}` is in neither CA nor Root, so the chain does not build"),
        ),
    }

    // 20066 / 21022: the registry.
    match (&facts.registry, &facts.serial) {
        (RegistryState::Skipped, _) | (_, None) => {}
        (RegistryState::NotConfigured { what }, _) => push(
            "registry-serial",
            Fail,
            Error,
            Some(event::NONE_SPECIFIED),
            format!("{what}: no certificate is configured for SCOM (run `scom import`)"),
        ),
        (RegistryState::Configured { serial, hash }, Some(cert_serial)) => {
            if serial_matches(serial, cert_serial) {
                push(
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
                push(
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
            let thumb = facts.thumbprint.clone().unwrap_or_default();
            match hash {
                None => push(
                    "registry-hash",
                    Skip,
                    Warning,
                    None,
                    format!("{} is not set", facts::HASH_VALUE),
                ),
                Some(h) if h.trim().eq_ignore_ascii_case(&thumb) => push(
                    "registry-hash",
                    Pass,
                    Warning,
                    None,
                    format!("{} is this certificate's thumbprint", facts::HASH_VALUE),
                ),
                Some(h) => push(
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
    }

    // Warnings: key size and type, hash, template.
    match &facts.public_key {
        Some(PublicKeyKind::Rsa { bits }) if *bits >= facts::MIN_RSA_BITS => push(
            "key-size",
            Pass,
            Warning,
            None,
            format!("RSA {bits}-bit key"),
        ),
        Some(PublicKeyKind::Rsa { bits }) => push(
            "key-size",
            Fail,
            Warning,
            None,
            format!("The RSA key has {bits} bits; the SCOM guide asks for 2048 or 4096"),
        ),
        Some(other) => push(
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
    if let Some((name, hash)) = &facts.signature {
        let ok = hash == "SHA256";
        push(
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
    match (&facts.template, is_cert) {
        (Some(t), _) => push(
            "template",
            Pass,
            Warning,
            None,
            format!("Template `{t}`"),
        ),
        (None, true) => push(
            "template",
            Fail,
            Warning,
            None,
            "The certificate carries no template information; SCOM's expiry alerts need a certificate from an enterprise CA template".into(),
        ),
        (None, false) => push(
            "template",
            Fail,
            Warning,
            None,
            "No template is named; an enterprise CA will refuse the request without one (a stand-alone CA does not need it)".into(),
        ),
    }

    Report {
        target: facts.target,
        source: facts.source.clone(),
        subject: facts.subject.clone(),
        thumbprint: facts.thumbprint.clone(),
        serial: facts.serial.as_deref().map(crate::store::hex_upper),
        fqdn: want.to_string(),
        findings: out,
    }
}

fn describe_key(k: &PublicKeyKind) -> String {
    match k {
        PublicKeyKind::Rsa { bits } => format!("RSA {bits}"),
        PublicKeyKind::Ec { curve, .. } => format!("ECDSA {curve}"),
        PublicKeyKind::Dsa { bits } => format!("DSA {bits}"),
        PublicKeyKind::Other { oid } => format!("a {oid} key"),
    }
}

/// The report as people read it: one line per rule, then the events and the verdict.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    let what = match report.target {
        Target::Certificate => "Certificate",
        Target::Request => "Request",
        Target::Inf => "INF",
    };
    s.push_str(&format!("{what}: {} ({})\n", report.subject, report.source));
    if let Some(t) = &report.thumbprint {
        s.push_str(&format!("  Thumbprint: {t}\n"));
    }
    if let Some(serial) = &report.serial {
        s.push_str(&format!("  Serial Number: {serial}\n"));
    }
    s.push_str(&format!("  Computer name: {}\n", report.fqdn));
    for f in &report.findings {
        let tag = match (f.status, f.severity) {
            (Status::Pass, _) => "PASS",
            (Status::Skip, _) => "SKIP",
            (Status::Fail, Severity::Error) => "FAIL",
            (Status::Fail, Severity::Warning) => "WARN",
            (Status::Fail, Severity::Info) => "INFO",
        };
        let event = match (f.status, f.event) {
            (Status::Fail, Some(e)) => format!(" [event {}]", e.id),
            _ => String::new(),
        };
        s.push_str(&format!("  [{tag}] {}: {}{event}\n", f.rule, f.message));
    }
    let events = report.events();
    if report.target == Target::Certificate {
        for e in &events {
            s.push_str(&format!("SCOM would log {}: {}\n", e.id, e.text));
        }
    }
    s.push_str(&report.verdict());
    s.push('\n');
    s
}
