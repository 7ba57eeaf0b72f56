//! Defects found in `src/`, each kept as a test: inputs that fuzzing (`cargo xtask fuzz`,
//! targets in `fuzz/`) found to break a contract, and defects the other tests of this binary
//! found (the second part of this file). A test is `#[ignore]`d while its defect is open;
//! remove the `#[ignore]` with the fix, and the test then guards it.
//!
//! Self-contained (only `permissions_core` and `http`), so that `fuzz/tests/regressions.rs` can
//! compile the same file on its own.

use permissions_core::error::*;
use permissions_core::http::{HeaderMap, StatusCode};
use permissions_core::transport::*;
use permissions_core::*;

/// How long a one-line error may be, in characters: the longest snippet the core keeps (200)
/// several times over, and far less than a response body.
const MAX_DISPLAY_CHARS: usize = 1_000;

fn unprocessable(body: &[u8]) -> ApiError {
    ApiError::from_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &HeaderMap::new(),
        body,
        false,
    )
}

/// Found by the `oauth_error` target (minimized):
///
/// ```text
/// 422
///
/// {"errors":{"even:t_uid":[{"key":"errors.must_be_external_event_uid external ev\x7fent ui…"}]}}
/// ```
///
/// A 422's field names, keys and descriptions reached `Display` verbatim: a hostile or broken
/// server could put terminal escapes (`\u001b[2J`), new lines (forged log lines) or a megabyte
/// of text into the one-line error the CLI prints. Every other body-derived text in `ApiError`
/// went through `clean_snippet` (control characters replaced, at most 64 or 200 characters).
/// Fixed: the field errors are cleaned and the `Display` bounded.
#[test]
fn unprocessable_field_errors_are_short_and_printable() {
    let many_fields: String = (0..10_000)
        .map(|i| format!(r#""field_{i}":[{{"key":"errors.required","description":"required"}}]"#))
        .collect::<Vec<_>>()
        .join(",");
    let long = "d".repeat(100_000);
    let bodies = [
        br#"{"errors":{"even:t_uid":[{"key":"errors.must_be_external_event_uid external ev\u007fent ui"}]}}"#.to_vec(),
        br#"{"errors":{"event_id":[{"key":"errors.required","description":"\u001b[2J\u001b[31mpwned"}]}}"#.to_vec(),
        br#"{"errors":{"event_id\nerror: forged line":[{"key":"k\r\n","description":"d"}]}}"#.to_vec(),
        format!(r#"{{"errors":{{"event_id":[{{"key":"k","description":"{long}"}}]}}}}"#).into_bytes(),
        format!(r#"{{"errors":{{{many_fields}}}}}"#).into_bytes(),
    ];
    for body in bodies {
        let err = unprocessable(&body);
        assert_eq!(err.kind(), "unprocessable");
        let shown = err.to_string();
        assert!(
            !shown.chars().any(char::is_control),
            "a control character in {shown:?}"
        );
        assert!(
            shown.chars().count() <= MAX_DISPLAY_CHARS,
            "{} characters: {shown:.200}…",
            shown.chars().count()
        );
        // Still says which field was wrong.
        assert!(shown.starts_with("unprocessable (422): "), "{shown:.200}");
    }
}

/// The fix must keep what a person needs from an ordinary 422 (this passes today).
#[test]
fn ordinary_field_errors_are_still_shown_in_full() {
    let err = unprocessable(
        br#"{"errors":{"event_id":[{"key":"errors.required","description":"required"}],"summary":[{"key":"errors.blank","description":"can't be blank"}]}}"#,
    );
    assert_eq!(
        err.to_string(),
        "unprocessable (422): event_id: required (errors.required); summary: can't be blank (errors.blank)"
    );
}

/// Found by the `permissions_callback` and `authorization_callback` targets from their seeds
/// (`known_bugs::a_redirect_uri_that_already_has_a_state_still_round_trips` has the permissions
/// half); this is the authorization half. Input (redirect_uri, state, returned URL):
///
/// ```text
/// https://app.example.com/cb?state=abc
/// abc
/// https://app.example.com/cb?state=abc&code=c0de&state=abc
/// ```
///
/// The authorize URL sent `redirect_uri` (which carries `state=abc`) and `state=abc`; Cronofy
/// appends `code` and `state` to `redirect_uri`, so the user returned with two `state`s and the
/// callback was refused (`StateMismatch`) however honest it was. Either `build` refuses a
/// `redirect_uri` with a `state` parameter when a state is set, or the return is accepted.
#[test]
fn an_authorization_redirect_uri_with_a_state_is_refused_or_round_trips() {
    let built = AuthorizationRequest::new(
        "cid",
        "https://app.example.com/cb?state=abc",
        ["read_account"],
    )
    .state("abc")
    .build();
    if let Ok(auth) = built {
        let mut back = auth.redirect_uri().clone();
        back.query_pairs_mut()
            .append_pair("code", "c0de")
            .append_pair("state", "abc");
        assert!(
            matches!(
                auth.parse_callback(back.as_str()),
                Ok(AuthorizationOutcome::Granted { .. })
            ),
            "{back}"
        );
    }
}

/// Found by the `permissions_callback` target: `CallbackCheck::new` kept a `state` already in
/// `redirect_uri` even when a *different* state value was given, and then expected the given
/// one: no return, not even the `redirect_uri` itself, was ever accepted. Input:
///
/// ```text
/// https://app.example.com/cb?state=abc
/// xyz
/// https://app.example.com/cb?state=abc
/// ```
#[test]
fn a_callback_check_with_two_different_states_is_refused() {
    let check = CallbackCheck::new("https://app.example.com/cb?state=abc", Some("xyz"));
    if let Ok(check) = check {
        let own = check.redirect_uri().as_str().to_owned();
        assert_eq!(check.parse(&own), Ok(CallbackOutcome::Accepted), "{own}");
    }
}

/// Found by the secret audit (`tests/conformance/secret_audit.rs`): a gateway that echoes the
/// request into its error page puts the bearer token into the error both transports return.
/// `Exchange::on_response` (now `Call::on_response`) documents that "an error keeps no echo of the access token the
/// request carried ([`ApiError::redact`])", but it never calls `redact`; and a decode error's
/// detail (serde's message, which quotes values) is not redacted at all.
///
/// ```text
/// 500
///
/// upstream refused Authorization: Bearer <the access token sent>
/// ```
#[test]
fn an_echoed_access_token_never_reaches_a_call_error() {
    use std::time::SystemTime;
    const SENT: &str = "REGRESSION-ACCESS-TOKEN-0b5e7a";
    let config = ClientConfig::new(DataCenter::Us.hosts());
    let token = AccessToken::new(SENT);
    let permissions = PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri("https://app.example.com/permission")
        .build()
        .expect("valid");
    let answers: [(u16, String); 6] = [
        (
            500,
            format!("upstream refused Authorization: Bearer {SENT}"),
        ),
        (418, format!("<html>{SENT}</html>")),
        (404, format!("no route for Bearer {SENT}")),
        (
            422,
            format!(
                r#"{{"errors":{{"permissions":[{{"key":"errors.invalid","description":"{SENT} is not allowed"}}]}}}}"#
            ),
        ),
        (200, format!(r#"{{"calendars":"{SENT}"}}"#)),
        (
            200,
            format!(r#"{{"permissions_request":{{"url":7,"echo":"{SENT}"}},"x":{SENT}}}"#),
        ),
    ];
    fn shown<E: Endpoint>(mut call: Call<'_, E>, response: HttpResponse) -> String
    where
        E::Output: std::fmt::Debug,
    {
        let Next::Send(_) = call.poll() else {
            panic!("sends first")
        };
        call.on_response(response, SystemTime::UNIX_EPOCH, 0.5);
        match call.poll() {
            Next::Done(Err(err)) => format!("{err} {err:?}"),
            other => panic!("an error, not {other:?}"),
        }
    }
    for (status, body) in answers {
        let response = || {
            http::Response::builder()
                .status(status)
                .body(body.clone().into_bytes())
                .expect("valid")
        };
        let call = Call::new(&permissions, &config, Some(&token));
        let text = shown(call, response());
        assert!(!text.contains(SENT), "permissions {status}: {text}");
        let call = Call::new(&ListCalendars, &config, Some(&token));
        let text = shown(call, response());
        assert!(!text.contains(SENT), "calendars {status}: {text}");
    }
}

/// Found by the `authorization_callback` target (minimized from
/// `https:;/pe$4s?t:8&code`): a `redirect_uri` that carries a `code` parameter of its own. The
/// honest return is that URI with Cronofy's `code` appended, so it holds two `code`s, and the
/// first one is the redirect_uri's: empty, so the return is refused (`MissingCode`), or
/// non-empty, so the wrong code is handed to the app and its exchange fails (`invalid_grant`).
/// Either `build` refuses a `redirect_uri` with a `code` parameter, or the return is granted
/// the code Cronofy added.
///
/// ```text
/// https://app.example.com/cb?code          https://app.example.com/cb?code=abc
/// (no state)                               (no state)
/// https://app.example.com/cb?code&code=c0de   https://app.example.com/cb?code=abc&code=c0de
/// ```
#[test]
fn an_authorization_redirect_uri_with_a_code_is_refused_or_yields_the_added_code() {
    for redirect in [
        "https://app.example.com/cb?code",
        "https://app.example.com/cb?code=abc",
        "https://app.example.com/cb?code=",
    ] {
        let built = AuthorizationRequest::new("cid", redirect, ["read_account"]).build();
        if let Ok(auth) = built {
            let mut back = auth.redirect_uri().clone();
            back.query_pairs_mut().append_pair("code", "c0de");
            match auth.parse_callback(back.as_str()) {
                Ok(AuthorizationOutcome::Granted { code }) => {
                    assert_eq!(code.secret(), "c0de", "{back}");
                }
                other => panic!("{back}: {other:?}"),
            }
        }
    }
}

// --- defects found by the tests of this binary -------------------------------------------------

/// A response with this status and body, no headers.
fn response(status: u16, body: &[u8]) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .body(body.to_vec())
        .expect("valid test response")
}

const SECRET: &str = "3gBYG1XamYDUEXUyybbummQWEe5YqPmf";

/// Every endpoint's `to_request` (they share one builder).
fn build_every_request(ctx: &RequestContext<'_>) -> Vec<Result<HttpRequest, BuildError>> {
    let permissions = PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri("https://app.example.com/permission")
        .build()
        .expect("valid");
    let creds = ClientCredentials::new("cid", ClientSecret::new("cs"));
    vec![
        permissions.to_request(ctx),
        ListCalendars.to_request(ctx),
        ExchangeCode::new(
            creds.clone(),
            AuthorizationCode::new("c"),
            "https://a.example.com/",
        )
        .to_request(ctx),
        RefreshAccessToken::new(creds.clone(), RefreshToken::new("r")).to_request(ctx),
        RevokeToken::new(creds, Revocable::Sub("acc_1".into())).to_request(ctx),
    ]
}

/// Was a panic ("validated parts always make a request"): `BaseUrl::parse` accepts hosts that
/// `http::Uri` refuses. Fixed in `da1b84c`: the request is now `BuildError::Malformed`.
#[test]
fn base_urls_that_parse_never_make_a_request_panic() {
    let token = AccessToken::new("tok");
    for raw in [
        "https://a{b.example.com",
        "https://a}b.example.com",
        "https://a\"b.example.com",
        "https://a`b.example.com",
    ] {
        // Either the base URL is refused, or every request is built or refused as malformed.
        if let Ok(base) = BaseUrl::parse(raw) {
            for result in build_every_request(&RequestContext::new(&base).with_access_token(&token))
            {
                assert!(
                    matches!(result, Ok(_) | Err(BuildError::Malformed)),
                    "{raw}: {result:?}"
                );
            }
        }
    }
}

/// Was a panic: a `User-Agent` that is not a valid header value. Fixed in `da1b84c`.
#[test]
fn an_invalid_user_agent_is_an_error_not_a_panic() {
    let api = DataCenter::Us.hosts().api().clone();
    let token = AccessToken::new("tok");
    for user_agent in ["my-app\r\nX-Injected: 1", "nul\0", "del\u{7f}"] {
        let ctx = RequestContext::new(&api)
            .with_access_token(&token)
            .with_user_agent(user_agent);
        for result in build_every_request(&ctx) {
            assert_eq!(
                result.map(|_| ()),
                Err(BuildError::ControlCharacter {
                    field: "user_agent"
                }),
                "{user_agent:?}"
            );
        }
    }
}

/// A token endpoint's 400 kept `error` and `error_description` verbatim; a body that echoed a
/// token put it in the error. Fixed in `da1b84c` (only known OAuth codes are kept).
#[test]
fn token_endpoint_400_bodies_never_reach_the_error() {
    assert_token_errors_hide_the_secret(
        &[
            format!(
                r#"{{"error":"invalid_grant","error_description":"refresh_token {SECRET} is unknown"}}"#
            ),
            format!(r#"{{"error":"{SECRET}"}}"#),
        ],
        400,
    );
}

#[test]
fn token_endpoint_422_bodies_never_reach_the_error() {
    assert_token_errors_hide_the_secret(
        &[
            format!(
                r#"{{"errors":{{"refresh_token":[{{"key":"errors.invalid","description":"{SECRET} is invalid"}}]}}}}"#
            ),
            format!(r#"{{"errors":{{"refresh_token":[{{"key":"{SECRET}"}}]}}}}"#),
            format!(r#"{{"errors":{{"{SECRET}":[{{"key":"errors.invalid"}}]}}}}"#),
        ],
        422,
    );
}

/// Feeds each body, with `status`, to the token endpoints and checks no error shows `SECRET`.
fn assert_token_errors_hide_the_secret(bodies: &[String], status: u16) {
    let creds = ClientCredentials::new("cid", ClientSecret::new("cs"));
    let refresh = RefreshAccessToken::new(creds.clone(), RefreshToken::new(SECRET));
    let exchange = ExchangeCode::new(
        creds,
        AuthorizationCode::new(SECRET),
        "https://a.example.com/",
    );
    for body in bodies {
        let errors = [
            refresh
                .parse_response(
                    response(status, body.as_bytes()),
                    &RequestContext::for_hosts(&DataCenter::Us.hosts()),
                )
                .expect_err("an error status"),
            exchange
                .parse_response(
                    response(status, body.as_bytes()),
                    &RequestContext::for_hosts(&DataCenter::Us.hosts()),
                )
                .expect_err("an error status"),
        ];
        for err in errors {
            let shown = format!("{err} {err:?} {err:#?}");
            assert!(!shown.contains(SECRET), "{status}: {shown}");
        }
    }
}

#[test]
fn a_redirect_uri_that_already_has_a_state_still_round_trips() {
    let uri = "https://app.example.com/permission?state=abc";
    let built = PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri(uri)
        .state("abc")
        .build();
    // Either refused when built, or the callback reads back.
    if let Ok(request) = built {
        let check = CallbackCheck::new(uri, Some("abc")).expect("valid");
        assert_eq!(check.redirect_uri(), request.redirect_uri());
        let back = request.redirect_uri().as_str();
        assert_eq!(request.parse_callback(back), Ok(CallbackOutcome::Accepted));
    }
}

#[test]
fn only_the_documented_object_shape_is_a_grant() {
    for body in [
        &br#"[[null, true]]"#[..],
        br#"{"permissions_request":[null,true]}"#,
    ] {
        assert!(
            PermissionsRequest::parse_outcome(body).is_err(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn the_code_exchange_sends_the_redirect_uri_the_authorization_sent() {
    let api = DataCenter::Us.hosts().api().clone();
    let app = DataCenter::Us.hosts().app().clone();
    for given in [
        "https://app.example.com",
        "https://App.Example.com/cb",
        "https://app.example.com:443/cb",
    ] {
        let auth = AuthorizationRequest::new("cid", given, ["read_account"])
            .build()
            .expect("valid");
        let authorize = auth.url(&app);
        let sent_first: String = authorize
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned())
            .expect("has redirect_uri");
        let exchange = ExchangeCode::new(
            ClientCredentials::new("cid", ClientSecret::new("cs")),
            AuthorizationCode::new("code"),
            given,
        );
        let request = exchange
            .to_request(&RequestContext::new(&api))
            .expect("valid");
        // The body is compact JSON, and these URIs need no escaping in it.
        let body = std::str::from_utf8(request.body()).expect("UTF-8 JSON");
        assert!(
            body.contains(&format!(r#""redirect_uri":"{sent_first}""#)),
            "{given}: {body}"
        );
    }
}

#[test]
fn backoff_with_a_huge_cap_still_retries() {
    use std::time::{Duration, SystemTime};
    let policy = RetryPolicy {
        max_attempts: 10,
        base_delay: Duration::from_secs(5_502_859_988_769_952),
        max_delay: Duration::new(2_251_799_813_685_248, 250_000_001),
    };
    let failure = Failure::Status {
        status: http::StatusCode::SERVICE_UNAVAILABLE,
        retry_after: None,
    };
    let decision = policy.decide(1, &failure, true, SystemTime::UNIX_EPOCH, 1.0);
    assert!(
        matches!(decision, RetryDecision::RetryAfter(wait) if wait <= policy.max_delay),
        "{decision:?}"
    );
}
