//! The seam between the protocol and the network: requests and responses as values, and the
//! two transport traits (blocking and async) that turn one into the other.
//!
//! The transport error type is fixed ([`TransportError`]) rather than an associated type, so
//! that the retry policy can tell a refused connection from a time-out whatever the HTTP stack,
//! and so that `Arc<dyn SyncTransport>` needs no type parameter.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

/// A request as a value: method, URL, headers, body. The body is a [`Body`], whose `Debug`
/// shows only its length: a token request's body holds the client secret and a code or a
/// refresh token, and `http::Request`'s own `Debug` would print it byte by byte.
pub type HttpRequest = http::Request<Body>;
/// A response as a value: status, headers, body.
pub type HttpResponse = http::Response<Vec<u8>>;

/// A request body: bytes whose `Debug` shows only their length, so that logging a request
/// (`{request:?}`) never prints a client secret, an authorization code or a refresh token.
///
/// ```
/// use permissions_core::transport::Body;
/// let body = Body::from(b"client_secret=hunter2".to_vec());
/// assert_eq!(format!("{body:?}"), "Body(21 bytes)");
/// assert_eq!(&*body, b"client_secret=hunter2");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Body(Vec<u8>);

impl Body {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, owned.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Body({} bytes)", self.0.len())
    }
}

impl Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for Body {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl PartialEq<[u8]> for Body {
    fn eq(&self, other: &[u8]) -> bool {
        self.0 == other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Body {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.0 == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Body {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.0 == *other
    }
}

impl PartialEq<Vec<u8>> for Body {
    fn eq(&self, other: &Vec<u8>) -> bool {
        &self.0 == other
    }
}

impl From<Body> for Vec<u8> {
    fn from(body: Body) -> Self {
        body.0
    }
}

/// What kind of transport failure: the retry policy decides on this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (refused, DNS, TLS handshake): the request was not sent.
    Connect,
    /// No complete answer in time: the request may or may not have been processed.
    Timeout,
    /// The response body was larger than the configured cap.
    BodyTooLarge,
    /// Anything else: the connection broke, the answer was not HTTP, …
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "could not connect",
            Self::Timeout => "timed out",
            Self::BodyTooLarge => "response body too large",
            Self::Other => "transport failure",
        })
    }
}

/// A request that got no usable answer. Transports must make sure the source carries no URL
/// query, header value or body.
#[derive(Clone, Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    /// For `BodyTooLarge`: the cap the body passed, when the transport said.
    limit: Option<usize>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl TransportError {
    /// A failure of this kind with no further detail.
    pub fn new(kind: TransportErrorKind) -> Self {
        Self {
            kind,
            limit: None,
            source: None,
        }
    }

    /// A response body passed the `limit`-byte cap.
    pub fn body_too_large(limit: usize) -> Self {
        Self {
            kind: TransportErrorKind::BodyTooLarge,
            limit: Some(limit),
            source: None,
        }
    }

    /// A failure of this kind caused by `source`.
    pub fn with_source(
        kind: TransportErrorKind,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            kind,
            limit: None,
            source: Some(Arc::from(source.into())),
        }
    }

    /// What kind of failure.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// For a body over the cap: the cap, when the transport said which.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.limit) {
            (TransportErrorKind::BodyTooLarge, Some(limit)) => {
                write!(f, "response body larger than the {limit}-byte limit")
            }
            (kind, _) => fmt::Display::fmt(&kind, f),
        }
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

impl TransportError {
    /// An I/O failure on the connection, classified by its [`std::io::ErrorKind`]: refused,
    /// unreachable or unavailable is [`TransportErrorKind::Connect`], timed out (or would
    /// block, as a socket with a read time-out says it) is [`TransportErrorKind::Timeout`],
    /// anything else [`TransportErrorKind::Other`].
    ///
    /// Only the operating system's own text is kept as the source (`Connection refused (os
    /// error 111)`); a message wrapped into the error by an HTTP stack, which may quote a URL
    /// or a header, is replaced by the kind's description.
    ///
    /// ```
    /// use std::io;
    /// use permissions_core::transport::{TransportError, TransportErrorKind};
    ///
    /// let wrapped = io::Error::new(io::ErrorKind::ConnectionRefused, "https://h/?code=SECRET");
    /// let error = TransportError::from_io(&wrapped);
    /// assert_eq!(error.kind(), TransportErrorKind::Connect);
    /// let source = std::error::Error::source(&error).unwrap().to_string();
    /// assert!(!source.contains("SECRET"), "{source}");
    /// ```
    pub fn from_io(error: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match error.kind() {
            K::ConnectionRefused
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::AddrNotAvailable
            | K::NetworkDown => TransportErrorKind::Connect,
            K::TimedOut | K::WouldBlock => TransportErrorKind::Timeout,
            _ => TransportErrorKind::Other,
        };
        let source: Box<dyn StdError + Send + Sync> = match error.raw_os_error() {
            Some(code) => Box::new(std::io::Error::from_raw_os_error(code)),
            None if error.kind() == K::UnexpectedEof => {
                "the connection closed before the answer was complete".into()
            }
            None => Box::new(std::io::Error::from(error.kind())),
        };
        Self::with_source(kind, source)
    }
}

