//! [`Client`] and [`ClientBuilder`]: the core's operations, sent with retries.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use permissions_core::{
    AccessToken, AsyncTransport, CalendarList, DataCenter, Endpoint, Exchange, ExchangeCode, Hosts,
    HttpRequest, HttpResponse, ListCalendars, PermissionsOutcome, PermissionsRequest,
    RefreshAccessToken, RequestContext, RetryPolicy, RevokeToken, Step, TokenResponse,
    TransportError, TransportErrorKind,
};

use crate::Error;
use crate::trace;
use crate::transport::ReqwestTransport;
use permissions_core::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT};

/// The default `User-Agent`: `permissions-reqwest/x.y.z permissions-core/x.y.z`.
pub fn default_user_agent() -> String {
    format!(
        "permissions-reqwest/{} {}",
        env!("CARGO_PKG_VERSION"),
        permissions_core::USER_AGENT
    )
}

/// An async client for Cronofy's Extended Permissions flow.
///
/// Each method builds the request with `permissions-core`, sends it, and reads the answer;
/// failures the [`RetryPolicy`] calls transient (429 honouring `Retry-After`, 502/503/504,
/// failures to connect, time-outs of idempotent calls) are retried after a jittered back-off.
///
/// Cheap to clone: clones share one connection pool and configuration. `Send + Sync`, and
/// every future it returns is `Send`, so it works on any tokio runtime, multi-thread or not.
///
/// ```no_run
/// # async fn run() -> Result<(), permissions_reqwest::Error> {
/// use permissions_core::{AccessToken, DataCenter};
/// use permissions_reqwest::Client;
///
/// let client = Client::builder().data_center(DataCenter::Uk).build()?;
/// let calendars = client.list_calendars(&AccessToken::new("…")).await?;
/// for calendar in calendars.needing_elevation() {
///     println!("{} needs elevation", calendar.calendar_name);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    hosts: Hosts,
    retry_policy: RetryPolicy,
    user_agent: String,
    /// The cap reported in [`Error::TooLarge`] when a custom transport does not say.
    max_response_bytes: usize,
}

enum Transport {
    /// The built-in path: no boxed future per request.
    Reqwest(ReqwestTransport),
    Custom(Arc<dyn AsyncTransport>),
}

impl Transport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        match self {
            Self::Reqwest(transport) => transport.execute(request).await,
            Self::Custom(transport) => transport.send(request).await,
        }
    }
}

impl Default for Client {
    /// Same as [`Client::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with every default: data center `us`, the timeouts, cap, retry policy and user
    /// agent documented on [`ClientBuilder`].
    ///
    /// # Panics
    /// When the HTTP client cannot be built: with the `rustls` feature on Linux, when the
    /// system has no CA certificates. Use [`Client::builder`] and [`ClientBuilder::build`] to
    /// handle that as an error.
    pub fn new() -> Client {
        Self::builder()
            .build()
            .expect("the default HTTP client could not be built; see Client::new's docs")
    }

    /// A builder to configure a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The API and app hosts this client talks to.
    pub fn hosts(&self) -> &Hosts {
        &self.inner.hosts
    }

    /// Step 3: the user's calendars (`GET /v1/calendars`).
    pub async fn list_calendars(&self, token: &AccessToken) -> Result<CalendarList, Error> {
        self.call(&ListCalendars, Some(token)).await
    }

    /// Steps 4-5: asks for elevated access (`POST /v1/permissions`): a URL to send the user
    /// to, or, for Enterprise Connect accounts, granted at once.
    pub async fn request_permissions(
        &self,
        token: &AccessToken,
        request: &PermissionsRequest,
    ) -> Result<PermissionsOutcome, Error> {
        self.call(request, Some(token)).await
    }

    /// Step 2: exchanges an authorization code for tokens (`POST /oauth/token`). A code is
    /// single-use, so this is retried only when the request surely was not processed.
    pub async fn exchange_code(&self, exchange: &ExchangeCode) -> Result<TokenResponse, Error> {
        self.call(exchange, None).await
    }

    /// Gets a new access token with a refresh token (`POST /oauth/token`).
    pub async fn refresh_token(
        &self,
        refresh: &RefreshAccessToken,
    ) -> Result<TokenResponse, Error> {
        self.call(refresh, None).await
    }

    /// Revokes an authorization (`POST /oauth/token/revoke`).
    pub async fn revoke(&self, revoke: &RevokeToken) -> Result<(), Error> {
        self.call(revoke, None).await
    }

    /// Runs any core [`Endpoint`]; `token` for endpoints that need an access token.
    ///
    /// The loop: build the request, send it, read the answer; on a transient failure, wait as
    /// the [`RetryPolicy`] says (never longer than its `max_delay`) and send again.
    pub async fn call<E: Endpoint + Sync>(
        &self,
        endpoint: &E,
        token: Option<&AccessToken>,
    ) -> Result<E::Output, Error> {
        let span = trace::Operation::new(endpoint.name());
        span.instrument(self.run(endpoint, token, &span)).await
    }

