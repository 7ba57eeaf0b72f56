//! The scenario table. Each test runs its scenario through every driver against a fresh fake.

use std::time::{Duration, Instant, SystemTime};

use permissions_core::error::{ApiError, BuildError, CallError, RetryAfter};
use permissions_core::transport::TransportErrorKind;
use permissions_core::url;
use permissions_core::{
    AccessToken, AuthorizationCode, BaseUrl, CalendarPermissionLevel, CallbackOutcome,
    ClientCredentials, ClientSecret, ExchangeCode, Hosts, PermissionsOutcome, PermissionsRequest,
    RefreshAccessToken, RetryPolicy, Revocable, RevokeToken,
};
use permissions_fake::{FakeCronofy, Fault, Route};

use crate::drivers::{self, Config, Driver};

pub(crate) const REDIRECT_URI: &str = "https://app.example.com/permission?tenant=7";

pub(crate) fn fake() -> FakeCronofy {
    FakeCronofy::start_blocking().expect("fake Cronofy starts")
}

pub(crate) fn config(fake: &FakeCronofy) -> Config {
    Config {
        hosts: Hosts::custom(
            BaseUrl::parse(fake.api_url()).expect("api url"),
            BaseUrl::parse(fake.app_url()).expect("app url"),
        ),
        timeout: Duration::from_secs(5),
        max_response_bytes: 1 << 20,
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(5),
        },
        pacing: None,
        user_agent: None,
    }
}

/// Runs `scenario` once per transport, each against its own fake.
pub(crate) fn each(scenario: impl Fn(&FakeCronofy, &dyn Driver)) {
    for (name, factory) in drivers::all() {
        let fake = fake();
        let driver = factory(&config(&fake));
        assert_eq!(driver.name(), name);
        eprintln!("-- transport {name}");
        scenario(&fake, driver.as_ref());
    }
}

pub(crate) fn each_with(tweak: impl Fn(&mut Config), scenario: impl Fn(&FakeCronofy, &dyn Driver)) {
    for (name, factory) in drivers::all() {
        let fake = fake();
        let mut cfg = config(&fake);
        tweak(&mut cfg);
        let driver = factory(&cfg);
        eprintln!("-- transport {name}");
        scenario(&fake, driver.as_ref());
    }
}

pub(crate) fn token(fake: &FakeCronofy) -> AccessToken {
    AccessToken::new(fake.seed().access_token.clone())
}

pub(crate) fn request(calendars: &[String]) -> PermissionsRequest {
    PermissionsRequest::builder()
        .calendars(calendars.iter().cloned())
        .redirect_uri(REDIRECT_URI)
        .state("conformance-state-1")
        .build()
        .expect("valid request")
}

/// The user's browser on the permissions page: opens it, submits the form with this id, and
/// returns the `Location` it is sent back to.
pub(crate) fn press(page_url: &str, form_id: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let html = agent
        .get(page_url)
        .call()
        .expect("permissions page")
        .body_mut()
        .read_to_string()
        .expect("page body");
    let marker = format!("id=\"{form_id}\"");
    let form = &html[html.find(&marker).expect("form on the page")..];
    let action_at = form.find("action=\"").expect("form action") + "action=\"".len();
    let action = &form[action_at..action_at + form[action_at..].find('"').expect("closing quote")];
    let page = url::Url::parse(page_url).expect("page url");
    let target = page.join(action).expect("action url");
    let response = agent.post(target.as_str()).send_empty().expect("form post");
    assert_eq!(response.status(), 303, "form answers with a 303");
    response
        .headers()
        .get("location")
        .expect("Location")
        .to_str()
        .expect("ascii Location")
        .to_owned()
}

/// How many requests the fake received on this path.
pub(crate) fn requests_to(fake: &FakeCronofy, path: &str) -> usize {
    fake.requests().iter().filter(|r| r.path == path).count()
}

pub(crate) fn credentials(fake: &FakeCronofy) -> ClientCredentials {
    let seed = fake.seed();
    ClientCredentials::new(
        seed.client_id.clone(),
        ClientSecret::new(seed.client_secret.clone()),
    )
}

