//! [`Client`]: the core's call engine driven on the calling thread.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use permissions_core::AccessToken;
use permissions_core::error::CallError;
use permissions_core::transport::{
    Backend, Call, ClientConfig, ClientParts, Endpoint, LocalPacer, Next, Pacer, SyncTransport,
    TransportSlot,
};

use crate::session::Session;
use crate::ureq_transport::UreqTransport;

/// The blocking backend of [`permissions_core::transport::ClientBuilder`]: what makes
/// `Client::builder()` build a [`Client`] of this crate.
#[derive(Debug)]
pub struct Ureq;

/// Configures a [`Client`]: the core's one builder, the same in every transport crate.
///
/// ```
/// use std::time::Duration;
/// use permissions_ureq::{Client, DataCenter, RetryPolicy};
///
/// let client = Client::builder()
///     .data_center(DataCenter::Uk)
///     .connect_timeout(Duration::from_secs(5))
///     .timeout(Duration::from_secs(20))
///     .max_response_bytes(256 * 1024)
///     .retry_policy(RetryPolicy { max_attempts: 5, ..RetryPolicy::default() })
///     .user_agent("my-app/1.0")
///     .build()?;
/// assert_eq!(client.hosts().api().as_str(), "https://api-uk.cronofy.com/");
/// # Ok::<(), permissions_ureq::Error>(())
/// ```
pub type ClientBuilder = permissions_core::transport::ClientBuilder<Ureq>;

/// What [`ClientBuilder::transport`] takes: a [`UreqTransport`] (kept as it is) or any other
/// [`SyncTransport`] (a closure, an `Arc<dyn SyncTransport>`, a test double).
pub type AnyTransport = TransportSlot<UreqTransport, dyn SyncTransport>;

impl Backend for Ureq {
    type Transport = AnyTransport;
    type Pacer = dyn Pacer;
    type Client = Client;
    const USER_AGENT_PREFIX: &'static str = concat!("permissions-ureq/", env!("CARGO_PKG_VERSION"));

    fn local_pacer(pacer: LocalPacer) -> Arc<dyn Pacer> {
        Arc::new(pacer)
    }

    fn builtin_transport(config: &ClientConfig) -> Result<AnyTransport, CallError> {
        let transport = UreqTransport::new(config.connect_timeout(), config.timeout());
        Ok(TransportSlot::Builtin(
            transport.max_response_bytes(config.max_response_bytes()),
        ))
    }

    fn client(parts: ClientParts<AnyTransport, dyn Pacer>) -> Client {
        Client {
            inner: Arc::new(parts),
        }
    }
}

/// A blocking Cronofy client: each call runs the core's engine (pacing, retries, redaction)
/// and sends with [`UreqTransport`] or a transport of yours, sleeping the calling thread
/// between attempts.
///
/// Cheap to clone; clones share one connection pool and one pacer. `Send + Sync`: share one
/// client between threads rather than building one per call.
///
/// ```no_run
/// use permissions_ureq::{AccessToken, Client, PermissionsOutcome, PermissionsRequest};
///
/// let client = Client::new();
/// let token = AccessToken::new(std::env::var("CRONOFY_ACCESS_TOKEN")?);
/// let calendars = client.list_calendars(&token)?;
/// let request = PermissionsRequest::builder()
///     .calendars(calendars.needing_elevation().map(|c| c.calendar_id.clone()))
///     .redirect_uri("https://app.example.com/permission")
///     .build()?;
/// match client.request_permissions(&token, &request)? {
///     PermissionsOutcome::Redirect { url } => println!("send the user to {url}"),
///     PermissionsOutcome::Granted => println!("granted"),
///     _ => {}
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<ClientParts<AnyTransport, dyn Pacer>>,
}

impl Client {
    permissions_core::client_methods!();

    /// Runs any core endpoint through the engine; `token` for endpoints that need one.
    pub fn call<E: Endpoint + ?Sized>(
        &self,
        endpoint: &E,
        token: Option<&AccessToken>,
    ) -> Result<E::Output, CallError> {
        self.drive(self.inner.start(endpoint, token), None)
    }

    /// The loop: do what the engine says until it is done.
    pub(crate) fn drive<E: Endpoint + ?Sized>(
        &self,
        mut call: Call<'_, E>,
        session: Option<&Session>,
    ) -> Result<E::Output, CallError> {
        let pacer = self.inner.pacer.as_deref();
        #[cfg(feature = "tracing")]
        let _span = call.span().entered();
        loop {
            match call.poll() {
                Next::Pace => call
                    .on_paced(pacer.map_or_else(Default::default, |p| p.reserve(Instant::now()))),
                Next::Hold => {
                    call.on_hold(pacer.map_or_else(Default::default, |p| p.hold(Instant::now())))
                }
                Next::Send(request) => {
                    #[cfg(feature = "tracing")]
                    let _attempt = call.attempt_span(&request).entered();
                    let sent = match &self.inner.transport {
                        TransportSlot::Builtin(transport) => transport.send(request),
                        TransportSlot::Custom(transport) => transport.send(request),
                    };
                    match sent {
                        Ok(response) => call.on_response(response, SystemTime::now(), jitter()),
                        Err(error) => call.on_transport_error(error, SystemTime::now(), jitter()),
                    }
                }
                Next::Wait(wait) => std::thread::sleep(wait),
                Next::Report(feedback) => {
                    if let Some(pacer) = pacer {
                        pacer.report(feedback, Instant::now());
                    }
                }
                Next::Refresh(seen) => call.on_refreshed(match session {
                    Some(session) => session.refresh(seen),
                    None => Err(CallError::Api(
                        permissions_core::error::ApiError::Unauthorized,
                    )),
                }),
                Next::Done(result) => return result,
                unknown => return Err(unknown.unknown()),
            }
        }
    }

    /// The single-flight refresh under `session`'s lock (see
    /// [`RefreshStep`](permissions_core::transport::RefreshStep)).
    pub(crate) fn refresh_for(
        &self,
        session: &permissions_core::transport::SessionState,
        seen: permissions_core::transport::Seen,
    ) -> Result<AccessToken, CallError> {
        match session.begin_refresh(seen).into_endpoint() {
            Ok(endpoint) => session.finish_refresh(self.call(&endpoint, None)),
            Err(settled) => settled,
        }
    }
}

/// A uniform draw in `[0, 1)` to spread back-offs.
fn jitter() -> f64 {
    rand::random::<f64>()
}

impl Default for Client {
    /// Same as [`Client::new`].
    fn default() -> Self {
        Self::new()
    }
}
