//! Kerberos for the site, as a domain gives it to IIS: the realm's KDC
//! with a principal per directory user and the site's `HTTP/<name>`
//! service principals (see [`crate::kdc`]), and the acceptor that checks
//! the tickets clients send under `Negotiate` with the site's keytab.

use std::path::PathBuf;

use adcs_proto::gss::Acceptor;
use serde::Deserialize;

use crate::kdc::{Kdc, KdcOptions};

/// `[kerberos]` in serve.toml (and a scenario world). Every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KerberosConfig {
    /// The realm; the CA's DNS domain in capitals when absent (`CONTOSO.TEST`).
    pub realm: Option<String>,
    /// The KDC's port; 88 when it may be bound, else a free one.
    pub kdc_port: Option<u16>,
    /// Where the realm's files live; a temporary folder removed when the
    /// server stops when absent (`serve` uses `<state_dir>/kerberos`).
    pub dir: Option<PathBuf>,
    /// The realm's "maximum tolerance for computer clock synchronization"
    /// (AD's Kerberos policy; 300 s by default): how far ticket times may
    /// be off, and how far the harness's clock may be moved before the
    /// site refuses tickets as skewed.
    pub max_skew_seconds: Option<u32>,
    /// Where the temporary folder goes when `dir` is absent: `serve` puts
    /// it beside the ready file, so that a container's volume shows the
    /// krb5.conf to clients outside. Not a file setting.
    #[serde(skip)]
    pub temp_in: Option<PathBuf>,
}

/// AD's default Kerberos clock skew, seconds.
pub const DEFAULT_MAX_SKEW_SECONDS: u32 = 300;

/// A running realm and the site's acceptor.
#[derive(Debug)]
pub struct Kerberos {
    pub kdc: Kdc,
    pub acceptor: Acceptor,
    /// The user principals, `alice@CONTOSO.TEST`.
    pub user_principals: Vec<String>,
    pub max_skew_seconds: u32,
    /// Keeps the temporary folder until the KDC is gone (field order).
    _temp: Option<tempfile::TempDir>,
}

impl Kerberos {
    /// Starts the KDC for `users` (short name, password) and the site's
    /// `hosts`; every failure is a sentence saying what to install or
    /// change.
    pub fn start(
        config: &KerberosConfig,
        listen: std::net::IpAddr,
        dns_domain: &str,
        users: &[(String, String)],
        hosts: &[String],
        principals: &[String],
    ) -> Result<Kerberos, String> {
        adcs_proto::gss::available().map_err(|e| format!("Kerberos: {e}"))?;
        let max_skew = config.max_skew_seconds.unwrap_or(DEFAULT_MAX_SKEW_SECONDS);
        let realm = config
            .realm
            .clone()
            .unwrap_or_else(|| dns_domain.to_ascii_uppercase());
        let (dir, temp) = match &config.dir {
            Some(d) => (d.clone(), None),
            None => {
                let mut b = tempfile::Builder::new();
                b.prefix("adcs-kerberos-");
                let t = match &config.temp_in {
                    Some(parent) => b.tempdir_in(parent),
                    None => b.tempdir(),
                }
                .map_err(|e| format!("Kerberos: a temporary folder: {e}"))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let opts = KdcOptions {
            realm: realm.clone(),
            dir,
            port: config.kdc_port,
            listen,
            clockskew: max_skew,
            users: users.to_vec(),
            service_hosts: hosts.to_vec(),
            principals: principals.to_vec(),
        };
        let kdc = Kdc::start(&opts).map_err(|e| format!("Kerberos: {e}"))?;
        let acceptor =
            Acceptor::new(&kdc.keytab, &kdc.krb5_conf).map_err(|e| format!("Kerberos: {e}"))?;
        Ok(Kerberos {
            user_principals: opts
                .users
                .iter()
                .map(|(u, _)| format!("{u}@{realm}"))
                .collect(),
            kdc,
            acceptor,
            max_skew_seconds: max_skew,
            _temp: temp,
        })
    }
}
