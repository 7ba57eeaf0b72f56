//! The seam between the protocol and the network.
//!
//! The only currency is [`HttpRequest`] (`http::Request<Vec<u8>>`) and [`HttpResponse`]
//! (`http::Response<Vec<u8>>`). An operation is an [`Endpoint`]: one value that knows how to
//! become a request and how to read its response. A transport is anything that turns a request
//! into a response: [`SyncTransport`] for blocking code, [`AsyncTransport`] for async code,
//! both implemented for plain closures. [`Exchange`] runs one operation through the retry
//! policy without doing any I/O itself, so that every transport's client is the same short loop:
//!
//! ```text
//! loop { request = exchange.next_request(ctx)?;
//!        match transport.send(request) {
//!            Ok(response) => match exchange.on_response(response, now(), jitter()) {
//!                Step::Done(result) => return result,
//!                Step::Retry(wait) => sleep(wait) },
//!            Err(e) => match exchange.on_transport_error(e.kind(), now(), jitter()) {
//!                Some(wait) => sleep(wait), None => return Err(e) } } }
//! ```
//!
//! The transport error type is fixed ([`TransportError`]) rather than an associated type, so
//! that the retry policy can tell a refused connection from a time-out whatever the HTTP stack,
//! and so that `Box<dyn SyncTransport>` needs no type parameter.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::data_center::BaseUrl;
use crate::error::{ApiError, BuildError, ResponseError};
use crate::retry::{Failure, RetryDecision, RetryPolicy};
use crate::secret::AccessToken;

/// A request as a value: method, URL, headers, body.
pub type HttpRequest = http::Request<Vec<u8>>;
/// A response as a value: status, headers, body.
pub type HttpResponse = http::Response<Vec<u8>>;

/// The time a transport allows to open a connection, TLS included, unless configured otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The time a transport allows for one whole attempt, body included, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body a transport accepts, in bytes, unless configured otherwise (1 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1_048_576;

/// The `User-Agent` the core sets; transports replace it with one that names them too.
pub const USER_AGENT: &str = concat!("permissions-core/", env!("CARGO_PKG_VERSION"));

/// What kind of transport failure: the retry policy decides on this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (refused, DNS, TLS handshake): the request was not sent.
    Connect,
    /// No complete answer in time: the request may or may not have been processed.
    Timeout,
    /// The response body was larger than the configured cap.
    BodyTooLarge,
    /// Anything else: the connection broke, the answer was not HTTP, …
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "could not connect",
            Self::Timeout => "timed out",
            Self::BodyTooLarge => "response body too large",
            Self::Other => "transport failure",
        })
    }
}

/// A request that got no usable answer. Transports must make sure the source carries no URL
/// query, header value or body.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    /// For `BodyTooLarge`: the cap the body passed, when the transport said.
    limit: Option<usize>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl TransportError {
    /// A failure of this kind with no further detail.
    pub fn new(kind: TransportErrorKind) -> Self {
        Self {
            kind,
            limit: None,
            source: None,
        }
    }

    /// A response body passed the `limit`-byte cap.
    pub fn body_too_large(limit: usize) -> Self {
        Self {
            kind: TransportErrorKind::BodyTooLarge,
            limit: Some(limit),
            source: None,
        }
    }

    /// A failure of this kind caused by `source`.
    pub fn with_source(
        kind: TransportErrorKind,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            kind,
            limit: None,
            source: Some(source.into()),
        }
    }

    /// What kind of failure.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// For a body over the cap: the cap, when the transport said which.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.limit) {
            (TransportErrorKind::BodyTooLarge, Some(limit)) => {
                write!(f, "response body larger than the {limit}-byte limit")
            }
            (kind, _) => fmt::Display::fmt(&kind, f),
        }
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// A blocking transport: sends a request and waits for the whole response.
///
/// Implemented for closures, which makes test doubles one line, and for `Arc<T>` (so
/// `Arc<dyn SyncTransport>` is a transport too; a `Box<dyn SyncTransport>` converts into one
/// with `Arc::from`). Closures cannot also be covered through `Box`, as `Box<F>` is itself a
/// closure.
///
/// ```
/// use permissions_core::{HttpRequest, HttpResponse, SyncTransport, TransportError};
/// let transport = |_req: HttpRequest| -> Result<HttpResponse, TransportError> {
///     Ok(http::Response::builder().status(200).body(b"{}".to_vec()).unwrap())
/// };
/// let boxed: Box<dyn SyncTransport> = Box::new(transport);
/// let response = boxed.send(http::Request::new(Vec::new())).unwrap();
/// assert_eq!(response.status(), 200);
/// ```
pub trait SyncTransport: Send + Sync {
    /// Sends one request.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

impl<F> SyncTransport for F
where
    F: Fn(HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync,
{
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self(request)
    }
}

impl<T: SyncTransport + ?Sized> SyncTransport for std::sync::Arc<T> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(request)
    }
}

