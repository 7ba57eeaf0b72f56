//! Errors: what was wrong with the input (nothing sent), what Cronofy answered, and what could
//! not be read.
//!
//! No error holds a secret or a whole response body. Error bodies of endpoints whose bodies
//! may carry secrets (the token endpoint) are never kept at all; for other endpoints at most a
//! short, cleaned snippet of an unexpected body is kept, to help a person see what happened.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};
use serde::Deserialize;

pub use crate::data_center::{BaseUrlError, UnknownDataCenter};
pub use crate::pacing::PacingConfigError;
use crate::seam::{TransportError, TransportErrorKind};

/// How many characters of an unexpected, non-secret error body are kept.
pub const SNIPPET_LEN: usize = 200;

/// Input that cannot become a request. Nothing was sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `permissions` is empty: at least one calendar is needed.
    #[error("permissions: at least one calendar id is required")]
    NoCalendars,
    /// One calendar id is invalid.
    #[error("permissions[{index}].calendar_id: {problem}")]
    CalendarId {
        /// Position in the list as given (0-based).
        index: usize,
        /// What is wrong with it.
        problem: CalendarIdProblem,
    },
    /// `redirect_uri` was not given.
    #[error("redirect_uri: required")]
    MissingRedirectUri,
    /// `redirect_uri` is invalid.
    #[error("redirect_uri: {0}")]
    RedirectUri(UriProblem),
    /// A state value is empty or too long.
    #[error("state: {0}")]
    State(StateProblem),
    /// An endpoint that needs an access token was given none.
    #[error("access token: required for this request")]
    MissingAccessToken,
    /// A required text field is empty.
    #[error("{field}: must not be empty")]
    Empty {
        /// The field, in Cronofy's spelling.
        field: &'static str,
    },
    /// The parts passed validation but `http` refused to form a request from them (a URL
    /// `http::Uri` rejects although the `url` crate accepted it).
    #[error("the request could not be formed from its parts")]
    Malformed,
    /// A text field holds a control character (or, for `user_agent`, a character a header
    /// value cannot hold).
    #[error("{field}: must not contain control characters")]
    ControlCharacter {
        /// The field, in Cronofy's spelling.
        field: &'static str,
    },
    /// A client's base URL is invalid.
    #[error("{which} base URL: {problem}")]
    BaseUrl {
        /// `api` or `app`.
        which: &'static str,
        /// What is wrong with it.
        problem: BaseUrlError,
    },
    /// A client setting that must be positive is zero.
    #[error("{field}: must be greater than zero")]
    Zero {
        /// The setting.
        field: &'static str,
    },
}

/// What is wrong with a calendar id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarIdProblem {
    /// The id is empty.
    #[error("must not be empty")]
    Empty,
    /// The id contains white space.
    #[error("must not contain white space")]
    Whitespace,
    /// The id contains a control character.
    #[error("must not contain control characters")]
    ControlCharacter,
    /// The id is longer than [`CalendarId::MAX_LEN`](crate::CalendarId::MAX_LEN) bytes.
    #[error("must be at most 256 bytes long")]
    TooLong,
}

/// What is wrong with a URI that must be an absolute `http`/`https` URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriProblem {
    /// Not an absolute URL.
    #[error("not an absolute URL")]
    NotAUrl,
    /// Neither `http` nor `https`.
    #[error("must use http or https")]
    Scheme,
    /// No host.
    #[error("must have a host")]
    NoHost,
    /// Has a `#fragment`.
    #[error("must not have a fragment")]
    Fragment,
    /// Has a user name or password.
    #[error("must not carry a user name or password")]
    UserInfo,
    /// Contains white space or a control character (which URL parsers silently drop).
    #[error("must not contain white space or control characters")]
    InvalidCharacter,
    /// Carries a query parameter Cronofy adds on the way back (`code`, `error`), which would
    /// then appear twice and make the user's return ambiguous.
    #[error("must not carry a {0} parameter: Cronofy adds it on the way back")]
    ReservedParameter(&'static str),
}

