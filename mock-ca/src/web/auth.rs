//! Who is asking: Basic per request, NTLM (raw under `NTLM` or `Negotiate`)
//! and Kerberos (SPNEGO or raw under `Negotiate`, when the site has a
//! realm) per connection, as IIS with kernel-mode Windows Authentication
//! behaves (certsrv-protocol.md §5). After a successful handshake the
//! identity stays on the keep-alive connection for requests without a
//! header.

use base64::Engine;

use super::directory::{Directory, Identity};
use adcs_proto::gss::{spnego, AcceptContext, Accepted, Acceptor};
use adcs_proto::ntlm::{self, ChallengeState, ChannelBindingPolicy, ServerNames};

/// What the server offers and requires.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub basic: bool,
    pub ntlm: bool,
    pub channel_binding: ChannelBindingPolicy,
    /// `Basic realm="…"`.
    pub realm: String,
    pub names: ServerNames,
    /// Kerberos under `Negotiate`, when the site has a realm.
    pub kerberos: Option<KerberosAuth>,
}

/// The site's keytab acceptor and the realm whose users it maps.
#[derive(Clone, Debug)]
pub struct KerberosAuth {
    pub acceptor: Acceptor,
    pub realm: String,
    /// The realm's maximum clock skew.
    pub max_skew_seconds: u32,
}

/// The TLS channel a request came on, as both protocols bind to it.
#[derive(Clone, Debug)]
pub struct Binding {
    /// NTLM's MD5 of the channel bindings.
    pub ntlm: [u8; 16],
    /// GSS-API's application data, `tls-server-end-point:<hash>`.
    pub gss: Vec<u8>,
}

/// Authentication state of one TCP (or TLS) connection.
#[derive(Debug, Default)]
pub struct ConnAuth {
    /// A CHALLENGE sent on this connection, waiting for its AUTHENTICATE.
    pending: Option<ChallengeState>,
    /// A Kerberos context that needs another token (SPNEGO renegotiation).
    gss: Option<AcceptContext>,
    /// The DER of the mechanism list a SPNEGO NegTokenInit offered with
    /// NTLM, which the mechListMICs sign.
    spnego_mech_types: Option<Vec<u8>>,
    /// The account a handshake on this connection proved.
    identity: Option<Identity>,
}

/// The result of looking at a request's credentials.
#[derive(Debug)]
pub enum Outcome {
    Authenticated {
        identity: Identity,
        /// `basic`, `ntlm`, `negotiate`, `kerberos` or `connection`.
        method: &'static str,
        /// Kerberos's mutual-authentication token, for the final
        /// `WWW-Authenticate: Negotiate <token>`.
        reply: Option<Vec<u8>>,
    },
    /// Answer 401 with `WWW-Authenticate: <label> <base64 token>`.
    Challenge { label: &'static str, token: Vec<u8> },
    /// Answer 401 with the standard offer; `reason` is for the server log only.
    Denied { reason: String },
}

fn denied(reason: impl Into<String>) -> Outcome {
    Outcome::Denied {
        reason: reason.into(),
    }
}

/// Decides a request. `binding` is this TLS connection's channel
/// binding (`None` over plain HTTP); `clock` dates the CHALLENGE and says
/// how far a test moved the server's time (Kerberos's skew).
pub fn authenticate(
    settings: &AuthSettings,
    directory: &Directory,
    conn: &mut ConnAuth,
    authorization: Option<&str>,
    binding: Option<&Binding>,
    clock: &adcs_proto::Clock,
) -> Outcome {
    let now_filetime = ntlm::filetime(clock.now());
    let Some(header) = authorization.map(str::trim).filter(|h| !h.is_empty()) else {
        return match &conn.identity {
            Some(identity) => Outcome::Authenticated {
                identity: identity.clone(),
                method: "connection",
                reply: None,
            },
            None => denied("no credentials"),
        };
    };
    let (scheme, token) = header.split_once(' ').unwrap_or((header, ""));
    let token = token.trim();
    let b64 = base64::engine::general_purpose::STANDARD;
    match scheme.to_ascii_lowercase().as_str() {
        "basic" if settings.basic => {
            let Ok(raw) = b64.decode(token) else {
                return denied("Basic: bad base64");
            };
            let raw = String::from_utf8_lossy(&raw);
            let Some((name, password)) = raw.split_once(':') else {
                return denied("Basic: no colon");
            };
            match directory.find("", name) {
                Some(u) if constant_time_eq(u.password.as_bytes(), password.as_bytes()) => {
                    Outcome::Authenticated {
                        identity: directory.identity(u),
                        method: "basic",
                        reply: None,
                    }
                }
                Some(_) => denied(format!("Basic: wrong password for {name}")),
                None => denied(format!("Basic: unknown user {name}")),
            }
        }
        s @ ("ntlm" | "negotiate")
            if settings.ntlm || (s == "negotiate" && settings.kerberos.is_some()) =>
        {
            let negotiate = s == "negotiate";
            let Ok(msg) = b64.decode(token) else {
                return denied(format!("{scheme}: bad base64"));
            };
            if settings.ntlm {
                let call = NtlmCall {
                    settings,
                    directory,
                    binding,
                    now_filetime,
                    negotiate,
                };
                if let Some(outcome) = ntlm_exchange(&call, conn, &msg) {
                    return outcome;
                }
            }
            match &settings.kerberos {
                Some(k) if negotiate => {
                    let call = KerberosCall {
                        k,
                        policy: settings.channel_binding,
                        binding,
                        clock_moved: clock.moved(),
                    };
                    kerberos(&call, directory, conn, &msg)
                }
                _ => denied(format!("{scheme}: not a token this site takes")),
            }
        }
        other => denied(format!("scheme `{other}` not offered")),
    }
}

/// What one NTLM message is checked with.
struct NtlmCall<'a> {
    settings: &'a AuthSettings,
    directory: &'a Directory,
    binding: Option<&'a Binding>,
    now_filetime: u64,
    /// Under the `Negotiate` label (raw, or inside SPNEGO).
    negotiate: bool,
}

