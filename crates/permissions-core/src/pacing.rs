//! Pacing: the arithmetic that keeps an application inside Cronofy's rate limits, as pure
//! functions of integer microseconds. How it works is on [`PacingConfig`].

use std::fmt;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The most limits one [`PacingConfig`] may hold.
pub(crate) const MAX_LIMITS: usize = 8;

/// The shortest window a [`Limit`] may have.
pub(crate) const MIN_WINDOW: Duration = Duration::from_millis(1);

/// The longest window a [`Limit`] may have: one day (Cronofy's longest is a minute; a longer
/// one would keep a shared key alive for as long).
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// The first penalty after a 429: one second, the shortest of Cronofy's windows, after which
/// its per-second count has surely moved on.
pub(crate) const DEFAULT_FIRST_PENALTY: Duration = Duration::from_secs(1);

/// The cap on the penalty: one minute, the longest of Cronofy's windows. Waiting longer cannot
/// clear a per-minute count any further; 429s that persist past it come from traffic the pacer
/// does not see, which a longer wait does not fix either.
pub(crate) const DEFAULT_MAX_PENALTY: Duration = Duration::from_secs(60);

/// The share of a limit spent as burst: `requests / BURST_DIVISOR`, at least one.
const BURST_DIVISOR: u32 = 32;
/// The jitter margin is `window / MARGIN_DIVISOR`, at most [`MARGIN_CAP_US`].
const MARGIN_DIVISOR: u64 = 50;
/// 20 ms: more than the usual jitter between a client and Cronofy on a kept-alive connection.
const MARGIN_CAP_US: u64 = 20_000;

const NANOS_PER_MILLI: u128 = 1_000_000;

/// A duration in whole microseconds, saturating at `u64::MAX`.
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// One limit: at most `requests` in any sliding span of `per`.
///
/// ```
/// use std::time::Duration;
/// use permissions_core::{Limit};
///
/// let limit = Limit::per_minute(500);
/// assert_eq!(limit, Limit { requests: 500, per: Duration::from_secs(60) });
/// assert_eq!(limit.to_string(), "500/min");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limit {
    /// How many requests the window allows (at least 1 to be valid).
    pub requests: u32,
    /// The length of the sliding window (from 1 ms to a day, in whole milliseconds, to be valid).
    pub per: Duration,
}

impl Limit {
    /// `requests` per `per`; checked when given to [`PacingConfig::new`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use permissions_core::{Limit};
    /// assert_eq!(Limit::new(100, Duration::from_secs(10)).to_string(), "100/10s");
    /// ```
    pub const fn new(requests: u32, per: Duration) -> Self {
        Self { requests, per }
    }

    /// `requests` per second.
    ///
    /// ```
    /// use permissions_core::{Limit};
    /// assert_eq!(Limit::per_second(50).to_string(), "50/s");
    /// ```
    pub const fn per_second(requests: u32) -> Self {
        Self::new(requests, Duration::from_secs(1))
    }

    /// `requests` per minute.
    ///
    /// ```
    /// use permissions_core::{Limit};
    /// assert_eq!(Limit::per_minute(500).to_string(), "500/min");
    /// ```
    pub const fn per_minute(requests: u32) -> Self {
        Self::new(requests, Duration::from_secs(60))
    }
}

impl fmt::Display for Limit {
    /// Writes `requests/window` in the largest unit that divides the window exactly (`h`,
    /// `min`, `s`, `ms`), with the unit's count when it is not one: `50/s`, `100/10s`,
    /// `7/90min`. [`PacingConfig::parse`] reads it back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.requests)?;
        let nanos = self.per.as_nanos();
        let millis = nanos / 1_000_000;
        if nanos % 1_000_000 != 0 || millis == 0 {
            // Not a valid window; written so that parsing it names the problem.
            return write!(f, "{nanos}ns");
        }
        let (count, unit) = [(3_600_000, "h"), (60_000, "min"), (1_000, "s"), (1, "ms")]
            .into_iter()
            .find(|(size, _)| millis % size == 0)
            .map(|(size, unit)| (millis / size, unit))
            .unwrap_or((millis, "ms"));
        if count == 1 {
            write!(f, "{unit}")
        } else {
            write!(f, "{count}{unit}")
        }
    }
}

