//! For transport authors: the seam, the endpoint trait, the call engine and the shared client
//! configuration. An app uses a transport crate's `Client` and needs none of this.
//!
//! A custom transport is anything that turns an [`HttpRequest`] into an [`HttpResponse`]:
//! implement [`SyncTransport`] or [`AsyncTransport`] (closures already do) and hand it to a
//! client's builder, or drive a [`Call`] yourself:
//!
//! ```
//! use std::time::SystemTime;
//! use permissions_core::{ListCalendars, AccessToken, DataCenter};
//! use permissions_core::transport::{Call, ClientConfig, Next, HttpResponse};
//!
//! let config = ClientConfig::new(DataCenter::Us.hosts());
//! let token = AccessToken::new("token");
//! let mut call = Call::new(&ListCalendars, &config, Some(&token));
//! let calendars = loop {
//!     match call.poll() {
//!         Next::Send(request) => {
//!             assert_eq!(request.uri().path(), "/v1/calendars");
//!             let response: HttpResponse = http::Response::new(br#"{"calendars":[]}"#.to_vec());
//!             call.on_response(response, SystemTime::now(), 0.5);
//!         }
//!         Next::Wait(wait) => std::thread::sleep(wait),
//!         Next::Done(result) => break result.unwrap(),
//!         other => unreachable!("not paced, not in a session: {other:?}"),
//!     }
//! };
//! assert!(calendars.calendars.is_empty());
//! ```

pub use crate::config::{
    Backend, ClientBuilder, ClientConfig, ClientParts, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT,
};
pub use crate::endpoint::{Endpoint, RequestContext, USER_AGENT};
pub use crate::engine::{AsyncPacer, Call, Feedback, Next, Pacer, RefreshStep, Seen, SessionState};
pub use crate::pacing::{LocalPacer, PacerState, Window};
pub use crate::retry::{Failure, RetryDecision};
pub use crate::seam::{
    AsyncTransport, Body, CappedBody, HttpRequest, HttpResponse, SyncTransport, TransportError,
    TransportErrorKind, TransportSlot,
};

/// Writes the methods every transport crate's `Client` and `Session` offer, once for both:
/// `client_methods!()` for a blocking client, `client_methods!(async await)` for an async one;
/// `session_methods!(LockType;)` / `session_methods!(LockType; async await)` likewise. A client
/// is `struct Client { inner: Arc<ClientParts<..>> }` with a `call(&self, &endpoint,
/// Option<&token>)`; a session is `struct Session { client, state: Arc<SessionState>,
/// refreshing: Arc<LockType> }` with a `call(&self, &endpoint)`; both return `CallError`s.
#[doc(hidden)]
#[macro_export]
macro_rules! client_methods {
    ($($async:ident $await:ident)?) => {
        /// A client with every default (see [`ClientBuilder`]): data center `us`, 10 s to
        /// connect, 30 s per attempt, a 1 MiB cap, 3 attempts, paced to Cronofy's 50/s and
        /// 500/min.
        ///
        /// # Panics
        /// When the HTTP client cannot be built (with TLS on Linux: no CA certificates on the
        /// system). Use [`Client::builder`] to handle that as an error.
        pub fn new() -> Client {
            ClientBuilder::new()
                .build()
                .expect("the default HTTP client could not be built; see Client::new's docs")
        }

        /// A builder to configure a client: every setting, its default and its validation
        /// are the core's, the same in every transport crate.
        pub fn builder() -> ClientBuilder {
            ClientBuilder::new()
        }

        /// The API and app hosts this client talks to. The app host is where users are sent.
        pub fn hosts(&self) -> &$crate::Hosts {
            self.inner.config.hosts()
        }

        /// The configuration this client was built with.
        pub fn config(&self) -> &$crate::transport::ClientConfig {
            &self.inner.config
        }

        /// Step 3: the user's calendars (`GET /v1/calendars`).
        pub $($async)? fn list_calendars(
            &self,
            token: &$crate::AccessToken,
        ) -> Result<$crate::CalendarList, $crate::error::CallError> {
            self.call(&$crate::ListCalendars, Some(token))$(.$await)?
        }

        /// Steps 4-5: asks for elevated access (`POST /v1/permissions`): a URL to send the
        /// user to, or, for Enterprise Connect accounts, granted at once.
        pub $($async)? fn request_permissions(
            &self,
            token: &$crate::AccessToken,
            request: &$crate::PermissionsRequest,
        ) -> Result<$crate::PermissionsOutcome, $crate::error::CallError> {
            self.call(request, Some(token))$(.$await)?
        }

        /// Step 2: exchanges an authorization code for tokens (`POST /oauth/token`). A code is
        /// single-use, so this is retried only when the request surely was not processed.
        pub $($async)? fn exchange_code(
            &self,
            exchange: &$crate::ExchangeCode,
        ) -> Result<$crate::TokenResponse, $crate::error::CallError> {
            self.call(exchange, None)$(.$await)?
        }

        /// Gets a new access token with a refresh token (`POST /oauth/token`).
        pub $($async)? fn refresh_token(
            &self,
            refresh: &$crate::RefreshAccessToken,
        ) -> Result<$crate::TokenResponse, $crate::error::CallError> {
            self.call(refresh, None)$(.$await)?
        }

        /// Revokes an authorization (`POST /oauth/token/revoke`).
        pub $($async)? fn revoke(
            &self,
            revoke: &$crate::RevokeToken,
        ) -> Result<(), $crate::error::CallError> {
            self.call(revoke, None)$(.$await)?
        }
    };
}

