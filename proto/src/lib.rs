//! What an AD CS client and the mock CA both speak, with no I/O: the
//! protocol facts (endpoints, page markers, HRESULTs, OIDs, dispositions),
//! AD-style names, AD CS serials, the seed and the virtual clock, PEM,
//! PKCS#7 and PFX, PKCS#10 parsing, the X.509 codecs and signature checks,
//! NTLM messages, LDAP messages (`ldap`), Kerberos tokens through MIT GSS-API (`gss`), certsrv
//! page reading and the ready file. Both ends parse
//! and build the same bytes from here, so the server cannot drift from what
//! the client reads. One exception to "no I/O": the atomic file write every
//! writer in the project uses (`atomic_file`).

pub mod agent;
pub mod atomic_file;
pub mod clock;
pub mod encoding;
pub mod gss;
pub mod hex;
pub mod ldap;
pub mod names;
pub mod ntlm;
pub mod page;
pub mod protocol;
pub mod public_key;
pub mod ready;
pub mod request;
pub mod rpc;
pub mod scep;
pub mod sd;
pub mod seed;
pub mod serial;
pub mod signer;
pub mod smb;
pub mod x509;

pub use clock::{Clock, UnixTime};
pub use protocol::{CaMode, Disposition, HResult};
pub use seed::Seed;
pub use signer::Signer;
