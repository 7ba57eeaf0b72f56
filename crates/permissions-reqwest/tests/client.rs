//! What is `permissions-reqwest`'s own: its `ReqwestTransport` (reqwest's answers into the
//! core's responses, every header kept, bodies capped while reading, a caller's own reqwest
//! client), TLS, `Send` futures (with and without the `tracing` feature) and the
//! custom-transport plumbing of its builder. Its tracing spans are the engine's, tested for
//! every transport in `tests/conformance/traces.rs`.
//!
//! The behaviour every transport shares (retries, caps, timeouts, faults, sessions, secrets on
//! every failure path) is the conformance suite's (`tests/conformance`), run through this
//! transport and the others.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use permissions_core::transport::{HttpRequest, HttpResponse, TransportError};
use permissions_core::{
    AccessToken, BaseUrl, ClientCredentials, ClientSecret, Hosts, ListCalendars, RefreshToken,
    RetryPolicy,
};
use permissions_fake::FakeCronofy;
use permissions_reqwest::{Client, Error, ReqwestTransport, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

fn token(fake: &FakeCronofy) -> AccessToken {
    AccessToken::new(fake.seed().access_token.clone())
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

// --- The transport -------------------------------------------------------------------------

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

/// A call dropped while it waits for its pacing slot (a timeout of the caller's, a cancelled
/// request) leaves the pacer consistent: its slot is spent, never given twice, and the next
/// call is paced after it, not stuck.
#[tokio::test]
async fn a_call_dropped_while_it_waits_for_its_slot_leaves_the_pacer_consistent() {
    let fake = FakeCronofy::start().await.unwrap();
    let client = Client::builder()
        .hosts(hosts(&fake))
        .pacing(permissions_reqwest::PacingConfig::parse("2/s").unwrap())
        .build()
        .unwrap();
    let token = token(&fake);
    let start = tokio::time::Instant::now();
    // 2/s: the first slot at once, the next about 0.5 s later, then about 1 s.
    client.list_calendars(&token).await.unwrap();
    let dropped = tokio::time::timeout(
        std::time::Duration::from_millis(100),
        client.list_calendars(&token),
    )
    .await;
    assert!(dropped.is_err(), "the second call should still be waiting");
    client.list_calendars(&token).await.unwrap();
    let waited = start.elapsed();
    // The dropped call's slot was spent: the third went after it, not in its place.
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "the third call took the dropped one's slot: {waited:?}"
    );
    assert_eq!(fake.requests().len(), 2, "the dropped call sent nothing");
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

#[tokio::test]
async fn a_call_future_holds_the_call_and_the_request_once() {
    // The first engine kept a copy of the `Call` and of the request in every `async fn` layer
    // (3,224 bytes with a closure transport; the first release's was 1,448), which cost
    // throughput at many calls in flight (docs/benchmarks.md). Held once, it is 1,376 bytes on
    // this toolchain; the bound leaves room for compiler changes, not for another copy of the
    // call (216 bytes) and the request (248) in each layer.
    let token = AccessToken::new("t");
    let request = permissions_core::PermissionsRequest::builder()
        .calendar("cal_1")
        .redirect_uri("https://app.example.com/permission")
        .build()
        .unwrap();
    let custom = Client::builder()
        .transport(|_req: HttpRequest| async { Ok(json(200, CALENDARS)) })
        .build()
        .unwrap();
    let builtin = Client::builder().build().unwrap();
    for client in [custom, builtin] {
        let future = client.request_permissions(&token, &request);
        let size = std::mem::size_of_val(&future);
        assert!(size <= 2048, "a request_permissions future of {size} bytes");
    }
}
