//! Certificate templates with teeth: what an enterprise CA checks and writes
//! for each template, and the default set a fresh CA publishes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use adcs_proto::protocol::oid;
use adcs_proto::sd::rights;

/// Where the issued certificate's subject comes from. A subject built from
/// Active Directory also brings the requester's objectSid extension
/// (szOID_NTDS_CA_SECURITY_EXT, as CAs do since KB5014754); a subject
/// supplied in the request (CT_FLAG_ENROLLEE_SUPPLIES_SUBJECT) does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectSource {
    /// "Supply in the request": subject and SAN from the request.
    Request,
    /// "Build from Active Directory information", user style: CN=name, CN=Users, DC=…; UPN in the SAN.
    RequesterUser,
    /// "Build from Active Directory information", computer style: CN=host FQDN; DNS name in the SAN.
    RequesterMachine,
}

impl SubjectSource {
    /// "Build from Active Directory information" (the CA then adds the
    /// requester's objectSid extension).
    pub fn from_directory(self) -> bool {
        self != SubjectSource::Request
    }
}

/// Public key families a template allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyFamily {
    Rsa,
    Ecdsa,
}

/// One certificate template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The template's common name (what `CertificateTemplate:` names).
    pub name: String,
    pub display_name: String,
    /// 1 writes the v1 name extension; 2 and up write {OID, major, minor}.
    #[serde(default = "default_schema")]
    pub schema_version: u8,
    /// Template OID (v2+); derived from the name when absent.
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default = "default_major")]
    pub major_version: u32,
    #[serde(default)]
    pub minor_version: u32,
    /// EKU OIDs (also written as application policies for v2+).
    pub ekus: Vec<String>,
    /// Key usage as the Windows number (0xa0 = digitalSignature + keyEncipherment).
    pub key_usage: u16,
    #[serde(default = "yes")]
    pub key_usage_critical: bool,
    #[serde(default = "default_min_key")]
    pub min_key_size: u32,
    #[serde(default = "default_families")]
    pub key_families: Vec<KeyFamily>,
    pub validity_days: u32,
    pub subject: SubjectSource,
    /// Whether a SAN in the request is honoured (with `subject = "request"`).
    #[serde(default = "yes")]
    pub san_from_request: bool,
    /// "CA certificate manager approval": requests stay pending.
    #[serde(default)]
    pub requires_approval: bool,
    /// "Allow private key to be exported" (reported to clients; the CA never sees keys).
    #[serde(default)]
    pub exportable_key: bool,
    /// Users or groups with the Enroll permission (case-insensitive; `DOMAIN\name` or a group).
    pub enroll: Vec<String>,
    /// Published to this CA (certsrv lists and issues only published templates).
    #[serde(default = "yes")]
    pub published: bool,
    /// Users or groups with AutoEnroll (shown in the directory; the CA
    /// does not act on it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auto_enroll: Vec<String>,
    /// The template object's owner (Enterprise Admins in a fresh forest).
    #[serde(default = "default_owner")]
    pub owner: String,
    /// Rights on the template object besides Enroll, as AD stores them:
    /// who may read it, write its properties, its DACL or its owner. A
    /// grant with CONTROL_ACCESS (full control) carries every extended
    /// right, Enroll included.
    #[serde(default = "default_acl")]
    pub acl: Vec<Grant>,
    /// Attributes written through the directory that the CA does not act
    /// on (template flags, CSPs, critical extensions, …), kept as written
    /// (text, or hex for binary syntaxes) so the directory answers them
    /// back; an empty list is an attribute deleted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub directory_attributes: BTreeMap<String, Vec<String>>,
    /// When an administrator last changed it (the directory's
    /// whenChanged); never, for a template as the CA was made with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<i64>,
    /// CT_FLAG_NO_SECURITY_EXTENSION: certificates carry no objectSid
    /// extension even when the subject comes from the directory (ESC9).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_security_extension: bool,
    /// Issuance policy OIDs (msPKI-Certificate-Policy), written into every
    /// certificate's certificatePolicies extension.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuance_policies: Vec<String>,
    /// msPKI-RA-Signature: enrollment-agent signatures a request needs
    /// (on a schema 2+ template, what enrollment on behalf of others asks).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ra_signatures: u32,
    /// msPKI-RA-Application-Policies: purposes (OIDs) each such agent's
    /// certificate must have, e.g. Certificate Request Agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ra_application_policies: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An issuance policy of the forest (an OID object under `CN=OID`), linked
