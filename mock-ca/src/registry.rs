//! The CA's registry as remote-registry clients read it
//! (`HKLM\SYSTEM\CurrentControlSet\Services\CertSvc\Configuration\<CA>`):
//! a view computed from the engine's settings on every read, as the
//! directory is a view of its templates. What `certutil -getreg` shows
//! for the settings the harness has: the CA's type and name, the
//! interface flags (IF_ENFORCEENCRYPTICERTREQUEST), the CA's security
//! descriptor (who manages it, who may enroll), and the default policy
//! module's EditFlags, RequestDisposition and DisableExtensionList.

use adcs_proto::protocol::CaMode;
use adcs_proto::sd::{Ace, SecurityDescriptor, Sid};

use crate::ca::Ca;

/// The path from HKLM to the CA service's configuration.
pub const CONFIGURATION: &str = r"SYSTEM\CurrentControlSet\Services\CertSvc\Configuration";
/// The default policy module, the one active on a fresh CA.
pub const POLICY_MODULE: &str = "CertificateAuthority_MicrosoftDefault.Policy";
/// The default exit module.
pub const EXIT_MODULE: &str = "CertificateAuthority_MicrosoftDefault.Exit";

/// A registry value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Dword(u32),
    Sz(String),
    MultiSz(Vec<String>),
    Binary(Vec<u8>),
}

impl Value {
    /// REG_SZ, REG_BINARY, REG_DWORD or REG_MULTI_SZ.
    pub fn kind(&self) -> u32 {
        use adcs_proto::rpc::rrp::kind;
        match self {
            Value::Sz(_) => kind::SZ,
            Value::Binary(_) => kind::BINARY,
            Value::Dword(_) => kind::DWORD,
            Value::MultiSz(_) => kind::MULTI_SZ,
        }
    }

    /// The bytes as the registry stores them (strings UTF-16LE with their
    /// terminators).
    pub fn data(&self) -> Vec<u8> {
        let utf16 = |s: &str| -> Vec<u8> {
            s.encode_utf16()
                .chain([0])
                .flat_map(u16::to_le_bytes)
                .collect()
        };
        match self {
            Value::Dword(v) => v.to_le_bytes().to_vec(),
            Value::Sz(s) => utf16(s),
            Value::MultiSz(list) => {
                let mut out: Vec<u8> = list.iter().flat_map(|s| utf16(s)).collect();
                out.extend([0, 0]);
                out
            }
            Value::Binary(b) => b.clone(),
        }
    }
}

/// A key: its name, values and subkeys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub values: Vec<(String, Value)>,
    pub keys: Vec<Key>,
}

impl Key {
    fn new(name: &str) -> Key {
        Key {
            name: name.into(),
            ..Key::default()
        }
    }

    fn value(mut self, name: &str, v: Value) -> Key {
        self.values.push((name.into(), v));
        self
    }

    fn key(mut self, k: Key) -> Key {
        self.keys.push(k);
        self
    }

    /// The key at a backslash-separated path below this one, names
    /// compared as Windows does (case-insensitively).
    pub fn find(&self, path: &str) -> Option<&Key> {
        path.split('\\')
            .filter(|p| !p.is_empty())
            .try_fold(self, |k, part| {
                k.keys.iter().find(|c| c.name.eq_ignore_ascii_case(part))
            })
    }

    /// A value by name (the empty name is the default value).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// The CA's rights in its security descriptor (certsrv's CA_ACCESS_*).
pub mod rights {
    pub const MANAGE_CA: u32 = 0x1;
    pub const MANAGE_CERTIFICATES: u32 = 0x2;
    pub const READ: u32 = 0x100;
    pub const ENROLL: u32 = 0x200;
}

/// EDITF_* bits: a fresh enterprise CA's EditFlags, and the SAN one.
pub mod edit_flags {
    pub const DEFAULT: u32 = 0x0011_014e;
    pub const ATTRIBUTE_SUBJECT_ALT_NAME2: u32 = 0x0004_0000;
}

/// IF_* bits: a fresh CA's InterfaceFlags, and the encryption one.
pub mod interface_flags {
    pub const DEFAULT: u32 = 0x0000_0641;
    pub const ENFORCE_ENCRYPT_ICERTREQUEST: u32 = 0x0000_0200;
}

/// REQDISP_ISSUE, and REQDISP_PENDINGFIRST (a stand-alone CA's default).
const ISSUE: u32 = 0x1;
const PENDING_FIRST: u32 = 0x100;

/// The CA's security descriptor, from its roles: one allow ACE per
/// account or group with the rights its roles give (Enroll, ManageCA,
/// ManageCertificates), owned by Administrators.
pub fn security(ca: &Ca) -> SecurityDescriptor {
    let seed = ca.seed();
    let roles = ca.config().roles;
    let administrators = Sid::parse("S-1-5-32-544").expect("a well-known SID");
    let sid = |name: &str| {
        if name.eq_ignore_ascii_case("Administrators") {
            return administrators.clone();
        }
        Sid::parse(&crate::db::sid::of(&seed, name)).expect("seeded SIDs are well formed")
    };
    let mut grants: Vec<(String, u32)> = Vec::new();
    let lists = [
        (&roles.enrollees, rights::ENROLL),
        (&roles.managers, rights::MANAGE_CA),
        (&roles.officers, rights::MANAGE_CERTIFICATES),
    ];
    for (names, right) in lists {
        for name in names {
            match grants
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some((_, mask)) => *mask |= right,
                None => grants.push((name.clone(), right)),
            }
        }
    }
    let dacl = grants.iter().map(|(n, m)| Ace::allow(sid(n), *m)).collect();
    SecurityDescriptor {
        owner: Some(administrators.clone()),
        group: Some(administrators),
        dacl: Some(dacl),
    }
}

