//! [`ReqwestTransport`]: the core's [`AsyncTransport`] over a `reqwest::Client`.

use std::fmt;

use permissions_core::error::CallError;
use permissions_core::transport::{
    AsyncTransport, CappedBody, ClientConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT, HttpRequest, HttpResponse, TransportError, TransportErrorKind,
};

/// Sends the core's requests with a [`reqwest::Client`] and reads the answers into values.
///
/// Every response header is kept (so `Retry-After` reaches the retry policy). The body is read
/// chunk by chunk through the core's [`CappedBody`]: an endless or huge body costs at most the
/// cap plus one chunk of memory, a `Content-Length` over the cap is refused before any of the
/// body is read, and one under it reserves at most 64 KiB up front.
///
/// Errors carry no URL (`reqwest::Error::without_url`). They are classified for the retry
/// policy: `is_timeout()` gives [`TransportErrorKind::Timeout`], `is_connect()`
/// [`TransportErrorKind::Connect`], anything else [`TransportErrorKind::Other`].
///
/// Redirects are never followed, whatever the `reqwest::Client` would do: the only way to
/// bring your own settings is [`ReqwestTransport::from_builder`], which turns redirects off
/// after your settings, so a token, a code or a client secret never travels to a `Location`.
///
/// ```
/// use permissions_reqwest::{Client, ReqwestTransport};
///
/// let transport = ReqwestTransport::from_builder(
///     reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)),
/// )?
/// .max_response_bytes(64 * 1024);
/// let client = Client::builder().transport(transport).build()?;
/// # let _ = client;
/// # Ok::<(), permissions_reqwest::Error>(())
/// ```
#[derive(Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    max_response_bytes: usize,
}

impl ReqwestTransport {
    /// A transport over a `reqwest::Client` built from `builder` (a proxy, extra root
    /// certificates, local address, time-outs, …), with redirects turned off. The
    /// default cap of [`DEFAULT_MAX_RESPONSE_BYTES`] applies until
    /// [`max_response_bytes`](Self::max_response_bytes) changes it.
    ///
    /// # Errors
    /// [`CallError::Transport`] when the client cannot be built (with the `rustls` feature on
    /// Linux: no CA certificates on the system).
    pub fn from_builder(builder: reqwest::ClientBuilder) -> Result<Self, CallError> {
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| {
                CallError::Transport(TransportError::with_source(
                    TransportErrorKind::Other,
                    err.without_url(),
                ))
            })?;
        Ok(Self {
            client,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// The built-in transport of a client with `config`: its time-outs and cap.
    pub(crate) fn for_config(config: &ClientConfig) -> Result<Self, CallError> {
        Ok(Self::from_builder(
            reqwest::Client::builder()
                .connect_timeout(config.connect_timeout())
                .timeout(config.timeout()),
        )?
        .max_response_bytes(config.max_response_bytes()))
    }

    /// Sets the cap on a response body, in bytes. A body of exactly this size is accepted.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The `reqwest::Client` inside.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` and reads the whole answer through the cap.
    pub async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let (parts, body) = request.into_parts();
        // The body `Vec` moves into reqwest (`Bytes::from(Vec)` does not copy), and so do the
        // headers.
        let request = http::Request::from_parts(parts, body.into_vec());
        let request = reqwest::Request::try_from(request).map_err(classify)?;
        let mut response = self.client.execute(request).await.map_err(classify)?;
        let mut body = CappedBody::new(self.max_response_bytes, response.content_length())?;
        let status = response.status();
        let version = response.version();
        let headers = std::mem::take(response.headers_mut());
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            body.push(&chunk)?;
        }

        let mut answer = http::Response::new(body.into_vec());
        *answer.status_mut() = status;
        *answer.version_mut() = version;
        *answer.headers_mut() = headers;
        Ok(answer)
    }
}

impl Default for ReqwestTransport {
    /// The built-in transport with the default time-outs (10 s to connect, 30 s in all).
    ///
    /// # Panics
    /// When the TLS configuration cannot be made (no CA certificates); use
    /// [`ReqwestTransport::from_builder`] to handle that as an error.
    fn default() -> Self {
        Self::from_builder(
            reqwest::Client::builder()
                .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
                .timeout(DEFAULT_TIMEOUT),
        )
        .expect("the default HTTP client could not be built")
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
