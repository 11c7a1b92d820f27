//! The forest as Active Directory publishes it: the domain partition (the
//! domain, its accounts and groups, the DC and the CA's host) and the
//! configuration partition (AD CS's Public Key Services: templates, the
//! enrollment service, the CA, AIA, CDP and NTAuth certificates, OIDs; the
//! partitions, sites and the schema).
//!
//! It is a view computed from the CA engine and the accounts on every
//! search, never a copy: a template changed anywhere shows at once, and
//! every name, SID, GUID and time comes from the seed and the CA's clock.

mod domain;
mod pki;
pub mod root_dse;
pub mod schema;
pub mod search;
pub mod write;

use adcs_proto::clock::UnixTime;
use adcs_proto::sd::{Guid, Sid};
use adcs_proto::seed::Seed;

use crate::accounts::Directory;
use crate::ca::Ca;
use crate::config::CaConfig;
use schema::AttributeType;

/// The names of the forest's partitions and of its domain controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// `contoso.test`
    pub dns_domain: String,
    /// `CONTOSO`
    pub netbios: String,
    /// `DC=contoso,DC=test`
    pub domain_dn: String,
    /// `CN=Configuration,DC=contoso,DC=test`
    pub config_dn: String,
    /// `CN=Schema,CN=Configuration,DC=contoso,DC=test`
    pub schema_dn: String,
    /// The domain controller's DNS name (`dc01.contoso.test`).
    pub dc_host: String,
    /// `S-1-5-21-…`
    pub domain_sid: Sid,
}

/// The default domain controller's host label.
pub const DEFAULT_DC: &str = "dc01";

impl Naming {
    /// The names of the CA's forest; `dc_host` defaults to `dc01.<domain>`.
    pub fn new(config: &CaConfig, seed: &Seed, dc_host: Option<&str>) -> Naming {
        let domain_dn = config
            .dns_domain
            .split('.')
            .filter(|l| !l.is_empty())
            .map(|l| format!("DC={l}"))
            .collect::<Vec<_>>()
            .join(",");
        let config_dn = format!("CN=Configuration,{domain_dn}");
        let domain_sid = Sid::parse(&crate::db::sid::domain(seed)).expect("a seeded domain SID");
        Naming {
            dns_domain: config.dns_domain.clone(),
            netbios: config.netbios_domain.clone(),
            schema_dn: format!("CN=Schema,{config_dn}"),
            config_dn,
            dc_host: dc_host
                .map(str::to_string)
                .unwrap_or_else(|| format!("{DEFAULT_DC}.{}", config.dns_domain)),
            domain_dn,
            domain_sid,
        }
    }

    /// `DC01`, the DC's NetBIOS name.
    pub fn dc_short(&self) -> String {
        self.dc_host
            .split('.')
            .next()
            .unwrap_or(DEFAULT_DC)
            .to_ascii_uppercase()
    }

    /// `CN=Public Key Services,CN=Services,CN=Configuration,…`
    pub fn pki_dn(&self) -> String {
        format!("CN=Public Key Services,CN=Services,{}", self.config_dn)
    }

    /// The subschema entry: `CN=Aggregate,CN=Schema,…`.
    pub fn subschema_dn(&self) -> String {
        format!("CN=Aggregate,{}", self.schema_dn)
    }

    /// The DC's server object under the default site.
    pub fn server_dn(&self) -> String {
        format!(
            "CN={},CN=Servers,CN=Default-First-Site-Name,CN=Sites,{}",
            self.dc_short(),
            self.config_dn
        )
    }

    /// The DC's computer object.
    pub fn dc_dn(&self) -> String {
        format!(
            "CN={},OU=Domain Controllers,{}",
            self.dc_short(),
            self.domain_dn
        )
    }

    /// A domain SID with this RID.
    pub fn rid_sid(&self, rid: u32) -> Sid {
        let mut s = self.domain_sid.clone();
        s.sub.push(rid);
        s
    }

    /// The naming context an entry belongs to (searches stay inside one).
    pub fn partition_of(&self, dn: &str) -> Partition {
        let n = normalize_dn(dn);
        if n.ends_with(&normalize_dn(&self.schema_dn)) {
            Partition::Schema
        } else if n.ends_with(&normalize_dn(&self.config_dn)) {
            Partition::Configuration
        } else {
            Partition::Domain
        }
    }
}

/// The naming contexts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    Domain,
    Configuration,
    Schema,
}

/// A DN as compared: RDNs trimmed, lower case.
pub fn normalize_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| {
            let (k, v) = rdn.split_once('=').unwrap_or((rdn, ""));
            format!("{}={}", k.trim(), v.trim())
        })
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}

/// One directory object: its DN and its attributes, each a schema type
/// with values in the directory's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    pub attributes: Vec<(&'static AttributeType, Vec<Vec<u8>>)>,
}

