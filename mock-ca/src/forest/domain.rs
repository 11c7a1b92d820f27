//! The domain partition: the domain object, its containers, the accounts
//! the harness knows (users and computers), the domain controller, the
//! CA's host and the groups with AD's well-known RIDs. Group membership is
//! exactly what the CA engine sees of each account.

use adcs_proto::sd::Sid;

use super::{filetime, Entry, Maker};
use crate::accounts::{Directory, User};
use crate::ca::Ca;
use crate::db::sid;

/// userAccountControl bits.
const NORMAL_ACCOUNT: i64 = 0x200;
const DONT_EXPIRE_PASSWORD: i64 = 0x10000;
const WORKSTATION_TRUST_ACCOUNT: i64 = 0x1000;
const SERVER_TRUST_ACCOUNT: i64 = 0x2000;
const TRUSTED_FOR_DELEGATION: i64 = 0x80000;
/// sAMAccountType values.
const SAM_USER_OBJECT: i64 = 0x3000_0000;
const SAM_MACHINE_ACCOUNT: i64 = 0x3000_0001;
const SAM_GROUP_OBJECT: i64 = 0x1000_0000;
const SAM_ALIAS_OBJECT: i64 = 0x2000_0000;
/// groupType values (security-enabled).
const GLOBAL_GROUP: i64 = -2_147_483_646;
const DOMAIN_LOCAL_GROUP: i64 = -2_147_483_644;
const UNIVERSAL_GROUP: i64 = -2_147_483_640;
/// accountExpires: never.
const NEVER: i64 = i64::MAX;
/// The operating system the DC and the CA's host report.
const OS: &str = "Windows Server 2022 Datacenter";
const OS_VERSION: &str = "10.0 (20348)";

/// The SID of an account or group as an ACL names it: a configured
/// account's own, else the one the CA's seed gives the name (well-known
/// RIDs and SIDs included), as the engine derives it.
pub(crate) fn sid_of(maker: &Maker, accounts: &Directory, name: &str) -> Sid {
    let text = match accounts.find("", name) {
        Some(u) => u.object_sid(maker.seed),
        None => sid::of(maker.seed, name),
    };
    Sid::parse(&text).expect("seeded SIDs are well formed")
}

/// A computer account: a configured name ending in `$` or with a DNS name.
fn is_computer(u: &User) -> bool {
    u.short_name().ends_with('$') || u.dns_name.is_some()
}

/// The DN of a configured account.
pub(crate) fn account_dn(maker: &Maker, u: &User) -> String {
    let short = u.short_name().trim_end_matches('$');
    let container = if is_computer(u) { "Computers" } else { "Users" };
    format!("CN={short},CN={container},{}", maker.naming.domain_dn)
}

/// The groups the engine places an account in that are directory
/// objects (not `Authenticated Users`, not its primary group).
fn member_groups(accounts: &Directory, u: &User) -> Vec<String> {
    accounts
        .identity(u)
        .requester
        .groups
        .into_iter()
        .map(|g| g.rsplit('\\').next().unwrap_or(&g).to_string())
        .filter(|g| {
            ![
                "Authenticated Users",
                "Everyone",
                "Domain Users",
                "Domain Computers",
            ]
            .iter()
            .any(|x| x.eq_ignore_ascii_case(g))
        })
        .collect()
}

/// Every group that is an object: AD's built-in domain groups and every
/// other group an account is in or an ACL names.
pub(super) fn group_names(ca: &Ca, accounts: &Directory) -> Vec<String> {
    let mut names: Vec<String> = sid::WELL_KNOWN_RIDS
        .iter()
        .filter(|(_, rid)| *rid >= 512)
        .map(|(n, _)| n.to_string())
        .collect();
    let named = accounts
        .users()
        .iter()
        .flat_map(|u| member_groups(accounts, u))
        .chain(ca.templates().into_iter().flat_map(|t| {
            let granted = t.acl.into_iter().map(|g| g.who);
            t.enroll.into_iter().chain(granted).collect::<Vec<_>>()
        }))
        .chain(
            ca.config()
                .issuance_policies
                .into_iter()
                .filter_map(|p| p.group),
        );
    for g in named {
        let short = g.rsplit('\\').next().unwrap_or(&g).to_string();
        let known = names.iter().any(|n| n.eq_ignore_ascii_case(&short))
            || accounts.find("", &g).is_some()
            || ["Authenticated Users", "Everyone"]
                .iter()
                .any(|x| x.eq_ignore_ascii_case(&short));
        if !known {
            names.push(short);
        }
    }
    names
}

