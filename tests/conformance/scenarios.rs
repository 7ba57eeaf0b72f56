//! The scenario table. Each test runs its scenario through every driver against a fresh fake.

use std::time::{Duration, Instant, SystemTime};

use permissions_core::url;
use permissions_core::{
    AccessToken, AuthorizationCode, BaseUrl, CalendarPermissionLevel, CallbackOutcome,
    ClientCredentials, ClientSecret, ExchangeCode, Hosts, PermissionsOutcome, PermissionsRequest,
    RetryPolicy,
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
    }
}

/// Runs `scenario` once per transport, each against its own fake.
fn each(scenario: impl Fn(&FakeCronofy, &dyn Driver)) {
    for (name, factory) in drivers::all() {
        let fake = fake();
        let driver = factory(&config(&fake));
        assert_eq!(driver.name(), name);
        eprintln!("-- transport {name}");
        scenario(&fake, driver.as_ref());
    }
}

fn each_with(tweak: impl Fn(&mut Config), scenario: impl Fn(&FakeCronofy, &dyn Driver)) {
    for (name, factory) in drivers::all() {
        let fake = fake();
        let mut cfg = config(&fake);
        tweak(&mut cfg);
        let driver = factory(&cfg);
        eprintln!("-- transport {name}");
        scenario(&fake, driver.as_ref());
    }
}

fn token(fake: &FakeCronofy) -> AccessToken {
    AccessToken::new(fake.seed().access_token.clone())
}

fn request(calendars: &[String]) -> PermissionsRequest {
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

fn assert_no_secret(fake: &FakeCronofy, failure: &drivers::Failure) {
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

#[test]
fn rate_limited_with_retry_after_seconds_then_success() {
    each(|fake, driver| {
        fake.script(
            Route::Permissions,
            [Fault::status(429).header("Retry-After", "1")],
        );
        let started = Instant::now();
        let outcome =
            driver.request_permissions(&token(fake), &request(&fake.seed().calendar_ids[..1]));
        assert!(
            matches!(outcome, Ok(PermissionsOutcome::Redirect { .. })),
            "{outcome:?}"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "Retry-After was honoured"
        );
    });
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

fn permissions_requests(fake: &FakeCronofy) -> usize {
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
            [Fault::status(503), Fault::status(502), Fault::status(504)],
        );
        let failure = driver
            .request_permissions(&token(fake), &request(&fake.seed().calendar_ids[..1]))
            .unwrap_err();
        assert_eq!(failure.kind, "server");
        assert_eq!(failure.status, Some(504));
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
    });
}

#[test]
fn dropped_connection_is_a_transport_error() {
    each_with(
        |cfg| cfg.retry = RetryPolicy::never(),
        |fake, driver| {
            fake.script(Route::Calendars, [Fault::drop_connection()]);
            let failure = driver.list_calendars(&token(fake)).unwrap_err();
            assert_eq!(failure.kind, "transport", "{failure:?}");
            assert_no_secret(fake, &failure);
        },
    );
}

#[test]
fn redirects_are_not_followed() {
    each(|fake, driver| {
        let elsewhere = format!("{}/v1/elsewhere", fake.api_url());
        fake.script(
            Route::Calendars,
            [Fault::status(302).header("Location", elsewhere.as_str())],
        );
        let failure = driver.list_calendars(&token(fake)).unwrap_err();
        assert_eq!(failure.kind, "unexpected_status");
        assert_eq!(failure.status, Some(302));
        assert!(
            fake.requests().iter().all(|r| r.path != "/v1/elsewhere"),
            "the redirect was followed"
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
            retry: RetryPolicy::never(),
            pacing: None,
        });
        let failure = driver
            .list_calendars(&AccessToken::new("t0k3n-refused"))
            .unwrap_err();
        assert_eq!(failure.kind, "transport", "{name}: {failure:?}");
        assert!(failure.connect, "{name}: {failure:?}");
        assert!(!failure.display.contains("t0k3n-refused"));
    }
}
