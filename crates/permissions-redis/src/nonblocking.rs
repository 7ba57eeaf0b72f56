//! The async pacer, for `permissions-reqwest`.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use permissions_core::PacingConfig;
use permissions_core::transport::{AsyncPacer, Feedback};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;

use crate::guard::{Ask, Guard, Outcome, Plan};
use crate::script::{Failure, Mode, Reply};
use crate::{RedisPacerBuilder, RedisPacerError, Settings};

/// Paces every process of a fleet on one Redis: an [`AsyncPacer`] for `permissions-reqwest`'s
/// client (`ClientBuilder::pacer(Arc::new(pacer))`), on tokio.
///
/// The same decisions as [`RedisPacer`](crate::RedisPacer) (`reserve`, `report` and `hold`),
/// over one multiplexed connection shared by every task (redis-rs pipelines their scripts).
/// Each decision is bounded by the time-out (and the connect time-out when it must connect
/// first); past it, or on any error, the decision is local and the breaker opens, as for the
/// blocking pacer. A decision dropped
/// while in flight leaves everything consistent: its slot on Redis may or may not be taken,
/// which errs on the safe side.
///
/// Decisions must run inside a tokio runtime with its time driver (as `permissions-reqwest`
/// does); building the pacer needs none.
pub struct AsyncRedisPacer {
    guard: Guard,
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
}

crate::shared_pacer!(AsyncRedisPacer);

impl AsyncRedisPacer {
    /// As [`RedisPacer::new`](crate::RedisPacer::new), for async clients.
    ///
    /// ```
    /// use permissions_core::PacingConfig;
    /// use permissions_redis::AsyncRedisPacer;
    ///
    /// let pacer = AsyncRedisPacer::new("redis://127.0.0.1:6379/0", PacingConfig::cronofy_default(), "my-client-id", 4)?;
    /// assert_eq!(pacer.key(), "{cronofy-pacing:my-client-id}");
    /// # Ok::<(), permissions_redis::RedisPacerError>(())
    /// ```
    pub fn new(
        redis_url: &str,
        config: PacingConfig,
        app_key: &str,
        fleet_size: u32,
    ) -> Result<Self, RedisPacerError> {
        Self::builder(redis_url, config, app_key)
            .fleet_size(fleet_size)
            .build_async()
    }

    /// A builder for the other settings; finish it with
    /// [`build_async`](RedisPacerBuilder::build_async).
    ///
    /// ```
    /// use std::time::Duration;
    /// use permissions_core::PacingConfig;
    /// use permissions_redis::AsyncRedisPacer;
    ///
    /// let pacer = AsyncRedisPacer::builder("unix:///run/redis.sock", PacingConfig::cronofy_default(), "my-client-id")
    ///     .fleet_size(3)
    ///     .timeout(Duration::from_millis(30))
    ///     .build_async()?;
    /// assert!(pacer.is_shared());
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
            connection: Mutex::new(None),
        })
    }

    /// The shared connection, opened if none is.
    async fn connection(&self) -> Result<MultiplexedConnection, Failure> {
        if let Some(connection) = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return Ok(connection.clone());
        }
        // redis-rs bounds the whole connection (connect, handshake, AUTH, SELECT) by the
        // connection time-out with tokio's timer itself: no second timer is needed here. The
        // response time-out bounds each command the connection sends.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.guard.connect_timeout))
            .set_response_timeout(Some(self.guard.timeout));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let mut shared = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Several tasks may have connected at once: keep one connection.
        Ok(shared.get_or_insert(connection).clone())
    }

    /// One decision on Redis, or why not; never retried (see
    /// [`RedisPacer`](crate::RedisPacer)).
    pub(crate) async fn eval(&self, mode: Mode, now_us: Option<u64>) -> Result<Reply, Failure> {
        let mut connection = self.connection().await?;
        let invocation = self.guard.decision.invocation(mode, now_us);
        // Not redundant with the connection's response time-out, which bounds each command: an
        // invocation may send three (EVALSHA answered NOSCRIPT, SCRIPT LOAD, EVALSHA again),
        // and this bounds the decision as a whole.
        tokio::time::timeout(
            self.guard.timeout,
            invocation.invoke_async::<Reply>(&mut connection),
        )
        .await
        .map_err(|_| Failure::TimedOut)?
        .map_err(Failure::from)
    }

    /// After a failure: the next probe connects afresh.
    fn forget_connection(&self) {
        *self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// One decision: the guard decides, with the Redis call it may need made here.
    pub(crate) async fn decide(&self, ask: Ask, now: Instant) -> Outcome {
        match self.guard.plan(ask, now) {
            Plan::Done(outcome) => outcome,
            Plan::Redis(pending) => {
                let result = self.eval(pending.mode(), None).await;
                if result.is_err() {
                    self.forget_connection();
                }
                self.guard.settle(pending, result)
            }
        }
    }
}

#[async_trait::async_trait]
impl AsyncPacer for AsyncRedisPacer {
    async fn reserve(&self, now: Instant) -> Duration {
        self.decide(Ask::Reserve, now).await.wait
    }

    async fn report(&self, feedback: Feedback, now: Instant) {
        self.decide(Ask::Report(feedback), now).await;
    }

    /// As [`RedisPacer`](crate::RedisPacer)'s: `PacerState::hold` on Redis (a read when
    /// nothing holds); the local fallback's while Redis is away, or when this call to it fails.
    async fn hold(&self, now: Instant) -> Duration {
        self.decide(Ask::Hold, now).await.wait
    }
}
