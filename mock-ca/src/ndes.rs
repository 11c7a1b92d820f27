//! NDES over the CA engine: the RA identity (two CA-issued certificates and
//! their seeded keys), the one-time challenge passwords `mscep_admin` hands
//! out, and SCEP's PKIOperation turned into CA submissions. The HTTP side
//! lives in `web::ndes`; the message codec in `adcs_proto::scep`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use crate::ca::{Ca, CaError, PolicyOverride, RaCertificates};
use crate::db::Requester;
use crate::keys::{KeyAlgorithm, SigningKey};
use adcs_proto::clock::UnixTime;
use adcs_proto::encoding::pkcs7_certs_only;
use adcs_proto::protocol::{CaMode, Disposition};
use adcs_proto::request::parse_request;
use adcs_proto::scep::{
    self, envelope, Cipher, FailInfo, MessageType, Outgoing, PkiMessage, PkiStatus, ScepError,
};

/// `[ndes]` of serve.toml: NDES's registry settings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NdesConfig {
    /// `EnforcePassword`: a PKCSReq must carry a one-time challenge password
    /// from `mscep_admin`. Off: any request is submitted.
    pub enforce_password: bool,
    /// Template for requests whose key usage is signature only (`SignatureTemplate`).
    pub signature_template: String,
    /// Template for encryption-only requests (`EncryptionTemplate`).
    pub encryption_template: String,
    /// Template for everything else (`GeneralPurposeTemplate`).
    pub general_purpose_template: String,
    /// How long a challenge password stays valid (`PasswordValidity`).
    pub password_validity_minutes: u32,
    /// Unused passwords kept at most (`PasswordMax`).
    pub password_max: usize,
    /// What GetCACaps answers, one per line.
    pub capabilities: Vec<String>,
    /// The account NDES submits to the CA as.
    pub service_account: String,
}

impl Default for NdesConfig {
    fn default() -> Self {
        NdesConfig {
            enforce_password: true,
            signature_template: "IPSECIntermediateOffline".into(),
            encryption_template: "IPSECIntermediateOffline".into(),
            general_purpose_template: "IPSECIntermediateOffline".into(),
            password_validity_minutes: 60,
            password_max: 5,
            capabilities: scep::NDES_CAPABILITIES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            service_account: "NDESSvc".into(),
        }
    }
}

