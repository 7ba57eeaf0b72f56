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
//! // In a server: axum::serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?, router).await?
//!
//! let home = router.oneshot(Request::get("/").body(Body::empty())?).await?;
//! assert_eq!(home.status(), StatusCode::OK);
//! assert!(home.headers()["set-cookie"].to_str()?.contains("HttpOnly"));
//! # Ok(()) }
//! ```
//!
//! # Routes
//!
//! | route | step | what |
//! | --- | --- | --- |
//! | `GET /` | 1 | a "Connect your calendar" link to Cronofy's authorize URL, with a fresh random `state` kept in the session |
//! | `GET /oauth/callback` | 1-2 | checks the `state`, exchanges the code for tokens, keeps them in the session, `303` to `/calendars` |
//! | `GET /calendars` | 3 | the calendars with their access level, and a form (check boxes) to choose which to elevate |
//! | `POST /elevate` | 4-5 | sends the permissions request, a fresh random `state` in its `redirect_uri`; `303` to Cronofy's page, or "granted" at once for Enterprise Connect |
//! | `GET /permission` | 6 | checks the return (`redirect_uri` and `state`) and shows accepted, rejected or an error, then the refreshed list |
//!
//! # What stays on the server
//!
//! Tokens never reach a page or a URL: the browser holds only a random session id, in an
//! `HttpOnly`, `SameSite=Lax` cookie (plus `Secure` when the base URL is `https`). The sessions
//! live in this process's memory; **that is the part a real app replaces** with its own
//! session store and database (tokens encrypted at rest, refreshed tokens persisted through
//! [`Session::on_refresh`](permissions_reqwest::Session::on_refresh)).
//!
//! # Returns are untrusted
//!
//! Anyone can send a user a link to `/oauth/callback` or `/permission`. Each return is read with
//! the core's checks ([`AuthorizationRequest::parse_callback`],
//! [`PermissionsRequest::parse_callback`]): it must be the `redirect_uri` that was sent, with
//! the session's `state`. The URL checked is rebuilt from the configured base URL plus the
//! request's path and query, never from the `Host` header, which the client chooses. A return
//! that fails the check shows an error page and changes nothing: the request in flight stays
//! answerable.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod html;
mod sessions;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use permissions_core::error::{BaseUrlError, BuildError, CallbackError};
use permissions_core::url::Url;
use permissions_core::{
    AuthorizationOutcome, AuthorizationRequest, BaseUrl, CallbackOutcome, ClientCredentials,
    ExchangeCode, PermissionsOutcome, PermissionsRequest, RefreshToken,
};
use permissions_reqwest::{Client, Session};

use crate::html::Notice;
use crate::sessions::{Sessions, cookie, random_token, session_id};

/// The OAuth scopes asked for in step 1: enough to list calendars and work with their events,
/// which is what unrestricted access is for.
pub const SCOPES: [&str; 5] = [
    "read_account",
    "list_calendars",
    "read_events",
    "create_event",
    "delete_event",
];

/// Everything the handlers share: the Cronofy client, the app's credentials and base URL, and
/// the in-memory sessions. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    credentials: ClientCredentials,
    base_url: BaseUrl,
    sessions: Sessions,
}

