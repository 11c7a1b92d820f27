//! Fault injection: rules that make chosen requests fail the way real
//! deployments do (an HTTP error, a slow or cut answer, a reset connection,
//! the CA offline), on a deterministic schedule (the Nth request, every Kth,
//! a range) or with a probability drawn from the CA's seed. Rules come from
//! `serve.toml` (`[[faults]]`), a scenario's world, or `/control/faults`;
//! every injected fault is recorded in the journal.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use adcs_proto::seed::Seed;

/// One fault rule. `endpoint` selects the requests it counts; the schedule
/// keys (`nth`, `every`, `from`/`to`, `probability`) which of those it hits
/// (all of them when none is given); the remaining keys what happens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// A page under /certsrv/ (`certfnsh.asp`, `certnew.cer`, …; `` for the
    /// welcome page) or `*` for all of them; or `rpc/CertServerRequest`,
    /// ICertPassage's call over DCE/RPC (method `RPC`), which `*` leaves
    /// out; or a directory operation, `ldap/bind`, `ldap/search`,
    /// `ldap/modify`, `ldap/extended`, or `ldap/*` for all of them (method
    /// `LDAP` or `LDAPS`). Case-insensitive.
    pub endpoint: String,
    /// Only requests with this method (`GET`, `POST`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The Nth matching request (1 = the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
    /// Every Kth matching request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Matching requests `from` to `to` (inclusive; either may be left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
    /// Each matching request with this probability (0 to 1), drawn from the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Answer with this HTTP status (401, 403, 429, 500, 503, …) instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Wait this long before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Cut the body after this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<usize>,
    /// Scramble the body's bytes (seeded).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub garble: bool,
    /// Send this Content-Type instead of the right one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Close the connection without an answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// Answer with certsrv's error page carrying this HRESULT (`0x800706ba`:
    /// the CA is offline, RPC_S_SERVER_UNAVAILABLE) and do nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hresult: Option<String>,
    /// A submission (certfnsh.asp, certrqma.asp) denied "by the policy
    /// module" with this HRESULT, recorded as a denied request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_hresult: Option<String>,
    /// A submission that would be issued stays pending for this many polls
    /// (chkpnd or certnew.cer), then `then` happens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_polls: Option<u32>,
    /// After `pending_polls`: `issue` (default) or `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<String>,
    /// A directory operation answered with this LDAP result code (51
    /// busy, 52 unavailable, 53 unwilling to perform, …) instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<u32>,
}

