//! The call engine: one operation on its way through pacing, attempts, retries and a session's
//! token refresh, as a state machine with no I/O.
//!
//! A transport's client is a short loop that asks [`Call::poll`] what to do and does it:
//!
//! ```text
//! let mut call = Call::new(&endpoint, &config, token);
//! loop {
//!     match call.poll() {
//!         Next::Pace => call.on_paced(pacer.reserve(Instant::now())),
//!         Next::Hold => call.on_hold(pacer.hold(Instant::now())),
//!         Next::Send(request) => match transport.send(request) {
//!             Ok(response) => call.on_response(response, SystemTime::now(), jitter()),
//!             Err(error) => call.on_transport_error(error, SystemTime::now(), jitter()),
//!         },
//!         Next::Wait(duration) => sleep(duration),
//!         Next::Report(feedback) => pacer.report(feedback, Instant::now()),
//!         Next::Refresh(seen) => call.on_refreshed(session.refresh(seen)),
//!         Next::Done(result) => return result,
//!     }
//! }
//! ```
//!
//! Every decision is here: when to pace, what to retry and after how long (the
//! [`RetryPolicy`]), when a pacing slot is too far away for the call's time-out, which token an
//! error must not echo, and the session rule (a 401 leads to one refresh and one retry). The
//! driver only sends, sleeps, reads the clock, draws jitter and hands results back. (Models:
//! ureq-proto's `Call`, quinn-proto's `Connection::poll_*`.)

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::config::ClientConfig;
use crate::endpoint::{Endpoint, RequestContext};
use crate::error::{ApiError, CallError, ResponseError};
use crate::oauth::{RefreshAccessToken, TokenResponse};
use crate::pacing::LocalPacer;
use crate::retry::{Failure, RetryDecision};
use crate::seam::{HttpRequest, HttpResponse, TransportError, TransportErrorKind};
use crate::secret::{AccessToken, ClientCredentials, RefreshToken};

/// A `debug` event of the engine (feature `tracing`); nothing without the feature.
macro_rules! debug_event {
    ($($event:tt)*) => {
        #[cfg(feature = "tracing")]
        tracing::debug!($($event)*);
    };
}

/// What the driver should do next.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum Next<T> {
    /// Reserve a pacing slot now ([`Pacer::reserve`]) and give the wait to [`Call::on_paced`].
    Pace,
    /// The slot's time has come: ask the pacer whether everyone must hold off longer (a 429
    /// seen since the slot was reserved, [`Pacer::hold`]) and give the answer to
    /// [`Call::on_hold`].
    Hold,
    /// Send this request; give the answer to [`Call::on_response`] or the failure to
    /// [`Call::on_transport_error`].
    Send(HttpRequest),
    /// Sleep this long, then ask again.
    Wait(Duration),
    /// Tell the pacer how the last answer went ([`Pacer::report`]), then ask again.
    Report(Feedback),
    /// The access token was refused (401) in a session: refresh it, single-flight
    /// ([`SessionState::begin_refresh`]), and give the outcome to [`Call::on_refreshed`].
    Refresh(Seen),
    /// Finished: the output, or the error to report.
    Done(Result<T, CallError>),
}

impl<T> Next<T> {
    /// The error a driver returns for a step it does not know (a newer core than the
    /// transport crate): the call ends rather than loop.
    pub fn unknown(&self) -> CallError {
        CallError::Transport(TransportError::with_source(
            TransportErrorKind::Other,
            "the transport does not know this step of the call engine; update it",
        ))
    }
}

/// A step decided but not yet handed out; the end's result waits beside it, so that a pending
/// step is a few bytes, not the size of a request.
#[derive(Clone, Copy)]
enum Pending {
    Wait(Duration),
    Report(Feedback),
    Refresh(Seen),
    Done,
}

/// The steps decided but not yet handed out: at most two (a pacer report, then a wait, a
/// refresh or the end), kept inline so that a call allocates nothing for them, and small so
/// that the future a driver keeps the call in stays small.
struct Steps<T> {
    first: Option<Pending>,
    second: Option<Pending>,
    result: Option<Result<T, CallError>>,
}

impl<T> Default for Steps<T> {
    fn default() -> Self {
        Self {
            first: None,
            second: None,
            result: None,
        }
    }
}

impl<T> Steps<T> {
    fn push(&mut self, next: Pending) {
        if self.first.is_none() {
            self.first = Some(next);
        } else {
            debug_assert!(self.second.is_none(), "at most two steps are ever pending");
            self.second = Some(next);
        }
    }

