//! The accounts the server knows: `DOMAIN\user` + password, groups, and
//! whether the account may use the control plane. Stands in for Active
//! Directory: the requester identity decides template ACLs.

use crate::config::ConfigError;
use adcs_proto::seed::Seed;
use serde::{Deserialize, Serialize};

use crate::db::Requester;

/// One account. Its `Debug` form leaves the password out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// `DOMAIN\name`; a bare name joins the CA's NetBIOS domain.
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// May use the control plane (a CA administrator and certificate manager).
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub upn: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// dNSHostName, for computer accounts (Machine template).
    #[serde(default)]
    pub dns_name: Option<String>,
    /// objectSid (`S-1-5-21-…`); derived from the seed and the name when
    /// absent ([`crate::db::sid`]).
    #[serde(default)]
    pub sid: Option<String>,
}

/// True for a built-in account with its documented password (README): the
/// only passwords the server prints.
pub fn is_builtin_account(name: &str, password: &str) -> bool {
    let bare = name.rsplit('\\').next().unwrap_or_default();
    [
        (DEFAULT_USER, DEFAULT_USER_PASSWORD),
        (DEFAULT_ADMIN, DEFAULT_ADMIN_PASSWORD),
    ]
    .iter()
    .any(|(n, p)| bare.eq_ignore_ascii_case(n) && password == *p)
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .field("groups", &self.groups)
            .field("admin", &self.admin)
            .field("upn", &self.upn)
            .field("email", &self.email)
            .field("dns_name", &self.dns_name)
            .field("sid", &self.sid)
            .finish()
    }
}

impl User {
    /// Parses the `--user 'DOMAIN\name:password'` form.
    pub fn parse(spec: &str) -> Result<User, ConfigError> {
        let invalid = |why: &str| ConfigError::new(format!("`{spec}`"), why);
        let (name, password) = spec
            .split_once(':')
            .ok_or_else(|| invalid("expected DOMAIN\\name:password"))?;
        if name.trim().is_empty() || password.is_empty() {
            return Err(invalid("empty name or password"));
        }
        Ok(User {
            name: name.trim().to_string(),
            password: password.to_string(),
            groups: Vec::new(),
            admin: false,
            upn: None,
            email: None,
            dns_name: None,
            sid: None,
        })
    }

    /// Checks what serde cannot; `index` is the account's place in
    /// `[[users]]`, named in the error with the field.
    /// The name without its domain (`CONTOSO\\alice` → `alice`).
    pub fn short_name(&self) -> &str {
        self.name.rsplit_once('\\').map_or(&self.name, |(_, n)| n)
    }

    pub fn validate(&self, index: usize) -> Result<(), ConfigError> {
        if let Some(sid) = &self.sid {
            crate::db::sid::validate(sid).map_err(|why| {
                ConfigError::new(format!("users[{index}] ({}).sid", self.name), why)
            })?;
        }
        Ok(())
    }

    /// The account's objectSid: the configured `sid`, or the one the CA's
    /// `seed` gives its name.
    pub fn object_sid(&self, seed: &Seed) -> String {
        self.sid
            .clone()
            .unwrap_or_else(|| crate::db::sid::of(seed, &self.name))
    }
}

/// The default ordinary account of `serve` (printed at start).
pub const DEFAULT_USER: &str = "alice";
pub const DEFAULT_USER_PASSWORD: &str = "Alice-Passw0rd";
/// The default administrator (control plane and certificate manager).
pub const DEFAULT_ADMIN: &str = "Administrator";
pub const DEFAULT_ADMIN_PASSWORD: &str = "Admin-Passw0rd";

/// A signed-in account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `DOMAIN\name` as configured.
    pub account: String,
    pub admin: bool,
    pub requester: Requester,
}

/// All accounts, with the domain names they can be addressed by.
#[derive(Clone, Debug)]
pub struct Directory {
    users: Vec<User>,
    netbios_domain: String,
    dns_domain: String,
}

