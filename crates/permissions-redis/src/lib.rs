//! Cronofy's rate limits shared by every process of an application on one Redis: the pacing
//! of `permissions-core`, decided by one atomic Lua script per request, with a local fallback
//! when Redis is away.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use permissions_core::PacingConfig;
//! use permissions_core::transport::{Feedback, Pacer};
//! use permissions_redis::RedisPacer;
//! # mod doc_redis {
//! #     // Starts a private redis-server on a unix socket when one is installed.
//! #     pub struct Server(std::process::Child, std::path::PathBuf);
//! #     impl Drop for Server {
//! #         fn drop(&mut self) {
//! #             let _ = self.0.kill();
//! #             let _ = self.0.wait();
//! #             let _ = std::fs::remove_dir_all(&self.1);
//! #         }
//! #     }
//! #     pub fn start() -> Option<(Server, String)> {
//! #         let dir = std::env::temp_dir().join(format!("permissions-redis-doc-{}", std::process::id()));
//! #         std::fs::create_dir_all(&dir).ok()?;
//! #         let socket = dir.join("redis.sock");
//! #         let child = std::process::Command::new("redis-server")
//! #             .args(["--port", "0", "--save", "", "--appendonly", "no", "--unixsocket"])
//! #             .arg(&socket)
//! #             .stdout(std::process::Stdio::null())
//! #             .spawn();
//! #         let Ok(child) = child else {
//! #             eprintln!("redis-server is not installed: the example is not run");
//! #             return None;
//! #         };
//! #         let server = Server(child, dir);
//! #         for _ in 0..200 {
//! #             if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
//! #                 return Some((server, format!("redis+unix://{}", socket.display())));
//! #             }
//! #             std::thread::sleep(std::time::Duration::from_millis(25));
//! #         }
//! #         panic!("redis-server did not start");
//! #     }
//! # }
//! # let Some((_redis, url)) = doc_redis::start() else { return Ok(()) };
//!
//! // Every process of the application builds the same pacer: same Redis, same client id.
//! let config = PacingConfig::parse("10/s,500/min").unwrap().unwrap();
//! let web = RedisPacer::new(&url, config.clone(), "my-client-id", 4)?;
//! let worker = RedisPacer::new(&url, config, "my-client-id", 4)?;
//!
//! // Each asks for a slot before each request, and sleeps the wait it is given.
//! assert_eq!(web.reserve(Instant::now()), Duration::ZERO);
//! let wait = worker.reserve(Instant::now()); // 10/s across both: about 100 ms
//! assert!(wait > Duration::ZERO && wait < Duration::from_millis(110), "{wait:?}");
//!
//! // A 429 seen by one makes every process back off (1 s at first): a caller already
//! // waiting for its slot too (the engine asks `hold` when the slot comes due).
//! worker.report(Feedback::Throttled, Instant::now());
//! assert!(web.hold(Instant::now()) > Duration::from_millis(500));
//! assert!(web.reserve(Instant::now()) > Duration::from_millis(500));
//! assert!(web.is_shared() && worker.is_shared());
//! # Ok::<(), permissions_redis::RedisPacerError>(())
//! ```
//!
//! # Why
//!
//! Cronofy limits each *application* (all its users and all its servers together) to 50
//! requests per second and 500 per minute by default, and answers 429 beyond them. The clients
//! of `permissions-ureq` and `permissions-reqwest` pace themselves in process by default
//! (`permissions-core`'s `LocalPacer`), which holds the budget for one process only. A service
//! with several replicas, or with a batch job beside it, draws on one budget from several
//! processes: they must share the pacing state. This crate keeps it on the Redis they already
//! run. Give a pacer to the client builder:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use permissions_core::PacingConfig;
//! # use permissions_redis::{AsyncRedisPacer, RedisPacer};
//! # fn main() -> Result<(), permissions_redis::RedisPacerError> {
//! // Blocking (permissions-ureq): `ClientBuilder::pacer` takes an `Arc<dyn Pacer>`.
//! let pacer = Arc::new(RedisPacer::new("redis://redis:6379", PacingConfig::cronofy_default(), "my-client-id", 4)?);
//! // Async (permissions-reqwest): it takes an `Arc<dyn AsyncPacer>`.
//! let pacer = Arc::new(AsyncRedisPacer::new("redis://redis:6379", PacingConfig::cronofy_default(), "my-client-id", 4)?);
//! # Ok(()) }
//! ```
//!
//! # How
//!
//! One hash per application, `{cronofy-pacing:CLIENT_ID}` (the braces are a hash tag, so the
//! key has one slot on Redis Cluster; the client id is not a secret, and no secret is ever
//! written). It holds the whole `PacerState` of `permissions-core`: each window's theoretical
//! arrival time, the 429 block and the penalty, in microseconds on *Redis's* clock (`TIME`,
//! seconds and microseconds), so the application servers' clocks do not matter.
//!
//! Each decision is one Lua script (sent by hash, loaded again when Redis answers `NOSCRIPT`,
//! after a restart or a failover) doing exactly `PacerState`'s arithmetic over every window at
//! once, in integers: it reserves the slot, as if the request were admitted then, and returns
//! the wait in microseconds. A 429 (`Feedback::Throttled`) drains every window and blocks every
//! process for a penalty that doubles while 429s continue (1 s to 60 s by default); the next
//! success resets the penalty, and costs a round trip only when a penalty has grown. The key
//! expires when its state would equal a fresh one, so idle applications leave nothing behind,
//! and nothing is lost by expiry.
//!
//! A 429 can come after a caller reserved its slot and while it waits for it. So when a slot
//! it waited for comes due, the engine asks the pacer's `hold`: one more run of the same
//! script, `PacerState::hold`. When nothing holds it is a read (it writes nothing) and the
//! caller sends. When a 429 since, seen by any process of the fleet, blocks everyone, the slot
//! is given up and a new one reserved after the block at the steady rate, and the caller waits
//! for that: the callers it held do not all wake together when the block ends. (A call that
//! did not wait for its slot asks no `hold`: no round trip.)
//!
//! **Every process must use the same limits** for the same key (use another
//! [key prefix](RedisPacerBuilder::key_prefix) for other limits).
//!
//! # When Redis is away
//!
//! A decision takes about 0.1 ms on a local Redis. Each has a time-out (50 ms by default;
//! [`RedisPacerBuilder::timeout`]). When Redis does not answer in time, errs or is down, the
//! decision is made locally, at the limits divided by the fleet size
//! (`PacingConfig::divided`), one warning is logged through `tracing`, and every later
//! decision stays local until a probe (one decision every
//! [probe interval](RedisPacerBuilder::probe_interval), 5 s by default) finds Redis again;
//! then one info message says pacing is shared again. While decisions are local, `hold` is
//! the local fallback's (it knows the 429s seen in this process while Redis was away), as is
//! a `hold` whose Redis call fails. No call fails because of Redis, and no call goes unpaced: failing open would let
//! the fleet storm Cronofy with 429s, failing closed would stop all traffic on a blip. A call
//! that timed out is never retried on Redis (it may have committed). [`RedisPacer::is_shared`]
//! and [`RedisPacer::status`] tell which way decisions go.

