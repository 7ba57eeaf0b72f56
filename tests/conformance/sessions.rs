//! Sessions through every transport: one user's tokens, refreshed when Cronofy says 401.
//!
//! Concurrent calls that all get 401 share a single refresh, whatever it answers: exactly one
//! refresh request reaches Cronofy, and every waiter gets its result (the new token, or the
//! same typed error) within one refresh's time budget.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use permissions_core::error::{ApiError, CallError, OAuthErrorCode};
use permissions_core::{
    AccessToken, CalendarPermissionLevel, PermissionsOutcome, RefreshToken, RetryPolicy,
};
use permissions_fake::{FakeCronofy, Fault, Route};

use crate::drivers::{Driver, Failure, RefreshHook, SessionDriver};
use crate::scenarios::{
    assert_no_secret, credentials, each, each_with, request, requests_to, token,
};

/// Calls at once through one session.
const CALLS: usize = 8;
/// How long each stale call's 401 takes: long enough that every call holds its 401 before the
/// first refresh ends, so that all of them queue behind it.
const STALE_DELAY: Duration = Duration::from_millis(300);

/// The new access tokens a session's refresh hook was given.
type Persisted = Arc<Mutex<Vec<String>>>;

/// A session with the fake's seeded tokens (the access token expired when `expired`), and
/// what its refresh hook persisted.
fn session<'d>(
    fake: &FakeCronofy,
    driver: &'d dyn Driver,
    expired: bool,
) -> (Box<dyn SessionDriver + 'd>, Persisted) {
    let seed = fake.seed();
    if expired {
        fake.expire_access_token(&seed.access_token);
    }
    let persisted = Persisted::default();
    let hook: RefreshHook = {
        let persisted = persisted.clone();
        Arc::new(move |answer| {
            persisted
                .lock()
                .expect("lock")
                .push(answer.access_token.secret().to_owned())
        })
    };
    let session = driver.session(
        credentials(fake),
        token(fake),
        RefreshToken::new(seed.refresh_token.clone()),
        hook,
    );
    (session, persisted)
}

/// Every stale call's 401 comes after [`STALE_DELAY`] (the fake answers 401 to the expired
/// token after the delay).
fn slow_stale_answers(fake: &FakeCronofy) {
    fake.script(Route::Calendars, vec![Fault::delay(STALE_DELAY); CALLS]);
}

#[test]
fn concurrent_401s_share_one_successful_refresh() {
    each(|fake, driver| {
        let (session, persisted) = session(fake, driver, true);
        slow_stale_answers(fake);
        let results = session.list_calendars_together(CALLS);
        assert_eq!(results.len(), CALLS);
        for (result, _) in results {
            let list = result.expect("every call succeeds with the new token");
            assert_eq!(list.calendars.len(), fake.seed().calendar_ids.len());
        }
        assert_eq!(requests_to(fake, "/oauth/token"), 1, "one refresh request");
        let persisted = persisted.lock().expect("lock").clone();
        assert_eq!(persisted.len(), 1, "the hook ran once");
        assert_eq!(
            session.access_token(),
            AccessToken::new(persisted[0].clone())
        );
        assert_ne!(session.access_token(), token(fake));
        // A fresh token needs no refresh.
        session.list_calendars().expect("calendars");
        assert_eq!(requests_to(fake, "/oauth/token"), 1);
    });
}

