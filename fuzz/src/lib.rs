//! The checks behind the fuzz targets of `permissions-core`, one function per target.
//!
//! Each `fuzz_targets/<name>.rs` is one line that hands libFuzzer's bytes to the function of the
//! same name here. Keeping the checks in a library means they also run on stable Rust, with no
//! libFuzzer: the unit tests below replay the seed shapes and every input a fuzzer ever found
//! (`cargo test --manifest-path fuzz/Cargo.toml`).
//!
//! Every function takes any bytes and must not panic. Beyond "no panic", each asserts the
//! parser's contract: a response is a success exactly when its status is 2xx, a redirect URL is
//! always http(s), a callback is accepted only when it is the `redirect_uri` with its state, a
//! `Retry-After` never makes the policy wait past its cap, and no `Debug` or `Display` depends on
//! a secret's value or carries a control character (a terminal escape) from hostile input.
//!
//! # Input formats
//!
//! Inputs are text, so that seeds are easy to write (`cargo xtask fuzz` writes them from the
//! fixtures) and a minimized crash is easy to read:
//!
//! - `response`, `oauth_error`: a miniature HTTP response: a status line (`429`), header lines
//!   (`Retry-After: 3`), an empty line, then the body. See [`split_response`].
//! - `permissions_callback`, `authorization_callback`: three lines: the `redirect_uri`, the state
//!   (empty for none), and the URL the user came back on. See [`split_lines`].
//! - `request_builders`: seven lines, see [`request_builders`].
//! - every other target: the raw body or header value.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::time::{Duration, SystemTime};

use permissions_core::error::{ApiError, BuildError, CallbackError, ResponseError, RetryAfter};
use permissions_core::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use permissions_core::transport::{
    Call, ClientConfig, Endpoint, Failure, HttpRequest, HttpResponse, Next, RequestContext,
    RetryDecision, USER_AGENT,
};
use permissions_core::url::Url;
use permissions_core::*;

/// A fixed "now" for the retry policy: 2025-06-15, so that HTTP-dates on either side occur.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

/// The longest `Display` any error may have, in characters. The core keeps at most 200
/// characters of a snippet or description and 64 of a code; the fixed text around them is
/// short. (`crates/permissions-core/tests/core/regressions.rs` uses the same bound.)
pub const MAX_DISPLAY_CHARS: usize = 1_000;

/// Splits a miniature HTTP response: the first line is the status (its leading digits; anything
/// unreadable or out of range is 200), then `Name: value` lines up to the first empty line
/// (lines that are not a valid header are skipped), then the body. With no empty line, the
/// whole rest is the body.
pub fn split_response(data: &[u8]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let (status_line, rest) = split_once(data, b"\n").unwrap_or((data, &[]));
    let digits: String = String::from_utf8_lossy(status_line)
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .take(3)
        .collect();
    let status = digits
        .parse::<u16>()
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);
    let (head, body) = match split_once(rest, b"\n\n") {
        Some((head, body)) => (head, body),
        None if rest.starts_with(b"\n") => (&[][..], &rest[1..]),
        None => (&[][..], rest),
    };
    let mut headers = HeaderMap::new();
    for line in head.split(|&b| b == b'\n') {
        let Some((name, value)) = split_once(line, b":") else {
            continue;
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    (status, headers, body.to_vec())
}

fn split_once<'a>(data: &'a [u8], separator: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    data.windows(separator.len())
        .position(|w| w == separator)
        .map(|at| (&data[..at], &data[at + separator.len()..]))
}

/// Splits the input, read as UTF-8 (invalid sequences become U+FFFD), into exactly `N` lines:
/// the last takes everything left, missing ones are empty.
pub fn split_lines<const N: usize>(data: &[u8]) -> [String; N] {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(N, '\n');
    std::array::from_fn(|_| parts.next().unwrap_or("").to_owned())
}

fn make_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> HttpResponse {
    let mut response = http::Response::new(body.to_vec());
    *response.status_mut() = status;
    *response.headers_mut() = headers.clone();
    response
}

