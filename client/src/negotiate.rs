//! Kerberos under HTTP `Negotiate` (RFC 4559), as a domain-joined Windows
//! client uses it: a service ticket for `HTTP/<host>` from the realm's KDC,
//! sent in one leg, and the server's mutual-authentication answer checked.
//! The realm is reachable when `KRB5_CONFIG` names its krb5.conf or
//! `KRB5CCNAME` names a ticket cache (after kinit); otherwise `Negotiate`
//! falls back to NTLM, as Windows does off the domain.

use std::path::Path;

use adcs_proto::gss::{self, Credentials as GssCredentials, GssError, Initiator};

/// Whether Kerberos is set up for this process (see the module doc).
pub fn realm_configured() -> bool {
    ["KRB5_CONFIG", "KRB5CCNAME"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// The principal an account names: `CONTOSO\alice` and `alice` → `alice`
/// (the default realm), `alice@contoso.test` → `alice@CONTOSO.TEST`.
pub fn principal_of(user: &str) -> String {
    match user.split_once('\\') {
        Some((_, name)) => name.to_string(),
        None => match user.rsplit_once('@') {
            Some((name, realm)) => format!("{name}@{}", realm.to_ascii_uppercase()),
            None => user.to_string(),
        },
    }
}

/// A context toward `HTTP@host` and its first token. `account` is a user
/// and password to get a ticket with; `None` uses the ticket cache
/// `ccache` names, else `KRB5CCNAME`'s.
/// `binding` is the TLS channel's `tls-server-end-point` data; `krb5_conf`
/// names the realm's KDC (else `KRB5_CONFIG` does).
pub fn start(
    host: &str,
    account: Option<(&str, &str)>,
    ccache: Option<&Path>,
    binding: Option<&[u8]>,
    krb5_conf: Option<&Path>,
) -> Result<(Initiator, Vec<u8>), GssError> {
    let principal = account.map(|(u, _)| principal_of(u));
    let creds = match (&principal, account, ccache) {
        (Some(principal), Some((_, password)), _) => GssCredentials::Password {
            principal,
            password,
        },
        (_, _, Some(path)) => GssCredentials::Cache(path),
        _ => GssCredentials::Default,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let first = Initiator::new(&format!("HTTP@{host}"), creds, krb5_conf).and_then(|mut ctx| {
        let (token, _) = ctx.step(None, binding)?;
        Ok((ctx, token))
    });
    first.map_err(|e| match account {
        Some(_) => e,
        None => GssError(format!(
            "no usable ticket in the cache (run kinit, or give --user and a password): {e}"
        )),
    })
}

/// Checks the server's final `Negotiate` token (mutual authentication):
/// a server that cannot prove it holds the service key is refused.
pub fn finish(ctx: &mut Initiator, server_token: Option<&[u8]>) -> Result<(), GssError> {
    if ctx.is_complete() {
        return Ok(());
    }
    let Some(token) = server_token else {
        return Err(GssError(
            "the server did not authenticate itself (no Negotiate token in its answer)".into(),
        ));
    };
    let (_, complete) = ctx.step(Some(token), None)?;
    if complete {
        Ok(())
    } else {
        Err(GssError("the server asked for another Kerberos leg".into()))
    }
}

/// The TLS channel binding of a server certificate.
pub fn binding_of(server_certificate: &[u8]) -> Vec<u8> {
    gss::tls_server_end_point(server_certificate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_name_principals() {
        assert_eq!(principal_of("CONTOSO\\alice"), "alice");
        assert_eq!(principal_of("alice"), "alice");
        assert_eq!(principal_of("alice@contoso.test"), "alice@CONTOSO.TEST");
    }
}