/// Why a pacing configuration or spec was refused. Positions count limits from 1, in the
/// order given.
///
/// ```
/// use permissions_core::error::{PacingConfigError};
/// use permissions_core::{PacingConfig};
///
/// let error = PacingConfig::parse("50/s,500/fortnight").unwrap_err();
/// assert!(matches!(error, PacingConfigError::UnknownUnit { position: 2, .. }));
/// assert!(error.to_string().contains("fortnight"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacingConfigError {
    /// No limit at all (an empty spec, or an empty list).
    #[error("no rate limit given (write `off` to turn pacing off)")]
    NoLimits,
    /// More than [`PacingConfig::MAX_LIMITS`] limits.
    #[error("more than {MAX_LIMITS} rate limits given")]
    TooManyLimits,
    /// A limit of zero requests.
    #[error("rate limit {position}: zero requests allow nothing (write `off` to turn pacing off)")]
    ZeroRequests {
        /// Which limit, from 1.
        position: usize,
    },
    /// A window shorter than [`PacingConfig::MIN_WINDOW`].
    #[error("rate limit {position}: a window of {per:?} is shorter than 1 ms")]
    WindowTooShort {
        /// Which limit, from 1.
        position: usize,
        /// The window given.
        per: Duration,
    },
    /// A window longer than [`PacingConfig::MAX_WINDOW`].
    #[error("rate limit {position}: a window of {per:?} is longer than a day")]
    WindowTooLong {
        /// Which limit, from 1.
        position: usize,
        /// The window given.
        per: Duration,
    },
    /// A window that is not a whole number of milliseconds.
    #[error("rate limit {position}: a window of {per:?} is not a whole number of milliseconds")]
    WindowNotWholeMilliseconds {
        /// Which limit, from 1.
        position: usize,
        /// The window given.
        per: Duration,
    },
    /// Nothing between two commas, or a comma at either end.
    #[error("rate limit {position} is empty (a stray comma?)")]
    EmptyItem {
        /// Which limit, from 1.
        position: usize,
    },
    /// An item without `/` between the count and the window.
    #[error("rate limit {position} (`{item}`): expected `COUNT/WINDOW`, as in `50/s`")]
    MissingSlash {
        /// Which limit, from 1.
        position: usize,
        /// The item as written (at most 64 characters of it).
        item: String,
    },
    /// A request count that is not a whole number that fits in 32 bits.
    #[error("rate limit {position} (`{item}`): the request count is not a whole number")]
    BadRequestCount {
        /// Which limit, from 1.
        position: usize,
        /// The item as written (at most 64 characters of it).
        item: String,
    },
    /// A window whose count of units is not a whole number (`/1.5s`) or is far too large.
    #[error("rate limit {position} (`{item}`): the window's count of units is not a whole number")]
    BadWindowCount {
        /// Which limit, from 1.
        position: usize,
        /// The item as written (at most 64 characters of it).
        item: String,
    },
    /// A time unit other than `ms`, `s`, `sec`, `m`, `min` and `h`.
    #[error(
        "rate limit {position} (`{item}`): unknown time unit `{unit}` (use ms, s, sec, m, min or h)"
    )]
    UnknownUnit {
        /// Which limit, from 1.
        position: usize,
        /// The item as written (at most 64 characters of it).
        item: String,
        /// The unit as written (at most 64 characters of it).
        unit: String,
    },
}

/// At most 64 characters of a piece of a spec, for an error message.
fn excerpt(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The GCRA parameters derived from one [`Limit`] (see [`PacingConfig`] for how).
///
/// ```
/// use permissions_core::{PacingConfig};
///
/// let config = PacingConfig::cronofy_default();
/// let minute = config.windows()[1];
/// assert_eq!((minute.burst(), minute.interval_us()), (15, 123_498));
/// // Any span of 60 s (plus the 20 ms margin) holds at most 15 + 485 = 500 requests.
/// assert_eq!(minute.burst() as u64 + minute.guarded_span_us() / minute.interval_us(), 500);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    limit: Limit,
    burst: u32,
    interval_us: u64,
    tolerance_us: u64,
    margin_us: u64,
}

impl Window {
    /// Derives the parameters of a valid limit (`requests >= 1`, window at most a day).
    fn derive(limit: Limit) -> Self {
        let per_us = micros(limit.per);
        let margin_us = (per_us / MARGIN_DIVISOR).min(MARGIN_CAP_US);
        let burst = (limit.requests / BURST_DIVISOR).max(1);
        // Requests beyond the burst that one guarded span may hold, plus one: the smallest T
        // with floor(span / T) <= requests - burst is floor(span / steady) + 1.
        let steady = u64::from(limit.requests - burst) + 1;
        let interval_us = (per_us.saturating_add(margin_us) / steady).saturating_add(1);
        let tolerance_us = u64::from(burst - 1).saturating_mul(interval_us);
        Self {
            limit,
            burst,
            interval_us,
            tolerance_us,
            margin_us,
        }
    }

    /// The limit these parameters enforce.
    ///
    /// ```
    /// use permissions_core::{Limit, PacingConfig};
    /// let config = PacingConfig::cronofy_default();
    /// assert_eq!(config.windows()[0].limit(), Limit::per_second(50));
    /// ```
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// `B`: how many requests may go at once from a rested state.
    ///
    /// ```
    /// use permissions_core::{PacingConfig};
    /// let config = PacingConfig::cronofy_default();
    /// assert_eq!(config.windows()[0].burst(), 1); // 50/s: one at a time, 20.4 ms apart
    /// ```
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// `T`: the steady spacing of requests, in microseconds.
    ///
    /// ```
    /// use permissions_core::{PacingConfig};
    /// let config = PacingConfig::cronofy_default();
    /// assert_eq!(config.windows()[0].interval_us(), 20_401);
    /// ```
    pub fn interval_us(&self) -> u64 {
        self.interval_us
    }