/// What both pacers offer on top of their decisions: the status, the key, the limits and a
/// `Debug` that shows no URL (it may hold a password). Written once for both.
macro_rules! shared_pacer {
    ($pacer:ident) => {
        impl std::fmt::Debug for $pacer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($pacer))
                    .field("redis", &self.guard.address)
                    .field("key", &self.guard.decision.key())
                    .field("limits", &self.guard.config.to_string())
                    .field("status", &self.guard.status())
                    .finish_non_exhaustive()
            }
        }

        impl $pacer {
            /// Whether decisions are made on Redis (shared by the fleet) rather than locally:
            /// true until a decision finds Redis away, then false until a probe finds it back.
            pub fn is_shared(&self) -> bool {
                self.guard.is_shared()
            }

            /// Whether decisions are shared, and how often Redis went away and came back.
            pub fn status(&self) -> $crate::PacerStatus {
                self.guard.status()
            }

            /// The application's key on Redis, `{PREFIX:APP_KEY}` (braces: one hash tag, one
            /// Redis Cluster slot).
            pub fn key(&self) -> &str {
                self.guard.decision.key()
            }

            /// The limits it enforces together with the fleet (the fallback enforces them
            /// divided by the fleet size).
            pub fn config(&self) -> &permissions_core::PacingConfig {
                &self.guard.config
            }
        }
    };
}
pub(crate) use shared_pacer;

mod blocking;
mod guard;
#[cfg(feature = "tokio")]
mod nonblocking;
mod script;
#[cfg(test)]
mod test_server;
#[cfg(all(test, feature = "tokio"))]
mod tests;

use std::fmt;
use std::time::Duration;

use permissions_core::PacingConfig;

pub use blocking::RedisPacer;
#[cfg(feature = "tokio")]
pub use nonblocking::AsyncRedisPacer;

/// The key prefix unless [`RedisPacerBuilder::key_prefix`] says otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "cronofy-pacing";

/// The time-out of one decision unless [`RedisPacerBuilder::timeout`] says otherwise: 50 ms,
/// hundreds of times what a decision takes on a nearby Redis.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

