//! The async pacer, for `permissions-reqwest`.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use permissions_core::PacingConfig;
use permissions_core::transport::{AsyncPacer, Feedback};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;

use crate::guard::{Guard, Route};
use crate::script::{Failure, Mode, Reply};
use crate::{RedisPacerBuilder, RedisPacerError, Settings};

/// Paces every process of a fleet on one Redis: an [`AsyncPacer`] for `permissions-reqwest`'s
/// client (`ClientBuilder::pacer(Arc::new(pacer))`), on tokio.
///
/// The same decisions as [`RedisPacer`](crate::RedisPacer), over one multiplexed connection
/// shared by every task (redis-rs pipelines their scripts). Each decision is bounded by the
/// time-out (and the connect time-out when it must connect first); past it, or on any error,
/// the decision is local and the breaker opens, as for the blocking pacer. A decision dropped
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
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.guard.connect_timeout))
            .set_response_timeout(Some(self.guard.timeout));
        let connection = tokio::time::timeout(
            self.guard.connect_timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| Failure::TimedOut)??;
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

    /// [`AsyncPacer::reserve`], with the slot's time on Redis's clock when Redis decided.
    pub(crate) async fn reserve_slot(&self, now: Instant) -> (Duration, Option<u64>) {
        match self.guard.route(now) {
            Route::Local => (self.guard.local_reserve(now), None),
            Route::Redis { probe } => match self.eval(Mode::Reserve, None).await {
                Ok(reply) => {
                    self.guard.answered(probe, &reply);
                    (
                        Duration::from_micros(reply.wait_us),
                        Some(reply.now_us + reply.wait_us),
                    )
                }
                Err(failure) => {
                    self.forget_connection();
                    self.guard.failed(now, &failure);
                    (self.guard.local_reserve(now), None)
                }
            },
        }
    }
}

#[async_trait::async_trait]
impl AsyncPacer for AsyncRedisPacer {
    async fn reserve(&self, now: Instant) -> Duration {
        self.reserve_slot(now).await.0
    }

    async fn report(&self, feedback: Feedback, now: Instant) {
        let Some(mode) = self.guard.mode_for(feedback, now) else {
            return;
        };
        match self.guard.route(now) {
            Route::Local => self.guard.local_report(feedback, now),
            Route::Redis { probe } => match self.eval(mode, None).await {
                Ok(reply) => self.guard.answered(probe, &reply),
                Err(failure) => {
                    self.forget_connection();
                    self.guard.failed(now, &failure);
                    self.guard.local_report(feedback, now);
                }
            },
        }
    }
}
