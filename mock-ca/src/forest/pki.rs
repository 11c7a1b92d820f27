//! The configuration partition: the partitions and the site with the DC,
//! the schema container with the subschema, and AD CS's Public Key
//! Services (MS-CRTD, MS-WCCE 2.2.2.11): certificate templates with their
//! security descriptors, the enrollment service, the CA, AIA, CDP and
//! NTAuth certificates and the OID container. A stand-alone CA publishes
//! no templates and no enrollment service.

use adcs_proto::sd::{extended_right, rights, Ace, SecurityDescriptor, Sid};

use super::domain::sid_of;
use super::{schema, Entry, Maker};
use crate::accounts::Directory;
use crate::ca::Ca;
use crate::config::CaMode;
use crate::template::{IssuancePolicy, KeyFamily, SubjectSource, Template, WRITE_ALL};
use crate::CrlKind;

/// msPKI-Certificate-Name-Flag bits.
const ENROLLEE_SUPPLIES_SUBJECT: u32 = 0x1;
const SUBJECT_ALT_REQUIRE_UPN: u32 = 0x0200_0000;
const SUBJECT_ALT_REQUIRE_EMAIL: u32 = 0x0400_0000;
const SUBJECT_ALT_REQUIRE_DNS: u32 = 0x0800_0000;
const SUBJECT_REQUIRE_DNS_AS_CN: u32 = 0x1000_0000;
const SUBJECT_REQUIRE_EMAIL: u32 = 0x2000_0000;
const SUBJECT_REQUIRE_DIRECTORY_PATH: u32 = 0x8000_0000;
/// msPKI-Enrollment-Flag bits.
const INCLUDE_SYMMETRIC_ALGORITHMS: u32 = 0x1;
const PEND_ALL_REQUESTS: u32 = 0x2;
const PUBLISH_TO_DS: u32 = 0x8;
const AUTO_ENROLLMENT: u32 = 0x20;
const NO_SECURITY_EXTENSION: u32 = 0x8_0000;
/// msPKI-Private-Key-Flag: CT_FLAG_EXPORTABLE_KEY.
const EXPORTABLE_KEY: u32 = 0x10;
/// Template `flags` (general flags).
const CT_FLAG_AUTO_ENROLLMENT: u32 = 0x20;
const CT_FLAG_MACHINE_TYPE: u32 = 0x40;
const CT_FLAG_ADD_TEMPLATE_NAME: u32 = 0x200;
const CT_FLAG_IS_DEFAULT: u32 = 0x1_0000;
const CT_FLAG_IS_MODIFIED: u32 = 0x2_0000;
/// One day in the 100-ns units of pKIExpirationPeriod.
const DAY: i64 = 864_000_000_000;
/// The name-flag, enrollment-flag and private-key-flag bits the CA acts
/// on; the others are kept as written.
pub(crate) const NAME_FLAG_BITS: u32 = ENROLLEE_SUPPLIES_SUBJECT
    | SUBJECT_ALT_REQUIRE_UPN
    | SUBJECT_ALT_REQUIRE_EMAIL
    | SUBJECT_ALT_REQUIRE_DNS
    | SUBJECT_REQUIRE_DNS_AS_CN
    | SUBJECT_REQUIRE_EMAIL
    | SUBJECT_REQUIRE_DIRECTORY_PATH;
pub(crate) const ENROLLMENT_FLAG_BITS: u32 = PEND_ALL_REQUESTS | NO_SECURITY_EXTENSION;
pub(crate) const PRIVATE_KEY_FLAG_BITS: u32 = EXPORTABLE_KEY;

pub(super) fn configuration(m: &Maker, ca: &Ca, accounts: &Directory) -> Vec<Entry> {
    let n = m.naming;
    let c = &n.config_dn;
    let mut out = vec![
        m.object(c, "configuration"),
        m.object(&n.schema_dn, "dMD"),
        subschema(m),
        m.object(&format!("CN=Partitions,{c}"), "crossRefContainer"),
        m.object(&format!("CN={},CN=Partitions,{c}", n.netbios), "crossRef")
            .s("nCName", &n.domain_dn)
            .s("dnsRoot", &n.dns_domain)
            .s("nETBIOSName", &n.netbios)
            .i("systemFlags", 3),
    ];
    out.extend(site(m));
    out.push(m.object(&format!("CN=Services,{c}"), "container"));
    out.extend(public_key_services(m, ca, accounts));
    out
}

