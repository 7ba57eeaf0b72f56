//! Scripted answers ("faults") and the routes they apply to.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream;
use tokio::sync::watch;

use crate::log::Host;

/// A route of the fake whose answers can be scripted with [`FakeCronofy::script`](crate::FakeCronofy::script).
///
/// Routes are matched by path, whatever the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// `/oauth/token`, on the API host and on the app host.
    Token,
    /// `/oauth/token/revoke`, on the API host and on the app host.
    Revoke,
    /// `/v1/calendars` on the API host.
    Calendars,
    /// `/v1/permissions` on the API host.
    Permissions,
    /// Every request to the API host (any path, known or not) and the token endpoints on the
    /// app host; not the app host's HTML pages. A route's own queue is used before this one.
    Any,
}

impl Route {
    const ALL: [Route; 5] = [
        Route::Token,
        Route::Revoke,
        Route::Calendars,
        Route::Permissions,
        Route::Any,
    ];

    /// The route's name in the admin listener's JSON: `"token"`, `"revoke"`, `"calendars"`,
    /// `"permissions"` or `"any"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Token => "token",
            Route::Revoke => "revoke",
            Route::Calendars => "calendars",
            Route::Permissions => "permissions",
            Route::Any => "any",
        }
    }

    /// The route named `name` (as in [`Route::as_str`], case-insensitive).
    pub(crate) fn parse(name: &str) -> Option<Route> {
        Route::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(name))
    }

    fn index(self) -> usize {
        match self {
            Route::Token => 0,
            Route::Revoke => 1,
            Route::Calendars => 2,
            Route::Permissions => 3,
            Route::Any => 4,
        }
    }

    /// The specific route a request falls under, if any.
    pub(crate) fn of(host: Host, path: &str) -> Option<Route> {
        match (host, path) {
            (_, "/oauth/token") => Some(Route::Token),
            (_, "/oauth/token/revoke") => Some(Route::Revoke),
            (Host::Api, "/v1/calendars") => Some(Route::Calendars),
            (Host::Api, "/v1/permissions") => Some(Route::Permissions),
            _ => None,
        }
    }
}

/// One scripted answer, consumed by one request on its [`Route`].
///
/// Build one with a constructor, then chain [`Fault::header`] (on every kind that answers) and
/// [`Fault::body`] (on [`Fault::status`]):
///
/// ```
/// use std::time::Duration;
/// use permissions_fake::Fault;
///
/// let too_many = Fault::status(429).header("Retry-After", "1");
/// let outage = Fault::status(503).header("Content-Type", "text/plain").body("down for maintenance");
/// let slow = Fault::delay(Duration::from_millis(200));
/// # let _ = (too_many, outage, slow);
/// ```
#[derive(Debug, Clone)]
pub struct Fault {
    kind: FaultKind,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

#[derive(Debug, Clone)]
enum FaultKind {
    Status(StatusCode),
    Delay(Duration),
    Hang,
    Oversized(u64),
    MalformedJson,
    DropConnection,
}

/// The body of [`Fault::malformed_json`].
pub(crate) const MALFORMED_JSON: &str = "{\"permissions_request\": {";
/// The bytes [`Fault::drop_connection`] sends before aborting.
const DROPPED_PART: &str = "{\"permissions_request\": {\"url\": \"http://127.0.0.1";
/// The `Content-Length` [`Fault::drop_connection`] announces (more than it sends).
const DROPPED_LENGTH: usize = 1024;
/// How long the drop-connection body waits after its part, so the part reaches the client.
const DROP_PAUSE: Duration = Duration::from_millis(50);

const OVERSIZED_PREFIX: &[u8] = b"{\"padding\":\"";
const OVERSIZED_SUFFIX: &[u8] = b"\"}";
const FILL_LEN: usize = 64 * 1024;
static FILL: [u8; FILL_LEN] = [b'x'; FILL_LEN];

impl Fault {
    fn new(kind: FaultKind) -> Fault {
        Fault {
            kind,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A plain answer with this status, no headers but `Content-Length`, and an empty body.
    ///
    /// # Panics
    ///
    /// If `status` is not in `100..=999`.
    pub fn status(status: u16) -> Fault {
        let status = StatusCode::from_u16(status)
            .unwrap_or_else(|_| panic!("Fault::status: {status} is not an HTTP status code"));
        Fault::new(FaultKind::Status(status))
    }

    /// Waits `delay`, then the request is handled normally.
    pub fn delay(delay: Duration) -> Fault {
        Fault::new(FaultKind::Delay(delay))
    }

    /// Never answers: the request stays open until the client gives up or the fake shuts down
    /// (then the connection is closed without an answer).
    pub fn hang() -> Fault {
        Fault::new(FaultKind::Hang)
    }

    /// `200 OK`, `Content-Type: application/json; charset=utf-8`, and a chunked body of exactly
    /// `bytes` bytes with no `Content-Length`. The body is generated lazily, 64 KiB at a time;
    /// when `bytes >= 14` it is the valid JSON `{"padding":"xxx…"}`.
    pub fn oversized(bytes: u64) -> Fault {
        Fault::new(FaultKind::Oversized(bytes))
    }

    /// `200 OK`, `Content-Type: application/json; charset=utf-8`, and the body
    /// `{"permissions_request": {`, which is not JSON.
    pub fn malformed_json() -> Fault {
        Fault::new(FaultKind::MalformedJson)
    }

    /// `200 OK` with `Content-Type: application/json; charset=utf-8` and
    /// `Content-Length: 1024`, then the first 50 bytes or so of a body, then the connection is
    /// aborted: the client sees a truncated body and a read error.
    pub fn drop_connection() -> Fault {
        Fault::new(FaultKind::DropConnection)
    }

    /// Adds a header to the answer (kept in order; repeated names are sent repeatedly).
    /// Ignored by [`Fault::delay`] (which answers normally) and [`Fault::hang`].
    ///
    /// # Panics
    ///
    /// If `name` is not a valid header name or `value` not a valid header value.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Fault {
        let (name, value) = (name.as_ref(), value.as_ref());
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|_| panic!("Fault::header: {name:?} is not a valid header name"));
        let value = HeaderValue::from_str(value)
            .unwrap_or_else(|_| panic!("Fault::header: invalid value for {name}"));
        self.headers.push((name, value));
        self
    }

