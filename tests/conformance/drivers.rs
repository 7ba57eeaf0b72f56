//! One vocabulary for every transport: blocking calls and a normalized error.

use std::sync::Arc;
use std::time::Duration;

use permissions_core::{
    AccessToken, CalendarList, ExchangeCode, Hosts, PermissionsOutcome, PermissionsRequest,
    RetryPolicy, TokenResponse,
};

/// An error as every transport reports it, reduced to what the scenarios compare.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: &'static str,
    pub(crate) status: Option<u16>,
    pub(crate) display: String,
    pub(crate) debug: String,
    pub(crate) chain: String,
    /// `kind` is `transport` for both; this tells a failure to connect (nothing was sent).
    pub(crate) connect: bool,
}

fn failure(
    err: &(dyn std::error::Error + 'static),
    kind: &'static str,
    status: Option<u16>,
) -> Failure {
    let mut chain = String::new();
    let mut source = err.source();
    while let Some(s) = source {
        chain.push_str(&format!(" <- {s} / {s:?}"));
        source = s.source();
    }
    Failure {
        kind,
        status,
        display: err.to_string(),
        debug: format!("{err:?} {err:#?}"),
        chain,
        connect: false,
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
}

pub(crate) trait Driver: Send + Sync {
    fn name(&self) -> &'static str;
    fn list_calendars(&self, token: &AccessToken) -> Result<CalendarList, Failure>;
    fn request_permissions(
        &self,
        token: &AccessToken,
        request: &PermissionsRequest,
    ) -> Result<PermissionsOutcome, Failure>;
    fn exchange_code(&self, exchange: &ExchangeCode) -> Result<TokenResponse, Failure>;
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

pub(crate) type Factory = fn(&Config) -> Box<dyn Driver>;

/// Every transport under test.
pub(crate) fn all() -> Vec<(&'static str, Factory)> {
    vec![("ureq", ureq_driver), ("reqwest", reqwest_driver)]
}

// --- ureq -------------------------------------------------------------------------------------

struct Ureq(permissions_ureq::Client);

/// Both transports' errors are the core's `CallError`: one mapping serves them.
fn call_failure(e: permissions_core::error::CallError) -> Failure {
    let mut f = failure(&e, e.kind(), e.status().map(|s| s.as_u16()));
    f.connect = matches!(e, permissions_core::error::CallError::Connect(_));
    f
}

fn ureq_driver(config: &Config) -> Box<dyn Driver> {
    let client = permissions_ureq::Client::builder()
        .hosts(config.hosts.clone())
        .timeout(config.timeout)
        .connect_timeout(Duration::from_secs(2))
        .max_response_bytes(config.max_response_bytes)
        .retry_policy(config.retry)
        .pacing(config.pacing.clone())
        .build()
        .expect("ureq client");
    Box::new(Ureq(client))
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

// --- reqwest ----------------------------------------------------------------------------------

struct Reqwest {
    client: permissions_reqwest::Client,
    rt: tokio::runtime::Runtime,
}

fn reqwest_driver(config: &Config) -> Box<dyn Driver> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt.block_on(async {
        permissions_reqwest::Client::builder()
            .hosts(config.hosts.clone())
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(2))
            .max_response_bytes(config.max_response_bytes)
            .retry_policy(config.retry)
            .pacing(config.pacing.clone())
            .build()
            .expect("reqwest client")
    });
    Box::new(Reqwest { client, rt })
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
