//! Pacing: for any arrival pattern and any configuration, the times the pacer hands out never
//! put more requests in a sliding window than its limit (checked by brute force over the
//! times), no time is later than the GCRA windows require (an exact oracle over the earlier
//! times), times follow arrival order, a 429 blocks and drains everyone, and specs round-trip.

use std::time::Duration;

use permissions_core::error::PacingConfigError;
use permissions_core::transport::{LocalPacer, PacerState, Window};
use permissions_core::{Limit, PacingConfig};
use proptest::prelude::*;

/// One limit, valid for `PacingConfig::new`: small counts and windows mostly, so that arrival
/// patterns meet them, and now and then large ones.
fn limit() -> BoxedStrategy<Limit> {
    prop_oneof![
        4 => (1u32..=40, 1u64..=2_000)
            .prop_map(|(r, ms)| Limit::new(r, Duration::from_millis(ms))),
        1 => (1u32..=600, 1u64..=120_000)
            .prop_map(|(r, ms)| Limit::new(r, Duration::from_millis(ms))),
        1 => Just(Limit::per_second(50)),
        1 => Just(Limit::per_minute(500)),
    ]
    .boxed()
}

fn config() -> BoxedStrategy<PacingConfig> {
    prop::collection::vec(limit(), 1..=3)
        .prop_map(|limits| PacingConfig::new(limits).expect("valid limits"))
        .boxed()
}

/// Sorted arrival times: bursts (gap 0), short gaps, long gaps.
fn arrivals() -> BoxedStrategy<Vec<u64>> {
    let gap = prop_oneof![
        3 => Just(0u64),
        3 => 0u64..5_000,
        2 => 0u64..200_000,
        1 => 0u64..5_000_000,
    ];
    (
        prop_oneof![Just(0u64), 0u64..1_000_000_000_000],
        prop::collection::vec(gap, 1..=150),
    )
        .prop_map(|(start, gaps)| {
            gaps.iter()
                .scan(start, |now, gap| {
                    *now += gap;
                    Some(*now)
                })
                .collect()
        })
        .boxed()
}

