//! [`ReqwestTransport`]: the core's [`AsyncTransport`] over a `reqwest::Client`.

use std::fmt;

use permissions_core::{
    AsyncTransport, HttpRequest, HttpResponse, TransportError, TransportErrorKind,
};

use permissions_core::DEFAULT_MAX_RESPONSE_BYTES;

/// Sends the core's requests with a [`reqwest::Client`] and reads the answers into values.
///
/// Every response header is kept (so `Retry-After` reaches the retry policy). The body is read
/// chunk by chunk and the read stops as soon as it passes the cap: an endless or huge body
/// costs at most the cap plus one chunk of memory. A `Content-Length` over the cap is refused
/// before any of the body is read.
///
/// Errors carry no URL (`reqwest::Error::without_url`). They are classified for the retry
/// policy: `is_timeout()` gives [`TransportErrorKind::Timeout`], `is_connect()`
/// [`TransportErrorKind::Connect`], anything else [`TransportErrorKind::Other`].
///
/// Time-outs, redirects, proxies and TLS are the `reqwest::Client`'s. Build it with
/// `redirect(Policy::none())` so that a token never follows a redirect; starting from
/// [`ReqwestTransport::client_builder`] does that and sets up TLS.
/// [`Client::builder`](crate::Client::builder) does all of it for you; use this type to bring
/// your own `reqwest::Client`:
///
/// ```
/// use permissions_reqwest::{Client, ReqwestTransport};
///
/// let http = ReqwestTransport::client_builder()? // redirects off, TLS set up
///     .timeout(std::time::Duration::from_secs(5))
///     .build()
///     .unwrap();
/// let client = Client::builder()
///     .transport(ReqwestTransport::from(http).max_response_bytes(64 * 1024))
///     .build()?;
/// # let _ = client;
/// # Ok::<(), permissions_reqwest::Error>(())
/// ```
#[derive(Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    max_response_bytes: usize,
}

impl ReqwestTransport {
    /// A transport over `client`, with the default cap of [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub fn new(client: reqwest::Client) -> Self {
        Self {
            client,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// Sets the cap on a response body, in bytes.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The cap on a response body, in bytes.
    pub fn response_limit(&self) -> usize {
        self.max_response_bytes
    }

    /// The `reqwest::Client` inside.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends one request and reads the whole answer, whatever its status.
    ///
    /// This is what [`AsyncTransport::send`] does, without the boxed future.
    pub async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        // The body `Vec` moves into reqwest (`Bytes::from(Vec)` does not copy), and so do the
        // headers.
        let request = reqwest::Request::try_from(request).map_err(classify)?;
        let mut response = self.client.execute(request).await.map_err(classify)?;

        let limit = self.max_response_bytes;
        let announced = response.content_length();
        if announced.is_some_and(|len| len > limit as u64) {
            return Err(too_large(limit));
        }
        let status = response.status();
        let version = response.version();
        let headers = std::mem::take(response.headers_mut());

        // `announced` is at most `limit` here, so trusting it for the allocation is bounded.
        let mut body = Vec::with_capacity(announced.map_or(0, |len| len as usize));
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if chunk.len() > limit - body.len() {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }

        let mut answer = http::Response::new(body);
        *answer.status_mut() = status;
        *answer.version_mut() = version;
        *answer.headers_mut() = headers;
        Ok(answer)
    }
}

impl From<reqwest::Client> for ReqwestTransport {
    fn from(client: reqwest::Client) -> Self {
        Self::new(client)
    }
}

// Not derived: `reqwest::Client`'s own `Debug` lists its default headers, which a caller's
// client could use for credentials.
impl fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport")
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl AsyncTransport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.execute(request).await
    }
}

/// Maps a reqwest error to the core's kinds, dropping the URL (it may carry a query).
fn classify(err: reqwest::Error) -> TransportError {
    let kind = if err.is_timeout() {
        TransportErrorKind::Timeout
    } else if err.is_connect() {
        TransportErrorKind::Connect
    } else {
        TransportErrorKind::Other
    };
    TransportError::with_source(kind, err.without_url())
}

fn too_large(limit: usize) -> TransportError {
    TransportError::body_too_large(limit)
}
