//! Cronofy's Extended Permissions flow inside an [axum] web service, on
//! [`permissions_reqwest`]: a "Connect your calendar" button, OAuth, a page to choose calendars,
//! the trip to Cronofy's permissions page and back. Small enough to copy.
//!
//! ```
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use permissions_core::{BaseUrl, ClientCredentials, ClientSecret, Hosts};
//! use permissions_reqwest::Client;
//! use permissions_web_example::{AppState, app};
//! use tower::ServiceExt as _;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A local Cronofy stands in for the real one (`Client::builder().data_center(..)` for that).
//! let cronofy = permissions_fake::FakeCronofy::start().await?;
//! let hosts = Hosts::custom(BaseUrl::parse(cronofy.api_url())?, BaseUrl::parse(cronofy.app_url())?);
//! let seed = cronofy.seed();
//!
//! let state = AppState::new(
//!     Client::builder().hosts(hosts).build()?,
//!     ClientCredentials::new(&seed.client_id, ClientSecret::new(seed.client_secret.as_str())),
//!     "http://127.0.0.1:3000", // where browsers reach this app; redirect URIs start here
//! )?;
//! let router = app(state);
//! // In a server, with a header-read timeout and a shutdown deadline:
//! // serve(listener, router, ServeOptions::default(), shutdown_signal()).await?
//!
//! let home = router.oneshot(Request::get("/").body(Body::empty())?).await?;
//! assert_eq!(home.status(), StatusCode::OK);
//! assert!(home.headers().get("set-cookie").is_none(), "nothing stored before Connect");
//! # Ok(()) }
//! ```
//!
//! # Routes
//!
//! | route | step | what |
//! | --- | --- | --- |
//! | `GET /` | | the "Connect your calendar" button (a form); stores nothing |
//! | `POST /connect` | 1 | a fresh random `state` among the browser's requests in flight, `303` to Cronofy's authorize URL |
//! | `GET /oauth/callback` | 1-2 | takes the `state` (once), exchanges the code, cycles the session id, `303` to `/calendars` |
//! | `GET /calendars` | 3 | the calendars with their access level, and a form (check boxes) to choose which to elevate |
//! | `POST /elevate` | 4-5 | a fresh `state` kept with the chosen calendars, the permissions request sent; `303` to Cronofy's page, or "granted" at once for Enterprise Connect |
//! | `GET /permission` | 6 | takes the `state` (once), checks the return, shows accepted, rejected or what went wrong, above the refreshed list |
//!
//! # Sessions
//!
//! [`tower_sessions`] manages them: a random id in an `HttpOnly`, `SameSite=Lax` cookie,
//! `__Host-` prefixed and `Secure` on https; the id cycled at sign-in; an idle
//! ([`IDLE_TIMEOUT`]) and an absolute ([`ABSOLUTE_LIFETIME`]) lifetime. Nothing is stored for a
//! visitor until they press Connect. The records live in a [`Store`]: this process's memory
//! (bounded), or Redis, shared by every replica. A real app keeps only its user id there and
//! the Cronofy tokens in its database, encrypted at rest.
//!
//! # Expired access tokens
//!
//! The session record keeps the user's access and refresh tokens. Each call to Cronofy goes
//! through a [`permissions_reqwest::Session`] built from them: on a 401 it refreshes the access
//! token once and retries, and the new tokens are written back into the session record. If
//! Cronofy refuses the refresh (`invalid_grant`, or 401: the user revoked access), the session
//! ends and the page offers Connect again.
//!
//! # Returns are untrusted
//!
//! Anyone can send a user a link to `/oauth/callback` or `/permission`. A return is acted on only
//! if its `state` is one this browser's session has in flight (taken out atomically, so a state
//! is used once even by two simultaneous returns), and then read with the core's checks
//! ([`AuthorizationRequest::parse_callback`], [`PermissionsRequest::parse_callback`]) against
//! the URL rebuilt from the configured base URL, never from the `Host` header.
//!
//! # Cross-site requests
//!
//! State changes only on POST. Every POST must come from this app's own origin (`Origin` and
//! `Sec-Fetch-Site`) and carry the session's form token. Every page is sent with
//! `X-Frame-Options: DENY` and `frame-ancestors 'none'`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod guard;
mod html;
mod pending;
mod serve;
mod sessions;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use permissions_core::error::{
    ApiError, BaseUrlError, BuildError, CallError, CallbackError, OAuthErrorCode,
};
use permissions_core::url::Url;
use permissions_core::{
    AccessToken, AuthorizationOutcome, AuthorizationRequest, BaseUrl, CalendarList,
    CallbackOutcome, ClientCredentials, ExchangeCode, Hosts, PermissionsOutcome,
    PermissionsRequest, RefreshToken, TokenResponse,
};
use permissions_reqwest::Client;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::html::Notice;
use crate::pending::{Kind, Pending};
use crate::sessions::{CONNECTED, CSRF, Connected, FLOW, random_token};

