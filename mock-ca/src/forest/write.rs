//! Writes through the directory where AD lets a client write: a
//! certificate template's attributes and its security descriptor, when
//! the template's DACL grants the caller the right (WRITE_PROPERTY for
//! attributes, WRITE_DACL and WRITE_OWNER for the descriptor; its owner
//! may always change the DACL). This is `certipy template`'s path (ESC4).
//! The result is the template the CA issues from next; what the CA cannot
//! act on yet is refused rather than shown and ignored.

use std::collections::BTreeMap;

use adcs_proto::ldap::{ChangeOperation, Outcome, ResultCode};
use adcs_proto::sd::{extended_right, part, rights, Guid, SecurityDescriptor, Sid};

use super::domain::sid_of;
use super::pki::{self, template_sd};
use super::schema::{self, Matching};
use super::{normalize_dn, Maker, Naming};
use crate::accounts::{Directory, Identity};
use crate::ca::Ca;
use crate::template::{Grant, SubjectSource, Template};

/// One modification, as a ModifyRequest carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub op: ChangeOperation,
    pub attribute: String,
    pub values: Vec<Vec<u8>>,
}

impl Change {
    /// The changes a ModifyRequest carries, in order.
    pub fn all_of(m: &adcs_proto::ldap::ModifyRequest) -> Vec<Change> {
        m.changes
            .iter()
            .map(|c| Change {
                op: c.operation,
                attribute: c.modification.r#type.to_string(),
                values: c.modification.vals.iter().map(|v| v.to_vec()).collect(),
            })
            .collect()
    }
}

const INSUFFICIENT: &str =
    "00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0\n\0";
const WILL_NOT_PERFORM: &str =
    "0000209A: SvcErr: DSID-03152D2C, problem 5003 (WILL_NOT_PERFORM), data 0\n\0";

fn refuse(code: ResultCode, text: impl Into<String>) -> Outcome {
    Outcome::new(code, text)
}

/// Attributes no client writes: the object's identity and bookkeeping.
const FIXED: &[&str] = &[
    "objectClass",
    "cn",
    "name",
    "distinguishedName",
    "objectGUID",
    "objectCategory",
    "instanceType",
    "whenCreated",
    "whenChanged",
    "uSNCreated",
    "uSNChanged",
    "msPKI-Cert-Template-OID",
];

