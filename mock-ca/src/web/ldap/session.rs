//! One connection's sign-in: anonymous, simple, and Sicily NTLM (the
//! three-step bind ldap3, Certipy and Windows send), checked against the
//! same accounts as the pages, with AD's result codes and texts.

use adcs_proto::ldap::{Bind, BindAuth, Outcome, ResultCode};
use adcs_proto::ntlm::{self, ChallengeState, ChannelBindingPolicy, ServerNames};

use super::super::auth::{new_challenge, prove_authenticate};
use super::super::directory::Identity;
use super::super::Shared;
use crate::forest::Naming;

/// AD's answer to a wrong name or password.
pub(crate) const INVALID_CREDENTIALS: &str =
    "80090308: LdapErr: DSID-0C090439, comment: AcceptSecurityContext error, data 52e, v4563\0";

/// Who is signed in on a connection, and how.
pub struct Session {
    tls: bool,
    /// The LDAPS certificate's NTLM channel binding.
    binding: Option<[u8; 16]>,
    identity: Option<Identity>,
    method: &'static str,
    pending: Option<ChallengeState>,
}

/// A bind's answer: the outcome and matchedDN (Sicily's payload).
pub(crate) struct BindAnswer {
    pub outcome: Outcome,
    pub matched_dn: Vec<u8>,
    /// Why a sign-in failed, for the journal.
    pub why: Option<String>,
}

impl BindAnswer {
    fn ok(matched_dn: Vec<u8>) -> BindAnswer {
        BindAnswer {
            outcome: Outcome::success(),
            matched_dn,
            why: None,
        }
    }

    fn refused(why: String) -> BindAnswer {
        BindAnswer {
            outcome: Outcome::new(ResultCode::InvalidCredentials, INVALID_CREDENTIALS),
            matched_dn: Vec::new(),
            why: Some(why),
        }
    }
}

impl Session {
    pub fn new(tls: bool, binding: Option<[u8; 16]>) -> Session {
        Session {
            tls,
            binding,
            identity: None,
            method: "anonymous",
            pending: None,
        }
    }

    /// The connection is now under TLS (StartTLS).
    pub fn started_tls(&mut self) {
        self.tls = true;
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// `simple`, `ntlm` or `anonymous`.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// A bind replaces whoever was signed in, as in AD.
    pub(crate) fn bind(&mut self, shared: &Shared, naming: &Naming, bind: &Bind) -> BindAnswer {
        if !matches!(bind.auth, BindAuth::SicilyResponse(_)) {
            self.identity = None;
            self.method = "anonymous";
        }
        match &bind.auth {
            BindAuth::Simple(password) if password.is_empty() => BindAnswer::ok(Vec::new()),
            BindAuth::Simple(password) => self.simple(shared, &bind.name, password),
            BindAuth::SicilyDiscovery => BindAnswer::ok(b"NTLM".to_vec()),
            BindAuth::SicilyNegotiate(msg) => self.negotiate(shared, naming, msg),
            BindAuth::SicilyResponse(msg) => self.authenticate(shared, msg),
            BindAuth::Sasl { mechanism, .. } => BindAnswer {
                outcome: Outcome::new(
                    ResultCode::AuthMethodNotSupported,
                    format!(
                        "00002027: LdapErr: DSID-0C0906B5, comment: the SASL mechanism {mechanism} is not served here (bind with NTLM or a simple bind), data 0, v4563\0"
                    ),
                ),
                matched_dn: Vec::new(),
                why: Some(format!("SASL {mechanism} is not served")),
            },
        }
    }

    /// A simple bind: a DN (`CN=alice,CN=Users,…`), `alice@contoso.test`,
    /// `CONTOSO\alice` or `alice`, and the account's password.
    fn simple(&mut self, shared: &Shared, name: &str, password: &[u8]) -> BindAnswer {
        let account = name
            .split(',')
            .next()
            .and_then(|rdn| {
                rdn.trim()
                    .strip_prefix("CN=")
                    .or_else(|| rdn.trim().strip_prefix("cn="))
            })
            .filter(|_| name.contains('='))
            .unwrap_or(name);
        let Some(user) = shared.directory.find("", account) else {
            return BindAnswer::refused(format!("simple bind: unknown account {name}"));
        };
        if user.password.as_bytes() != password {
            return BindAnswer::refused(format!("simple bind: wrong password for {}", user.name));
        }
        self.identity = Some(shared.directory.identity(user));
        self.method = "simple";
        BindAnswer::ok(Vec::new())
    }

    /// Sicily `[10]`: the CHALLENGE goes back in matchedDN. Off TLS the
    /// server grants neither signing nor sealing, so what follows the bind
    /// stays clear text.
    fn negotiate(&mut self, shared: &Shared, naming: &Naming, msg: &[u8]) -> BindAnswer {
        let names = ServerNames {
            nb_domain: naming.netbios.clone(),
            nb_computer: naming.dc_short(),
            dns_domain: naming.dns_domain.clone(),
            dns_computer: naming.dc_host.clone(),
        };
        let now = ntlm::filetime(shared.ca.clock().now());
        match new_challenge(&names, now, msg) {
            Ok(mut state) => {
                state.withhold(ntlm::flags::SIGN | ntlm::flags::SEAL);
                let challenge = state.challenge.clone();
                self.pending = Some(state);
                BindAnswer::ok(challenge)
            }
            Err(why) => BindAnswer::refused(why),
        }
    }

    /// Sicily `[11]`: the AUTHENTICATE against the pending CHALLENGE
    /// (used once), with the LDAPS channel binding when one is sent.
    fn authenticate(&mut self, shared: &Shared, msg: &[u8]) -> BindAnswer {
        self.identity = None;
        self.method = "anonymous";
        let Some(state) = self.pending.take() else {
            return BindAnswer::refused("NTLM AUTHENTICATE without a CHALLENGE".into());
        };
        let binding = self.binding.filter(|_| self.tls);
        let policy = ChannelBindingPolicy::Accept;
        match prove_authenticate(&shared.directory, &state, msg, policy, binding) {
            Ok((identity, _, _)) => {
                self.identity = Some(identity);
                self.method = "ntlm";
                BindAnswer::ok(Vec::new())
            }
            Err(why) => BindAnswer::refused(why),
        }
    }
}