/// NTLM, raw or (under `Negotiate`) inside SPNEGO; `None` when the token
/// is neither, so Kerberos may take it.
fn ntlm_exchange(call: &NtlmCall, conn: &mut ConnAuth, msg: &[u8]) -> Option<Outcome> {
    let label = if call.negotiate { "Negotiate" } else { "NTLM" };
    let method = if call.negotiate { "negotiate" } else { "ntlm" };
    match ntlm::message_type(msg) {
        Some(1) => {
            return Some(match ntlm_challenge(call, conn, msg) {
                Ok(token) => Outcome::Challenge { label, token },
                Err(e) => denied(e),
            })
        }
        Some(3) => {
            return Some(match ntlm_prove(call, conn, msg) {
                Ok((identity, _, _)) => Outcome::Authenticated {
                    identity,
                    method,
                    reply: None,
                },
                Err(e) => denied(e),
            })
        }
        Some(_) => return Some(denied(format!("{label}: an unexpected NTLM message"))),
        None if !call.negotiate => return Some(denied("NTLM: not an NTLMSSP token")),
        None => {}
    }
    if let Some((types, negotiate_msg)) = spnego::ntlm_in_init(msg) {
        return Some(match ntlm_challenge(call, conn, &negotiate_msg) {
            Ok(challenge) => {
                conn.spnego_mech_types = Some(types);
                Outcome::Challenge {
                    label,
                    token: spnego::ntlm_challenge(&challenge),
                }
            }
            Err(e) => denied(e),
        });
    }
    let (auth_msg, mic) = spnego::ntlm_in_resp(msg)?;
    let types = conn.spnego_mech_types.take();
    Some(match ntlm_prove(call, conn, &auth_msg) {
        Ok((identity, verified, negotiated)) => {
            match mech_list_mic(&verified, negotiated, types, mic) {
                Ok(reply) => Outcome::Authenticated {
                    identity,
                    method,
                    reply: Some(spnego::completed(reply.as_ref().map(|m| &m[..]))),
                },
                Err(e) => {
                    conn.identity = None;
                    denied(e)
                }
            }
        }
        Err(e) => denied(e),
    })
}

/// Checks the client's mechListMIC and makes the server's
/// ([`ntlm::mech_list_mic`]).
pub(crate) fn mech_list_mic(
    verified: &ntlm::Verified,
    negotiated: u32,
    types: Option<Vec<u8>>,
    mic: Option<Vec<u8>>,
) -> Result<Option<[u8; 16]>, String> {
    ntlm::mech_list_mic(&verified.exported_session_key, negotiated, types, mic)
}

/// A CHALLENGE for a NEGOTIATE, with a fresh random server challenge.
/// The pages and the RPC interface both answer with it.
pub(crate) fn new_challenge(
    names: &ServerNames,
    now_filetime: u64,
    negotiate: &[u8],
) -> Result<ntlm::ChallengeState, String> {
    let mut server_challenge = [0u8; 8];
    aws_lc_rs::rand::fill(&mut server_challenge)
        .map_err(|_| "no randomness for the NTLM challenge".to_string())?;
    ntlm::challenge(negotiate, names, server_challenge, now_filetime)
        .map_err(|e| format!("NTLM NEGOTIATE: {e}"))
}

