//! A blocking client for Cronofy's
//! [Extended Permissions](https://docs.cronofy.com/developers/api/authorization/extended-permissions/)
//! flow: [`permissions_core`] for every piece of Cronofy knowledge, [`ureq`] to move the bytes.
//!
//! ```
//! use permissions_core::{
//!     AccessToken, BaseUrl, CallbackOutcome, Hosts, PermissionsOutcome, PermissionsRequest,
//! };
//!
//! // A local fake Cronofy stands in for the real one here; against Cronofy itself,
//! // `Client::new()` (data center `us`) or `.data_center(DataCenter::Uk)` is all it takes.
//! let fake = permissions_fake::FakeCronofy::start_blocking()?;
//! let hosts = Hosts::custom(BaseUrl::parse(fake.api_url())?, BaseUrl::parse(fake.app_url())?);
//! let client = permissions_ureq::Client::builder().hosts(hosts).build()?;
//! let token = AccessToken::new(fake.seed().access_token.clone());
//!
//! // Step 3: which calendars are still `sandbox`?
//! let calendars = client.list_calendars(&token)?;
//! let wanted: Vec<_> = calendars.needing_elevation().map(|c| c.calendar_id.clone()).collect();
//!
//! // Steps 4-5: ask for unrestricted access; the answer is a page to send the user to.
//! let request = PermissionsRequest::builder()
//!     .calendars(wanted)
//!     .redirect_uri("https://app.example.com/permission")
//!     .state("csrf-token-1")
//!     .build()?;
//! let PermissionsOutcome::Redirect { url } = client.request_permissions(&token, &request)? else {
//!     panic!("a user account needs the user's consent");
//! };
//! assert!(url.as_str().starts_with(fake.app_url()));
//!
//! // Step 6: the user comes back to the redirect_uri.
//! let back = request.parse_callback("https://app.example.com/permission?state=csrf-token-1")?;
//! assert_eq!(back, CallbackOutcome::Accepted);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What it does
//!
//! - [`Client`] runs any [`transport::Endpoint`] through the core's call engine
//!   ([`transport::Call`]): it paces every request to Cronofy's per-application limits (50/s
//!   and 500/min unless [`ClientBuilder::pacing`] says otherwise; across a fleet with
//!   `permissions-redis`'s `RedisPacer`), sends, reads, and retries what the [`RetryPolicy`]
//!   says (429 honouring `Retry-After`, 502/503/504, connection failures), sleeping the calling
//!   thread in between. A `Retry-After` longer than the policy's cap stops at once.
//! - [`audit()`] runs steps 3-5 over many accounts on a bounded pool of threads. A worker's
//!   panic (a custom transport's, a pacer's, the accounts iterator's) is raised again by the
//!   iterator: an audit never ends quietly with accounts missing.
//! - [`UreqTransport`] is the [`SyncTransport`](transport::SyncTransport) over a
//!   [`ureq::Agent`]: error statuses come back as responses with every header, redirects are
//!   never followed (no bearer token travels to a `Location`), the body is capped while it is
//!   read (1 MiB by default), connect and whole-request timeouts apply (10 s and 30 s), and the
//!   pool keeps up to 64 idle connections per host for many threads.
//! - [`ClientBuilder::transport`] takes any other transport: a closure, an
//!   `Arc<dyn SyncTransport>`, a test double.
//! - [`Session`] (optional) holds one user's tokens and refreshes the access token on 401.
//!
//! # Errors
//!
//! [`Error`] says what failed: the input ([`Error::InvalidRequest`], nothing sent), Cronofy's
//! answer ([`Error::Api`], [`Error::Decode`]), or the way there ([`Error::Timeout`],
//! [`Error::TooLarge`], [`Error::Connect`], [`Error::Transport`]). [`Error::kind`] gives a
//! stable name for programs. No error shows a token, code, secret, URL query, header value or
//! body (beyond the core's short snippets of non-secret error bodies).
//!
//! # Features
//!
//! - `rustls` (default): TLS with rustls and the ring provider; no OpenSSL, no cmake.
//! - `native-tls`: TLS through the platform's library instead (OpenSSL on Linux).
//! - `tracing`: a span per operation (`cronofy`, with the endpoint's name) and per attempt
//!   (`attempt`: method, path without query, attempt number, status, wait before the next
//!   one). Never a token, code, secret or query value.
//!
//! Without a TLS feature only `http://` loopback hosts (a local fake) can be reached.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bulk;
mod client;
mod session;
mod ureq_transport;

pub use bulk::{Audit, audit};
pub use client::{AnyTransport, Client, ClientBuilder, Ureq};
/// Why a call failed: the core's [`permissions_core::error::CallError`], the same type as
/// `permissions_reqwest::Error`, so code written against one transport reads the other's errors
/// the same way.
pub use permissions_core::error::CallError as Error;
pub use session::Session;
pub use ureq_transport::UreqTransport;

/// Everything an app needs from the core (the six steps' types, secrets, data centers, the
/// retry and pacing settings), so that an app depends on this crate alone.
pub use permissions_core::*;
pub use ureq;
