//! The Lua script: `permissions_core`'s pacing arithmetic ([`PacerState`]), line for line, run
//! atomically by Redis on one hash per application.
//!
//! [`PacerState`]: permissions_core::transport::PacerState

use std::sync::LazyLock;

use permissions_core::PacingConfig;
use redis::{FromRedisValue, RedisError, Script, ScriptInvocation, Value};

/// The script's source. Integers only (microseconds; Redis's Lua numbers are doubles, exact
/// below 2^53, about 285 years of microseconds), written back with `%.0f` so that no number is
/// ever printed in exponent form. `PacerState`'s saturating arithmetic never saturates at
/// these magnitudes, so plain arithmetic is the same.
pub(crate) const SOURCE: &str = r#"
-- One pacing decision for one application, atomically: permissions_core's PacerState
-- (reserve, throttled, succeeded, hold, idle_at), line for line.
-- KEYS[1]: the application's hash: t1..tN (each window's theoretical arrival time),
--          b (no request before this), p (the next 429's penalty; 0: the first one).
--          Microseconds on Redis's clock.
-- ARGV[1]: 'reserve', 'throttled', 'answered' or 'hold' (writes only when a 429 holds).
-- ARGV[2]: '' in production (read Redis's clock with TIME); tests pass a time instead.
-- ARGV[3], ARGV[4]: the first and the largest penalty.
-- ARGV[3 + 2i], ARGV[4 + 2i]: window i's interval T and tolerance (B - 1) * T.
-- Returns {wait, penalty active (1) or not (0), now, time to live in ms (0: no key or, for
-- 'hold' when nothing holds, nothing written)}.
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local mode = ARGV[1]
local now
if ARGV[2] == '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
else
  now = tonumber(ARGV[2])
end
local first_penalty = tonumber(ARGV[3])
local max_penalty = tonumber(ARGV[4])
local windows = (#ARGV - 4) / 2
local interval, tolerance = {}, {}
local fields = {'b', 'p'}
for i = 1, windows do
  interval[i] = tonumber(ARGV[3 + 2 * i])
  tolerance[i] = tonumber(ARGV[4 + 2 * i])
  fields[i + 2] = 't' .. i
end
local stored = redis.call('HMGET', key, unpack(fields))
local blocked = tonumber(stored[1]) or 0
local penalty = tonumber(stored[2]) or 0
local tat = {}
for i = 1, windows do tat[i] = tonumber(stored[i + 2]) or 0 end

-- PacerState::idle_at: from when the state behaves as a fresh one.
local function idle_at()
  local rested = blocked
  for i = 1, windows do
    if tat[i] > rested then rested = tat[i] end
  end
  if penalty ~= 0 and blocked + penalty > rested then rested = blocked + penalty end
  return rested
end

-- PacerState::fit: from idle_at on, a fresh state.
local function fit()
  if now >= idle_at() then
    for i = 1, windows do tat[i] = 0 end
    blocked = 0
    penalty = 0
  end
end

-- PacerState::hold: nothing holds, nothing is written (the common case: a read); a 429 since
-- the slot was reserved gives it up and reserves a new one, after the block at the steady
-- rate, so that the callers it held do not all wake together when it ends.
if mode == 'hold' then
  if blocked <= now then
    local active = 0
    if penalty ~= 0 then active = 1 end
    return {0, active, now, 0}
  end
  mode = 'reserve'
end

local wait = 0
if mode == 'reserve' then
  fit()
  local at = math.max(now, blocked)
  for i = 1, windows do
    local earliest = tat[i] - tolerance[i]
    if earliest > at then at = earliest end
  end
  for i = 1, windows do
    tat[i] = math.max(tat[i], at) + interval[i]
  end
  wait = at - now
elseif mode == 'throttled' then
  fit()
  local next_penalty = first_penalty
  if penalty ~= 0 then
    next_penalty = math.max(math.min(penalty, max_penalty), first_penalty)
  end
  blocked = math.max(blocked, now + next_penalty)
  for i = 1, windows do
    tat[i] = math.max(tat[i], blocked + tolerance[i])
  end
  penalty = math.min(next_penalty * 2, max_penalty)
elseif mode == 'answered' then
  -- PacerState::succeeded; nothing to write when no penalty has grown (or no key).
  if penalty == 0 then return {0, 0, now, 0} end
  penalty = 0
else
  return redis.error_reply('permissions-redis: unknown pacing mode')
end

-- Write the state back, and let the key expire when it would equal a fresh one.
local idle = idle_at()
local ttl = 0
if idle > now then
  local values = {'b', string.format('%.0f', blocked), 'p', string.format('%.0f', penalty)}
  for i = 1, windows do
    values[#values + 1] = 't' .. i
    values[#values + 1] = string.format('%.0f', tat[i])
  end
  redis.call('HSET', key, unpack(values))
  ttl = math.floor((idle - now + 999) / 1000)
  if ARGV[2] == '' then redis.call('PEXPIRE', key, string.format('%.0f', ttl)) end
else
  redis.call('DEL', key)
end
local active = 0
if penalty ~= 0 then active = 1 end
return {wait, active, now, ttl}
"#;

/// The script, hashed once per process; invoked by hash (EVALSHA), loaded on `NOSCRIPT`.
pub(crate) static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SOURCE));

/// What a decision is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `PacerState::reserve`.
    Reserve,
    /// `PacerState::throttled`.
    Throttled,
    /// `PacerState::succeeded`.
    Answered,
    /// `PacerState::hold`: a read when nothing holds (the common case); when a 429 since holds
    /// everyone off, the slot that came due is given up and a new one reserved.
    Hold,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Reserve => "reserve",
            Mode::Throttled => "throttled",
            Mode::Answered => "answered",
            Mode::Hold => "hold",
        }
    }
}