/// Applies `changes` to the template at `dn` as `who`, returning the
/// changed template (the caller puts it in force), or AD's refusal.
pub fn modify(
    ca: &Ca,
    accounts: &Directory,
    naming: &Naming,
    who: &Identity,
    dn: &str,
    changes: &[Change],
    sd_parts: u32,
) -> Result<Template, Outcome> {
    let seed = ca.seed();
    let m = Maker::new(naming, &seed, ca.created_at());
    let Some(old) = template_at(ca, naming, dn) else {
        let exists = super::objects(ca, accounts, naming)
            .iter()
            .any(|e| normalize_dn(&e.dn) == normalize_dn(dn));
        return Err(if exists {
            refuse(ResultCode::InsufficientAccessRights, INSUFFICIENT)
        } else {
            refuse(ResultCode::NoSuchObject, format!("0000208D: NameErr: DSID-03100289, problem 2001 (NO_OBJECT), data 0, best match of:\n\t'{}'\n\0", naming.pki_dn()))
        });
    };
    let granted = rights_of(&m, accounts, who, &old);
    let need = |right: u32| -> Result<(), Outcome> {
        if granted & right == right {
            Ok(())
        } else {
            Err(refuse(ResultCode::InsufficientAccessRights, INSUFFICIENT))
        }
    };
    let entry = pki::template(&m, accounts, &old);
    let mut attrs: BTreeMap<&'static str, Vec<Vec<u8>>> = entry
        .attributes
        .iter()
        .map(|(a, v)| (a.name, v.clone()))
        .collect();
    let mut touched = Vec::new();
    let mut sd = None;
    for c in changes {
        let Some(a) = schema::attribute(&c.attribute) else {
            return Err(refuse(ResultCode::UndefinedAttributeType, format!("00000057: LdapErr: DSID-0C090D8A, comment: Error in attribute conversion operation, data 0, v4563 ({})\0", c.attribute)));
        };
        if a.name == "nTSecurityDescriptor" {
            if sd_parts & part::DACL != 0 {
                need(rights::WRITE_DACL)?;
            }
            if sd_parts & (part::OWNER | part::GROUP) != 0 {
                need(rights::WRITE_OWNER)?;
            }
            let value = c.values.first().filter(|_| c.op != ChangeOperation::Delete);
            let parsed = value
                .map(|v| SecurityDescriptor::parse(v))
                .transpose()
                .map_err(|e| {
                    refuse(
                        ResultCode::ConstraintViolation,
                        format!("nTSecurityDescriptor: {e}"),
                    )
                })?
                .ok_or_else(|| refuse(ResultCode::UnwillingToPerform, WILL_NOT_PERFORM))?;
            sd = Some(parsed);
            continue;
        }
        if a.system || FIXED.contains(&a.name) {
            let code = if ["cn", "name"].contains(&a.name) {
                ResultCode::NotAllowedOnRdn
            } else {
                ResultCode::UnwillingToPerform
            };
            return Err(refuse(code, WILL_NOT_PERFORM));
        }
        need(rights::WRITE_PROPERTY)?;
        apply(&mut attrs, a, c)?;
        touched.push(a.name);
    }
    let mut t = from_attributes(old, &attrs, &touched)?;
    if let Some(sd) = sd {
        with_descriptor(&m, ca, accounts, &mut t, sd, sd_parts);
    }
    Ok(t)
}

/// The template whose object is at `dn`, on an enterprise CA.
fn template_at(ca: &Ca, naming: &Naming, dn: &str) -> Option<Template> {
    let n = normalize_dn(dn);
    let container = normalize_dn(&format!("CN=Certificate Templates,{}", naming.pki_dn()));
    let rdn = n.strip_suffix(&format!(",{container}"))?;
    let name = rdn.strip_prefix("cn=")?;
    if ca.config().mode != crate::config::CaMode::Enterprise {
        return None;
    }
    ca.templates()
        .into_iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
}

/// The rights the template's descriptor grants `who` (through the account,
/// its groups, Authenticated Users and Everyone); an owner may always
/// read and change the DACL.
fn rights_of(m: &Maker, accounts: &Directory, who: &Identity, t: &Template) -> u32 {
    let mut sids: Vec<Sid> = vec![sid_of(m, accounts, &who.account)];
    sids.extend(who.requester.groups.iter().map(|g| sid_of(m, accounts, g)));
    sids.push(Sid::parse("S-1-1-0").expect("a SID"));
    let sd = template_sd(m, accounts, t);
    let mut mask = sd
        .dacl
        .unwrap_or_default()
        .iter()
        .filter(|a| a.object_type.is_none() && sids.contains(&a.sid))
        .fold(0, |acc, a| acc | a.mask);
    if sd.owner.is_some_and(|o| sids.contains(&o)) {
        mask |= rights::WRITE_DACL | rights::READ_CONTROL;
    }
    mask
}

/// One change to one attribute, as AD applies it.
fn apply(
    attrs: &mut BTreeMap<&'static str, Vec<Vec<u8>>>,
    a: &'static schema::AttributeType,
    c: &Change,
) -> Result<(), Outcome> {
    let current = attrs.entry(a.name).or_default();
    match c.op {
        ChangeOperation::Replace => *current = c.values.clone(),
        ChangeOperation::Add => {
            for v in &c.values {
                if current.contains(v) {
                    return Err(refuse(ResultCode::AttributeOrValueExists, format!("00002083: AtrErr: DSID-03151904, #1:\n\t0: 00002083: DSID-03151904, problem 1006 (ATT_OR_VALUE_EXISTS), data 0, Att 0 ({})\n\0", a.name)));
                }
                current.push(v.clone());
            }
        }
        ChangeOperation::Delete if c.values.is_empty() => current.clear(),
        ChangeOperation::Delete => current.retain(|v| !c.values.contains(v)),
    }
    if a.single && current.len() > 1 {
        return Err(refuse(ResultCode::ConstraintViolation, format!("00002081: AtrErr: DSID-03151904, #1:\n\t0: 00002081: DSID-03151904, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 0 ({})\n\0", a.name)));
    }
    Ok(())
}

