//! SCOM: what MOMCertImport does (pick a certificate from the machine store,
//! write its serial, reversed, and its thumbprint into the registry), what
//! the agent checks before it loads it, renewal, and the guide's whole
//! procedure in one call.

pub mod check;
pub mod facts;
mod procedure;

use std::path::{Path, PathBuf};

pub use procedure::{
    enroll, renew, Renewed, ScomEnrollOptions, ScomEnrolled, ScomRenewOptions, TrustStep,
};

use check::{evaluate, ChainState, CheckOptions, Facts, KeyState, RegistryState, Report};
use facts::{HASH_VALUE, MACHINE_SETTINGS_KEY, SERIAL_VALUE};

use crate::registry::{Change, RegValue, Registry, RegistryError};
use crate::store::{read_pfx, thumbprint, Entry, Pfx, Store, StoreError, StoreName};

/// Why a SCOM step failed.
#[derive(Debug, thiserror::Error)]
pub enum ScomError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Flow(#[from] crate::flow::FlowError),
    #[error("{0}")]
    Input(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The certificate fails the agent's rules; nothing was written.
    #[error("{} ({}): the SCOM agent would not load this certificate: {}; nothing was changed (--force imports it anyway)", .0.subject, .0.source, .0.errors().map(|f| f.message.clone()).collect::<Vec<_>>().join("; "))]
    Rejected(Box<Report>),
}

fn read(path: &Path) -> Result<Vec<u8>, ScomError> {
    std::fs::read(path).map_err(|source| ScomError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// How MOMCertImport is told which certificate to use.
#[derive(Clone, Debug)]
pub enum Selector {
    /// `/SubjectName NAME`: the My certificate whose common name is NAME (or
    /// whose subject contains it).
    Subject(String),
    /// A serial number, hex (spaces and colons allowed).
    Serial(String),
    /// A SHA-1 thumbprint.
    Thumbprint(String),
    /// `MOMCertImport FILE.pfx /Password PWD`: imported into the store
    /// first, its key exportable (as certutil -importpfx leaves it).
    Pfx { path: PathBuf, password: String },
    /// A PFX in hand (`source` names it in messages), imported with its key
    /// `exportable` or not (the web portal's "Mark keys as exportable").
    PfxData {
        bytes: Vec<u8>,
        password: String,
        source: String,
        exportable: bool,
    },
}

fn hex_digits(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | ':' | '\u{200e}'))
        .collect::<String>()
        .to_ascii_uppercase()
}

fn same_serial(a_hex: &str, b_hex: &str) -> bool {
    a_hex.trim_start_matches('0') == b_hex.trim_start_matches('0')
}

/// The one `My` certificate a selector names. A subject that several
/// certificates share picks the one the agent can use: with a private key,
/// time-valid at `now`, the latest to expire (a renewed certificate beside
/// its predecessor). Also returns how many matched.
pub fn select(store: &Store, selector: &Selector, now: i64) -> Result<(Entry, usize), ScomError> {
    let all = store.list(StoreName::My)?;
    let matches: Vec<Entry> = match selector {
        Selector::Thumbprint(t) => {
            let want = hex_digits(t);
            all.into_iter().filter(|e| e.thumbprint == want).collect()
        }
        Selector::Serial(s) => {
            let want = hex_digits(s);
            all.into_iter()
                .filter(|e| same_serial(&e.serial, &want))
                .collect()
        }
        Selector::Subject(name) => {
            let name = name.trim();
            let by_cn: Vec<Entry> = all
                .iter()
                .filter(|e| {
                    Facts::of_certificate(&e.der, "")
                        .is_ok_and(|f| f.common_names.iter().any(|c| c.eq_ignore_ascii_case(name)))
                })
                .cloned()
                .collect();
            if by_cn.is_empty() {
                let lower = name.to_lowercase();
                all.into_iter()
                    .filter(|e| e.subject.to_lowercase().contains(&lower))
                    .collect()
            } else {
                by_cn
            }
        }
        Selector::Pfx { .. } | Selector::PfxData { .. } => {
            return Err(ScomError::Input(
                "a PFX is imported, not selected from the store".into(),
            ))
        }
    };
    let count = matches.len();
    let best = matches.into_iter().max_by_key(|e| {
        (
            e.has_private_key,
            e.not_before <= now && now <= e.not_after,
            e.not_after,
            e.not_before,
        )
    });
    match best {
        Some(e) => Ok((e, count)),
        None => Err(StoreError::NotFound(format!(
            "no certificate in {} matches {}",
            store.place(StoreName::My.folder()),
            describe_selector(selector)
        ))
        .into()),
    }
}

fn describe_selector(s: &Selector) -> String {
    match s {
        Selector::Subject(n) => format!("subject name `{n}`"),
        Selector::Serial(n) => format!("serial number {n}"),
        Selector::Thumbprint(t) => format!("thumbprint {t}"),
        Selector::Pfx { path, .. } => format!("PFX {}", path.display()),
        Selector::PfxData { source, .. } => source.clone(),
    }
}

/// Whether registry bytes (`ChannelCertificateSerialNumber`) name `entry`.
pub fn names(serial: &[u8], entry: &Entry) -> bool {
    adcs_proto::hex::unhex(&entry.serial).is_some_and(|s| check::serial_matches(serial, &s))
}

/// The `My` certificate the registry bytes `serial` name, if any.
pub fn entry_with_serial(store: &Store, serial: &[u8]) -> Result<Option<Entry>, ScomError> {
    Ok(store
        .list(StoreName::My)?
        .into_iter()
        .find(|e| names(serial, e)))
}

/// What the registry says about SCOM's certificate. A missing registry
/// file means "nothing configured"; a corrupt one is an error.
pub fn registry_state(registry: &dyn Registry) -> Result<RegistryState, ScomError> {
    let serial = match registry.value(MACHINE_SETTINGS_KEY, SERIAL_VALUE) {
        Ok(v) => v,
        Err(RegistryError::Missing { path }) => {
            return Ok(RegistryState::NotConfigured {
                what: format!("the registry file {} does not exist", path.display()),
            })
        }
        Err(e) => return Err(e.into()),
    };
    let hash = match registry.value(MACHINE_SETTINGS_KEY, HASH_VALUE)? {
        Some(RegValue::String(h)) => Some(h),
        _ => None,
    };
    Ok(match serial {
        Some(RegValue::Binary(b)) if !b.is_empty() => RegistryState::Configured { serial: b, hash },
        Some(other) => RegistryState::NotConfigured {
            what: format!(
                "{} in {} is of type {} and empty or not REG_BINARY",
                SERIAL_VALUE,
                registry.describe(),
                other.kind()
            ),
        },
        None => RegistryState::NotConfigured {
            what: format!("{} has no {SERIAL_VALUE}", registry.describe()),
        },
    })
}

/// The facts of a certificate where it stands: its key in the store (or in
/// the PFX it comes in), its chain through the store's CA and Root (plus
/// the PFX's issuers, which an import adds), and the registry.
pub fn certificate_facts(
    store: &Store,
    der: &[u8],
    entry: Option<&Entry>,
    pfx: Option<&Pfx>,
    registry: RegistryState,
    source: &str,
) -> Result<Facts, ScomError> {
    let mut f = Facts::of_certificate(der, source).map_err(|e| ScomError::Input(e.to_string()))?;
    let found;
    let entry = match (entry, pfx) {
        (Some(e), _) => Some(e),
        (None, Some(_)) => None,
        (None, None) => {
            // A bare file: the same certificate in My tells where its key is.
            let thumb = thumbprint(der);
            found = store
                .list(StoreName::My)?
                .into_iter()
                .find(|e| e.thumbprint == thumb);
            found.as_ref()
        }
    };
    let props = match (entry, pfx) {
        (Some(e), _) => Some(e.properties.clone()),
        (None, Some(p)) => Some(p.properties()),
        (None, None) => None,
    };
    let spki = x509_spki(der)?;
    f.key = match (props.as_ref(), pfx) {
        (_, Some(p)) if entry.is_none() => {
            if p.key.spki_der() == spki.as_slice() {
                KeyState::Present
            } else {
                KeyState::Mismatch {
                    container: "(PFX)".into(),
                }
            }
        }
        (None, _) => KeyState::Unknown,
        (Some(props), _) => match &props.key_container {
            None => KeyState::NotLinked,
            Some(c) => match store.key_public(c) {
                Ok(Some(k)) if k == spki => KeyState::Present,
                Ok(Some(_)) => KeyState::Mismatch {
                    container: c.clone(),
                },
                Ok(None) | Err(StoreError::Corrupt { .. }) => KeyState::Missing {
                    container: c.clone(),
                },
                Err(e) => return Err(e.into()),
            },
        },
    };
    if let Some(p) = &props {
        if p.key_container.is_some() {
            f.key_spec = p.key_spec;
            f.provider = p.provider.clone();
            f.machine_key_set = Some(p.machine_key_set);
            f.exportable = Some(p.exportable);
        }
    }
    let extra: Vec<Vec<u8>> = pfx.map(|p| p.issuers.clone()).unwrap_or_default();
    let chain = store.chain_with(der, &extra)?;
    let top = chain.last().expect("the chain starts with the certificate");
    let top_facts = Facts::of_certificate(top, "").map_err(|e| ScomError::Input(e.to_string()))?;
    let top_name = top_facts.subject.clone();
    f.chain = if crate::store::is_self_signed(top) {
        let in_root = store
            .list(StoreName::Root)?
            .iter()
            .any(|e| e.thumbprint == thumbprint(top));
        let from_pfx = extra.iter().any(|c| c == top);
        if in_root || from_pfx {
            ChainState::Trusted { root: top_name }
        } else {
            ChainState::UntrustedRoot { root: top_name }
        }
    } else {
        let issuer = x509_cert::Certificate::from_der(top)
            .map(|c| adcs_proto::names::format_dn(c.tbs_certificate().issuer()))
            .unwrap_or_default();
        ChainState::Incomplete {
            missing_issuer: issuer,
        }
    };
    f.registry = registry;
    Ok(f)
}

use der::{Decode, Encode};

fn x509_spki(der: &[u8]) -> Result<Vec<u8>, ScomError> {
    x509_cert::Certificate::from_der(der)
        .map_err(|e| ScomError::Input(format!("not a certificate: {e}")))?
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| ScomError::Input(e.to_string()))
}