fn subschema(m: &Maker) -> Entry {
    let (types, classes) = schema::definitions();
    let time = super::generalized_time(m.created);
    m.object(&m.naming.subschema_dn(), "subSchema")
        .ss("attributeTypes", &types)
        .ss("objectClasses", &classes)
        .s("createTimeStamp", &time)
        .s("modifyTimeStamp", &time)
}

fn site(m: &Maker) -> Vec<Entry> {
    let n = m.naming;
    let sites = format!("CN=Sites,{}", n.config_dn);
    let site = format!("CN=Default-First-Site-Name,{sites}");
    let server = n.server_dn();
    vec![
        m.object(&sites, "sitesContainer"),
        m.object(&site, "site"),
        m.object(&format!("CN=Servers,{site}"), "serversContainer"),
        m.object(&server, "server")
            .s("dNSHostName", &n.dc_host)
            .s("serverReference", n.dc_dn()),
        m.object(&format!("CN=NTDS Settings,{server}"), "nTDSDSA")
            .i("options", 1)
            .i("msDS-Behavior-Version", 7)
            .b("invocationId", m.guid(&server).0.to_vec()),
    ]
}

fn public_key_services(m: &Maker, ca: &Ca, accounts: &Directory) -> Vec<Entry> {
    let pks = m.naming.pki_dn();
    let enterprise = ca.config().mode == CaMode::Enterprise;
    let mut out = vec![m.object(&pks, "container")];
    for c in [
        "Certificate Templates",
        "Enrollment Services",
        "Certification Authorities",
        "AIA",
        "CDP",
        "KRA",
    ] {
        out.push(m.object(&format!("CN={c},{pks}"), "container"));
    }
    out.push(m.object(&format!("CN=OID,{pks}"), "msPKI-Enterprise-Oid"));
    let templates = if enterprise {
        ca.templates()
    } else {
        Vec::new()
    };
    for t in &templates {
        out.push(template(m, accounts, t));
        out.extend(template_oid(m, t));
    }
    for p in &ca.config().issuance_policies {
        out.push(issuance_policy(m, p));
    }
    out.extend(certificates(m, ca, enterprise));
    if enterprise {
        out.push(enrollment_service(m, ca, accounts, &templates));
    }
    out
}

/// A template's descriptor, from the template's owner and grants, with
/// Enroll (and AutoEnroll) for exactly the principals it lists: the DACL
/// says who may enroll as the engine decides it.
pub(crate) fn template_sd(m: &Maker, accounts: &Directory, t: &Template) -> SecurityDescriptor {
    let mut dacl: Vec<Ace> = t
        .acl
        .iter()
        .map(|g| Ace::allow(sid_of(m, accounts, &g.who), g.mask))
        .collect();
    for who in &t.enroll {
        dacl.push(Ace::allow_right(
            sid_of(m, accounts, who),
            extended_right::ENROLL,
        ));
    }
    for who in &t.auto_enroll {
        dacl.push(Ace::allow_right(
            sid_of(m, accounts, who),
            extended_right::AUTO_ENROLL,
        ));
    }
    let owner = sid_of(m, accounts, &t.owner);
    SecurityDescriptor {
        owner: Some(owner.clone()),
        group: Some(owner),
        dacl: Some(dacl),
    }
}

fn name_flag(t: &Template) -> u32 {
    let extra = written_bits(t, "msPKI-Certificate-Name-Flag", NAME_FLAG_BITS).unwrap_or(0);
    extra
        | match t.subject {
            SubjectSource::Request => ENROLLEE_SUPPLIES_SUBJECT,
            SubjectSource::RequesterUser => {
                SUBJECT_REQUIRE_DIRECTORY_PATH
                    | SUBJECT_REQUIRE_EMAIL
                    | SUBJECT_ALT_REQUIRE_EMAIL
                    | SUBJECT_ALT_REQUIRE_UPN
            }
            SubjectSource::RequesterMachine => SUBJECT_ALT_REQUIRE_DNS | SUBJECT_REQUIRE_DNS_AS_CN,
        }
}