/// What is wrong with a state value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateProblem {
    /// Empty.
    #[error("must not be empty")]
    Empty,
    /// Longer than 512 bytes.
    #[error("must be at most 512 bytes long")]
    TooLong,
    /// The `redirect_uri` already carries a different `state` parameter.
    #[error("redirect_uri already carries a different state parameter")]
    Conflict,
}

/// One entry of a 422 answer: `{"key": "errors.required", "description": "required"}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct FieldError {
    /// For programs, e.g. `errors.required`.
    pub key: String,
    /// For people, e.g. `required`.
    #[serde(default)]
    pub description: String,
}

/// The `errors` object of a 422 answer: field name to its errors, in field-name order.
pub type FieldErrors = BTreeMap<String, Vec<FieldError>>;

/// An OAuth error code from the token endpoints (RFC 6749 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// The code or refresh token is unknown, used or expired, or `redirect_uri` did not match.
    InvalidGrant,
    /// The client id or secret was not recognized.
    InvalidClient,
    /// A parameter is missing or malformed.
    InvalidRequest,
    /// The client may not use this grant.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The scope is invalid.
    InvalidScope,
    /// Any other code, kept as sent (at most 64 characters).
    Other(String),
}

impl OAuthErrorCode {
    /// Reads a code as Cronofy sends it.
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_grant" => Self::InvalidGrant,
            "invalid_client" => Self::InvalidClient,
            "invalid_request" => Self::InvalidRequest,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            other => Self::Other(clean_snippet(other, 64)),
        }
    }

    /// The code as Cronofy spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `Retry-After` value: a number of seconds, or an HTTP-date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryAfter {
    /// `Retry-After: 120`.
    Delay(Duration),
    /// `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`.
    At(SystemTime),
}

impl RetryAfter {
    /// Parses a header value: delay-seconds (digits only) or an HTTP-date (RFC 9110 §10.2.3).
    /// Anything else is `None`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use permissions_core::error::RetryAfter;
    /// assert_eq!(RetryAfter::parse("120"), Some(RetryAfter::Delay(Duration::from_secs(120))));
    /// assert!(matches!(RetryAfter::parse("Wed, 21 Oct 2015 07:28:00 GMT"), Some(RetryAfter::At(_))));
    /// assert_eq!(RetryAfter::parse("soon"), None);
    /// ```
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            // More digits than fit in a u64 still mean "a very long time".
            let secs = value.parse::<u64>().unwrap_or(u64::MAX);
            return Some(Self::Delay(Duration::from_secs(secs)));
        }
        httpdate::parse_http_date(value).ok().map(Self::At)
    }

    /// Reads the `Retry-After` header, if present and readable.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(Self::parse)
    }

    /// How long to wait from `now`. A date in the past means no wait.
    pub fn delay_from(&self, now: SystemTime) -> Duration {
        match *self {
            Self::Delay(d) => d,
            Self::At(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Delay(d) => write!(f, "{}s", d.as_secs()),
            Self::At(at) => write!(f, "{}", httpdate::fmt_http_date(*at)),
        }
    }
}

/// Which part of the URL differs from the `redirect_uri` that was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The scheme differs.
    Scheme,
    /// The host differs.
    Host,
    /// The port differs.
    Port,
    /// The path differs.
    Path,
    /// A query parameter of the `redirect_uri` is missing or has another value.
    QueryParameter {
        /// Its name (at most 64 characters).
        name: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Scheme => f.write_str("scheme differs"),
            Self::Host => f.write_str("host differs"),
            Self::Port => f.write_str("port differs"),
            Self::Path => f.write_str("path differs"),
            Self::QueryParameter { name } => {
                write!(f, "query parameter {name:?} is missing or changed")
            }
        }
    }
}

/// Why a returned URL was not accepted as a callback.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// Not an absolute URL.
    #[error("callback URL is not an absolute URL")]
    InvalidUrl,
    /// Not the `redirect_uri` that was sent.
    #[error("callback URL does not match the redirect_uri: {0}")]
    RedirectMismatch(Mismatch),
    /// The state value is missing.
    #[error("callback URL carries no state value")]
    MissingState,
    /// The state value differs (or appears more than once): possibly a forged link.
    #[error("callback state does not match the state that was sent")]
    StateMismatch,
    /// The callback carries an `error` other than `access_denied`.
    #[error("callback reports error {code:?}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Error {
        /// The `error` value (at most 64 characters).
        code: String,
        /// `error_description`, if present (at most 200 characters).
        description: Option<String>,
    },
    /// An authorization callback with neither `code` nor `error`.
    #[error("authorization callback carries no code")]
    MissingCode,
}