    /// Sets the body of a [`Fault::status`] answer. Ignored by the other kinds.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Fault {
        self.body = Bytes::from(body.into());
        self
    }

    /// Plays the fault: either a complete answer, or "go on and answer normally".
    pub(crate) async fn play(self, shutdown: watch::Receiver<bool>) -> Played {
        let Fault {
            kind,
            headers,
            body,
        } = self;
        let mut response = match kind {
            FaultKind::Status(status) => {
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = status;
                response
            }
            FaultKind::Delay(delay) => {
                return tokio::select! {
                    () = tokio::time::sleep(delay) => Played::Continue,
                    () = wait_for_shutdown(shutdown) => Played::Answer(abort_response()),
                };
            }
            FaultKind::Hang => {
                wait_for_shutdown(shutdown).await;
                return Played::Answer(abort_response());
            }
            FaultKind::Oversized(bytes) => {
                json_response(Body::from_stream(oversized_stream(bytes)))
            }
            FaultKind::MalformedJson => json_response(Body::from(MALFORMED_JSON)),
            FaultKind::DropConnection => {
                let part = stream::once(async {
                    Ok::<_, io::Error>(Bytes::from_static(DROPPED_PART.as_bytes()))
                });
                let abort = stream::once(async {
                    tokio::time::sleep(DROP_PAUSE).await;
                    Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "fault: drop_connection",
                    ))
                });
                let mut response = json_response(Body::from_stream(
                    futures_util::StreamExt::chain(part, abort),
                ));
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(DROPPED_LENGTH));
                response
            }
        };
        let map = response.headers_mut();
        for (name, value) in headers {
            map.append(name, value);
        }
        Played::Answer(response)
    }
}

/// What playing a fault produced.
pub(crate) enum Played {
    /// Send this.
    Answer(Response),
    /// Handle the request normally.
    Continue,
}

async fn wait_for_shutdown(mut shutdown: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means shutdown.
    let _ = shutdown.wait_for(|stopping| *stopping).await;
}