fn enrollment_flag(t: &Template) -> u32 {
    let by_subject = match t.subject {
        SubjectSource::RequesterUser => {
            INCLUDE_SYMMETRIC_ALGORITHMS | PUBLISH_TO_DS | AUTO_ENROLLMENT
        }
        SubjectSource::RequesterMachine => AUTO_ENROLLMENT,
        SubjectSource::Request => 0,
    };
    let acted = if t.requires_approval {
        PEND_ALL_REQUESTS
    } else {
        0
    } | if t.no_security_extension {
        NO_SECURITY_EXTENSION
    } else {
        0
    };
    written_bits(t, "msPKI-Enrollment-Flag", ENROLLMENT_FLAG_BITS).unwrap_or(by_subject) | acted
}

/// The bits of a flag attribute written through the directory that the
/// CA does not act on (`None` when never written).
fn written_bits(t: &Template, attribute: &str, acted: u32) -> Option<u32> {
    let v = t.directory_attributes.get(attribute)?.first()?;
    Some(v.trim().parse::<i64>().ok()? as u32 & !acted)
}

fn private_key_flag(t: &Template) -> u32 {
    let extra = written_bits(t, "msPKI-Private-Key-Flag", PRIVATE_KEY_FLAG_BITS).unwrap_or(0);
    extra | if t.exportable_key { EXPORTABLE_KEY } else { 0 }
}

fn general_flags(t: &Template) -> u32 {
    let mut f = match t.subject {
        SubjectSource::RequesterUser => CT_FLAG_AUTO_ENROLLMENT,
        SubjectSource::RequesterMachine => CT_FLAG_AUTO_ENROLLMENT | CT_FLAG_MACHINE_TYPE,
        SubjectSource::Request => 0,
    };
    f |= if t.schema_version <= 1 {
        CT_FLAG_IS_DEFAULT | CT_FLAG_ADD_TEMPLATE_NAME
    } else {
        CT_FLAG_IS_MODIFIED
    };
    f
}

/// A period in pKIExpirationPeriod's form: negative 100-ns units, little-endian.
fn period(days: i64) -> Vec<u8> {
    (-days * DAY).to_le_bytes().to_vec()
}

pub(super) fn template(m: &Maker, accounts: &Directory, t: &Template) -> Entry {
    let dn = format!(
        "CN={},CN=Certificate Templates,{}",
        t.name,
        m.naming.pki_dn()
    );
    let csp = if t.key_families.contains(&KeyFamily::Rsa) {
        "1,Microsoft RSA SChannel Cryptographic Provider"
    } else {
        "1,Microsoft Software Key Storage Provider"
    };
    let key_spec = if t.key_usage & 0x20 != 0 { 1 } else { 2 };
    let mut e = m
        .object(&dn, "pKICertificateTemplate")
        .s(
            "whenChanged",
            super::generalized_time(t.changed_at.unwrap_or(m.created)),
        )
        .s("displayName", &t.display_name)
        .i("flags", i64::from(general_flags(t)))
        .i("revision", i64::from(t.major_version))
        .i("msPKI-Template-Minor-Revision", i64::from(t.minor_version))
        .i("msPKI-Template-Schema-Version", i64::from(t.schema_version))
        .s("msPKI-Cert-Template-OID", t.template_oid())
        .i("pKIDefaultKeySpec", key_spec)
        .b("pKIKeyUsage", t.key_usage.to_le_bytes().to_vec())
        .i("pKIMaxIssuingDepth", 0)
        .s("pKIDefaultCSPs", csp)
        .b("pKIExpirationPeriod", period(i64::from(t.validity_days)))
        .b(
            "pKIOverlapPeriod",
            period(42.min(i64::from(t.validity_days))),
        )
        .ss("pKIExtendedKeyUsage", &t.ekus)
        .i("msPKI-RA-Signature", i64::from(t.ra_signatures))
        .ss("msPKI-RA-Application-Policies", &t.ra_application_policies)
        .i(
            "msPKI-Enrollment-Flag",
            i64::from(enrollment_flag(t) as i32),
        )
        .i(
            "msPKI-Private-Key-Flag",
            i64::from(private_key_flag(t) as i32),
        )
        .i(
            "msPKI-Certificate-Name-Flag",
            i64::from(name_flag(t) as i32),
        )
        .i("msPKI-Minimal-Key-Size", i64::from(t.min_key_size))
        .b(
            "nTSecurityDescriptor",
            template_sd(m, accounts, t).to_bytes(),
        )
        .s("showInAdvancedViewOnly", "TRUE");
    if t.key_usage_critical {
        e = e.s("pKICriticalExtensions", "2.5.29.15");
    }
    if t.schema_version >= 2 {
        e = e.ss("msPKI-Certificate-Application-Policy", &t.ekus);
    }
    e = e.ss("msPKI-Certificate-Policy", &t.issuance_policies);
    overlay_written(e, t)
}