/// The time-out for opening a connection unless [`RedisPacerBuilder::connect_timeout`] says
/// otherwise: 250 ms (enough for a TLS handshake to a Redis in the same region).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

/// How long decisions stay local after Redis went away before one tries it again, unless
/// [`RedisPacerBuilder::probe_interval`] says otherwise: 5 s.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// The longest application key or key prefix, in bytes.
pub const MAX_KEY_PART_LEN: usize = 200;

/// Why a pacer could not be built. The URL is never shown: it may hold a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisPacerError {
    /// The URL's scheme is not one of `redis`, `rediss`, `redis+unix` and `unix`.
    #[error(
        "unsupported Redis URL scheme `{scheme}` (use redis://, rediss://, redis+unix:// or unix://)"
    )]
    UnsupportedScheme {
        /// The scheme given (empty when the URL has none).
        scheme: String,
    },
    /// A `rediss://` URL, but the crate was built without its `tls` feature.
    #[error("a rediss:// URL needs permissions-redis's `tls` feature")]
    TlsNotEnabled,
    /// The URL could not be read (it is not shown: it may hold a password).
    #[error("the Redis URL could not be read (not shown: it may hold a password)")]
    InvalidUrl,
    /// The application key or the key prefix is empty, too long, or holds a character other
    /// than printable ASCII (braces and spaces excluded).
    #[error(
        "the {what} must be 1 to {MAX_KEY_PART_LEN} printable ASCII characters without braces or spaces"
    )]
    InvalidKey {
        /// `application key` or `key prefix`.
        what: &'static str,
    },
    /// A time-out of zero.
    #[error("the {what} must be longer than zero")]
    ZeroTimeout {
        /// `decision time-out` or `connect time-out`.
        what: &'static str,
    },
}

/// Which way decisions go, and how often Redis went away and came back.
///
/// ```
/// use permissions_core::PacingConfig;
/// use permissions_redis::RedisPacer;
///
/// let pacer = RedisPacer::new("redis://127.0.0.1", PacingConfig::cronofy_default(), "id", 2)?;
/// let status = pacer.status();
/// assert!(status.shared);
/// assert_eq!((status.fallbacks, status.recoveries), (0, 0));
/// # Ok::<(), permissions_redis::RedisPacerError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PacerStatus {
    /// Decisions are made on Redis, shared by the fleet (false: locally, at the limits
    /// divided by the fleet size, until a probe finds Redis again).
    pub shared: bool,
    /// How many times Redis went away (each logged one warning).
    pub fallbacks: u64,
    /// How many times a probe found Redis back (each logged one info message).
    pub recoveries: u64,
}

/// The settings of a [`RedisPacer`] or an [`AsyncRedisPacer`].
#[derive(Clone)]
pub(crate) struct Settings {
    url: String,
    app_key: String,
    key_prefix: String,
    pub(crate) config: PacingConfig,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) probe_interval: Duration,
    pub(crate) fleet_size: u32,
}

impl Settings {
    /// Checks the settings; returns the client, the key and the address to name in logs.
    fn open(&self) -> Result<(redis::Client, String, String), RedisPacerError> {
        for (what, part) in [
            ("application key", &self.app_key),
            ("key prefix", &self.key_prefix),
        ] {
            let valid = !part.is_empty()
                && part.len() <= MAX_KEY_PART_LEN
                && part
                    .bytes()
                    .all(|byte| byte.is_ascii_graphic() && byte != b'{' && byte != b'}');
            if !valid {
                return Err(RedisPacerError::InvalidKey { what });
            }
        }
        if self.timeout.is_zero() {
            return Err(RedisPacerError::ZeroTimeout {
                what: "decision time-out",
            });
        }
        if self.connect_timeout.is_zero() {
            return Err(RedisPacerError::ZeroTimeout {
                what: "connect time-out",
            });
        }
        let scheme = match self.url.split_once("://") {
            Some((scheme, _)) => scheme.to_ascii_lowercase(),
            None => String::new(),
        };
        match scheme.as_str() {
            "redis" | "redis+unix" | "unix" => {}
            "rediss" if cfg!(feature = "tls") => {}
            "rediss" => return Err(RedisPacerError::TlsNotEnabled),
            _ => {
                // Only a short, plain scheme is shown back (anything else may be a secret).
                let plain = scheme.len() <= 16
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
                return Err(RedisPacerError::UnsupportedScheme {
                    scheme: if plain { scheme } else { String::new() },
                });
            }
        }
        let client =
            redis::Client::open(self.url.as_str()).map_err(|_| RedisPacerError::InvalidUrl)?;
        let address = client.get_connection_info().addr().to_string();
        let key = format!("{{{}:{}}}", self.key_prefix, self.app_key);
        Ok((client, key, address))
    }
}