/// The most a body's first allocation reserves, whatever its `Content-Length` announces: the
/// rest grows with what actually arrives.
const FIRST_ALLOCATION: usize = 64 * 1024;

/// A response body read through a cap, chunk by chunk: what every transport does with the
/// bytes it receives, written once.
///
/// An announced `Content-Length` over the cap fails before anything is read; one under it
/// reserves at most 64 KiB up front (a length is a server's hint, not a promise); a chunk that
/// would take the body past the cap fails at once, so an endless body costs at most the cap
/// plus one chunk. A body of exactly the cap is accepted.
///
/// ```
/// use permissions_core::transport::{CappedBody, TransportErrorKind};
///
/// let mut body = CappedBody::new(8, Some(6))?;
/// body.push(b"abc")?;
/// body.push(b"def")?;
/// assert_eq!(body.into_vec(), b"abcdef");
///
/// let mut body = CappedBody::new(8, None)?;
/// body.push(b"abcdef")?;
/// assert_eq!(body.push(b"ghi").unwrap_err().kind(), TransportErrorKind::BodyTooLarge);
/// assert!(CappedBody::new(8, Some(9)).is_err(), "refused before reading");
/// # Ok::<(), permissions_core::transport::TransportError>(())
/// ```
#[derive(Debug)]
pub struct CappedBody {
    bytes: Body,
    cap: usize,
}

impl CappedBody {
    /// Starts a body of at most `cap` bytes; `announced` is its `Content-Length`, if any.
    ///
    /// # Errors
    /// [`TransportErrorKind::BodyTooLarge`] when `announced` is over the cap.
    pub fn new(cap: usize, announced: Option<u64>) -> Result<Self, TransportError> {
        if announced.is_some_and(|len| len > cap as u64) {
            return Err(TransportError::body_too_large(cap));
        }
        let first = announced.map_or(0, |len| len.min(FIRST_ALLOCATION as u64) as usize);
        Ok(Self {
            bytes: Body(Vec::with_capacity(first)),
            cap,
        })
    }

    /// Appends the next chunk of the body.
    ///
    /// # Errors
    /// [`TransportErrorKind::BodyTooLarge`] when the chunk would take the body past the cap
    /// (the chunk is not kept).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), TransportError> {
        if chunk.len() > self.cap - self.bytes.0.len() {
            return Err(TransportError::body_too_large(self.cap));
        }
        self.bytes.0.extend_from_slice(chunk);
        Ok(())
    }

    /// The whole body.
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes.0
    }
}

/// A blocking transport: sends a request and waits for the whole response.
///
/// Implemented for closures, which makes test doubles one line, and for `Arc<T>` (so
/// `Arc<dyn SyncTransport>` is a transport too; a `Box<dyn SyncTransport>` converts into one
/// with `Arc::from`). Closures cannot also be covered through `Box`, as `Box<F>` is itself a
/// closure.
///
/// ```
/// use permissions_core::transport::{Body, HttpRequest, HttpResponse, SyncTransport, TransportError};
/// let transport = |_req: HttpRequest| -> Result<HttpResponse, TransportError> {
///     Ok(http::Response::builder().status(200).body(b"{}".to_vec()).unwrap())
/// };
/// let boxed: Box<dyn SyncTransport> = Box::new(transport);
/// let response = boxed.send(http::Request::new(Body::default())).unwrap();
/// assert_eq!(response.status(), 200);
/// ```
pub trait SyncTransport: Send + Sync {
    /// Sends one request.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

impl<F> SyncTransport for F
where
    F: Fn(HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync,
{
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self(request)
    }
}

impl<T: SyncTransport + ?Sized> SyncTransport for Arc<T> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(request)
    }
}

/// An async transport. Uses `async-trait` so that `Box<dyn AsyncTransport>` works.
///
/// Implemented for closures returning a future:
///
/// ```
/// use permissions_core::transport::{AsyncTransport, HttpRequest, HttpResponse, TransportError};
/// let transport = |_req: HttpRequest| async {
///     Ok::<HttpResponse, TransportError>(http::Response::new(Vec::new()))
/// };
/// let _boxed: Box<dyn AsyncTransport> = Box::new(transport);
/// ```
#[async_trait::async_trait]
pub trait AsyncTransport: Send + Sync {
    /// Sends one request.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

#[async_trait::async_trait]
impl<F, Fut> AsyncTransport for F
where
    F: Fn(HttpRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<HttpResponse, TransportError>> + Send,
{
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self(request).await
    }
}

#[async_trait::async_trait]
impl<T: AsyncTransport + ?Sized> AsyncTransport for Arc<T> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(request).await
    }
}

