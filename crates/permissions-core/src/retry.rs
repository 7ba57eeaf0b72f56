//! A pure retry policy: given what went wrong, the attempt number, `now` and a jitter value, it
//! says "retry after this long" or "stop". It never reads a clock and never sleeps; the
//! transports do both.
//!
//! What is retried: 429 (honouring `Retry-After`, in seconds or as an HTTP-date), 502, 503, 504,
//! and transport failures to connect or time-outs. Never any other 4xx. A wait longer than the
//! cap means "stop now", not a long sleep: a hostile or confused `Retry-After: 999999999` must
//! never park a thread.

use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::error::{ApiError, RetryAfter};
use crate::seam::TransportErrorKind;

/// What went wrong with one attempt, as far as retrying cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// Cronofy answered with this status (and perhaps `Retry-After`).
    Status {
        /// The status.
        status: StatusCode,
        /// `Retry-After`, when sent and readable.
        retry_after: Option<RetryAfter>,
    },
    /// The request did not get an answer.
    Transport(TransportErrorKind),
}

impl Failure {
    /// The failure an API error stands for.
    pub fn from_api_error(err: &ApiError) -> Self {
        let retry_after = match err {
            ApiError::RateLimited { retry_after } | ApiError::Server { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        };
        Self::Status {
            status: err.status(),
            retry_after,
        }
    }
}

/// The policy's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryDecision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Do not try again: report the failure.
    Stop,
}

