//! The three listeners: API host, app host, admin. One request handler per host.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::serve::ListenerExt as _;
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{RequestCallback, ResponseCallback};
use crate::fault::{self, FaultQueues, Played, Route};
use crate::html;
use crate::limits::Limiter;
use crate::log::{Host, LoggedRequest, RequestLog, is_sensitive_header, redact_value};
use crate::state::{
    ACCESS_TOKEN_LIFETIME, AuthError, GrantError, IssuedTokens, LinkingProfile, PageError,
    SEEDED_APP, Seed, State, UNRESTRICTED,
};

/// The largest request body read; larger ones get `413`.
const MAX_BODY: usize = 1024 * 1024;
/// How long shutdown waits for open requests before closing their connections.
const GRACE: Duration = Duration::from_secs(1);

const JSON: &str = "application/json; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// Everything the handlers share with the [`FakeCronofy`](crate::FakeCronofy) handle.
pub(crate) struct Shared {
    state: Mutex<State>,
    faults: Mutex<FaultQueues>,
    /// Number of queued faults, read without the lock on every request.
    queued_faults: AtomicUsize,
    log: Mutex<RequestLog>,
    log_enabled: bool,
    on_request: Option<RequestCallback>,
    on_response: Option<ResponseCallback>,
    pub(crate) limiter: Option<Limiter>,
    /// The admin listener's own address, `127.0.0.1:PORT`: the only `Host` it answers.
    admin_address: Option<String>,
    shutdown: watch::Receiver<bool>,
    app_url: String,
    seed: Seed,
}

/// What [`Shared::new`] needs besides the state.
pub(crate) struct SharedOptions {
    pub(crate) app_url: String,
    pub(crate) admin_address: Option<String>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) log_capacity: usize,
    pub(crate) on_request: Option<RequestCallback>,
    pub(crate) on_response: Option<ResponseCallback>,
    pub(crate) limiter: Option<Limiter>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("app_url", &self.app_url)
            .field("queued_faults", &self.queued_faults)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock (e.g. in an assertion of add_calendar) leaves the data
    // consistent enough for a test double; keep serving.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(state: State, seed: Seed, options: SharedOptions) -> Self {
        let SharedOptions {
            app_url,
            admin_address,
            shutdown,
            log_capacity,
            on_request,
            on_response,
            limiter,
        } = options;
        Self {
            state: Mutex::new(state),
            faults: Mutex::new(FaultQueues::default()),
            queued_faults: AtomicUsize::new(0),
            log: Mutex::new(RequestLog::new(log_capacity)),
            log_enabled: log_capacity > 0,
            on_request,
            on_response,
            limiter,
            admin_address,
            shutdown,
            app_url,
            seed,
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn script(
        &self,
        route: Route,
        answers: impl IntoIterator<Item = fault::Fault>,
    ) -> usize {
        let mut faults = lock(&self.faults);
        let added = faults.push(route, answers);
        self.queued_faults.store(faults.len(), Ordering::Release);
        added
    }

    pub(crate) fn clear_faults(&self) {
        let mut faults = lock(&self.faults);
        faults.clear();
        self.queued_faults.store(0, Ordering::Release);
    }

    fn pop_fault(&self, specific: Option<Route>, any: bool) -> Option<fault::Fault> {
        if self.queued_faults.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut faults = lock(&self.faults);
        let fault = faults.pop(specific, any);
        self.queued_faults.store(faults.len(), Ordering::Release);
        fault
    }

    pub(crate) fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.log).snapshot()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.log).clear();
    }

    /// Logs a request and calls `on_request`; the entry is returned when `on_response`
    /// will need it.
    fn record(&self, host: Host, parts: &Parts, body: &[u8]) -> Option<LoggedRequest> {
        if !self.log_enabled && self.on_request.is_none() && self.on_response.is_none() {
            return None;
        }
        let entry = LoggedRequest {
            host,
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
        };
        if let Some(callback) = &self.on_request {
            callback(&entry);
        }
        let keep = self.on_response.is_some();
        if !self.log_enabled {
            return keep.then_some(entry);
        }
        if keep {
            lock(&self.log).push(entry.clone());
            Some(entry)
        } else {
            lock(&self.log).push(entry);
            None
        }
    }

    /// The client id a rate-limited request counts for: the application of its bearer token,
    /// else the `client_id` of a token endpoint's body when it names a known application,
    /// else the seeded application.
    fn application_of(&self, parts: &Parts, body: &[u8]) -> String {
        let state = self.state();
        let app = match bearer(&parts.headers) {
            Some(token) => state.token_app(token),
            None if matches!(parts.uri.path(), "/oauth/token" | "/oauth/token/revoke") => {
                oauth_params(&parts.headers, body).ok().and_then(|params| {
                    param(&params, "client_id").and_then(|id| state.app_index(id))
                })
            }
            None => None,
        };
        state.client_id_of(app.unwrap_or(SEEDED_APP)).to_owned()
    }
}

