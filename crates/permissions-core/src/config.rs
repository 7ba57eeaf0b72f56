//! One client configuration for every transport: hosts, time-outs, the response cap, the retry
//! policy, pacing and the user agent, defined and validated once.
//!
//! A transport crate names its own [`Client`](Backend::Client) type and gets its builder from
//! here: `permissions_ureq::Client::builder()` and `permissions_reqwest::Client::builder()` are
//! both a [`ClientBuilder`], with the same setters, the same defaults and the same validation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::data_center::{BaseUrl, DataCenter, Hosts, PermissionsUrlPolicy};
use crate::endpoint::{RequestContext, USER_AGENT};
use crate::error::{BuildError, CallError};
use crate::pacing::{LocalPacer, PacingConfig};
use crate::retry::RetryPolicy;

/// The time allowed to open a connection, TLS included, unless configured otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The time allowed for one whole attempt, body included, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body accepted, in bytes, unless configured otherwise (1 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1_048_576;

/// What a transport crate plugs into the shared [`ClientBuilder`]: its transport slot, its
/// pacer type and how to build its client from a validated [`ClientConfig`].
pub trait Backend: Sized {
    /// What [`ClientBuilder::transport`] stores: the crate's own transport, or a custom one.
    type Transport;
    /// The pacer the crate's client waits on: a blocking or an async one.
    type Pacer: ?Sized + fmt::Debug;
    /// The client [`ClientBuilder::build`] makes.
    type Client;
    /// Names the crate in the default `User-Agent`, e.g. `permissions-ureq/0.2.0`.
    const USER_AGENT_PREFIX: &'static str;

    /// The in-process pacer, as this backend's pacer type.
    fn local_pacer(pacer: LocalPacer) -> Arc<Self::Pacer>;

    /// The built-in transport for `config` (its time-outs and cap), when the builder was given
    /// none.
    fn builtin_transport(config: &ClientConfig) -> Result<Self::Transport, CallError>;

    /// The client over these parts.
    fn client(parts: ClientParts<Self::Transport, Self::Pacer>) -> Self::Client;
}

/// A validated client configuration: what [`ClientBuilder::build`] hands to the transport
/// crate. Every value is one the transports can use as it is.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    hosts: Hosts,
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    retry_policy: RetryPolicy,
    user_agent: String,
    permissions_urls: PermissionsUrlPolicy,
}

impl ClientConfig {
    /// A configuration for `hosts` with every other setting at its default (the core's own
    /// `User-Agent`): for driving a [`Call`](crate::transport::Call) by hand.
    pub fn new(hosts: Hosts) -> Self {
        Self {
            hosts,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry_policy: RetryPolicy::default(),
            user_agent: USER_AGENT.to_owned(),
            permissions_urls: PermissionsUrlPolicy::default(),
        }
    }

    /// The same configuration with another [`PermissionsUrlPolicy`].
    pub fn with_permissions_url_policy(mut self, policy: PermissionsUrlPolicy) -> Self {
        self.permissions_urls = policy;
        self
    }

    /// Which URLs a permissions answer may send the user to.
    pub fn permissions_url_policy(&self) -> PermissionsUrlPolicy {
        self.permissions_urls
    }

    /// The context every request of this configuration is built and read with: the hosts,
    /// the permissions URL policy and the `User-Agent` (no access token).
    pub fn request_context(&self) -> RequestContext<'_> {
        RequestContext::for_hosts(&self.hosts)
            .with_permissions_urls(self.permissions_urls)
            .with_user_agent(&self.user_agent)
    }

    /// The API and app hosts.
    pub fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    /// Time allowed to open a connection, TLS included.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Time allowed for one whole attempt, body included; also the longest wait for a pacing
    /// slot.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The largest response body accepted, in bytes.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// When and how long to retry.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry_policy
    }

    /// The `User-Agent` sent on every request (already checked to be a valid header value).
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }
}

/// What a transport crate's client holds, shared by its clones: the configuration, the
/// transport and the pacer.
#[derive(Debug)]
pub struct ClientParts<T, P: ?Sized> {
    /// The validated configuration.
    pub config: ClientConfig,
    /// The transport requests go through.
    pub transport: T,
    /// The pacer every request waits on; `None` when pacing is off.
    pub pacer: Option<Arc<P>>,
}

