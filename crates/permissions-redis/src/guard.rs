//! What both pacers share: the key and arguments, the local fallback, and the small circuit
//! breaker that chooses between Redis and the fallback.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use permissions_core::PacingConfig;
use permissions_core::transport::{Feedback, LocalPacer, Pacer};

use crate::script::{Decision, Failure, Mode, Reply};
use crate::{PacerStatus, Settings};

/// Where the next decision goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// To Redis (`probe`: Redis was away, and this decision tries it again).
    Redis { probe: bool },
    /// To the local fallback.
    Local,
}

#[derive(Clone, Copy, Debug)]
enum Breaker {
    /// Decisions go to Redis.
    Closed,
    /// Redis was away: decisions are local until `next_probe`.
    Open { next_probe: Instant },
}

/// The parts of a pacer that do no I/O.
#[derive(Debug)]
pub(crate) struct Guard {
    pub(crate) decision: Decision,
    pub(crate) config: PacingConfig,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    probe_interval: Duration,
    fleet_size: u32,
    /// Where Redis is, for logs (never a password).
    pub(crate) address: String,
    local: LocalPacer,
    breaker: Mutex<Breaker>,
    /// The last reply (or a 429 seen here) said a penalty has grown: a success must reset it.
    penalty_active: AtomicBool,
    fallbacks: AtomicU64,
    recoveries: AtomicU64,
}

impl Guard {
    pub(crate) fn new(settings: &Settings, key: String, address: String) -> Self {
        Self {
            decision: Decision::new(key, &settings.config),
            config: settings.config.clone(),
            timeout: settings.timeout,
            connect_timeout: settings.connect_timeout,
            probe_interval: settings.probe_interval,
            fleet_size: settings.fleet_size,
            address,
            local: LocalPacer::new(settings.config.divided(settings.fleet_size)),
            breaker: Mutex::new(Breaker::Closed),
            penalty_active: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
        }
    }

    /// Where the next decision goes. While Redis is away, the first decision after each probe
    /// interval tries it again (only that one: the others stay local meanwhile).
    pub(crate) fn route(&self, now: Instant) -> Route {
        let mut breaker = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        match *breaker {
            Breaker::Closed => Route::Redis { probe: false },
            Breaker::Open { next_probe } if now >= next_probe => {
                *breaker = Breaker::Open {
                    next_probe: now + self.probe_interval,
                };
                Route::Redis { probe: true }
            }
            Breaker::Open { .. } => Route::Local,
        }
    }

    /// Redis decided: a probe that succeeds closes the breaker (said once, at info).
    pub(crate) fn answered(&self, probe: bool, reply: &Reply) {
        self.penalty_active
            .store(reply.penalty_active, Ordering::Relaxed);
        if !probe {
            return;
        }
        let mut breaker = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*breaker, Breaker::Open { .. }) {
            *breaker = Breaker::Closed;
            drop(breaker);
            self.recoveries.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                redis = %self.address,
                key = %self.decision.key(),
                "Redis answers again: pacing is shared by the fleet again"
            );
        }
    }

    /// Redis did not decide: open the breaker (said once per outage, as a warning). The
    /// decision that failed is made locally by the caller.
    pub(crate) fn failed(&self, now: Instant, failure: &Failure) {
        let mut breaker = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*breaker, Breaker::Closed) {
            *breaker = Breaker::Open {
                next_probe: now + self.probe_interval,
            };
            drop(breaker);
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                redis = %self.address,
                key = %self.decision.key(),
                error = %failure,
                fleet_size = self.fleet_size,
                local_limits = %self.local.config(),
                probe_interval = ?self.probe_interval,
                "Redis is away: pacing locally at the limits divided by the fleet size until it answers"
            );
        }
    }

    /// The script mode that reports `feedback`, or `None` when Redis need not hear of it: a
    /// success while no penalty has grown (the last reply said so, and no 429 was seen here
    /// since) costs no round trip; it only resets the local fallback's penalty.
    pub(crate) fn mode_for(&self, feedback: Feedback, now: Instant) -> Option<Mode> {
        match feedback {
            Feedback::Throttled => {
                self.penalty_active.store(true, Ordering::Relaxed);
                Some(Mode::Throttled)
            }
            Feedback::Answered if self.penalty_active.load(Ordering::Relaxed) => {
                Some(Mode::Answered)
            }
            Feedback::Answered => {
                self.local_report(feedback, now);
                None
            }
            // Feedback this crate does not know yet: nothing to do.
            _ => None,
        }
    }

    /// The local fallback's decision.
    pub(crate) fn local_reserve(&self, now: Instant) -> Duration {
        Pacer::reserve(&self.local, now)
    }

    /// The local fallback takes the feedback.
    pub(crate) fn local_report(&self, feedback: Feedback, now: Instant) {
        Pacer::report(&self.local, feedback, now);
    }

    pub(crate) fn is_shared(&self) -> bool {
        matches!(
            *self.breaker.lock().unwrap_or_else(PoisonError::into_inner),
            Breaker::Closed
        )
    }

    pub(crate) fn status(&self) -> PacerStatus {
        PacerStatus {
            shared: self.is_shared(),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            recoveries: self.recoveries.load(Ordering::Relaxed),
        }
    }
}
