//! Every parser takes any status, any headers and any bytes without panicking; success is
//! reported exactly for 2xx answers of the right shape, and every other status becomes the
//! `ApiError` of that status.

use std::time::{Duration, SystemTime};

use permissions_core::error::*;
use permissions_core::transport::*;
use permissions_core::url::Url;
use permissions_core::*;
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::strategies::{body, headers, json, mutated_text, redirect_uri, regex, status};

fn http_response(status: u16, headers: &[(String, Vec<u8>)], body: &[u8]) -> HttpResponse {
    let mut response = http::Response::new(body.to_vec());
    *response.status_mut() = http::StatusCode::from_u16(status).expect("100..=999");
    for (name, value) in headers {
        // Names and values `http` refuses cannot reach a parser: skip them.
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

fn permissions_request() -> PermissionsRequest {
    PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri("https://app.example.com/permission")
        .build()
        .expect("valid")
}

fn credentials() -> ClientCredentials {
    ClientCredentials::new("client_id", ClientSecret::new("client_secret"))
}

/// Checks what every endpoint must do with any answer: non-2xx is the `ApiError` of that
/// status, 2xx never is.
fn check_status<T: std::fmt::Debug>(
    name: &str,
    status: u16,
    result: &Result<T, ResponseError>,
) -> Result<(), TestCaseError> {
    let success = (200..300).contains(&status);
    match result {
        Err(ResponseError::Api(err)) => {
            prop_assert!(!success, "{}: {} gave {:?}", name, status, err);
            prop_assert_eq!(err.status().as_u16(), status, "{}", name);
        }
        other => prop_assert!(success, "{}: {} gave {:?}", name, status, other),
    }
    Ok(())
}

/// What a 2xx permissions answer must be read as, decided from the JSON value alone.
#[derive(Debug, PartialEq)]
enum Expected {
    Redirect(Url),
    Granted,
    Invalid,
}

/// What a permissions answer reads as: with `app_host_only` (the default policy), a URL must be
/// on the US app host (`https://app.cronofy.com`, port 443); otherwise on any host, `https` or
/// plain `http` on loopback. Never with user-info.
fn permissions_oracle(body: &[u8], app_host_only: bool) -> Expected {
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(body) else {
        return Expected::Invalid;
    };
    let Some(Value::Object(inner)) = top.get("permissions_request") else {
        return Expected::Invalid;
    };
    let url = match inner.get("url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Expected::Invalid,
    };
    let accepted = match inner.get("accepted") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Expected::Invalid,
    };
    match (url, accepted) {
        (Some(url), _) => match Url::parse(url) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty())
                    && u.username().is_empty()
                    && u.password().is_none()
                    && if app_host_only {
                        u.scheme() == "https"
                            && u.host_str() == Some("app.cronofy.com")
                            && u.port_or_known_default() == Some(443)
                    } else {
                        u.scheme() == "https"
                            || matches!(
                                u.host(),
                                Some(permissions_core::url::Host::Domain("localhost"))
                            )
                            || matches!(u.host(), Some(permissions_core::url::Host::Ipv4(ip)) if ip.is_loopback())
                            || matches!(u.host(), Some(permissions_core::url::Host::Ipv6(ip)) if ip.is_loopback())
                    } =>
            {
                Expected::Redirect(u)
            }
            _ => Expected::Invalid,
        },
        (None, Some(true)) => Expected::Granted,
        _ => Expected::Invalid,
    }
}

