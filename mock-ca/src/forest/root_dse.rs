//! The rootDSE (base `""`, scope base) as a Windows Server 2022 domain
//! controller answers it: naming contexts, the DC's names, controls,
//! SASL mechanisms, capabilities and functional levels. Its attributes are
//! not in the subschema (AD does not define them there either).

use adcs_proto::ldap::{self, control};

use super::{generalized_time, Naming};

/// Domain, forest and DC functional level: Windows Server 2016 (7).
const FUNCTIONAL_LEVEL: &str = "7";

/// LDAP_CAP_ACTIVE_DIRECTORY_OID and the other capabilities AD lists.
const CAPABILITIES: &[&str] = &[
    "1.2.840.113556.1.4.800",
    "1.2.840.113556.1.4.1670",
    "1.2.840.113556.1.4.1791",
    "1.2.840.113556.1.4.1935",
    "1.2.840.113556.1.4.2080",
    "1.2.840.113556.1.4.2237",
];

/// The extended operations AD lists (StartTLS and "who am I?" answered here).
const EXTENSIONS: &[&str] = &[
    "1.3.6.1.4.1.1466.20037",
    "1.3.6.1.4.1.1466.101.119.1",
    "1.2.840.113556.1.4.1781",
    "1.3.6.1.4.1.4203.1.11.3",
    "1.2.840.113556.1.4.2212",
];

/// The rootDSE's attributes at Unix time `now`, in AD's order.
pub fn attributes(naming: &Naming, now: i64, highest_usn: i64) -> Vec<ldap::Attribute> {
    let n = naming;
    let text = |name: &str, values: Vec<String>| ldap::Attribute {
        name: name.into(),
        values: values.into_iter().map(String::into_bytes).collect(),
    };
    let one = |name: &str, v: String| text(name, vec![v]);
    let list = |name: &str, v: &[&str]| text(name, v.iter().map(|s| s.to_string()).collect());
    let server = n.server_dn();
    vec![
        one("currentTime", generalized_time(now)),
        one("subschemaSubentry", n.subschema_dn()),
        one("dsServiceName", format!("CN=NTDS Settings,{server}")),
        text(
            "namingContexts",
            vec![
                n.domain_dn.clone(),
                n.config_dn.clone(),
                n.schema_dn.clone(),
            ],
        ),
        one("defaultNamingContext", n.domain_dn.clone()),
        one("rootDomainNamingContext", n.domain_dn.clone()),
        one("configurationNamingContext", n.config_dn.clone()),
        one("schemaNamingContext", n.schema_dn.clone()),
        list("supportedControl", control::SUPPORTED),
        list("supportedLDAPVersion", &["3", "2"]),
        list("supportedExtension", EXTENSIONS),
        list(
            "supportedLDAPPolicies",
            &[
                "MaxPoolThreads",
                "MaxPercentDirSyncRequests",
                "MaxDatagramRecv",
                "MaxReceiveBuffer",
                "InitRecvTimeout",
                "MaxConnections",
                "MaxConnIdleTime",
                "MaxPageSize",
                "MaxQueryDuration",
                "MaxTempTableSize",
                "MaxResultSetSize",
                "MaxNotificationPerConn",
                "MaxValRange",
            ],
        ),
        one("highestCommittedUSN", highest_usn.to_string()),
        list(
            "supportedSASLMechanisms",
            &["GSSAPI", "GSS-SPNEGO", "EXTERNAL", "DIGEST-MD5"],
        ),
        one("dnsHostName", n.dc_host.clone()),
        one(
            "ldapServiceName",
            format!(
                "{}:{}$@{}",
                n.dns_domain,
                n.dc_short().to_lowercase(),
                n.dns_domain.to_uppercase()
            ),
        ),
        one("serverName", server),
        list("supportedCapabilities", CAPABILITIES),
        one("isSynchronized", "TRUE".into()),
        one("isGlobalCatalogReady", "TRUE".into()),
        one("domainFunctionality", FUNCTIONAL_LEVEL.into()),
        one("forestFunctionality", FUNCTIONAL_LEVEL.into()),
        one("domainControllerFunctionality", FUNCTIONAL_LEVEL.into()),
    ]
}

/// The rootDSE attributes a search asked for: all for none, `*` or `+`,
/// else the named ones (any case).
pub fn select(
    all: Vec<ldap::Attribute>,
    asked: &[String],
    types_only: bool,
) -> Vec<ldap::Attribute> {
    let everything = asked.is_empty() || asked.iter().any(|a| a == "*" || a == "+");
    all.into_iter()
        .filter(|a| everything || asked.iter().any(|n| n.eq_ignore_ascii_case(&a.name)))
        .map(|mut a| {
            if types_only {
                a.values.clear();
            }
            a
        })
        .collect()
}
