//! The AD CS CA engine: authorities, templates, policy, the request
//! database, issuance, revocation and CRLs, usable in-process from any Rust
//! test. The certsrv web server builds on it.

pub mod authority;
pub mod ca;
pub mod clock;
pub mod config;
pub mod db;
pub mod encoding;
pub mod keys;
pub mod names;
pub mod ntlm;
pub mod policy;
pub mod protocol;
pub mod request;
pub mod seed;
pub mod serial;
pub mod serve;
pub mod store;
pub mod template;
pub mod web;
pub mod x509;

pub use ca::{Ca, CaError, CrlKind, PolicyOverride, Publication, Submission};
pub use clock::Clock;
pub use config::{CaConfig, CaMode};
pub use db::{RequestRow, Requester, RevocationReason};
pub use keys::KeyAlgorithm;
pub use protocol::{Disposition, HResult};
pub use seed::Seed;
