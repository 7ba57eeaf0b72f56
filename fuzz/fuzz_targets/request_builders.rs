//! Fuzz target: every request builder and Endpoint::to_request. The checks are in `permissions_fuzz::request_builders`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permissions_fuzz::request_builders(data));
