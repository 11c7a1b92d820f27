//! SCEP enrollment (RFC 8894) against NDES or any SCEP server: the
//! capability list, the CA and RA certificates, NDES's one-time challenge
//! password from `mscep_admin`, and a PKCSReq polled until it is decided.
//! Messages are built and read by `adcs_proto::scep`, as the server does.

use std::time::{Duration, Instant};

use adcs_proto::encoding::pkcs7_certificates;
use adcs_proto::scep::{
    self, admin_page, envelope, Cipher, FailInfo, MessageType, Outgoing, PkiMessage, PkiStatus,
};
use adcs_proto::signer::Signer;
use adcs_proto::x509::key_usage_bits;
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;

use crate::http::{HttpError, Session};
use crate::inf::HashChoice;
use crate::keys::RequestKey;

/// Why a SCEP exchange did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ScepClientError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{operation}: HTTP {status} from the SCEP server")]
    Status {
        operation: &'static str,
        status: u16,
    },
    #[error("{0}")]
    Protocol(String),
    /// `mscep_admin` handed out no password: the page says why.
    #[error("no challenge password: {0}")]
    NoPassword(String),
    #[error("{0}")]
    Message(#[from] scep::ScepError),
    #[error("the SCEP server's reply could not be opened: {0}")]
    Envelope(#[from] envelope::EnvelopeError),
    #[error("still pending after {0} s of polling (transaction {1})")]
    StillPending(u64, String),
}

fn protocol(what: impl Into<String>) -> ScepClientError {
    ScepClientError::Protocol(what.into())
}

/// What `GetCACert` returned, sorted by role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaCertificates {
    /// The CA (the certificate that is no RA certificate, or the only one).
    pub ca: Vec<u8>,
    /// Verifies replies (digitalSignature).
    pub signing: Vec<u8>,
    /// Requests are encrypted to it (keyEncipherment).
    pub encryption: Vec<u8>,
}

fn operation_path(session: &Session, op: &str) -> String {
    format!("{}?operation={op}", session.url().path)
}

fn get(session: &mut Session, operation: &'static str) -> Result<Vec<u8>, ScepClientError> {
    let r = session.request("GET", &operation_path(session, operation), None, b"")?;
    if r.status != 200 {
        return Err(ScepClientError::Status {
            operation,
            status: r.status,
        });
    }
    Ok(r.body)
}

