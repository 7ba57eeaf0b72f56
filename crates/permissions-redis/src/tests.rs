//! Tests against a real, private redis-server (see `test_server`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use permissions_core::transport::{Feedback, Pacer, PacerState};
use permissions_core::{Limit, PacingConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use redis::Commands;

use crate::guard::Ask;
use crate::script::Mode;
use crate::test_server::RedisServer;
use crate::{AsyncRedisPacer, PacerStatus, RedisPacer, RedisPacerBuilder, RedisPacerError};

fn config(spec: &str) -> PacingConfig {
    PacingConfig::parse(spec)
        .expect("a valid spec")
        .expect("not off")
}

/// Counts this crate's warnings and info messages on the thread it is installed on.
#[derive(Clone, Default)]
struct Counter {
    warnings: Arc<AtomicUsize>,
    infos: Arc<AtomicUsize>,
}

impl Counter {
    fn warnings(&self) -> usize {
        self.warnings.load(Ordering::SeqCst)
    }
    fn infos(&self) -> usize {
        self.infos.load(Ordering::SeqCst)
    }
}

impl tracing::Subscriber for Counter {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let metadata = event.metadata();
        if !metadata.target().starts_with("permissions_redis") {
            return;
        }
        if *metadata.level() == tracing::Level::WARN {
            self.warnings.fetch_add(1, Ordering::SeqCst);
        } else if *metadata.level() == tracing::Level::INFO {
            self.infos.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The brute-force oracle: in any span of `window` (both ends included) at most `limit`
/// slots. Returns the first span that holds more.
fn over_limit(slots: &[u64], limit: Limit) -> Option<(u64, usize)> {
    let mut slots = slots.to_vec();
    slots.sort_unstable();
    let window = u64::try_from(limit.per.as_micros()).expect("a short window");
    let mut end = 0;
    for (start, &at) in slots.iter().enumerate() {
        end = end.max(start);
        while end + 1 < slots.len() && slots[end + 1] - at <= window {
            end += 1;
        }
        let count = end - start + 1;
        if count > limit.requests as usize {
            return Some((at, count));
        }
    }
    None
}

#[test]
fn the_oracle_sees_a_window_exceeded() {
    let limit = Limit::new(3, Duration::from_millis(10));
    assert_eq!(over_limit(&[0, 5_000, 10_000], limit), None);
    assert_eq!(over_limit(&[0, 5_000, 10_000, 10_000], limit), Some((0, 4)));
    assert_eq!(over_limit(&[0, 5_000, 10_000, 10_001], limit), None);
}

// ---- The script is PacerState's arithmetic ------------------------------------------------

/// The stored hash as a PacerState (`None`: no key).
fn stored(connection: &mut redis::Connection, key: &str, windows: usize) -> Option<PacerState> {
    let fields: HashMap<String, u64> = connection.hgetall(key).expect("HGETALL");
    if fields.is_empty() {
        return None;
    }
    Some(PacerState {
        tat: (1..=windows).map(|i| fields[&format!("t{i}")]).collect(),
        blocked_until: fields["b"],
        penalty: fields["p"],
    })
}

/// Runs `ops` (mode, time step in µs) through the script (with the test-only clock) and through
/// a `PacerState` fed the same times, comparing every answer and the stored state.
fn compare(
    pacer: &RedisPacer,
    connection: &mut redis::Connection,
    config: &PacingConfig,
    start: u64,
    ops: &[(Mode, u64)],
) -> Result<(), TestCaseError> {
    let mut state = PacerState::default();
    let mut now = start;
    let windows = config.windows().len();
    for (step, &(mode, advance)) in ops.iter().enumerate() {
        now += advance;
        let held = state.blocked_until > now;
        let reply = pacer
            .eval(mode, Some(now))
            .map_err(|failure| TestCaseError::fail(format!("step {step}: {failure}")))?;
        prop_assert_eq!(reply.now_us, now);
        match mode {
            Mode::Reserve => {
                let at = state.reserve(config, now);
                prop_assert_eq!(reply.wait_us, at - now, "step {}: wait", step);
            }
            Mode::Throttled => {
                state.throttled(config, now);
                prop_assert_eq!(reply.wait_us, 0);
            }
            Mode::Answered => {
                state.succeeded();
                prop_assert_eq!(reply.wait_us, 0);
            }
            Mode::Hold => {
                let at = state.hold(config, now);
                prop_assert_eq!(reply.wait_us, at - now, "step {}: hold", step);
                if !held {
                    // A read: nothing written (the stored state is compared below).
                    prop_assert_eq!(reply.ttl_ms, 0, "step {}: hold wrote", step);
                }
            }
        }
        prop_assert_eq!(reply.penalty_active, state.penalty != 0, "step {}", step);
        // Every mode but a success and a hold that found nothing holding writes the state.
        if matches!(mode, Mode::Reserve | Mode::Throttled) || (mode == Mode::Hold && held) {
            // PEXPIRE's argument: until the state equals a fresh one, in whole ms rounded up.
            let expected = state.idle_at().saturating_sub(now).div_ceil(1_000);
            prop_assert_eq!(reply.ttl_ms, expected, "step {}: ttl", step);
        }
        match stored(connection, pacer.key(), windows) {
            // No key: the state must behave as a fresh one from now on.
            None => prop_assert!(state.idle_at() <= now, "step {}: key gone early", step),
            Some(stored) => prop_assert_eq!(stored, state.clone(), "step {}: state", step),
        }
    }
    Ok(())
}

#[test]
fn the_script_reserves_as_pacer_state_does() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = config("2/s");
    let pacer = RedisPacer::new(&server.url(), config.clone(), "fixed", 1).unwrap();
    let mut connection = server.connection();
    // PacerState's own documented example, at an absolute time on "Redis's clock".
    let base = 1_700_000_000_000_000;
    let first = pacer.eval(Mode::Reserve, Some(base + 1_000)).unwrap();
    let second = pacer.eval(Mode::Reserve, Some(base + 1_000)).unwrap();
    assert_eq!((first.wait_us, second.wait_us), (0, 510_001));
    assert_eq!(
        stored(&mut connection, pacer.key(), 1).unwrap().tat,
        [base + 1_021_002]
    );
    // The test clock never sets an expiry; TIME does (below).
    assert_eq!(connection.pttl::<_, i64>(pacer.key()).unwrap(), -1);
    compare(
        &pacer,
        &mut connection,
        &config,
        base + 2_000_000,
        &[
            (Mode::Throttled, 0),
            (Mode::Hold, 250_000),
            (Mode::Hold, 0),
            (Mode::Reserve, 10),
            (Mode::Throttled, 1_500_000),
            (Mode::Hold, 1),
            (Mode::Answered, 1),
            (Mode::Hold, 5_000_000),
            (Mode::Reserve, 0),
        ],
    )
    .unwrap();
}

fn arb_config() -> impl Strategy<Value = PacingConfig> {
    let limit = (
        1u32..=600,
        prop_oneof![
            Just(1u64),
            Just(100),
            Just(1_000),
            Just(60_000),
            1u64..=120_000
        ],
    )
        .prop_map(|(requests, ms)| Limit::new(requests, Duration::from_millis(ms)));
    (
        prop::collection::vec(limit, 1..=3),
        0u64..=2_000_000,
        0u64..=8_000_000,
    )
        .prop_map(|(limits, first, max)| {
            PacingConfig::new(limits)
                .expect("valid limits")
                .penalty(Duration::from_micros(first), Duration::from_micros(max))
        })
}

fn arb_ops() -> impl Strategy<Value = Vec<(Mode, u64)>> {
    let mode = prop_oneof![
        6 => Just(Mode::Reserve),
        1 => Just(Mode::Throttled),
        2 => Just(Mode::Answered),
        2 => Just(Mode::Hold),
    ];
    let step = prop_oneof![
        3 => Just(0u64),
        4 => 0u64..50_000,
        2 => 0u64..3_000_000,
        1 => 0u64..200_000_000,
    ];
    prop::collection::vec((mode, step), 1..60)
}

#[test]
fn the_script_matches_pacer_state_for_random_sequences() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let connection = std::cell::RefCell::new(server.connection());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    let case = AtomicUsize::new(0);
    runner
        .run(
            &(arb_config(), arb_ops(), 0u64..1_000_000_000_000_000),
            |(config, ops, offset)| {
                let key = format!("prop-{}", case.fetch_add(1, Ordering::Relaxed));
                let pacer = RedisPacer::new(&server.url(), config.clone(), &key, 1).unwrap();
                // Redis's clock in µs since 1970, give or take 30 years.
                let start = 1_000_000_000_000_000 + offset;
                let mut connection = connection.borrow_mut();
                let result = compare(&pacer, &mut connection, &config, start, &ops);
                let _: () = connection.del(pacer.key()).unwrap();
                result
            },
        )
        .unwrap();
}

// ---- Shared limits --------------------------------------------------------------------------

#[test]
fn two_pacers_on_one_key_never_exceed_the_limits() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = config("64/s,300/10s");
    let pacers: Vec<Arc<RedisPacer>> = (0..2)
        .map(|_| Arc::new(RedisPacer::new(&server.url(), config.clone(), "fleet", 2).unwrap()))
        .collect();
    // Four threads, two per pacer, 100 reservations each; nobody sleeps: the slots are
    // reserved ahead, on Redis's clock, and must fit the limits wherever they fall.
    let threads: Vec<_> = (0..4)
        .map(|index| {
            let pacer = Arc::clone(&pacers[index % 2]);
            std::thread::spawn(move || {
                (0..100)
                    .map(|_| {
                        pacer
                            .decide(Ask::Reserve, Instant::now())
                            .redis_until_us
                            .expect("decided on Redis")
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let slots: Vec<u64> = threads
        .into_iter()
        .flat_map(|thread| thread.join().unwrap())
        .collect();
    assert_eq!(slots.len(), 400);
    for limit in config.limits() {
        assert_eq!(over_limit(&slots, *limit), None, "{limit} exceeded");
    }
    // And no slot was given twice, nor wasted: 400 slots at 300/10s take about 13 s.
    let span = slots.iter().max().unwrap() - slots.iter().min().unwrap();
    let minute = config.windows()[1];
    let steady = (400 - u64::from(minute.burst())) * minute.interval_us();
    assert!(span <= steady + 1_000_000, "{span} µs for 400 slots");
    assert!(pacers.iter().all(|pacer| pacer.is_shared()));
}

#[test]
fn two_async_pacers_on_one_key_never_exceed_the_limits() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = config("40/s,250/10s");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let slots = runtime.block_on(async {
        let pacers: Vec<Arc<AsyncRedisPacer>> = (0..2)
            .map(|_| {
                Arc::new(AsyncRedisPacer::new(&server.url(), config.clone(), "fleet", 2).unwrap())
            })
            .collect();
        let tasks: Vec<_> = (0..8)
            .map(|index| {
                let pacer = Arc::clone(&pacers[index % 2]);
                tokio::spawn(async move {
                    let mut slots = Vec::new();
                    for _ in 0..40 {
                        let slot = pacer.decide(Ask::Reserve, Instant::now()).await;
                        slots.push(slot.redis_until_us.expect("decided on Redis"));
                    }
                    slots
                })
            })
            .collect();
        let mut slots = Vec::new();
        for task in tasks {
            slots.extend(task.await.unwrap());
        }
        assert!(pacers.iter().all(|pacer| pacer.is_shared()));
        slots
    });
    assert_eq!(slots.len(), 320);
    for limit in config.limits() {
        assert_eq!(over_limit(&slots, *limit), None, "{limit} exceeded");
    }
}

#[test]
fn a_429_seen_by_one_pacer_makes_the_other_wait() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut connection = server.connection();
    let url = server.url();
    let config = PacingConfig::cronofy_default();
    let seen = RedisPacer::new(&url, config.clone(), "app", 2).unwrap();
    let other = RedisPacer::new(&url, config, "app", 2).unwrap();
    assert_eq!(other.reserve(Instant::now()), Duration::ZERO);
    seen.report(Feedback::Throttled, Instant::now());
    let penalty: u64 = connection.hget(seen.key(), "p").unwrap();
    assert_eq!(penalty, 2_000_000, "the next 429 waits 2 s");
    // The other process waits out the first penalty, 1 s, less the moment since.
    let wait = other.reserve(Instant::now());
    assert!(
        wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
        "{wait:?}"
    );
    // Its reply said a penalty has grown: its next success resets it, for everyone.
    other.report(Feedback::Answered, Instant::now());
    let penalty: u64 = connection.hget(seen.key(), "p").unwrap();
    assert_eq!(penalty, 0);
    // A success when no penalty has grown costs no round trip.
    let commands = |connection: &mut redis::Connection| -> u64 {
        let info: redis::InfoDict = redis::cmd("INFO").arg("stats").query(connection).unwrap();
        info.get("total_commands_processed").unwrap()
    };
    let before = commands(&mut connection);
    other.report(Feedback::Answered, Instant::now());
    assert_eq!(
        commands(&mut connection),
        before + 1,
        "only the INFO itself"
    );
    // The one that saw the 429 still believes a penalty has grown: it does tell Redis.
    let before = commands(&mut connection);
    seen.report(Feedback::Answered, Instant::now());
    assert!(commands(&mut connection) >= before + 2);
    assert!(seen.is_shared() && other.is_shared());
}

#[test]
fn async_pacers_share_a_429() {
    use permissions_core::transport::AsyncPacer;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = PacingConfig::cronofy_default();
        let seen = AsyncRedisPacer::new(&url, config.clone(), "app", 2).unwrap();
        let other = AsyncRedisPacer::new(&url, config, "app", 2).unwrap();
        assert_eq!(
            AsyncPacer::reserve(&other, Instant::now()).await,
            Duration::ZERO
        );
        AsyncPacer::report(&seen, Feedback::Throttled, Instant::now()).await;
        let wait = AsyncPacer::reserve(&other, Instant::now()).await;
        assert!(wait > Duration::from_millis(500), "{wait:?}");
        assert!(seen.is_shared() && other.is_shared());
    });
}

#[test]
fn a_429_after_a_slot_was_reserved_holds_the_other_pacers_callers() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut connection = server.connection();
    let url = server.url();
    // 10/s (one slot every ~102 ms, no burst), and a short first penalty (500 ms, past the
    // slots booked below), to see the hold end.
    let config = config("10/s").penalty(Duration::from_millis(500), Duration::from_secs(2));
    let seen = RedisPacer::new(&url, config.clone(), "held", 2).unwrap();
    let other = RedisPacer::new(&url, config, "held", 2).unwrap();
    // Callers of the other process reserve slots ahead and wait for them.
    assert_eq!(other.reserve(Instant::now()), Duration::ZERO);
    assert!(other.reserve(Instant::now()) > Duration::ZERO);
    // When nothing holds, a hold is a read: zero, and nothing written.
    let state: HashMap<String, String> = connection.hgetall(other.key()).unwrap();
    assert_eq!(
        other.hold(Instant::now()),
        Duration::ZERO,
        "nothing holds yet"
    );
    let unchanged: HashMap<String, String> = connection.hgetall(other.key()).unwrap();
    assert_eq!(
        unchanged, state,
        "a hold that finds nothing holding writes nothing"
    );
    // Meanwhile the first process sees a 429: when their slots come due, the callers are held
    // past the block (500 ms), and spaced at the steady rate (~102 ms) rather than all woken
    // together when it ends.
    seen.report(Feedback::Throttled, Instant::now());
    let first = other.hold(Instant::now());
    let second = other.hold(Instant::now());
    assert!(
        first > Duration::from_millis(300) && first <= Duration::from_millis(500),
        "{first:?}"
    );
    assert!(
        second >= first + Duration::from_millis(90),
        "{first:?} then {second:?}"
    );
    // Once the penalty has passed, nothing holds.
    std::thread::sleep(first + Duration::from_millis(20));
    assert_eq!(other.hold(Instant::now()), Duration::ZERO);
    // All on Redis: the other's local fallback never heard of the 429.
    assert!(seen.is_shared() && other.is_shared());
    assert_eq!(other.status().fallbacks, 0);
}

#[test]
fn async_pacers_hold_a_waiting_caller_after_a_429() {
    use permissions_core::transport::AsyncPacer;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = config("10/s").penalty(Duration::from_millis(200), Duration::from_millis(800));
        let seen = AsyncRedisPacer::new(&url, config.clone(), "held", 2).unwrap();
        let other = AsyncRedisPacer::new(&url, config, "held", 2).unwrap();
        assert_eq!(
            AsyncPacer::reserve(&other, Instant::now()).await,
            Duration::ZERO
        );
        assert_eq!(
            AsyncPacer::hold(&other, Instant::now()).await,
            Duration::ZERO
        );
        AsyncPacer::report(&seen, Feedback::Throttled, Instant::now()).await;
        let hold = AsyncPacer::hold(&other, Instant::now()).await;
        assert!(
            hold > Duration::ZERO && hold <= Duration::from_millis(200),
            "{hold:?}"
        );
        tokio::time::sleep(hold + Duration::from_millis(20)).await;
        assert_eq!(
            AsyncPacer::hold(&other, Instant::now()).await,
            Duration::ZERO
        );
        assert!(seen.is_shared() && other.is_shared());
    });
}