/// Options of [`import`].
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub check: CheckOptions,
    /// Write the configuration even when the agent would refuse the
    /// certificate (to reproduce its failure events).
    pub force: bool,
}

/// What [`import`] did.
#[derive(Debug)]
pub struct Imported {
    pub entry: Entry,
    /// What `ChannelCertificateSerialNumber` now holds.
    pub serial_value: Vec<u8>,
    /// What `ChannelCertificateHash` now holds.
    pub hash_value: String,
    /// The serial that was configured before, if another.
    pub replaced: Option<Vec<u8>>,
    /// How many certificates the selector matched.
    pub matched: usize,
    /// Whether the certificate came from a PFX (now in the store).
    pub from_pfx: bool,
    /// The agent's verdict at import time (registry rules left out).
    pub report: Report,
    /// Where the configuration was written.
    pub registry: String,
}

/// MOMCertImport: selects the certificate (importing a PFX first), checks
/// it as the agent will, and writes its serial (reversed) and thumbprint
/// under `Machine Settings`. A certificate the agent would refuse is not
/// configured unless `force`; on any failure nothing changes.
pub fn import(
    store: &Store,
    registry: &mut dyn Registry,
    selector: &Selector,
    opts: &ImportOptions,
) -> Result<Imported, ScomError> {
    // A corrupt registry fails here, before anything is written.
    let before = registry_state(registry)?;
    let open_pfx = |bytes: &[u8], password: &str, source: String, exportable: bool| {
        let mut pfx = read_pfx(bytes, password).map_err(|e| match e {
            StoreError::WrongPassword | StoreError::Pfx(_) => {
                ScomError::Input(format!("{source}: {e}"))
            }
            other => other.into(),
        })?;
        pfx.exportable = exportable;
        Ok::<_, ScomError>((pfx.leaf.clone(), None, Some(pfx), 1, source))
    };
    let (der, entry, pfx, matched, source) = match selector {
        Selector::Pfx { path, password } => {
            open_pfx(&read(path)?, password, path.display().to_string(), true)?
        }
        Selector::PfxData {
            bytes,
            password,
            source,
            exportable,
        } => open_pfx(bytes, password, source.clone(), *exportable)?,
        other => {
            let (e, n) = select(store, other, opts.check.now)?;
            let source = format!("My\\{}", e.thumbprint);
            (e.der.clone(), Some(e), None, n, source)
        }
    };
    let facts = certificate_facts(
        store,
        &der,
        entry.as_ref(),
        pfx.as_ref(),
        RegistryState::Skipped,
        &source,
    )?;
    let report = evaluate(&facts, &opts.check);
    if !report.ok() && !opts.force {
        return Err(ScomError::Rejected(Box::new(report)));
    }
    let entry = match (&pfx, entry) {
        (Some(p), _) => store.install_pfx(p)?,
        (None, Some(e)) => e,
        (None, None) => unreachable!("a selector gives an entry, a PFX its leaf"),
    };
    let serial_value = check::registry_serial(&facts.serial.clone().unwrap_or_default());
    let hash_value = entry.thumbprint.clone();
    registry.apply(
        MACHINE_SETTINGS_KEY,
        &[
            Change::Set {
                name: SERIAL_VALUE.into(),
                value: RegValue::Binary(serial_value.clone()),
            },
            Change::Set {
                name: HASH_VALUE.into(),
                value: RegValue::String(hash_value.clone()),
            },
        ],
    )?;
    let replaced = match before {
        RegistryState::Configured { serial, .. } if serial != serial_value => Some(serial),
        _ => None,
    };
    Ok(Imported {
        entry,
        serial_value,
        hash_value,
        replaced,
        matched,
        from_pfx: pfx.is_some(),
        report,
        registry: registry.describe(),
    })
}

