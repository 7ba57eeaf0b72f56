//! Rate limits as Cronofy enforces them: per application, a sliding log over several windows.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How many admitted timestamps are kept per application for
/// [`FakeCronofy::admitted_times`](crate::FakeCronofy::admitted_times) (the newest ones).
pub const ADMITTED_HISTORY_CAPACITY: usize = 1_000_000;

/// One limit: at most `count` requests admitted in any window of length `window`.
///
/// ```
/// use std::time::Duration;
/// use permissions_fake::RateLimit;
///
/// let per_second = RateLimit::new(50, Duration::from_secs(1)).unwrap();
/// assert_eq!(per_second.to_string(), "50/s");
/// assert_eq!("500/min".parse::<RateLimit>().unwrap().window(), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    count: u32,
    window: Duration,
}

impl RateLimit {
    /// At most `count` requests in any window of length `window`.
    ///
    /// # Errors
    ///
    /// [`RateLimitSpecError::ZeroCount`] or [`RateLimitSpecError::ZeroWindow`].
    pub fn new(count: u32, window: Duration) -> Result<RateLimit, RateLimitSpecError> {
        if count == 0 {
            return Err(RateLimitSpecError::ZeroCount {
                item: format!("0/{}", ShowWindow(window)),
            });
        }
        if window.is_zero() {
            return Err(RateLimitSpecError::ZeroWindow {
                item: format!("{count}/0s"),
            });
        }
        Ok(RateLimit { count, window })
    }

    /// Cronofy's documented defaults per application: 50 per second and 500 per minute.
    pub fn cronofy_defaults() -> Vec<RateLimit> {
        vec![
            RateLimit {
                count: 50,
                window: Duration::from_secs(1),
            },
            RateLimit {
                count: 500,
                window: Duration::from_secs(60),
            },
        ]
    }

    /// The most requests admitted in one window.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.window
    }
}

/// Shows a window as the spec grammar writes it: `s`, `min`, `h`, `10s`, `1500ms`.
struct ShowWindow(Duration);

impl fmt::Display for ShowWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() != 0 {
            return write!(f, "{}ms", d.as_millis());
        }
        let secs = d.as_secs();
        let (n, unit) = if secs != 0 && secs % 3600 == 0 {
            (secs / 3600, "h")
        } else if secs != 0 && secs % 60 == 0 {
            (secs / 60, "min")
        } else {
            (secs, "s")
        };
        if n == 1 {
            f.write_str(unit)
        } else {
            write!(f, "{n}{unit}")
        }
    }
}

impl fmt::Display for RateLimit {
    /// `50/s`, `500/min`, `100/10s`: a form [`parse_rate_limits`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, ShowWindow(self.window))
    }
}

impl FromStr for RateLimit {
    type Err = RateLimitSpecError;

    /// One item of a spec, e.g. `50/s`; see [`parse_rate_limits`].
    fn from_str(item: &str) -> Result<RateLimit, RateLimitSpecError> {
        parse_item(item)
    }
}

/// Why a rate-limit spec was refused. Each variant names the offending item as written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitSpecError {
    /// The spec (or an item between commas) is empty.
    Empty,
    /// An item is not `COUNT/WINDOW`.
    MissingSlash {
        /// The item.
        item: String,
    },
    /// The count is not a whole number from 1 to 4294967295.
    BadCount {
        /// The item.
        item: String,
    },
    /// The count is zero.
    ZeroCount {
        /// The item.
        item: String,
    },
    /// The window's unit is not one of `s`, `sec`, `m`, `min`, `h`.
    BadUnit {
        /// The item.
        item: String,
    },
    /// The window's multiplier is not a whole number, or the window is too long.
    BadWindow {
        /// The item.
        item: String,
    },
    /// The window is zero.
    ZeroWindow {
        /// The item.
        item: String,
    },
}