/// The attributes written through the directory that the CA does not act
/// on, as written (the flag attributes are merged above).
fn overlay_written(mut e: Entry, t: &Template) -> Entry {
    const MERGED: [&str; 3] = [
        "msPKI-Certificate-Name-Flag",
        "msPKI-Enrollment-Flag",
        "msPKI-Private-Key-Flag",
    ];
    for (name, values) in &t.directory_attributes {
        let Some(a) = schema::attribute(name).filter(|a| !MERGED.contains(&a.name)) else {
            continue;
        };
        let binary = a.matching() == schema::Matching::Octets;
        let bytes: Vec<Vec<u8>> = values
            .iter()
            .map(|v| match binary {
                true => adcs_proto::hex::unhex(v).unwrap_or_default(),
                false => v.clone().into_bytes(),
            })
            .collect();
        if bytes.is_empty() {
            e.attributes.retain(|(t, _)| t.name != a.name);
        } else {
            e.put(a.name, bytes);
        }
    }
    e
}

/// An OID object's DN as AD names it: `CN=<last two arcs>.<hex>,CN=OID`.
fn oid_dn(m: &Maker, oid: &str) -> String {
    let arcs: Vec<&str> = oid.rsplitn(3, '.').take(2).collect();
    let hex: String = m.guid(oid).0.iter().map(|b| format!("{b:02X}")).collect();
    let last = arcs.first().copied().unwrap_or_default();
    let before = arcs.get(1).copied().unwrap_or_default();
    format!("CN={before}.{last}.{hex},CN=OID,{}", m.naming.pki_dn())
}

/// A version 2 or later template's OID object (`flags` 1: a template).
fn template_oid(m: &Maker, t: &Template) -> Option<Entry> {
    if t.schema_version < 2 {
        return None;
    }
    let oid = t.template_oid();
    Some(
        m.object(&oid_dn(m, &oid), "msPKI-Enterprise-Oid")
            .s("displayName", &t.display_name)
            .s("msPKI-Cert-Template-OID", &oid)
            .i("flags", 1),
    )
}

/// An issuance policy's OID object (`flags` 2), with its group link.
fn issuance_policy(m: &Maker, p: &IssuancePolicy) -> Entry {
    let oid = p.oid.trim();
    let e = m
        .object(&oid_dn(m, oid), "msPKI-Enterprise-Oid")
        .s("displayName", &p.name)
        .s("msPKI-Cert-Template-OID", oid)
        .i("flags", 2);
    match &p.group {
        Some(g) => e.s("msDS-OIDToGroupLink", super::domain::group_dn(m, g)),
        None => e,
    }
}

/// The certificate of a certificationAuthority object's common name.
fn subject_cn(der: &[u8]) -> String {
    use der::Decode;
    x509_cert::Certificate::from_der(der)
        .ok()
        .and_then(|c| adcs_proto::names::common_name(&c.tbs_certificate().subject().clone()))
        .unwrap_or_else(|| "CA".into())
}

