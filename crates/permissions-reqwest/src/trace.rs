//! Spans for the `tracing` feature; without it, the same calls compile to nothing.
//!
//! One span per operation (`permissions_reqwest::call`, INFO) and one per attempt
//! (`permissions_reqwest::attempt`, DEBUG). Fields: the operation's name, the method, the path
//! without its query, the attempt number, the status or the transport error's kind, and the
//! wait before the next attempt. Never a header value, a body, a query or a token.

use std::future::Future;
use std::time::Duration;

use http::StatusCode;
use permissions_core::{HttpRequest, TransportErrorKind};

#[cfg(feature = "tracing")]
mod imp {
    use super::*;
    use tracing::field::Empty;

    pub(crate) struct Operation(tracing::Span);

    impl Operation {
        pub(crate) fn new(name: &'static str) -> Self {
            Self(tracing::info_span!(
                "permissions_reqwest::call",
                operation = name,
                method = Empty,
                path = Empty,
                attempts = Empty,
                status = Empty,
            ))
        }

        pub(crate) fn attempt(&self, number: u32, request: &HttpRequest) -> Attempt {
            if number == 1 {
                self.0.record("method", request.method().as_str());
                self.0.record("path", request.uri().path());
            }
            self.0.record("attempts", number);
            Attempt(tracing::debug_span!(
                parent: &self.0,
                "permissions_reqwest::attempt",
                attempt = number,
                method = request.method().as_str(),
                path = request.uri().path(),
                status = Empty,
                error = Empty,
                wait_ms = Empty,
            ))
        }

        pub(crate) fn instrument<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
            tracing::Instrument::instrument(future, self.0.clone())
        }
    }

    pub(crate) struct Attempt(tracing::Span);

    impl Attempt {
        pub(crate) fn status(&self, status: StatusCode, operation: &Operation) {
            self.0.record("status", status.as_u16());
            operation.0.record("status", status.as_u16());
        }

        pub(crate) fn failed(&self, kind: TransportErrorKind) {
            self.0.record("error", tracing::field::display(kind));
        }

        pub(crate) fn retry_after(&self, wait: Duration) {
            let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            self.0.record("wait_ms", wait_ms);
            self.0.in_scope(|| tracing::debug!(wait_ms, "retrying"));
        }

        pub(crate) fn instrument<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
            tracing::Instrument::instrument(future, self.0.clone())
        }
    }
}

#[cfg(not(feature = "tracing"))]
mod imp {
    use super::*;

    pub(crate) struct Operation;

    impl Operation {
        #[inline(always)]
        pub(crate) fn new(_name: &'static str) -> Self {
            Self
        }

        #[inline(always)]
        pub(crate) fn attempt(&self, _number: u32, _request: &HttpRequest) -> Attempt {
            Attempt
        }

        #[inline(always)]
        pub(crate) fn instrument<F: Future>(&self, future: F) -> F {
            future
        }
    }

    pub(crate) struct Attempt;

    impl Attempt {
        #[inline(always)]
        pub(crate) fn status(&self, _status: StatusCode, _operation: &Operation) {}

        #[inline(always)]
        pub(crate) fn failed(&self, _kind: TransportErrorKind) {}

        #[inline(always)]
        pub(crate) fn retry_after(&self, _wait: Duration) {}

        #[inline(always)]
        pub(crate) fn instrument<F: Future>(&self, future: F) -> F {
            future
        }
    }
}

pub(crate) use imp::Operation;
