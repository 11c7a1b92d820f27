//! Protocol facts shared by the CA, the certsrv pages and the client: OIDs,
//! HRESULTs and disposition codes. One home for each fact, so the two ends
//! cannot drift apart (sources: shared/docs/certsrv-protocol.md §6,
//! certreq-scom.md §2–§3).

use std::fmt;

/// Object identifiers used by AD CS requests, certificates and CRLs.
pub mod oid {
    use der::asn1::ObjectIdentifier as Oid;

    /// PKCS#9 extensionRequest attribute.
    pub const EXTENSION_REQUEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.14");
    /// szOID_CERT_EXTENSIONS: Microsoft's older extension-request attribute.
    pub const MS_CERT_EXTENSIONS: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.1.14");
    /// szOID_ENROLLMENT_NAME_VALUE_PAIR ([RequestAttributes] pairs).
    pub const ENROLLMENT_NAME_VALUE_PAIR: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.13.2.1");
    /// szOID_ENROLLMENT_CSP_PROVIDER.
    /// PKCS#9 challengePassword (SCEP's one-time password).
    pub const CHALLENGE_PASSWORD: Oid = Oid::new_unwrap("1.2.840.113549.1.9.7");
    pub const ENROLLMENT_CSP_PROVIDER: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.13.2.2");
    /// szOID_OS_VERSION.
    pub const OS_VERSION: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.13.2.3");
    /// szOID_REQUEST_CLIENT_INFO.
    pub const REQUEST_CLIENT_INFO: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.21.20");

    /// PKCS#9 smimeCapabilities (requested with `SMIME = TRUE`).
    pub const SMIME_CAPABILITIES: Oid = Oid::new_unwrap("1.2.840.113549.1.9.15");

    /// v1 template name extension (bare BMPString).
    pub const TEMPLATE_NAME: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.20.2");
    /// v2+ template extension {OID, major, minor}.
    pub const TEMPLATE_V2: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.21.7");
    /// Application policies (mirror of the EKUs in v2 templates).
    pub const APPLICATION_POLICIES: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.21.10");
    /// CA Version (key index << 16 | certificate index).
    pub const CA_VERSION: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.21.1");
    /// Next CRL publish time, written into AD CS CRLs.
    pub const CRL_NEXT_PUBLISH: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.21.4");
    /// Root of AD CS template OIDs.
    pub const TEMPLATE_OID_ROOT: &str = "1.3.6.1.4.1.311.21.8";
    /// User principal name inside an otherName SAN.
    pub const UPN: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.20.2.3");
    /// szOID_NTDS_CA_SECURITY_EXT (MS-WCCE 2.2.2.7.7.4, KB5014754): the
    /// requester's objectSid, which an enterprise CA adds to certificates
    /// whose subject it builds from Active Directory. Its value is a
    /// GeneralNames holding one [`NTDS_OBJECTSID`] otherName.
    pub const NTDS_CA_SECURITY_EXT: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.25.2");
    /// szOID_NTDS_OBJECTSID: the otherName type inside
    /// [`NTDS_CA_SECURITY_EXT`]; its value is `[0] EXPLICIT OCTET STRING`
    /// holding the SID's text (`S-1-5-21-…`) in ASCII, not its binary form.
    pub const NTDS_OBJECTSID: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.25.2.1");

    pub const SUBJECT_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.14");
    pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
    pub const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
    pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
    pub const CRL_NUMBER: Oid = Oid::new_unwrap("2.5.29.20");
    pub const CRL_REASON: Oid = Oid::new_unwrap("2.5.29.21");
    pub const DELTA_CRL_INDICATOR: Oid = Oid::new_unwrap("2.5.29.27");
    pub const CRL_DISTRIBUTION_POINTS: Oid = Oid::new_unwrap("2.5.29.31");
    pub const AUTHORITY_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.35");
    pub const EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
    /// certificatePolicies (a template's issuance policies).
    pub const CERTIFICATE_POLICIES: Oid = Oid::new_unwrap("2.5.29.32");
    pub const FRESHEST_CRL: Oid = Oid::new_unwrap("2.5.29.46");
    pub const AUTHORITY_INFO_ACCESS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.1");
    pub const AD_CA_ISSUERS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.2");