/// `GetCACaps`: the server's capabilities, one per line.
pub fn capabilities(session: &mut Session) -> Result<Vec<String>, ScepClientError> {
    let body = get(session, scep::operation::GET_CA_CAPS)?;
    Ok(String::from_utf8_lossy(&body)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// `GetCACert`: the CA certificate and, from NDES, its two RA certificates
/// told apart by key usage (one certificate serves all three roles).
pub fn ca_certificates(session: &mut Session) -> Result<CaCertificates, ScepClientError> {
    let body = get(session, scep::operation::GET_CA_CERT)?;
    let certs = pkcs7_certificates(&body)
        .or_else(|_| x509_cert::Certificate::from_der(&body).map(|_| vec![body.clone()]))
        .map_err(|_| protocol("GetCACert: neither a certificate nor a certs-only PKCS#7"))?;
    let usage = |c: &Vec<u8>| key_usage(c).unwrap_or(0);
    let ra: Vec<&Vec<u8>> = certs.iter().filter(|c| is_ra(c)).collect();
    let ca = certs
        .iter()
        .find(|c| !is_ra(c))
        .or(certs.first())
        .cloned()
        .ok_or_else(|| protocol("GetCACert: no certificate"))?;
    let pick = |bit: u16| {
        ra.iter()
            .find(|c| usage(c) & bit != 0)
            .map(|c| (*c).clone())
            .unwrap_or_else(|| ca.clone())
    };
    Ok(CaCertificates {
        signing: pick(0x80),
        encryption: pick(0x20),
        ca,
    })
}

fn key_usage(cert: &[u8]) -> Option<u16> {
    let c = x509_cert::Certificate::from_der(cert).ok()?;
    let ext = c
        .tbs_certificate()
        .extensions()?
        .iter()
        .find(|e| e.extn_id == adcs_proto::protocol::oid::KEY_USAGE)?;
    key_usage_bits(ext.extn_value.as_bytes())
}

/// An RA certificate: Certificate Request Agent, as NDES's are.
fn is_ra(cert: &[u8]) -> bool {
    let Ok(c) = x509_cert::Certificate::from_der(cert) else {
        return false;
    };
    let Some(exts) = c.tbs_certificate().extensions() else {
        return false;
    };
    let agent = der::asn1::ObjectIdentifier::new_unwrap(
        adcs_proto::protocol::oid::EKU_CERTIFICATE_REQUEST_AGENT,
    );
    exts.iter()
        .filter(|e| e.extn_id == adcs_proto::protocol::oid::EXTENDED_KEY_USAGE)
        .filter_map(|e| Vec::<der::asn1::ObjectIdentifier>::from_der(e.extn_value.as_bytes()).ok())
        .any(|ekus| ekus.contains(&agent))
}

/// A one-time challenge password from NDES's `mscep_admin` page (the
/// session signs in as a user allowed to enroll).
pub fn challenge_password(admin: &mut Session) -> Result<String, ScepClientError> {
    let path = admin.url().path.clone();
    let r = admin.request("GET", &path, None, b"")?;
    if r.status != 200 {
        return Err(ScepClientError::Status {
            operation: "mscep_admin",
            status: r.status,
        });
    }
    let page = page_text(&r.body);
    let Some(at) = page.find(admin_page::PASSWORD_MARKER) else {
        let why = [admin_page::CACHE_FULL, admin_page::NO_PERMISSION]
            .into_iter()
            .find(|m| page.contains(m))
            .unwrap_or("the page has no password");
        return Err(ScepClientError::NoPassword(why.to_string()));
    };
    let rest = &page[at + admin_page::PASSWORD_MARKER.len()..];
    let value = rest
        .split("<B>")
        .nth(1)
        .and_then(|s| s.split("</B>").next())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| protocol("mscep_admin: the password is not between <B> and </B>"))?;
    Ok(value.to_string())
}

/// NDES writes the page in UTF-16LE (without a BOM); other servers UTF-8.
fn page_text(body: &[u8]) -> String {
    let utf16 =
        body.len() >= 2 && body.len() % 2 == 0 && body.iter().skip(1).step_by(2).all(|b| *b == 0);
    if utf16 || body.starts_with(&[0xff, 0xfe]) {
        let units: Vec<u16> = body
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        return String::from_utf16_lossy(&units)
            .trim_start_matches('\u{feff}')
            .to_string();
    }
    String::from_utf8_lossy(body).into_owned()
}

/// A request key signing with one hash, as `adcs_proto::Signer`.
pub struct KeySigner<'a> {
    pub key: &'a RequestKey,
    pub hash: HashChoice,
}

impl Signer for KeySigner<'_> {
    fn spki_der(&self) -> &[u8] {
        self.key.spki_der()
    }
    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        self.key.signature_algorithm(self.hash)
    }
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        // A signature that fails is empty: the server answers badMessageCheck.
        self.key.sign(self.hash, msg).unwrap_or_default()
    }
}

/// One enrollment: who signs, what is requested, and how it is sealed.
pub struct Enrollment<'a> {
    pub signer: &'a dyn Signer,
    /// The signer's certificate: self-signed for a new device, the current
    /// certificate when renewing.
    pub signer_cert: &'a [u8],
    /// The PKCS#10 (DER), its challenge password inside.
    pub csr: &'a [u8],
    pub transaction_id: String,
    pub cipher: Cipher,
    /// The private key that opens the reply (the signer's).
    pub decrypt_key: &'a envelope::RecipientKey,
}

/// How a SCEP request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The issued certificate (DER).
    Issued(Vec<u8>),
    Pending,
    Failed(FailInfo),
}

