//! The authority file of a state directory: written from a new CA, and
//! read back into the CA's keys and certificates on open.

use super::*;

pub(super) fn authority_file(
    seed: Seed,
    created_at: UnixTime,
    config: &CaConfig,
    a: &Authority,
) -> AuthorityFile {
    let key = |k: &SigningKey| StoredKey {
        algorithm: k.algorithm(),
        pkcs8: k.pkcs8_der().to_vec(),
    };
    let mut f = AuthorityFile::new(seed, created_at, config.clone());
    f.root = a.root.as_ref().map(|r| StoredRoot {
        key: key(&r.key),
        der: r.der.clone(),
    });
    f.keys = a.keys.iter().map(|k| key(k)).collect();
    f.certs = a
        .certs
        .iter()
        .map(|c| StoredCert {
            der: c.der.clone(),
            key_index: c.key_index,
        })
        .collect();
    f
}

pub(super) fn restore_authority(f: &AuthorityFile) -> Result<Authority, CaError> {
    let load = |k: &StoredKey| SigningKey::from_pkcs8(k.algorithm, &k.pkcs8).map(Arc::new);
    let name =
        parse_dn(&f.config.ca_name).map_err(|e| ConfigError::new("ca_name", e.to_string()))?;
    let root = match &f.root {
        Some(r) => Some(Root {
            key: load(&r.key).map_err(AuthorityError::from)?,
            der: r.der.clone(),
            name: parse_dn(&f.config.root_name)
                .map_err(|e| ConfigError::new("root_name", e.to_string()))?,
        }),
        None => None,
    };
    let keys = f
        .keys
        .iter()
        .map(load)
        .collect::<Result<Vec<_>, _>>()
        .map_err(AuthorityError::from)?;
    let mut certs = Vec::new();
    for c in &f.certs {
        let cert = <x509_cert::Certificate as der::Decode>::from_der(&c.der)
            .map_err(AuthorityError::from)?;
        let v = cert.tbs_certificate().validity();
        if c.key_index as usize >= keys.len() {
            return Err(ConfigError::new(
                "certs",
                format!("CA certificate refers to missing key {}", c.key_index),
            )
            .into());
        }
        certs.push(CaCertificate {
            der: c.der.clone(),
            key_index: c.key_index,
            not_before: x509::unix_time(&v.not_before),
            not_after: x509::unix_time(&v.not_after),
        });
    }
    if certs.is_empty() {
        return Err(ConfigError::new("certs", "the authority file lists no CA certificate").into());
    }
    Ok(Authority::restore(name, root, certs, keys))
}
