//! SMB on TCP 445, as far as named pipes go: the CA's `\pipe\cert`
//! (ICertPassage, what `certipy req` tries first), `\pipe\winreg` (the
//! CA's registry, where Certipy reads the CA's flags and security),
//! `\pipe\srvsvc` (the share list) and `\pipe\svcctl` (the remote
//! registry service's state, which `reg.py` asks first). The listener,
//! one [`Connection`] per client with NTLM against the directory, and the
//! pipes' answers (`pipes`); the protocol itself is `adcs_proto::smb`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::directory::Identity;
use super::journal::JournalEntry;
use super::rpc::DirectoryAcceptor;
use super::Shared;
use adcs_proto::gss::{AcceptContext, Accepted};
use adcs_proto::rpc::assoc::Acceptor;
use adcs_proto::smb::server::{Answer, Authenticator, Config, Connection, KerberosStep, Received};
use adcs_proto::smb::{self, command, status, MAX_MESSAGE};

mod pipes;
mod services;
mod winreg;

/// `[smb]` in serve.toml. Without the section `serve` runs SMB where the
/// port can be bound (`optional`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmbConfig {
    /// `false` turns SMB off (as `serve --no-smb` does).
    pub enabled: bool,
    /// Serve only if the port can be bound; otherwise go on without (and
    /// say why). Not a file setting: `serve`'s default.
    #[serde(skip)]
    pub optional: bool,
    /// The port: 445, where every client looks; 0 picks a free one.
    pub port: u16,
}

impl Default for SmbConfig {
    fn default() -> Self {
        SmbConfig {
            enabled: true,
            optional: false,
            port: 445,
        }
    }
}

/// What the pipes need of the server's other settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PipeSettings {
    /// IF_ENFORCEENCRYPTICERTREQUEST, as the RPC interface has it.
    pub enforce_encryption: bool,
}

/// How long a connection may sit between messages (Windows drops idle
/// sessions after 15 minutes).
const IDLE: Duration = Duration::from_secs(900);
/// How long the rest of a message may take once it has begun.
const MESSAGE: Duration = Duration::from_secs(60);
/// The pipes served on `IPC$`.
const PIPES: [&str; 4] = ["cert", "winreg", "srvsvc", "svcctl"];

/// The listener, bound before the server starts.
pub(crate) struct Listener(std::net::TcpListener);

impl Listener {
    pub(crate) fn bind(ip: std::net::IpAddr, c: &SmbConfig) -> io::Result<Listener> {
        let at = SocketAddr::new(ip, c.port);
        let l = std::net::TcpListener::bind(at).map_err(|e| {
            let setting = "[smb] port or --smb-port";
            super::connections::bind_error(e, "SMB", at, setting, Some("--no-smb"))
        })?;
        l.set_nonblocking(true)?;
        Ok(Listener(l))
    }

    pub(crate) fn addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    /// Starts the accept loop on the current runtime.
    pub(crate) fn spawn(self, shared: Arc<Shared>, settings: PipeSettings) -> io::Result<()> {
        let listener = TcpListener::from_std(self.0)?;
        tokio::spawn(accept(listener, shared, settings));
        Ok(())
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, settings: PipeSettings) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(connection(stream, shared.clone(), settings));
    }
}

/// Reads one message, bounded in size and time; `None` at a clean end or
/// when the client stays silent past [`IDLE`].
async fn read_message(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 4];
    match tokio::time::timeout(IDLE, stream.read_exact(&mut head)).await {
        Err(_) => return Ok(None),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Ok(r) => r?,
    };
    let len = match smb::frame_len(&head) {
        Some(n) if n > 4 && n - 4 <= MAX_MESSAGE => n - 4,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an SMB frame, or one larger than this server takes",
            ))
        }
    };
    let mut msg = vec![0u8; len];
    tokio::time::timeout(MESSAGE, stream.read_exact(&mut msg))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    Ok(Some(msg))
}

/// The server's GUID, the same on every connection of one CA.
fn server_guid(shared: &Shared) -> [u8; 16] {
    let d = shared.ca.seed().derive("smb/server-guid");
    d[..16].try_into().expect("a 32-byte derivation")
}

