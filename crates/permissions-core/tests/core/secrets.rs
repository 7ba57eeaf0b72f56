//! No secret ever shows: every public type and error that can hold an access token, a refresh
//! token, a client secret or an authorization code is formatted with `{:?}`, `{:#?}` and, where
//! it has one, `{}` (with its whole `source()` chain), and the secret is not in the output.
//!
//! The secret types have no `Display` at all: `no_display!` below fails to compile if one is
//! ever added.

use std::error::Error as StdError;
use std::fmt::Display;

use permissions_core::error::*;
use permissions_core::transport::*;
use permissions_core::url::Url;
use permissions_core::*;
use proptest::prelude::*;

use crate::strategies::regex;

/// Fails to compile when `$t` implements `Display` (the trait-ambiguity trick of the
/// `static_assertions` crate: with `Display`, two impls apply and inference fails).
macro_rules! no_display {
    ($($t:ty),*) => {$({
        trait AmbiguousIfDisplay<A> {
            fn some_item() {}
        }
        impl<T: ?Sized> AmbiguousIfDisplay<()> for T {}
        #[allow(dead_code)]
        struct Invalid;
        impl<T: ?Sized + Display> AmbiguousIfDisplay<Invalid> for T {}
        let _ = <$t as AmbiguousIfDisplay<_>>::some_item;
    })*};
}

#[test]
fn secret_holders_cannot_be_displayed() {
    no_display!(
        AccessToken,
        RefreshToken,
        ClientSecret,
        AuthorizationCode,
        ClientCredentials,
        TokenResponse,
        ExchangeCode,
        RefreshAccessToken,
        RevokeToken,
        Revocable,
        AuthorizationOutcome
    );
}

/// What the secret may look like in an output: as is, or escaped the way `Debug` escapes a
/// string.
fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned(), secret.escape_debug().to_string()];
    forms.dedup();
    forms
}

/// Renders a value built around `secret`, and fails if the secret shows. A secret that also
/// shows when the value is built around another secret (say `redacted`, or `bearer`) is part
/// of the fixed text, not a leak: such cases are skipped.
fn assert_hidden(secret: &str, render: impl Fn(&str) -> String) -> Result<(), TestCaseError> {
    let baseline = render("0ther-secret-value");
    let shown = render(secret);
    for form in forms(secret) {
        if baseline.contains(&form) {
            continue;
        }
        prop_assert!(!shown.contains(&form), "{:?} shows in:\n{}", form, shown);
    }
    Ok(())
}

/// `{:?}` and `{:#?}` of a value.
fn debug(value: &impl std::fmt::Debug) -> String {
    format!("{value:?}\n{value:#?}")
}

