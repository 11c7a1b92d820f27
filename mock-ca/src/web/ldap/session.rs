//! One connection's sign-in: anonymous, simple, and Sicily NTLM (the
//! three-step bind ldap3, Certipy and Windows send), checked against the
//! same accounts as the pages, with AD's result codes and texts.

use adcs_proto::gss::AcceptContext;
use adcs_proto::ldap::{Bind, BindAuth, Outcome, ResultCode};
use adcs_proto::ntlm::session::{Role, Session as NtlmSession};
use adcs_proto::ntlm::{self, ChallengeState, ChannelBindingPolicy, ServerNames};

use super::super::auth::{mech_list_mic, new_challenge, prove_authenticate};
use super::super::directory::Identity;
use super::super::Shared;
use super::sasl;
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

/// Signing or sealing of every message after the bind, as negotiated off
/// TLS, each in a SASL buffer (a 4-byte length, then the token): NTLM's
/// 16-byte signature and the message (MS-NLMP 3.4), or a Kerberos wrap
/// token (RFC 4121).
pub enum Wrapper {
    Ntlm { ntlm: Box<NtlmSession>, seal: bool },
    Kerberos { ctx: AcceptContext, seal: bool },
}

impl Wrapper {
    /// One outgoing buffer holding `messages` (all of one answer: Certipy
    /// reads one buffer per request).
    pub fn wrap(&mut self, messages: &[u8]) -> Result<Vec<u8>, String> {
        let token = match self {
            Wrapper::Ntlm { ntlm, seal } => {
                let mut body = messages.to_vec();
                let sig = if *seal {
                    let all = 0..body.len();
                    ntlm.seal(&mut body, all)
                } else {
                    ntlm.sign(&body)
                };
                [sig.as_slice(), &body].concat()
            }
            Wrapper::Kerberos { ctx, seal } => {
                ctx.wrap(messages, *seal).map_err(|e| e.to_string())?
            }
        };
        let mut out = (token.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&token);
        Ok(out)
    }

    /// The messages inside one incoming buffer (without its length). A
    /// Kerberos peer may seal or only sign each; the answer does the same.
    pub fn unwrap(&mut self, buffer: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Wrapper::Ntlm { ntlm, seal } => {
                if buffer.len() < 16 {
                    return Err("a SASL buffer shorter than its signature".into());
                }
                let (sig, body) = buffer.split_at(16);
                let mut body = body.to_vec();
                let checked = if *seal {
                    let all = 0..body.len();
                    ntlm.unseal(&mut body, all, sig)
                } else {
                    ntlm.verify(&body, sig)
                };
                checked.map_err(|e| e.to_string())?;
                Ok(body)
            }
            Wrapper::Kerberos { ctx, seal } => {
                let (body, sealed) = ctx.unwrap(buffer).map_err(|e| e.to_string())?;
                *seal = sealed;
                Ok(body)
            }
        }
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
    /// Set by a bind that negotiated signing or sealing off TLS.
    wrapper: Option<Wrapper>,
    /// The LDAPS channel's `tls-server-end-point` data, for Kerberos.
    gss_binding: Option<Vec<u8>>,
    /// A Kerberos bind in progress.
    gss: Option<sasl::GssBind>,
    /// The mechanism list of an NTLM bind inside GSS-SPNEGO, which the
    /// mechListMICs sign.
    spnego_types: Option<Vec<u8>>,
}

/// The LDAPS certificate's channel bindings, as NTLM and Kerberos carry them.
#[derive(Clone, Debug, Default)]
pub struct Binding {
    pub ntlm: Option<[u8; 16]>,
    pub gss: Option<Vec<u8>>,
}

/// A bind's answer: the outcome, matchedDN (Sicily's payload) and the
/// server's SASL credentials.
pub(crate) struct BindAnswer {
    pub outcome: Outcome,
    pub matched_dn: Vec<u8>,
    pub sasl_creds: Option<Vec<u8>>,
    /// Why a sign-in failed, for the journal.
    pub why: Option<String>,
}

impl BindAnswer {
    fn ok(matched_dn: Vec<u8>) -> BindAnswer {
        BindAnswer {
            outcome: Outcome::success(),
            matched_dn,
            sasl_creds: None,
            why: None,
        }
    }

