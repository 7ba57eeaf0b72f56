//! [`UreqTransport`]: a [`SyncTransport`] over a [`ureq::Agent`].

use std::fmt;
use std::io::{self, Read};
use std::time::Duration;

use permissions_core::transport::{
    CappedBody, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, HttpRequest,
    HttpResponse, SyncTransport, TransportError, TransportErrorKind,
};
use ureq::config::{Config, IpFamily};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Idle connections kept per host. ureq's default of 3 measured 23% fewer requests per second
/// at 16 threads against one host.
const IDLE_CONNECTIONS_PER_HOST: usize = 64;
/// Idle connections kept in all.
const IDLE_CONNECTIONS: usize = 256;
/// The read buffer a body comes through into the core's [`CappedBody`].
const READ_BUFFER: usize = 8 * 1024;

/// A blocking transport over a [`ureq::Agent`]: sends an [`HttpRequest`], returns the whole
/// [`HttpResponse`] with every header (so `Retry-After` reaches the retry policy).
///
/// - 4xx and 5xx come back as responses, not errors; redirects are returned, never followed (a
///   bearer token must not travel to wherever a `Location` points).
/// - The response body is read through a cap ([`max_response_bytes`](Self::max_response_bytes),
///   1 MiB by default): a larger body fails with [`TransportErrorKind::BodyTooLarge`] after at
///   most the cap plus one read buffer was held. A `Content-Length` over the cap fails before
///   reading.
/// - Errors carry no URL, header value or body: ureq's own messages, which can quote a URL or
///   a header, are replaced.
///
/// [`UreqTransport::new`] builds an agent configured for this (timeouts, a pool sized for many
/// threads). An agent of your own converts with `From`; it keeps its settings, except that
/// responses with error statuses and redirects are always returned as responses.
///
/// ```
/// use permissions_ureq::UreqTransport;
/// use std::time::Duration;
///
/// let transport = UreqTransport::new(Duration::from_secs(5), Duration::from_secs(20))
///     .max_response_bytes(64 * 1024);
/// let client = permissions_ureq::Client::builder().transport(transport).build()?;
/// # drop(client);
/// # Ok::<(), permissions_ureq::Error>(())
/// ```
#[derive(Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    max_response_bytes: usize,
    /// True for agents built elsewhere whose settings would turn statuses into errors or
    /// follow redirects: each request then overrides them.
    override_config: bool,
}

impl UreqTransport {
    /// A transport with its own agent: `connect_timeout` to establish a connection, `timeout`
    /// for the whole request (body included), a pool of up to 64 idle connections per host,
    /// no redirects, and a 1 MiB body cap.
    pub fn new(connect_timeout: Duration, timeout: Duration) -> Self {
        let builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(timeout))
            .max_idle_connections(IDLE_CONNECTIONS)
            .max_idle_connections_per_host(IDLE_CONNECTIONS_PER_HOST);
        #[cfg(feature = "native-tls")]
        let builder = builder.tls_config(
            ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::NativeTls)
                .build(),
        );
        let agent = ureq::Agent::with_parts(
            builder.build(),
            DefaultConnector::new(),
            LiteralFirst::default(),
        );
        Self {
            agent,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            override_config: false,
        }
    }

    /// Sets the response body cap in bytes (default 1 MiB). A body of exactly this size is
    /// accepted.
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// The response body cap in bytes.
    pub fn response_cap(&self) -> usize {
        self.max_response_bytes
    }

    /// The agent inside.
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    fn run(&self, request: HttpRequest) -> Result<http::Response<ureq::Body>, ureq::Error> {
        let (parts, body) = request.into_parts();
        // An empty GET goes without `Content-Length: 0`, as a browser would send it.
        if body.is_empty() && parts.method == http::Method::GET {
            self.agent
                .run(self.configured(http::Request::from_parts(parts, ())))
        } else {
            let request = http::Request::from_parts(parts, body.into_vec());
            self.agent.run(self.configured(request))
        }
    }

    /// An agent of the caller's might turn statuses into errors or follow redirects: each
    /// request then says otherwise.
    fn configured<B: ureq::AsSendBody>(&self, request: http::Request<B>) -> http::Request<B> {
        if !self.override_config {
            return request;
        }
        self.agent
            .configure_request(request)
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
    }
}

