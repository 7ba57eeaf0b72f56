//! A local fake of Cronofy's HTTP API for the Extended Permissions flow: OAuth, calendars,
//! `POST /v1/permissions` and the pages a user answers, on `127.0.0.1`, with scriptable faults.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//!
//! let fake = permissions_fake::FakeCronofy::start_blocking()?;
//! let seed = fake.seed();
//!
//! let address = fake.api_url().trim_start_matches("http://");
//! let mut stream = TcpStream::connect(address)?;
//! write!(
//!     stream,
//!     "GET /v1/calendars HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
//!     seed.access_token,
//! )?;
//! let mut answer = String::new();
//! stream.read_to_string(&mut answer)?;
//!
//! assert!(answer.starts_with("HTTP/1.1 200 OK"));
//! assert!(answer.contains(r#""permission_level":"sandbox""#));
//! assert_eq!(fake.requests().len(), 1);
//! fake.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! It does not use this workspace's client crates, so its checks can disagree with them. It is
//! built from what is known of the real API (`shared/API-FACTS.md` of this project); where the
//! real behaviour is unknown, the choice made is written down below.
//!
//! # Running it
//!
//! [`FakeCronofy::start`] (async) and [`FakeCronofy::start_blocking`] (plain sync code) both
//! bind the listeners before they return, so the URLs are usable at once. The servers run on a
//! dedicated thread with its own tokio runtime, so the handle works from sync tests, from any
//! tokio test (current-thread or multi-thread), and from other executors. Dropping the handle
//! (or [`FakeCronofy::shutdown`]) stops the servers, waits up to one second for open
//! requests, closes every connection and frees the ports.
//!
//! There are two listeners, like Cronofy's two hosts per data center, plus an optional third:
//!
//! | listener | method and path | what |
//! | --- | --- | --- |
//! | API host | `POST /oauth/token` | code exchange and refresh |
//! | API host | `POST /oauth/token/revoke` | revoke a grant |
//! | API host | `GET /v1/calendars` | the account's calendars |
//! | API host | `POST /v1/permissions` | ask for elevated access |
//! | app host | `GET /oauth/authorize` | the consent page |
//! | app host | `POST /oauth/authorize/{id}/approve` or `/deny` | the consent page's forms: `303` back to `redirect_uri` |
//! | app host | `GET /permissions/{id}` | the permissions page |
//! | app host | `POST /permissions/{id}/accept` or `/reject` | its forms: `303` back to `redirect_uri` |
//! | app host | `POST /oauth/token`, `POST /oauth/token/revoke` | the same token endpoints (Cronofy's SDKs use both hosts) |
//! | admin (opt-in) | `POST`/`DELETE /admin/faults`, `GET`/`DELETE /admin/requests`, `GET /admin/seed` | see [Admin listener](#admin-listener) |
//!
//! Unknown paths answer `404` (empty body on the API host, an HTML page on the app host); a
//! known path with another method answers `405` with `Allow`. Request bodies over 1 MiB get `413`.
//!
//! # Seeded state
//!
//! See [`Seed`]: an OAuth client (`Demo App`), a user account with the three calendars of
//! Cronofy's list-calendars example plus a writable primary calendar
//! (`cal_fe145c37de_w0rkab1e001`), an account linked to Enterprise Connect with two
//! calendars, and a ready token pair for each account. Every calendar starts `sandbox`.
//! Tests can add accounts and calendars ([`FakeCronofy::add_account`],
//! [`FakeCronofy::add_calendar`]), issue codes without the consent page
//! ([`FakeCronofy::issue_code`]), expire tokens ([`FakeCronofy::expire_access_token`]) and read
//! calendars ([`FakeCronofy::calendars_of`]).
//!
//! More OAuth applications can be added ([`FakeCronofy::add_application`], with accounts of
//! their own through [`FakeCronofy::add_account_for`]). Codes and grants belong to one
//! application: exchanging a code or refreshing a grant with another application's
//! credentials is `invalid_grant`, and revoking with them does nothing.
//!
//! # Many accounts
//!
//! [`FakeCronofy::add_accounts`] makes thousands of accounts at once for bulk tools (a
//! [`ManyAccounts`] spec: how many, how many Enterprise Connect, a seed): each has two to five
//! calendars (the first a writable primary one; the others read-only in about 25% of cases,
//! deleted in about 10%; any of them already `unrestricted` in about 30%), a label
//! `acct-000001`, … and its own access token. [`GeneratedAccount::json_line`] and
//! [`write_account_lines`] give `audit`'s input, `{"id":"acct-000001","access_token":"…"}`.
//! The layout (ids, calendars, flags, levels) is the same for the same seed and position;
//! tokens are random. 100,000 accounts take about 2.6 s in a debug build and about 3 KB of memory each.
//!
//! # Rate limits
//!
//! With [`FakeConfig::rate_limits`] (e.g. [`RateLimit::cronofy_defaults`], 50 per second and
//! 500 per minute, or [`parse_rate_limits`]`("40/s,1200/min")`) the fake enforces limits per
//! application as Cronofy does: a request over them gets `429` with an empty body and no
//! `Retry-After`. The log is sliding: a request arriving at `t` is admitted only if, for every
//! limit `(n, w)`, fewer than `n` requests of its application were admitted in `(t - w, t]`.
//! Refused requests are not admitted and do not count against later ones (so a client that
//! keeps trying gets through as soon as the window allows). The limits cover the API host and
//! the app host's token endpoints, are checked before scripted faults (a refused request takes
//! no fault from its queue), and count each request for the application of its bearer token,
//! else of its body's `client_id` on the token endpoints, else the seeded one.
//! [`FakeCronofy::admitted_times`] gives the admitted times per application and
//! [`FakeCronofy::rate_limited_count`] the `429`s sent; [`find_window_exceeded`] checks times
//! against limits.
//!
//! # Behaviour
//!
//! JSON answers carry `Content-Type: application/json; charset=utf-8`; HTML answers
//! `text/html; charset=utf-8` and `Cache-Control: no-store`.
//!
//! **Token endpoint.** Bodies may be JSON or `application/x-www-form-urlencoded` (the
//! Content-Type decides; without one, a body starting with `{` is JSON). Client credentials are
//! read from the body only (no HTTP Basic). Answers carry `Cache-Control: no-store` and
//! `Pragma: no-cache`.
//!
//! | case | answer |
//! | --- | --- |
//! | `authorization_code` with `code` and `redirect_uri` | `200`, `token_type`, `access_token`, `expires_in: 3600`, `refresh_token`, `scope`, `account_id`, `sub`, `linking_profile` |
//! | `refresh_token` | `200`, a new access token and the *same* refresh token; no `account_id`, `sub`, `linking_profile` (older access tokens stay valid; 100 per grant at most) |
//! | body unreadable, a parameter twice in a form, `grant_type`, client or grant fields missing | `400 {"error":"invalid_request"}` |
//! | wrong `client_id` or `client_secret` | `401 {"error":"invalid_client"}` |
//! | other `grant_type` | `400 {"error":"unsupported_grant_type"}` |
//! | unknown, used or expired (10 minutes) code; `redirect_uri` not exactly the one the code was issued for; unknown or revoked refresh token | `400 {"error":"invalid_grant"}` |
//!
//! A redirect mismatch does not use the code up. **Revoke** takes `client_id`,
//! `client_secret` and `token` (access or refresh token; it wins) or `sub` (every grant of
//! that account), revokes the grant's access and refresh tokens, and answers `200` with an
//! empty body, also for a token it does not know (RFC 7009). Bad client: `401
//! {"error":"invalid_client"}`; neither `token` nor `sub`: `400 {"error":"invalid_request"}`.
//!
//! **Bearer endpoints.** A missing, malformed, unknown, revoked or expired access token gets
//! `401` with the body `{}` (Cronofy's 401 body is not documented) and no `WWW-Authenticate`
//! (not known to be sent). `GET /v1/calendars` answers `{"sub": account_id, "calendars": [..]}`
//! with every documented calendar field.
//!
//! **`POST /v1/permissions`** accepts any Content-Type and validates like Cronofy's other
//! endpoints, collecting every problem into one `422`:
//! `{"errors": {field: [{"key": .., "description": ..}]}}`. The keys are this fake's choice
//! (Cronofy's own are not documented for this endpoint):
//!
//! | problem | field | key |
//! | --- | --- | --- |
//! | body not JSON, or not an object | `request` | `errors.invalid_json` |
//! | `permissions` missing or `null` | `permissions` | `errors.required` |
//! | `permissions` not an array, or an element not an object | `permissions` | `errors.invalid_type` |
//! | `permissions` empty | `permissions` | `errors.empty` |
//! | an element without a non-empty string `calendar_id` | `permissions` | `errors.required` |
//! | a `calendar_id` that is not one of the account's calendars | `permissions` | `errors.unknown_calendar` |
//! | an element without `permission_level` | `permissions` | `errors.required` |
//! | a `permission_level` other than `"unrestricted"` | `permissions` | `errors.invalid_permission_level` |
//! | `redirect_uri` missing or `null` (user accounts only) | `redirect_uri` | `errors.required` |
//! | `redirect_uri` not an absolute `http`/`https` URI with a host | `redirect_uri` | `errors.invalid_uri` |
//!
//! A valid request for a user account answers `200
//! {"permissions_request":{"url":"{app_url}/permissions/{request_id}"}}` (a random 32-character
//! id); for an Enterprise Connect account `202 {"permissions_request":{"accepted":true}}`, and
//! its calendars are `unrestricted` at once (`redirect_uri` optional there).
//!
//! **Consent page.** `GET /oauth/authorize` checks `response_type=code`, a known `client_id`, an
//! absolute `http`/`https` `redirect_uri` and a non-empty `scope`; otherwise `400` with an
//! HTML page listing the problems. The page names the app and has two plain forms (no
//! JavaScript):
//! `<form id="approve" method="post" action="/oauth/authorize/{id}/approve">` and
//! `<form id="deny" method="post" action="/oauth/authorize/{id}/deny">`.
//! Approve answers `303` to `redirect_uri` plus `code` (for the seeded user account; single
//! use, 10 minutes) and `state` when one was given; deny adds `error=access_denied` and
//! `state`. The `redirect_uri`'s own query is kept as sent.
//!
//! **Permissions page.** `GET /permissions/{id}` names the app and each calendar asked for
//! (name and id), with
//! `<form id="accept" method="post" action="/permissions/{id}/accept">` and
//! `<form id="reject" method="post" action="/permissions/{id}/reject">`.
//! Accept turns those calendars `unrestricted` and answers `303` to the `redirect_uri` exactly
//! as sent; reject adds `error=access_denied`. A page is answered once: afterwards it and its
//! forms answer `410`; an unknown id `404`.
//!
//! # Faults
//!
//! [`FakeCronofy::script`] queues answers for a [`Route`]: each request on that route takes the
//! next one before normal handling (the route's own queue first, then [`Route::Any`]'s); an
//! empty queue means normal behaviour. [`Fault`] has one constructor per kind:
//!
//! | constructor | the client sees |
//! | --- | --- |
//! | `Fault::status(429).header("Retry-After", "1").body("")` | exactly that answer |
//! | `Fault::delay(Duration::from_millis(200))` | the normal answer, late |
//! | `Fault::hang()` | no answer until it gives up (or the fake shuts down and closes the connection) |
//! | `Fault::oversized(5_000_000)` | `200`, JSON Content-Type, a chunked body of that many bytes, generated lazily |
//! | `Fault::malformed_json()` | `200`, JSON Content-Type, the body `{"permissions_request": {` |
//! | `Fault::drop_connection()` | `200`, `Content-Length: 1024`, part of a body, then the connection is aborted |
//!
//! ```
//! use permissions_fake::{FakeCronofy, Fault, Route};
//!
//! let fake = FakeCronofy::start_blocking()?;
//! fake.script(Route::Permissions, [Fault::status(429).header("Retry-After", "1"), Fault::status(503)]);
//! // The next two POST /v1/permissions answer 429 then 503; the third is handled normally.
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Admin listener
//!
//! With [`FakeConfig::admin`] the fake also listens on [`FakeCronofy::admin_url`], for tools
//! that cannot call Rust. Its requests are not logged.
//!
//! It refuses what a web page could send it (cross-site request forgery, DNS rebinding):
//! `403 {"error": "refused: …"}`, and nothing changes, for a request whose `Host` is not the
//! listener's own address (`127.0.0.1:PORT`, as in the admin URL), whose `Origin` is present
//! and not `http://127.0.0.1:PORT`, whose `Sec-Fetch-Site` is present and neither
//! `same-origin` nor `none`, and for a `POST` whose `Content-Type` is not `application/json`
//! (`text/plain`, forms and no type at all can be sent cross-site without a preflight). With
//! curl: `curl -X POST -H 'Content-Type: application/json' "$ADMIN/admin/faults" -d '…'`.
//!
//! * `POST /admin/faults` queues faults; the body names a route (`token`, `revoke`,
//!   `calendars`, `permissions` or `any`) and the answers in order:
//!
//!   ```json
//!   {"route": "permissions", "answers": [
//!     {"status": 429, "headers": {"Retry-After": "1"}, "body": ""},
//!     {"fault": "hang"},
//!     {"fault": "delay", "ms": 200},
//!     {"fault": "oversized", "bytes": 5000000},
//!     {"fault": "malformed_json"},
//!     {"fault": "drop_connection"}
//!   ]}
//!   ```
//!
//!   An answer without `"fault"` (or with `"fault": "status"`) is a plain answer: `status`
//!   (required, 100–999), `headers` (an object of strings, optional) and `body` (a string,
//!   optional; other JSON values are sent as their JSON text). `headers` may also be given on
//!   `oversized`, `malformed_json` and `drop_connection`. The answer is `200
//!   {"route": "permissions", "queued": 6}`, or `400 {"error": "…"}` naming the problem (and
//!   nothing is queued).
//! * `DELETE /admin/faults` empties every queue (`204`).
//! * `GET /admin/requests` lists the request log, oldest first: `[{"host": "api", "method":
//!   "POST", "path": "/v1/permissions", "query": null, "headers": [["authorization", "Bearer
//!   <redacted>"], …], "body": "…", "body_len": 153}]`. The values of `Authorization`,
//!   `Proxy-Authorization`, `Cookie` and `X-Api-Key` are redacted; bodies are shown as text
//!   (the credentials in them are the fake's own).
//! * `DELETE /admin/requests` empties the log (`204`).
//! * `GET /admin/seed` answers the [`Seed`] as JSON.
//!
//! # Request log
//!
//! Every request on the API and app hosts is logged ([`FakeCronofy::requests`], newest
//! 10,000 by default, see [`FakeConfig::request_log_capacity`]) and passed to the
//! [`FakeConfig::on_request`] callback, then, with its status, to the
//! [`FakeConfig::on_response`] callback. Nothing is printed. [`LoggedRequest`]'s `Debug` shows
//! neither the `Authorization` value nor the body.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod fault;
mod html;
mod ids;
mod limits;
mod log;
mod server;
mod state;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::watch;