    fn finish(&mut self, result: Result<T, CallError>) {
        self.result = Some(result);
        self.push(Pending::Done);
    }

    fn pop(&mut self) -> Option<Next<T>> {
        let next = self.first.take()?;
        self.first = self.second.take();
        Some(match next {
            Pending::Wait(wait) => Next::Wait(wait),
            Pending::Report(feedback) => Next::Report(feedback),
            Pending::Refresh(seen) => Next::Refresh(seen),
            Pending::Done => Next::Done(self.result.take().unwrap_or_else(|| Err(past_end()))),
        })
    }
}

/// The error of a call driven on after its end.
fn past_end() -> CallError {
    CallError::Transport(TransportError::with_source(
        TransportErrorKind::Other,
        "the call was driven past its end",
    ))
}

/// What an answer tells the pacer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feedback {
    /// Cronofy answered 429 although the call was paced: every caller must back off.
    Throttled,
    /// Cronofy answered without throttling: a 429 penalty can reset.
    Answered,
}

/// Paces requests to a rate limit (blocking side). [`LocalPacer`] is the in-process one; a
/// fleet shares one through `permissions-redis`. Every async client takes these too.
pub trait Pacer: Send + Sync + fmt::Debug {
    /// Reserves the next slot for a request about to be sent, and says how long to wait for it
    /// from `now` (zero: send at once). A reserved slot that is not used is lost, never given
    /// twice: a caller that gives up errs on the safe side.
    fn reserve(&self, now: Instant) -> Duration;
    /// Takes the feedback of an answer.
    fn report(&self, feedback: Feedback, now: Instant);
    /// How much longer every caller must hold off from `now`: a 429 penalty set after a slot
    /// was reserved. Zero when nothing holds (the default).
    fn hold(&self, now: Instant) -> Duration {
        let _ = now;
        Duration::ZERO
    }
}

/// Paces requests to a rate limit (async side): a pacer whose decisions need I/O, such as one
/// on Redis. Every [`Pacer`] is one.
#[async_trait::async_trait]
pub trait AsyncPacer: Send + Sync + fmt::Debug {
    /// As [`Pacer::reserve`].
    async fn reserve(&self, now: Instant) -> Duration;
    /// As [`Pacer::report`].
    async fn report(&self, feedback: Feedback, now: Instant);
    /// As [`Pacer::hold`].
    async fn hold(&self, now: Instant) -> Duration {
        let _ = now;
        Duration::ZERO
    }
}

#[async_trait::async_trait]
impl<P: Pacer + ?Sized> AsyncPacer for P {
    async fn reserve(&self, now: Instant) -> Duration {
        Pacer::reserve(self, now)
    }
    async fn report(&self, feedback: Feedback, now: Instant) {
        Pacer::report(self, feedback, now)
    }
    async fn hold(&self, now: Instant) -> Duration {
        Pacer::hold(self, now)
    }
}

impl Pacer for LocalPacer {
    fn reserve(&self, now: Instant) -> Duration {
        let now = self.micros(now);
        Duration::from_micros(LocalPacer::reserve(self, now).saturating_sub(now))
    }
    fn report(&self, feedback: Feedback, now: Instant) {
        match feedback {
            Feedback::Throttled => self.throttled(self.micros(now)),
            Feedback::Answered => self.succeeded(),
        }
    }
    fn hold(&self, now: Instant) -> Duration {
        let now = self.micros(now);
        Duration::from_micros(LocalPacer::hold(self, now).saturating_sub(now))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The next request needs a pacing slot (or, unpaced, can be sent).
    NeedSlot,
    /// [`Next::Pace`] was handed out; waiting for [`Call::paced`].
    AwaitSlot,
    /// The slot is reserved and waited for: check that no 429 since holds everyone off.
    Holding,
    /// The slot is taken: send.
    SlotTaken,
    /// A request was handed out; waiting for its answer.
    AwaitAnswer,
    /// [`Next::Refresh`] was handed out; waiting for [`Call::on_refreshed`].
    AwaitRefresh,
    /// [`Next::Done`] was handed out.
    Finished,
}

/// One operation in flight: see the [`transport`](crate::transport) module docs and
/// `docs/transport-contract.md` for the loop that drives it.
pub struct Call<'a, E: Endpoint + ?Sized> {
    endpoint: &'a E,
    config: &'a ClientConfig,
    token: Option<AccessToken>,
    paced: bool,
    /// In a session, until its one refresh is used.
    session: Option<Seen>,
    attempt: u32,
    phase: Phase,
    /// How long this attempt has waited for pacing so far (bounded by the time-out).
    paced_for: Duration,
    queue: Steps<E::Output>,
}

