//! The blocking client end to end: against the local fake Cronofy (`permissions-fake`), against
//! tiny servers written here when the wire itself matters, and against closure transports.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use permissions_core::error::{ApiError, BuildError, OAuthErrorCode};
use permissions_core::transport::{
    HttpRequest, HttpResponse, SyncTransport, TransportError, TransportErrorKind,
};
use permissions_core::{
    AccessToken, AuthorizationCode, BaseUrl, CalendarPermissionLevel, ClientCredentials,
    ClientSecret, DataCenter, ExchangeCode, Hosts, ListCalendars, PermissionsOutcome,
    PermissionsRequest, RefreshAccessToken, RefreshToken, RetryPolicy, Revocable, RevokeToken,
};
use permissions_fake::{FakeCronofy, Fault, Route};
use permissions_ureq::{Client, ClientBuilder, Error, Session, UreqTransport};

const REDIRECT: &str = "https://app.example.com/permission";

// --- helpers ------------------------------------------------------------------------------------

fn fake() -> FakeCronofy {
    FakeCronofy::start_blocking().expect("the fake starts")
}

fn hosts_of(fake: &FakeCronofy) -> Hosts {
    Hosts::custom(
        BaseUrl::parse(fake.api_url()).unwrap(),
        BaseUrl::parse(fake.app_url()).unwrap(),
    )
}

/// Retries quickly, so that retry tests take milliseconds.
fn quick_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(30),
    }
}

fn client_for(fake: &FakeCronofy) -> ClientBuilder {
    Client::builder()
        .hosts(hosts_of(fake))
        .retry_policy(quick_retries(3))
}

fn client_at(base: &str) -> ClientBuilder {
    let url = BaseUrl::parse(base).unwrap();
    Client::builder()
        .hosts(Hosts::custom(url.clone(), url))
        .retry_policy(quick_retries(3))
}

fn user_token(fake: &FakeCronofy) -> AccessToken {
    AccessToken::new(fake.seed().access_token.clone())
}

fn credentials(fake: &FakeCronofy) -> ClientCredentials {
    let seed = fake.seed();
    ClientCredentials::new(
        seed.client_id.clone(),
        ClientSecret::new(seed.client_secret.clone()),
    )
}

fn permissions_request(fake: &FakeCronofy) -> PermissionsRequest {
    PermissionsRequest::builder()
        .calendar(fake.seed().calendar_ids[0].clone())
        .redirect_uri(REDIRECT)
        .build()
        .unwrap()
}

fn api_requests(fake: &FakeCronofy, path: &str) -> usize {
    fake.requests().iter().filter(|r| r.path == path).count()
}

/// Everything a person or a log could see of an error: Display, Debug, and the whole chain.
fn everything_shown(err: &(dyn std::error::Error + 'static)) -> String {
    let mut shown = format!("{err} | {err:?} | {err:#?}");
    let mut source = err.source();
    let mut depth = 0;
    while let Some(s) = source {
        shown.push_str(&format!(" <- {s} | {s:?}"));
        source = s.source();
        depth += 1;
        assert!(depth < 16, "source chain too deep");
    }
    shown
}

fn assert_one_line(err: &Error) {
    let text = err.to_string();
    assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
}

// --- a tiny HTTP server, for when the exact wire matters --------------------------------------

/// What the tiny server does with one connection, after reading the request.
enum Answer {
    /// Writes these bytes, then closes.
    Bytes(Vec<u8>),
    /// Says nothing until the test ends (10 s at most), then closes.
    Silent,
    /// `200` announcing 1000 bytes, then one byte every 100 ms (10 s at most).
    Drip,
    /// `200` with a body of `total` bytes written 64 KiB at a time (close-delimited, or with
    /// this `Content-Length`), until done or the client goes away.
    Stream {
        announced: Option<u64>,
        total: usize,
    },
}

/// One request as the tiny server read it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves one answer per connection, in order; once they run out, every further request
    /// is logged and answered 500. Stops after 30 s or when dropped.
    fn start(answers: Vec<Answer>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept_thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut answers = answers.into_iter();
                let mut workers = Vec::new();
                while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let answer = answers.next().unwrap_or_else(|| {
                                Answer::Bytes(response("500 Internal Server Error", &[], b""))
                            });
                            let (seen, stop) = (seen.clone(), stop.clone());
                            workers.push(thread::spawn(move || {
                                let _ = handle(stream, answer, &seen, &stop);
                            }));
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => break,
                    }
                }
                stop.store(true, Ordering::SeqCst);
                for worker in workers {
                    let _ = worker.join();
                }
            })
        };
        Server {
            base,
            seen,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(
    stream: TcpStream,
    answer: Answer,
    seen: &Mutex<Vec<Seen>>,
    stop: &AtomicBool,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    for _ in 0..100 {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    seen.lock().unwrap().push(Seen {
        method,
        target,
        headers,
        body,
    });
    let mut stream = stream;
    match answer {
        Answer::Bytes(bytes) => {
            stream.write_all(&bytes)?;
            stream.flush()?;
        }
        Answer::Silent => {
            for _ in 0..1000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        Answer::Drip => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n["
            )?;
            for _ in 0..100 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                stream.write_all(b" ")?;
                stream.flush()?;
                thread::sleep(Duration::from_millis(100));
            }
        }
        Answer::Stream { announced, total } => {
            let length = match announced {
                Some(n) => format!("Content-Length: {n}\r\n"),
                None => String::new(),
            };
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n"
            )?;
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < total && !stop.load(Ordering::SeqCst) {
                let n = chunk.len().min(total - sent);
                stream.write_all(&chunk[..n])?;
                sent += n;
            }
        }
    }
    Ok(())
}

