//! The world of one run (a CA behind an in-process certsrv server, a client
//! store and registry in a temporary folder) and what every family of
//! steps shares: who signs in and how, the labels earlier steps gave their
//! files, and which certificate a step means.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use adcs_client::flow::{CaEndpoint, EnrollOptions, NewOptions};
use adcs_client::http::{Credentials, Trust};
use adcs_client::icpr::RpcTarget;
use adcs_client::inf::{Inf, RequestSpec};
use adcs_client::registry::FileRegistry;
use adcs_client::request::{Requester, OS_VERSION};
use adcs_client::scom::check::{CheckOptions, Facts};
use adcs_client::scom::Selector;
use adcs_client::store::{thumbprint, Store};
use mock_ca::web::directory::User;
use mock_ca::web::Server;
use mock_ca::Seed;

use crate::scenario::model::{
    Auth, CertSelector, EnrollArgs, InfSource, RequestRef, Scenario, SerialRef, Step, Via,
    DEFAULT_START,
};

/// The world of one run, and what earlier steps left for later ones.
pub(super) struct Runner<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) seed: u64,
    pub(super) server: Server,
    pub(super) dir: tempfile::TempDir,
    pub(super) store: Store,
    pub(super) registry: FileRegistry,
    /// Files later steps name by label.
    pub(super) files: HashMap<String, PathBuf>,
    pub(super) last_request: Option<String>,
    pub(super) last_id: Option<u32>,
    pub(super) last_cert: Option<Vec<u8>>,
    /// 1-based index of the step being run.
    pub(super) step_index: usize,
}

/// An INF read for a step: its source name (as written in the scenario),
/// the request it describes, and how many warnings reading it gave.
pub(super) struct ReadInf {
    pub(super) source: String,
    pub(super) spec: RequestSpec,
    pub(super) warnings: usize,
}