/// Asserts what every error shown to a person must be: short, and free of control characters
/// (a hostile body must not be able to move a terminal's cursor or forge log lines).
pub fn assert_printable(what: &str, shown: &str) {
    let count = shown.chars().count();
    assert!(
        count <= MAX_DISPLAY_CHARS,
        "{what}: {count} characters shown: {shown:.300}"
    );
    assert!(
        !shown.chars().any(char::is_control),
        "{what}: control character shown: {shown:?}"
    );
}

fn assert_error_shown_well(what: &str, err: &dyn std::error::Error) {
    assert_printable(what, &err.to_string());
    // Debug must not panic either; it may be longer (it is for developers).
    let _ = format!("{err:?} {err:#?}");
}

/// A decode error of a body that may hold a secret: its detail is at most a position.
fn assert_position_only(detail: Option<&str>) {
    if let Some(detail) = detail {
        let words: Vec<&str> = detail.split(' ').collect();
        let ok = matches!(words.as_slice(), ["line", l, "column", c]
            if l.bytes().all(|b| b.is_ascii_digit()) && c.bytes().all(|b| b.is_ascii_digit()));
        assert!(
            ok,
            "a secret body's decode detail is more than a position: {detail:?}"
        );
    }
}

// --- targets ----------------------------------------------------------------------------------

/// `PermissionsRequest::parse_outcome`: a redirect is always an absolute http(s) URL with a host
/// (never `javascript:` or `data:`), and a grant needs `accepted: true`.
pub fn permissions_outcome(data: &[u8]) {
    let result = PermissionsRequest::parse_outcome(data);
    let value = serde_json::from_slice::<serde_json::Value>(data).ok();
    let inner = value.as_ref().map(|v| &v["permissions_request"]);
    if result.is_ok() && value.is_none() {
        // Not valid UTF-8 in a field the answer ignores: serde's derive skips such a string
        // unchecked, `Value` does not, so there is no oracle for this input.
        return;
    }
    match result {
        Ok(PermissionsOutcome::Redirect { url }) => {
            assert!(matches!(url.scheme(), "http" | "https"), "{url}");
            assert!(url.host_str().is_some_and(|h| !h.is_empty()), "{url}");
            // It is the documented field, read as a URL.
            let sent = inner.and_then(|i| i["url"].as_str()).map(Url::parse);
            assert!(
                matches!(&sent, Some(Ok(sent)) if *sent == url),
                "a redirect to {url} from a body whose permissions_request.url is {sent:?}"
            );
        }
        Ok(PermissionsOutcome::Granted) => {
            assert_eq!(
                inner.map(|i| &i["accepted"]),
                Some(&serde_json::Value::Bool(true)),
                "a grant without permissions_request.accepted = true"
            );
        }
        Ok(other) => panic!("unknown outcome {other:?}"),
        Err(err) => assert_error_shown_well("permissions outcome", &err),
    }
}

/// Every endpoint's `parse_response` on one response of any status, headers and body, and the
/// retry policy's reading of it: success exactly for 2xx, the status kept, no secret body kept,
/// and never a wait past the cap.
pub fn response(data: &[u8]) {
    let (status, headers, body) = split_response(data);
    let permissions = PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri("https://app.example.com/permission")
        .state("fuzz-state")
        .build()
        .expect("a valid request");
    let creds = ClientCredentials::new("cid", ClientSecret::new("cs_fuzz_secret"));
    let exchange = ExchangeCode::new(
        creds.clone(),
        AuthorizationCode::new("code_fuzz"),
        "https://app.example.com/oauth",
    );
    let refresh = RefreshAccessToken::new(creds.clone(), RefreshToken::new("ref_fuzz"));
    let revoke = RevokeToken::new(creds, Revocable::Sub("acc_1".into()));

    check_endpoint(&permissions, status, &headers, &body, false);
    check_endpoint(&ListCalendars, status, &headers, &body, false);
    check_endpoint(&exchange, status, &headers, &body, true);
    check_endpoint(&refresh, status, &headers, &body, true);
    check_endpoint(&revoke, status, &headers, &body, true);
}

