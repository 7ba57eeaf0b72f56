//! Where sessions live: [`tower_sessions`] manages them (random ids, the cookie, the id cycled
//! at sign-in, expiry); this module says where the records are kept, in a [`Store`].
//!
//! - **In memory** (the default): one process, nothing to install. `tower-sessions`' own
//!   `MemoryStore` never deletes an expired record, so this is a bounded one: at most
//!   [`MAX_ANONYMOUS`] sessions that have not signed in (a flood of Connect presses pushes out
//!   the oldest of those, in constant time) and at most [`MAX_SIGNED_IN`] signed-in ones, which
//!   nothing pushes out (when full, expired ones are dropped; if none has, new sign-ins are
//!   refused).
//! - **In Redis** (`tower-sessions-redis-store`), with the requests in flight beside them, so
//!   that any number of replicas serve one user. Redis expires each record at its expiry date.
//!
//! **What a real app changes**: the session then holds only your user id; the Cronofy tokens go
//! to your database, encrypted at rest, next to the user record (refreshed tokens saved there as
//! they come). Here the access and refresh tokens sit in the session record so that the example
//! needs no database.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use fred::clients::Pool;
use fred::interfaces::ClientLike as _;
use fred::types::config::Config;
use rand::Rng as _;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::time::{Duration, OffsetDateTime};
use tower_sessions::session::{Id, Record};
use tower_sessions::{SessionStore, session_store};

use crate::pending::PendingStore;

/// At most this many sessions that have not signed in, in memory; the oldest goes first.
pub const MAX_ANONYMOUS: usize = 10_000;

/// At most this many signed-in sessions, in memory; none is ever pushed out.
pub const MAX_SIGNED_IN: usize = 100_000;

/// A session unused for this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::hours(2);

/// A signed-in session ends this long after sign-in, however busy.
pub const ABSOLUTE_LIFETIME: Duration = Duration::hours(12);

/// A session that pressed Connect but has not come back signed in ends after this long idle.
pub const SIGN_IN_TIMEOUT: Duration = Duration::minutes(15);

/// Session keys.
pub(crate) const CONNECTED: &str = "connected";
pub(crate) const FLOW: &str = "flow";
pub(crate) const CSRF: &str = "csrf";

/// The signed-in user's Cronofy access, in the session record: the tokens a
/// [`permissions_reqwest::Session`] is built from for each call, and saved back after a refresh.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Connected {
    /// The access token. Never printed (see the `Debug` impl).
    pub(crate) access_token: String,
    /// The refresh token, to get a new access token when Cronofy answers 401. Never printed.
    /// Empty when Cronofy sent none, or in a record written before it was kept: then a 401
    /// ends the session and the user connects again.
    #[serde(default)]
    pub(crate) refresh_token: String,
    /// When the user signed in, as a Unix time: the absolute lifetime counts from here.
    pub(crate) since: i64,
}

impl fmt::Debug for Connected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connected")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("since", &self.since)
            .finish()
    }
}

impl Connected {
    pub(crate) fn expired(&self, now: OffsetDateTime) -> bool {
        now.unix_timestamp() - self.since > ABSOLUTE_LIFETIME.whole_seconds()
    }
}

/// Where sessions and the requests in flight are kept: this process's memory, or Redis.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) sessions: Sessions,
    pub(crate) pending: PendingStore,
}

/// [`Store::redis`] could not connect.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL is not a Redis URL (`redis://host:port/db`, `rediss://…`).
    Url(fred::error::Error),
    /// Redis did not answer.
    Connect(fred::error::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the URL: it may carry a password.
        match self {
            Self::Url(_) => f.write_str("REDIS_URL is not a valid Redis URL"),
            Self::Connect(_) => f.write_str("cannot connect to Redis"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Url(e) | Self::Connect(e) => Some(e),
        }
    }
}

impl Store {
    /// Sessions in this process's memory, bounded: one replica only.
    pub fn memory() -> Store {
        Store {
            sessions: Sessions::Memory(Arc::default()),
            pending: PendingStore::memory(),
        }
    }

    /// Sessions and requests in flight in the Redis at `url` (`redis://127.0.0.1:6379/0`):
    /// every replica given the same Redis serves the same users.
    ///
    /// # Errors
    /// [`StoreError`] when the URL is not a Redis URL or Redis does not answer.
    pub async fn redis(url: &str) -> Result<Store, StoreError> {
        let config = Config::from_url(url).map_err(StoreError::Url)?;
        let pool = Pool::new(config, None, None, None, 4).map_err(StoreError::Url)?;
        // The pool reconnects on its own afterwards; the first connection must work.
        let _task = pool.init().await.map_err(StoreError::Connect)?;
        Ok(Store {
            sessions: Sessions::Redis(tower_sessions_redis_store::RedisStore::new(pool.clone())),
            pending: PendingStore::Redis(pool),
        })
    }
}

