//! Steps 4 and 5: ask for unrestricted access to chosen calendars, and read Cronofy's answer.
//!
//! ```
//! use permissions_core::{PermissionsRequest, PermissionsOutcome};
//! let request = PermissionsRequest::builder()
//!     .calendar("cal_n23kjnwrw2_jsdfjksn234")
//!     .redirect_uri("https://app.example.com/permission")
//!     .state("opaque-csrf-value")
//!     .build()
//!     .unwrap();
//! assert_eq!(
//!     request.body(),
//!     br#"{"permissions":[{"calendar_id":"cal_n23kjnwrw2_jsdfjksn234","permission_level":"unrestricted"}],"redirect_uri":"https://app.example.com/permission?state=opaque-csrf-value"}"#
//! );
//! let outcome = PermissionsRequest::parse_outcome(
//!     br#"{"permissions_request":{"url":"https://app.cronofy.com/permissions/abc"}}"#,
//! ).unwrap();
//! assert!(matches!(outcome, PermissionsOutcome::Redirect { .. }));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::callback::{self, CallbackOutcome};
use crate::data_center::{BaseUrl, DataCenter, PermissionsUrlPolicy, is_loopback};
use crate::endpoint::{
    Endpoint, RequestContext, bearer, request_builder, success_body, with_json_body,
};
use crate::error::{
    BuildError, CalendarIdProblem, CallbackError, DecodeError, DecodeErrorKind, ResponseError,
};
use crate::redirect_uri::{
    parse_web_url, permissions_redirect_uri, redacted_raw_url, redacted_url,
};
use crate::seam::{HttpRequest, HttpResponse};
use crate::secret::REDACTED;

/// A calendar id: non-empty, no white space or control characters, at most 256 bytes.
///
/// Cronofy's ids look like `cal_{profile}_{suffix}`; that shape is not enforced, because it is
/// not documented as a rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CalendarId(String);

impl CalendarId {
    /// The longest calendar id accepted, in bytes. Cronofy's ids are about 30 bytes; the cap
    /// keeps a hostile or broken input from building a huge request.
    pub const MAX_LEN: usize = 256;

    /// Validates an id.
    pub fn new(id: impl Into<String>) -> Result<Self, CalendarIdProblem> {
        let id = id.into();
        if id.is_empty() {
            return Err(CalendarIdProblem::Empty);
        }
        if id.len() > CalendarId::MAX_LEN {
            return Err(CalendarIdProblem::TooLong);
        }
        if id.chars().any(char::is_control) {
            return Err(CalendarIdProblem::ControlCharacter);
        }
        if id.chars().any(char::is_whitespace) {
            return Err(CalendarIdProblem::Whitespace);
        }
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CalendarId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The access level to ask for. Cronofy documents `unrestricted` as the only value and says
/// more may be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PermissionLevel {
    /// Full access to the calendar, including editing events created outside the application.
    #[default]
    Unrestricted,
}

impl PermissionLevel {
    /// The level as Cronofy spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unrestricted => "unrestricted",
        }
    }
}

/// One entry of the `permissions` array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CalendarPermission {
    /// The calendar.
    pub calendar_id: CalendarId,
    /// The level asked for.
    pub permission_level: PermissionLevel,
}

/// A validated `POST /v1/permissions` request. Build it with [`PermissionsRequest::builder`].
///
/// It is also an [`Endpoint`]: a transport sends it with the user's access token.
///
/// `Debug` shows the state (in `redirect_uri` too) as `[redacted]`, and the body by length.
#[derive(Clone, PartialEq, Eq)]
pub struct PermissionsRequest {
    permissions: Vec<CalendarPermission>,
    /// The URI as sent: the given one, with `state` added when asked for.
    redirect_uri: Url,
    state: Option<String>,
    /// The JSON body, serialized once when built: a request may be sent several times (retries,
    /// a refreshed token), and its parts never change.
    body: Vec<u8>,
}

impl PermissionsRequest {
    /// Starts a request.
    pub fn builder() -> PermissionsRequestBuilder {
        PermissionsRequestBuilder::default()
    }