/// A code exchange for a code the fake issued to its seeded account.
fn exchange(fake: &FakeCronofy) -> ExchangeCode {
    let code = fake.issue_code(&fake.seed().account_id, "https://app.example.com/oauth");
    ExchangeCode::new(
        credentials(fake),
        AuthorizationCode::new(code),
        "https://app.example.com/oauth",
    )
}

/// An error is one line of text, ready for a log or a terminal.
pub(crate) fn assert_one_line(failure: &drivers::Failure) {
    let text = &failure.display;
    assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
}

pub(crate) fn assert_no_secret(fake: &FakeCronofy, failure: &drivers::Failure) {
    let seed = fake.seed();
    for secret in [&seed.access_token, &seed.refresh_token, &seed.client_secret] {
        for shown in [&failure.display, &failure.debug, &failure.chain] {
            assert!(!shown.contains(secret.as_str()), "secret leaked in {shown}");
        }
    }
}

#[test]
fn full_flow_accept_then_calendars_unrestricted() {
    each(|fake, driver| {
        let seed = fake.seed();
        // Step 2: a code as if the user approved the consent page, exchanged for tokens.
        let code = fake.issue_code(&seed.account_id, "https://app.example.com/oauth");
        let tokens = driver
            .exchange_code(&ExchangeCode::new(
                ClientCredentials::new(
                    seed.client_id.clone(),
                    ClientSecret::new(seed.client_secret.clone()),
                ),
                AuthorizationCode::new(code),
                "https://app.example.com/oauth",
            ))
            .expect("code exchange");
        // Step 3.
        let before = driver
            .list_calendars(&tokens.access_token)
            .expect("calendars");
        let wanted: Vec<String> = before
            .needing_elevation()
            .map(|c| c.calendar_id.clone())
            .collect();
        assert!(!wanted.is_empty());
        assert!(
            before
                .calendars
                .iter()
                .all(|c| c.permission_level == Some(CalendarPermissionLevel::Sandbox))
        );
        // Steps 4-5.
        let request = request(&wanted);
        let PermissionsOutcome::Redirect { url } = driver
            .request_permissions(&tokens.access_token, &request)
            .expect("permissions")
        else {
            panic!("expected a redirect for a user account")
        };
        assert!(url.as_str().starts_with(fake.app_url()), "{url}");
        // Step 6.
        let back = press(url.as_str(), "accept");
        assert_eq!(
            request.parse_callback(&back),
            Ok(CallbackOutcome::Accepted),
            "{back}"
        );
        let after = driver
            .list_calendars(&tokens.access_token)
            .expect("calendars again");
        for id in &wanted {
            assert_eq!(
                after.get(id).expect("still listed").permission_level,
                Some(CalendarPermissionLevel::Unrestricted),
                "{id}"
            );
        }
    });
}

#[test]
fn full_flow_reject_leaves_calendars_unchanged() {
    each(|fake, driver| {
        let token = token(fake);
        let before = driver.list_calendars(&token).expect("calendars");
        let wanted: Vec<String> = before
            .needing_elevation()
            .map(|c| c.calendar_id.clone())
            .collect();
        let request = request(&wanted);
        let PermissionsOutcome::Redirect { url } = driver
            .request_permissions(&token, &request)
            .expect("permissions")
        else {
            panic!("expected a redirect")
        };
        let back = press(url.as_str(), "reject");
        assert!(back.contains("error=access_denied"), "{back}");
        assert_eq!(request.parse_callback(&back), Ok(CallbackOutcome::Rejected));
        let after = driver.list_calendars(&token).expect("calendars again");
        assert_eq!(before, after);
    });
}

#[test]
fn enterprise_connect_is_granted_at_once() {
    each(|fake, driver| {
        let seed = fake.seed();
        let token = AccessToken::new(seed.enterprise_access_token.clone());
        let outcome = driver
            .request_permissions(&token, &request(&seed.enterprise_calendar_ids))
            .expect("permissions");
        assert_eq!(outcome, PermissionsOutcome::Granted);
        let after = driver.list_calendars(&token).expect("calendars");
        for id in &seed.enterprise_calendar_ids {
            assert_eq!(
                after.get(id).expect("listed").permission_level,
                Some(CalendarPermissionLevel::Unrestricted)
            );
        }
    });
}

