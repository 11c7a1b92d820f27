//! A vulnerable CA for testing AD CS tools: each ESC a setting that adds a
//! minimal example of that misconfiguration and nothing else, named as
//! Certipy's reports and the usual labs name them (a template `ESC1` for
//! ESC1, …). `serve --vulnerable esc1,esc4` or `[lab] vulnerable = […]`;
//! `all` for every one. The findings say where each is and who can use
//! it, so a test knows what a scanner should report.

use serde::{Deserialize, Serialize};

use crate::config::{CaConfig, ConfigError};
use crate::template::{t, Grant, IssuancePolicy, SubjectSource, Template, FOREST_TEMPLATE_ROOT};
use adcs_proto::protocol::oid;
use adcs_proto::sd::rights;

/// One misconfiguration the lab can set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Esc {
    /// A template whose enrollee supplies the subject, with client auth.
    Esc1,
    /// A template for any purpose.
    Esc2,
    /// A Certificate Request Agent template (enrollment agents).
    Esc3,
    /// A template low-privileged users may write.
    Esc4,
    /// EDITF_ATTRIBUTESUBJECTALTNAME2 on the CA.
    Esc6,
    /// Low-privileged CA managers and certificate managers.
    Esc7,
    /// Web enrollment over HTTP (IIS's port 80, where served) and over
    /// HTTPS without channel binding.
    Esc8,
    /// A client-auth template with CT_FLAG_NO_SECURITY_EXTENSION.
    Esc9,
    /// ICertPassage accepting requests without packet privacy
    /// (IF_ENFORCEENCRYPTICERTREQUEST off).
    Esc11,
    /// A client-auth template with an issuance policy linked to a group.
    Esc13,
    /// A schema version 1 template with the subject from the request, on a
    /// CA without the CVE-2024-49019 fix.
    Esc15,
    /// The SID extension in the CA's DisableExtensionList.
    Esc16,
}

impl Esc {
    pub const ALL: [Esc; 12] = [
        Esc::Esc1,
        Esc::Esc2,
        Esc::Esc3,
        Esc::Esc4,
        Esc::Esc6,
        Esc::Esc7,
        Esc::Esc8,
        Esc::Esc9,
        Esc::Esc11,
        Esc::Esc13,
        Esc::Esc15,
        Esc::Esc16,
    ];

    /// `ESC1`, as Certipy prints it.
    pub fn name(self) -> &'static str {
        match self {
            Esc::Esc1 => "ESC1",
            Esc::Esc2 => "ESC2",
            Esc::Esc3 => "ESC3",
            Esc::Esc4 => "ESC4",
            Esc::Esc6 => "ESC6",
            Esc::Esc7 => "ESC7",
            Esc::Esc8 => "ESC8",
            Esc::Esc9 => "ESC9",
            Esc::Esc11 => "ESC11",
            Esc::Esc13 => "ESC13",
            Esc::Esc15 => "ESC15",
            Esc::Esc16 => "ESC16",
        }
    }

    fn parse(word: &str) -> Option<Esc> {
        Esc::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(word.trim()))
    }
}

/// `[lab]` in serve.toml and scenario worlds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabConfig {
    /// `esc1`, `esc4`, … or `all`.
    pub vulnerable: Vec<String>,
    /// A fresh, patched Windows Server 2022 CA's templates and rights
    /// (see [`harden`]) before any `vulnerable` is set.
    pub hardened: bool,
}

impl LabConfig {
    /// The lab of `serve --vulnerable esc1,esc4` (or `all`).
    pub fn from_list(list: &str) -> LabConfig {
        LabConfig {
            hardened: false,
            vulnerable: list
                .split(',')
                .map(|w| w.trim().to_string())
                .filter(|w| !w.is_empty())
                .collect(),
        }
    }