/// HKLM as far as the CA's configuration: `enforce_encryption` is the
/// RPC interface's IF_ENFORCEENCRYPTICERTREQUEST.
pub fn view(ca: &Ca, enforce_encryption: bool) -> Key {
    let config = ca.config();
    let name = ca.ca_cn();
    let mut edit = edit_flags::DEFAULT;
    if config.edit_flags.attribute_subject_alt_name2 {
        edit |= edit_flags::ATTRIBUTE_SUBJECT_ALT_NAME2;
    }
    let mut interface = interface_flags::DEFAULT;
    if !enforce_encryption {
        interface &= !interface_flags::ENFORCE_ENCRYPT_ICERTREQUEST;
    }
    let (ca_type, disposition) = match (config.mode, config.two_tier) {
        (CaMode::Enterprise, false) => (0, ISSUE),
        (CaMode::Enterprise, true) => (1, ISSUE),
        (CaMode::Standalone, false) => (3, ISSUE | PENDING_FIRST),
        (CaMode::Standalone, true) => (4, ISSUE | PENDING_FIRST),
    };
    let policy = Key::new(POLICY_MODULE)
        .value("EditFlags", Value::Dword(edit))
        .value("RequestDisposition", Value::Dword(disposition))
        .value(
            "DisableExtensionList",
            Value::MultiSz(config.disable_extensions.clone()),
        );
    let this_ca = Key::new(&name)
        .value("CAType", Value::Dword(ca_type))
        .value("CommonName", Value::Sz(name.clone()))
        .value("InterfaceFlags", Value::Dword(interface))
        .value("Security", Value::Binary(security(ca).to_bytes()))
        .key(
            Key::new("PolicyModules")
                .value("Active", Value::Sz(POLICY_MODULE.into()))
                .key(policy),
        )
        .key(Key::new("ExitModules").value("Active", Value::MultiSz(vec![EXIT_MODULE.into()])));
    let configuration = Key::new("Configuration")
        .value("Active", Value::Sz(name.clone()))
        .key(this_ca);
    let mut root = Key::new("HKLM");
    let mut chain: Vec<&str> = CONFIGURATION.split('\\').collect();
    chain.pop();
    root.keys.push(
        chain
            .iter()
            .rev()
            .fold(configuration, |inner, name| Key::new(name).key(inner)),
    );
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> Ca {
        let clock = crate::Clock::frozen_at(1_767_225_600);
        Ca::new(crate::CaConfig::default(), adcs_proto::seed::Seed(7), clock).unwrap()
    }

    #[test]
    fn the_ca_configuration_is_where_certipy_reads_it() {
        let ca = ca();
        let root = view(&ca, true);
        let name = ca.ca_cn();
        let here = format!(r"{CONFIGURATION}\{name}");
        let key = root.find(&here).expect("the CA's key");
        assert_eq!(key.get("InterfaceFlags"), Some(&Value::Dword(0x641)));
        let lower = here.to_ascii_lowercase();
        assert!(root.find(&lower).is_some(), "names are case-insensitive");
        let policy = root
            .find(&format!(r"{here}\PolicyModules\{POLICY_MODULE}"))
            .expect("the policy module's key");
        assert_eq!(policy.get("EditFlags"), Some(&Value::Dword(0x0011_014e)));
        assert_eq!(policy.get("RequestDisposition"), Some(&Value::Dword(1)));
        assert!(root.find(&format!(r"{here}\Nothing")).is_none());
    }
}

#[cfg(test)]
mod role_tests {
    use super::*;
    use adcs_proto::sd::SecurityDescriptor;

    #[test]
    fn the_security_value_is_the_roles() {
        let mut config = crate::CaConfig::default();
        config.roles.officers.push("Web Admins".into());
        config.roles.managers.push("Web Admins".into());
        config.roles.enrollees.push("CONTOSO\\alice".into());
        let clock = crate::Clock::frozen_at(1_767_225_600);
        let seed = adcs_proto::seed::Seed(7);
        let ca = Ca::new(config, seed, clock).unwrap();
        let sd = SecurityDescriptor::parse(&security(&ca).to_bytes()).unwrap();
        let dacl = sd.dacl.unwrap();
        let mask_of = |name: &str| {
            let sid = Sid::parse(&crate::db::sid::of(&seed, name)).unwrap();
            dacl.iter().find(|a| a.sid == sid).map(|a| a.mask)
        };
        assert_eq!(mask_of("Authenticated Users"), Some(rights::ENROLL));
        assert_eq!(mask_of("CONTOSO\\alice"), Some(rights::ENROLL));
        let both = rights::MANAGE_CA | rights::MANAGE_CERTIFICATES;
        assert_eq!(mask_of("Web Admins"), Some(both));
        assert_eq!(mask_of("Domain Admins"), Some(both));
        assert_eq!(mask_of("Domain Users"), None);
        assert_eq!(dacl.len(), 6);
    }
}
