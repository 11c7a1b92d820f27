//! The policy module: what the CA does with a parsed request. Enterprise
//! mode resolves and enforces a template; stand-alone mode puts everything
//! pending and, once approved, issues what the request asks for. Denials
//! carry AD CS's HRESULTs and disposition texts (certsrv-protocol.md §3.4, §6).

use der::asn1::ObjectIdentifier;
use x509_cert::ext::Extension;
use x509_cert::name::Name;

use crate::config::{CaConfig, CaMode};
use crate::db::Requester;
use crate::template::{KeyFamily, SubjectSource, Template};
use adcs_proto::names::{common_name, name_from_parts};
use adcs_proto::protocol::{disposition_message, oid, HResult};
use adcs_proto::public_key::PublicKeyKind;
use adcs_proto::request::{ParsedRequest, TemplateRef};
use adcs_proto::x509::{self, extension, SanEntry};

/// What the policy decided.
#[derive(Debug)]
pub enum Decision {
    Issue(Box<IssuePlan>),
    Pending {
        template: Option<String>,
    },
    Deny {
        template: Option<String>,
        hresult: HResult,
        message: String,
    },
}

/// Everything the certificate will carry that does not depend on the CA's own keys.
#[derive(Debug, Clone)]
pub struct IssuePlan {
    pub template: Option<String>,
    pub subject: Name,
    pub validity_days: u32,
    /// Extensions in AD CS order, minus SKI/AKI/CDP/AIA (the CA adds those).
    pub san: Option<Extension>,
    pub body: Vec<Extension>,
}

fn deny(template: Option<&str>, hresult: HResult, message: String) -> Decision {
    Decision::Deny {
        template: template.map(str::to_string),
        hresult,
        message,
    }
}

fn policy_denial(template: &str, hresult: HResult) -> Decision {
    deny(
        Some(template),
        hresult,
        disposition_message::DENIED_BY_POLICY.to_string(),
    )
}

/// A requester without Enroll on the CA itself (its roles' `enrollees`).
fn enroll_denied() -> Decision {
    deny(
        None,
        HResult::ENROLL_DENIED,
        disposition_message::DENIED_BY_POLICY.to_string(),
    )
}

/// The CertificateTemplate attribute, case-insensitive (last one wins, as ICertRequest does).
fn template_attribute(attributes: &[(String, String)], parsed: &ParsedRequest) -> Option<String> {
    attributes
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case("CertificateTemplate"))
        .map(|(_, v)| v.trim().to_string())
        .or_else(|| {
            parsed
                .attribute("CertificateTemplate")
                .map(|v| v.trim().to_string())
        })
        .filter(|v| !v.is_empty())
}

