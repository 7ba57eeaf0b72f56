//! The one error type of every call.

use std::error::Error as StdError;
use std::fmt;

use permissions_core::{
    ApiError, BuildError, DecodeError, ResponseError, TransportError, TransportErrorKind,
};

/// Why a call failed.
///
/// `Display` is one line and never shows a token, code, secret, URL query, header value, or a
/// body beyond the short snippets the core keeps of non-secret error bodies. [`Error::kind`] is a
/// stable name for programs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input cannot make a request; nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(BuildError),
    /// Cronofy answered with an error status (after any retries).
    #[error(transparent)]
    Api(ApiError),
    /// Cronofy answered with success, but the body could not be read.
    #[error(transparent)]
    Decode(DecodeError),
    /// No complete answer within the timeout.
    #[error("timed out: no complete answer within the timeout")]
    Timeout,
    /// The response body was larger than the cap.
    #[error("response body larger than the {limit}-byte limit")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// No connection could be made (refused, DNS, TLS handshake). Carries no URL.
    #[error(transparent)]
    Connect(TransportError),
    /// Anything else: the connection broke, the answer was not HTTP, … Carries no URL.
    #[error(transparent)]
    Transport(TransportError),
}

impl Error {
    /// A stable, machine-readable name for the kind of failure: `invalid_input`; the
    /// [`ApiError::kind`] names (`bad_request`, `unauthorized`, `payment_required`, `forbidden`,
    /// `not_found`, `unprocessable`, `locked`, `rate_limited`, `server`, `unexpected_status`);
    /// `decode`, `too_large`, `timeout`, and `transport` (also for [`Error::Connect`]).
    ///
    /// ```
    /// use permissions_reqwest::Error;
    /// assert_eq!(Error::Timeout.kind(), "timeout");
    /// assert_eq!(Error::from(permissions_core::ApiError::Unauthorized).kind(), "unauthorized");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_input",
            Self::Api(err) => err.kind(),
            Self::Decode(_) => "decode",
            Self::Timeout => "timeout",
            Self::TooLarge { .. } => "too_large",
            Self::Connect(_) | Self::Transport(_) => "transport",
        }
    }

    /// The HTTP status of an [`Error::Api`]; `None` for every other kind.
    pub fn status(&self) -> Option<http::StatusCode> {
        match self {
            Self::Api(err) => Some(err.status()),
            _ => None,
        }
    }

    /// The error a failed transport stands for. `limit` is the cap to report when the
    /// transport did not say which cap a too-large body passed.
    pub(crate) fn from_transport(error: TransportError, limit: usize) -> Self {
        match error.kind() {
            TransportErrorKind::BodyTooLarge => Self::TooLarge {
                limit: StdError::source(&error)
                    .and_then(|s| s.downcast_ref::<BodyTooLarge>())
                    .map_or(limit, |b| b.limit),
            },
            TransportErrorKind::Timeout => Self::Timeout,
            TransportErrorKind::Connect => Self::Connect(error),
            _ => Self::Transport(error),
        }
    }
}

impl From<BuildError> for Error {
    fn from(err: BuildError) -> Self {
        Self::InvalidRequest(err)
    }
}

impl From<ApiError> for Error {
    fn from(err: ApiError) -> Self {
        Self::Api(err)
    }
}

impl From<DecodeError> for Error {
    fn from(err: DecodeError) -> Self {
        Self::Decode(err)
    }
}

impl From<ResponseError> for Error {
    fn from(err: ResponseError) -> Self {
        match err {
            ResponseError::Api(err) => Self::Api(err),
            ResponseError::Decode(err) => Self::Decode(err),
            // A kind of unreadable answer the core may add later: "anything else".
            other => Self::Transport(TransportError::with_source(
                TransportErrorKind::Other,
                other,
            )),
        }
    }
}

/// The source of a `BodyTooLarge` transport error from [`crate::ReqwestTransport`]: which cap
/// was passed.
#[derive(Debug)]
pub(crate) struct BodyTooLarge {
    pub(crate) limit: usize,
}

impl fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "response body larger than {} bytes", self.limit)
    }
}

impl StdError for BodyTooLarge {}

/// Why a [`crate::ClientBuilder`] could not build: the user agent is not a header value.
#[derive(Debug)]
pub(crate) struct InvalidUserAgent;

impl fmt::Display for InvalidUserAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the user agent is not a valid HTTP header value")
    }
}

impl StdError for InvalidUserAgent {}
