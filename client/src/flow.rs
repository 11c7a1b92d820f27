//! The certreq verbs as library calls: `new`, `submit`, `retrieve`,
//! `accept`, `enroll` (all of them in one), and the CA certificate download
//! with a thumbprint pin. The CLI is a thin layer over these.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::certsrv::{EnrollError, Outcome, WebEnrollment};
use crate::http::{Credentials, Trust};
use crate::inf::{Inf, InfError, InfWarning, RequestKind, RequestSpec};
use crate::keys::RequestKey;
use crate::request::{build_pkcs10, new_request, BuildError, NewRequest, Requester};
use crate::store::{thumbprint, Accepted, Entry, PendingRequest, Store, StoreError, StoreName};

/// Why a verb failed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Inf(#[from] InfError),
    #[error("{path}: {source}")]
    Build { path: String, source: BuildError },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Enroll(#[from] EnrollError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Input(String),
    #[error("the CA certificate does not match the pinned thumbprint: expected {expected}, the server sent {got}")]
    PinMismatch { expected: String, got: String },
    #[error("the request was not issued: {outcome}")]
    NotIssued { id: Option<u32>, outcome: String },
    #[error("request {id} is still pending after {waited:?}")]
    StillPending { id: u32, waited: Duration },
}

impl FlowError {
    /// True when a wait for the CA ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, FlowError::Enroll(e) if e.is_timeout())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, FlowError> {
    std::fs::read(path).map_err(|source| FlowError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes an output file through a temporary file, so a failure leaves no
/// half-written file behind.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), FlowError> {
    adcs_proto::atomic_file::write_atomic(path, bytes).map_err(|e| FlowError::Io {
        path: e.path,
        source: e.source,
    })
}

/// How to reach the CA.
#[derive(Clone, Debug)]
pub struct CaEndpoint {
    /// The certsrv URL (`https://ca.contoso.com/certsrv/`).
    pub url: String,
    pub trust: Trust,
    pub credentials: Credentials,
    /// The bound on each network wait ([`crate::http::DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
}

impl CaEndpoint {
    pub fn connect(&self) -> Result<WebEnrollment, FlowError> {
        let mut web = WebEnrollment::new(&self.url, self.trust.clone(), self.credentials.clone())?;
        web.set_timeout(self.timeout);
        Ok(web)
    }
}

/// HTTPS trust: the store's Root certificates plus those in `ca_file`.
pub fn trust_from(store: &Store, ca_file: Option<&Path>) -> Result<Trust, FlowError> {
    let mut roots: Vec<Vec<u8>> = store
        .list(StoreName::Root)?
        .into_iter()
        .map(|e| e.der)
        .collect();
    if let Some(f) = ca_file {
        let certs = crate::store::read_certificates(&read(f)?)
            .map_err(|e| FlowError::Input(format!("{}: {e}", f.display())))?;
        roots.extend(certs);
    }
    Ok(Trust::Roots(roots))
}

/// What `req new` made.
#[derive(Debug)]
pub struct Created {
    pub spec: RequestSpec,
    pub kind: RequestKind,
    /// The PEM text written to the output file.
    pub pem: String,
    /// RequestType = PKCS10: the request waiting in `REQUEST`.
    pub pending: Option<PendingRequest>,
    /// RequestType = Cert: the self-signed certificate installed in `My`.
    pub installed: Option<Entry>,
    pub warnings: Vec<InfWarning>,
}

/// Options for making a request.
#[derive(Clone, Debug)]
pub struct NewOptions {
    /// Seed for the key (reproducible runs); `None` draws from the system.
    pub seed: Option<adcs_proto::seed::Seed>,
    pub requester: Requester,
    /// Start of validity for RequestType = Cert.
    pub now: adcs_proto::clock::UnixTime,
}

impl Default for NewOptions {
    fn default() -> Self {
        NewOptions {
            seed: None,
            requester: Requester::from_environment(),
            now: adcs_proto::clock::Clock::real().now(),
        }
    }
}

/// `certreq -new INF OUT`: reads the INF, makes the key and the request (or
/// the self-signed certificate), keeps the key in the store and writes the
/// PEM to `out` (when given). On failure nothing stays behind.
pub fn new_from_inf(
    inf_path: &Path,
    out: Option<&Path>,
    store: &Store,
    opts: &NewOptions,
) -> Result<Created, FlowError> {
    let inf = Inf::read(inf_path)?;
    let spec = RequestSpec::from_inf(&inf)?;
    new_from_spec(&inf_path.display().to_string(), spec, out, store, opts)
}

/// The label a seeded request key for `spec` read from `source` is drawn
/// under: the same seed, source and subject give the same key.
pub fn key_label(source: &str, spec: &RequestSpec) -> String {
    format!("{source}/{}", spec.subject)
}

/// [`new_from_inf`] for a spec already in hand (`source` names it in errors).
pub fn new_from_spec(
    source: &str,
    spec: RequestSpec,
    out: Option<&Path>,
    store: &Store,
    opts: &NewOptions,
) -> Result<Created, FlowError> {
    create(source, spec, None, out, store, opts)
}

/// Makes the request of `spec` with `key` (a renewal that keeps its key) or
/// a new key, and keeps it waiting in the store.
fn create(
    source: &str,
    spec: RequestSpec,
    key: Option<RequestKey>,
    out: Option<&Path>,
    store: &Store,
    opts: &NewOptions,
) -> Result<Created, FlowError> {
    let build = |source_err| FlowError::Build {
        path: source.to_string(),
        source: source_err,
    };
    let made = match key {
        Some(key) if spec.request_type == RequestKind::Pkcs10 => NewRequest {
            kind: RequestKind::Pkcs10,
            der: build_pkcs10(&spec, &key, &opts.requester).map_err(build)?,
            key,
        },
        Some(_) => {
            return Err(FlowError::Input(format!(
                "{source}: an existing key makes a PKCS10 request only"
            )))
        }
        None => {
            let mut rng = crate::keys::key_rng(opts.seed.as_ref(), &key_label(source, &spec));
            new_request(&spec, &mut rng, &opts.requester, opts.now).map_err(build)?
        }
    };
    let pem = made.pem();
    let (pending, installed) = match made.kind {
        RequestKind::Pkcs10 => (Some(store.add_pending(&made, &spec)?), None),
        RequestKind::Cert => (None, Some(store.install_self_signed(&made, &spec)?)),
    };
    if let Some(out) = out {
        if let Err(e) = write_file(out, pem.as_bytes()) {
            // Undo: the request never left this machine.
            if let Some(p) = &pending {
                let _ = store.forget_pending(&p.key_container);
            }
            if let Some(i) = &installed {
                let _ = store.delete(StoreName::My, &i.thumbprint);
            }
            return Err(e);
        }
    }
    Ok(Created {
        warnings: spec.warnings.clone(),
        kind: made.kind,
        spec,
        pem,
        pending,
        installed,
    })
}

/// The CertAttrib pairs for a submission: `CertificateTemplate:T` first when
/// a template is given, then the others.
pub fn cert_attributes(
    template: Option<&str>,
    attribs: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(t) = template {
        out.push(("CertificateTemplate".to_string(), t.to_string()));
    }
    out.extend(attribs.iter().cloned());
    out
}

/// Request attributes given as `NAME:VALUE` (certreq -attrib), trimmed.
pub fn parse_attributes(list: &[String]) -> Result<Vec<(String, String)>, FlowError> {
    list.iter()
        .map(|a| {
            a.split_once(':')
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| FlowError::Input(format!("attribute `{a}` is not NAME:VALUE")))
        })
        .collect()
}