pub use crate::pending::{MAX_FLOWS, MAX_PENDING, PENDING_TTL, PendingError};
pub use crate::serve::{ServeOptions, serve, shutdown_signal};
pub use crate::sessions::{
    ABSOLUTE_LIFETIME, IDLE_TIMEOUT, MAX_ANONYMOUS, MAX_SIGNED_IN, SIGN_IN_TIMEOUT, Store,
    StoreError,
};

/// The OAuth scopes asked for in step 1: enough to list calendars and work with their events,
/// which is what unrestricted access is for.
pub const SCOPES: [&str; 5] = [
    "read_account",
    "list_calendars",
    "read_events",
    "create_event",
    "delete_event",
];

/// The largest request body accepted (the forms are a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The Cronofy client for `hosts`, paced to Cronofy's per-application limits.
///
/// Cronofy's budget is per application, so replicas must share it: with `shared` (the
/// `REDIS_URL` and the application's client id), every replica paces through one Redis key
/// (`permissions-redis`); when Redis is away each paces locally at the limits divided by
/// `fleet_size`, and says so once. Without it, this process paces alone.
///
/// # Errors
/// The client's build error (no TLS roots, …), or a Redis URL that cannot be used.
pub fn cronofy_client(
    hosts: Hosts,
    shared: Option<(&str, &str)>,
    fleet_size: u32,
) -> Result<Client, Box<dyn std::error::Error + Send + Sync>> {
    let builder = Client::builder().hosts(hosts);
    let builder = match shared {
        Some((redis_url, client_id)) => {
            let limits = permissions_reqwest::PacingConfig::cronofy_default();
            let pacer = permissions_redis::RedisPacer::builder(redis_url, limits, client_id)
                .fleet_size(fleet_size)
                .build_async()?;
            builder.pacer(Arc::new(pacer))
        }
        None => builder,
    };
    Ok(builder.build()?)
}

/// Everything the handlers share: the Cronofy client, the app's credentials and base URL, and
/// the store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    credentials: ClientCredentials,
    base_url: BaseUrl,
    /// `scheme://host[:port]`, as browsers send it in `Origin`.
    origin: String,
    store: Store,
}

impl AppState {
    /// The state of an app that talks to Cronofy through `client` (its hosts say which
    /// Cronofy), as the OAuth client `credentials`, and that browsers reach at `base_url`.
    /// Sessions are kept in memory; [`AppState::with_store`] puts them in Redis.
    ///
    /// `base_url` is an origin (`https://app.example.com`, or `http://` on a loopback host for
    /// local runs) with no path: the app is served at its root. The redirect URIs are
    /// `{base_url}/oauth/callback` (register it with your Cronofy application) and
    /// `{base_url}/permission`.
    ///
    /// # Errors
    /// [`ConfigError`] when `base_url` or the client id cannot make valid requests.
    pub fn new(
        client: Client,
        credentials: ClientCredentials,
        base_url: &str,
    ) -> Result<AppState, ConfigError> {
        let base_url = BaseUrl::parse(base_url).map_err(ConfigError::BaseUrl)?;
        if base_url.as_url().path() != "/" {
            return Err(ConfigError::BaseUrlPath);
        }
        let origin = base_url.as_url().origin().ascii_serialization();
        let state = AppState {
            inner: Arc::new(Inner {
                client,
                credentials,
                base_url,
                origin,
                store: Store::memory(),
            }),
        };
        // Fail now, not on the first visitor, if no valid request can be built.
        state
            .authorization_request(&random_token())
            .map_err(ConfigError::Request)?;
        Ok(state)
    }