// ---- Keys, scripts ----------------------------------------------------------------------------

#[test]
fn keys_expire_when_their_state_is_fresh_again() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut connection = server.connection();
    let config = config("2/s").penalty(Duration::from_millis(100), Duration::from_millis(400));
    let pacer = RedisPacer::new(&server.url(), config, "expiring", 1).unwrap();
    let reply = pacer.eval(Mode::Reserve, None).unwrap();
    assert_eq!(reply.ttl_ms, 511, "TAT is 510,001 µs ahead: 511 ms");
    let ttl: i64 = connection.pttl(pacer.key()).unwrap();
    assert!(0 < ttl && ttl <= 511, "PTTL {ttl}");
    // A 429: blocked 100 ms, the next penalty 200 ms: idle 300 ms later (more than the TAT).
    pacer.report(Feedback::Throttled, Instant::now());
    let ttl: i64 = connection.pttl(pacer.key()).unwrap();
    assert!(0 < ttl && ttl <= 511, "PTTL {ttl}");
    // Gone once idle (bounded wait: 5 s).
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        !connection.exists::<_, bool>(pacer.key()).unwrap()
    });
    assert!(gone, "the key outlived its state");
    // And the next decision starts fresh.
    assert_eq!(pacer.reserve(Instant::now()), Duration::ZERO);
    assert!(pacer.is_shared());
}