/// Sends one PKIOperation (`PKCSReq`, or `CertPoll` for a pending one) and
/// reads the CertRep. POSTed when the server advertises `POSTPKIOperation`,
/// else sent by GET as NDES clients do.
pub fn send(
    session: &mut Session,
    certs: &CaCertificates,
    enrollment: &Enrollment<'_>,
    kind: MessageType,
    nonce: [u8; 16],
    post: bool,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Result<Outcome, ScepClientError> {
    let content = match kind {
        MessageType::CertPoll => issuer_and_subject(certs, enrollment.csr)?,
        _ => enrollment.csr.to_vec(),
    };
    let env = envelope::seal(&content, &[&certs.encryption], enrollment.cipher, rng)?;
    let message = Outgoing {
        message_type: kind,
        transaction_id: enrollment.transaction_id.clone(),
        sender_nonce: nonce.to_vec(),
        recipient_nonce: None,
        status: None,
        fail_info: None,
        envelope: Some(env),
    }
    .sign(enrollment.signer_cert, enrollment.signer, &[])?;
    let op = scep::operation::PKI_OPERATION;
    let r = if post {
        let path = operation_path(session, op);
        session.request("POST", &path, Some("application/x-pki-message"), &message)?
    } else {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&message);
        let q: String = form_urlencoded::byte_serialize(b64.as_bytes()).collect();
        let path = format!("{}&message={q}", operation_path(session, op));
        session.request("GET", &path, None, b"")?
    };
    if r.status != 200 {
        return Err(ScepClientError::Status {
            operation: "PKIOperation",
            status: r.status,
        });
    }
    read_reply(&r.body, certs, enrollment, &nonce)
}

/// Checks a CertRep (signed by the RA, for this transaction and nonce) and
/// opens its certificate.
fn read_reply(
    body: &[u8],
    certs: &CaCertificates,
    enrollment: &Enrollment<'_>,
    nonce: &[u8],
) -> Result<Outcome, ScepClientError> {
    let rep = PkiMessage::parse(body)?;
    if !rep.signature_valid || rep.signer != certs.signing && rep.signer != certs.ca {
        return Err(protocol(
            "the CertRep is not signed by the RA signing certificate",
        ));
    }
    if rep.message_type != MessageType::CertRep
        || rep.transaction_id != enrollment.transaction_id
        || rep.recipient_nonce.as_deref() != Some(nonce)
    {
        return Err(protocol(
            "the CertRep does not answer this request (transaction ID or nonce)",
        ));
    }
    match rep.status {
        Some(PkiStatus::Pending) => Ok(Outcome::Pending),
        Some(PkiStatus::Failure) => Ok(Outcome::Failed(
            rep.fail_info.unwrap_or(FailInfo::BadRequest),
        )),
        Some(PkiStatus::Success) => {
            let env = rep
                .envelope
                .ok_or_else(|| protocol("a SUCCESS CertRep without a certificate"))?;
            let (p7, _) = envelope::open(&env, enrollment.signer_cert, enrollment.decrypt_key)?;
            let mut issued = pkcs7_certificates(&p7)
                .map_err(|_| protocol("the CertRep's content is not a certs-only PKCS#7"))?;
            let requested = x509_cert::request::CertReq::from_der(enrollment.csr)
                .ok()
                .and_then(|r| r.info.public_key.to_der().ok());
            let mine = issued
                .iter()
                .position(|c| public_key(c).is_some() && public_key(c) == requested);
            match mine {
                Some(i) => Ok(Outcome::Issued(issued.swap_remove(i))),
                None => Err(protocol("the CertRep holds no certificate for this key")),
            }
        }
        None => Err(protocol("the CertRep has no pkiStatus")),
    }
}

fn public_key(cert: &[u8]) -> Option<Vec<u8>> {
    let c = x509_cert::Certificate::from_der(cert).ok()?;
    c.tbs_certificate().subject_public_key_info().to_der().ok()
}

/// CertPoll's content (RFC 8894 IssuerAndSubject): the CA's name and the
/// request's subject.
#[derive(der::Sequence)]
struct IssuerAndSubject {
    issuer: x509_cert::name::Name,
    subject: x509_cert::name::Name,
}

fn issuer_and_subject(certs: &CaCertificates, csr: &[u8]) -> Result<Vec<u8>, ScepClientError> {
    let ca = x509_cert::Certificate::from_der(&certs.ca)
        .map_err(|e| protocol(format!("the CA certificate: {e}")))?;
    let req = x509_cert::request::CertReq::from_der(csr)
        .map_err(|e| protocol(format!("the request: {e}")))?;
    IssuerAndSubject {
        issuer: ca.tbs_certificate().subject().clone(),
        subject: req.info.subject,
    }
    .to_der()
    .map_err(|e| protocol(e.to_string()))
}

