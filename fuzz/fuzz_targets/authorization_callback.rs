//! Fuzz target: AuthorizationRequest::parse_callback and parse_authorization_callback. The checks are in `permissions_fuzz::authorization_callback`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permissions_fuzz::authorization_callback(data));