/// When and how long to retry.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use http::StatusCode;
/// use permissions_core::RetryPolicy;
/// use permissions_core::error::RetryAfter;
/// use permissions_core::transport::{Failure, RetryDecision};
///
/// let policy = RetryPolicy::default();
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let rate_limited = Failure::Status {
///     status: StatusCode::TOO_MANY_REQUESTS,
///     retry_after: Some(RetryAfter::Delay(Duration::from_secs(2))),
/// };
/// assert_eq!(policy.decide(1, &rate_limited, true, now, 0.5), RetryDecision::RetryAfter(Duration::from_secs(2)));
/// assert_eq!(policy.decide(3, &rate_limited, true, now, 0.5), RetryDecision::Stop); // 3 attempts made
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. 1 means never retry. Default 3.
    pub max_attempts: u32,
    /// The first back-off when no `Retry-After` says otherwise; doubled each attempt. Default 250 ms.
    pub base_delay: Duration,
    /// The longest wait ever taken. A wait over it means stop now. Default 30 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Decides what to do after attempt number `attempt` (1-based) failed with `failure`.
    ///
    /// `idempotent` says whether the request may be repeated even when it may already have been
    /// processed (false for an authorization-code exchange: a code is single-use). A request
    /// that is not idempotent is retried only when it surely was not processed: 429, 503, or a
    /// failure to connect.
    ///
    /// `jitter` is a number in `[0, 1]` the caller draws at random; it spreads back-offs so that
    /// many clients do not retry in step. Out-of-range values are clamped. `Retry-After` waits are
    /// taken exactly, without jitter.
    pub fn decide(
        &self,
        attempt: u32,
        failure: &Failure,
        idempotent: bool,
        now: SystemTime,
        jitter: f64,
    ) -> RetryDecision {
        if attempt >= self.max_attempts {
            return RetryDecision::Stop;
        }
        let (retryable, retry_after) = match *failure {
            Failure::Status {
                status,
                retry_after,
            } => match status.as_u16() {
                429 | 503 => (true, retry_after),
                502 | 504 => (idempotent, retry_after),
                _ => (false, None),
            },
            Failure::Transport(TransportErrorKind::Connect) => (true, None),
            Failure::Transport(TransportErrorKind::Timeout) => (idempotent, None),
            Failure::Transport(_) => (false, None),
        };
        if !retryable {
            return RetryDecision::Stop;
        }
        let wait = match retry_after {
            Some(r) => r.delay_from(now),
            None => self.backoff(attempt, jitter),
        };
        if wait > self.max_delay {
            RetryDecision::Stop
        } else {
            RetryDecision::RetryAfter(wait)
        }
    }

    /// Exponential back-off with "equal jitter": half fixed, half random.
    fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let jitter = if jitter.is_nan() {
            0.5
        } else {
            jitter.clamp(0.0, 1.0)
        };
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let exp = exp.min(self.max_delay);
        // The float half can round a hair past `exp` for huge caps; never past it.
        (exp / 2 + exp.div_f64(2.0).mul_f64(jitter)).min(exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000)
    }

    fn status(code: u16, retry_after: Option<RetryAfter>) -> Failure {
        Failure::Status {
            status: StatusCode::from_u16(code).unwrap(),
            retry_after,
        }
    }

    #[test]
    fn retries_only_the_right_failures() {
        let p = RetryPolicy::default();
        for code in [429, 502, 503, 504] {
            assert!(matches!(
                p.decide(1, &status(code, None), true, now(), 0.0),
                RetryDecision::RetryAfter(_)
            ));
        }
        for code in [400, 401, 402, 403, 404, 409, 422, 423, 500, 501] {
            assert_eq!(
                p.decide(1, &status(code, None), true, now(), 0.0),
                RetryDecision::Stop,
                "{code}"
            );
        }
        for kind in [TransportErrorKind::Connect, TransportErrorKind::Timeout] {
            assert!(matches!(
                p.decide(1, &Failure::Transport(kind), true, now(), 0.0),
                RetryDecision::RetryAfter(_)
            ));
        }
        assert_eq!(
            p.decide(
                1,
                &Failure::Transport(TransportErrorKind::BodyTooLarge),
                true,
                now(),
                0.0
            ),
            RetryDecision::Stop
        );
    }

    #[test]
    fn non_idempotent_requests_retry_only_when_unprocessed() {
        let p = RetryPolicy::default();
        assert!(matches!(
            p.decide(1, &status(503, None), false, now(), 0.0),
            RetryDecision::RetryAfter(_)
        ));
        assert_eq!(
            p.decide(1, &status(502, None), false, now(), 0.0),
            RetryDecision::Stop
        );
        assert_eq!(
            p.decide(
                1,
                &Failure::Transport(TransportErrorKind::Timeout),
                false,
                now(),
                0.0
            ),
            RetryDecision::Stop
        );
    }

    #[test]
    fn retry_after_seconds_and_date_are_honoured_and_capped() {
        let p = RetryPolicy::default();
        let secs = status(429, Some(RetryAfter::Delay(Duration::from_secs(7))));
        assert_eq!(
            p.decide(1, &secs, true, now(), 0.9),
            RetryDecision::RetryAfter(Duration::from_secs(7))
        );
        let date = status(429, Some(RetryAfter::At(now() + Duration::from_secs(12))));
        assert_eq!(
            p.decide(2, &date, true, now(), 0.1),
            RetryDecision::RetryAfter(Duration::from_secs(12))
        );
        let past = status(429, Some(RetryAfter::At(now() - Duration::from_secs(12))));
        assert_eq!(
            p.decide(1, &past, true, now(), 0.1),
            RetryDecision::RetryAfter(Duration::ZERO)
        );
        let huge = status(
            429,
            Some(RetryAfter::parse("99999999999999999999999").unwrap()),
        );
        assert_eq!(p.decide(1, &huge, true, now(), 0.1), RetryDecision::Stop);
    }

    #[test]
    fn attempts_are_bounded_and_backoff_grows() {
        let p = RetryPolicy::default();
        let f = status(503, None);
        let first = p.decide(1, &f, true, now(), 1.0);
        let second = p.decide(2, &f, true, now(), 1.0);
        assert_eq!(first, RetryDecision::RetryAfter(Duration::from_millis(250)));
        assert_eq!(
            second,
            RetryDecision::RetryAfter(Duration::from_millis(500))
        );
        assert_eq!(p.decide(3, &f, true, now(), 1.0), RetryDecision::Stop);
        assert_eq!(
            RetryPolicy::never().decide(1, &f, true, now(), 1.0),
            RetryDecision::Stop
        );
        assert_eq!(
            p.decide(1, &f, true, now(), 0.0),
            RetryDecision::RetryAfter(Duration::from_millis(125))
        );
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(
            RetryAfter::parse(" 3 "),
            Some(RetryAfter::Delay(Duration::from_secs(3)))
        );
        for bad in ["", "-1", "1.5", "tomorrow", "3s"] {
            assert_eq!(RetryAfter::parse(bad), None, "{bad}");
        }
        let at = RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(at.to_string(), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
