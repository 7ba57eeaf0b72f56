//! The secret audit: one test drives every public operation of every crate with recognisable
//! secret values, collects every `Debug`, `Display`, error chain and process output, and fails
//! if any secret shows in any of them.
//!
//! Secrets are of two kinds: the `AUDIT-…` values below, made up here (a server refuses them, so
//! they travel the failure paths), and the local Cronofy's own credentials and codes (they
//! travel the success paths). The fake prints its own credentials on purpose (`serve-fake`), so
//! only what the clients, the CLI and the fake's request log show is audited.

use std::error::Error as StdError;
use std::fmt::Debug;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use permissions_core::error::*;
use permissions_core::http;
use permissions_core::transport::*;
use permissions_core::*;
use permissions_fake::{FakeCronofy, Fault, NewAccount, NewCalendar, Route};

use crate::drivers::{self, Config};
use crate::scenarios::{REDIRECT_URI, config, fake};

pub(crate) const AUDIT_ACCESS: &str = "AUDIT-ACCESS-TOKEN-7f3a9c1e5b2d";
pub(crate) const AUDIT_REFRESH: &str = "AUDIT-REFRESH-TOKEN-2d8e4b6a0c9f";
pub(crate) const AUDIT_CLIENT_SECRET: &str = "AUDIT-CLIENT-SECRET-9b1f3d5e7a4c";
pub(crate) const AUDIT_CODE: &str = "AUDIT-AUTH-CODE-4c6e8a0b2d1e";
const AUDIT_SECRETS: [&str; 4] = [AUDIT_ACCESS, AUDIT_REFRESH, AUDIT_CLIENT_SECRET, AUDIT_CODE];

const OAUTH_REDIRECT: &str = "https://app.example.com/oauth";

/// Every output collected, and the secrets none of them may show.
struct Audit {
    secrets: Vec<String>,
    outputs: Vec<(String, String)>,
}

impl Audit {
    fn new() -> Self {
        Self {
            secrets: AUDIT_SECRETS.iter().map(|s| (*s).to_owned()).collect(),
            outputs: Vec::new(),
        }
    }

    fn secret(&mut self, secret: &str) {
        assert!(
            secret.len() >= 12,
            "too short to audit reliably: {secret:?}"
        );
        if !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_owned());
        }
    }

    fn text(&mut self, what: impl Into<String>, shown: impl Into<String>) {
        self.outputs.push((what.into(), shown.into()));
    }

    fn debug(&mut self, what: impl Into<String>, value: &dyn Debug) {
        self.text(what, format!("{value:?}\n{value:#?}"));
    }

    /// `Display`, `Debug` and `{:#?}` of an error and of every error in its `source()` chain.
    fn error(&mut self, what: impl Into<String>, err: &(dyn StdError + 'static)) {
        let mut shown = String::new();
        let mut next = Some(err);
        while let Some(e) = next {
            shown.push_str(&format!("{e}\n{e:?}\n{e:#?}\n"));
            next = e.source();
        }
        self.text(what, shown);
    }

    fn result<T: Debug, E: StdError + 'static>(&mut self, what: &str, result: &Result<T, E>) {
        match result {
            Ok(value) => self.debug(what, value),
            Err(err) => self.error(what, err),
        }
    }

    fn failure(&mut self, what: impl Into<String>, failure: &drivers::Failure) {
        self.text(
            what,
            format!("{}\n{}\n{}", failure.display, failure.debug, failure.chain),
        );
    }

    /// Fails, naming every leak, if any secret shows in any output.
    fn check(&self) {
        let mut leaks = Vec::new();
        for (what, shown) in &self.outputs {
            // `Vec<u8>`'s `Debug` prints bytes as decimal numbers: a body printed that way
            // shows a secret as `65, 85, 68, …` (`{:#?}` puts each on its own line).
            let packed: String = shown.chars().filter(|c| !c.is_whitespace()).collect();
            for secret in &self.secrets {
                let escaped = secret.escape_debug().to_string();
                let as_bytes = secret
                    .bytes()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                if shown.contains(secret.as_str())
                    || shown.contains(&escaped)
                    || packed.contains(&as_bytes)
                {
                    leaks.push(format!("{what}: shows {secret}:\n{shown:.2000}"));
                }
            }
        }
        assert!(
            leaks.is_empty(),
            "{} leak(s):\n{}",
            leaks.len(),
            leaks.join("\n---\n")
        );
    }
}

#[test]
fn no_operation_of_any_crate_shows_a_secret() {
    let mut audit = Audit::new();
    core_operations(&mut audit);
    let fake = fake();
    transports(&mut audit, &fake);
    cli(&mut audit, &fake);
    // The fake's request log has seen every secret above, in headers and bodies.
    let log = fake.requests();
    assert!(log.len() > 50, "the audit sent {} requests", log.len());
    audit.debug("fake request log", &log);
    for request in &log {
        audit.debug(
            format!("logged {} {}", request.method, request.path),
            request,
        );
    }
    eprintln!(
        "secret audit: {} outputs checked for {} secrets",
        audit.outputs.len(),
        audit.secrets.len()
    );
    audit.check();
}

