//! Configuration of a [`FakeCronofy`](crate::FakeCronofy).

use std::fmt;
use std::sync::Arc;

use crate::limits::RateLimit;
use crate::log::LoggedRequest;

/// The callback type of [`FakeConfig::on_request`].
pub(crate) type RequestCallback = Arc<dyn Fn(&LoggedRequest) + Send + Sync + 'static>;
/// The callback type of [`FakeConfig::on_response`].
pub(crate) type ResponseCallback = Arc<dyn Fn(&LoggedRequest, u16) + Send + Sync + 'static>;

/// The default number of requests the log keeps (the newest ones).
pub const DEFAULT_REQUEST_LOG_CAPACITY: usize = 10_000;

/// How to start a [`FakeCronofy`](crate::FakeCronofy): ports, the admin listener, request
/// callbacks, rate limits.
///
/// Builder-style; the default is what [`FakeCronofy::start`](crate::FakeCronofy::start) uses:
/// every port chosen by the OS, no admin listener, no callback, a log of the newest
/// 10,000 requests, no rate limits. Listeners always bind `127.0.0.1`.
///
/// ```
/// use permissions_fake::FakeConfig;
///
/// let config = FakeConfig::default()
///     .admin(true)
///     .on_request(|request| assert!(request.path.starts_with('/')));
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct FakeConfig {
    pub(crate) api_port: u16,
    pub(crate) app_port: u16,
    pub(crate) admin: bool,
    pub(crate) admin_port: u16,
    pub(crate) on_request: Option<RequestCallback>,
    pub(crate) on_response: Option<ResponseCallback>,
    pub(crate) request_log_capacity: usize,
    pub(crate) rate_limits: Vec<RateLimit>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            api_port: 0,
            app_port: 0,
            admin: false,
            admin_port: 0,
            on_request: None,
            on_response: None,
            request_log_capacity: DEFAULT_REQUEST_LOG_CAPACITY,
            rate_limits: Vec::new(),
        }
    }
}

impl FakeConfig {
    /// The port of the API host listener; `0` (the default) lets the OS choose a free one.
    pub fn api_port(mut self, port: u16) -> Self {
        self.api_port = port;
        self
    }

    /// The port of the app host listener; `0` (the default) lets the OS choose a free one.
    pub fn app_port(mut self, port: u16) -> Self {
        self.app_port = port;
        self
    }

    /// Whether to start the admin listener ([`FakeCronofy::admin_url`](crate::FakeCronofy::admin_url)),
    /// which scripts faults and shows the request log over HTTP. Off by default.
    pub fn admin(mut self, enabled: bool) -> Self {
        self.admin = enabled;
        self
    }

    /// The port of the admin listener (`0`: chosen by the OS). Setting it also turns the admin
    /// listener on.
    pub fn admin_port(mut self, port: u16) -> Self {
        self.admin = true;
        self.admin_port = port;
        self
    }

    /// A function called for every request on the API and app hosts, on the fake's own
    /// thread, before the request is handled. Keep it quick; a panic in it aborts that
    /// request's connection.
    pub fn on_request(mut self, callback: impl Fn(&LoggedRequest) + Send + Sync + 'static) -> Self {
        self.on_request = Some(Arc::new(callback));
        self
    }

    /// A function called for every request on the API and app hosts once its answer's status
    /// is decided, with that status (e.g. `429` from the rate limits, or a scripted fault's).
    /// A request held by a `hang` fault is reported when the fake shuts down; one whose
    /// client went away before its answer was decided is not reported. Runs on the fake's own
    /// thread; keep it quick.
    pub fn on_response(
        mut self,
        callback: impl Fn(&LoggedRequest, u16) + Send + Sync + 'static,
    ) -> Self {
        self.on_response = Some(Arc::new(callback));
        self
    }

    /// Enforces rate limits as Cronofy does, per application: a request is answered `429`
    /// with an empty body (and no `Retry-After`) when, for any limit `(n, w)`, `n` requests of
    /// its application were already admitted in the last `w` (the window `(t - w, t]`: a
    /// sliding log, the strictest reading of "50 per second and 500 per minute"). Refused
    /// requests are not admitted and do not count against later ones.
    ///
    /// Covered: every API-host request and the token endpoints on the app host (what
    /// [`Route::Any`](crate::Route::Any) covers), before any scripted fault. A request counts
    /// for the application its bearer token was granted to; a token-endpoint request without
    /// one for the known application its body's `client_id` names; anything else (no token, an
    /// unknown one) for the seeded application. Empty (the default): no limits.
    ///
    /// ```
    /// use permissions_fake::{FakeConfig, RateLimit, parse_rate_limits};
    ///
    /// let cronofy = FakeConfig::default().rate_limits(RateLimit::cronofy_defaults());
    /// let small = FakeConfig::default().rate_limits(parse_rate_limits("40/s,1200/min").unwrap());
    /// # let _ = (cronofy, small);
    /// ```
    pub fn rate_limits(mut self, limits: impl IntoIterator<Item = RateLimit>) -> Self {
        self.rate_limits = limits.into_iter().collect();
        self
    }

    /// How many requests [`FakeCronofy::requests`](crate::FakeCronofy::requests) keeps (the
    /// newest; default 10,000). `0` turns the log off, which saves a copy of every request in
    /// benchmarks.
    pub fn request_log_capacity(mut self, capacity: usize) -> Self {
        self.request_log_capacity = capacity;
        self
    }
}

impl fmt::Debug for FakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeConfig")
            .field("api_port", &self.api_port)
            .field("app_port", &self.app_port)
            .field("admin", &self.admin)
            .field("admin_port", &self.admin_port)
            .field(
                "on_request",
                &self.on_request.as_ref().map(|_| "<callback>"),
            )
            .field(
                "on_response",
                &self.on_response.as_ref().map(|_| "<callback>"),
            )
            .field("request_log_capacity", &self.request_log_capacity)
            .field("rate_limits", &self.rate_limits)
            .finish()
    }
}
