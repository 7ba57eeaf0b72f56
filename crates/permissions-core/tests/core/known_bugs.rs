//! Defects found in `src/` by the tests of this binary, each kept as a test. A test was
//! `#[ignore]`d (and failing) while its defect was open; all are fixed now, and the tests
//! guard the fixes.

use permissions_core::error::*;
use permissions_core::transport::*;
use permissions_core::*;

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
                .parse_response(crate::response(status, &[], body.as_bytes()))
                .expect_err("an error status"),
            exchange
                .parse_response(crate::response(status, &[], body.as_bytes()))
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
        let body: serde_json::Value = serde_json::from_slice(request.body()).expect("JSON");
        assert_eq!(body["redirect_uri"], sent_first.as_str(), "{given}");
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