/// How often to poll a PENDING request, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Polling {
    pub interval: Duration,
    pub max_wait: Duration,
}

/// PKCSReq, then CertPoll every `polling.interval` while the answer is
/// PENDING, up to `polling.max_wait`.
pub fn enroll(
    session: &mut Session,
    certs: &CaCertificates,
    enrollment: &Enrollment<'_>,
    polling: Polling,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Result<Outcome, ScepClientError> {
    use rand_core::Rng;
    let post = capabilities(session)
        .map(|caps| {
            caps.iter()
                .any(|c| c.eq_ignore_ascii_case("POSTPKIOperation"))
        })
        .unwrap_or(false);
    let started = Instant::now();
    let mut kind = MessageType::PkcsReq;
    loop {
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        let outcome = send(session, certs, enrollment, kind, nonce, post, rng)?;
        if outcome != Outcome::Pending {
            return Ok(outcome);
        }
        if started.elapsed() + polling.interval > polling.max_wait {
            return Err(ScepClientError::StillPending(
                polling.max_wait.as_secs(),
                enrollment.transaction_id.clone(),
            ));
        }
        std::thread::sleep(polling.interval);
        kind = MessageType::CertPoll;
    }
}

/// Where a PKCSReq's challenge password comes from.
#[derive(Clone, Debug)]
pub enum ChallengeSource {
    /// No password (NDES with `EnforcePassword` off, or a renewal).
    None,
    Given(String),
    /// Fetched from NDES's `mscep_admin` page, signed in with these credentials.
    Admin {
        url: String,
        credentials: crate::http::Credentials,
    },
}

/// A device enrolling for the first time: a new RSA key, its self-signed
/// signer certificate, a PKCS#10 with the challenge, then PKCSReq and polls.
#[derive(Clone, Debug)]
pub struct DeviceRequest {
    /// The SCEP URL (NDES: `http://host/certsrv/mscep/mscep.dll`).
    pub url: String,
    pub trust: crate::http::Trust,
    /// The bound on each network wait.
    pub timeout: Duration,
    /// The requested subject, e.g. `CN=router01.contoso.com, O=Contoso`.
    pub subject: String,
    pub challenge: ChallengeSource,
    pub key_bits: u32,
    /// The content cipher; by default AES-128 when the server advertises
    /// `AES`, else 3DES.
    pub cipher: Option<Cipher>,
    pub polling: Polling,
    /// Seeds the key and the random choices (reproducible runs).
    pub seed: Option<adcs_proto::seed::Seed>,
    /// When the signer certificate starts (the virtual clock in scenarios).
    pub now: adcs_proto::clock::UnixTime,
}

/// A device's enrollment result.
#[derive(Debug)]
pub struct Enrolled {
    pub key: RequestKey,
    pub certificate: Vec<u8>,
    pub ca: CaCertificates,
    pub transaction_id: String,
}

/// Why a device enrollment did not end with a certificate.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Scep(#[from] ScepClientError),
    #[error("the SCEP server refused the request: failInfo {} ({})", .0.name(), .0.code())]
    Refused(FailInfo),
    #[error("bad request: {0}")]
    Request(String),
}

/// A device's key and what it sends with each request: its self-signed
/// signer certificate and its PKCS#10 (with the challenge, if any).
pub struct Device {
    pub key: RequestKey,
    pub self_signed: Vec<u8>,
    pub csr: Vec<u8>,
    /// The key again, as the envelope code opens replies with it.
    decrypt_key: envelope::RecipientKey,
}