impl CallbackError {
    /// A stable, machine-readable name: `redirect_mismatch` (also for an invalid URL),
    /// `state_mismatch` (also for a missing state) or `callback_error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidUrl | Self::RedirectMismatch(_) => "redirect_mismatch",
            Self::MissingState | Self::StateMismatch => "state_mismatch",
            Self::Error { .. } | Self::MissingCode => "callback_error",
        }
    }
}

/// A non-success answer from Cronofy, by status family.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400 from a token endpoint: an OAuth error such as `invalid_grant`.
    #[error("bad request (400): {code}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    BadRequest {
        /// The OAuth error code (`unknown` when the body had none).
        code: OAuthErrorCode,
        /// `error_description`, if sent (at most 200 characters).
        description: Option<String>,
    },
    /// 401: the credentials were not recognized. Refresh the access token and retry.
    #[error(
        "unauthorized (401): the credentials were not recognized; refresh the access token and retry"
    )]
    Unauthorized,
    /// 402: the plan does not include this feature (Extended Permissions needs Starter or above).
    #[error("payment required (402): your Cronofy plan does not include this feature")]
    PaymentRequired,
    /// 403: the credentials lack a scope; ask the user to authorize again with it.
    #[error("forbidden (403): the credentials do not grant the required scope")]
    Forbidden,
    /// 404: the resource, such as a calendar, was not found.
    #[error("not found (404)")]
    NotFound,
    /// 422: the request was invalid; the field errors say why (cleaned of control characters
    /// and bounded in size as they are read; none are kept for the token endpoint, whose
    /// bodies may hold secrets).
    #[error("unprocessable (422): {}", DisplayFields(errors))]
    Unprocessable {
        /// Field name to its errors.
        errors: FieldErrors,
    },
    /// 423: Cronofy has no active credentials for the underlying calendar provider.
    #[error(
        "locked (423): Cronofy has no active credentials for the calendar provider; the user must relink"
    )]
    Locked,
    /// 429: too many requests.
    #[error("rate limited (429){}", retry_after.map(|r| format!(", retry after {r}")).unwrap_or_default())]
    RateLimited {
        /// `Retry-After`, when sent and readable.
        retry_after: Option<RetryAfter>,
    },
    /// 5xx: Cronofy or something in front of it failed.
    #[error("server error ({status}){}{}", retry_after.map(|r| format!(", retry after {r}")).unwrap_or_default(), Snippet(snippet))]
    Server {
        /// The status.
        status: StatusCode,
        /// `Retry-After`, when sent and readable (a 503 may carry one); honoured like a 429's.
        retry_after: Option<RetryAfter>,
        /// The start of the body, when the endpoint's bodies hold no secret.
        snippet: Option<String>,
    },
    /// Any other status (including 3xx: redirects are never followed with a token).
    #[error("unexpected status {status}{}", Snippet(snippet))]
    UnexpectedStatus {
        /// The status.
        status: StatusCode,
        /// The start of the body, when the endpoint's bodies hold no secret.
        snippet: Option<String>,
    },
}

/// How many characters of field errors a one-line `Display` shows; the rest is counted.
const FIELDS_DISPLAY_LEN: usize = 600;

struct DisplayFields<'a>(&'a FieldErrors);

