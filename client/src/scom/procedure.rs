//! The SCOM guide's procedures as calls: renew a certificate (same key or a
//! new one) through web enrollment and re-import it, and the whole
//! "obtain a certificate" procedure (trust the root → request → approval →
//! retrieve → accept → MOMCertImport → check) in one go.

use std::path::PathBuf;

use adcs_proto::public_key::PublicKeyKind;
use der::Decode;

use super::check::{CheckOptions, Facts, RegistryState, Report};
use super::{facts, import, registry_state, select, ImportOptions, Imported, ScomError, Selector};
use crate::flow::{self, CaDownload, CaEndpoint, EnrollOptions, Enrolled, Progress};
use crate::http::Trust;
use crate::inf::{HashChoice, Inf, KeyChoice, RequestSpec};
use crate::registry::Registry;
use crate::store::{Entry, PfxFormat, Store, StoreError, StoreName};

/// Options of [`renew`].
#[derive(Clone, Debug)]
pub struct ScomRenewOptions {
    /// A new key pair ("Renew Certificate with New Key") instead of the old
    /// one ("… with Same Key").
    pub new_key: bool,
    /// The template to ask for; by default the one the certificate names.
    pub template: Option<String>,
    pub enroll: EnrollOptions,
    pub check: CheckOptions,
}

/// What [`renew`] did.
#[derive(Debug)]
pub struct Renewed {
    pub old: Entry,
    pub enrolled: Enrolled,
    pub same_key: bool,
    /// The template asked for (name or OID), if any.
    pub template: Option<String>,
    /// Set when the old certificate was SCOM's and the new one now is.
    pub imported: Option<Imported>,
}

/// The request that renews `old`: its subject, alternative names, key
/// usage, EKUs, key kind and size, hash, provider and template.
pub fn renewal_spec(old: &Entry, template: Option<&str>) -> Result<RequestSpec, ScomError> {
    let f = Facts::of_certificate(&old.der, &old.thumbprint)
        .map_err(|e| ScomError::Input(e.to_string()))?;
    let inf = Inf::parse("renewal", b"[NewRequest]\r\nRequestType = PKCS10\r\n")
        .map_err(|e| ScomError::Input(e.to_string()))?;
    let mut spec = RequestSpec::from_inf(&inf).map_err(|e| ScomError::Input(e.to_string()))?;
    spec.subject = old.subject.clone();
    spec.key = match f.public_key {
        Some(PublicKeyKind::Rsa { bits }) => KeyChoice::Rsa(bits),
        Some(PublicKeyKind::Ec { bits, .. }) => KeyChoice::Ecdsa(bits),
        Some(PublicKeyKind::Dsa { bits }) => KeyChoice::Dsa(bits),
        other => {
            return Err(ScomError::Input(format!(
                "`{}` has a key this toolkit cannot renew ({other:?})",
                old.subject
            )))
        }
    };
    spec.hash = match f.signature.as_ref().map(|(_, h)| h.as_str()) {
        Some("SHA1") => HashChoice::Sha1,
        Some("SHA384") => HashChoice::Sha384,
        Some("SHA512") => HashChoice::Sha512,
        _ => HashChoice::Sha256,
    };
    let props = &old.properties;
    spec.key_spec = props.key_spec.unwrap_or(spec.key_spec);
    spec.provider_name = props.provider.clone();
    spec.exportable = props.exportable;
    spec.machine_key_set = props.machine_key_set;
    spec.friendly_name = props.friendly_name.clone();
    spec.key_usage = f.key_usage.map(|(bits, _)| bits);
    spec.ekus = f.ekus.clone().unwrap_or_default();
    let cert =
        x509_cert::Certificate::from_der(&old.der).map_err(|e| ScomError::Input(e.to_string()))?;
    spec.san = cert
        .tbs_certificate()
        .extensions()
        .and_then(|exts| {
            exts.iter()
                .find(|e| e.extn_id == adcs_proto::protocol::oid::SUBJECT_ALT_NAME)
        })
        .and_then(|e| adcs_proto::x509::parse_san(e.extn_value.as_bytes()).ok())
        .unwrap_or_default();
    if let Some(t) = template.map(str::to_string).or(f.template) {
        spec.attributes
            .push((crate::request::TEMPLATE_ATTRIBUTE.into(), t));
    }
    Ok(spec)
}

