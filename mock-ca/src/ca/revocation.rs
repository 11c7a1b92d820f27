//! Revocation, unrevocation and the base and delta CRLs of every CA key.

use super::*;

impl Ca {
    /// Revokes an issued certificate by serial. A certificate on hold may be
    /// revoked again with a final reason.
    pub fn revoke(
        &self,
        serial: &str,
        reason: RevocationReason,
        officer: &str,
    ) -> Result<RequestRow, CaError> {
        let mut st = self.lock();
        let mut row = st.db.by_serial(serial)?.ok_or_else(|| {
            CaError::refused(
                HResult::CRYPT_E_NOT_FOUND,
                format!("no certificate with serial {}", normalize_serial(serial)),
            )
        })?;
        let on_hold = row
            .revocation
            .as_ref()
            .is_some_and(|r| r.reason == RevocationReason::CertificateHold);
        if row.disposition != Disposition::Issued && !on_hold {
            return Err(CaError::refused(
                HResult::BAD_REQUESTSTATUS,
                format!(
                    "request {} is {}; only issued certificates can be revoked",
                    row.id,
                    row.disposition.as_str()
                ),
            ));
        }
        let now = self.clock.now();
        row.disposition = Disposition::Revoked;
        row.status = HResult::S_OK;
        row.disposition_message = format!("Revoked by {officer}");
        row.revocation = Some(Revocation {
            reason,
            revoked_at: now,
        });
        row.hold_released_at = None;
        commit(&mut st, row.clone())?;
        Ok(row)
    }

    /// Takes a certificate off hold (only `certificate_hold` can be undone).
    pub fn unrevoke(&self, serial: &str, officer: &str) -> Result<RequestRow, CaError> {
        let mut st = self.lock();
        let mut row = st.db.by_serial(serial)?.ok_or_else(|| {
            CaError::refused(
                HResult::CRYPT_E_NOT_FOUND,
                format!("no certificate with serial {}", normalize_serial(serial)),
            )
        })?;
        if row.revocation.as_ref().map(|r| r.reason) != Some(RevocationReason::CertificateHold) {
            return Err(CaError::refused(
                HResult::BAD_REQUESTSTATUS,
                format!(
                    "request {} is not on hold; only certificate_hold can be undone",
                    row.id
                ),
            ));
        }
        row.disposition = Disposition::Issued;
        row.disposition_message = format!("Unrevoked by {officer}");
        row.revocation = None;
        row.hold_released_at = Some(self.clock.now());
        commit(&mut st, row.clone())?;
        Ok(row)
    }

    /// Publishes a new base or delta CRL for every CA key; returns the
    /// current key's CRL (DER).
    pub fn publish_crl(&self, kind: CrlKind) -> Result<Vec<u8>, CaError> {
        let mut st = self.lock();
        let now = self.clock.now();
        let keys = st.authority.keys.len() as u16;
        let mut current = Vec::new();
        for k in 0..keys {
            if kind == CrlKind::Delta && !st.crls.contains_key(&(k, false)) {
                self.publish_one(&mut st, k, CrlKind::Base, now)?;
            }
            let der = self.publish_one(&mut st, k, kind, now)?;
            if k == st.authority.current().key_index {
                current = der;
            }
        }
        Ok(current)
    }

    /// The newest CRL of CA key `key_index` already published, if any
    /// (what the directory's CDP object holds; reading it publishes nothing).
    pub fn published_crl(&self, key_index: u16, kind: CrlKind) -> Option<Vec<u8>> {
        let st = self.lock();
        st.crls
            .get(&(key_index, kind == CrlKind::Delta))
            .map(|c| c.der.clone())
    }

    /// The newest CRL of CA key `key_index` (publishing one if none exists yet).
    pub fn crl(&self, key_index: u16, kind: CrlKind) -> Result<Vec<u8>, CaError> {
        let mut st = self.lock();
        if key_index as usize >= st.authority.keys.len() {
            return Err(CaError::refused(
                HResult::E_INVALIDARG,
                format!("the CA has no key {key_index}"),
            ));
        }
        if let Some(c) = st.crls.get(&(key_index, kind == CrlKind::Delta)) {
            return Ok(c.der.clone());
        }
        let now = self.clock.now();
        if kind == CrlKind::Delta && !st.crls.contains_key(&(key_index, false)) {
            self.publish_one(&mut st, key_index, CrlKind::Base, now)?;
        }
        self.publish_one(&mut st, key_index, kind, now)
    }