impl FaultRule {
    /// A problem with this rule, named by its endpoint.
    fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(format!("fault `{}`", self.endpoint), reason)
    }

    /// Checks the rule; the message names what is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(self.invalid(format!("probability {p} is not between 0 and 1")));
            }
        }
        if self.every == Some(0) || self.nth == Some(0) {
            return Err(self.invalid("nth and every count from 1"));
        }
        for h in [&self.hresult, &self.deny_hresult].into_iter().flatten() {
            parse_hresult(h)
                .ok_or_else(|| self.invalid(format!("hresult `{h}` is not 0x followed by hex")))?;
        }
        match self.then.as_deref() {
            None | Some("issue") | Some("deny") => {}
            Some(t) => return Err(self.invalid(format!("then `{t}` (issue or deny)"))),
        }
        if let Some(s) = self.status {
            if !(100..=599).contains(&s) {
                return Err(self.invalid(format!("status {s} is not an HTTP status")));
            }
        }
        let effects = [
            self.status.is_some(),
            self.truncate.is_some(),
            self.garble,
            self.content_type.is_some(),
            self.reset,
            self.hresult.is_some(),
            self.delay_ms.is_some(),
            self.deny_hresult.is_some(),
            self.pending_polls.is_some(),
            self.result.is_some(),
        ];
        let http_only = [
            self.status.is_some(),
            self.truncate.is_some(),
            self.garble,
            self.content_type.is_some(),
        ];
        if let Some(r) = self.result {
            if !self.is_ldap() {
                return Err(self.invalid("result is an LDAP result code: for ldap/ endpoints"));
            }
            adcs_proto::ldap::result_code(r).ok_or_else(|| {
                self.invalid(format!(
                    "result {r} is not a result code a directory answers with"
                ))
            })?;
        }
        let protocol_effects = [
            self.hresult.is_some(),
            self.deny_hresult.is_some(),
            self.pending_polls.is_some(),
        ];
        if self.is_ldap() && (http_only.iter().any(|e| *e) || protocol_effects.iter().any(|e| *e)) {
            return Err(self.invalid("a directory operation takes delay_ms, reset or result"));
        }
        let smb_effects = [self.reset, self.delay_ms.is_some()];
        if self.is_smb()
            && effects.iter().filter(|e| **e).count() > smb_effects.iter().filter(|e| **e).count()
        {
            return Err(self.invalid("an SMB command takes delay_ms or reset"));
        }
        if self.is_rpc() && http_only.iter().any(|e| *e) {
            return Err(self.invalid(
                "status, truncate, garble and content_type are HTTP's: an RPC call takes delay_ms, reset, hresult, deny_hresult or pending_polls",
            ));
        }
        if !effects.iter().any(|e| *e) {
            return Err(self.invalid("does nothing: give status, delay_ms, truncate, garble, content_type, reset, hresult, deny_hresult, pending_polls or result"));
        }
        Ok(())
    }

    /// Whether the rule is for an RPC call rather than a page.
    fn is_rpc(&self) -> bool {
        self.endpoint.to_ascii_lowercase().starts_with("rpc/")
    }

    /// Whether the rule is for a directory operation.
    fn is_ldap(&self) -> bool {
        self.endpoint.to_ascii_lowercase().starts_with("ldap/")
    }

    /// Whether the rule is for an SMB command (`smb/create`, `smb/*`).
    fn is_smb(&self) -> bool {
        self.endpoint.to_ascii_lowercase().starts_with("smb/")
    }

    fn matches(&self, page: &str, method: &str) -> bool {
        let lower = page.to_ascii_lowercase();
        let not_a_page = ["rpc/", "ldap/", "smb/"]
            .iter()
            .any(|p| lower.starts_with(p));
        let all_ldap = self.endpoint == "ldap/*" && lower.starts_with("ldap/");
        let all_smb = self.endpoint == "smb/*" && lower.starts_with("smb/");
        ((self.endpoint == "*" && !not_a_page)
            || all_ldap
            || all_smb
            || self.endpoint.eq_ignore_ascii_case(page))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }

    /// Whether the `n`th matching request (1-based) is hit.
    fn scheduled(&self, n: u64, seed: &Seed, rule: usize) -> bool {
        let mut hit = true;
        if let Some(k) = self.nth {
            hit &= n == k;
        }
        if let Some(k) = self.every {
            hit &= n % k == 0;
        }
        if let Some(f) = self.from {
            hit &= n >= f;
        }
        if let Some(t) = self.to {
            hit &= n <= t;
        }
        if let Some(p) = self.probability {
            let d = seed.derive(&format!("fault/{rule}/{n}"));
            let x =
                u64::from_be_bytes(d[..8].try_into().expect("8 bytes")) as f64 / u64::MAX as f64;
            hit &= x < p;
        }
        hit
    }

    /// A short description for the journal.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = self.status {
            parts.push(format!("status {s}"));
        }
        if let Some(d) = self.delay_ms {
            parts.push(format!("delay {d} ms"));
        }
        if let Some(t) = self.truncate {
            parts.push(format!("truncate to {t} bytes"));
        }
        if self.garble {
            parts.push("garble".into());
        }
        if let Some(c) = &self.content_type {
            parts.push(format!("content type {c}"));
        }
        if self.reset {
            parts.push("reset".into());
        }
        if let Some(h) = &self.hresult {
            parts.push(format!("error page {h}"));
        }
        if let Some(h) = &self.deny_hresult {
            parts.push(format!("policy denial {h}"));
        }
        if let Some(n) = self.pending_polls {
            parts.push(format!(
                "pending for {n} polls, then {}",
                self.then.as_deref().unwrap_or("issue")
            ));
        }
        if let Some(r) = self.result {
            parts.push(format!("LDAP result {r}"));
        }
        parts.join(", ")
    }
}

/// `0x800706ba` → the code.
pub fn parse_hresult(text: &str) -> Option<u32> {
    let t = text.trim();
    let hex = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"))?;
    u32::from_str_radix(hex, 16).ok()
}

/// The rules in force and how many requests each has counted.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<Vec<(FaultRule, u64)>>,
    /// The rules the server was started with (`reset` restores them).
    configured: Vec<FaultRule>,
}

impl Faults {
    pub fn new(rules: Vec<FaultRule>) -> Faults {
        Faults {
            configured: rules.clone(),
            state: Mutex::new(rules.into_iter().map(|r| (r, 0)).collect()),
        }
    }

    /// Replaces the rules (their counts start again).
    pub fn set(&self, rules: Vec<FaultRule>) {
        *self.lock() = rules.into_iter().map(|r| (r, 0)).collect();
    }

    /// Back to the configured rules, their counts from zero.
    pub fn reset(&self) {
        self.set(self.configured.clone());
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.lock().iter().map(|(r, _)| r.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(FaultRule, u64)>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the request against every rule for its page and returns the
    /// rules that hit it, with the request's number under each.
    pub fn hits(&self, page: &str, method: &str, seed: &Seed) -> Vec<(FaultRule, u64)> {
        let mut out = Vec::new();
        for (i, (rule, count)) in self.lock().iter_mut().enumerate() {
            if rule.matches(page, method) {
                *count += 1;
                if rule.scheduled(*count, seed, i) {
                    out.push((rule.clone(), *count));
                }
            }
        }
        out
    }
}

/// Requests held pending by a `pending_polls` fault: polls left, and
/// whether they are then issued (else denied).
#[derive(Debug, Default)]
pub struct HeldRequests(Mutex<std::collections::HashMap<u32, (u32, bool)>>);

impl HeldRequests {
    /// Forgets every held request (their rows are gone after a reset).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Holds `id` for `polls` polls, unless it is held already (its polls
    /// go through the same page and must not start the count again).
    pub fn hold(&self, id: u32, polls: u32, issue: bool) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_insert((polls, issue));
    }

    /// Counts a poll of `id`: `Some(issue)` once its polls are used up.
    pub fn poll(&self, id: u32) -> Option<bool> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (left, issue) = held.get_mut(&id)?;
        if *left > 0 {
            *left -= 1;
            return None;
        }
        let issue = *issue;
        held.remove(&id);
        Some(issue)
    }
}