impl AppState {
    /// The state of an app that talks to Cronofy through `client` (its hosts say which
    /// Cronofy), as the OAuth client `credentials`, and that browsers reach at `base_url`.
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
        let state = AppState {
            inner: Arc::new(Inner {
                client,
                credentials,
                base_url,
                sessions: Sessions::default(),
            }),
        };
        // Fail now, not on the first visitor, if no valid request can be built.
        state
            .authorization_request()
            .map_err(ConfigError::Request)?;
        Ok(state)
    }

    /// The base URL browsers reach this app at, ending with `/`.
    pub fn base_url(&self) -> &BaseUrl {
        &self.inner.base_url
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

    fn authorization_request(&self) -> Result<AuthorizationRequest, BuildError> {
        AuthorizationRequest::new(
            self.inner.credentials.client_id.as_str(),
            self.url("oauth/callback").as_str(),
            SCOPES,
        )
        .state(random_token())
        .build()
    }

    fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// The session id of the request's cookie, if it names a live session.
    fn live_session(&self, headers: &HeaderMap) -> Option<String> {
        let id = session_id(headers)?;
        self.sessions().with(id, |_| ())?;
        Some(id.to_owned())
    }

    /// The connected user's Cronofy session, if any.
    fn cronofy(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = session_id(headers)?;
        let cronofy = self.sessions().with(id, |s| s.cronofy.clone())??;
        Some((id.to_owned(), cronofy))
    }

    fn secure_cookies(&self) -> bool {
        self.inner.base_url.as_url().scheme() == "https"
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

/// The app's router, ready for `axum::serve`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/oauth/callback", get(oauth_callback))
        .route("/calendars", get(calendars))
        .route("/elevate", post(elevate))
        .route("/permission", get(permission))
        .with_state(state)
}

/// `GET /`: a link to Cronofy's authorize URL, with a fresh state kept in the session.
async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (id, new_session) = match state.live_session(&headers) {
        Some(id) => (id, false),
        None => (state.sessions().create(), true),
    };
    let authorization = match state.authorization_request() {
        Ok(authorization) => authorization,
        Err(e) => return internal_error(&e),
    };
    let authorize_url = authorization.url(state.inner.client.hosts().app());
    let connected = state
        .sessions()
        .with(&id, |s| {
            s.authorization = Some(authorization);
            s.cronofy.is_some()
        })
        .unwrap_or(false);
    let mut response = html::page(
        StatusCode::OK,
        "Connect your calendar",
        &html::home(authorize_url.as_str(), connected),
    );
    if new_session {
        let value = cookie(&id, state.secure_cookies());
        match HeaderValue::from_str(&value) {
            Ok(value) => {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            Err(e) => return internal_error(&e),
        }
    }
    response
}

/// `GET /oauth/callback`: steps 1-2, the return from Cronofy's consent page.
async fn oauth_callback(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let pending = session_id(&headers)
        .and_then(|id| Some((id, state.sessions().with(id, |s| s.authorization.clone())??)));
    let Some((id, authorization)) = pending else {
        return no_flow("No sign-in is in progress in this browser.");
    };
    let outcome = match authorization.parse_callback(&state.returned_url(&uri)) {
        Ok(outcome) => outcome,
        // Forged or stale: show it, and keep the request in flight answerable.
        Err(e) => return bad_return(&e),
    };
    // The state matched: this request is answered, whatever the answer.
    state.sessions().with(id, |s| s.authorization = None);
    let code = match outcome {
        AuthorizationOutcome::Granted { code } => code,
        AuthorizationOutcome::Denied => {
            return html::error(
                StatusCode::OK,
                "Not connected",
                "You did not allow access to your calendars, so nothing was connected.",
            );
        }
        _ => return no_flow("Cronofy answered in a way this app does not know."),
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
    // Cronofy sends a refresh token with every code exchange. Without one the session still
    // works until the access token expires; its refresh is then refused before anything is sent.
    let refresh = tokens
        .refresh_token
        .unwrap_or_else(|| RefreshToken::new(String::new()));
    let cronofy = Session::new(
        state.inner.client.clone(),
        state.inner.credentials.clone(),
        tokens.access_token,
        refresh,
    );
    state.sessions().with(id, |s| s.cronofy = Some(cronofy));
    Redirect::to("/calendars").into_response()
}

/// `GET /calendars`: step 3, the calendars and the form to choose which to elevate.
async fn calendars(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.cronofy(&headers) {
        Some((_, cronofy)) => calendars_page(&cronofy, None).await,
        None => Redirect::to("/").into_response(),
    }
}

/// `POST /elevate`: steps 4-5, ask for unrestricted access to the chosen calendars.
async fn elevate(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some((id, cronofy)) = state.cronofy(&headers) else {
        return Redirect::to("/").into_response();
    };
    // Several check boxes share the name `calendar`, which serde's form decoding does not
    // collect; the form is read directly.
    let chosen: Vec<String> = form_urlencoded::parse(&body)
        .filter(|(name, _)| name == "calendar")
        .map(|(_, value)| value.into_owned())
        .collect();
    if chosen.is_empty() {
        return html::error(
            StatusCode::BAD_REQUEST,
            "No calendar chosen",
            "Choose at least one calendar to ask unrestricted access for.",
        );
    }
    let request = PermissionsRequest::builder()
        .calendars(chosen)
        .redirect_uri(state.url("permission").as_str())
        .state(random_token())
        .build();
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            return html::error(
                StatusCode::BAD_REQUEST,
                "Cannot ask for access",
                &e.to_string(),
            );
        }
    };
    match cronofy.request_permissions(&request).await {
        Ok(PermissionsOutcome::Redirect { url }) => {
            // Kept until the user comes back: the return must carry this request's state.
            state
                .sessions()
                .with(&id, |s| s.permissions = Some(request));
            Redirect::to(url.as_str()).into_response()
        }
        Ok(PermissionsOutcome::Granted) => {
            state.sessions().with(&id, |s| s.permissions = None);
            calendars_page(&cronofy, Some(Notice::Granted)).await
        }
        Ok(_) => no_flow("Cronofy answered in a way this app does not know."),
        Err(e) => cronofy_error("Cronofy did not accept the permissions request", &e),
    }
}

/// `GET /permission`: step 6, the return from Cronofy's permissions page.
async fn permission(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let Some((id, cronofy)) = state.cronofy(&headers) else {
        return no_flow("No calendar account is connected in this browser.");
    };
    let Some(request) = state
        .sessions()
        .with(&id, |s| s.permissions.clone())
        .flatten()
    else {
        return no_flow("No permissions request is in progress in this browser.");
    };
    let notice = match request.parse_callback(&state.returned_url(&uri)) {
        Ok(CallbackOutcome::Accepted) => Notice::Accepted,
        Ok(CallbackOutcome::Rejected) => Notice::Rejected,
        Ok(_) => return no_flow("Cronofy answered in a way this app does not know."),
        Err(e @ CallbackError::Error { .. }) => {
            // A genuine return (the state matched) that reports an error: the request is over.
            state.sessions().with(&id, |s| s.permissions = None);
            return html::error(
                StatusCode::BAD_GATEWAY,
                "Cronofy reported an error",
                &e.to_string(),
            );
        }
        // Forged or stale: show it, and keep the request in flight answerable.
        Err(e) => return bad_return(&e),
    };
    state.sessions().with(&id, |s| s.permissions = None);
    calendars_page(&cronofy, Some(notice)).await
}

/// The calendar list, freshly read from Cronofy, under an optional notice.
async fn calendars_page(cronofy: &Session, notice: Option<Notice>) -> Response {
    match cronofy.list_calendars().await {
        Ok(list) => html::page(
            StatusCode::OK,
            "Your calendars",
            &html::calendars(&list, notice),
        ),
        Err(e) => cronofy_error("Cannot list your calendars", &e),
    }
}

fn bad_return(error: &CallbackError) -> Response {
    html::error(
        StatusCode::BAD_REQUEST,
        "This link is not a valid answer",
        &format!(
            "This page was opened with a link that does not answer a request made from this \
             browser, so nothing was changed ({error})."
        ),
    )
}

fn no_flow(message: &str) -> Response {
    html::error(StatusCode::BAD_REQUEST, "Nothing to continue", message)
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