fn check_endpoint<E>(
    endpoint: &E,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    body_may_hold_secret: bool,
) where
    E: Endpoint,
    E::Output: std::fmt::Debug,
{
    let name = endpoint.name();
    let hosts = DataCenter::Us.hosts();
    let ctx = RequestContext::for_hosts(&hosts);
    match endpoint.parse_response(make_response(status, headers, body), &ctx) {
        Ok(output) => {
            assert!(status.is_success(), "{name}: {status} read as success");
            let _ = format!("{output:?}");
        }
        Err(ResponseError::Decode(err)) => {
            assert!(
                status.is_success(),
                "{name}: {status} read as a decode error"
            );
            if body_may_hold_secret {
                assert_position_only(err.detail.as_deref());
            }
            assert_error_shown_well(name, &err);
        }
        Err(ResponseError::Api(err)) => {
            assert!(
                !status.is_success(),
                "{name}: {status} read as an API error"
            );
            assert_eq!(err.status(), status, "{name}: status changed");
            if body_may_hold_secret
                && let ApiError::Server { snippet, .. } | ApiError::UnexpectedStatus { snippet, .. } =
                    &err
            {
                assert_eq!(snippet, &None, "{name}: a secret body's snippet was kept");
            }
            assert_error_shown_well(name, &err);
        }
        Err(other) => panic!("{name}: unknown error {other:?}"),
    }

    // The call engine around the same response: a wait is never longer than the cap, and an
    // error never shows the access token the request carried, even when the body echoes it.
    let config = ClientConfig::new(hosts);
    let policy = *config.retry_policy();
    let token = AccessToken::new(SENT_TOKEN);
    let mut call = Call::new(endpoint, &config, Some(&token));
    match call.poll() {
        Next::Send(_) => {}
        other => panic!("{name}: an unpaced call's first step is {other:?}"),
    }
    call.on_response(make_response(status, headers, body), now(), 0.5);
    match call.poll() {
        Next::Wait(wait) => {
            assert!(wait <= policy.max_delay, "{name}: waits {wait:?}");
            assert!(
                matches!(status.as_u16(), 429 | 502 | 503 | 504),
                "{name}: retries {status}"
            );
        }
        Next::Done(Err(err)) => {
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains(SENT_TOKEN),
                "{name}: the sent token shows: {shown}"
            );
        }
        // A retry with no wait (a `Retry-After` date already past) sends again at once.
        Next::Send(_) => assert!(
            matches!(status.as_u16(), 429 | 502 | 503 | 504),
            "{name}: retries {status} at once"
        ),
        Next::Done(Ok(_)) => {}
        other => panic!("{name}: after one answer, outside a session: {other:?}"),
    }
}

/// The access token every request of the `response` target carries; `dicts/http.dict` has it,
/// so that bodies echoing it are found.
pub const SENT_TOKEN: &str = "FUZZ-SENT-TOKEN-5e7a";

/// `CalendarList::parse`: what it reads survives a round trip through its own serialization.
pub fn calendars(data: &[u8]) {
    match CalendarList::parse(data) {
        Ok(list) => {
            let again = serde_json::to_vec(&list).expect("a calendar list serializes");
            let reread = CalendarList::parse(&again).expect("its own serialization reads back");
            assert_eq!(reread, list);
            for calendar in list.needing_elevation() {
                assert!(!calendar.calendar_deleted);
                assert_ne!(
                    calendar.permission_level,
                    Some(CalendarPermissionLevel::Unrestricted)
                );
                assert!(list.get(&calendar.calendar_id).is_some());
            }
        }
        Err(err) => assert_error_shown_well("calendar list", &err),
    }
}