#[derive(Clone)]
struct HostCtx {
    shared: Arc<Shared>,
    host: Host,
}

/// The listeners, already bound and registered with the runtime.
pub(crate) struct Listeners {
    pub(crate) api: TcpListener,
    pub(crate) app: TcpListener,
    pub(crate) admin: Option<TcpListener>,
}

async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serves until shutdown is signalled, then gives open requests [`GRACE`] to finish.
pub(crate) async fn serve(listeners: Listeners, shared: Arc<Shared>) {
    let shutdown = shared.shutdown.clone();
    let host_router = |host| {
        Router::new().fallback(handle_host).with_state(HostCtx {
            shared: Arc::clone(&shared),
            host,
        })
    };
    let nodelay = |tcp: &mut tokio::net::TcpStream| {
        let _ = tcp.set_nodelay(true);
    };
    let api = axum::serve(listeners.api.tap_io(nodelay), host_router(Host::Api))
        .with_graceful_shutdown(stopped(shutdown.clone()));
    let app = axum::serve(listeners.app.tap_io(nodelay), host_router(Host::App))
        .with_graceful_shutdown(stopped(shutdown.clone()));
    let admin = listeners.admin.map(|listener| {
        let router = Router::new()
            .fallback(handle_admin)
            .with_state(Arc::clone(&shared));
        axum::serve(listener.tap_io(nodelay), router)
            .with_graceful_shutdown(stopped(shutdown.clone()))
    });
    let all = async move {
        let admin = async move {
            if let Some(admin) = admin {
                let _ = admin.await;
            }
        };
        let _ = tokio::join!(api.into_future(), app.into_future(), admin);
    };
    let mut all = std::pin::pin!(all);
    tokio::select! {
        () = &mut all => return,
        () = stopped(shutdown) => {}
    }
    let _ = tokio::time::timeout(GRACE, all).await;
}

/// Whether the request announces a body larger than [`MAX_BODY`].
fn announces_too_much(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|length| length > MAX_BODY as u64)
}

async fn handle_host(AxumState(ctx): AxumState<HostCtx>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = if announces_too_much(&parts) {
        None
    } else {
        axum::body::to_bytes(body, MAX_BODY).await.ok()
    };
    let entry = ctx
        .shared
        .record(ctx.host, &parts, body.as_deref().unwrap_or_default());
    let response = match body {
        None => empty(StatusCode::PAYLOAD_TOO_LARGE),
        Some(body) => answer_host(&ctx, &parts, &body).await,
    };
    if let (Some(callback), Some(entry)) = (&ctx.shared.on_response, entry) {
        callback(&entry, response.status().as_u16());
    }
    response
}

