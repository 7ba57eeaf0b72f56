//! [`Client`]: the core's call engine driven on a tokio runtime.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use permissions_core::AccessToken;
use permissions_core::error::CallError;
use permissions_core::transport::{
    AsyncPacer, AsyncTransport, Backend, Call, ClientConfig, ClientParts, Endpoint, LocalPacer,
    Next, Seen, SessionState, TransportSlot,
};

use crate::reqwest_transport::ReqwestTransport;
use crate::session::Session;

/// The async backend of [`permissions_core::transport::ClientBuilder`]: what makes
/// `Client::builder()` build a [`Client`] of this crate.
#[derive(Debug)]
pub struct Reqwest;

/// Configures a [`Client`]: the core's one builder, the same in every transport crate.
///
/// ```
/// use std::time::Duration;
/// use permissions_reqwest::{Client, DataCenter, RetryPolicy};
///
/// let client = Client::builder()
///     .data_center(DataCenter::De)
///     .timeout(Duration::from_secs(10))
///     .retry_policy(RetryPolicy::never())
///     .build()
///     .unwrap();
/// assert_eq!(client.hosts().api().as_str(), "https://api-de.cronofy.com/");
/// ```
pub type ClientBuilder = permissions_core::transport::ClientBuilder<Reqwest>;

/// What [`ClientBuilder::transport`] takes: a [`ReqwestTransport`] (kept as it is) or any other
/// [`AsyncTransport`] (a closure, an `Arc<dyn AsyncTransport>`, a test double).
pub type AnyTransport = TransportSlot<ReqwestTransport, dyn AsyncTransport>;

impl Backend for Reqwest {
    type Transport = AnyTransport;
    type Pacer = dyn AsyncPacer;
    type Client = Client;
    const USER_AGENT_PREFIX: &'static str =
        concat!("permissions-reqwest/", env!("CARGO_PKG_VERSION"));

    fn local_pacer(pacer: LocalPacer) -> Arc<dyn AsyncPacer> {
        Arc::new(pacer)
    }

    fn builtin_transport(config: &ClientConfig) -> Result<AnyTransport, CallError> {
        ReqwestTransport::for_config(config).map(TransportSlot::Builtin)
    }

    fn client(parts: ClientParts<AnyTransport, dyn AsyncPacer>) -> Client {
        Client {
            inner: Arc::new(parts),
        }
    }
}

/// An async client for Cronofy's Extended Permissions flow: each call runs the core's engine
/// (pacing, retries, redaction) and sends with [`ReqwestTransport`] or a transport of yours.
///
/// Cheap to clone: clones share one connection pool, one pacer and one configuration.
/// `Send + Sync`, and every future it returns is `Send`, so it works on any tokio runtime.
///
/// ```no_run
/// # async fn run() -> Result<(), permissions_reqwest::Error> {
/// use permissions_reqwest::{AccessToken, Client, DataCenter};
///
/// let client = Client::builder().data_center(DataCenter::Uk).build()?;
/// let calendars = client.list_calendars(&AccessToken::new("…")).await?;
/// for calendar in calendars.needing_elevation() {
///     println!("{} needs elevation", calendar.calendar_name);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<ClientParts<AnyTransport, dyn AsyncPacer>>,
}

impl Default for Client {
    /// Same as [`Client::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    permissions_core::client_methods!(async await);

    /// Runs any core endpoint through the engine; `token` for endpoints that need one.
    pub async fn call<E: Endpoint + Sync + ?Sized>(
        &self,
        endpoint: &E,
        token: Option<&AccessToken>,
    ) -> Result<E::Output, CallError> {
        self.drive(self.inner.start(endpoint, token), None).await
    }

    /// Runs `call` to its end, in a `cronofy` span naming its endpoint (feature `tracing`).
    ///
    /// Not an `async fn`: the call moves straight into the loop's future, the only one that
    /// holds it (an `async fn` here would keep a second copy of it in its own state).
    pub(crate) fn drive<'a, E: Endpoint + Sync + ?Sized>(
        &'a self,
        call: Call<'a, E>,
        session: Option<&'a Session>,
    ) -> impl Future<Output = Result<E::Output, CallError>> + 'a {
        #[cfg(feature = "tracing")]
        let span = call.span();
        let run = self.run(call, session);
        #[cfg(feature = "tracing")]
        let run = tracing::Instrument::instrument(run, span);
        run
    }

    /// The loop: do what the engine says until it is done. Each step's future is awaited
    /// right here, none through a helper `async fn`, so that the request is held once.
    async fn run<E: Endpoint + Sync + ?Sized>(
        &self,
        mut call: Call<'_, E>,
        session: Option<&Session>,
    ) -> Result<E::Output, CallError> {
        let pacer = self.inner.pacer.as_deref();
        loop {
            match call.poll() {
                Next::Pace => match pacer {
                    Some(pacer) => call.on_paced(pacer.reserve(Instant::now()).await),
                    None => call.on_paced(Default::default()),
                },
                Next::Hold => match pacer {
                    Some(pacer) => call.on_hold(pacer.hold(Instant::now()).await),
                    None => call.on_hold(Default::default()),
                },
                Next::Send(request) => {
                    #[cfg(feature = "tracing")]
                    let attempt = call.attempt_span(&request);
                    let sent = match &self.inner.transport {
                        TransportSlot::Builtin(transport) => {
                            let sent = transport.execute(request);
                            #[cfg(feature = "tracing")]
                            let sent = tracing::Instrument::instrument(sent, attempt.clone());
                            sent.await
                        }
                        TransportSlot::Custom(transport) => {
                            let sent = transport.send(request);
                            #[cfg(feature = "tracing")]
                            let sent = tracing::Instrument::instrument(sent, attempt.clone());
                            sent.await
                        }
                    };
                    // The answer is read in the attempt's span; nothing below awaits.
                    #[cfg(feature = "tracing")]
                    let _attempt = attempt.entered();
                    match sent {
                        Ok(response) => call.on_response(response, SystemTime::now(), jitter()),
                        Err(error) => call.on_transport_error(error, SystemTime::now(), jitter()),
                    }
                }
                Next::Wait(wait) => tokio::time::sleep(wait).await,
                Next::Report(feedback) => {
                    if let Some(pacer) = pacer {
                        pacer.report(feedback, Instant::now()).await;
                    }
                }
                Next::Refresh(seen) => match session {
                    // Boxed: a refresh is itself a call, so the future would contain itself.
                    Some(session) => call.on_refreshed(Box::pin(session.refresh(seen)).await),
                    None => call.on_refreshed(Err(CallError::Api(
                        permissions_core::error::ApiError::Unauthorized,
                    ))),
                },
                Next::Done(result) => return result,
                unknown => return Err(unknown.unknown()),
            }
        }
    }

    /// The single-flight refresh, called under the session's lock (see
    /// [`RefreshStep`](permissions_core::transport::RefreshStep)).
    pub(crate) async fn refresh_for(
        &self,
        session: &SessionState,
        seen: Seen,
    ) -> Result<AccessToken, CallError> {
        let endpoint = match session.begin_refresh(seen).into_endpoint() {
            Ok(endpoint) => endpoint,
            Err(settled) => return settled,
        };
        session.finish_refresh(self.call(&endpoint, None).await)
    }
}

/// A uniform draw in `[0, 1)` to spread back-offs.
fn jitter() -> f64 {
    rand::random::<f64>()
}
