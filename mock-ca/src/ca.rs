//! The CA engine: submissions, the request database, issuance, revocation,
//! CRLs, renewal and administration, in memory or backed by a state
//! directory. Every method takes `&self`, so one `Ca` can serve many threads.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use x509_cert::name::Name;

use crate::authority::{self, Authority, AuthorityError, CaCertificate, Root, CLOCK_SKEW_SECS};
use crate::config::{CaConfig, CaMode, ConfigError};
use crate::db::{normalize_serial, Database, RequestRow, Requester, Revocation, RevocationReason};
use crate::keys::{KeyAlgorithm, SigningKey};
use crate::policy::{decide, Decision, IssuePlan};
use crate::state::{
    AuthorityFile, CrlRecord, Record, StateDir, StateError, StoredCert, StoredKey, StoredRoot,
};
use crate::template::Template;
use adcs_proto::clock::{Clock, UnixTime};
use adcs_proto::hex::{hex, unhex};
use adcs_proto::names::{format_dn, parse_dn};
use adcs_proto::protocol::{disposition_message, oid, Disposition, HResult};
use adcs_proto::request::{parse_request, ParsedRequest, MAX_REQUEST_BYTES};
use adcs_proto::seed::Seed;
use adcs_proto::serial::adcs_serial;
use adcs_proto::x509::{self, extension, CertificateSpec, CrlEntry, SanEntry};

const DAY: i64 = 86_400;

/// Errors of the engine's administration and storage.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("invalid CA configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Authority(#[from] AuthorityError),
    #[error("state directory: {0}")]
    State(#[from] StateError),
    /// An administrative call the CA refused, with the HRESULT it gives.
    #[error("{message} ({})", hresult.status_text())]
    Refused { hresult: HResult, message: String },
}

impl CaError {
    /// The HRESULT a certsrv page or admin tool would show.
    pub fn hresult(&self) -> HResult {
        match self {
            CaError::Refused { hresult, .. } => *hresult,
            CaError::State(_) => HResult::CA_OFFLINE,
            _ => HResult::INVALID_CA_CERTIFICATE,
        }
    }

    fn refused(hresult: HResult, message: impl Into<String>) -> Self {
        CaError::Refused {
            hresult,
            message: message.into(),
        }
    }
}

/// A fault's override of the policy's decision for one submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyOverride {
    /// Denied "by the policy module" with this HRESULT.
    Deny(HResult),
    /// Held pending (an issuable request waits for a certificate manager).
    Pending,
}

/// A certificate made but not yet signed: its TBS, the key to sign it
/// with, and what its row records once it is.
struct Unsigned {
    tbs: Vec<u8>,
    key: Arc<SigningKey>,
    template: Option<String>,
    serial: String,
    cert_index: u16,
    key_index: u16,
    subject: String,
    not_before: UnixTime,
    not_after: UnixTime,
    now: UnixTime,
}

impl Unsigned {
    /// The signed certificate (DER).
    fn sign(&self) -> Vec<u8> {
        x509::sign_tbs(&self.tbs, &self.key)
    }

    /// Records the issued certificate `der` in `row`.
    fn finish(self, row: &mut RequestRow, der: Vec<u8>, message: &str) {
        row.template = self.template;
        row.disposition = Disposition::Issued;
        row.status = HResult::S_OK;
        row.disposition_message = message.to_string();
        row.resolved_at = Some(self.now);
        row.certificate = Some(der);
        row.serial = Some(self.serial);
        row.ca_cert_index = Some(self.cert_index);
        row.ca_key_index = Some(self.key_index);
        row.subject = Some(self.subject);
        row.not_before = Some(self.not_before);
        row.not_after = Some(self.not_after);
    }
}

/// The outcome of a submission or resubmission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    pub id: u32,
    pub disposition: Disposition,
    pub status: HResult,
    pub message: String,
    pub certificate: Option<Vec<u8>>,
}

impl From<&RequestRow> for Submission {
    fn from(r: &RequestRow) -> Self {
        Submission {
            id: r.id,
            disposition: r.disposition,
            status: r.status,
            message: r.disposition_message.clone(),
            certificate: r.certificate.clone(),
        }
    }
}

/// Which CRL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrlKind {
    Base,
    Delta,
}

