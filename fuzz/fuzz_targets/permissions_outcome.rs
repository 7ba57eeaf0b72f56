//! Fuzz target: PermissionsRequest::parse_outcome. The checks are in `permissions_fuzz::permissions_outcome`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permissions_fuzz::permissions_outcome(data));