fn json_response(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A response whose body fails at once: the server closes the connection without a complete answer.
pub(crate) fn abort_response() -> Response {
    Response::new(Body::from_stream(stream::once(async {
        Err::<Bytes, _>(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "fake shutting down",
        ))
    })))
}

fn oversized_stream(
    total: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    let framed = total >= (OVERSIZED_PREFIX.len() + OVERSIZED_SUFFIX.len()) as u64;
    // (bytes still to send, stage): 0 = prefix, 1 = fill, 2 = suffix.
    let start = if framed { 0u8 } else { 1u8 };
    stream::unfold((total, start), move |(left, stage)| async move {
        if left == 0 {
            return None;
        }
        let chunk = match stage {
            0 => {
                return Some((
                    Ok(Bytes::from_static(OVERSIZED_PREFIX)),
                    (left - OVERSIZED_PREFIX.len() as u64, 1),
                ));
            }
            1 => {
                let reserve = if framed {
                    OVERSIZED_SUFFIX.len() as u64
                } else {
                    0
                };
                let fill_left = left - reserve;
                if fill_left == 0 {
                    return Some((Ok(Bytes::from_static(OVERSIZED_SUFFIX)), (0, 2)));
                }
                let n = fill_left.min(FILL_LEN as u64) as usize;
                (Bytes::from_static(&FILL[..n]), (left - n as u64, 1))
            }
            _ => (Bytes::from_static(OVERSIZED_SUFFIX), (0, 2)),
        };
        Some((Ok(chunk.0), chunk.1))
    })
}

/// The per-route FIFO queues of scripted answers.
#[derive(Debug, Default)]
pub(crate) struct FaultQueues {
    queues: [VecDeque<Fault>; 5],
}

impl FaultQueues {
    pub(crate) fn push(&mut self, route: Route, faults: impl IntoIterator<Item = Fault>) -> usize {
        let queue = &mut self.queues[route.index()];
        let before = queue.len();
        queue.extend(faults);
        queue.len() - before
    }

    /// Pops the next fault for a request on `specific` (its own queue first), or on `Any`
    /// when `any` is true.
    pub(crate) fn pop(&mut self, specific: Option<Route>, any: bool) -> Option<Fault> {
        if let Some(route) = specific {
            if let Some(fault) = self.queues[route.index()].pop_front() {
                return Some(fault);
            }
        }
        if any {
            return self.queues[Route::Any.index()].pop_front();
        }
        None
    }

    pub(crate) fn clear(&mut self) {
        self.queues.iter_mut().for_each(VecDeque::clear);
    }

    pub(crate) fn len(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }
}

/// Parses the admin listener's `POST /admin/faults` body (see the crate docs).
pub(crate) fn parse_script(body: &[u8]) -> Result<(Route, Vec<Fault>), String> {
    use serde_json::Value;

    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let object = value.as_object().ok_or("the body must be a JSON object")?;
    let route_name = object
        .get("route")
        .and_then(Value::as_str)
        .ok_or("\"route\" must be a string")?;
    let route = Route::parse(route_name).ok_or_else(|| {
        format!("unknown route {route_name:?}: use token, revoke, calendars, permissions or any")
    })?;
    let answers = object
        .get("answers")
        .and_then(Value::as_array)
        .ok_or("\"answers\" must be an array")?;
    let mut faults = Vec::with_capacity(answers.len());
    for (i, answer) in answers.iter().enumerate() {
        faults.push(parse_answer(answer).map_err(|e| format!("answers[{i}]: {e}"))?);
    }
    Ok((route, faults))
}