pub use crate::config::{DEFAULT_REQUEST_LOG_CAPACITY, FakeConfig};
pub use crate::fault::{Fault, Route};
pub use crate::limits::{
    ADMITTED_HISTORY_CAPACITY, RateLimit, RateLimitSpecError, WindowExceeded, find_window_exceeded,
    parse_rate_limits,
};
pub use crate::log::{Host, LoggedRequest};
pub use crate::state::{
    AccountTokens, Application, FakeCalendar, GeneratedAccount, ManyAccounts, ManyAccountsError,
    NewAccount, NewCalendar, Seed, write_account_lines,
};

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::limits::Limiter;
use crate::server::{Listeners, Shared, SharedOptions};
use crate::state::{DEFAULT_SCOPE, State};

/// A running fake Cronofy: an API host and an app host on `127.0.0.1`, and optionally an admin
/// listener. Dropping it stops them (see [`FakeCronofy::shutdown`]).
///
/// `Send + Sync`: share it with `Arc` or by reference across threads.
pub struct FakeCronofy {
    shared: Arc<Shared>,
    seed: Seed,
    api_url: String,
    app_url: String,
    admin_url: Option<String>,
    server: Option<ServerThread>,
}

/// The thread that runs the servers, and how to stop it.
struct ServerThread {
    stop: watch::Sender<bool>,
    thread: JoinHandle<()>,
}