    pub const EKU_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
    pub const EKU_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
    pub const EKU_EMAIL_PROTECTION: &str = "1.3.6.1.5.5.7.3.4";
    pub const EKU_EFS: &str = "1.3.6.1.4.1.311.10.3.4";
    pub const EKU_IPSEC_IKE_INTERMEDIATE: &str = "1.3.6.1.5.5.8.2.2";
    /// Certificate Request Agent (NDES's RA certificates).
    pub const EKU_CERTIFICATE_REQUEST_AGENT: &str = "1.3.6.1.4.1.311.20.2.1";
    /// anyExtendedKeyUsage ("Any Purpose").
    pub const EKU_ANY_PURPOSE: &str = "2.5.29.37.0";
    /// The names the Certificate Templates console gives these EKUs.
    pub const EKU_NAMES: [(&str, &str); 5] = [
        (EKU_SERVER_AUTH, "Server Authentication"),
        (EKU_CLIENT_AUTH, "Client Authentication"),
        (EKU_EMAIL_PROTECTION, "Secure Email"),
        (EKU_EFS, "Encrypting File System"),
        (EKU_IPSEC_IKE_INTERMEDIATE, "IP security IKE intermediate"),
    ];

    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
    pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const DSA: Oid = Oid::new_unwrap("1.2.840.10040.4.1");
    pub const DSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10040.4.3");
    pub const DSA_WITH_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.2");
    pub const DSA_WITH_SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.3");
    pub const DSA_WITH_SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.4");
    pub const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
    pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
    pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
    pub const SECP521R1: Oid = Oid::new_unwrap("1.3.132.0.35");

    /// PKCS#7 signedData content type (CMC and PKCS#7-wrapped requests).
    pub const PKCS7_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
    /// PKCS#7 data content type.
    pub const PKCS7_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
    /// CMC PKIData content type.
    pub const CMC_PKI_DATA: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.12.2");
}

/// Request disposition, with the CR_DISP_* numbers ICertRequest::Submit returns
/// and certsrv's error page prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// CR_DISP_ERROR: the CA failed while processing the request.
    Failed,
    /// CR_DISP_DENIED.
    Denied,
    /// CR_DISP_ISSUED.
    Issued,
    /// CR_DISP_UNDER_SUBMISSION ("Taken Under Submission").
    Pending,
    /// CR_DISP_REVOKED.
    Revoked,
}

impl Disposition {
    /// The CR_DISP_* value.
    pub fn code(self) -> u32 {
        match self {
            Disposition::Failed => 1,
            Disposition::Denied => 2,
            Disposition::Issued => 3,
            Disposition::Pending => 5,
            Disposition::Revoked => 6,
        }
    }

    /// Name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Failed => "failed",
            Disposition::Denied => "denied",
            Disposition::Issued => "issued",
            Disposition::Pending => "pending",
            Disposition::Revoked => "revoked",
        }
    }
}

impl std::str::FromStr for Disposition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "failed" | "error" => Disposition::Failed,
            "denied" => Disposition::Denied,
            "issued" => Disposition::Issued,
            "pending" => Disposition::Pending,
            "revoked" => Disposition::Revoked,
            other => return Err(format!("unknown disposition `{other}` (expected failed, denied, issued, pending or revoked)")),
        })
    }
}

/// Disposition messages the CA writes (certsrv-protocol.md §6, last table).
pub mod disposition_message {
    pub const ISSUED: &str = "Issued";
    pub const PENDING: &str = "Taken Under Submission";
    pub const DENIED_BY_POLICY: &str = "Denied by Policy Module";
    pub const ERROR_PARSING: &str = "Error Parsing Request";
    pub const REVOKED: &str = "Revoked";
}

/// How winerror.h codes are labelled in certsrv pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Facility {
    /// `(<signed decimal> <SYMBOL>)`
    Plain,
    /// `(WIN32: <n> <SYMBOL>)`
    Win32(u32),
    /// `(ASN: <n> <SYMBOL>)`
    Asn(u32),
}

/// A Windows HRESULT, as the CA stores it in a request row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct HResult(pub u32);

