//! One vocabulary for every transport: blocking calls and a normalized error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use permissions_core::error::{ApiError, CallError, RetryAfter};
use permissions_core::{
    AccessToken, CalendarList, ClientCredentials, ExchangeCode, Hosts, ListCalendars,
    PermissionsOutcome, PermissionsRequest, RefreshAccessToken, RefreshToken, RetryPolicy,
    RevokeToken, TokenResponse,
};

/// An error as every transport reports it, reduced to what the scenarios compare, and the
/// error itself (both transports report the core's `CallError`).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: &'static str,
    pub(crate) status: Option<u16>,
    pub(crate) display: String,
    pub(crate) debug: String,
    pub(crate) chain: String,
    /// `kind` is `transport` for both; this tells a failure to connect (nothing was sent).
    pub(crate) connect: bool,
    /// Boxed: a `CallError` is large, and every driver method returns a `Failure`.
    pub(crate) error: Box<CallError>,
}

impl Failure {
    /// The `Retry-After` a 429 or a 5xx carried.
    pub(crate) fn retry_after(&self) -> Option<RetryAfter> {
        match &*self.error {
            CallError::Api(
                ApiError::RateLimited { retry_after, .. } | ApiError::Server { retry_after, .. },
            ) => *retry_after,
            _ => None,
        }
    }
}

/// Both transports' errors are the core's `CallError`: one mapping serves them.
fn call_failure(e: CallError) -> Failure {
    let mut chain = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        chain.push_str(&format!(" <- {s} / {s:?}"));
        source = s.source();
    }
    Failure {
        kind: e.kind(),
        status: e.status().map(|s| s.as_u16()),
        display: e.to_string(),
        debug: format!("{e:?} {e:#?}"),
        chain,
        connect: matches!(e, CallError::Connect(_)),
        error: Box::new(e),
    }
}

/// How a scenario wants the client configured.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) hosts: Hosts,
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) retry: RetryPolicy,
    /// Pacing: off unless a scenario is about pacing (the local Cronofy is not Cronofy).
    pub(crate) pacing: Option<permissions_core::PacingConfig>,
    /// The app's own `User-Agent`, when not the transport's default.
    pub(crate) user_agent: Option<String>,
}

/// Called with every successful refresh's answer of a session.
pub(crate) type RefreshHook = Arc<dyn Fn(&TokenResponse) + Send + Sync>;

pub(crate) trait Driver: Send + Sync {
    fn name(&self) -> &'static str;
    fn list_calendars(&self, token: &AccessToken) -> Result<CalendarList, Failure>;
    fn request_permissions(
        &self,
        token: &AccessToken,
        request: &PermissionsRequest,
    ) -> Result<PermissionsOutcome, Failure>;
    fn exchange_code(&self, exchange: &ExchangeCode) -> Result<TokenResponse, Failure>;
    fn refresh_token(&self, refresh: &RefreshAccessToken) -> Result<TokenResponse, Failure>;
    fn revoke(&self, revoke: &RevokeToken) -> Result<(), Failure>;
    /// The generic entry point (`Client::call`) with the calendar list endpoint.
    fn call_list_calendars(&self, token: Option<&AccessToken>) -> Result<CalendarList, Failure>;
    /// A `Session` over this driver's client.
    fn session(
        &self,
        credentials: ClientCredentials,
        access: AccessToken,
        refresh: RefreshToken,
        on_refresh: RefreshHook,
    ) -> Box<dyn SessionDriver + '_>;
    /// Runs `total` permissions requests, `in_flight` at a time; returns how many succeeded
    /// with a redirect URL.
    fn soak(
        &self,
        token: &AccessToken,
        request: &PermissionsRequest,
        total: usize,
        in_flight: usize,
    ) -> usize;
}

/// One transport's `Session`, in the same blocking vocabulary.
pub(crate) trait SessionDriver {
    fn list_calendars(&self) -> Result<CalendarList, Failure>;
    fn request_permissions(
        &self,
        request: &PermissionsRequest,
    ) -> Result<PermissionsOutcome, Failure>;
    /// `calls` calendar lists at once (threads, or tasks), each result with how long after the
    /// common start it came.
    fn list_calendars_together(
        &self,
        calls: usize,
    ) -> Vec<(Result<CalendarList, Failure>, Duration)>;
    fn access_token(&self) -> AccessToken;
    /// `{:?}` and `{:#?}` of the session.
    fn debug(&self) -> String;
}