impl fmt::Display for RateLimitSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str(
                "empty rate limit: expected items like 50/s,500/min separated by commas",
            ),
            Self::MissingSlash { item } => {
                write!(f, "rate limit {item:?}: expected COUNT/WINDOW, e.g. 50/s")
            }
            Self::BadCount { item } => write!(
                f,
                "rate limit {item:?}: the count must be a whole number from 1 to 4294967295"
            ),
            Self::ZeroCount { item } => write!(f, "rate limit {item:?}: the count must not be 0"),
            Self::BadUnit { item } => write!(
                f,
                "rate limit {item:?}: unknown window unit (use s, sec, m, min or h, e.g. 500/min or 100/10s)"
            ),
            Self::BadWindow { item } => write!(
                f,
                "rate limit {item:?}: the window must be a whole number of units, at most a year"
            ),
            Self::ZeroWindow { item } => {
                write!(f, "rate limit {item:?}: the window must not be 0")
            }
        }
    }
}

impl std::error::Error for RateLimitSpecError {}

/// The longest window accepted: a year.
const MAX_WINDOW_SECS: u64 = 366 * 24 * 3600;

fn parse_item(raw: &str) -> Result<RateLimit, RateLimitSpecError> {
    let item = raw.trim();
    if item.is_empty() {
        return Err(RateLimitSpecError::Empty);
    }
    let owned = || item.to_owned();
    let (count, window) = item
        .split_once('/')
        .ok_or_else(|| RateLimitSpecError::MissingSlash { item: owned() })?;
    let count = count.trim();
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RateLimitSpecError::BadCount { item: owned() });
    }
    let count: u32 = count
        .parse()
        .map_err(|_| RateLimitSpecError::BadCount { item: owned() })?;
    if count == 0 {
        return Err(RateLimitSpecError::ZeroCount { item: owned() });
    }
    let window = window.trim();
    let digits = window.bytes().take_while(u8::is_ascii_digit).count();
    let (multiplier, unit) = window.split_at(digits);
    let unit_secs: u64 = match unit {
        "s" | "sec" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        _ => return Err(RateLimitSpecError::BadUnit { item: owned() }),
    };
    let multiplier: u64 = if multiplier.is_empty() {
        1
    } else {
        multiplier
            .parse()
            .map_err(|_| RateLimitSpecError::BadWindow { item: owned() })?
    };
    if multiplier == 0 {
        return Err(RateLimitSpecError::ZeroWindow { item: owned() });
    }
    let secs = multiplier
        .checked_mul(unit_secs)
        .filter(|s| *s <= MAX_WINDOW_SECS)
        .ok_or_else(|| RateLimitSpecError::BadWindow { item: owned() })?;
    Ok(RateLimit {
        count,
        window: Duration::from_secs(secs),
    })
}

/// Parses a spec like `50/s,500/min`: items `COUNT/WINDOW` separated by commas, where WINDOW
/// is an optional whole multiplier and a unit, `s` or `sec`, `m` or `min`, `h` (e.g. `100/10s`).
/// Spaces around items are allowed. Every item applies (a request is admitted only when it
/// is within all of them).
///
/// ```
/// use permissions_fake::{parse_rate_limits, RateLimitSpecError};
///
/// let limits = parse_rate_limits("50/s, 500/min").unwrap();
/// assert_eq!(limits.len(), 2);
/// assert!(matches!(parse_rate_limits("50/fortnight"), Err(RateLimitSpecError::BadUnit { .. })));
/// ```
///
/// # Errors
///
/// A [`RateLimitSpecError`] naming the first malformed item.
pub fn parse_rate_limits(spec: &str) -> Result<Vec<RateLimit>, RateLimitSpecError> {
    if spec.trim().is_empty() {
        return Err(RateLimitSpecError::Empty);
    }
    spec.split(',').map(parse_item).collect()
}

/// A window in which more requests were admitted than a limit allows: what
/// [`find_window_exceeded`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WindowExceeded {
    /// The limit exceeded.
    pub limit: RateLimit,
    /// The first admitted time in the window.
    pub first: Duration,
    /// The admitted time that went over (`count + 1` requests in `(this - window, this]`).
    pub at: Duration,
}