macro_rules! hresults {
    ($($name:ident = $code:literal, $facility:expr, $symbol:literal, $text:literal;)*) => {
        impl HResult {
            $(pub const $name: HResult = HResult($code);)*
        }
        const TABLE: &[(u32, Facility, &str, &str)] = &[$(($code, $facility, $symbol, $text)),*];
    };
}

use Facility::{Asn, Plain, Win32};
hresults! {
    S_OK = 0x0000_0000, Win32(0), "", "The operation completed successfully.";
    BAD_REQUESTSUBJECT = 0x8009_4001, Plain, "CERTSRV_E_BAD_REQUESTSUBJECT", "The request subject name is invalid or too long.";
    NO_REQUEST = 0x8009_4002, Plain, "CERTSRV_E_NO_REQUEST", "The request does not exist.";
    BAD_REQUESTSTATUS = 0x8009_4003, Plain, "CERTSRV_E_BAD_REQUESTSTATUS", "The request's current status does not allow this operation.";
    PROPERTY_EMPTY = 0x8009_4004, Plain, "CERTSRV_E_PROPERTY_EMPTY", "The requested property value is empty.";
    INVALID_CA_CERTIFICATE = 0x8009_4005, Plain, "CERTSRV_E_INVALID_CA_CERTIFICATE", "The certification authority's certificate contains invalid data.";
    ENROLL_DENIED = 0x8009_4011, Plain, "CERTSRV_E_ENROLL_DENIED", "The permissions on this certification authority do not allow the current user to enroll for certificates.";
    TEMPLATE_DENIED = 0x8009_4012, Plain, "CERTSRV_E_TEMPLATE_DENIED", "The permissions on the certificate template do not allow the current user to enroll for this type of certificate.";
    ADMIN_DENIED_REQUEST = 0x8009_4014, Plain, "CERTSRV_E_ADMIN_DENIED_REQUEST", "The request was denied by a certificate manager or CA administrator.";
    WEAK_SIGNATURE_OR_KEY = 0x8009_4016, Plain, "CERTSRV_E_WEAK_SIGNATURE_OR_KEY", "A signature algorithm or public key length does not meet the system's minimum required strength.";
    UNSUPPORTED_CERT_TYPE = 0x8009_4800, Plain, "CERTSRV_E_UNSUPPORTED_CERT_TYPE", "The requested certificate template is not supported by this CA.";
    NO_CERT_TYPE = 0x8009_4801, Plain, "CERTSRV_E_NO_CERT_TYPE", "The request contains no certificate template information.";
    TEMPLATE_CONFLICT = 0x8009_4802, Plain, "CERTSRV_E_TEMPLATE_CONFLICT", "The request contains conflicting template information.";
    SUBJECT_ALT_NAME_REQUIRED = 0x8009_4803, Plain, "CERTSRV_E_SUBJECT_ALT_NAME_REQUIRED", "The request is missing a required Subject Alternate name extension.";
    SUBJECT_UPN_REQUIRED = 0x8009_480D, Plain, "CERTSRV_E_SUBJECT_UPN_REQUIRED", "The UPN is unavailable and cannot be added to the Subject Alternate name.";
    SUBJECT_DNS_REQUIRED = 0x8009_480F, Plain, "CERTSRV_E_SUBJECT_DNS_REQUIRED", "The DNS name is unavailable and cannot be added to the Subject Alternate name.";
    KEY_LENGTH = 0x8009_4811, Plain, "CERTSRV_E_KEY_LENGTH", "The public key does not meet the minimum size required by the specified certificate template.";
    SUBJECT_EMAIL_REQUIRED = 0x8009_4812, Plain, "CERTSRV_E_SUBJECT_EMAIL_REQUIRED", "The EMail name is unavailable and cannot be added to the Subject or Subject Alternate name.";
    NTE_BAD_SIGNATURE = 0x8009_0006, Plain, "NTE_BAD_SIGNATURE", "Invalid Signature.";
    NTE_BAD_ALGID = 0x8009_0008, Plain, "NTE_BAD_ALGID", "Invalid algorithm specified.";
    NTE_BAD_KEY_STATE = 0x8009_000B, Plain, "NTE_BAD_KEY_STATE", "Key not valid for use in specified state.";
    SIGNATURE_POLICY_REQUIRED = 0x8009_4809, Plain, "CERTSRV_E_SIGNATURE_POLICY_REQUIRED", "The request is missing one or more required signature issuance policies.";
    SIGNATURE_COUNT = 0x8009_480A, Plain, "CERTSRV_E_SIGNATURE_COUNT", "The request is missing one or more required signatures.";
    SIGNATURE_REJECTED = 0x8009_480B, Plain, "CERTSRV_E_SIGNATURE_REJECTED", "One or more signatures did not include the required application or issuance policies. The request is missing one or more required valid signatures.";
    CRYPT_E_REVOKED = 0x8009_2010, Plain, "CRYPT_E_REVOKED", "The certificate is revoked.";
    CERT_E_UNTRUSTEDROOT = 0x800B_0109, Plain, "CERT_E_UNTRUSTEDROOT", "A certificate chain processed, but terminated in a root certificate which is not trusted by the trust provider.";
    CRYPT_E_NOT_FOUND = 0x8009_2004, Plain, "CRYPT_E_NOT_FOUND", "Cannot find object or property.";
    CRYPT_E_REVOCATION_OFFLINE = 0x8009_2013, Plain, "CRYPT_E_REVOCATION_OFFLINE", "The revocation function was unable to check revocation because the revocation server was offline.";
    ASN1_EOD = 0x8009_3102, Asn(258), "CRYPT_E_ASN1_EOD", "ASN1 unexpected end of data.";
    ASN1_BADTAG = 0x8009_310B, Asn(267), "CRYPT_E_ASN1_BADTAG", "ASN1 bad tag value met.";
    E_ACCESSDENIED = 0x8007_0005, Win32(5), "ERROR_ACCESS_DENIED", "Access is denied.";
    INVALID_DATA = 0x8007_000D, Win32(13), "ERROR_INVALID_DATA", "The data is invalid.";
    NOT_SUPPORTED = 0x8007_0032, Win32(50), "ERROR_NOT_SUPPORTED", "The request is not supported.";
    E_INVALIDARG = 0x8007_0057, Win32(87), "ERROR_INVALID_PARAMETER", "The parameter is incorrect.";
    DISK_FULL = 0x8007_0070, Win32(112), "ERROR_DISK_FULL", "There is not enough space on the disk.";
    CA_OFFLINE = 0x8007_06BA, Win32(1722), "RPC_S_SERVER_UNAVAILABLE", "The RPC server is unavailable.";
}