/// Brute force: the most times that fall in one closed span `[t, t + span]`.
fn busiest_span(times: &[u64], span: u64) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    (0..sorted.len())
        .map(|i| {
            sorted[i..]
                .iter()
                .take_while(|&&t| t - sorted[i] <= span)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Every limit holds over every span of its window, and of its window plus the margin.
fn assert_within_limits(config: &PacingConfig, times: &[u64]) -> Result<(), TestCaseError> {
    for window in config.windows() {
        let limit = window.limit();
        let per = u64::try_from(limit.per.as_micros()).expect("at most a day");
        let busiest = busiest_span(times, per);
        prop_assert!(
            busiest <= limit.requests as usize,
            "{busiest} requests in a span of {per} µs, over {limit}"
        );
        let guarded = busiest_span(times, window.guarded_span_us());
        prop_assert!(
            guarded <= limit.requests as usize,
            "{guarded} requests in a span of {} µs (with margin), over {limit}",
            window.guarded_span_us()
        );
    }
    Ok(())
}

/// The earliest time at or after `arrival` that keeps every window's GCRA rule given the
/// earlier times `admitted`: with burst B and interval T, any `m` requests from `t_j` to `t`
/// need `t - t_j >= (m - B) * T`. Written from the rule, not from the pacer's state.
fn earliest_allowed(config: &PacingConfig, admitted: &[u64], arrival: u64) -> u64 {
    let mut earliest = i128::from(arrival);
    for window in config.windows() {
        let burst = i128::from(window.burst());
        let interval = i128::from(window.interval_us());
        for (j, &t_j) in admitted.iter().enumerate() {
            let count = (admitted.len() - j + 1) as i128;
            earliest = earliest.max(i128::from(t_j) + (count - burst) * interval);
        }
    }
    u64::try_from(earliest).expect("within u64 for these tests")
}

/// The penalties a 429 may set, in order: first, doubling, capped.
fn penalty_ladder(config: &PacingConfig) -> Vec<u64> {
    let first = config.first_penalty().as_micros() as u64;
    let max = config.max_penalty().as_micros() as u64;
    let mut ladder = vec![first];
    while *ladder.last().expect("one") < max && ladder.len() < 64 {
        ladder.push((ladder.last().expect("one") * 2).min(max));
    }
    ladder
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Reserve,
    Throttled,
    Succeeded,
}

fn ops() -> BoxedStrategy<Vec<(u64, Op)>> {
    let op = prop_oneof![
        8 => Just(Op::Reserve),
        1 => Just(Op::Throttled),
        1 => Just(Op::Succeeded),
    ];
    let gap = prop_oneof![Just(0u64), 0u64..50_000, 0u64..3_000_000];
    prop::collection::vec((gap, op), 1..=120).boxed()
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn admitted_times_never_exceed_any_limit(config in config(), arrivals in arrivals()) {
        let mut state = PacerState::default();
        let times: Vec<u64> = arrivals.iter().map(|&now| state.reserve(&config, now)).collect();
        assert_within_limits(&config, &times)?;
    }

    #[test]
    fn no_wait_is_longer_than_the_windows_require(config in config(), arrivals in arrivals()) {
        let mut state = PacerState::default();
        let mut admitted = Vec::new();
        for &now in &arrivals {
            let at = state.reserve(&config, now);
            prop_assert_eq!(at, earliest_allowed(&config, &admitted, now), "arrival {}", now);
            admitted.push(at);
        }
    }

    #[test]
    fn times_follow_arrival_order(config in config(), arrivals in arrivals()) {
        let mut state = PacerState::default();
        let mut last = 0;
        for &now in &arrivals {
            let at = state.reserve(&config, now);
            prop_assert!(at >= now, "sent at {at} before arriving at {now}");
            prop_assert!(at >= last, "{at} handed out after {last}");
            last = at;
        }
    }

    /// With 429s and successes mixed in: the limits still hold, times stay in order, a 429
    /// blocks every later caller for at least the first penalty and drains the windows (the
    /// k-th request after it goes no sooner than k intervals after the block), and the
    /// penalty stays on its ladder.
    #[test]
    fn throttling_blocks_drains_and_stays_within_limits(config in config(), ops in ops()) {
        let ladder = penalty_ladder(&config);
        let first = ladder[0];
        let slowest = config.windows().iter().map(Window::interval_us).max().expect("a window");
        let mut state = PacerState::default();
        let mut now = 0u64;
        let mut times = Vec::new();
        let mut last = 0;
        // (the block a 429 set, how many reserved since)
        let mut since_throttle: Option<(u64, u64)> = None;
        for (gap, op) in ops {
            now += gap;
            match op {
                Op::Reserve => {
                    if now >= state.idle_at() {
                        since_throttle = None; // rested: the burst is back, rightly
                    }
                    let at = state.reserve(&config, now);
                    prop_assert!(at >= now && at >= last);
                    if let Some((blocked, count)) = since_throttle.as_mut() {
                        prop_assert!(
                            at >= *blocked + *count * slowest,
                            "request {count} after a 429 at {at}, block ended {blocked}"
                        );
                        *count += 1;
                    }
                    last = at;
                    times.push(at);
                }
                Op::Throttled => {
                    let before = state.blocked_until;
                    state.throttled(&config, now);
                    prop_assert!(state.blocked_until >= now + first);
                    prop_assert!(state.blocked_until >= before);
                    prop_assert!(
                        ladder.iter().any(|&p| state.blocked_until == before.max(now + p)),
                        "blocked until {} after a 429 at {now}", state.blocked_until
                    );
                    since_throttle = Some((state.blocked_until, 0));
                }
                Op::Succeeded => {
                    state.succeeded();
                    prop_assert_eq!(state.penalty, 0);
                }
            }
            prop_assert!(state.penalty == 0 || ladder.contains(&state.penalty));
        }
        assert_within_limits(&config, &times)?;
    }

    /// The derived parameters are the fastest that keep the bound: one microsecond less of
    /// interval and some span of the guarded length could hold one request too many.
    #[test]
    fn intervals_are_as_short_as_the_bound_allows(limit in limit()) {
        let config = PacingConfig::new([limit]).expect("valid");
        let window = config.windows()[0];
        let span = window.guarded_span_us();
        let (burst, interval) = (u64::from(window.burst()), window.interval_us());
        prop_assert!(burst >= 1);
        prop_assert_eq!(window.tolerance_us(), (burst - 1) * interval);
        prop_assert!(burst + span / interval <= u64::from(limit.requests));
        prop_assert!(interval == 1 || burst + span / (interval - 1) > u64::from(limit.requests));
    }

    #[test]
    fn display_parses_back(limits in prop::collection::vec(any_valid_limit(), 1..=PacingConfig::MAX_LIMITS)) {
        let config = PacingConfig::new(limits).expect("valid");
        let spec = config.to_string();
        prop_assert_eq!(PacingConfig::parse(&spec), Ok(Some(config)), "{}", spec);
    }

    #[test]
    fn parse_ignores_spaces_and_case(
        limits in prop::collection::vec(any_valid_limit(), 1..=PacingConfig::MAX_LIMITS),
        pads in prop::collection::vec(crate::strategies::regex("[ \t]{0,2}"), 5 * PacingConfig::MAX_LIMITS),
    ) {
        let config = PacingConfig::new(limits).expect("valid");
        let mut pads = pads.iter();
        let mut spec = String::new();
        for (i, limit) in config.limits().iter().enumerate() {
            if i > 0 {
                spec.push(',');
            }
            let text = limit.to_string().to_ascii_uppercase();
            let (count, window) = text.split_once('/').expect("a slash");
            let digits = window.bytes().take_while(u8::is_ascii_digit).count();
            let (units, unit) = window.split_at(digits);
            for part in [count, "/", units, unit] {
                spec.push_str(pads.next().expect("enough"));
                spec.push_str(part);
            }
            spec.push_str(pads.next().expect("enough"));
        }
        prop_assert_eq!(PacingConfig::parse(&spec), Ok(Some(config)), "{:?}", spec);
    }

    #[test]
    fn parse_never_panics(spec in crate::strategies::regex("[0-9a-zA-Z/, .:-]{0,40}|.{0,40}")) {
        let _ = PacingConfig::parse(&spec);
    }

    #[test]
    fn divided_splits_every_count(config in config(), fleet in 0u32..=2_000) {
        let divided = config.divided(fleet);
        prop_assert_eq!(divided.limits().len(), config.limits().len());
        for (part, whole) in divided.limits().iter().zip(config.limits()) {
            prop_assert_eq!(part.per, whole.per);
            prop_assert_eq!(part.requests, (whole.requests / fleet.max(1)).max(1));
            // The fleet together stays within the whole limit whenever division was exact.
            if whole.requests >= fleet.max(1) {
                prop_assert!(u64::from(part.requests) * u64::from(fleet.max(1)) <= u64::from(whole.requests));
            }
        }
        prop_assert_eq!(divided.first_penalty(), config.first_penalty());
        prop_assert_eq!(divided.max_penalty(), config.max_penalty());
    }
}

/// Any limit `PacingConfig::new` accepts, windows in whole units of any size up to a day.
fn any_valid_limit() -> BoxedStrategy<Limit> {
    let ms = prop_oneof![
        1u64..=86_400_000,
        (1u64..=86_400).prop_map(|s| s * 1_000),
        (1u64..=1_440).prop_map(|m| m * 60_000),
        (1u64..=24).prop_map(|h| h * 3_600_000),
    ];
    (1u32..=u32::MAX, ms)
        .prop_map(|(r, ms)| Limit::new(r, Duration::from_millis(ms)))
        .boxed()
}

#[test]
fn sustained_rate_under_cronofy_defaults_is_at_least_95_percent() {
    let config = PacingConfig::cronofy_default();
    let mut state = PacerState::default();
    let times: Vec<u64> = (0..2_000).map(|_| state.reserve(&config, 0)).collect();
    let last = *times.last().expect("2,000 slots");
    // 1,999 intervals in `last` µs, against 500 per 60,000,000 µs: at least 95%.
    assert!(
        1_999u128 * 60_000_000 * 100 >= 95 * 500 * u128::from(last),
        "the last of 2,000 goes at {last} µs"
    );
    assert_eq!(last, 245_143_530, "the documented figure");
    // Steady state: the 500/min interval, 97.2% of the limit.
    let steady = times[1_999] - times[1_998];
    assert_eq!(steady, 123_498);
    assert!(60_000_000 * 1_000 / steady >= 971 * 500);
}

#[test]
fn cronofy_default_parameters_are_the_documented_ones() {
    let config = PacingConfig::cronofy_default();
    let [second, minute] = config.windows() else {
        panic!("two windows")
    };
    assert_eq!(
        (second.burst(), second.interval_us(), second.margin_us()),
        (1, 20_401, 20_000)
    );
    assert_eq!(
        (minute.burst(), minute.interval_us(), minute.margin_us()),
        (15, 123_498, 20_000)
    );
    assert_eq!(config.first_penalty(), PacingConfig::DEFAULT_FIRST_PENALTY);
    assert_eq!(config.max_penalty(), PacingConfig::DEFAULT_MAX_PENALTY);
}

#[test]
fn a_burst_then_the_steady_rate() {
    // 64/min: burst 2, so two go at once and then one every interval.
    let config = PacingConfig::parse("64/min").unwrap().unwrap();
    let window = config.windows()[0];
    assert_eq!(window.burst(), 2);
    let mut state = PacerState::default();
    let times: Vec<u64> = (0..4).map(|_| state.reserve(&config, 7)).collect();
    let t = window.interval_us();
    assert_eq!(times, [7, 7, 7 + t, 7 + 2 * t]);
}

#[test]
fn a_refusal_in_one_window_does_not_use_up_another() {
    // Both windows are decided together: a request held back by the minute window must not
    // have been charged to the second window at arrival time.
    let config = PacingConfig::parse("10/s,2/min").unwrap().unwrap();
    let mut state = PacerState::default();
    let minute = config.windows()[1].interval_us();
    assert_eq!(state.reserve(&config, 0), 0);
    let second = state.reserve(&config, 0);
    assert_eq!(second, minute);
    // The second window's TAT moved to the admitted time, not to the arrival.
    assert_eq!(state.tat[0], minute + config.windows()[0].interval_us());
}

#[test]
fn throttled_blocks_everyone_and_drains_every_window() {
    let config = PacingConfig::cronofy_default();
    let mut state = PacerState::default();
    assert_eq!(state.reserve(&config, 0), 0);
    state.throttled(&config, 100_000);
    assert_eq!(state.blocked_until, 1_100_000);
    // Every later caller waits, and they go one interval apart: no burst after a 429.
    let times: Vec<u64> = (0..20).map(|_| state.reserve(&config, 200_000)).collect();
    assert_eq!(times[0], 1_100_000);
    let minute = config.windows()[1].interval_us();
    for (k, pair) in times.windows(2).enumerate() {
        assert_eq!(pair[1] - pair[0], minute, "gap {k} after the 429");
    }
}

#[test]
fn the_penalty_doubles_to_its_cap_and_a_success_resets_it() {
    let config = PacingConfig::cronofy_default();
    let mut state = PacerState::default();
    let mut now = 0;
    let mut waits = Vec::new();
    for _ in 0..9 {
        state.throttled(&config, now);
        waits.push((state.blocked_until - now) / 1_000_000);
        now = state.blocked_until; // the next 429 arrives as the block ends
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    state.succeeded();
    assert_eq!(state.penalty, 0);
    let blocked = state.blocked_until;
    state.throttled(&config, blocked);
    assert_eq!(state.blocked_until, blocked + 1_000_000);
}

#[test]
fn an_earlier_block_is_never_shortened() {
    let config = PacingConfig::cronofy_default().penalty(Duration::from_secs(10), Duration::MAX);
    let mut state = PacerState::default();
    state.throttled(&config, 0);
    assert_eq!(state.blocked_until, 10_000_000);
    let config = config.penalty(Duration::from_secs(1), Duration::from_secs(1));
    state.throttled(&config, 1);
    assert_eq!(state.blocked_until, 10_000_000);
}

#[test]
fn a_grown_penalty_is_forgotten_after_a_quiet_spell() {
    let config = PacingConfig::cronofy_default();
    let mut state = PacerState::default();
    state.throttled(&config, 0); // blocked 1 s, next 2 s
    state.throttled(&config, 500_000); // blocked to 2.5 s, next 4 s
    assert_eq!(state.penalty, 4_000_000);
    // A retry shortly after the block keeps the memory of the 429s...
    let mut busy = state.clone();
    busy.reserve(&config, 3_000_000);
    busy.throttled(&config, 3_100_000);
    assert_eq!(busy.blocked_until, 7_100_000);
    // ...but once idle the state acts as a fresh one, as an expired shared key would.
    let idle = state.idle_at();
    assert_eq!(idle, 2_500_000 + 4_000_000);
    let mut fresh = PacerState::default();
    assert_eq!(state.reserve(&config, idle), fresh.reserve(&config, idle));
    assert_eq!(state, fresh);
}

#[test]
fn idle_at_is_when_a_decision_matches_a_fresh_state() {
    let config = PacingConfig::parse("3/s,20/min").unwrap().unwrap();
    let mut state = PacerState::default();
    for now in [0, 0, 0, 10, 400_000] {
        state.reserve(&config, now);
    }
    let idle = state.idle_at();
    assert_eq!(idle, *state.tat.iter().max().unwrap());
    let mut fresh = PacerState::default();
    let mut late = state.clone();
    assert_eq!(late.reserve(&config, idle), fresh.reserve(&config, idle));
    // One microsecond before, the state still holds something back.
    let mut early = state.clone();
    let mut fresh = PacerState::default();
    let (a, b) = (
        early.reserve(&config, idle - 1),
        fresh.reserve(&config, idle - 1),
    );
    let (a2, b2) = (
        early.reserve(&config, idle - 1),
        fresh.reserve(&config, idle - 1),
    );
    assert!((a, a2) != (b, b2));
}

#[test]
fn extreme_times_saturate_without_panicking() {
    let config = PacingConfig::cronofy_default();
    let mut state = PacerState::default();
    assert_eq!(state.reserve(&config, u64::MAX), u64::MAX);
    assert_eq!(state.reserve(&config, u64::MAX), u64::MAX);
    assert_eq!(state.tat, [u64::MAX, u64::MAX]);
    state.throttled(&config, u64::MAX);
    assert_eq!(state.blocked_until, u64::MAX);
    assert_eq!(state.idle_at(), u64::MAX);
    assert_eq!(state.reserve(&config, 0), u64::MAX);

    let mut state = PacerState::default();
    assert_eq!(state.reserve(&config, 0), 0);
    let huge = PacingConfig::cronofy_default().penalty(Duration::MAX, Duration::MAX);
    state.throttled(&huge, 0);
    state.throttled(&huge, u64::MAX - 1);
    assert_eq!(state.blocked_until, u64::MAX);
}

#[test]
fn a_state_from_another_config_is_refitted() {
    let one = PacingConfig::parse("5/s").unwrap().unwrap();
    let three = PacingConfig::parse("5/s,50/min,500/h").unwrap().unwrap();
    let mut state = PacerState::default();
    state.reserve(&one, 0);
    state.reserve(&three, 0);
    assert_eq!(state.tat.len(), 3);
    state.reserve(&one, 0);
    assert_eq!(state.tat.len(), 1);
}

#[test]
fn local_pacer_hands_out_the_same_slots_from_many_threads() {
    let config = PacingConfig::parse("40/s,1200/min").unwrap().unwrap();
    let mut sequential = PacerState::default();
    let expected: Vec<u64> = (0..400).map(|_| sequential.reserve(&config, 0)).collect();
    let pacer = LocalPacer::new(config);
    let mut got: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|_| scope.spawn(|| (0..25).map(|_| pacer.reserve(0)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("no panic"))
            .collect()
    });
    got.sort_unstable();
    assert_eq!(got, expected);
    assert_eq!(pacer.state(), sequential);
}

#[test]
fn local_pacer_is_send_and_sync_and_debug() {
    fn shareable<T: Send + Sync + std::fmt::Debug>() {}
    shareable::<LocalPacer>();
    let pacer = LocalPacer::new(PacingConfig::cronofy_default());
    assert!(format!("{pacer:?}").contains("LocalPacer"));
}

#[test]
fn local_pacer_throttled_and_succeeded_reach_the_shared_state() {
    let pacer = LocalPacer::new(PacingConfig::cronofy_default());
    pacer.throttled(0);
    assert_eq!(pacer.state().blocked_until, 1_000_000);
    assert_eq!(pacer.reserve(5), 1_000_000);
    assert_eq!(pacer.state().penalty, 2_000_000);
    pacer.succeeded();
    assert_eq!(pacer.state().penalty, 0);
}

#[test]
fn parse_reads_every_unit_and_off() {
    let ms = |n| Duration::from_millis(n);
    for (spec, per) in [
        ("1/250ms", ms(250)),
        ("1/s", ms(1_000)),
        ("1/sec", ms(1_000)),
        ("1/10S", ms(10_000)),
        ("1/m", ms(60_000)),
        ("1/min", ms(60_000)),
        ("1/2h", ms(7_200_000)),
        ("1/24h", ms(86_400_000)),
        ("1/ 3 min ", ms(180_000)),
    ] {
        let config = PacingConfig::parse(spec).unwrap().unwrap();
        assert_eq!(config.limits(), [Limit::new(1, per)], "{spec}");
    }
    for off in ["off", " OFF ", "Off"] {
        assert_eq!(PacingConfig::parse(off), Ok(None));
    }
}

#[test]
fn display_picks_the_largest_exact_unit() {
    let ms = |n| Duration::from_millis(n);
    for (per, text) in [
        (ms(1), "9/ms"),
        (ms(1_500), "9/1500ms"),
        (ms(1_000), "9/s"),
        (ms(90_000), "9/90s"),
        (ms(60_000), "9/min"),
        (ms(5_400_000), "9/90min"),
        (ms(3_600_000), "9/h"),
        (ms(86_400_000), "9/24h"),
    ] {
        assert_eq!(Limit::new(9, per).to_string(), text);
    }
}

#[test]
fn every_parse_error_names_its_problem() {
    use PacingConfigError as E;
    let cases: Vec<(&str, PacingConfigError, &str)> = vec![
        ("", E::NoLimits, "no rate limit"),
        ("  ", E::NoLimits, "no rate limit"),
        (
            "1/s,1/s,1/s,1/s,1/s,1/s,1/s,1/s,1/s",
            E::TooManyLimits,
            "more than 8",
        ),
        (
            "50/s,0/min",
            E::ZeroRequests { position: 2 },
            "zero requests",
        ),
        (
            "1/0s",
            E::WindowTooShort {
                position: 1,
                per: Duration::ZERO,
            },
            "shorter than 1 ms",
        ),
        (
            "1/25h",
            E::WindowTooLong {
                position: 1,
                per: Duration::from_secs(90_000),
            },
            "longer than a day",
        ),
        ("50/s,", E::EmptyItem { position: 2 }, "empty"),
        (",50/s", E::EmptyItem { position: 1 }, "empty"),
        (
            "50/s, 500",
            E::MissingSlash {
                position: 2,
                item: "500".into(),
            },
            "COUNT/WINDOW",
        ),
        (
            "fifty/s",
            E::BadRequestCount {
                position: 1,
                item: "fifty/s".into(),
            },
            "request count",
        ),
        (
            "-5/s",
            E::BadRequestCount {
                position: 1,
                item: "-5/s".into(),
            },
            "request count",
        ),
        (
            "4294967296/s",
            E::BadRequestCount {
                position: 1,
                item: "4294967296/s".into(),
            },
            "request count",
        ),
        (
            "5/99999999999999999999s",
            E::BadWindowCount {
                position: 1,
                item: "5/99999999999999999999s".into(),
            },
            "count of units",
        ),
        (
            "5/1.5s",
            E::UnknownUnit {
                position: 1,
                item: "5/1.5s".into(),
                unit: ".5s".into(),
            },
            "unknown time unit `.5s`",
        ),
        (
            "5/fortnight",
            E::UnknownUnit {
                position: 1,
                item: "5/fortnight".into(),
                unit: "fortnight".into(),
            },
            "unknown time unit `fortnight`",
        ),
        (
            "5/10",
            E::UnknownUnit {
                position: 1,
                item: "5/10".into(),
                unit: "".into(),
            },
            "unknown time unit ``",
        ),
    ];
    for (spec, expected, words) in cases {
        let error = PacingConfig::parse(spec).unwrap_err();
        assert_eq!(error, expected, "{spec:?}");
        assert!(error.to_string().contains(words), "{spec:?}: {error}");
    }
    let long = format!("{}/s", "9".repeat(200));
    let Err(E::BadRequestCount { item, .. }) = PacingConfig::parse(&long) else {
        panic!("a bad count")
    };
    assert_eq!(item.len(), 64, "errors keep at most 64 characters");
}

#[test]
fn new_checks_every_limit() {
    use PacingConfigError as E;
    let ms = Duration::from_millis;
    assert_eq!(PacingConfig::new([]), Err(E::NoLimits));
    assert_eq!(
        PacingConfig::new(std::iter::repeat(Limit::per_second(1))),
        Err(E::TooManyLimits),
        "an endless list is refused, not read forever"
    );
    assert!(PacingConfig::new([Limit::per_second(1); PacingConfig::MAX_LIMITS]).is_ok());
    let odd = Duration::from_micros(1_500);
    assert_eq!(
        PacingConfig::new([Limit::per_second(1), Limit::new(1, odd)]),
        Err(E::WindowNotWholeMilliseconds {
            position: 2,
            per: odd
        })
    );
    assert_eq!(
        PacingConfig::new([Limit::new(1, ms(0))]),
        Err(E::WindowTooShort {
            position: 1,
            per: ms(0)
        })
    );
    assert!(
        PacingConfig::new([
            Limit::new(1, PacingConfig::MIN_WINDOW),
            Limit::new(u32::MAX, PacingConfig::MAX_WINDOW)
        ])
        .is_ok()
    );
    assert_eq!(
        PacingConfig::new([Limit::new(1, PacingConfig::MAX_WINDOW + ms(1))]),
        Err(E::WindowTooLong {
            position: 1,
            per: PacingConfig::MAX_WINDOW + ms(1)
        })
    );
}

#[test]
fn divided_by_a_fleet() {
    let config =
        PacingConfig::cronofy_default().penalty(Duration::from_secs(2), Duration::from_secs(20));
    let third = config.divided(3);
    assert_eq!(third.to_string(), "16/s,166/min");
    assert_eq!(third.first_penalty(), Duration::from_secs(2));
    assert_eq!(third.max_penalty(), Duration::from_secs(20));
    assert_eq!(config.divided(0), config);
    assert_eq!(config.divided(1), config);
    assert_eq!(config.divided(u32::MAX).to_string(), "1/s,1/min");
    // The windows are derived again for the smaller counts.
    assert_eq!(
        third.windows()[1],
        PacingConfig::parse("166/min").unwrap().unwrap().windows()[0]
    );
}

#[test]
fn penalty_settings() {
    let config =
        PacingConfig::cronofy_default().penalty(Duration::from_millis(250), Duration::from_secs(2));
    let mut state = PacerState::default();
    let mut waits = Vec::new();
    let mut now = 0;
    for _ in 0..6 {
        state.throttled(&config, now);
        waits.push(state.blocked_until - now);
        now = state.blocked_until;
    }
    assert_eq!(
        waits,
        [250_000, 500_000, 1_000_000, 2_000_000, 2_000_000, 2_000_000]
    );
    // A zero first penalty drains the windows without blocking.
    let config = PacingConfig::cronofy_default().penalty(Duration::ZERO, Duration::ZERO);
    let mut state = PacerState::default();
    state.throttled(&config, 5);
    assert_eq!(state.blocked_until, 5);
    assert_eq!(state.reserve(&config, 5), 5);
    assert_eq!(
        state.reserve(&config, 5),
        5 + config.windows()[1].interval_us()
    );
}