async fn answer_host(ctx: &HostCtx, parts: &Parts, body: &[u8]) -> Response {
    let path = parts.uri.path();
    let specific = Route::of(ctx.host, path);
    // Every API-host request and the app host's token endpoints: what Cronofy's rate limits
    // and the `Any` route cover (not the pages a user's browser shows).
    let any = ctx.host == Host::Api || specific.is_some();
    if any {
        if let Some(limiter) = &ctx.shared.limiter {
            let application = ctx.shared.application_of(parts, body);
            if !limiter.admit(&application) {
                // Cronofy's answer over the limits: 429, an empty body, no Retry-After.
                return empty(StatusCode::TOO_MANY_REQUESTS);
            }
        }
    }
    if let Some(fault) = ctx.shared.pop_fault(specific, any) {
        if let Played::Answer(response) = fault.play(ctx.shared.shutdown.clone()).await {
            return response;
        }
    }
    match ctx.host {
        Host::Api => api_host(&ctx.shared, parts, body),
        Host::App => app_host(&ctx.shared, parts, body),
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

fn with_type(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => with_type(status, JSON, bytes),
        Err(_) => empty(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

fn html(status: StatusCode, page: String) -> Response {
    let mut response = with_type(status, HTML, page);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = empty(StatusCode::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn oauth_error(status: StatusCode, error: &'static str) -> Response {
    #[derive(Serialize)]
    struct OAuthError {
        error: &'static str,
    }
    no_store(json(status, &OAuthError { error }))
}

fn unauthorized() -> Response {
    with_type(StatusCode::UNAUTHORIZED, JSON, "{}")
}

/// `303 See Other` to `location`.
fn see_other(location: &str) -> Response {
    let value = HeaderValue::from_str(location).or_else(|_| {
        // Non-ASCII in a redirect URI: send its percent-encoded form.
        let encoded = url::Url::parse(location).map_or_else(|_| String::new(), String::from);
        HeaderValue::from_str(&encoded)
    });
    let Ok(value) = value else {
        return html(
            StatusCode::BAD_REQUEST,
            html::error(
                "Bad redirect URI",
                &["The redirect URI cannot be sent in a Location header.".to_owned()],
            ),
        );
    };
    let mut response = html(StatusCode::SEE_OTHER, html::redirect(location));
    response.headers_mut().insert(header::LOCATION, value);
    response
}

/// Appends query parameters to a URI, keeping its existing query and fragment as they are.
pub(crate) fn append_query(uri: &str, params: &[(&str, String)]) -> String {
    let (base, fragment) = uri.find('#').map_or((uri, ""), |i| uri.split_at(i));
    let mut out = String::with_capacity(uri.len() + 64);
    out.push_str(base);
    if !params.is_empty() {
        match base.find('?') {
            None => out.push('?'),
            Some(_) if base.ends_with('?') || base.ends_with('&') => {}
            Some(_) => out.push('&'),
        }
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (name, value) in params {
            serializer.append_pair(name, value);
        }
        out.push_str(&serializer.finish());
    }
    out.push_str(fragment);
    out
}

/// Whether a redirect URI is absolute `http`/`https` with a host.
pub(crate) fn valid_redirect_uri(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

// ---------------------------------------------------------------------------------------------
// API host

fn api_host(shared: &Shared, parts: &Parts, body: &[u8]) -> Response {
    let method = &parts.method;
    match parts.uri.path() {
        "/oauth/token" if method == Method::POST => token(shared, &parts.headers, body),
        "/oauth/token" => method_not_allowed("POST"),
        "/oauth/token/revoke" if method == Method::POST => revoke(shared, &parts.headers, body),
        "/oauth/token/revoke" => method_not_allowed("POST"),
        "/v1/calendars" if method == Method::GET => calendars(shared, &parts.headers),
        "/v1/calendars" => method_not_allowed("GET"),
        "/v1/permissions" if method == Method::POST => permissions(shared, &parts.headers, body),
        "/v1/permissions" => method_not_allowed("POST"),
        _ => empty(StatusCode::NOT_FOUND),
    }
}

/// Reads OAuth parameters from a JSON object or a form-encoded body.
///
/// The Content-Type decides; without one, a body starting with `{` is JSON. Strings are kept,
/// other scalars as their JSON text, `null`, arrays and objects are ignored. A parameter given
/// twice, or a body that is neither, is an error (`invalid_request`).
fn oauth_params(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, ()> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    let is_json = content_type.contains("json")
        || (!is_form && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'));
    let mut params = HashMap::new();
    if is_json {
        let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
            return Err(());
        };
        for (name, value) in object {
            let value = match value {
                Value::String(text) => text,
                Value::Bool(_) | Value::Number(_) => value.to_string(),
                Value::Null | Value::Array(_) | Value::Object(_) => continue,
            };
            params.insert(name, value);
        }
    } else {
        for (name, value) in form_urlencoded::parse(body) {
            if params
                .insert(name.into_owned(), value.into_owned())
                .is_some()
            {
                return Err(());
            }
        }
    }
    Ok(params)
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// Checks the client credentials: `Err` is the OAuth error to answer.
/// `Ok` is the application's index.
fn check_client(
    state: &State,
    params: &HashMap<String, String>,
) -> Result<usize, (StatusCode, &'static str)> {
    let (Some(id), Some(secret)) = (param(params, "client_id"), param(params, "client_secret"))
    else {
        return Err((StatusCode::BAD_REQUEST, "invalid_request"));
    };
    state
        .check_client(id, secret)
        .ok_or((StatusCode::UNAUTHORIZED, "invalid_client"))
}

#[derive(Serialize)]
struct TokenAnswer<'a> {
    token_type: &'static str,
    access_token: &'a str,
    expires_in: u64,
    refresh_token: &'a str,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    linking_profile: Option<&'a LinkingProfile>,
}

fn token(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let Ok(params) = oauth_params(headers, body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let Some(grant_type) = param(&params, "grant_type") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let issued: Result<IssuedTokens, GrantError> = {
        let mut state = shared.state();
        let app = match check_client(&state, &params) {
            Ok(app) => app,
            Err((status, error)) => return oauth_error(status, error),
        };
        match grant_type {
            "authorization_code" => {
                let (Some(code), Some(redirect_uri)) =
                    (param(&params, "code"), param(&params, "redirect_uri"))
                else {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
                };
                state.exchange_code(app, code, redirect_uri)
            }
            "refresh_token" => {
                let Some(refresh_token) = param(&params, "refresh_token") else {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
                };
                state.refresh(app, refresh_token)
            }
            _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        }
    };
    let Ok(issued) = issued else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let account = issued.account.as_ref();
    no_store(json(
        StatusCode::OK,
        &TokenAnswer {
            token_type: "bearer",
            access_token: &issued.access_token,
            expires_in: ACCESS_TOKEN_LIFETIME.as_secs(),
            refresh_token: &issued.refresh_token,
            scope: &issued.scope,
            account_id: account.map(|(id, _)| id.as_str()),
            sub: account.map(|(id, _)| id.as_str()),
            linking_profile: account.map(|(_, profile)| profile),
        },
    ))
}

fn revoke(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let Ok(params) = oauth_params(headers, body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let mut state = shared.state();
    let app = match check_client(&state, &params) {
        Ok(app) => app,
        Err((status, error)) => return oauth_error(status, error),
    };
    if let Some(token) = param(&params, "token") {
        state.revoke_token(app, token);
    } else if let Some(sub) = param(&params, "sub") {
        state.revoke_sub(app, sub);
    } else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    empty(StatusCode::OK)
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn authenticate(state: &State, headers: &HeaderMap) -> Result<String, AuthError> {
    let token = bearer(headers).ok_or(AuthError::Unknown)?;
    state.authenticate(token).map(str::to_owned)
}

#[derive(Serialize)]
struct CalendarEntry<'a> {
    provider_name: &'a str,
    profile_id: &'a str,
    profile_name: &'a str,
    calendar_id: &'a str,
    calendar_name: &'a str,
    calendar_readonly: bool,
    calendar_deleted: bool,
    calendar_primary: bool,
    calendar_integrated_conferencing_available: bool,
    calendar_attachments_available: bool,
    permission_level: &'a str,
}

#[derive(Serialize)]
struct CalendarsAnswer<'a> {
    sub: &'a str,
    calendars: Vec<CalendarEntry<'a>>,
}

fn calendars(shared: &Shared, headers: &HeaderMap) -> Response {
    let state = shared.state();
    let Ok(account_id) = authenticate(&state, headers) else {
        return unauthorized();
    };
    let Some(account) = state.account(&account_id) else {
        return unauthorized();
    };
    let answer = CalendarsAnswer {
        sub: &account_id,
        calendars: account
            .calendars
            .iter()
            .map(|c| CalendarEntry {
                provider_name: &c.provider_name,
                profile_id: &c.profile_id,
                profile_name: &c.profile_name,
                calendar_id: &c.id,
                calendar_name: &c.name,
                calendar_readonly: c.readonly,
                calendar_deleted: c.deleted,
                calendar_primary: c.primary,
                calendar_integrated_conferencing_available: c.integrated_conferencing_available,
                calendar_attachments_available: c.attachments_available,
                permission_level: &c.permission_level,
            })
            .collect(),
    };
    json(StatusCode::OK, &answer)
}

#[derive(Serialize)]
struct FieldError {
    key: &'static str,
    description: String,
}

/// The `errors` object of a 422, fields sorted by name.
#[derive(Default, Serialize)]
struct Errors {
    errors: BTreeMap<&'static str, Vec<FieldError>>,
}

impl Errors {
    fn add(&mut self, field: &'static str, key: &'static str, description: impl Into<String>) {
        self.errors.entry(field).or_default().push(FieldError {
            key,
            description: description.into(),
        });
    }

    fn into_response(self) -> Response {
        json(StatusCode::UNPROCESSABLE_ENTITY, &self)
    }
}

#[derive(Serialize)]
struct PermissionsAnswer {
    permissions_request: PermissionsRequestAnswer,
}

#[derive(Serialize)]
#[serde(untagged)]
enum PermissionsRequestAnswer {
    Url { url: String },
    Accepted { accepted: bool },
}

fn permissions(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let mut state = shared.state();
    let Ok(account_id) = authenticate(&state, headers) else {
        return unauthorized();
    };
    let Some(account) = state.account(&account_id) else {
        return unauthorized();
    };
    let enterprise = account.enterprise_connect;
    let mut errors = Errors::default();
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        errors.add(
            "request",
            "errors.invalid_json",
            "the request body must be a JSON object",
        );
        return errors.into_response();
    };
    let Value::Object(object) = value else {
        errors.add(
            "request",
            "errors.invalid_json",
            "the request body must be a JSON object",
        );
        return errors.into_response();
    };

    let mut calendar_ids: Vec<String> = Vec::new();
    match object.get("permissions") {
        None | Some(Value::Null) => errors.add("permissions", "errors.required", "required"),
        Some(Value::Array(items)) if items.is_empty() => errors.add(
            "permissions",
            "errors.empty",
            "must list at least one calendar",
        ),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Value::Object(item) = item else {
                    errors.add(
                        "permissions",
                        "errors.invalid_type",
                        format!("permissions[{i}] must be an object with calendar_id and permission_level"),
                    );
                    continue;
                };
                match item.get("calendar_id") {
                    Some(Value::String(id)) if !id.is_empty() => {
                        if account.calendars.iter().any(|c| &c.id == id) {
                            if !calendar_ids.contains(id) {
                                calendar_ids.push(id.clone());
                            }
                        } else {
                            errors.add(
                                "permissions",
                                "errors.unknown_calendar",
                                format!("permissions[{i}].calendar_id {id:?} is not a calendar of this account"),
                            );
                        }
                    }
                    _ => errors.add(
                        "permissions",
                        "errors.required",
                        format!("permissions[{i}].calendar_id is required"),
                    ),
                }
                match item.get("permission_level") {
                    Some(Value::String(level)) if level == UNRESTRICTED => {}
                    None | Some(Value::Null) => errors.add(
                        "permissions",
                        "errors.required",
                        format!("permissions[{i}].permission_level is required"),
                    ),
                    Some(_) => errors.add(
                        "permissions",
                        "errors.invalid_permission_level",
                        format!("permissions[{i}].permission_level must be \"unrestricted\""),
                    ),
                }
            }
        }
        Some(_) => errors.add(
            "permissions",
            "errors.invalid_type",
            "must be an array of {calendar_id, permission_level} objects",
        ),
    }

    let redirect_uri = match object.get("redirect_uri") {
        None | Some(Value::Null) => {
            if !enterprise {
                errors.add("redirect_uri", "errors.required", "required");
            }
            None
        }
        Some(Value::String(uri)) if valid_redirect_uri(uri) => Some(uri.clone()),
        Some(_) => {
            errors.add(
                "redirect_uri",
                "errors.invalid_uri",
                "must be an absolute http or https URI",
            );
            None
        }
    };

    if !errors.errors.is_empty() {
        drop(state);
        return errors.into_response();
    }

    if enterprise {
        state.elevate(&account_id, &calendar_ids);
        drop(state);
        return json(
            StatusCode::ACCEPTED,
            &PermissionsAnswer {
                permissions_request: PermissionsRequestAnswer::Accepted { accepted: true },
            },
        );
    }
    let redirect_uri = redirect_uri.unwrap_or_default();
    let id = state.create_permission_request(&account_id, calendar_ids, &redirect_uri);
    drop(state);
    json(
        StatusCode::OK,
        &PermissionsAnswer {
            permissions_request: PermissionsRequestAnswer::Url {
                url: format!("{}/permissions/{id}", shared.app_url),
            },
        },
    )
}

// ---------------------------------------------------------------------------------------------
// App host

fn page_error(error: PageError) -> Response {
    match error {
        PageError::NotFound => html(
            StatusCode::NOT_FOUND,
            html::error(
                "Not found",
                &["This page does not exist or has expired.".to_owned()],
            ),
        ),
        PageError::AlreadyAnswered => html(
            StatusCode::GONE,
            html::error(
                "Already answered",
                &["This request has already been answered.".to_owned()],
            ),
        ),
    }
}

fn not_found_page() -> Response {
    page_error(PageError::NotFound)
}

fn app_host(shared: &Shared, parts: &Parts, body: &[u8]) -> Response {
    let path = parts.uri.path();
    let method = &parts.method;
    if path == "/oauth/token" || path == "/oauth/token/revoke" {
        return api_host(shared, parts, body);
    }
    if path == "/oauth/authorize" {
        return if method == Method::GET {
            authorize(shared, parts.uri.query().unwrap_or(""))
        } else {
            method_not_allowed("GET")
        };
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["oauth", "authorize", id, action @ ("approve" | "deny")] => {
            if method != Method::POST {
                return method_not_allowed("POST");
            }
            let answer = shared
                .state()
                .answer_authorization(id, *action == "approve");
            match answer {
                Ok(back) => see_other(&append_query(&back.redirect_uri, &back.params)),
                Err(error) => page_error(error),
            }
        }
        ["permissions", id] if !id.is_empty() => {
            if method != Method::GET {
                return method_not_allowed("GET");
            }
            let page = shared.state().permission_page(id);
            match page {
                Ok(page) => html(
                    StatusCode::OK,
                    html::permissions(&shared.seed.app_name, id, &page.calendars),
                ),
                Err(error) => page_error(error),
            }
        }
        ["permissions", id, action @ ("accept" | "reject")] => {
            if method != Method::POST {
                return method_not_allowed("POST");
            }
            let accept = *action == "accept";
            let answer = shared.state().answer_permission_request(id, accept);
            match answer {
                Ok(redirect_uri) if accept => see_other(&redirect_uri),
                Ok(redirect_uri) => see_other(&append_query(
                    &redirect_uri,
                    &[("error", "access_denied".to_owned())],
                )),
                Err(error) => page_error(error),
            }
        }
        _ => not_found_page(),
    }
}

fn authorize(shared: &Shared, query: &str) -> Response {
    let mut params: HashMap<String, String> = HashMap::new();
    let mut problems = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if params.contains_key(name.as_ref()) {
            problems.push(format!("The parameter {name} is given more than once."));
        }
        params.insert(name.into_owned(), value.into_owned());
    }
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let mut state = shared.state();
    if get("response_type") != Some("code") {
        problems.push("response_type must be code.".to_owned());
    }
    let app = get("client_id").and_then(|id| state.app_index(id));
    match get("client_id") {
        None => problems.push("client_id is required.".to_owned()),
        Some(_) if app.is_none() => problems.push("client_id is not a known client.".to_owned()),
        Some(_) => {}
    }
    match get("redirect_uri") {
        None => problems.push("redirect_uri is required.".to_owned()),
        Some(uri) if !valid_redirect_uri(uri) => {
            problems.push("redirect_uri must be an absolute http or https URI.".to_owned());
        }
        Some(_) => {}
    }
    let scope = get("scope").map(str::trim).filter(|s| !s.is_empty());
    if scope.is_none() {
        problems.push("scope is required.".to_owned());
    }
    if !problems.is_empty() {
        drop(state);
        return html(
            StatusCode::BAD_REQUEST,
            html::error("Invalid authorization request", &problems),
        );
    }
    let redirect_uri = get("redirect_uri").unwrap_or_default();
    let scope = scope.unwrap_or_default();
    let app = app.unwrap_or(SEEDED_APP);
    let pending = state.create_authorization(
        app,
        redirect_uri,
        params.get("state").map(String::as_str),
        scope,
    );
    let app_name = state.app_name_of(app).to_owned();
    let profile_name = state
        .account(&state.user_account_id)
        .map_or_else(String::new, |a| a.profile.profile_name.clone());
    drop(state);
    html(
        StatusCode::OK,
        html::consent(&app_name, &pending, scope, redirect_uri, &profile_name),
    )
}

// ---------------------------------------------------------------------------------------------
// Admin listener

#[derive(Serialize)]
struct AdminMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queued: Option<usize>,
}

#[derive(Serialize)]
struct AdminRequest<'a> {
    host: &'static str,
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: Vec<(&'a str, String)>,
    body: String,
    body_len: usize,
}

/// Why an admin request looks like it comes from a web page (cross-site request forgery or
/// DNS rebinding), if it does: a `Host` other than the listener's own address, an `Origin`
/// other than its own origin, a `Sec-Fetch-Site` other than `same-origin`/`none`, or a `POST`
/// whose body is not declared `application/json` (the other types, `text/plain` among
/// them, can be sent cross-site without a CORS preflight).
fn cross_site_refusal(shared: &Shared, parts: &Parts) -> Option<&'static str> {
    let own = shared.admin_address.as_deref().unwrap_or_default();
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{fffd}").trim())
    };
    match header(header::HOST) {
        Some(host) if host.eq_ignore_ascii_case(own) => {}
        _ => return Some("refused: the Host header must be this listener's address"),
    }
    if let Some(origin) = header(header::ORIGIN) {
        let same = origin
            .strip_prefix("http://")
            .is_some_and(|rest| rest.eq_ignore_ascii_case(own));
        if !same {
            return Some("refused: a cross-site request (Origin is not this listener)");
        }
    }
    if let Some(site) = header(header::HeaderName::from_static("sec-fetch-site")) {
        if !(site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none")) {
            return Some("refused: a cross-site request (Sec-Fetch-Site)");
        }
    }
    if parts.method == Method::POST {
        let essence = header(header::CONTENT_TYPE)
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Some("refused: POST bodies must be sent as Content-Type: application/json");
        }
    }
    None
}

