//! One connection's sign-in: anonymous, simple, and Sicily NTLM (the
//! three-step bind ldap3, Certipy and Windows send), checked against the
//! same accounts as the pages, with AD's result codes and texts.

use adcs_proto::ldap::{Bind, BindAuth, Outcome, ResultCode};
use adcs_proto::ntlm::session::{Role, Session as NtlmSession};
use adcs_proto::ntlm::{self, ChallengeState, ChannelBindingPolicy, NtlmError, ServerNames};

use super::super::auth::{new_challenge, prove_authenticate};
use super::super::directory::Identity;
use super::super::Shared;
use crate::forest::Naming;

/// AD's answer to a wrong name or password.
pub(crate) const INVALID_CREDENTIALS: &str =
    "80090308: LdapErr: DSID-0C090439, comment: AcceptSecurityContext error, data 52e, v4563\0";
/// AD's answer to NTLM over LDAPS without the channel binding it requires.
const CHANNEL_BINDING: &str =
    "80090346: LdapErr: DSID-0C090749, comment: AcceptSecurityContext error, data 80090346, v4563\0";
/// AD's answer to a bind without integrity off TLS when signing is required.
const SIGNING_REQUIRED: &str = "00002028: LdapErr: DSID-0C090259, comment: The server requires binds to turn on integrity checking if SSL\\TLS are not already active on the connection, data 0, v4563\0";

/// AD's "LDAP server signing requirements" and "LDAP server channel
/// binding token requirements" policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policies {
    /// Refuse simple binds and binds without signing off TLS.
    pub require_signing: bool,
    pub channel_binding: ChannelBindingPolicy,
}

/// NTLM signing or sealing of every message after the bind, as
/// negotiated off TLS (MS-NLMP 3.4 in a SASL buffer: a 4-byte length, the
/// 16-byte signature, then the message).
pub struct Wrapper {
    ntlm: NtlmSession,
    seal: bool,
}

impl Wrapper {
    /// One outgoing buffer holding `messages` (all of one answer: Certipy
    /// reads one buffer per request).
    pub fn wrap(&mut self, messages: &[u8]) -> Vec<u8> {
        let mut body = messages.to_vec();
        let sig = if self.seal {
            let all = 0..body.len();
            self.ntlm.seal(&mut body, all)
        } else {
            self.ntlm.sign(&body)
        };
        let mut out = Vec::with_capacity(20 + body.len());
        out.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
        out.extend_from_slice(&sig);
        out.extend_from_slice(&body);
        out
    }

    /// The messages inside one incoming buffer (without its length).
    pub fn unwrap(&mut self, buffer: &[u8]) -> Result<Vec<u8>, NtlmError> {
        if buffer.len() < 16 {
            return Err(NtlmError::Malformed(
                "a SASL buffer shorter than its signature",
            ));
        }
        let (sig, body) = buffer.split_at(16);
        let mut body = body.to_vec();
        if self.seal {
            let all = 0..body.len();
            self.ntlm.unseal(&mut body, all, sig)?;
        } else {
            self.ntlm.verify(&body, sig)?;
        }
        Ok(body)
    }
}

/// Who is signed in on a connection, and how.
pub struct Session {
    tls: bool,
    /// The LDAPS certificate's NTLM channel binding.
    binding: Option<[u8; 16]>,
    identity: Option<Identity>,
    method: &'static str,
    pending: Option<ChallengeState>,
    policies: Policies,
    /// Set by an NTLM bind that negotiated signing or sealing off TLS.
    wrapper: Option<Wrapper>,
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
    pub fn new(tls: bool, binding: Option<[u8; 16]>, policies: Policies) -> Session {
        Session {
            tls,
            binding,
            identity: None,
            method: "anonymous",
            pending: None,
            policies,
            wrapper: None,
        }
    }

    /// The signing or sealing in force, if any.
    pub fn wrapper(&mut self) -> Option<&mut Wrapper> {
        self.wrapper.as_mut()
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

    /// `simple`, `ntlm`, `ntlm signed`, `ntlm sealed` or `anonymous`.
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
        if self.policies.require_signing && !self.tls {
            return BindAnswer {
                outcome: Outcome::new(ResultCode::StrongerAuthRequired, SIGNING_REQUIRED),
                matched_dn: Vec::new(),
                why: Some("simple bind off TLS while signing is required".into()),
            };
        }
        self.identity = Some(shared.directory.identity(user));
        self.method = "simple";
        BindAnswer::ok(Vec::new())
    }

    /// Sicily `[10]`: the CHALLENGE goes back in matchedDN, granting the
    /// signing and sealing the client asks for, as AD does (a client that
    /// asks for neither, as ldap3 does, stays in clear text).
    fn negotiate(&mut self, shared: &Shared, naming: &Naming, msg: &[u8]) -> BindAnswer {
        let names = ServerNames {
            nb_domain: naming.netbios.clone(),
            nb_computer: naming.dc_short(),
            dns_domain: naming.dns_domain.clone(),
            dns_computer: naming.dc_host.clone(),
        };
        let now = ntlm::filetime(shared.ca.clock().now());
        match new_challenge(&names, now, msg) {
            Ok(state) => {
                let challenge = state.challenge.clone();
                self.pending = Some(state);
                BindAnswer::ok(challenge)
            }
            Err(why) => BindAnswer::refused(why),
        }
    }

    /// Sicily `[11]`: the AUTHENTICATE against the pending CHALLENGE
    /// (used once), with the LDAPS channel binding as the policy asks; off
    /// TLS, the signing or sealing both ends negotiated starts after it.
    fn authenticate(&mut self, shared: &Shared, msg: &[u8]) -> BindAnswer {
        self.identity = None;
        self.method = "anonymous";
        self.wrapper = None;
        let Some(state) = self.pending.take() else {
            return BindAnswer::refused("NTLM AUTHENTICATE without a CHALLENGE".into());
        };
        let binding = self.binding.filter(|_| self.tls);
        let policy = if self.tls {
            self.policies.channel_binding
        } else {
            ChannelBindingPolicy::Off
        };
        let (identity, verified, flags) =
            match prove_authenticate(&shared.directory, &state, msg, policy, binding) {
                Ok(ok) => ok,
                Err(why) if why.contains("channel binding") => {
                    return BindAnswer {
                        outcome: Outcome::new(ResultCode::InvalidCredentials, CHANNEL_BINDING),
                        matched_dn: Vec::new(),
                        why: Some(why),
                    }
                }
                Err(why) => return BindAnswer::refused(why),
            };
        let negotiated = flags & state.flags;
        let sign = negotiated & ntlm::flags::SIGN != 0;
        let seal = negotiated & ntlm::flags::SEAL != 0;
        if !self.tls && self.policies.require_signing && !sign {
            return BindAnswer {
                outcome: Outcome::new(ResultCode::StrongerAuthRequired, SIGNING_REQUIRED),
                matched_dn: Vec::new(),
                why: Some("NTLM without signing off TLS while signing is required".into()),
            };
        }
        self.method = "ntlm";
        if !self.tls && (sign || seal) {
            let key = verified.exported_session_key;
            match NtlmSession::new(&key, negotiated, Role::Server) {
                Ok(ntlm) => {
                    self.wrapper = Some(Wrapper { ntlm, seal });
                    self.method = if seal { "ntlm sealed" } else { "ntlm signed" };
                }
                Err(e) => return BindAnswer::refused(format!("NTLM session security: {e}")),
            }
        }
        self.identity = Some(identity);
        BindAnswer::ok(Vec::new())
    }
}