#[test]
fn every_error_status_maps_to_its_typed_error() {
    let cases: [(u16, &str, &str); 10] = [
        (401, "unauthorized", ""),
        (402, "payment_required", ""),
        (403, "forbidden", ""),
        (404, "not_found", ""),
        (
            422,
            "unprocessable",
            r#"{"errors":{"permissions":[{"key":"errors.required","description":"required"}]}}"#,
        ),
        (423, "locked", ""),
        (429, "rate_limited", ""),
        (500, "server", "oops"),
        (501, "server", ""),
        (418, "unexpected_status", "teapot"),
    ];
    each_with(
        |cfg| cfg.retry = RetryPolicy::never(),
        |fake, driver| {
            let token = token(fake);
            let request = request(&fake.seed().calendar_ids[..1]);
            for (status, kind, body) in cases {
                fake.script(Route::Permissions, [Fault::status(status).body(body)]);
                let failure = driver.request_permissions(&token, &request).unwrap_err();
                assert_eq!(failure.kind, kind, "{status}: {failure:?}");
                assert_eq!(failure.status, Some(status));
                assert_no_secret(fake, &failure);
                if status == 422 {
                    assert!(
                        failure
                            .display
                            .contains("permissions: required (errors.required)"),
                        "{}",
                        failure.display
                    );
                }
            }
            // 400 from the token endpoint: the OAuth error code.
            fake.script(
                Route::Token,
                [Fault::status(400).body(r#"{"error":"invalid_grant"}"#)],
            );
            let seed = fake.seed();
            let failure = driver
                .exchange_code(&ExchangeCode::new(
                    ClientCredentials::new(
                        seed.client_id.clone(),
                        ClientSecret::new(seed.client_secret.clone()),
                    ),
                    AuthorizationCode::new("not-a-code"),
                    "https://app.example.com/oauth",
                ))
                .unwrap_err();
            assert_eq!(failure.kind, "bad_request");
            assert!(failure.display.contains("invalid_grant"));
            assert_no_secret(fake, &failure);
        },
    );
}

/// A 429 and (issue 11, item 5) a 503 with `Retry-After: 1`: retried once, after the second
/// asked for, not after the 10-20 ms back-off.
#[test]
fn retry_after_seconds_on_429_and_503_is_waited_then_success() {
    for status in [429, 503] {
        each(|fake, driver| {
            fake.script(
                Route::Permissions,
                [Fault::status(status).header("Retry-After", "1")],
            );
            let started = Instant::now();
            let outcome =
                driver.request_permissions(&token(fake), &request(&fake.seed().calendar_ids[..1]));
            assert!(
                matches!(outcome, Ok(PermissionsOutcome::Redirect { .. })),
                "{status}: {outcome:?}"
            );
            assert_eq!(permissions_requests(fake), 2, "{status}");
            let took = started.elapsed();
            assert!(took >= Duration::from_millis(900), "{status}: {took:?}");
        });
    }
}

#[test]
fn rate_limited_with_retry_after_date_then_success() {
    each(|fake, driver| {
        let at = httpdate_in(Duration::from_secs(1));
        fake.script(
            Route::Permissions,
            [Fault::status(429).header("Retry-After", at.as_str())],
        );
        let outcome =
            driver.request_permissions(&token(fake), &request(&fake.seed().calendar_ids[..1]));
        assert!(
            matches!(outcome, Ok(PermissionsOutcome::Redirect { .. })),
            "{outcome:?}"
        );
        assert_eq!(permissions_requests(fake), 2);
    });
}

fn httpdate_in(d: Duration) -> String {
    // Formatted by hand through the core's own type, so the test needs no date crate.
    permissions_core::error::RetryAfter::At(SystemTime::now() + d).to_string()
}

pub(crate) fn permissions_requests(fake: &FakeCronofy) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.path == "/v1/permissions")
        .count()
}

#[test]
fn service_unavailable_twice_then_success() {
    each(|fake, driver| {
        fake.script(Route::Permissions, [Fault::status(503), Fault::status(503)]);
        let outcome =
            driver.request_permissions(&token(fake), &request(&fake.seed().calendar_ids[..1]));
        assert!(
            matches!(outcome, Ok(PermissionsOutcome::Redirect { .. })),
            "{outcome:?}"
        );
        assert_eq!(permissions_requests(fake), 3);
    });
}

