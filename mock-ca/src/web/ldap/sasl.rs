//! Kerberos binds through SASL, against the site's realm: GSS-SPNEGO as
//! Certipy `-k` sends it (one bind carrying an AP-REQ) and GSSAPI as
//! `ldapsearch -Y GSSAPI` and certihound send it (the context, then RFC
//! 4752's security-layer negotiation in wrap tokens). The tickets are
//! checked by MIT GSS-API with the DC's keytab; what follows the bind is
//! wrapped when the client asked for integrity off TLS, as AD does.

use adcs_proto::gss::{AcceptContext, Accepted};

use super::super::auth::{kerberos_identity, KerberosAuth};
use super::super::directory::Identity;
use super::super::Shared;

/// The SASL mechanisms served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mech {
    Spnego,
    Gssapi,
}

impl Mech {
    pub(super) fn named(mechanism: &str) -> Option<Mech> {
        match mechanism.to_ascii_uppercase().as_str() {
            "GSS-SPNEGO" => Some(Mech::Spnego),
            "GSSAPI" => Some(Mech::Gssapi),
            _ => None,
        }
    }
}

/// Where a GSSAPI bind stands after its context.
enum Stage {
    /// Tokens are still being exchanged.
    Context,
    /// The context is done and its last token sent; the client's empty
    /// message asks for the security-layer offer.
    AwaitEmpty,
    /// The offer was sent; the client's wrapped choice completes the bind.
    AwaitLayer,
}

/// A Kerberos bind in progress on a connection.
pub(super) struct GssBind {
    mech: Mech,
    ctx: AcceptContext,
    stage: Stage,
    identity: Option<Identity>,
}

/// What one SASL bind message leads to.
pub(super) enum Step {
    /// saslBindInProgress with these server credentials.
    Continue(Vec<u8>, GssBind),
    /// Signed in; `layer` is the context to wrap messages with (and
    /// whether to seal) when the client asked for integrity.
    Done {
        creds: Option<Vec<u8>>,
        identity: Identity,
        layer: Option<(AcceptContext, bool)>,
    },
    Refused(String),
}

/// The security layers offered (no layer, integrity, confidentiality) and
/// the largest message, as RFC 4752's server token carries them.
const LAYER_OFFER: [u8; 4] = [0x07, 0x01, 0x00, 0x00];

/// The LDAPS channel's `tls-server-end-point` data, and whether the
/// policy requires clients to bind to it.
pub(super) struct Channel<'a> {
    pub binding: Option<&'a [u8]>,
    pub required: bool,
}

/// Takes one SASL bind message. `state` is the bind in progress on the
/// connection, if it is for the same mechanism.
pub(super) fn step(
    shared: &Shared,
    k: &KerberosAuth,
    state: Option<GssBind>,
    mech: Mech,
    token: &[u8],
    channel: &Channel,
) -> Step {
    let bind = match state.filter(|s| s.mech == mech) {
        Some(s) => s,
        None => match k.acceptor.start() {
            Ok(ctx) => GssBind {
                mech,
                ctx,
                stage: Stage::Context,
                identity: None,
            },
            Err(e) => return Step::Refused(format!("Kerberos: {e}")),
        },
    };
    match bind.stage {
        Stage::Context => context(shared, k, bind, token, channel),
        Stage::AwaitEmpty => offer(bind),
        Stage::AwaitLayer => layer_chosen(bind, token),
    }
}

/// A context token: more to exchange, or the client named.
fn context(
    shared: &Shared,
    k: &KerberosAuth,
    mut bind: GssBind,
    token: &[u8],
    channel: &Channel,
) -> Step {
    let (principal, reply, integrity, bound) = match bind.ctx.step(token, channel.binding) {
        Ok(Accepted::Continue(t)) => return Step::Continue(t, bind),
        Ok(Accepted::Done {
            principal,
            reply,
            integrity,
            channel_bound,
        }) => (principal, reply, integrity, channel_bound),
        Err(e) => return Step::Refused(e.to_string()),
    };
    if channel.required && channel.binding.is_some() && !bound {
        return Step::Refused(format!("Kerberos {principal}: no channel binding"));
    }
    let moved = shared.ca.clock().moved();
    if moved.abs() > i64::from(k.max_skew_seconds) {
        return Step::Refused(format!(
            "Kerberos {principal}: the server's clock is {moved} s off (KRB_AP_ERR_SKEW)"
        ));
    }
    let identity = match kerberos_identity(&shared.directory, &principal, &k.realm) {
        Ok(i) => i,
        Err(why) => return Step::Refused(why),
    };
    match bind.mech {
        Mech::Spnego => Step::Done {
            creds: (!reply.is_empty()).then_some(reply),
            identity,
            layer: integrity.then_some((bind.ctx, true)),
        },
        Mech::Gssapi => {
            bind.identity = Some(identity);
            if reply.is_empty() {
                // No mutual-authentication token: the offer comes at once.
                return offer(bind);
            }
            bind.stage = Stage::AwaitEmpty;
            Step::Continue(reply, bind)
        }
    }
}

/// The security-layer offer, wrapped for integrity (RFC 4752 §3.1).
fn offer(mut bind: GssBind) -> Step {
    match bind.ctx.wrap(&LAYER_OFFER, false) {
        Ok(offer) => {
            bind.stage = Stage::AwaitLayer;
            Step::Continue(offer, bind)
        }
        Err(e) => Step::Refused(e.to_string()),
    }
}

/// The client's wrapped choice of layer: none (1), integrity (2) or
/// confidentiality (4).
fn layer_chosen(mut bind: GssBind, token: &[u8]) -> Step {
    let chosen = match bind.ctx.unwrap(token) {
        Ok((m, _)) if m.len() >= 4 => m[0],
        Ok(_) => {
            return Step::Refused("GSSAPI: a security-layer answer shorter than 4 bytes".into())
        }
        Err(e) => return Step::Refused(e.to_string()),
    };
    if chosen & LAYER_OFFER[0] == 0 || chosen.count_ones() != 1 {
        return Step::Refused(format!(
            "GSSAPI: security layer {chosen:#04x} was not offered"
        ));
    }
    let Some(identity) = bind.identity.take() else {
        return Step::Refused("GSSAPI: no client named".into());
    };
    Step::Done {
        creds: None,
        identity,
        layer: (chosen != 1).then_some((bind.ctx, chosen == 4)),
    }
}