impl HResult {
    fn entry(self) -> Option<&'static (u32, Facility, &'static str, &'static str)> {
        TABLE.iter().find(|e| e.0 == self.0)
    }

    /// The winerror.h message text, or a generic text for codes not in the table.
    pub fn message(self) -> &'static str {
        self.entry().map(|e| e.3).unwrap_or("Unknown error.")
    }

    /// The symbolic name (`CERTSRV_E_KEY_LENGTH`), empty for S_OK and unknown codes.
    pub fn symbol(self) -> &'static str {
        self.entry().map(|e| e.2).unwrap_or("")
    }

    /// True for success codes.
    pub fn is_success(self) -> bool {
        self.0 & 0x8000_0000 == 0
    }

    /// The page/log form: `<text> 0x<hex> (<signed decimal> <SYMBOL>)`,
    /// `(WIN32: n SYMBOL)` or `(ASN: n SYMBOL)` as certsrv prints it.
    pub fn status_text(self) -> String {
        let (facility, symbol) = match self.entry() {
            Some(e) => (e.1, e.2),
            None => (Plain, ""),
        };
        let inner = match facility {
            Win32(0) => "WIN32: 0".to_string(),
            Win32(n) => format!("WIN32: {n} {symbol}"),
            Asn(n) => format!("ASN: {n} {symbol}"),
            Plain if symbol.is_empty() => format!("{}", self.0 as i32),
            Plain => format!("{} {symbol}", self.0 as i32),
        };
        format!("{} 0x{:x} ({inner})", self.message(), self.0)
    }
}

impl fmt::Display for HResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

/// Enterprise CAs issue by template; stand-alone CAs put every request pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaMode {
    Enterprise,
    Standalone,
}

