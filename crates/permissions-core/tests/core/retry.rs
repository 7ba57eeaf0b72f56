//! `Retry-After` round-trips in both of its forms, and the retry policy never waits longer
//! than its cap, whatever the server says and whatever jitter it is given.

use std::time::{Duration, SystemTime};

use permissions_core::error::*;
use permissions_core::http::{HeaderMap, HeaderValue, StatusCode, header::RETRY_AFTER};
use permissions_core::transport::*;
use permissions_core::*;
use proptest::prelude::*;

use crate::strategies::regex;

/// The last second `httpdate` can write: 9999-12-31 23:59:59 UTC.
const LAST_HTTP_DATE: u64 = 253_402_300_799;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn retry_after() -> BoxedStrategy<RetryAfter> {
    prop_oneof![
        any::<u64>().prop_map(|s| RetryAfter::Delay(Duration::from_secs(s))),
        (0u64..120).prop_map(|s| RetryAfter::Delay(Duration::from_secs(s))),
        (0..=LAST_HTTP_DATE).prop_map(|s| RetryAfter::At(at(s))),
        (1_749_999_000u64..1_750_001_000).prop_map(|s| RetryAfter::At(at(s))),
    ]
    .boxed()
}

fn failure() -> BoxedStrategy<Failure> {
    prop_oneof![
        (
            prop_oneof![
                100u16..=999,
                prop::sample::select(vec![429u16, 502, 503, 504])
            ],
            prop::option::of(retry_after()),
        )
            .prop_map(|(status, retry_after)| Failure::Status {
                status: StatusCode::from_u16(status).expect("100..=999"),
                retry_after,
            }),
        prop::sample::select(vec![
            TransportErrorKind::Connect,
            TransportErrorKind::Timeout,
            TransportErrorKind::BodyTooLarge,
            TransportErrorKind::Other,
        ])
        .prop_map(Failure::Transport),
    ]
    .boxed()
}

fn duration() -> BoxedStrategy<Duration> {
    prop_oneof![
        (0u64..120_000).prop_map(Duration::from_millis),
        any::<u64>().prop_map(Duration::from_secs),
        any::<(u64, u32)>().prop_map(|(s, n)| Duration::new(s, n % 1_000_000_000)),
        Just(Duration::MAX),
        Just(Duration::ZERO),
    ]
    .boxed()
}

fn policy() -> BoxedStrategy<RetryPolicy> {
    (prop_oneof![0u32..6, any::<u32>()], duration(), duration())
        .prop_map(|(max_attempts, base_delay, max_delay)| RetryPolicy {
            max_attempts,
            base_delay,
            max_delay,
        })
        .boxed()
}