impl Directory {
    pub fn new(users: Vec<User>, netbios_domain: &str, dns_domain: &str) -> Directory {
        let users = users
            .into_iter()
            .map(|mut u| {
                if !u.name.contains('\\') {
                    u.name = format!("{netbios_domain}\\{}", u.name);
                }
                u
            })
            .collect();
        Directory {
            users,
            netbios_domain: netbios_domain.to_string(),
            dns_domain: dns_domain.to_string(),
        }
    }

    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// The account a client names as `DOMAIN\user`, `user@domain` or `user`
    /// (with a separate `domain`, as NTLM carries it). The domain may be the
    /// NetBIOS name, the DNS name, or empty.
    pub fn find(&self, domain: &str, user: &str) -> Option<&User> {
        let (domain, user) = adcs_proto::ntlm::split_account(user, domain);
        self.users.iter().find(|u| {
            let (d, n) = u.name.split_once('\\').unwrap_or(("", &u.name));
            n.eq_ignore_ascii_case(user)
                && (domain.is_empty()
                    || domain.eq_ignore_ascii_case(d)
                    || (d.eq_ignore_ascii_case(&self.netbios_domain)
                        && domain.eq_ignore_ascii_case(&self.dns_domain)))
        })
    }

    /// What the CA sees of an account: groups always include
    /// `Authenticated Users`, `Domain Users` (or `Domain Admins` for admins).
    pub fn identity(&self, u: &User) -> Identity {
        let mut groups = u.groups.clone();
        let mut add = |g: &str| {
            if !groups.iter().any(|x| x.eq_ignore_ascii_case(g)) {
                groups.push(g.to_string());
            }
        };
        add("Authenticated Users");
        add("Domain Users");
        if u.admin {
            add("Domain Admins");
        }
        let short = u.name.split_once('\\').map_or(u.name.as_str(), |(_, n)| n);
        let requester = Requester {
            account: u.name.clone(),
            groups,
            upn: Some(
                u.upn
                    .clone()
                    .unwrap_or_else(|| format!("{short}@{}", self.dns_domain)),
            ),
            email: u.email.clone(),
            dns_name: u.dns_name.clone(),
            // A configured objectSid; the CA derives the others from its seed.
            sid: u.sid.clone(),
        };
        Identity {
            account: u.name.clone(),
            admin: u.admin,
            requester,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Directory {
        let mut admin = User::parse("Administrator:pw").unwrap();
        admin.admin = true;
        Directory::new(
            vec![User::parse("CONTOSO\\alice:a").unwrap(), admin],
            "CONTOSO",
            "contoso.test",
        )
    }

    #[test]
    fn accounts_are_found_in_every_spelling() {
        let d = dir();
        for (dom, user) in [
            ("CONTOSO", "alice"),
            ("contoso", "ALICE"),
            ("contoso.test", "alice"),
            ("", "alice"),
            ("", "CONTOSO\\alice"),
            ("", "alice@contoso.test"),
        ] {
            assert_eq!(
                d.find(dom, user).map(|u| u.name.as_str()),
                Some("CONTOSO\\alice"),
                "{dom} {user}"
            );
        }
        assert!(d.find("FABRIKAM", "alice").is_none());
        assert!(d.find("", "mallory").is_none());
        assert_eq!(
            d.find("", "administrator").unwrap().name,
            "CONTOSO\\Administrator"
        );
    }

    #[test]
    fn identities_carry_default_groups_and_upn() {
        let d = dir();
        let id = d.identity(d.find("", "administrator").unwrap());
        assert!(id.admin);
        assert!(id.requester.groups.iter().any(|g| g == "Domain Admins"));
        assert_eq!(
            id.requester.upn.as_deref(),
            Some("Administrator@contoso.test")
        );
        assert!(User::parse("nopassword").is_err());
        assert!(User::parse("x:").is_err());
    }
}