pub(crate) type Factory = fn(&Config) -> Box<dyn Driver>;
/// Builds a driver, or reports the error the transport's builder gave.
pub(crate) type TryFactory = fn(&Config) -> Result<Box<dyn Driver>, Failure>;

/// Every transport under test.
pub(crate) fn all() -> Vec<(&'static str, Factory)> {
    vec![("ureq", ureq_driver), ("reqwest", reqwest_driver)]
}

/// Every transport under test, its builder's errors reported.
pub(crate) fn all_fallible() -> Vec<(&'static str, TryFactory)> {
    vec![("ureq", try_ureq), ("reqwest", try_reqwest)]
}

/// The builder settings every transport shares, set from `config`.
macro_rules! configure {
    ($builder:expr, $config:expr) => {{
        let builder = $builder
            .hosts($config.hosts.clone())
            .timeout($config.timeout)
            .connect_timeout(Duration::from_secs(2))
            .max_response_bytes($config.max_response_bytes)
            .retry_policy($config.retry)
            .pacing($config.pacing.clone());
        match &$config.user_agent {
            Some(agent) => builder.user_agent(agent.clone()),
            None => builder,
        }
    }};
}

// --- ureq -------------------------------------------------------------------------------------

struct Ureq(permissions_ureq::Client);

fn try_ureq(config: &Config) -> Result<Box<dyn Driver>, Failure> {
    let client = configure!(permissions_ureq::Client::builder(), config)
        .build()
        .map_err(call_failure)?;
    Ok(Box::new(Ureq(client)))
}

fn ureq_driver(config: &Config) -> Box<dyn Driver> {
    try_ureq(config).expect("ureq client")
}