    /// The calendars asked for, duplicates removed, in the order first given.
    pub fn permissions(&self) -> &[CalendarPermission] {
        &self.permissions
    }

    /// The `redirect_uri` exactly as sent (with the state parameter, if any).
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// The state value carried in `redirect_uri`, if any.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// The JSON body: compact, keys in the documented order.
    pub fn body(&self) -> Vec<u8> {
        self.body.clone()
    }

    fn serialize_body(permissions: &[CalendarPermission], redirect_uri: &Url) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            permissions: &'a [CalendarPermission],
            redirect_uri: &'a str,
        }
        serde_json::to_vec(&Body {
            permissions,
            redirect_uri: redirect_uri.as_str(),
        })
        .expect("strings always serialize")
    }

    /// Reads the body of a successful answer, with no app host to check its URL against: the
    /// URL may be on any host, but must be `https` (or plain `http` on a loopback host) and
    /// carry no user name or password (`https://app.cronofy.com@evil.example/` is refused).
    ///
    /// A client does more: [`Endpoint::parse_response`] also checks that the URL is on the
    /// app host of its [`RequestContext`], as [`PermissionsUrlPolicy`] says. Prefer it when the
    /// URL is sent to a browser.
    pub fn parse_outcome(body: &[u8]) -> Result<PermissionsOutcome, DecodeError> {
        read_outcome(body, None, PermissionsUrlPolicy::AnyHost)
    }

    /// Step 6: reads the URL the user came back on, checking it against this request's
    /// `redirect_uri` and state. See [`CallbackCheck`](crate::CallbackCheck): `Accepted` means
    /// that no `error` came back; confirm by listing the calendars.
    pub fn parse_callback(&self, returned_url: &str) -> Result<CallbackOutcome, CallbackError> {
        callback::parse_permissions_callback(returned_url, &self.redirect_uri, self.state())
    }
}

const CONTEXT: &str = "permissions response";

/// Reads a permissions answer; a URL must pass [`check_permissions_url`].
fn read_outcome(
    body: &[u8],
    app: Option<&BaseUrl>,
    policy: PermissionsUrlPolicy,
) -> Result<PermissionsOutcome, DecodeError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| DecodeError::from_json(CONTEXT, &e, true))?;
    let inner = envelope.permissions_request.ok_or(DecodeError {
        context: CONTEXT,
        kind: DecodeErrorKind::Shape,
        detail: Some("missing field `permissions_request`".into()),
    })?;
    match (inner.url, inner.accepted) {
        (Some(url), _) => Ok(PermissionsOutcome::Redirect {
            url: check_permissions_url(&url, app, policy)?,
        }),
        (None, Some(true)) => Ok(PermissionsOutcome::Granted),
        _ => Err(DecodeError {
            context: CONTEXT,
            kind: DecodeErrorKind::Shape,
            detail: Some("permissions_request has neither url nor accepted: true".into()),
        }),
    }
}

