//! End-to-end tests across both ends: the CLI, the client flow and SCOM
//! procedures against the mock CA, load, crash and property tests, the
//! bench, and `serve` as a process. One test binary, a module per feature,
//! so a cold build links it once.

mod bench;
mod cli;
mod client_flow;
mod crash;
mod fuzz_regressions;
mod guide;
mod kerberos;
mod load;
mod properties;
mod rpc;
mod scenarios;
mod scep;
mod scom;
mod serve_process;
mod support;
mod system_store;
mod timeouts;
