//! Issue 11, the core's items: each test failed before its fix.
//!
//! - 3: a permissions answer sends the user to the app host only (unless opted out).
//! - 4: token and calendar answers are read liberally where the API is not known.
//! - 6: a callback's redirect-URI parameters and state are matched exactly, in constant time.
//! - 7: no format (Cf) or control (Cc) character from a server reaches a message.

use permissions_core::error::*;
use permissions_core::*;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::strategies::regex;

// ---------------------------------------------------------------------------------------------
// Item 4: liberal where the API is not known.

#[test]
fn token_answers_with_odd_optional_fields_are_read() {
    let cases = [
        (json!({"access_token": "tok", "token_type": null}), None, ""),
        (
            json!({"access_token": "tok", "expires_in": "3600"}),
            Some(3600),
            "",
        ),
        (
            json!({"access_token": "tok", "expires_in": 3600.0}),
            Some(3600),
            "",
        ),
        (
            json!({"access_token": "tok", "scope": ["a", "b"]}),
            None,
            "a b",
        ),
        (
            json!({"access_token": "tok", "linking_profile": {"profile_id": "pro_1"}}),
            None,
            "",
        ),
        (
            json!({"access_token": "tok", "linking_profile": {"provider_name": null, "profile_name": 7}}),
            None,
            "",
        ),
        (
            json!({"access_token": "tok", "refresh_token": null, "sub": null, "account_id": 12}),
            None,
            "",
        ),
    ];
    for (body, expires_in, scope) in cases {
        let bytes = serde_json::to_vec(&body).expect("serializes");
        let tokens = TokenResponse::parse(&bytes).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(tokens.access_token.secret(), "tok", "{body}");
        assert_eq!(tokens.token_type, "bearer", "{body}");
        assert_eq!(tokens.expires_in, expires_in, "{body}");
        assert_eq!(
            tokens.scopes().collect::<Vec<_>>().join(" "),
            scope,
            "{body}"
        );
    }
    // What is there is kept.
    let tokens = TokenResponse::parse(
        br#"{"access_token":"tok","linking_profile":{"profile_id":"pro_1"},"account_id":12}"#,
    )
    .expect("read");
    let profile = tokens.linking_profile.expect("kept");
    assert_eq!(profile.profile_id.as_deref(), Some("pro_1"));
    assert_eq!(tokens.account_id.as_deref(), Some("12"));
    // What the flow needs is still needed.
    for body in [
        &br#"{"token_type":"bearer"}"#[..],
        br#"{"access_token":null}"#,
        br#"{"access_token":7}"#,
        br#"[]"#,
    ] {
        assert!(
            TokenResponse::parse(body).is_err(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn a_calendar_with_a_null_name_does_not_fail_the_list() {
    let list = CalendarList::parse(
        br#"{"calendars":[
            {"provider_name":"google","calendar_id":"cal_1","calendar_name":null,"calendar_readonly":null,
             "calendar_deleted":"false","permission_level":null,"profile_name":null,"calendar_primary":"true"},
            {"calendar_id":"cal_2","calendar_name":"Work","calendar_deleted":true}
        ],"sub":null}"#,
    )
    .expect("read");
    let ids: Vec<_> = list
        .calendars
        .iter()
        .map(|c| c.calendar_id.as_str())
        .collect();
    assert_eq!(ids, ["cal_1", "cal_2"]);
    assert_eq!(list.calendars[0].calendar_name, "");
    assert_eq!(list.calendars[0].calendar_primary, Some(true));
    assert_eq!(list.calendars[0].provider_name, ProviderName::Google);
    assert_eq!(list.calendars[1].calendar_name, "Work");
    assert!(list.calendars[1].calendar_deleted);
    // A calendar without an id cannot be asked for: that is still an error.
    assert!(CalendarList::parse(br#"{"calendars":[{"calendar_name":"x"}]}"#).is_err());
    assert!(CalendarList::parse(br#"{"calendars":[{"calendar_id":null}]}"#).is_err());
}

/// A value Cronofy might send where its type is not known: nothing, `null`, a number, a
/// number as text, a string, a list, an object.
fn odd_value() -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        any::<bool>().prop_map(|b| Some(Value::Bool(b))),
        any::<u32>().prop_map(|n| Some(json!(n))),
        any::<i64>().prop_map(|n| Some(json!(n))),
        (0.0f64..1e9).prop_map(|f| Some(json!(f))),
        any::<u32>().prop_map(|n| Some(json!(n.to_string()))),
        any::<u32>().prop_map(|n| Some(json!(format!("{n}.0")))),
        regex(r"\PC{0,12}").prop_map(|s| Some(json!(s))),
        prop::collection::vec(regex(r"[a-z_]{1,8}"), 0..3).prop_map(|v| Some(json!(v))),
        Just(Some(json!({"x": 1}))),
    ]
    .boxed()
}

fn with_fields(mut object: Map<String, Value>, keys: &[&str], values: Vec<Option<Value>>) -> Value {
    for (key, value) in keys.iter().zip(values) {
        if let Some(value) = value {
            object.insert((*key).to_owned(), value);
        }
    }
    Value::Object(object)
}

fn whole(f: f64) -> Option<u64> {
    (f.is_finite() && f >= 0.0).then_some(f as u64)
}

/// The number a liberal reader finds in `value`, if any.
fn as_seconds(value: &Option<Value>) -> Option<u64> {
    match value {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().and_then(whole)),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .ok()
            .or_else(|| s.trim().parse::<f64>().ok().and_then(whole)),
        _ => None,
    }
}

const TOKEN_KEYS: [&str; 8] = [
    "token_type",
    "expires_in",
    "refresh_token",
    "scope",
    "account_id",
    "sub",
    "linking_profile",
    "unknown_field",
];

const PROFILE_KEYS: [&str; 4] = [
    "provider_name",
    "provider_service",
    "profile_id",
    "profile_name",
];

const CALENDAR_KEYS: [&str; 10] = [
    "provider_name",
    "profile_id",
    "profile_name",
    "calendar_name",
    "calendar_readonly",
    "calendar_deleted",
    "calendar_primary",
    "calendar_integrated_conferencing_available",
    "calendar_attachments_available",
    "permission_level",
];

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn token_answers_with_the_tokens_are_always_read(
        access in regex(r"[A-Za-z0-9]{1,32}"),
        values in prop::collection::vec(odd_value(), TOKEN_KEYS.len()),
        profile in prop::collection::vec(odd_value(), PROFILE_KEYS.len()),
        profile_as_object in any::<bool>(),
    ) {
        let mut values = values;
        if profile_as_object {
            values[6] = Some(with_fields(Map::new(), &PROFILE_KEYS, profile));
        }
        let mut object = Map::new();
        object.insert("access_token".into(), json!(access));
        let body = with_fields(object, &TOKEN_KEYS, values.clone());
        let bytes = serde_json::to_vec(&body).expect("serializes");
        let tokens = TokenResponse::parse(&bytes);
        prop_assert!(tokens.is_ok(), "{}: {:?}", body, tokens);
        let tokens = tokens.expect("checked");
        prop_assert_eq!(tokens.access_token.secret(), access.as_str());
        prop_assert_eq!(tokens.expires_in, as_seconds(&values[1]));
        if let Some(Value::String(s)) = &values[5] {
            prop_assert_eq!(tokens.sub.as_deref(), Some(s.as_str()));
        }
        if let Some(Value::String(s)) = &values[2] {
            prop_assert_eq!(tokens.refresh_token.as_ref().map(|t| t.secret()), Some(s.as_str()));
        }
        prop_assert_eq!(tokens.linking_profile.is_some(), matches!(values[6], Some(Value::Object(_))));
    }

    #[test]
    fn calendar_lists_with_ids_are_always_read(
        calendars in prop::collection::vec(
            (regex(r"cal_[a-z0-9]{1,12}"), prop::collection::vec(odd_value(), CALENDAR_KEYS.len())),
            0..5,
        ),
        sub in odd_value(),
    ) {
        let list: Vec<Value> = calendars
            .iter()
            .map(|(id, values)| {
                let mut object = Map::new();
                object.insert("calendar_id".into(), json!(id));
                with_fields(object, &CALENDAR_KEYS, values.clone())
            })
            .collect();
        let mut body = Map::new();
        body.insert("calendars".into(), Value::Array(list));
        let body = with_fields(body, &["sub"], vec![sub]);
        let bytes = serde_json::to_vec(&body).expect("serializes");
        let parsed = CalendarList::parse(&bytes);
        prop_assert!(parsed.is_ok(), "{}: {:?}", body, parsed);
        let parsed = parsed.expect("checked");
        prop_assert_eq!(parsed.calendars.len(), calendars.len());
        for (calendar, (id, values)) in parsed.calendars.iter().zip(&calendars) {
            prop_assert_eq!(&calendar.calendar_id, id);
            match &values[3] {
                Some(Value::String(name)) => prop_assert_eq!(&calendar.calendar_name, name),
                // A number's text (serde_json's float parsing is not bit-exact).
                Some(Value::Number(_)) => prop_assert!(calendar.calendar_name.parse::<f64>().is_ok()),
                _ => prop_assert_eq!(calendar.calendar_name.as_str(), ""),
            }
            prop_assert_eq!(calendar.calendar_deleted, matches!(values[5], Some(Value::Bool(true))) ||
                matches!(&values[5], Some(Value::String(s)) if s == "true"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Item 6: callback matching.

#[test]
fn a_repeated_redirect_uri_parameter_is_a_mismatch() {
    let tenant = Err(CallbackError::RedirectMismatch(Mismatch::QueryParameter {
        name: "tenant".into(),
    }));
    for state in [None, Some("st")] {
        let check =
            CallbackCheck::new("https://app.example.com/cb?tenant=a", state).expect("valid");
        let with_state = |q: &str| match state {
            Some(s) => format!("https://app.example.com/cb?{q}&state={s}"),
            None => format!("https://app.example.com/cb?{q}"),
        };
        assert_eq!(
            check.parse(&with_state("tenant=a")),
            Ok(CallbackOutcome::Accepted)
        );
        assert_eq!(check.parse(&with_state("tenant=a&tenant=evil")), tenant);
        assert_eq!(check.parse(&with_state("tenant=evil&tenant=a")), tenant);
        assert_eq!(check.parse(&with_state("tenant=a&tenant=a")), tenant);
    }
    // A redirect URI that repeats a parameter itself gets it back as it was.
    let check = CallbackCheck::new("https://app.example.com/cb?t=1&t=2", None).expect("valid");
    assert_eq!(
        check.parse("https://app.example.com/cb?t=1&t=2"),
        Ok(CallbackOutcome::Accepted)
    );
    assert!(
        check
            .parse("https://app.example.com/cb?t=1&t=2&t=3")
            .is_err()
    );
    // The same through the request types.
    let request = PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri("https://app.example.com/cb?tenant=a")
        .state("st")
        .build()
        .expect("valid");
    assert_eq!(
        request.parse_callback("https://app.example.com/cb?tenant=a&tenant=evil&state=st"),
        tenant
    );
    let auth = AuthorizationRequest::new("cid", "https://app.example.com/cb?tenant=a", ["x"])
        .state("st")
        .build()
        .expect("valid");
    assert_eq!(
        auth.parse_callback("https://app.example.com/cb?tenant=a&tenant=evil&code=c&state=st")
            .map(|_| ()),
        tenant.map(|_| ())
    );
}

#[test]
fn a_state_written_into_the_redirect_uri_by_hand_is_checked_as_a_state() {
    let check = CallbackCheck::new("https://app.example.com/cb?state=SECRET", None).expect("valid");
    let request = PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri("https://app.example.com/cb?state=SECRET")
        .build()
        .expect("valid");
    for parse in [
        &|url: &str| check.parse(url) as Result<_, _>,
        &|url: &str| request.parse_callback(url),
    ] as [&dyn Fn(&str) -> Result<CallbackOutcome, CallbackError>; 2]
    {
        assert_eq!(
            parse("https://app.example.com/cb?state=SECRET"),
            Ok(CallbackOutcome::Accepted)
        );
        for forged in [
            "https://app.example.com/cb?state=SECRET&state=other",
            "https://app.example.com/cb?state=other&state=SECRET",
            "https://app.example.com/cb?state=SECRET&state=SECRET",
            "https://app.example.com/cb?state=other",
            "https://app.example.com/cb?state=SECRE",
        ] {
            assert_eq!(parse(forged), Err(CallbackError::StateMismatch), "{forged}");
        }
        assert_eq!(
            parse("https://app.example.com/cb?error=access_denied"),
            Err(CallbackError::MissingState)
        );
    }
}

#[test]
fn a_callback_check_refuses_what_the_builders_refuse() {
    for name in ["error", "code"] {
        let uri = format!("https://app.example.com/cb?{name}=x");
        let refused = BuildError::RedirectUri(UriProblem::ReservedParameter(name));
        assert_eq!(
            CallbackCheck::new(&uri, None).unwrap_err(),
            refused,
            "{uri}"
        );
        assert_eq!(
            CallbackCheck::new(&uri, Some("st")).unwrap_err(),
            refused,
            "{uri}"
        );
        assert_eq!(
            PermissionsRequest::builder()
                .calendar("c")
                .redirect_uri(uri.clone())
                .build()
                .unwrap_err(),
            refused,
            "{uri}"
        );
        assert_eq!(
            AuthorizationRequest::new("cid", uri.clone(), ["x"])
                .build()
                .unwrap_err(),
            refused,
            "{uri}"
        );
    }
}

#[test]
fn no_entry_point_accepts_an_empty_state() {
    let empty = BuildError::State(StateProblem::Empty);
    assert_eq!(
        CallbackCheck::new("https://app.example.com/cb", Some("")).unwrap_err(),
        empty
    );
    assert_eq!(
        PermissionsRequest::builder()
            .calendar("c")
            .redirect_uri("https://app.example.com/cb")
            .state("")
            .build()
            .unwrap_err(),
        empty
    );
    assert_eq!(
        AuthorizationRequest::new("cid", "https://app.example.com/cb", ["x"])
            .state("")
            .build()
            .unwrap_err(),
        empty
    );
    // A state written by hand must not be empty either: `?state=` would accept a bare return.
    assert_eq!(
        CallbackCheck::new("https://app.example.com/cb?state=", None).unwrap_err(),
        empty
    );
}

// ---------------------------------------------------------------------------------------------
// Item 7: no format or control character from a server reaches a message.

/// Text as a hostile server might send it: letters mixed with format characters (bidi
/// overrides, zero-width ones, …), control characters and line separators.
fn hostile_text() -> BoxedStrategy<String> {
    prop_oneof![
        regex(r"([a-z ]|\p{Cf}|\p{Cc}|\u{2028}|\u{2029}){1,40}"),
        regex(r"[a-z]{0,5}[\u{202A}-\u{202E}\u{2066}-\u{2069}\u{200B}-\u{200F}\u{FEFF}\u{2060}][a-z]{0,5}"),
    ]
    .boxed()
}

/// Every character of `input` that must not be shown as is.
fn dangerous(input: &str) -> Vec<char> {
    input
        .chars()
        .filter(|c| !c.is_ascii_graphic() && *c != ' ')
        .filter(|c| c.is_control() || !c.is_alphanumeric())
        .collect()
}

fn assert_clean(input: &str, shown: &str) -> Result<(), TestCaseError> {
    for c in dangerous(input) {
        prop_assert!(
            !shown.contains(c),
            "U+{:04X} from {:?} shows in {:?}",
            c as u32,
            input,
            shown
        );
    }
    prop_assert!(!shown.chars().any(char::is_control), "{:?}", shown);
    Ok(())
}

fn api_error(status: u16, body: &[u8]) -> ApiError {
    ApiError::from_response(
        http::StatusCode::from_u16(status).expect("valid"),
        &http::HeaderMap::new(),
        body,
        false,
    )
}

#[test]
fn a_bidi_override_in_an_error_body_does_not_reach_display() {
    let err = api_error(500, "oops \u{202E}gnp.exe\u{200B}".as_bytes());
    let shown = err.to_string();
    assert!(!shown.contains('\u{202E}'), "{shown}");
    assert!(!shown.contains('\u{200B}'), "{shown}");
    assert!(shown.contains("oops"), "{shown}");
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn no_format_or_control_character_from_a_server_survives_into_display(text in hostile_text()) {
        let as_json = |v: Value| serde_json::to_vec(&v).expect("serializes");
        let errors = [
            api_error(500, text.as_bytes()),
            api_error(418, text.as_bytes()),
            api_error(400, &as_json(json!({"error": text, "error_description": text}))),
            api_error(
                422,
                &as_json(json!({"errors": {text.clone(): [{"key": text, "description": text}]}})),
            ),
        ];
        for err in &errors {
            assert_clean(&text, &format!("{err}"))?;
            assert_clean(&text, &format!("{}", error::CallError::from(err.clone())))?;
        }
        // A 2xx body that is not what was expected: serde's message may quote it.
        let decode = CalendarList::parse(&as_json(json!({"calendars": text}))).expect_err("not a list");
        assert_clean(&text, &decode.to_string())?;
        let decode = CalendarList::parse(&as_json(json!({text.clone(): 1}))).expect_err("no calendars");
        assert_clean(&text, &decode.to_string())?;
        // A callback's error code and description.
        let check = CallbackCheck::new("https://app.example.com/cb", None).expect("valid");
        let mut url = permissions_core::url::Url::parse("https://app.example.com/cb").expect("valid");
        url.query_pairs_mut().append_pair("error", &text).append_pair("error_description", &text);
        if let Err(err) = check.parse(url.as_str()) {
            assert_clean(&text, &err.to_string())?;
        }
        // A mismatching parameter's name.
        let check = CallbackCheck::new(url.as_str().replace("error", "e1").as_str(), None);
        if let Ok(check) = check {
            if let Err(err) = check.parse("https://app.example.com/cb") {
                assert_clean(&text, &err.to_string())?;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Item 3: the permissions answer's URL is sent to a browser: only to the app host.

/// Reads `{"permissions_request":{"url": url}}` the way a client with `config` does.
fn answer_through_the_engine(
    config: &permissions_core::transport::ClientConfig,
    url: &str,
) -> Result<PermissionsOutcome, CallError> {
    use permissions_core::transport::{Call, Next};
    let request = PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri("https://app.example.com/cb")
        .build()
        .expect("valid");
    let token = AccessToken::new("tok");
    let body = serde_json::to_vec(&json!({"permissions_request": {"url": url}})).expect("json");
    let mut call = Call::new(&request, config, Some(&token));
    loop {
        match call.poll() {
            Next::Send(_) => call.on_response(
                crate::response(200, &[], &body),
                std::time::SystemTime::now(),
                0.5,
            ),
            Next::Done(result) => return result,
            other => panic!("unexpected step {other:?}"),
        }
    }
}

#[test]
fn a_permissions_url_off_the_app_host_is_refused_naming_the_host() {
    use permissions_core::transport::ClientConfig;
    let us = ClientConfig::new(DataCenter::Us.hosts());
    assert!(matches!(
        answer_through_the_engine(&us, "https://app.cronofy.com/permissions/p1"),
        Ok(PermissionsOutcome::Redirect { .. })
    ));
    for (url, kind, host) in [
        (
            "https://evil.example/permissions/p1?secret=1",
            DecodeErrorKind::UnexpectedHost,
            "https://evil.example",
        ),
        (
            "http://evil.example/p1",
            DecodeErrorKind::UnexpectedHost,
            "http://evil.example",
        ),
        (
            "http://app.cronofy.com/p1",
            DecodeErrorKind::UnexpectedHost,
            "http://app.cronofy.com",
        ),
        (
            "https://app.cronofy.com:8443/p1",
            DecodeErrorKind::UnexpectedHost,
            "https://app.cronofy.com:8443",
        ),
        (
            "https://app-uk.cronofy.com/p1",
            DecodeErrorKind::UnexpectedHost,
            "https://app-uk.cronofy.com",
        ),
        (
            "https://api.cronofy.com/p1",
            DecodeErrorKind::UnexpectedHost,
            "https://api.cronofy.com",
        ),
        (
            "https://app.cronofy.com@evil.example/p1",
            DecodeErrorKind::InvalidUrl,
            "",
        ),
        (
            "https://user:pw@app.cronofy.com/p1",
            DecodeErrorKind::InvalidUrl,
            "",
        ),
    ] {
        match answer_through_the_engine(&us, url) {
            Err(CallError::Decode(e)) => {
                assert_eq!(e.kind, kind, "{url}");
                let shown = CallError::Decode(e).to_string();
                assert!(shown.contains(host), "{url}: {shown}");
                assert!(
                    !shown.contains("/p1") && !shown.contains("secret"),
                    "{url}: {shown}"
                );
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    // Another data center: its own app host only.
    let uk = ClientConfig::new(DataCenter::Uk.hosts());
    assert!(answer_through_the_engine(&uk, "https://app-uk.cronofy.com/p1").is_ok());
    assert!(answer_through_the_engine(&uk, "https://app.cronofy.com/p1").is_err());
    // A custom app host (a local Cronofy): same scheme, host and port; http on loopback.
    let local = ClientConfig::new(Hosts::custom(
        BaseUrl::parse("http://127.0.0.1:4000").expect("valid"),
        BaseUrl::parse("http://127.0.0.1:4001/prefix").expect("valid"),
    ));
    assert!(answer_through_the_engine(&local, "http://127.0.0.1:4001/permissions/p1").is_ok());
    for url in [
        "http://127.0.0.1:4000/permissions/p1",
        "http://localhost:4001/permissions/p1",
        "https://127.0.0.1:4001/permissions/p1",
    ] {
        assert!(answer_through_the_engine(&local, url).is_err(), "{url}");
    }
}

#[test]
fn any_host_is_an_explicit_opt_out_that_still_refuses_user_info_and_plain_http() {
    use permissions_core::transport::ClientConfig;
    let any = ClientConfig::new(DataCenter::Us.hosts())
        .with_permissions_url_policy(PermissionsUrlPolicy::AnyHost);
    for ok in [
        "https://proxy.example/permissions/p1",
        "https://app.cronofy.com/permissions/p1",
        "http://127.0.0.1:9/permissions/p1",
        "http://localhost/permissions/p1",
    ] {
        assert!(answer_through_the_engine(&any, ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://proxy.example/permissions/p1",
        "https://app.cronofy.com@evil.example/p1",
        "javascript:alert(1)",
    ] {
        assert!(
            matches!(
                answer_through_the_engine(&any, bad),
                Err(CallError::Decode(DecodeError {
                    kind: DecodeErrorKind::InvalidUrl,
                    ..
                }))
            ),
            "{bad}"
        );
    }
    // The free parser has no app host: any https host, never user-info or plain http.
    let parse = |url: &str| {
        PermissionsRequest::parse_outcome(
            &serde_json::to_vec(&json!({"permissions_request": {"url": url}})).expect("json"),
        )
    };
    assert!(parse("https://anything.example/p").is_ok());
    assert!(parse("https://app.cronofy.com@evil.example/").is_err());
    assert!(parse("http://evil.example/").is_err());
}

#[test]
fn the_builder_stores_the_permissions_url_policy() {
    use permissions_core::transport::{
        Backend, ClientBuilder, ClientConfig, ClientParts, LocalPacer,
    };
    use std::sync::Arc;
    /// A backend whose "client" is the validated configuration.
    struct Config;
    impl Backend for Config {
        type Transport = ();
        type Pacer = LocalPacer;
        type Client = ClientConfig;
        const USER_AGENT_PREFIX: &'static str = "test/0";
        fn local_pacer(pacer: LocalPacer) -> Arc<LocalPacer> {
            Arc::new(pacer)
        }
        fn builtin_transport(_: &ClientConfig) -> Result<(), CallError> {
            Ok(())
        }
        fn client(parts: ClientParts<(), LocalPacer>) -> ClientConfig {
            parts.config
        }
    }
    let default = ClientBuilder::<Config>::new().build().expect("valid");
    assert_eq!(
        default.permissions_url_policy(),
        PermissionsUrlPolicy::AppHost
    );
    let any = ClientBuilder::<Config>::new()
        .permissions_url_policy(PermissionsUrlPolicy::AnyHost)
        .build()
        .expect("valid");
    assert_eq!(any.permissions_url_policy(), PermissionsUrlPolicy::AnyHost);
    assert_eq!(
        any.request_context().permissions_urls,
        PermissionsUrlPolicy::AnyHost
    );
}

/// Item 7, found again in review: a redirect URI that does not parse was shown whole in a
/// builder's `Debug`, a state written into its query included.
#[test]
fn builders_hide_the_query_of_a_redirect_uri_that_does_not_parse() {
    let permissions = PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri("/permission?state=SECRET-STATE");
    let authorization = AuthorizationRequest::new("cid", "/oauth?state=SECRET-STATE", ["x"]);
    for shown in [format!("{permissions:?}"), format!("{authorization:?}")] {
        assert!(!shown.contains("SECRET-STATE"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