fn int(v: Option<&Vec<Vec<u8>>>) -> Option<i64> {
    String::from_utf8_lossy(v?.first()?).trim().parse().ok()
}

fn texts(v: Option<&Vec<Vec<u8>>>) -> Vec<String> {
    v.map(|v| {
        v.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    })
    .unwrap_or_default()
}

/// The CA's template after the touched attributes changed: the ones the
/// CA acts on become its settings; the others are kept as written.
fn from_attributes(
    mut t: Template,
    attrs: &BTreeMap<&'static str, Vec<Vec<u8>>>,
    touched: &[&'static str],
) -> Result<Template, Outcome> {
    let unwilling = |what: &str| {
        refuse(
            ResultCode::UnwillingToPerform,
            format!("{WILL_NOT_PERFORM} ({what} is not acted on by this CA yet)"),
        )
    };
    for &name in touched {
        let v = attrs.get(name);
        match name {
            "displayName" => t.display_name = texts(v).first().cloned().unwrap_or_default(),
            "pKIExtendedKeyUsage" | "msPKI-Certificate-Application-Policy" => {
                let policy = texts(attrs.get("msPKI-Certificate-Application-Policy"));
                t.ekus = if policy.is_empty() {
                    texts(attrs.get("pKIExtendedKeyUsage"))
                } else {
                    policy
                };
            }
            "pKIKeyUsage" => {
                let b = v.and_then(|v| v.first()).cloned().unwrap_or_default();
                t.key_usage =
                    u16::from_le_bytes([*b.first().unwrap_or(&0), *b.get(1).unwrap_or(&0)]);
            }
            "pKIExpirationPeriod" => {
                let b = v.and_then(|v| v.first()).cloned().unwrap_or_default();
                let span = <[u8; 8]>::try_from(b.as_slice())
                    .map(i64::from_le_bytes)
                    .unwrap_or(0);
                let days = span.checked_neg().unwrap_or(0) / 864_000_000_000;
                t.validity_days = u32::try_from(days).ok().filter(|d| *d > 0).ok_or_else(|| {
                    refuse(
                        ResultCode::ConstraintViolation,
                        "pKIExpirationPeriod: not a period of one day or more",
                    )
                })?;
            }
            "msPKI-Minimal-Key-Size" => t.min_key_size = int(v).unwrap_or(0).clamp(0, 16384) as u32,
            "msPKI-Template-Schema-Version" => {
                t.schema_version = int(v).unwrap_or(1).clamp(1, 4) as u8
            }
            "revision" => t.major_version = int(v).unwrap_or(0).max(0) as u32,
            "msPKI-Template-Minor-Revision" => t.minor_version = int(v).unwrap_or(0).max(0) as u32,
            "msPKI-Certificate-Name-Flag" => {
                let f = int(v).unwrap_or(0) as u32;
                t.subject = if f & 0x1 != 0 {
                    SubjectSource::Request
                } else if f & 0x1800_0000 != 0 {
                    SubjectSource::RequesterMachine
                } else {
                    SubjectSource::RequesterUser
                };
                t.san_from_request = t.subject == SubjectSource::Request;
            }
            "msPKI-Enrollment-Flag" => {
                let f = int(v).unwrap_or(0) as u32;
                t.requires_approval = f & 0x2 != 0;
                t.no_security_extension = f & 0x8_0000 != 0;
            }
            "msPKI-Private-Key-Flag" => t.exportable_key = int(v).unwrap_or(0) & 0x10 != 0,
            "msPKI-RA-Signature" => match int(v).and_then(|n| u32::try_from(n).ok()) {
                Some(n) => t.ra_signatures = n,
                None => return Err(unwilling("msPKI-RA-Signature below 0")),
            },
            "msPKI-Certificate-Policy" => t.issuance_policies = texts(v),
            "msPKI-RA-Application-Policies" => t.ra_application_policies = texts(v),
            "msPKI-RA-Policies" if !texts(v).is_empty() => return Err(unwilling(name)),
            "pKICriticalExtensions" => {
                t.key_usage_critical = texts(v).iter().any(|o| o == "2.5.29.15");
            }
            _ => {}
        }
        keep_as_written(&mut t, name, v);
    }
    Ok(t)
}

/// Keeps an attribute the CA does not act on fully (or a flag's other
/// bits) as written: text, or hex for binary syntaxes.
fn keep_as_written(t: &mut Template, name: &'static str, v: Option<&Vec<Vec<u8>>>) {
    const ACTED: &[&str] = &[
        "displayName",
        "pKIExtendedKeyUsage",
        "msPKI-Certificate-Application-Policy",
        "pKIKeyUsage",
        "pKIExpirationPeriod",
        "msPKI-Minimal-Key-Size",
        "msPKI-Template-Schema-Version",
        "revision",
        "msPKI-Template-Minor-Revision",
        "msPKI-Certificate-Policy",
    ];
    if ACTED.contains(&name) {
        return;
    }
    let binary = schema::attribute(name).is_some_and(|a| a.matching() == Matching::Octets);
    let values = v
        .map(|v| {
            v.iter()
                .map(|b| match binary {
                    true => adcs_proto::hex::hex(b),
                    false => String::from_utf8_lossy(b).into_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    t.directory_attributes.insert(name.to_string(), values);
}

/// The template's owner and grants from a written descriptor: Enroll and
/// AutoEnroll ACEs become its enroll lists, the others its grants.
fn with_descriptor(
    m: &Maker,
    ca: &Ca,
    accounts: &Directory,
    t: &mut Template,
    sd: SecurityDescriptor,
    parts: u32,
) {
    let names = principal_names(m, ca, accounts);
    let name_of = |sid: &Sid| {
        names
            .iter()
            .find(|(s, _)| s == sid)
            .map_or_else(|| sid.to_string(), |(_, n)| n.clone())
    };
    if let (true, Some(owner)) = (parts & part::OWNER != 0, &sd.owner) {
        t.owner = name_of(owner);
    }
    let Some(dacl) = sd.dacl.filter(|_| parts & part::DACL != 0) else {
        return;
    };
    let enroll = Guid::parse(extended_right::ENROLL).expect("a GUID");
    let auto = Guid::parse(extended_right::AUTO_ENROLL).expect("a GUID");
    t.enroll.clear();
    t.auto_enroll.clear();
    t.acl.clear();
    for ace in dacl {
        let who = name_of(&ace.sid);
        match ace.object_type {
            Some(g) if g == enroll => t.enroll.push(who),
            Some(g) if g == auto => t.auto_enroll.push(who),
            Some(_) => {}
            None => t.acl.push(Grant {
                who,
                mask: ace.mask,
            }),
        }
    }
}

/// Every principal the forest names, by SID: the accounts and groups,
/// Authenticated Users and Everyone.
fn principal_names(m: &Maker, ca: &Ca, accounts: &Directory) -> Vec<(Sid, String)> {
    let mut out = vec![
        (
            Sid::parse("S-1-5-11").expect("a SID"),
            "Authenticated Users".to_string(),
        ),
        (
            Sid::parse("S-1-1-0").expect("a SID"),
            "Everyone".to_string(),
        ),
    ];
    for u in accounts.users() {
        out.push((sid_of(m, accounts, &u.name), u.name.clone()));
    }
    for name in super::domain::group_names(ca, accounts) {
        out.push((sid_of(m, accounts, &name), name));
    }
    out
}