/// See [`client_methods!`]: the operations of a transport crate's `Session`.
#[doc(hidden)]
#[macro_export]
macro_rules! session_methods {
    ($lock:ty; $($async:ident $await:ident)?) => {
        /// A session with `access` and `refresh`, refreshed with `credentials` through
        /// `client`.
        pub fn new(
            client: Client,
            credentials: $crate::ClientCredentials,
            access: $crate::AccessToken,
            refresh: $crate::RefreshToken,
        ) -> Session {
            Session {
                client,
                state: std::sync::Arc::new($crate::transport::SessionState::new(
                    credentials,
                    access,
                    refresh,
                )),
                refreshing: std::sync::Arc::new(<$lock>::new(())),
            }
        }

        /// Calls `f` with every successful refresh's answer, to persist the new tokens. It
        /// runs under the refresh lock, before any waiting call retries, so it sees tokens in
        /// the order they were issued; it must not call this session. Replaces an earlier
        /// hook, for every clone of this session.
        pub fn on_refresh(self, f: impl Fn(&$crate::TokenResponse) + Send + Sync + 'static) -> Session {
            self.state.on_refresh(f);
            self
        }

        /// The client the session sends with.
        pub fn client(&self) -> &Client {
            &self.client
        }

        /// A call of `endpoint` with the current token, refreshed once on 401.
        fn start<'a, E: $crate::transport::Endpoint + ?Sized>(
            &'a self,
            endpoint: &'a E,
        ) -> $crate::transport::Call<'a, E> {
            let (token, seen) = self.state.current();
            self.client.inner.start(endpoint, Some(&token)).in_session(seen)
        }

        /// Step 3: the user's calendars (`GET /v1/calendars`).
        pub $($async)? fn list_calendars(
            &self,
        ) -> Result<$crate::CalendarList, $crate::error::CallError> {
            self.call(&$crate::ListCalendars)$(.$await)?
        }

        /// Steps 4-5: asks for elevated access (`POST /v1/permissions`).
        pub $($async)? fn request_permissions(
            &self,
            request: &$crate::PermissionsRequest,
        ) -> Result<$crate::PermissionsOutcome, $crate::error::CallError> {
            self.call(request)$(.$await)?
        }

        /// The current access token.
        pub fn access_token(&self) -> $crate::AccessToken {
            self.state.access_token()
        }
    };
}