    /// The same app, with its sessions and requests in flight in `store`.
    #[must_use]
    pub fn with_store(self, store: Store) -> AppState {
        let inner = &self.inner;
        AppState {
            inner: Arc::new(Inner {
                client: inner.client.clone(),
                credentials: inner.credentials.clone(),
                base_url: inner.base_url.clone(),
                origin: inner.origin.clone(),
                store,
            }),
        }
    }

    /// The base URL browsers reach this app at, ending with `/`.
    pub fn base_url(&self) -> &BaseUrl {
        &self.inner.base_url
    }

    fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// An absolute URL of this app, from a path relative to the base URL.
    fn url(&self, path: &str) -> Url {
        self.inner.base_url.join(path)
    }

    /// The URL the browser asked for, rebuilt from the configured base URL and the request's
    /// path and query. Not from the `Host` header: the client chooses that one.
    fn returned_url(&self, uri: &Uri) -> String {
        let mut url = self.inner.base_url.as_url().clone();
        url.set_path(uri.path());
        url.set_query(uri.query());
        url.into()
    }

    /// The authorization request sent with `state`: rebuilt, not stored, when its return comes.
    fn authorization_request(&self, state: &str) -> Result<AuthorizationRequest, BuildError> {
        AuthorizationRequest::new(
            self.inner.credentials.client_id.as_str(),
            self.url("oauth/callback").as_str(),
            SCOPES,
        )
        .state(state)
        .build()
    }

    /// The permissions request for `calendars` sent with `state`.
    fn permissions_request(
        &self,
        calendars: Vec<String>,
        state: &str,
    ) -> Result<PermissionsRequest, BuildError> {
        PermissionsRequest::builder()
            .calendars(calendars)
            .redirect_uri(self.url("permission").as_str())
            .state(state)
            .build()
    }

    fn secure_cookies(&self) -> bool {
        self.inner.base_url.as_url().scheme() == "https"
    }

    /// The session cookie's name: `__Host-` prefixed when it is `Secure`, so that browsers
    /// take it only from this exact origin over https, at `Path=/`, with no `Domain` (a
    /// sibling subdomain cannot plant one).
    fn cookie_name(&self) -> &'static str {
        if self.secure_cookies() {
            "__Host-session"
        } else {
            "session"
        }
    }
}

/// Why [`AppState::new`] refused its configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The base URL is not `https` (or `http` on a loopback host), or not a URL at all.
    BaseUrl(BaseUrlError),
    /// The base URL has a path; the app is served at the root of its origin.
    BaseUrlPath,
    /// The client id cannot make an authorization request (empty, or a control character).
    Request(BuildError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BaseUrl(_) => f.write_str("invalid app base URL"),
            Self::BaseUrlPath => f.write_str(
                "the app base URL must be an origin with no path, e.g. https://app.example.com",
            ),
            Self::Request(_) => f.write_str("cannot build an authorization request"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::BaseUrl(e) => Some(e),
            Self::Request(e) => Some(e),
            Self::BaseUrlPath => None,
        }
    }
}

/// The app's router, ready for [`serve`] (or `axum::serve`).
pub fn app(state: AppState) -> Router {
    let sessions = SessionManagerLayer::new(state.inner.store.sessions.clone())
        .with_name(state.cookie_name())
        .with_secure(state.secure_cookies())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(IDLE_TIMEOUT));
    Router::new()
        .route("/", get(home))
        .route("/connect", post(connect))
        .route("/oauth/callback", get(oauth_callback))
        .route("/calendars", get(calendars))
        .route("/elevate", post(elevate))
        .route("/permission", get(permission))
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::same_origin_only,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(guard::security_headers))
        .with_state(state)
}

/// A session-store failure: the page says so, with no detail (it could name the backend).
fn store_error() -> Response {
    html::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again later",
        "The session store is not answering, so nothing was done. Try again in a moment.",
    )
}

/// The connected user's Cronofy access, if this session has one within its absolute lifetime.
async fn connected(session: &Session) -> Result<Option<Connected>, tower_sessions::session::Error> {
    let Some(connected) = session.get::<Connected>(CONNECTED).await? else {
        return Ok(None);
    };
    if connected.expired(OffsetDateTime::now_utc()) {
        session.flush().await?;
        return Ok(None);
    }
    Ok(Some(connected))
}

