//! Fuzz target: TokenResponse::parse. The checks are in `permissions_fuzz::token_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permissions_fuzz::token_response(data));