    /// `(B - 1) * T`: how far ahead of its theoretical arrival time a request may go.
    ///
    /// ```
    /// use permissions_core::{PacingConfig};
    /// let minute = PacingConfig::cronofy_default().windows()[1];
    /// assert_eq!(minute.tolerance_us(), 14 * minute.interval_us());
    /// ```
    pub fn tolerance_us(&self) -> u64 {
        self.tolerance_us
    }

    /// The jitter margin `J` added to the window, in microseconds: `min(window / 50, 20 ms)`.
    ///
    /// ```
    /// use permissions_core::{PacingConfig};
    /// let config = PacingConfig::cronofy_default();
    /// assert_eq!(config.windows()[0].margin_us(), 20_000);
    /// ```
    pub fn margin_us(&self) -> u64 {
        self.margin_us
    }

    /// The window plus its margin, in microseconds: any span this long (both ends included)
    /// holds at most the limit's count of admitted requests.
    ///
    /// ```
    /// use permissions_core::{PacingConfig};
    /// let config = PacingConfig::cronofy_default();
    /// assert_eq!(config.windows()[0].guarded_span_us(), 1_020_000);
    /// ```
    pub fn guarded_span_us(&self) -> u64 {
        micros(self.limit.per).saturating_add(self.margin_us)
    }
}

/// Pacing: the arithmetic that keeps an application inside Cronofy's rate limits, as pure
/// functions of integer microseconds.
///
/// Cronofy limits each *application* (all its users and servers together) to 50 requests per
/// second and 500 per minute by default, and answers 429 beyond them. This module decides when
/// each request may be sent so that the limits are never reached; it never reads a clock and
/// never sleeps: `now` is an argument, and the caller sleeps until the time it is given.
///
/// ```
/// use permissions_core::transport::{LocalPacer};
/// use permissions_core::{PacingConfig};
///
/// let pacer = LocalPacer::new(PacingConfig::parse("50/s,500/min").unwrap().unwrap());
/// // Time is microseconds from any monotonic origin (an `Instant` taken at start-up, say).
/// let first = pacer.reserve(0);
/// let second = pacer.reserve(0);
/// assert_eq!(first, 0); // at once
/// assert!(second > 0); // 50/s: the second waits about 20 ms
/// ```
///
/// # The arithmetic: GCRA over several windows, decided together
///
/// Each [`Limit`] ("at most `requests` in any span of `per`") becomes one GCRA window: an
/// interval `T` and a burst `B`, with one number of state, the theoretical arrival time (TAT).
/// A request at `t` conforms to a window when `t >= TAT - (B - 1) * T`; admitting it sets
/// `TAT = max(TAT, t) + T`. All windows are decided together: [`PacerState::reserve`] takes the
/// earliest time every window (and any 429 penalty) admits, and updates every window as if the
/// request were admitted then. Deciding windows one after another would let a refusal in one
/// window use up another.
///
/// The caller is not refused: it is told *when* it may go, and its slot is reserved, so
/// waiting callers are served in arrival order and never wake together. A caller that gives up
/// after reserving wastes its slot, which errs on the safe side. A retried request reserves
/// again, like a first attempt.
///
/// # Choosing B and T so that no sliding span is ever over the limit
///
/// GCRA with burst `B` and interval `T` admits up to `B + floor(L / T)` requests in a span of
/// length `L` (both ends included). A naive "500 per minute, burst 500" therefore lets about
/// 1,000 through in a sliding minute. Here, for a limit of `R` requests per window `W`:
///
/// - the burst is `B = max(1, R / 32)` (about 3% of the budget, at least one request);
/// - a jitter margin `J = min(W / 50, 20 ms)` is added to the window: requests sent `T` apart
///   may arrive closer together after network jitter, and the server counts arrivals;
/// - the interval is the smallest whole number of microseconds with
///   `floor((W + J) / T) <= R - B`, that is `T = floor((W + J) / (R - B + 1)) + 1`.
///
/// So any span of length `W + J` (hence any span of `W`) holds at most `B + (R - B) = R`
/// admitted requests, for every window, whatever the arrival pattern. The sustained rate is
/// `1 / T`, about `(R - B + 1) / (W + J)`:
///
/// | limit | B | T | sustained | of the limit |
/// | --- | --- | --- | --- | --- |
/// | 500/min | 15 | 123,498 µs | 485.8/min | 97.2% |
/// | 50/s | 1 | 20,401 µs | 49.0/s | 98.0% |
///
/// With Cronofy's pair the 500/min window binds (500/min is 8.3/s): sustained pacing runs at
/// 97.2% of it. 2,000 requests arriving at once are all sent within 245.1 s: their 1,999
/// intervals average 489/min, 97.9% of 500/min (the burst helps a little).
///
/// # A 429 anyway
///
/// A 429 means traffic this pacer did not see, or a lower limit than configured. Then
/// [`PacerState::throttled`] blocks every caller (not only the one that saw it) for a penalty,
/// and drains every window so that traffic resumes at the steady rate with no burst, the burst
/// refilling only with time. The penalty starts at 1 s and doubles while 429s keep coming, up
/// to 60 s; a success resets it ([`PacerState::succeeded`]).
///
/// # Sharing
///
/// [`PacerState`] is the whole state, integers only, so a store such as Redis can hold the
/// same numbers and run the same arithmetic in one atomic script; [`PacerState::idle_at`] says
/// when the state behaves as a fresh one, so a shared key can expire then. [`LocalPacer`] is
/// the in-process version, behind a `Mutex`. When the shared state is away, pace locally with
/// [`PacingConfig::divided`] by the fleet size.
///
/// # The configuration
///
/// Limits plus 429 penalty settings: what a pacer enforces.
///
/// ```
/// use std::time::Duration;
/// use permissions_core::{Limit, PacingConfig};
///
/// let config = PacingConfig::new([Limit::per_second(40), Limit::per_minute(1_200)])
///     .unwrap()
///     .penalty(Duration::from_millis(500), Duration::from_secs(30));
/// assert_eq!(config.to_string(), "40/s,1200/min");
/// assert_eq!(PacingConfig::default(), PacingConfig::cronofy_default());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacingConfig {
    limits: Vec<Limit>,
    windows: Vec<Window>,
    first_penalty_us: u64,
    max_penalty_us: u64,
}