/// `TokenResponse::parse`: `Debug` does not depend on the tokens' values, and a decode error
/// says at most where the body broke (it never quotes a token body).
pub fn token_response(data: &[u8]) {
    match TokenResponse::parse(data) {
        Ok(tokens) => {
            let shown = format!("{tokens:?} {tokens:#?}");
            let mut blanked = tokens.clone();
            blanked.access_token = AccessToken::new("");
            blanked.refresh_token = blanked.refresh_token.map(|_| RefreshToken::new(""));
            assert_eq!(
                shown,
                format!("{blanked:?} {blanked:#?}"),
                "Debug depends on a token's value"
            );
            let _ = tokens.expires_at(now());
            let _ = tokens.scopes().count();
        }
        Err(err) => {
            assert_position_only(err.detail.as_deref());
            assert_error_shown_well("token response", &err);
        }
    }
}

/// `ApiError::from_response` with any status, headers and body, for bodies that may or may not
/// hold a secret: the status and kind agree, snippets are short and clean, and a secret body
/// leaves no snippet.
pub fn oauth_error(data: &[u8]) {
    let (status, headers, body) = split_response(data);
    // Mostly 400 (the OAuth error path), but any status: the first line decides.
    for body_may_hold_secret in [false, true] {
        let err = ApiError::from_response(status, &headers, &body, body_may_hold_secret);
        assert_eq!(err.status(), status);
        let expected_kind = match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            402 => "payment_required",
            403 => "forbidden",
            404 => "not_found",
            422 => "unprocessable",
            423 => "locked",
            429 => "rate_limited",
            500..=599 => "server",
            _ => "unexpected_status",
        };
        assert_eq!(err.kind(), expected_kind, "{status}");
        match &err {
            ApiError::BadRequest { code, description } => {
                assert!(code.as_str().chars().count() <= 65, "{code}");
                if let Some(d) = description {
                    assert!(d.chars().count() <= 201, "{d}");
                }
            }
            ApiError::RateLimited { retry_after } => {
                assert_eq!(*retry_after, RetryAfter::from_headers(&headers));
            }
            ApiError::Server { snippet, .. } | ApiError::UnexpectedStatus { snippet, .. } => {
                if body_may_hold_secret {
                    assert_eq!(snippet, &None, "a secret body's snippet was kept");
                } else if let Some(s) = snippet {
                    assert!(s.chars().count() <= 201, "{s}");
                }
            }
            _ => {}
        }
        assert_error_shown_well("api error", &err);
    }
}

