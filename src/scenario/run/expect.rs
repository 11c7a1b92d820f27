//! Checking a step's `[step.expect]` against what it produced and what the
//! world looks like afterwards, one group of keys at a time; each failure
//! reads `what: expected …, got …`.

use adcs_client::scom::{self, check::Facts, check::RegistryState};
use adcs_client::store::StoreName;
use mock_ca::web::journal::JournalEntry;

use super::observed::{hex_code, Observed};
use super::world::Runner;
use crate::scenario::model::{Expect, JournalExpect};

/// The expectations that did not hold, in the order they are checked.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn want(&mut self, what: &str, expected: String, got: String) {
        if expected != got {
            self.0
                .push(format!("{what}: expected {expected}, got {got}"));
        }
    }
}

/// An observation that may be missing, as a transcript says it.
fn or_nothing(v: Option<String>) -> String {
    v.unwrap_or_else(|| "nothing".into())
}

/// `error`: a failure with that message, or success when none is expected.
fn check_error(e: &Expect, o: &Observed, out: &mut Failures) {
    match (&e.error, &o.error) {
        (Some(sub), Some(msg)) if !msg.contains(sub.as_str()) => out.want(
            "error",
            format!("a message containing `{sub}`"),
            format!("`{msg}`"),
        ),
        (Some(sub), None) => out.want(
            "error",
            format!("a failure containing `{sub}`"),
            "success".into(),
        ),
        (None, Some(msg)) => out.want("the step", "to succeed".into(), format!("error: {msg}")),
        _ => {}
    }
}

/// The CA's answer: disposition, request ID, HRESULT; and the INF's warnings.
fn check_answer(e: &Expect, o: &Observed, out: &mut Failures) {
    if let Some(d) = &e.disposition {
        out.want(
            "disposition",
            d.clone(),
            or_nothing(o.disposition.map(str::to_string)),
        );
    }
    if let Some(id) = e.request_id {
        out.want(
            "request ID",
            id.to_string(),
            or_nothing(o.request_id.map(|i| i.to_string())),
        );
    }
    if let Some(h) = &e.hresult {
        let expected = u32::from_str_radix(h.trim_start_matches("0x"), 16)
            .map(hex_code)
            .unwrap_or_else(|_| h.clone());
        out.want("HRESULT", expected, or_nothing(o.hresult.map(hex_code)));
    }
    if let Some(n) = e.warnings {
        out.want(
            "INF warnings",
            n.to_string(),
            or_nothing(o.warnings.map(|w| w.to_string())),
        );
    }
}

/// Whether any expectation is about the step's certificate.
fn wants_certificate(e: &Expect) -> bool {
    e.subject.is_some()
        || e.dns.is_some()
        || e.eku.is_some()
        || e.key_usage.is_some()
        || e.template.is_some()
        || e.validity_days.is_some()
        || e.configured.is_some()
        || e.upn.is_some()
        || e.sid.is_some()
        || e.policies.is_some()
        || e.application_policies.is_some()
}

/// The step's certificate as the ESC checks read it: UPNs, the SID
/// extension, issuance and application policies.
fn check_identity(e: &Expect, der: &[u8], out: &mut Failures) {
    use adcs_proto::protocol::oid;
    use der::Decode;
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return;
    };
    let exts = cert
        .tbs_certificate()
        .extensions()
        .map_or(&[][..], Vec::as_slice);
    let value = |id| adcs_proto::x509::extension_value(exts, id);
    if let Some(want) = &e.upn {
        let got: Vec<String> = adcs_proto::x509::subject_alt_names(exts)
            .into_iter()
            .filter_map(|n| match n {
                adcs_proto::x509::SanEntry::Upn(u) => Some(u),
                _ => None,
            })
            .collect();
        out.want("UPNs", want.join(", "), got.join(", "));
    }
    if let Some(want) = e.sid {
        let got = value(oid::NTDS_CA_SECURITY_EXT).is_some();
        out.want("SID extension", want.to_string(), got.to_string());
    }
    for (what, want, id) in [
        ("issuance policies", &e.policies, oid::CERTIFICATE_POLICIES),
        (
            "application policies",
            &e.application_policies,
            oid::APPLICATION_POLICIES,
        ),
    ] {
        let Some(want) = want else { continue };
        let got: Vec<String> = value(id)
            .and_then(|v| adcs_proto::x509::parse_policy_oids(v).ok())
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect();
        out.want(what, want.join(", "), got.join(", "));
    }
}

