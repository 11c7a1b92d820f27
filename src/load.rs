//! Load on a running server: concurrent web-enrollment clients submitting
//! (issued at once, or pending for approval) while a certificate officer on
//! the control plane issues, denies and revokes; then the check that the
//! server kept everything it acknowledged. Shared by the CI-sized load
//! test, the kill -9 crash test and the full-size bench.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use adcs_client::certsrv::{Outcome, WebEnrollment};
use adcs_client::control::ControlClient;
use adcs_client::http::{Credentials, Trust};
use adcs_proto::ready::ReadyInfo;
use mock_ca::keys::SigningKey;
use mock_ca::{KeyAlgorithm, Seed};

/// Where the load goes and who it signs in as.
#[derive(Clone, Debug)]
pub struct Target {
    pub certsrv_url: String,
    pub control_url: String,
    pub trust: Trust,
    /// The enrolling user (Basic).
    pub user: (String, String),
    /// The certificate officer (a CA administrator).
    pub officer: (String, String),
}

/// What the load driver or its check found wrong (a failed call, or a
/// request the server lost, duplicated or changed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

impl Target {
    /// The target a `serve --ready-file` describes: its first user, its
    /// administrator, and its root as the only trust anchor.
    pub fn from_ready(info: &ReadyInfo) -> Result<Target, LoadError> {
        let root = std::fs::read_to_string(&info.root_cert)
            .map_err(|e| LoadError(format!("{}: {e}", info.root_cert)))?;
        let user = info
            .users
            .first()
            .ok_or_else(|| LoadError("the ready file names no user account".into()))?;
        Ok(Target {
            certsrv_url: info.certsrv_url.clone(),
            control_url: info.control_url.clone(),
            trust: Trust::Roots(adcs_proto::encoding::pem_blocks(&root, "CERTIFICATE")),
            user: (user.user.clone(), user.password.clone()),
            officer: (info.admin.user.clone(), info.admin.password.clone()),
        })
    }
}

/// How much load.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub clients: usize,
    /// Submissions in all (the clients share them out).
    pub submissions: usize,
    /// Every n-th submission asks for the approval template (pending).
    pub pending_every: usize,
    /// The officer revokes every n-th certificate a client received.
    pub revoke_every: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            clients: 8,
            submissions: 200,
            pending_every: 3,
            revoke_every: 5,
        }
    }
}

/// The approval template of the default template set.
const PENDING_TEMPLATE: &str = "WebServerApproval";
const ISSUED_TEMPLATE: &str = "WebServer";

/// What the clients and the officer saw the server acknowledge.
#[derive(Clone, Debug, Default)]
pub struct Acknowledged {
    /// Request IDs the clients were given, with the certificate handed over
    /// when it was issued at once.
    pub submissions: Vec<(u32, Option<Vec<u8>>)>,
    /// Pending requests the officer issued.
    pub issued: BTreeSet<u32>,
    pub denied: BTreeSet<u32>,
    /// Requests whose certificate the officer revoked.
    pub revoked: BTreeSet<u32>,
    /// Failures (empty unless the server went away).
    pub errors: Vec<String>,
}

impl Acknowledged {
    /// Adds a later round's acknowledgements.
    pub fn extend(&mut self, other: Acknowledged) {
        self.submissions.extend(other.submissions);
        self.issued.extend(other.issued);
        self.denied.extend(other.denied);
        self.revoked.extend(other.revoked);
        self.errors.extend(other.errors);
    }

    /// The highest request ID acknowledged.
    pub fn max_id(&self) -> Option<u32> {
        self.submissions.iter().map(|(id, _)| *id).max()
    }
}

/// One PKCS#10 every client sends (the CA signs; the request is not the cost).
fn load_request() -> Result<String, String> {
    let key = SigningKey::generate(KeyAlgorithm::Rsa2048, &Seed(1), "load/request")
        .map_err(|e| e.to_string())?;
    let name = adcs_proto::names::parse_dn("CN=load.contoso.test").map_err(|e| e.to_string())?;
    let der = adcs_proto::x509::build_request(&name, &key, vec![]).map_err(|e| e.to_string())?;
    Ok(adcs_proto::encoding::pem("CERTIFICATE REQUEST", &der))
}

fn officer_client(target: &Target) -> Result<ControlClient, String> {
    ControlClient::new(
        &target.control_url,
        target.trust.clone(),
        &target.officer.0,
        &target.officer.1,
    )
    .map_err(|e| e.to_string())
}