/// Builds a [`RedisPacer`] ([`build`](Self::build)) or an [`AsyncRedisPacer`]
/// ([`build_async`](Self::build_async)). Its `Debug` never shows the URL (it may hold a
/// password).
///
/// ```
/// use std::time::Duration;
/// use permissions_core::PacingConfig;
/// use permissions_redis::{RedisPacerBuilder, RedisPacerError};
///
/// let builder = RedisPacerBuilder::new("redis://:hunter2@redis:6379", PacingConfig::cronofy_default(), "my-client-id")
///     .fleet_size(6);
/// assert!(!format!("{builder:?}").contains("hunter2"));
/// let pacer = builder.build()?;
/// assert_eq!(pacer.key(), "{cronofy-pacing:my-client-id}");
///
/// let error = RedisPacerBuilder::new("redis://redis", PacingConfig::cronofy_default(), "a{b}")
///     .build()
///     .unwrap_err();
/// assert_eq!(error, RedisPacerError::InvalidKey { what: "application key" });
/// # Ok::<(), RedisPacerError>(())
/// ```
#[derive(Clone)]
pub struct RedisPacerBuilder {
    settings: Settings,
}

impl fmt::Debug for RedisPacerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Settings {
            url: _,
            app_key,
            key_prefix,
            config,
            timeout,
            connect_timeout,
            probe_interval,
            fleet_size,
        } = &self.settings;
        f.debug_struct("RedisPacerBuilder")
            .field("url", &"<not shown>")
            .field("app_key", app_key)
            .field("key_prefix", key_prefix)
            .field("config", &config.to_string())
            .field("timeout", timeout)
            .field("connect_timeout", connect_timeout)
            .field("probe_interval", probe_interval)
            .field("fleet_size", fleet_size)
            .finish()
    }
}

impl RedisPacerBuilder {
    /// Starts from the Redis URL (`redis://`, `rediss://` with the `tls` feature,
    /// `redis+unix://`, `unix://`; a password in it is never shown), the limits, and the
    /// application key (its client id: never a secret). Defaults: key prefix
    /// [`DEFAULT_KEY_PREFIX`], time-outs [`DEFAULT_TIMEOUT`] and [`DEFAULT_CONNECT_TIMEOUT`],
    /// probe interval [`DEFAULT_PROBE_INTERVAL`], fleet size 1 (set it: see
    /// [`fleet_size`](Self::fleet_size)). Checked by [`build`](Self::build).
    pub fn new(redis_url: &str, config: PacingConfig, app_key: &str) -> Self {
        Self {
            settings: Settings {
                url: redis_url.to_owned(),
                app_key: app_key.to_owned(),
                key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
                config,
                timeout: DEFAULT_TIMEOUT,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                probe_interval: DEFAULT_PROBE_INTERVAL,
                fleet_size: 1,
            },
        }
    }

    /// The key is `{PREFIX:APP_KEY}`: another prefix separates environments or limits that
    /// share one Redis. 1 to [`MAX_KEY_PART_LEN`] printable ASCII characters, no braces.
    pub fn key_prefix(mut self, prefix: &str) -> Self {
        self.settings.key_prefix = prefix.to_owned();
        self
    }

    /// How long one decision may take on Redis before it is made locally instead (and the
    /// breaker opens). Each round trip is bounded by it; tens of milliseconds suit a Redis in
    /// the same region. Must be more than zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// How long opening a connection may take (at the first decision, and at each probe).
    /// Must be more than zero.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// How many processes share the limits: while Redis is away each paces alone at the
    /// limits divided by this (`PacingConfig::divided`), so that the fleet together stays
    /// within them. Count every replica, worker and batch job of the application; 0 counts
    /// as 1.
    pub fn fleet_size(mut self, fleet_size: u32) -> Self {
        self.settings.fleet_size = fleet_size.max(1);
        self
    }

    /// How long decisions stay local after Redis went away before one tries Redis again.
    /// Zero tries Redis at every decision while it is away. An interval past what the clock
    /// can count (such as `Duration::MAX`) means never: once Redis is away, this pacer decides
    /// locally for good.
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.settings.probe_interval = interval;
        self
    }

    /// The blocking pacer, for `permissions-ureq`. Connects at its first decision.
    pub fn build(self) -> Result<RedisPacer, RedisPacerError> {
        RedisPacer::from_settings(self.settings)
    }

    /// The async pacer, for `permissions-reqwest` (tokio). Connects at its first decision.
    #[cfg(feature = "tokio")]
    pub fn build_async(self) -> Result<AsyncRedisPacer, RedisPacerError> {
        AsyncRedisPacer::from_settings(self.settings)
    }
}
