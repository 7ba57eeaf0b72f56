//! Fuzz target: ApiError::from_response. The checks are in `permissions_fuzz::oauth_error`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permissions_fuzz::oauth_error(data));
