//! The command line, one module per verb family; each verb is one function
//! that calls into the libraries (`mock_ca`, `adcs_client`, `adcs_harness`).

pub mod ca_cert;
pub mod ca_local;
pub mod ca_remote;
pub mod common;
pub mod directory;
pub mod req;
pub mod scep;
pub mod scom;
pub mod serve;
pub mod store;
