//! [`Client`] and [`ClientBuilder`]: the retry loop around any transport.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use permissions_core::{
    AccessToken, CalendarList, DataCenter, Endpoint, Exchange, ExchangeCode, Hosts, HttpRequest,
    HttpResponse, ListCalendars, PermissionsOutcome, PermissionsRequest, RefreshAccessToken,
    RequestContext, RetryPolicy, RevokeToken, Step, SyncTransport, TokenResponse, TransportError,
};

use crate::Error;
use crate::transport::UreqTransport;
use permissions_core::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT};

/// A blocking Cronofy client: builds each request with `permissions-core`, sends it, reads the
/// answer, and retries what the [`RetryPolicy`] says to retry (sleeping the calling thread).
///
/// Cheap to clone; clones share one connection pool. `Send + Sync`: share one client between
/// threads rather than building one per call.
///
/// ```no_run
/// use permissions_core::{AccessToken, PermissionsOutcome, PermissionsRequest};
///
/// let client = permissions_ureq::Client::new();
/// let token = AccessToken::new(std::env::var("CRONOFY_ACCESS_TOKEN")?);
/// let calendars = client.list_calendars(&token)?;
/// let request = PermissionsRequest::builder()
///     .calendars(calendars.needing_elevation().map(|c| c.calendar_id.clone()))
///     .redirect_uri("https://app.example.com/permission")
///     .build()?;
/// match client.request_permissions(&token, &request)? {
///     PermissionsOutcome::Redirect { url } => println!("send the user to {url}"),
///     PermissionsOutcome::Granted => println!("granted"),
///     _ => {}
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Backend,
    hosts: Hosts,
    retry: RetryPolicy,
    user_agent: String,
    /// The cap reported in [`Error::TooLarge`].
    limit: usize,
}

enum Backend {
    Ureq(UreqTransport),
    Custom(Box<dyn SyncTransport>),
}

impl Backend {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        match self {
            Self::Ureq(t) => t.send(request),
            Self::Custom(t) => t.send(request),
        }
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ureq(t) => fmt::Debug::fmt(t, f),
            Self::Custom(_) => f.write_str("CustomTransport"),
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("hosts", &self.inner.hosts)
            .field("transport", &self.inner.transport)
            .field("retry_policy", &self.inner.retry)
            .field("user_agent", &self.inner.user_agent)
            .finish()
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with every default: data center `us`, 10 s to connect, 30 s per request,
    /// a 1 MiB body cap, [`RetryPolicy::default`].
    pub fn new() -> Client {
        ClientBuilder::default().finish()
    }

    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The hosts this client talks to. The app host is where users are sent
    /// ([`permissions_core::AuthorizationRequest::url`]).
    pub fn hosts(&self) -> &Hosts {
        &self.inner.hosts
    }

    /// Step 3: the user's calendars (`GET /v1/calendars`).
    pub fn list_calendars(&self, token: &AccessToken) -> Result<CalendarList, Error> {
        self.call(&ListCalendars, Some(token))
    }

    /// Steps 4-5: asks for elevated access (`POST /v1/permissions`); the answer is a URL to
    /// send the user to, or already granted (Enterprise Connect).
    pub fn request_permissions(
        &self,
        token: &AccessToken,
        request: &PermissionsRequest,
    ) -> Result<PermissionsOutcome, Error> {
        self.call(request, Some(token))
    }

    /// Step 2: exchanges an authorization code for tokens. A code is single-use, so this is
    /// retried only when the request surely was not processed.
    pub fn exchange_code(&self, exchange: &ExchangeCode) -> Result<TokenResponse, Error> {
        self.call(exchange, None)
    }

    /// Gets a new access token with a refresh token.
    pub fn refresh_token(&self, refresh: &RefreshAccessToken) -> Result<TokenResponse, Error> {
        self.call(refresh, None)
    }

    /// Revokes an authorization.
    pub fn revoke(&self, revoke: &RevokeToken) -> Result<(), Error> {
        self.call(revoke, None)
    }

    /// Runs any core endpoint through the retry loop; `token` for endpoints that need one.
    pub fn call<E: Endpoint + Sync>(
        &self,
        endpoint: &E,
        token: Option<&AccessToken>,
    ) -> Result<E::Output, Error> {
        let inner = &*self.inner;
        #[cfg(feature = "tracing")]
        let _operation = tracing::info_span!("cronofy", endpoint = endpoint.name()).entered();
        let mut ctx = RequestContext::new(inner.hosts.api()).with_user_agent(&inner.user_agent);
        if let Some(token) = token {
            ctx = ctx.with_access_token(token);
        }
        let mut exchange = Exchange::new(endpoint, inner.retry);
        loop {
            let request = exchange.next_request(&ctx)?;
            #[cfg(feature = "tracing")]
            let attempt = tracing::debug_span!(
                "attempt",
                method = %request.method(),
                path = request.uri().path(),
                attempt = exchange.attempt(),
                status = tracing::field::Empty,
                wait_ms = tracing::field::Empty,
            )
            .entered();
            let wait = match inner.transport.send(request) {
                Ok(response) => {
                    #[cfg(feature = "tracing")]
                    attempt.record("status", response.status().as_u16());
                    match exchange.on_response(response, SystemTime::now(), jitter()) {
                        Step::Done(result) => return result.map_err(Error::from),
                        Step::Retry(wait) => wait,
                    }
                }
                Err(err) => {
                    #[cfg(feature = "tracing")]
                    tracing::debug!(error = %err, "no answer");
                    match exchange.on_transport_error(err.kind(), SystemTime::now(), jitter()) {
                        Some(wait) => wait,
                        None => return Err(Error::from_transport(err, inner.limit)),
                    }
                }
            };
            #[cfg(feature = "tracing")]
            attempt.record("wait_ms", wait.as_millis() as u64);
            std::thread::sleep(wait);
        }
    }
}