impl PacingConfig {
    /// The most limits one configuration holds.
    pub const MAX_LIMITS: usize = MAX_LIMITS;
    /// The shortest window a limit may have.
    pub const MIN_WINDOW: Duration = MIN_WINDOW;
    /// The longest window a limit may have.
    pub const MAX_WINDOW: Duration = MAX_WINDOW;
    /// The first wait after a 429, unless [`penalty`](Self::penalty) says otherwise.
    pub const DEFAULT_FIRST_PENALTY: Duration = DEFAULT_FIRST_PENALTY;
    /// The longest wait after 429s in a row, unless [`penalty`](Self::penalty) says otherwise.
    pub const DEFAULT_MAX_PENALTY: Duration = DEFAULT_MAX_PENALTY;

    /// Cronofy's documented default: 50 requests per second and 500 per minute, per
    /// application; the penalty 1 s doubling to 60 s.
    ///
    /// ```
    /// use permissions_core::{PacingConfig};
    /// assert_eq!(PacingConfig::cronofy_default().to_string(), "50/s,500/min");
    /// ```
    pub fn cronofy_default() -> Self {
        Self::from_valid(vec![Limit::per_second(50), Limit::per_minute(500)])
    }

    /// Checks the limits: one to [`PacingConfig::MAX_LIMITS`] of them, each of at least one request, over a
    /// window of whole milliseconds from [`PacingConfig::MIN_WINDOW`] to [`PacingConfig::MAX_WINDOW`]. The penalty takes
    /// its defaults ([`PacingConfig::DEFAULT_FIRST_PENALTY`], [`PacingConfig::DEFAULT_MAX_PENALTY`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use permissions_core::error::{PacingConfigError};
    /// use permissions_core::{Limit, PacingConfig};
    ///
    /// assert!(PacingConfig::new([Limit::per_second(10)]).is_ok());
    /// assert_eq!(PacingConfig::new([]), Err(PacingConfigError::NoLimits));
    /// assert_eq!(
    ///     PacingConfig::new([Limit::per_second(10), Limit::per_minute(0)]),
    ///     Err(PacingConfigError::ZeroRequests { position: 2 }),
    /// );
    /// assert!(matches!(
    ///     PacingConfig::new([Limit::new(1, Duration::from_micros(999))]),
    ///     Err(PacingConfigError::WindowTooShort { position: 1, .. }),
    /// ));
    /// ```
    pub fn new(limits: impl IntoIterator<Item = Limit>) -> Result<Self, PacingConfigError> {
        let mut checked = Vec::new();
        for (index, limit) in limits.into_iter().enumerate() {
            if index == MAX_LIMITS {
                return Err(PacingConfigError::TooManyLimits);
            }
            checked.push(check(index + 1, limit)?);
        }
        if checked.is_empty() {
            return Err(PacingConfigError::NoLimits);
        }
        Ok(Self::from_valid(checked))
    }

    fn from_valid(limits: Vec<Limit>) -> Self {
        let windows = limits.iter().copied().map(Window::derive).collect();
        Self {
            limits,
            windows,
            first_penalty_us: micros(DEFAULT_FIRST_PENALTY),
            max_penalty_us: micros(DEFAULT_MAX_PENALTY),
        }
    }

