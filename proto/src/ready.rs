//! The ready file: what `serve --ready-file` writes and what tests and the
//! control client read back.

/// What `serve --ready-file` writes once the server accepts connections:
/// everything a test needs to reach it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadyInfo {
    pub certsrv_url: String,
    pub control_url: String,
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub mode: crate::protocol::CaMode,
    pub ca_name: String,
    /// PEM file of the current CA certificate.
    pub ca_cert: String,
    /// PEM file of the root (the HTTPS trust anchor).
    pub root_cert: String,
    pub admin: ReadyAccount,
    pub users: Vec<ReadyAccount>,
    pub seed: u64,
    pub pid: u32,
    /// NDES's SCEP URL (`…/certsrv/mscep/mscep.dll`), when it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ndes_url: Option<String>,
    /// NDES's challenge-password page, when it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ndes_admin_url: Option<String>,
    /// The site's Kerberos realm, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kerberos: Option<ReadyKerberos>,
    /// ICertPassage over DCE/RPC, when served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc: Option<ReadyRpc>,
    /// The domain controller's LDAP and LDAPS, when served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap: Option<ReadyLdap>,
    /// The domain's DNS zone (UDP and TCP), `127.0.0.1:53`, when served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<String>,
    /// SMB with the CA's named pipes (`\pipe\cert`, `\pipe\winreg`),
    /// `127.0.0.1:445`, when served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smb: Option<String>,
    /// The pages on IIS's ports: `http://127.0.0.1:80/certsrv/` and
    /// `https://127.0.0.1:443/certsrv/`, when served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iis: Option<ReadyIis>,
    /// The misconfigurations `--vulnerable` set, for a scanner to find.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vulnerable: Vec<ReadyFinding>,
}

/// The certsrv URLs on IIS's ports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadyIis {
    pub http_url: String,
    pub https_url: String,
}

/// A misconfiguration of the lab: where it is and who can use it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadyFinding {
    /// `ESC1`, as Certipy prints it.
    pub esc: String,
    /// The template's name, or `CA` for a setting of the CA.
    pub target: String,
    /// Who can exploit it (`Domain Users`: every default account).
    pub who: String,
    /// What was set, in a line.
    pub what: String,
}

/// Where the directory listens and what its names are.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadyLdap {
    /// `ldap://127.0.0.1:389`
    pub url: String,
    /// `ldaps://127.0.0.1:636`
    pub ldaps_url: String,
    /// `DC=contoso,DC=test`
    pub domain_dn: String,
    /// `CN=Configuration,DC=contoso,DC=test`
    pub configuration_dn: String,
    /// The domain controller's DNS name, `dc01.contoso.test`.
    pub dc_name: String,
}

/// Where the RPC interface listens.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadyRpc {
    /// The endpoint mapper, `127.0.0.1:135`.
    pub epm: String,
    /// ICertPassage's TCP port (what `ept_map` answers).
    pub port: u16,
}

/// What a Kerberos client needs: `KRB5_CONFIG=<krb5_conf> kinit <user>`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadyKerberos {
    /// `CONTOSO.TEST`.
    pub realm: String,
    /// The KDC, `127.0.0.1:88`.
    pub kdc: String,
    /// A krb5.conf naming the KDC, for `KRB5_CONFIG`.
    pub krb5_conf: String,
    /// `HTTP/<host name>@REALM`; the keytab also has `HTTP/localhost` and
    /// `HTTP/127.0.0.1`.
    pub service_principal: String,
    /// Every user's principal, `alice@CONTOSO.TEST`.
    pub users: Vec<String>,
}

/// An account in the ready file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadyAccount {
    pub user: String,
    pub password: String,
}
