//! Where each visitor's flow state and Cronofy tokens live: in this process's memory, keyed by a
//! random session id that the browser holds in an `HttpOnly`, `SameSite=Lax` cookie.
//!
//! **This is the part a real app replaces.** Keep the tokens in your database, encrypted at
//! rest, next to your own user record (and persist refreshed tokens from
//! [`Session::on_refresh`](permissions_reqwest::Session::on_refresh)); keep the short-lived
//! `state` values in your session store. Here everything is lost on restart, and the store is
//! bounded ([`MAX_SESSIONS`], [`IDLE_TIMEOUT`]) only so that a demo cannot be made to grow
//! without limit.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use permissions_core::{AuthorizationRequest, PermissionsRequest};
use rand::Rng as _;
use rand::distr::Alphanumeric;

/// The cookie that carries the session id.
pub(crate) const COOKIE_NAME: &str = "session";

/// At most this many sessions are kept; the least recently used goes first.
pub(crate) const MAX_SESSIONS: usize = 10_000;

/// A session unused for this long is forgotten.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);

/// One visitor's state. No `Debug`: it holds tokens and state values.
#[derive(Default)]
pub(crate) struct UserSession {
    /// Step 1, in flight: the authorization request whose state the OAuth callback must carry.
    pub(crate) authorization: Option<AuthorizationRequest>,
    /// After step 2: the user's tokens, refreshed automatically on 401.
    pub(crate) cronofy: Option<permissions_reqwest::Session>,
    /// Steps 4-6, in flight: the permissions request whose state the return must carry.
    pub(crate) permissions: Option<PermissionsRequest>,
}

struct Entry {
    session: UserSession,
    last_used: Instant,
}

/// Every visitor's session.
#[derive(Default)]
pub(crate) struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
}

/// Shows how many sessions there are, never their ids (each one lets a browser act as a user).
impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Sessions").field("count", &count).finish()
    }
}

impl Sessions {
    /// Runs `f` on the session with this id, if there is one.
    pub(crate) fn with<R>(&self, id: &str, f: impl FnOnce(&mut UserSession) -> R) -> Option<R> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get_mut(id)?;
        let now = Instant::now();
        if now.duration_since(entry.last_used) > IDLE_TIMEOUT {
            entries.remove(id);
            return None;
        }
        entry.last_used = now;
        Some(f(&mut entry.session))
    }

    /// Starts a session and returns its id.
    pub(crate) fn create(&self) -> String {
        let id = random_token();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if entries.len() >= MAX_SESSIONS {
            entries.retain(|_, entry| now.duration_since(entry.last_used) <= IDLE_TIMEOUT);
        }
        if entries.len() >= MAX_SESSIONS {
            let oldest = entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            id.clone(),
            Entry {
                session: UserSession::default(),
                last_used: now,
            },
        );
        id
    }

    /// How many sessions are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// 32 random letters and digits (about 190 bits) from the thread-local CSPRNG: session ids and
/// state values.
pub(crate) fn random_token() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// The session id from the request's `Cookie` headers, if any.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie` value for a new session. `Secure` when the app is served over https.
pub(crate) fn cookie(id: &str, secure: bool) -> String {
    // SameSite=Lax: the cookie comes along on the top-level GET navigations back from Cronofy
    // (`/oauth/callback`, `/permission`), but not on cross-site POSTs, so another site cannot
    // submit `POST /elevate` on the user's behalf.
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}={id}; Path=/; HttpOnly; SameSite=Lax{secure}")
}