/// Renews SCOM's certificate (or the one `selector` names) through web
/// enrollment, waits for approval, accepts it, and re-imports it for SCOM
/// when the renewed certificate was the configured one (its serial changes).
pub fn renew(
    endpoint: &CaEndpoint,
    store: &Store,
    registry: &mut dyn Registry,
    selector: Option<&Selector>,
    opts: &ScomRenewOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Renewed, ScomError> {
    let state = registry_state(registry)?;
    let old = match selector {
        Some(s) => select(store, s, opts.check.now)?.0,
        None => configured_entry(store, &state)?,
    };
    let now = opts.check.now;
    if now < old.not_before || now > old.not_after {
        return Err(ScomError::Input(format!(
            "`{}` is not time-valid (valid {} to {}): only a time-valid certificate can be renewed; request a new one with `scom enroll`",
            old.subject,
            adcs_proto::x509::rfc3339(old.not_before),
            adcs_proto::x509::rfc3339(old.not_after)
        )));
    }
    let key = if opts.new_key {
        None
    } else {
        let container = old.properties.key_container.clone().ok_or_else(|| {
            ScomError::Input(format!(
                "`{}` has no private key linked; renew it with a new key, or run `store repair` first",
                old.subject
            ))
        })?;
        let loaded = match store.load_key(&container) {
            Err(StoreError::NotExportable { .. }) => {
                return Err(ScomError::Input(format!(
                    "the key of `{}` stays in its provider (it is not exportable), so the renewal cannot be signed with it here; renew it with a new key (--new-key)",
                    old.subject
                )))
            }
            other => other?,
        };
        Some(loaded.ok_or_else(|| {
            ScomError::Input(format!(
                "the key of `{}` (container {container}) is not in the store; renew it with a new key",
                old.subject
            ))
        })?)
    };
    let spec = renewal_spec(&old, opts.template.as_deref())?;
    let template = crate::request::template_attribute(&spec).map(str::to_string);
    let mut enroll_opts = opts.enroll.clone();
    if enroll_opts.template.is_none() {
        enroll_opts.template = template.clone();
    }
    let source = format!("renewal of {}", old.thumbprint);
    let same_key = key.is_some();
    let enrolled = flow::enroll_spec(endpoint, &source, spec, key, store, &enroll_opts, progress)?;
    let was_configured = matches!(&state, RegistryState::Configured { serial, .. }
        if super::names(serial, &old));
    let imported = if was_configured {
        Some(import(
            store,
            registry,
            &Selector::Thumbprint(enrolled.accepted.entry.thumbprint.clone()),
            &ImportOptions {
                check: opts.check.clone(),
                force: false,
            },
        )?)
    } else {
        None
    };
    Ok(Renewed {
        old,
        enrolled,
        same_key,
        template,
        imported,
    })
}

/// The `My` certificate the registry names.
fn configured_entry(store: &Store, state: &RegistryState) -> Result<Entry, ScomError> {
    let RegistryState::Configured { serial, .. } = state else {
        let what = match state {
            RegistryState::NotConfigured { what } => what.clone(),
            _ => "the registry was not read".into(),
        };
        return Err(ScomError::Input(format!(
            "{what}: no certificate is configured for SCOM; name one (--subject, --serial, --thumbprint)"
        )));
    };
    super::entry_with_serial(store, serial)?.ok_or_else(|| {
        ScomError::Input(format!(
            "{} names serial {} (reversed), which no certificate in My has",
            facts::SERIAL_VALUE,
            adcs_proto::hex::hex(serial)
        ))
    })
}

/// Options of [`enroll`].
#[derive(Clone, Debug)]
pub struct ScomEnrollOptions {
    /// The computer's FQDN: the subject of the built-in INF and the name checked.
    pub fqdn: String,
    /// An INF of one's own instead of the built-in SCOM INF.
    pub inf: Option<PathBuf>,
    /// The template the built-in INF names (none for a stand-alone CA is
    /// fine: it ignores templates).
    pub template: Option<String>,
    /// Make the key exportable (the certificate is for another machine):
    /// the built-in INF says `Exportable = TRUE`, an own INF is overridden
    /// to it (as `req new --exportable`), the web portal's "Mark keys as
    /// exportable" is ticked. Asking for `export` implies it.
    pub exportable: bool,
    /// The guide's web-portal path: the CA makes the key ("Create and
    /// submit a request to this CA") and answers with a PFX, which is then
    /// imported, instead of a request made here from the INF.
    pub web_portal: bool,
    /// SHA-1 thumbprint of the CA's root: download the chain over any TLS
    /// and accept it only if its root has this thumbprint.
    pub ca_thumbprint: Option<String>,
    pub enroll: EnrollOptions,
    pub check: CheckOptions,
    /// Configure SCOM even if the agent would refuse the certificate.
    pub force: bool,
    /// Also export the certificate with its key as a PFX (for another
    /// machine); the key is then made exportable whatever `exportable` says.
    pub export: Option<(PathBuf, String, PfxFormat)>,
}

/// How the CA's root came to be trusted.
#[derive(Debug)]
pub enum TrustStep {
    /// Downloaded and matched against the pinned thumbprint.
    Pinned { added: Vec<Entry> },
    /// Downloaded over HTTPS that the store already trusted.
    Verified { added: Vec<Entry> },
}

/// What [`enroll`] did.
#[derive(Debug)]
pub struct ScomEnrolled {
    pub trust: TrustStep,
    /// The request ID (from the serial when the portal answered at once).
    pub request_id: Option<u32>,
    /// The request this machine made (not on the web-portal path).
    pub request_pem: Option<String>,
    pub warnings: Vec<crate::inf::InfWarning>,
    pub imported: Imported,
    /// The agent's verdict over the configured certificate.
    pub report: Report,
    pub exported: Option<PathBuf>,
}

/// The SCOM guide's procedure against a CA: download and import the root
/// (pinned), make the request from the SCOM INF (or let the CA make the key
/// on the web-portal path), submit it with the template (an enterprise CA
/// issues at once; a stand-alone one is waited on until a manager
/// approves), retrieve, accept into My, import for SCOM, check.
pub fn enroll(
    endpoint: &CaEndpoint,
    store: &Store,
    registry: &mut dyn Registry,
    opts: &ScomEnrollOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ScomEnrolled, ScomError> {
    // A corrupt registry stops the procedure before it starts.
    registry_state(registry)?;
    // Asking for a PFX at enrollment makes the key exportable, as a person
    // following the guide would mark it; the checks then look at that too.
    let opts = &ScomEnrollOptions {
        exportable: opts.exportable || opts.export.is_some(),
        check: CheckOptions {
            for_export: opts.check.for_export || opts.export.is_some(),
            ..opts.check.clone()
        },
        ..opts.clone()
    };
    let (trust, endpoint) = trust_root(endpoint, store, opts.ca_thumbprint.as_deref())?;
    let import_opts = ImportOptions {
        check: opts.check.clone(),
        force: opts.force,
    };
    let (request_id, request_pem, warnings, imported, pfx) = if opts.web_portal {
        let (pfx, password) = portal_enroll(&endpoint, opts, progress)?;
        let imported = import(
            store,
            registry,
            &Selector::PfxData {
                bytes: pfx.clone(),
                password: password.clone(),
                source: format!("the PFX from {}", endpoint.url),
                exportable: opts.exportable,
            },
            &import_opts,
        )?;
        let id = adcs_proto::hex::unhex(&imported.entry.serial)
            .and_then(|s| adcs_proto::serial::parse_adcs_serial(&s))
            .map(|(id, _)| id);
        (id, None, Vec::new(), imported, Some((pfx, password)))
    } else {
        let (source, inf) = match &opts.inf {
            Some(p) => (
                p.display().to_string(),
                Inf::read(p).map_err(|e| ScomError::Input(e.to_string()))?,
            ),
            None => {
                let text = facts::scom_inf(&opts.fqdn, opts.template.as_deref(), opts.exportable);
                (
                    "built-in SCOM INF".to_string(),
                    Inf::parse("built-in SCOM INF", text.as_bytes())
                        .map_err(|e| ScomError::Input(e.to_string()))?,
                )
            }
        };
        let mut spec = RequestSpec::from_inf(&inf).map_err(|e| ScomError::Input(e.to_string()))?;
        spec.exportable |= opts.exportable;
        let mut enroll_opts = opts.enroll.clone();
        if enroll_opts.template.is_none() {
            enroll_opts.template = crate::request::template_attribute(&spec).map(str::to_string);
        }
        let enrolled = flow::enroll_spec(
            &endpoint,
            &source,
            spec,
            None,
            store,
            &enroll_opts,
            progress,
        )?;
        let imported = import(
            store,
            registry,
            &Selector::Thumbprint(enrolled.accepted.entry.thumbprint.clone()),
            &import_opts,
        )?;
        (
            Some(enrolled.id),
            Some(enrolled.request_pem),
            enrolled.warnings,
            imported,
            None,
        )
    };
    let report = super::check(
        store,
        Some(&*registry),
        &super::CheckTarget::Configured,
        &opts.check,
    )?;
    let exported = match &opts.export {
        Some((path, password, format)) => {
            // The portal's PFX already is the one for another machine when
            // it carries the export password.
            let bytes = match &pfx {
                Some((p, pw)) if pw == password && *format == PfxFormat::Aes256 => p.clone(),
                _ => store.export_pfx(&imported.entry.thumbprint, password, *format)?,
            };
            flow::write_file(path, &bytes)?;
            Some(path.clone())
        }
        None => None,
    };
    Ok(ScomEnrolled {
        trust,
        request_id,
        request_pem,
        warnings,
        imported,
        report,
        exported,
    })
}

/// "Create and submit a request to this CA": the CA makes the key; waits
/// for a certificate manager when the request is pending. Returns the PFX
/// and its password.
fn portal_enroll(
    endpoint: &CaEndpoint,
    opts: &ScomEnrollOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Vec<u8>, String), ScomError> {
    use crate::certsrv::{Outcome, PortalOutcome, PortalRequest};
    let password = match &opts.export {
        Some((_, p, _)) => p.clone(),
        None => {
            // Only carries the key from the CA into the store.
            let mut b = [0u8; 18];
            aws_lc_rs::rand::fill(&mut b)
                .map_err(|_| ScomError::Input("no system randomness".into()))?;
            adcs_proto::hex::hex(&b)
        }
    };
    let subject = format!("CN={}", opts.fqdn);
    let request = PortalRequest {
        subject: subject.clone(),
        template: opts.template.clone(),
        friendly_name: Some(opts.fqdn.clone()),
        exportable: opts.exportable,
        password: password.clone(),
        key_size: facts::MIN_RSA_BITS,
        ekus: facts::REQUIRED_EKUS.iter().map(|s| s.to_string()).collect(),
        attributes: opts.enroll.attributes.clone(),
    };
    let mut web = endpoint.connect()?;
    progress(Progress::Created { subject });
    let mut outcome = web
        .create_and_submit(&request)
        .map_err(crate::flow::FlowError::from)?;
    let started = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        match outcome {
            PortalOutcome::Issued { pfx } => return Ok((pfx, password)),
            PortalOutcome::NotIssued(Outcome::Pending { id }) => {
                if attempt == 0 {
                    progress(Progress::Submitted { id: Some(id) });
                }
                if started.elapsed() >= opts.enroll.wait {
                    return Err(crate::flow::FlowError::StillPending {
                        id,
                        waited: started.elapsed(),
                    }
                    .into());
                }
                attempt += 1;
                progress(Progress::Waiting { id, attempt });
                std::thread::sleep(opts.enroll.poll_interval);
                outcome = web.retrieve_pfx(id).map_err(crate::flow::FlowError::from)?;
            }
            PortalOutcome::NotIssued(other) => {
                let id = match &other {
                    Outcome::Denied { id, .. } => *id,
                    _ => None,
                };
                return Err(crate::flow::FlowError::NotIssued {
                    id,
                    outcome: flow::describe_outcome(&other).replace("\r\n", "; "),
                }
                .into());
            }
        }
    }
}

/// Downloads the CA chain and adds it to the store (root to Root, others
/// to CA): pinned by thumbprint, or over HTTPS the store already trusts.
/// Returns the endpoint with the new roots trusted.
fn trust_root(
    endpoint: &CaEndpoint,
    store: &Store,
    pin: Option<&str>,
) -> Result<(TrustStep, CaEndpoint), ScomError> {
    if pin.is_none() && endpoint.url.to_ascii_lowercase().starts_with("http://") {
        return Err(ScomError::Input(format!(
            "{} is plain HTTP, so the CA's root cannot be verified: give its thumbprint (--ca-thumbprint)",
            endpoint.url
        )));
    }
    let p7 = flow::download_ca(endpoint, CaDownload::Chain, None, pin)?;
    let certs = adcs_proto::encoding::pkcs7_certificates(&p7)
        .map_err(|e| ScomError::Input(format!("the CA chain download: {e}")))?;
    let mut added = Vec::new();
    let mut endpoint = endpoint.clone();
    for der in certs {
        let root = crate::store::is_self_signed(&der);
        let name = if root { StoreName::Root } else { StoreName::Ca };
        added.push(store.import_certificate(name, &der)?);
        if let (true, Trust::Roots(roots)) = (root, &mut endpoint.trust) {
            if !roots.contains(&der) {
                roots.push(der);
            }
        }
    }
    let step = if pin.is_some() {
        TrustStep::Pinned { added }
    } else {
        TrustStep::Verified { added }
    };
    Ok((step, endpoint))
}