impl<T, P: ?Sized> ClientParts<T, P> {
    /// Starts a call of `endpoint` with this client's configuration, paced when the client
    /// has a pacer.
    pub fn start<'a, E: crate::endpoint::Endpoint + ?Sized>(
        &'a self,
        endpoint: &'a E,
        token: Option<&crate::secret::AccessToken>,
    ) -> crate::engine::Call<'a, E> {
        crate::engine::Call::new(endpoint, &self.config, token).with_pacing(self.pacer.is_some())
    }
}

/// Pacing as configured on a builder.
enum PacingChoice<P: ?Sized> {
    Local(PacingConfig),
    Off,
    Shared(Arc<P>),
}

/// Configures a client of any transport crate. Every setting has a default; `build` validates
/// them all at once and makes the client.
///
/// | setting | default |
/// | --- | --- |
/// | [`data_center`](Self::data_center) / [`hosts`](Self::hosts) / [`base_urls`](Self::base_urls) | `DataCenter::Us` |
/// | [`connect_timeout`](Self::connect_timeout) | 10 s |
/// | [`timeout`](Self::timeout) (one whole attempt, body included) | 30 s |
/// | [`max_response_bytes`](Self::max_response_bytes) | 1 MiB |
/// | [`retry_policy`](Self::retry_policy) | [`RetryPolicy::default`]: 3 attempts, 250 ms base, 30 s cap |
/// | [`pacing`](Self::pacing) | Cronofy's documented limits, 50/s and 500/min, in this process |
/// | [`user_agent`](Self::user_agent) | `permissions-<transport>/x.y.z permissions-core/x.y.z` |
/// | [`permissions_url_policy`](Self::permissions_url_policy) | [`PermissionsUrlPolicy::AppHost`]: the user is sent to the app host only |
///
/// Transport crates name it: `permissions_ureq::Client::builder()` returns a
/// `ClientBuilder<permissions_ureq::Ureq>`.
#[must_use]
pub struct ClientBuilder<B: Backend> {
    hosts: Result<Hosts, BuildError>,
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    retry_policy: RetryPolicy,
    user_agent: Option<String>,
    permissions_urls: PermissionsUrlPolicy,
    pacing: PacingChoice<B::Pacer>,
    transport: Option<B::Transport>,
}

impl<B: Backend> Default for ClientBuilder<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: Backend> ClientBuilder<B> {
    /// A builder with every default.
    pub fn new() -> Self {
        Self {
            hosts: Ok(DataCenter::Us.hosts()),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry_policy: RetryPolicy::default(),
            user_agent: None,
            permissions_urls: PermissionsUrlPolicy::default(),
            pacing: PacingChoice::Local(PacingConfig::cronofy_default()),
            transport: None,
        }
    }

    /// Talks to one of Cronofy's data centers. Replaces any earlier host setting.
    pub fn data_center(mut self, data_center: DataCenter) -> Self {
        self.hosts = Ok(data_center.hosts());
        self
    }

    /// Talks to custom hosts (a gateway, or a local Cronofy in tests). Replaces any earlier
    /// host setting.
    pub fn hosts(mut self, hosts: Hosts) -> Self {
        self.hosts = Ok(hosts);
        self
    }

    /// Talks to custom hosts given as text: the API base URL and the app base URL (each checked
    /// as [`BaseUrl::parse`] does; a bad one makes [`build`](Self::build) fail with
    /// [`CallError::InvalidRequest`] naming it). Replaces any earlier host setting.
    pub fn base_urls(mut self, api: &str, app: &str) -> Self {
        self.hosts = BaseUrl::parse(api)
            .map_err(|problem| BuildError::BaseUrl {
                which: "api",
                problem,
            })
            .and_then(|api| {
                BaseUrl::parse(app)
                    .map(|app| Hosts::custom(api, app))
                    .map_err(|problem| BuildError::BaseUrl {
                        which: "app",
                        problem,
                    })
            });
        self
    }

    /// Time allowed to open a connection, TLS included. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one whole attempt, from sending to the last byte of the body. Default
    /// 30 s. Each retry gets this much again; waiting for a pacing slot longer than this fails
    /// the call with [`CallError::Timeout`] instead of waiting.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body accepted, in bytes; enforced while reading. Default 1 MiB.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// When and how long to retry. Default [`RetryPolicy::default`].
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// Paces every request of this client (and of its clones) to `limits`, in this process.
    /// Default [`PacingConfig::cronofy_default`]: Cronofy's documented 50 requests per second
    /// and 500 per minute per application. `None` turns pacing off (for a server that is not
    /// Cronofy, or when something else paces).
    pub fn pacing(mut self, limits: Option<PacingConfig>) -> Self {
        self.pacing = match limits {
            Some(limits) => PacingChoice::Local(limits),
            None => PacingChoice::Off,
        };
        self
    }

