//! Fuzz target: RetryAfter::parse and the retry policy. The checks are in `permissions_fuzz::retry_after`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permissions_fuzz::retry_after(data));