impl fmt::Display for DisplayFields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        if self.0.is_empty() {
            return f.write_str("no field errors given");
        }
        let mut line = String::new();
        for (i, (field, errors)) in self.0.iter().enumerate() {
            if i > 0 {
                line.push_str("; ");
            }
            let _ = write!(line, "{field}: ");
            for (j, e) in errors.iter().enumerate() {
                if j > 0 {
                    line.push_str(", ");
                }
                if e.description.is_empty() {
                    line.push_str(&e.key);
                } else {
                    let _ = write!(line, "{} ({})", e.description, e.key);
                }
            }
            if line.chars().count() > FIELDS_DISPLAY_LEN {
                let remaining = self.0.len() - i - 1;
                let cut: String = line.chars().take(FIELDS_DISPLAY_LEN).collect();
                f.write_str(&cut)?;
                f.write_str("…")?;
                if remaining > 0 {
                    write!(f, " (and {remaining} more fields)")?;
                }
                return Ok(());
            }
        }
        f.write_str(&line)
    }
}

/// Cleans a 422's field errors as they are read: control characters replaced (no terminal
/// escapes or forged log lines), names and keys at most 64 characters, descriptions at most
/// [`SNIPPET_LEN`], at most 100 fields of at most 20 errors each.
fn clean_field_errors(errors: FieldErrors) -> FieldErrors {
    errors
        .into_iter()
        .take(100)
        .map(|(field, list)| {
            let list = list
                .into_iter()
                .take(20)
                .map(|e| FieldError {
                    key: clean_snippet(&e.key, 64),
                    description: clean_snippet(&e.description, SNIPPET_LEN),
                })
                .collect();
            (clean_snippet(&field, 64), list)
        })
        .collect()
}

struct Snippet<'a>(&'a Option<String>);

impl fmt::Display for Snippet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) if !s.is_empty() => write!(f, ": {s}"),
            _ => Ok(()),
        }
    }
}

impl ApiError {
    /// The HTTP status this error came with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Locked => StatusCode::LOCKED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Server { status, .. } | Self::UnexpectedStatus { status, .. } => *status,
        }
    }

    /// A stable, machine-readable name for the kind: `bad_request`, `unauthorized`,
    /// `payment_required`, `forbidden`, `not_found`, `unprocessable`, `locked`, `rate_limited`,
    /// `server` or `unexpected_status`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::PaymentRequired => "payment_required",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Unprocessable { .. } => "unprocessable",
            Self::Locked => "locked",
            Self::RateLimited { .. } => "rate_limited",
            Self::Server { .. } => "server",
            Self::UnexpectedStatus { .. } => "unexpected_status",
        }
    }

    /// Replaces every occurrence of `secret` in the text this error kept from a response body
    /// (snippets, field errors, an OAuth description) with `[redacted]`, including a piece of it
    /// cut off at the end of a truncated snippet. The call engine ([`crate::transport::Call`]) does this with the access
    /// token it sent, so a server that echoes the bearer token into an error page never puts it
    /// in a message. Secrets shorter than 4 characters are left alone (they would redact
    /// ordinary words).
    pub fn redact(&mut self, secret: &str) {
        if secret.len() < 4 {
            return;
        }
        match self {
            Self::Server { snippet, .. } | Self::UnexpectedStatus { snippet, .. } => {
                if let Some(s) = snippet {
                    *s = redact_in(s, secret);
                }
            }
            Self::BadRequest { code, description } => {
                if let OAuthErrorCode::Other(c) = code {
                    *c = redact_in(c, secret);
                }
                if let Some(d) = description {
                    *d = redact_in(d, secret);
                }
            }
            Self::Unprocessable { errors }
                if errors.iter().any(|(name, list)| {
                    name.contains(secret)
                        || list
                            .iter()
                            .any(|e| e.key.contains(secret) || e.description.contains(secret))
                }) =>
            {
                *errors = std::mem::take(errors)
                    .into_iter()
                    .map(|(name, list)| {
                        let list = list
                            .into_iter()
                            .map(|e| FieldError {
                                key: redact_in(&e.key, secret),
                                description: redact_in(&e.description, secret),
                            })
                            .collect();
                        (redact_in(&name, secret), list)
                    })
                    .collect();
            }
            _ => {}
        }
    }

    /// Reads a non-2xx answer. `body_may_hold_secret` is true for endpoints whose bodies can
    /// carry a secret (the token endpoint): their bodies are never kept, not even a snippet.
    pub fn from_response(
        status: StatusCode,
        headers: &http::HeaderMap,
        body: &[u8],
        body_may_hold_secret: bool,
    ) -> Self {
        let snippet = || {
            if body_may_hold_secret || body.is_empty() {
                None
            } else {
                Some(clean_snippet(&String::from_utf8_lossy(body), SNIPPET_LEN))
            }
        };
        match status.as_u16() {
            400 => {
                #[derive(Deserialize)]
                struct OAuthError {
                    error: Option<String>,
                    error_description: Option<String>,
                }
                let parsed = serde_json::from_slice::<OAuthError>(body).ok();
                let code = parsed
                    .as_ref()
                    .and_then(|p| p.error.as_deref())
                    .map(OAuthErrorCode::parse)
                    .unwrap_or_else(|| OAuthErrorCode::Other("unknown".to_owned()));
                // A body that may hold a secret keeps only a code from the RFC's list: a server
                // that echoed a token into `error` or `error_description` must not put it in
                // our Display.
                let (code, description) = if body_may_hold_secret {
                    let code = match code {
                        OAuthErrorCode::Other(_) => OAuthErrorCode::Other("unknown".to_owned()),
                        known => known,
                    };
                    (code, None)
                } else {
                    let description = parsed
                        .and_then(|p| p.error_description)
                        .map(|d| clean_snippet(&d, SNIPPET_LEN));
                    (code, description)
                };
                Self::BadRequest { code, description }
            }
            401 => Self::Unauthorized,
            402 => Self::PaymentRequired,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            422 => {
                #[derive(Deserialize)]
                struct Unprocessable {
                    #[serde(default)]
                    errors: FieldErrors,
                }
                // Like Cronofy's Ruby SDK: a missing or unreadable body gives no field errors,
                // never a failure to report the 422 itself.
                // A body that may hold a secret (the token endpoint's) keeps no field errors:
                // names, keys and descriptions are free text a server could echo a token into.
                let errors = if body_may_hold_secret {
                    FieldErrors::new()
                } else {
                    serde_json::from_slice::<Unprocessable>(body)
                        .map(|u| clean_field_errors(u.errors))
                        .unwrap_or_default()
                };
                Self::Unprocessable { errors }
            }
            423 => Self::Locked,
            429 => Self::RateLimited {
                retry_after: RetryAfter::from_headers(headers),
            },
            500..=599 => Self::Server {
                status,
                retry_after: RetryAfter::from_headers(headers),
                snippet: snippet(),
            },
            _ => Self::UnexpectedStatus {
                status,
                snippet: snippet(),
            },
        }
    }
}