/// `certreq -submit`: sends a request file.
pub fn submit_file(
    web: &mut WebEnrollment,
    request_path: &Path,
    attributes: &[(String, String)],
) -> Result<Outcome, FlowError> {
    let bytes = read(request_path)?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) if t.contains("-----BEGIN") || t.trim().bytes().all(|b| b.is_ascii()) => {
            t.to_string()
        }
        _ => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        }
    };
    Ok(web.submit(&text, attributes)?)
}

/// The outcome as one line, the way certreq reports it.
pub fn describe_outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Issued { id, .. } => {
            format!("RequestId: {id}\r\nCertificate retrieved(Issued) Issued")
        }
        Outcome::Pending { id } => {
            format!("RequestId: {id}\r\nCertificate request is pending: Taken Under Submission (0)")
        }
        Outcome::Denied {
            id,
            message,
            hresult,
        } => format!(
            "RequestId: {}\r\nCertificate request denied: {message}{}",
            id.map(|i| i.to_string()).unwrap_or_else(|| "?".into()),
            hresult.map(|h| format!(" {h}")).unwrap_or_default()
        ),
        Outcome::Error { message, hresult } => format!(
            "Certificate Request Processor: {message}{}",
            hresult.map(|h| format!(" {h}")).unwrap_or_default()
        ),
    }
}