/// What a client's builder takes as its transport: the transport crate's own (kept as it is:
/// static dispatch, its own cap) or any other (a closure, an `Arc` of a transport, a test
/// double), boxed. `From` any transport chooses.
pub enum TransportSlot<B, C: ?Sized> {
    /// The transport crate's own transport.
    Builtin(B),
    /// Any other.
    Custom(Box<C>),
}

/// Puts `transport` in the builtin slot when it is a `B`, else boxes it as a custom one.
fn slot<B: 'static, T: 'static, C: ?Sized>(
    transport: T,
    boxed: impl FnOnce(T) -> Box<C>,
) -> TransportSlot<B, C> {
    let mut taken = Some(transport);
    match (&mut taken as &mut dyn std::any::Any).downcast_mut::<Option<B>>() {
        Some(builtin) => TransportSlot::Builtin(builtin.take().expect("just set")),
        None => TransportSlot::Custom(boxed(taken.take().expect("not taken"))),
    }
}

impl<B: 'static, T: SyncTransport + 'static> From<T> for TransportSlot<B, dyn SyncTransport> {
    fn from(transport: T) -> Self {
        slot(transport, |t| -> Box<dyn SyncTransport> { Box::new(t) })
    }
}

impl<B: 'static, T: AsyncTransport + 'static> From<T> for TransportSlot<B, dyn AsyncTransport> {
    fn from(transport: T) -> Self {
        slot(transport, |t| -> Box<dyn AsyncTransport> { Box::new(t) })
    }
}

impl<B: fmt::Debug, C: ?Sized> fmt::Debug for TransportSlot<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Builtin(transport) => fmt::Debug::fmt(transport, f),
            Self::Custom(_) => f.write_str("CustomTransport"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&[u8]], cap: usize, announced: Option<u64>) -> Result<Vec<u8>, usize> {
        let too_large = |e: TransportError| {
            assert_eq!(e.kind(), TransportErrorKind::BodyTooLarge);
            e.limit().expect("the cap is named")
        };
        let mut body = CappedBody::new(cap, announced).map_err(too_large)?;
        for chunk in chunks {
            body.push(chunk).map_err(too_large)?;
        }
        Ok(body.into_vec())
    }

    #[test]
    fn bodies_are_read_whole_up_to_the_cap_and_refused_past_it() {
        assert_eq!(read(&[], 0, None), Ok(vec![]));
        assert_eq!(
            read(&[b"abc", b"", b"defg"], 7, Some(7)),
            Ok(b"abcdefg".to_vec())
        );
        assert_eq!(
            read(&[b"abc", b"defgh"], 7, None),
            Err(7),
            "one byte past the cap"
        );
        assert_eq!(read(&[], 7, Some(8)), Err(7), "refused before reading");
        assert_eq!(
            read(&[b"abcdefgh"], 7, Some(3)),
            Err(7),
            "an announced length is a hint"
        );
    }

    #[test]
    fn an_announced_length_is_not_trusted_for_the_first_allocation() {
        // A cap of `usize::MAX` and a huge announced length: no "capacity overflow" panic,
        // and no more than 64 KiB reserved before the bytes arrive.
        for announced in [u64::MAX, 10_000_000] {
            let mut body = CappedBody::new(usize::MAX, Some(announced)).unwrap();
            body.push(b"0123456789").unwrap();
            let body = body.into_vec();
            assert_eq!(body.len(), 10);
            assert!(body.capacity() <= FIRST_ALLOCATION, "{}", body.capacity());
        }
    }

    #[test]
    fn io_failures_are_classified_without_their_wrapped_text() {
        use std::io::{Error, ErrorKind};
        let secret = "https://api.example.com/v1/x?code=SECRET";
        for (error, kind) in [
            (Error::other(secret), TransportErrorKind::Other),
            (
                Error::new(ErrorKind::ConnectionRefused, secret),
                TransportErrorKind::Connect,
            ),
            (
                Error::new(ErrorKind::TimedOut, secret),
                TransportErrorKind::Timeout,
            ),
            (
                Error::new(ErrorKind::UnexpectedEof, secret),
                TransportErrorKind::Other,
            ),
            (Error::from_raw_os_error(111), TransportErrorKind::Connect),
        ] {
            let mapped = TransportError::from_io(&error);
            assert_eq!(mapped.kind(), kind, "{error:?}");
            let source = StdError::source(&mapped).expect("a cause");
            let shown = format!("{mapped} {mapped:?} {source} {source:?}");
            assert!(!shown.contains("SECRET"), "{shown}");
        }
    }
}