/// A whole HTTP/1.1 response that closes the connection.
fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn json(status: &str, body: &str) -> Answer {
    Answer::Bytes(response(
        status,
        &[("Content-Type", "application/json; charset=utf-8")],
        body.as_bytes(),
    ))
}

const CALENDARS: &str = r#"{"calendars":[{"provider_name":"google","calendar_id":"cal_1","calendar_name":"Home","calendar_readonly":false,"calendar_deleted":false,"permission_level":"sandbox"}]}"#;

// --- success paths -------------------------------------------------------------------------------

#[test]
fn every_method_succeeds_against_the_fake() {
    let fake = fake();
    let client = client_for(&fake).build().unwrap();
    let seed = fake.seed().clone();

    // Step 2: a code for tokens.
    let code = fake.issue_code(&seed.account_id, REDIRECT);
    let tokens = client
        .exchange_code(&ExchangeCode::new(
            credentials(&fake),
            AuthorizationCode::new(code),
            REDIRECT,
        ))
        .unwrap();
    assert_eq!(tokens.account_id.as_deref(), Some(seed.account_id.as_str()));
    let refresh = tokens.refresh_token.clone().expect("a refresh token");

    // Step 3.
    let calendars = client.list_calendars(&tokens.access_token).unwrap();
    assert_eq!(calendars.calendars.len(), seed.calendar_ids.len());
    assert!(calendars.needing_elevation().count() > 0);

    // Steps 4-5, user account and Enterprise Connect account.
    let outcome = client
        .request_permissions(&tokens.access_token, &permissions_request(&fake))
        .unwrap();
    let PermissionsOutcome::Redirect { url } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(url.as_str().starts_with(fake.app_url()), "{url}");
    let enterprise = PermissionsRequest::builder()
        .calendars(seed.enterprise_calendar_ids.clone())
        .redirect_uri(REDIRECT)
        .build()
        .unwrap();
    let enterprise_token = AccessToken::new(seed.enterprise_access_token.clone());
    assert_eq!(
        client
            .request_permissions(&enterprise_token, &enterprise)
            .unwrap(),
        PermissionsOutcome::Granted
    );
    let granted = client.list_calendars(&enterprise_token).unwrap();
    assert!(
        granted
            .calendars
            .iter()
            .all(|c| c.permission_level == Some(CalendarPermissionLevel::Unrestricted))
    );

    // Refresh, the generic call, revoke.
    let refreshed = client
        .refresh_token(&RefreshAccessToken::new(
            credentials(&fake),
            refresh.clone(),
        ))
        .unwrap();
    assert_ne!(refreshed.access_token, tokens.access_token);
    let via_call = client
        .call(&ListCalendars, Some(&refreshed.access_token))
        .unwrap();
    assert_eq!(via_call, calendars);
    client
        .revoke(&RevokeToken::new(
            credentials(&fake),
            Revocable::RefreshToken(refresh),
        ))
        .unwrap();
    let err = client
        .list_calendars(&refreshed.access_token)
        .expect_err("revoked");
    assert!(matches!(err, Error::Api(ApiError::Unauthorized)), "{err:?}");
    assert_eq!(err.kind(), "unauthorized");
    assert_eq!(err.status(), Some(http::StatusCode::UNAUTHORIZED));

    // What went over the wire.
    let expected_ua = format!(
        "permissions-ureq/{} {}",
        env!("CARGO_PKG_VERSION"),
        permissions_core::transport::USER_AGENT
    );
    let requests = fake.requests();
    assert!(requests.len() >= 8, "{}", requests.len());
    for request in &requests {
        assert_eq!(request.header("user-agent"), Some(expected_ua.as_str()));
    }
}