/// Proves an AUTHENTICATE answering `state` against the directory: the
/// account, the session key and the negotiated flags.
pub(crate) fn prove_authenticate(
    directory: &Directory,
    state: &ntlm::ChallengeState,
    msg: &[u8],
    policy: ChannelBindingPolicy,
    binding: Option<[u8; 16]>,
) -> Result<(Identity, ntlm::Verified, u32), String> {
    let auth = ntlm::parse_authenticate(msg).map_err(|e| format!("NTLM AUTHENTICATE: {e}"))?;
    let user = directory
        .find(&auth.domain, &auth.user)
        .ok_or_else(|| format!("NTLM: unknown user {}\\{}", auth.domain, auth.user))?;
    let verified = ntlm::verify(state, msg, &auth, &user.password, policy, binding)
        .map_err(|e| format!("NTLM {}: {e}", user.name))?;
    Ok((directory.identity(user), verified, auth.flags))
}

/// Answers a NEGOTIATE: the CHALLENGE, remembered on the connection.
fn ntlm_challenge(call: &NtlmCall, conn: &mut ConnAuth, msg: &[u8]) -> Result<Vec<u8>, String> {
    let state = new_challenge(&call.settings.names, call.now_filetime, msg)?;
    let token = state.challenge.clone();
    conn.pending = Some(state);
    conn.identity = None;
    conn.gss = None;
    Ok(token)
}

/// Proves an AUTHENTICATE against this connection's CHALLENGE; the
/// account then stays on the connection. Also gives the session key and
/// the negotiated flags, for SPNEGO's mechListMIC.
fn ntlm_prove(
    call: &NtlmCall,
    conn: &mut ConnAuth,
    msg: &[u8],
) -> Result<(Identity, ntlm::Verified, u32), String> {
    // The challenge is used once, whatever the outcome (no replay).
    let state = conn
        .pending
        .take()
        .ok_or("NTLM AUTHENTICATE without a challenge on this connection")?;
    let policy = call.settings.channel_binding;
    let binding = call.binding.map(|b| b.ntlm);
    let proven = prove_authenticate(call.directory, &state, msg, policy, binding)?;
    conn.identity = Some(proven.0.clone());
    Ok(proven)
}

/// What one Kerberos token is checked with.
struct KerberosCall<'a> {
    k: &'a KerberosAuth,
    policy: ChannelBindingPolicy,
    binding: Option<&'a Binding>,
    /// How far the harness's clock was moved: the server's clock, which
    /// the KDC and clients (on real time) do not follow.
    clock_moved: i64,
}

/// A Kerberos token under `Negotiate`: MIT checks the ticket against the
/// keytab (its times, with the realm's clock skew, and the channel
/// bindings, unless they are off); a server clock the harness moved
/// further than that skew refuses it as a skewed server would
/// (KRB_AP_ERR_SKEW); the client principal must be a user of our realm.
fn kerberos(
    call: &KerberosCall,
    directory: &Directory,
    conn: &mut ConnAuth,
    token: &[u8],
) -> Outcome {
    let (k, policy) = (call.k, call.policy);
    let binding = call.binding.filter(|_| policy != ChannelBindingPolicy::Off);
    let mut ctx = match conn.gss.take() {
        Some(ctx) => ctx,
        None => match k.acceptor.start() {
            Ok(ctx) => ctx,
            Err(e) => return denied(format!("Kerberos: {e}")),
        },
    };
    conn.identity = None;
    let (principal, reply, bound) = match ctx.step(token, binding.map(|b| b.gss.as_slice())) {
        Ok(Accepted::Continue(token)) => {
            conn.gss = Some(ctx);
            return Outcome::Challenge {
                label: "Negotiate",
                token,
            };
        }
        Ok(Accepted::Done {
            principal,
            reply,
            channel_bound,
            ..
        }) => {
            if call.clock_moved.abs() > i64::from(k.max_skew_seconds) {
                return denied(format!(
                    "Kerberos {principal}: the server's clock is {} s off (KRB_AP_ERR_SKEW)",
                    call.clock_moved
                ));
            }
            (principal, reply, channel_bound)
        }
        Err(e) => return denied(e.to_string()),
    };
    if policy == ChannelBindingPolicy::Require && binding.is_some() && !bound {
        return denied(format!("Kerberos {principal}: no channel bindings"));
    }
    let identity = match kerberos_identity(directory, &principal, &k.realm) {
        Ok(i) => i,
        Err(why) => return denied(why),
    };
    conn.identity = Some(identity.clone());
    Outcome::Authenticated {
        identity,
        method: "kerberos",
        reply: (!reply.is_empty()).then_some(reply),
    }
}