/// Runs the load until every submission is made, `stop` is set, or the
/// server goes away. The officer keeps acting until the clients are done,
/// then resolves what is still pending.
pub fn drive(target: &Target, opts: &LoadOptions, stop: &AtomicBool) -> Acknowledged {
    let csr = match load_request() {
        Ok(c) => c,
        Err(e) => {
            return Acknowledged {
                errors: vec![e],
                ..Acknowledged::default()
            }
        }
    };
    let ack = Mutex::new(Acknowledged::default());
    let next = AtomicUsize::new(0);
    let clients_left = AtomicUsize::new(opts.clients);
    // Certificates the clients received, for the officer to revoke some of.
    let received: Mutex<Vec<u32>> = Mutex::default();
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for c in 0..opts.clients {
            let (csr, ack, next, received, failed, clients_left) =
                (&csr, &ack, &next, &received, &failed, &clients_left);
            scope.spawn(move || {
                let creds = Credentials::Basic {
                    user: target.user.0.clone(),
                    password: target.user.1.clone(),
                };
                let fail = |e: String| {
                    failed.store(true, Ordering::SeqCst);
                    ack.lock().unwrap_or_else(|p| p.into_inner()).errors.push(e);
                };
                match WebEnrollment::new(&target.certsrv_url, target.trust.clone(), creds) {
                    Err(e) => fail(format!("client {c}: {e}")),
                    Ok(mut web) => loop {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        if n >= opts.submissions {
                            break;
                        }
                        let template = if opts.pending_every > 0 && n % opts.pending_every == 0 {
                            PENDING_TEMPLATE
                        } else {
                            ISSUED_TEMPLATE
                        };
                        let attrs = [("CertificateTemplate".to_string(), template.to_string())];
                        let seen = match web.submit(csr, &attrs) {
                            Ok(Outcome::Issued { id, certificate }) => {
                                received.lock().unwrap_or_else(|p| p.into_inner()).push(id);
                                (id, Some(certificate))
                            }
                            Ok(Outcome::Pending { id }) => (id, None),
                            Ok(other) => {
                                fail(format!("client {c}, submission {n}: {other:?}"));
                                break;
                            }
                            Err(e) => {
                                fail(format!("client {c}, submission {n}: {e}"));
                                break;
                            }
                        };
                        ack.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .submissions
                            .push(seen);
                    },
                }
                clients_left.fetch_sub(1, Ordering::SeqCst);
            });
        }
        scope.spawn(|| {
            if let Err(e) = officer(target, opts, stop, &ack, &received, &clients_left, &failed) {
                failed.store(true, Ordering::SeqCst);
                ack.lock().unwrap_or_else(|p| p.into_inner()).errors.push(e);
            }
        });
    });
    ack.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// The certificate officer: issues even and denies odd pending requests,