fn jitter() -> BoxedStrategy<f64> {
    prop_oneof![
        0.0f64..=1.0,
        any::<f64>(),
        prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            -1.0,
            1.0 + f64::EPSILON,
            f64::MIN_POSITIVE,
        ]),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn delay_seconds_round_trip(n in any::<u64>(), pad in regex(r"[ \t]{0,2}"), zeros in 0usize..3) {
        let expected = Some(RetryAfter::Delay(Duration::from_secs(n)));
        prop_assert_eq!(RetryAfter::parse(&n.to_string()), expected);
        let padded = format!("{pad}{}{n}{pad}", "0".repeat(zeros));
        prop_assert_eq!(RetryAfter::parse(&padded), expected);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&n.to_string()).expect("digits"));
        prop_assert_eq!(RetryAfter::from_headers(&headers), expected);
    }

    #[test]
    fn too_many_digits_mean_a_very_long_time(digits in regex(r"[1-9][0-9]{20,40}")) {
        prop_assert_eq!(
            RetryAfter::parse(&digits),
            Some(RetryAfter::Delay(Duration::from_secs(u64::MAX)))
        );
    }

    #[test]
    fn http_dates_round_trip(secs in 0..=LAST_HTTP_DATE) {
        let time = at(secs);
        let text = httpdate::fmt_http_date(time);
        let parsed = RetryAfter::parse(&text);
        prop_assert_eq!(parsed, Some(RetryAfter::At(time)), "{}", text);
        prop_assert_eq!(parsed.map(|r| r.to_string()), Some(text));
        // A date is a wait from `now`, and a date in the past is no wait.
        let now = at(secs / 2);
        prop_assert_eq!(RetryAfter::At(time).delay_from(now), Duration::from_secs(secs - secs / 2));
        prop_assert_eq!(RetryAfter::At(now).delay_from(time), Duration::ZERO);
    }

    #[test]
    fn any_text_is_read_or_refused_without_panicking(
        text in prop_oneof![
            any::<String>(),
            regex(r"[0-9 \t+-.e]{0,25}"),
            regex(r"(Mon|Sun|Xyz), [0-9]{1,3} (Jan|Nov|Foo) [0-9]{1,6} [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2} (GMT|UTC)"),
        ],
    ) {
        match RetryAfter::parse(&text) {
            Some(RetryAfter::Delay(_)) => {
                let t = text.trim();
                prop_assert!(!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()), "{:?}", text);
            }
            Some(RetryAfter::At(_)) => prop_assert!(httpdate::parse_http_date(text.trim()).is_ok()),
            Some(other) => prop_assert!(false, "unknown form {:?}", other),
            None => {}
        }
    }

    #[test]
    fn the_policy_never_waits_past_its_cap(
        policy in policy(),
        attempt in prop_oneof![0u32..8, any::<u32>()],
        failure in failure(),
        idempotent in any::<bool>(),
        now in (0..=LAST_HTTP_DATE).prop_map(at),
        jitter in jitter(),
    ) {
        let decision = policy.decide(attempt, &failure, idempotent, now, jitter);
        if let RetryDecision::RetryAfter(wait) = decision {
            prop_assert!(wait <= policy.max_delay, "{:?} > {:?}", wait, policy.max_delay);
            prop_assert!(attempt < policy.max_attempts);
        }
        if attempt >= policy.max_attempts {
            prop_assert_eq!(decision, RetryDecision::Stop);
        }
        // Only 429, 502, 503, 504 and failures to connect or time-outs are ever retried.
        let retryable = match failure {
            Failure::Status { status, .. } => matches!(status.as_u16(), 429 | 502 | 503 | 504),
            Failure::Transport(kind) => matches!(kind, TransportErrorKind::Connect | TransportErrorKind::Timeout),
            _ => false,
        };
        if !retryable {
            prop_assert_eq!(decision, RetryDecision::Stop);
        }
    }

    #[test]
    fn retry_after_is_honoured_exactly_or_stops(
        policy in policy(),
        attempt in 0u32..8,
        retry_after in retry_after(),
        status in prop::sample::select(vec![429u16, 503]),
        idempotent in any::<bool>(),
        now in (0..=LAST_HTTP_DATE).prop_map(at),
        jitter in jitter(),
    ) {
        // 429 and 503 say the request was not processed: retried even when not idempotent.
        let failure = Failure::Status {
            status: StatusCode::from_u16(status).expect("valid"),
            retry_after: Some(retry_after),
        };
        let wait = retry_after.delay_from(now);
        let expected = if attempt >= policy.max_attempts || wait > policy.max_delay {
            RetryDecision::Stop
        } else {
            RetryDecision::RetryAfter(wait)
        };
        prop_assert_eq!(policy.decide(attempt, &failure, idempotent, now, jitter), expected);
    }

    #[test]
    fn backoff_without_retry_after_stays_within_the_cap(
        base_delay in duration(),
        // Caps up to 30 days; see `known_bugs` for caps past about 104 days.
        max_delay in prop_oneof![
            (0u64..30 * 86_400_000).prop_map(Duration::from_millis),
            (0u64..=30 * 86_400_000_000_000).prop_map(Duration::from_nanos),
        ],
        attempt in 0u32..40,
        jitter in jitter(),
    ) {
        let policy = RetryPolicy { max_attempts: 40, base_delay, max_delay };
        let failure = Failure::Status { status: StatusCode::SERVICE_UNAVAILABLE, retry_after: None };
        match policy.decide(attempt, &failure, true, at(0), jitter) {
            RetryDecision::RetryAfter(wait) => prop_assert!(wait <= policy.max_delay),
            other => prop_assert!(false, "a 503 with attempts left must be retried, got {:?}", other),
        }
    }
}