/// ldap.search: the number of entries and values among them.
fn check_entries(e: &Expect, o: &Observed, out: &mut Failures) {
    let found = o.entries.as_deref().unwrap_or_default();
    if let Some(n) = e.entries {
        out.want(
            "entries",
            n.to_string(),
            or_nothing(o.entries.as_ref().map(|v| v.len().to_string())),
        );
    }
    for (attribute, values) in e.values.iter().flatten() {
        let have: Vec<String> = found.iter().flat_map(|en| en.texts(attribute)).collect();
        for v in values {
            if !have.iter().any(|h| h.eq_ignore_ascii_case(v)) {
                out.want(attribute, format!("a value `{v}`"), format!("{have:?}"));
            }
        }
    }
}

/// The agent's verdict, the CRL and the raw HTTP reply.
fn check_verdicts(e: &Expect, o: &Observed, out: &mut Failures) {
    if let Some(ok) = e.ok {
        out.want(
            "the agent loads it",
            ok.to_string(),
            or_nothing(o.ok.map(|b| b.to_string())),
        );
    }
    if let Some(ev) = &e.events {
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        out.want(
            "events",
            list(ev),
            or_nothing(o.events.as_deref().map(list)),
        );
    }
    if let Some(on) = e.on_crl {
        out.want(
            "on the CRL",
            on.to_string(),
            or_nothing(o.on_crl.map(|b| b.to_string())),
        );
    }
    if let Some(s) = e.status {
        out.want(
            "HTTP status",
            s.to_string(),
            or_nothing(o.status.map(|s| s.to_string())),
        );
    }
    if let Some(f) = &e.fail_info {
        out.want(
            "failInfo",
            f.clone(),
            or_nothing(o.fail_info.map(str::to_string)),
        );
    }
    if let Some(piece) = &e.body_contains {
        let has = o
            .body
            .as_deref()
            .is_some_and(|b| b.contains(piece.as_str()));
        out.want(
            "body",
            format!("containing `{piece}`"),
            if has {
                format!("containing `{piece}`")
            } else {
                "without it".into()
            },
        );
    }
}