async fn handle_admin(AxumState(shared): AxumState<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(reason) = cross_site_refusal(&shared, &parts) {
        return json(
            StatusCode::FORBIDDEN,
            &AdminMessage {
                error: Some(reason.to_owned()),
                route: None,
                queued: None,
            },
        );
    }
    if announces_too_much(&parts) {
        return empty(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return empty(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let method = &parts.method;
    match parts.uri.path() {
        "/admin/faults" if method == Method::POST => match fault::parse_script(&body) {
            Ok((route, faults)) => {
                let queued = shared.script(route, faults);
                json(
                    StatusCode::OK,
                    &AdminMessage {
                        error: None,
                        route: Some(route.as_str()),
                        queued: Some(queued),
                    },
                )
            }
            Err(error) => json(
                StatusCode::BAD_REQUEST,
                &AdminMessage {
                    error: Some(error),
                    route: None,
                    queued: None,
                },
            ),
        },
        "/admin/faults" if method == Method::DELETE => {
            shared.clear_faults();
            empty(StatusCode::NO_CONTENT)
        }
        "/admin/faults" => method_not_allowed("POST, DELETE"),
        "/admin/requests" if method == Method::GET => {
            let requests = shared.requests();
            let shown: Vec<AdminRequest<'_>> = requests
                .iter()
                .map(|r| AdminRequest {
                    host: r.host.as_str(),
                    method: &r.method,
                    path: &r.path,
                    query: r.query.as_deref(),
                    headers: r
                        .headers
                        .iter()
                        .map(|(name, value)| {
                            let value = if is_sensitive_header(name) {
                                redact_value(value)
                            } else {
                                value.clone()
                            };
                            (name.as_str(), value)
                        })
                        .collect(),
                    body: String::from_utf8_lossy(&r.body).into_owned(),
                    body_len: r.body.len(),
                })
                .collect();
            json(StatusCode::OK, &shown)
        }
        "/admin/requests" if method == Method::DELETE => {
            shared.clear_requests();
            empty(StatusCode::NO_CONTENT)
        }
        "/admin/requests" => method_not_allowed("GET, DELETE"),
        "/admin/seed" if method == Method::GET => json(StatusCode::OK, &shared.seed),
        "/admin/seed" => method_not_allowed("GET"),
        _ => json(
            StatusCode::NOT_FOUND,
            &AdminMessage {
                error: Some("unknown admin route".to_owned()),
                route: None,
                queued: None,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_query_keeps_existing_query_and_fragment() {
        let p = |v: &str| vec![("error", v.to_owned())];
        assert_eq!(
            append_query("http://x/cb", &p("a b")),
            "http://x/cb?error=a+b"
        );
        assert_eq!(
            append_query("http://x/cb?s=1", &p("e")),
            "http://x/cb?s=1&error=e"
        );
        assert_eq!(append_query("http://x/cb?", &p("e")), "http://x/cb?error=e");
        assert_eq!(
            append_query("http://x/cb?s=1#frag", &p("e")),
            "http://x/cb?s=1&error=e#frag"
        );
        assert_eq!(append_query("http://x/cb?s=%2F", &[]), "http://x/cb?s=%2F");
    }

    #[test]
    fn redirect_uri_validation() {
        assert!(valid_redirect_uri("http://www.example.com/permission"));
        assert!(valid_redirect_uri("https://localhost:8080/cb?x=1"));
        assert!(!valid_redirect_uri("/relative"));
        assert!(!valid_redirect_uri("ftp://example.com/"));
        assert!(!valid_redirect_uri("mailto:a@example.com"));
        assert!(!valid_redirect_uri(""));
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn oauth_params_json_and_form() {
        let mut h = HeaderMap::new();
        let p = oauth_params(&h, br#"{"a":"1","b":true,"c":null}"#).unwrap();
        assert_eq!(p.get("a").map(String::as_str), Some("1"));
        assert_eq!(p.get("b").map(String::as_str), Some("true"));
        assert!(!p.contains_key("c"));
        let p = oauth_params(&h, b"a=1&b=x+y").unwrap();
        assert_eq!(p.get("b").map(String::as_str), Some("x y"));
        assert!(oauth_params(&h, b"a=1&a=2").is_err());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(oauth_params(&h, b"a=1").is_err());
        assert!(oauth_params(&h, b"[1]").is_err());
    }
}