    /// Reads a spec such as `50/s,500/min`: comma-separated `COUNT/WINDOW` items, the window
    /// an optional whole count and a unit (`ms`, `s` or `sec`, `m` or `min`, `h`; any case),
    /// as in `100/10s`. Spaces around any part are ignored. `off` means no pacing (`None`).
    /// [`Display`](fmt::Display) writes the same form back.
    ///
    /// ```
    /// use permissions_core::error::{PacingConfigError};
    /// use permissions_core::{Limit, PacingConfig};
    ///
    /// let config = PacingConfig::parse(" 50 / s , 500/ MIN ").unwrap().unwrap();
    /// assert_eq!(config.limits(), [Limit::per_second(50), Limit::per_minute(500)]);
    /// assert_eq!(PacingConfig::parse("off"), Ok(None));
    /// assert!(matches!(
    ///     PacingConfig::parse("50/s,500"),
    ///     Err(PacingConfigError::MissingSlash { position: 2, .. }),
    /// ));
    /// ```
    pub fn parse(spec: &str) -> Result<Option<Self>, PacingConfigError> {
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        if spec.is_empty() {
            return Err(PacingConfigError::NoLimits);
        }
        let mut limits = Vec::new();
        for (index, item) in spec.split(',').enumerate() {
            if index == MAX_LIMITS {
                return Err(PacingConfigError::TooManyLimits);
            }
            limits.push(parse_limit(index + 1, item.trim())?);
        }
        Self::new(limits).map(Some)
    }

    /// The limits, in the order given.
    ///
    /// ```
    /// use permissions_core::{Limit, PacingConfig};
    /// let config = PacingConfig::cronofy_default();
    /// assert_eq!(config.limits(), [Limit::per_second(50), Limit::per_minute(500)]);
    /// ```
    pub fn limits(&self) -> &[Limit] {
        &self.limits
    }

    /// The GCRA parameters of each limit, in the same order.
    ///
    /// ```
    /// use permissions_core::{PacingConfig};
    /// let config = PacingConfig::cronofy_default();
    /// assert_eq!(config.windows().len(), config.limits().len());
    /// ```
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// The same limits shared among `fleet_size` processes pacing alone: each limit's count
    /// divided by `fleet_size` (rounded down, at least 1; a size of 0 counts as 1), windows
    /// and penalty unchanged. For a local fallback while the shared state is away.
    ///
    /// ```
    /// use permissions_core::{PacingConfig};
    /// let config = PacingConfig::cronofy_default();
    /// assert_eq!(config.divided(3).to_string(), "16/s,166/min");
    /// assert_eq!(config.divided(1_000).to_string(), "1/s,1/min");
    /// ```
    pub fn divided(&self, fleet_size: u32) -> Self {
        let fleet_size = fleet_size.max(1);
        let limits = self
            .limits
            .iter()
            .map(|limit| Limit {
                requests: (limit.requests / fleet_size).max(1),
                per: limit.per,
            })
            .collect();
        Self {
            first_penalty_us: self.first_penalty_us,
            max_penalty_us: self.max_penalty_us,
            ..Self::from_valid(limits)
        }
    }

    /// Sets the penalty after a 429: `first`, doubling while 429s keep coming, up to `max`
    /// (raised to `first` if smaller). Defaults: [`PacingConfig::DEFAULT_FIRST_PENALTY`] (1 s, Cronofy's
    /// shortest window) and [`PacingConfig::DEFAULT_MAX_PENALTY`] (60 s, its longest). Whole microseconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use permissions_core::{PacingConfig};
    ///
    /// let config = PacingConfig::cronofy_default()
    ///     .penalty(Duration::from_secs(2), Duration::from_secs(1));
    /// assert_eq!(config.first_penalty(), Duration::from_secs(2));
    /// assert_eq!(config.max_penalty(), Duration::from_secs(2));
    /// ```
    pub fn penalty(mut self, first: Duration, max: Duration) -> Self {
        self.first_penalty_us = micros(first);
        self.max_penalty_us = micros(max).max(self.first_penalty_us);
        self
    }

    /// The first penalty after a 429.
    ///
    /// ```
    /// use std::time::Duration;
    /// use permissions_core::{PacingConfig};
    /// assert_eq!(PacingConfig::cronofy_default().first_penalty(), Duration::from_secs(1));
    /// ```
    pub fn first_penalty(&self) -> Duration {
        Duration::from_micros(self.first_penalty_us)
    }

    /// The cap on the penalty.
    ///
    /// ```
    /// use std::time::Duration;
    /// use permissions_core::{PacingConfig};
    /// assert_eq!(PacingConfig::cronofy_default().max_penalty(), Duration::from_secs(60));
    /// ```
    pub fn max_penalty(&self) -> Duration {
        Duration::from_micros(self.max_penalty_us)
    }
}

impl Default for PacingConfig {
    /// [`PacingConfig::cronofy_default`].
    fn default() -> Self {
        Self::cronofy_default()
    }
}

impl fmt::Display for PacingConfig {
    /// The limits as a spec (`50/s,500/min`) that [`PacingConfig::parse`] reads back to the
    /// same limits. The penalty is not part of it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, limit) in self.limits.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{limit}")?;
        }
        Ok(())
    }
}