/// An async transport. Uses `async-trait` so that `Box<dyn AsyncTransport>` works.
///
/// Implemented for closures returning a future:
///
/// ```
/// use permissions_core::{AsyncTransport, HttpRequest, HttpResponse, TransportError};
/// let transport = |_req: HttpRequest| async {
///     Ok::<HttpResponse, TransportError>(http::Response::new(Vec::new()))
/// };
/// let _boxed: Box<dyn AsyncTransport> = Box::new(transport);
/// ```
#[async_trait::async_trait]
pub trait AsyncTransport: Send + Sync {
    /// Sends one request.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

#[async_trait::async_trait]
impl<F, Fut> AsyncTransport for F
where
    F: Fn(HttpRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<HttpResponse, TransportError>> + Send,
{
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self(request).await
    }
}

#[async_trait::async_trait]
impl<T: AsyncTransport + ?Sized> AsyncTransport for std::sync::Arc<T> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(request).await
    }
}

/// What an endpoint needs to build its request besides its own fields.
#[derive(Clone, Copy, Debug)]
pub struct RequestContext<'a> {
    /// The API host.
    pub api: &'a BaseUrl,
    /// The access token, for `/v1/*` endpoints.
    pub access_token: Option<&'a AccessToken>,
    /// The `User-Agent` to send.
    pub user_agent: &'a str,
}

impl<'a> RequestContext<'a> {
    /// A context with no access token and the core's `User-Agent`.
    pub fn new(api: &'a BaseUrl) -> Self {
        Self {
            api,
            access_token: None,
            user_agent: USER_AGENT,
        }
    }

    /// Sets the access token.
    pub fn with_access_token(mut self, token: &'a AccessToken) -> Self {
        self.access_token = Some(token);
        self
    }

    /// Sets the `User-Agent`.
    pub fn with_user_agent(mut self, user_agent: &'a str) -> Self {
        self.user_agent = user_agent;
        self
    }
}

/// One operation of the API: how it becomes a request, and how its response is read.
///
/// Adding an endpoint touches the core only; every transport's client runs any `Endpoint`.
pub trait Endpoint {
    /// What a successful response becomes.
    type Output;

    /// A short, stable name for logs and traces, e.g. `request_permissions`.
    fn name(&self) -> &'static str;

    /// Builds the request. Fails, sending nothing, when the input cannot make a valid request.
    fn to_request(&self, ctx: &RequestContext<'_>) -> Result<HttpRequest, BuildError>;

    /// Reads the response: any status, any headers, any bytes. Never panics.
    fn parse_response(&self, response: HttpResponse) -> Result<Self::Output, ResponseError>;

    /// Whether sending the request twice is harmless. A code exchange is not (codes are
    /// single-use); it is then retried only when it surely was not processed.
    fn idempotent(&self) -> bool {
        true
    }
}

/// The next thing a transport loop should do.
#[derive(Debug)]
#[must_use]
pub enum Step<T> {
    /// Finished: the output, or the error to report.
    Done(Result<T, ResponseError>),
    /// Wait this long, then send [`Exchange::next_request`] again.
    Retry(Duration),
}

/// One operation on its way through attempts and retries, with no I/O: the caller sends,
/// supplies `now` and jitter, and sleeps.
#[derive(Debug)]
pub struct Exchange<'e, E: ?Sized> {
    endpoint: &'e E,
    policy: RetryPolicy,
    attempt: u32,
    /// The access token last sent, to redact from whatever the server echoes into an error.
    sent_token: Option<AccessToken>,
}

impl<'e, E: Endpoint + ?Sized> Exchange<'e, E> {
    /// Starts an exchange for `endpoint` under `policy`.
    pub fn new(endpoint: &'e E, policy: RetryPolicy) -> Self {
        Self {
            endpoint,
            policy,
            attempt: 0,
            sent_token: None,
        }
    }

    /// How many requests have been handed out so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The request for the next attempt.
    pub fn next_request(&mut self, ctx: &RequestContext<'_>) -> Result<HttpRequest, BuildError> {
        let request = self.endpoint.to_request(ctx)?;
        self.attempt += 1;
        if self.sent_token.as_ref() != ctx.access_token {
            self.sent_token = ctx.access_token.cloned();
        }
        Ok(request)
    }