impl fmt::Display for WindowExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests within {:?} (from {:?} to {:?}), over the limit {}",
            u64::from(self.limit.count) + 1,
            self.at.saturating_sub(self.first),
            self.first,
            self.at,
            self.limit
        )
    }
}

/// Checks admitted times (sorted, as [`FakeCronofy::admitted_times`](crate::FakeCronofy::admitted_times)
/// gives them) against limits: the first window `(t - window, t]` ending at an admitted time `t`
/// that holds more than `count` of them, or `None` when every window is within its limit.
///
/// ```
/// use std::time::Duration;
/// use permissions_fake::{find_window_exceeded, RateLimit};
///
/// let limit = RateLimit::new(2, Duration::from_secs(1)).unwrap();
/// let ms = Duration::from_millis;
/// assert_eq!(find_window_exceeded(&[limit], &[ms(0), ms(10), ms(1000)]), None);
/// assert!(find_window_exceeded(&[limit], &[ms(0), ms(10), ms(999)]).is_some());
/// ```
pub fn find_window_exceeded(limits: &[RateLimit], times: &[Duration]) -> Option<WindowExceeded> {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    for limit in limits {
        let n = limit.count as usize;
        for i in n..sorted.len() {
            let (first, at) = (sorted[i - n], sorted[i]);
            if at - first < limit.window {
                return Some(WindowExceeded {
                    limit: *limit,
                    first,
                    at,
                });
            }
        }
    }
    None
}

/// The sliding log of one application.
#[derive(Debug, Default)]
struct AppLog {
    /// Admitted times within the longest window, oldest first.
    recent: VecDeque<Duration>,
    /// Admitted times for tests, oldest first (the newest [`ADMITTED_HISTORY_CAPACITY`]).
    history: VecDeque<Duration>,
    rejected: u64,
}

/// Decides, per application, whether a request is admitted.
///
/// A request arriving at `t` is admitted when, for every limit `(n, w)`, fewer than `n`
/// requests were admitted in `(t - w, t]`; otherwise it is refused and leaves no trace in
/// the log (refused requests do not count against later ones).
#[derive(Debug)]
pub(crate) struct Limiter {
    limits: Vec<RateLimit>,
    longest: Duration,
    start: Instant,
    apps: Mutex<HashMap<String, AppLog>>,
}