/// A number in `[0, 1)` that differs from call to call, for retry jitter. It needs no
/// cryptographic quality: std's per-thread random hash keys, advanced on every call, suffice.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Configures a [`Client`].
///
/// ```
/// use std::time::Duration;
/// use permissions_core::{DataCenter, RetryPolicy};
///
/// let client = permissions_ureq::Client::builder()
///     .data_center(DataCenter::Uk)
///     .connect_timeout(Duration::from_secs(5))
///     .timeout(Duration::from_secs(20))
///     .max_response_bytes(256 * 1024)
///     .retry_policy(RetryPolicy { max_attempts: 5, ..RetryPolicy::default() })
///     .user_agent("my-app/1.0")
///     .build()?;
/// assert_eq!(client.hosts().api().as_str(), "https://api-uk.cronofy.com/");
/// # Ok::<(), permissions_ureq::Error>(())
/// ```
pub struct ClientBuilder {
    hosts: Hosts,
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    retry: RetryPolicy,
    user_agent: Option<String>,
    transport: Option<Backend>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            hosts: DataCenter::Us.hosts(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry: RetryPolicy::default(),
            user_agent: None,
            transport: None,
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("hosts", &self.hosts)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry_policy", &self.retry)
            .field("user_agent", &self.user_agent)
            .field("transport", &self.transport)
            .finish()
    }
}

impl ClientBuilder {
    /// Talks to one of Cronofy's data centers (default [`DataCenter::Us`]). Replaces any
    /// earlier [`hosts`](Self::hosts).
    pub fn data_center(mut self, dc: DataCenter) -> Self {
        self.hosts = dc.hosts();
        self
    }

    /// Talks to custom hosts: a gateway, or a local Cronofy in tests (each validated by
    /// [`permissions_core::BaseUrl`]). Replaces any earlier [`data_center`](Self::data_center).
    pub fn hosts(mut self, hosts: Hosts) -> Self {
        self.hosts = hosts;
        self
    }

    /// Time allowed to establish a connection, TLS handshake included (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Time allowed for one request as a whole, from connecting to the last byte of the body
    /// (default 30 s). Each retry gets this again; waits between attempts are not counted.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The largest response body accepted, in bytes (default 1 MiB, 1 048 576). Enforced while
    /// reading: a larger body fails with [`Error::TooLarge`] without being held in memory.
    pub fn max_response_bytes(mut self, n: usize) -> Self {
        self.max_response_bytes = n;
        self
    }

    /// When and how long to retry (default [`RetryPolicy::default`]: 3 attempts).
    pub fn retry_policy(mut self, p: RetryPolicy) -> Self {
        self.retry = p;
        self
    }

    /// The `User-Agent` to send (default `permissions-ureq/x.y.z permissions-core/x.y.z`).
    /// One that cannot be a header value (a control character) makes [`build`](Self::build) fail.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = Some(ua.into());
        self
    }

    /// Sends through a transport of your own instead of the built-in one: a closure, an
    /// `Arc<dyn SyncTransport>`, a [`UreqTransport`] over an agent of yours, a test double.
    /// Timeouts and the body cap are then that transport's job: [`connect_timeout`],
    /// [`timeout`] and [`max_response_bytes`] no longer apply (except that the last is the
    /// `limit` reported by [`Error::TooLarge`], unless the transport is a [`UreqTransport`]).
    ///
    /// [`connect_timeout`]: Self::connect_timeout
    /// [`timeout`]: Self::timeout
    /// [`max_response_bytes`]: Self::max_response_bytes
    pub fn transport(mut self, t: impl SyncTransport + 'static) -> Self {
        // A `UreqTransport` keeps static dispatch and reports its own cap.
        let mut slot = Some(t);
        let ureq = (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<UreqTransport>>()
            .and_then(Option::take);
        self.transport = match (ureq, slot) {
            (Some(ureq), _) => Some(Backend::Ureq(ureq)),
            (None, Some(other)) => Some(Backend::Custom(Box::new(other))),
            (None, None) => unreachable!("taken only when it was a UreqTransport"),
        };
        self
    }

    /// Builds the client. Fails with [`Error::InvalidRequest`] when the user agent cannot be a
    /// header value (a control character); nothing else can fail (ureq's agent always builds).
    pub fn build(self) -> Result<Client, Error> {
        if let Some(ua) = &self.user_agent {
            if http::HeaderValue::from_str(ua).is_err() {
                return Err(Error::InvalidRequest(
                    permissions_core::BuildError::ControlCharacter {
                        field: "user_agent",
                    },
                ));
            }
        }
        Ok(self.finish())
    }

    fn finish(self) -> Client {
        let transport = match self.transport {
            Some(t) => t,
            None => Backend::Ureq(
                UreqTransport::new(self.connect_timeout, self.timeout)
                    .max_response_bytes(self.max_response_bytes),
            ),
        };
        let limit = match &transport {
            Backend::Ureq(t) => t.response_cap(),
            Backend::Custom(_) => self.max_response_bytes,
        };
        let user_agent = self.user_agent.unwrap_or_else(|| {
            format!(
                "permissions-ureq/{} {}",
                env!("CARGO_PKG_VERSION"),
                permissions_core::USER_AGENT
            )
        });
        Client {
            inner: Arc::new(Inner {
                transport,
                hosts: self.hosts,
                retry: self.retry,
                user_agent,
                limit,
            }),
        }
    }
}