#[test]
fn bodiless_gets_send_no_body_headers_and_posts_send_their_length() {
    let server = Server::start(vec![
        json("200 OK", CALENDARS),
        json("200 OK", r#"{"permissions_request":{"accepted":true}}"#),
    ]);
    let client = client_at(&server.base).build().unwrap();
    let token = AccessToken::new("tok_wire");
    client.list_calendars(&token).unwrap();
    let request = PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri(REDIRECT)
        .build()
        .unwrap();
    assert_eq!(
        client.request_permissions(&token, &request).unwrap(),
        PermissionsOutcome::Granted
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("GET", "/v1/calendars")
    );
    assert_eq!(seen[0].header("content-length"), None);
    assert_eq!(seen[0].header("transfer-encoding"), None);
    assert_eq!(seen[0].header("authorization"), Some("Bearer tok_wire"));
    assert_eq!(seen[0].header("accept"), Some("application/json"));
    assert_eq!(seen[1].method, "POST");
    assert_eq!(
        seen[1].header("content-length"),
        Some(request.body().len().to_string().as_str())
    );
    assert_eq!(seen[1].body, request.body());
    assert_eq!(
        seen[1].header("content-type"),
        Some("application/json; charset=utf-8")
    );
}

#[test]
fn every_response_header_is_kept() {
    let server = Server::start(vec![Answer::Bytes(response(
        "429 Too Many Requests",
        &[
            ("Retry-After", "7"),
            ("X-Repeated", "one"),
            ("X-Repeated", "two"),
        ],
        b"slow down",
    ))]);
    let transport = UreqTransport::default();
    let request = http::Request::get(format!("{}/anything?x=1", server.base))
        .body(Default::default())
        .unwrap();
    let response = transport.send(request).unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let repeated: Vec<_> = response.headers().get_all("x-repeated").iter().collect();
    assert_eq!(repeated, ["one", "two"]);
    assert_eq!(response.body(), b"slow down");
}

// --- retries -------------------------------------------------------------------------------------

#[test]
fn rate_limited_with_retry_after_then_success() {
    let fake = fake();
    fake.script(
        Route::Permissions,
        [Fault::status(429).header("Retry-After", "1")],
    );
    // Watch what the real transport hands to the loop: Retry-After must survive.
    let retry_after_seen = Arc::new(Mutex::new(Vec::new()));
    let transport = {
        let inner = UreqTransport::default();
        let seen = retry_after_seen.clone();
        move |request: HttpRequest| {
            let response = inner.send(request)?;
            seen.lock().unwrap().push(
                response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned()),
            );
            Ok(response)
        }
    };
    let client = client_for(&fake).transport(transport).build().unwrap();
    let outcome = client
        .request_permissions(&user_token(&fake), &permissions_request(&fake))
        .unwrap();
    assert!(matches!(outcome, PermissionsOutcome::Redirect { .. }));
    assert_eq!(api_requests(&fake, "/v1/permissions"), 2);
    assert_eq!(
        *retry_after_seen.lock().unwrap(),
        [Some("1".to_owned()), None]
    );
}

#[test]
fn service_unavailable_twice_then_success() {
    let fake = fake();
    fake.script(Route::Calendars, [Fault::status(503), Fault::status(503)]);
    let client = client_for(&fake).build().unwrap();
    let calendars = client.list_calendars(&user_token(&fake)).unwrap();
    assert!(!calendars.calendars.is_empty());
    assert_eq!(api_requests(&fake, "/v1/calendars"), 3);
}

#[test]
fn retries_exhausted_report_the_last_answer() {
    let fake = fake();
    fake.script(
        Route::Calendars,
        [
            Fault::status(503),
            Fault::status(502),
            Fault::status(503).body("down for maintenance"),
            Fault::status(503),
        ],
    );
    let client = client_for(&fake).build().unwrap();
    let err = client.list_calendars(&user_token(&fake)).unwrap_err();
    assert!(
        matches!(&err, Error::Api(ApiError::Server { status, .. }) if *status == 503),
        "{err:?}"
    );
    assert_eq!(err.kind(), "server");
    assert_eq!(err.status(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
    assert!(err.to_string().contains("down for maintenance"), "{err}");
    assert_eq!(api_requests(&fake, "/v1/calendars"), 3);
    assert_one_line(&err);
}

#[test]
fn a_huge_retry_after_stops_at_once() {
    let fake = fake();
    fake.script(
        Route::Permissions,
        [Fault::status(429).header("Retry-After", "999999999")],
    );
    let client = client_for(&fake).build().unwrap();
    let started = Instant::now();
    let err = client
        .request_permissions(&user_token(&fake), &permissions_request(&fake))
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
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
    assert_eq!(api_requests(&fake, "/v1/permissions"), 1);
}

#[test]
fn a_code_exchange_is_not_repeated_after_a_bad_gateway() {
    let fake = fake();
    fake.script(Route::Token, [Fault::status(502)]);
    let client = client_for(&fake).build().unwrap();
    let code = fake.issue_code(&fake.seed().account_id, REDIRECT);
    let err = client
        .exchange_code(&ExchangeCode::new(
            credentials(&fake),
            AuthorizationCode::new(code),
            REDIRECT,
        ))
        .unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::BAD_GATEWAY));
    assert_eq!(api_requests(&fake, "/oauth/token"), 1);
}