#[test]
fn a_flushed_script_cache_is_refilled() {
    use permissions_core::transport::AsyncPacer;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut connection = server.connection();
    let config = config("1/s");
    let sha = crate::script::SCRIPT.get_hash().to_owned();
    let exists = |connection: &mut redis::Connection| -> bool {
        let found: Vec<bool> = redis::cmd("SCRIPT")
            .arg("EXISTS")
            .arg(&sha)
            .query(connection)
            .unwrap();
        found[0]
    };
    let pacer = RedisPacer::new(&server.url(), config.clone(), "flushed", 1).unwrap();
    assert_eq!(Pacer::reserve(&pacer, Instant::now()), Duration::ZERO);
    assert!(exists(&mut connection));
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut connection)
        .unwrap();
    assert!(!exists(&mut connection));
    // NOSCRIPT, then loaded and run once: the second slot is reserved on Redis.
    assert!(Pacer::reserve(&pacer, Instant::now()) > Duration::from_millis(500));
    assert!(exists(&mut connection));
    assert_eq!(pacer.status().fallbacks, 0);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pacer = AsyncRedisPacer::new(&server.url(), config, "flushed-async", 1).unwrap();
        assert_eq!(
            AsyncPacer::reserve(&pacer, Instant::now()).await,
            Duration::ZERO
        );
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query(&mut connection)
            .unwrap();
        assert!(AsyncPacer::reserve(&pacer, Instant::now()).await > Duration::from_millis(500));
        assert_eq!(pacer.status().fallbacks, 0);
    });
}