/// The account a Kerberos client principal signs in as: a user of the
/// directory in our realm, or why not (every front end's words).
pub(crate) fn kerberos_identity(
    directory: &Directory,
    principal: &str,
    realm: &str,
) -> Result<Identity, String> {
    account_of(principal, realm)
        .and_then(|name| directory.find("", name))
        .map(|user| directory.identity(user))
        .ok_or_else(|| format!("Kerberos: {principal} is not a user of the directory"))
}

/// The account name a client principal names (`alice@CONTOSO.TEST` →
/// `alice`), when it is a user of our realm.
fn account_of<'a>(principal: &'a str, realm: &str) -> Option<&'a str> {
    let (name, r) = principal.rsplit_once('@')?;
    if !r.eq_ignore_ascii_case(realm) || name.contains('/') || name.is_empty() {
        return None;
    }
    Some(name)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// The `WWW-Authenticate` values of a plain 401, in IIS order.
pub fn offers(settings: &AuthSettings) -> Vec<String> {
    let mut v = Vec::new();
    if settings.ntlm || settings.kerberos.is_some() {
        v.push("Negotiate".to_string());
    }
    if settings.ntlm {
        v.push("NTLM".to_string());
    }
    if settings.basic {
        v.push(format!("Basic realm=\"{}\"", settings.realm));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::directory::User;
    use adcs_proto::ntlm::Direction;

    fn setup() -> (AuthSettings, Directory) {
        let settings = AuthSettings {
            basic: true,
            ntlm: true,
            channel_binding: ChannelBindingPolicy::Off,
            realm: "ca01".into(),
            kerberos: None,
            names: ServerNames {
                nb_domain: "CONTOSO".into(),
                nb_computer: "CA01".into(),
                dns_domain: "contoso.test".into(),
                dns_computer: "ca01.contoso.test".into(),
            },
        };
        let dir = Directory::new(
            vec![User::parse("CONTOSO\\alice:pw").unwrap()],
            "CONTOSO",
            "contoso.test",
        );
        (settings, dir)
    }

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    #[test]
    fn principals_of_our_realm_map_to_accounts() {
        assert_eq!(
            account_of("alice@CONTOSO.TEST", "CONTOSO.TEST"),
            Some("alice")
        );
        assert_eq!(account_of("alice@EVIL.TEST", "CONTOSO.TEST"), None);
        assert_eq!(account_of("HTTP/x@CONTOSO.TEST", "CONTOSO.TEST"), None);
        assert_eq!(account_of("alice", "CONTOSO.TEST"), None);
    }

    #[test]
    fn basic_checks_the_password_each_time() {
        let (s, d) = setup();
        let mut c = ConnAuth::default();
        let ok = format!("Basic {}", b64(b"CONTOSO\\alice:pw"));
        assert!(matches!(
            authenticate(
                &s,
                &d,
                &mut c,
                Some(&ok),
                None,
                &adcs_proto::Clock::frozen_at(0)
            ),
            Outcome::Authenticated {
                method: "basic",
                ..
            }
        ));
        // Basic is not remembered on the connection.
        assert!(matches!(
            authenticate(&s, &d, &mut c, None, None, &adcs_proto::Clock::frozen_at(0)),
            Outcome::Denied { .. }
        ));
        let bad = format!("Basic {}", b64(b"alice:nope"));
        assert!(matches!(
            authenticate(
                &s,
                &d,
                &mut c,
                Some(&bad),
                None,
                &adcs_proto::Clock::frozen_at(0)
            ),
            Outcome::Denied { .. }
        ));
    }

    #[test]
    fn ntlm_binds_the_identity_to_the_connection_under_either_label() {
        let (s, d) = setup();
        for label in ["NTLM", "Negotiate"] {
            let mut c = ConnAuth::default();
            let neg = ntlm::client_negotiate();
            let h1 = format!("{label} {}", b64(&neg));
            let Outcome::Challenge { label: got, token } = authenticate(
                &s,
                &d,
                &mut c,
                Some(&h1),
                None,
                &adcs_proto::Clock::frozen_at(0),
            ) else {
                panic!("no challenge")
            };
            assert_eq!(got, label);
            let auth = ntlm::client_authenticate(
                &neg,
                &token,
                "alice",
                "CONTOSO",
                "pw",
                &Default::default(),
            )
            .unwrap();
            let h3 = format!("{label} {}", b64(&auth));
            assert!(matches!(
                authenticate(
                    &s,
                    &d,
                    &mut c,
                    Some(&h3),
                    None,
                    &adcs_proto::Clock::frozen_at(0)
                ),
                Outcome::Authenticated { .. }
            ));
            assert!(matches!(
                authenticate(&s, &d, &mut c, None, None, &adcs_proto::Clock::frozen_at(0)),
                Outcome::Authenticated {
                    method: "connection",
                    ..
                }
            ));
            // Replaying the AUTHENTICATE finds no challenge to answer.
            assert!(matches!(
                authenticate(
                    &s,
                    &d,
                    &mut c,
                    Some(&h3),
                    None,
                    &adcs_proto::Clock::frozen_at(0)
                ),
                Outcome::Denied { .. }
            ));
        }
    }

    #[test]
    fn ntlm_inside_spnego_signs_in_and_both_mech_list_mics_verify() {
        let (s, d) = setup();
        let clock = adcs_proto::Clock::frozen_at(0);
        for (password, client_mic_ok, expect_in) in [
            ("pw", true, true),
            ("pw", false, false),
            ("bad", true, false),
        ] {
            let mut c = ConnAuth::default();
            let neg = ntlm::client_negotiate();
            let (init, types) = spnego::client_ntlm_init(&neg);
            let h1 = format!("Negotiate {}", b64(&init));
            let Outcome::Challenge { label, token } =
                authenticate(&s, &d, &mut c, Some(&h1), None, &clock)
            else {
                panic!("no challenge")
            };
            assert_eq!(label, "Negotiate");
            let challenge = spnego::read_resp(&token).unwrap().response_token.unwrap();
            let opts = ntlm::ClientOptions {
                mic: true,
                ..Default::default()
            };
            let auth =
                ntlm::client_authenticate(&neg, &challenge, "alice", "CONTOSO", password, &opts)
                    .unwrap();
            let key = ntlm::client_session_key(&auth, password).unwrap();
            let flags = ntlm::parse_authenticate(&auth).unwrap().flags;
            let signed: &[u8] = if client_mic_ok {
                &types
            } else {
                b"other mechanisms"
            };
            let mic = ntlm::sign_first(&key, flags, Direction::ClientToServer, signed);
            let h3 = format!(
                "Negotiate {}",
                b64(&spnego::client_ntlm_answer(&auth, Some(&mic)))
            );
            let outcome = authenticate(&s, &d, &mut c, Some(&h3), None, &clock);
            let Outcome::Authenticated { reply, method, .. } = outcome else {
                assert!(!expect_in, "{password} {client_mic_ok}: {outcome:?}");
                continue;
            };
            assert!(expect_in && method == "negotiate");
            let server_mic = spnego::read_resp(&reply.unwrap()).unwrap().mech_list_mic;
            let ours = ntlm::sign_first(&key, flags, Direction::ServerToClient, &types);
            assert_eq!(server_mic.as_deref(), Some(&ours[..]));
        }
    }

    #[test]
    fn ntlm_wrong_password_and_disabled_schemes_are_denied() {
        let (mut s, d) = setup();
        let mut c = ConnAuth::default();
        let neg = ntlm::client_negotiate();
        let Outcome::Challenge { token, .. } = authenticate(
            &s,
            &d,
            &mut c,
            Some(&format!("NTLM {}", b64(&neg))),
            None,
            &adcs_proto::Clock::frozen_at(0),
        ) else {
            panic!()
        };
        let auth =
            ntlm::client_authenticate(&neg, &token, "alice", "CONTOSO", "bad", &Default::default())
                .unwrap();
        let h3 = format!("NTLM {}", b64(&auth));
        assert!(matches!(
            authenticate(
                &s,
                &d,
                &mut c,
                Some(&h3),
                None,
                &adcs_proto::Clock::frozen_at(0)
            ),
            Outcome::Denied { .. }
        ));
        assert!(matches!(
            authenticate(&s, &d, &mut c, None, None, &adcs_proto::Clock::frozen_at(0)),
            Outcome::Denied { .. }
        ));
        s.basic = false;
        let basic = format!("Basic {}", b64(b"alice:pw"));
        assert!(matches!(
            authenticate(
                &s,
                &d,
                &mut c,
                Some(&basic),
                None,
                &adcs_proto::Clock::frozen_at(0)
            ),
            Outcome::Denied { .. }
        ));
        assert_eq!(offers(&s), vec!["Negotiate", "NTLM"]);
    }
}