/// Checks one limit of a configuration.
fn check(position: usize, limit: Limit) -> Result<Limit, PacingConfigError> {
    let per = limit.per;
    if limit.requests == 0 {
        Err(PacingConfigError::ZeroRequests { position })
    } else if per < MIN_WINDOW {
        Err(PacingConfigError::WindowTooShort { position, per })
    } else if per > MAX_WINDOW {
        Err(PacingConfigError::WindowTooLong { position, per })
    } else if per.as_nanos() % 1_000_000 != 0 {
        Err(PacingConfigError::WindowNotWholeMilliseconds { position, per })
    } else {
        Ok(limit)
    }
}

/// Reads one trimmed `COUNT/WINDOW` item (checked later by [`PacingConfig::new`]).
fn parse_limit(position: usize, item: &str) -> Result<Limit, PacingConfigError> {
    if item.is_empty() {
        return Err(PacingConfigError::EmptyItem { position });
    }
    let Some((count, window)) = item.split_once('/') else {
        return Err(PacingConfigError::MissingSlash {
            position,
            item: excerpt(item),
        });
    };
    let requests = count
        .trim()
        .parse::<u32>()
        .map_err(|_| PacingConfigError::BadRequestCount {
            position,
            item: excerpt(item),
        })?;
    let window = window.trim();
    let digits = window.bytes().take_while(u8::is_ascii_digit).count();
    let (units, unit) = window.split_at(digits);
    let units = if units.is_empty() {
        1
    } else {
        units
            .parse::<u64>()
            .map_err(|_| PacingConfigError::BadWindowCount {
                position,
                item: excerpt(item),
            })?
    };
    let unit = unit.trim();
    let unit_ms: u128 = match unit.to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" | "sec" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => {
            return Err(PacingConfigError::UnknownUnit {
                position,
                item: excerpt(item),
                unit: excerpt(unit),
            });
        }
    };
    // Longer than a day is refused by `check`; clamp first so that no count overflows.
    let nanos = (u128::from(units) * unit_ms * NANOS_PER_MILLI).min(u128::from(u64::MAX));
    let per = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
    Ok(Limit { requests, per })
}

/// The whole shared state of a pacer, integers only (microseconds on the caller's monotonic
/// clock), so that a store such as Redis can hold the same numbers and run the same
/// arithmetic. A fresh state is [`PacerState::default()`].
///
/// ```
/// use permissions_core::transport::{PacerState};
/// use permissions_core::{PacingConfig};
///
/// let config = PacingConfig::parse("2/s").unwrap().unwrap();
/// let mut state = PacerState::default();
/// assert_eq!(state.reserve(&config, 1_000), 1_000); // at once
/// assert_eq!(state.reserve(&config, 1_000), 511_001); // the second waits about half a second
/// assert_eq!(state.tat, [1_021_002]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PacerState {
    /// The theoretical arrival time of each window, in the order of the config's limits. A
    /// missing entry counts as 0 (rested); the length is fixed at the next decision.
    pub tat: Vec<u64>,
    /// No request is sent before this time (set by a 429).
    pub blocked_until: u64,
    /// The penalty the next 429 imposes; 0 means the configured first penalty.
    pub penalty: u64,
}

impl PacerState {
    /// Decides an arrival at `now` (microseconds, any monotonic origin): returns the time at
    /// which the request may be sent (`now` means at once) and reserves that slot, so later
    /// callers queue behind it in arrival order and nobody wakes together.
    ///
    /// The time is the earliest that every window and the penalty admit: no request waits
    /// longer than needed. Every window is then updated as if the request were admitted at
    /// that time. Arithmetic saturates: no overflow, whatever `now`.
    ///
    /// ```
    /// use permissions_core::transport::{PacerState};
    /// use permissions_core::{PacingConfig};
    ///
    /// let config = PacingConfig::cronofy_default();
    /// let mut state = PacerState::default();
    /// let slots: Vec<u64> = (0..3).map(|_| state.reserve(&config, 0)).collect();
    /// assert_eq!(slots, [0, 20_401, 40_802]); // 50/s: 20.4 ms apart
    /// ```
    pub fn reserve(&mut self, config: &PacingConfig, now: u64) -> u64 {
        self.fit(config, now);
        let mut at = now.max(self.blocked_until);
        for (tat, window) in self.tat.iter().zip(&config.windows) {
            at = at.max(tat.saturating_sub(window.tolerance_us));
        }
        for (tat, window) in self.tat.iter_mut().zip(&config.windows) {
            *tat = (*tat).max(at).saturating_add(window.interval_us);
        }
        at
    }

