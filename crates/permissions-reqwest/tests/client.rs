//! `permissions-reqwest` against the local Cronofy (`permissions-fake`), small in-test servers
//! on 127.0.0.1, and closure transports.

use std::error::Error as StdError;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use permissions_core::error::{ApiError, OAuthErrorCode};
use permissions_core::transport::{HttpRequest, HttpResponse, TransportError};
use permissions_core::{
    AccessToken, AuthorizationCode, BaseUrl, CalendarPermissionLevel, ClientCredentials,
    ClientSecret, ExchangeCode, Hosts, ListCalendars, PermissionsOutcome, PermissionsRequest,
    RefreshAccessToken, RefreshToken, RetryPolicy, Revocable, RevokeToken,
};
use permissions_fake::{FakeCronofy, Fault, Route};
use permissions_reqwest::{Client, Error, ReqwestTransport, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const REDIRECT: &str = "https://app.example.com/permissions/done";
/// A generous bound for things that must be quick; only to catch hangs.
const QUICK: Duration = Duration::from_secs(10);

fn hosts(fake: &FakeCronofy) -> Hosts {
    Hosts::custom(
        BaseUrl::parse(fake.api_url()).unwrap(),
        BaseUrl::parse(fake.app_url()).unwrap(),
    )
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
    }
}

fn client_for(fake: &FakeCronofy) -> Client {
    Client::builder()
        .hosts(hosts(fake))
        .retry_policy(fast_retries())
        .build()
        .unwrap()
}

fn token(fake: &FakeCronofy) -> AccessToken {
    AccessToken::new(fake.seed().access_token.clone())
}

fn credentials(fake: &FakeCronofy) -> ClientCredentials {
    ClientCredentials::new(
        fake.seed().client_id.clone(),
        ClientSecret::new(fake.seed().client_secret.clone()),
    )
}

fn permissions_request(fake: &FakeCronofy) -> PermissionsRequest {
    PermissionsRequest::builder()
        .calendar(fake.seed().calendar_ids[0].clone())
        .redirect_uri(REDIRECT)
        .state("st")
        .build()
        .unwrap()
}

fn hits(fake: &FakeCronofy, path: &str) -> usize {
    fake.requests().iter().filter(|r| r.path == path).count()
}

/// The error's `Display`, with every source's.
fn chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn json(status: u16, body: &str) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

// --- In-test servers -----------------------------------------------------------------------

/// Reads one request (head and `Content-Length` body) from `stream`, bounded in size and time.
async fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                if data.len() >= end + 4 + length {
                    return;
                }
            }
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 || data.len() > 1 << 20 {
                return;
            }
            data.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(QUICK, read)
        .await
        .expect("request read in time");
    data
}

/// A server that answers each of `answers` on its own connection, then stops. Returns its base
/// URL and the requests it received.
async fn serve(answers: Vec<Vec<u8>>) -> (String, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut requests = Vec::new();
        for answer in answers {
            let Ok(Ok((mut stream, _))) = tokio::time::timeout(QUICK, listener.accept()).await
            else {
                break;
            };
            requests.push(read_request(&mut stream).await);
            stream.write_all(&answer).await.unwrap();
            let _ = stream.shutdown().await;
        }
        requests
    });
    (url, task)
}

fn client_at(url: &str) -> Client {
    let base = BaseUrl::parse(url).unwrap();
    Client::builder()
        .hosts(Hosts::custom(base.clone(), base))
        .retry_policy(fast_retries())
        .build()
        .unwrap()
}

const CALENDARS: &str = r#"{"calendars":[{"provider_name":"google","profile_id":"pro_1","profile_name":"a@example.com","calendar_id":"cal_1_1","calendar_name":"Home","calendar_readonly":false,"calendar_deleted":false,"permission_level":"sandbox"}]}"#;

// --- Success paths -------------------------------------------------------------------------