// --- permissions-core: builders, requests, parsers, callbacks -----------------------------------

fn core_operations(audit: &mut Audit) {
    let access = AccessToken::new(AUDIT_ACCESS);
    let refresh = RefreshToken::new(AUDIT_REFRESH);
    let secret = ClientSecret::new(AUDIT_CLIENT_SECRET);
    let code = AuthorizationCode::new(AUDIT_CODE);
    let creds = ClientCredentials::new("audit-client", secret.clone());
    let values: [(&str, &dyn Debug); 5] = [
        ("AccessToken", &access),
        ("RefreshToken", &refresh),
        ("ClientSecret", &secret),
        ("AuthorizationCode", &code),
        ("ClientCredentials", &creds),
    ];
    for (what, value) in values {
        audit.debug(what, value);
    }

    // Every endpoint, its request and the exchange loop around it.
    let api = DataCenter::Uk.hosts().api().clone();
    let ctx = RequestContext::new(&api).with_access_token(&access);
    audit.debug("RequestContext", &ctx);
    let permissions = PermissionsRequest::builder()
        .calendar("cal_audit_1")
        .redirect_uri(REDIRECT_URI)
        .state("audit-state")
        .build()
        .expect("valid");
    let exchange = ExchangeCode::new(creds.clone(), code.clone(), OAUTH_REDIRECT);
    let refresh_call = RefreshAccessToken::new(creds.clone(), refresh.clone());
    let revokes = [
        RevokeToken::new(creds.clone(), Revocable::RefreshToken(refresh.clone())),
        RevokeToken::new(creds.clone(), Revocable::AccessToken(access.clone())),
        RevokeToken::new(creds.clone(), Revocable::Sub("acc_audit".into())),
    ];
    endpoint(audit, &permissions, &ctx);
    endpoint(audit, &ListCalendars, &ctx);
    endpoint(audit, &exchange, &ctx);
    endpoint(audit, &refresh_call, &ctx);
    for revoke in &revokes {
        endpoint(audit, revoke, &ctx);
    }

    // Answers of the token endpoints, which hold or may echo secrets.
    let token_body = format!(
        r#"{{"token_type":"bearer","access_token":"{AUDIT_ACCESS}","expires_in":3600,"refresh_token":"{AUDIT_REFRESH}","scope":"read_account"}}"#
    );
    let echo = format!(
        r#"{{"echo":"{AUDIT_ACCESS} {AUDIT_REFRESH} {AUDIT_CLIENT_SECRET} {AUDIT_CODE}"}}"#
    );
    let echo_text = format!(
        "client_secret={AUDIT_CLIENT_SECRET}&code={AUDIT_CODE}&refresh_token={AUDIT_REFRESH}"
    );
    let mut answers: Vec<(u16, Vec<u8>)> = vec![
        (200, token_body.clone().into_bytes()),
        (
            200,
            format!(r#"{{"access_token":["{AUDIT_ACCESS}"]}}"#).into_bytes(),
        ),
        (
            200,
            format!(r#"{{"refresh_token":"{AUDIT_REFRESH}"}}"#).into_bytes(),
        ),
        (
            200,
            format!(r#"{{"access_token":"{AUDIT_ACCESS}""#).into_bytes(),
        ),
        (200, echo_text.clone().into_bytes()),
        (
            400,
            format!(r#"{{"error":"invalid_grant","error_description":"unknown code {AUDIT_CODE} for {AUDIT_CLIENT_SECRET}"}}"#)
                .into_bytes(),
        ),
        (400, format!(r#"{{"error":"{AUDIT_REFRESH}"}}"#).into_bytes()),
        (
            422,
            format!(r#"{{"errors":{{"{AUDIT_CODE}":[{{"key":"{AUDIT_REFRESH}","description":"{AUDIT_ACCESS} {AUDIT_CLIENT_SECRET}"}}]}}}}"#)
                .into_bytes(),
        ),
    ];
    for status in [401, 402, 403, 404, 423, 429, 500, 502, 503, 504, 302, 418] {
        answers.push((status, echo.clone().into_bytes()));
        answers.push((status, echo_text.clone().into_bytes()));
    }
    for (status, body) in &answers {
        let response = |body: &[u8]| {
            http::Response::builder()
                .status(*status)
                .header("retry-after", "1")
                .body(body.to_vec())
                .expect("valid response")
        };
        let label = format!("{status} from the token endpoint");
        let hosts = DataCenter::Us.hosts();
        let ctx = RequestContext::for_hosts(&hosts);
        audit.result(&label, &exchange.parse_response(response(body), &ctx));
        audit.result(&label, &refresh_call.parse_response(response(body), &ctx));
        for revoke in &revokes {
            audit.result(&label, &revoke.parse_response(response(body), &ctx));
        }
        audit.result(&label, &TokenResponse::parse(body));
        let error = ApiError::from_response(
            http::StatusCode::from_u16(*status).expect("valid"),
            &http::HeaderMap::new(),
            body,
            true,
        );
        audit.error(&label, &error);
    }
    let tokens = TokenResponse::parse(token_body.as_bytes()).expect("a token answer");
    audit.debug("TokenResponse", &tokens);

    // Builders refusing input that holds a secret.
    let bad = AccessToken::new(format!("{AUDIT_ACCESS}\n"));
    audit.result(
        "bad token",
        &ListCalendars.to_request(&RequestContext::new(&api).with_access_token(&bad)),
    );
    let no_id = ClientCredentials::new("", secret.clone());
    audit.result(
        "no client id",
        &ExchangeCode::new(no_id, code.clone(), OAUTH_REDIRECT).to_request(&ctx),
    );
    let bad_secret = ClientCredentials::new(
        "cid",
        ClientSecret::new(format!("{AUDIT_CLIENT_SECRET}\u{7}")),
    );
    audit.result(
        "bad secret",
        &RefreshAccessToken::new(bad_secret, refresh.clone()).to_request(&ctx),
    );
    audit.result(
        "no permissions token",
        &permissions.to_request(&RequestContext::new(&api)),
    );
    for url in [
        format!("https://audit:{AUDIT_CLIENT_SECRET}@gw.example.com/"),
        format!("https://gw.example.com/?access_token={AUDIT_ACCESS}"),
        format!("http://gw.example.com/{AUDIT_REFRESH}"),
        format!("ftp://gw.example.com/#{AUDIT_CODE}"),
    ] {
        audit.result("base URL", &BaseUrl::parse(&url));
    }

    // Callbacks carrying a code (and a token someone pasted into the query).
    let auth = AuthorizationRequest::new("audit-client", OAUTH_REDIRECT, ["read_account"])
        .state("audit-state")
        .build()
        .expect("valid");
    audit.debug("AuthorizationRequest", &auth);
    let returns = [
        format!("{OAUTH_REDIRECT}?code={AUDIT_CODE}&state=audit-state"),
        format!("{OAUTH_REDIRECT}?code={AUDIT_CODE}&state=forged"),
        format!("{OAUTH_REDIRECT}?code={AUDIT_CODE}"),
        format!("https://evil.example.com/oauth?code={AUDIT_CODE}&state=audit-state"),
        format!("{OAUTH_REDIRECT}?code={AUDIT_CODE}&state=audit-state&error=server_error"),
        format!("{OAUTH_REDIRECT}?access_token={AUDIT_ACCESS}&state=audit-state"),
        format!("not a URL {AUDIT_CODE}"),
    ];
    for url in &returns {
        audit.result("authorization callback", &auth.parse_callback(url));
        let unchecked = AuthorizationRequest::new(
            "audit-client",
            auth.redirect_uri().as_str(),
            ["read_account"],
        )
        .build()
        .expect("valid");
        audit.result("authorization callback", &unchecked.parse_callback(url));
    }
    let check = CallbackCheck::new(REDIRECT_URI, Some("audit-state")).expect("valid");
    audit.debug("CallbackCheck", &check);
    for url in [
        format!("{REDIRECT_URI}&state=audit-state&code={AUDIT_CODE}&access_token={AUDIT_ACCESS}"),
        format!("{REDIRECT_URI}&state=forged&refresh_token={AUDIT_REFRESH}"),
        format!("https://app.example.com/other?client_secret={AUDIT_CLIENT_SECRET}"),
    ] {
        audit.result("permissions callback", &check.parse(&url));
        audit.result("permissions callback", &permissions.parse_callback(&url));
    }
}

fn endpoint<E>(audit: &mut Audit, endpoint: &E, ctx: &RequestContext<'_>)
where
    E: Endpoint + Debug,
    E::Output: Debug,
{
    let name = endpoint.name();
    audit.debug(format!("{name} endpoint"), endpoint);
    audit.result(&format!("{name} request"), &endpoint.to_request(ctx));
    let config = ClientConfig::new(DataCenter::Us.hosts());
    let mut call = Call::new(endpoint, &config, ctx.access_token);
    let sent = call.poll();
    audit.debug(format!("{name} call"), &sent);
    audit.debug(format!("{name} call"), &call);
}

// --- both transports --------------------------------------------------------------------------

/// The fake's credentials, added to the audit: on the client side they are secrets too.
fn fake_secrets(audit: &mut Audit, fake: &FakeCronofy) {
    let seed = fake.seed();
    for secret in [
        &seed.client_secret,
        &seed.access_token,
        &seed.refresh_token,
        &seed.enterprise_access_token,
        &seed.enterprise_refresh_token,
    ] {
        audit.secret(secret);
    }
}

fn transports(audit: &mut Audit, fake: &FakeCronofy) {
    fake_secrets(audit, fake);
    let seed = fake.seed().clone();
    let creds = || {
        ClientCredentials::new(
            seed.client_id.clone(),
            ClientSecret::new(seed.client_secret.clone()),
        )
    };
    let audit_creds = || {
        ClientCredentials::new(
            seed.client_id.clone(),
            ClientSecret::new(AUDIT_CLIENT_SECRET),
        )
    };
    let token = AccessToken::new(seed.access_token.clone());
    let request = PermissionsRequest::builder()
        .calendar(seed.calendar_ids[0].clone())
        .redirect_uri(REDIRECT_URI)
        .state("audit-state")
        .build()
        .expect("valid");

    // Every failure kind through every driver.
    for (name, factory) in drivers::all() {
        let mut cfg = config(fake);
        cfg.timeout = Duration::from_millis(500);
        cfg.max_response_bytes = 64 << 10;
        cfg.retry = RetryPolicy::never();
        let driver = factory(&cfg);
        let mut failures: Vec<(String, drivers::Failure)> = Vec::new();
        let mut expect_err = |what: String, result: Result<(), drivers::Failure>| match result {
            Ok(()) => panic!("{name}: {what} succeeded"),
            Err(f) => failures.push((format!("{name}: {what}"), f)),
        };
        for status in [
            401, 402, 403, 404, 422, 423, 429, 500, 502, 503, 504, 302, 418,
        ] {
            // A gateway that echoes the request into its error page (some debugging proxies
            // do): the sent access token must not come back out.
            let body = if status == 422 {
                format!(
                    r#"{{"errors":{{"permissions":[{{"key":"errors.invalid","description":"{} is not allowed"}}]}}}}"#,
                    seed.access_token
                )
            } else {
                format!(
                    "upstream refused Authorization: Bearer {}",
                    seed.access_token
                )
            };
            fake.script(
                Route::Permissions,
                [Fault::status(status).header("Retry-After", "1").body(body)],
            );
            expect_err(
                format!("permissions {status}"),
                driver.request_permissions(&token, &request).map(drop),
            );
        }
        let exchange =
            |code: &str| ExchangeCode::new(creds(), AuthorizationCode::new(code), OAUTH_REDIRECT);
        let echo = format!(
            "{} {} {}",
            seed.client_secret, seed.refresh_token, AUDIT_CODE
        );
        for status in [400, 401, 403, 422, 429, 500, 503, 418] {
            let body = match status {
                400 => format!(r#"{{"error":"invalid_grant","error_description":"{echo}"}}"#),
                _ => echo.clone(),
            };
            fake.script(Route::Token, [Fault::status(status).body(body)]);
            expect_err(
                format!("exchange {status}"),
                driver.exchange_code(&exchange(AUDIT_CODE)).map(drop),
            );
        }
        // A 401 that quotes every secret back, in a header and in the body.
        let everything = format!(
            "{} {} {} {} {AUDIT_ACCESS} {AUDIT_CODE}",
            seed.access_token, seed.refresh_token, seed.client_secret, seed.enterprise_access_token
        );
        // A token endpoint's 400 keeps nothing of its body beyond the OAuth error code.
        fake.script(
            Route::Token,
            [Fault::status(400).body(format!(
                r#"{{"error":"invalid_grant","access_token":"{everything}"}}"#
            ))],
        );
        let result = driver.exchange_code(&exchange(AUDIT_CODE)).map(drop);
        if let Err(failure) = &result {
            assert!(
                matches!(
                    &*failure.error,
                    CallError::Api(ApiError::BadRequest {
                        code: OAuthErrorCode::InvalidGrant,
                        description: None,
                    })
                ),
                "{name}: {failure:?}"
            );
        }
        expect_err("exchange 400 echoing every secret".into(), result);
        fake.script(
            Route::Calendars,
            [Fault::status(401)
                .header("WWW-Authenticate", format!("Bearer {everything}"))
                .body(everything.clone())],
        );
        expect_err(
            "401 echoing every secret".into(),
            driver.list_calendars(&token).map(drop),
        );
        // Token answers cut short (not JSON), quoting the secrets: decode errors.
        let cut_short = format!(r#"{{"access_token":"{everything}"#);
        let refresh_call =
            || RefreshAccessToken::new(creds(), RefreshToken::new(seed.refresh_token.clone()));
        for what in ["exchange", "refresh"] {
            fake.script(
                Route::Token,
                [Fault::status(200)
                    .header("Content-Type", "application/json")
                    .body(cut_short.clone())],
            );
            let result = if what == "exchange" {
                driver.exchange_code(&exchange(AUDIT_CODE)).map(drop)
            } else {
                driver.refresh_token(&refresh_call()).map(drop)
            };
            expect_err(format!("{what}: a token answer cut short"), result);
        }
        // A refresh answered 500 with tokens in the body; a refresh with an unknown secret.
        fake.script(
            Route::Token,
            [Fault::status(500).body(format!(r#"{{"access_token":"{}"}}"#, seed.access_token))],
        );
        expect_err(
            "refresh 500 with a token in the body".into(),
            driver.refresh_token(&refresh_call()).map(drop),
        );
        expect_err(
            "refresh with an unknown client secret".into(),
            driver
                .refresh_token(&RefreshAccessToken::new(
                    audit_creds(),
                    RefreshToken::new(AUDIT_REFRESH),
                ))
                .map(drop),
        );
        // A 2xx body whose decode error would quote the token.
        fake.script(
            Route::Calendars,
            [Fault::status(200).body(format!(r#"{{"calendars":"{}"}}"#, seed.access_token))],
        );
        expect_err(
            "echo in a 2xx body".into(),
            driver.list_calendars(&token).map(drop),
        );
        // Unscripted: the fake refuses an unknown code and unknown credentials.
        expect_err(
            "unknown code".into(),
            driver.exchange_code(&exchange(AUDIT_CODE)).map(drop),
        );
        expect_err(
            "unknown client secret".into(),
            driver
                .exchange_code(&ExchangeCode::new(
                    audit_creds(),
                    AuthorizationCode::new(AUDIT_CODE),
                    OAUTH_REDIRECT,
                ))
                .map(drop),
        );
        expect_err(
            "unknown token".into(),
            driver
                .list_calendars(&AccessToken::new(AUDIT_ACCESS))
                .map(drop),
        );
        for (what, fault) in [
            ("hang", Fault::hang()),
            ("oversized", Fault::oversized(1 << 20)),
            ("malformed", Fault::malformed_json()),
            ("drop", Fault::drop_connection()),
        ] {
            fake.script(Route::Permissions, [fault.clone()]);
            expect_err(
                what.into(),
                driver.request_permissions(&token, &request).map(drop),
            );
            fake.script(Route::Token, [fault]);
            let code = fake.issue_code(&seed.account_id, OAUTH_REDIRECT);
            audit.secret(&code);
            expect_err(
                format!("{what} on the token endpoint"),
                driver.exchange_code(&exchange(&code)).map(drop),
            );
        }
        // Success, with a real code.
        let code = fake.issue_code(&seed.account_id, OAUTH_REDIRECT);
        audit.secret(&code);
        let tokens = driver
            .exchange_code(&exchange(&code))
            .expect("code exchange");
        audit.secret(tokens.access_token.secret());
        audit.debug(format!("{name}: tokens"), &tokens);
        audit.debug(
            format!("{name}: calendars"),
            &driver.list_calendars(&token).expect("calendars"),
        );
        audit.debug(
            format!("{name}: permissions"),
            &driver
                .request_permissions(&token, &request)
                .expect("permissions"),
        );
        let kinds: Vec<&str> = failures.iter().map(|(_, f)| f.kind).collect();
        for kind in [
            "unauthorized",
            "payment_required",
            "forbidden",
            "not_found",
            "unprocessable",
            "locked",
            "rate_limited",
            "server",
            "unexpected_status",
            "bad_request",
            "timeout",
            "too_large",
            "decode",
            "transport",
        ] {
            assert!(
                kinds.contains(&kind),
                "{name}: no {kind} failure audited: {kinds:?}"
            );
        }
        for (what, failure) in &failures {
            assert!(
                !failure.display.is_empty() && !failure.display.contains('\n'),
                "{what}: not one line: {:?}",
                failure.display
            );
            audit.failure(what, failure);
        }
    }

    // A refused connection (a base URL with a path too), with secrets in the request.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = BaseUrl::parse(&format!(
        "http://{}/prefix",
        listener.local_addr().expect("addr")
    ))
    .expect("base");
    drop(listener);
    for (name, factory) in drivers::all() {
        let driver = factory(&Config {
            hosts: Hosts::custom(closed.clone(), closed.clone()),
            timeout: Duration::from_secs(2),
            max_response_bytes: 1 << 20,
            retry: RetryPolicy::never(),
            pacing: None,
            user_agent: None,
        });
        let failure = driver
            .list_calendars(&AccessToken::new(AUDIT_ACCESS))
            .expect_err("refused");
        assert_eq!(failure.kind, "transport", "{name}");
        audit.failure(format!("{name}: refused"), &failure);
        let failure = driver
            .exchange_code(&ExchangeCode::new(
                audit_creds(),
                AuthorizationCode::new(AUDIT_CODE),
                OAUTH_REDIRECT,
            ))
            .expect_err("refused");
        assert!(failure.connect, "{name}: {failure:?}");
        audit.failure(format!("{name}: exchange refused"), &failure);
    }

    ureq_direct(audit, fake, &creds, &audit_creds);
    reqwest_direct(audit, fake, &creds, &audit_creds);
}

fn fresh_account(audit: &mut Audit, fake: &FakeCronofy) -> permissions_fake::AccountTokens {
    let account = fake.add_account(NewAccount::user().calendar(NewCalendar::new("Audit")));
    audit.secret(&account.access_token);
    audit.secret(&account.refresh_token);
    account
}

/// What the driver vocabulary does not cover: the clients' own `Debug`, refresh, revoke, `call`
/// and `Session`, through `permissions-ureq`.
fn ureq_direct(
    audit: &mut Audit,
    fake: &FakeCronofy,
    creds: &dyn Fn() -> ClientCredentials,
    audit_creds: &dyn Fn() -> ClientCredentials,
) {
    use permissions_ureq::{Client, Session};
    let hosts = config(fake).hosts;
    let builder = Client::builder()
        .hosts(hosts.clone())
        .retry_policy(RetryPolicy::never())
        .pacing(None);
    audit.debug("ureq builder", &builder);
    let client = builder.build().expect("client");
    audit.debug("ureq client", &client);
    let account = fresh_account(audit, fake);
    let refresh =
        RefreshAccessToken::new(creds(), RefreshToken::new(account.refresh_token.clone()));
    let refreshed = client.refresh_token(&refresh);
    audit.secret(refreshed.as_ref().expect("refresh").access_token.secret());
    audit.result("ureq refresh", &refreshed);
    audit.result(
        "ureq refresh, unknown",
        &client.refresh_token(&RefreshAccessToken::new(
            audit_creds(),
            RefreshToken::new(AUDIT_REFRESH),
        )),
    );
    let token = AccessToken::new(account.access_token.clone());
    audit.result("ureq call", &client.call(&ListCalendars, Some(&token)));
    audit.result("ureq call, no token", &client.call(&ListCalendars, None));
    for target in [
        Revocable::AccessToken(AccessToken::new(AUDIT_ACCESS)),
        Revocable::RefreshToken(RefreshToken::new(AUDIT_REFRESH)),
    ] {
        audit.result(
            "ureq revoke, unknown",
            &client.revoke(&RevokeToken::new(audit_creds(), target)),
        );
    }

    // A session whose access token expired: one refresh, then success.
    let account = fresh_account(audit, fake);
    fake.expire_access_token(&account.access_token);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen_in = seen.clone();
    let session = Session::new(
        client.clone(),
        creds(),
        AccessToken::new(account.access_token.clone()),
        RefreshToken::new(account.refresh_token.clone()),
    )
    .on_refresh(move |answer| {
        seen_in
            .lock()
            .expect("lock")
            .push(answer.access_token.secret().to_owned())
    });
    audit.debug("ureq session", &session);
    let calendars = session.list_calendars();
    for token in seen.lock().expect("lock").iter() {
        audit.secret(token);
    }
    audit.result("ureq session calendars", &calendars);
    audit.debug("ureq session after a refresh", &session);
    // A session whose refresh fails.
    let doomed = Session::new(
        client.clone(),
        audit_creds(),
        AccessToken::new(AUDIT_ACCESS),
        RefreshToken::new(AUDIT_REFRESH),
    );
    audit.debug("ureq doomed session", &doomed);
    audit.result("ureq doomed session", &doomed.list_calendars());
    audit.result("ureq session call", &session.call(&ListCalendars));
    // Revoke for real, last.
    audit.result(
        "ureq revoke",
        &client.revoke(&RevokeToken::new(
            creds(),
            Revocable::RefreshToken(RefreshToken::new(account.refresh_token)),
        )),
    );
}

/// The same through `permissions-reqwest`.
fn reqwest_direct(
    audit: &mut Audit,
    fake: &FakeCronofy,
    creds: &dyn Fn() -> ClientCredentials,
    audit_creds: &dyn Fn() -> ClientCredentials,
) {
    use permissions_reqwest::{Client, Session};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hosts = config(fake).hosts;
    rt.block_on(async {
        let builder = Client::builder()
            .hosts(hosts)
            .retry_policy(RetryPolicy::never())
            .pacing(None);
        audit.debug("reqwest builder", &builder);
        let client = builder.build().expect("client");
        audit.debug("reqwest client", &client);
        let account = fresh_account(audit, fake);
        let refresh =
            RefreshAccessToken::new(creds(), RefreshToken::new(account.refresh_token.clone()));
        let refreshed = client.refresh_token(&refresh).await;
        audit.secret(refreshed.as_ref().expect("refresh").access_token.secret());
        audit.result("reqwest refresh", &refreshed);
        audit.result(
            "reqwest refresh, unknown",
            &client
                .refresh_token(&RefreshAccessToken::new(
                    audit_creds(),
                    RefreshToken::new(AUDIT_REFRESH),
                ))
                .await,
        );
        let token = AccessToken::new(account.access_token.clone());
        audit.result(
            "reqwest call",
            &client.call(&ListCalendars, Some(&token)).await,
        );
        audit.result(
            "reqwest call, no token",
            &client.call(&ListCalendars, None).await,
        );
        for target in [
            Revocable::AccessToken(AccessToken::new(AUDIT_ACCESS)),
            Revocable::RefreshToken(RefreshToken::new(AUDIT_REFRESH)),
        ] {
            audit.result(
                "reqwest revoke, unknown",
                &client
                    .revoke(&RevokeToken::new(audit_creds(), target))
                    .await,
            );
        }

        let account = fresh_account(audit, fake);
        fake.expire_access_token(&account.access_token);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen_in = seen.clone();
        let session = Session::new(
            client.clone(),
            creds(),
            AccessToken::new(account.access_token.clone()),
            RefreshToken::new(account.refresh_token.clone()),
        )
        .on_refresh(move |answer| {
            seen_in
                .lock()
                .expect("lock")
                .push(answer.access_token.secret().to_owned())
        });
        audit.debug("reqwest session", &session);
        let calendars = session.list_calendars().await;
        let new_tokens: Vec<String> = seen.lock().expect("lock").clone();
        for token in &new_tokens {
            audit.secret(token);
        }
        audit.result("reqwest session calendars", &calendars);
        audit.debug("reqwest session after a refresh", &session);
        let doomed = Session::new(
            client.clone(),
            audit_creds(),
            AccessToken::new(AUDIT_ACCESS),
            RefreshToken::new(AUDIT_REFRESH),
        );
        audit.debug("reqwest doomed session", &doomed);
        audit.result("reqwest doomed session", &doomed.list_calendars().await);
        audit.result("reqwest session call", &session.call(&ListCalendars).await);
        audit.result(
            "reqwest revoke",
            &client
                .revoke(&RevokeToken::new(
                    creds(),
                    Revocable::RefreshToken(RefreshToken::new(account.refresh_token)),
                ))
                .await,
        );
    });
}

// --- the CLI ----------------------------------------------------------------------------------

/// The `cronofy-permissions` binary of this build: `target/<profile>/`, next to the `deps/`
/// folder that holds this test binary. Tests never build it; `cargo test --workspace` (or
/// `cargo build -p permissions-cli`) does.
pub(crate) fn cli_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is in target/<profile>/deps");
    let bin = profile_dir.join(format!(
        "cronofy-permissions{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        bin.is_file(),
        "the CLI binary {} is missing: build it first with `cargo build -p permissions-cli` \
         (`cargo test --workspace` builds it too)",
        bin.display()
    );
    bin
}

/// What one run of the CLI produced.
#[derive(Debug)]
pub(crate) struct CliRun {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs the CLI with exactly these arguments and environment (none inherited from Cronofy's
/// variables), no standard input, killed after `limit`.
pub(crate) fn run_cli(
    bin: &PathBuf,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> CliRun {
    let mut cmd = Command::new(bin);
    for var in [
        "CRONOFY_ACCESS_TOKEN",
        "CRONOFY_CLIENT_ID",
        "CRONOFY_CLIENT_SECRET",
        "CRONOFY_REFRESH_TOKEN",
        "CRONOFY_DATA_CENTER",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start the CLI");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the CLI") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the CLI did not finish within {limit:?}: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    CliRun {
        code: status
            .code()
            .expect("the CLI exited, not killed by a signal"),
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

fn cli(audit: &mut Audit, fake: &FakeCronofy) {
    let bin = cli_binary();
    let seed = fake.seed().clone();
    let account = fresh_account(audit, fake);
    let hosts = ["--api-url", fake.api_url(), "--app-url", fake.app_url()];
    let good_env = [
        ("CRONOFY_ACCESS_TOKEN", seed.access_token.as_str()),
        ("CRONOFY_CLIENT_ID", seed.client_id.as_str()),
        ("CRONOFY_CLIENT_SECRET", seed.client_secret.as_str()),
        ("CRONOFY_REFRESH_TOKEN", account.refresh_token.as_str()),
    ];
    let audit_env = [
        ("CRONOFY_ACCESS_TOKEN", AUDIT_ACCESS),
        ("CRONOFY_CLIENT_ID", seed.client_id.as_str()),
        ("CRONOFY_CLIENT_SECRET", AUDIT_CLIENT_SECRET),
        ("CRONOFY_REFRESH_TOKEN", AUDIT_REFRESH),
    ];
    let calendar = seed.calendar_ids[0].as_str();
    let callback_url =
        format!("{REDIRECT_URI}&state=audit-state&code={AUDIT_CODE}&access_token={AUDIT_ACCESS}");
    let forged_url = format!("{REDIRECT_URI}&state=forged&refresh_token={AUDIT_REFRESH}");
    let request = [
        "request",
        "--calendar",
        calendar,
        "--redirect-uri",
        REDIRECT_URI,
        "--state",
        "audit-state",
    ];
    let commands: Vec<Vec<&str>> = vec![
        vec!["calendars"],
        request.to_vec(),
        [&request[..], &["--dry-run"][..]].concat(),
        vec![
            "callback",
            &callback_url,
            "--redirect-uri",
            REDIRECT_URI,
            "--state",
            "audit-state",
        ],
        vec![
            "callback",
            &forged_url,
            "--redirect-uri",
            REDIRECT_URI,
            "--state",
            "audit-state",
        ],
        vec![
            "authorize-url",
            "--redirect-uri",
            OAUTH_REDIRECT,
            "--scope",
            "read_account",
            "--state",
            "s",
        ],
        vec![
            "token",
            "exchange",
            "--code",
            AUDIT_CODE,
            "--redirect-uri",
            OAUTH_REDIRECT,
        ],
        vec!["token", "refresh"],
        vec!["token", "revoke", "--access-token"],
        vec!["token", "revoke", "--sub", "acc_audit_unknown"],
    ];
    let mut runs = 0;
    for json in [false, true] {
        for env in [&good_env, &audit_env] {
            for command in &commands {
                let mut args: Vec<&str> = hosts.to_vec();
                if json {
                    args.push("--json");
                }
                args.extend(command.iter().copied());
                // `token revoke` takes one target: the refresh token in the environment would
                // be a second one for these two.
                let mut env = env.to_vec();
                if command.starts_with(&["token", "revoke"]) {
                    env.push(("CRONOFY_REFRESH_TOKEN", ""));
                }
                let run = run_cli(&bin, &args, &env, Duration::from_secs(30));
                runs += 1;
                audit.text(
                    format!("cli {args:?}"),
                    format!("{}\n{}", run.stdout, run.stderr),
                );
            }
            // Secrets as flags rather than environment variables.
            let token = env[0].1;
            let mut args: Vec<&str> = hosts.to_vec();
            if json {
                args.push("--json");
            }
            args.extend(["--token", token, "calendars"]);
            let run = run_cli(&bin, &args, &[], Duration::from_secs(30));
            runs += 1;
            audit.text(
                format!("cli {args:?}"),
                format!("{}\n{}", run.stdout, run.stderr),
            );
        }
        // A real code exchanged and a real refresh, without --show-secrets.
        let code = fake.issue_code(&seed.account_id, OAUTH_REDIRECT);
        audit.secret(&code);
        let mut args: Vec<&str> = hosts.to_vec();
        if json {
            args.push("--json");
        }
        args.extend([
            "token",
            "exchange",
            "--code",
            &code,
            "--redirect-uri",
            OAUTH_REDIRECT,
        ]);
        let run = run_cli(&bin, &args, &good_env, Duration::from_secs(30));
        assert_eq!(run.code, 0, "{run:?}");
        audit.text(
            format!("cli {args:?}"),
            format!("{}\n{}", run.stdout, run.stderr),
        );
        // The same with the code from the environment.
        let code = fake.issue_code(&seed.account_id, OAUTH_REDIRECT);
        audit.secret(&code);
        let mut args: Vec<&str> = hosts.to_vec();
        if json {
            args.push("--json");
        }
        args.extend(["token", "exchange", "--redirect-uri", OAUTH_REDIRECT]);
        let mut env = good_env.to_vec();
        env.push(("CRONOFY_AUTHORIZATION_CODE", code.as_str()));
        let run = run_cli(&bin, &args, &env, Duration::from_secs(30));
        assert_eq!(run.code, 0, "{run:?}");
        audit.text(
            format!("cli {args:?} (code from the environment)"),
            format!("{}\n{}", run.stdout, run.stderr),
        );
        runs += 1;
        // Every failure kind.
        for fault in [
            Fault::status(500).body(format!("{} {}", seed.access_token, seed.client_secret)),
            Fault::status(401),
            Fault::status(429).header("Retry-After", "86400"),
            Fault::oversized(2 << 20),
            Fault::malformed_json(),
            Fault::drop_connection(),
            Fault::hang(),
        ] {
            for route in [Route::Calendars, Route::Token] {
                // The CLI retries what is safe to retry: three answers cover every attempt.
                fake.script(route, [fault.clone(), fault.clone(), fault.clone()]);
                let code = fake.issue_code(&seed.account_id, OAUTH_REDIRECT);
                audit.secret(&code);
                let mut args: Vec<&str> = hosts.to_vec();
                args.extend(["--timeout", "0.3"]);
                if json {
                    args.push("--json");
                }
                if matches!(route, Route::Calendars) {
                    args.push("calendars");
                } else {
                    args.extend([
                        "token",
                        "exchange",
                        "--code",
                        code.as_str(),
                        "--redirect-uri",
                        OAUTH_REDIRECT,
                    ]);
                }
                let run = run_cli(&bin, &args, &good_env, Duration::from_secs(30));
                assert_ne!(run.code, 0, "{args:?}: {run:?}");
                audit.text(
                    format!("cli {args:?}"),
                    format!("{}\n{}", run.stdout, run.stderr),
                );
                runs += 1;
                fake.clear_faults();
            }
        }
    }
    // A refused connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    for json in [false, true] {
        let mut args = vec!["--api-url", closed.as_str(), "--app-url", closed.as_str()];
        if json {
            args.push("--json");
        }
        args.extend([
            "token",
            "exchange",
            "--code",
            AUDIT_CODE,
            "--redirect-uri",
            OAUTH_REDIRECT,
        ]);
        let run = run_cli(&bin, &args, &audit_env, Duration::from_secs(30));
        assert_eq!(run.code, 3, "{run:?}");
        audit.text(
            format!("cli {args:?}"),
            format!("{}\n{}", run.stdout, run.stderr),
        );
        runs += 1;
    }
    eprintln!("secret audit: {runs} CLI runs");
}