/// The URL a permissions answer sends the user's browser to: an absolute `http(s)` URL with no
/// user-info; with [`PermissionsUrlPolicy::AppHost`], on `app`'s scheme, host and port (with no
/// `app`, on one of Cronofy's data centers' app hosts); otherwise `https`, or `http` on a
/// loopback host. A refusal names the host, never the whole URL (its path may be a secret).
fn check_permissions_url(
    raw: &str,
    app: Option<&BaseUrl>,
    policy: PermissionsUrlPolicy,
) -> Result<Url, DecodeError> {
    let invalid = |detail: &str| DecodeError {
        context: CONTEXT,
        kind: DecodeErrorKind::InvalidUrl,
        detail: Some(detail.to_owned()),
    };
    let url =
        parse_web_url(raw).map_err(|_| DecodeError::new(CONTEXT, DecodeErrorKind::InvalidUrl))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("the URL carries a user name or password"));
    }
    match policy {
        PermissionsUrlPolicy::AppHost => {
            let on = |base: &Url| {
                base.scheme() == url.scheme()
                    && base.host() == url.host()
                    && base.port_or_known_default() == url.port_or_known_default()
            };
            let ok = match app {
                Some(app) => on(app.as_url()),
                // Cronofy's own app hosts, compared as text (no URL built per answer).
                None => {
                    url.scheme() == "https"
                        && url.port().is_none()
                        && url.host_str().is_some_and(is_cronofy_app_host)
                }
            };
            if !ok {
                let expected = app.map_or_else(
                    || "a Cronofy data center's app host".to_owned(),
                    |app| format!("the app host {}", origin(app.as_url())),
                );
                return Err(DecodeError {
                    context: CONTEXT,
                    kind: DecodeErrorKind::UnexpectedHost,
                    detail: Some(format!("the URL is on {}, not on {expected}", origin(&url))),
                });
            }
        }
        PermissionsUrlPolicy::AnyHost => {
            if url.scheme() == "http" && !is_loopback(&url) {
                return Err(invalid("plain http is accepted on a loopback host only"));
            }
        }
    }
    Ok(url)
}

/// `app.cronofy.com`, or `app-<dc>.cronofy.com` for another data center: the hosts of
/// [`DataCenter::hosts`]' app URLs.
fn is_cronofy_app_host(host: &str) -> bool {
    host == "app.cronofy.com"
        || host
            .strip_prefix("app-")
            .and_then(|rest| rest.strip_suffix(".cronofy.com"))
            .is_some_and(|id| {
                DataCenter::ALL
                    .iter()
                    .any(|dc| *dc != DataCenter::Us && dc.id() == id)
            })
}

/// `scheme://host[:port]` of a URL: what a message may say about where it points.
fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

impl fmt::Debug for PermissionsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermissionsRequest")
            .field("permissions", &self.permissions)
            .field("redirect_uri", &redacted_url(&self.redirect_uri))
            .field("state", &self.state.as_ref().map(|_| REDACTED))
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .finish()
    }
}

impl fmt::Debug for PermissionsRequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The redirect URI is text as given: a state written into it by hand is hidden too.
        let redirect_uri = self.redirect_uri.as_deref().map(redacted_raw_url);
        f.debug_struct("PermissionsRequestBuilder")
            .field("calendars", &self.calendars)
            .field("redirect_uri", &redirect_uri)
            .field("state", &self.state.as_ref().map(|_| REDACTED))
            .finish()
    }
}

impl Endpoint for PermissionsRequest {
    type Output = PermissionsOutcome;

    fn name(&self) -> &'static str {
        "request_permissions"
    }

    fn to_request(&self, ctx: &RequestContext<'_>) -> Result<HttpRequest, BuildError> {
        let token = ctx.access_token.ok_or(BuildError::MissingAccessToken)?;
        let builder = request_builder(http::Method::POST, "v1/permissions", ctx)?
            .header(http::header::AUTHORIZATION, bearer(token)?);
        with_json_body(builder, self.body())
    }

    fn parse_response(
        &self,
        response: HttpResponse,
        ctx: &RequestContext<'_>,
    ) -> Result<PermissionsOutcome, ResponseError> {
        let body = success_body(response, false)?;
        Ok(read_outcome(&body, ctx.app, ctx.permissions_urls)?)
    }
}

/// `{"permissions_request": {...}}`. Read with visitors that accept JSON objects only: serde's
/// derive would also read an array (`[[null, true]]`) as this struct, a shape Cronofy never sends.
struct Envelope {
    permissions_request: Option<Inner>,
}

struct Inner {
    url: Option<String>,
    accepted: Option<bool>,
}

