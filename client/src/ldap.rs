//! The directory from the client's side, against the harness or a real
//! domain controller: connect over LDAP or LDAPS, bind (simple, or NTLM
//! the Sicily way ldap3 and Windows tools bind), search with paging, and
//! read AD CS as `certutil -ADCA` and `certutil -template` show it: the
//! enrollment services, and the templates with whether the signed-in
//! account may enroll in each (from their DACLs). Every wait is bounded.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use adcs_proto::ldap::{
    self, control, request, BindAuth, Done, Filter, Outcome, Response, ResultCode,
    SearchRequestScope,
};
use adcs_proto::ntlm;
use adcs_proto::sd::{extended_right, rights, Guid, SecurityDescriptor, Sid};

use crate::http::Trust;

/// Why a directory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LdapClientError {
    #[error("{0}: not an ldap:// or ldaps:// URL")]
    Url(String),
    #[error("{at}: {source}")]
    Io { at: String, source: std::io::Error },
    #[error("{at}: TLS: {why}")]
    Tls { at: String, why: String },
    #[error("{at}: {why}")]
    Protocol { at: String, why: String },
    /// The server answered with a result code other than success.
    #[error("{at}: {what} refused: {code:?} ({code_num}) {diagnostic}", code_num = *code as u8, diagnostic = diagnostic.trim_end_matches('\0'))]
    Refused {
        at: String,
        what: String,
        code: ResultCode,
        diagnostic: String,
    },
}

impl LdapClientError {
    /// A wait ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, LdapClientError::Io { source, .. }
            if matches!(source.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock))
    }

    /// The server refused the credentials (result 49).
    pub fn is_invalid_credentials(&self) -> bool {
        matches!(
            self,
            LdapClientError::Refused {
                code: ResultCode::InvalidCredentials,
                ..
            }
        )
    }
}

/// How to sign in.
#[derive(Clone, PartialEq, Eq)]
pub enum Bind {
    Anonymous,
    /// A DN, `user@domain` or `DOMAIN\user`, and its password.
    Simple {
        name: String,
        password: String,
    },
    /// `DOMAIN\user` (or `user@domain`) and its password.
    Ntlm {
        user: String,
        password: String,
    },
}

impl std::fmt::Debug for Bind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bind::Anonymous => f.write_str("Anonymous"),
            Bind::Simple { name, .. } => write!(f, "Simple({name})"),
            Bind::Ntlm { user, .. } => write!(f, "Ntlm({user})"),
        }
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One connection to a directory server.
pub struct Connection {
    at: String,
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
    next_id: u32,
    server_certificate: Option<Vec<u8>>,
}

/// The TLS handshake over `tcp` (its timeouts bound it), checked against
/// `trust` and `host`; the stream and the server's certificate.
fn handshake(
    at: &str,
    host: &str,
    trust: &Trust,
    mut tcp: TcpStream,
) -> Result<
    (
        rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
        Vec<u8>,
    ),
    LdapClientError,
> {
    let tls_err = |why: String| LdapClientError::Tls {
        at: at.to_string(),
        why,
    };
    let config = crate::http::tls_config(trust, &[]).map_err(tls_err)?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| tls_err(e.to_string()))?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| tls_err(e.to_string()))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .map_err(|e| tls_err(e.to_string()))?;
    }
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .ok_or_else(|| tls_err("the server sent no certificate".into()))?;
    Ok((rustls::StreamOwned::new(conn, tcp), cert))
}

/// One entry of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    pub attributes: Vec<ldap::Attribute>,
}

