//! The CA's own certificates (renewal, chains, the `/CertEnroll/` files)
//! and its templates, changed at runtime.

use super::*;

/// What a `/CertEnroll/` file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publication {
    CaCertificate(u16),
    Crl(u16, CrlKind),
    RootCertificate,
    RootCrl,
}

impl Ca {
    /// Renews the CA certificate (same key or a new one); returns its index (`nRenewals`).
    pub fn renew_ca(&self, new_key: bool) -> Result<u16, CaError> {
        let mut st = self.lock();
        let now = self.clock.now();
        let config = st.config.clone();
        let mut renewed = st.authority.clone();
        let index = renewed.renew(&config, &self.seed, now, new_key)?;
        if let Some(dir) = &st.state_dir {
            dir.write_authority(&authority_file(
                self.seed,
                st.initial.created_at,
                &config,
                &renewed,
            ))?;
        }
        st.authority = renewed;
        Ok(index)
    }

    /// Number of CA renewals (certsrv's `nRenewals`).
    pub fn n_renewals(&self) -> u16 {
        self.lock().authority.n_renewals()
    }

    /// CA certificate number `index` (0 = original).
    pub fn ca_certificate(&self, index: u16) -> Option<Vec<u8>> {
        self.lock()
            .authority
            .certs
            .get(index as usize)
            .map(|c| c.der.clone())
    }

    /// The chain of CA certificate `index`: issuing CA first, root last.
    pub fn ca_chain(&self, index: u16) -> Option<Vec<Vec<u8>>> {
        self.lock().authority.chain(index)
    }

    /// The self-signed trust anchor.
    pub fn root_certificate(&self) -> Vec<u8> {
        self.lock().authority.trust_anchor().to_vec()
    }

    /// Key index of CA certificate `index`.
    pub fn ca_key_index(&self, index: u16) -> Option<u16> {
        self.lock()
            .authority
            .certs
            .get(index as usize)
            .map(|c| c.key_index)
    }

    /// A CA private key as PKCS#8 (test CAs export their keys on purpose).
    pub fn ca_private_key(&self, key_index: u16) -> Option<Vec<u8>> {
        self.lock()
            .authority
            .keys
            .get(key_index as usize)
            .map(|k| k.pkcs8_der().to_vec())
    }

    /// The issuing CA's name.
    pub fn ca_name(&self) -> Name {
        self.lock().authority.name.clone()
    }

    /// When the CA was made (its objects in the directory date from then).
    pub fn created_at(&self) -> adcs_proto::clock::UnixTime {
        self.lock().initial.created_at
    }

    /// The issuing CA's common name (`contoso-TEST-CA`), as pages and file names show it.
    pub fn ca_cn(&self) -> String {
        self.lock().authority.ca_cn()
    }

    /// The `/CertEnroll/` file names and what each holds, for the web server.
    pub fn publication(&self) -> Vec<(String, Publication)> {
        let st = self.lock();
        let cn = st.authority.ca_cn();
        let host = &st.config.host_name;
        let mut out = Vec::new();
        for (i, _) in st.authority.certs.iter().enumerate() {
            out.push((
                authority::crt_file_name(host, &cn, i as u16),
                Publication::CaCertificate(i as u16),
            ));
        }
        for k in 0..st.authority.keys.len() as u16 {
            out.push((
                authority::crl_file_name(&cn, k, false),
                Publication::Crl(k, CrlKind::Base),
            ));
            out.push((
                authority::crl_file_name(&cn, k, true),
                Publication::Crl(k, CrlKind::Delta),
            ));
        }
        if let Some(root) = &st.authority.root {
            let rcn = adcs_proto::names::common_name(&root.name).unwrap_or_else(|| "CA".into());
            out.push((
                authority::crt_file_name(host, &rcn, 0),
                Publication::RootCertificate,
            ));
            out.push((
                authority::crl_file_name(&rcn, 0, false),
                Publication::RootCrl,
            ));
        }
        out
    }

    /// The certificate templates this CA knows, published or not.
    pub fn templates(&self) -> Vec<Template> {
        self.lock().config.templates.clone()
    }

    /// The template named by name or OID, if this CA knows it.
    pub fn template(&self, name_or_oid: &str) -> Option<Template> {
        self.lock().config.template(name_or_oid).cloned()
    }

    /// Adds `template`, or replaces the one of the same name, as the
    /// Certificate Templates console does. Checked as the configuration is,
    /// made durable, then in force for the next request.
    pub fn put_template(&self, mut template: Template) -> Result<(), CaError> {
        template.changed_at = Some(self.clock.now());
        let mut st = self.lock();
        let mut templates = st.config.templates.clone();
        match templates
            .iter_mut()
            .find(|t| t.name.eq_ignore_ascii_case(&template.name))
        {
            Some(t) => *t = template,
            None => templates.push(template),
        }
        commit_templates(&mut st, templates)
    }

    /// "Certificate Template to Issue" (`true`) or "Delete" from the CA's
    /// list (`false`): the template stays defined either way.
    pub fn publish_template(&self, name: &str, published: bool) -> Result<Template, CaError> {
        let mut st = self.lock();
        let mut templates = st.config.templates.clone();
        let t = templates
            .iter_mut()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| no_template(name))?;
        t.published = published;
        let changed = t.clone();
        commit_templates(&mut st, templates)?;
        Ok(changed)
    }

    /// Adds a new template; refused when one of that name exists.
    pub fn add_template(&self, mut template: Template) -> Result<(), CaError> {
        template.changed_at = Some(self.clock.now());
        let mut st = self.lock();
        if st
            .config
            .templates
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(template.name.trim()))
        {
            return Err(CaError::refused(
                HResult::E_INVALIDARG,
                format!("a template named `{}` exists already", template.name.trim()),
            ));
        }
        let mut templates = st.config.templates.clone();
        templates.push(template);
        commit_templates(&mut st, templates)
    }

    /// "Duplicate Template" ([`Template::duplicate`]) of `source`, added.
    pub fn duplicate_template(
        &self,
        source: &str,
        name: &str,
        display_name: &str,
    ) -> Result<Template, CaError> {
        let copy = self
            .template(source)
            .ok_or_else(|| no_template(source))?
            .duplicate(name, display_name);
        self.add_template(copy.clone())?;
        Ok(copy)
    }
}

pub(super) fn no_template(name: &str) -> CaError {
    CaError::refused(
        HResult::UNSUPPORTED_CERT_TYPE,
        format!("no template named `{name}`"),
    )
}

/// Checks a changed template list as the configuration is checked, makes it
/// durable, then puts it in force.
pub(super) fn commit_templates(st: &mut State, templates: Vec<Template>) -> Result<(), CaError> {
    let mut config = st.config.clone();
    config.templates = templates;
    config
        .validate()
        .map_err(|e| CaError::refused(HResult::E_INVALIDARG, e.to_string()))?;
    if let Some(disk) = st.db.disk() {
        let json = serde_json::to_string(&config.templates)
            .map_err(|e| CaError::refused(HResult::E_INVALIDARG, e.to_string()))?;
        disk.save_setting(crate::state::TEMPLATES_SETTING, &json)?;
    }
    st.config = config;
    Ok(())
}