impl Entry {
    /// The values of an attribute (any case), if present.
    pub fn get(&self, name: &str) -> Option<&[Vec<u8>]> {
        self.attributes
            .iter()
            .find(|(a, _)| a.name.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The first value as text.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .and_then(|v| v.first())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Sets an attribute (replacing it). Every name is in the schema: a
    /// name that is not is a programming error, caught by the tests.
    pub fn put(&mut self, name: &str, values: Vec<Vec<u8>>) {
        let Some(a) = schema::attribute(name) else {
            debug_assert!(false, "{name} is not in the schema");
            return;
        };
        match self.attributes.iter_mut().find(|(t, _)| t.name == a.name) {
            Some((_, v)) => *v = values,
            None => self.attributes.push((a, values)),
        }
    }

    fn with(mut self, name: &str, values: Vec<Vec<u8>>) -> Entry {
        if !values.is_empty() {
            self.put(name, values);
        }
        self
    }

    /// One text value.
    pub(crate) fn s(self, name: &str, value: impl AsRef<str>) -> Entry {
        self.with(name, vec![value.as_ref().as_bytes().to_vec()])
    }

    /// Several text values.
    pub(crate) fn ss<S: AsRef<str>>(self, name: &str, values: &[S]) -> Entry {
        let v = values
            .iter()
            .map(|s| s.as_ref().as_bytes().to_vec())
            .collect();
        self.with(name, v)
    }

    /// One integer, in AD's decimal form.
    pub(crate) fn i(self, name: &str, value: i64) -> Entry {
        self.s(name, value.to_string())
    }

    /// One binary value.
    pub(crate) fn b(self, name: &str, value: Vec<u8>) -> Entry {
        self.with(name, vec![value])
    }

    /// Several binary values.
    pub(crate) fn bs(self, name: &str, values: Vec<Vec<u8>>) -> Entry {
        self.with(name, values)
    }
}

/// What every object carries, and the seed and times to make them.
pub(crate) struct Maker<'a> {
    pub naming: &'a Naming,
    pub seed: &'a Seed,
    pub created: UnixTime,
    usn: std::cell::Cell<i64>,
}

impl<'a> Maker<'a> {
    pub fn new(naming: &'a Naming, seed: &'a Seed, created: UnixTime) -> Maker<'a> {
        Maker {
            naming,
            seed,
            created,
            usn: std::cell::Cell::new(0),
        }
    }
}

impl Maker<'_> {
    /// A new object of `class` at `dn`, with objectClass, cn or ou, name,
    /// distinguishedName, a seeded objectGUID, objectCategory, times and USNs.
    pub fn object(&self, dn: &str, class: &str) -> Entry {
        let c = schema::class(class).expect("a schema class");
        let (key, value) = dn
            .split(',')
            .next()
            .and_then(|r| r.split_once('='))
            .unwrap_or(("CN", dn));
        let usn = self.usn.get() + 1;
        self.usn.set(usn);
        let time = generalized_time(self.created);
        let mut e = Entry {
            dn: dn.to_string(),
            attributes: Vec::new(),
        }
        .ss("objectClass", &c.chain())
        .s(&key.to_ascii_lowercase(), value)
        .s("distinguishedName", dn)
        .i("instanceType", 4)
        .s("whenCreated", &time)
        .s("whenChanged", &time)
        .i("uSNCreated", 4096 + usn)
        .i("uSNChanged", 4096 + usn)
        .s("name", value)
        .b("objectGUID", self.guid(dn).0.to_vec());
        if !c.category.is_empty() {
            e = e.s(
                "objectCategory",
                format!("CN={},{}", c.category, self.naming.schema_dn),
            );
        }
        e
    }

    /// The seeded objectGUID of the object at `dn`.
    pub fn guid(&self, dn: &str) -> Guid {
        let d = self.seed.derive(&format!("ldap/guid/{}", normalize_dn(dn)));
        Guid::from_random(d[..16].try_into().expect("16 bytes"))
    }
}

/// AD's GeneralizedTime: `20261207050616.0Z`.
pub fn generalized_time(t: UnixTime) -> String {
    let d = adcs_proto::x509::date_time(t);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}.0Z",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minutes(),
        d.seconds()
    )
}

/// A Windows FILETIME (100 ns since 1601) for a Unix time.
pub fn filetime(t: UnixTime) -> i64 {
    adcs_proto::ntlm::filetime(t) as i64
}

/// Every object of the forest, computed now from the CA and the accounts.
pub fn objects(ca: &Ca, accounts: &Directory, naming: &Naming) -> Vec<Entry> {
    let seed = ca.seed();
    let maker = Maker::new(naming, &seed, ca.created_at());
    let mut out = domain::objects(&maker, ca, accounts);
    out.extend(pki::configuration(&maker, ca, accounts));
    out
}

#[cfg(test)]
mod tests;