// --- failures on the way -------------------------------------------------------------------------

#[test]
fn a_silent_server_times_out_within_the_timeout() {
    let server = Server::start(vec![Answer::Silent]);
    let client = client_at(&server.base)
        .timeout(Duration::from_secs(1))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.list_calendars(&AccessToken::new("tok")).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert_eq!(err.kind(), "timeout");
    assert!(
        took < Duration::from_secs(1) + Duration::from_secs(4),
        "{took:?}"
    );
    assert_one_line(&err);
}

#[test]
fn the_timeout_covers_the_body() {
    let server = Server::start(vec![Answer::Drip]);
    let client = client_at(&server.base)
        .timeout(Duration::from_secs(1))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.list_calendars(&AccessToken::new("tok")).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert!(
        took < Duration::from_secs(1) + Duration::from_secs(4),
        "{took:?}"
    );
}

#[test]
fn host_names_are_resolved() {
    let server = Server::start(vec![json("200 OK", CALENDARS)]);
    let base = server.base.replace("127.0.0.1", "localhost");
    let client = client_at(&base).build().unwrap();
    let list = client.list_calendars(&AccessToken::new("tok")).unwrap();
    assert_eq!(list.calendars.len(), 1);
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn a_hanging_fake_is_retried_then_times_out() {
    let fake = fake();
    fake.script(Route::Calendars, [Fault::hang(), Fault::hang()]);
    let client = client_for(&fake)
        .timeout(Duration::from_millis(500))
        .retry_policy(quick_retries(2))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.list_calendars(&user_token(&fake)).unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(api_requests(&fake, "/v1/calendars"), 2);
}

#[test]
fn an_oversized_body_is_refused_while_reading() {
    let fake = fake();
    fake.script(Route::Calendars, [Fault::oversized(50 * 1024 * 1024)]);
    let client = client_for(&fake).build().unwrap();
    let started = Instant::now();
    let err = client.list_calendars(&user_token(&fake)).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { limit: 1_048_576 }),
        "{err:?}"
    );
    assert_eq!(err.kind(), "too_large");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Not retried: a second try would be just as large.
    assert_eq!(api_requests(&fake, "/v1/calendars"), 1);
    assert_one_line(&err);
}

#[test]
fn a_wrapped_ureq_transport_reports_its_own_cap() {
    let fake = fake();
    fake.script(Route::Calendars, [Fault::oversized(10_000)]);
    let inner = UreqTransport::default().max_response_bytes(100);
    let client = client_for(&fake)
        .transport(move |request: HttpRequest| inner.send(request))
        .build()
        .unwrap();
    let err = client.list_calendars(&user_token(&fake)).unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 100 }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "response body larger than the 100-byte limit"
    );
}