/// `certreq -accept`: installs an issued certificate (file: DER, PEM or a
/// PKCS#7 chain) with its waiting key.
pub fn accept_file(store: &Store, cert_path: &Path) -> Result<Accepted, FlowError> {
    Ok(store.accept(&read(cert_path)?)?)
}

/// Progress of `enroll`, for a caller that wants to show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    Created { subject: String },
    Submitted { id: Option<u32> },
    Waiting { id: u32, attempt: u32 },
    Issued { id: u32 },
}

/// Options of `enroll`.
#[derive(Clone, Debug)]
pub struct EnrollOptions {
    pub new: NewOptions,
    pub template: Option<String>,
    pub attributes: Vec<(String, String)>,
    /// How often to ask about a pending request.
    pub poll_interval: Duration,
    /// How long to wait for approval before giving up (the request stays
    /// pending at the CA and in `REQUEST`; `req retrieve` picks it up later).
    pub wait: Duration,
}

impl Default for EnrollOptions {
    fn default() -> Self {
        EnrollOptions {
            new: NewOptions::default(),
            template: None,
            attributes: Vec::new(),
            poll_interval: Duration::from_secs(2),
            wait: Duration::from_secs(300),
        }
    }
}

/// What `enroll` ended with.
#[derive(Debug)]
pub struct Enrolled {
    pub id: u32,
    pub accepted: Accepted,
    pub warnings: Vec<InfWarning>,
    /// The request file text.
    pub request_pem: String,
}

