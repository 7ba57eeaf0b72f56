//! What both pacers share: the key and arguments, the local fallback, the small circuit
//! breaker that chooses between Redis and the fallback, and every decision but its Redis call
//! ([`Guard::plan`], then [`Guard::settle`] with what Redis said), so that each pacer keeps
//! only its I/O.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use permissions_core::PacingConfig;
use permissions_core::transport::{Feedback, LocalPacer, Pacer};

use crate::script::{Decision, Failure, Mode, Reply};
use crate::{PacerStatus, Settings};

/// A decision a pacer is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ask {
    /// `Pacer::reserve`.
    Reserve,
    /// `Pacer::report`.
    Report(Feedback),
    /// `Pacer::hold`.
    Hold,
}

/// A decision's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// How long to wait from `now` for the reserved slot (for a hold: for the new slot past a
    /// 429 block, zero when nothing holds; zero for a report).
    pub(crate) wait: Duration,
    /// When Redis decided: the end of that wait on Redis's clock, microseconds since the Unix
    /// epoch (`None`: decided here).
    pub(crate) redis_until_us: Option<u64>,
}

impl Outcome {
    /// An answer decided here.
    fn local(wait: Duration) -> Self {
        Self {
            wait,
            redis_until_us: None,
        }
    }
}

/// What a pacer must do to answer a decision: the whole decision but the Redis call.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Nothing more: decided here (locally, or a report Redis need not hear of).
    Done(Outcome),
    /// Run [`Pending::mode`] on Redis, and give the result to [`Guard::settle`].
    Redis(Pending),
}

/// A decision waiting for its Redis call.
#[derive(Debug)]
#[must_use = "give the Redis call's result to Guard::settle"]
pub(crate) struct Pending {
    ask: Ask,
    mode: Mode,
    /// Redis was away, and this decision tries it again.
    probe: bool,
    now: Instant,
}

impl Pending {
    /// The script mode to run.
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }
}

/// Where the next decision goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// To Redis (`probe`: Redis was away, and this decision tries it again).
    Redis { probe: bool },
    /// To the local fallback.
    Local,
}

#[derive(Clone, Copy, Debug)]
enum Breaker {
    /// Decisions go to Redis.
    Closed,
    /// Redis was away: decisions are local until `next_probe` (`None`: for good, the probe
    /// interval being past what the clock can count).
    Open { next_probe: Option<Instant> },
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

    /// The first decision of `ask` at `now`: decided here, or the Redis call it needs.
    pub(crate) fn plan(&self, ask: Ask, now: Instant) -> Plan {
        let mode = match ask {
            Ask::Reserve => Mode::Reserve,
            Ask::Hold => Mode::Hold,
            Ask::Report(feedback) => match self.mode_for(feedback, now) {
                Some(mode) => mode,
                None => return Plan::Done(Outcome::local(Duration::ZERO)),
            },
        };
        match self.route(now) {
            Route::Local => Plan::Done(self.decide_locally(ask, now)),
            Route::Redis { probe } => Plan::Redis(Pending {
                ask,
                mode,
                probe,
                now,
            }),
        }
    }

    /// The rest of the decision, given what Redis said: its answer, or (on a failure: the
    /// breaker opens) the local fallback's. The pacer drops its connections on a failure.
    pub(crate) fn settle(&self, pending: Pending, result: Result<Reply, Failure>) -> Outcome {
        let Pending {
            ask,
            mode: _,
            probe,
            now,
        } = pending;
        match result {
            Ok(reply) => {
                self.answered(probe, &reply);
                Outcome {
                    wait: Duration::from_micros(reply.wait_us),
                    redis_until_us: Some(reply.now_us.saturating_add(reply.wait_us)),
                }
            }
            Err(failure) => {
                self.failed(now, &failure);
                self.decide_locally(ask, now)
            }
        }
    }

    /// The local fallback decides.
    fn decide_locally(&self, ask: Ask, now: Instant) -> Outcome {
        match ask {
            Ask::Reserve => Outcome::local(Pacer::reserve(&self.local, now)),
            Ask::Hold => Outcome::local(Pacer::hold(&self.local, now)),
            Ask::Report(feedback) => {
                Pacer::report(&self.local, feedback, now);
                Outcome::local(Duration::ZERO)
            }
        }
    }

    /// When to try Redis again after a failure at `now` (`None`: never, the probe interval
    /// being past what the clock can count, e.g. `Duration::MAX`).
    fn next_probe(&self, now: Instant) -> Option<Instant> {
        now.checked_add(self.probe_interval)
    }

    /// Where the next decision goes. While Redis is away, the first decision after each probe
    /// interval tries it again (only that one: the others stay local meanwhile).
    fn route(&self, now: Instant) -> Route {
        let mut breaker = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        match *breaker {
            Breaker::Closed => Route::Redis { probe: false },
            Breaker::Open {
                next_probe: Some(next_probe),
            } if now >= next_probe => {
                *breaker = Breaker::Open {
                    next_probe: self.next_probe(now),
                };
                Route::Redis { probe: true }
            }
            Breaker::Open { .. } => Route::Local,
        }
    }

    /// Redis decided: a probe that succeeds closes the breaker (said once, at info).
    fn answered(&self, probe: bool, reply: &Reply) {
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
    /// decision that failed is made locally.
    fn failed(&self, now: Instant, failure: &Failure) {
        let mut breaker = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*breaker, Breaker::Closed) {
            *breaker = Breaker::Open {
                next_probe: self.next_probe(now),
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
    fn mode_for(&self, feedback: Feedback, now: Instant) -> Option<Mode> {
        match feedback {
            Feedback::Throttled => {
                self.penalty_active.store(true, Ordering::Relaxed);
                Some(Mode::Throttled)
            }
            Feedback::Answered if self.penalty_active.load(Ordering::Relaxed) => {
                Some(Mode::Answered)
            }
            Feedback::Answered => {
                Pacer::report(&self.local, feedback, now);
                None
            }
            // Feedback this crate does not know yet: nothing to do.
            _ => None,
        }
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