#[tokio::test]
async fn every_method_succeeds_against_the_fake() {
    let fake = FakeCronofy::start().await.unwrap();
    let client = client_for(&fake);
    let seed = fake.seed().clone();

    // Step 2: code exchange.
    let code = fake.issue_code(&seed.account_id, REDIRECT);
    let exchange = ExchangeCode::new(credentials(&fake), AuthorizationCode::new(code), REDIRECT);
    let tokens = client.exchange_code(&exchange).await.unwrap();
    assert_eq!(tokens.account_id.as_deref(), Some(seed.account_id.as_str()));
    let refresh_token = tokens.refresh_token.clone().expect("a refresh token");

    // Step 3.
    let calendars = client.list_calendars(&tokens.access_token).await.unwrap();
    assert_eq!(calendars.calendars.len(), seed.calendar_ids.len());
    assert!(calendars.needing_elevation().count() > 0);

    // The generic entry point runs the same endpoint.
    let again = client
        .call(&ListCalendars, Some(&tokens.access_token))
        .await
        .unwrap();
    assert_eq!(again, calendars);

    // Steps 4-5, a user account: a page to send the user to.
    let outcome = client
        .request_permissions(&tokens.access_token, &permissions_request(&fake))
        .await
        .unwrap();
    let PermissionsOutcome::Redirect { url } = outcome else {
        panic!("expected a redirect, got {outcome:?}")
    };
    assert!(url.as_str().starts_with(fake.app_url()), "{url}");

    // Steps 4-5, an Enterprise Connect account: granted at once.
    let enterprise = PermissionsRequest::builder()
        .calendar(seed.enterprise_calendar_ids[0].clone())
        .redirect_uri(REDIRECT)
        .build()
        .unwrap();
    let outcome = client
        .request_permissions(
            &AccessToken::new(seed.enterprise_access_token.clone()),
            &enterprise,
        )
        .await
        .unwrap();
    assert_eq!(outcome, PermissionsOutcome::Granted);

    // Refresh, then revoke.
    let refreshed = client
        .refresh_token(&RefreshAccessToken::new(
            credentials(&fake),
            refresh_token.clone(),
        ))
        .await
        .unwrap();
    assert_ne!(refreshed.access_token, tokens.access_token);
    client
        .revoke(&RevokeToken::new(
            credentials(&fake),
            Revocable::RefreshToken(refresh_token),
        ))
        .await
        .unwrap();
    let err = client
        .list_calendars(&refreshed.access_token)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api(ApiError::Unauthorized)), "{err:?}");
    assert_eq!(err.kind(), "unauthorized");
    assert_eq!(err.status(), Some(http::StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn sends_the_default_user_agent() {
    let fake = FakeCronofy::start().await.unwrap();
    client_for(&fake)
        .list_calendars(&token(&fake))
        .await
        .unwrap();
    let log = fake.requests();
    let ua = log[0].header("user-agent").unwrap();
    assert_eq!(
        ua,
        format!(
            "permissions-reqwest/{} permissions-core/{}",
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[tokio::test]
async fn an_invalid_user_agent_is_refused_at_build() {
    let err = Client::builder()
        .user_agent("line\nbreak")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert!(chain(&err).contains("user_agent"), "{}", chain(&err));
}

#[tokio::test]
async fn invalid_input_sends_nothing() {
    let fake = FakeCronofy::start().await.unwrap();
    let client = client_for(&fake);
    let exchange = ExchangeCode::new(credentials(&fake), AuthorizationCode::new(""), REDIRECT);
    let err = client.exchange_code(&exchange).await.unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert_eq!(err.kind(), "invalid_input");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn all_response_headers_status_and_body_survive_the_transport() {
    let answer =
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nX-Trace: one\r\nX-Trace: two\r\n\
Content-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nslow"
            .to_vec();
    let (url, server) = serve(vec![answer]).await;
    let transport = ReqwestTransport::from_builder(reqwest::Client::builder()).unwrap();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("{url}/v1/permissions?x=1"))
        .header("content-type", "application/json")
        .body(b"{\"a\":1}".to_vec().into())
        .unwrap();
    let response = transport.execute(request).await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let traces: Vec<_> = response.headers().get_all("x-trace").iter().collect();
    assert_eq!(traces, ["one", "two"]);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.body(), b"slow");

    let received = String::from_utf8(server.await.unwrap().remove(0)).unwrap();
    assert!(
        received.starts_with("POST /v1/permissions?x=1 HTTP/1.1\r\n"),
        "{received}"
    );
    assert!(received.ends_with("\r\n\r\n{\"a\":1}"), "{received}");
}

// --- Retries -------------------------------------------------------------------------------

#[tokio::test]
async fn rate_limited_with_retry_after_then_success() {
    let fake = FakeCronofy::start().await.unwrap();
    fake.script(
        Route::Calendars,
        [Fault::status(429).header("Retry-After", "1")],
    );
    let started = Instant::now();
    let calendars = client_for(&fake)
        .list_calendars(&token(&fake))
        .await
        .unwrap();
    assert!(!calendars.calendars.is_empty());
    assert_eq!(hits(&fake, "/v1/calendars"), 2);
    // The back-off alone would be 5-10 ms: the wait came from `Retry-After`.
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn unavailable_twice_then_success() {
    let fake = FakeCronofy::start().await.unwrap();
    fake.script(Route::Permissions, [Fault::status(503), Fault::status(503)]);
    let outcome = client_for(&fake)
        .request_permissions(&token(&fake), &permissions_request(&fake))
        .await
        .unwrap();
    assert!(matches!(outcome, PermissionsOutcome::Redirect { .. }));
    assert_eq!(hits(&fake, "/v1/permissions"), 3);
}

#[tokio::test]
async fn retries_exhausted_reports_the_last_answer() {
    let fake = FakeCronofy::start().await.unwrap();
    fake.script(
        Route::Calendars,
        [
            Fault::status(503),
            Fault::status(503),
            Fault::status(503).body("down"),
        ],
    );
    let err = client_for(&fake)
        .list_calendars(&token(&fake))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(ApiError::Server { status, .. }) if *status == 503),
        "{err:?}"
    );
    assert_eq!(err.kind(), "server");
    assert_eq!(err.status(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(hits(&fake, "/v1/calendars"), 3);
}

#[tokio::test]
async fn a_huge_retry_after_stops_at_once() {
    let fake = FakeCronofy::start().await.unwrap();
    fake.script(
        Route::Calendars,
        [Fault::status(429).header("Retry-After", "999999")],
    );
    let started = Instant::now();
    let err = client_for(&fake)
        .list_calendars(&token(&fake))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Api(ApiError::RateLimited {
                retry_after: Some(_)
            })
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), "rate_limited");
    assert_eq!(hits(&fake, "/v1/calendars"), 1);
    assert!(started.elapsed() < QUICK);
}

#[tokio::test]
async fn a_code_exchange_is_not_repeated_after_a_bad_gateway() {
    let fake = FakeCronofy::start().await.unwrap();
    fake.script(Route::Token, [Fault::status(502)]);
    let code = fake.issue_code(&fake.seed().account_id, REDIRECT);
    let exchange = ExchangeCode::new(credentials(&fake), AuthorizationCode::new(code), REDIRECT);
    let err = client_for(&fake)
        .exchange_code(&exchange)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::BAD_GATEWAY));
    assert_eq!(hits(&fake, "/oauth/token"), 1);
}

// --- Failures ------------------------------------------------------------------------------

#[tokio::test]
async fn a_silent_server_times_out_within_the_timeout() {
    let fake = FakeCronofy::start().await.unwrap();
    fake.script(Route::Calendars, [Fault::hang()]);
    let client = Client::builder()
        .hosts(hosts(&fake))
        .timeout(Duration::from_secs(1))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.list_calendars(&token(&fake)).await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert_eq!(err.kind(), "timeout");
    assert!(
        started.elapsed() < Duration::from_secs(1) + QUICK,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_streamed_50_mib_body_is_cut_off_at_the_cap() {
    // Chunked, no Content-Length: the cap must be enforced while reading.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut stream, _) = tokio::time::timeout(QUICK, listener.accept())
            .await
            .unwrap()
            .unwrap();
        read_request(&mut stream).await;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        let mut sent = 0usize;
        while sent < 50 << 20 {
            match tokio::time::timeout(QUICK, stream.write_all(&framed)).await {
                Ok(Ok(())) => sent += chunk.len(),
                _ => break,
            }
        }
        sent
    });
    let started = Instant::now();
    let err = client_at(&url)
        .list_calendars(&AccessToken::new("t"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { limit: 1_048_576 }),
        "{err:?}"
    );
    assert_eq!(err.kind(), "too_large");
    assert!(started.elapsed() < QUICK);
    // The client hung up: the server could not write the 50 MiB.
    let sent = server.await.unwrap();
    assert!(sent < 50 << 20, "the server sent all {sent} bytes");
}

#[tokio::test]
async fn an_announced_length_over_the_cap_is_refused_before_reading() {
    // Announces 50 MiB and sends none of it: reading would wait for the time-out.
    let answer =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 52428800\r\n\r\n"
            .to_vec();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_request(&mut stream).await;
        stream.write_all(&answer).await.unwrap();
        // Keep the connection open, silent, until the client goes away.
        let mut buf = [0u8; 16];
        let _ = tokio::time::timeout(QUICK, stream.read(&mut buf)).await;
    });
    let base = BaseUrl::parse(&url).unwrap();
    let client = Client::builder()
        .hosts(Hosts::custom(base.clone(), base))
        .timeout(QUICK)
        .max_response_bytes(1024)
        .build()
        .unwrap();
    let err = client
        .list_calendars(&AccessToken::new("t"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 1024 }), "{err:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn the_fakes_oversized_body_is_too_large() {
    let fake = FakeCronofy::start().await.unwrap();
    fake.script(Route::Calendars, [Fault::oversized(50 << 20)]);
    let err = client_for(&fake)
        .list_calendars(&token(&fake))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert_eq!(hits(&fake, "/v1/calendars"), 1);
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let fake = FakeCronofy::start().await.unwrap();
    fake.script(Route::Permissions, [Fault::malformed_json()]);
    let err = client_for(&fake)
        .request_permissions(&token(&fake), &permissions_request(&fake))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert_eq!(err.kind(), "decode");
    assert_eq!(err.status(), None);
}

