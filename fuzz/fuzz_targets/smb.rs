#![no_main]
//! See adcs_harness::fuzzing::smb for what this target exercises.

libfuzzer_sys::fuzz_target!(|data: &[u8]| adcs_harness::fuzzing::smb(data));