/// The one-line text of a URL's query parameters named `name`.
fn params(url: &Url, name: &str) -> Vec<String> {
    url.query_pairs()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// A `redirect_uri` that always builds, for driving the returned-URL parser on its own.
const FIXED_REDIRECT: &str = "https://app.example.com/permission?tenant=7";

/// `CallbackCheck::parse` and `PermissionsRequest::parse_callback`: a returned URL is accepted
/// only when it is the `redirect_uri` (scheme, host, port, path, every original parameter) and
/// carries exactly the state; the `redirect_uri` as sent is always accepted.
pub fn permissions_callback(data: &[u8]) {
    let [redirect, state, returned] = split_lines::<3>(data);
    let state = (!state.is_empty()).then_some(state.as_str());

    if let Ok(check) = CallbackCheck::new(&redirect, state) {
        let result = check.parse(&returned);
        assert_callback_contract(&returned, check.redirect_uri(), state, result.is_ok());
        if let Err(err) = &result {
            assert_error_shown_well("permissions callback", err);
        }
        // The redirect_uri as it was sent is a valid return (unless it carries an error itself).
        let own = check.parse(check.redirect_uri().as_str());
        assert!(
            matches!(own, Ok(_) | Err(CallbackError::Error { .. })),
            "the redirect_uri as sent is refused: {own:?} for {}",
            check.redirect_uri()
        );
        // A request built from the same input sends the same URI and accepts the same returns.
        let built = PermissionsRequest::builder()
            .calendar("cal_1")
            .redirect_uri(redirect.as_str())
            .state(state.unwrap_or("unused"))
            .build();
        if state.is_some()
            && let Ok(request) = &built
        {
            assert_eq!(request.redirect_uri(), check.redirect_uri());
            assert_eq!(
                request.parse_callback(&returned).is_ok(),
                result.is_ok(),
                "the request and the check disagree on {returned:?}"
            );
        }
    }

    // The returned URL on its own, against a `redirect_uri` that always builds: through the
    // check and through a request's own `parse_callback`.
    let fixed = Url::parse(FIXED_REDIRECT).expect("valid");
    if let Ok(check) = CallbackCheck::new(FIXED_REDIRECT, state) {
        let result = check.parse(&returned);
        assert_callback_contract(&returned, &fixed, state, result.is_ok());
        if let Err(err) = &result {
            assert_error_shown_well("permissions callback", err);
        }
    }
    let mut builder = PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri(FIXED_REDIRECT);
    if let Some(state) = state {
        builder = builder.state(state);
    }
    if let Ok(request) = builder.build() {
        let result = request.parse_callback(&returned);
        assert_callback_contract(&returned, &fixed, state, result.is_ok());
        if let Err(err) = &result {
            assert_error_shown_well("permissions callback", err);
        }
    }
}

fn assert_callback_contract(returned: &str, sent: &Url, state: Option<&str>, accepted: bool) {
    if !accepted {
        return;
    }
    let back = Url::parse(returned.trim()).expect("an accepted callback is a URL");
    assert_eq!(back.scheme(), sent.scheme());
    assert_eq!(back.host(), sent.host());
    assert_eq!(back.port_or_known_default(), sent.port_or_known_default());
    assert_eq!(back.path(), sent.path());
    for (name, value) in sent.query_pairs() {
        if state.is_some() && name == "state" {
            continue;
        }
        assert!(
            back.query_pairs().any(|(k, v)| k == name && v == value),
            "parameter {name} lost"
        );
    }
    if let Some(state) = state {
        assert_eq!(
            params(&back, "state"),
            [state],
            "state not exactly the one sent"
        );
    }
}

/// `AuthorizationRequest::parse_callback`, for the `redirect_uri` of the input and for a fixed
/// one: a code is granted only from the `redirect_uri` with its state; the code never shows in
/// `Debug`.
pub fn authorization_callback(data: &[u8]) {
    let [redirect, state, returned] = split_lines::<3>(data);
    let state = (!state.is_empty()).then_some(state.as_str());
    let mut builder = AuthorizationRequest::new("cid", redirect.as_str(), ["read_account"]);
    if let Some(state) = state {
        builder = builder.state(state);
    }
    if let Ok(auth) = builder.build() {
        check_authorization(&auth, &returned, state);
        // The honest return, the redirect_uri plus Cronofy's code and the state, is granted
        // exactly that code (unless the redirect_uri carries an `error` of its own).
        let mut own = auth.redirect_uri().clone();
        own.query_pairs_mut().append_pair("code", "fuzz-code-0");
        if let Some(state) = state {
            own.query_pairs_mut().append_pair("state", state);
        }
        let sent = auth.redirect_uri();
        match auth.parse_callback(own.as_str()) {
            Ok(AuthorizationOutcome::Granted { code }) if code.secret() == "fuzz-code-0" => {}
            Ok(AuthorizationOutcome::Denied) | Err(CallbackError::Error { .. })
                if !params(sent, "error").is_empty() => {}
            other => panic!("{own} as the return of {sent}: {other:?}"),
        }
    }
    // The returned URL on its own, against a `redirect_uri` that always builds.
    let mut fixed = AuthorizationRequest::new("cid", FIXED_REDIRECT, ["read_account"]);
    if let Some(state) = state {
        fixed = fixed.state(state);
    }
    if let Ok(auth) = fixed.build() {
        check_authorization(&auth, &returned, state);
    }
}

fn check_authorization(auth: &AuthorizationRequest, returned: &str, state: Option<&str>) {
    let result = auth.parse_callback(returned);
    check_authorization_result(returned, auth.redirect_uri(), state, result);
}

fn check_authorization_result(
    returned: &str,
    sent: &Url,
    state: Option<&str>,
    result: Result<AuthorizationOutcome, CallbackError>,
) {
    assert_callback_contract(returned, sent, state, result.is_ok());
    match result {
        Ok(AuthorizationOutcome::Granted { code }) => {
            assert!(!code.secret().is_empty());
            let back = Url::parse(returned.trim()).expect("accepted, so a URL");
            assert!(params(&back, "code").iter().any(|c| c == code.secret()));
            assert!(
                params(&back, "error").is_empty(),
                "granted despite an error"
            );
            let outcome = AuthorizationOutcome::Granted { code };
            assert_eq!(
                format!("{outcome:?}"),
                "Granted { code: AuthorizationCode([redacted]) }"
            );
        }
        Ok(AuthorizationOutcome::Denied) => {
            let back = Url::parse(returned.trim()).expect("accepted, so a URL");
            assert_eq!(
                params(&back, "error").first().map(String::as_str),
                Some("access_denied")
            );
        }
        Ok(other) => panic!("unknown outcome {other:?}"),
        Err(err) => assert_error_shown_well("authorization callback", &err),
    }
}

/// `RetryAfter::parse` and `from_headers`: digits are a delay, anything else an HTTP-date or
/// nothing; a date prints back as itself; and no value makes the policy wait past its cap.
pub fn retry_after(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = RetryAfter::parse(&text);
    match parsed {
        Some(RetryAfter::Delay(_)) => {
            let t = text.trim();
            assert!(
                !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()),
                "{t:?}"
            );
        }
        Some(at @ RetryAfter::At(_)) => {
            assert_eq!(RetryAfter::parse(&at.to_string()), Some(at), "{at}");
        }
        Some(other) => panic!("unknown {other:?}"),
        None => {}
    }
    if let Some(r) = parsed {
        let _ = r.to_string();
        let _ = r.delay_from(now());
        let _ = r.delay_from(SystemTime::UNIX_EPOCH);
    }
    // The header path: the raw bytes as a header value.
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, value);
        let from_headers = RetryAfter::from_headers(&headers);
        match std::str::from_utf8(data) {
            Ok(s) if s.is_ascii() => assert_eq!(from_headers, parsed),
            _ => {}
        }
    }
    // The policy never waits past its cap, whatever Cronofy says.
    for policy in [
        RetryPolicy::default(),
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(1),
        },
    ] {
        for status in [429, 503, 502] {
            let failure = Failure::Status {
                status: StatusCode::from_u16(status).expect("valid"),
                retry_after: parsed,
            };
            for attempt in 0..=policy.max_attempts {
                if let RetryDecision::RetryAfter(wait) =
                    policy.decide(attempt, &failure, true, now(), 0.5)
                {
                    assert!(wait <= policy.max_delay, "{status} waits {wait:?}");
                    assert!(attempt < policy.max_attempts);
                }
            }
        }
    }
}