/// A 2xx answer whose body could not be read as what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("could not decode the {context}: {kind}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct DecodeError {
    /// What was being read, e.g. `permissions response`.
    pub context: &'static str,
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// More detail, only for endpoints whose bodies hold no secret (never a value from a
    /// token response).
    pub detail: Option<String>,
}

/// What kind of decoding failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The body is not JSON.
    #[error("body is not valid JSON")]
    Syntax,
    /// The body ended early (or was empty).
    #[error("body ended unexpectedly")]
    Eof,
    /// JSON, but not of the expected shape.
    #[error("JSON does not have the expected shape")]
    Shape,
    /// A URL in the body is not an absolute http(s) URL, carries a user name or password, or
    /// uses plain `http` off a loopback host.
    #[error("URL in the body is not an absolute http(s) URL")]
    InvalidUrl,
    /// A URL in the body is not on the host it must be on (a permissions answer's URL, on the
    /// app host): `detail` names both hosts, never the whole URL.
    #[error("URL in the body is not on the expected host")]
    UnexpectedHost,
}

impl DecodeError {
    /// Replaces every occurrence of `secret` in the detail (serde's messages quote values
    /// from the body) with `[redacted]`. The call engine ([`crate::transport::Call`]) does this with the access token
    /// it sent.
    pub fn redact(&mut self, secret: &str) {
        if secret.len() < 4 {
            return;
        }
        if let Some(detail) = &mut self.detail {
            *detail = redact_in(detail, secret);
        }
    }

    pub(crate) fn new(context: &'static str, kind: DecodeErrorKind) -> Self {
        Self {
            context,
            kind,
            detail: None,
        }
    }

