//! [`Session`]: calls with one user's tokens, refreshed automatically on 401.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use permissions_core::{
    AccessToken, AfterUnauthorized, ApiError, CalendarList, ClientCredentials, Endpoint,
    PermissionsOutcome, PermissionsRequest, RefreshAccessToken, RefreshToken, SessionTokens,
    TokenResponse,
};

use crate::Error;
use crate::client::Client;

type RefreshHook = Arc<dyn Fn(&TokenResponse) + Send + Sync>;

/// One user's tokens, with automatic refresh: when Cronofy answers 401, the session refreshes
/// the access token once and retries the call once.
///
/// Calls that hit 401 at the same time share a single refresh: the refresh runs under a lock,
/// and a call that finds its token already replaced by another call's refresh just retries with
/// the new one. If the refresh itself fails, that error is returned (for example
/// [`ApiError::BadRequest`] with `invalid_grant`: the user must authorize again).
///
/// Clones share the tokens and the lock. `Debug` shows no token.
///
/// ```no_run
/// # async fn run() -> Result<(), permissions_reqwest::Error> {
/// use permissions_core::{AccessToken, ClientCredentials, ClientSecret, RefreshToken};
/// use permissions_reqwest::{Client, Session};
///
/// let session = Session::new(
///     Client::new(),
///     ClientCredentials::new("client_id", ClientSecret::new("client_secret")),
///     AccessToken::new("access token from your store"),
///     RefreshToken::new("refresh token from your store"),
/// )
/// .on_refresh(|tokens| {
///     // Persist `tokens.access_token` (and `tokens.refresh_token`, if sent) here.
///     # let _ = tokens;
/// });
/// let calendars = session.list_calendars().await?;
/// # let _ = calendars;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    credentials: ClientCredentials,
    tokens: RwLock<SessionTokens>,
    /// Held for the whole of a refresh: one refresh at a time.
    refresh_lock: tokio::sync::Mutex<()>,
    on_refresh: RwLock<Option<RefreshHook>>,
}

impl Session {
    /// A session with `access` and `refresh`, refreshed with `credentials` through `client`.
    pub fn new(
        client: Client,
        credentials: ClientCredentials,
        access: AccessToken,
        refresh: RefreshToken,
    ) -> Session {
        Session {
            inner: Arc::new(Inner {
                client,
                credentials,
                tokens: RwLock::new(SessionTokens::new(access, refresh)),
                refresh_lock: tokio::sync::Mutex::new(()),
                on_refresh: RwLock::new(None),
            }),
        }
    }

    /// Calls `f` with every successful refresh's answer, to persist the new tokens. It runs
    /// while the refresh lock is held, so calls see tokens in the order they were issued.
    /// Replaces an earlier hook, for every clone of this session.
    pub fn on_refresh(self, f: impl Fn(&TokenResponse) + Send + Sync + 'static) -> Session {
        *self
            .inner
            .on_refresh
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(f));
        self
    }

    /// The current access token.
    pub fn access_token(&self) -> AccessToken {
        self.tokens().access().clone()
    }

    /// The client the session sends with.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Step 3: the user's calendars. See [`Client::list_calendars`].
    pub async fn list_calendars(&self) -> Result<CalendarList, Error> {
        self.call(&permissions_core::ListCalendars).await
    }

    /// Steps 4-5: asks for elevated access. See [`Client::request_permissions`].
    pub async fn request_permissions(
        &self,
        request: &PermissionsRequest,
    ) -> Result<PermissionsOutcome, Error> {
        self.call(request).await
    }

    /// Runs any core [`Endpoint`] with the session's access token; on 401, one refresh and one
    /// retry.
    pub async fn call<E: Endpoint + Sync>(&self, endpoint: &E) -> Result<E::Output, Error> {
        let (token, generation) = {
            let tokens = self.tokens();
            (tokens.access().clone(), tokens.generation())
        };
        match self.inner.client.call(endpoint, Some(&token)).await {
            Err(Error::Api(ApiError::Unauthorized)) => {}
            done => return done,
        }
        let token = self.refreshed_since(generation).await?;
        self.inner.client.call(endpoint, Some(&token)).await
    }

    /// An access token newer than generation `seen`: another call's, if one refreshed
    /// meanwhile, or a fresh one.
    async fn refreshed_since(&self, seen: u64) -> Result<AccessToken, Error> {
        let _refreshing = self.inner.refresh_lock.lock().await;
        let refresh_token = match self.tokens().after_unauthorized(seen) {
            AfterUnauthorized::Refresh(refresh) => refresh,
            // Another call refreshed meanwhile (or a later core variant): use its token.
            AfterUnauthorized::Retry(token) => return Ok(token),
            _ => return Ok(self.tokens().access().clone()),
        };
        let refresh = RefreshAccessToken::new(self.inner.credentials.clone(), refresh_token);
        let answer = self.inner.client.refresh_token(&refresh).await?;
        {
            let mut tokens = self
                .inner
                .tokens
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            tokens.refreshed(&answer);
        }
        let hook = self
            .inner
            .on_refresh
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(hook) = hook {
            hook(&answer);
        }
        Ok(answer.access_token)
    }

    fn tokens(&self) -> std::sync::RwLockReadGuard<'_, SessionTokens> {
        self.inner
            .tokens
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tokens = self.tokens();
        let hooked = self
            .inner
            .on_refresh
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        f.debug_struct("Session")
            .field("client", &self.inner.client)
            .field("credentials", &self.inner.credentials)
            .field("tokens", &*tokens)
            .field("on_refresh", &hooked)
            .finish()
    }
}
