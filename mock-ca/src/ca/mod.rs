//! The CA engine: submissions, the request database, issuance, revocation,
//! CRLs, renewal and administration, in memory or backed by a state
//! directory. Every method takes `&self`, so one `Ca` can serve many threads.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use x509_cert::name::Name;

use crate::authority::{self, Authority, AuthorityError, CaCertificate, Root, CLOCK_SKEW_SECS};
use crate::config::{CaConfig, CaMode, ConfigError};
use crate::db::{
    normalize_serial, Database, RequestRow, Requester, Revocation, RevocationReason, RowQuery,
};
use crate::keys::{KeyAlgorithm, SigningKey};
use crate::policy::{decide, decide_on_behalf, Decision, IssuePlan};
use crate::state::{
    AuthorityFile, CrlRecord, StateDir, StateError, StoredCert, StoredKey, StoredRoot,
    TEMPLATES_SETTING,
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

mod admin;
mod agent;
mod restore;
mod revocation;
mod service;
mod submit;

pub use admin::Publication;
use restore::{authority_file, restore_authority};
pub use service::RaCertificates;
use submit::new_row;

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
            CaError::State(StateError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::StorageFull =>
            {
                HResult::DISK_FULL
            }
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
    state_dir: Option<StateDir>,
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
        let (store, file, rows) = StateDir::open(dir)?;
        let mut crls = HashMap::new();
        let mut next_crl_number = HashMap::new();
        for c in rows.crls()? {
            let n = next_crl_number.entry(c.key_index).or_insert(1);
            *n = (*n).max(c.number + 1);
            crls.insert((c.key_index, c.delta), c);
        }
        let templates = match rows.setting(TEMPLATES_SETTING)? {
            Some(t) => Some(serde_json::from_str(&t).map_err(|e| StateError::Corrupt {
                path: dir.join(crate::db::disk::FILE),
                reason: format!("the saved templates: {e}"),
            })?),
            None => None,
        };
        let db = Database::on_disk(rows);
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
            state_dir: Some(store),
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
        let (store, db) = match dir {
            Some(d) => {
                let (store, rows) = StateDir::create(d, &initial)?;
                (Some(store), Database::on_disk(rows))
            }
            None => (None, Database::new()),
        };
        let tls_key = Arc::new(
            SigningKey::generate(KeyAlgorithm::EcP256, &seed, "tls/0")
                .map_err(AuthorityError::from)?,
        );
        let state = State {
            config,
            authority,
            initial,
            db,
            crls: HashMap::new(),
            next_crl_number: HashMap::new(),
            state_dir: store,
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

    /// The web server's TLS certificate chain (leaf first) and PKCS#8 key.
    pub fn tls_identity(&self) -> (Vec<Vec<u8>>, Vec<u8>) {
        let st = self.lock();
        let row = read(st.db.get(1)).flatten();
        let mut chain = Vec::new();
        if let Some(c) = row.as_ref().and_then(|r| r.certificate.clone()) {
            chain.push(c);
            let idx = row.and_then(|r| r.ca_cert_index).unwrap_or(0);
            chain.extend(st.authority.chain(idx).unwrap_or_default());
        }
        (chain, st.tls_key.pkcs8_der().to_vec())
    }

    /// A request row by ID.
    pub fn request(&self, id: u32) -> Option<RequestRow> {
        read(self.lock().db.get(id)).flatten()
    }

    /// The row of the certificate with this serial (hex; case and separators ignored).
    pub fn request_by_serial(&self, serial: &str) -> Option<RequestRow> {
        read(self.lock().db.by_serial(serial)).flatten()
    }

    /// Rows in ID order, optionally only one disposition.
    pub fn list(&self, filter: Option<Disposition>) -> Vec<RequestRow> {
        self.query(&RowQuery::disposition(filter))
    }

    /// The rows `q` selects (filters, order and a page).
    pub fn query(&self, q: &RowQuery) -> Vec<RequestRow> {
        read(self.lock().db.query(q)).unwrap_or_default()
    }

    /// How many rows `q` selects, whatever its paging.
    pub fn count(&self, q: &RowQuery) -> usize {
        read(self.lock().db.count(q)).unwrap_or(0)
    }

    /// The ID the next submission will get.
    pub fn next_request_id(&self) -> u32 {
        self.lock().db.next_id()
    }

    /// The configuration in force.
    pub fn config(&self) -> CaConfig {
        self.lock().config.clone()
    }

    /// The seed in use (print it so a run can be replayed).
    pub fn seed(&self) -> Seed {
        self.seed
    }

    /// The clock the CA reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Lets the state directory's request table grow by at most `bytes`
    /// more (`None`: no bound). Past it the database answers as on a full
    /// disk, so a test can see what a full disk does without filling one.
    /// Without a state directory there is nothing to bound.
    pub fn bound_storage(&self, bytes: Option<u64>) -> Result<(), CaError> {
        match self.lock().db.disk() {
            Some(disk) => Ok(disk.bound_growth(bytes)?),
            None => Ok(()),
        }
    }

    /// Back to the initial state: original CA certificate and templates,
    /// empty database (then request 1 again), no CRLs, the clock as it
    /// started.
    pub fn reset(&self) -> Result<(), CaError> {
        {
            let mut st = self.lock();
            let initial = st.initial.clone();
            st.authority = restore_authority(&initial)?;
            st.config.templates = initial.config.templates.clone();
            st.db.clear()?;
            st.epoch += 1;
            st.crls.clear();
            st.next_crl_number.clear();
            if let Some(dir) = st.state_dir.as_ref() {
                dir.write_authority(&initial)?;
            }
        }
        self.clock.reset();
        self.issue_web_server_certificate()
    }
}

/// Makes a row durable and visible. A failed write leaves the database as it was.
fn commit(st: &mut State, row: RequestRow) -> Result<(), CaError> {
    Ok(st.db.put(row)?)
}

/// A read of the table: a failure (the state directory's disk failing
/// under a running CA) is reported on stderr and reads as nothing found,
/// as the pages and verbs that ask have no other answer to give.
fn read<T>(r: Result<T, StateError>) -> Option<T> {
    r.map_err(|e| eprintln!("adcs-harness: reading the request table: {e}"))
        .ok()
}
