//! Fuzz target: AuthorizationRequest::parse_callback, for the given redirect_uri and a fixed one. The checks are in `permissions_fuzz::authorization_callback`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permissions_fuzz::authorization_callback(data));