#[test]
fn bodies_are_capped_exactly() {
    let body = |n: usize| vec![b'x'; n];
    let server = Server::start(vec![
        Answer::Bytes(response("200 OK", &[], &body(1000))),
        Answer::Bytes(response("200 OK", &[], &body(1001))),
        Answer::Stream {
            announced: None,
            total: 1000,
        },
        Answer::Stream {
            announced: None,
            total: 1001,
        },
        // Announced far over the cap, and never sent: refused before reading.
        Answer::Stream {
            announced: Some(50 * 1024 * 1024),
            total: 0,
        },
        Answer::Stream {
            announced: None,
            total: 50 * 1024 * 1024,
        },
    ]);
    let transport = UreqTransport::default().max_response_bytes(1000);
    let send = || {
        transport.send(
            http::Request::get(format!("{}/body", server.base))
                .body(Default::default())
                .unwrap(),
        )
    };
    assert_eq!(send().unwrap().body().len(), 1000);
    assert_eq!(send().unwrap_err().kind(), TransportErrorKind::BodyTooLarge);
    assert_eq!(send().unwrap().body().len(), 1000);
    assert_eq!(send().unwrap_err().kind(), TransportErrorKind::BodyTooLarge);
    let started = Instant::now();
    assert_eq!(send().unwrap_err().kind(), TransportErrorKind::BodyTooLarge);
    assert_eq!(send().unwrap_err().kind(), TransportErrorKind::BodyTooLarge);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn malformed_json_is_a_decode_error() {
    let fake = fake();
    fake.script(Route::Permissions, [Fault::malformed_json()]);
    let client = client_for(&fake).build().unwrap();
    let err = client
        .request_permissions(&user_token(&fake), &permissions_request(&fake))
        .unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert_eq!(err.kind(), "decode");
    assert_eq!(err.status(), None);
    assert_one_line(&err);
}

#[test]
fn a_dropped_connection_is_a_transport_error() {
    let fake = fake();
    fake.script(Route::Calendars, [Fault::drop_connection()]);
    let client = client_for(&fake).build().unwrap();
    let err = client.list_calendars(&user_token(&fake)).unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(err.kind(), "transport");
    // The request may have been processed: not retried.
    assert_eq!(api_requests(&fake, "/v1/calendars"), 1);
    assert_one_line(&err);
}

#[test]
fn a_redirect_is_returned_never_followed() {
    let server = Server::start(Vec::new());
    let target = format!("{}/elsewhere?token=leak", server.base);
    drop(server);
    // A server whose only answer points at the (dead) first one, and that logs anything else.
    let server = Server::start(vec![Answer::Bytes(response(
        "302 Found",
        &[("Location", &target)],
        b"",
    ))]);
    let relative = Server::start(vec![Answer::Bytes(response(
        "302 Found",
        &[("Location", "/elsewhere")],
        b"",
    ))]);
    for server in [&server, &relative] {
        let client = client_at(&server.base).build().unwrap();
        let err = client
            .list_calendars(&AccessToken::new("tok_redirect"))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Api(ApiError::UnexpectedStatus { status, .. }) if *status == 302),
            "{err:?}"
        );
        assert_eq!(err.kind(), "unexpected_status");
        let seen = server.seen();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].target, "/v1/calendars");
    }
}

#[test]
fn a_foreign_agent_still_returns_statuses_and_redirects_as_responses() {
    let server = Server::start(vec![
        json("404 Not Found", "{}"),
        Answer::Bytes(response("302 Found", &[("Location", "/elsewhere")], b"")),
    ]);
    // An agent with ureq's defaults: statuses as errors, redirects followed.
    let agent = permissions_ureq::ureq::Agent::new_with_defaults();
    let client = client_at(&server.base)
        .transport(UreqTransport::from(agent))
        .build()
        .unwrap();
    let token = AccessToken::new("tok");
    assert!(matches!(
        client.list_calendars(&token).unwrap_err(),
        Error::Api(ApiError::NotFound)
    ));
    assert_eq!(
        client.list_calendars(&token).unwrap_err().status(),
        Some(http::StatusCode::FOUND)
    );
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn a_refused_connection_is_a_connect_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = client_at(&format!("http://127.0.0.1:{port}"))
        .retry_policy(quick_retries(2))
        .build()
        .unwrap();
    let err = client.list_calendars(&AccessToken::new("tok")).unwrap_err();
    let Error::Connect(inner) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(inner.kind(), TransportErrorKind::Connect);
    assert_eq!(err.kind(), "transport");
    assert_eq!(err.status(), None);
    assert_one_line(&err);
}

#[test]
fn invalid_input_sends_nothing() {
    let sent = Arc::new(AtomicUsize::new(0));
    let transport = {
        let sent = sent.clone();
        move |_: HttpRequest| -> Result<HttpResponse, TransportError> {
            sent.fetch_add(1, Ordering::SeqCst);
            Ok(http::Response::new(Vec::new()))
        }
    };
    let client = Client::builder().transport(transport).build().unwrap();
    let err = client.call(&ListCalendars, None).unwrap_err();
    assert!(
        matches!(err, Error::InvalidRequest(BuildError::MissingAccessToken)),
        "{err:?}"
    );
    assert_eq!(err.kind(), "invalid_input");
    assert_eq!(sent.load(Ordering::SeqCst), 0);
}

// --- custom transports ---------------------------------------------------------------------------

