//! The sans-IO core of a client for Cronofy's
//! [Extended Permissions](https://docs.cronofy.com/developers/api/authorization/extended-permissions/)
//! flow: every piece of knowledge about Cronofy, as pure functions over values.
//!
//! **Apps: use `permissions-reqwest` (async) or `permissions-ureq` (blocking).** Each
//! re-exports everything here that an app needs and adds a `Client` that sends, paces, retries
//! and refreshes tokens. This crate is for what they share, and for custom transports.
//!
//! A request is a value, a response is a value, and the user's return to the app is a URL
//! value. The [`transport`] module holds what transport authors need: the seam
//! ([`HttpRequest`](transport::HttpRequest), [`HttpResponse`](transport::HttpResponse), the
//! transport traits), and the call engine ([`Call`](transport::Call)), a state machine that
//! says what to do next (send this, wait this long, done) and owns pacing, retries, redaction
//! and the session's refresh rule. Driving the whole flow by hand with any HTTP stack:
//!
//! ```
//! use std::time::SystemTime;
//! use permissions_core::transport::{Call, ClientConfig, Endpoint, HttpResponse, Next};
//! use permissions_core::*;
//!
//! // A stand-in for Cronofy: any function from request to response.
//! fn cronofy(path: &str) -> HttpResponse {
//!     let body: &[u8] = match path {
//!         "/oauth/token" => br#"{"token_type":"bearer","access_token":"tok","expires_in":3600,"refresh_token":"ref"}"#,
//!         "/v1/calendars" => br#"{"calendars":[{"provider_name":"google","calendar_id":"cal_1",
//!             "calendar_name":"Home","calendar_readonly":false,"calendar_deleted":false,"permission_level":"sandbox"}]}"#,
//!         "/v1/permissions" => br#"{"permissions_request":{"url":"https://app.cronofy.com/permissions/p1"}}"#,
//!         _ => b"",
//!     };
//!     http::Response::builder().status(200).body(body.to_vec()).unwrap()
//! }
//! // The loop every transport runs (theirs also paces, sleeps and refreshes).
//! fn call<E: Endpoint>(config: &ClientConfig, endpoint: &E, token: Option<&AccessToken>) -> E::Output
//! where E::Output: std::fmt::Debug {
//!     let mut call = Call::new(endpoint, config, token);
//!     loop {
//!         match call.poll() {
//!             Next::Send(request) => call.on_response(cronofy(request.uri().path()), SystemTime::now(), 0.5),
//!             Next::Done(result) => return result.expect("answered"),
//!             other => panic!("{other:?}"),
//!         }
//!     }
//! }
//! let hosts = DataCenter::Us.hosts();
//! let config = ClientConfig::new(hosts.clone());
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
//! let tokens = call(&config, &ExchangeCode::new(creds, code, "https://app.example.com/oauth"), None);
//!
//! // Step 3: list calendars and pick those still `sandbox`.
//! let calendars = call(&config, &ListCalendars, Some(&tokens.access_token));
//! let wanted: Vec<_> = calendars.needing_elevation().map(|c| c.calendar_id.clone()).collect();
//!
//! // Steps 4-5: ask for unrestricted access; Cronofy answers with a URL for the user.
//! let request = PermissionsRequest::builder()
//!     .calendars(wanted)
//!     .redirect_uri("https://app.example.com/permission")
//!     .state("st2")
//!     .build()
//!     .unwrap();
//! let PermissionsOutcome::Redirect { url } = call(&config, &request, Some(&tokens.access_token)) else { panic!() };
//! assert_eq!(url.as_str(), "https://app.cronofy.com/permissions/p1");
//!
//! // Step 6: the user comes back; no `error` came back, so it was accepted.
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
//! Errors live in [`error`]; pacing and retry settings ([`PacingConfig`], [`RetryPolicy`]) at
//! the root, their machinery in [`transport`]. Each item has one path.
//!
//! # In scope
//! - Building every request of the flow, validated before anything could be sent.
//! - Reading every answer, any status and any bytes, into typed values or typed errors.
//! - Reading the URLs users come back on, checked against what was sent (CSRF state included).
//! - Deciding whether and when to retry ([`RetryPolicy`]) and to pace ([`PacingConfig`]), with
//!   time and jitter as arguments.
//!
//! # Out of scope, always
//! This crate contains no networking code, spawns no thread, never sleeps, and does not read
//! the clock or a random source: time and jitter are arguments. It depends on no HTTP client
//! and no async runtime.
//!
//! # Secrets
//! Access and refresh tokens, client secrets and authorization codes are their own types
//! ([`AccessToken`], …): `Debug` prints `[redacted]`, there is no `Display`, and the
//! `Authorization` header value is marked sensitive. A request body's `Debug` shows only its
//! length. No error holds a secret or a whole body. The wrappers hold [`secrecy`]'s
//! `SecretString`, wiped from memory when dropped.
//!
//! # Features
//! - `tracing`: the call engine's spans and events through `tracing`: a `cronofy` span per
//!   operation and an `attempt` span per request (`transport::Call::span`,
//!   `transport::Call::attempt_span`, which a driver enters), with the status, the error, and
//!   each retry or pacing wait. No field holds a token, code, secret, query or body. The
//!   transport crates' `tracing` features turn it on.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// The steps of the flow, and an audit of many accounts built from them.
pub mod audit;
mod calendars;
mod callback;
mod data_center;
mod oauth;
mod permissions;
mod redirect_uri;
mod secret;
// The machinery, read in one direction: seam -> errors -> retry/pacing -> endpoint -> config ->
// engine (which uses the OAuth step's refresh endpoint for sessions).
mod config;
mod endpoint;
mod engine;
pub mod error;
mod pacing;
mod retry;
mod seam;
pub mod transport;

pub use http;
pub use url;

pub use calendars::{Calendar, CalendarList, CalendarPermissionLevel, ListCalendars, ProviderName};
pub use callback::{CallbackCheck, CallbackOutcome};
pub use data_center::{BaseUrl, DataCenter, Hosts, PermissionsUrlPolicy};
pub use oauth::{
    AuthorizationOutcome, AuthorizationRequest, AuthorizationRequestBuilder, ExchangeCode,
    LinkingProfile, RefreshAccessToken, Revocable, RevokeToken, TokenResponse,
};
pub use pacing::{Limit, PacingConfig};
pub use permissions::{
    CalendarId, CalendarPermission, PermissionLevel, PermissionsOutcome, PermissionsRequest,
    PermissionsRequestBuilder,
};
pub use retry::RetryPolicy;
pub use secret::{AccessToken, AuthorizationCode, ClientCredentials, ClientSecret, RefreshToken};