/// What [`remove`] cleared.
#[derive(Debug, Default)]
pub struct Removed {
    pub serial: Option<Vec<u8>>,
    pub hash: Option<String>,
}

/// Clears SCOM's certificate configuration (both values); the certificate
/// stays in the store. A missing registry file is an error.
pub fn remove(registry: &mut dyn Registry) -> Result<Removed, ScomError> {
    let serial = match registry.value(MACHINE_SETTINGS_KEY, SERIAL_VALUE)? {
        Some(RegValue::Binary(b)) => Some(b),
        _ => None,
    };
    let hash = match registry.value(MACHINE_SETTINGS_KEY, HASH_VALUE)? {
        Some(RegValue::String(h)) => Some(h),
        _ => None,
    };
    if serial.is_some() || hash.is_some() {
        registry.apply(
            MACHINE_SETTINGS_KEY,
            &[
                Change::Delete {
                    name: SERIAL_VALUE.into(),
                },
                Change::Delete {
                    name: HASH_VALUE.into(),
                },
            ],
        )?;
    }
    Ok(Removed { serial, hash })
}

/// What `scom check` looks at.
#[derive(Clone, Debug)]
pub enum CheckTarget {
    /// The certificate the registry names (what the agent loads).
    Configured,
    /// A `My` certificate.
    Store(Selector),
    /// A certificate file (PEM or DER).
    File(PathBuf),
    /// A PFX, with its password.
    Pfx { path: PathBuf, password: String },
    /// A request file, before submission.
    Request(PathBuf),
    /// An INF, before `req new`.
    Inf(PathBuf),
}