    /// Classifies a serde_json error. Its message is kept only when `keep_detail` is true,
    /// because serde's messages can quote values from the body.
    pub(crate) fn from_json(
        context: &'static str,
        err: &serde_json::Error,
        keep_detail: bool,
    ) -> Self {
        use serde_json::error::Category;
        let kind = match err.classify() {
            Category::Eof => DecodeErrorKind::Eof,
            Category::Syntax | Category::Io => DecodeErrorKind::Syntax,
            Category::Data => DecodeErrorKind::Shape,
        };
        let detail = if keep_detail {
            Some(clean_snippet(&err.to_string(), SNIPPET_LEN))
        } else {
            Some(format!("line {} column {}", err.line(), err.column()))
        };
        Self {
            context,
            kind,
            detail,
        }
    }
}

/// Why a response could not become the endpoint's output.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// Cronofy answered with an error status.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Cronofy answered with success, but the body could not be read.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// `text` with `secret` replaced by `[redacted]`; a prefix of `secret` (4 characters or more)
/// right before a closing `…` is a secret cut by truncation and goes too.
fn redact_in(text: &str, secret: &str) -> String {
    let mut out = text.replace(secret, crate::secret::REDACTED);
    if let Some(body) = out.strip_suffix('…') {
        let cut = (4..secret.len())
            .rev()
            .filter(|&k| secret.is_char_boundary(k))
            .find(|&k| body.ends_with(&secret[..k]));
        if let Some(k) = cut {
            out = format!("{}{}…", &body[..body.len() - k], crate::secret::REDACTED);
        }
    }
    out
}

/// Keeps at most `max` characters of text from a server, made safe to show: control
/// characters (general category Cc) and the line and paragraph separators become spaces (no
/// terminal escapes or forged log lines), and format characters (Cf: bidi overrides and
/// isolates, zero-width characters, the byte-order mark, …), which would reorder or hide what
/// a person reads, are escaped as `\u{…}`. A cut is marked with `…`.
pub(crate) fn clean_snippet(s: &str, max: usize) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(s.len().min(max * 4));
    // What is shown, escapes included, never passes `max` characters.
    let mut shown = 0;
    let mut rest = s.trim().chars();
    let mut cut = false;
    for c in rest.by_ref() {
        let before = out.len();
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            out.push(' ');
        } else if is_format(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
        shown += out[before..].chars().count();
        if shown > max {
            out.truncate(before);
            cut = true;
            break;
        }
    }
    if cut || rest.next().is_some() {
        out.push('…');
    }
    out
}