    /// The ESCs named, in order, each once; the error names the entry.
    pub fn escs(&self) -> Result<Vec<Esc>, ConfigError> {
        let mut out = Vec::new();
        for (i, word) in self.vulnerable.iter().enumerate() {
            if word.trim().eq_ignore_ascii_case("all") {
                out.extend(Esc::ALL);
                continue;
            }
            let esc = Esc::parse(word).ok_or_else(|| {
                let known: Vec<&str> = Esc::ALL.iter().map(|e| e.name()).collect();
                ConfigError::new(
                    format!("lab.vulnerable[{i}]"),
                    format!("`{word}` is not one of all, {}", known.join(", ")),
                )
            })?;
            out.push(esc);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

pub use adcs_proto::ready::ReadyFinding as Finding;

/// A freshly installed, patched Windows Server 2022 enterprise CA's
/// templates, as `serve --hardened` sets them: Windows' own published
/// (User, Machine, Web Server) with Windows' enrollment rights (Web Server
/// for Domain Admins and Enterprise Admins only, Machine for Domain
/// Computers); Windows' others (IPSec (Offline request)) unpublished; the
/// SCOM template and the test templates, which a fresh forest has not,
/// gone. What Certipy then reports is what it reports of such a CA (ESC8
/// where web enrollment is served).
pub fn harden(ca: &mut CaConfig) {
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let windows = ["User", "Machine", "WebServer", "IPSECIntermediateOffline"];
    ca.templates.retain(|t| windows.contains(&t.name.as_str()));
    for t in &mut ca.templates {
        match t.name.as_str() {
            "User" => {}
            "WebServer" => t.enroll = names(&["Domain Admins", "Enterprise Admins"]),
            "Machine" => {
                t.enroll = names(&["Domain Computers", "Domain Admins", "Enterprise Admins"]);
            }
            _ => t.published = false,
        }
    }
}

/// The group every lab template grants to: every account is in it.
pub const LAB_PRINCIPAL: &str = "Domain Users";
/// The issuance policy of ESC13 and the group it links to.
pub const ESC13_GROUP: &str = "ESC13 Group";

/// ESC13's issuance policy OID, under the forest's OID root.
pub fn esc13_policy_oid() -> String {
    format!("{FOREST_TEMPLATE_ROOT}.400.13")
}

/// A version 2 template (as a duplicated one is) enrolled by Domain Users.
fn lab_template(name: &str, ekus: &[&str], subject: SubjectSource) -> Template {
    Template {
        schema_version: 2,
        major_version: 100,
        minor_version: 2,
        ..t(name, name, ekus, subject, 365, &[LAB_PRINCIPAL])
    }
}

/// Adds each ESC's template or sets its CA flag.
pub fn apply(ca: &mut CaConfig, escs: &[Esc]) {
    for esc in escs {
        match esc {
            Esc::Esc1 => ca.templates.push(lab_template(
                "ESC1",
                &[oid::EKU_CLIENT_AUTH],
                SubjectSource::Request,
            )),
            Esc::Esc2 => ca.templates.push(lab_template(
                "ESC2",
                &[oid::EKU_ANY_PURPOSE],
                SubjectSource::RequesterUser,
            )),
            Esc::Esc3 => ca.templates.push(lab_template(
                "ESC3",
                &[oid::EKU_CERTIFICATE_REQUEST_AGENT],
                SubjectSource::RequesterUser,
            )),
            Esc::Esc4 => {
                let mut w = lab_template(
                    "ESC4",
                    &[oid::EKU_CLIENT_AUTH],
                    SubjectSource::RequesterUser,
                );
                w.acl.push(Grant {
                    who: LAB_PRINCIPAL.into(),
                    mask: rights::FULL_CONTROL,
                });
                ca.templates.push(w);
            }
            Esc::Esc6 => ca.edit_flags.attribute_subject_alt_name2 = true,
            Esc::Esc7 => {
                ca.roles.managers.push(LAB_PRINCIPAL.into());
                ca.roles.officers.push(LAB_PRINCIPAL.into());
            }
            Esc::Esc9 => ca.templates.push(Template {
                no_security_extension: true,
                ..lab_template(
                    "ESC9",
                    &[oid::EKU_CLIENT_AUTH],
                    SubjectSource::RequesterUser,
                )
            }),
            Esc::Esc13 => {
                ca.issuance_policies.push(IssuancePolicy {
                    oid: esc13_policy_oid(),
                    name: "ESC13 Policy".into(),
                    group: Some(ESC13_GROUP.into()),
                });
                ca.templates.push(Template {
                    issuance_policies: vec![esc13_policy_oid()],
                    ..lab_template(
                        "ESC13",
                        &[oid::EKU_CLIENT_AUTH],
                        SubjectSource::RequesterUser,
                    )
                });
            }
            Esc::Esc15 => {
                ca.copy_request_application_policies = true;
                // IPSec (Offline request)'s purpose, not Server
                // Authentication, so that Certipy 5 sees ESC15 and not
                // also ESC17.
                ca.templates.push(t(
                    "ESC15",
                    "ESC15",
                    &[oid::EKU_IPSEC_IKE_INTERMEDIATE],
                    SubjectSource::Request,
                    365,
                    &[LAB_PRINCIPAL],
                ));
            }
            Esc::Esc16 => ca
                .disable_extensions
                .push(oid::NTDS_CA_SECURITY_EXT.to_string()),
            // Settings of the pages and of RPC: see `web_settings`.
            Esc::Esc8 | Esc::Esc11 => {}
        }
    }
}

/// The ESCs that are settings of the pages and of ICertPassage rather
/// than of the CA engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebSettings {
    /// ESC8: no channel binding on the pages (which IIS's port 80 serves
    /// over plain HTTP where it can be bound).
    pub channel_binding_off: bool,
    /// ESC11: ICertPassage takes requests without packet privacy.
    pub rpc_without_privacy: bool,
}

/// What `escs` set on the pages and on ICertPassage.
pub fn web_settings(escs: &[Esc]) -> WebSettings {
    WebSettings {
        channel_binding_off: escs.contains(&Esc::Esc8),
        rpc_without_privacy: escs.contains(&Esc::Esc11),
    }
}

/// What a scanner should report for `escs`, one finding each.
pub fn findings(escs: &[Esc]) -> Vec<Finding> {
    escs.iter()
        .map(|&esc| {
            let (target, what) = match esc {
                Esc::Esc1 => (
                    "ESC1",
                    "the enrollee supplies the subject; Client Authentication",
                ),
                Esc::Esc2 => ("ESC2", "Any Purpose EKU"),
                Esc::Esc3 => ("ESC3", "Certificate Request Agent EKU"),
                Esc::Esc4 => ("ESC4", "Domain Users have full control of the template"),
                Esc::Esc6 => (
                    "CA",
                    "EDITF_ATTRIBUTESUBJECTALTNAME2: SAN request attributes honoured",
                ),
                Esc::Esc7 => (
                    "CA",
                    "Domain Users hold ManageCA and ManageCertificates (the control plane's and console's CA and request actions)",
                ),
                Esc::Esc8 => (
                    "CA",
                    "web enrollment over HTTP (IIS's port 80) and over HTTPS without channel binding",
                ),
                Esc::Esc11 => (
                    "CA",
                    "ICertPassage takes requests without packet privacy (IF_ENFORCEENCRYPTICERTREQUEST off)",
                ),
                Esc::Esc9 => (
                    "ESC9",
                    "CT_FLAG_NO_SECURITY_EXTENSION; Client Authentication",
                ),
                Esc::Esc13 => ("ESC13", "issuance policy linked to the group ESC13 Group"),
                Esc::Esc15 => (
                    "ESC15",
                    "schema version 1, subject from the request, CA without the CVE-2024-49019 fix",
                ),
                Esc::Esc16 => ("CA", "the SID extension (1.3.6.1.4.1.311.25.2) is disabled"),
            };
            Finding {
                esc: esc.name().into(),
                target: target.into(),
                who: LAB_PRINCIPAL.into(),
                what: what.into(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardened_keeps_windows_own_templates_with_windows_rights() {
        let mut c = CaConfig::default();
        harden(&mut c);
        let published: Vec<&str> = c
            .templates
            .iter()
            .filter(|t| t.published)
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(published, ["WebServer", "Machine", "User"]);
        let web = c.templates.iter().find(|t| t.name == "WebServer").unwrap();
        assert!(!web.may_enroll("CONTOSO\\alice", &["Domain Users".into()]));
        assert!(web.may_enroll("CONTOSO\\root", &["Domain Admins".into()]));
        assert!(c.templates.iter().all(|t| t.name != "OperationsManager"));
    }

    #[test]
    fn lists_parse_with_all_and_errors_name_the_entry() {
        let lab = LabConfig::from_list("esc4, ESC1,esc4");
        assert_eq!(lab.escs().unwrap(), vec![Esc::Esc1, Esc::Esc4]);
        assert_eq!(
            LabConfig::from_list("all").escs().unwrap(),
            Esc::ALL.to_vec()
        );
        let e = LabConfig::from_list("esc1,esc99").escs().unwrap_err();
        assert_eq!(e.field, "lab.vulnerable[1]");
        assert!(
            e.reason.contains("`esc99`") && e.reason.contains("ESC16"),
            "{e}"
        );
    }

    #[test]
    fn every_esc_makes_a_valid_ca_and_changes_only_its_own_part() {
        let base = CaConfig::default();
        let mut all = base.clone();
        apply(&mut all, &Esc::ALL);
        all.validate().unwrap();
        for esc in Esc::ALL {
            let mut one = base.clone();
            apply(&mut one, &[esc]);
            one.validate().unwrap();
            let added: Vec<&str> = one.templates[base.templates.len()..]
                .iter()
                .map(|t| t.name.as_str())
                .collect();
            let finding = &findings(&[esc])[0];
            if matches!(esc, Esc::Esc8 | Esc::Esc11) {
                assert_eq!(one, base, "{esc:?} is a setting of the pages or RPC");
                assert_ne!(web_settings(&[esc]), WebSettings::default(), "{esc:?}");
            } else if finding.target == "CA" {
                assert!(added.is_empty(), "{esc:?} added {added:?}");
                assert_ne!(one, base, "{esc:?} changed nothing");
            } else {
                assert_eq!(added, [finding.target.as_str()], "{esc:?}");
            }
            assert_eq!(one.templates[..base.templates.len()], base.templates[..]);
        }
        assert!(all.edit_flags.attribute_subject_alt_name2);
        assert!(all.copy_request_application_policies);
        assert!(all.extension_disabled(&oid::NTDS_CA_SECURITY_EXT));
        assert_eq!(all.issuance_policies[0].group.as_deref(), Some(ESC13_GROUP));
    }
}