/// `{}`, `{:?}` and `{:#?}` of an error, and the same of every error in its `source()` chain.
fn error_text(err: &(dyn StdError + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(err);
    while let Some(e) = next {
        out.push_str(&format!("{e}\n{e:?}\n{e:#?}\n"));
        next = e.source();
    }
    out
}

fn credentials(secret: &str) -> ClientCredentials {
    ClientCredentials::new("client_id", ClientSecret::new(secret))
}

fn exchange(secret: &str) -> ExchangeCode {
    ExchangeCode::new(
        credentials(secret),
        AuthorizationCode::new(secret),
        "https://app.example.com/oauth",
    )
}

fn refresh(secret: &str) -> RefreshAccessToken {
    RefreshAccessToken::new(credentials(secret), RefreshToken::new(secret))
}

fn revokes(secret: &str) -> [RevokeToken; 2] {
    [
        RevokeToken::new(
            credentials(secret),
            Revocable::RefreshToken(RefreshToken::new(secret)),
        ),
        RevokeToken::new(
            credentials(secret),
            Revocable::AccessToken(AccessToken::new(secret)),
        ),
    ]
}

fn response(status: u16, body: Vec<u8>) -> HttpResponse {
    let mut response = http::Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(status).expect("valid");
    response
}

/// Error bodies a token endpoint might send that echo a secret (the field errors of a 422,
/// which are kept, are in `known_bugs`).
fn echoing_bodies(secret: &str) -> Vec<Vec<u8>> {
    let json = |v: serde_json::Value| serde_json::to_vec(&v).expect("serializes");
    vec![
        secret.as_bytes().to_vec(),
        format!("invalid refresh_token={secret}").into_bytes(),
        json(serde_json::json!({"error": "invalid_grant", "error_description": secret})),
        json(serde_json::json!({"error": secret, "error_description": secret})),
        json(
            serde_json::json!({"errors": {"code": [{"key": "errors.invalid", "description": secret}]}}),
        ),
        json(serde_json::json!({"access_token": secret, "refresh_token": secret})),
        json(serde_json::json!({"access_token": secret, "expires_in": secret})),
        json(serde_json::json!({"access_token": 7, "refresh_token": secret})),
        json(serde_json::json!({"token_type": secret}))
            .split_last()
            .expect("not empty")
            .1
            .to_vec(),
        format!("{{\"access_token\": \"{secret}").into_bytes(),
    ]
}

/// Statuses whose errors must keep no part of a token endpoint's body: every one but 422 (see
/// `known_bugs`), and 2xx bodies that are not token answers.
const STATUSES: [u16; 17] = [
    200, 201, 202, 207, 301, 302, 400, 401, 402, 403, 404, 410, 423, 429, 500, 502, 503,
];

/// Secrets long enough to recognise: tokens as Cronofy makes them, and any text.
fn secret() -> BoxedStrategy<String> {
    prop_oneof![
        regex(r"[A-Za-z0-9]{32}"),
        regex(r"[A-Za-z0-9_\-.~+/=]{8,64}"),
        regex(r"\PC{8,40}"),
        any::<String>().prop_filter("at least 8 characters", |s| s.chars().count() >= 8),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn secret_values_never_show(secret in secret()) {
        assert_hidden(&secret, |s| debug(&AccessToken::new(s)))?;
        assert_hidden(&secret, |s| debug(&RefreshToken::new(s)))?;
        assert_hidden(&secret, |s| debug(&ClientSecret::new(s)))?;
        assert_hidden(&secret, |s| debug(&AuthorizationCode::new(s)))?;
        assert_hidden(&secret, |s| debug(&credentials(s)))?;
        assert_hidden(&secret, |s| debug(&exchange(s)))?;
        assert_hidden(&secret, |s| debug(&refresh(s)))?;
        assert_hidden(&secret, |s| debug(&revokes(s)))?;
        assert_hidden(&secret, |s| debug(&Revocable::AccessToken(AccessToken::new(s))))?;
        assert_hidden(&secret, |s| debug(&AuthorizationOutcome::Granted { code: AuthorizationCode::new(s) }))?;
        let api = DataCenter::Us.hosts().api().clone();
        assert_hidden(&secret, |s| {
            let token = AccessToken::new(s);
            debug(&RequestContext::new(&api).with_access_token(&token))
        })?;
        let config = ClientConfig::new(DataCenter::Us.hosts());
        assert_hidden(&secret, |s| {
            let exchange = exchange(s);
            let token = AccessToken::new(s);
            let mut call = Call::new(&exchange, &config, Some(&token));
            let sent = call.poll();
            format!("{}{}", debug(&call), debug(&sent))
        })?;
    }

    #[test]
    fn token_answers_never_show_their_tokens(secret in secret()) {
        let render = |s: &str| {
            let body = serde_json::json!({
                "token_type": "bearer",
                "access_token": s,
                "refresh_token": s,
                "expires_in": 3600,
            });
            let bytes = serde_json::to_vec(&body).expect("serializes");
            let tokens = exchange("cs").parse_response(response(200, bytes.clone()), &crate::us()).expect("a token answer");
            let step: Next<TokenResponse> = Next::Done(Ok(tokens.clone()));
            let again = refresh("cs").parse_response(response(200, bytes), &crate::us()).expect("a token answer");
            format!("{}{}{}", debug(&tokens), debug(&step), debug(&again))
        };
        assert_hidden(&secret, render)?;
    }

    #[test]
    fn built_requests_never_show_the_secret(secret in secret()) {
        // `http`'s `Debug` of a request prints headers, with sensitive ones (the bearer token)
        // as `Sensitive`, and the body as a list of numbers.
        prop_assume!(http::HeaderValue::try_from(format!("Bearer {secret}")).is_ok());
        let api = DataCenter::Us.hosts().api().clone();
        let permissions = PermissionsRequest::builder()
            .calendar("cal_1")
            .redirect_uri("https://app.example.com/permission")
            .build()
            .expect("valid");
        assert_hidden(&secret, |s| {
            let token = AccessToken::new(s);
            let ctx = RequestContext::new(&api).with_access_token(&token);
            let mut out = debug(&permissions.to_request(&ctx).expect("valid"));
            out.push_str(&debug(&ListCalendars.to_request(&ctx).expect("valid")));
            out
        })?;
        assert_hidden(&secret, |s| {
            let ctx = RequestContext::new(&api);
            let mut out = String::new();
            for result in [exchange(s).to_request(&ctx), refresh(s).to_request(&ctx)]
                .into_iter()
                .chain(revokes(s).iter().map(|r| r.to_request(&ctx)))
            {
                match result {
                    Ok(request) => out.push_str(&debug(&request)),
                    Err(err) => out.push_str(&error_text(&err)),
                }
            }
            out
        })?;
    }

    #[test]
    fn token_endpoint_errors_never_show_the_secret(
        secret in secret(),
        status in prop::sample::select(STATUSES.to_vec()),
        retry_after in prop::option::of("[0-9]{1,4}"),
    ) {
        assert_hidden(&secret, |s| {
            let mut out = String::new();
            for body in echoing_bodies(s) {
                let with_headers = |body: Vec<u8>| {
                    let mut r = response(status, body);
                    if let Some(v) = &retry_after {
                        r.headers_mut().insert(http::header::RETRY_AFTER, v.parse().expect("digits"));
                    }
                    r
                };
                let results = [
                    exchange("cs").parse_response(with_headers(body.clone()), &crate::us()).map(|_| ()),
                    refresh("cs").parse_response(with_headers(body.clone()), &crate::us()).map(|_| ()),
                    RevokeToken::new(credentials("cs"), Revocable::Sub("acc_1".into()))
                        .parse_response(with_headers(body.clone()), &crate::us()),
                ];
                for result in results {
                    if let Err(err) = result {
                        out.push_str(&error_text(&err));
                    }
                }
                let r = with_headers(body);
                let err = ApiError::from_response(r.status(), r.headers(), r.body(), true);
                out.push_str(&error_text(&err));
            }
            out
        })?;
    }

    #[test]
    fn authorization_callback_errors_never_show_the_code(
        secret in secret(),
        variant in 0usize..6,
    ) {
        let redirect = Url::parse("https://app.example.com/oauth").expect("valid");
        assert_hidden(&secret, |s| {
            let mut url = match variant {
                0 => Url::parse("https://evil.example.com/oauth").expect("valid"),
                1 => Url::parse("https://app.example.com/other").expect("valid"),
                _ => redirect.clone(),
            };
            url.query_pairs_mut().append_pair("code", s);
            match variant {
                2 => { url.query_pairs_mut().append_pair("state", "forged"); }
                3 => { url.query_pairs_mut().append_pair("error", "server_error"); }
                4 => { url.query_pairs_mut().append_pair("state", "st").append_pair("state", "st"); }
                _ => {}
            }
            let auth = AuthorizationRequest::new("cid", redirect.as_str(), ["read_account"])
                .state("st")
                .build()
                .expect("valid");
            let result = auth.parse_callback(url.as_str());
            match result {
                Ok(outcome) => debug(&outcome),
                Err(err) => error_text(&err),
            }
        })?;
    }
}

#[test]
fn a_fixed_secret_is_never_in_any_output() {
    // The property tests above, once, with a token as Cronofy issues them: a readable failure
    // if the generators ever stop reaching a case.
    const TOKEN: &str = "P531x88i05Ld2yXHIQ7WjiEyqlmOHsgI";
    let body = format!(r#"{{"access_token":"{TOKEN}","refresh_token":"{TOKEN}"}}"#);
    let tokens = TokenResponse::parse(body.as_bytes()).expect("a token answer");
    let api = DataCenter::Us.hosts().api().clone();
    let token = AccessToken::new(TOKEN);
    let request = ListCalendars
        .to_request(&RequestContext::new(&api).with_access_token(&token))
        .expect("valid");
    assert_eq!(
        request.headers()[http::header::AUTHORIZATION],
        format!("Bearer {TOKEN}").as_str()
    );
    assert!(request.headers()[http::header::AUTHORIZATION].is_sensitive());
    let rendered = [
        debug(&tokens),
        debug(&request),
        debug(&exchange(TOKEN)),
        debug(&refresh(TOKEN)),
        debug(&revokes(TOKEN)),
    ]
    .concat();
    assert!(!rendered.contains(TOKEN), "{rendered}");
    assert!(rendered.contains("AccessToken([redacted])"), "{rendered}");
}

/// Every form a state value could take in a `Debug` output: as is, escaped, form-encoded (in a
/// redirect URI), and as the decimal byte list of `Vec<u8>`'s `Debug` (in a body).
fn state_forms(state: &str) -> Vec<String> {
    let encoded: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
    let bytes = |s: &str| {
        let list = format!("{:?}", s.as_bytes());
        list[1..list.len() - 1].to_owned()
    };
    let mut forms = forms(state);
    forms.extend([bytes(state), bytes(&encoded), encoded]);
    forms
}

proptest! {
    #![proptest_config(crate::config())]

    /// Issue 11, item 8: the CSRF state never shows in `Debug` of what holds it.
    #[test]
    fn csrf_states_never_show_in_debug(state in secret().prop_filter("a valid state", |s| s.len() <= 512)) {
        let render = |s: &str| {
            let permissions = PermissionsRequest::builder()
                .calendar("cal_1")
                .redirect_uri("https://app.example.com/cb?tenant=7")
                .state(s);
            let by_hand = PermissionsRequest::builder()
                .calendar("cal_1")
                .redirect_uri(format!(
                    "https://app.example.com/cb?state={}",
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                ));
            let auth = AuthorizationRequest::new("cid", "https://app.example.com/oauth", ["read_account"])
                .state(s);
            let check = CallbackCheck::new("https://app.example.com/cb", Some(s)).expect("valid");
            [
                debug(&permissions),
                debug(&permissions.clone().build().expect("valid")),
                debug(&by_hand),
                debug(&by_hand.clone().build().expect("valid")),
                debug(&auth),
                debug(&auth.clone().build().expect("valid")),
                debug(&check),
            ]
            .concat()
        };
        let baseline = render("0ther-secret-value");
        let shown = render(&state);
        prop_assert!(shown.contains("[redacted]"));
        for form in state_forms(&state) {
            if form.is_empty() || baseline.contains(&form) {
                continue;
            }
            prop_assert!(!shown.contains(&form), "{:?} shows in:\n{}", form, shown);
        }
    }
}
