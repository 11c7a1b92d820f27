//! The AD CS CA engine: authorities, templates, policy, the request
//! database, issuance, revocation and CRLs, usable in-process from any Rust
//! test. The certsrv web server builds on it.

pub mod accounts;
pub mod audit;
pub mod authority;
pub mod ca;
pub mod config;
pub mod db;
pub mod forest;
pub mod kdc;
pub mod kerberos;
pub mod keys;
pub mod lab;
pub mod ndes;
pub mod policy;
pub mod registry;
pub mod serve;
pub mod shutdown;
pub mod state;
pub mod template;
pub mod testing;
pub mod web;

pub use adcs_proto::{Clock, Disposition, HResult, Seed};
pub use ca::{Ca, CaError, CrlKind, PolicyOverride, Publication, Submission};
pub use config::{CaConfig, CaMode};
pub use db::{RequestRow, Requester, RevocationReason, RowQuery};
pub use keys::KeyAlgorithm;