#[test]
fn concurrent_401s_share_one_failed_refresh() {
    each(|fake, driver| {
        let (session, persisted) = session(fake, driver, true);
        slow_stale_answers(fake);
        // Every refresh that reached the token endpoint would be refused the same way.
        fake.script(
            Route::Token,
            vec![Fault::status(400).body(r#"{"error":"invalid_grant"}"#); CALLS],
        );
        let results = session.list_calendars_together(CALLS);
        assert_eq!(results.len(), CALLS);
        let mut shown = Vec::new();
        for (result, _) in results {
            let failure = result.expect_err("the refresh failed");
            assert_invalid_grant(&failure);
            assert_no_secret(fake, &failure);
            shown.push(failure.display);
        }
        assert!(
            shown.windows(2).all(|w| w[0] == w[1]),
            "the same error: {shown:?}"
        );
        assert_eq!(
            requests_to(fake, "/oauth/token"),
            1,
            "the dead refresh token was sent once"
        );
        assert!(persisted.lock().expect("lock").is_empty());
        assert_eq!(session.access_token(), token(fake), "the old token is kept");
        let debug = session.debug();
        let seed = fake.seed();
        for secret in [&seed.access_token, &seed.refresh_token, &seed.client_secret] {
            assert!(!debug.contains(secret.as_str()), "{debug}");
        }
    });
}

#[test]
fn concurrent_401s_share_one_refresh_that_times_out() {
    const TIMEOUT: Duration = Duration::from_secs(1);
    each_with(
        |cfg| {
            cfg.timeout = TIMEOUT;
            // One refresh is one attempt: its time budget is the timeout.
            cfg.retry = RetryPolicy::never();
        },
        |fake, driver| {
            let (session, _) = session(fake, driver, true);
            slow_stale_answers(fake);
            fake.script(Route::Token, vec![Fault::hang(); CALLS]);
            let results = session.list_calendars_together(CALLS);
            assert_eq!(results.len(), CALLS);
            for (result, took) in results {
                let failure = result.expect_err("the refresh timed out");
                assert_eq!(failure.kind, "timeout", "{failure:?}");
                // The 401, then one refresh's timeout, and a generous margin; a refresh per
                // waiter, one after another, would take CALLS timeouts.
                assert!(took >= TIMEOUT, "{took:?}");
                assert!(
                    took < STALE_DELAY + TIMEOUT + Duration::from_secs(3),
                    "a waiter got the result after {took:?}"
                );
            }
            assert_eq!(requests_to(fake, "/oauth/token"), 1, "one refresh request");
        },
    );
}

#[test]
fn a_session_refreshes_an_expired_token_once() {
    each(|fake, driver| {
        let seed = fake.seed().clone();
        let (session, persisted) = session(fake, driver, false);
        // A valid token: no refresh.
        session.list_calendars().expect("calendars");
        assert_eq!(requests_to(fake, "/oauth/token"), 0);

        fake.expire_access_token(&seed.access_token);
        let outcome = session
            .request_permissions(&request(&seed.calendar_ids[..1]))
            .expect("permissions after a refresh");
        assert!(
            matches!(outcome, PermissionsOutcome::Redirect { .. }),
            "{outcome:?}"
        );
        assert_eq!(requests_to(fake, "/oauth/token"), 1);
        assert_eq!(requests_to(fake, "/v1/permissions"), 2, "one retry");
        let new_token = session.access_token();
        assert_ne!(new_token, token(fake));
        assert_eq!(
            *persisted.lock().expect("lock"),
            [new_token.secret().to_owned()]
        );

        // The new token keeps working.
        let calendars = session.list_calendars().expect("calendars");
        assert_eq!(
            calendars
                .get(&seed.calendar_ids[0])
                .expect("listed")
                .permission_level,
            Some(CalendarPermissionLevel::Sandbox)
        );
        assert_eq!(requests_to(fake, "/oauth/token"), 1);
    });
}

#[test]
fn a_failed_refresh_is_reported_and_a_call_retried_once_only() {
    each(|fake, driver| {
        let seed = fake.seed().clone();
        let hook: RefreshHook = Arc::new(|_| {});
        let unknown = driver.session(
            credentials(fake),
            AccessToken::new("unknown-access-token"),
            RefreshToken::new("unknown-refresh-token"),
            hook.clone(),
        );
        let failure = unknown.list_calendars().unwrap_err();
        assert_invalid_grant(&failure);
        assert_no_secret(fake, &failure);
        assert!(!failure.display.contains("unknown-refresh-token"));
        assert_eq!(requests_to(fake, "/v1/calendars"), 1);
        assert_eq!(requests_to(fake, "/oauth/token"), 1);
        assert_eq!(
            unknown.access_token(),
            AccessToken::new("unknown-access-token")
        );

        // A refresh that works, but a token still refused: one retry, then the 401.
        let refused = driver.session(
            credentials(fake),
            AccessToken::new("unknown-access-token"),
            RefreshToken::new(seed.refresh_token.clone()),
            hook,
        );
        fake.clear_requests();
        fake.script(Route::Calendars, [Fault::status(401), Fault::status(401)]);
        let failure = refused.list_calendars().unwrap_err();
        assert!(
            matches!(*failure.error, CallError::Api(ApiError::Unauthorized)),
            "{failure:?}"
        );
        assert_eq!(requests_to(fake, "/v1/calendars"), 2);
        assert_eq!(requests_to(fake, "/oauth/token"), 1);
    });
}

/// The refresh's own answer: Cronofy refused the refresh token (`invalid_grant`).
fn assert_invalid_grant(failure: &Failure) {
    assert!(
        matches!(
            *failure.error,
            CallError::Api(ApiError::BadRequest {
                code: OAuthErrorCode::InvalidGrant,
                ..
            })
        ),
        "{failure:?}"
    );
}