/// Where a group of [`group_names`] lives: `CN=<name>,CN=Users,<domain>`
/// (a `DOMAIN\` prefix dropped).
pub(super) fn group_dn(m: &Maker, name: &str) -> String {
    let short = name.rsplit('\\').next().unwrap_or(name);
    format!("CN={short},CN=Users,{}", m.naming.domain_dn)
}

pub(super) fn objects(m: &Maker, ca: &Ca, accounts: &Directory) -> Vec<Entry> {
    let n = m.naming;
    let d = &n.domain_dn;
    let mut out = vec![domain_object(m)];
    for (dn, class) in [
        (format!("CN=Users,{d}"), "container"),
        (format!("CN=Computers,{d}"), "container"),
        (format!("OU=Domain Controllers,{d}"), "organizationalUnit"),
        (format!("CN=Builtin,{d}"), "builtinDomain"),
    ] {
        out.push(m.object(&dn, class).s("isCriticalSystemObject", "TRUE"));
    }
    let mut memberships: Vec<(String, String)> = Vec::new();
    for u in accounts.users() {
        let dn = account_dn(m, u);
        for g in member_groups(accounts, u) {
            memberships.push((g, dn.clone()));
        }
        out.push(account(m, accounts, u, &dn));
    }
    out.push(dc_computer(m));
    if let Some((host, dn)) = ca_host(m, ca) {
        memberships.push(("Cert Publishers".into(), dn.clone()));
        out.push(host_computer(m, &host, &dn));
    }
    for name in group_names(ca, accounts) {
        let dn = group_dn(m, &name);
        let members: Vec<&String> = memberships
            .iter()
            .filter(|(g, _)| g.eq_ignore_ascii_case(&name))
            .map(|(_, dn)| dn)
            .collect();
        out.push(group(m, accounts, &name, &dn, &members));
    }
    add_member_of(&mut out);
    out
}

fn domain_object(m: &Maker) -> Entry {
    let n = m.naming;
    let label = n.dns_domain.split('.').next().unwrap_or_default();
    m.object(&n.domain_dn, "domainDNS")
        .s("dc", label)
        .b("objectSid", n.domain_sid.to_bytes())
        .i("ms-DS-MachineAccountQuota", 10)
        .i("msDS-Behavior-Version", 7)
        .i("minPwdLength", 7)
        .i("pwdHistoryLength", 24)
        .i("pwdProperties", 1)
        .i("lockoutThreshold", 0)
        .i("maxPwdAge", -36_288_000_000_000)
        .i("minPwdAge", -864_000_000_000)
        .i("lockoutDuration", -18_000_000_000)
        .i("lockOutObservationWindow", -18_000_000_000)
        .i("creationTime", filetime(m.created))
        .s("isCriticalSystemObject", "TRUE")
}

fn account(m: &Maker, accounts: &Directory, u: &User, dn: &str) -> Entry {
    let short = u.short_name();
    let computer = is_computer(u);
    let id = accounts.identity(u);
    let sid = Sid::parse(&u.object_sid(m.seed)).expect("a validated SID");
    let (class, uac, kind, primary) = if computer {
        (
            "computer",
            WORKSTATION_TRUST_ACCOUNT,
            SAM_MACHINE_ACCOUNT,
            515,
        )
    } else {
        (
            "user",
            NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD,
            SAM_USER_OBJECT,
            513,
        )
    };
    let sam = if computer && !short.ends_with('$') {
        format!("{short}$")
    } else {
        short.to_string()
    };
    let mut e = m
        .object(dn, class)
        .s("sAMAccountName", &sam)
        .b("objectSid", sid.to_bytes())
        .i("userAccountControl", uac)
        .i("sAMAccountType", kind)
        .i("primaryGroupID", primary)
        .i("pwdLastSet", filetime(m.created))
        .i("accountExpires", NEVER)
        .i("lastLogon", 0)
        .i("logonCount", 0)
        .i("badPwdCount", 0)
        .i("codePage", 0)
        .i("countryCode", 0)
        .s("displayName", short.trim_end_matches('$'));
    if let Some(upn) = id.requester.upn.as_deref().filter(|_| !computer) {
        e = e.s("userPrincipalName", upn);
    }
    if let Some(mail) = &u.email {
        e = e.s("mail", mail);
    }
    if let Some(host) = &u.dns_name {
        let label = host.split('.').next().unwrap_or(host).to_ascii_uppercase();
        e = e.s("dNSHostName", host).ss(
            "servicePrincipalName",
            &[format!("HOST/{host}"), format!("HOST/{label}")],
        );
    }
    if u.admin {
        e = e.i("adminCount", 1);
    }
    e
}