    fn publish_one(
        &self,
        st: &mut State,
        key_index: u16,
        kind: CrlKind,
        now: UnixTime,
    ) -> Result<Vec<u8>, CaError> {
        let delta = kind == CrlKind::Delta;
        let number = *st.next_crl_number.get(&key_index).unwrap_or(&1);
        let base = st.crls.get(&(key_index, false)).cloned();
        let since = if delta {
            base.as_ref().map(|b| b.this_update)
        } else {
            None
        };
        let mut entries = Vec::new();
        for row in st.db.crl_candidates(key_index)? {
            let Some(serial_bytes) = unhex(&row.serial) else {
                continue;
            };
            if row.not_after.is_some_and(|na| na < now) {
                continue; // expired certificates leave the CRL
            }
            if let Some(r) = &row.revocation {
                if r.revoked_at <= now && since.is_none_or(|s| r.revoked_at >= s) {
                    let code = r.reason.code();
                    entries.push(CrlEntry {
                        serial: serial_bytes,
                        revoked_at: r.revoked_at,
                        reason: (code != 0).then_some(code),
                    });
                }
            } else if let (Some(released), Some(s)) = (row.hold_released_at, since) {
                if released >= s {
                    entries.push(CrlEntry {
                        serial: serial_bytes,
                        revoked_at: released,
                        reason: Some(8),
                    });
                }
            }
        }
        if st.authority.cert_for_key(key_index).is_none() {
            return Err(CaError::refused(
                HResult::E_INVALIDARG,
                format!("the CA has no key {key_index}"),
            ));
        }
        let cert_index = st
            .authority
            .certs
            .iter()
            .rposition(|c| c.key_index == key_index)
            .unwrap_or(0) as u16;
        let key = st.authority.keys[key_index as usize].clone();
        let der_err = |e: der::Error| CaError::from(AuthorityError::from(e));
        let mut ext = vec![
            extension(
                oid::AUTHORITY_KEY_IDENTIFIER,
                false,
                x509::aki_value(&x509::key_id(key.spki_der()).map_err(der_err)?),
            ),
            extension(
                oid::CA_VERSION,
                false,
                x509::ca_version_value(cert_index, key_index),
            ),
            extension(oid::CRL_NUMBER, false, x509::crl_number_value(number)),
        ];
        let period_hours = if delta {
            st.config.delta_crl_period_hours
        } else {
            st.config.crl_period_hours
        };
        let next_update = now + period_hours as i64 * 3600;
        if delta {
            let base_number = base.as_ref().map(|b| b.number).unwrap_or(number);
            ext.push(extension(
                oid::DELTA_CRL_INDICATOR,
                true,
                x509::crl_number_value(base_number),
            ));
        } else {
            let base_url = authority::enroll_base(&st.config);
            let delta_url = format!(
                "{base_url}{}",
                authority::url_escape(&authority::crl_file_name(
                    &st.authority.ca_cn(),
                    key_index,
                    true
                ))
            );
            ext.push(extension(
                oid::FRESHEST_CRL,
                false,
                x509::freshest_crl_value(&[delta_url]).map_err(der_err)?,
            ));
        }
        let der = x509::build_crl(
            &x509::CrlSpec {
                issuer: &st.authority.name,
                this_update: now,
                next_update,
                entries: &entries,
                extensions: ext,
            },
            &key,
        )
        .map_err(der_err)?;
        let record = CrlRecord {
            key_index,
            delta,
            number,
            this_update: now,
            der: der.clone(),
        };
        if let Some(disk) = st.db.disk() {
            disk.save_crl(&record)?;
        }
        st.next_crl_number.insert(key_index, number + 1);
        st.crls.insert((key_index, delta), record);
        Ok(der)
    }

    /// The root's CRL in a two-tier hierarchy (nothing the root issued is revoked).
    pub fn root_crl(&self) -> Result<Option<Vec<u8>>, CaError> {
        let st = self.lock();
        let Some(root) = &st.authority.root else {
            return Ok(None);
        };
        let now = self.clock.now();
        let der_err = |e: der::Error| CaError::from(AuthorityError::from(e));
        let ext = vec![
            extension(
                oid::AUTHORITY_KEY_IDENTIFIER,
                false,
                x509::aki_value(&x509::key_id(root.key.spki_der()).map_err(der_err)?),
            ),
            extension(oid::CA_VERSION, false, x509::ca_version_value(0, 0)),
            extension(oid::CRL_NUMBER, false, x509::crl_number_value(1)),
        ];
        let spec = x509::CrlSpec {
            issuer: &root.name,
            this_update: now,
            next_update: now + st.config.crl_period_hours as i64 * 3600,
            entries: &[],
            extensions: ext,
        };
        Ok(Some(x509::build_crl(&spec, &root.key).map_err(der_err)?))
    }
}