struct State {
    config: CaConfig,
    authority: Authority,
    initial: AuthorityFile,
    db: Database,
    crls: HashMap<(u16, bool), CrlRecord>,
    next_crl_number: HashMap<u16, u64>,
    store: Option<StateDir>,
    tls_key: Arc<SigningKey>,
    /// Bumped by `reset`, so a signature made outside the lock is not
    /// committed into the database that replaced its own.
    epoch: u64,
}

/// The CA engine.
pub struct Ca {
    seed: Seed,
    clock: Clock,
    state: Mutex<State>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

fn authority_file(
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

fn restore_authority(f: &AuthorityFile) -> Result<Authority, CaError> {
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

impl Ca {
    /// A new CA held in memory.
    pub fn new(config: CaConfig, seed: Seed, clock: Clock) -> Result<Ca, CaError> {
        Self::build(config, seed, clock, None)
    }

    /// Opens the CA kept in `dir`, or makes one there. An existing directory
    /// keeps its own configuration and seed; `config` and `seed` only shape a new one.
    pub fn open(dir: &Path, config: CaConfig, seed: Seed, clock: Clock) -> Result<Ca, CaError> {
        if !StateDir::exists(dir) {
            return Self::build(config, seed, clock, Some(dir));
        }
        let mut db = Database::new();
        let mut crls = HashMap::new();
        let mut next_crl_number = HashMap::new();
        let mut templates = None;
        let (store, file) = StateDir::open(dir, |r| match r {
            Record::Row(row) => db.put(*row),
            Record::Crl(c) => {
                let n = next_crl_number.entry(c.key_index).or_insert(1);
                *n = (*n).max(c.number + 1);
                crls.insert((c.key_index, c.delta), c);
            }
            Record::Templates { templates: t } => templates = Some(t),
        })?;
        let authority = restore_authority(&file)?;
        let seed = file.seed;
        let tls_key = Arc::new(
            SigningKey::generate(KeyAlgorithm::EcP256, &seed, "tls/0")
                .map_err(AuthorityError::from)?,
        );
        let initial = AuthorityFile {
            certs: file.certs[..1].to_vec(),
            keys: file.keys[..1].to_vec(),
            ..file.clone()
        };
        let mut config = file.config.clone();
        if let Some(t) = templates {
            config.templates = t;
        }
        let state = State {
            config,
            authority,
            initial,
            db,
            crls,
            next_crl_number,
            store: Some(store),
            tls_key,
            epoch: 0,
        };
        Ok(Ca {
            seed,
            clock,
            state: Mutex::new(state),
        })
    }

    fn build(
        config: CaConfig,
        seed: Seed,
        clock: Clock,
        dir: Option<&Path>,
    ) -> Result<Ca, CaError> {
        config.validate()?;
        let now = clock.now();
        let authority = Authority::create(&config, &seed, now)?;
        let initial = authority_file(seed, now, &config, &authority);
        let store = match dir {
            Some(d) => Some(StateDir::create(d, &initial)?),
            None => None,
        };
        let tls_key = Arc::new(
            SigningKey::generate(KeyAlgorithm::EcP256, &seed, "tls/0")
                .map_err(AuthorityError::from)?,
        );
        let state = State {
            config,
            authority,
            initial,
            db: Database::new(),
            crls: HashMap::new(),
            next_crl_number: HashMap::new(),
            store,
            tls_key,
            epoch: 0,
        };
        let ca = Ca {
            seed,
            clock,
            state: Mutex::new(state),
        };
        ca.issue_web_server_certificate()?;
        Ok(ca)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Request 1 of every fresh CA: the certsrv site's own TLS certificate
    /// (the "HTTPS binding"), so ID 1 always exists and is retrievable.
    fn issue_web_server_certificate(&self) -> Result<(), CaError> {
        let mut st = self.lock();
        let host = st.config.host_name.clone();
        let names = st.config.server_names.clone();
        let san: Vec<SanEntry> = names
            .iter()
            .map(|n| {
                n.parse()
                    .map(SanEntry::Ip)
                    .unwrap_or_else(|_| SanEntry::Dns(n.clone()))
            })
            .collect();
        let subject = parse_dn(&format!("CN={host}"))
            .map_err(|e| ConfigError::new("host_name", e.to_string()))?;
        let san_ext = extension(
            oid::SUBJECT_ALT_NAME,
            false,
            x509::san_value(&san).map_err(AuthorityError::from)?,
        );
        let ku = extension(oid::KEY_USAGE, true, x509::key_usage_value(0x80));
        let request = x509::build_request(&subject, &st.tls_key, vec![san_ext.clone(), ku.clone()])
            .map_err(AuthorityError::from)?;
        let enterprise = st.config.mode == CaMode::Enterprise;
        let mut body = Vec::new();
        if enterprise {
            body.push(extension(
                oid::TEMPLATE_NAME,
                false,
                x509::template_name_value("WebServer"),
            ));
        }
        body.push(ku);
        body.push(extension(
            oid::EXTENDED_KEY_USAGE,
            false,
            x509::eku_value(&[der::asn1::ObjectIdentifier::new_unwrap(
                oid::EKU_SERVER_AUTH,
            )]),
        ));
        let plan = IssuePlan {
            template: enterprise.then(|| "WebServer".to_string()),
            subject,
            validity_days: 730,
            san: Some(san_ext),
            body,
        };
        let requester = Requester::new(&format!(
            "{}\\{}$",
            st.config.netbios_domain,
            host.split('.').next().unwrap_or(&host).to_ascii_uppercase()
        ));
        let spki = st.tls_key.spki_der().to_vec();
        let id = st.db.allocate_id();
        let now = self.clock.now();
        let mut row = new_row(id, request, requester, Vec::new(), now);
        self.issue_into(
            &st,
            &mut row,
            &plan,
            &spki,
            now,
            disposition_message::ISSUED,
        )?;
        commit(&mut st, row)
    }

    /// The web server's TLS certificate chain (leaf first) and PKCS#8 key.
    pub fn tls_identity(&self) -> (Vec<Vec<u8>>, Vec<u8>) {
        let st = self.lock();
        let row = st.db.get(1);
        let mut chain = Vec::new();
        if let Some(c) = row.and_then(|r| r.certificate.clone()) {
            chain.push(c);
            let idx = row.and_then(|r| r.ca_cert_index).unwrap_or(0);
            chain.extend(st.authority.chain(idx).unwrap_or_default());
        }
        (chain, st.tls_key.pkcs8_der().to_vec())
    }

    /// Submits a request (any encoding clients send) with CertAttrib pairs.
    /// Every submission gets a row and an ID, whatever its fate; `Err` means
    /// the CA could not record it (storage failure) and nothing was acknowledged.
    pub fn submit(
        &self,
        request: &[u8],
        requester: &Requester,
        attributes: &[(String, String)],
    ) -> Result<Submission, CaError> {
        self.submit_with(request, requester, attributes, None)
    }

    /// [`Ca::submit`] with the policy's decision overridden (an injected
    /// fault): denied with a chosen HRESULT, or held pending for a manager.
    pub fn submit_with(
        &self,
        request: &[u8],
        requester: &Requester,
        attributes: &[(String, String)],
        over: Option<PolicyOverride>,
    ) -> Result<Submission, CaError> {
        let parsed = parse_request(request);
        let mut st = self.lock();
        let now = self.clock.now();
        let id = st.db.allocate_id();
        let stored = match &parsed {
            Ok(p) => p.der.clone(),
            Err(_) if request.len() <= MAX_REQUEST_BYTES => request.to_vec(),
            Err(_) => Vec::new(),
        };
        let mut row = new_row(id, stored, requester.clone(), attributes.to_vec(), now);
        match parsed {
            Err(e) => {
                row.disposition = Disposition::Denied;
                row.status = e.hresult;
                row.disposition_message = e.message;
                row.resolved_at = Some(now);
            }
            Ok(p) => {
                let decision = decide(&st.config, &p, requester, attributes, false);
                let template = match &decision {
                    Decision::Issue(plan) => plan.template.clone(),
                    Decision::Pending { template } | Decision::Deny { template, .. } => {
                        template.clone()
                    }
                };
                let decision = match (over, decision) {
                    (Some(PolicyOverride::Deny(h)), _) => Decision::Deny {
                        template,
                        hresult: h,
                        message: format!(
                            "{}  0x{:08x}, {}",
                            disposition_message::DENIED_BY_POLICY,
                            h.0,
                            h.message()
                        ),
                    },
                    (Some(PolicyOverride::Pending), Decision::Issue(_)) => {
                        Decision::Pending { template }
                    }
                    (_, d) => d,
                };
                if let Decision::Issue(plan) = &decision {
                    return self.issue_unlocked(
                        st,
                        row,
                        plan,
                        &p.spki_der,
                        now,
                        |_| Ok(()),
                        disposition_message::ISSUED,
                    );
                }
                self.apply(
                    &st,
                    &mut row,
                    decision,
                    &p,
                    now,
                    disposition_message::ISSUED,
                )?;
            }
        }
        let submission = Submission::from(&row);
        commit(&mut st, row)?;
        Ok(submission)
    }

    fn apply(
        &self,
        st: &State,
        row: &mut RequestRow,
        decision: Decision,
        p: &ParsedRequest,
        now: UnixTime,
        issued_message: &str,
    ) -> Result<(), CaError> {
        match decision {
            Decision::Deny {
                template,
                hresult,
                message,
            } => {
                row.template = template.or(row.template.take());
                row.disposition = Disposition::Denied;
                row.status = hresult;
                row.disposition_message = message;
                row.resolved_at = Some(now);
            }
            Decision::Pending { template } => {
                row.template = template;
                row.disposition = Disposition::Pending;
                row.status = HResult::S_OK;
                row.disposition_message = disposition_message::PENDING.to_string();
            }
            Decision::Issue(plan) => {
                self.issue_into(st, row, &plan, &p.spki_der, now, issued_message)?;
            }
        }
        Ok(())
    }

    /// Issues `row` by `plan`, signing without holding the lock so that
    /// submissions and approvals sign on every core: the serial and TBS are
    /// made under `st`, the signature after dropping it, and the row is
    /// committed after `still_valid` (checked under the lock again) passes.
    /// A reset in between refuses with CA_OFFLINE.
    #[allow(clippy::too_many_arguments)]
    fn issue_unlocked(
        &self,
        st: MutexGuard<'_, State>,
        mut row: RequestRow,
        plan: &IssuePlan,
        spki: &[u8],
        now: UnixTime,
        still_valid: impl Fn(&State) -> Result<(), CaError>,
        message: &str,
    ) -> Result<Submission, CaError> {
        let unsigned = self.prepare_issue(&st, row.id, plan, spki, now)?;
        let epoch = st.epoch;
        drop(st);
        let der = unsigned.sign();
        let mut st = self.lock();
        if st.epoch != epoch {
            return Err(CaError::refused(
                HResult::CA_OFFLINE,
                "the CA was reset while the certificate was being signed",
            ));
        }
        still_valid(&st)?;
        unsigned.finish(&mut row, der, message);
        let submission = Submission::from(&row);
        commit(&mut st, row)?;
        Ok(submission)
    }

    /// Signs the certificate of `plan` into `row` (under the lock).
    fn issue_into(
        &self,
        st: &State,
        row: &mut RequestRow,
        plan: &IssuePlan,
        spki: &[u8],
        now: UnixTime,
        message: &str,
    ) -> Result<(), CaError> {
        let unsigned = self.prepare_issue(st, row.id, plan, spki, now)?;
        let der = unsigned.sign();
        unsigned.finish(row, der, message);
        Ok(())
    }

    /// Everything of request `id`'s certificate but its signature.
    fn prepare_issue(
        &self,
        st: &State,
        id: u32,
        plan: &IssuePlan,
        spki: &[u8],
        now: UnixTime,
    ) -> Result<Unsigned, CaError> {
        let auth = &st.authority;
        let cert_index = auth.current_index();
        let ca = auth.current();
        let key = auth.key_for(cert_index).expect("current key").clone();
        let random: [u8; 8] = self.seed.derive(&format!("serial/leaf/{id}"))[..8]
            .try_into()
            .expect("8 bytes");
        let high = st
            .config
            .high_serial
            .unwrap_or(self.seed.derive("high-serial")[0]);
        let serial = adcs_serial(id, cert_index, random, high);
        let not_before = now - CLOCK_SKEW_SECS;
        let not_after = (now + plan.validity_days as i64 * DAY).min(ca.not_after);
        let base = authority::enroll_base(&st.config);
        let cn = auth.ca_cn();
        let cdp = format!(
            "{base}{}",
            authority::url_escape(&authority::crl_file_name(&cn, ca.key_index, false))
        );
        let aia = format!(
            "{base}{}",
            authority::url_escape(&authority::crt_file_name(
                &st.config.host_name,
                &cn,
                cert_index
            ))
        );
        let der_err = |e: der::Error| CaError::from(AuthorityError::from(e));
        let mut extensions = vec![extension(
            oid::SUBJECT_KEY_IDENTIFIER,
            false,
            x509::ski_value(&x509::key_id(spki).map_err(der_err)?),
        )];
        if let Some(san) = &plan.san {
            extensions.push(san.clone());
        }
        extensions.push(extension(
            oid::AUTHORITY_KEY_IDENTIFIER,
            false,
            x509::aki_value(&x509::key_id(key.spki_der()).map_err(der_err)?),
        ));
        extensions.push(extension(
            oid::CRL_DISTRIBUTION_POINTS,
            false,
            x509::cdp_value(&[cdp]).map_err(der_err)?,
        ));
        extensions.push(extension(
            oid::AUTHORITY_INFO_ACCESS,
            false,
            x509::aia_value(&[aia]).map_err(der_err)?,
        ));
        extensions.extend(plan.body.iter().cloned());
        let spec = CertificateSpec {
            serial: &serial,
            issuer: &auth.name,
            subject: &plan.subject,
            not_before,
            not_after,
            spki_der: spki,
            extensions,
        };
        let tbs = x509::tbs_certificate(&spec, key.signature_algorithm()).map_err(der_err)?;
        Ok(Unsigned {
            tbs,
            key,
            template: plan.template.clone(),
            serial: hex(&serial),
            cert_index,
            key_index: ca.key_index,
            subject: format_dn(&plan.subject),
            not_before,
            not_after,
            now,
        })
    }

    /// A request row by ID.
    pub fn request(&self, id: u32) -> Option<RequestRow> {
        self.lock().db.get(id).cloned()
    }

    /// The row of the certificate with this serial (hex; case and separators ignored).
    pub fn request_by_serial(&self, serial: &str) -> Option<RequestRow> {
        self.lock().db.by_serial(serial).cloned()
    }

    /// Rows in ID order, optionally only one disposition.
    pub fn list(&self, filter: Option<Disposition>) -> Vec<RequestRow> {
        self.lock().db.list(filter).into_iter().cloned().collect()
    }

    /// The ID the next submission will get.
    pub fn next_request_id(&self) -> u32 {
        self.lock().db.next_id()
    }

    fn pending_row(st: &State, id: u32) -> Result<RequestRow, CaError> {
        let row = st.db.get(id).ok_or_else(|| {
            CaError::refused(
                HResult::PROPERTY_EMPTY,
                format!("request {id} does not exist"),
            )
        })?;
        if row.disposition != Disposition::Pending {
            return Err(CaError::refused(
                HResult::BAD_REQUESTSTATUS,
                format!("request {id} is {}, not pending", row.disposition.as_str()),
            ));
        }
        Ok(row.clone())
    }

    /// Issues a pending request (ICertAdmin::ResubmitRequest) as `officer`.
    pub fn issue_pending(&self, id: u32, officer: &str) -> Result<Submission, CaError> {
        let mut st = self.lock();
        let mut row = Self::pending_row(&st, id)?;
        let now = self.clock.now();
        match parse_request(&row.request) {
            Ok(p) => {
                let decision = decide(&st.config, &p, &row.requester, &row.attributes, true);
                if let Decision::Issue(plan) = &decision {
                    // Another officer may resolve it while this one signs.
                    let still_pending = |st: &State| Self::pending_row(st, id).map(drop);
                    let message = format!("Resubmitted by {officer}");
                    return self.issue_unlocked(
                        st,
                        row,
                        plan,
                        &p.spki_der,
                        now,
                        still_pending,
                        &message,
                    );
                }
                self.apply(
                    &st,
                    &mut row,
                    decision,
                    &p,
                    now,
                    &format!("Resubmitted by {officer}"),
                )?;
            }
            Err(e) => {
                row.disposition = Disposition::Denied;
                row.status = e.hresult;
                row.disposition_message = e.message;
                row.resolved_at = Some(now);
            }
        }
        let s = Submission::from(&row);
        commit(&mut st, row)?;
        Ok(s)
    }

    /// Denies a pending request (ICertAdmin::DenyRequest) as `officer`.
    pub fn deny(&self, id: u32, officer: &str) -> Result<Submission, CaError> {
        let mut st = self.lock();
        let mut row = Self::pending_row(&st, id)?;
        row.disposition = Disposition::Denied;
        row.status = HResult::ADMIN_DENIED_REQUEST;
        row.disposition_message = format!("Denied by {officer}");
        row.resolved_at = Some(self.clock.now());
        let s = Submission::from(&row);
        commit(&mut st, row)?;
        Ok(s)
    }

    /// Revokes an issued certificate by serial. A certificate on hold may be
    /// revoked again with a final reason.
    pub fn revoke(
        &self,
        serial: &str,
        reason: RevocationReason,
        officer: &str,
    ) -> Result<RequestRow, CaError> {
        let mut st = self.lock();
        let mut row = st.db.by_serial(serial).cloned().ok_or_else(|| {
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
        let mut row = st.db.by_serial(serial).cloned().ok_or_else(|| {
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
        for row in st.db.list(None) {
            if row.ca_key_index != Some(key_index) {
                continue;
            }
            let Some(serial_bytes) = row.serial.as_deref().and_then(unhex) else {
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
        if let Some(store) = st.store.as_mut() {
            store.append(&Record::Crl(record.clone()))?;
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

    /// Renews the CA certificate (same key or a new one); returns its index (`nRenewals`).
    pub fn renew_ca(&self, new_key: bool) -> Result<u16, CaError> {
        let mut st = self.lock();
        let now = self.clock.now();
        let config = st.config.clone();
        let mut renewed = st.authority.clone();
        let index = renewed.renew(&config, &self.seed, now, new_key)?;
        if let Some(store) = &st.store {
            store.write_authority(&authority_file(
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

    /// The configuration in force.
    pub fn config(&self) -> CaConfig {
        self.lock().config.clone()
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
    pub fn put_template(&self, template: Template) -> Result<(), CaError> {
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
    pub fn add_template(&self, template: Template) -> Result<(), CaError> {
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

    /// The seed in use (print it so a run can be replayed).
    pub fn seed(&self) -> Seed {
        self.seed
    }

    /// The clock the CA reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Back to the initial state: original CA certificate, empty database
    /// (then request 1 again), no CRLs.
    pub fn reset(&self) -> Result<(), CaError> {
        {
            let mut st = self.lock();
            let initial = st.initial.clone();
            st.authority = restore_authority(&initial)?;
            st.config.templates = initial.config.templates.clone();
            st.db = Database::new();
            st.epoch += 1;
            st.crls.clear();
            st.next_crl_number.clear();
            if let Some(store) = st.store.as_mut() {
                store.reset(&initial)?;
            }
        }
        self.issue_web_server_certificate()
    }
}

/// What a `/CertEnroll/` file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publication {
    CaCertificate(u16),
    Crl(u16, CrlKind),
    RootCertificate,
    RootCrl,
}

fn new_row(
    id: u32,
    request: Vec<u8>,
    requester: Requester,
    attributes: Vec<(String, String)>,
    now: UnixTime,
) -> RequestRow {
    RequestRow {
        id,
        request,
        requester,
        attributes,
        template: None,
        disposition: Disposition::Failed,
        disposition_message: String::new(),
        status: HResult::S_OK,
        submitted_at: now,
        resolved_at: None,
        certificate: None,
        serial: None,
        ca_cert_index: None,
        ca_key_index: None,
        subject: None,
        not_before: None,
        not_after: None,
        revocation: None,
        hold_released_at: None,
    }
}

fn no_template(name: &str) -> CaError {
    CaError::refused(
        HResult::UNSUPPORTED_CERT_TYPE,
        format!("no template named `{name}`"),
    )
}

/// Checks a changed template list as the configuration is checked, makes it
/// durable, then puts it in force.
fn commit_templates(st: &mut State, templates: Vec<Template>) -> Result<(), CaError> {
    let mut config = st.config.clone();
    config.templates = templates;
    config
        .validate()
        .map_err(|e| CaError::refused(HResult::E_INVALIDARG, e.to_string()))?;
    if let Some(store) = st.store.as_mut() {
        store.append(&Record::Templates {
            templates: config.templates.clone(),
        })?;
    }
    st.config = config;
    Ok(())
}

/// Makes a row durable, then visible. A failed write leaves the database as it was.
fn commit(st: &mut State, row: RequestRow) -> Result<(), CaError> {
    if let Some(store) = st.store.as_mut() {
        store.append(&Record::Row(Box::new(row.clone())))?;
    }
    st.db.put(row);
    Ok(())
}