/// `certreq -enroll`: new → submit → wait for approval → retrieve → accept.
pub fn enroll(
    endpoint: &CaEndpoint,
    inf_path: &Path,
    store: &Store,
    opts: &EnrollOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Enrolled, FlowError> {
    let inf = Inf::read(inf_path)?;
    let spec = RequestSpec::from_inf(&inf)?;
    enroll_spec(
        endpoint,
        &inf_path.display().to_string(),
        spec,
        None,
        store,
        opts,
        progress,
    )
}

/// [`enroll`] for a spec in hand (`source` names it in messages), with the
/// key of a certificate being renewed or, when `key` is `None`, a new one.
pub fn enroll_spec(
    endpoint: &CaEndpoint,
    source: &str,
    spec: RequestSpec,
    key: Option<RequestKey>,
    store: &Store,
    opts: &EnrollOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Enrolled, FlowError> {
    if spec.request_type == RequestKind::Cert {
        return Err(FlowError::Input(format!(
            "{source}: RequestType = Cert makes a self-signed certificate; use `req new` (there is nothing to enroll)"
        )));
    }
    let mut web = endpoint.connect()?;
    // Sign in before making a key, so a wrong password costs nothing.
    if !web.check_credentials()? {
        return Err(EnrollError::Unauthorized("Unauthorized".into()).into());
    }
    let created = create(source, spec, key, None, store, &opts.new)?;
    let pending = created
        .pending
        .clone()
        .expect("PKCS10 requests wait in REQUEST");
    progress(Progress::Created {
        subject: created.spec.subject.clone(),
    });
    let attributes = cert_attributes(opts.template.as_deref(), &opts.attributes);
    let outcome = match web.submit(&created.pem, &attributes) {
        Ok(o) => o,
        Err(e) => {
            let _ = store.forget_pending(&pending.key_container);
            return Err(e.into());
        }
    };
    let mut outcome = outcome;
    let started = std::time::Instant::now();
    let mut attempt = 0;
    let id = loop {
        match &outcome {
            Outcome::Issued { id, .. } => break *id,
            Outcome::Pending { id } => {
                if attempt == 0 {
                    progress(Progress::Submitted { id: Some(*id) });
                }
                if started.elapsed() >= opts.wait {
                    return Err(FlowError::StillPending {
                        id: *id,
                        waited: started.elapsed(),
                    });
                }
                attempt += 1;
                progress(Progress::Waiting { id: *id, attempt });
                std::thread::sleep(opts.poll_interval);
                outcome = web.check_pending(*id)?;
            }
            Outcome::Denied { id, .. } => {
                let _ = store.forget_pending(&pending.key_container);
                return Err(FlowError::NotIssued {
                    id: *id,
                    outcome: describe_outcome(&outcome).replace("\r\n", "; "),
                });
            }
            Outcome::Error { .. } => {
                let _ = store.forget_pending(&pending.key_container);
                return Err(FlowError::NotIssued {
                    id: None,
                    outcome: describe_outcome(&outcome).replace("\r\n", "; "),
                });
            }
        }
    };
    progress(Progress::Issued { id });
    let Outcome::Issued { certificate, .. } = outcome else {
        unreachable!("loop breaks on Issued only")
    };
    let accepted = store.accept(&certificate)?;
    Ok(Enrolled {
        id,
        accepted,
        warnings: created.warnings,
        request_pem: created.pem,
    })
}

/// What to download from the CA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaDownload {
    Certificate,
    Chain,
    Crl,
    DeltaCrl,
}

/// The CA certificate, chain or CRL (DER; a chain as PKCS#7). With a pin, the
/// download goes over any TLS certificate but is accepted only if the root
/// of the CA's chain has that SHA-1 thumbprint and, over HTTPS, the server's
/// own certificate chains to that root: the safe way to fetch the first
/// root ("download and import the root").
pub fn download_ca(
    endpoint: &CaEndpoint,
    what: CaDownload,
    renewal: Option<u16>,
    pin: Option<&str>,
) -> Result<Vec<u8>, FlowError> {
    let mut endpoint = endpoint.clone();
    if pin.is_some() {
        endpoint.trust = Trust::AnyCertificate;
    }
    let mut web = endpoint.connect()?;
    if let Some(pin) = pin {
        let chain = web.ca_chain(renewal)?;
        let root = verify_pin(&chain, pin)?;
        if let Some(tls) = web.server_certificate().map(<[u8]>::to_vec) {
            if !chains_to(&tls, &chain, &root) {
                return Err(FlowError::PinMismatch {
                    expected: normalise_thumbprint(pin),
                    got: "a TLS certificate that does not chain to the pinned root".into(),
                });
            }
        }
    }
    Ok(match what {
        CaDownload::Certificate => web.ca_certificate(renewal)?,
        CaDownload::Chain => {
            let certs = web.ca_chain(renewal)?;
            adcs_proto::encoding::pkcs7_certs_only(&certs, None)
        }
        CaDownload::Crl | CaDownload::DeltaCrl => {
            let k = match renewal {
                Some(k) => k,
                None => web.n_renewals()?,
            };
            web.crl(k, what == CaDownload::DeltaCrl)?
        }
    })
}

fn normalise_thumbprint(t: &str) -> String {
    t.chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_uppercase()
}

/// The root of `chain` (its self-signed certificate, else its last) if it
/// has the pinned thumbprint.
fn verify_pin(chain: &[Vec<u8>], pin: &str) -> Result<Vec<u8>, FlowError> {
    let expected = normalise_thumbprint(pin);
    if expected.len() != 40 {
        return Err(FlowError::Input(format!(
            "--ca-thumbprint `{pin}` is not a SHA-1 thumbprint (40 hex digits)"
        )));
    }
    if let Some(hit) = chain.iter().find(|c| thumbprint(c) == expected) {
        return Ok(hit.clone());
    }
    let got = chain
        .last()
        .map(|c| thumbprint(c))
        .unwrap_or_else(|| "no certificate".into());
    Err(FlowError::PinMismatch { expected, got })
}

/// Whether `leaf` chains through `pool` to `root` (signatures checked).
fn chains_to(leaf: &[u8], pool: &[Vec<u8>], root: &[u8]) -> bool {
    use der::{Decode, Encode};
    use x509_cert::Certificate;
    let spki = |c: &[u8]| -> Option<Vec<u8>> {
        Certificate::from_der(c)
            .ok()?
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .ok()
    };
    let mut current = leaf.to_vec();
    for _ in 0..8 {
        if current == root {
            return true;
        }
        if let Some(k) = spki(root) {
            if adcs_proto::x509::verify_signed(&current, &k) {
                return true;
            }
        }
        let next = pool.iter().find(|c| {
            **c != current && spki(c).is_some_and(|k| adcs_proto::x509::verify_signed(&current, &k))
        });
        match next {
            Some(n) => current = n.clone(),
            None => return false,
        }
    }
    false
}