impl std::str::FromStr for CaMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "enterprise" => Ok(CaMode::Enterprise),
            "standalone" | "stand-alone" => Ok(CaMode::Standalone),
            _ => Err(format!(
                "unknown CA mode `{s}` (expected enterprise or standalone)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_matches_certsrv_forms() {
        assert_eq!(
            HResult::TEMPLATE_DENIED.status_text(),
            "The permissions on the certificate template do not allow the current user to enroll for this type of certificate. 0x80094012 (-2146877422 CERTSRV_E_TEMPLATE_DENIED)"
        );
        assert_eq!(
            HResult::S_OK.status_text(),
            "The operation completed successfully. 0x0 (WIN32: 0)"
        );
        assert_eq!(
            HResult::ASN1_BADTAG.status_text(),
            "ASN1 bad tag value met. 0x8009310b (ASN: 267 CRYPT_E_ASN1_BADTAG)"
        );
        assert_eq!(
            HResult::E_INVALIDARG.status_text(),
            "The parameter is incorrect. 0x80070057 (WIN32: 87 ERROR_INVALID_PARAMETER)"
        );
        assert_eq!(
            HResult::NTE_BAD_KEY_STATE.status_text(),
            "Key not valid for use in specified state. 0x8009000b (-2146893813 NTE_BAD_KEY_STATE)"
        );
        assert_eq!(HResult::PROPERTY_EMPTY.0 as i32, -2146877436);
    }

    #[test]
    fn unknown_codes_still_format() {
        assert_eq!(
            HResult(0x8009_4999).status_text(),
            "Unknown error. 0x80094999 (-2146874983)"
        );
        assert!(!HResult(0x8009_4999).is_success());
    }
}

/// Web-enrollment paths (certsrv-protocol.md §2.1). Page names are relative
/// to [`endpoint::CERTSRV`].
pub mod endpoint {
    pub const CERTSRV: &str = "/certsrv/";
    pub const SUBMIT: &str = "certfnsh.asp";
    pub const CERT: &str = "certnew.cer";
    pub const CHAIN: &str = "certnew.p7b";
    pub const CRL: &str = "certcrl.crl";
    pub const CA_CERTS: &str = "certcarc.asp";
    pub const TEMPLATES: &str = "certrqxt.asp";
    pub const CHECK_PENDING: &str = "certckpn.asp";
    pub const REMOVE_PENDING: &str = "certrmpn.asp";
    /// "Request a Certificate" (browser navigation).
    pub const REQUEST_TASKS: &str = "certrqus.asp";
    /// "Advanced Certificate Request": the two advanced paths (browser navigation).
    pub const ADVANCED_TASKS: &str = "certrqad.asp";
    /// Where CA certificates and CRLs are published (the CDP/AIA URLs).
    pub const CERT_ENROLL: &str = "/CertEnroll/";
    /// The harness's own administration API (not part of AD CS).
    pub const CONTROL: &str = "/control/";
    /// `Mode` values of certfnsh.asp.
    pub const MODE_NEW: &str = "newreq";
    pub const MODE_CHECK_PENDING: &str = "chkpnd";
    /// `ReqID` value that names the CA certificate.
    pub const REQID_CA_CERT: &str = "CACert";
    /// The browser cookie that remembers pending requests (§2.6).
    pub const REQUESTS_COOKIE: &str = "Requests";
    /// "Create and submit a request to this CA". Real AD CS has the browser
    /// make the key here (ActiveX); browsers no longer can, so the harness
    /// makes it and answers with a PFX (form fields: [`super::portal`]).
    pub const CREATE_REQUEST: &str = "certrqma.asp";
    /// The PFX of a request made through [`CREATE_REQUEST`], once issued
    /// (`?ReqID=N`; harness only).
    pub const PFX: &str = "certnew.pfx";
}