/// Parses a `SAN:` attribute value: `dns=a&dns=b&upn=u&email=e&ipaddress=1.2.3.4&url=...`.
fn parse_san_attribute(value: &str) -> Result<Vec<SanEntry>, String> {
    let mut out = Vec::new();
    for part in value.split('&').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` has no `=`"))?;
        let v = v.trim().to_string();
        out.push(match k.trim().to_ascii_lowercase().as_str() {
            "dns" => SanEntry::Dns(v),
            "upn" => SanEntry::Upn(v),
            "email" => SanEntry::Email(v),
            "url" => SanEntry::Url(v),
            "ipaddress" | "ip" => SanEntry::Ip(
                v.parse()
                    .map_err(|_| format!("`{v}` is not an IP address"))?,
            ),
            other => return Err(format!("unknown SAN kind `{other}`")),
        });
    }
    Ok(out)
}

/// The SAN the certificate gets from the request: the `SAN:` attribute when
/// EDITF_ATTRIBUTESUBJECTALTNAME2 is set, otherwise the requested extension.
fn requested_san(
    config: &CaConfig,
    parsed: &ParsedRequest,
    attributes: &[(String, String)],
) -> Result<Option<Extension>, String> {
    Ok(match attribute_san(config, attributes)? {
        Some(san) => Some(san),
        None => parsed.extension(oid::SUBJECT_ALT_NAME).cloned(),
    })
}

/// The `SAN:` request attribute as a SAN extension, when the CA has
/// EDITF_ATTRIBUTESUBJECTALTNAME2 (ESC6): it then wins on every template,
/// also over the names a template builds from the directory.
fn attribute_san(
    config: &CaConfig,
    attributes: &[(String, String)],
) -> Result<Option<Extension>, String> {
    if !config.edit_flags.attribute_subject_alt_name2 {
        return Ok(None);
    }
    let Some((_, v)) = attributes
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case("SAN"))
    else {
        return Ok(None);
    };
    let entries = parse_san_attribute(v)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let value = x509::san_value(&entries).map_err(|e| e.to_string())?;
    Ok(Some(extension(oid::SUBJECT_ALT_NAME, false, value)))
}

fn oids(list: &[String]) -> Vec<ObjectIdentifier> {
    list.iter()
        .filter_map(|o| ObjectIdentifier::new(o).ok())
        .collect()
}

fn check_subject(subject: &Name) -> Result<(), ()> {
    if let Some(cn) = common_name(subject) {
        if cn.chars().count() > 64 {
            return Err(());
        }
    }
    Ok(())
}

/// Resolves the template a request names (attribute first, then extension).
fn resolve_template<'c>(
    config: &'c CaConfig,
    parsed: &ParsedRequest,
    attributes: &[(String, String)],
) -> Result<&'c Template, Decision> {
    let by_attr = template_attribute(attributes, parsed);
    let by_ext = parsed.template_ref();
    let wanted = match (&by_attr, &by_ext) {
        (Some(a), _) => a.clone(),
        (None, Some(TemplateRef::Name(n))) => n.clone(),
        (None, Some(TemplateRef::Oid { oid, .. })) => oid.clone(),
        (None, None) => {
            return Err(deny(
                None,
                HResult::NO_CERT_TYPE,
                format!(
                    "{}  0x{:x}, The request does not contain a certificate template extension or the CertificateTemplate request attribute.",
                    disposition_message::DENIED_BY_POLICY,
                    HResult::NO_CERT_TYPE.0
                ),
            ))
        }
    };
    let template = config.template(&wanted).filter(|t| t.published);
    let Some(template) = template else {
        return Err(deny(
            Some(&wanted),
            HResult::UNSUPPORTED_CERT_TYPE,
            format!(
                "{}  0x{:x}, The request was for a certificate template that is not supported by the Active Directory Certificate Services policy: {wanted}.",
                disposition_message::DENIED_BY_POLICY,
                HResult::UNSUPPORTED_CERT_TYPE.0
            ),
        ));
    };
    // The attribute and the extension must not name different templates.
    if let (Some(_), Some(ext)) = (&by_attr, &by_ext) {
        let ext_name = match ext {
            TemplateRef::Name(n) => n.clone(),
            TemplateRef::Oid { oid, .. } => oid.clone(),
        };
        if !template.matches(&ext_name) {
            return Err(policy_denial(&template.name, HResult::TEMPLATE_CONFLICT));
        }
    }
    Ok(template)
}

/// Decides a new submission. `approved` is true when a CA officer resubmits.
pub fn decide(
    config: &CaConfig,
    parsed: &ParsedRequest,
    requester: &Requester,
    attributes: &[(String, String)],
    approved: bool,
) -> Decision {
    if !approved
        && !config
            .roles
            .may_enroll(&requester.account, &requester.groups)
    {
        return enroll_denied();
    }
    match config.mode {
        CaMode::Standalone => {
            if !approved {
                return Decision::Pending { template: None };
            }
            standalone_plan(config, parsed, attributes)
        }
        CaMode::Enterprise => {
            enterprise(config, parsed, requester, requester, attributes, approved)
        }
    }
}

/// An enrollment agent as its signature on a request shows it: who, and
/// the purposes of its certificate.
pub struct Agent<'a> {
    pub who: &'a Requester,
    pub purposes: &'a [String],
}

/// Decides an enrollment agent's request for `target` (ESC3's second
/// step, and the smart-card enrollment station's flow): the agent needs
/// Enroll on the template, the certificate names the target. A schema 1
/// template takes the agent's signature as it is; a later one takes it
/// when it asks for RA signatures (msPKI-RA-Signature): one, from an agent
/// whose certificate has every purpose msPKI-RA-Application-Policies
/// names, Any Purpose included (as MS-WCCE has it: none wanted,
/// 0x80094809; more signatures wanted than one, 0x8009480A; a purpose
/// missing, 0x8009480B).
pub fn decide_on_behalf(
    config: &CaConfig,
    parsed: &ParsedRequest,
    agent: &Agent<'_>,
    target: &Requester,
    attributes: &[(String, String)],
) -> Decision {
    let who = agent.who;
    if !config.roles.may_enroll(&who.account, &who.groups) {
        return enroll_denied();
    }
    if config.mode == CaMode::Standalone {
        return decide(config, parsed, target, attributes, false);
    }
    let t = match resolve_template(config, parsed, attributes) {
        Err(d) => return d,
        Ok(t) => t,
    };
    let any = agent.purposes.iter().any(|p| p == oid::EKU_ANY_PURPOSE);
    let lacking = !any
        && t.ra_application_policies
            .iter()
            .any(|p| !agent.purposes.contains(p));
    let refusal = match (t.schema_version, t.ra_signatures) {
        (1, _) => None,
        (_, 0) => Some(HResult::SIGNATURE_POLICY_REQUIRED),
        (_, 1) if lacking => Some(HResult::SIGNATURE_REJECTED),
        (_, 1) => None,
        _ => Some(HResult::SIGNATURE_COUNT),
    };
    match refusal {
        Some(h) => policy_denial(&t.name, h),
        None => enterprise(config, parsed, who, target, attributes, false),
    }
}

/// An enterprise CA's decision: `enroller` needs the template's Enroll
/// right (the requester, or an enrollment agent), `enrollee` is whom the
/// certificate names.
fn enterprise(
    config: &CaConfig,
    parsed: &ParsedRequest,
    enroller: &Requester,
    enrollee: &Requester,
    attributes: &[(String, String)],
    approved: bool,
) -> Decision {
    let template = match resolve_template(config, parsed, attributes) {
        Ok(t) => t,
        Err(d) => return d,
    };
    if !approved {
        if !template.may_enroll(&enroller.account, &enroller.groups) {
            return policy_denial(&template.name, HResult::TEMPLATE_DENIED);
        }
        let family_ok = match parsed.key {
            PublicKeyKind::Rsa { .. } => template.key_families.contains(&KeyFamily::Rsa),
            PublicKeyKind::Ec { .. } => template.key_families.contains(&KeyFamily::Ecdsa),
            _ => false,
        };
        if !family_ok {
            return policy_denial(&template.name, HResult::NTE_BAD_ALGID);
        }
        if parsed.key.bits() < template.min_key_size {
            return policy_denial(&template.name, HResult::KEY_LENGTH);
        }
    }
    let plan = match enterprise_plan(config, template, parsed, enrollee, attributes) {
        Ok(p) => p,
        Err(d) => return d,
    };
    if template.requires_approval && !approved {
        return Decision::Pending {
            template: Some(template.name.clone()),
        };
    }
    Decision::Issue(Box::new(plan))
}

fn enterprise_plan(
    config: &CaConfig,
    template: &Template,
    parsed: &ParsedRequest,
    requester: &Requester,
    attributes: &[(String, String)],
) -> Result<IssuePlan, Decision> {
    let bad_subject = || policy_denial(&template.name, HResult::BAD_REQUESTSUBJECT);
    let (subject, mut san) = subject_and_san(config, template, parsed, requester, attributes)?;
    if template.subject.from_directory() {
        if let Some(asked) = attribute_san(config, attributes).map_err(|_| bad_subject())? {
            san = Some(asked);
        }
    }
    check_subject(&subject).map_err(|_| bad_subject())?;
    Ok(IssuePlan {
        template: Some(template.name.clone()),
        subject,
        validity_days: template.validity_days,
        san,
        body: template_extensions(config, template, parsed, requester)?,
    })
}

/// The subject and SAN a template gives: the request's, or the requester's
/// names from the directory.
fn subject_and_san(
    config: &CaConfig,
    template: &Template,
    parsed: &ParsedRequest,
    requester: &Requester,
    attributes: &[(String, String)],
) -> Result<(Name, Option<Extension>), Decision> {
    let bad_subject = || policy_denial(&template.name, HResult::BAD_REQUESTSUBJECT);
    Ok(match template.subject {
        SubjectSource::Request => {
            let san = if template.san_from_request {
                requested_san(config, parsed, attributes).map_err(|_| bad_subject())?
            } else {
                None
            };
            if parsed.subject.is_empty() && san.is_none() {
                return Err(bad_subject());
            }
            (parsed.subject.clone(), san)
        }
        SubjectSource::RequesterUser => {
            let mut parts = vec![
                ("2.5.4.3".to_string(), requester.short_name().to_string()),
                ("2.5.4.3".to_string(), "Users".to_string()),
            ];
            parts.extend(domain_components(&config.dns_domain));
            let subject = name_from_parts(&parts).map_err(|_| bad_subject())?;
            let upn = requester
                .upn
                .clone()
                .unwrap_or_else(|| format!("{}@{}", requester.short_name(), config.dns_domain));
            let mut entries = vec![SanEntry::Upn(upn)];
            if let Some(e) = &requester.email {
                entries.push(SanEntry::Email(e.clone()));
            }
            let value = x509::san_value(&entries).map_err(|_| bad_subject())?;
            (
                subject,
                Some(extension(oid::SUBJECT_ALT_NAME, false, value)),
            )
        }
        SubjectSource::RequesterMachine => {
            let dns = requester.dns_name.clone().unwrap_or_else(|| {
                format!(
                    "{}.{}",
                    requester
                        .short_name()
                        .trim_end_matches('$')
                        .to_ascii_lowercase(),
                    config.dns_domain
                )
            });
            let subject = name_from_parts(&[("2.5.4.3".to_string(), dns.clone())])
                .map_err(|_| bad_subject())?;
            let value = x509::san_value(&[SanEntry::Dns(dns)]).map_err(|_| bad_subject())?;
            (
                subject,
                Some(extension(oid::SUBJECT_ALT_NAME, false, value)),
            )
        }
    })
}

/// The extensions a template writes besides the SAN, in AD CS's order.
fn template_extensions(
    config: &CaConfig,
    template: &Template,
    parsed: &ParsedRequest,
    requester: &Requester,
) -> Result<Vec<Extension>, Decision> {
    let bad_subject = || policy_denial(&template.name, HResult::BAD_REQUESTSUBJECT);
    let ekus = oids(&template.ekus);
    let mut body = Vec::new();
    if template.schema_version < 2 {
        body.push(extension(
            oid::TEMPLATE_NAME,
            false,
            x509::template_name_value(&template.name),
        ));
    }
    body.push(extension(
        oid::KEY_USAGE,
        template.key_usage_critical,
        x509::key_usage_value(template.key_usage),
    ));
    if template.schema_version >= 2 {
        let t = x509::TemplateV2 {
            oid: ObjectIdentifier::new(&template.template_oid()).map_err(|_| bad_subject())?,
            major: template.major_version,
            minor: template.minor_version,
        };
        body.push(extension(oid::TEMPLATE_V2, false, crate::keys::to_der(&t)));
    }
    if !ekus.is_empty() {
        body.push(extension(
            oid::EXTENDED_KEY_USAGE,
            false,
            x509::eku_value(&ekus),
        ));
        if template.schema_version >= 2 {
            body.push(extension(
                oid::APPLICATION_POLICIES,
                false,
                x509::application_policies_value(&ekus),
            ));
        }
    }
    if let Some(ext) = requested_application_policies(config, template, parsed) {
        body.push(ext);
    }
    let policies = oids(&template.issuance_policies);
    if !policies.is_empty() {
        body.push(extension(
            oid::CERTIFICATE_POLICIES,
            false,
            x509::certificate_policies_value(&policies),
        ));
    }
    // KB5014754: a subject built from AD carries the requester's objectSid
    // (the CA fills `requester.sid`; a bare policy call without one adds
    // none), unless the template says CT_FLAG_NO_SECURITY_EXTENSION.
    let sid = requester
        .sid
        .as_ref()
        .filter(|_| !template.no_security_extension);
    if let (true, Some(sid)) = (template.subject.from_directory(), sid) {
        body.push(extension(
            oid::NTDS_CA_SECURITY_EXT,
            false,
            x509::sid_extension_value(sid).map_err(|_| bad_subject())?,
        ));
    }
    Ok(body)
}

/// The request's Application Policies extension, copied as a CA without
/// the CVE-2024-49019 fix does (ESC15): only for schema version 1
/// templates that take the subject from the request, only when the CA is
/// configured unpatched. A v2+ template writes its own (above).
fn requested_application_policies(
    config: &CaConfig,
    template: &Template,
    parsed: &ParsedRequest,
) -> Option<Extension> {
    let applies = config.copy_request_application_policies
        && template.schema_version < 2
        && template.subject == SubjectSource::Request;
    applies
        .then(|| parsed.extension(oid::APPLICATION_POLICIES).cloned())
        .flatten()
}

/// Requested extensions a stand-alone CA copies into the certificate.
const STANDALONE_COPIED: &[&str] = &[
    "2.5.29.15",             // key usage
    "2.5.29.37",             // EKU
    "1.3.6.1.4.1.311.21.10", // application policies
    "1.2.840.113549.1.9.15", // S/MIME capabilities
];

fn standalone_plan(
    config: &CaConfig,
    parsed: &ParsedRequest,
    attributes: &[(String, String)],
) -> Decision {
    let san = match requested_san(config, parsed, attributes) {
        Ok(s) => s,
        Err(_) => {
            return deny(
                None,
                HResult::BAD_REQUESTSUBJECT,
                disposition_message::DENIED_BY_POLICY.to_string(),
            )
        }
    };
    if (parsed.subject.is_empty() && san.is_none()) || check_subject(&parsed.subject).is_err() {
        return deny(
            None,
            HResult::BAD_REQUESTSUBJECT,
            disposition_message::DENIED_BY_POLICY.to_string(),
        );
    }
    let body = STANDALONE_COPIED
        .iter()
        .filter_map(|o| parsed.extension(ObjectIdentifier::new_unwrap(o)).cloned())
        .collect();
    Decision::Issue(Box::new(IssuePlan {
        template: None,
        subject: parsed.subject.clone(),
        validity_days: config.standalone_validity_days,
        san,
        body,
    }))
}

fn domain_components(dns_domain: &str) -> Vec<(String, String)> {
    dns_domain
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|p| ("0.9.2342.19200300.100.1.25".to_string(), p.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn san_attribute_grammar() {
        let v = parse_san_attribute(
            "dns=a.test&DNS=b.test&upn=u@x&ipaddress=10.0.0.1&email=e@x&url=http://x",
        )
        .unwrap();
        assert_eq!(v.len(), 6);
        assert_eq!(v[1], SanEntry::Dns("b.test".into()));
        assert!(parse_san_attribute("dns").is_err());
        assert!(parse_san_attribute("ipaddress=nope").is_err());
        assert!(parse_san_attribute("guid=1").is_err());
    }
}
