//! The `adcs-harness` library: the scenario engine. The CLI (`main.rs`) is
//! a thin layer over it and over `mock_ca` and `adcs_client`.

pub mod bench;
pub mod fuzzing;
pub mod load;
pub mod scenario;

/// The README's Rust examples, if it gains any, compiled by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The guide's Rust example ("Using the engine from a Rust test"),
/// compiled and run by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../docs/src/development.md")]
pub struct GuideDoctests;