    fn refused(why: String) -> BindAnswer {
        BindAnswer {
            outcome: Outcome::new(ResultCode::InvalidCredentials, INVALID_CREDENTIALS),
            matched_dn: Vec::new(),
            sasl_creds: None,
            why: Some(why),
        }
    }
}

impl Session {
    pub fn new(tls: bool, binding: &Binding, policies: Policies) -> Session {
        Session {
            tls,
            binding: binding.ntlm,
            identity: None,
            method: "anonymous",
            pending: None,
            policies,
            wrapper: None,
            gss_binding: binding.gss.clone(),
            gss: None,
            spnego_types: None,
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

    /// `simple`, `ntlm`, `kerberos` (each `signed` or `sealed` when what
    /// follows is wrapped) or `anonymous`.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// A bind replaces whoever was signed in, as in AD.
    pub(crate) fn bind(&mut self, shared: &Shared, naming: &Naming, bind: &Bind) -> BindAnswer {
        if !matches!(
            bind.auth,
            BindAuth::SicilyResponse(_) | BindAuth::Sasl { .. }
        ) {
            self.identity = None;
            self.method = "anonymous";
            self.gss = None;
        }
        match &bind.auth {
            BindAuth::Simple(password) if password.is_empty() => BindAnswer::ok(Vec::new()),
            BindAuth::Simple(password) => self.simple(shared, &bind.name, password),
            BindAuth::SicilyDiscovery => BindAnswer::ok(b"NTLM".to_vec()),
            BindAuth::SicilyNegotiate(msg) => self.negotiate(shared, naming, msg),
            BindAuth::SicilyResponse(msg) => self.authenticate(shared, msg),
            BindAuth::Sasl {
                mechanism,
                credentials,
            } if sasl::Mech::named(mechanism).is_some() => {
                let mech = sasl::Mech::named(mechanism).expect("checked");
                let token = credentials.as_deref().unwrap_or_default();
                let ntlm = (mech == sasl::Mech::Spnego && self.gss.is_none())
                    .then(|| self.spnego_ntlm(shared, naming, token))
                    .flatten();
                ntlm.unwrap_or_else(|| self.kerberos(shared, mech, token))
            }
            BindAuth::Sasl { mechanism, .. } => BindAnswer {
                outcome: Outcome::new(
                    ResultCode::AuthMethodNotSupported,
                    format!(
                        "00002027: LdapErr: DSID-0C0906B5, comment: the SASL mechanism {mechanism} is not served here (bind with NTLM or a simple bind), data 0, v4563\0"
                    ),
                ),
                matched_dn: Vec::new(),
                sasl_creds: None,
                why: Some(format!("SASL {mechanism} is not served")),
            },
        }
    }

    /// NTLM inside GSS-SPNEGO, as Windows' ADSI binds: a NegTokenInit
    /// with the NEGOTIATE gets the CHALLENGE in a NegTokenResp; the
    /// NegTokenResp with the AUTHENTICATE (and a mechListMIC) signs in, and
    /// the answer carries the server's mechListMIC (MS-SPNG 3.1.5.1).
    /// Signing and sealing are not granted under SPNEGO: what follows
    /// stays clear text (or under TLS). `None`: not an NTLM token.
    fn spnego_ntlm(
        &mut self,
        shared: &Shared,
        naming: &Naming,
        token: &[u8],
    ) -> Option<BindAnswer> {
        use adcs_proto::gss::spnego;
        if let Some((types, negotiate)) = spnego::ntlm_in_init(token) {
            self.identity = None;
            self.method = "anonymous";
            let mut a = self.negotiate(shared, naming, &negotiate);
            if a.outcome.code != ResultCode::Success {
                return Some(a);
            }
            if let Some(state) = self.pending.as_mut() {
                state.withhold(ntlm::flags::SIGN | ntlm::flags::SEAL);
                a.matched_dn = state.challenge.clone();
            }
            self.spnego_types = Some(types);
            return Some(BindAnswer {
                outcome: Outcome::new(ResultCode::SaslBindInProgress, ""),
                sasl_creds: Some(spnego::ntlm_challenge(&a.matched_dn)),
                matched_dn: Vec::new(),
                why: None,
            });
        }
        let (auth, mic) = spnego::ntlm_in_resp(token)?;
        let types = self.spnego_types.take();
        let Some(state) = self.pending.take() else {
            return Some(BindAnswer::refused(
                "NTLM AUTHENTICATE without a CHALLENGE".into(),
            ));
        };
        let binding = self.binding.filter(|_| self.tls);
        let policy = if self.tls {
            self.policies.channel_binding
        } else {
            ChannelBindingPolicy::Off
        };
        let proved = prove_authenticate(&shared.directory, &state, &auth, policy, binding)
            .and_then(|(identity, verified, flags)| {
                mech_list_mic(&verified, flags & state.flags, types, mic).map(|m| (identity, m))
            });
        Some(match proved {
            Ok((identity, server_mic)) => {
                self.identity = Some(identity);
                self.method = "ntlm";
                BindAnswer {
                    sasl_creds: Some(spnego::completed(server_mic.as_ref().map(|m| &m[..]))),
                    ..BindAnswer::ok(Vec::new())
                }
            }
            Err(why) => BindAnswer::refused(why),
        })
    }

    /// A GSS-SPNEGO or GSSAPI bind with the site's Kerberos realm.
    fn kerberos(&mut self, shared: &Shared, mech: sasl::Mech, token: &[u8]) -> BindAnswer {
        let Some(k) = shared.auth.kerberos.as_ref() else {
            return BindAnswer {
                outcome: Outcome::new(
                    ResultCode::AuthMethodNotSupported,
                    "00002027: LdapErr: DSID-0C0906B5, comment: no Kerberos realm on this site (serve --kerberos), data 0, v4563\0",
                ),
                matched_dn: Vec::new(),
                sasl_creds: None,
                why: Some("Kerberos bind without a realm".into()),
            };
        };
        let binding = self.gss_binding.clone().filter(|_| self.tls);
        let channel = sasl::Channel {
            binding: binding.as_deref(),
            required: self.policies.channel_binding == ChannelBindingPolicy::Require,
        };
        if self.gss.is_none() {
            // A new bind: whoever was signed in is not any more.
            self.identity = None;
            self.method = "anonymous";
        }
        match sasl::step(shared, k, self.gss.take(), mech, token, &channel) {
            sasl::Step::Continue(creds, state) => {
                self.gss = Some(state);
                BindAnswer {
                    outcome: Outcome::new(ResultCode::SaslBindInProgress, ""),
                    matched_dn: Vec::new(),
                    sasl_creds: Some(creds),
                    why: None,
                }
            }
            sasl::Step::Done {
                creds,
                identity,
                layer,
            } => {
                self.identity = Some(identity);
                self.method = "kerberos";
                if let Some((ctx, seal)) = layer.filter(|_| !self.tls) {
                    self.method = if seal {
                        "kerberos sealed"
                    } else {
                        "kerberos signed"
                    };
                    self.wrapper = Some(Wrapper::Kerberos { ctx, seal });
                }
                BindAnswer {
                    sasl_creds: creds,
                    ..BindAnswer::ok(Vec::new())
                }
            }
            sasl::Step::Refused(why) if why.ends_with("no channel binding") => BindAnswer {
                outcome: Outcome::new(ResultCode::InvalidCredentials, CHANNEL_BINDING),
                matched_dn: Vec::new(),
                sasl_creds: None,
                why: Some(why),
            },
            sasl::Step::Refused(why) => BindAnswer::refused(why),
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
                sasl_creds: None,
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
                        sasl_creds: None,
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
                sasl_creds: None,
                why: Some("NTLM without signing off TLS while signing is required".into()),
            };
        }
        self.method = "ntlm";
        if !self.tls && (sign || seal) {
            let key = verified.exported_session_key;
            match NtlmSession::new(&key, negotiated, Role::Server) {
                Ok(ntlm) => {
                    self.wrapper = Some(Wrapper::Ntlm {
                        ntlm: Box::new(ntlm),
                        seal,
                    });
                    self.method = if seal { "ntlm sealed" } else { "ntlm signed" };
                }
                Err(e) => return BindAnswer::refused(format!("NTLM session security: {e}")),
            }
        }
        self.identity = Some(identity);
        BindAnswer::ok(Vec::new())
    }
}
