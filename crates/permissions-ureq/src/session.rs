//! [`Session`]: calls with one user's tokens, refreshing the access token when Cronofy says 401.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use permissions_core::{
    AccessToken, AfterUnauthorized, ApiError, CalendarList, ClientCredentials, Endpoint,
    ListCalendars, PermissionsOutcome, PermissionsRequest, RefreshAccessToken, RefreshToken,
    SessionTokens, TokenResponse,
};

use crate::{Client, Error};

type RefreshCallback = dyn Fn(&TokenResponse) + Send + Sync;

/// One user's tokens with automatic refresh: when a call answers 401 (unauthorized), the
/// session refreshes the access token once and retries the call once.
///
/// Clones share the tokens. Calls that hit 401 together share a single refresh: the first
/// refreshes while the others wait, then they retry with the new token.
///
/// `Debug` never shows a token.
///
/// ```no_run
/// use permissions_core::{AccessToken, ClientCredentials, ClientSecret, RefreshToken};
/// use permissions_ureq::{Client, Session};
///
/// let session = Session::new(
///     Client::new(),
///     ClientCredentials::new("client_id", ClientSecret::new("client_secret")),
///     AccessToken::new("access"),
///     RefreshToken::new("refresh"),
/// )
/// .on_refresh(|tokens| {
///     // Persist tokens.access_token (and tokens.refresh_token, if sent) here.
///     let _ = tokens;
/// });
/// let calendars = session.list_calendars()?;
/// # let _ = calendars;
/// # Ok::<(), permissions_ureq::Error>(())
/// ```
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    credentials: ClientCredentials,
    tokens: RwLock<SessionTokens>,
    /// Held for the whole of a refresh, so that concurrent 401s refresh once.
    refreshing: Mutex<()>,
    on_refresh: RwLock<Option<Arc<RefreshCallback>>>,
}

impl Session {
    /// A session for the user whose tokens these are.
    pub fn new(
        client: Client,
        credentials: ClientCredentials,
        access: AccessToken,
        refresh: RefreshToken,
    ) -> Session {
        Session {
            shared: Arc::new(Shared {
                client,
                credentials,
                tokens: RwLock::new(SessionTokens::new(access, refresh)),
                refreshing: Mutex::new(()),
                on_refresh: RwLock::new(None),
            }),
        }
    }

    /// Calls `f` with every new token answer, to persist the new tokens. It runs on the thread
    /// that refreshed, before any waiting call retries; it must not call this session. Applies
    /// to every clone of this session.
    pub fn on_refresh(self, f: impl Fn(&TokenResponse) + Send + Sync + 'static) -> Session {
        *write(&self.shared.on_refresh) = Some(Arc::new(f));
        self
    }

    /// The current access token.
    pub fn access_token(&self) -> AccessToken {
        read(&self.shared.tokens).access().clone()
    }

    /// The client calls go through.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// Step 3: the user's calendars.
    pub fn list_calendars(&self) -> Result<CalendarList, Error> {
        self.call(&ListCalendars)
    }

    /// Steps 4-5: asks for elevated access.
    pub fn request_permissions(
        &self,
        request: &PermissionsRequest,
    ) -> Result<PermissionsOutcome, Error> {
        self.call(request)
    }

    /// Runs any core endpoint with the current access token; on 401, refreshes once and
    /// retries once. A failed refresh is reported as the refresh's error.
    pub fn call<E: Endpoint + Sync>(&self, endpoint: &E) -> Result<E::Output, Error> {
        let (token, generation) = self.current();
        match self.shared.client.call(endpoint, Some(&token)) {
            Err(Error::Api(ApiError::Unauthorized)) => {
                let token = self.refresh_after(generation)?;
                self.shared.client.call(endpoint, Some(&token))
            }
            other => other,
        }
    }

    fn current(&self) -> (AccessToken, u64) {
        let tokens = read(&self.shared.tokens);
        (tokens.access().clone(), tokens.generation())
    }

    /// Refreshes unless another call already did since `generation`; returns the token to
    /// retry with.
    fn refresh_after(&self, generation: u64) -> Result<AccessToken, Error> {
        let _refreshing = lock(&self.shared.refreshing);
        let refresh = match read(&self.shared.tokens).after_unauthorized(generation) {
            AfterUnauthorized::Refresh(refresh) => refresh,
            // Another call refreshed meanwhile (or a later core variant): use its token.
            AfterUnauthorized::Retry(token) => return Ok(token),
            _ => return Ok(read(&self.shared.tokens).access().clone()),
        };
        #[cfg(feature = "tracing")]
        tracing::debug!("refreshing the access token");
        let answer = self.shared.client.refresh_token(&RefreshAccessToken::new(
            self.shared.credentials.clone(),
            refresh,
        ))?;
        write(&self.shared.tokens).refreshed(&answer);
        let callback = read(&self.shared.on_refresh).clone();
        if let Some(callback) = callback {
            callback(&answer);
        }
        Ok(answer.access_token)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let generation = read(&self.shared.tokens).generation();
        f.debug_struct("Session")
            .field("client", &self.shared.client)
            .field("client_id", &self.shared.credentials.client_id)
            .field("tokens", &"[redacted]")
            .field("refreshes", &generation)
            .finish_non_exhaustive()
    }
}

// A panic elsewhere cannot leave these values half-written (each write is one assignment
// block), so a poisoned lock is still safe to use.
fn read<T: ?Sized>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T: ?Sized>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T: ?Sized>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}
