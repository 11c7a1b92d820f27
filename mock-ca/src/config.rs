//! What a CA world is made of: mode, names, keys, templates and flags.
//! Every field has a test-friendly default, so `CaConfig::default()` is a
//! working enterprise CA.

use serde::{Deserialize, Serialize};

use crate::keys::KeyAlgorithm;
use crate::template::{default_templates, IssuancePolicy, Template};

pub use adcs_proto::protocol::CaMode;

/// Policy-module edit flags (certutil -setreg policy\EditFlags).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EditFlags {
    /// EDITF_ATTRIBUTESUBJECTALTNAME2: honour `SAN:` request attributes.
    pub attribute_subject_alt_name2: bool,
}

/// The CA's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaConfig {
    pub mode: CaMode,
    /// A root CA that signs an issuing CA (as real deployments are), instead of one self-signed CA.
    pub two_tier: bool,
    /// Name of the root CA (two-tier only).
    pub root_name: String,
    /// Name of the CA that issues (the only CA when one-tier).
    pub ca_name: String,
    pub root_key: KeyAlgorithm,
    pub ca_key: KeyAlgorithm,
    pub root_validity_days: u32,
    pub ca_validity_days: u32,
    /// NetBIOS domain name (`CONTOSO`).
    pub netbios_domain: String,
    /// DNS domain (`contoso.test`).
    pub dns_domain: String,
    /// The CA server's DNS name (used in AIA file names, as AD CS does).
    pub host_name: String,
    /// Base URL written into CDP and AIA (`http://host`); `http://{host_name}` when absent.
    pub publish_url: Option<String>,
    /// Names in the web server's own TLS certificate (request 1).
    pub server_names: Vec<String>,
    pub templates: Vec<Template>,
    pub edit_flags: EditFlags,
    /// Validity of certificates a stand-alone CA issues.
    pub standalone_validity_days: u32,
    pub crl_period_hours: u32,
    pub delta_crl_period_hours: u32,
    /// The HighSerial byte of AD CS serials; derived from the seed when absent.
    pub high_serial: Option<u8>,
    /// Extensions (OIDs) left out of every certificate the CA issues, as
    /// `certutil -setreg policy\DisableExtensionList +OID` does; e.g.
    /// `1.3.6.1.4.1.311.25.2` drops the objectSid extension (KB5014754).
    pub disable_extensions: Vec<String>,
    /// The forest's issuance policies (`[[ca.issuance_policies]]`).
    pub issuance_policies: Vec<IssuancePolicy>,
    /// A CA without the CVE-2024-49019 fix ("EKUwu", ESC15): on schema
    /// version 1 templates that take the subject from the request, the
    /// request's Application Policies extension is copied into the
    /// certificate. Off (as patched): that extension is ignored.
    pub copy_request_application_policies: bool,
    /// Who manages the CA, who manages its certificates and who may
    /// enroll on it at all (`[ca.roles]`; the CA's Security tab).
    pub roles: CaRoles,
}

/// The CA's roles: its security descriptor, as the Security tab of the
/// CA's properties sets it. Each is a list of accounts or groups
/// (`CONTOSO\\alice`, `Domain Admins`, `Authenticated Users`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaRoles {
    /// ManageCA, "Manage CA": the CA's settings and which templates it
    /// issues (the console's settings and templates, the control plane's
    /// `ca` and `crl`).
    pub managers: Vec<String>,
    /// ManageCertificates, "Issue and Manage Certificates": approve,
    /// deny and revoke (the console's request views, the control plane's
    /// `requests`, `revoke`, `unrevoke`).
    pub officers: Vec<String>,
    /// Enroll, "Request Certificates": may submit at all; each template's
    /// own rights apply after. Others are denied with CERTSRV_E_ENROLL_DENIED.
    pub enrollees: Vec<String>,
}

/// The groups a fresh CA makes its managers and officers.
const CA_ADMINISTRATORS: [&str; 3] = ["Administrators", "Domain Admins", "Enterprise Admins"];

impl Default for CaRoles {
    fn default() -> Self {
        let admins = || CA_ADMINISTRATORS.iter().map(|s| s.to_string()).collect();
        CaRoles {
            managers: admins(),
            officers: admins(),
            enrollees: vec!["Authenticated Users".into()],
        }
    }
}

impl CaRoles {
    /// Whether `account` (or one of its groups) is a CA manager.
    pub fn manages(&self, account: &str, groups: &[String]) -> bool {
        crate::db::named(&self.managers, account, groups)
    }

    /// Whether `account` (or one of its groups) is a certificate manager.
    pub fn officer(&self, account: &str, groups: &[String]) -> bool {
        crate::db::named(&self.officers, account, groups)
    }