/// `BaseUrl::parse`, the `redirect_uri` rules (through `CallbackCheck::new` and
/// `PermissionsRequestBuilder::build`) and `DataCenter::from_str`: a base URL is https or
/// loopback http, with no query, fragment or user-info; every endpoint builds on it or refuses
/// with an error; a redirect URI is an absolute http(s) URL with no fragment or user-info, and
/// both ways of giving one agree.
pub fn base_url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(base) = BaseUrl::parse(&text) {
        let url = base.as_url();
        match url.scheme() {
            "https" => {}
            "http" => assert!(is_loopback(url), "plain http to {url}"),
            other => panic!("scheme {other}"),
        }
        assert!(url.query().is_none() && url.fragment().is_none(), "{url}");
        assert!(
            url.username().is_empty() && url.password().is_none(),
            "{url}"
        );
        assert!(base.as_str().ends_with('/'));
        let joined = base.join("v1/permissions");
        assert!(joined.as_str().starts_with(base.as_str()), "{joined}");
        assert_eq!(BaseUrl::parse(base.as_str()).as_ref(), Ok(&base));
        build_every_request(&base, USER_AGENT);
    }
    let checked = CallbackCheck::new(&text, None);
    let requested = PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri(text.as_ref())
        .build();
    if let Ok(check) = &checked {
        let uri = check.redirect_uri();
        assert!(matches!(uri.scheme(), "http" | "https"), "{uri}");
        assert!(uri.fragment().is_none());
        assert!(uri.username().is_empty() && uri.password().is_none());
        assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
    }
    match (&checked, &requested) {
        (Ok(check), Ok(request)) => assert_eq!(check.redirect_uri(), request.redirect_uri()),
        (Err(err), _) => assert_error_shown_well("redirect_uri", err),
        (Ok(check), Err(err)) => panic!(
            "{:?} passes the check but not the request: {err}",
            check.redirect_uri().as_str()
        ),
    }
    match text.parse::<DataCenter>() {
        Ok(dc) => assert!(dc.id().eq_ignore_ascii_case(text.trim())),
        Err(err) => {
            assert!(err.given.chars().count() <= 32);
            let _ = err.to_string();
        }
    }
}

