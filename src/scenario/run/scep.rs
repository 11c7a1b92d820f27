//! The SCEP step (`scep.enroll`): a network device enrolling through the
//! world's NDES with the client toolkit's SCEP enrollment.

use adcs_client::scep::{enroll_device, ChallengeSource, DeviceError, DeviceRequest, Polling};

use super::observed::Observed;
use super::world::Runner;
use crate::scenario::model::{ScepChallenge, Step};

impl Runner<'_> {
    /// `scep.enroll`: new key, challenge, PKCSReq, polls for `wait` seconds.
    pub(super) fn scep_enroll(
        &mut self,
        step: &Step,
        subject: &str,
        challenge: &ScepChallenge,
        wait: u64,
    ) -> Result<Observed, String> {
        let (Some(url), Some(admin)) = (self.server.ndes_url(), self.server.ndes_admin_url())
        else {
            return Err("the world runs no NDES: add `[world.ndes]`".into());
        };
        let challenge = match challenge {
            ScepChallenge::Admin => ChallengeSource::Admin {
                url: admin,
                credentials: self.credentials(step)?,
            },
            ScepChallenge::None => ChallengeSource::None,
            ScepChallenge::Given(p) => ChallengeSource::Given(p.clone()),
        };
        let req = DeviceRequest {
            url,
            trust: self.trust(),
            timeout: step.timeout,
            subject: subject.to_string(),
            challenge,
            key_bits: 2048,
            cipher: None,
            polling: Polling {
                interval: std::time::Duration::from_millis(50),
                max_wait: std::time::Duration::from_secs(wait),
            },
            seed: Some(adcs_proto::seed::Seed(self.seed)),
            now: self.now(),
        };
        let request_id = |r: &Runner<'_>| r.server.journal().last().and_then(|e| e.request_id);
        match enroll_device(&req) {
            Ok(done) => {
                let id = request_id(self);
                self.last_id = id;
                self.last_cert = Some(done.certificate.clone());
                Ok(Observed {
                    summary: format!(
                        "issued through SCEP, request {}",
                        id.map_or("?".into(), |i| i.to_string())
                    ),
                    disposition: Some("issued"),
                    request_id: id,
                    certificate: Some(done.certificate),
                    ..Observed::default()
                })
            }
            Err(DeviceError::Refused(f)) => Ok(Observed {
                summary: format!("SCEP FAILURE, failInfo {}", f.name()),
                disposition: Some("denied"),
                request_id: request_id(self),
                fail_info: Some(f.name()),
                ..Observed::default()
            }),
            Err(DeviceError::Scep(adcs_client::scep::ScepClientError::StillPending(..))) => {
                let id = request_id(self);
                self.last_id = id;
                Ok(Observed {
                    summary: format!(
                        "SCEP PENDING, request {}",
                        id.map_or("?".into(), |i| i.to_string())
                    ),
                    disposition: Some("pending"),
                    request_id: id,
                    ..Observed::default()
                })
            }
            Err(e) => Err(e.to_string()),
        }
    }
}