// ---- Redis away ---------------------------------------------------------------------------------

/// Generous: a decision must end within its time-outs; this only catches a hang.
const NO_HANG: Duration = Duration::from_secs(3);

#[test]
fn without_redis_decisions_are_local_at_the_divided_limits() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redis+unix://{}", dir.path().join("none.sock").display());
    let counter = Counter::default();
    let _guard = tracing::subscriber::set_default(counter.clone());
    let pacer = RedisPacer::new(&url, config("50/s"), "alone", 2).unwrap();
    let now = Instant::now();
    assert_eq!(pacer.reserve(now), Duration::ZERO);
    // 50/s for a fleet of 2: 25/s each, 40.8 ms apart.
    assert_eq!(pacer.reserve(now), Duration::from_micros(40_801));
    assert_eq!(
        pacer.status(),
        PacerStatus {
            shared: false,
            fallbacks: 1,
            recoveries: 0
        }
    );
    pacer.report(Feedback::Throttled, now);
    assert!(pacer.reserve(now) >= Duration::from_secs(1));
    assert_eq!(counter.warnings(), 1);
}

#[test]
fn hold_falls_back_to_the_local_penalty_and_probes_redis_again() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let counter = Counter::default();
    let _guard = tracing::subscriber::set_default(counter.clone());
    let probe = Duration::from_millis(200);
    let pacer = outage_builder(&server.url(), "50/s", "hold-outage", probe)
        .build()
        .unwrap();
    assert_eq!(pacer.hold(Instant::now()), Duration::ZERO);
    assert!(pacer.is_shared());

    // Killed: the hold's Redis call fails, the local fallback answers (nothing holds there).
    server.stop();
    let now = Instant::now();
    assert_eq!(pacer.hold(now), Duration::ZERO);
    assert!(!pacer.is_shared());
    // A 429 meanwhile goes to the fallback, whose hold answers: past its penalty (1 s).
    pacer.report(Feedback::Throttled, now);
    assert_eq!(pacer.hold(now), Duration::from_secs(1));
    // Past the probe interval the hold probes Redis, fails, and answers locally still: the
    // next slot after the block, one interval of the fallback's 25/s (40.801 ms) later.
    let later = now + probe + Duration::from_millis(10);
    assert_eq!(
        pacer.hold(later),
        Duration::from_micros(1_040_801 - 210_000)
    );
    assert_eq!((pacer.status().fallbacks, counter.warnings()), (1, 1));

    // Back: the next probe is a hold, answered by Redis (which saw no 429), not the fallback.
    server.restart();
    let back = later + probe + Duration::from_millis(10);
    assert_eq!(pacer.hold(back), Duration::ZERO);
    assert_eq!(
        pacer.status(),
        PacerStatus {
            shared: true,
            fallbacks: 1,
            recoveries: 1
        }
    );
    assert_eq!(counter.infos(), 1);
}

