//! The requests in flight, by `state`: each Connect and each "Ask for unrestricted access" gets
//! a fresh random `state`, kept here until its return comes back, so that several tabs can each
//! run their own flow. A `state` is taken out atomically when its return arrives: of two returns
//! carrying the same `state`, exactly one gets the request; the other is told it was already
//! used.
//!
//! Kept in this process's memory, or in Redis (one hash per browser session, so that any replica
//! can answer any return). Each browser keeps at most [`MAX_PENDING`] requests in flight (the
//! oldest goes first) for at most [`PENDING_TTL`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fred::clients::Pool;
use fred::interfaces::LuaInterface as _;
use serde::{Deserialize, Serialize};

/// At most this many requests in flight per browser session; a new one pushes out the oldest.
pub const MAX_PENDING: usize = 8;

/// A request in flight is forgotten after this long without an answer.
pub const PENDING_TTL: Duration = Duration::from_secs(30 * 60);

/// At most this many browser sessions with requests in flight, in memory. When full, entries
/// past their time are dropped; if none is, new requests are refused (never someone else's
/// request pushed out).
pub const MAX_FLOWS: usize = 50_000;

/// What a `state` was sent for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Pending {
    /// Step 1: the OAuth authorization request (the user pressed Connect).
    Login,
    /// Steps 4-5: the permissions request for these calendars.
    Permissions {
        /// The calendar ids asked for.
        calendars: Vec<String>,
    },
}

impl Pending {
    /// The part of the key that says which return may take it: a `state` sent for a login is
    /// no answer to a permissions request, and the other way round.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Pending::Login => Kind::Login,
            Pending::Permissions { .. } => Kind::Permissions,
        }
    }
}

/// Which return a `state` may be taken by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `GET /oauth/callback`.
    Login,
    /// `GET /permission`.
    Permissions,
}

fn field(kind: Kind, state: &str) -> String {
    let kind = match kind {
        Kind::Login => "login",
        Kind::Permissions => "permissions",
    };
    format!("{kind}:{state}")
}

/// The store for requests in flight could not be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum PendingError {
    /// Redis did not answer, or answered with an error.
    Redis(fred::error::Error),
    /// A stored entry could not be read back.
    Decode(serde_json::Error),
    /// The in-memory store is full of live entries ([`MAX_FLOWS`]).
    Full,
}

impl fmt::Display for PendingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redis(_) => f.write_str("the store for requests in flight did not answer"),
            Self::Decode(_) => f.write_str("a stored request in flight cannot be read"),
            Self::Full => f.write_str("too many sign-ins are in progress; try again later"),
        }
    }
}

impl std::error::Error for PendingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Redis(e) => Some(e),
            Self::Decode(e) => Some(e),
            Self::Full => None,
        }
    }
}

/// Where requests in flight are kept.
#[derive(Clone)]
pub(crate) enum PendingStore {
    Memory(Arc<Mutex<MemoryPending>>),
    Redis(Pool),
}

/// Says which store, never a key (the flow keys belong to browser sessions).
impl fmt::Debug for PendingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory(memory) => {
                let flows = memory
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .flows
                    .len();
                f.debug_struct("PendingStore::Memory")
                    .field("flows", &flows)
                    .finish()
            }
            Self::Redis(_) => f.write_str("PendingStore::Redis"),
        }
    }
}

#[derive(Default)]
pub(crate) struct MemoryPending {
    flows: HashMap<String, Flow>,
}

struct Flow {
    entries: VecDeque<(String, Pending)>,
    expires: Instant,
}

