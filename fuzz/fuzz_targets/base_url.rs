//! Fuzz target: BaseUrl::parse, the redirect_uri rules (CallbackCheck::new, PermissionsRequestBuilder::build) and DataCenter::from_str. The checks are in `permissions_fuzz::base_url`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| permissions_fuzz::base_url(data));
