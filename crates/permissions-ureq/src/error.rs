//! [`Error`]: everything a call can end with besides its output.

use std::fmt;

use permissions_core::{
    ApiError, BuildError, DecodeError, ResponseError, TransportError, TransportErrorKind,
};

/// Why a call failed.
///
/// `Display` is one line and never shows a token, code, secret, URL query, header value or a
/// body beyond the core's short snippets of non-secret error bodies. Each message is said once
/// along the [`source`](std::error::Error::source) chain: the wrapping variants show the
/// wrapped error's message as their own and pass its source on, so printing the chain repeats
/// nothing.
///
/// ```
/// use permissions_ureq::Error;
/// use permissions_core::ApiError;
///
/// let err = Error::from(ApiError::Unauthorized);
/// assert_eq!(err.kind(), "unauthorized");
/// assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
    /// The response body was larger than the configured cap.
    #[error("response body larger than the {limit}-byte limit")]
    TooLarge {
        /// The cap, in bytes: the one a [`crate::UreqTransport`] enforced (also when wrapped in
        /// a transport of your own); for other custom transports, the builder's
        /// [`max_response_bytes`](crate::ClientBuilder::max_response_bytes) setting.
        limit: usize,
    },
    /// No connection could be made (refused, DNS, TLS handshake). Carries no URL.
    #[error(transparent)]
    Connect(TransportError),
    /// Anything else that kept an answer from arriving: the connection dropped, the answer
    /// was not HTTP, … Carries no URL.
    #[error(transparent)]
    Transport(TransportError),
}

impl Error {
    /// A stable, machine-readable name for the kind of failure: `invalid_input`; for API
    /// errors [`ApiError::kind`] (`bad_request`, `unauthorized`, `payment_required`,
    /// `forbidden`, `not_found`, `unprocessable`, `locked`, `rate_limited`, `server`,
    /// `unexpected_status`); `decode`, `too_large`, `timeout`; `transport` (also for
    /// [`Error::Connect`]).
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

    /// The HTTP status, for [`Error::Api`].
    pub fn status(&self) -> Option<http::StatusCode> {
        match self {
            Self::Api(e) => Some(e.status()),
            _ => None,
        }
    }

    /// Maps a transport error by kind (`BodyTooLarge` to [`Error::TooLarge`] with `limit`,
    /// `Timeout` to [`Error::Timeout`], `Connect` to [`Error::Connect`], the rest to
    /// [`Error::Transport`]).
    /// `limit` is reported unless the error says which cap it passed.
    pub(crate) fn from_transport(err: TransportError, limit: usize) -> Self {
        match err.kind() {
            TransportErrorKind::BodyTooLarge => Self::TooLarge {
                limit: std::error::Error::source(&err)
                    .and_then(|s| s.downcast_ref::<BodyTooLarge>())
                    .map_or(limit, |b| b.limit),
            },
            TransportErrorKind::Timeout => Self::Timeout,
            TransportErrorKind::Connect => Self::Connect(err),
            _ => Self::Transport(err),
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
            ResponseError::Api(e) => Self::Api(e),
            ResponseError::Decode(e) => Self::Decode(e),
            // A kind of unreadable answer the core may add later: "anything else".
            other => Self::Transport(TransportError::with_source(
                TransportErrorKind::Other,
                other,
            )),
        }
    }
}

/// The cause kept in a `BodyTooLarge` transport error by [`crate::UreqTransport`]: which cap
/// the body passed.
#[derive(Debug)]
pub(crate) struct BodyTooLarge {
    pub(crate) limit: usize,
}

impl fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "response body larger than {} bytes", self.limit)
    }
}

impl std::error::Error for BodyTooLarge {}