#[test]
fn retries_exhausted_reports_the_last_error() {
    each(|fake, driver| {
        fake.script(
            Route::Permissions,
            [
                Fault::status(503),
                Fault::status(502),
                Fault::status(504).body("down for maintenance"),
                Fault::status(503),
            ],
        );
        let failure = driver
            .request_permissions(&token(fake), &request(&fake.seed().calendar_ids[..1]))
            .unwrap_err();
        assert_eq!(failure.kind, "server");
        assert_eq!(failure.status, Some(504));
        assert!(
            failure.display.contains("down for maintenance"),
            "{}",
            failure.display
        );
        assert_one_line(&failure);
        assert_eq!(permissions_requests(fake), 3);
    });
}

#[test]
fn retry_after_far_over_the_cap_stops_at_once() {
    each(|fake, driver| {
        fake.script(
            Route::Permissions,
            [Fault::status(429).header("Retry-After", "86400")],
        );
        let started = Instant::now();
        let failure = driver
            .request_permissions(&token(fake), &request(&fake.seed().calendar_ids[..1]))
            .unwrap_err();
        assert_eq!(failure.kind, "rate_limited");
        assert!(failure.retry_after().is_some(), "{failure:?}");
        assert_eq!(permissions_requests(fake), 1);
        assert!(started.elapsed() < Duration::from_secs(3), "did not sleep");
    });
}

#[test]
fn hanging_server_times_out_within_the_timeout() {
    each_with(
        |cfg| {
            cfg.timeout = Duration::from_secs(1);
            cfg.retry = RetryPolicy::never();
        },
        |fake, driver| {
            fake.script(Route::Permissions, [Fault::hang()]);
            let started = Instant::now();
            let failure = driver
                .request_permissions(&token(fake), &request(&fake.seed().calendar_ids[..1]))
                .unwrap_err();
            let took = started.elapsed();
            assert_eq!(failure.kind, "timeout", "{failure:?}");
            assert_one_line(&failure);
            assert!(took >= Duration::from_millis(900), "{took:?}");
            assert!(
                took < Duration::from_secs(4),
                "timeout plus a small margin, took {took:?}"
            );
        },
    );
}

#[test]
fn oversized_body_is_too_large() {
    each(|fake, driver| {
        fake.script(Route::Calendars, [Fault::oversized(64 << 20)]);
        let started = Instant::now();
        let failure = driver.list_calendars(&token(fake)).unwrap_err();
        assert_eq!(failure.kind, "too_large", "{failure:?}");
        assert!(
            matches!(*failure.error, CallError::TooLarge { limit } if limit == 1 << 20),
            "the client's cap: {failure:?}"
        );
        assert_one_line(&failure);
        // Not retried: a second try would be just as large.
        assert_eq!(requests_to(fake, "/v1/calendars"), 1);
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "stopped at the cap, not at the end"
        );
    });
}

#[test]
fn malformed_json_is_a_decode_error() {
    each(|fake, driver| {
        fake.script(Route::Permissions, [Fault::malformed_json()]);
        let failure = driver
            .request_permissions(&token(fake), &request(&fake.seed().calendar_ids[..1]))
            .unwrap_err();
        assert_eq!(failure.kind, "decode", "{failure:?}");
        assert_eq!(failure.status, None);
        assert_one_line(&failure);
    });
}

#[test]
fn dropped_connection_is_a_transport_error() {
    each(|fake, driver| {
        fake.script(Route::Calendars, [Fault::drop_connection()]);
        let failure = driver.list_calendars(&token(fake)).unwrap_err();
        assert_eq!(failure.kind, "transport", "{failure:?}");
        assert!(!failure.connect, "{failure:?}");
        assert!(!failure.chain.is_empty(), "keeps what the stack said");
        assert_one_line(&failure);
        assert_no_secret(fake, &failure);
        // The request may have been processed: not retried, even with retries on.
        assert_eq!(requests_to(fake, "/v1/calendars"), 1);
    });
}

