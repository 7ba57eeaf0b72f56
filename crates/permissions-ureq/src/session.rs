//! [`Session`]: calls with one user's tokens, refreshing the access token when Cronofy says 401.

use std::sync::{Arc, Mutex, PoisonError};

use permissions_core::AccessToken;
use permissions_core::error::CallError;
use permissions_core::transport::{Endpoint, Seen, SessionState};

use crate::Client;

/// One user's tokens with automatic refresh: when a call answers 401 (unauthorized), the
/// session refreshes the access token once and retries the call once.
///
/// Clones share the tokens. Calls that hit 401 together share a single refresh, whatever it
/// answers: the first refreshes while the others wait, then they retry with the new token, or
/// all report the refresh's error (for example `invalid_grant`: the user must authorize
/// again) without sending the dead refresh token again.
///
/// `Debug` never shows a token.
///
/// ```no_run
/// use permissions_ureq::{AccessToken, Client, ClientCredentials, ClientSecret, RefreshToken, Session};
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
#[derive(Clone, Debug)]
pub struct Session {
    client: Client,
    state: Arc<SessionState>,
    /// Held for the whole of a refresh: one refresh at a time.
    refreshing: Arc<Mutex<()>>,
}

impl Session {
    permissions_core::session_methods!(std::sync::Mutex<()>; );

    /// Runs any core endpoint with the current access token; on 401, one refresh (shared with
    /// concurrent calls) and one retry.
    pub fn call<E: Endpoint + ?Sized>(&self, endpoint: &E) -> Result<E::Output, CallError> {
        self.client.drive(self.start(endpoint), Some(self))
    }

    pub(crate) fn refresh(&self, seen: Seen) -> Result<AccessToken, CallError> {
        let _refreshing = self
            .refreshing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.client.refresh_for(&self.state, seen)
    }
}