    /// A 429 arrived at `now` anyway: every caller is blocked until `now` plus the penalty
    /// (never less than an earlier block), and every window is drained, so that traffic
    /// resumes then at the steady rate with no burst, the burst refilling only with time. The
    /// penalty doubles for the next 429, up to the configured cap.
    ///
    /// ```
    /// use permissions_core::transport::{PacerState};
    /// use permissions_core::{PacingConfig};
    ///
    /// let config = PacingConfig::cronofy_default();
    /// let mut state = PacerState::default();
    /// state.throttled(&config, 5_000_000);
    /// assert_eq!(state.blocked_until, 6_000_000); // 1 s
    /// assert_eq!(state.reserve(&config, 5_500_000), 6_000_000);
    /// state.throttled(&config, 7_000_000);
    /// assert_eq!(state.blocked_until, 9_000_000); // then 2 s
    /// ```
    pub fn throttled(&mut self, config: &PacingConfig, now: u64) {
        self.fit(config, now);
        let penalty = if self.penalty == 0 {
            config.first_penalty_us
        } else {
            self.penalty
                .min(config.max_penalty_us)
                .max(config.first_penalty_us)
        };
        self.blocked_until = self.blocked_until.max(now.saturating_add(penalty));
        for (tat, window) in self.tat.iter_mut().zip(&config.windows) {
            *tat = (*tat).max(self.blocked_until.saturating_add(window.tolerance_us));
        }
        self.penalty = penalty.saturating_mul(2).min(config.max_penalty_us);
    }

    /// When a caller whose reserved slot came due at `now` may send: `now`, unless a 429 since
    /// holds everyone off. Then its slot is given up and a new one reserved, which
    /// [`PacerState::throttled`] placed after the block at the steady rate: callers that were
    /// waiting for their slots do not all wake together when the block ends.
    ///
    /// ```
    /// use permissions_core::transport::PacerState;
    /// use permissions_core::PacingConfig;
    ///
    /// let config = PacingConfig::cronofy_default();
    /// let mut state = PacerState::default();
    /// let slots: Vec<u64> = (0..20).map(|_| state.reserve(&config, 0)).collect();
    /// assert_eq!(state.hold(&config, slots[1]), slots[1]); // nothing holds
    /// state.throttled(&config, 1_000);
    /// let woken: Vec<u64> = slots[2..5].iter().map(|&at| state.hold(&config, at)).collect();
    /// // Spaced at the steady rate of the slowest window (500/min), not all at 1_001_000.
    /// assert_eq!(woken, [1_001_000, 1_124_498, 1_247_996]);
    /// ```
    pub fn hold(&mut self, config: &PacingConfig, now: u64) -> u64 {
        if self.blocked_until > now {
            self.reserve(config, now)
        } else {
            now
        }
    }

    /// A request succeeded: the next 429's penalty is the first one again. A block already
    /// set stays.
    ///
    /// ```
    /// use permissions_core::transport::{PacerState};
    /// use permissions_core::{PacingConfig};
    ///
    /// let config = PacingConfig::cronofy_default();
    /// let mut state = PacerState::default();
    /// state.throttled(&config, 0);
    /// assert_eq!(state.penalty, 2_000_000);
    /// state.succeeded();
    /// assert_eq!((state.penalty, state.blocked_until), (0, 1_000_000));
    /// ```
    pub fn succeeded(&mut self) {
        self.penalty = 0;
    }

    /// From when this state behaves exactly as a fresh one, so that a shared copy may expire
    /// then: the latest theoretical arrival time and block, and while the penalty has grown,
    /// one more penalty after the block (the memory of recent 429s). A decision at or after
    /// this time starts from a fresh state, as it would after an expired key.
    ///
    /// ```
    /// use permissions_core::transport::{PacerState};
    /// use permissions_core::{PacingConfig};
    ///
    /// let config = PacingConfig::parse("2/s").unwrap().unwrap();
    /// let mut state = PacerState::default();
    /// assert_eq!(state.idle_at(), 0);
    /// state.reserve(&config, 1_000);
    /// assert_eq!(state.idle_at(), 511_001);
    /// state.throttled(&config, 1_000); // blocked until 1.001 s; next penalty 2 s
    /// assert_eq!(state.idle_at(), 3_001_000);
    /// ```
    pub fn idle_at(&self) -> u64 {
        let rested = self.tat.iter().copied().fold(self.blocked_until, u64::max);
        if self.penalty == 0 {
            rested
        } else {
            rested.max(self.blocked_until.saturating_add(self.penalty))
        }
    }

    /// One entry of `tat` per window; and from [`idle_at`](Self::idle_at) on, a fresh state
    /// (which decides exactly as the idle one would, and forgets a grown penalty).
    fn fit(&mut self, config: &PacingConfig, now: u64) {
        if self.tat.len() != config.windows.len() {
            self.tat.resize(config.windows.len(), 0);
        }
        if now >= self.idle_at() {
            self.tat.fill(0);
            self.blocked_until = 0;
            self.penalty = 0;
        }
    }
}

