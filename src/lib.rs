//! The `adcs-harness` library: the scenario engine. The CLI (`main.rs`) is
//! a thin layer over it and over `mock_ca` and `adcs_client`.

pub mod bench;
pub mod fuzzing;
pub mod load;
pub mod scenario;
