//! An operation of the API as one value: [`Endpoint`] knows how to become a request and how to
//! read its response; [`RequestContext`] carries what every request shares (host, token, user
//! agent). The request helpers every step module uses live here too.

use crate::data_center::{BaseUrl, Hosts, PermissionsUrlPolicy};
use crate::error::{ApiError, BuildError, ResponseError};
use crate::seam::{Body, HttpRequest, HttpResponse};
use crate::secret::AccessToken;

/// The `User-Agent` the core sets; transports replace it with one that names them too.
pub const USER_AGENT: &str = concat!("permissions-core/", env!("CARGO_PKG_VERSION"));

/// What an endpoint needs to build its request, and to read its response, besides its own
/// fields. The call engine builds one from the client's [`ClientConfig`](crate::transport::ClientConfig)
/// and gives the same context to [`Endpoint::to_request`] and [`Endpoint::parse_response`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RequestContext<'a> {
    /// The API host.
    pub api: &'a BaseUrl,
    /// The app host, against which the URL of a permissions answer is checked. `None` (as
    /// [`RequestContext::new`] leaves it): only the app hosts of Cronofy's data centers pass.
    pub app: Option<&'a BaseUrl>,
    /// Which URLs a permissions answer may send the user to.
    pub permissions_urls: PermissionsUrlPolicy,
    /// The access token, for `/v1/*` endpoints.
    pub access_token: Option<&'a AccessToken>,
    /// The `User-Agent` to send.
    pub user_agent: &'a str,
}

impl<'a> RequestContext<'a> {
    /// A context with no access token, no app host (see [`RequestContext::app`]), the default
    /// [`PermissionsUrlPolicy`] and the core's `User-Agent`.
    pub fn new(api: &'a BaseUrl) -> Self {
        Self {
            api,
            app: None,
            permissions_urls: PermissionsUrlPolicy::default(),
            access_token: None,
            user_agent: USER_AGENT,
        }
    }

    /// A context for these hosts, API and app, otherwise as [`RequestContext::new`].
    pub fn for_hosts(hosts: &'a Hosts) -> Self {
        Self::new(hosts.api()).with_app(hosts.app())
    }

    /// Sets the app host.
    pub fn with_app(mut self, app: &'a BaseUrl) -> Self {
        self.app = Some(app);
        self
    }

    /// Sets which URLs a permissions answer may send the user to.
    pub fn with_permissions_urls(mut self, policy: PermissionsUrlPolicy) -> Self {
        self.permissions_urls = policy;
        self
    }

    /// Sets the access token.
    pub fn with_access_token(mut self, token: &'a AccessToken) -> Self {
        self.access_token = Some(token);
        self
    }

    /// Sets the `User-Agent`.
    pub fn with_user_agent(mut self, user_agent: &'a str) -> Self {
        self.user_agent = user_agent;
        self
    }
}

/// One operation of the API: how it becomes a request, and how its response is read.
///
/// Adding an endpoint touches the core only; every transport's client runs any `Endpoint`.
pub trait Endpoint {
    /// What a successful response becomes.
    type Output;

    /// A short, stable name for logs and traces, e.g. `request_permissions`.
    fn name(&self) -> &'static str;

    /// Builds the request. Fails, sending nothing, when the input cannot make a valid request.
    fn to_request(&self, ctx: &RequestContext<'_>) -> Result<HttpRequest, BuildError>;

    /// Reads the response: any status, any headers, any bytes. Never panics. `ctx` is the
    /// context the request was built with (a permissions answer's URL is checked against its
    /// app host).
    fn parse_response(
        &self,
        response: HttpResponse,
        ctx: &RequestContext<'_>,
    ) -> Result<Self::Output, ResponseError>;

    /// Whether sending the request twice is harmless. A code exchange is not (codes are
    /// single-use); it is then retried only when it surely was not processed.
    fn idempotent(&self) -> bool {
        true
    }
}

/// Splits a response into its parts after checking that the status is 2xx; anything else
/// becomes the matching [`ApiError`].
pub(crate) fn success_body(
    response: HttpResponse,
    body_may_hold_secret: bool,
) -> Result<Vec<u8>, ApiError> {
    let (parts, body) = response.into_parts();
    if parts.status.is_success() {
        Ok(body)
    } else {
        Err(ApiError::from_response(
            parts.status,
            &parts.headers,
            &body,
            body_may_hold_secret,
        ))
    }
}

/// Builds a request with the headers every Cronofy call shares. The `User-Agent` is checked
/// here, as it is the one header whose value comes from configuration rather than validation.
pub(crate) fn request_builder(
    method: http::Method,
    path: &str,
    ctx: &RequestContext<'_>,
) -> Result<http::request::Builder, BuildError> {
    let user_agent =
        http::HeaderValue::from_str(ctx.user_agent).map_err(|_| BuildError::ControlCharacter {
            field: "user_agent",
        })?;
    // The base always ends with `/` and has no query or fragment (`BaseUrl::parse`), and the
    // paths are the core's own constants: text concatenation is the join, with one parse
    // (by `http`) instead of a `Url` clone, re-serialization and parse.
    let mut uri = String::with_capacity(ctx.api.as_str().len() + path.len());
    uri.push_str(ctx.api.as_str());
    uri.push_str(path);
    let uri = http::Uri::try_from(uri).map_err(|_| BuildError::Malformed)?;
    Ok(http::Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::USER_AGENT, user_agent)
        .header(http::header::ACCEPT, "application/json"))
}

/// Finishes a request. Every part was validated, so a failure here means a URL `http` refuses
/// although `url` accepted it; it is reported, never a panic.
pub(crate) fn finish(
    builder: http::request::Builder,
    body: Vec<u8>,
) -> Result<HttpRequest, BuildError> {
    builder
        .body(Body::from(body))
        .map_err(|_| BuildError::Malformed)
}

/// The `Authorization: Bearer …` value, marked sensitive so that `http`'s own `Debug` and
/// HTTP/2's HPACK never expose it.
pub(crate) fn bearer(token: &AccessToken) -> Result<http::HeaderValue, BuildError> {
    let mut value =
        http::HeaderValue::try_from(format!("Bearer {}", token.secret())).map_err(|_| {
            BuildError::ControlCharacter {
                field: "access_token",
            }
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The JSON content type Cronofy's docs show.
pub(crate) const JSON_UTF8: &str = "application/json; charset=utf-8";

/// Finishes a JSON request.
pub(crate) fn with_json_body(
    builder: http::request::Builder,
    body: Vec<u8>,
) -> Result<HttpRequest, BuildError> {
    finish(builder.header(http::header::CONTENT_TYPE, JSON_UTF8), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendars::ListCalendars;
    use crate::data_center::DataCenter;

    #[test]
    fn a_bad_user_agent_is_an_error_not_a_panic() {
        let hosts = DataCenter::Us.hosts();
        let token = AccessToken::new("t");
        let ctx = RequestContext::new(hosts.api())
            .with_access_token(&token)
            .with_user_agent("evil\r\nX-Injected: 1");
        assert_eq!(
            ListCalendars.to_request(&ctx).unwrap_err(),
            BuildError::ControlCharacter {
                field: "user_agent"
            }
        );
    }
}