#[tokio::test]
async fn a_dropped_connection_is_a_transport_error() {
    let fake = FakeCronofy::start().await.unwrap();
    fake.script(Route::Calendars, [Fault::drop_connection()]);
    let err = client_for(&fake)
        .list_calendars(&token(&fake))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(err.kind(), "transport");
    assert!(err.source().is_some(), "keeps what reqwest said");
    // Not retried: the request may have been processed.
    assert_eq!(hits(&fake, "/v1/calendars"), 1);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let fake = FakeCronofy::start().await.unwrap();
    // Following it would succeed: same host, a valid endpoint.
    let target = format!("{}/v1/calendars", fake.api_url());
    fake.script(
        Route::Calendars,
        [Fault::status(302).header("Location", &target)],
    );
    let err = client_for(&fake)
        .list_calendars(&token(&fake))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(ApiError::UnexpectedStatus { status, .. }) if *status == 302),
        "{err:?}"
    );
    assert_eq!(err.kind(), "unexpected_status");
    assert_eq!(hits(&fake, "/v1/calendars"), 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    // Default back-off: connection failures are retried, and still reported as such.
    let base = BaseUrl::parse(&url).unwrap();
    let client = Client::builder()
        .hosts(Hosts::custom(base.clone(), base))
        .build()
        .unwrap();
    let err = client
        .list_calendars(&AccessToken::new("t"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    assert_eq!(err.kind(), "transport");
    assert!(!chain(&err).contains(&url), "{}", chain(&err));
}

#[tokio::test]
async fn tls_is_configured_and_a_failed_handshake_is_a_connect_error() {
    // A plain-HTTP server at an https URL: the TLS handshake fails. This goes through the
    // crate's TLS set-up (with `rustls`: ring, the platform verifier) without a panic.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let _server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        // Plain HTTP at once, where the client expects a TLS ServerHello.
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await;
        let mut buf = [0u8; 1024];
        let _ = tokio::time::timeout(QUICK, stream.read(&mut buf)).await;
    });
    let base = BaseUrl::parse(&url).unwrap();
    let client = Client::builder()
        .hosts(Hosts::custom(base.clone(), base))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let err = client
        .list_calendars(&AccessToken::new("t"))
        .await
        .unwrap_err();
    if cfg!(any(feature = "rustls", feature = "native-tls")) {
        assert!(matches!(err, Error::Connect(_)), "{err:?}");
    } else {
        assert!(
            matches!(err, Error::Connect(_) | Error::Transport(_)),
            "{err:?}"
        );
    }
}