impl Default for UreqTransport {
    /// [`UreqTransport::new`] with the default timeouts (10 s to connect, 30 s in all).
    fn default() -> Self {
        Self::new(DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT)
    }
}

impl From<ureq::Agent> for UreqTransport {
    /// Wraps an agent of your own; its timeouts, proxy and TLS settings apply. Whatever its
    /// settings, error statuses come back as responses and redirects are not followed. The
    /// body cap is the default 1 MiB until [`max_response_bytes`](UreqTransport::max_response_bytes)
    /// changes it.
    ///
    /// Such an agent keeps ureq's own resolver: with a timeout covering name resolution
    /// (`timeout_global`, `timeout_per_call`, `timeout_resolve`), ureq spawns a thread per
    /// request to resolve the host, even an IP address. [`UreqTransport::new`] avoids that
    /// for IP-address hosts.
    fn from(agent: ureq::Agent) -> Self {
        let config = agent.config();
        let override_config = config.http_status_as_error() || config.max_redirects() != 0;
        Self {
            agent,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            override_config,
        }
    }
}

impl fmt::Debug for UreqTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let timeouts = self.agent.config().timeouts();
        f.debug_struct("UreqTransport")
            .field("connect_timeout", &timeouts.connect)
            .field("timeout", &timeouts.global)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl SyncTransport for UreqTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let response = self.run(request).map_err(transport_error)?;
        let (mut parts, mut body) = response.into_parts();
        let capped = CappedBody::new(self.max_response_bytes, body.content_length())?;
        let bytes = read_capped(&mut body.as_reader(), capped)?;
        // ureq's extensions hold the request URL (query included); nothing downstream needs them.
        parts.extensions.clear();
        Ok(http::Response::from_parts(parts, bytes))
    }
}

/// Reads `reader` to its end into `body`, which stops at its cap.
fn read_capped(reader: &mut impl Read, mut body: CappedBody) -> Result<Vec<u8>, TransportError> {
    let mut buffer = [0; READ_BUFFER];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(body.into_vec()),
            Ok(n) => body.push(&buffer[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // ureq's reader wraps its own errors (a time-out) into `io::Error`; this unwraps them.
            Err(e) => return Err(transport_error(ureq::Error::from(e))),
        }
    }
}

/// ureq's resolver, except that an IP-address host is used as it is.
///
/// ureq resolves the host on every request, pooled connection or not, and whenever a timeout
/// covers that step (the whole-request timeout does) it spawns a thread per lookup so that the
/// lookup can be abandoned. For a host that is an IP address there is nothing to look up: no
/// thread is needed. Host names still go through ureq's resolver, bounded by the timeout.
#[derive(Debug, Default)]
struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &http::Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if config.ip_family() == IpFamily::Any {
            if let Some(addr) = literal_address(uri) {
                let mut addrs = self.empty();
                addrs.push(addr);
                return Ok(addrs);
            }
        }
        self.0.resolve(uri, config, timeout)
    }
}

/// The socket address of a URI whose host is an IP address (`127.0.0.1`, `[::1]`).
fn literal_address(uri: &http::Uri) -> Option<std::net::SocketAddr> {
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: std::net::IpAddr = host.parse().ok()?;
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(port), _) => port,
        (None, Some("http")) => 80,
        (None, Some("https")) => 443,
        (None, _) => return None,
    };
    Some(std::net::SocketAddr::new(ip, port))
}

/// Why a request failed, in our words: ureq's own messages can quote a URL or a header.
type Cause = Box<dyn std::error::Error + Send + Sync>;

fn said(text: &'static str) -> Cause {
    text.into()
}