/// The session's form token and flow key, made on first use.
async fn token_and_flow(
    session: &Session,
) -> Result<(String, String), tower_sessions::session::Error> {
    let token = match session.get::<String>(CSRF).await? {
        Some(token) => token,
        None => {
            let token = random_token();
            session.insert(CSRF, &token).await?;
            token
        }
    };
    let flow = match session.get::<String>(FLOW).await? {
        Some(flow) => flow,
        None => {
            let flow = random_token();
            session.insert(FLOW, &flow).await?;
            flow
        }
    };
    Ok((token, flow))
}

fn form(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

fn state_param(uri: &Uri) -> Option<String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
}

fn bad_token() -> Response {
    html::error(
        StatusCode::FORBIDDEN,
        "Refused",
        "This form is out of date or was not sent from this app's page, so nothing was changed. \
         Reload the page and try again.",
    )
}

/// `GET /`: the Connect button. Reads the session if there is one; stores nothing.
async fn home(session: Session) -> Response {
    let connected = match connected(&session).await {
        Ok(connected) => connected.is_some(),
        Err(_) => return store_error(),
    };
    let token = match session.get::<String>(CSRF).await {
        Ok(token) => token,
        Err(_) => return store_error(),
    };
    html::page(
        StatusCode::OK,
        "Connect your calendar",
        &html::home(connected, token.as_deref()),
    )
}

/// `POST /connect`: step 1. A fresh `state`, kept among this browser's requests in flight, and
/// a `303` to Cronofy's authorize URL. The first thing that stores anything for a visitor.
async fn connect(State(state): State<AppState>, session: Session, body: Bytes) -> Response {
    let signed_in = match connected(&session).await {
        Ok(connected) => connected.is_some(),
        Err(_) => return store_error(),
    };
    match session.get::<String>(CSRF).await {
        Ok(Some(token)) if !guard::form_token_matches(&token, &form(&body)) => {
            return bad_token();
        }
        Ok(_) => {}
        Err(_) => return store_error(),
    }
    let Ok((_, flow)) = token_and_flow(&session).await else {
        return store_error();
    };
    if !signed_in {
        session.set_expiry(Some(Expiry::OnInactivity(SIGN_IN_TIMEOUT)));
    }
    let state_value = random_token();
    let authorization = match state.authorization_request(&state_value) {
        Ok(authorization) => authorization,
        Err(e) => return internal_error(&e),
    };
    if let Err(e) = state
        .inner
        .store
        .pending
        .put(&flow, &state_value, &Pending::Login)
        .await
    {
        return pending_error(&e);
    }
    Redirect::to(authorization.url(state.inner.client.hosts().app()).as_str()).into_response()
}

/// `GET /oauth/callback`: steps 1-2, the return from Cronofy's consent page.
async fn oauth_callback(State(state): State<AppState>, session: Session, uri: Uri) -> Response {
    let flow = match session.get::<String>(FLOW).await {
        Ok(Some(flow)) => flow,
        Ok(None) => return no_flow("No sign-in is in progress in this browser."),
        Err(_) => return store_error(),
    };
    let Some(state_value) = state_param(&uri) else {
        return not_an_answer("it carries no state");
    };
    // Taken once: of two returns with this state, only one gets past here.
    let taken = state
        .inner
        .store
        .pending
        .take(&flow, Kind::Login, &state_value)
        .await;
    match taken {
        Ok(Some(Pending::Login)) => {}
        Ok(_) => {
            return not_an_answer(
                "it is not for a sign-in started in this browser, or it was already used",
            );
        }
        Err(e) => return pending_error(&e),
    }
    let authorization = match state.authorization_request(&state_value) {
        Ok(authorization) => authorization,
        Err(e) => return internal_error(&e),
    };
    let code = match authorization.parse_callback(&state.returned_url(&uri)) {
        Ok(AuthorizationOutcome::Granted { code }) => code,
        Ok(AuthorizationOutcome::Denied) => {
            return html::error(
                StatusCode::OK,
                "Not connected",
                "You did not allow access to your calendars, so nothing was connected.",
            );
        }
        Ok(_) => return no_flow("Cronofy answered in a way this app does not know."),
        Err(e) => return bad_return(&e),
    };
    let exchange = ExchangeCode::new(
        state.inner.credentials.clone(),
        code,
        authorization.redirect_uri_as_sent(),
    );
    let tokens = match state.inner.client.exchange_code(&exchange).await {
        Ok(tokens) => tokens,
        Err(e) => return cronofy_error("Cronofy did not accept the sign-in", &e),
    };
    // Signed in: a new session id (an id planted before sign-in is now worthless), a new form
    // token, the sign-in lifetime replaced by the idle one. Cronofy sends a refresh token with
    // every code exchange; without one, the first 401 ends the session.
    let connected = Connected {
        access_token: tokens.access_token.secret().to_owned(),
        refresh_token: tokens
            .refresh_token
            .as_ref()
            .map(|refresh| refresh.secret().to_owned())
            .unwrap_or_default(),
        since: OffsetDateTime::now_utc().unix_timestamp(),
    };
    let signed_in = async {
        session.cycle_id().await?;
        session.insert(CSRF, random_token()).await?;
        session.insert(CONNECTED, &connected).await?;
        session.set_expiry(Some(Expiry::OnInactivity(IDLE_TIMEOUT)));
        Ok::<(), tower_sessions::session::Error>(())
    };
    if signed_in.await.is_err() {
        return store_error();
    }
    Redirect::to("/calendars").into_response()
}