#[test]
fn redirects_are_not_followed() {
    each(|fake, driver| {
        let elsewhere = format!("{}/v1/elsewhere?token=leak", fake.api_url());
        // The same endpoint: following it would even succeed.
        let same = format!("{}/v1/calendars", fake.api_url());
        for location in [elsewhere.as_str(), "/v1/elsewhere", same.as_str()] {
            fake.clear_requests();
            fake.script(
                Route::Calendars,
                [Fault::status(302).header("Location", location)],
            );
            let failure = driver.list_calendars(&token(fake)).unwrap_err();
            assert_eq!(failure.kind, "unexpected_status", "{location}");
            assert_eq!(failure.status, Some(302));
            let log = fake.requests();
            assert_eq!(
                log.len(),
                1,
                "{location}: the redirect was followed: {log:?}"
            );
            assert_eq!(log[0].path, "/v1/calendars");
        }
    });
}

/// Issue 11, item 11: a 307 on the token endpoint (whose body holds the client secret and the
/// code) pointing at another listener: nothing arrives there, through either transport, with
/// the client each crate builds (`ReqwestTransport::from_builder` turns redirects off after any
/// settings of the caller's, so no client that follows redirects can be supplied).
#[test]
fn a_307_on_the_token_endpoint_sends_nothing_to_its_location() {
    let elsewhere = fake();
    each(|fake, driver| {
        elsewhere.clear_requests();
        let location = format!("{}/oauth/token", elsewhere.api_url());
        fake.script(
            Route::Token,
            [Fault::status(307).header("Location", location.as_str())],
        );
        let failure = driver.exchange_code(&exchange(fake)).unwrap_err();
        assert_eq!(failure.status, Some(307), "{failure:?}");
        assert!(
            elsewhere.requests().is_empty(),
            "the secret and the code followed the redirect: {:?}",
            elsewhere.requests()
        );
    });
}

#[test]
fn unknown_token_is_unauthorized_and_never_shown() {
    each(|_fake, driver| {
        let token = AccessToken::new("definitely-not-a-valid-token-0123456789");
        let failure = driver.list_calendars(&token).unwrap_err();
        assert_eq!(failure.kind, "unauthorized");
        for shown in [&failure.display, &failure.debug, &failure.chain] {
            assert!(!shown.contains("definitely-not-a-valid-token"), "{shown}");
        }
    });
}

#[test]
fn refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    for (name, factory) in drivers::all() {
        let api = BaseUrl::parse(&base).expect("base");
        let driver = factory(&Config {
            hosts: Hosts::custom(api.clone(), api),
            timeout: Duration::from_secs(2),
            max_response_bytes: 1 << 20,
            // Connection failures are retried (nothing was sent), and still reported as such.
            retry: RetryPolicy {
                max_attempts: 2,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_secs(1),
            },
            pacing: None,
            user_agent: None,
        });
        let failure = driver
            .list_calendars(&AccessToken::new("t0k3n-refused"))
            .unwrap_err();
        assert_eq!(failure.kind, "transport", "{name}: {failure:?}");
        assert!(failure.connect, "{name}: {failure:?}");
        assert!(
            matches!(&*failure.error, CallError::Connect(inner) if inner.kind() == TransportErrorKind::Connect),
            "{name}: {failure:?}"
        );
        assert_eq!(failure.status, None);
        assert_one_line(&failure);
        for shown in [&failure.display, &failure.debug, &failure.chain] {
            assert!(!shown.contains("t0k3n-refused"), "{name}: {shown}");
            assert!(!shown.contains(&base), "{name}: carries no URL: {shown}");
        }
    }
}

#[test]
fn a_server_error_exposes_its_retry_after() {
    each_with(
        |cfg| cfg.retry = RetryPolicy::never(),
        |fake, driver| {
            fake.script(
                Route::Permissions,
                [Fault::status(503).header("Retry-After", "7")],
            );
            let failure = driver
                .request_permissions(&token(fake), &request(&fake.seed().calendar_ids[..1]))
                .unwrap_err();
            assert_eq!(failure.kind, "server");
            assert_eq!(
                failure.retry_after(),
                Some(RetryAfter::Delay(Duration::from_secs(7))),
                "{failure:?}"
            );
            // Without the header: none.
            fake.script(Route::Permissions, [Fault::status(503)]);
            let failure = driver
                .request_permissions(&token(fake), &request(&fake.seed().calendar_ids[..1]))
                .unwrap_err();
            assert_eq!(failure.retry_after(), None, "{failure:?}");
        },
    );
}