pub(crate) fn transport_error(err: ureq::Error) -> TransportError {
    use TransportErrorKind::{Connect, Other, Timeout};
    let (kind, cause) = match err {
        ureq::Error::Timeout(phase) => (Timeout, format!("timed out ({phase})").into()),
        ureq::Error::HostNotFound => (Connect, said("host not found")),
        ureq::Error::ConnectionFailed => (Connect, said("connection failed")),
        ureq::Error::Io(e) => return io_error(&e),
        ureq::Error::BodyExceedsLimit(limit) => {
            return TransportError::body_too_large(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        // ureq raises it for a TLS set-up it cannot make (an invalid DNS name for the
        // certificate check): permanent, not a failure to connect.
        ureq::Error::Tls(_) => (Other, said("TLS failure")),
        // ureq returns these when building its rustls config or connection (a bad client key,
        // no usable provider): set-up, before any handshake, failing the same way every time.
        // `tls_cause` classifies them as it does the handshake's own (inside I/O errors).
        #[cfg(feature = "rustls")]
        ureq::Error::Rustls(tls) => tls_cause(&tls),
        #[cfg(feature = "native-tls")]
        ureq::Error::NativeTls(_) | ureq::Error::Der(_) => {
            (Connect, said("TLS failure (native-tls)"))
        }
        // An `https://` URL with no TLS feature compiled in: no retry can help.
        ureq::Error::TlsRequired => (Other, said("TLS required but not available")),
        ureq::Error::Protocol(_) => (Other, said("the answer was not valid HTTP/1.1")),
        ureq::Error::LargeResponseHeader(..) => {
            (Other, said("the response headers were too large"))
        }
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::RequireHttpsOnly(_) => {
            (Other, said("the request could not be sent as built"))
        }
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
            (Other, said("redirect refused"))
        }
        ureq::Error::ConnectProxyFailed(_) => (Connect, said("proxy failure")),
        // The agent's proxy setting cannot be used: the same on every attempt.
        ureq::Error::InvalidProxyUrl => (Other, said("invalid proxy URL")),
        _ => (Other, said("HTTP client failure")),
    };
    TransportError::with_source(kind, cause)
}

/// An I/O failure: a rustls one by its own kind, anything else as the core classifies it.
fn io_error(e: &io::Error) -> TransportError {
    #[cfg(feature = "rustls")]
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        let (kind, cause) = tls_cause(tls);
        return TransportError::with_source(kind, cause);
    }
    TransportError::from_io(e)
}

