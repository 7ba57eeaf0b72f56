//! The blocking pacer, for `permissions-ureq`.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use permissions_core::PacingConfig;
use permissions_core::transport::{Feedback, Pacer};

use crate::guard::{Ask, Guard, Outcome, Plan};
use crate::script::{Failure, Mode, Reply};
use crate::{RedisPacerBuilder, RedisPacerError, Settings};

/// Connections kept open between decisions; more may be open while more threads decide at
/// once, and are closed after their decision.
const MAX_IDLE_CONNECTIONS: usize = 16;

/// Paces every process of a fleet on one Redis: a blocking [`Pacer`] for `permissions-ureq`'s
/// client (`ClientBuilder::pacer(Arc::new(pacer))`).
///
/// Each [`reserve`](Pacer::reserve) is one atomic script on the application's key, timed by
/// Redis's clock; so is each [`report`](Pacer::report) that Redis must hear of, and each
/// [`hold`](Pacer::hold) (the engine asks it when a slot waited for comes due, so that a 429
/// seen by any process since holds this caller off too). When Redis does not answer within the
/// time-out, errs or is down, the decision is made locally at the limits divided by the fleet
/// size (`hold` included), one warning is logged through `tracing`, and Redis is tried again
/// after the probe interval. No decision fails, and none is unpaced. See the
/// [crate docs](crate).
///
/// Decisions use a small pool of blocking connections (one per thread deciding at once). A
/// decision that must open a connection waits at most the connect time-out for it, then at
/// most the decision time-out per round trip.
pub struct RedisPacer {
    guard: Guard,
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
}

crate::shared_pacer!(RedisPacer);

impl RedisPacer {
    /// A pacer on the Redis at `redis_url` (`redis://`, `rediss://` with the `tls` feature,
    /// `redis+unix://` or `unix://`) enforcing `config` for the application `app_key` (its
    /// client id: never a secret), falling back to `config` divided by `fleet_size` when Redis
    /// is away. Other settings take their defaults ([`RedisPacerBuilder`]). Nothing is
    /// connected yet: the first decision connects.
    ///
    /// ```
    /// use permissions_core::PacingConfig;
    /// use permissions_redis::{RedisPacer, RedisPacerError};
    ///
    /// let pacer = RedisPacer::new("redis://127.0.0.1:6379", PacingConfig::cronofy_default(), "my-client-id", 4)?;
    /// assert_eq!(pacer.key(), "{cronofy-pacing:my-client-id}");
    /// assert!(pacer.is_shared()); // until a decision finds Redis away
    ///
    /// let error = RedisPacer::new("http://example.com", PacingConfig::cronofy_default(), "id", 4).unwrap_err();
    /// assert!(matches!(error, RedisPacerError::UnsupportedScheme { .. }));
    /// # Ok::<(), RedisPacerError>(())
    /// ```
    pub fn new(
        redis_url: &str,
        config: PacingConfig,
        app_key: &str,
        fleet_size: u32,
    ) -> Result<Self, RedisPacerError> {
        Self::builder(redis_url, config, app_key)
            .fleet_size(fleet_size)
            .build()
    }

    /// A builder for the other settings: key prefix, time-outs, fleet size, probe interval.
    ///
    /// ```
    /// use std::time::Duration;
    /// use permissions_core::PacingConfig;
    /// use permissions_redis::RedisPacer;
    ///
    /// let pacer = RedisPacer::builder("redis+unix:///run/redis.sock", PacingConfig::cronofy_default(), "my-client-id")
    ///     .key_prefix("staging-pacing")
    ///     .timeout(Duration::from_millis(20))
    ///     .fleet_size(8)
    ///     .probe_interval(Duration::from_secs(10))
    ///     .build()?;
    /// assert_eq!(pacer.key(), "{staging-pacing:my-client-id}");
    /// # Ok::<(), permissions_redis::RedisPacerError>(())
    /// ```
    pub fn builder(redis_url: &str, config: PacingConfig, app_key: &str) -> RedisPacerBuilder {
        RedisPacerBuilder::new(redis_url, config, app_key)
    }

    pub(crate) fn from_settings(settings: Settings) -> Result<Self, RedisPacerError> {
        let (client, key, address) = settings.open()?;
        Ok(Self {
            guard: Guard::new(&settings, key, address),
            client,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// One decision on Redis, or why not. Never retried: a call that timed out may have
    /// committed (only a `NOSCRIPT` answer, which ran nothing, is followed by loading the
    /// script and sending it again, inside `redis::Script`).
    pub(crate) fn eval(&self, mode: Mode, now_us: Option<u64>) -> Result<Reply, Failure> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut connection = match pooled {
            Some(connection) => connection,
            None => {
                let connection = self
                    .client
                    .get_connection_with_timeout(self.guard.connect_timeout)?;
                connection.set_read_timeout(Some(self.guard.timeout))?;
                connection.set_write_timeout(Some(self.guard.timeout))?;
                connection
            }
        };
        // On any error the connection is dropped: a late answer must never be read as the
        // answer to the next decision.
        let reply = self
            .guard
            .decision
            .invocation(mode, now_us)
            .invoke::<Reply>(&mut connection)?;
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(connection);
        }
        Ok(reply)
    }

    /// Drops every idle connection (after a failure: they may be as broken as the one that
    /// failed).
    fn forget_connections(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// One decision: the guard decides, with the Redis call it may need made here.
    pub(crate) fn decide(&self, ask: Ask, now: Instant) -> Outcome {
        match self.guard.plan(ask, now) {
            Plan::Done(outcome) => outcome,
            Plan::Redis(pending) => {
                let result = self.eval(pending.mode(), None);
                if result.is_err() {
                    self.forget_connections();
                }
                self.guard.settle(pending, result)
            }
        }
    }
}

impl Pacer for RedisPacer {
    fn reserve(&self, now: Instant) -> Duration {
        self.decide(Ask::Reserve, now).wait
    }

    fn report(&self, feedback: Feedback, now: Instant) {
        self.decide(Ask::Report(feedback), now);
    }

    /// `PacerState::hold` on Redis: zero, and nothing written, unless a 429 seen by any
    /// process of the fleet since the slot was reserved blocks everyone; then the slot is given
    /// up and the wait for a new one, after the block at the steady rate, is returned. The local
    /// fallback's hold while Redis is away, or when this call to it fails.
    fn hold(&self, now: Instant) -> Duration {
        self.decide(Ask::Hold, now).wait
    }
}