/// The in-process pacer: a [`PacingConfig`] and a [`PacerState`] behind a `Mutex`. Put it in
/// an `Arc` to share it among all clones of a client (it is `Send + Sync`).
///
/// ```
/// use std::sync::Arc;
/// use permissions_core::transport::{LocalPacer};
/// use permissions_core::{PacingConfig};
///
/// let pacer = Arc::new(LocalPacer::new(PacingConfig::cronofy_default()));
/// let other = Arc::clone(&pacer);
/// assert_eq!(pacer.reserve(0), 0);
/// assert_eq!(other.reserve(0), 20_401); // the same budget
/// other.throttled(30_000);
/// assert_eq!(pacer.reserve(40_000), 1_030_000); // everyone waits out the 429
/// pacer.succeeded();
/// ```
#[derive(Debug)]
pub struct LocalPacer {
    config: PacingConfig,
    state: Mutex<PacerState>,
    /// The first instant a driver passed in: microseconds count from here.
    origin: OnceLock<Instant>,
}

impl LocalPacer {
    /// A rested pacer enforcing `config`.
    ///
    /// ```
    /// use permissions_core::transport::{LocalPacer};
    /// use permissions_core::{PacingConfig};
    /// let pacer = LocalPacer::new(PacingConfig::cronofy_default());
    /// assert_eq!(pacer.state().idle_at(), 0);
    /// ```
    pub fn new(config: PacingConfig) -> Self {
        let state = PacerState {
            tat: vec![0; config.windows.len()],
            ..PacerState::default()
        };
        Self {
            config,
            state: Mutex::new(state),
            origin: OnceLock::new(),
        }
    }

    /// The configuration it enforces.
    ///
    /// ```
    /// use permissions_core::transport::{LocalPacer};
    /// use permissions_core::{PacingConfig};
    /// let pacer = LocalPacer::new(PacingConfig::cronofy_default());
    /// assert_eq!(pacer.config().to_string(), "50/s,500/min");
    /// ```
    pub fn config(&self) -> &PacingConfig {
        &self.config
    }

    /// [`PacerState::reserve`]: when a request arriving at `now_us` may be sent; the slot is
    /// reserved. Sleep until then (with the same clock), then send.
    ///
    /// ```
    /// use permissions_core::transport::{LocalPacer};
    /// use permissions_core::{PacingConfig};
    /// let pacer = LocalPacer::new(PacingConfig::parse("1/s").unwrap().unwrap());
    /// assert_eq!(pacer.reserve(0), 0);
    /// assert_eq!(pacer.reserve(0), 1_020_001);
    /// ```
    pub fn reserve(&self, now_us: u64) -> u64 {
        self.lock().reserve(&self.config, now_us)
    }

    /// [`PacerState::throttled`]: a 429 came back at `now_us`.
    ///
    /// ```
    /// use permissions_core::transport::{LocalPacer};
    /// use permissions_core::{PacingConfig};
    /// let pacer = LocalPacer::new(PacingConfig::cronofy_default());
    /// pacer.throttled(0);
    /// assert_eq!(pacer.reserve(0), 1_000_000);
    /// ```
    pub fn throttled(&self, now_us: u64) {
        self.lock().throttled(&self.config, now_us);
    }

    /// [`PacerState::hold`]: when a caller whose slot came due at `now_us` may send.
    ///
    /// ```
    /// use permissions_core::transport::{LocalPacer};
    /// use permissions_core::{PacingConfig};
    /// let pacer = LocalPacer::new(PacingConfig::cronofy_default());
    /// let slot = pacer.reserve(0);
    /// pacer.throttled(0);
    /// assert_eq!(pacer.hold(slot), 1_000_000);
    /// assert_eq!(pacer.hold(slot), 1_123_498); // the next caller, spaced
    /// ```
    pub fn hold(&self, now_us: u64) -> u64 {
        self.lock().hold(&self.config, now_us)
    }

    /// [`PacerState::succeeded`]: a request went through.
    ///
    /// ```
    /// use permissions_core::transport::{LocalPacer};
    /// use permissions_core::{PacingConfig};
    /// let pacer = LocalPacer::new(PacingConfig::cronofy_default());
    /// pacer.throttled(0);
    /// pacer.succeeded();
    /// assert_eq!(pacer.state().penalty, 0);
    /// ```
    pub fn succeeded(&self) {
        self.lock().succeeded();
    }

    /// A copy of the current state (for diagnostics and tests).
    ///
    /// ```
    /// use permissions_core::transport::{LocalPacer};
    /// use permissions_core::{PacingConfig};
    /// let pacer = LocalPacer::new(PacingConfig::cronofy_default());
    /// pacer.reserve(0);
    /// assert_eq!(pacer.state().tat, [20_401, 123_498]);
    /// ```
    pub fn state(&self) -> PacerState {
        self.lock().clone()
    }

    /// `now` in microseconds since the first instant this pacer was given (the driver's
    /// monotonic clock; the pacer never reads one).
    pub(crate) fn micros(&self, now: Instant) -> u64 {
        let origin = *self.origin.get_or_init(|| now);
        u64::try_from(now.saturating_duration_since(origin).as_micros()).unwrap_or(u64::MAX)
    }

    /// The state; a panic elsewhere while holding the lock cannot leave it inconsistent (every
    /// update is a handful of integer stores that do not panic), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