/// Adds a field, and drops the oldest one past the cap. The sequence number (`#seq`) orders
/// the fields; the whole hash expires when no request was added for the TTL.
const PUT_SCRIPT: &str = r"
local seq = redis.call('HINCRBY', KEYS[1], '#seq', 1)
redis.call('HSET', KEYS[1], ARGV[1], seq .. '|' .. ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
if redis.call('HLEN', KEYS[1]) - 1 > tonumber(ARGV[4]) then
  local all = redis.call('HGETALL', KEYS[1])
  local oldest, oldest_seq = nil, nil
  for i = 1, #all, 2 do
    if all[i] ~= '#seq' then
      local s = tonumber(string.match(all[i + 1], '^(%d+)|'))
      if oldest_seq == nil or s < oldest_seq then oldest, oldest_seq = all[i], s end
    end
  end
  redis.call('HDEL', KEYS[1], oldest)
end
return 1
";

/// Reads and deletes a field in one step: Redis runs a script atomically, so of two returns
/// with the same `state` only the first gets a value.
const TAKE_SCRIPT: &str = r"
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
return value
";

fn redis_key(flow: &str) -> String {
    format!("permissions-web:pending:{flow}")
}

impl PendingStore {
    pub(crate) fn memory() -> PendingStore {
        PendingStore::Memory(Arc::default())
    }

    /// Keeps `pending` under `state` for the browser session whose flow key is `flow`.
    pub(crate) async fn put(
        &self,
        flow: &str,
        state: &str,
        pending: &Pending,
    ) -> Result<(), PendingError> {
        let field = field(pending.kind(), state);
        match self {
            PendingStore::Memory(memory) => {
                let mut memory = memory.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                if memory.flows.len() >= MAX_FLOWS && !memory.flows.contains_key(flow) {
                    memory.flows.retain(|_, flow| flow.expires > now);
                    if memory.flows.len() >= MAX_FLOWS {
                        return Err(PendingError::Full);
                    }
                }
                let entry = memory.flows.entry(flow.to_owned()).or_insert_with(|| Flow {
                    entries: VecDeque::new(),
                    expires: now,
                });
                if entry.expires <= now {
                    entry.entries.clear();
                }
                entry.expires = now + PENDING_TTL;
                entry.entries.push_back((field, pending.clone()));
                while entry.entries.len() > MAX_PENDING {
                    entry.entries.pop_front();
                }
                Ok(())
            }
            PendingStore::Redis(pool) => {
                let value = serde_json::to_string(pending).map_err(PendingError::Decode)?;
                let args: Vec<String> = vec![
                    field,
                    value,
                    PENDING_TTL.as_secs().to_string(),
                    MAX_PENDING.to_string(),
                ];
                pool.next()
                    .eval::<i64, _, _, _>(PUT_SCRIPT, redis_key(flow), args)
                    .await
                    .map_err(PendingError::Redis)?;
                Ok(())
            }
        }
    }

    /// Takes the request sent with `state` for this kind of return out of the store, if it is
    /// there: once only.
    pub(crate) async fn take(
        &self,
        flow: &str,
        kind: Kind,
        state: &str,
    ) -> Result<Option<Pending>, PendingError> {
        let field = field(kind, state);
        match self {
            PendingStore::Memory(memory) => {
                let mut memory = memory.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(entry) = memory.flows.get_mut(flow) else {
                    return Ok(None);
                };
                if entry.expires <= Instant::now() {
                    memory.flows.remove(flow);
                    return Ok(None);
                }
                let Some(at) = entry.entries.iter().position(|(f, _)| *f == field) else {
                    return Ok(None);
                };
                let taken = entry.entries.remove(at).map(|(_, pending)| pending);
                if entry.entries.is_empty() {
                    memory.flows.remove(flow);
                }
                Ok(taken)
            }
            PendingStore::Redis(pool) => {
                let value: Option<String> = pool
                    .next()
                    .eval(TAKE_SCRIPT, redis_key(flow), vec![field])
                    .await
                    .map_err(PendingError::Redis)?;
                let Some(value) = value else {
                    return Ok(None);
                };
                let json = value
                    .split_once('|')
                    .map_or(value.as_str(), |(_, json)| json);
                serde_json::from_str(json)
                    .map(Some)
                    .map_err(PendingError::Decode)
            }
        }
    }
}