    async fn run<E: Endpoint + Sync>(
        &self,
        endpoint: &E,
        token: Option<&AccessToken>,
        span: &trace::Operation,
    ) -> Result<E::Output, Error> {
        let inner = &*self.inner;
        let mut ctx = RequestContext::new(inner.hosts.api()).with_user_agent(&inner.user_agent);
        if let Some(token) = token {
            ctx = ctx.with_access_token(token);
        }
        let mut exchange = Exchange::new(endpoint, inner.retry_policy);
        loop {
            let request = exchange.next_request(&ctx)?;
            let attempt = span.attempt(exchange.attempt(), &request);
            let sent = attempt.instrument(inner.transport.send(request)).await;
            let wait = match sent {
                Ok(response) => {
                    attempt.status(response.status(), span);
                    match exchange.on_response(response, SystemTime::now(), jitter()) {
                        Step::Done(result) => return result.map_err(Error::from),
                        Step::Retry(wait) => wait,
                    }
                }
                Err(error) => {
                    attempt.failed(error.kind());
                    match exchange.on_transport_error(error.kind(), SystemTime::now(), jitter()) {
                        Some(wait) => wait,
                        None => {
                            return Err(Error::from_transport(error, inner.max_response_bytes));
                        }
                    }
                }
            };
            attempt.retry_after(wait);
            tokio::time::sleep(wait).await;
        }
    }
}