/// Form fields of [`endpoint::CREATE_REQUEST`] (harness only).
pub mod portal {
    /// Template name (enterprise CA).
    pub const TEMPLATE: &str = "CertificateTemplate";
    /// The whole subject as a DN; otherwise built from the identifying fields.
    pub const SUBJECT: &str = "Subject";
    /// Identifying information, as the form asks for it: field (the DN
    /// attribute, in subject order) and label.
    pub const NAME_FIELDS: [(&str, &str); 7] = [
        ("CN", "Name:"),
        ("E", "E-Mail:"),
        ("OU", "Department:"),
        ("O", "Company:"),
        ("L", "City:"),
        ("S", "State:"),
        ("C", "Country/Region:"),
    ];
    pub const FRIENDLY_NAME: &str = "FriendlyName";
    /// "Mark keys as exportable": accepted as the form has it; the key
    /// leaves the CA in the PFX either way.
    pub const EXPORTABLE: &str = "Exportable";
    /// Protects the PFX; required.
    pub const PASSWORD: &str = "PfxPassword";
    /// RSA modulus size: 2048 (default), 3072 or 4096.
    pub const KEY_SIZE: &str = "KeySize";
    /// `exchange`, `signature` or `both` (default), as the form offers them.
    pub const KEY_USAGE: &str = "KeyUsage";
    /// Comma-separated EKU OIDs (the stand-alone form's "Other…" purpose).
    pub const EKU: &str = "ExtendedKeyUsage";
    /// Extra request attributes, as certfnsh.asp takes them.
    pub const ATTRIBUTES: &str = "CertAttrib";
    /// "Type of Certificate Needed" on a stand-alone CA: label and EKU OIDs
    /// (the form copies the OIDs into [`EKU`]; "Other..." lets one type them).
    pub const PURPOSES: [(&str, &str); 4] = [
        (
            "Client Authentication Certificate",
            super::oid::EKU_CLIENT_AUTH,
        ),
        (
            "E-Mail Protection Certificate",
            super::oid::EKU_EMAIL_PROTECTION,
        ),
        (
            "Server Authentication Certificate",
            super::oid::EKU_SERVER_AUTH,
        ),
        ("IPSec Certificate", super::oid::EKU_IPSEC_IKE_INTERMEDIATE),
    ];
}

/// Content types clients compare exactly (§2.3, §2.4).
pub mod content_type {
    pub const CERT: &str = "application/pkix-cert";
    pub const PKCS7: &str = "application/x-pkcs7-certificates";
    pub const CRL: &str = "application/pkix-crl";
    pub const HTML: &str = "text/html";
    pub const JSON: &str = "application/json";
    pub const PKCS12: &str = "application/x-pkcs12";
}

/// Text fragments real clients match on certsrv pages (§3). The pages are
/// built from these and the client parses with them.
pub mod marker {
    pub const PAGE_TITLE: &str = "Microsoft Active Directory Certificate Services";
    pub const ISSUED_TITLE: &str = "Certificate Issued";
    pub const ISSUED_TEXT: &str = "The certificate you requested was issued to you.";
    pub const PENDING_TITLE: &str = "Certificate Pending";
    pub const PENDING_RECEIVED: &str = "Your certificate request has been received.";
    pub const PENDING_WAIT: &str =
        "However, you must wait for an administrator to issue the certificate you requested.";
    pub const STILL_PENDING: &str = "Your certificate request is still pending.";
    pub const STILL_PENDING_WAIT: &str =
        "You must wait for an administrator to issue the certificate you requested.";
    pub const DENIED_TITLE: &str = "Certificate Request Denied";
    pub const DENIED_TEXT: &str = "Your certificate request was denied.";
    pub const REVOKED_TEXT: &str = "Your certificate was issued, and then revoked.";
    /// Followed by the request ID and a period.
    pub const REQUEST_ID: &str = "Your Request Id is ";
    /// Followed by the message and `".`.
    pub const DISPOSITION_MESSAGE: &str = "The disposition message is \"";
    pub const ERROR_TITLE: &str = "Error";
    pub const N_RENEWALS: &str = "var nRenewals=";
    pub const NO_FORM: &str = "You did not come to this page as a result of a form submission.";
    pub const NO_TEMPLATES: &str = "(No templates found!)";
    pub const UNAUTHORIZED: &str =
        "401 - Unauthorized: Access is denied due to invalid credentials.";
    /// Error page labels (§3.6); each value follows on the next line after two TABs.
    pub const LABEL_DISPOSITION_MESSAGE: &str = "Disposition message:";
    pub const LABEL_LAST_STATUS: &str = "LastStatus:";
}
