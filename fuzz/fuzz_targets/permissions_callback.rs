//! Fuzz target: CallbackCheck::parse and PermissionsRequest::parse_callback. The checks are in `permissions_fuzz::permissions_callback`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permissions_fuzz::permissions_callback(data));