    /// Whether `account` (or one of its groups) may enroll on the CA.
    pub fn may_enroll(&self, account: &str, groups: &[String]) -> bool {
        crate::db::named(&self.enrollees, account, groups)
    }
}

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            mode: CaMode::Enterprise,
            two_tier: false,
            root_name: "CN=contoso-TEST-ROOT-CA, DC=contoso, DC=test".into(),
            ca_name: "CN=contoso-TEST-CA, DC=contoso, DC=test".into(),
            root_key: KeyAlgorithm::Rsa2048,
            ca_key: KeyAlgorithm::Rsa2048,
            root_validity_days: 3650,
            ca_validity_days: 1825,
            netbios_domain: "CONTOSO".into(),
            dns_domain: "contoso.test".into(),
            host_name: "ca01.contoso.test".into(),
            publish_url: None,
            server_names: vec![
                "ca01.contoso.test".into(),
                "localhost".into(),
                "127.0.0.1".into(),
                "::1".into(),
            ],
            templates: default_templates(),
            edit_flags: EditFlags::default(),
            standalone_validity_days: 365,
            crl_period_hours: 168,
            delta_crl_period_hours: 24,
            high_serial: None,
            disable_extensions: Vec::new(),
            issuance_policies: Vec::new(),
            copy_request_application_policies: false,
            roles: CaRoles::default(),
        }
    }
}

impl CaConfig {
    /// A stand-alone CA with the other defaults.
    pub fn standalone() -> Self {
        CaConfig {
            mode: CaMode::Standalone,
            ..CaConfig::default()
        }
    }

    /// True when `disable_extensions` lists `oid`.
    pub fn extension_disabled(&self, oid: &der::asn1::ObjectIdentifier) -> bool {
        self.disable_extensions
            .iter()
            .any(|o| der::asn1::ObjectIdentifier::new(o.trim()).is_ok_and(|d| d == *oid))
    }

    /// The template named by name or OID, if this CA knows it.
    pub fn template(&self, name_or_oid: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.matches(name_or_oid))
    }

    /// Checks what serde cannot: names parse, templates are unique and sane.
    pub fn validate(&self) -> Result<(), ConfigError> {
        adcs_proto::names::parse_dn(&self.ca_name)
            .map_err(|e| ConfigError::new("ca_name", e.to_string()))?;
        if self.two_tier {
            adcs_proto::names::parse_dn(&self.root_name)
                .map_err(|e| ConfigError::new("root_name", e.to_string()))?;
        }
        for (i, t) in self.templates.iter().enumerate() {
            if t.name.trim().is_empty() {
                return Err(ConfigError::new(format!("templates[{i}]"), "empty name"));
            }
            if let Some(why) = template_problem(t) {
                return Err(ConfigError::new(
                    format!("templates[{i}] ({})", t.name),
                    why,
                ));
            }
            if self.templates[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&t.name))
            {
                return Err(ConfigError::new(
                    format!("templates[{i}]"),
                    format!("duplicate template name `{}`", t.name),
                ));
            }
        }
        if let Some((i, o)) = self
            .disable_extensions
            .iter()
            .enumerate()
            .find(|(_, o)| der::asn1::ObjectIdentifier::new(o.trim()).is_err())
        {
            return Err(ConfigError::new(
                format!("disable_extensions[{i}]"),
                format!("`{o}` is not an OID"),
            ));
        }
        for (i, p) in self.issuance_policies.iter().enumerate() {
            if der::asn1::ObjectIdentifier::new(p.oid.trim()).is_err() {
                return Err(ConfigError::new(
                    format!("issuance_policies[{i}].oid"),
                    format!("`{}` is not an OID", p.oid),
                ));
            }
        }
        if self.crl_period_hours == 0 || self.delta_crl_period_hours == 0 {
            return Err(ConfigError::new(
                "crl_period_hours",
                "CRL periods must be at least one hour",
            ));
        }
        Ok(())
    }
}

/// What is wrong with one template's own fields, if anything.
fn template_problem(t: &Template) -> Option<String> {
    // `;` separates the fields of certrqxt's option values and `:` ends the
    // attribute name in `CertificateTemplate:<name>`.
    if let Some(c) = t
        .name
        .chars()
        .find(|c| c.is_control() || matches!(c, ';' | ':' | '\\' | '"'))
    {
        return Some(format!("the name may not contain {c:?}"));
    }
    if t.display_name.trim().is_empty() || t.display_name.chars().any(char::is_control) {
        return Some("the display name must be one line of text".into());
    }
    if t.min_key_size > 16384 {
        return Some(format!("min_key_size {} is above 16384", t.min_key_size));
    }
    if let Some(e) = t
        .ekus
        .iter()
        .find(|e| der::asn1::ObjectIdentifier::new(e).is_err())
    {
        return Some(format!("EKU `{e}` is not an OID"));
    }
    if let Some(p) = t
        .issuance_policies
        .iter()
        .find(|p| der::asn1::ObjectIdentifier::new(p).is_err())
    {
        return Some(format!("issuance policy `{p}` is not an OID"));
    }
    if let Some(o) = t
        .oid
        .as_ref()
        .filter(|o| der::asn1::ObjectIdentifier::new(o).is_err())
    {
        return Some(format!("oid `{o}` is not an OID"));
    }
    if t.validity_days == 0 {
        return Some("validity_days must be at least 1".into());
    }
    None
}

/// A configuration value that cannot be used: where it is, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The field or entry (`ca_name`, `templates[2] (WebServer)`, `fault `certfnsh.asp``).
    pub field: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