#[test]
fn service_unavailable_with_retry_after_over_the_cap_stops_at_once() {
    each(|fake, driver| {
        // The policy's cap is 5 s: a day is "not now", not a sleep.
        fake.script(
            Route::Permissions,
            [Fault::status(503).header("Retry-After", "86400")],
        );
        let started = Instant::now();
        let failure = driver
            .request_permissions(&token(fake), &request(&fake.seed().calendar_ids[..1]))
            .unwrap_err();
        assert_eq!(failure.kind, "server", "{failure:?}");
        assert_eq!(failure.status, Some(503));
        assert_eq!(
            failure.retry_after(),
            Some(RetryAfter::Delay(Duration::from_secs(86_400)))
        );
        assert_eq!(permissions_requests(fake), 1);
        assert!(started.elapsed() < Duration::from_secs(3), "did not sleep");
    });
}

#[test]
fn a_code_exchange_is_not_repeated_after_a_bad_gateway() {
    each(|fake, driver| {
        fake.script(Route::Token, [Fault::status(502)]);
        let failure = driver.exchange_code(&exchange(fake)).unwrap_err();
        assert_eq!(failure.kind, "server");
        assert_eq!(failure.status, Some(502));
        // A code is single-use: the 502 may have come after it was spent.
        assert_eq!(requests_to(fake, "/oauth/token"), 1);
    });
}

#[test]
fn a_hanging_server_is_retried_then_times_out() {
    each_with(
        |cfg| {
            cfg.timeout = Duration::from_millis(500);
            cfg.retry.max_attempts = 2;
        },
        |fake, driver| {
            fake.script(Route::Calendars, [Fault::hang(), Fault::hang()]);
            let started = Instant::now();
            let failure = driver.list_calendars(&token(fake)).unwrap_err();
            assert_eq!(failure.kind, "timeout", "{failure:?}");
            // A GET is idempotent: the timed-out attempt is tried once more.
            assert_eq!(requests_to(fake, "/v1/calendars"), 2);
            let took = started.elapsed();
            assert!(
                took < Duration::from_secs(6),
                "two timeouts and a margin: {took:?}"
            );
        },
    );
}

#[test]
fn host_names_are_resolved() {
    for (name, factory) in drivers::all() {
        let fake = fake();
        let mut cfg = config(&fake);
        let by_name = |url: &str| {
            BaseUrl::parse(&url.replace("127.0.0.1", "localhost")).expect("a localhost URL")
        };
        cfg.hosts = Hosts::custom(by_name(fake.api_url()), by_name(fake.app_url()));
        let driver = factory(&cfg);
        let list = driver
            .list_calendars(&token(&fake))
            .unwrap_or_else(|f| panic!("{name}: {f:?}"));
        assert_eq!(
            list.calendars.len(),
            fake.seed().calendar_ids.len(),
            "{name}"
        );
        assert_eq!(fake.requests().len(), 1, "{name}");
    }
}

#[test]
fn invalid_input_sends_nothing() {
    each(|fake, driver| {
        let empty_code = ExchangeCode::new(
            credentials(fake),
            AuthorizationCode::new(""),
            "https://app.example.com/oauth",
        );
        let failure = driver.exchange_code(&empty_code).unwrap_err();
        assert_eq!(failure.kind, "invalid_input", "{failure:?}");
        // The generic entry point, with no token for an endpoint that needs one.
        let failure = driver.call_list_calendars(None).unwrap_err();
        assert!(
            matches!(
                *failure.error,
                CallError::InvalidRequest(BuildError::MissingAccessToken)
            ),
            "{failure:?}"
        );
        assert_eq!(failure.kind, "invalid_input");
        assert_eq!(failure.status, None);
        assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    });
}

