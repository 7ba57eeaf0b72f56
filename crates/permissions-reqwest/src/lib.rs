//! An async client for Cronofy's
//! [Extended Permissions](https://docs.cronofy.com/developers/api/authorization/extended-permissions/)
//! flow: [`permissions_core`]'s requests and answers, sent over [`reqwest`], with retries, a cap
//! on response bodies and, if you want it, automatic token refresh ([`Session`]).
//!
//! ```
//! use permissions_core::{AccessToken, PermissionsOutcome, PermissionsRequest};
//! use permissions_reqwest::Client;
//! # use permissions_core::{BaseUrl, Hosts};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // A local Cronofy stands in for the real one, so that this example runs anywhere.
//! # let cronofy = permissions_fake::FakeCronofy::start().await?;
//! # let hosts = Hosts::custom(BaseUrl::parse(cronofy.api_url())?, BaseUrl::parse(cronofy.app_url())?);
//! # let access_token = cronofy.seed().access_token.clone();
//! // `Client::new()` talks to the US data center; `builder()` picks another one or custom hosts.
//! let client = Client::builder().hosts(hosts).build()?;
//! let token = AccessToken::new(access_token); // from step 2, `client.exchange_code(..)`
//!
//! // Step 3: which calendars are still `sandbox`?
//! let calendars = client.list_calendars(&token).await?;
//! let wanted: Vec<_> = calendars.needing_elevation().map(|c| c.calendar_id.clone()).collect();
//!
//! // Steps 4-5: ask for unrestricted access; Cronofy answers with a page for the user.
//! let request = PermissionsRequest::builder()
//!     .calendars(wanted)
//!     .redirect_uri("https://app.example.com/permissions/done")
//!     .state("a-csrf-token")
//!     .build()?;
//! match client.request_permissions(&token, &request).await? {
//!     PermissionsOutcome::Redirect { url } => println!("send the user to {url}"),
//!     PermissionsOutcome::Granted => println!("granted at once (Enterprise Connect)"),
//!     _ => {}
//! }
//! // Step 6: the user comes back to the redirect URI: `request.parse_callback(url)`.
//! # Ok(())
//! # }
//! ```
//!
//! # What it does for you
//!
//! - **Paces** every request to Cronofy's per-application limits (50/s and 500/min unless
//!   [`ClientBuilder::pacing`] says otherwise), shared by every clone of the client; across a
//!   fleet with `permissions-redis`'s `AsyncRedisPacer` ([`ClientBuilder::pacer`]).
//! - **Retries** what [`RetryPolicy`] calls transient: 429
//!   (honouring `Retry-After` in seconds or as a date; a wait over the policy's cap stops at
//!   once), 502/503/504, failures to connect, and time-outs of idempotent calls, after a
//!   jittered exponential back-off. A code exchange is retried only when it surely was not
//!   processed.
//! - **Caps** response bodies (1 MiB by default) while reading them, and refuses an announced
//!   `Content-Length` over the cap before reading.
//! - **Times out**: 10 s to connect, 30 s for a whole attempt, body included.
//! - **Never follows redirects**, so a token is never sent anywhere else.
//! - **Keeps secrets out of errors**: [`Error`]'s `Display` and `Debug` show no token, code,
//!   secret, URL query or header value; reqwest errors lose their URL.
//! - **Refreshes tokens** when you use a [`Session`]: on 401, one refresh (shared by every call
//!   that hit 401 at the same time) and one retry.
//!
//! Bring your own `reqwest::Client` with [`ReqwestTransport`], or any other HTTP stack (or a
//! test double) with [`ClientBuilder::transport`]: closures and `Arc<dyn AsyncTransport>` are
//! transports.
//!
//! # Runtime
//!
//! Needs a tokio runtime (reqwest does), current-thread or multi-thread: this crate only uses
//! tokio's timers and a mutex. [`Client`] is `Clone + Send + Sync` and its futures are `Send`.
//!
//! # Cargo features
//!
//! | feature | default | what |
//! | --- | --- | --- |
//! | `rustls` | yes | reqwest's own `rustls` feature: rustls on aws-lc-rs, certificates checked against the operating system's roots. It is the feature reqwest turns on by default, so an app's own reqwest clients build and behave as before (this crate never turns on `rustls-no-provider`, which would make them panic) |
//! | `native-tls` | no | TLS with the platform's library (OpenSSL on Linux); wins over `rustls` when both are on |
//! | `http2` | no | HTTP/2 when the server offers it by ALPN |
//! | `system-proxy` | no | operating-system proxy settings (macOS, Windows); the proxy environment variables are honoured either way |
//! | `charset` | no | reqwest's text decoding; this crate reads bytes and does not need it |
//! | `tracing` | no | one span per operation and one per attempt: operation, method, path without query, attempt, status or error kind, wait before a retry; never a token, code, query or body |
//!
//! Without `rustls` and `native-tls`, only `http://` URLs work.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bulk;
mod client;
mod reqwest_transport;
mod session;

pub use bulk::audit;
pub use client::{AnyTransport, Client, ClientBuilder, Reqwest};
/// Why a call failed: the core's [`permissions_core::error::CallError`], the same type as
/// `permissions_ureq::Error`, so code written against one transport reads the other's errors
/// the same way.
pub use permissions_core::error::CallError as Error;
pub use reqwest_transport::ReqwestTransport;
pub use session::Session;

/// Everything an app needs from the core (the six steps' types, secrets, data centers, the
/// retry and pacing settings), so that an app depends on this crate alone.
pub use permissions_core::*;
pub use reqwest;
