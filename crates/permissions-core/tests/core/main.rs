//! The one integration test binary of `permissions-core` (matklad's "one test binary, many
//! modules"): property tests, fixture tests and the proof that no secret is ever printed.
//!
//! - `roundtrip`: any valid ids and redirect URI make a body that reads back to them, and a
//!   callback on that URI reads back as accepted or rejected.
//! - `validation`: every rule of the request builders and of `BaseUrl`, against an oracle.
//! - `parsers`: every parser takes any status, headers and bytes without panicking, and says
//!   "success" exactly when it should.
//! - `pacing`: the pacer's times never exceed a limit in any sliding span, never wait longer
//!   than the windows require, follow arrival order; 429 penalties; specs round-trip.
//! - `retry`: `Retry-After` round-trips; the policy never waits longer than its cap.
//! - `secrets`: no `Debug`/`Display` of a value or error that held a secret shows it.
//! - `fixtures`: every real body in `tests/fixtures/` through the parser it belongs to.
//! - `regressions`: a test per defect found in `src/`, by fuzzing or by these tests;
//!   `#[ignore]`d while it is open (run those with
//!   `cargo test -p permissions-core --test core -- --ignored`); `fuzz/` also compiles that
//!   file on its own.

mod fixtures;
mod hardening;
mod pacing;
mod parsers;
mod regressions;
mod retry;
mod roundtrip;
mod secrets;
mod strategies;
mod validation;

use permissions_core::http;
use permissions_core::transport::HttpResponse;

/// The context a client of Cronofy's US data center reads answers with.
pub(crate) fn us() -> permissions_core::transport::RequestContext<'static> {
    static HOSTS: std::sync::LazyLock<permissions_core::Hosts> =
        std::sync::LazyLock::new(|| permissions_core::DataCenter::Us.hosts());
    permissions_core::transport::RequestContext::for_hosts(&HOSTS)
}

/// A response with this status, headers and body.
pub(crate) fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.to_vec()).expect("valid test response")
}

/// The proptest configuration shared by the whole binary: the default 256 cases, and no
/// regression files written into the source tree (a failure prints its minimal input).
pub(crate) fn config() -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
