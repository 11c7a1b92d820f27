//! The facts of SCOM's certificate handling, in one place: where
//! MOMCertImport writes, what the OpsMgr Connector logs, and the INF the
//! SCOM guide prescribes (certreq-scom.md §5, §6).

/// The key MOMCertImport writes under (note the space in `Machine Settings`).
pub const MACHINE_SETTINGS_KEY: &str =
    r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft Operations Manager\3.0\Machine Settings";
/// REG_BINARY: the certificate's serial number, least-significant byte first.
pub const SERIAL_VALUE: &str = "ChannelCertificateSerialNumber";
/// REG_SZ: the certificate's SHA-1 thumbprint.
pub const HASH_VALUE: &str = "ChannelCertificateHash";

/// What MOMCertImport says when it has written the configuration.
pub const IMPORT_SUCCESS: &str = "Successfully installed the certificate. Please check Operations Manager log in eventviewer to check channel connectivity.";
/// Test-SCOMCertificate's closing lines.
pub const VERDICT_GOOD: &str =
    "*** This certificate is properly configured and imported for System Center Operations Manager ***";
pub const VERDICT_BAD: &str =
    "*** This certificate is NOT properly configured for System Center Operations Manager ***";

/// An event the OpsMgr Connector (the agent) logs about its certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    pub id: u32,
    /// The gist of the event text.
    pub text: &'static str,
}

macro_rules! events {
    ($($name:ident = $id:literal, $text:literal;)*) => {
        $(pub const $name: Event = Event { id: $id, text: $text };)*
        /// Every event this module knows, by ID.
        pub const ALL: &[Event] = &[$($name),*];
    };
}

/// OpsMgr Connector event IDs (source "OpsMgr Connector").
pub mod event {
    use super::Event;
    events! {
        KEY_USAGE = 20049, "The certificate was not loaded: its key usage lacks Digital Signature and/or Key Encipherment.";
        ENHANCED_KEY_USAGE = 20050, "The certificate was not loaded: its enhanced key usage lacks Server Authentication (1.3.6.1.5.5.7.3.1) and/or Client Authentication (1.3.6.1.5.5.7.3.2).";
        NOT_TIME_VALID = 20051, "The certificate is not currently valid.";
        NAME_MISMATCH = 20052, "The certificate's subject name does not match the local computer name.";
        LOADED = 20053, "The OpsMgr Connector has loaded the specified authentication certificate successfully.";
        NOT_FOUND = 20066, "A certificate for mutual authentication was specified but could not be found.";
        NO_PRIVATE_KEY = 20068, "The certificate named in Machine Settings has no usable private key.";
        KEY_SPEC = 20069, "The certificate was not loaded: its KeySpec must be AT_KEYEXCHANGE.";
        NOT_TRUSTED = 20072, "The certificate chain is not trusted.";
        CANNOT_QUERY = 20077, "The certificate named in Machine Settings cannot be queried for properties (typically: no private key).";
        EXPIRING = 21020, "The mutual authentication certificate is about to expire.";
        NONE_SPECIFIED = 21022, "No certificate is specified; only Kerberos-trusted peers will work.";
    }
}

/// Server Authentication and Client Authentication, both required.
pub const REQUIRED_EKUS: [&str; 2] = [
    adcs_proto::protocol::oid::EKU_SERVER_AUTH,
    adcs_proto::protocol::oid::EKU_CLIENT_AUTH,
];
/// digitalSignature (0x80) + keyEncipherment (0x20), both required.
pub const REQUIRED_KEY_USAGE: u16 = 0xa0;
/// AT_KEYEXCHANGE.
pub const REQUIRED_KEY_SPEC: u32 = 1;
/// The guide's minimum RSA size.
pub const MIN_RSA_BITS: u32 = 2048;
/// Days before expiry from which 21020 is reported, by default.
pub const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 30;
/// The template name the SCOM guide creates.
pub const DEFAULT_TEMPLATE: &str = "OperationsManager";

/// The certreq INF the SCOM guide prescribes, for `fqdn`: RSA 2048 in the
/// SChannel CSP, AT_KEYEXCHANGE, SHA-256, machine key set, Digital
/// Signature + Key Encipherment (and the guide's 0xf0), Server and Client
/// Authentication, and the template when one is given.
pub fn scom_inf(fqdn: &str, template: Option<&str>, exportable: bool) -> String {
    let mut inf = String::new();
    inf.push_str("[Version]\r\nSignature=\"$Windows NT$\"\r\n\r\n[NewRequest]\r\n");
    inf.push_str(&format!("Subject = \"CN={fqdn}\"\r\n"));
    inf.push_str(&format!(
        "Exportable = {}  ; TRUE only when the certificate is made here for another machine\r\n",
        if exportable { "TRUE" } else { "FALSE" }
    ));
    inf.push_str(concat!(
        "HashAlgorithm = SHA256\r\n",
        "KeyAlgorithm = RSA\r\n",
        "KeyLength = 2048\r\n",
        "KeySpec = 1  ; AT_KEYEXCHANGE\r\n",
        "KeyUsage = 0xf0  ; Digital Signature, Non Repudiation, Key Encipherment, Data Encipherment\r\n",
        "MachineKeySet = TRUE\r\n",
        "ProviderName = \"Microsoft RSA SChannel Cryptographic Provider\"\r\n",
        "ProviderType = 12\r\n",
        "RequestType = PKCS10\r\n",
    ));
    if let Some(t) = template {
        inf.push_str(&format!(
            "\r\n[RequestAttributes]\r\nCertificateTemplate = \"{t}\"\r\n"
        ));
    }
    inf.push_str(concat!(
        "\r\n[EnhancedKeyUsageExtension]\r\n",
        "OID = 1.3.6.1.5.5.7.3.1  ; Server Authentication\r\n",
        "OID = 1.3.6.1.5.5.7.3.2  ; Client Authentication\r\n",
    ));
    inf
}

/// This machine's fully qualified name as well as the environment tells it:
/// `COMPUTERNAME` + `USERDNSDOMAIN` on Windows, the host name elsewhere.
pub fn machine_fqdn() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let host = crate::request::Requester::from_environment().machine;
    match var("USERDNSDOMAIN") {
        Some(d) if !host.contains('.') => format!("{host}.{d}").to_ascii_lowercase(),
        _ => host,
    }
}