/// to a group when `group` is set (msDS-OIDToGroupLink: a certificate with
/// the policy makes its holder a member at sign-in, as ESC13 uses).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuancePolicy {
    pub oid: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// One access grant on a template object: a user or group and the access
/// mask AD stores (0x000F01FF full control, 0x00020094 read, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub who: String,
    pub mask: u32,
}

/// "Write" as Domain and Enterprise Admins hold it on a fresh forest's
/// templates: every right but the extended ones (Enroll is granted apart).
pub const WRITE_ALL: u32 = rights::FULL_CONTROL & !rights::CONTROL_ACCESS;

fn default_owner() -> String {
    "Enterprise Admins".into()
}

/// A fresh forest's template DACL besides Enroll: Authenticated Users
/// read, Domain and Enterprise Admins write.
pub fn default_acl() -> Vec<Grant> {
    vec![
        Grant {
            who: "Authenticated Users".into(),
            mask: rights::GENERIC_READ,
        },
        Grant {
            who: "Domain Admins".into(),
            mask: WRITE_ALL,
        },
        Grant {
            who: "Enterprise Admins".into(),
            mask: WRITE_ALL,
        },
    ]
}

fn default_schema() -> u8 {
    2
}
fn default_major() -> u32 {
    100
}
fn default_min_key() -> u32 {
    2048
}
fn default_families() -> Vec<KeyFamily> {
    vec![KeyFamily::Rsa]
}
fn yes() -> bool {
    true
}

/// The forest-specific OID root of templates made in this (test) forest.
pub(crate) const FOREST_TEMPLATE_ROOT: &str =
    "1.3.6.1.4.1.311.21.8.5734392.1645427.14185471.2658632.3425463.201";

impl Template {
    /// The template OID (explicit, or stable and derived from the name).
    pub fn template_oid(&self) -> String {
        if let Some(o) = &self.oid {
            return o.clone();
        }
        let h = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            self.name.to_ascii_lowercase().as_bytes(),
        );
        let a = u32::from_be_bytes([h.as_ref()[0], h.as_ref()[1], h.as_ref()[2], h.as_ref()[3]])
            & 0x00ff_ffff;
        let b = u32::from_be_bytes([h.as_ref()[4], h.as_ref()[5], h.as_ref()[6], h.as_ref()[7]])
            & 0x00ff_ffff;
        format!("{FOREST_TEMPLATE_ROOT}.{a}.{b}")
    }

    /// True when `who` (the account or one of its groups) may enroll. A
    /// name without `DOMAIN\\` on either side matches the same name in any
    /// domain (the CA knows one).
    pub fn may_enroll(&self, account: &str, groups: &[String]) -> bool {
        let full_control = self
            .acl
            .iter()
            .filter(|g| g.mask & rights::CONTROL_ACCESS != 0)
            .map(|g| g.who.clone());
        let holders: Vec<String> = self.enroll.iter().cloned().chain(full_control).collect();
        crate::db::named(&holders, account, groups)
    }

    /// "Duplicate Template": a copy under a new name, as a version 2 (or
    /// later) template at version 100.2 with an OID of its own (derived from
    /// the new name), not yet published to the CA.
    pub fn duplicate(&self, name: &str, display_name: &str) -> Template {
        Template {
            name: name.trim().to_string(),
            display_name: display_name.trim().to_string(),
            schema_version: self.schema_version.max(2),
            oid: None,
            major_version: 100,
            minor_version: 2,
            published: false,
            ..self.clone()
        }
    }

    /// True when `name_or_oid` names this template.
    pub fn matches(&self, name_or_oid: &str) -> bool {
        let n = name_or_oid.trim();
        self.name.eq_ignore_ascii_case(n) || self.template_oid() == n
    }
}

