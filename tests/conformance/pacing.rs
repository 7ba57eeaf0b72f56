//! Pacing to Cronofy's per-application limits, through every transport, against the local
//! Cronofy enforcing them as Cronofy does (a sliding log; 429 with an empty body beyond).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use permissions_core::{AccessToken, PacingConfig, PermissionsRequest, RetryPolicy};
use permissions_fake::{FakeConfig, FakeCronofy, Fault, Route, find_window_exceeded};

use crate::drivers;
use crate::scenarios::{REDIRECT_URI, config};

const SPEC: &str = "40/s,1200/min";

fn limited_fake() -> FakeCronofy {
    let limits = permissions_fake::parse_rate_limits(SPEC).expect("valid spec");
    FakeCronofy::start_blocking_with(FakeConfig::default().rate_limits(limits))
        .expect("fake Cronofy starts")
}

fn permissions_request(fake: &FakeCronofy) -> PermissionsRequest {
    PermissionsRequest::builder()
        .calendar(fake.seed().calendar_ids[0].clone())
        .redirect_uri(REDIRECT_URI)
        .build()
        .expect("valid")
}

/// The proof: 16 threads (ureq) and 16 tasks (reqwest), 400 calls, against a fake
/// limited to 40/s and 1,200/min: no 429, and the fake's own arrival times exceed no window.
#[test]
fn paced_calls_from_16_at_once_stay_inside_every_window() {
    for (name, factory) in drivers::all() {
        let fake = limited_fake();
        let mut cfg = config(&fake);
        cfg.pacing = PacingConfig::parse(SPEC).expect("valid");
        cfg.timeout = Duration::from_secs(30);
        // A 429 must not be hidden by a retry.
        cfg.retry = RetryPolicy::never();
        let driver = factory(&cfg);
        let token = AccessToken::new(fake.seed().access_token.clone());
        let ok = driver.soak(&token, &permissions_request(&fake), 400, 16);
        assert_eq!(ok, 400, "{name}: every call answered");
        assert_eq!(fake.rate_limited_count(), 0, "{name}: no 429");
        let times = fake.admitted_times_of(&fake.seed().client_id);
        assert_eq!(times.len(), 400, "{name}");
        assert_eq!(
            find_window_exceeded(&fake.rate_limits(), &times),
            None,
            "{name}: the fake's own clock shows no window exceeded"
        );
    }
}

/// The control that shows why pacing is there: the same burst unpaced meets 429s.
#[test]
fn unpaced_calls_meet_429s() {
    for (name, factory) in drivers::all() {
        let fake = limited_fake();
        let mut cfg = config(&fake);
        cfg.retry = RetryPolicy::never();
        let driver = factory(&cfg);
        let token = AccessToken::new(fake.seed().access_token.clone());
        let ok = driver.soak(&token, &permissions_request(&fake), 100, 16);
        assert!(
            fake.rate_limited_count() > 0,
            "{name}: {ok} of 100 went through"
        );
        assert!(ok < 100, "{name}");
    }
}

/// A 429 the pacer did not foresee (traffic from elsewhere) makes every caller of the client
/// back off, not just the one that saw it: no request reaches Cronofy during the penalty.
#[test]
fn a_429_from_outside_holds_every_caller_back() {
    for (name, factory) in drivers::all() {
        let answers: Arc<Mutex<Vec<(Instant, u16)>>> = Arc::default();
        let log = answers.clone();
        let fake = FakeCronofy::start_blocking_with(FakeConfig::default().on_response(
            move |request, status| {
                if request.path.starts_with("/v1/") {
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((Instant::now(), status));
                }
            },
        ))
        .expect("fake Cronofy starts");
        fake.script(Route::Permissions, [Fault::status(429)]);
        let mut cfg = config(&fake);
        // Generous limits: only the 429's penalty can hold anyone back.
        cfg.pacing = PacingConfig::parse("1000/s,60000/min").expect("valid");
        cfg.timeout = Duration::from_secs(10);
        let driver: Arc<dyn drivers::Driver> = Arc::from(factory(&cfg));
        let token = AccessToken::new(fake.seed().access_token.clone());
        let request = permissions_request(&fake);

        // The first caller meets the 429 and retries after the penalty.
        let first = {
            let (driver, token) = (driver.clone(), token.clone());
            std::thread::spawn(move || driver.request_permissions(&token, &request))
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let throttled_at = loop {
            let seen = answers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let Some((at, _)) = seen.iter().find(|(_, status)| *status == 429) {
                break *at;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: the scripted 429 never came"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        // Three other callers start after the client has surely read the 429 (the fake logs it
        // as it answers, a moment before the client reads it): without the shared penalty they
        // would reach Cronofy about 0.5 s after the 429; with it, after about 1 s.
        std::thread::sleep(Duration::from_millis(500));
        let others: Vec<_> = (0..3)
            .map(|_| {
                let (driver, token) = (driver.clone(), token.clone());
                std::thread::spawn(move || driver.list_calendars(&token))
            })
            .collect();
        for other in others {
            other
                .join()
                .expect("no panic")
                .expect("listed after the penalty");
        }
        first.join().expect("no panic").expect("granted on retry");
        let seen = answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        assert_eq!(
            seen.len(),
            5,
            "{name}: one 429, its retry and three lists: {seen:?}"
        );
        // The penalty after a first 429 is 1 s; allow for the clocks of two threads.
        for (at, status) in seen.iter().filter(|(_, status)| *status != 429) {
            let after = at.duration_since(throttled_at);
            assert!(
                after >= Duration::from_millis(900),
                "{name}: a {status} reached Cronofy {after:?} after the 429"
            );
        }
    }
}
