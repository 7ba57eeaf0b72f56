//! [`Session`]: calls with one user's tokens, refreshed automatically on 401.

use std::fmt;
use std::sync::Arc;

use permissions_core::error::CallError;
use permissions_core::transport::{Call, Endpoint, Seen, SessionState};
use permissions_core::{AccessToken, ClientCredentials, RefreshToken, TokenResponse};

use crate::client::Client;

/// One user's tokens, with automatic refresh: when Cronofy answers 401, the session refreshes
/// the access token once and retries the call once.
///
/// Calls that hit 401 at the same time share a single refresh, whatever it answers: the
/// refresh runs under a lock, and the calls queued behind it retry with its new token, or all
/// report its error (for example `invalid_grant`: the user must authorize again) without
/// sending the dead refresh token again.
///
/// Clones share the tokens and the lock. `Debug` shows no token.
///
/// ```no_run
/// # async fn run() -> Result<(), permissions_reqwest::Error> {
/// use permissions_reqwest::{AccessToken, Client, ClientCredentials, ClientSecret, RefreshToken, Session};
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
    client: Client,
    state: Arc<SessionState>,
    /// Held for the whole of a refresh: one refresh at a time.
    refreshing: Arc<tokio::sync::Mutex<()>>,
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
            client,
            state: Arc::new(SessionState::new(credentials, access, refresh)),
            refreshing: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Calls `f` with every successful refresh's answer, to persist the new tokens. It runs
    /// while the refresh lock is held, so calls see tokens in the order they were issued.
    /// Replaces an earlier hook, for every clone of this session.
    pub fn on_refresh(self, f: impl Fn(&TokenResponse) + Send + Sync + 'static) -> Session {
        self.state.on_refresh(f);
        self
    }

    /// The client the session sends with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    permissions_core::session_methods!(async await);

    /// Runs any core endpoint with the session's access token; on 401, one refresh (shared
    /// with concurrent calls) and one retry.
    pub async fn call<E: Endpoint + Sync + ?Sized>(
        &self,
        endpoint: &E,
    ) -> Result<E::Output, CallError> {
        let (token, seen) = self.state.current();
        let call = Call::new(endpoint, self.client.config(), Some(&token)).in_session(seen);
        self.client.drive(call, Some(self)).await
    }

    pub(crate) async fn refresh(&self, seen: Seen) -> Result<AccessToken, CallError> {
        let _refreshing = self.refreshing.lock().await;
        self.client.refresh_for(&self.state, seen).await
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("client", &self.client)
            .field("state", &self.state)
            .finish()
    }
}