impl<'a, E: Endpoint + ?Sized> Call<'a, E> {
    /// Starts a call of `endpoint` with `config`'s hosts, user agent and retry policy; `token`
    /// for endpoints that need an access token.
    pub fn new(endpoint: &'a E, config: &'a ClientConfig, token: Option<&AccessToken>) -> Self {
        Self {
            endpoint,
            config,
            token: token.cloned(),
            paced: false,
            session: None,
            attempt: 0,
            phase: Phase::NeedSlot,
            paced_for: Duration::ZERO,
            queue: Steps::default(),
        }
    }

    /// Asks for a pacing slot before every attempt ([`Next::Pace`], [`Next::Report`]).
    pub fn with_pacing(mut self, paced: bool) -> Self {
        self.paced = paced;
        self
    }

    /// Makes this a session's call: the token was `seen` at its generation, and a 401 leads to
    /// one [`Next::Refresh`] and one more try.
    pub fn in_session(mut self, seen: Seen) -> Self {
        self.session = Some(seen);
        self
    }

    /// How many requests have been handed out so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The endpoint's name, for logs and traces.
    pub fn name(&self) -> &'static str {
        self.endpoint.name()
    }

    /// The operation's span, `cronofy` with the endpoint's name: a driver runs the whole call
    /// in it (feature `tracing`). Its events come from the engine: `answered` with the status,
    /// `no answer` with the error, `retry` with `wait_ms` before the next attempt, `paced`
    /// with `wait_ms` for a pacing slot. No field ever holds a token, a code, a secret, a
    /// query or a body.
    #[cfg(feature = "tracing")]
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!("cronofy", endpoint = self.endpoint.name())
    }

    /// The span of the attempt about to send `request`: `attempt` with its method, its path
    /// (never the query) and the attempt's number. A driver sends in it and hands the answer
    /// to [`Call::on_response`] or [`Call::on_transport_error`] in it (feature `tracing`).
    #[cfg(feature = "tracing")]
    pub fn attempt_span(&self, request: &HttpRequest) -> tracing::Span {
        tracing::debug_span!(
            "attempt",
            method = %request.method(),
            path = request.uri().path(),
            attempt = self.attempt,
        )
    }

    /// What to do next.
    pub fn poll(&mut self) -> Next<E::Output> {
        if let Some(next) = self.queue.pop() {
            return next;
        }
        match self.phase {
            Phase::NeedSlot if self.paced => {
                self.phase = Phase::AwaitSlot;
                self.paced_for = Duration::ZERO;
                Next::Pace
            }
            Phase::Holding => Next::Hold,
            // A driver that asks again without reporting a slot sends unpaced rather than
            // stalling; one that asks again without an answer sends again.
            Phase::NeedSlot
            | Phase::AwaitSlot
            | Phase::SlotTaken
            | Phase::AwaitAnswer
            | Phase::AwaitRefresh => self.send(),
            Phase::Finished => Next::Done(Err(past_end())),
        }
    }

    /// The pacer's answer to [`Next::Pace`]: the slot is `wait` from now. A wait longer than
    /// the configured time-out fails the call with [`CallError::Timeout`] instead.
    pub fn on_paced(&mut self, wait: Duration) {
        if wait.is_zero() {
            self.phase = Phase::SlotTaken;
        } else {
            self.pace_wait(wait);
        }
    }

    /// The pacer's answer to [`Next::Hold`]: everyone holds off `wait` longer (zero: send).
    pub fn on_hold(&mut self, wait: Duration) {
        // The same rule as a slot's first answer: zero sends, anything else waits and asks again.
        self.on_paced(wait);
    }

    /// Waits `wait` for pacing, then checks again; a total past the time-out fails the call.
    fn pace_wait(&mut self, wait: Duration) {
        self.paced_for = self.paced_for.saturating_add(wait);
        if self.paced_for > self.config.timeout() {
            self.finish(Err(CallError::Timeout));
            return;
        }
        debug_event!(wait_ms = wait.as_millis() as u64, "paced");
        self.queue.push(Pending::Wait(wait));
        self.phase = Phase::Holding;
    }

    /// Reads the answer to the latest request. `now` dates a `Retry-After`; `jitter` (in
    /// `[0, 1]`, drawn at random by the driver) spreads back-offs.
    pub fn on_response(&mut self, response: HttpResponse, now: SystemTime, jitter: f64) {
        debug_event!(status = response.status().as_u16(), "answered");
        let throttled = response.status() == http::StatusCode::TOO_MANY_REQUESTS;
        if self.paced {
            self.queue.push(Pending::Report(if throttled {
                Feedback::Throttled
            } else {
                Feedback::Answered
            }));
        }
        let mut result = self.endpoint.parse_response(response, &self.context());
        if let (Err(err), Some(token)) = (&mut result, &self.token) {
            match err {
                ResponseError::Api(e) => e.redact(token.secret()),
                ResponseError::Decode(e) => e.redact(token.secret()),
            }
        }
        match result {
            Err(ResponseError::Api(ApiError::Unauthorized)) if self.session.is_some() => {
                let seen = self.session.take().expect("checked by the guard");
                self.queue.push(Pending::Refresh(seen));
                self.phase = Phase::AwaitRefresh;
            }
            Err(ResponseError::Api(err)) => {
                match self.decide(&Failure::from_api_error(&err), now, jitter) {
                    Some(wait) => self.retry_after(wait),
                    None => self.finish(Err(CallError::Api(err))),
                }
            }
            other => self.finish(other.map_err(CallError::from)),
        }
    }

    /// Reads a failure to get an answer to the latest request.
    pub fn on_transport_error(&mut self, error: TransportError, now: SystemTime, jitter: f64) {
        debug_event!(error = %error, "no answer");
        match self.decide(&Failure::Transport(error.kind()), now, jitter) {
            Some(wait) => self.retry_after(wait),
            None => self.finish(Err(CallError::from_transport(
                error,
                self.config.max_response_bytes(),
            ))),
        }
    }

    /// The outcome of [`Next::Refresh`]: a token to try once more with, or the refresh's error.
    pub fn on_refreshed(&mut self, outcome: Result<AccessToken, CallError>) {
        match outcome {
            Ok(token) => {
                self.token = Some(token);
                // The retry with a new token is a new call: it gets the whole retry budget.
                self.attempt = 0;
                self.phase = Phase::NeedSlot;
            }
            Err(err) => self.finish(Err(err)),
        }
    }

    /// The context a request is built and its answer read with.
    fn context(&self) -> RequestContext<'_> {
        let ctx = self.config.request_context();
        match &self.token {
            Some(token) => ctx.with_access_token(token),
            None => ctx,
        }
    }

    fn send(&mut self) -> Next<E::Output> {
        match self.endpoint.to_request(&self.context()) {
            Ok(request) => {
                self.attempt += 1;
                self.phase = Phase::AwaitAnswer;
                Next::Send(request)
            }
            Err(err) => {
                self.phase = Phase::Finished;
                Next::Done(Err(err.into()))
            }
        }
    }

    fn retry_after(&mut self, wait: Duration) {
        debug_event!(wait_ms = wait.as_millis() as u64, "retry");
        if !wait.is_zero() {
            self.queue.push(Pending::Wait(wait));
        }
        self.phase = Phase::NeedSlot;
    }

    fn finish(&mut self, result: Result<E::Output, CallError>) {
        self.queue.finish(result);
        self.phase = Phase::Finished;
    }

    fn decide(&self, failure: &Failure, now: SystemTime, jitter: f64) -> Option<Duration> {
        match self.config.retry_policy().decide(
            self.attempt,
            failure,
            self.endpoint.idempotent(),
            now,
            jitter,
        ) {
            RetryDecision::RetryAfter(wait) => Some(wait),
            _ => None,
        }
    }
}

