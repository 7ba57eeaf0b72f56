//! Placeholder until the pacing arithmetic lands from its branch (same public shape).
#![allow(missing_docs, dead_code)]

use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub requests: u32,
    pub per: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacingConfig {
    limits: Vec<Limit>,
}

impl PacingConfig {
    pub fn cronofy_default() -> Self {
        Self {
            limits: vec![
                Limit {
                    requests: 50,
                    per: Duration::from_secs(1),
                },
                Limit {
                    requests: 500,
                    per: Duration::from_secs(60),
                },
            ],
        }
    }
    pub fn limits(&self) -> &[Limit] {
        &self.limits
    }
}

#[derive(Debug)]
pub struct LocalPacer {
    config: PacingConfig,
    state: Mutex<u64>,
    origin: OnceLock<Instant>,
}

impl LocalPacer {
    pub fn new(config: PacingConfig) -> Self {
        Self {
            config,
            state: Mutex::new(0),
            origin: OnceLock::new(),
        }
    }
    pub fn config(&self) -> &PacingConfig {
        &self.config
    }
    pub fn reserve(&self, now_us: u64) -> u64 {
        now_us
    }
    pub fn throttled(&self, _now_us: u64) {}
    pub fn succeeded(&self) {}
    /// `now` in microseconds since the first instant this pacer was given.
    pub(crate) fn micros(&self, now: Instant) -> u64 {
        let origin = *self.origin.get_or_init(|| now);
        u64::try_from(now.saturating_duration_since(origin).as_micros()).unwrap_or(u64::MAX)
    }
}