impl NdesConfig {
    pub fn validate(&self) -> Result<(), crate::config::ConfigError> {
        use crate::config::ConfigError;
        if self.password_max == 0 {
            return Err(ConfigError::new("ndes.password_max", "must be at least 1"));
        }
        if self.password_validity_minutes == 0 {
            return Err(ConfigError::new(
                "ndes.password_validity_minutes",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// What `mscep_admin` shows a user allowed to enroll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Password(String),
    /// `PasswordMax` unused passwords are outstanding.
    CacheFull,
}

/// The outcome of one PKIOperation, for the reply and the journal.
#[derive(Clone, Debug)]
pub struct Operation {
    /// The signed CertRep (DER).
    pub reply: Vec<u8>,
    pub message_type: MessageType,
    pub transaction_id: String,
    pub status: PkiStatus,
    pub fail_info: Option<FailInfo>,
    /// Why it failed, in words (journal only; SCEP carries just failInfo).
    pub reason: Option<String>,
    pub request_id: Option<u32>,
    pub disposition: Option<Disposition>,
}

#[derive(Default)]
struct State {
    /// Outstanding challenge passwords and when each was handed out.
    passwords: Vec<(String, UnixTime)>,
    handed_out: u64,
    /// SCEP transaction ID → CA request ID (for CertPoll).
    transactions: HashMap<String, u32>,
    replies: u64,
}

/// A running NDES.
pub struct Ndes {
    config: NdesConfig,
    ra: RaCertificates,
    sign_key: Arc<SigningKey>,
    decrypt_key: adcs_proto::scep::envelope::RecipientKey,
    state: Mutex<State>,
}

impl std::fmt::Debug for Ndes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ndes")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A failure decided before the CA saw the request.
struct Refusal {
    fail_info: FailInfo,
    reason: String,
}

fn refuse(fail_info: FailInfo, reason: impl Into<String>) -> Refusal {
    Refusal {
        fail_info,
        reason: reason.into(),
    }
}

impl Ndes {
    /// Sets NDES up on `ca`: seeded RA keys and their certificates (issued
    /// now, or found from an earlier start of the same state directory).
    pub fn start(ca: &Ca, config: NdesConfig) -> Result<Ndes, CaError> {
        config.validate()?;
        let seed = ca.seed();
        let key = |label: &str| {
            SigningKey::generate(KeyAlgorithm::Rsa2048, &seed, label)
                .map_err(|e| CaError::from(crate::authority::AuthorityError::from(e)))
        };
        let sign_key = Arc::new(key("ndes/ra-signing")?);
        let enc_key = key("ndes/ra-encryption")?;
        let ra = ca.ra_certificates(&sign_key, &enc_key)?;
        let decrypt_key = adcs_proto::scep::envelope::RecipientKey::from_pkcs8(enc_key.pkcs8_der())
            .map_err(|e| {
                let e = crate::keys::KeyError::Load {
                    alg: "rsa2048",
                    reason: e.to_string(),
                };
                CaError::from(crate::authority::AuthorityError::from(e))
            })?;
        Ok(Ndes {
            config,
            ra,
            sign_key,
            decrypt_key,
            state: Mutex::default(),
        })
    }

    pub fn config(&self) -> &NdesConfig {
        &self.config
    }

    pub fn ra_certificates(&self) -> &RaCertificates {
        &self.ra
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// GetCACaps: the capability list, one per line.
    pub fn capabilities(&self) -> String {
        let mut s = self.config.capabilities.join("\n");
        s.push('\n');
        s
    }

    /// GetCACert: the CA certificate and both RA certificates (certs-only PKCS#7).
    pub fn ca_ra_certificates(&self, ca: &Ca) -> Vec<u8> {
        let current = ca.ca_certificate(ca.n_renewals()).unwrap_or_default();
        pkcs7_certs_only(
            &[current, self.ra.signing.clone(), self.ra.encryption.clone()],
            None,
        )
    }

    /// A new one-time password, unless `PasswordMax` are outstanding.
    pub fn challenge(&self, ca: &Ca) -> Challenge {
        let now = ca.clock().now();
        let validity = i64::from(self.config.password_validity_minutes) * 60;
        let mut st = self.lock();
        st.passwords.retain(|(_, at)| now - at < validity);
        if st.passwords.len() >= self.config.password_max {
            return Challenge::CacheFull;
        }
        st.handed_out += 1;
        let bytes = ca
            .seed()
            .derive(&format!("ndes/challenge/{}", st.handed_out));
        let password = adcs_proto::hex::hex(&bytes[..8]).to_ascii_uppercase();
        st.passwords.push((password.clone(), now));
        Challenge::Password(password)
    }

    /// Takes a password out of the cache if it is there and still valid.
    fn redeem(&self, ca: &Ca, password: &str) -> Result<(), Refusal> {
        let now = ca.clock().now();
        let validity = i64::from(self.config.password_validity_minutes) * 60;
        let mut st = self.lock();
        let Some(i) = st.passwords.iter().position(|(p, _)| p == password) else {
            return Err(refuse(
                FailInfo::BadRequest,
                "the challenge password is not one this NDES handed out (or it was used)",
            ));
        };
        let (_, at) = st.passwords.remove(i);
        if now - at >= validity {
            return Err(refuse(
                FailInfo::BadRequest,
                "the challenge password expired",
            ));
        }
        Ok(())
    }

    /// PKIOperation: reads, checks and answers one SCEP message. `Err` means
    /// the message could not be read at all (NDES answers HTTP 500).
    pub fn pki_operation(
        &self,
        ca: &Ca,
        message: &[u8],
        over: Option<PolicyOverride>,
    ) -> Result<Operation, ScepError> {
        let msg = PkiMessage::parse(message)?;
        let mut op = Operation {
            reply: Vec::new(),
            message_type: msg.message_type,
            transaction_id: msg.transaction_id.clone(),
            status: PkiStatus::Failure,
            fail_info: None,
            reason: None,
            request_id: None,
            disposition: None,
        };
        let envelope = match self.handle(ca, &msg, over, &mut op) {
            Ok(env) => env,
            Err(r) => {
                op.status = PkiStatus::Failure;
                op.fail_info = Some(r.fail_info);
                op.reason = Some(r.reason);
                None
            }
        };
        op.reply = self.reply(ca, &msg, &op, envelope)?;
        Ok(op)
    }

    /// Decides the answer; `Ok(Some(envelope))` carries the certificate.
    fn handle(
        &self,
        ca: &Ca,
        msg: &PkiMessage,
        over: Option<PolicyOverride>,
        op: &mut Operation,
    ) -> Result<Option<Vec<u8>>, Refusal> {
        if !msg.signature_valid {
            return Err(refuse(
                FailInfo::BadMessageCheck,
                "the message's signature does not verify with its signer certificate",
            ));
        }
        let (content, cipher) = self.open(msg)?;
        let id = match msg.message_type {
            MessageType::PkcsReq | MessageType::RenewalReq => {
                self.submit(ca, msg, &content, over)?
            }
            MessageType::CertPoll => self
                .lock()
                .transactions
                .get(&msg.transaction_id)
                .copied()
                .ok_or_else(|| {
                    refuse(FailInfo::BadCertId, "no request with this transaction ID")
                })?,
            other => {
                return Err(refuse(
                    FailInfo::BadRequest,
                    format!("{} is not supported by NDES", other.name()),
                ))
            }
        };
        let row = ca
            .request(id)
            .ok_or_else(|| refuse(FailInfo::BadCertId, "the request is gone"))?;
        op.request_id = Some(id);
        op.disposition = Some(row.disposition);
        match (row.disposition, &row.certificate) {
            (Disposition::Issued, Some(cert)) => {
                op.status = PkiStatus::Success;
                let certs = pkcs7_certs_only(std::slice::from_ref(cert), None);
                let mut rng = self.rng(ca);
                let env = envelope::seal(&certs, &[&msg.signer], cipher, &mut rng)
                    .map_err(|e| refuse(FailInfo::BadMessageCheck, e.to_string()))?;
                Ok(Some(env))
            }
            (Disposition::Pending, _) => {
                op.status = PkiStatus::Pending;
                Ok(None)
            }
            _ => Err(refuse(
                FailInfo::BadRequest,
                format!("the CA did not issue: {}", row.disposition_message),
            )),
        }
    }

    /// Opens the request's envelope with the RA encryption key.
    fn open(&self, msg: &PkiMessage) -> Result<(Vec<u8>, Cipher), Refusal> {
        let env = msg
            .envelope
            .as_deref()
            .ok_or_else(|| refuse(FailInfo::BadMessageCheck, "the message has no envelope"))?;
        envelope::open(env, &self.ra.encryption, &self.decrypt_key)
            .map_err(|e| refuse(FailInfo::BadMessageCheck, e.to_string()))
    }

    /// Checks the challenge (unless renewing) and submits the PKCS#10.
    fn submit(
        &self,
        ca: &Ca,
        msg: &PkiMessage,
        csr: &[u8],
        over: Option<PolicyOverride>,
    ) -> Result<u32, Refusal> {
        let parsed = parse_request(csr).map_err(|e| refuse(FailInfo::BadRequest, e.message))?;
        let renewal = self.issued_by_ca(ca, &msg.signer);
        if self.config.enforce_password && !renewal {
            let password = parsed.challenge_password.as_deref().ok_or_else(|| {
                refuse(
                    FailInfo::BadRequest,
                    "the request has no challenge password",
                )
            })?;
            self.redeem(ca, password)?;
        }
        let mut attributes = Vec::new();
        if ca.config().mode == CaMode::Enterprise {
            let ku = parsed
                .extension(adcs_proto::protocol::oid::KEY_USAGE)
                .and_then(|e| adcs_proto::x509::key_usage_bits(e.extn_value.as_bytes()));
            let template = match ku {
                Some(0x80) => &self.config.signature_template,
                Some(0x20) => &self.config.encryption_template,
                _ => &self.config.general_purpose_template,
            };
            attributes.push(("CertificateTemplate".to_string(), template.clone()));
        }
        let who = Requester::new(&format!(
            "{}\\{}",
            ca.config().netbios_domain,
            self.config.service_account
        ));
        let sub = ca
            .submit_with(csr, &who, &attributes, over)
            .map_err(|e| refuse(FailInfo::BadRequest, e.to_string()))?;
        self.lock()
            .transactions
            .insert(msg.transaction_id.clone(), sub.id);
        Ok(sub.id)
    }

    /// A signer certificate this CA issued (a renewal: no password needed).
    fn issued_by_ca(&self, ca: &Ca, signer: &[u8]) -> bool {
        (0..=ca.n_renewals()).any(|i| {
            ca.ca_certificate(i)
                .and_then(|c| spki_of(&c))
                .is_some_and(|spki| adcs_proto::x509::verify_signed(signer, &spki))
        })
    }

    /// The CertRep, signed by the RA signing certificate.
    fn reply(
        &self,
        ca: &Ca,
        msg: &PkiMessage,
        op: &Operation,
        envelope: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ScepError> {
        let mut nonce = vec![0u8; 16];
        rand_core::Rng::fill_bytes(&mut self.rng(ca), &mut nonce);
        let out = Outgoing {
            message_type: MessageType::CertRep,
            transaction_id: msg.transaction_id.clone(),
            sender_nonce: nonce,
            recipient_nonce: Some(msg.sender_nonce.clone()),
            status: Some(op.status),
            fail_info: op.fail_info,
            envelope,
        };
        out.sign(&self.ra.signing, &*self.sign_key, &[])
    }

    /// A fresh deterministic stream for one reply's random choices.
    fn rng(&self, ca: &Ca) -> rand_chacha::ChaCha20Rng {
        let n = {
            let mut st = self.lock();
            st.replies += 1;
            st.replies
        };
        ca.seed().rng(&format!("ndes/reply/{n}"))
    }
}

fn spki_of(cert: &[u8]) -> Option<Vec<u8>> {
    use der::{Decode, Encode};
    let c = x509_cert::Certificate::from_der(cert).ok()?;
    c.tbs_certificate().subject_public_key_info().to_der().ok()
}