/// Whether `c` is a format character (Unicode general category Cf, as of Unicode 16).
pub(crate) fn is_format(c: char) -> bool {
    matches!(
        c as u32,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x890..=0x891
            | 0x8E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_count_against_the_snippet_bound() {
        // Found by fuzzing (`oauth_error`): 201 format characters, each shown as `\u{600}`.
        let shown = clean_snippet(&"\u{600}".repeat(201), SNIPPET_LEN);
        assert!(shown.chars().count() <= SNIPPET_LEN + 1, "{}", shown.len());
        assert!(shown.ends_with('…'));
        assert!(!shown.contains('\u{600}'));
        let short = clean_snippet("a\u{202e}b", SNIPPET_LEN);
        assert_eq!(short, "a\\u{202e}b");
    }

    fn from(status: u16, body: &str) -> ApiError {
        ApiError::from_response(
            StatusCode::from_u16(status).unwrap(),
            &http::HeaderMap::new(),
            body.as_bytes(),
            false,
        )
    }

    #[test]
    fn statuses_map_to_kinds() {
        let cases = [
            (400, "bad_request"),
            (401, "unauthorized"),
            (402, "payment_required"),
            (403, "forbidden"),
            (404, "not_found"),
            (422, "unprocessable"),
            (423, "locked"),
            (429, "rate_limited"),
            (500, "server"),
            (502, "server"),
            (503, "server"),
            (504, "server"),
            (410, "unexpected_status"),
            (302, "unexpected_status"),
            (418, "unexpected_status"),
        ];
        for (status, kind) in cases {
            let err = from(status, "");
            assert_eq!(err.kind(), kind, "{status}");
            assert_eq!(err.status().as_u16(), status);
        }
    }

    #[test]
    fn unprocessable_lists_fields() {
        let err = from(
            422,
            include_str!("../tests/fixtures/sdk/ruby__error_422_required.json"),
        );
        let ApiError::Unprocessable { errors } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(errors["event_id"][0].key, "errors.required");
        assert_eq!(
            err.to_string(),
            "unprocessable (422): event_id: required (errors.required)"
        );
        // A 422 without a readable body is still a 422.
        assert_eq!(
            from(422, "<html>"),
            ApiError::Unprocessable {
                errors: FieldErrors::new()
            }
        );
    }

    #[test]
    fn redact_removes_an_echoed_secret_even_when_cut() {
        let token = "tok_0123456789abcdefghij";
        let mut whole = from(500, &format!("<p>bad token {token}</p>"));
        whole.redact(token);
        let shown = format!("{whole} {whole:?}");
        assert!(!shown.contains("0123456789"), "{shown}");
        assert!(shown.contains("[redacted]"));
        // The token straddles the 200-character cut.
        let mut cut = from(500, &format!("{}{token}", "x".repeat(SNIPPET_LEN - 10)));
        cut.redact(token);
        let shown = cut.to_string();
        assert!(!shown.contains("tok_012345"), "{shown}");
        let mut fields = from(
            422,
            &format!(
                r#"{{"errors":{{"f{token}":[{{"key":"k{token}","description":"d {token}"}}]}}}}"#
            ),
        );
        fields.redact(token);
        assert!(!format!("{fields:?}").contains(token));
    }

    #[test]
    fn oauth_error_codes() {
        assert_eq!(
            from(400, r#"{"error":"invalid_grant"}"#),
            ApiError::BadRequest {
                code: OAuthErrorCode::InvalidGrant,
                description: None
            }
        );
        assert_eq!(from(400, "").to_string(), "bad request (400): unknown");
    }

    #[test]
    fn snippets_are_short_and_never_kept_for_secret_bodies() {
        let long = "x".repeat(10_000);
        let err = from(500, &long);
        assert!(err.to_string().chars().count() < SNIPPET_LEN + 60, "{err}");
        let secret = ApiError::from_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &http::HeaderMap::new(),
            b"access_token=abc",
            true,
        );
        assert!(!format!("{secret} {secret:?}").contains("abc"));
        let echoed = ApiError::from_response(
            StatusCode::BAD_REQUEST,
            &http::HeaderMap::new(),
            br#"{"error":"tok_ECHOED","error_description":"tok_ECHOED again"}"#,
            true,
        );
        assert!(
            !format!("{echoed} {echoed:?}").contains("ECHOED"),
            "{echoed}"
        );
        let known = ApiError::from_response(
            StatusCode::BAD_REQUEST,
            &http::HeaderMap::new(),
            br#"{"error":"invalid_grant","error_description":"tok_ECHOED"}"#,
            true,
        );
        assert_eq!(
            known,
            ApiError::BadRequest {
                code: OAuthErrorCode::InvalidGrant,
                description: None
            }
        );
    }
}

/// Everything a call through a client can end with besides its output: the one error type of
/// every transport crate (`permissions_reqwest::Error` and `permissions_ureq::Error` are this
/// type), so that code written against one transport reads the other's errors the same way.
///
/// `Display` is one line and never shows a token, code, secret, URL query, header value, or a
/// body beyond the short snippets the core keeps of non-secret error bodies (with the sent
/// access token redacted). Each message is said once along the
/// [`source`](std::error::Error::source) chain: the wrapping variants show the wrapped error's
/// message as their own and pass its source on.
///
/// ```
/// use permissions_core::error::{ApiError, CallError};
/// let err = CallError::from(ApiError::Unauthorized);
/// assert_eq!(err.kind(), "unauthorized");
/// assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
/// assert_eq!(CallError::Timeout.kind(), "timeout");
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The input cannot make a valid request; nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(BuildError),
    /// Cronofy answered with an error status (after any retries).
    #[error(transparent)]
    Api(ApiError),
    /// Cronofy answered with success, but the body could not be read.
    #[error(transparent)]
    Decode(DecodeError),
    /// No complete answer within the timeout (after any retries).
    #[error("timed out: no complete answer within the timeout")]
    Timeout,
    /// The response body was larger than the cap.
    #[error("response body larger than the {limit}-byte limit")]
    TooLarge {
        /// The cap, in bytes: the one the transport enforced when it said, else the client's
        /// configured cap.
        limit: usize,
    },
    /// No connection could be made (refused, DNS, TLS handshake). Carries no URL.
    #[error(transparent)]
    Connect(TransportError),
    /// Anything else that kept an answer from arriving: the connection dropped, the answer was
    /// not HTTP, … Carries no URL.
    #[error(transparent)]
    Transport(TransportError),
}