fn dc_computer(m: &Maker) -> Entry {
    let n = m.naming;
    let short = n.dc_short();
    let host = &n.dc_host;
    let domain = &n.dns_domain;
    m.object(&n.dc_dn(), "computer")
        .s("sAMAccountName", format!("{short}$"))
        .b("objectSid", n.rid_sid(1000).to_bytes())
        .i(
            "userAccountControl",
            SERVER_TRUST_ACCOUNT | TRUSTED_FOR_DELEGATION,
        )
        .i("sAMAccountType", SAM_MACHINE_ACCOUNT)
        .i("primaryGroupID", 516)
        .s("dNSHostName", host)
        .ss(
            "servicePrincipalName",
            &[
                format!("ldap/{host}/{domain}"),
                format!("ldap/{host}"),
                format!("ldap/{short}"),
                format!("HOST/{host}/{domain}"),
                format!("HOST/{host}"),
                format!("HOST/{short}"),
                format!("GC/{host}/{domain}"),
            ],
        )
        .s("operatingSystem", OS)
        .s("operatingSystemVersion", OS_VERSION)
        .s("serverReference", n.server_dn())
        .s("isCriticalSystemObject", "TRUE")
}

/// The CA's host computer (`CN=CA01,CN=Computers,…`), unless the CA runs
/// on the domain controller.
fn ca_host(m: &Maker, ca: &Ca) -> Option<(String, String)> {
    let host = ca.config().host_name;
    let label = host.split('.').next()?.to_ascii_uppercase();
    (label != m.naming.dc_short()).then(|| {
        let dn = format!("CN={label},CN=Computers,{}", m.naming.domain_dn);
        (host, dn)
    })
}

fn host_computer(m: &Maker, host: &str, dn: &str) -> Entry {
    let label = host.split('.').next().unwrap_or(host).to_ascii_uppercase();
    let sid = Sid::parse(&sid::of(m.seed, &format!("{label}$"))).expect("a seeded SID");
    m.object(dn, "computer")
        .s("sAMAccountName", format!("{label}$"))
        .b("objectSid", sid.to_bytes())
        .i("userAccountControl", WORKSTATION_TRUST_ACCOUNT)
        .i("sAMAccountType", SAM_MACHINE_ACCOUNT)
        .i("primaryGroupID", 515)
        .s("dNSHostName", host)
        .ss(
            "servicePrincipalName",
            &[format!("HOST/{host}"), format!("HOST/{label}")],
        )
        .s("operatingSystem", OS)
        .s("operatingSystemVersion", OS_VERSION)
}

fn group(m: &Maker, accounts: &Directory, name: &str, dn: &str, members: &[&String]) -> Entry {
    let sid = sid_of(m, accounts, name);
    let (kind, sam_kind) = match sid.sub.last() {
        Some(517) => (DOMAIN_LOCAL_GROUP, SAM_ALIAS_OBJECT),
        Some(518 | 519) => (UNIVERSAL_GROUP, SAM_GROUP_OBJECT),
        _ => (GLOBAL_GROUP, SAM_GROUP_OBJECT),
    };
    let mut e = m
        .object(dn, "group")
        .s("sAMAccountName", name)
        .b("objectSid", sid.to_bytes())
        .i("groupType", kind)
        .i("sAMAccountType", sam_kind)
        .ss("member", members);
    if sid.sub.last().is_some_and(|r| (512..=520).contains(r)) {
        e = e.s("isCriticalSystemObject", "TRUE").i("adminCount", 1);
    }
    e
}

/// memberOf is the back link of member, as AD computes it.
fn add_member_of(entries: &mut [Entry]) {
    let links: Vec<(String, Vec<u8>)> = entries
        .iter()
        .flat_map(|g| {
            g.get("member")
                .unwrap_or_default()
                .iter()
                .map(|m| {
                    (
                        super::normalize_dn(&String::from_utf8_lossy(m)),
                        g.dn.clone().into_bytes(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for e in entries.iter_mut() {
        let me = super::normalize_dn(&e.dn);
        let of: Vec<Vec<u8>> = links
            .iter()
            .filter(|(m, _)| *m == me)
            .map(|(_, g)| g.clone())
            .collect();
        if !of.is_empty() {
            e.put("memberOf", of);
        }
    }
}