/// A rustls failure: the handshake ones (the certificate, the peer's protocol) happen before
/// the request is written, so they are connect failures; rustls's text names the problem
/// (e.g. `invalid peer certificate: UnknownIssuer`) and carries no URL.
#[cfg(feature = "rustls")]
fn tls_cause(tls: &rustls::Error) -> (TransportErrorKind, Cause) {
    use rustls::Error as E;
    let kind = match tls {
        E::InvalidCertificate(_)
        | E::NoCertificatesPresented
        | E::PeerIncompatible(_)
        | E::UnsupportedNameType
        | E::InappropriateHandshakeMessage { .. } => TransportErrorKind::Connect,
        _ => TransportErrorKind::Other,
    };
    (kind, format!("TLS failure: {tls}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_read_through_the_cap_in_buffers() {
        let read = |total: usize, cap: usize| {
            let body = vec![b'x'; total];
            read_capped(&mut body.as_slice(), CappedBody::new(cap, None).unwrap())
        };
        for (total, cap) in [
            (0, 0),
            (READ_BUFFER * 3 + 1, READ_BUFFER * 3 + 1),
            (10, 100_000),
        ] {
            assert_eq!(read(total, cap).unwrap().len(), total);
        }
        let too_large = read(READ_BUFFER * 2 + 1, READ_BUFFER * 2).unwrap_err();
        assert_eq!(too_large.kind(), TransportErrorKind::BodyTooLarge);
    }

    #[test]
    fn ip_hosts_need_no_lookup() {
        let addr = |uri: &str| literal_address(&uri.parse().unwrap()).map(|a| a.to_string());
        assert_eq!(
            addr("http://127.0.0.1:8080/x"),
            Some("127.0.0.1:8080".into())
        );
        assert_eq!(addr("https://10.0.0.1/x"), Some("10.0.0.1:443".into()));
        assert_eq!(addr("http://[::1]/x"), Some("[::1]:80".into()));
        assert_eq!(addr("https://[::1]:9443"), Some("[::1]:9443".into()));
        assert_eq!(addr("https://api.cronofy.com/v1"), None);
        assert_eq!(addr("http://localhost:8080"), None);
    }

    #[test]
    fn error_causes_never_quote_ureq_text() {
        let secret = "https://api.example.com/v1/x?code=SECRET";
        for err in [
            ureq::Error::BadUri(secret.into()),
            ureq::Error::RequireHttpsOnly(secret.into()),
            ureq::Error::ConnectProxyFailed(secret.into()),
            ureq::Error::Io(io::Error::other(secret)),
            ureq::Error::Io(io::Error::new(io::ErrorKind::ConnectionRefused, secret)),
        ] {
            let mapped = transport_error(err);
            let source = std::error::Error::source(&mapped).unwrap();
            let shown = format!("{mapped} {mapped:?} {source} {source:?}");
            assert!(!shown.contains("SECRET"), "{shown}");
        }
        let refused = transport_error(ureq::Error::Io(io::Error::from(
            io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(refused.kind(), TransportErrorKind::Connect);
        assert_eq!(
            transport_error(ureq::Error::Timeout(ureq::Timeout::Global)).kind(),
            TransportErrorKind::Timeout
        );
        assert_eq!(
            transport_error(ureq::Error::BodyExceedsLimit(3)).kind(),
            TransportErrorKind::BodyTooLarge
        );
        assert_eq!(
            transport_error(ureq::Error::HostNotFound).kind(),
            TransportErrorKind::Connect
        );
    }

    /// Failures that no retry can cure are `Other`, which the core's retry policy does not
    /// repeat and does not call "could not connect".
    #[test]
    fn permanent_failures_are_not_connect_failures() {
        for (err, said) in [
            (ureq::Error::TlsRequired, "TLS required but not available"),
            (ureq::Error::InvalidProxyUrl, "invalid proxy URL"),
            (
                ureq::Error::Tls("Rustls invalid dns name error"),
                "TLS failure",
            ),
        ] {
            let mapped = transport_error(err);
            assert_eq!(mapped.kind(), TransportErrorKind::Other, "{said}");
            let source = std::error::Error::source(&mapped).unwrap();
            assert_eq!(source.to_string(), said);
        }
        assert_eq!(
            transport_error(ureq::Error::ConnectProxyFailed("refused".into())).kind(),
            TransportErrorKind::Connect
        );
    }

    /// ureq's own `Rustls` errors (set-up: config, client key) go through the same
    /// classification as rustls errors inside I/O errors.
    #[cfg(feature = "rustls")]
    #[test]
    fn rustls_set_up_failures_are_not_connect_failures() {
        for tls in [
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch),
            rustls::Error::General("no usable crypto provider".into()),
        ] {
            let direct = transport_error(ureq::Error::Rustls(tls.clone()));
            assert_eq!(direct.kind(), TransportErrorKind::Other, "{tls:?}");
            let source = std::error::Error::source(&direct).unwrap();
            assert_eq!(source.to_string(), format!("TLS failure: {tls}"));
            let via_io = transport_error(ureq::Error::Io(io::Error::other(tls.clone())));
            assert_eq!(via_io.kind(), direct.kind(), "{tls:?}");
        }
        // The one classification for both paths: a certificate the handshake rejected.
        let cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(
            transport_error(ureq::Error::Rustls(cert.clone())).kind(),
            transport_error(ureq::Error::Io(io::Error::other(cert))).kind(),
        );
    }
}
