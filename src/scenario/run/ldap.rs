//! The directory step (`ldap.search`): the world's domain controller
//! searched with the client toolkit's LDAP reader, bound as the step's
//! user, for what the world publishes (templates, the enrollment service,
//! accounts) and for the binds it refuses.

use adcs_client::ldap::{Bind, Connection};

use super::observed::Observed;
use super::world::Runner;
use crate::scenario::model::{LdapBind, LdapSearch, Step};

impl Runner<'_> {
    /// `ldap.search`: connect, bind, search, and report the entries.
    pub(super) fn ldap_search(&mut self, step: &Step, s: &LdapSearch) -> Result<Observed, String> {
        let (plain, secure) = self
            .server
            .ldap_addrs()
            .ok_or("the world has no directory: add [world.ldap]")?;
        let url = if s.ldaps {
            format!("ldaps://{secure}")
        } else {
            format!("ldap://{plain}")
        };
        let mut c =
            Connection::connect(&url, &self.trust(), step.timeout).map_err(|e| e.to_string())?;
        let how = match s.bind {
            LdapBind::Anonymous => Bind::Anonymous,
            LdapBind::Ntlm | LdapBind::Simple => {
                let u = self.user(step)?;
                let password = step.password.clone().unwrap_or_else(|| u.password.clone());
                match s.bind {
                    LdapBind::Ntlm => Bind::Ntlm {
                        user: u.name.clone(),
                        password,
                    },
                    _ => Bind::Simple {
                        name: u.name.clone(),
                        password,
                    },
                }
            }
        };
        c.bind(&how).map_err(|e| self.scrub(&e.to_string()))?;
        let naming = self.server.forest().ok_or("the world has no directory")?;
        let base = s
            .base
            .clone()
            .unwrap_or_else(|| "{domain}".into())
            .replace("{domain}", &naming.domain_dn)
            .replace("{config}", &naming.config_dn);
        let attributes: Vec<&str> = s.attributes.iter().map(String::as_str).collect();
        let entries = c
            .search(&base, s.scope, s.filter.clone(), &attributes)
            .map_err(|e| self.scrub(&e.to_string()))?;
        c.unbind();
        let under = if base.is_empty() {
            "the rootDSE"
        } else {
            &base
        };
        Ok(Observed {
            summary: format!("{} entries under {under}", entries.len()),
            entries: Some(entries),
            ..Observed::default()
        })
    }
}