/// Owns the runtime until the server thread takes it; if the thread never starts, the runtime
/// is shut down in the background, which is allowed in async contexts too.
struct RuntimeSlot(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeSlot {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

fn bind(port: u16) -> io::Result<StdTcpListener> {
    let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn url_of(listener: &StdTcpListener) -> io::Result<String> {
    Ok(format!("http://{}", listener.local_addr()?))
}

impl FakeCronofy {
    /// Starts a fake with the default configuration (ports chosen by the OS, no admin listener).
    ///
    /// Binding happens before this returns; the servers run on their own thread, so the
    /// future does not need any particular executor.
    pub async fn start() -> io::Result<FakeCronofy> {
        Self::start_blocking_with(FakeConfig::default())
    }

    /// Starts a fake with `config`. See [`FakeCronofy::start`].
    pub async fn start_with(config: FakeConfig) -> io::Result<FakeCronofy> {
        Self::start_blocking_with(config)
    }

    /// Starts a fake from plain sync code (also fine inside async code: it only binds sockets
    /// and spawns a thread).
    pub fn start_blocking() -> io::Result<FakeCronofy> {
        Self::start_blocking_with(FakeConfig::default())
    }

    /// Starts a fake with `config` from plain sync code.
    ///
    /// # Errors
    ///
    /// If a listener cannot bind (e.g. a configured port is taken), or the runtime or its
    /// thread cannot be created.
    pub fn start_blocking_with(config: FakeConfig) -> io::Result<FakeCronofy> {
        let api = bind(config.api_port)?;
        let app = bind(config.app_port)?;
        let admin = if config.admin {
            Some(bind(config.admin_port)?)
        } else {
            None
        };
        let api_url = url_of(&api)?;
        let app_url = url_of(&app)?;
        let admin_url = admin.as_ref().map(url_of).transpose()?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("permissions-fake-worker")
            .enable_io()
            .enable_time()
            .build()?;
        let slot = RuntimeSlot(Some(runtime));
        let listeners = {
            let Some(runtime) = slot.0.as_ref() else {
                unreachable!("the slot was just filled");
            };
            let _context = runtime.enter();
            Listeners {
                api: tokio::net::TcpListener::from_std(api)?,
                app: tokio::net::TcpListener::from_std(app)?,
                admin: admin.map(tokio::net::TcpListener::from_std).transpose()?,
            }
        };

        let (state, seed) = State::seeded();
        let (stop, stopped) = watch::channel(false);
        let admin_address = admin_url
            .as_deref()
            .map(|url| url.trim_start_matches("http://").to_owned());
        let shared = Arc::new(Shared::new(
            state,
            seed.clone(),
            SharedOptions {
                app_url: app_url.clone(),
                admin_address,
                shutdown: stopped,
                log_capacity: config.request_log_capacity,
                on_request: config.on_request,
                on_response: config.on_response,
                limiter: Limiter::new(config.rate_limits, Instant::now()),
            },
        ));
        let thread = {
            let shared = Arc::clone(&shared);
            let mut slot = slot;
            std::thread::Builder::new()
                .name("permissions-fake".to_owned())
                .spawn(move || {
                    if let Some(runtime) = slot.0.take() {
                        runtime.block_on(server::serve(listeners, shared));
                        // Dropping the runtime here (a plain thread) cancels what is left:
                        // hung requests, unread streams.
                        drop(runtime);
                    }
                })?
        };
        Ok(FakeCronofy {
            shared,
            seed,
            api_url,
            app_url,
            admin_url,
            server: Some(ServerThread { stop, thread }),
        })
    }

    /// The API host's base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The app host's base URL (a second listener, on another port).
    pub fn app_url(&self) -> &str {
        &self.app_url
    }

    /// The admin listener's base URL, when started with [`FakeConfig::admin`].
    pub fn admin_url(&self) -> Option<&str> {
        self.admin_url.as_deref()
    }

    /// The credentials and ids the fake started with.
    pub fn seed(&self) -> &Seed {
        &self.seed
    }

    /// Queues answers for the next requests on `route`, after any already queued.
    pub fn script(&self, route: Route, answers: impl IntoIterator<Item = Fault>) {
        self.shared.script(route, answers);
    }

    /// Empties every route's queue of scripted answers.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// The request log, oldest first (API and app hosts; not the admin listener).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.requests()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// The calendars of an account as they are now (empty for an unknown account).
    pub fn calendars_of(&self, account_id: &str) -> Vec<FakeCalendar> {
        self.shared.state().calendars_of(account_id)
    }

    /// Adds an account with its calendars and a ready grant.
    ///
    /// # Panics
    ///
    /// If `account.id` is already taken or two of its calendars share an id.
    pub fn add_account(&self, account: NewAccount) -> AccountTokens {
        self.shared.state().add_account(account)
    }

    /// Adds a calendar to an account.
    ///
    /// # Panics
    ///
    /// If the account is unknown or already has a calendar with that id.
    pub fn add_calendar(&self, account_id: &str, calendar: NewCalendar) {
        self.shared.state().add_calendar(account_id, calendar);
    }

    /// Issues an authorization code for an account, as if its user had approved the consent
    /// page for `redirect_uri` (the scope is `read_account list_calendars read_events
    /// create_event delete_event`). Single use; valid for 10 minutes.
    ///
    /// # Panics
    ///
    /// If the account is unknown.
    pub fn issue_code(&self, account_id: &str, redirect_uri: &str) -> String {
        self.shared
            .state()
            .issue_code(account_id, redirect_uri, DEFAULT_SCOPE)
    }

    /// Makes an access token expired: the bearer endpoints answer `401` to it from now on (its
    /// refresh token still works). Unknown tokens are ignored.
    pub fn expire_access_token(&self, token: &str) {
        self.shared.state().expire_access_token(token);
    }

    /// Adds an OAuth application (client) with random credentials. Its accounts
    /// ([`FakeCronofy::add_account_for`]) and codes are its own, and the rate limits count
    /// its requests apart from the seeded application's.
    pub fn add_application(&self, name: &str) -> Application {
        self.shared.state().add_application(name)
    }

    /// Adds an account as [`FakeCronofy::add_account`] does, its grant given to the
    /// application with this client id.
    ///
    /// # Panics
    ///
    /// If no application has this client id, or as [`FakeCronofy::add_account`].
    pub fn add_account_for(&self, client_id: &str, account: NewAccount) -> AccountTokens {
        let mut state = self.shared.state();
        let app = state
            .app_index(client_id)
            .unwrap_or_else(|| panic!("add_account_for: unknown client id"));
        state.add_account_for(app, account)
    }

    /// Adds many accounts at once, for bulk tools (`audit`): each with two to five calendars
    /// (the first a writable primary one; the others sometimes read-only or deleted; about
    /// 30% already `unrestricted`), laid out from `spec.seed`, with a ready grant of the
    /// seeded application. `spec.enterprise` of them, spread evenly, are Enterprise Connect
    /// accounts (a permissions request is granted at once). Labels continue across calls
    /// (`acct-000001`, …). Read their calendars with [`FakeCronofy::calendars_of`].
    ///
    /// ```
    /// use permissions_fake::{FakeCronofy, ManyAccounts};
    ///
    /// let fake = FakeCronofy::start_blocking()?;
    /// let accounts = fake.add_accounts(ManyAccounts::new(10).enterprise(3).seed(1)).unwrap();
    /// assert_eq!(accounts.iter().filter(|a| a.enterprise_connect).count(), 3);
    /// let calendars = fake.calendars_of(&accounts[0].account_id);
    /// assert!((2..=5).contains(&calendars.len()));
    /// assert_eq!(accounts[0].json_line().split('"').nth(3), Some("acct-000001"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ManyAccountsError::TooManyEnterprise`] when `spec.enterprise > spec.count`; nothing
    /// is added then.
    pub fn add_accounts(
        &self,
        spec: ManyAccounts,
    ) -> Result<Vec<GeneratedAccount>, ManyAccountsError> {
        self.shared.state().add_generated_accounts(spec)
    }

    /// Every account made by [`FakeCronofy::add_accounts`] so far, in creation order.
    pub fn generated_accounts(&self) -> Vec<GeneratedAccount> {
        self.shared.state().generated_accounts().to_vec()
    }

    /// The rate limits enforced ([`FakeConfig::rate_limits`]); empty when none.
    pub fn rate_limits(&self) -> Vec<RateLimit> {
        self.shared
            .limiter
            .as_ref()
            .map(|l| l.limits().to_vec())
            .unwrap_or_default()
    }

    /// The times at which requests were admitted under the rate limits, per application
    /// (keyed by client id), as durations since the fake started, oldest first (the newest
    /// [`ADMITTED_HISTORY_CAPACITY`] per application). Check them with
    /// [`find_window_exceeded`]. Empty without rate limits.
    pub fn admitted_times(&self) -> HashMap<String, Vec<Duration>> {
        self.shared
            .limiter
            .as_ref()
            .map(Limiter::admitted_times)
            .unwrap_or_default()
    }

    /// [`FakeCronofy::admitted_times`] of one application.
    pub fn admitted_times_of(&self, client_id: &str) -> Vec<Duration> {
        self.shared
            .limiter
            .as_ref()
            .map(|l| l.admitted_times_of(client_id))
            .unwrap_or_default()
    }

    /// How many `429`s the rate limits sent, all applications together (scripted faults
    /// are not counted).
    pub fn rate_limited_count(&self) -> u64 {
        self.shared.limiter.as_ref().map_or(0, Limiter::rejected)
    }

    /// How many `429`s the rate limits sent to one application.
    pub fn rate_limited_count_of(&self, client_id: &str) -> u64 {
        self.shared
            .limiter
            .as_ref()
            .map_or(0, |l| l.rejected_of(client_id))
    }

    /// Stops the listeners and frees their ports. Open requests get up to one second to finish;
    /// then their connections are closed. Dropping the handle does the same.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for FakeCronofy {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop.send_replace(true);
            // The thread only ends after every listener and connection is closed. Joining
            // never panics here unless the server thread itself panicked; ignore that.
            let _ = server.thread.join();
        }
    }
}

impl fmt::Debug for FakeCronofy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeCronofy")
            .field("api_url", &self.api_url)
            .field("app_url", &self.app_url)
            .field("admin_url", &self.admin_url)
            .field("account_id", &self.seed.account_id)
            .field("enterprise_account_id", &self.seed.enterprise_account_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handle_is_send_and_sync() {
        assert_send_sync::<FakeCronofy>();
        assert_send_sync::<FakeConfig>();
        assert_send_sync::<Fault>();
        assert_send_sync::<LoggedRequest>();
    }
}