#[test]
fn closures_and_shared_transports_plug_in() {
    let calls = Arc::new(AtomicUsize::new(0));
    let closure = {
        let calls = calls.clone();
        move |request: HttpRequest| -> Result<HttpResponse, TransportError> {
            calls.fetch_add(1, Ordering::SeqCst);
            assert_eq!(request.uri(), "https://api-de.cronofy.com/v1/calendars");
            assert_eq!(request.headers()["user-agent"], "custom/1.0 (tab\there)");
            Ok(http::Response::builder()
                .status(200)
                .body(CALENDARS.as_bytes().to_vec())
                .unwrap())
        }
    };
    let shared: Arc<dyn SyncTransport> = Arc::new(closure);
    for transport in [shared.clone(), shared] {
        let client = Client::builder()
            .data_center(DataCenter::De)
            .user_agent("custom/1.0 (tab\there)")
            .transport(transport)
            .build()
            .unwrap();
        let list = client.list_calendars(&AccessToken::new("tok")).unwrap();
        assert_eq!(list.calendars[0].calendar_id, "cal_1");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_user_agent_that_cannot_be_a_header_is_refused_at_build() {
    let err = Client::builder()
        .user_agent("bell\u{7}")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_input", "{err:?}");
    assert!(err.to_string().contains("user_agent"), "{err}");
}

#[test]
fn custom_transport_failures_map_by_kind() {
    let cases = [
        (TransportErrorKind::Connect, "transport"),
        (TransportErrorKind::Timeout, "timeout"),
        (TransportErrorKind::BodyTooLarge, "too_large"),
        (TransportErrorKind::Other, "transport"),
    ];
    for (kind, name) in cases {
        let client = Client::builder()
            .retry_policy(RetryPolicy::never())
            .max_response_bytes(4096)
            .transport(
                move |_: HttpRequest| -> Result<HttpResponse, TransportError> {
                    Err(TransportError::new(kind))
                },
            )
            .build()
            .unwrap();
        let err = client.list_calendars(&AccessToken::new("tok")).unwrap_err();
        assert_eq!(err.kind(), name, "{kind:?}");
        if kind == TransportErrorKind::BodyTooLarge {
            assert!(matches!(err, Error::TooLarge { limit: 4096 }), "{err:?}");
        }
    }
}

#[test]
fn clients_are_shareable_and_debuggable() {
    fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug>() {}
    assert_traits::<Client>();
    assert_traits::<Session>();
    assert_traits::<UreqTransport>();
    let client = Client::new();
    assert_eq!(client.hosts(), &DataCenter::Us.hosts());
    let shown = format!("{client:?} {:?}", Client::builder());
    assert!(shown.contains("api.cronofy.com"), "{shown}");
}

// --- sessions ------------------------------------------------------------------------------------

/// Lets callers through once `expected` of them have arrived, or after 5 s whatever happens
/// (so that a broken client fails the test instead of hanging it).
struct Gate {
    expected: usize,
    arrived: Mutex<usize>,
    all_here: Condvar,
}

impl Gate {
    fn new(expected: usize) -> Self {
        Self {
            expected,
            arrived: Mutex::new(0),
            all_here: Condvar::new(),
        }
    }

    fn wait(&self) {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all_here.notify_all();
        let deadline = Instant::now() + Duration::from_secs(5);
        while *arrived < self.expected {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            arrived = self.all_here.wait_timeout(arrived, left).unwrap().0;
        }
    }
}

/// A Cronofy stand-in for sessions: `/v1/calendars` accepts only the newest access token;
/// `/oauth/token` issues `access-N`, counting refreshes. Old-token calls meet at a gate first,
/// so that every thread holds a 401 at the same moment.
struct RefreshingCronofy {
    refreshes: AtomicUsize,
    current: Mutex<String>,
    stale_gate: Option<Gate>,
    refresh_fails: bool,
}

impl RefreshingCronofy {
    fn new(stale_callers: usize, refresh_fails: bool) -> Arc<Self> {
        Arc::new(Self {
            refreshes: AtomicUsize::new(0),
            current: Mutex::new("access-0".to_owned()),
            stale_gate: (stale_callers > 1).then(|| Gate::new(stale_callers)),
            refresh_fails,
        })
    }
}

impl SyncTransport for RefreshingCronofy {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let reply = |status: u16, body: &str| {
            Ok(http::Response::builder()
                .status(status)
                .body(body.as_bytes().to_vec())
                .unwrap())
        };
        match request.uri().path() {
            "/oauth/token" => {
                assert_eq!(json_field(request.body(), "grant_type"), "refresh_token");
                assert_eq!(
                    json_field(request.body(), "refresh_token"),
                    "refresh-secret"
                );
                if self.refresh_fails {
                    return reply(400, r#"{"error":"invalid_grant"}"#);
                }
                // Give waiting callers time to pile up behind the refresh.
                thread::sleep(Duration::from_millis(50));
                let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
                let token = format!("access-{n}");
                *self.current.lock().unwrap() = token.clone();
                reply(
                    200,
                    &format!(
                        r#"{{"token_type":"bearer","access_token":"{token}","expires_in":3600,"refresh_token":"refresh-secret"}}"#
                    ),
                )
            }
            "/v1/calendars" => {
                let auth = request.headers()["authorization"].to_str().unwrap();
                let current = format!("Bearer {}", self.current.lock().unwrap());
                if auth == current {
                    reply(200, CALENDARS)
                } else {
                    if let Some(gate) = &self.stale_gate {
                        gate.wait();
                    }
                    reply(401, "{}")
                }
            }
            other => panic!("unexpected path {other}"),
        }
    }
}

/// Reads one string field of a compact JSON body, without a JSON dev-dependency.
fn json_field(body: &[u8], name: &str) -> String {
    let text = std::str::from_utf8(body).unwrap();
    let key = format!("\"{name}\":\"");
    let start = text.find(&key).map(|i| i + key.len()).unwrap_or(text.len());
    let end = text[start..].find('"').map(|i| start + i).unwrap_or(start);
    text[start..end].to_owned()
}

fn session_over(cronofy: &Arc<RefreshingCronofy>) -> Session {
    let client = Client::builder()
        .transport(cronofy.clone())
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    Session::new(
        client,
        ClientCredentials::new("client", ClientSecret::new("client-secret-value")),
        AccessToken::new("stale-access-secret"),
        RefreshToken::new("refresh-secret"),
    )
}

#[test]
fn concurrent_unauthorized_calls_share_one_refresh() {
    const THREADS: usize = 8;
    let cronofy = RefreshingCronofy::new(THREADS, false);
    let persisted = Arc::new(Mutex::new(Vec::new()));
    let session = session_over(&cronofy).on_refresh({
        let persisted = persisted.clone();
        move |tokens| {
            persisted
                .lock()
                .unwrap()
                .push(tokens.access_token.secret().to_owned())
        }
    });
    let results: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let session = session.clone();
                scope.spawn(move || session.list_calendars())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for result in results {
        assert_eq!(result.unwrap().calendars.len(), 1);
    }
    assert_eq!(cronofy.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(*persisted.lock().unwrap(), ["access-1"]);
    assert_eq!(session.access_token(), AccessToken::new("access-1"));
    // A fresh token needs no refresh.
    session.list_calendars().unwrap();
    assert_eq!(cronofy.refreshes.load(Ordering::SeqCst), 1);
}

#[test]
fn a_session_retries_once_and_reports_a_failed_refresh() {
    let cronofy = RefreshingCronofy::new(1, true);
    let session = session_over(&cronofy);
    let err = session.list_calendars().unwrap_err();
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
    assert_eq!(
        session.access_token(),
        AccessToken::new("stale-access-secret")
    );
    let shown = format!("{session:?} {}", everything_shown(&err));
    for secret in [
        "stale-access-secret",
        "refresh-secret",
        "client-secret-value",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn a_session_works_against_the_fake() {
    let fake = fake();
    let seed = fake.seed().clone();
    // Start from an access token the fake has expired: the session must refresh.
    fake.expire_access_token(&seed.access_token);
    let refreshed = Arc::new(AtomicUsize::new(0));
    let session = Session::new(
        client_for(&fake).build().unwrap(),
        credentials(&fake),
        AccessToken::new(seed.access_token.clone()),
        RefreshToken::new(seed.refresh_token.clone()),
    )
    .on_refresh({
        let refreshed = refreshed.clone();
        move |_| {
            refreshed.fetch_add(1, Ordering::SeqCst);
        }
    });
    let calendars = session.list_calendars().unwrap();
    assert_eq!(calendars.calendars.len(), seed.calendar_ids.len());
    assert!(matches!(
        session
            .request_permissions(&permissions_request(&fake))
            .unwrap(),
        PermissionsOutcome::Redirect { .. }
    ));
    assert_eq!(refreshed.load(Ordering::SeqCst), 1);
    assert_ne!(
        session.access_token(),
        AccessToken::new(seed.access_token.clone())
    );
}

// --- secrets -------------------------------------------------------------------------------------

#[test]
fn no_error_shows_a_secret() {
    let fake = fake();
    let seed = fake.seed().clone();
    let client = client_for(&fake).build().unwrap();
    let mut errors: Vec<Error> = Vec::new();

    // 401 with an unknown token.
    errors.push(
        client
            .list_calendars(&AccessToken::new("tok_SECRET_unknown"))
            .unwrap_err(),
    );
    // 400 invalid_grant on a code exchange: the code and client secret are in the request.
    errors.push(
        client
            .exchange_code(&ExchangeCode::new(
                credentials(&fake),
                AuthorizationCode::new("code_SECRET_value"),
                REDIRECT,
            ))
            .unwrap_err(),
    );
    // 401 invalid_client.
    errors.push(
        client
            .refresh_token(&RefreshAccessToken::new(
                ClientCredentials::new(seed.client_id.clone(), ClientSecret::new("cs_SECRET")),
                RefreshToken::new("ref_SECRET"),
            ))
            .unwrap_err(),
    );
    // A token endpoint answering 500 with tokens in the body.
    fake.script(
        Route::Token,
        [Fault::status(500).body(r#"{"access_token":"tok_SECRET_in_body"}"#)],
    );
    errors.push(
        client
            .refresh_token(&RefreshAccessToken::new(
                credentials(&fake),
                RefreshToken::new(seed.refresh_token.clone()),
            ))
            .unwrap_err(),
    );
    // Malformed answers, drops, oversized bodies, time-outs, all with a secret token.
    let token = AccessToken::new(seed.access_token.clone());
    fake.script(Route::Permissions, [Fault::malformed_json()]);
    fake.script(
        Route::Calendars,
        [
            Fault::drop_connection(),
            Fault::oversized(5_000_000),
            Fault::hang(),
        ],
    );
    errors.push(
        client
            .request_permissions(&token, &permissions_request(&fake))
            .unwrap_err(),
    );
    let quick = client_for(&fake)
        .timeout(Duration::from_millis(500))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    for _ in 0..3 {
        errors.push(quick.list_calendars(&token).unwrap_err());
    }
    // A refused connection.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    errors.push(
        client_at(&format!("http://127.0.0.1:{port}/prefix"))
            .retry_policy(RetryPolicy::never())
            .build()
            .unwrap()
            .list_calendars(&AccessToken::new("tok_SECRET_refused"))
            .unwrap_err(),
    );

    let kinds: Vec<_> = errors.iter().map(Error::kind).collect();
    assert_eq!(
        kinds,
        [
            "unauthorized",
            "bad_request",
            "unauthorized",
            "server",
            "decode",
            "transport",
            "too_large",
            "timeout",
            "transport"
        ]
    );
    let secrets = [
        "SECRET",
        seed.access_token.as_str(),
        seed.refresh_token.as_str(),
        seed.client_secret.as_str(),
    ];
    for err in &errors {
        assert_one_line(err);
        let shown = everything_shown(err);
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}

// --- tracing -------------------------------------------------------------------------------------

#[cfg(feature = "tracing")]
mod traces {
    use std::fmt::Write as _;
    use std::sync::atomic::AtomicU64;

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Metadata, Subscriber};

    use super::*;

    /// Writes every span, field and event it sees into one string.
    #[derive(Default)]
    struct Capture {
        text: Arc<Mutex<String>>,
        next_id: AtomicU64,
    }

    struct Fields<'a>(&'a mut String);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, " {}={:?}", field.name(), value);
        }
    }

    impl Subscriber for Capture {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::sometimes()
        }
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut text = self.text.lock().unwrap();
            let _ = write!(text, "\nspan {}", span.metadata().name());
            span.record(&mut Fields(&mut text));
            Id::from_u64(self.next_id.fetch_add(1, Ordering::SeqCst) + 1)
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            let mut text = self.text.lock().unwrap();
            text.push_str("\nrecord");
            values.record(&mut Fields(&mut text));
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut text = self.text.lock().unwrap();
            text.push_str("\nevent");
            event.record(&mut Fields(&mut text));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn spans_name_operations_and_attempts_but_never_secrets() {
        let fake = fake();
        let seed = fake.seed().clone();
        fake.script(
            Route::Permissions,
            [Fault::status(429).header("Retry-After", "0")],
        );
        let capture = Capture::default();
        let text = capture.text.clone();
        tracing::subscriber::with_default(capture, || {
            let client = client_for(&fake).build().unwrap();
            let token = user_token(&fake);
            client.list_calendars(&token).unwrap();
            client
                .request_permissions(&token, &permissions_request(&fake))
                .unwrap();
            let code = fake.issue_code(&seed.account_id, REDIRECT);
            client
                .exchange_code(&ExchangeCode::new(
                    credentials(&fake),
                    AuthorizationCode::new(code.clone()),
                    REDIRECT,
                ))
                .unwrap();
            let _ = client.list_calendars(&AccessToken::new("tok_SECRET"));
            text.lock().unwrap().push_str(&format!("\ncode {code}"));
        });
        let text = text.lock().unwrap().clone();
        let (traces, code) = text.rsplit_once("\ncode ").unwrap();
        for expected in [
            "span cronofy endpoint=\"list_calendars\"",
            "span cronofy endpoint=\"request_permissions\"",
            "span cronofy endpoint=\"exchange_code\"",
            "span attempt method=POST path=\"/v1/permissions\" attempt=2",
            "status=429",
            "status=200",
            "status=401",
            "wait_ms=0",
        ] {
            assert!(traces.contains(expected), "{expected} not in {traces}");
        }
        for secret in [
            code,
            "SECRET",
            seed.access_token.as_str(),
            seed.client_secret.as_str(),
            "?",
        ] {
            assert!(!traces.contains(secret), "{secret} in {traces}");
        }
    }
}
