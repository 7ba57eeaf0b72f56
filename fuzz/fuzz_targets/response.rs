//! Fuzz target: every Endpoint::parse_response and the retry loop, on any status, headers and body. The checks are in `permissions_fuzz::response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permissions_fuzz::response(data));