/// Scrambles `body` deterministically: every byte XORed with a seeded stream.
pub fn garble(body: &mut [u8], seed: &Seed, n: u64) {
    let mut stream = Vec::new();
    let mut block = 0u64;
    while stream.len() < body.len() {
        stream.extend_from_slice(&seed.derive(&format!("garble/{n}/{block}")));
        block += 1;
    }
    for (b, k) in body.iter_mut().zip(stream) {
        *b ^= k | 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(toml_text: &str) -> FaultRule {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn smb_rules_take_delays_and_resets_on_their_commands() {
        let seed = Seed(1);
        let all = rule("endpoint = \"smb/*\"\nreset = true");
        assert!(all.validate().is_ok());
        let f = Faults::new(vec![all]);
        assert_eq!(f.hits("smb/create", "SMB", &seed).len(), 1);
        assert!(f.hits("ldap/bind", "LDAP", &seed).is_empty());
        let pages = Faults::new(vec![rule("endpoint = \"*\"\nreset = true")]);
        assert!(pages.hits("smb/create", "SMB", &seed).is_empty());
        let wrong = rule("endpoint = \"smb/write\"\nstatus = 500");
        let e = wrong.validate().unwrap_err().to_string();
        assert!(e.contains("an SMB command takes delay_ms or reset"), "{e}");
    }

    #[test]
    fn schedules_pick_the_requests_they_name() {
        let seed = Seed(1);
        let hits = |r: FaultRule| -> Vec<u64> {
            let f = Faults::new(vec![r]);
            (1..=10)
                .filter_map(|_| f.hits("certfnsh.asp", "POST", &seed).first().map(|h| h.1))
                .collect()
        };
        assert_eq!(
            hits(rule("endpoint = 'certfnsh.asp'\nnth = 2\nstatus = 503")),
            [2]
        );
        assert_eq!(
            hits(rule("endpoint = 'CERTFNSH.ASP'\nevery = 3\nstatus = 503")),
            [3, 6, 9]
        );
        assert_eq!(
            hits(rule("endpoint = '*'\nfrom = 4\nto = 5\nreset = true")),
            [4, 5]
        );
        assert_eq!(
            hits(rule("endpoint = 'certnew.cer'\nstatus = 500")),
            Vec::<u64>::new()
        );
        assert_eq!(
            hits(rule("endpoint = '*'\nmethod = 'GET'\nstatus = 500")),
            Vec::<u64>::new()
        );
        let p = hits(rule("endpoint = '*'\nprobability = 0.5\nstatus = 500"));
        assert_eq!(
            p,
            hits(rule("endpoint = '*'\nprobability = 0.5\nstatus = 500")),
            "seeded"
        );
        assert!(!p.is_empty() && p.len() < 10, "{p:?}");
    }

    #[test]
    fn rules_are_checked() {
        let e = rule("endpoint = '*'").validate().unwrap_err();
        assert_eq!(e.field, "fault `*`");
        assert!(e.reason.contains("does nothing"), "{e}");
        assert!(rule("endpoint = '*'\nprobability = 2.0\nstatus = 500")
            .validate()
            .is_err());
        assert!(rule("endpoint = '*'\nevery = 0\nstatus = 500")
            .validate()
            .is_err());
        assert!(rule("endpoint = '*'\nhresult = 'offline'")
            .validate()
            .is_err());
        assert!(rule("endpoint = '*'\nhresult = '0x800706ba'")
            .validate()
            .is_ok());
        assert!(toml::from_str::<FaultRule>("endpoint = '*'\nbogus = 1").is_err());
    }

    #[test]
    fn held_requests_count_their_polls_once() {
        let h = HeldRequests::default();
        h.hold(7, 2, false);
        h.hold(7, 5, true); // a poll through the same page: no restart
        assert_eq!(
            (h.poll(7), h.poll(7), h.poll(7), h.poll(7)),
            (None, None, Some(false), None)
        );
        assert_eq!(h.poll(8), None);
    }

    #[test]
    fn garbling_is_seeded_and_changes_every_byte() {
        let mut a = b"<HTML>Certificate Issued</HTML>".to_vec();
        let mut b = a.clone();
        garble(&mut a, &Seed(3), 1);
        garble(&mut b, &Seed(3), 1);
        assert_eq!(a, b);
        assert!(a
            .iter()
            .zip(b"<HTML>Certificate Issued</HTML>")
            .all(|(x, y)| x != y));
    }
}