/// A key of either object, read without allocating (serde's `Cow<str>` always allocates).
enum Key {
    PermissionsRequest,
    Url,
    Accepted,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "permissions_request" => Key::PermissionsRequest,
                    "url" => Key::Url,
                    "accepted" => Key::Accepted,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(Visitor)
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Envelope;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Envelope, A::Error> {
                let mut permissions_request = None;
                while let Some(key) = map.next_key::<Key>()? {
                    if let Key::PermissionsRequest = key {
                        permissions_request = Some(map.next_value::<Inner>()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Envelope {
                    permissions_request,
                })
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl<'de> Deserialize<'de> for Inner {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Inner;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Inner, A::Error> {
                let mut inner = Inner {
                    url: None,
                    accepted: None,
                };
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Url => inner.url = map.next_value()?,
                        Key::Accepted => inner.accepted = map.next_value()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(inner)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Cronofy's answer to a permissions request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PermissionsOutcome {
    /// Send the user to this URL to accept or reject. Read by a client, it is on the app host
    /// (unless its [`PermissionsUrlPolicy`] says otherwise); always `https` (or `http` on a
    /// loopback host), with no user name or password.
    Redirect {
        /// Where to send the user.
        url: Url,
    },
    /// Granted with no user step (an Enterprise Connect account).
    Granted,
}

/// Collects a [`PermissionsRequest`]'s parts; [`build`](Self::build) validates them all.
/// `Debug` shows the state as `[redacted]`.
#[derive(Clone, Default)]
pub struct PermissionsRequestBuilder {
    calendars: Vec<(String, PermissionLevel)>,
    redirect_uri: Option<String>,
    state: Option<String>,
}

impl PermissionsRequestBuilder {
    /// Adds a calendar at the `unrestricted` level.
    pub fn calendar(mut self, calendar_id: impl Into<String>) -> Self {
        self.calendars
            .push((calendar_id.into(), PermissionLevel::Unrestricted));
        self
    }

    /// Adds several calendars at the `unrestricted` level.
    pub fn calendars<I, S>(mut self, calendar_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.calendars.extend(
            calendar_ids
                .into_iter()
                .map(|id| (id.into(), PermissionLevel::Unrestricted)),
        );
        self
    }

    /// Sets where the user comes back to. Required.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// Adds an app-chosen state value as the `state` query parameter of `redirect_uri`, so that
    /// the callback can be tied to this request (CSRF protection). Use an unguessable value.
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// Validates everything. An invalid request is an error naming the field; nothing is built.
    pub fn build(self) -> Result<PermissionsRequest, BuildError> {
        if self.calendars.is_empty() {
            return Err(BuildError::NoCalendars);
        }
        let mut permissions: Vec<CalendarPermission> = Vec::with_capacity(self.calendars.len());
        for (index, (id, level)) in self.calendars.into_iter().enumerate() {
            let calendar_id =
                CalendarId::new(id).map_err(|problem| BuildError::CalendarId { index, problem })?;
            // Lists are short: a linear scan beats hashing and keeps the first-given order.
            if !permissions.iter().any(|p| p.calendar_id == calendar_id) {
                permissions.push(CalendarPermission {
                    calendar_id,
                    permission_level: level,
                });
            }
        }
        let raw = self.redirect_uri.ok_or(BuildError::MissingRedirectUri)?;
        let redirect_uri = permissions_redirect_uri(&raw, self.state.as_deref())?;
        let body = PermissionsRequest::serialize_body(&permissions, &redirect_uri);
        Ok(PermissionsRequest {
            permissions,
            redirect_uri,
            state: self.state,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_center::BaseUrl;
    use crate::error::{StateProblem, UriProblem};

    #[test]
    fn without_an_app_host_only_cronofys_own_app_hosts_are_accepted() {
        let check = |raw: &str| check_permissions_url(raw, None, PermissionsUrlPolicy::AppHost);
        for dc in DataCenter::ALL {
            let app = dc.hosts().app().as_url().clone();
            assert!(
                check(app.join("permissions/p1").unwrap().as_str()).is_ok(),
                "{dc}"
            );
        }
        for refused in [
            "https://app-us.cronofy.com/permissions/p1",
            "https://app-zz.cronofy.com/permissions/p1",
            "https://app.cronofy.com:8443/permissions/p1",
            "http://app.cronofy.com/permissions/p1",
            "https://app.cronofy.com.evil.example/permissions/p1",
        ] {
            assert!(check(refused).is_err(), "{refused}");
        }
    }
    use crate::secret::AccessToken;

    fn minimal() -> PermissionsRequestBuilder {
        PermissionsRequest::builder().redirect_uri("https://app.example.com/cb")
    }

    #[test]
    fn body_matches_the_dotnet_sdk_byte_for_byte() {
        let request = PermissionsRequest::builder()
            .calendar("cal_102324034530")
            .redirect_uri("http://example.local/redirect")
            .build()
            .unwrap();
        let expected =
            include_str!("../tests/fixtures/sdk/csharp__elevated_permissions__request.json");
        assert_eq!(String::from_utf8(request.body()).unwrap(), expected.trim());
    }

    #[test]
    fn built_request_has_method_url_and_headers() {
        let request = minimal().calendar("cal_1").build().unwrap();
        let api = BaseUrl::parse("https://gw.example.com/cronofy").unwrap();
        let token = AccessToken::new("tok_secret_123");
        let ctx = RequestContext::new(&api).with_access_token(&token);
        let http = request.to_request(&ctx).unwrap();
        assert_eq!(http.method(), http::Method::POST);
        assert_eq!(
            http.uri().to_string(),
            "https://gw.example.com/cronofy/v1/permissions"
        );
        let auth = &http.headers()[http::header::AUTHORIZATION];
        assert_eq!(auth.to_str().unwrap(), "Bearer tok_secret_123");
        assert!(auth.is_sensitive());
        assert!(!format!("{http:?}").contains("tok_secret_123"));
        assert_eq!(
            http.headers()[http::header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        assert!(
            http.headers()[http::header::USER_AGENT]
                .to_str()
                .unwrap()
                .starts_with("permissions-core/")
        );
        assert_eq!(http.body(), &request.body());
        assert_eq!(
            request.to_request(&RequestContext::new(&api)).unwrap_err(),
            BuildError::MissingAccessToken
        );
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(minimal().build(), Err(BuildError::NoCalendars));
        let cases = [
            ("", CalendarIdProblem::Empty),
            ("cal 1", CalendarIdProblem::Whitespace),
            ("cal\u{7}1", CalendarIdProblem::ControlCharacter),
            ("cal\n1", CalendarIdProblem::ControlCharacter),
        ];
        for (id, problem) in cases {
            assert_eq!(
                minimal().calendar("cal_ok").calendar(id).build(),
                Err(BuildError::CalendarId { index: 1, problem })
            );
        }
        let long = "c".repeat(CalendarId::MAX_LEN + 1);
        assert_eq!(
            minimal().calendar(long).build(),
            Err(BuildError::CalendarId {
                index: 0,
                problem: CalendarIdProblem::TooLong
            })
        );
        assert!(
            minimal()
                .calendar("c".repeat(CalendarId::MAX_LEN))
                .build()
                .is_ok()
        );
        assert_eq!(
            PermissionsRequest::builder().calendar("cal_1").build(),
            Err(BuildError::MissingRedirectUri)
        );
        let uris = [
            ("/relative", UriProblem::NotAUrl),
            ("javascript:alert(1)", UriProblem::Scheme),
            ("ftp://example.com/x", UriProblem::Scheme),
            ("https://example.com/cb#frag", UriProblem::Fragment),
            ("https://user:pw@example.com/cb", UriProblem::UserInfo),
            ("https://exa mple.com/cb", UriProblem::InvalidCharacter),
            ("https://example.com/c\tb", UriProblem::InvalidCharacter),
            (
                "https://example.com/cb?error=access_denied",
                UriProblem::ReservedParameter("error"),
            ),
        ];
        for (uri, problem) in uris {
            assert_eq!(
                PermissionsRequest::builder()
                    .calendar("cal_1")
                    .redirect_uri(uri)
                    .build(),
                Err(BuildError::RedirectUri(problem)),
                "{uri}"
            );
        }
        assert_eq!(
            minimal().calendar("c").state("").build(),
            Err(BuildError::State(StateProblem::Empty))
        );
        let err = minimal().calendar("a").calendar("b c").build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "permissions[1].calendar_id: must not contain white space"
        );
    }

    #[test]
    fn duplicates_collapse_keeping_order() {
        let request = minimal()
            .calendars(["b", "a", "b", "c", "a"])
            .build()
            .unwrap();
        let ids: Vec<_> = request
            .permissions()
            .iter()
            .map(|p| p.calendar_id.as_str())
            .collect();
        assert_eq!(ids, ["b", "a", "c"]);
    }

    #[test]
    fn state_is_added_to_the_redirect_uri_keeping_its_query() {
        let request = PermissionsRequest::builder()
            .calendar("c")
            .redirect_uri("https://app.example.com/cb?tenant=7")
            .state("a b&c")
            .build()
            .unwrap();
        assert_eq!(
            request.redirect_uri().as_str(),
            "https://app.example.com/cb?tenant=7&state=a+b%26c"
        );
    }

    #[test]
    fn outcome_shapes() {
        assert!(matches!(
            PermissionsRequest::parse_outcome(include_bytes!(
                "../tests/fixtures/permissions_response_url.docs.json"
            )),
            Ok(PermissionsOutcome::Redirect { .. })
        ));
        // The Ruby SDK's test stub uses plain http off loopback: refused, nothing is upgraded.
        assert_eq!(
            PermissionsRequest::parse_outcome(include_bytes!(
                "../tests/fixtures/sdk/ruby__elevated_permissions__response_url.json"
            ))
            .unwrap_err()
            .kind,
            DecodeErrorKind::InvalidUrl
        );
        assert_eq!(
            PermissionsRequest::parse_outcome(include_bytes!(
                "../tests/fixtures/sdk/ruby__elevated_permissions__response_accepted.json"
            )),
            Ok(PermissionsOutcome::Granted)
        );
        for (body, kind) in [
            (
                &br#"{"permissions_request":{"url":"javascript:alert(1)"}}"#[..],
                DecodeErrorKind::InvalidUrl,
            ),
            (
                br#"{"permissions_request":{"url":"data:text/html,x"}}"#,
                DecodeErrorKind::InvalidUrl,
            ),
            (
                br#"{"permissions_request":{"url":"/relative"}}"#,
                DecodeErrorKind::InvalidUrl,
            ),
            (
                br#"{"permissions_request":{"accepted":false}}"#,
                DecodeErrorKind::Shape,
            ),
            (br#"{"permissions_request":{}}"#, DecodeErrorKind::Shape),
            (br#"{}"#, DecodeErrorKind::Shape),
            (br#"{"permissions_request":{"#, DecodeErrorKind::Eof),
            (b"<html>", DecodeErrorKind::Syntax),
            (b"", DecodeErrorKind::Eof),
        ] {
            assert_eq!(
                PermissionsRequest::parse_outcome(body).unwrap_err().kind,
                kind,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // Unknown fields are ignored.
        assert_eq!(
            PermissionsRequest::parse_outcome(
                br#"{"x":1,"permissions_request":{"accepted":true,"y":[1]}}"#
            ),
            Ok(PermissionsOutcome::Granted)
        );
    }

    #[test]
    fn any_2xx_is_success_and_content_type_is_not_required() {
        let request = minimal().calendar("c").build().unwrap();
        for status in [200, 201, 202] {
            for content_type in [
                None,
                Some("application/json; charset utf-8"),
                Some("text/plain"),
            ] {
                let mut response = http::Response::builder().status(status);
                if let Some(ct) = content_type {
                    response = response.header("content-type", ct);
                }
                let response = response
                    .body(br#"{"permissions_request":{"accepted":true}}"#.to_vec())
                    .unwrap();
                assert_eq!(
                    request.parse_response(
                        response,
                        &RequestContext::new(crate::data_center::DataCenter::Us.hosts().api())
                    ),
                    Ok(PermissionsOutcome::Granted)
                );
            }
        }
    }
}