/// Signs SMB clients in: NTLM against the directory and, where the site
/// has a realm, Kerberos through MIT (tickets for `cifs/<host>`).
struct SmbAuth {
    ntlm: DirectoryAcceptor,
    shared: Arc<Shared>,
    /// Kerberos contexts in progress, by session.
    contexts: HashMap<u64, AcceptContext>,
    /// How the last sign-in was made, for the journal.
    method: &'static str,
}

impl Authenticator for SmbAuth {
    fn ntlm(&mut self) -> &mut dyn Acceptor {
        &mut self.ntlm
    }

    fn kerberos(&mut self, session: u64, token: &[u8]) -> Option<Result<KerberosStep, String>> {
        let k = self.shared.auth.kerberos.as_ref()?;
        let ctx = match self.contexts.entry(session) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => match k.acceptor.start() {
                Ok(c) => e.insert(c),
                Err(err) => return Some(Err(err.to_string())),
            },
        };
        let step = match ctx.step(token, None) {
            Ok(Accepted::Continue(reply)) => return Some(Ok(KerberosStep::Continue(reply))),
            Ok(Accepted::Done {
                principal, reply, ..
            }) => ctx.session_key().map(|key| (principal, reply, key)),
            Err(e) => Err(e),
        };
        self.contexts.remove(&session);
        let (principal, reply, session_key) = match step {
            Ok(done) => done,
            Err(e) => return Some(Err(e.to_string())),
        };
        let identity =
            match super::auth::kerberos_identity(&self.shared.directory, &principal, &k.realm) {
                Ok(i) => i,
                Err(why) => return Some(Err(why)),
            };
        let account = identity.account.clone();
        self.ntlm.identity = Some(identity);
        self.method = "kerberos";
        Some(Ok(KerberosStep::Done {
            account,
            session_key,
            reply,
        }))
    }
}

/// One client connection: messages in, answers out, until either side
/// ends it. Malformed input closes this connection only.
async fn connection(mut stream: TcpStream, shared: Arc<Shared>, settings: PipeSettings) {
    let _ = stream.set_nodelay(true);
    let mut conn = Connection::new(Config {
        server_guid: server_guid(&shared),
        pipes: PIPES.iter().map(|p| p.to_string()).collect(),
        now_filetime: adcs_proto::ntlm::filetime(shared.ca.clock().now()),
    });
    let mut acceptor = SmbAuth {
        ntlm: DirectoryAcceptor::new(shared.clone()),
        shared: shared.clone(),
        contexts: HashMap::new(),
        method: "ntlm",
    };
    let mut people: HashMap<String, Identity> = HashMap::new();
    let mut pipes = pipes::Pipes::default();
    while let Ok(Some(msg)) = read_message(&mut stream).await {
        let received = match conn.receive(&msg, &mut acceptor) {
            Ok(r) => r,
            Err(e) => {
                let why = e.to_string();
                journal(
                    &shared,
                    "malformed",
                    None,
                    "",
                    status::INVALID_PARAMETER,
                    why,
                );
                break;
            }
        };
        if injected(&shared, &received).await {
            break;
        }
        let method = std::mem::replace(&mut acceptor.method, "ntlm");
        if let Some(who) = acceptor.ntlm.identity.take() {
            people.insert(who.account.clone(), who);
        }
        let received = answer(&shared, received, &mut pipes, &people, settings, method).await;
        let reply = conn.reply(received);
        if reply.is_empty() {
            continue;
        }
        if stream.write_all(&smb::frame(&reply)).await.is_err() {
            break;
        }
    }
}

