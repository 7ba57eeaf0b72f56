//! [`Session`]: calls with one user's tokens, refreshed automatically on 401.

use std::sync::Arc;

use permissions_core::AccessToken;
use permissions_core::error::CallError;
use permissions_core::transport::{Endpoint, Seen, SessionState};

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
#[derive(Clone, Debug)]
pub struct Session {
    client: Client,
    state: Arc<SessionState>,
    /// Held for the whole of a refresh: one refresh at a time.
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

impl Session {
    permissions_core::session_methods!(tokio::sync::Mutex<()>; async await);

    /// Runs any core endpoint with the session's access token; on 401, one refresh (shared
    /// with concurrent calls) and one retry.
    pub async fn call<E: Endpoint + Sync + ?Sized>(
        &self,
        endpoint: &E,
    ) -> Result<E::Output, CallError> {
        self.client.drive(self.start(endpoint), Some(self)).await
    }

    pub(crate) async fn refresh(&self, seen: Seen) -> Result<AccessToken, CallError> {
        let _refreshing = self.refreshing.lock().await;
        self.client.refresh_for(&self.state, seen).await
    }
}