impl Limiter {
    pub(crate) fn new(limits: Vec<RateLimit>, start: Instant) -> Option<Limiter> {
        let longest = limits.iter().map(|l| l.window).max()?;
        Some(Limiter {
            limits,
            longest,
            start,
            apps: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn limits(&self) -> &[RateLimit] {
        &self.limits
    }

    /// Whether a request of `app` arriving now is admitted (and records it if so).
    pub(crate) fn admit(&self, app: &str) -> bool {
        let mut apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        // Read the clock under the lock: admitted times are in the order decided.
        let now = self.start.elapsed();
        self.decide(&mut apps, app, now)
    }

    /// The decision at `now` (not earlier than any time decided before).
    fn decide(&self, apps: &mut HashMap<String, AppLog>, app: &str, now: Duration) -> bool {
        if !apps.contains_key(app) {
            apps.insert(app.to_owned(), AppLog::default());
        }
        let Some(log) = apps.get_mut(app) else {
            return true;
        };
        while log.recent.front().is_some_and(|t| now - *t >= self.longest) {
            log.recent.pop_front();
        }
        let len = log.recent.len();
        let over = self.limits.iter().any(|limit| {
            let n = limit.count as usize;
            len >= n && now - log.recent[len - n] < limit.window
        });
        if over {
            log.rejected += 1;
            return false;
        }
        log.recent.push_back(now);
        if log.history.len() >= ADMITTED_HISTORY_CAPACITY {
            log.history.pop_front();
        }
        log.history.push_back(now);
        true
    }

    pub(crate) fn admitted_times(&self) -> HashMap<String, Vec<Duration>> {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        apps.iter()
            .map(|(app, log)| (app.clone(), log.history.iter().copied().collect()))
            .collect()
    }

    pub(crate) fn admitted_times_of(&self, app: &str) -> Vec<Duration> {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        apps.get(app)
            .map(|log| log.history.iter().copied().collect())
            .unwrap_or_default()
    }

    pub(crate) fn rejected_of(&self, app: &str) -> u64 {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        apps.get(app).map_or(0, |log| log.rejected)
    }

    pub(crate) fn rejected(&self) -> u64 {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        apps.values().map(|log| log.rejected).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn parses_specs() {
        let limits = parse_rate_limits("50/s,500/min").unwrap();
        assert_eq!(
            limits,
            vec![
                RateLimit::new(50, secs(1)).unwrap(),
                RateLimit::new(500, secs(60)).unwrap()
            ]
        );
        let all = parse_rate_limits(" 1/sec , 2/m,3/h,4/10s, 5/2min ").unwrap();
        let windows: Vec<u64> = all.iter().map(|l| l.window().as_secs()).collect();
        assert_eq!(windows, [1, 60, 3600, 10, 120]);
        for limit in &all {
            assert_eq!(limit.to_string().parse::<RateLimit>().unwrap(), *limit);
        }
        assert_eq!(RateLimit::cronofy_defaults(), limits);
    }

    #[test]
    fn rejects_malformed_specs() {
        use RateLimitSpecError as E;
        type Check = fn(&E) -> bool;
        let cases: &[(&str, Check)] = &[
            ("", |e| matches!(e, E::Empty)),
            ("  ", |e| matches!(e, E::Empty)),
            ("50/s,", |e| matches!(e, E::Empty)),
            ("50", |e| matches!(e, E::MissingSlash { .. })),
            ("x/s", |e| matches!(e, E::BadCount { .. })),
            ("-1/s", |e| matches!(e, E::BadCount { .. })),
            ("+1/s", |e| matches!(e, E::BadCount { .. })),
            ("99999999999/s", |e| matches!(e, E::BadCount { .. })),
            ("0/s", |e| matches!(e, E::ZeroCount { .. })),
            ("50/", |e| matches!(e, E::BadUnit { .. })),
            ("50/d", |e| matches!(e, E::BadUnit { .. })),
            ("50/S", |e| matches!(e, E::BadUnit { .. })),
            ("50/1.5s", |e| matches!(e, E::BadUnit { .. })),
            ("50/0s", |e| matches!(e, E::ZeroWindow { .. })),
            ("50/99999999999999999999h", |e| {
                matches!(e, E::BadWindow { .. })
            }),
            ("50/9000h", |e| matches!(e, E::BadWindow { .. })),
        ];
        for (spec, expected) in cases {
            let error = parse_rate_limits(spec).unwrap_err();
            assert!(expected(&error), "{spec:?}: {error:?}");
            assert!(!error.to_string().is_empty());
        }
        let shown = parse_rate_limits("50/s,7/fortnight")
            .unwrap_err()
            .to_string();
        assert!(shown.contains("\"7/fortnight\""), "{shown}");
        assert!(RateLimit::new(0, secs(1)).is_err());
        assert!(RateLimit::new(1, Duration::ZERO).is_err());
    }

    #[test]
    fn finds_the_window_exceeded() {
        let limits = [
            RateLimit::new(2, secs(1)).unwrap(),
            RateLimit::new(3, secs(10)).unwrap(),
        ];
        let ms = Duration::from_millis;
        assert_eq!(find_window_exceeded(&limits, &[]), None);
        assert_eq!(
            find_window_exceeded(&limits, &[ms(0), ms(500), ms(1000)]),
            None
        );
        let over = find_window_exceeded(&limits, &[ms(0), ms(500), ms(999)]).unwrap();
        assert_eq!(
            (over.limit.count(), over.first, over.at),
            (2, ms(0), ms(999))
        );
        let over = find_window_exceeded(&limits, &[ms(0), ms(1000), ms(2000), ms(9999)]);
        assert_eq!(over.unwrap().limit.count(), 3);
        assert_eq!(
            find_window_exceeded(&limits, &[ms(0), ms(1000), ms(2000), ms(10_000)]),
            None
        );
    }

    /// The sliding log against random arrivals: the admitted times never exceed a window,
    /// and every refusal was needed (admitting it would have exceeded a window).
    #[test]
    fn sliding_log_is_exact_for_random_arrivals() {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        for round in 0..200 {
            let limits: Vec<RateLimit> = (0..rng.random_range(1..=3))
                .map(|_| {
                    RateLimit::new(
                        rng.random_range(1..=8),
                        Duration::from_millis(rng.random_range(1..=2000)),
                    )
                    .unwrap()
                })
                .collect();
            let limiter = Limiter::new(limits.clone(), Instant::now()).unwrap();
            let mut apps = HashMap::new();
            let mut now = Duration::ZERO;
            let mut admitted = Vec::new();
            for _ in 0..300 {
                // Bursts (same instant) and gaps.
                if rng.random_bool(0.7) {
                    now += Duration::from_millis(rng.random_range(0..300));
                }
                if limiter.decide(&mut apps, "a", now) {
                    admitted.push(now);
                    assert_eq!(
                        find_window_exceeded(&limits, &admitted),
                        None,
                        "round {round}"
                    );
                } else {
                    let mut with = admitted.clone();
                    with.push(now);
                    assert!(
                        find_window_exceeded(&limits, &with).is_some(),
                        "round {round}: refused at {now:?} without need"
                    );
                }
            }
            assert!(!admitted.is_empty());
        }
    }

    #[test]
    fn several_windows_at_once() {
        let limiter = Limiter::new(
            vec![
                RateLimit::new(2, secs(1)).unwrap(),
                RateLimit::new(3, secs(10)).unwrap(),
            ],
            Instant::now(),
        )
        .unwrap();
        let mut apps = HashMap::new();
        let ms = Duration::from_millis;
        let decisions: Vec<(u64, bool)> = [0, 100, 200, 1099, 1100, 2500, 9999, 10_000, 10_100]
            .into_iter()
            .map(|t| (t, limiter.decide(&mut apps, "a", ms(t))))
            .collect();
        assert_eq!(
            decisions,
            [
                (0, true),
                (100, true),
                (200, false),   // 2/s: 0 and 100 in (-800, 200]
                (1099, true),   // 2/s: only 100 in (99, 1099]; 3/10s: 2 so far
                (1100, false),  // 3/10s: 0, 100 and 1099
                (2500, false),  // 3/10s still full
                (9999, false),  // 0 is still in (-1, 9999]
                (10_000, true), // (0, 10000] holds 100 and 1099: the window is half-open
                (10_100, true), // (100, 10100] holds 1099 and 10000
            ]
        );
        // The refusals were not admitted.
        assert_eq!(apps["a"].history.len(), 5);
        assert_eq!(apps["a"].rejected, 4);
    }

    #[test]
    fn limiter_admits_exactly_count_per_window_and_separates_apps() {
        let limiter = Limiter::new(
            vec![RateLimit::new(3, Duration::from_secs(3600)).unwrap()],
            Instant::now(),
        )
        .unwrap();
        let a: Vec<bool> = (0..5).map(|_| limiter.admit("a")).collect();
        assert_eq!(a, [true, true, true, false, false]);
        assert!(limiter.admit("b"));
        assert_eq!(limiter.rejected_of("a"), 2);
        assert_eq!(limiter.rejected_of("b"), 0);
        assert_eq!(limiter.rejected(), 2);
        assert_eq!(limiter.admitted_times_of("a").len(), 3);
        assert_eq!(limiter.admitted_times().len(), 2);
        assert!(Limiter::new(Vec::new(), Instant::now()).is_none());
    }
}