impl Entry {
    pub fn values(&self, name: &str) -> Vec<&[u8]> {
        self.attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case(name))
            .flat_map(|a| a.values.iter().map(Vec::as_slice))
            .collect()
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.values(name)
            .first()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    pub fn texts(&self, name: &str) -> Vec<String> {
        self.values(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }
}

/// The page size searches ask for (AD's MaxPageSize allows 1000).
const PAGE: u32 = 500;

impl Connection {
    /// Connects to `ldap://host[:port]` or `ldaps://host[:port]`, each
    /// wait bounded by `timeout`.
    pub fn connect(
        url: &str,
        trust: &Trust,
        timeout: Duration,
    ) -> Result<Connection, LdapClientError> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("ldaps://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("ldap://") {
            (false, r)
        } else {
            return Err(LdapClientError::Url(url.into()));
        };
        let hostport = rest.trim_end_matches('/');
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
                Ok(p) => (h.trim_matches(|c| c == '[' || c == ']'), p),
                Err(_) => return Err(LdapClientError::Url(url.into())),
            },
            _ => (hostport, if tls { 636 } else { 389 }),
        };
        let at = url.to_string();
        let io = |source| LdapClientError::Io {
            at: at.clone(),
            source,
        };
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| LdapClientError::Url(url.into()))?;
        let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
        tcp.set_read_timeout(Some(timeout)).map_err(io)?;
        tcp.set_write_timeout(Some(timeout)).map_err(io)?;
        let _ = tcp.set_nodelay(true);
        let (stream, server_certificate): (Box<dyn Stream>, _) = if tls {
            let (tls, cert) = handshake(&at, host, trust, tcp)?;
            (Box::new(tls), Some(cert))
        } else {
            (Box::new(tcp), None)
        };
        Ok(Connection {
            at,
            stream,
            buf: Vec::new(),
            next_id: 0,
            server_certificate,
        })
    }

    /// The server's TLS certificate (DER) over LDAPS, for channel bindings.
    pub fn server_certificate(&self) -> Option<&[u8]> {
        self.server_certificate.as_deref()
    }

    fn io(&self, source: std::io::Error) -> LdapClientError {
        LdapClientError::Io {
            at: self.at.clone(),
            source,
        }
    }

    fn protocol(&self, why: impl Into<String>) -> LdapClientError {
        LdapClientError::Protocol {
            at: self.at.clone(),
            why: why.into(),
        }
    }

    fn send(&mut self, message: &[u8]) -> Result<(), LdapClientError> {
        self.stream.write_all(message).map_err(|e| self.io(e))?;
        self.stream.flush().map_err(|e| self.io(e))
    }

    fn read(&mut self) -> Result<(u32, Response, Vec<control::Control>), LdapClientError> {
        loop {
            match ldap::frame_len(&self.buf, ldap::MAX_MESSAGE) {
                Ok(Some(n)) => {
                    let bytes: Vec<u8> = self.buf.drain(..n).collect();
                    return Response::decode(&bytes).map_err(|e| self.protocol(e.to_string()));
                }
                Ok(None) => {}
                Err(e) => return Err(self.protocol(e.to_string())),
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).map_err(|e| self.io(e))?;
            if n == 0 {
                return Err(self.protocol("the server closed the connection"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn refused(&self, what: &str, o: Outcome) -> LdapClientError {
        LdapClientError::Refused {
            at: self.at.clone(),
            what: what.into(),
            code: o.code,
            diagnostic: o.diagnostic,
        }
    }

    fn bind_step(
        &mut self,
        name: &str,
        auth: BindAuth,
    ) -> Result<(Outcome, Vec<u8>), LdapClientError> {
        let id = self.id();
        self.send(&request::bind(id, name, &auth))?;
        match self.read()? {
            (
                got,
                Response::Bind {
                    outcome,
                    matched_dn,
                    ..
                },
                _,
            ) if got == id => Ok((outcome, matched_dn)),
            other => Err(self.protocol(format!("expected a bind response, got {other:?}"))),
        }
    }

    /// Signs in; the server's refusal comes back with its result code and
    /// text (AD's `data 52e` for a wrong password).
    pub fn bind(&mut self, how: &Bind) -> Result<(), LdapClientError> {
        let outcome = match how {
            Bind::Anonymous => self.bind_step("", BindAuth::Simple(Vec::new()))?.0,
            Bind::Simple { name, password } => {
                self.bind_step(name, BindAuth::Simple(password.clone().into_bytes()))?
                    .0
            }
            Bind::Ntlm { user, password } => self.ntlm(user, password)?,
        };
        match outcome.code {
            ResultCode::Success => Ok(()),
            _ => Err(self.refused("bind", outcome)),
        }
    }

    /// Sicily NTLM: package discovery, NEGOTIATE, AUTHENTICATE (no signing
    /// or sealing asked for, as ldap3 binds; over LDAPS with the channel
    /// binding).
    fn ntlm(&mut self, user: &str, password: &str) -> Result<Outcome, LdapClientError> {
        let (o, packages) = self.bind_step("", BindAuth::SicilyDiscovery)?;
        if o.code != ResultCode::Success || !packages.starts_with(b"NTLM") {
            return Err(self.protocol("the server offers no NTLM bind"));
        }
        let negotiate = ntlm::client_negotiate();
        let (o, challenge) =
            self.bind_step("NTLM", BindAuth::SicilyNegotiate(negotiate.clone()))?;
        if o.code != ResultCode::Success {
            return Ok(o);
        }
        let (domain, name) = ntlm::split_account(user, "");
        let mut client_challenge = [0u8; 8];
        aws_lc_rs::rand::fill(&mut client_challenge).map_err(|_| self.protocol("no randomness"))?;
        // Over LDAPS, the channel binding AD checks (as Certipy 5 sends it).
        let opts = ntlm::ClientOptions {
            channel_binding: self
                .server_certificate
                .as_deref()
                .map(ntlm::channel_binding_hash),
            mic: true,
            client_challenge,
        };
        let auth = ntlm::client_authenticate(&negotiate, &challenge, name, domain, password, &opts)
            .map_err(|e| self.protocol(format!("NTLM CHALLENGE: {e}")))?;
        Ok(self.bind_step("", BindAuth::SicilyResponse(auth))?.0)
    }

    /// Every entry under `base` that `filter` matches, page by page.
    pub fn search(
        &mut self,
        base: &str,
        scope: SearchRequestScope,
        filter: Filter,
        attributes: &[&str],
    ) -> Result<Vec<Entry>, LdapClientError> {
        let s = ldap::search_request(base, scope, filter, attributes);
        let mut cookie = Vec::new();
        let mut out = Vec::new();
        loop {
            let id = self.id();
            let paged = control::Paged {
                size: PAGE,
                cookie: cookie.clone(),
            }
            .control(false);
            let sd = control::sd_flags_control(7, false);
            self.send(&request::search(id, &s, &[paged, sd]))?;
            let controls = loop {
                match self.read()? {
                    (_, Response::Entry { dn, attributes }, _) => {
                        out.push(Entry { dn, attributes })
                    }
                    (_, Response::Reference(_), _) => {}
                    (
                        got,
                        Response::Done {
                            kind: Done::Search,
                            outcome,
                        },
                        c,
                    ) if got == id => {
                        if outcome.code != ResultCode::Success {
                            return Err(self.refused(&format!("search under `{base}`"), outcome));
                        }
                        break c;
                    }
                    other => return Err(self.protocol(format!("unexpected {other:?}"))),
                }
            };
            cookie = control::find(&controls, control::PAGED_RESULTS)
                .and_then(|c| c.value.as_deref())
                .and_then(|v| control::Paged::parse(v).ok())
                .map(|p| p.cookie)
                .unwrap_or_default();
            if cookie.is_empty() {
                return Ok(out);
            }
        }
    }

    /// Changes the entry `dn` (`certipy template` and ldapmodify's
    /// ModifyRequest, with the SD-flags control for the DACL); a refusal
    /// comes back with the server's result code and text.
    pub fn modify(
        &mut self,
        dn: &str,
        changes: Vec<ldap::ModifyRequestChange>,
    ) -> Result<(), LdapClientError> {
        let id = self.id();
        let m = ldap::modify_request(dn, changes);
        self.send(&request::modify(
            id,
            &m,
            &[control::sd_flags_control(4, false)],
        ))?;
        match self.read()? {
            (
                got,
                Response::Done {
                    kind: Done::Modify,
                    outcome,
                },
                _,
            ) if got == id => match outcome.code {
                ResultCode::Success => Ok(()),
                _ => Err(self.refused(&format!("modify of `{dn}`"), outcome)),
            },
            other => Err(self.protocol(format!("expected a modify response, got {other:?}"))),
        }
    }

    /// The rootDSE (the naming contexts and the DC's names).
    pub fn root_dse(&mut self) -> Result<Entry, LdapClientError> {
        let found = self.search(
            "",
            SearchRequestScope::BaseObject,
            ldap::present("objectClass"),
            &[],
        )?;
        found
            .into_iter()
            .next()
            .ok_or_else(|| self.protocol("no rootDSE"))
    }

    /// Says goodbye (best effort).
    pub fn unbind(mut self) {
        let id = self.id();
        let _ = self.send(&request::unbind(id));
    }
}

/// An enterprise CA as the directory publishes it (`certutil -ADCA`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentService {
    pub name: String,
    pub dns_name: String,
    /// The CA certificate's subject, as AD keeps it.
    pub subject: String,
    pub certificate: Vec<u8>,
    /// The templates it issues.
    pub templates: Vec<String>,
}

/// A certificate template as the directory publishes it (`certutil -template`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    pub name: String,
    pub display_name: String,
    pub schema_version: u32,
    pub ekus: Vec<String>,
    pub enrollee_supplies_subject: bool,
    /// Some enrollment service issues it.
    pub published: bool,
    /// Its DACL grants the signed-in account Enroll.
    pub may_enroll: bool,
}

/// `CN=Public Key Services,CN=Services,<configurationNamingContext>`.
fn pki_base(c: &mut Connection) -> Result<String, LdapClientError> {
    let root = c.root_dse()?;
    let config = root
        .text("configurationNamingContext")
        .ok_or_else(|| c.protocol("the rootDSE names no configurationNamingContext"))?;
    Ok(format!("CN=Public Key Services,CN=Services,{config}"))
}

/// The enterprise CAs (none on a stand-alone CA's forest).
pub fn enrollment_services(c: &mut Connection) -> Result<Vec<EnrollmentService>, LdapClientError> {
    let base = format!("CN=Enrollment Services,{}", pki_base(c)?);
    let filter = ldap::equality("objectClass", b"pKIEnrollmentService");
    let attrs = [
        "cn",
        "dNSHostName",
        "cACertificateDN",
        "cACertificate",
        "certificateTemplates",
    ];
    Ok(
        c.search(&base, SearchRequestScope::SingleLevel, filter, &attrs)?
            .into_iter()
            .map(|e| EnrollmentService {
                name: e.text("cn").unwrap_or_default(),
                dns_name: e.text("dNSHostName").unwrap_or_default(),
                subject: e.text("cACertificateDN").unwrap_or_default(),
                certificate: e
                    .values("cACertificate")
                    .first()
                    .map(|v| v.to_vec())
                    .unwrap_or_default(),
                templates: e.texts("certificateTemplates"),
            })
            .collect(),
    )
}

/// The SIDs an account acts with: its own, its groups' (memberOf and the
/// primary group), Authenticated Users and Everyone.
fn account_sids(c: &mut Connection, account: &str) -> Result<Vec<Sid>, LdapClientError> {
    let root = c.root_dse()?;
    let domain = root
        .text("defaultNamingContext")
        .ok_or_else(|| c.protocol("the rootDSE names no defaultNamingContext"))?;
    let (_, short) = ntlm::split_account(account, "");
    let found = c.search(
        &domain,
        SearchRequestScope::WholeSubtree,
        ldap::equality("sAMAccountName", short.as_bytes()),
        &["objectSid", "memberOf", "primaryGroupID"],
    )?;
    let mut sids = vec![
        Sid::parse("S-1-5-11").expect("a SID"),
        Sid::parse("S-1-1-0").expect("a SID"),
    ];
    let Some(me) = found.first() else {
        return Ok(sids);
    };
    if let Some((sid, _)) = me
        .values("objectSid")
        .first()
        .and_then(|v| Sid::read(v).ok())
    {
        if let Some(rid) = me
            .text("primaryGroupID")
            .and_then(|r| r.parse::<u32>().ok())
        {
            let mut primary = sid.clone();
            primary.sub.pop();
            primary.sub.push(rid);
            sids.push(primary);
        }
        sids.push(sid);
    }
    for group in me.texts("memberOf") {
        let g = c.search(
            &group,
            SearchRequestScope::BaseObject,
            ldap::present("objectClass"),
            &["objectSid"],
        )?;
        if let Some((sid, _)) = g.first().and_then(|e| {
            e.values("objectSid")
                .first()
                .and_then(|v| Sid::read(v).ok())
        }) {
            sids.push(sid);
        }
    }
    Ok(sids)
}

/// Whether a template's descriptor grants one of `sids` Enroll: the
/// extended right, or every extended right (full control).
fn grants_enroll(descriptor: &[u8], sids: &[Sid]) -> bool {
    let enroll = Guid::parse(extended_right::ENROLL).expect("a GUID");
    let Ok(sd) = SecurityDescriptor::parse(descriptor) else {
        return false;
    };
    sd.dacl.unwrap_or_default().iter().any(|a| {
        sids.contains(&a.sid)
            && a.mask & rights::CONTROL_ACCESS != 0
            && a.object_type.is_none_or(|g| g == enroll)
    })
}

/// Every template, with whether `account` may enroll in it.
pub fn templates(c: &mut Connection, account: &str) -> Result<Vec<TemplateInfo>, LdapClientError> {
    let published: Vec<String> = enrollment_services(c)?
        .into_iter()
        .flat_map(|s| s.templates)
        .collect();
    let sids = account_sids(c, account)?;
    let base = format!("CN=Certificate Templates,{}", pki_base(c)?);
    let attrs = [
        "cn",
        "displayName",
        "msPKI-Template-Schema-Version",
        "pKIExtendedKeyUsage",
        "msPKI-Certificate-Name-Flag",
        "nTSecurityDescriptor",
    ];
    let filter = ldap::equality("objectClass", b"pKICertificateTemplate");
    let mut out: Vec<TemplateInfo> = c
        .search(&base, SearchRequestScope::SingleLevel, filter, &attrs)?
        .into_iter()
        .map(|e| {
            let name = e.text("cn").unwrap_or_default();
            let flag = e
                .text("msPKI-Certificate-Name-Flag")
                .and_then(|f| f.parse::<i64>().ok());
            TemplateInfo {
                published: published.contains(&name),
                display_name: e.text("displayName").unwrap_or_default(),
                schema_version: e
                    .text("msPKI-Template-Schema-Version")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1),
                ekus: e.texts("pKIExtendedKeyUsage"),
                enrollee_supplies_subject: flag.is_some_and(|f| f & 1 != 0),
                may_enroll: e
                    .values("nTSecurityDescriptor")
                    .first()
                    .is_some_and(|sd| grants_enroll(sd, &sids)),
                name,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