impl CallError {
    /// The one-line message followed by its causes, as far as they say more: `could not
    /// connect: Connection refused (os error 111)` where `Display` says `could not connect`.
    /// What a log line or a report needs; the causes hold no URL, header value or body (the
    /// transport contract), and at most four are followed.
    ///
    /// ```
    /// use permissions_core::error::CallError;
    /// use permissions_core::transport::{TransportError, TransportErrorKind};
    ///
    /// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    /// let error = CallError::Connect(TransportError::from_io(&refused));
    /// assert_eq!(error.to_string(), "could not connect");
    /// assert!(error.detailed().starts_with("could not connect: "));
    /// assert_eq!(CallError::Timeout.detailed(), CallError::Timeout.to_string());
    /// ```
    pub fn detailed(&self) -> String {
        let mut message = self.to_string();
        let mut cause = std::error::Error::source(self);
        for _ in 0..4 {
            let Some(error) = cause else { break };
            let text = error.to_string();
            if !text.is_empty() && !message.ends_with(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            cause = error.source();
        }
        message
    }

    /// A stable, machine-readable name for the kind of failure: `invalid_input`; for API
    /// errors [`ApiError::kind`] (`bad_request`, `unauthorized`, `payment_required`,
    /// `forbidden`, `not_found`, `unprocessable`, `locked`, `rate_limited`, `server`,
    /// `unexpected_status`); `decode`, `too_large`, `timeout`; `transport` (also for
    /// [`CallError::Connect`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_input",
            Self::Api(e) => e.kind(),
            Self::Decode(_) => "decode",
            Self::Timeout => "timeout",
            Self::TooLarge { .. } => "too_large",
            Self::Connect(_) | Self::Transport(_) => "transport",
        }
    }

    /// The HTTP status, for [`CallError::Api`]; `None` for every other kind.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api(e) => Some(e.status()),
            _ => None,
        }
    }

    /// The error a failed transport stands for, by kind: `BodyTooLarge` is
    /// [`CallError::TooLarge`] (with the transport's cap, else `default_limit`), `Timeout` is
    /// [`CallError::Timeout`], `Connect` is [`CallError::Connect`], the rest
    /// [`CallError::Transport`].
    pub fn from_transport(error: TransportError, default_limit: usize) -> Self {
        match error.kind() {
            TransportErrorKind::BodyTooLarge => Self::TooLarge {
                limit: error.limit().unwrap_or(default_limit),
            },
            TransportErrorKind::Timeout => Self::Timeout,
            TransportErrorKind::Connect => Self::Connect(error),
            _ => Self::Transport(error),
        }
    }
}

impl From<BuildError> for CallError {
    fn from(err: BuildError) -> Self {
        Self::InvalidRequest(err)
    }
}

impl From<ApiError> for CallError {
    fn from(err: ApiError) -> Self {
        Self::Api(err)
    }
}

impl From<DecodeError> for CallError {
    fn from(err: DecodeError) -> Self {
        Self::Decode(err)
    }
}

impl From<ResponseError> for CallError {
    fn from(err: ResponseError) -> Self {
        match err {
            ResponseError::Api(e) => Self::Api(e),
            ResponseError::Decode(e) => Self::Decode(e),
        }
    }
}