impl Driver for Ureq {
    fn name(&self) -> &'static str {
        "ureq"
    }
    fn list_calendars(&self, token: &AccessToken) -> Result<CalendarList, Failure> {
        self.0.list_calendars(token).map_err(call_failure)
    }
    fn request_permissions(
        &self,
        token: &AccessToken,
        request: &PermissionsRequest,
    ) -> Result<PermissionsOutcome, Failure> {
        self.0
            .request_permissions(token, request)
            .map_err(call_failure)
    }
    fn exchange_code(&self, exchange: &ExchangeCode) -> Result<TokenResponse, Failure> {
        self.0.exchange_code(exchange).map_err(call_failure)
    }
    fn refresh_token(&self, refresh: &RefreshAccessToken) -> Result<TokenResponse, Failure> {
        self.0.refresh_token(refresh).map_err(call_failure)
    }
    fn revoke(&self, revoke: &RevokeToken) -> Result<(), Failure> {
        self.0.revoke(revoke).map_err(call_failure)
    }
    fn call_list_calendars(&self, token: Option<&AccessToken>) -> Result<CalendarList, Failure> {
        self.0.call(&ListCalendars, token).map_err(call_failure)
    }
    fn session(
        &self,
        credentials: ClientCredentials,
        access: AccessToken,
        refresh: RefreshToken,
        on_refresh: RefreshHook,
    ) -> Box<dyn SessionDriver + '_> {
        let session = permissions_ureq::Session::new(self.0.clone(), credentials, access, refresh)
            .on_refresh(move |answer| on_refresh(answer));
        Box::new(UreqSession(session))
    }
    fn soak(
        &self,
        token: &AccessToken,
        request: &PermissionsRequest,
        total: usize,
        in_flight: usize,
    ) -> usize {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ok = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..in_flight {
                let (next, ok) = (next.clone(), ok.clone());
                scope.spawn(move || {
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                        if let Ok(PermissionsOutcome::Redirect { .. }) =
                            self.0.request_permissions(token, request)
                        {
                            ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        ok.load(std::sync::atomic::Ordering::Relaxed)
    }
}

struct UreqSession(permissions_ureq::Session);

impl SessionDriver for UreqSession {
    fn list_calendars(&self) -> Result<CalendarList, Failure> {
        self.0.list_calendars().map_err(call_failure)
    }
    fn request_permissions(
        &self,
        request: &PermissionsRequest,
    ) -> Result<PermissionsOutcome, Failure> {
        self.0.request_permissions(request).map_err(call_failure)
    }
    fn list_calendars_together(
        &self,
        calls: usize,
    ) -> Vec<(Result<CalendarList, Failure>, Duration)> {
        let started = Instant::now();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..calls)
                .map(|_| {
                    let session = self.0.clone();
                    scope.spawn(move || {
                        let result = session.list_calendars().map_err(call_failure);
                        (result, started.elapsed())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("call thread"))
                .collect()
        })
    }
    fn access_token(&self) -> AccessToken {
        self.0.access_token()
    }
    fn debug(&self) -> String {
        format!("{:?} {:#?}", self.0, self.0)
    }
}

// --- reqwest ----------------------------------------------------------------------------------

struct Reqwest {
    client: permissions_reqwest::Client,
    rt: tokio::runtime::Runtime,
}

fn try_reqwest(config: &Config) -> Result<Box<dyn Driver>, Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt
        .block_on(async { configure!(permissions_reqwest::Client::builder(), config).build() })
        .map_err(call_failure)?;
    Ok(Box::new(Reqwest { client, rt }))
}

fn reqwest_driver(config: &Config) -> Box<dyn Driver> {
    try_reqwest(config).expect("reqwest client")
}

impl Driver for Reqwest {
    fn name(&self) -> &'static str {
        "reqwest"
    }
    fn list_calendars(&self, token: &AccessToken) -> Result<CalendarList, Failure> {
        self.rt
            .block_on(self.client.list_calendars(token))
            .map_err(call_failure)
    }
    fn request_permissions(
        &self,
        token: &AccessToken,
        request: &PermissionsRequest,
    ) -> Result<PermissionsOutcome, Failure> {
        self.rt
            .block_on(self.client.request_permissions(token, request))
            .map_err(call_failure)
    }
    fn exchange_code(&self, exchange: &ExchangeCode) -> Result<TokenResponse, Failure> {
        self.rt
            .block_on(self.client.exchange_code(exchange))
            .map_err(call_failure)
    }
    fn refresh_token(&self, refresh: &RefreshAccessToken) -> Result<TokenResponse, Failure> {
        self.rt
            .block_on(self.client.refresh_token(refresh))
            .map_err(call_failure)
    }
    fn revoke(&self, revoke: &RevokeToken) -> Result<(), Failure> {
        self.rt
            .block_on(self.client.revoke(revoke))
            .map_err(call_failure)
    }
    fn call_list_calendars(&self, token: Option<&AccessToken>) -> Result<CalendarList, Failure> {
        self.rt
            .block_on(self.client.call(&ListCalendars, token))
            .map_err(call_failure)
    }
    fn session(
        &self,
        credentials: ClientCredentials,
        access: AccessToken,
        refresh: RefreshToken,
        on_refresh: RefreshHook,
    ) -> Box<dyn SessionDriver + '_> {
        let session =
            permissions_reqwest::Session::new(self.client.clone(), credentials, access, refresh)
                .on_refresh(move |answer| on_refresh(answer));
        Box::new(ReqwestSession {
            session,
            rt: &self.rt,
        })
    }
    fn soak(
        &self,
        token: &AccessToken,
        request: &PermissionsRequest,
        total: usize,
        in_flight: usize,
    ) -> usize {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        self.rt.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..in_flight {
                let (next, client) = (next.clone(), self.client.clone());
                let (token, request) = (token.clone(), request.clone());
                tasks.spawn(async move {
                    let mut ok = 0;
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                        if let Ok(PermissionsOutcome::Redirect { .. }) =
                            client.request_permissions(&token, &request).await
                        {
                            ok += 1;
                        }
                    }
                    ok
                });
            }
            let mut ok = 0;
            while let Some(n) = tasks.join_next().await {
                ok += n.expect("soak task");
            }
            ok
        })
    }
}

struct ReqwestSession<'a> {
    session: permissions_reqwest::Session,
    rt: &'a tokio::runtime::Runtime,
}

impl SessionDriver for ReqwestSession<'_> {
    fn list_calendars(&self) -> Result<CalendarList, Failure> {
        self.rt
            .block_on(self.session.list_calendars())
            .map_err(call_failure)
    }
    fn request_permissions(
        &self,
        request: &PermissionsRequest,
    ) -> Result<PermissionsOutcome, Failure> {
        self.rt
            .block_on(self.session.request_permissions(request))
            .map_err(call_failure)
    }
    fn list_calendars_together(
        &self,
        calls: usize,
    ) -> Vec<(Result<CalendarList, Failure>, Duration)> {
        let started = Instant::now();
        self.rt.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..calls {
                let session = self.session.clone();
                tasks.spawn(async move {
                    let result = session.list_calendars().await.map_err(call_failure);
                    (result, started.elapsed())
                });
            }
            tasks.join_all().await
        })
    }
    fn access_token(&self) -> AccessToken {
        self.session.access_token()
    }
    fn debug(&self) -> String {
        format!("{:?} {:#?}", self.session, self.session)
    }
}
