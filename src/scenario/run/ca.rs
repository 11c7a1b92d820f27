//! The CA side's steps: what the certificate manager and CA administrator
//! do (`ca.*`), the virtual clock (`clock.*`) and the server's injected
//! faults (`fault.*`).

use adcs_client::certsrv::Outcome;
use adcs_client::control::ControlClient;
use adcs_client::scom::check::Facts;
use mock_ca::web::faults::FaultRule;
use mock_ca::{CrlKind, RevocationReason, Submission};

use super::observed::Observed;
use super::world::Runner;
use crate::scenario::model::{RequestRef, SerialRef, Step};

/// What the certificate manager does with a pending request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    Issue,
    Deny,
}

/// The serial numbers a CRL lists.
fn crl_serials(der: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use der::Decode;
    let crl = x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der)
        .map_err(|e| e.to_string())?;
    Ok(crl
        .tbs_cert_list
        .revoked_certificates
        .map(|list| {
            list.iter()
                .map(|r| r.serial_number.as_bytes().to_vec())
                .collect()
        })
        .unwrap_or_default())
}

impl Runner<'_> {
    /// `ca.issue` / `ca.deny`: the certificate manager decides a pending
    /// request: the CA administrator, or the step's `user` through the
    /// control plane, where the CA's roles decide whether they may.
    pub(super) fn ca_decide(
        &mut self,
        step: &Step,
        id: RequestRef,
        decision: Decision,
    ) -> Result<Observed, String> {
        let id = self.request_id(id)?;
        let ca = self.server.ca().clone();
        let (officer, s) = match &step.user {
            None => {
                let admin = self.admin_name();
                let s = match decision {
                    Decision::Issue => ca.issue_pending(id, &admin),
                    Decision::Deny => ca.deny(id, &admin),
                }
                .map_err(|e| e.to_string())?;
                (admin, s)
            }
            Some(_) => {
                let u = self.user(step)?.clone();
                let password = step.password.clone().unwrap_or(u.password);
                let mut control = ControlClient::new(
                    &self.server.control_url(),
                    self.trust(),
                    &u.name,
                    &password,
                )
                .map_err(|e| e.to_string())?;
                control.set_timeout(step.timeout);
                match decision {
                    Decision::Issue => control.issue(id),
                    Decision::Deny => control.deny(id),
                }
                .map_err(|e| e.to_string())?;
                let row = ca.request(id).ok_or(format!("request {id} is gone"))?;
                (u.name, Submission::from(&row))
            }
        };
        let mut o = Observed::outcome(&match (s.disposition, s.certificate.clone()) {
            (mock_ca::Disposition::Issued, Some(c)) => Outcome::Issued { id, certificate: c },
            _ => Outcome::Denied {
                id: Some(id),
                message: s.message.clone(),
                hresult: Some(s.status),
            },
        });
        let done = match decision {
            Decision::Issue => "issued",
            Decision::Deny => "denied",
        };
        o.summary = format!("{done} by {officer}: {}", o.summary);
        Ok(o)
    }

    /// `ca.revoke`: revokes by serial (the latest certificate's by default).
    pub(super) fn ca_revoke(
        &mut self,
        serial: &SerialRef,
        reason: RevocationReason,
    ) -> Result<Observed, String> {
        let serial = self.serial(serial)?;
        let row = self
            .server
            .ca()
            .revoke(&serial, reason, &self.admin_name())
            .map_err(|e| e.to_string())?;
        Ok(Observed {
            summary: format!("revoked serial {serial} (request {})", row.id),
            request_id: Some(row.id),
            ..Observed::default()
        })
    }

    /// `ca.unrevoke`: takes a certificate off hold.
    pub(super) fn ca_unrevoke(&mut self, serial: &SerialRef) -> Result<Observed, String> {
        let serial = self.serial(serial)?;
        let row = self
            .server
            .ca()
            .unrevoke(&serial, &self.admin_name())
            .map_err(|e| e.to_string())?;
        Ok(Observed {
            summary: format!("unrevoked serial {serial} (request {})", row.id),
            request_id: Some(row.id),
            ..Observed::default()
        })
    }

    /// `ca.crl`: publishes a CRL and says whether the latest certificate is on it.
    pub(super) fn ca_crl(&mut self, delta: bool) -> Result<Observed, String> {
        let kind = if delta { CrlKind::Delta } else { CrlKind::Base };
        let crl = self
            .server
            .ca()
            .publish_crl(kind)
            .map_err(|e| e.to_string())?;
        let serials = crl_serials(&crl)?;
        let on = match &self.last_cert {
            Some(c) => Some(
                Facts::of_certificate(c, "")
                    .map_err(|e| e.to_string())?
                    .serial
                    .is_some_and(|s| serials.contains(&s)),
            ),
            None => None,
        };
        Ok(Observed {
            summary: format!(
                "{} CRL published with {} serial(s)",
                if delta { "delta" } else { "base" },
                serials.len()
            ),
            on_crl: on,
            ..Observed::default()
        })
    }

    /// `ca.renew`: renews the CA certificate.
    pub(super) fn ca_renew(&mut self, new_key: bool) -> Result<Observed, String> {
        let n = self
            .server
            .ca()
            .renew_ca(new_key)
            .map_err(|e| e.to_string())?;
        Ok(Observed {
            summary: format!(
                "CA renewed {} (nRenewals {n})",
                if new_key {
                    "with a new key"
                } else {
                    "with the same key"
                }
            ),
            ..Observed::default()
        })
    }

    fn clock_now(&self) -> Observed {
        Observed {
            summary: format!("clock now {}", adcs_proto::x509::rfc3339(self.now())),
            ..Observed::default()
        }
    }

    /// `clock.advance`: moves the virtual clock (negative goes back).
    pub(super) fn clock_advance(&mut self, seconds: i64) -> Observed {
        self.server.ca().clock().advance(seconds);
        self.clock_now()
    }

    /// `clock.set`: puts the virtual clock at a time.
    pub(super) fn clock_set(&mut self, time: i64) -> Observed {
        self.server.ca().clock().set(time);
        self.clock_now()
    }

    /// `fault.set` / `fault.clear`: replaces the server's fault rules.
    pub(super) fn set_faults(&mut self, rules: Vec<FaultRule>) -> Result<Observed, String> {
        let n = rules.len();
        self.server.set_faults(rules).map_err(|e| e.to_string())?;
        Ok(Observed {
            summary: format!("{n} fault rule(s) in force"),
            ..Observed::default()
        })
    }
}
