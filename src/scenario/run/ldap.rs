//! The directory steps (`ldap.search`, `ldap.modify`): the world's domain
//! controller searched and written with the client toolkit's LDAP client,
//! bound as the step's user, for what the world publishes (templates, the
//! enrollment service, accounts), the binds it refuses and the template
//! writes its DACLs allow.

use adcs_client::ldap::{Bind, Connection};

use super::observed::Observed;
use super::world::Runner;
use crate::scenario::model::{LdapBind, LdapModify, LdapSearch, Step};

impl Runner<'_> {
    /// `ldap.search`: connect, bind, search, and report the entries.
    pub(super) fn ldap_search(&mut self, step: &Step, s: &LdapSearch) -> Result<Observed, String> {
        let mut c = self.ldap_connection(step, s.bind, s.ldaps)?;
        let base = self.naming_contexts(s.base.as_deref().unwrap_or("{domain}"))?;
        let attributes: Vec<&str> = s.attributes.iter().map(String::as_str).collect();
        let entries = c
            .search(&base, s.scope, s.filter.clone(), &attributes)
            .map_err(|e| self.scrub(e.to_string().trim_end()))?;
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

    /// `ldap.modify`: connect, bind, replace the attributes; a refusal is
    /// the step's error (AD's result code and text).
    pub(super) fn ldap_modify(&mut self, step: &Step, m: &LdapModify) -> Result<Observed, String> {
        let mut c = self.ldap_connection(step, m.bind, m.ldaps)?;
        let dn = self.naming_contexts(&m.dn)?;
        let changes = m
            .replace
            .iter()
            .map(|(attribute, values)| {
                let values: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
                adcs_proto::ldap::replace(attribute, &values)
            })
            .collect();
        c.modify(&dn, changes)
            .map_err(|e| self.scrub(e.to_string().trim_end()))?;
        c.unbind();
        Ok(Observed {
            summary: format!("modified {dn}"),
            ..Observed::default()
        })
    }

    /// `{domain}` and `{config}` in `dn` replaced by the naming contexts.
    fn naming_contexts(&self, dn: &str) -> Result<String, String> {
        let naming = self.server.forest().ok_or("the world has no directory")?;
        Ok(dn
            .replace("{domain}", &naming.domain_dn)
            .replace("{config}", &naming.config_dn))
    }

    /// A connection to the world's directory, bound as `bind` says.
    fn ldap_connection(
        &mut self,
        step: &Step,
        bind: LdapBind,
        ldaps: bool,
    ) -> Result<Connection, String> {
        let (plain, secure) = self
            .server
            .ldap_addrs()
            .ok_or("the world has no directory: add [world.ldap]")?;
        let url = if ldaps {
            format!("ldaps://{secure}")
        } else {
            format!("ldap://{plain}")
        };
        let mut c =
            Connection::connect(&url, &self.trust(), step.timeout).map_err(|e| e.to_string())?;
        let how = match bind {
            LdapBind::Anonymous => Bind::Anonymous,
            LdapBind::Ntlm | LdapBind::Simple => {
                let u = self.user(step)?;
                let password = step.password.clone().unwrap_or_else(|| u.password.clone());
                match bind {
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
        c.bind(&how)
            .map_err(|e| self.scrub(e.to_string().trim_end()))?;
        Ok(c)
    }
}