#[test]
fn refresh_call_and_revoke_then_the_token_is_refused() {
    each(|fake, driver| {
        let tokens = driver
            .exchange_code(&exchange(fake))
            .expect("code exchange");
        assert_eq!(
            tokens.account_id.as_deref(),
            Some(fake.seed().account_id.as_str())
        );
        let refresh = tokens.refresh_token.clone().expect("a refresh token");
        let refreshed = driver
            .refresh_token(&RefreshAccessToken::new(credentials(fake), refresh.clone()))
            .expect("refresh");
        assert_ne!(refreshed.access_token, tokens.access_token);
        // The generic entry point runs the same endpoint as the named method.
        let via_call = driver
            .call_list_calendars(Some(&refreshed.access_token))
            .expect("calendars through call");
        let named = driver
            .list_calendars(&refreshed.access_token)
            .expect("calendars");
        assert_eq!(via_call, named);
        driver
            .revoke(&RevokeToken::new(
                credentials(fake),
                Revocable::RefreshToken(refresh),
            ))
            .expect("revoke");
        let failure = driver
            .list_calendars(&refreshed.access_token)
            .expect_err("revoked");
        assert!(
            matches!(*failure.error, CallError::Api(ApiError::Unauthorized)),
            "{failure:?}"
        );
        assert_eq!(failure.status, Some(401));
    });
}

#[test]
fn every_request_carries_the_transports_user_agent() {
    each(|fake, driver| {
        let token = token(fake);
        driver.list_calendars(&token).expect("calendars");
        driver
            .request_permissions(&token, &request(&fake.seed().calendar_ids[..1]))
            .expect("permissions");
        driver
            .exchange_code(&exchange(fake))
            .expect("code exchange");
        let expected = format!(
            "permissions-{}/{} {}",
            driver.name(),
            env!("CARGO_PKG_VERSION"),
            permissions_core::transport::USER_AGENT
        );
        let log = fake.requests();
        assert_eq!(log.len(), 3);
        for logged in &log {
            assert_eq!(
                logged.header("user-agent"),
                Some(expected.as_str()),
                "{logged:?}"
            );
        }
    });
    // The app's own, as given.
    each_with(
        |cfg| cfg.user_agent = Some("my-app/1.0 (tab\there)".into()),
        |fake, driver| {
            driver.list_calendars(&token(fake)).expect("calendars");
            assert_eq!(
                fake.requests()[0].header("user-agent"),
                Some("my-app/1.0 (tab\there)")
            );
        },
    );
}

#[test]
fn a_user_agent_that_cannot_be_a_header_is_refused_at_build() {
    let fake = fake();
    for (name, build) in drivers::all_fallible() {
        for agent in ["bell\u{7}", "line\nbreak"] {
            let mut cfg = config(&fake);
            cfg.user_agent = Some(agent.into());
            let Err(failure) = build(&cfg) else {
                panic!("{name}: {agent:?} was accepted")
            };
            assert_eq!(failure.kind, "invalid_input", "{name}: {failure:?}");
            assert!(
                failure.display.contains("user_agent"),
                "{name}: {failure:?}"
            );
        }
    }
    assert!(fake.requests().is_empty());
}

#[test]
fn gets_send_no_body_headers_and_posts_send_their_length() {
    each(|fake, driver| {
        let token = token(fake);
        driver.list_calendars(&token).expect("calendars");
        let request = request(&fake.seed().calendar_ids[..1]);
        driver
            .request_permissions(&token, &request)
            .expect("permissions");
        let log = fake.requests();
        assert_eq!(log.len(), 2);
        let (get, post) = (&log[0], &log[1]);
        assert_eq!(
            (get.method.as_str(), get.path.as_str()),
            ("GET", "/v1/calendars")
        );
        assert_eq!(get.header("content-length"), None);
        assert_eq!(get.header("transfer-encoding"), None);
        assert!(get.body.is_empty());
        let bearer = format!("Bearer {}", fake.seed().access_token);
        assert_eq!(get.header("authorization"), Some(bearer.as_str()));
        assert_eq!(get.header("accept"), Some("application/json"));
        assert_eq!(
            (post.method.as_str(), post.path.as_str()),
            ("POST", "/v1/permissions")
        );
        let body = request.body();
        assert_eq!(
            post.header("content-length"),
            Some(body.len().to_string().as_str())
        );
        assert_eq!(post.header("transfer-encoding"), None);
        assert_eq!(post.body, body);
        assert_eq!(
            post.header("content-type"),
            Some("application/json; charset=utf-8")
        );
    });
}