    /// Paces with a pacer shared beyond this client: one [`LocalPacer`] given to several
    /// clients, or a fleet-wide one such as `permissions-redis`'s.
    pub fn pacer(mut self, pacer: Arc<B::Pacer>) -> Self {
        self.pacing = PacingChoice::Shared(pacer);
        self
    }

    /// The `User-Agent` sent on every request. One that cannot be a header value (a control
    /// character) makes [`build`](Self::build) fail.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Which URLs the answer to a permissions request may send the user to. Default
    /// [`PermissionsUrlPolicy::AppHost`]: only the app host (the data center's, or the custom
    /// app base URL), so that a compromised or spoofed API answer cannot send the user's browser
    /// elsewhere. [`PermissionsUrlPolicy::AnyHost`] is the opt-out for a deployment behind a
    /// proxy that serves the permission pages on a host of its own.
    pub fn permissions_url_policy(mut self, policy: PermissionsUrlPolicy) -> Self {
        self.permissions_urls = policy;
        self
    }

    /// Sends through `transport` instead of the built-in one: a closure, an `Arc` of a
    /// transport, a test double, or the crate's own transport over a client of yours.
    /// Time-outs and the body cap are then that transport's job ([`connect_timeout`],
    /// [`timeout`] and [`max_response_bytes`] configure only the built-in one; the last is still
    /// the limit reported when a custom transport fails with a body too large).
    ///
    /// [`connect_timeout`]: Self::connect_timeout
    /// [`timeout`]: Self::timeout
    /// [`max_response_bytes`]: Self::max_response_bytes
    pub fn transport(mut self, transport: impl Into<B::Transport>) -> Self {
        self.transport = Some(transport.into());
        self
    }

    /// Validates every setting and makes the client.
    ///
    /// # Errors
    /// [`CallError::InvalidRequest`] for a bad base URL or user agent, a zero time-out or a zero
    /// body cap; whatever the transport crate reports when its HTTP client cannot be built.
    pub fn build(self) -> Result<B::Client, CallError> {
        let hosts = self.hosts?;
        let user_agent = self
            .user_agent
            .unwrap_or_else(|| format!("{} {USER_AGENT}", B::USER_AGENT_PREFIX));
        if http::HeaderValue::from_str(&user_agent).is_err() {
            return Err(BuildError::ControlCharacter {
                field: "user_agent",
            }
            .into());
        }
        for (field, value) in [
            ("connect_timeout", self.connect_timeout),
            ("timeout", self.timeout),
        ] {
            if value.is_zero() {
                return Err(BuildError::Zero { field }.into());
            }
        }
        if self.max_response_bytes == 0 {
            return Err(BuildError::Zero {
                field: "max_response_bytes",
            }
            .into());
        }
        let pacer = match self.pacing {
            PacingChoice::Local(limits) => Some(B::local_pacer(LocalPacer::new(limits))),
            PacingChoice::Off => None,
            PacingChoice::Shared(pacer) => Some(pacer),
        };
        let config = ClientConfig {
            hosts,
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
            retry_policy: self.retry_policy,
            user_agent,
            permissions_urls: self.permissions_urls,
        };
        let transport = match self.transport {
            Some(transport) => transport,
            None => B::builtin_transport(&config)?,
        };
        Ok(B::client(ClientParts {
            config,
            transport,
            pacer,
        }))
    }
}

impl<B: Backend> fmt::Debug for ClientBuilder<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pacing: &dyn fmt::Debug = match &self.pacing {
            PacingChoice::Local(limits) => limits,
            PacingChoice::Off => &"off",
            PacingChoice::Shared(pacer) => pacer,
        };
        f.debug_struct("ClientBuilder")
            .field("hosts", &self.hosts)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry_policy", &self.retry_policy)
            .field("pacing", pacing)
            .field("user_agent", &self.user_agent)
            .field("permissions_url_policy", &self.permissions_urls)
            .field("custom_transport", &self.transport.is_some())
            .finish()
    }
}