impl<E: Endpoint + ?Sized> fmt::Debug for Call<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("endpoint", &self.endpoint.name())
            .field("attempt", &self.attempt)
            .field("phase", &self.phase)
            .field("paced", &self.paced)
            .field("in_session", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

/// Which tokens a session's call started with: compared after a 401 to tell whether another
/// call already refreshed, or already failed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    generation: u64,
    refreshes: u64,
}

/// What a call that got 401 does, decided under the session's refresh lock.
#[derive(Debug)]
#[non_exhaustive]
pub enum RefreshStep {
    /// Another call refreshed since this one started: retry with its token.
    Retry(AccessToken),
    /// Another call's refresh, made since this one started, failed: report the same error
    /// (nothing is sent again with a refresh token that just failed).
    Failed(CallError),
    /// Refresh: call this endpoint, then hand its result to [`SessionState::finish_refresh`].
    Refresh(RefreshAccessToken),
}

impl RefreshStep {
    /// The refresh to send, or (`Err`) the outcome already settled by another call.
    pub fn into_endpoint(self) -> Result<RefreshAccessToken, Result<AccessToken, CallError>> {
        match self {
            Self::Refresh(endpoint) => Ok(endpoint),
            Self::Retry(token) => Err(Ok(token)),
            Self::Failed(error) => Err(Err(error)),
        }
    }
}