/// A schema version 1 template with a fresh forest's defaults (RSA 2048,
/// key usage 0xa0, the default ACL), published; other built-in sets start
/// from it too.
pub(crate) fn t(
    name: &str,
    display: &str,
    ekus: &[&str],
    subject: SubjectSource,
    days: u32,
    enroll: &[&str],
) -> Template {
    Template {
        name: name.into(),
        display_name: display.into(),
        schema_version: 1,
        oid: None,
        major_version: 4,
        minor_version: 1,
        ekus: ekus.iter().map(|s| s.to_string()).collect(),
        key_usage: 0xa0,
        key_usage_critical: true,
        min_key_size: 2048,
        key_families: vec![KeyFamily::Rsa],
        validity_days: days,
        subject,
        san_from_request: subject == SubjectSource::Request,
        requires_approval: false,
        exportable_key: false,
        enroll: enroll.iter().map(|s| s.to_string()).collect(),
        published: true,
        auto_enroll: Vec::new(),
        owner: default_owner(),
        acl: default_acl(),
        directory_attributes: BTreeMap::new(),
        changed_at: None,
        no_security_extension: false,
        issuance_policies: Vec::new(),
        ra_signatures: 0,
        ra_application_policies: Vec::new(),
    }
}

/// The templates a fresh enterprise CA publishes: WebServer, Machine, User,
/// IPSec (Offline request), the SCOM template `OperationsManager`
/// (duplicated from IPSec (Offline request) as the SCOM procedure describes),
/// and `WebServerApproval`, a Web Server copy that waits for a certificate
/// manager (the pending flow on an enterprise CA).
/// Enroll rights are wider than a real forest's so the default user can use
/// every template; tighten them in the configuration to test ACLs.
pub fn default_templates() -> Vec<Template> {
    use oid::*;
    vec![
        t(
            "WebServer",
            "Web Server",
            &[EKU_SERVER_AUTH],
            SubjectSource::Request,
            730,
            &["Authenticated Users"],
        ),
        t(
            "Machine",
            "Computer",
            &[EKU_CLIENT_AUTH, EKU_SERVER_AUTH],
            SubjectSource::RequesterMachine,
            365,
            &["Domain Computers", "Domain Admins", "Authenticated Users"],
        ),
        t(
            "User",
            "User",
            &[EKU_EFS, EKU_EMAIL_PROTECTION, EKU_CLIENT_AUTH],
            SubjectSource::RequesterUser,
            365,
            &["Domain Users", "Domain Admins"],
        ),
        t(
            "IPSECIntermediateOffline",
            "IPSec (Offline request)",
            &[EKU_IPSEC_IKE_INTERMEDIATE],
            SubjectSource::Request,
            730,
            &["Domain Admins", "Domain Computers", "Authenticated Users"],
        ),
        Template {
            schema_version: 2,
            major_version: 100,
            minor_version: 2,
            exportable_key: true,
            ..t(
                "OperationsManager",
                "Operations Manager",
                &[EKU_SERVER_AUTH, EKU_CLIENT_AUTH],
                SubjectSource::Request,
                730,
                &["Authenticated Users"],
            )
        },
        Template {
            requires_approval: true,
            ..t(
                "WebServerApproval",
                "Web Server (CA Manager Approval)",
                &[EKU_SERVER_AUTH],
                SubjectSource::Request,
                730,
                &["Authenticated Users"],
            )
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_matches_accounts_and_groups_case_insensitively() {
        let mut w = default_templates().remove(0);
        w.enroll = vec!["CONTOSO\\Web Admins".into(), "CONTOSO\\bob".into()];
        assert!(w.may_enroll("contoso\\BOB", &[]));
        assert!(w.may_enroll("CONTOSO\\alice", &["contoso\\web admins".into()]));
        assert!(!w.may_enroll("CONTOSO\\alice", &["CONTOSO\\Domain Users".into()]));
        // A group named without its domain is the CA's domain's.
        assert!(w.may_enroll("CONTOSO\\carol", &["Web Admins".into()]));
        assert!(!w.may_enroll("CONTOSO\\carol", &["OTHER\\Web Admins".into()]));
        assert!(w.may_enroll("bob", &[]));
        w.enroll.push("Authenticated Users".into());
        assert!(w.may_enroll("CONTOSO\\alice", &[]));
    }

    #[test]
    fn template_oids_are_stable_and_distinct() {
        let ts = default_templates();
        let scom = ts.iter().find(|t| t.name == "OperationsManager").unwrap();
        assert!(scom.template_oid().starts_with(oid::TEMPLATE_OID_ROOT));
        assert_eq!(scom.template_oid(), scom.clone().template_oid());
        assert_ne!(scom.template_oid(), ts[0].template_oid());
        assert!(scom.matches("operationsmanager") && scom.matches(&scom.template_oid()));
    }
}