/// `GET /calendars`: step 3, the calendars and the form to choose which to elevate.
async fn calendars(State(state): State<AppState>, session: Session) -> Response {
    match connected(&session).await {
        Ok(Some(mut connected)) => {
            let Ok(Some(token)) = session.get::<String>(CSRF).await else {
                return store_error();
            };
            calendars_page(&state, &session, &mut connected, &token, Above::nothing()).await
        }
        Ok(None) => Redirect::to("/").into_response(),
        Err(_) => store_error(),
    }
}

/// `POST /elevate`: steps 4-5, ask for unrestricted access to the chosen calendars.
async fn elevate(State(state): State<AppState>, session: Session, body: Bytes) -> Response {
    let mut connected = match connected(&session).await {
        Ok(Some(connected)) => connected,
        Ok(None) => return Redirect::to("/").into_response(),
        Err(_) => return store_error(),
    };
    let (token, flow) = match (
        session.get::<String>(CSRF).await,
        session.get::<String>(FLOW).await,
    ) {
        (Ok(Some(token)), Ok(Some(flow))) => (token, flow),
        _ => return store_error(),
    };
    let form = form(&body);
    if !guard::form_token_matches(&token, &form) {
        return bad_token();
    }
    // Several check boxes share the name `calendar`.
    let chosen: Vec<String> = form
        .into_iter()
        .filter(|(name, _)| name == "calendar")
        .map(|(_, value)| value)
        .collect();
    if chosen.is_empty() {
        return html::error(
            StatusCode::BAD_REQUEST,
            "No calendar chosen",
            "Choose at least one calendar to ask unrestricted access for.",
        );
    }
    let state_value = random_token();
    let request = match state.permissions_request(chosen.clone(), &state_value) {
        Ok(request) => request,
        Err(e) => {
            return html::error(
                StatusCode::BAD_REQUEST,
                "Cannot ask for access",
                &e.to_string(),
            );
        }
    };
    // Kept before it is sent, so that however fast the user comes back, the return finds it.
    let pending = Pending::Permissions { calendars: chosen };
    if let Err(e) = state
        .inner
        .store
        .pending
        .put(&flow, &state_value, &pending)
        .await
    {
        return pending_error(&e);
    }
    let cronofy = UserCronofy::new(&state, &connected);
    let sent = cronofy.session.request_permissions(&request).await;
    let outcome = cronofy
        .settle(
            &session,
            &mut connected,
            sent,
            "Cronofy did not accept the permissions request",
        )
        .await;
    match outcome {
        Ok(PermissionsOutcome::Redirect { url }) => Redirect::to(url.as_str()).into_response(),
        Ok(PermissionsOutcome::Granted) => {
            // Nothing to come back from: the request is over.
            let _ = state
                .inner
                .store
                .pending
                .take(&flow, Kind::Permissions, &state_value)
                .await;
            let above = Above::notice(Notice::Granted);
            calendars_page(&state, &session, &mut connected, &token, above).await
        }
        Ok(_) => no_flow("Cronofy answered in a way this app does not know."),
        Err(response) => response,
    }
}

