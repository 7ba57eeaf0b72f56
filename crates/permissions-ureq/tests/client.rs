//! What is `permissions-ureq`'s own: its `UreqTransport` (ureq's answers into the core's
//! responses, every header kept, bodies capped while reading, a caller's own agent), the
//! custom-transport plumbing of its builder (its tracing spans are the engine's,
//! tested for every transport in `tests/conformance/traces.rs`).
//!
//! The behaviour every transport shares (retries, caps, timeouts, faults, sessions, secrets on
//! every failure path) is the conformance suite's (`tests/conformance`), run through this
//! transport and the others.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use permissions_core::error::ApiError;
use permissions_core::transport::{
    HttpRequest, HttpResponse, SyncTransport, TransportError, TransportErrorKind,
};
use permissions_core::{AccessToken, BaseUrl, DataCenter, Hosts, RetryPolicy};
use permissions_fake::{FakeCronofy, Fault, Route};
use permissions_ureq::{Client, ClientBuilder, Error, Session, UreqTransport};

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

// --- a tiny HTTP server, for when the exact wire matters --------------------------------------

/// What the tiny server does with one connection, after reading the request.
enum Answer {
    /// Writes these bytes, then closes.
    Bytes(Vec<u8>),
    /// `200` with a body of `total` bytes written 64 KiB at a time (close-delimited, or with
    /// this `Content-Length`), until done or the client goes away.
    Stream {
        announced: Option<u64>,
        total: usize,
    },
}

struct Server {
    base: String,
    /// The request target of every request read, in order.
    seen: Arc<Mutex<Vec<String>>>,
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

    fn seen(&self) -> Vec<String> {
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
    seen: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
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
    seen.lock().unwrap().push(target);
    let mut stream = stream;
    match answer {
        Answer::Bytes(bytes) => {
            stream.write_all(&bytes)?;
            stream.flush()?;
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

// --- the transport ------------------------------------------------------------------------------

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
    // The redirect came back as a response: nothing asked for `/elsewhere`.
    assert_eq!(server.seen(), ["/v1/calendars", "/v1/calendars"]);
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