type RefreshHook = Arc<dyn Fn(&TokenResponse) + Send + Sync>;

/// One user's tokens and the single-flight refresh rule: the whole of a transport's
/// `Session` but its lock and its loop.
///
/// Concurrent calls that get 401 take the transport's refresh lock in turn. The first asks
/// [`begin_refresh`](Self::begin_refresh), gets [`RefreshStep::Refresh`], refreshes and
/// stores the result with [`finish_refresh`](Self::finish_refresh), success or failure. Every
/// call queued behind it then gets that result ([`RefreshStep::Retry`] with the new token or
/// [`RefreshStep::Failed`] with the same error) without sending anything: N concurrent 401s
/// make exactly one refresh request.
///
/// ```
/// use permissions_core::{AccessToken, ClientCredentials, ClientSecret, RefreshToken, TokenResponse};
/// use permissions_core::transport::{RefreshStep, SessionState};
///
/// let state = SessionState::new(
///     ClientCredentials::new("id", ClientSecret::new("secret")),
///     AccessToken::new("old"),
///     RefreshToken::new("r"),
/// );
/// let (_, first) = state.current();
/// let (_, second) = state.current();
/// let RefreshStep::Refresh(_endpoint) = state.begin_refresh(first) else { panic!() };
/// let answer = TokenResponse::parse(br#"{"access_token":"new"}"#).unwrap();
/// state.finish_refresh(Ok(answer)).unwrap();
/// // The second call, queued behind the first, retries with the new token.
/// assert!(matches!(state.begin_refresh(second), RefreshStep::Retry(t) if t.secret() == "new"));
/// ```
pub struct SessionState {
    credentials: ClientCredentials,
    tokens: RwLock<Tokens>,
    on_refresh: RwLock<Option<RefreshHook>>,
}

struct Tokens {
    access: AccessToken,
    refresh: RefreshToken,
    /// How many refreshes succeeded.
    generation: u64,
    /// How many refreshes finished, successful or not.
    refreshes: u64,
    /// The error of the latest refresh, when it failed.
    failure: Option<CallError>,
}

impl SessionState {
    /// A session's first tokens, refreshed with `credentials`.
    pub fn new(credentials: ClientCredentials, access: AccessToken, refresh: RefreshToken) -> Self {
        Self {
            credentials,
            tokens: RwLock::new(Tokens {
                access,
                refresh,
                generation: 0,
                refreshes: 0,
                failure: None,
            }),
            on_refresh: RwLock::new(None),
        }
    }