/// `GET /permission`: step 6, the return from Cronofy's permissions page.
async fn permission(State(state): State<AppState>, session: Session, uri: Uri) -> Response {
    let mut connected = match connected(&session).await {
        Ok(Some(connected)) => connected,
        Ok(None) => return no_flow("No calendar account is connected in this browser."),
        Err(_) => return store_error(),
    };
    let (token, flow) = match (
        session.get::<String>(CSRF).await,
        session.get::<String>(FLOW).await,
    ) {
        (Ok(Some(token)), Ok(Some(flow))) => (token, flow),
        _ => return store_error(),
    };
    let taken = match state_param(&uri) {
        None => Ok(None),
        Some(state_value) => state
            .inner
            .store
            .pending
            .take(&flow, Kind::Permissions, &state_value)
            .await
            .map(|taken| taken.map(|pending| (state_value, pending))),
    };
    let (state_value, calendars) = match taken {
        Ok(Some((state_value, Pending::Permissions { calendars }))) => (state_value, calendars),
        Ok(_) => {
            // Not ours to act on; what Cronofy did is what the refreshed list shows.
            let problem = "This link does not answer a request for access made from this \
                           browser, or it was already used, so this app did nothing with it. \
                           The list below is what Cronofy says now.";
            let above = Above::problem(StatusCode::BAD_REQUEST, problem);
            return calendars_page(&state, &session, &mut connected, &token, above).await;
        }
        Err(e) => return pending_error(&e),
    };
    let request = match state.permissions_request(calendars, &state_value) {
        Ok(request) => request,
        Err(e) => return internal_error(&e),
    };
    let notice = match request.parse_callback(&state.returned_url(&uri)) {
        Ok(CallbackOutcome::Accepted) => Notice::Accepted,
        Ok(CallbackOutcome::Rejected) => Notice::Rejected,
        Ok(_) => return no_flow("Cronofy answered in a way this app does not know."),
        Err(e @ CallbackError::Error { .. }) => {
            let problem = format!("Cronofy reported an error: {e}");
            let above = Above::problem(StatusCode::BAD_GATEWAY, &problem);
            return calendars_page(&state, &session, &mut connected, &token, above).await;
        }
        Err(e) => return bad_return(&e),
    };
    let above = Above::notice(notice);
    calendars_page(&state, &session, &mut connected, &token, above).await
}

/// What the calendars page shows above the list, and the page's status when the list is read.
struct Above<'a> {
    status: StatusCode,
    notice: Option<Notice>,
    problem: Option<&'a str>,
}

impl<'a> Above<'a> {
    fn nothing() -> Above<'a> {
        Above {
            status: StatusCode::OK,
            notice: None,
            problem: None,
        }
    }

    fn notice(notice: Notice) -> Above<'a> {
        Above {
            notice: Some(notice),
            ..Above::nothing()
        }
    }

    fn problem(status: StatusCode, problem: &'a str) -> Above<'a> {
        Above {
            status,
            notice: None,
            problem: Some(problem),
        }
    }
}

/// The calendar list, freshly read from Cronofy, under what `above` says.
async fn calendars_page(
    state: &AppState,
    session: &Session,
    connected: &mut Connected,
    token: &str,
    above: Above<'_>,
) -> Response {
    match list_calendars(state, session, connected).await {
        Ok(list) => html::page(
            above.status,
            "Your calendars",
            &html::calendars(&list, above.notice, above.problem, token),
        ),
        Err(response) => response,
    }
}

/// The user's calendars, read with their tokens (refreshed if need be); otherwise the page to
/// answer with.
async fn list_calendars(
    state: &AppState,
    session: &Session,
    connected: &mut Connected,
) -> Result<CalendarList, Response> {
    let cronofy = UserCronofy::new(state, connected);
    let listed = cronofy.session.list_calendars().await;
    cronofy
        .settle(session, connected, listed, "Cannot list your calendars")
        .await
}

/// The signed-in user's calls to Cronofy: a [`permissions_reqwest::Session`] built from the
/// tokens in the session record, which on a 401 refreshes the access token once and retries.
/// After the call, [`UserCronofy::settle`] writes refreshed tokens back into the record.
struct UserCronofy {
    session: permissions_reqwest::Session,
    /// The latest refresh's answer. The `on_refresh` hook is synchronous and must not wait on
    /// the session store, so it only keeps the answer here; `settle` saves it after the call.
    refreshed: Arc<Mutex<Option<TokenResponse>>>,
}