/// and revokes every `revoke_every`-th certificate a client received.
fn officer(
    target: &Target,
    opts: &LoadOptions,
    stop: &AtomicBool,
    ack: &Mutex<Acknowledged>,
    received: &Mutex<Vec<u32>>,
    clients_left: &AtomicUsize,
    failed: &AtomicBool,
) -> Result<(), String> {
    let mut control = officer_client(target)?;
    let mut taken = 0usize;
    loop {
        let last_pass = clients_left.load(Ordering::SeqCst) == 0;
        if stop.load(Ordering::SeqCst) || failed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let to_revoke: Vec<u32> = {
            let r = received.lock().unwrap_or_else(|p| p.into_inner());
            let fresh = r[taken..].to_vec();
            taken = r.len();
            fresh
                .into_iter()
                .filter(|id| opts.revoke_every > 0 && *id as usize % opts.revoke_every == 0)
                .collect()
        };
        for id in to_revoke {
            let row = control
                .request(id)
                .map_err(|e| format!("officer: request {id}: {e}"))?;
            let serial = row["serial"]
                .as_str()
                .ok_or_else(|| format!("officer: request {id} has no serial: {row}"))?;
            control
                .revoke(serial, Some("superseded"))
                .map_err(|e| format!("officer: revoke {id}: {e}"))?;
            ack.lock()
                .unwrap_or_else(|p| p.into_inner())
                .revoked
                .insert(id);
        }
        // A bounded share of the pending list per pass, so revocations keep
        // pace; the last pass resolves them all.
        let limit = if last_pass { usize::MAX } else { 16 };
        let pending = control
            .requests(Some("pending"))
            .map_err(|e| format!("officer: pending list: {e}"))?;
        for id in pending
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["id"].as_u64())
            .take(limit)
        {
            let id = id as u32;
            if id % 2 == 0 {
                control
                    .issue(id)
                    .map_err(|e| format!("officer: issue {id}: {e}"))?;
                ack.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .issued
                    .insert(id);
            } else {
                control
                    .deny(id)
                    .map_err(|e| format!("officer: deny {id}: {e}"))?;
                ack.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .denied
                    .insert(id);
            }
        }
        if last_pass {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What the check found on the server.
#[derive(Clone, Debug, Default)]
pub struct Verified {
    pub requests: usize,
    pub issued: usize,
    pub denied: usize,
    pub revoked: usize,
    pub pending: usize,
    /// Every acknowledged ID, in order.
    pub ids: BTreeSet<u32>,
}

/// Checks the server against what was acknowledged: every request is
/// there, in a state its acknowledgements allow; a handed-over certificate
/// is the stored one; every issued certificate retrieves as exactly those
/// bytes; no ID or serial is used twice.
///
/// `exact`: nothing happened that was not acknowledged (no crash), so
/// nothing is revoked that the officer did not revoke and nothing pending
/// is left.
pub fn verify(target: &Target, ack: &Acknowledged, exact: bool) -> Result<Verified, LoadError> {
    check(target, ack, exact).map_err(LoadError)
}

fn check(target: &Target, ack: &Acknowledged, exact: bool) -> Result<Verified, String> {
    let mut out = Verified::default();
    let mut handed: BTreeMap<u32, Option<&Vec<u8>>> = BTreeMap::new();
    for (id, cert) in &ack.submissions {
        if handed.insert(*id, cert.as_ref()).is_some() {
            return Err(format!("request ID {id} was handed out twice"));
        }
    }
    out.ids = handed.keys().copied().collect();
    let mut control = officer_client(target)?;
    let mut web = WebEnrollment::new(
        &target.certsrv_url,
        target.trust.clone(),
        Credentials::Basic {
            user: target.user.0.clone(),
            password: target.user.1.clone(),
        },
    )
    .map_err(|e| e.to_string())?;
    let mut serials = BTreeSet::new();
    for (&id, given) in &handed {
        let row = control
            .request(id)
            .map_err(|e| format!("request {id} was acknowledged but is gone: {e}"))?;
        let disposition = row["disposition"].as_str().unwrap_or_default().to_string();
        let stored = row["certificate"]
            .as_str()
            .map(|p| adcs_proto::encoding::pem_blocks(p, "CERTIFICATE"))
            .and_then(|mut b| b.pop());
        if let Some(cert) = given {
            if stored.as_ref() != Some(*cert) {
                return Err(format!(
                    "request {id}: the stored certificate is not the one handed over"
                ));
            }
        }
        let officer_issued = ack.issued.contains(&id) || given.is_some();
        let allowed: &[&str] = if ack.revoked.contains(&id) {
            &["revoked"]
        } else if ack.denied.contains(&id) {
            &["denied"]
        } else if officer_issued && exact {
            &["issued"]
        } else if officer_issued {
            &["issued", "revoked"]
        } else if exact {
            // The officer's last pass resolves every pending request.
            &[]
        } else {
            &["pending", "issued", "denied", "revoked"]
        };
        if !allowed.contains(&disposition.as_str()) {
            return Err(format!(
                "request {id} is {disposition}; acknowledged as {allowed:?}"
            ));
        }
        match disposition.as_str() {
            "issued" => {
                out.issued += 1;
                match web
                    .retrieve(id)
                    .map_err(|e| format!("retrieve {id}: {e}"))?
                {
                    Outcome::Issued { certificate, .. }
                        if Some(&certificate) == stored.as_ref() => {}
                    other => {
                        return Err(format!(
                            "retrieve {id} did not return the issued bytes: {other:?}"
                        ))
                    }
                }
            }
            "denied" => out.denied += 1,
            "revoked" => out.revoked += 1,
            _ => out.pending += 1,
        }
        if let Some(s) = row["serial"].as_str() {
            if !serials.insert(s.to_string()) {
                return Err(format!("request {id}: serial {s} used twice"));
            }
        }
        out.requests += 1;
    }
    Ok(out)
}