/// The session records: the bounded memory store, or `tower-sessions-redis-store`.
#[derive(Clone, Debug)]
pub(crate) enum Sessions {
    Memory(Arc<MemorySessions>),
    Redis(tower_sessions_redis_store::RedisStore<Pool>),
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Sessions::Memory(m) => m.create(record),
            Sessions::Redis(r) => r.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Sessions::Memory(m) => m.save(record),
            Sessions::Redis(r) => r.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Sessions::Memory(m) => Ok(m.load(id)),
            Sessions::Redis(r) => r.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Sessions::Memory(m) => {
                m.delete(id);
                Ok(())
            }
            Sessions::Redis(r) => r.delete(id).await,
        }
    }
}

/// The bounded in-memory session store.
#[derive(Default)]
pub(crate) struct MemorySessions {
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    records: HashMap<Id, (Record, bool)>,
    /// Ids of sessions that have not signed in, oldest first. May hold ids since deleted or
    /// signed in; those are skipped (and compacted away when the queue grows).
    anonymous_order: VecDeque<Id>,
    anonymous: usize,
    signed_in: usize,
}

/// Counts, never ids (each one lets a browser act as a user).
impl fmt::Debug for MemorySessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("MemorySessions")
            .field("anonymous", &inner.anonymous)
            .field("signed_in", &inner.signed_in)
            .finish()
    }
}

fn signed_in(record: &Record) -> bool {
    record.data.contains_key(CONNECTED)
}

impl MemoryInner {
    fn remove(&mut self, id: &Id) {
        if let Some((_, signed_in)) = self.records.remove(id) {
            if signed_in {
                self.signed_in -= 1;
            } else {
                self.anonymous -= 1;
            }
        }
    }

    /// Makes room for one more session of this kind.
    fn make_room(&mut self, for_signed_in: bool) -> session_store::Result<()> {
        if for_signed_in {
            if self.signed_in >= MAX_SIGNED_IN {
                let now = OffsetDateTime::now_utc();
                let expired: Vec<Id> = self
                    .records
                    .iter()
                    .filter(|(_, (record, _))| record.expiry_date <= now)
                    .map(|(id, _)| *id)
                    .collect();
                for id in expired {
                    self.remove(&id);
                }
            }
            if self.signed_in >= MAX_SIGNED_IN {
                return Err(session_store::Error::Backend(
                    "too many signed-in sessions".to_owned(),
                ));
            }
            return Ok(());
        }
        while self.anonymous >= MAX_ANONYMOUS {
            let Some(oldest) = self.anonymous_order.pop_front() else {
                break;
            };
            if matches!(self.records.get(&oldest), Some((_, false))) {
                self.remove(&oldest);
            }
        }
        if self.anonymous_order.len() > 2 * MAX_ANONYMOUS {
            let records = &self.records;
            self.anonymous_order
                .retain(|id| matches!(records.get(id), Some((_, false))));
        }
        Ok(())
    }

    fn insert(&mut self, record: &Record) -> session_store::Result<()> {
        let is_signed_in = signed_in(record);
        let was = self.records.get(&record.id).map(|(_, s)| *s);
        if was != Some(is_signed_in) {
            self.make_room(is_signed_in)?;
            self.remove(&record.id);
            if is_signed_in {
                self.signed_in += 1;
            } else {
                self.anonymous += 1;
                self.anonymous_order.push_back(record.id);
            }
        }
        self.records
            .insert(record.id, (record.clone(), is_signed_in));
        Ok(())
    }
}

impl MemorySessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut inner = self.lock();
        while inner.records.contains_key(&record.id) {
            record.id = Id::default();
        }
        inner.insert(record)
    }

    fn save(&self, record: &Record) -> session_store::Result<()> {
        self.lock().insert(record)
    }

    fn load(&self, id: &Id) -> Option<Record> {
        let mut inner = self.lock();
        let (record, _) = inner.records.get(id)?;
        if record.expiry_date <= OffsetDateTime::now_utc() {
            inner.remove(id);
            return None;
        }
        Some(record.clone())
    }

    fn delete(&self, id: &Id) {
        self.lock().remove(id);
    }

    /// How many sessions there are: (not signed in, signed in).
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.anonymous, inner.signed_in)
    }
}

/// 32 random letters and digits (about 190 bits) from the thread-local CSPRNG: state values,
/// flow keys and form tokens.
pub(crate) fn random_token() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}