impl UserCronofy {
    fn new(state: &AppState, connected: &Connected) -> UserCronofy {
        let refreshed = Arc::new(Mutex::new(None));
        let hook = Arc::clone(&refreshed);
        let session = permissions_reqwest::Session::new(
            state.inner.client.clone(),
            state.inner.credentials.clone(),
            AccessToken::new(connected.access_token.clone()),
            RefreshToken::new(connected.refresh_token.clone()),
        )
        .on_refresh(move |tokens: &TokenResponse| {
            *hook.lock().unwrap_or_else(PoisonError::into_inner) = Some(tokens.clone());
        });
        UserCronofy { session, refreshed }
    }

    /// After a call: saves refreshed tokens (whatever the call's result: a call can fail after
    /// a successful refresh) into `connected` and the session record. Then the call's value;
    /// or, when Cronofy refused the user's tokens for good, the session ended and a page that
    /// offers Connect again; or a `502` titled `title` for any other failure.
    async fn settle<T>(
        self,
        session: &Session,
        connected: &mut Connected,
        result: Result<T, permissions_reqwest::Error>,
        title: &str,
    ) -> Result<T, Response> {
        let refreshed = self
            .refreshed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(tokens) = refreshed {
            connected.access_token = tokens.access_token.secret().to_owned();
            // Cronofy may send a new refresh token; if not, the old one stays valid.
            if let Some(refresh) = &tokens.refresh_token {
                connected.refresh_token = refresh.secret().to_owned();
            }
            // Saved now: `tower-sessions` saves a changed record only after an answer that is
            // not a 5xx, and the page may be a 502.
            let saved = async {
                session.insert(CONNECTED, &*connected).await?;
                session.save().await
            };
            if saved.await.is_err() {
                return Err(store_error());
            }
        }
        match result {
            Ok(value) => Ok(value),
            Err(e) if tokens_refused(&e) => Err(connect_again(session).await),
            Err(e) => Err(cronofy_error(title, &e)),
        }
    }
}

/// Whether Cronofy refused the user's tokens for good: it refused the refresh
/// (`invalid_grant`), or still answered 401 (to the refresh, or to the retry after it), or
/// there was no refresh token to try.
fn tokens_refused(error: &permissions_reqwest::Error) -> bool {
    matches!(
        error,
        CallError::Api(
            ApiError::Unauthorized
                | ApiError::BadRequest {
                    code: OAuthErrorCode::InvalidGrant,
                    ..
                }
        ) | CallError::InvalidRequest(BuildError::Empty {
            field: "refresh_token"
        })
    )
}

/// Cronofy no longer accepts this user's tokens (access revoked, or the refresh token is no
/// longer valid): the session ends, and the page offers Connect again.
async fn connect_again(session: &Session) -> Response {
    if session.flush().await.is_err() {
        return store_error();
    }
    html::page(
        StatusCode::OK,
        "Connect your calendar again",
        &html::connect_again(),
    )
}

fn not_an_answer(why: &str) -> Response {
    html::error(
        StatusCode::BAD_REQUEST,
        "This link is not a valid answer",
        &format!("This page was opened with a link that this app did nothing with: {why}."),
    )
}

fn bad_return(error: &CallbackError) -> Response {
    html::error(
        StatusCode::BAD_REQUEST,
        "This link is not a valid answer",
        &format!(
            "This page was opened with a link that does not answer a request made from this \
             browser, so this app did nothing with it ({error})."
        ),
    )
}

fn no_flow(message: &str) -> Response {
    html::error(StatusCode::BAD_REQUEST, "Nothing to continue", message)
}

fn pending_error(error: &PendingError) -> Response {
    html::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again later",
        &format!("{error}; nothing was done."),
    )
}

/// An error from Cronofy or the network. Its text holds no token, code, secret or URL query.
fn cronofy_error(title: &str, error: &permissions_reqwest::Error) -> Response {
    html::error(StatusCode::BAD_GATEWAY, title, &error.to_string())
}

fn internal_error(error: &dyn std::error::Error) -> Response {
    html::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        &error.to_string(),
    )
}