    /// Reads a response to the latest attempt. An error keeps no echo of the access token the
    /// request carried ([`ApiError::redact`]).
    pub fn on_response(
        &mut self,
        response: HttpResponse,
        now: SystemTime,
        jitter: f64,
    ) -> Step<E::Output> {
        let mut result = self.endpoint.parse_response(response);
        if let (Err(err), Some(token)) = (&mut result, &self.sent_token) {
            match err {
                ResponseError::Api(e) => e.redact(token.secret()),
                ResponseError::Decode(e) => e.redact(token.secret()),
            }
        }
        match result {
            Err(ResponseError::Api(err)) => {
                match self.decide(&Failure::from_api_error(&err), now, jitter) {
                    Some(wait) => Step::Retry(wait),
                    None => Step::Done(Err(ResponseError::Api(err))),
                }
            }
            other => Step::Done(other),
        }
    }

    /// Reads a transport failure of the latest attempt: `Some(wait)` to retry after `wait`,
    /// `None` to give up and report it.
    pub fn on_transport_error(
        &mut self,
        kind: TransportErrorKind,
        now: SystemTime,
        jitter: f64,
    ) -> Option<Duration> {
        self.decide(&Failure::Transport(kind), now, jitter)
    }

    fn decide(&self, failure: &Failure, now: SystemTime, jitter: f64) -> Option<Duration> {
        match self.policy.decide(
            self.attempt,
            failure,
            self.endpoint.idempotent(),
            now,
            jitter,
        ) {
            RetryDecision::RetryAfter(wait) => Some(wait),
            RetryDecision::Stop => None,
        }
    }
}

/// Splits a response into its parts after checking that the status is 2xx; anything else
/// becomes the matching [`ApiError`].
pub(crate) fn success_body(
    response: HttpResponse,
    body_may_hold_secret: bool,
) -> Result<Vec<u8>, ApiError> {
    let (parts, body) = response.into_parts();
    if parts.status.is_success() {
        Ok(body)
    } else {
        Err(ApiError::from_response(
            parts.status,
            &parts.headers,
            &body,
            body_may_hold_secret,
        ))
    }
}

/// Builds a request with the headers every Cronofy call shares. The `User-Agent` is checked
/// here, as it is the one header whose value comes from configuration rather than validation.
pub(crate) fn request_builder(
    method: http::Method,
    path: &str,
    ctx: &RequestContext<'_>,
) -> Result<http::request::Builder, BuildError> {
    let user_agent =
        http::HeaderValue::from_str(ctx.user_agent).map_err(|_| BuildError::ControlCharacter {
            field: "user_agent",
        })?;
    // The base always ends with `/` and has no query or fragment (`BaseUrl::parse`), and the
    // paths are the core's own constants: text concatenation is the join, with one parse
    // (by `http`) instead of a `Url` clone, re-serialization and parse.
    let mut uri = String::with_capacity(ctx.api.as_str().len() + path.len());
    uri.push_str(ctx.api.as_str());
    uri.push_str(path);
    let uri = http::Uri::try_from(uri).map_err(|_| BuildError::Malformed)?;
    Ok(http::Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::USER_AGENT, user_agent)
        .header(http::header::ACCEPT, "application/json"))
}

/// Finishes a request. Every part was validated, so a failure here means a URL `http` refuses
/// although `url` accepted it; it is reported, never a panic.
pub(crate) fn finish(
    builder: http::request::Builder,
    body: Vec<u8>,
) -> Result<HttpRequest, BuildError> {
    builder.body(body).map_err(|_| BuildError::Malformed)
}

/// The `Authorization: Bearer …` value, marked sensitive so that `http`'s own `Debug` and
/// HTTP/2's HPACK never expose it.
pub(crate) fn bearer(token: &AccessToken) -> Result<http::HeaderValue, BuildError> {
    let mut value =
        http::HeaderValue::try_from(format!("Bearer {}", token.secret())).map_err(|_| {
            BuildError::ControlCharacter {
                field: "access_token",
            }
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The JSON content type Cronofy's docs show.
pub(crate) const JSON_UTF8: &str = "application/json; charset=utf-8";

/// Finishes a JSON request.
pub(crate) fn with_json_body(
    builder: http::request::Builder,
    body: Vec<u8>,
) -> Result<HttpRequest, BuildError> {
    finish(builder.header(http::header::CONTENT_TYPE, JSON_UTF8), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendars::ListCalendars;
    use crate::data_center::DataCenter;

    #[test]
    fn a_bad_user_agent_is_an_error_not_a_panic() {
        let hosts = DataCenter::Us.hosts();
        let token = AccessToken::new("t");
        let ctx = RequestContext::new(hosts.api())
            .with_access_token(&token)
            .with_user_agent("evil\r\nX-Injected: 1");
        assert_eq!(
            ListCalendars.to_request(&ctx).unwrap_err(),
            BuildError::ControlCharacter {
                field: "user_agent"
            }
        );
    }
}
