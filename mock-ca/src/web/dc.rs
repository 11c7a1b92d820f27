//! The domain controller's services beside the pages, started with the
//! server: the directory (LDAP and LDAPS with the DC's own certificate)
//! and the domain's DNS zone, each where its ports can be had (or
//! insisted on), and the service principals its Kerberos clients ask for.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use super::{dns, ldap, service_hosts, Shared, WebOptions};

/// The domain controller's service principals LDAP clients ask tickets
/// for: `ldap/` (ldapsearch, certihound), `host/` (Certipy 4) and `HOST/`
/// (Certipy 5) for its DNS name, and `ldap/` for the names a client on
/// this machine reaches it by.
pub(super) fn ldap_principals(n: &crate::forest::Naming, listen: SocketAddr) -> Vec<String> {
    let dc = n.dc_host.to_ascii_lowercase();
    let mut out = vec![
        format!("ldap/{dc}"),
        format!("host/{dc}"),
        format!("HOST/{dc}"),
        format!("ldap/{dc}/{}", n.dns_domain),
    ];
    for host in service_hosts(&dc, listen).into_iter().skip(1) {
        out.push(format!("ldap/{host}"));
    }
    out
}

type LdapStarted = (Option<(SocketAddr, SocketAddr)>, Option<String>);

/// The domain controller's TLS identity for LDAPS and StartTLS: a seeded
/// key and its DomainController certificate from the CA (chain, PKCS#8),
/// naming the DC, the domain and the names a client here reaches it by.
fn dc_identity(shared: &Shared, listen: SocketAddr) -> io::Result<(Vec<Vec<u8>>, Vec<u8>)> {
    let naming = shared
        .ldap
        .as_ref()
        .ok_or_else(|| io::Error::other("no forest"))?;
    let key = crate::keys::SigningKey::generate(
        crate::KeyAlgorithm::Rsa2048,
        &shared.ca.seed(),
        "ldap/dc",
    )
    .map_err(io::Error::other)?;
    let mut names = service_hosts(&naming.dc_host, listen);
    names.insert(1, naming.dns_domain.clone());
    names.dedup();
    let chain = shared
        .ca
        .domain_controller_certificate(&key, &naming.dc_host, &names)
        .map_err(io::Error::other)?;
    Ok((chain, key.pkcs8_der().to_vec()))
}

/// Binds and starts the directory's listeners, as `opts.ldap` asks: a
/// port that cannot be had is an error, or (serve's default) a reason.
pub(super) fn start_ldap(
    runtime: &tokio::runtime::Runtime,
    shared: &Arc<Shared>,
    opts: &WebOptions,
) -> io::Result<LdapStarted> {
    let Some(c) = opts.ldap.as_ref().filter(|c| c.enabled) else {
        return Ok((None, None));
    };
    let listeners = match ldap::Listeners::bind(opts.listen.ip(), c) {
        Ok(l) => l,
        Err(e) if c.optional => return Ok((None, Some(e.to_string()))),
        Err(e) => return Err(e),
    };
    let addrs = listeners.addrs()?;
    let identity = dc_identity(shared, opts.listen)?;
    let _guard = runtime.enter();
    let policies = ldap::Policies {
        require_signing: c.signing == ldap::Signing::Require,
        channel_binding: c.channel_binding,
    };
    listeners.spawn(shared.clone(), identity, policies)?;
    Ok((Some(addrs), None))
}

/// Binds and starts the domain's DNS zone, as `opts.dns` asks, naming the
/// DC (and its LDAP port, when served), the CA's host and the KDC.
pub(super) fn start_dns(
    runtime: &tokio::runtime::Runtime,
    shared: &Arc<Shared>,
    opts: &WebOptions,
    ldap_port: Option<u16>,
) -> io::Result<(Option<SocketAddr>, Option<String>)> {
    let Some(c) = opts.dns.as_ref().filter(|c| c.enabled) else {
        return Ok((None, None));
    };
    let listeners = match dns::Listeners::bind(opts.listen.ip(), c) {
        Ok(l) => l,
        Err(e) if c.optional => return Ok((None, Some(e.to_string()))),
        Err(e) => return Err(e),
    };
    let config = shared.ca.config();
    let dc_host = shared.ldap.as_ref().map_or_else(
        || crate::forest::Naming::new(&config, &shared.ca.seed(), None).dc_host,
        |n| n.dc_host.clone(),
    );
    let zone = dns::Zone {
        domain: config.dns_domain.clone(),
        dc_host,
        ca_host: config.host_name.clone(),
        ip: dns::answer_ip(opts.listen.ip()),
        ldap_port,
        kdc_port: shared.kerberos.as_ref().map(|k| k.kdc.addr.port()),
    };
    let addr = listeners.addr()?;
    let _guard = runtime.enter();
    listeners.spawn(&zone)?;
    Ok((Some(addr), None))
}