impl<'a> Runner<'a> {
    pub(super) fn new(scenario: &'a Scenario, seed: u64) -> Result<Runner<'a>, String> {
        let mut world = scenario.world.clone();
        world.seed = Some(seed);
        world.start_time = Some(world.start_time.unwrap_or(DEFAULT_START));
        world.listen = None;
        // A scenario's CA lives for the run only.
        world.state_dir = None;
        // The directory, the zone and IIS's ports only where the world has
        // them, on free ports (a run never takes 135, 389, 445, 636, 53, 80 or 443).
        world.ldap = Some(match world.ldap.take() {
            Some(l) => mock_ca::web::ldap::LdapConfig {
                port: 0,
                ldaps_port: 0,
                ..l
            },
            None => mock_ca::web::ldap::LdapConfig {
                enabled: false,
                ..Default::default()
            },
        });
        world.dns = Some(match world.dns.take() {
            Some(d) => mock_ca::web::dns::DnsConfig { port: 0, ..d },
            None => mock_ca::web::dns::DnsConfig {
                enabled: false,
                ..Default::default()
            },
        });
        // ICertPassage always, on free ports; SMB only where asked for.
        world.rpc = Some(match world.rpc.take() {
            Some(r) => mock_ca::web::rpc::RpcConfig {
                epm_port: 0,
                port: 0,
                ..r
            },
            None => mock_ca::web::rpc::RpcConfig {
                epm_port: 0,
                ..Default::default()
            },
        });
        world.smb = Some(match world.smb.take() {
            Some(s) => mock_ca::web::smb::SmbConfig { port: 0, ..s },
            None => mock_ca::web::smb::SmbConfig {
                enabled: false,
                ..Default::default()
            },
        });
        world.iis = Some(match world.iis.take() {
            Some(i) => mock_ca::web::iis::IisConfig {
                http_port: 0,
                https_port: 0,
                ..i
            },
            None => mock_ca::web::iis::IisConfig {
                enabled: false,
                ..Default::default()
            },
        });
        let (ca, opts) = mock_ca::serve::build(&world).map_err(|e| e.to_string())?;
        let server = Server::start(ca, opts).map_err(|e| format!("cannot listen: {e}"))?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let store = Store::open(&dir.path().join("store")).map_err(|e| e.to_string())?;
        let registry = FileRegistry::new(&dir.path().join("registry.reg"));
        Ok(Runner {
            scenario,
            seed,
            server,
            dir,
            store,
            registry,
            files: HashMap::new(),
            last_request: None,
            last_id: None,
            last_cert: None,
            step_index: 0,
        })
    }

    /// Takes run-specific text (the temporary folder, the port) out of a message.
    pub(super) fn scrub(&self, s: &str) -> String {
        let dir = self.dir.path().display().to_string();
        let port = self.server.addr().to_string();
        let mut out = s
            .replace(&dir, "<run>")
            .replace(&dir.replace('\\', "/"), "<run>")
            .replace(&port, "<server>");
        if let Some((plain, secure)) = self.server.ldap_addrs() {
            out = out
                .replace(&plain.to_string(), "<ldap>")
                .replace(&secure.to_string(), "<ldaps>");
        }
        out
    }

    pub(super) fn now(&self) -> i64 {
        self.server.ca().clock().now()
    }

    pub(super) fn user(&self, step: &Step) -> Result<&User, String> {
        let users = self.server.users();
        match &step.user {
            None => users
                .iter()
                .find(|u| !u.admin)
                .or(users.first())
                .ok_or_else(|| "the world has no users".into()),
            Some(name) => users
                .iter()
                .find(|u| {
                    u.name.eq_ignore_ascii_case(name)
                        || u.name
                            .rsplit('\\')
                            .next()
                            .is_some_and(|short| short.eq_ignore_ascii_case(name))
                })
                .ok_or_else(|| format!("no user `{name}` in the world")),
        }
    }

    /// The CA administrator the certificate manager's steps act as.
    pub(super) fn admin_name(&self) -> String {
        self.server
            .admin()
            .map(|u| u.name.clone())
            .unwrap_or_else(|| "CONTOSO\\Administrator".into())
    }

    pub(super) fn trust(&self) -> Trust {
        Trust::Roots(vec![self.server.ca().root_certificate()])
    }

    pub(super) fn credentials(&self, step: &Step) -> Result<Credentials, String> {
        let u = self.user(step)?;
        let user = u.name.clone();
        let password = step.password.clone().unwrap_or_else(|| u.password.clone());
        Ok(match step.auth {
            Auth::Basic => Credentials::Basic { user, password },
            Auth::Ntlm => Credentials::Ntlm {
                user,
                password,
                negotiate_label: false,
            },
            Auth::Negotiate => Credentials::Ntlm {
                user,
                password,
                negotiate_label: true,
            },
            Auth::Kerberos => {
                let Some(k) = self.server.kerberos() else {
                    return Err("the world has no Kerberos realm: add `[world.kerberos]`".into());
                };
                Credentials::Kerberos {
                    account: Some((user, password)),
                    ccache: None,
                    krb5_conf: Some(k.kdc.krb5_conf.clone()),
                }
            }
        })
    }

    pub(super) fn endpoint(&self, step: &Step) -> Result<CaEndpoint, String> {
        self.endpoint_via(step, Via::Https)
    }

    /// The pages at `via`'s address (HTTPS or IIS's plain HTTP).
    pub(super) fn endpoint_via(&self, step: &Step, via: Via) -> Result<CaEndpoint, String> {
        Ok(CaEndpoint {
            url: self.pages_url(via)?,
            trust: self.trust(),
            credentials: self.credentials(step)?,
            timeout: step.timeout,
        })
    }

    /// certsrv's URL over HTTPS, or over IIS's plain HTTP port.
    pub(super) fn pages_url(&self, via: Via) -> Result<String, String> {
        match via {
            Via::Http => {
                let (http, _) = self
                    .server
                    .iis_addrs()
                    .ok_or("`via = \"http\"`: the world serves no plain HTTP: add `[world.iis]`")?;
                Ok(format!("http://{http}/certsrv/"))
            }
            _ => Ok(self.server.certsrv_url()),
        }
    }

    /// ICertPassage as the step's user at `level`, through the endpoint
    /// mapper as Certipy and Windows find it.
    pub(super) fn rpc_target(&self, step: &Step, level: u8) -> Result<RpcTarget, String> {
        let (epm, _) = self
            .server
            .rpc_addrs()
            .ok_or("`via = \"rpc\"`: the world serves no RPC (`[world.rpc] enabled = false`)")?;
        let u = self.user(step)?;
        Ok(RpcTarget {
            host: epm.ip().to_string(),
            epm_port: epm.port(),
            port: None,
            ca_name: self.server.ca().ca_cn(),
            user: u.name.clone(),
            password: step.password.clone().unwrap_or_else(|| u.password.clone()),
            auth_level: level,
            timeout: step.timeout,
        })
    }

    pub(super) fn new_options(&self, step: &Step) -> Result<NewOptions, String> {
        Ok(NewOptions {
            seed: Some(Seed(self.seed)),
            requester: Requester {
                machine: self.scenario.fqdn.clone(),
                user: self.user(step)?.name.clone(),
                os_version: OS_VERSION.into(),
            },
            now: self.now(),
        })
    }

    pub(super) fn enroll_options(
        &self,
        step: &Step,
        args: &EnrollArgs,
    ) -> Result<EnrollOptions, String> {
        Ok(EnrollOptions {
            new: self.new_options(step)?,
            template: args.template.clone(),
            attributes: args.attributes.clone(),
            poll_interval: Duration::from_millis(20),
            wait: Duration::from_secs(args.wait),
        })
    }

    pub(super) fn check_options(&self) -> CheckOptions {
        CheckOptions::new(&self.scenario.fqdn, self.now())
    }

    /// A file a scenario names, relative to the scenario file.
    pub(super) fn scenario_file(&self, f: &Path) -> PathBuf {
        self.scenario
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join(f)
    }

    /// Reads the step's INF, inline or from its file.
    pub(super) fn read_inf(&self, inf: &InfSource) -> Result<ReadInf, String> {
        let (source, bytes) = match inf {
            InfSource::Inline(text) => (
                format!("step {} INF", self.step_index),
                text.clone().into_bytes(),
            ),
            InfSource::File(file) => {
                let bytes = std::fs::read(self.scenario_file(file))
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                (file.display().to_string().replace('\\', "/"), bytes)
            }
        };
        let parsed = Inf::parse(&source, &bytes).map_err(|e| e.to_string())?;
        let spec = RequestSpec::from_inf(&parsed).map_err(|e| e.to_string())?;
        let warnings = spec.warnings.len();
        Ok(ReadInf {
            source,
            spec,
            warnings,
        })
    }

    /// The label of what the step makes: its `name`, or `stepN`.
    pub(super) fn label(&self, step: &Step) -> String {
        step.name
            .clone()
            .unwrap_or_else(|| format!("step{}", self.step_index))
    }

    pub(super) fn file(&self, label: &str) -> Result<&PathBuf, String> {
        self.files
            .get(label)
            .ok_or_else(|| format!("no earlier step made `{label}`"))
    }

    /// Writes a file under `label`, for later steps to name.
    pub(super) fn save(&mut self, label: &str, ext: &str, bytes: &[u8]) -> Result<(), String> {
        let path = self.dir.path().join(format!("{label}.{ext}"));
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        self.files.insert(label.to_string(), path);
        Ok(())
    }

    pub(super) fn request_id(&self, id: RequestRef) -> Result<u32, String> {
        match id {
            RequestRef::Number(n) => Ok(n),
            RequestRef::Last => self
                .last_id
                .ok_or_else(|| "`last`: no earlier step gave a request ID".into()),
        }
    }

    pub(super) fn last_certificate(&self) -> Result<Vec<u8>, String> {
        self.last_cert
            .clone()
            .ok_or_else(|| "no earlier step produced a certificate".into())
    }

    /// The certificate a step means, as the client toolkit selects it.
    pub(super) fn selector(&self, selector: &CertSelector) -> Result<Selector, String> {
        Ok(match selector {
            CertSelector::Subject(s) => Selector::Subject(s.clone()),
            CertSelector::Thumbprint(t) => Selector::Thumbprint(t.clone()),
            CertSelector::Serial(s) => Selector::Serial(s.clone()),
            CertSelector::Label {
                label,
                pfx_password,
            } => {
                let path = self.file(label)?.clone();
                if path.extension().is_some_and(|e| e == "pfx") {
                    return Ok(Selector::Pfx {
                        path,
                        password: pfx_password.clone().unwrap_or_default(),
                    });
                }
                let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
                let der = adcs_client::store::read_certificates(&bytes)
                    .map_err(|e| e.to_string())?
                    .remove(0);
                Selector::Thumbprint(thumbprint(&der))
            }
            CertSelector::Latest => Selector::Thumbprint(thumbprint(&self.last_certificate()?)),
        })
    }

    /// A serial number in hex, the latest certificate's unless given.
    pub(super) fn serial(&self, serial: &SerialRef) -> Result<String, String> {
        match serial {
            SerialRef::Latest => {
                let f = Facts::of_certificate(&self.last_certificate()?, "")
                    .map_err(|e| e.to_string())?;
                Ok(adcs_proto::hex::hex(&f.serial.unwrap_or_default()))
            }
            SerialRef::Hex(s) => Ok(s.clone()),
        }
    }
}