    /// Calls `f` with every successful refresh's answer (to persist the new tokens), before any
    /// waiting call retries. Replaces an earlier hook.
    pub fn on_refresh(&self, f: impl Fn(&TokenResponse) + Send + Sync + 'static) {
        *self
            .on_refresh
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(f));
    }

    /// The current access token, and what a call starting now has seen.
    pub fn current(&self) -> (AccessToken, Seen) {
        let tokens = self.read();
        (
            tokens.access.clone(),
            Seen {
                generation: tokens.generation,
                refreshes: tokens.refreshes,
            },
        )
    }

    /// The current access token.
    pub fn access_token(&self) -> AccessToken {
        self.read().access.clone()
    }

    /// The client id the session refreshes with.
    pub fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    /// After a 401 on a call that started having `seen`; call it holding the refresh lock.
    pub fn begin_refresh(&self, seen: Seen) -> RefreshStep {
        let tokens = self.read();
        // A refresh finished since this call started: its token is the one to retry with,
        // unless the latest refresh failed (then that token was refused too, and its refresh
        // token with it: report that error, whatever succeeded before it).
        if tokens.refreshes != seen.refreshes || tokens.generation != seen.generation {
            match &tokens.failure {
                Some(err) => RefreshStep::Failed(err.clone()),
                None => RefreshStep::Retry(tokens.access.clone()),
            }
        } else {
            RefreshStep::Refresh(RefreshAccessToken::new(
                self.credentials.clone(),
                tokens.refresh.clone(),
            ))
        }
    }

    /// Stores a refresh's result, success or failure, and runs the refresh hook on success.
    /// Returns the token to retry with, or the error. Call it holding the refresh lock.
    pub fn finish_refresh(
        &self,
        result: Result<TokenResponse, CallError>,
    ) -> Result<AccessToken, CallError> {
        let mut tokens = self.tokens.write().unwrap_or_else(PoisonError::into_inner);
        tokens.refreshes += 1;
        match result {
            Ok(answer) => {
                tokens.access = answer.access_token.clone();
                if let Some(refresh) = &answer.refresh_token {
                    tokens.refresh = refresh.clone();
                }
                tokens.generation += 1;
                tokens.failure = None;
                drop(tokens);
                let hook = self
                    .on_refresh
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                if let Some(hook) = hook {
                    hook(&answer);
                }
                Ok(answer.access_token)
            }
            Err(err) => {
                tokens.failure = Some(err.clone());
                Err(err)
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tokens> {
        self.tokens.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tokens = self.read();
        f.debug_struct("SessionState")
            .field("client_id", &self.credentials.client_id)
            .field("tokens", &crate::secret::REDACTED)
            .field("refreshes", &tokens.refreshes)
            .field("last_refresh_failed", &tokens.failure.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::calendars::ListCalendars;
    use crate::data_center::DataCenter;
    use crate::pacing::PacingConfig;

    fn answer(status: u16, body: &str) -> HttpResponse {
        http::Response::builder()
            .status(status)
            .body(body.as_bytes().to_vec())
            .expect("valid")
    }

    const LIST: &str = r#"{"calendars":[]}"#;

    #[test]
    fn callers_held_by_a_429_wake_spaced_not_together() {
        // Twenty callers reserve their slots, then a 429 arrives: each asks `hold` when its
        // slot comes due. They must not all be told to send the moment the block ends.
        let pacer = LocalPacer::new(PacingConfig::cronofy_default());
        let start = Instant::now();
        let slots: Vec<Instant> = (0..20)
            .map(|_| start + Pacer::reserve(&pacer, start))
            .collect();
        Pacer::report(
            &pacer,
            Feedback::Throttled,
            start + Duration::from_millis(1),
        );
        let mut wakes: Vec<Instant> = slots[1..]
            .iter()
            .map(|&slot| slot + Pacer::hold(&pacer, slot))
            .collect();
        wakes.sort();
        for pair in wakes.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(20),
                "two callers wake {:?} apart",
                pair[1] - pair[0]
            );
        }
    }

    /// Drives a paced call the way the transports do, on a clock that only moves when the
    /// engine says wait: every step it asked for, in order.
    #[test]
    fn a_paced_call_waits_for_its_slot_then_sends() {
        let config = ClientConfig::new(DataCenter::Us.hosts());
        let pacer = LocalPacer::new(PacingConfig::parse("1/s").unwrap().unwrap());
        let token = AccessToken::new("t");
        // The clock, in microseconds: the core never reads a real one, not even in tests.
        let mut now: u64 = 0;
        let mut steps = Vec::new();
        for _ in 0..2 {
            let mut call = Call::new(&ListCalendars, &config, Some(&token)).with_pacing(true);
            let mut polls = 0;
            loop {
                polls += 1;
                assert!(polls < 20, "the call never finished: {steps:?}");
                match call.poll() {
                    Next::Pace => {
                        steps.push("pace");
                        call.on_paced(Duration::from_micros(pacer.reserve(now) - now));
                    }
                    Next::Hold => {
                        steps.push("hold");
                        let blocked = pacer.state().blocked_until.saturating_sub(now);
                        call.on_hold(Duration::from_micros(blocked));
                    }
                    Next::Wait(wait) => {
                        steps.push("wait");
                        now += u64::try_from(wait.as_micros()).unwrap();
                    }
                    Next::Send(_) => {
                        steps.push("send");
                        call.on_response(answer(200, LIST), SystemTime::UNIX_EPOCH, 0.5);
                    }
                    Next::Report(_) => steps.push("report"),
                    Next::Done(result) => {
                        result.expect("listed");
                        steps.push("done");
                        break;
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(
            steps,
            [
                "pace", "send", "report", "done", // the first slot is free
                "pace", "wait", "hold", "send", "report", "done" // the second waits ~1 s
            ]
        );
        assert!(now >= 1_000_000, "{now} µs");
    }

    #[test]
    fn a_slot_further_away_than_the_timeout_fails_the_call_at_once() {
        let config = ClientConfig::new(DataCenter::Us.hosts());
        let mut call = Call::new(&ListCalendars, &config, None).with_pacing(true);
        assert!(matches!(call.poll(), Next::Pace));
        call.on_paced(config.timeout() + Duration::from_millis(1));
        assert!(matches!(call.poll(), Next::Done(Err(CallError::Timeout))));
    }

    #[test]
    fn a_session_call_refreshes_once_on_401_then_retries_with_the_new_token() {
        let config = ClientConfig::new(DataCenter::Us.hosts());
        let state = SessionState::new(
            ClientCredentials::new("id", crate::secret::ClientSecret::new("s")),
            AccessToken::new("old"),
            RefreshToken::new("r"),
        );
        let (token, seen) = state.current();
        let mut call = Call::new(&ListCalendars, &config, Some(&token)).in_session(seen);
        let Next::Send(first) = call.poll() else {
            panic!()
        };
        assert_eq!(first.headers()["authorization"], "Bearer old");
        call.on_response(answer(401, ""), SystemTime::UNIX_EPOCH, 0.5);
        let Next::Refresh(seen) = call.poll() else {
            panic!("a refresh")
        };
        let RefreshStep::Refresh(_) = state.begin_refresh(seen) else {
            panic!()
        };
        let fresh = TokenResponse::parse(br#"{"access_token":"new"}"#).unwrap();
        call.on_refreshed(state.finish_refresh(Ok(fresh)));
        let Next::Send(second) = call.poll() else {
            panic!()
        };
        assert_eq!(second.headers()["authorization"], "Bearer new");
        // A second 401 is reported, not refreshed again.
        call.on_response(answer(401, ""), SystemTime::UNIX_EPOCH, 0.5);
        assert!(matches!(
            call.poll(),
            Next::Done(Err(CallError::Api(ApiError::Unauthorized)))
        ));
    }

    #[test]
    fn a_failed_refresh_is_shared_by_every_call_that_waited_for_it() {
        let state = SessionState::new(
            ClientCredentials::new("id", crate::secret::ClientSecret::new("s")),
            AccessToken::new("old"),
            RefreshToken::new("r"),
        );
        let seen: Vec<_> = (0..3).map(|_| state.current().1).collect();
        let RefreshStep::Refresh(_) = state.begin_refresh(seen[0]) else {
            panic!()
        };
        let failed = state.finish_refresh(Err(CallError::Timeout));
        assert!(matches!(failed, Err(CallError::Timeout)));
        for waiter in &seen[1..] {
            assert!(matches!(
                state.begin_refresh(*waiter),
                RefreshStep::Failed(CallError::Timeout)
            ));
        }
        // A call that starts after the failure may try again.
        assert!(matches!(
            state.begin_refresh(state.current().1),
            RefreshStep::Refresh(_)
        ));
    }

    #[test]
    fn a_call_two_refreshes_behind_gets_the_latest_refresh_failure() {
        let state = SessionState::new(
            ClientCredentials::new("id", crate::secret::ClientSecret::new("s")),
            AccessToken::new("first"),
            RefreshToken::new("r"),
        );
        let early = state.current().1;
        // One refresh succeeds, the next one fails.
        let RefreshStep::Refresh(_) = state.begin_refresh(early) else {
            panic!()
        };
        let tokens = crate::oauth::TokenResponse::parse(
            br#"{"token_type":"bearer","access_token":"second","expires_in":3600}"#,
        )
        .expect("a token answer");
        assert!(state.finish_refresh(Ok(tokens)).is_ok());
        let RefreshStep::Refresh(_) = state.begin_refresh(state.current().1) else {
            panic!()
        };
        assert!(state.finish_refresh(Err(CallError::Timeout)).is_err());
        // The call that started before both must not retry with the refused token.
        assert!(matches!(
            state.begin_refresh(early),
            RefreshStep::Failed(CallError::Timeout)
        ));
    }
}