// --- Secrets -------------------------------------------------------------------------------

#[tokio::test]
async fn no_error_display_or_debug_shows_a_secret() {
    const SECRETS: [&str; 4] = [
        "tok_SECRET_access_1234",
        "ref_SECRET_refresh_1234",
        "cs_SECRET_client_1234",
        "code_SECRET_auth_1234",
    ];
    let access = AccessToken::new(SECRETS[0]);
    let refresh = RefreshToken::new(SECRETS[1]);
    let creds = ClientCredentials::new("client", ClientSecret::new(SECRETS[2]));
    let code = AuthorizationCode::new(SECRETS[3]);

    // Each answer quotes every secret back: none may reach an error.
    let echo = SECRETS.join(" ");
    let answer = |status: &str, headers: &str, length: Option<usize>, body: &str| {
        let length = length.unwrap_or(body.len());
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {length}\r\nConnection: close\r\n\r\n{body}"
        )
    };
    let answers = vec![
        answer(
            "401 Unauthorized",
            &format!("WWW-Authenticate: Bearer {echo}\r\n"),
            None,
            &echo,
        ),
        answer(
            "400 Bad Request",
            "Content-Type: application/json\r\n",
            None,
            &format!(r#"{{"error":"invalid_grant","access_token":"{echo}"}}"#),
        ),
        // A token answer cut short: not JSON.
        answer(
            "200 OK",
            "Content-Type: application/json\r\n",
            None,
            &format!(r#"{{"access_token":"{echo}"#),
        ),
        // The connection closes before the announced length.
        answer(
            "200 OK",
            "Content-Type: application/json\r\n",
            Some(5000),
            &format!(r#"{{"access_token":"{echo}"#),
        ),
    ];
    let (url, _server) = serve(answers.into_iter().map(String::into_bytes).collect()).await;
    let base = BaseUrl::parse(&url).unwrap();
    let client = Client::builder()
        .hosts(Hosts::custom(base.clone(), base))
        .retry_policy(RetryPolicy::never())
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let exchange = ExchangeCode::new(creds.clone(), code, REDIRECT);
    let refresh_call = RefreshAccessToken::new(creds.clone(), refresh.clone());

    let mut errors = vec![
        client.list_calendars(&access).await.unwrap_err(), // 401
        client.exchange_code(&exchange).await.unwrap_err(), // 400 with the secrets in the body
        client.refresh_token(&refresh_call).await.unwrap_err(), // a token answer cut short
        client.refresh_token(&refresh_call).await.unwrap_err(), // connection closed mid-body
    ];
    // Connection refused, time-out and too large, with the secrets in the request.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    errors.push(
        client_at(&closed_url)
            .exchange_code(&exchange)
            .await
            .unwrap_err(),
    );
    let fake = FakeCronofy::start().await.unwrap();
    fake.script(Route::Token, [Fault::hang(), Fault::oversized(1 << 21)]);
    let slow = Client::builder()
        .hosts(hosts(&fake))
        .retry_policy(RetryPolicy::never())
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    errors.push(slow.exchange_code(&exchange).await.unwrap_err());
    errors.push(slow.refresh_token(&refresh_call).await.unwrap_err());

    let kinds: Vec<_> = errors.iter().map(Error::kind).collect();
    assert_eq!(
        kinds,
        [
            "unauthorized",
            "bad_request",
            "decode",
            "transport",
            "transport",
            "timeout",
            "too_large"
        ]
    );
    for err in &errors {
        let shown = format!("{} | {err:?} | {err:#?} | {}", chain(err), err);
        for secret in SECRETS {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(!shown.contains("SECRET"), "{shown}");
    }
    // The token endpoint's error body is not kept beyond the OAuth error code.
    assert!(
        matches!(
            &errors[1],
            Error::Api(ApiError::BadRequest {
                code: OAuthErrorCode::InvalidGrant,
                description: None
            })
        ),
        "{:?}",
        errors[1]
    );

    // Nor do the client and a session.
    let session = Session::new(client.clone(), creds, access, refresh);
    let shown = format!("{client:?} {session:?} {session:#?}");
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

// --- Session -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_401s_share_a_single_refresh() {
    const CALLS: usize = 16;
    let refreshes = Arc::new(AtomicUsize::new(0));
    let stale_calls = Arc::new(tokio::sync::Barrier::new(CALLS));
    let transport = {
        let refreshes = refreshes.clone();
        move |req: HttpRequest| {
            let refreshes = refreshes.clone();
            let stale_calls = stale_calls.clone();
            async move {
                let auth = req
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_owned());
                match (req.uri().path(), auth.as_deref()) {
                    ("/oauth/token", _) => {
                        refreshes.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(json(
                            200,
                            r#"{"token_type":"bearer","access_token":"fresh","expires_in":3600,"refresh_token":"refresh-2"}"#,
                        ))
                    }
                    ("/v1/calendars", Some("Bearer fresh")) => Ok(json(200, CALENDARS)),
                    ("/v1/calendars", _) => {
                        // Every stale call gets its 401 at the same moment.
                        tokio::time::timeout(QUICK, stale_calls.wait())
                            .await
                            .expect("all calls arrive");
                        Ok(json(401, "{}"))
                    }
                    (path, _) => panic!("unexpected {path}"),
                }
            }
        }
    };
    let client = Client::builder().transport(transport).build().unwrap();
    let persisted = Arc::new(AtomicUsize::new(0));
    let session = Session::new(
        client,
        ClientCredentials::new("client", ClientSecret::new("secret")),
        AccessToken::new("stale"),
        RefreshToken::new("refresh-1"),
    )
    .on_refresh({
        let persisted = persisted.clone();
        move |tokens| {
            assert_eq!(tokens.access_token, AccessToken::new("fresh"));
            persisted.fetch_add(1, Ordering::SeqCst);
        }
    });

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CALLS {
        let session = session.clone();
        calls.spawn(async move { session.list_calendars().await });
    }
    let results = tokio::time::timeout(QUICK, calls.join_all())
        .await
        .expect("calls finish");
    assert_eq!(results.len(), CALLS);
    for result in results {
        assert_eq!(result.unwrap().calendars[0].calendar_id, "cal_1_1");
    }
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(persisted.load(Ordering::SeqCst), 1);
    assert_eq!(session.access_token(), AccessToken::new("fresh"));
}

#[tokio::test]
async fn a_session_refreshes_an_expired_token_against_the_fake() {
    let fake = FakeCronofy::start().await.unwrap();
    let seed = fake.seed().clone();
    let persisted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let session = Session::new(
        client_for(&fake),
        credentials(&fake),
        token(&fake),
        RefreshToken::new(seed.refresh_token.clone()),
    )
    .on_refresh({
        let persisted = persisted.clone();
        move |tokens| persisted.lock().unwrap().push(tokens.access_token.clone())
    });

    // A valid token: no refresh.
    session.list_calendars().await.unwrap();
    assert_eq!(hits(&fake, "/oauth/token"), 0);

    fake.expire_access_token(&seed.access_token);
    let outcome = session
        .request_permissions(&permissions_request(&fake))
        .await
        .unwrap();
    assert!(matches!(outcome, PermissionsOutcome::Redirect { .. }));
    assert_eq!(hits(&fake, "/oauth/token"), 1);
    assert_eq!(hits(&fake, "/v1/permissions"), 2);
    let new_token = session.access_token();
    assert_ne!(new_token, token(&fake));
    assert_eq!(*persisted.lock().unwrap(), [new_token]);

    // The new token keeps working.
    let calendars = session.call(&ListCalendars).await.unwrap();
    assert_eq!(
        calendars
            .get(&seed.calendar_ids[0])
            .unwrap()
            .permission_level,
        Some(CalendarPermissionLevel::Sandbox)
    );
    assert_eq!(hits(&fake, "/oauth/token"), 1);
}

#[tokio::test]
async fn a_failed_refresh_is_reported_and_retried_once_only() {
    let fake = FakeCronofy::start().await.unwrap();
    let seed = fake.seed().clone();
    let session = Session::new(
        client_for(&fake),
        credentials(&fake),
        AccessToken::new("unknown"),
        RefreshToken::new("unknown-refresh"),
    );
    let err = session.list_calendars().await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Api(ApiError::BadRequest {
                code: OAuthErrorCode::InvalidGrant,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(hits(&fake, "/v1/calendars"), 1);
    assert_eq!(hits(&fake, "/oauth/token"), 1);
    assert_eq!(session.access_token(), AccessToken::new("unknown"));

    // A refresh that works but a token that is still refused: one retry, then the 401.
    let always_401 = Session::new(
        client_for(&fake),
        credentials(&fake),
        AccessToken::new("unknown"),
        RefreshToken::new(seed.refresh_token.clone()),
    );
    fake.clear_requests();
    fake.script(Route::Calendars, [Fault::status(401), Fault::status(401)]);
    let err = always_401.list_calendars().await.unwrap_err();
    assert!(matches!(err, Error::Api(ApiError::Unauthorized)), "{err:?}");
    assert_eq!(hits(&fake, "/v1/calendars"), 2);
    assert_eq!(hits(&fake, "/oauth/token"), 1);
}

// --- Custom transports and types -----------------------------------------------------------

#[tokio::test]
async fn closures_and_shared_transports_plug_in() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let closure = {
        let seen = seen.clone();
        move |req: HttpRequest| {
            seen.lock().unwrap().push((
                req.method().clone(),
                req.uri().to_string(),
                req.headers().get("user-agent").cloned(),
            ));
            async { Ok::<_, TransportError>(json(200, CALENDARS)) }
        }
    };
    let client = Client::builder()
        .user_agent("my-app/1.0")
        .transport(closure)
        .build()
        .unwrap();
    let list = client.list_calendars(&AccessToken::new("t")).await.unwrap();
    assert_eq!(list.calendars.len(), 1);
    let (method, uri, ua) = seen.lock().unwrap()[0].clone();
    assert_eq!(method, http::Method::GET);
    assert_eq!(uri, "https://api.cronofy.com/v1/calendars");
    assert_eq!(ua.unwrap(), "my-app/1.0");

    let shared: Arc<dyn permissions_core::transport::AsyncTransport> =
        Arc::new(|_req: HttpRequest| async { Ok(json(503, "")) });
    let client = Client::builder()
        .transport(shared.clone())
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    let err = client
        .list_calendars(&AccessToken::new("t"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
    assert!(format!("{client:?}").contains("Custom"));

    // A transport's own BodyTooLarge is reported with the client's cap.
    let client = Client::builder()
        .max_response_bytes(77)
        .transport(|_req: HttpRequest| async {
            Err::<HttpResponse, _>(TransportError::new(
                permissions_core::transport::TransportErrorKind::BodyTooLarge,
            ))
        })
        .build()
        .unwrap();
    let err = client
        .list_calendars(&AccessToken::new("t"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 77 }), "{err:?}");
}

#[tokio::test]
async fn a_reqwest_transport_keeps_its_own_cap() {
    let fake = FakeCronofy::start().await.unwrap();
    let transport = ReqwestTransport::from_builder(reqwest::Client::builder()).unwrap();
    let client = Client::builder()
        .hosts(hosts(&fake))
        .transport(transport.max_response_bytes(100))
        .build()
        .unwrap();
    let err = client.list_calendars(&token(&fake)).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 100 }), "{err:?}");
}