/// The fault rules on this message's commands (`smb/create`, `smb/*`):
/// their delays waited out; `true` when one resets the connection.
async fn injected(shared: &Shared, received: &Received) -> bool {
    let mut reset = false;
    for c in &received.commands {
        let endpoint = format!(
            "smb/{}",
            command::name(c.header.command).to_ascii_lowercase()
        );
        for (rule, n) in shared.faults.hits(&endpoint, "SMB", &shared.ca.seed()) {
            if let Some(ms) = rule.delay_ms {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if rule.reset {
                reset = true;
                let why = format!("{} ({endpoint} {n})", rule.describe());
                journal(shared, &endpoint, None, "", 0, why);
            }
        }
    }
    reset
}

/// Answers the pipe calls, closes what the message closed, and journals
/// sign-ins and refusals.
async fn answer(
    shared: &Arc<Shared>,
    mut received: Received,
    pipes: &mut pipes::Pipes,
    people: &HashMap<String, Identity>,
    settings: PipeSettings,
    method: &str,
) -> Received {
    for file in &received.closed {
        pipes.close(file);
    }
    for c in &mut received.commands {
        let cmd = command::name(c.header.command);
        if let Answer::Pipe(call) = &c.answer {
            let who = people.get(&call.account);
            let result = pipes.call(shared, call, who, settings).await;
            c.answer = Answer::Done(call.answer(result));
        } else if let (Some(why), Answer::Done(o)) = (&c.why, &c.answer) {
            journal(shared, cmd, None, method, o.status, why.clone());
        } else if c.header.command == command::SESSION_SETUP {
            if let Answer::Done(o) = &c.answer {
                if o.status == status::SUCCESS {
                    let who = received.signed_in.first().cloned();
                    journal(shared, cmd, who, method, o.status, "signed in".into());
                }
            }
        }
    }
    received
}

/// One journal entry for a call on a pipe (`winreg.BaseRegQueryValue`).
pub(super) fn journal_call(shared: &Shared, path: String, who: Option<&Identity>, detail: String) {
    shared.journal.record(JournalEntry {
        seq: 0,
        time: shared.ca.clock().now(),
        method: "SMB".into(),
        path,
        user: who.map(|w| w.account.clone()),
        auth: None,
        status: 200,
        request_id: None,
        disposition: None,
        detail: Some(detail),
        fault: None,
    });
}

/// One journal entry: an SMB command, its account, how it signed in and
/// the NTSTATUS.
fn journal(
    shared: &Shared,
    command: &str,
    user: Option<String>,
    auth: &str,
    status: u32,
    detail: String,
) {
    shared.journal.record(JournalEntry {
        seq: 0,
        time: shared.ca.clock().now(),
        method: "SMB".into(),
        path: command.into(),
        user,
        auth: (!auth.is_empty()).then(|| auth.to_string()),
        status: match status {
            status::SUCCESS => 200,
            status::LOGON_FAILURE => 401,
            status::ACCESS_DENIED => 403,
            status::OBJECT_NAME_NOT_FOUND | status::BAD_NETWORK_NAME => 404,
            _ => 400,
        },
        request_id: None,
        disposition: None,
        detail: Some(format!("0x{status:08x}: {detail}")),
        fault: None,
    });
}

/// The service principals SMB clients ask tickets for: `cifs/` and the
/// CA host's names (impacket and Windows name the server they dial).
pub(super) fn principals(host_name: &str, listen: SocketAddr) -> Vec<String> {
    super::service_hosts(host_name, listen)
        .into_iter()
        .map(|h| format!("cifs/{h}"))
        .collect()
}

/// Binds and starts SMB, as `opts.smb` asks: a port that cannot be had
/// is an error, or (serve's default) a reason.
pub(super) fn start(
    runtime: &tokio::runtime::Runtime,
    shared: &Arc<Shared>,
    opts: &super::WebOptions,
) -> io::Result<(Option<SocketAddr>, Option<String>)> {
    let Some(c) = opts.smb.as_ref().filter(|c| c.enabled) else {
        return Ok((None, None));
    };
    let listener = match Listener::bind(opts.listen.ip(), c) {
        Ok(l) => l,
        Err(e) if c.optional => return Ok((None, Some(e.to_string()))),
        Err(e) => return Err(e),
    };
    let addr = listener.addr()?;
    let settings = PipeSettings {
        enforce_encryption: opts.rpc.as_ref().is_none_or(|r| r.enforce_encryption),
    };
    let _guard = runtime.enter();
    listener.spawn(shared.clone(), settings)?;
    Ok((Some(addr), None))
}