fn certification_authority(m: &Maker, dn: &str, certs: Vec<Vec<u8>>) -> Entry {
    m.object(dn, "certificationAuthority")
        .bs("cACertificate", certs)
        .b("authorityRevocationList", vec![0])
        .b("certificateRevocationList", vec![0])
}

/// The root in Certification Authorities, every CA certificate in AIA,
/// the CRLs published so far in CDP, the CA in NTAuthCertificates.
fn certificates(m: &Maker, ca: &Ca, enterprise: bool) -> Vec<Entry> {
    let pks = m.naming.pki_dn();
    let root = ca.root_certificate();
    let ca_cn = ca.ca_cn();
    let ca_certs: Vec<Vec<u8>> = (0..=ca.n_renewals())
        .filter_map(|i| ca.ca_certificate(i))
        .collect();
    let root_cn = subject_cn(&root);
    let mut out = vec![certification_authority(
        m,
        &format!("CN={root_cn},CN=Certification Authorities,{pks}"),
        vec![root.clone()],
    )];
    out.push(certification_authority(
        m,
        &format!("CN={ca_cn},CN=AIA,{pks}"),
        ca_certs.clone(),
    ));
    if root_cn != ca_cn {
        out.push(certification_authority(
            m,
            &format!("CN={root_cn},CN=AIA,{pks}"),
            vec![root],
        ));
    }
    let host = ca.config().host_name;
    let label = host.split('.').next().unwrap_or(&host).to_ascii_uppercase();
    let cdp_host = format!("CN={label},CN=CDP,{pks}");
    out.push(m.object(&cdp_host, "container"));
    let key = ca.ca_key_index(ca.n_renewals()).unwrap_or(0);
    let mut cdp = m.object(&format!("CN={ca_cn},{cdp_host}"), "cRLDistributionPoint");
    if let Some(base) = ca.published_crl(key, CrlKind::Base) {
        cdp = cdp.b("certificateRevocationList", base);
    }
    if let Some(delta) = ca.published_crl(key, CrlKind::Delta) {
        cdp = cdp.b("deltaRevocationList", delta);
    }
    out.push(cdp);
    if enterprise {
        out.push(
            m.object(
                &format!("CN=NTAuthCertificates,{pks}"),
                "certificationAuthority",
            )
            .bs("cACertificate", ca_certs)
            .b("authorityRevocationList", vec![0])
            .b("certificateRevocationList", vec![0]),
        );
    }
    out
}

fn enrollment_service(m: &Maker, ca: &Ca, accounts: &Directory, templates: &[Template]) -> Entry {
    let cn = ca.ca_cn();
    let config = ca.config();
    let dn = format!("CN={cn},CN=Enrollment Services,{}", m.naming.pki_dn());
    let current = ca.ca_certificate(ca.n_renewals()).unwrap_or_default();
    let published: Vec<&str> = templates
        .iter()
        .filter(|t| t.published)
        .map(|t| t.name.as_str())
        .collect();
    let n = m.naming;
    let host_sid = sid_of(
        m,
        accounts,
        &format!(
            "{}$",
            config
                .host_name
                .split('.')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase()
        ),
    );
    let sd = SecurityDescriptor {
        owner: Some(n.rid_sid(519)),
        group: Some(n.rid_sid(519)),
        dacl: Some(vec![
            Ace::allow(Sid::parse("S-1-5-11").expect("a SID"), rights::GENERIC_READ),
            Ace::allow_right(
                Sid::parse("S-1-5-11").expect("a SID"),
                extended_right::ENROLL,
            ),
            Ace::allow(host_sid, rights::FULL_CONTROL),
            Ace::allow(n.rid_sid(512), WRITE_ALL),
            Ace::allow(n.rid_sid(519), WRITE_ALL),
        ]),
    };
    m.object(&dn, "pKIEnrollmentService")
        .s("displayName", &cn)
        .s("dNSHostName", &config.host_name)
        .b("cACertificate", current)
        .s(
            "cACertificateDN",
            adcs_proto::names::format_dn(&ca.ca_name()),
        )
        .ss("certificateTemplates", &published)
        .i("flags", 10)
        .b("nTSecurityDescriptor", sd.to_bytes())
        .s("showInAdvancedViewOnly", "TRUE")
}