#[test]
fn client_and_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync + Clone + std::fmt::Debug + 'static>(_: &T) {}
    fn send<F: std::future::Future + Send>(_: F) {}
    fn error<E: StdError + Send + Sync + 'static>() {}
    let client = Client::builder()
        .transport(|_req: HttpRequest| async { Ok(json(200, CALENDARS)) })
        .build()
        .unwrap();
    send_sync(&client);
    let token = AccessToken::new("t");
    send(client.list_calendars(&token));
    send(client.call(&ListCalendars, Some(&token)));
    let session = Session::new(
        client,
        ClientCredentials::new("c", ClientSecret::new("s")),
        token,
        RefreshToken::new("r"),
    );
    send_sync(&session);
    send(session.list_calendars());
    error::<Error>();
}

// --- Tracing -------------------------------------------------------------------------------

#[cfg(feature = "tracing")]
mod tracing_spans {
    use std::fmt::Write as _;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicU64;

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;

    #[derive(Default)]
    struct Capture {
        next: AtomicU64,
        lines: Mutex<Vec<String>>,
    }

    struct Fields<'a>(&'a mut String);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, " {}={:?}", field.name(), value);
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attrs: &Attributes<'_>) -> Id {
            let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
            let mut line = format!("span#{id} {}", attrs.metadata().name());
            attrs.record(&mut Fields(&mut line));
            self.lines.lock().unwrap().push(line);
            Id::from_u64(id)
        }
        fn record(&self, span: &Id, values: &Record<'_>) {
            let mut line = format!("record#{}", span.into_u64());
            values.record(&mut Fields(&mut line));
            self.lines.lock().unwrap().push(line);
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut line = String::from("event");
            event.record(&mut Fields(&mut line));
            self.lines.lock().unwrap().push(line);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[tokio::test]
    async fn spans_name_the_operation_and_attempts_and_never_a_secret() {
        let capture = Arc::new(Capture::default());
        let _guard = tracing::dispatcher::set_default(&tracing::Dispatch::from(capture.clone()));

        let fake = FakeCronofy::start().await.unwrap();
        fake.script(Route::Calendars, [Fault::status(503)]);
        let client = client_for(&fake);
        client.list_calendars(&token(&fake)).await.unwrap();
        let code = fake.issue_code(&fake.seed().account_id, REDIRECT);
        let exchange = ExchangeCode::new(
            credentials(&fake),
            AuthorizationCode::new(code.clone()),
            REDIRECT,
        );
        client.exchange_code(&exchange).await.unwrap();

        let text = capture.lines.lock().unwrap().join("\n");
        for expected in [
            "permissions_reqwest::call operation=\"list_calendars\"",
            "permissions_reqwest::attempt attempt=1 method=\"GET\" path=\"/v1/calendars\"",
            "permissions_reqwest::attempt attempt=2",
            "status=503",
            "wait_ms=",
            "status=200",
            "attempts=2",
            "operation=\"exchange_code\"",
            "path=\"/oauth/token\"",
        ] {
            assert!(text.contains(expected), "{expected} not in\n{text}");
        }
        for secret in [
            fake.seed().access_token.as_str(),
            fake.seed().client_secret.as_str(),
            code.as_str(),
        ] {
            assert!(!text.contains(secret), "a secret in\n{text}");
        }
    }
}