#[test]
fn a_probe_interval_past_the_clock_keeps_decisions_local_for_good() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let pacer = outage_builder(&server.url(), "50/s", "never", Duration::MAX)
        .build()
        .unwrap();
    assert!(
        pacer
            .decide(Ask::Reserve, Instant::now())
            .redis_until_us
            .is_some()
    );
    server.stop();
    // Opening the breaker must not add Duration::MAX to the clock (it used to panic).
    let now = Instant::now();
    assert_eq!(pacer.reserve(now), Duration::ZERO);
    assert!(!pacer.is_shared());
    // The fallback's limits: 50/s for a fleet of 2, 25/s.
    assert_eq!(pacer.reserve(now), Duration::from_micros(40_801));
    // Redis is back, but no probe is ever due: a century later, decisions are still local.
    server.restart();
    let century = now + Duration::from_secs(100 * 365 * 24 * 3600);
    assert_eq!(pacer.decide(Ask::Reserve, century).redis_until_us, None);
    assert_eq!(pacer.hold(century), Duration::ZERO);
    assert_eq!(
        pacer.status(),
        PacerStatus {
            shared: false,
            fallbacks: 1,
            recoveries: 0
        }
    );
}

#[test]
fn redis_frozen_then_killed_then_back() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let counter = Counter::default();
    let _guard = tracing::subscriber::set_default(counter.clone());
    let probe = Duration::from_millis(300);
    let pacer = outage_builder(&server.url(), "1000/s", "outage", probe)
        .build()
        .unwrap();
    let decide = |pacer: &RedisPacer| {
        let started = Instant::now();
        let slot = pacer.decide(Ask::Reserve, Instant::now()).redis_until_us;
        assert!(started.elapsed() < NO_HANG, "a decision hung");
        slot
    };
    assert!(decide(&pacer).is_some());

    // Frozen: nothing answers. One decision waits out its time-out, the rest are local; the
    // probes (every 300 ms) fail quietly.
    server.pause();
    for _ in 0..25 {
        assert!(decide(&pacer).is_none());
        std::thread::sleep(Duration::from_millis(40));
    }
    assert_eq!((counter.warnings(), counter.infos()), (1, 0));
    assert!(!pacer.is_shared());

    // Thawed: the next probe finds it.
    server.resume();
    std::thread::sleep(probe + Duration::from_millis(50));
    assert!(
        decide(&pacer).is_some(),
        "shared again after the probe interval"
    );
    assert!(pacer.is_shared());
    assert_eq!((counter.warnings(), counter.infos()), (1, 1));

    // Killed: connections break at once.
    server.stop();
    for _ in 0..10 {
        assert!(decide(&pacer).is_none());
    }
    assert_eq!(counter.warnings(), 2, "one warning per outage");
    server.restart();
    std::thread::sleep(probe + Duration::from_millis(50));
    assert!(decide(&pacer).is_some());
    assert_eq!(
        pacer.status(),
        PacerStatus {
            shared: true,
            fallbacks: 2,
            recoveries: 2
        }
    );
    assert_eq!(counter.infos(), 2);
}