fn parse_answer(answer: &serde_json::Value) -> Result<Fault, String> {
    use serde_json::Value;

    let object = answer.as_object().ok_or("must be an object")?;
    let kind = match object.get("fault") {
        None | Some(Value::Null) => "status",
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err("\"fault\" must be a string".into()),
    };
    let u64_field = |name: &str| -> Result<u64, String> {
        object
            .get(name)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("\"{name}\" must be a non-negative integer"))
    };
    let mut fault = match kind {
        "status" => {
            let status = u64_field("status")?;
            let status = u16::try_from(status)
                .ok()
                .filter(|s| (100..=999).contains(s))
                .ok_or("\"status\" must be in 100..=999")?;
            let mut fault = Fault::status(status);
            match object.get("body") {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) => fault = fault.body(text.as_str()),
                Some(other) => fault = fault.body(other.to_string()),
            }
            fault
        }
        "delay" => Fault::delay(Duration::from_millis(u64_field("ms")?)),
        "hang" => Fault::hang(),
        "oversized" => Fault::oversized(u64_field("bytes")?),
        "malformed_json" => Fault::malformed_json(),
        "drop_connection" => Fault::drop_connection(),
        other => {
            return Err(format!(
                "unknown fault {other:?}: use status, delay, hang, oversized, malformed_json or drop_connection"
            ));
        }
    };
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(headers)) => {
            for (name, value) in headers {
                let value = value
                    .as_str()
                    .ok_or_else(|| format!("header {name:?} must have a string value"))?;
                fault = checked_header(fault, name, value)?;
            }
        }
        Some(_) => return Err("\"headers\" must be an object of strings".into()),
    }
    Ok(fault)
}

fn checked_header(fault: Fault, name: &str, value: &str) -> Result<Fault, String> {
    if HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("{name:?} is not a valid header name"));
    }
    if HeaderValue::from_str(value).is_err() {
        return Err(format!("invalid value for header {name:?}"));
    }
    Ok(fault.header(name, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    async fn collect_len(bytes: u64) -> (u64, Vec<u8>) {
        let mut stream = std::pin::pin!(oversized_stream(bytes));
        let mut total = 0u64;
        let mut first_and_last = Vec::new();
        while let Some(Ok(chunk)) = stream.next().await {
            total += chunk.len() as u64;
            if first_and_last.len() < 64 || bytes < 200_000 {
                first_and_last.extend_from_slice(&chunk);
            }
        }
        (total, first_and_last)
    }

    #[tokio::test]
    async fn oversized_has_exact_length() {
        for bytes in [0u64, 1, 13, 14, 15, 65_536, 65_550, 1_000_003] {
            let (total, text) = collect_len(bytes).await;
            assert_eq!(total, bytes, "length for {bytes}");
            if (14..200_000).contains(&bytes) {
                let value: serde_json::Value = serde_json::from_slice(&text).unwrap();
                assert!(value["padding"].is_string());
            }
        }
    }

    #[test]
    fn parses_admin_script() {
        let body = br#"{"route":"permissions","answers":[
            {"status":429,"headers":{"Retry-After":"1"},"body":""},
            {"fault":"hang"},{"fault":"delay","ms":200},{"fault":"oversized","bytes":5000000},
            {"fault":"malformed_json"},{"fault":"drop_connection"}]}"#;
        let (route, faults) = parse_script(body).unwrap();
        assert_eq!(route, Route::Permissions);
        assert_eq!(faults.len(), 6);
        assert!(matches!(faults[0].kind, FaultKind::Status(s) if s == 429));
        assert_eq!(faults[0].headers[0].1, "1");
        assert!(matches!(faults[2].kind, FaultKind::Delay(d) if d == Duration::from_millis(200)));
        assert!(parse_script(br#"{"route":"nope","answers":[]}"#).is_err());
        assert!(parse_script(br#"{"route":"any","answers":[{"fault":"explode"}]}"#).is_err());
        assert!(parse_script(br#"{"route":"any","answers":[{"status":42}]}"#).is_err());
        assert!(
            parse_script(
                br#"{"route":"any","answers":[{"status":500,"headers":{"bad name":"x"}}]}"#
            )
            .is_err()
        );
    }

    #[test]
    #[should_panic(expected = "not an HTTP status code")]
    fn status_out_of_range_panics() {
        let _ = Fault::status(42);
    }

    #[test]
    #[should_panic(expected = "not a valid header name")]
    fn bad_header_name_panics() {
        let _ = Fault::status(500).header("bad name", "x");
    }

    #[test]
    fn queues_prefer_specific_route() {
        let mut q = FaultQueues::default();
        q.push(Route::Any, [Fault::status(500)]);
        q.push(Route::Calendars, [Fault::status(429)]);
        let first = q.pop(Some(Route::Calendars), true).unwrap();
        assert!(matches!(first.kind, FaultKind::Status(s) if s == 429));
        assert!(q.pop(None, false).is_none());
        assert!(q.pop(None, true).is_some());
        assert_eq!(q.len(), 0);
    }
}