/// Permissions answers near the documented shapes: good and bad URLs, `accepted` of any type,
/// unknown fields, and a wrong envelope now and then.
fn permissions_body() -> BoxedStrategy<Value> {
    let url = prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        redirect_uri().prop_map(|u| Some(Value::String(u.raw))),
        prop::sample::select(vec![
            "https://app.cronofy.com/permissions",
            "http://app.cronofy.com/permissions/",
            "javascript:alert(1)",
            "data:text/html,x",
            "/relative",
            "mailto:a@example.com",
            "https://",
            "",
            "ftp://app.cronofy.com/",
        ])
        .prop_map(|s| Some(Value::String(s.to_owned()))),
        json().prop_map(Some),
    ];
    let accepted = prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        any::<bool>().prop_map(|b| Some(Value::Bool(b))),
        json().prop_map(Some),
    ];
    let extra = prop::collection::btree_map(regex(r"x_[a-z]{1,5}"), json(), 0..2);
    (
        url,
        accepted,
        extra.clone(),
        extra,
        prop::option::weighted(0.9, Just(())),
        json().prop_filter("see known_bugs", |v| !v.is_array()),
    )
        .prop_map(
            |(url, accepted, inner_extra, outer_extra, envelope, junk)| {
                let mut inner: Map<String, Value> = inner_extra.into_iter().collect();
                if let Some(url) = url {
                    inner.insert("url".into(), url);
                }
                if let Some(accepted) = accepted {
                    inner.insert("accepted".into(), accepted);
                }
                let mut top: Map<String, Value> = outer_extra.into_iter().collect();
                let inner = if envelope.is_some() {
                    Value::Object(inner)
                } else {
                    junk
                };
                top.insert("permissions_request".into(), inner);
                Value::Object(top)
            },
        )
        .boxed()
}

