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