/// Runs the agent's rules over `target`. `registry` is `None` to leave the
/// registry rules out (a certificate not meant to be imported yet).
pub fn check(
    store: &Store,
    registry: Option<&dyn Registry>,
    target: &CheckTarget,
    opts: &CheckOptions,
) -> Result<Report, ScomError> {
    let reg_state = || -> Result<RegistryState, ScomError> {
        match registry {
            Some(r) => registry_state(r),
            None => Ok(RegistryState::Skipped),
        }
    };
    let facts = match target {
        CheckTarget::Configured => {
            let registry = registry.ok_or_else(|| {
                ScomError::Input("checking the configured certificate needs the registry".into())
            })?;
            let state = registry_state(registry)?;
            let serial = match &state {
                RegistryState::Configured { serial, .. } => serial.clone(),
                RegistryState::NotConfigured { what } => {
                    return Ok(nothing_found(
                        &registry.describe(),
                        opts,
                        facts::event::NONE_SPECIFIED,
                        format!(
                            "{what}: no certificate is configured for SCOM (run `scom import`)"
                        ),
                    ))
                }
                RegistryState::Skipped => unreachable!("a registry was given"),
            };
            let Some(entry) = entry_with_serial(store, &serial)? else {
                return Ok(nothing_found(
                    &registry.describe(),
                    opts,
                    facts::event::NOT_FOUND,
                    format!(
                        "{SERIAL_VALUE} = {} names serial {}, which no certificate in {} has",
                        adcs_proto::hex::hex(&serial),
                        {
                            let mut s = serial.clone();
                            s.reverse();
                            crate::store::hex_upper(&s)
                        },
                        store.place(StoreName::My.folder())
                    ),
                ));
            };
            let source = format!(
                "My\\{}, configured in {}",
                entry.thumbprint,
                registry.describe()
            );
            certificate_facts(
                store,
                &entry.der.clone(),
                Some(&entry),
                None,
                state,
                &source,
            )?
        }
        CheckTarget::Store(sel) => {
            let (entry, _) = select(store, sel, opts.now)?;
            let source = format!("My\\{}", entry.thumbprint);
            certificate_facts(
                store,
                &entry.der.clone(),
                Some(&entry),
                None,
                reg_state()?,
                &source,
            )?
        }
        CheckTarget::File(path) => {
            let certs = crate::store::read_certificates(&read(path)?)
                .map_err(|e| ScomError::Input(format!("{}: {e}", path.display())))?;
            let source = path.display().to_string();
            certificate_facts(store, &certs[0], None, None, reg_state()?, &source)?
        }
        CheckTarget::Pfx { path, password } => {
            let pfx = read_pfx(&read(path)?, password)
                .map_err(|e| ScomError::Input(format!("{}: {e}", path.display())))?;
            let source = path.display().to_string();
            certificate_facts(
                store,
                &pfx.leaf.clone(),
                None,
                Some(&pfx),
                reg_state()?,
                &source,
            )?
        }
        CheckTarget::Request(path) => Facts::of_request(&read(path)?, &path.display().to_string())
            .map_err(|e| ScomError::Input(e.to_string()))?,
        CheckTarget::Inf(path) => {
            let inf = crate::inf::Inf::read(path).map_err(|e| ScomError::Input(e.to_string()))?;
            let spec = crate::inf::RequestSpec::from_inf(&inf)
                .map_err(|e| ScomError::Input(e.to_string()))?;
            Facts::of_spec(&spec, &path.display().to_string())
                .map_err(|e| ScomError::Input(e.to_string()))?
        }
    };
    Ok(evaluate(&facts, opts))
}

/// A report for "the registry names no usable certificate".
fn nothing_found(
    source: &str,
    opts: &CheckOptions,
    event: facts::Event,
    message: String,
) -> Report {
    Report {
        target: check::Target::Certificate,
        source: source.to_string(),
        subject: "(none)".into(),
        thumbprint: None,
        serial: None,
        fqdn: opts.fqdn.clone(),
        findings: vec![check::Finding {
            rule: "registry-serial",
            status: check::Status::Fail,
            severity: check::Severity::Error,
            event: Some(event),
            message,
        }],
    }
}