fn calendar() -> BoxedStrategy<Calendar> {
    let provider = prop_oneof![
        prop::sample::select(vec![
            "apple",
            "cronofy",
            "exchange",
            "google",
            "live_connect"
        ])
        .prop_map(str::to_owned),
        regex(r"\PC{0,10}"),
    ];
    let level = prop_oneof![
        prop::sample::select(vec!["sandbox", "unrestricted"]).prop_map(str::to_owned),
        regex(r"\PC{0,10}"),
    ];
    let text = || regex(r"\PC{0,16}");
    (
        provider,
        prop::option::of(text()),
        prop::option::of(text()),
        (text(), text()),
        any::<(bool, bool)>(),
        any::<(Option<bool>, Option<bool>, Option<bool>)>(),
        prop::option::of(level),
    )
        .prop_map(
            |(
                provider,
                profile_id,
                profile_name,
                (id, name),
                (readonly, deleted),
                (primary, conferencing, attachments),
                level,
            )| {
                // Built field by field through JSON: `Calendar` is exhaustive by design, but
                // a test should not break when Cronofy adds a field to it.
                let mut c = serde_json::json!({
                    "provider_name": provider,
                    "calendar_id": id,
                    "calendar_name": name,
                    "calendar_readonly": readonly,
                    "calendar_deleted": deleted,
                });
                let fields = [
                    ("profile_id", profile_id.map(Value::from)),
                    ("profile_name", profile_name.map(Value::from)),
                    ("calendar_primary", primary.map(Value::from)),
                    (
                        "calendar_integrated_conferencing_available",
                        conferencing.map(Value::from),
                    ),
                    (
                        "calendar_attachments_available",
                        attachments.map(Value::from),
                    ),
                    ("permission_level", level.map(Value::from)),
                ];
                for (key, value) in fields {
                    if let Some(value) = value {
                        c[key] = value;
                    }
                }
                serde_json::from_value(c).expect("a calendar")
            },
        )
        .boxed()
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn every_endpoint_reads_any_answer(
        status in status(),
        headers in headers(),
        body in body(),
    ) {
        let response = || http_response(status, &headers, &body);
        let permissions = permissions_request();
        let result = permissions.parse_response(response(), &crate::us());
        check_status("permissions", status, &result)?;
        // Success exactly when the body says where to send the user, or that it is granted.
        // (Top-level arrays are left to `known_bugs`: serde reads `[[null, true]]` as an
        // envelope.)
        if (200..300).contains(&status) && body.trim_ascii_start().first() != Some(&b'[') {
            match (permissions_oracle(&body, true), result) {
                (Expected::Redirect(u), Ok(PermissionsOutcome::Redirect { url })) => prop_assert_eq!(url, u),
                (Expected::Granted, Ok(PermissionsOutcome::Granted)) => {}
                (Expected::Invalid, Err(ResponseError::Decode(_))) => {}
                (expected, got) => prop_assert!(false, "expected {:?}, got {:?}", expected, got),
            }
        }
        check_status("list_calendars", status, &ListCalendars.parse_response(response(), &crate::us()))?;
        let exchange = ExchangeCode::new(credentials(), AuthorizationCode::new("c0de"), "https://a.example.com/cb");
        check_status("exchange_code", status, &exchange.parse_response(response(), &crate::us()))?;
        let refresh = RefreshAccessToken::new(credentials(), RefreshToken::new("r"));
        check_status("refresh", status, &refresh.parse_response(response(), &crate::us()))?;
        let revoke = RevokeToken::new(credentials(), Revocable::Sub("acc_1".into()));
        let revoked = revoke.parse_response(response(), &crate::us());
        check_status("revoke", status, &revoked)?;
        if (200..300).contains(&status) {
            prop_assert_eq!(revoked, Ok(()));
        }
        let r = response();
        for secret_body in [false, true] {
            let err = ApiError::from_response(r.status(), r.headers(), r.body(), secret_body);
            prop_assert_eq!(err.status().as_u16(), status);
            let _ = (err.to_string(), err.kind());
        }
    }

    #[test]
    fn permissions_success_iff_the_body_has_a_documented_shape(
        status in 200u16..300,
        body in permissions_body(),
    ) {
        let bytes = serde_json::to_vec(&body).expect("a Value serializes");
        for app_host_only in [true, false] {
            let policy = if app_host_only {
                PermissionsUrlPolicy::AppHost
            } else {
                PermissionsUrlPolicy::AnyHost
            };
            let ctx = crate::us().with_permissions_urls(policy);
            let result = permissions_request().parse_response(http_response(status, &[], &bytes), &ctx);
            match (permissions_oracle(&bytes, app_host_only), result) {
                (Expected::Redirect(u), Ok(PermissionsOutcome::Redirect { url })) => prop_assert_eq!(url, u),
                (Expected::Granted, Ok(PermissionsOutcome::Granted)) => {}
                (Expected::Invalid, Err(ResponseError::Decode(_))) => {}
                (expected, got) => prop_assert!(false, "{}: expected {:?}, got {:?}", body, expected, got),
            }
        }
    }

    #[test]
    fn calendar_lists_round_trip(
        sub in prop::option::of(regex(r"acc_[0-9a-f]{24}")),
        calendars in prop::collection::vec(calendar(), 0..5),
        status in 200u16..300,
    ) {
        let list = CalendarList { sub, calendars };
        let body = serde_json::to_vec(&list).expect("serializes");
        let parsed = ListCalendars.parse_response(http_response(status, &[], &body), &crate::us());
        prop_assert_eq!(parsed.as_ref(), Ok(&list));
        let needing: Vec<&Calendar> = list.needing_elevation().collect();
        let expected: Vec<&Calendar> = list
            .calendars
            .iter()
            .filter(|c| !c.calendar_readonly && !c.calendar_deleted && c.permission_level != Some(CalendarPermissionLevel::Unrestricted))
            .collect();
        prop_assert_eq!(needing, expected);
    }

    #[test]
    fn token_answers_read_back(
        access in regex(r"\PC{1,40}"),
        refresh in prop::option::of(regex(r"\PC{1,40}")),
        expires_in in prop::option::of(any::<u64>()),
        scope in prop::option::of(regex(r"[a-z_]{1,12}( [a-z_]{1,12}){0,3}")),
        sub in prop::option::of(regex(r"(acc|ser|apc)_[0-9a-f]{15}")),
    ) {
        let mut body = serde_json::json!({"token_type": "bearer", "access_token": access});
        let fields = [
            ("refresh_token", refresh.clone().map(Value::from)),
            ("expires_in", expires_in.map(Value::from)),
            ("scope", scope.clone().map(Value::from)),
            ("sub", sub.clone().map(Value::from)),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                body[key] = value;
            }
        }
        let bytes = serde_json::to_vec(&body).expect("serializes");
        let exchange = ExchangeCode::new(credentials(), AuthorizationCode::new("c"), "https://a.example.com/");
        let tokens = exchange.parse_response(http_response(200, &[], &bytes), &crate::us()).expect("a token answer");
        prop_assert_eq!(tokens.access_token.secret(), access.as_str());
        prop_assert_eq!(tokens.refresh_token.as_ref().map(|t| t.secret()), refresh.as_deref());
        prop_assert_eq!(tokens.expires_in, expires_in);
        prop_assert_eq!(tokens.sub.as_deref(), sub.as_deref());
        let scopes: Vec<&str> = tokens.scopes().collect();
        let expected: Vec<&str> = scope.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect();
        prop_assert_eq!(scopes, expected);
        // An expiry too far away to represent is "unknown", never a panic.
        let _ = tokens.expires_at(now());
    }

    #[test]
    fn the_call_engine_reads_any_answer(
        status in status(),
        headers in headers(),
        body in body(),
        jitter in any::<f64>(),
    ) {
        let request = permissions_request();
        let config = ClientConfig::new(DataCenter::Us.hosts());
        let token = AccessToken::new("tok");
        let mut call = Call::new(&request, &config, Some(&token));
        let Next::Send(_) = call.poll() else { panic!("an unpaced call sends first") };
        call.on_response(http_response(status, &headers, &body), now(), jitter);
        match call.poll() {
            Next::Wait(wait) => {
                prop_assert!(wait <= config.retry_policy().max_delay);
                prop_assert!(matches!(status, 429 | 502 | 503 | 504), "{}", status);
            }
            Next::Send(_) => prop_assert!(matches!(status, 429 | 502 | 503 | 504), "{}", status),
            Next::Done(result) => check_status("call", status, &result.map_err(|e| match e {
                CallError::Api(e) => ResponseError::Api(e),
                CallError::Decode(e) => ResponseError::Decode(e),
                other => panic!("no transport here: {other}"),
            }))?,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn callbacks_take_any_string(
        url in prop_oneof![any::<String>(), regex(r"https?://[a-z.]{0,12}/[a-z?=&%#]{0,20}")],
    ) {
        let redirect = Url::parse("https://app.example.com/permission?tenant=7").expect("valid");
        let check = CallbackCheck::new(redirect.as_str(), Some("st")).expect("valid");
        let _ = check.parse(&url);
        let _ = CallbackCheck::new(redirect.as_str(), None).expect("valid").parse(&url);
        for state in [Some("st"), None] {
            let mut auth = AuthorizationRequest::new("cid", redirect.as_str(), ["read_account"]);
            if let Some(state) = state {
                auth = auth.state(state);
            }
            let _ = auth.build().expect("valid").parse_callback(&url);
        }
    }

    #[test]
    fn a_mutated_callback_is_accepted_only_if_it_still_matches(
        url in mutated_text(
            "https://app.example.com:8443/permission?tenant=a+b&state=st%2F1&error=access_denied".to_owned()
        ),
    ) {
        let check = CallbackCheck::new("https://app.example.com:8443/permission?tenant=a%20b", Some("st/1"))
            .expect("valid");
        if check.parse(&url).is_ok() {
            let got = Url::parse(url.trim()).expect("accepted URLs parse");
            prop_assert_eq!(got.scheme(), "https");
            prop_assert_eq!(got.host_str(), Some("app.example.com"));
            prop_assert_eq!(got.port_or_known_default(), Some(8443));
            prop_assert_eq!(got.path(), "/permission");
            let pairs: Vec<(String, String)> =
                got.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            prop_assert!(pairs.contains(&("tenant".into(), "a b".into())));
            let states: Vec<&str> =
                pairs.iter().filter(|(k, _)| k == "state").map(|(_, v)| v.as_str()).collect();
            prop_assert_eq!(states, vec!["st/1"]);
        }
    }

    #[test]
    fn a_mutated_authorization_callback_yields_a_code_only_if_it_still_matches(
        url in mutated_text("https://app.example.com/oauth?code=c0de&state=st1".to_owned()),
    ) {
        let auth = AuthorizationRequest::new("cid", "https://app.example.com/oauth", ["read_account"])
            .state("st1")
            .build()
            .expect("valid");
        if let Ok(AuthorizationOutcome::Granted { code }) = auth.parse_callback(&url) {
            prop_assert!(!code.secret().is_empty());
            let got = Url::parse(url.trim()).expect("accepted URLs parse");
            prop_assert_eq!(got.host_str(), Some("app.example.com"));
            prop_assert_eq!(got.path(), "/oauth");
            let states: Vec<String> =
                got.query_pairs().filter(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).collect();
            prop_assert_eq!(states, vec!["st1".to_owned()]);
        }
    }
}