impl Runner<'_> {
    /// The expectations of a step that do not hold.
    pub(super) fn check(&self, e: &Expect, o: &Observed) -> Vec<String> {
        let mut out = Failures::default();
        check_error(e, o, &mut out);
        check_answer(e, o, &mut out);
        if wants_certificate(e) {
            match &o.certificate {
                None => out.want("certificate", "one from this step".into(), "none".into()),
                Some(der) => match Facts::of_certificate(der, "") {
                    Err(err) => out.want("certificate", "a certificate".into(), err.to_string()),
                    Ok(f) => {
                        self.check_certificate(e, &f, &mut out);
                        check_identity(e, der, &mut out);
                    }
                },
            }
        }
        self.check_store_counts(e, &mut out);
        check_verdicts(e, o, &mut out);
        check_entries(e, o, &mut out);
        if let Some(n) = e.n_renewals {
            out.want(
                "nRenewals",
                n.to_string(),
                self.server.ca().n_renewals().to_string(),
            );
        }
        out.0
    }

    /// The step's certificate: names, purposes, template, validity, and
    /// whether SCOM is configured with it.
    fn check_certificate(&self, e: &Expect, f: &Facts, out: &mut Failures) {
        if let Some(s) = &e.subject {
            out.want("subject", s.clone(), f.subject.clone());
        }
        if let Some(d) = &e.dns {
            out.want("DNS names", d.join(", "), f.dns_names.join(", "));
        }
        if let Some(ekus) = &e.eku {
            let mut a = ekus.clone();
            let mut b = f.ekus.clone().unwrap_or_default();
            a.sort();
            b.sort();
            out.want("EKUs", a.join(", "), b.join(", "));
        }
        if let Some(ku) = &e.key_usage {
            let expected = u16::from_str_radix(ku.trim_start_matches("0x"), 16)
                .map(|b| format!("{b:#04x}"))
                .unwrap_or_else(|_| ku.clone());
            out.want(
                "key usage",
                expected,
                or_nothing(f.key_usage.map(|(b, _)| format!("{b:#04x}"))),
            );
        }
        if let Some(t) = &e.template {
            let config = self.server.ca().config();
            let name = f.template.clone().map(|got| {
                config
                    .templates
                    .iter()
                    .find(|x| x.template_oid() == got)
                    .map(|x| x.name.clone())
                    .unwrap_or(got)
            });
            out.want("template", t.clone(), or_nothing(name));
        }
        if let Some(days) = e.validity_days {
            let (nb, na) = f.validity.unwrap_or_default();
            out.want(
                "validity in days",
                days.to_string(),
                ((na - nb) / 86_400).to_string(),
            );
        }
        if let Some(c) = e.configured {
            let configured = match scom::registry_state(&self.registry) {
                Ok(RegistryState::Configured { serial, .. }) => f
                    .serial
                    .as_deref()
                    .is_some_and(|s| scom::check::serial_matches(&serial, s)),
                _ => false,
            };
            out.want("configured for SCOM", c.to_string(), configured.to_string());
        }
    }

    /// How many certificates My, Root and CA hold, and requests REQUEST.
    fn check_store_counts(&self, e: &Expect, out: &mut Failures) {
        let count = |name: StoreName| self.store.list(name).map(|l| l.len()).unwrap_or(usize::MAX);
        for (what, expected, got) in [
            ("My", e.my, count(StoreName::My)),
            ("Root", e.root, count(StoreName::Root)),
            ("CA", e.ca, count(StoreName::Ca)),
            (
                "REQUEST",
                e.pending,
                self.store.pending().map(|p| p.len()).unwrap_or(usize::MAX),
            ),
        ] {
            if let Some(n) = expected {
                out.want(
                    &format!("certificates in {what}"),
                    n.to_string(),
                    got.to_string(),
                );
            }
        }
    }
}

/// Whether a journal entry is one the expectation describes.
fn journal_matches(w: &JournalExpect, e: &JournalEntry) -> bool {
    w.path.as_deref().is_none_or(|p| {
        e.path
            .to_ascii_lowercase()
            .contains(&p.to_ascii_lowercase())
    }) && w
        .method
        .as_deref()
        .is_none_or(|m| e.method.eq_ignore_ascii_case(m))
        && w.status.is_none_or(|s| e.status == s)
        && w.user
            .as_deref()
            .is_none_or(|u| e.user.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(u)))
        && w.auth
            .as_deref()
            .is_none_or(|a| e.auth.as_deref() == Some(a))
        && w.request_id.is_none_or(|id| e.request_id == Some(id))
        && w.disposition
            .as_deref()
            .is_none_or(|d| e.disposition.as_deref() == Some(d))
        && w.fault.is_none_or(|f| e.fault.is_some() == f)
        && w.detail
            .as_deref()
            .is_none_or(|d| e.detail.as_deref().is_some_and(|x| x.contains(d)))
}

/// The wanted journal entries that no entry of the step matches.
pub(super) fn journal_failures(wanted: &[JournalExpect], recorded: &[JournalEntry]) -> Vec<String> {
    let seen = || {
        recorded
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}{}{}{}",
                    e.method,
                    e.path,
                    e.status,
                    e.user
                        .as_deref()
                        .map(|u| format!(" {u}"))
                        .unwrap_or_default(),
                    e.detail
                        .as_deref()
                        .map(|d| format!(" [{d}]"))
                        .unwrap_or_default(),
                    if e.fault.is_some() { " (fault)" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    wanted
        .iter()
        .filter(|w| !recorded.iter().any(|e| journal_matches(w, e)))
        .map(|w| format!("journal: expected an entry like {w:?}, got: {}", seen()))
        .collect()
}
