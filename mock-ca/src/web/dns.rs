//! The domain's DNS zone as its domain controller serves it, on UDP and
//! TCP: the DC's and the CA host's addresses and the SRV records that
//! domain-joined tools find the DC and the KDC by (`_ldap._tcp`,
//! `_ldap._tcp.dc._msdcs`, `_kerberos._tcp`, …). Certipy resolves the
//! CA's dNSHostName here (`-dc-ip` or `-ns`) before it probes web
//! enrollment. An authoritative in-memory zone in hickory-server.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, AAAA, NS, SOA, SRV};
use hickory_proto::rr::{LowerName, Name, RData, Record};
use hickory_server::authority::{Catalog, ZoneType};
use hickory_server::store::in_memory::InMemoryAuthority;
use hickory_server::ServerFuture;
use serde::Deserialize;

/// `[dns]` in serve.toml. Without the section `serve` answers for the
/// zone where port 53 can be bound (`optional`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// `false` turns the zone off (as `serve --no-dns` does).
    pub enabled: bool,
    /// Serve only if the port can be bound; otherwise go on without.
    #[serde(skip)]
    pub optional: bool,
    /// UDP and TCP; 0 picks a free one.
    pub port: u16,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            enabled: true,
            optional: false,
            port: 53,
        }
    }
}

/// How long a TCP client may sit between queries.
const TCP_IDLE: Duration = Duration::from_secs(30);
/// The records' time to live: AD's 600 s.
const TTL: u32 = 600;
/// Free UDP ports tried for port 0 before giving up (see `Listeners::bind`).
const FREE_PORT_ATTEMPTS: u32 = 20;

/// What the zone names: its domain, the hosts and where they listen.
#[derive(Clone, Debug)]
pub struct Zone {
    /// `contoso.test`
    pub domain: String,
    /// `dc01.contoso.test`
    pub dc_host: String,
    /// `ca01.contoso.test`
    pub ca_host: String,
    /// The address both answer on.
    pub ip: IpAddr,
    /// LDAP's port, when the directory is served.
    pub ldap_port: Option<u16>,
    /// The KDC's port, when the site has a realm.
    pub kdc_port: Option<u16>,
}

fn name(text: &str) -> io::Result<Name> {
    Name::from_ascii(format!("{}.", text.trim_end_matches('.'))).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("DNS name `{text}`: {e}"),
        )
    })
}

impl Zone {
    /// Every record of the zone: SOA and NS, A (or AAAA) for the domain,
    /// the DC and the CA's host, and AD's SRV records for LDAP, the
    /// global catalog and Kerberos.
    pub fn records(&self) -> io::Result<Vec<Record>> {
        let origin = name(&self.domain)?;
        let dc = name(&self.dc_host)?;
        let address = |n: Name| match self.ip {
            IpAddr::V4(v4) => Record::from_rdata(n, TTL, RData::A(A(v4))),
            IpAddr::V6(v6) => Record::from_rdata(n, TTL, RData::AAAA(AAAA(v6))),
        };
        let hostmaster = name(&format!("hostmaster.{}", self.domain))?;
        let soa = SOA::new(dc.clone(), hostmaster, 1, 900, 600, 86400, 3600);
        let mut out = vec![
            Record::from_rdata(origin.clone(), 3600, RData::SOA(soa)),
            Record::from_rdata(origin.clone(), 3600, RData::NS(NS(dc.clone()))),
            address(origin),
            address(dc.clone()),
        ];
        if !self.ca_host.eq_ignore_ascii_case(&self.dc_host) {
            out.push(address(name(&self.ca_host)?));
        }
        let d = &self.domain;
        let mut srv = |service: String, port: u16| -> io::Result<()> {
            let rdata = RData::SRV(SRV::new(0, 100, port, dc.clone()));
            out.push(Record::from_rdata(name(&service)?, TTL, rdata));
            Ok(())
        };
        if let Some(port) = self.ldap_port {
            srv(format!("_ldap._tcp.{d}"), port)?;
            srv(format!("_ldap._tcp.dc._msdcs.{d}"), port)?;
            srv(format!("_ldap._tcp.pdc._msdcs.{d}"), port)?;
            srv(
                format!("_ldap._tcp.Default-First-Site-Name._sites.{d}"),
                port,
            )?;
            srv(format!("_gc._tcp.{d}"), 3268)?;
        }
        if let Some(port) = self.kdc_port {
            srv(format!("_kerberos._tcp.{d}"), port)?;
            srv(format!("_kerberos._udp.{d}"), port)?;
            srv(format!("_kerberos._tcp.dc._msdcs.{d}"), port)?;
            srv(format!("_kpasswd._tcp.{d}"), 464)?;
        }
        Ok(out)
    }

    /// The zone as hickory-server's catalog.
    fn catalog(&self) -> io::Result<Catalog> {
        let origin = name(&self.domain)?;
        let mut authority = InMemoryAuthority::empty(origin.clone(), ZoneType::Primary, false);
        for r in self.records()? {
            authority.upsert_mut(r, 1);
        }
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&origin), vec![Arc::new(authority)]);
        Ok(catalog)
    }
}

/// The address records point at: the listen address, loopback for "any".
pub fn answer_ip(listen: IpAddr) -> IpAddr {
    if listen.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        listen
    }
}

/// The UDP socket and TCP listener, bound on one port.
pub(crate) struct Listeners {
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
}

impl Listeners {
    /// Binds both on `ip`; a port that cannot be had gets a message
    /// naming the setting to change.
    pub(crate) fn bind(ip: IpAddr, c: &DnsConfig) -> io::Result<Listeners> {
        let explain = |e: io::Error, at: SocketAddr| {
            let setting = "[dns] port or --dns-port";
            crate::web::connections::bind_error(e, "DNS", at, setting, Some("--no-dns"))
        };
        // Port 0: a free UDP port, then TCP on the same number, which
        // another socket may hold already; a few other numbers are tried.
        let attempts = if c.port == 0 { FREE_PORT_ATTEMPTS } else { 1 };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let at = SocketAddr::new(ip, c.port);
            let udp = std::net::UdpSocket::bind(at).map_err(|e| explain(e, at))?;
            let at = SocketAddr::new(ip, udp.local_addr()?.port());
            match std::net::TcpListener::bind(at) {
                Ok(tcp) => {
                    udp.set_nonblocking(true)?;
                    tcp.set_nonblocking(true)?;
                    return Ok(Listeners { udp, tcp });
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < attempts => {}
                Err(e) => return Err(explain(e, at)),
            }
        }
    }

    pub(crate) fn addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Starts answering on the current runtime, until the runtime stops.
    pub(crate) fn spawn(self, zone: &Zone) -> io::Result<()> {
        let mut server = ServerFuture::new(zone.catalog()?);
        server.register_socket(tokio::net::UdpSocket::from_std(self.udp)?);
        server.register_listener(tokio::net::TcpListener::from_std(self.tcp)?, TCP_IDLE);
        tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });
        Ok(())
    }
}