/// A uniform draw in `[0, 1)` to spread back-offs.
fn jitter() -> f64 {
    rand::random::<f64>()
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Client")
            .field("hosts", &inner.hosts)
            .field("retry_policy", &inner.retry_policy)
            .field("user_agent", &inner.user_agent)
            .field("transport", &inner.transport)
            .finish()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reqwest(transport) => fmt::Debug::fmt(transport, f),
            Self::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// Configures a [`Client`]. Every setting has a default; `build` makes the client.
///
/// | setting | default |
/// | --- | --- |
/// | [`data_center`](Self::data_center) / [`hosts`](Self::hosts) | `DataCenter::Us` |
/// | [`connect_timeout`](Self::connect_timeout) | 10 s |
/// | [`timeout`](Self::timeout) (whole request, body included) | 30 s |
/// | [`max_response_bytes`](Self::max_response_bytes) | 1 MiB |
/// | [`retry_policy`](Self::retry_policy) | [`RetryPolicy::default`]: 3 attempts, 250 ms base, 30 s cap |
/// | [`user_agent`](Self::user_agent) | `permissions-reqwest/x.y.z permissions-core/x.y.z` |
///
/// The built-in HTTP client never follows redirects (a token must not follow one), keeps
/// reqwest's connection pool defaults, honours the `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY`/
/// `NO_PROXY` environment variables as reqwest does (operating-system proxy settings only with
/// the `system-proxy` feature), and does not ask for compressed answers.
///
/// ```
/// use std::time::Duration;
/// use permissions_core::{DataCenter, RetryPolicy};
/// use permissions_reqwest::Client;
///
/// let client = Client::builder()
///     .data_center(DataCenter::De)
///     .timeout(Duration::from_secs(10))
///     .retry_policy(RetryPolicy::never())
///     .build()
///     .unwrap();
/// assert_eq!(client.hosts().api().as_str(), "https://api-de.cronofy.com/");
/// ```
pub struct ClientBuilder {
    hosts: Hosts,
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    retry_policy: RetryPolicy,
    user_agent: Option<String>,
    transport: Option<Transport>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientBuilder {
    /// A builder with every default.
    pub fn new() -> Self {
        Self {
            hosts: DataCenter::Us.hosts(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry_policy: RetryPolicy::default(),
            user_agent: None,
            transport: None,
        }
    }

    /// The data center to talk to. Replaces any earlier [`hosts`](Self::hosts).
    pub fn data_center(self, dc: DataCenter) -> Self {
        self.hosts(dc.hosts())
    }

    /// Custom API and app hosts (a gateway, or a local Cronofy in tests). Replaces any earlier
    /// [`data_center`](Self::data_center).
    pub fn hosts(mut self, hosts: Hosts) -> Self {
        self.hosts = hosts;
        self
    }

    /// Time allowed to open a connection, TLS included. Default 10 s.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Time allowed for one whole attempt, from sending to the end of the body. Default 30 s.
    /// Retries each get this much again.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The largest response body accepted, in bytes; enforced while reading. Default 1 MiB.
    pub fn max_response_bytes(mut self, n: usize) -> Self {
        self.max_response_bytes = n;
        self
    }

    /// When and how long to retry. Default [`RetryPolicy::default`].
    pub fn retry_policy(mut self, p: RetryPolicy) -> Self {
        self.retry_policy = p;
        self
    }

    /// The `User-Agent` sent on every request. Default
    /// `permissions-reqwest/x.y.z permissions-core/x.y.z`.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = Some(ua.into());
        self
    }

    /// Sends with `t` instead of the built-in `reqwest::Client`: a closure, an
    /// `Arc<dyn AsyncTransport>`, a [`ReqwestTransport`] over your own `reqwest::Client`, …
    ///
    /// Time-outs and the body cap are then the transport's job: [`connect_timeout`],
    /// [`timeout`] and [`max_response_bytes`] only configure the built-in client (the last is
    /// still the limit reported when a custom transport fails with `BodyTooLarge`).
    ///
    /// [`connect_timeout`]: Self::connect_timeout
    /// [`timeout`]: Self::timeout
    /// [`max_response_bytes`]: Self::max_response_bytes
    pub fn transport(mut self, t: impl AsyncTransport + 'static) -> Self {
        // Known types skip a layer of indirection: a `ReqwestTransport` runs without a boxed
        // future, an `Arc<dyn AsyncTransport>` is not wrapped in a second `Arc`.
        let mut slot = Some(t);
        let any = &mut slot as &mut dyn Any;
        let transport = if let Some(t) = any.downcast_mut::<Option<ReqwestTransport>>() {
            Transport::Reqwest(t.take().expect("just set"))
        } else if let Some(t) = any.downcast_mut::<Option<Arc<dyn AsyncTransport>>>() {
            Transport::Custom(t.take().expect("just set"))
        } else {
            Transport::Custom(Arc::new(slot.take().expect("just set")))
        };
        self.transport = Some(transport);
        self
    }

    /// Builds the client.
    ///
    /// Fails with [`Error::Transport`] when the HTTP client cannot be built (with the `rustls`
    /// feature on Linux: no CA certificates on the system), and with [`Error::InvalidRequest`]
    /// when the user agent cannot be a header value.
    pub fn build(self) -> Result<Client, Error> {
        let user_agent = self.user_agent.unwrap_or_else(default_user_agent);
        // The core puts it in a header as given; check it here, once.
        if http::HeaderValue::from_str(&user_agent).is_err() {
            return Err(Error::InvalidRequest(
                permissions_core::BuildError::ControlCharacter {
                    field: "user_agent",
                },
            ));
        }
        let transport = match self.transport {
            Some(transport) => transport,
            None => {
                let client = ReqwestTransport::client_builder()?
                    .connect_timeout(self.connect_timeout)
                    .timeout(self.timeout)
                    .build()
                    .map_err(|err| {
                        Error::Transport(TransportError::with_source(
                            TransportErrorKind::Other,
                            err.without_url(),
                        ))
                    })?;
                Transport::Reqwest(
                    ReqwestTransport::new(client).max_response_bytes(self.max_response_bytes),
                )
            }
        };
        let max_response_bytes = match &transport {
            Transport::Reqwest(t) => t.response_limit(),
            Transport::Custom(_) => self.max_response_bytes,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                transport,
                hosts: self.hosts,
                retry_policy: self.retry_policy,
                user_agent,
                max_response_bytes,
            }),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("hosts", &self.hosts)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry_policy", &self.retry_policy)
            .field("user_agent", &self.user_agent)
            .field("transport", &self.transport)
            .finish()
    }
}

impl ReqwestTransport {
    /// A `reqwest::ClientBuilder` set up as [`Client::builder`] sets up its own: redirects
    /// off, TLS as this crate's features choose (see the crate docs), and the default
    /// time-outs ([`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_TIMEOUT`]). Start here to bring your
    /// own `reqwest::Client` with a few more settings (a proxy, extra root certificates, …).
    ///
    /// With the default `rustls` feature, reqwest is compiled without a crypto provider of its
    /// own: a `reqwest::Client::builder()` from scratch then needs reqwest's `rustls` feature
    /// or an installed rustls default provider; a builder from here needs neither.
    ///
    /// ```
    /// use permissions_reqwest::{Client, ReqwestTransport};
    ///
    /// let http = ReqwestTransport::client_builder()?
    ///     .local_address(std::net::IpAddr::from([0, 0, 0, 0]))
    ///     .build()
    ///     .unwrap();
    /// let client = Client::builder().transport(ReqwestTransport::from(http)).build()?;
    /// # let _ = client;
    /// # Ok::<(), permissions_reqwest::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Transport`] when the TLS configuration cannot be made (with the `rustls`
    /// feature on Linux: no CA certificates on the system).
    pub fn client_builder() -> Result<reqwest::ClientBuilder, Error> {
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
            .timeout(DEFAULT_TIMEOUT);
        crate::tls::configure(builder).map_err(Error::Transport)
    }
}