/// The script's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// How long to wait for the reserved slot (`Reserve`, and `Hold` when a 429 holds); 0 for
    /// the other modes. Microseconds.
    pub(crate) wait_us: u64,
    /// Whether a 429 penalty has grown (a success should reset it).
    pub(crate) penalty_active: bool,
    /// Redis's clock when it decided, microseconds since the Unix epoch.
    pub(crate) now_us: u64,
    /// The key's time to live in milliseconds (0: the key is gone, the state is fresh; or a
    /// `Hold` that found nothing holding wrote nothing).
    pub(crate) ttl_ms: u64,
}

impl FromRedisValue for Reply {
    fn from_redis_value(value: Value) -> Result<Self, redis::ParsingError> {
        let numbers: Vec<i64> = FromRedisValue::from_redis_value(value)?;
        let field = |index: usize| {
            numbers
                .get(index)
                .and_then(|&number| u64::try_from(number).ok())
                .ok_or_else(|| redis::ParsingError::from("unexpected pacing script reply"))
        };
        if numbers.len() != 4 {
            return Err("unexpected pacing script reply length".into());
        }
        Ok(Reply {
            wait_us: field(0)?,
            penalty_active: field(1)? != 0,
            now_us: field(2)?,
            ttl_ms: field(3)?,
        })
    }
}

/// One application's key and its configuration's arguments, built once.
#[derive(Clone, Debug)]
pub(crate) struct Decision {
    key: String,
    args: Vec<String>,
}

impl Decision {
    pub(crate) fn new(key: String, config: &PacingConfig) -> Self {
        let mut args = vec![
            micros(config.first_penalty()).to_string(),
            micros(config.max_penalty()).to_string(),
        ];
        for window in config.windows() {
            args.push(window.interval_us().to_string());
            args.push(window.tolerance_us().to_string());
        }
        Self { key, args }
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The invocation of `mode`; `now_us` only in tests (production reads Redis's `TIME`).
    pub(crate) fn invocation(&self, mode: Mode, now_us: Option<u64>) -> ScriptInvocation<'static> {
        let mut invocation = SCRIPT.prepare_invoke();
        invocation.key(&self.key).arg(mode.as_str());
        match now_us {
            Some(now) => invocation.arg(now),
            None => invocation.arg(""),
        };
        for arg in &self.args {
            invocation.arg(arg);
        }
        invocation
    }
}

/// A duration in whole microseconds, saturating.
pub(crate) fn micros(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Why a decision could not be made on Redis.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Redis answered with an error, or the connection failed.
    Redis(RedisError),
    /// No answer within the decision's time-out (the async pacer's own timer).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    TimedOut,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Redis(error) if error.is_timeout() => f.write_str("no answer in time"),
            Failure::Redis(error) => write!(f, "{error}"),
            Failure::TimedOut => f.write_str("no answer in time"),
        }
    }
}

impl From<RedisError> for Failure {
    fn from(error: RedisError) -> Self {
        Failure::Redis(error)
    }
}