fn is_loopback(url: &Url) -> bool {
    use permissions_core::url::Host;
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The secret every builder target uses: it must never show in a request's `Debug`.
const BUILDER_SECRET: &str = "FUZZ-SECRET-c0ffee-5ca1ab1e";

fn build_every_request(base: &BaseUrl, user_agent: &str) {
    let token = AccessToken::new(BUILDER_SECRET);
    let ctx = RequestContext::new(base)
        .with_access_token(&token)
        .with_user_agent(user_agent);
    let creds = ClientCredentials::new("cid", ClientSecret::new(BUILDER_SECRET));
    let permissions = PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri("https://app.example.com/permission")
        .build()
        .expect("valid");
    let requests = [
        permissions.to_request(&ctx),
        ListCalendars.to_request(&ctx),
        ExchangeCode::new(
            creds.clone(),
            AuthorizationCode::new(BUILDER_SECRET),
            "https://app.example.com/oauth",
        )
        .to_request(&ctx),
        RefreshAccessToken::new(creds.clone(), RefreshToken::new(BUILDER_SECRET)).to_request(&ctx),
        RevokeToken::new(
            creds,
            Revocable::AccessToken(AccessToken::new(BUILDER_SECRET)),
        )
        .to_request(&ctx),
    ];
    for request in requests {
        match request {
            Ok(request) => {
                let shown = format!("{:?}", request.headers());
                assert!(!shown.contains(BUILDER_SECRET), "{shown}");
            }
            Err(err) => assert_error_shown_well("build", &err),
        }
    }
}

/// Every builder with hostile text, then `to_request`: a `BuildError` or a request, never a
/// panic, and no secret in a `BuildError`. Lines: base URL, `User-Agent`, calendar id,
/// `redirect_uri`, state, client id, and a value used for every secret.
pub fn request_builders(data: &[u8]) {
    let [
        base,
        user_agent,
        calendar,
        redirect,
        state,
        client_id,
        secret,
    ] = split_lines::<7>(data);
    let base = BaseUrl::parse(&base).unwrap_or_else(|_| DataCenter::Us.hosts().api().clone());
    let token = AccessToken::new(secret.as_str());
    let ctx = RequestContext::new(&base)
        .with_access_token(&token)
        .with_user_agent(&user_agent);
    let creds = ClientCredentials::new(client_id.as_str(), ClientSecret::new(secret.as_str()));
    let mut results: Vec<Result<HttpRequest, BuildError>> = Vec::new();
    match PermissionsRequest::builder()
        .calendar(calendar.as_str())
        .redirect_uri(redirect.as_str())
        .state(state.as_str())
        .build()
    {
        Ok(request) => {
            assert!(request.redirect_uri().fragment().is_none());
            assert_eq!(request.state(), Some(state.as_str()));
            results.push(request.to_request(&ctx));
        }
        Err(err) => assert_error_shown_well("permissions builder", &err),
    }
    match AuthorizationRequest::new(client_id.as_str(), redirect.as_str(), [calendar.as_str()])
        .state(state.as_str())
        .build()
    {
        Ok(auth) => {
            let url = auth.url(DataCenter::Us.hosts().app());
            assert_eq!(params(&url, "client_id"), [client_id.as_str()]);
            assert_eq!(params(&url, "state"), [state.as_str()]);
        }
        Err(err) => assert_error_shown_well("authorization builder", &err),
    }
    results.push(ListCalendars.to_request(&ctx));
    results.push(
        ExchangeCode::new(
            creds.clone(),
            AuthorizationCode::new(secret.as_str()),
            redirect.as_str(),
        )
        .to_request(&ctx),
    );
    results.push(
        RefreshAccessToken::new(creds.clone(), RefreshToken::new(secret.as_str())).to_request(&ctx),
    );
    results.push(
        RevokeToken::new(
            creds,
            Revocable::RefreshToken(RefreshToken::new(secret.as_str())),
        )
        .to_request(&ctx),
    );
    for result in results {
        if let Err(err) = result {
            assert_error_shown_well("to_request", &err);
            if secret.len() >= 8 {
                assert!(
                    !format!("{err} {err:?}").contains(secret.as_str()),
                    "a secret in a build error"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Seeds and every input a fuzzer found, replayed on stable Rust with no libFuzzer.
    use super::*;

    #[test]
    fn mini_responses_split() {
        let (status, headers, body) = split_response(b"429\nRetry-After: 3\nX: y\n\n{\"a\":1}");
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["retry-after"], "3");
        assert_eq!(body, b"{\"a\":1}");
        let (status, headers, body) = split_response(b"nonsense");
        assert_eq!((status, headers.len(), body.len()), (StatusCode::OK, 0, 0));
        let (status, _, body) = split_response(b"201\n\nbody");
        assert_eq!(
            (status, body.as_slice()),
            (StatusCode::CREATED, &b"body"[..])
        );
        assert_eq!(split_lines::<3>(b"a\nb"), ["a", "b", ""]);
    }

    #[test]
    fn seed_shapes_pass_every_check() {
        permissions_outcome(br#"{"permissions_request":{"url":"https://app.cronofy.com/p/1"}}"#);
        permissions_outcome(br#"{"permissions_request":{"url":"javascript:alert(1)"}}"#);
        response(b"200\n\n{\"permissions_request\":{\"accepted\":true}}");
        response(b"429\nRetry-After: 99999999999999999999\n\n");
        response(b"302\nLocation: https://evil.example.com/\n\n");
        calendars(include_bytes!(
            "../../crates/permissions-core/tests/fixtures/list_calendars_response.docs.json"
        ));
        token_response(include_bytes!(
            "../../crates/permissions-core/tests/fixtures/token_response.docs.json"
        ));
        oauth_error(b"500\n\n<html>\x1b[31mred</html>");
        permissions_callback(
            b"https://app.example.com/cb\nst\nhttps://app.example.com/cb?state=st&error=access_denied",
        );
        authorization_callback(
            b"https://app.example.com/cb\nst\nhttps://app.example.com/cb?code=c&state=st",
        );
        retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT");
        retry_after(b"120");
        base_url(b"http://127.0.0.1:8080/prefix");
        request_builders(
            b"https://gw.example.com\nua\ncal_1\nhttps://a.example.com/cb\nst\ncid\nsecret-value",
        );
    }

    /// Inputs on which a check itself was wrong (not `permissions-core`), kept so that it stays
    /// right.
    #[test]
    fn harness_regressions() {
        // Invalid UTF-8 in an ignored field: the answer reads, `serde_json::Value` does not.
        permissions_outcome(
            b"{\"permissions_request\":{\"url\":\"https:/0rmiserrorsreque#tevent_uyd\",\"description\":\"event uid mu\x8d\x814\"}}",
        );
        // A `Retry-After` date already past: the call engine retries at once, with no wait.
        response(b"429\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\n\n");
    }
}