impl Device {
    /// A new RSA key from `rng`, and both signed for `subject`; the signer
    /// certificate is valid from five minutes before `now` for a day.
    pub fn new(
        subject: &str,
        key_bits: u32,
        password: Option<&str>,
        now: adcs_proto::clock::UnixTime,
        rng: &mut rand_chacha::ChaCha20Rng,
    ) -> Result<Device, DeviceError> {
        let bad = |e: &dyn std::fmt::Display| DeviceError::Request(e.to_string());
        let subject = adcs_proto::names::parse_dn(subject).map_err(|e| bad(&e))?;
        let key =
            RequestKey::generate(crate::inf::KeyChoice::Rsa(key_bits), rng).map_err(|e| bad(&e))?;
        let signer = KeySigner {
            key: &key,
            hash: HashChoice::Sha256,
        };
        let serial: [u8; 8] = adcs_proto::scep::Digest::Sha256.hash(key.spki_der())[..8]
            .try_into()
            .expect("8 bytes");
        let spec = adcs_proto::x509::CertificateSpec {
            serial: &[&[0x01][..], &serial].concat(),
            issuer: &subject,
            subject: &subject,
            not_before: now - 300,
            not_after: now + 86_400,
            spki_der: key.spki_der(),
            extensions: Vec::new(),
        };
        let self_signed =
            adcs_proto::x509::build_certificate(&spec, &signer).map_err(|e| bad(&e))?;
        let csr =
            adcs_proto::x509::build_request_with_challenge(&subject, &signer, Vec::new(), password)
                .map_err(|e| bad(&e))?;
        let decrypt_key =
            envelope::RecipientKey::from_pkcs8(key.pkcs8_der()).map_err(|e| bad(&e))?;
        Ok(Device {
            key,
            self_signed,
            csr,
            decrypt_key,
        })
    }

    /// Signs as the device, with SHA-256.
    pub fn signer(&self) -> KeySigner<'_> {
        KeySigner {
            key: &self.key,
            hash: HashChoice::Sha256,
        }
    }

    /// The SHA-256 of the public key in capitals, as devices name their
    /// first enrollment's transaction.
    pub fn transaction_id(&self) -> String {
        adcs_proto::hex::hex(&adcs_proto::scep::Digest::Sha256.hash(self.key.spki_der()))
            .to_ascii_uppercase()
    }

    /// One transaction of this device, sealed with `cipher`.
    pub fn enrollment<'a>(
        &'a self,
        signer: &'a KeySigner<'a>,
        transaction_id: String,
        cipher: Cipher,
    ) -> Enrollment<'a> {
        Enrollment {
            signer,
            signer_cert: &self.self_signed,
            csr: &self.csr,
            transaction_id,
            cipher,
            decrypt_key: &self.decrypt_key,
        }
    }
}

/// [`DeviceRequest`] end to end.
pub fn enroll_device(req: &DeviceRequest) -> Result<Enrolled, DeviceError> {
    use crate::http::{Credentials, Session};
    let mut session = Session::new(&req.url, req.trust.clone(), Credentials::None)
        .map_err(ScepClientError::from)?;
    session.timeout = req.timeout;
    let caps = capabilities(&mut session)?;
    let certs = ca_certificates(&mut session)?;
    let password = match &req.challenge {
        ChallengeSource::None => None,
        ChallengeSource::Given(p) => Some(p.clone()),
        ChallengeSource::Admin { url, credentials } => {
            let mut admin = Session::new(url, req.trust.clone(), credentials.clone())
                .map_err(ScepClientError::from)?;
            admin.timeout = req.timeout;
            Some(challenge_password(&mut admin)?)
        }
    };
    let mut rng = crate::keys::key_rng(req.seed.as_ref(), &format!("scep/{}", req.subject));
    let device = Device::new(
        &req.subject,
        req.key_bits,
        password.as_deref(),
        req.now,
        &mut rng,
    )?;
    let cipher = req.cipher.unwrap_or(if caps.iter().any(|c| c == "AES") {
        Cipher::Aes128
    } else {
        Cipher::TripleDes
    });
    let transaction_id = device.transaction_id();
    let signer = device.signer();
    let enrollment = device.enrollment(&signer, transaction_id.clone(), cipher);
    match enroll(&mut session, &certs, &enrollment, req.polling, &mut rng)? {
        Outcome::Issued(certificate) => Ok(Enrolled {
            key: device.key,
            certificate,
            ca: certs,
            transaction_id,
        }),
        Outcome::Failed(f) => Err(DeviceError::Refused(f)),
        Outcome::Pending => Err(ScepClientError::StillPending(
            req.polling.max_wait.as_secs(),
            transaction_id,
        )
        .into()),
    }
}
