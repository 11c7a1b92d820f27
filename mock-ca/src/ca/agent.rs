//! Requests an enrollment agent signs on another account's behalf (the
//! smart-card enrollment station's flow, and ESC3's second step): the
//! agent's signature must hold, its certificate must be one this CA issued
//! and has not revoked, for the Certificate Request Agent purpose (or any
//! purpose); the certificate is then for the account the request names.

use super::*;
use adcs_proto::agent::OnBehalfOf;

impl Ca {
    /// The account an agent's request is for, or the denial Windows gives.
    pub(super) fn agent_target(
        &self,
        st: &State,
        request: &OnBehalfOf,
    ) -> Result<(Requester, Vec<String>), (HResult, String)> {
        let refuse = |h: HResult, why: &str| {
            Err((
                h,
                format!(
                    "{}  0x{:08x}, {why}",
                    disposition_message::DENIED_BY_POLICY,
                    h.0
                ),
            ))
        };
        if !request.signature_valid {
            return refuse(
                HResult::NTE_BAD_SIGNATURE,
                "the enrollment agent's signature does not verify",
            );
        }
        let Ok(cert) =
            <x509_cert::Certificate as der::Decode>::from_der(&request.agent_certificate)
        else {
            return refuse(
                HResult::CERT_E_UNTRUSTEDROOT,
                "the enrollment agent's certificate cannot be read",
            );
        };
        let serial = hex(cert.tbs_certificate().serial_number().as_bytes());
        let row = st
            .db
            .by_serial(&serial)
            .map_err(|e| (HResult::CA_OFFLINE, e.to_string()))?
            .filter(|r| r.certificate.as_deref() == Some(request.agent_certificate.as_slice()));
        let Some(row) = row else {
            return refuse(
                HResult::CERT_E_UNTRUSTEDROOT,
                "the enrollment agent's certificate was not issued by this CA",
            );
        };
        if row.revocation.is_some() {
            return refuse(
                HResult::CRYPT_E_REVOKED,
                "the enrollment agent's certificate is revoked",
            );
        }
        let agent_purpose = [oid::EKU_CERTIFICATE_REQUEST_AGENT, oid::EKU_ANY_PURPOSE];
        let extensions = cert
            .tbs_certificate()
            .extensions()
            .map_or(&[][..], Vec::as_slice);
        let purposes = adcs_proto::x509::extended_key_usages(extensions).unwrap_or_default();
        if !purposes.iter().any(|e| agent_purpose.contains(&e.as_str())) {
            return refuse(
                HResult::SIGNATURE_REJECTED,
                "the signing certificate is not for the Certificate Request Agent purpose",
            );
        }
        let target = self.with_sid(&Requester::new(&request.requester_name));
        Ok((target, purposes))
    }
}
