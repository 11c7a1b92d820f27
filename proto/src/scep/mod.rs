//! SCEP (RFC 8894) as NDES speaks it: the operations and content types of
//! `mscep.dll`, the capability list, the PKIMessage attributes, and the CMS
//! around them ([`message`]: SignedData; [`envelope`]: EnvelopedData).
//! Both the NDES front end and the client build and read messages here.

pub mod envelope;
pub mod message;

pub use envelope::Cipher;
pub use message::{Digest, Outgoing, PkiMessage};

use der::asn1::ObjectIdentifier as Oid;

/// The `operation=` values of `pkiclient.exe`.
pub mod operation {
    pub const GET_CA_CAPS: &str = "GetCACaps";
    pub const GET_CA_CERT: &str = "GetCACert";
    pub const PKI_OPERATION: &str = "PKIOperation";
}

/// Content types NDES answers with.
pub mod content_type {
    /// GetCACert with RA certificates: a certs-only PKCS#7.
    pub const CA_RA_CERT: &str = "application/x-x509-ca-ra-cert";
    /// A PKIOperation reply (CertRep).
    pub const PKI_MESSAGE: &str = "application/x-pki-message";
    /// GetCACaps.
    pub const CAPS: &str = "text/plain";
}

/// Where NDES lives under the web site.
pub mod endpoint {
    /// The SCEP endpoint (`…/mscep.dll` and `…/mscep.dll/pkiclient.exe`).
    pub const MSCEP: &str = "/certsrv/mscep/mscep.dll";
    /// The challenge-password page.
    pub const MSCEP_ADMIN: &str = "/certsrv/mscep_admin/";
}

/// What NDES on Windows Server 2012 R2 and later answers to GetCACaps
/// (jscep's log against a real NDES: Renewal, SHA-512, SHA-256, SHA-1,
/// Triple DES; no POST, though NDES takes POSTed PKIOperations too).
pub const NDES_CAPABILITIES: &[&str] = &["Renewal", "SHA-512", "SHA-256", "SHA-1", "DES3"];

/// The challenge-password page's sentences (UTF-16LE on the wire).
pub mod admin_page {
    /// Precedes the password, which sits between `<B> ` and ` </B>`.
    pub const PASSWORD_MARKER: &str = "The enrollment challenge password is:";
    pub const CACHE_FULL: &str = "The password cache is full.";
    pub const NO_PERMISSION: &str = "You do not have sufficient permission to enroll with SCEP.";
}

/// The SCEP messageType attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    CertRep,
    RenewalReq,
    PkcsReq,
    /// GetCertInitial in older drafts: poll a PENDING request.
    CertPoll,
    GetCert,
    GetCrl,
}

impl MessageType {
    pub fn code(self) -> u8 {
        match self {
            MessageType::CertRep => 3,
            MessageType::RenewalReq => 17,
            MessageType::PkcsReq => 19,
            MessageType::CertPoll => 20,
            MessageType::GetCert => 21,
            MessageType::GetCrl => 22,
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code.trim() {
            "3" => MessageType::CertRep,
            "17" => MessageType::RenewalReq,
            "19" => MessageType::PkcsReq,
            "20" => MessageType::CertPoll,
            "21" => MessageType::GetCert,
            "22" => MessageType::GetCrl,
            _ => return None,
        })
    }

    /// The name RFC 8894 gives it (for journals and errors).
    pub fn name(self) -> &'static str {
        match self {
            MessageType::CertRep => "CertRep",
            MessageType::RenewalReq => "RenewalReq",
            MessageType::PkcsReq => "PKCSReq",
            MessageType::CertPoll => "CertPoll",
            MessageType::GetCert => "GetCert",
            MessageType::GetCrl => "GetCRL",
        }
    }
}

/// The pkiStatus attribute of a CertRep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PkiStatus {
    Success,
    Failure,
    Pending,
}

impl PkiStatus {
    pub fn code(self) -> u8 {
        match self {
            PkiStatus::Success => 0,
            PkiStatus::Failure => 2,
            PkiStatus::Pending => 3,
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code.trim() {
            "0" => PkiStatus::Success,
            "2" => PkiStatus::Failure,
            "3" => PkiStatus::Pending,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            PkiStatus::Success => "SUCCESS",
            PkiStatus::Failure => "FAILURE",
            PkiStatus::Pending => "PENDING",
        }
    }
}

/// The failInfo attribute of a FAILURE CertRep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailInfo {
    BadAlg,
    BadMessageCheck,
    BadRequest,
    BadTime,
    BadCertId,
}

impl FailInfo {
    pub fn code(self) -> u8 {
        match self {
            FailInfo::BadAlg => 0,
            FailInfo::BadMessageCheck => 1,
            FailInfo::BadRequest => 2,
            FailInfo::BadTime => 3,
            FailInfo::BadCertId => 4,
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code.trim() {
            "0" => FailInfo::BadAlg,
            "1" => FailInfo::BadMessageCheck,
            "2" => FailInfo::BadRequest,
            "3" => FailInfo::BadTime,
            "4" => FailInfo::BadCertId,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "badAlg",
            FailInfo::BadMessageCheck => "badMessageCheck",
            FailInfo::BadRequest => "badRequest",
            FailInfo::BadTime => "badTime",
            FailInfo::BadCertId => "badCertId",
        }
    }
}

/// OIDs of SCEP and the CMS around it.
pub mod oid {
    use super::Oid;

    pub const MESSAGE_TYPE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.2");
    pub const PKI_STATUS: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.3");
    pub const FAIL_INFO: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.4");
    pub const SENDER_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.5");
    pub const RECIPIENT_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.6");
    pub const TRANSACTION_ID: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.7");
    pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
    pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
    pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
    pub const ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.3");
}

/// A SCEP message that cannot be read at all (NDES answers HTTP 500), or
/// one that can be read but not trusted or opened (a FAILURE CertRep).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScepError {
    #[error("malformed SCEP message: {0}")]
    Malformed(String),
    #[error("{0}")]
    Envelope(#[from] envelope::EnvelopeError),
}

impl ScepError {
    pub(crate) fn malformed(what: impl std::fmt::Display) -> Self {
        ScepError::Malformed(what.to_string())
    }
}

#[cfg(test)]
mod tests;
