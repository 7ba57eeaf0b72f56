//! Inputs that fuzzing (`cargo xtask fuzz`, targets in `fuzz/`) found to break a contract of
//! `src/`, each kept as a test. A test is `#[ignore]`d while its defect is open; remove the
//! `#[ignore]` with the fix, and the test then guards it.
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
        let Next::Send(_) = call.next() else {
            panic!("sends first")
        };
        call.on_response(response, SystemTime::UNIX_EPOCH, 0.5);
        match call.next() {
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
