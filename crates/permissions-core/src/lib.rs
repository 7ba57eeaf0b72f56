//! The sans-IO core of a client for Cronofy's
//! [Extended Permissions](https://docs.cronofy.com/developers/api/authorization/extended-permissions/)
//! flow: every piece of knowledge about Cronofy, as pure functions over values.
//!
//! A request is a value ([`HttpRequest`]), a response is a value ([`HttpResponse`]), and the
//! user's return to the app is a URL value. Any HTTP stack moves the bytes: the
//! `permissions-reqwest` (async) and `permissions-ureq` (blocking) crates, or your own through
//! [`SyncTransport`] / [`AsyncTransport`], which closures implement.
//!
//! ```
//! use permissions_core::*;
//!
//! // A stand-in for Cronofy: any closure from request to response is a transport.
//! let transport = |req: HttpRequest| -> Result<HttpResponse, TransportError> {
//!     let body: &[u8] = match req.uri().path() {
//!         "/oauth/token" => br#"{"token_type":"bearer","access_token":"tok","expires_in":3600,"refresh_token":"ref"}"#,
//!         "/v1/calendars" => br#"{"calendars":[{"provider_name":"google","calendar_id":"cal_1",
//!             "calendar_name":"Home","calendar_readonly":false,"calendar_deleted":false,"permission_level":"sandbox"}]}"#,
//!         "/v1/permissions" => br#"{"permissions_request":{"url":"https://app.cronofy.com/permissions/p1"}}"#,
//!         _ => b"",
//!     };
//!     Ok(http::Response::builder().status(200).body(body.to_vec()).unwrap())
//! };
//! // One generic loop runs any endpoint (the transport crates add retries and sleeping).
//! fn call<E: Endpoint>(t: &dyn SyncTransport, ctx: &RequestContext<'_>, e: &E) -> E::Output {
//!     let request = e.to_request(ctx).expect("valid input");
//!     e.parse_response(t.send(request).expect("sent")).expect("answered")
//! }
//! let hosts = DataCenter::Us.hosts();
//! let api = RequestContext::new(hosts.api());
//!
//! // Step 1: send the user to the authorize URL; they come back with a code.
//! let auth = AuthorizationRequest::new("client_id", "https://app.example.com/oauth", ["read_account"])
//!     .state("st1").build().unwrap();
//! assert!(auth.url(hosts.app()).as_str().starts_with("https://app.cronofy.com/oauth/authorize?"));
//! let AuthorizationOutcome::Granted { code } =
//!     auth.parse_callback("https://app.example.com/oauth?code=c0de&state=st1").unwrap() else { panic!() };
//!
//! // Step 2: exchange the code for tokens.
//! let creds = ClientCredentials::new("client_id", ClientSecret::new("secret"));
//! let tokens = call(&transport, &api, &ExchangeCode::new(creds, code, "https://app.example.com/oauth"));
//!
//! // Step 3: list calendars and pick those still `sandbox`.
//! let user = api.with_access_token(&tokens.access_token);
//! let calendars = call(&transport, &user, &ListCalendars);
//! let wanted: Vec<_> = calendars.needing_elevation().map(|c| c.calendar_id.clone()).collect();
//!
//! // Steps 4-5: ask for unrestricted access; Cronofy answers with a URL for the user.
//! let request = PermissionsRequest::builder()
//!     .calendars(wanted)
//!     .redirect_uri("https://app.example.com/permission")
//!     .state("st2")
//!     .build()
//!     .unwrap();
//! let PermissionsOutcome::Redirect { url } = call(&transport, &user, &request) else { panic!() };
//! assert_eq!(url.as_str(), "https://app.cronofy.com/permissions/p1");
//!
//! // Step 6: the user comes back; was it accepted?
//! let back = request.parse_callback("https://app.example.com/permission?state=st2").unwrap();
//! assert_eq!(back, CallbackOutcome::Accepted);
//! ```
//!
//! # The six steps, and where they live
//!
//! | step | what | here |
//! | --- | --- | --- |
//! | 1 | user authorizes via OAuth | [`AuthorizationRequest`], [`AuthorizationRequest::parse_callback`] |
//! | 2 | the app gets tokens | [`ExchangeCode`], [`RefreshAccessToken`], [`RevokeToken`], [`TokenResponse`] |
//! | 3 | list calendars | [`ListCalendars`], [`CalendarList::needing_elevation`] |
//! | 4 | ask for elevated access | [`PermissionsRequest`] (validated by [`PermissionsRequestBuilder::build`]) |
//! | 5 | Cronofy's answer | [`PermissionsOutcome`]: a URL for the user, or granted (Enterprise Connect) |
//! | 6 | the user returns | [`PermissionsRequest::parse_callback`], [`CallbackCheck`] |
//!
//! # In scope
//! - Building every request of the flow, validated before anything could be sent.
//! - Reading every answer, any status and any bytes, into typed values or typed errors.
//! - Reading the URLs users come back on, checked against what was sent (CSRF state included).
//! - Deciding whether and when to retry ([`RetryPolicy`]), with time and jitter as arguments.
//!
//! # Out of scope, always
//! This crate contains no networking code, spawns no thread, never sleeps, and does not read
//! the clock or a random source: time and jitter are arguments. It depends on no HTTP client
//! and no async runtime.
//!
//! # Secrets
//! Access and refresh tokens, client secrets and authorization codes are their own types
//! ([`AccessToken`], …): `Debug` prints `[redacted]`, there is no `Display`, and the
//! `Authorization` header value is marked sensitive. No error holds a secret or a whole body.
//! The wrappers hold [`secrecy`]'s `SecretString`, wiped from memory when dropped.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod calendars;
pub mod callback;
pub mod data_center;
pub mod error;
pub mod oauth;
pub mod pacing;
pub mod permissions;
pub mod retry;
pub mod secret;
pub mod transport;

pub use http;
pub use url;

pub use calendars::{Calendar, CalendarList, CalendarPermissionLevel, ListCalendars, ProviderName};
pub use callback::{
    CallbackCheck, CallbackError, CallbackOutcome, Mismatch, parse_permissions_callback,
};
pub use data_center::{BaseUrl, BaseUrlError, DataCenter, Hosts, UnknownDataCenter};
pub use error::{
    ApiError, BuildError, CalendarIdProblem, CallError, DecodeError, DecodeErrorKind, FieldError,
    FieldErrors, OAuthErrorCode, ResponseError, StateProblem, UriProblem,
};
pub use oauth::{
    AfterUnauthorized, AuthorizationOutcome, AuthorizationRequest, AuthorizationRequestBuilder,
    ExchangeCode, LinkingProfile, RefreshAccessToken, Revocable, RevokeToken, SessionTokens,
    TokenResponse, parse_authorization_callback,
};
pub use permissions::{
    CalendarId, CalendarPermission, PermissionLevel, PermissionsOutcome, PermissionsRequest,
    PermissionsRequestBuilder, parse_redirect_uri,
};
pub use retry::{Failure, RetryAfter, RetryDecision, RetryPolicy};
pub use secret::{AccessToken, AuthorizationCode, ClientCredentials, ClientSecret, RefreshToken};
pub use transport::{
    AsyncTransport, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, Endpoint,
    Exchange, HttpRequest, HttpResponse, RequestContext, Step, SyncTransport, TransportError,
    TransportErrorKind, USER_AGENT,
};