#[test]
fn async_redis_frozen_then_back() {
    use permissions_core::transport::AsyncPacer;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let counter = Counter::default();
    let _guard = tracing::subscriber::set_default(counter.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let probe = Duration::from_millis(300);
    runtime.block_on(async {
        let pacer = outage_builder(&server.url(), "1000/s", "outage", probe)
            .build_async()
            .unwrap();
        let decide = async |pacer: &AsyncRedisPacer| {
            let started = Instant::now();
            let slot = pacer
                .decide(Ask::Reserve, Instant::now())
                .await
                .redis_until_us;
            assert!(started.elapsed() < NO_HANG, "a decision hung");
            slot
        };
        assert!(decide(&pacer).await.is_some());
        server.pause();
        for _ in 0..25 {
            assert!(decide(&pacer).await.is_none());
            // The report path too: local while Redis is away.
            AsyncPacer::report(&pacer, Feedback::Answered, Instant::now()).await;
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        assert_eq!((counter.warnings(), counter.infos()), (1, 0));
        server.resume();
        tokio::time::sleep(probe + Duration::from_millis(50)).await;
        assert!(decide(&pacer).await.is_some());
        assert_eq!((counter.warnings(), counter.infos()), (1, 1));
        assert!(pacer.is_shared());
    });
}

// ---- Settings -----------------------------------------------------------------------------------

#[test]
fn bad_settings_are_refused_without_showing_the_url() {
    let config = PacingConfig::cronofy_default;
    let build = |url: &str, key: &str| RedisPacer::new(url, config(), key, 3).map(|_| ());
    assert_eq!(
        build("http://example.com", "id"),
        Err(RedisPacerError::UnsupportedScheme {
            scheme: "http".into()
        })
    );
    assert_eq!(
        build("hunter2@example.com", "id"),
        Err(RedisPacerError::UnsupportedScheme {
            scheme: String::new()
        })
    );
    if !cfg!(feature = "tls") {
        assert_eq!(
            build("rediss://example.com", "id"),
            Err(RedisPacerError::TlsNotEnabled)
        );
    }
    let invalid = build("redis://:hunter2@[bad", "id").unwrap_err();
    assert_eq!(invalid, RedisPacerError::InvalidUrl);
    assert!(!invalid.to_string().contains("hunter2"));
    for key in ["", "a b", "a{b", "b}", "é", &"k".repeat(201)] {
        assert_eq!(
            build("redis://127.0.0.1", key),
            Err(RedisPacerError::InvalidKey {
                what: "application key"
            }),
            "{key:?}"
        );
    }
    assert_eq!(
        RedisPacerBuilder::new("redis://127.0.0.1", config(), "id")
            .key_prefix("")
            .build()
            .map(|_| ()),
        Err(RedisPacerError::InvalidKey { what: "key prefix" })
    );
    assert_eq!(
        RedisPacerBuilder::new("redis://127.0.0.1", config(), "id")
            .timeout(Duration::ZERO)
            .build_async()
            .map(|_| ()),
        Err(RedisPacerError::ZeroTimeout {
            what: "decision time-out"
        })
    );
    let pacer = RedisPacer::new("redis://:hunter2@127.0.0.1:6390", config(), "id", 3).unwrap();
    let shown = format!("{pacer:?}");
    assert!(
        !shown.contains("hunter2") && shown.contains("127.0.0.1:6390"),
        "{shown}"
    );
    let pacer =
        AsyncRedisPacer::new("redis://user:hunter2@127.0.0.1:6390", config(), "id", 3).unwrap();
    assert!(!format!("{pacer:?}").contains("hunter2"));
}

/// A pacer's builder for the outage tests: short time-outs (50 ms per decision, 100 ms to
/// connect), a fleet of two, probing Redis again every `probe`.
fn outage_builder(url: &str, spec: &str, key: &str, probe: Duration) -> RedisPacerBuilder {
    RedisPacerBuilder::new(url, config(spec), key)
        .timeout(Duration::from_millis(50))
        .connect_timeout(Duration::from_millis(100))
        .probe_interval(probe)
        .fleet_size(2)
}
