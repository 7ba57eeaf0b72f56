//! Steps 1 and 2: the OAuth authorization that comes before Extended Permissions.
//!
//! 1. Send the user to [`AuthorizationRequest::url`] on the app host; they come back to the
//!    `redirect_uri` with `code` and `state` (read with [`AuthorizationRequest::parse_callback`]).
//! 2. Exchange the code for tokens with [`ExchangeCode`]; later, refresh with
//!    [`RefreshAccessToken`] and revoke with [`RevokeToken`].
//!
//! ```
//! use permissions_core::{AuthorizationRequest, AuthorizationOutcome, DataCenter};
//! let auth = AuthorizationRequest::new("my_client_id", "https://app.example.com/oauth/callback", ["read_account", "read_events"])
//!     .state("xyz")
//!     .build()
//!     .unwrap();
//! let url = auth.url(DataCenter::Uk.hosts().app());
//! assert_eq!(url.as_str(), "https://app-uk.cronofy.com/oauth/authorize?response_type=code&client_id=my_client_id\
//!     &redirect_uri=https%3A%2F%2Fapp.example.com%2Foauth%2Fcallback&scope=read_account%20read_events&state=xyz");
//! let back = auth.parse_callback("https://app.example.com/oauth/callback?code=abc&state=xyz").unwrap();
//! assert!(matches!(back, AuthorizationOutcome::Granted { .. }));
//! ```

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::calendars::{ProviderName, lenient};
use crate::callback::{check_return, required_params};
use crate::data_center::BaseUrl;
use crate::endpoint::{Endpoint, RequestContext, request_builder, success_body, with_json_body};
use crate::error::{BuildError, CallbackError, DecodeError, ResponseError, StateProblem};
use crate::redirect_uri::{
    PERMISSIONS_RESERVED, parse_redirect_uri, redacted_raw_url, refuse_reserved, validate_state,
    validate_written_state,
};
use crate::seam::{HttpRequest, HttpResponse};
use crate::secret::{AccessToken, AuthorizationCode, ClientCredentials, REDACTED, RefreshToken};

/// The OAuth authorization request (step 1): where to send the user. `Debug` shows the state
/// as `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    client_id: String,
    /// Exactly as given (validated): Cronofy compares the code exchange's `redirect_uri` with
    /// this one character for character, so it is never normalized.
    redirect_uri_as_sent: String,
    /// The same, parsed, for checking the user's return.
    redirect_uri: Url,
    scope: Vec<String>,
    state: Option<String>,
    avoid_linking: Option<bool>,
    provider_name: Option<String>,
    link_token: Option<String>,
}

/// Collects an [`AuthorizationRequest`]'s parts; [`build`](Self::build) validates them.
/// `Debug` shows the state as `[redacted]`.
#[derive(Clone)]
pub struct AuthorizationRequestBuilder {
    client_id: String,
    redirect_uri: String,
    scope: Vec<String>,
    state: Option<String>,
    avoid_linking: Option<bool>,
    provider_name: Option<String>,
    link_token: Option<String>,
}

/// `Debug` of an authorization request or its builder: the state is the CSRF secret of the
/// user's session, and is shown as `[redacted]` (in the redirect URI too).
fn debug_authorization(
    f: &mut std::fmt::Formatter<'_>,
    name: &str,
    client_id: &str,
    redirect_uri: &str,
    scope: &[String],
    state: Option<&str>,
    options: (Option<bool>, Option<&str>, Option<&str>),
) -> std::fmt::Result {
    let redirect_uri = redacted_raw_url(redirect_uri);
    f.debug_struct(name)
        .field("client_id", &client_id)
        .field("redirect_uri", &redirect_uri)
        .field("scope", &scope)
        .field("state", &state.map(|_| REDACTED))
        .field("avoid_linking", &options.0)
        .field("provider_name", &options.1)
        .field("link_token", &options.2)
        .finish()
}

impl std::fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_authorization(
            f,
            "AuthorizationRequest",
            &self.client_id,
            &self.redirect_uri_as_sent,
            &self.scope,
            self.state.as_deref(),
            (
                self.avoid_linking,
                self.provider_name.as_deref(),
                self.link_token.as_deref(),
            ),
        )
    }
}

impl std::fmt::Debug for AuthorizationRequestBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_authorization(
            f,
            "AuthorizationRequestBuilder",
            &self.client_id,
            &self.redirect_uri,
            &self.scope,
            self.state.as_deref(),
            (
                self.avoid_linking,
                self.provider_name.as_deref(),
                self.link_token.as_deref(),
            ),
        )
    }
}

impl AuthorizationRequest {
    /// Starts an authorization request. `scope` lists scopes such as `read_account`,
    /// `read_events`, `create_event`, `delete_event`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new<I, S>(
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
        scope: I,
    ) -> AuthorizationRequestBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AuthorizationRequestBuilder {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            scope: scope.into_iter().map(Into::into).collect(),
            state: None,
            avoid_linking: None,
            provider_name: None,
            link_token: None,
        }
    }

    /// The authorize URL on the app host (`/oauth/authorize`), parameters in the documented order.
    pub fn url(&self, app: &BaseUrl) -> Url {
        let mut url = app.join("oauth/authorize");
        let mut query = String::from("response_type=code");
        let mut push = |name: &str, value: &str| {
            query.push('&');
            query.push_str(name);
            query.push('=');
            // Spaces as %20 (as Cronofy's .NET SDK sends), not form encoding's `+`.
            for piece in form_urlencoded::byte_serialize(value.as_bytes()) {
                query.push_str(&piece.replace('+', "%20"));
            }
        };
        push("client_id", &self.client_id);
        push("redirect_uri", &self.redirect_uri_as_sent);
        push("scope", &self.scope.join(" "));
        if let Some(state) = &self.state {
            push("state", state);
        }
        if let Some(avoid) = self.avoid_linking {
            push("avoid_linking", if avoid { "true" } else { "false" });
        }
        if let Some(link_token) = &self.link_token {
            push("link_token", link_token);
        }
        if let Some(provider) = &self.provider_name {
            push("provider_name", provider);
        }
        url.set_query(Some(&query));
        url
    }

    /// The `redirect_uri`, parsed (and so normalized: `https://A.example.com` reads
    /// `https://a.example.com/`). Give [`Self::redirect_uri_as_sent`] to [`ExchangeCode`].
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// The `redirect_uri` exactly as given and sent in the authorize URL: the string the code
    /// exchange must send again, as Cronofy requires an exact match.
    pub fn redirect_uri_as_sent(&self) -> &str {
        &self.redirect_uri_as_sent
    }

    /// The state value, if any.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// Reads the URL the user came back on: it must be the `redirect_uri` with this request's
    /// state. `error=access_denied` means the user denied access.
    pub fn parse_callback(
        &self,
        returned_url: &str,
    ) -> Result<AuthorizationOutcome, CallbackError> {
        parse_authorization_callback(returned_url, &self.redirect_uri, self.state.as_deref())
    }
}

impl AuthorizationRequestBuilder {
    /// Sets the state value returned unaltered with the user's decision (CSRF protection).
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// Sets `avoid_linking`: do not link the new profile to an existing account.
    pub fn avoid_linking(mut self, avoid: bool) -> Self {
        self.avoid_linking = Some(avoid);
        self
    }

    /// Sets `provider_name`, to skip the provider choice (e.g. `google`).
    pub fn provider_name(mut self, provider: impl Into<String>) -> Self {
        self.provider_name = Some(provider.into());
        self
    }

    /// Sets `link_token`, from `POST /v1/link_tokens`, to link to an existing account.
    pub fn link_token(mut self, token: impl Into<String>) -> Self {
        self.link_token = Some(token.into());
        self
    }

    /// Validates the parts.
    pub fn build(self) -> Result<AuthorizationRequest, BuildError> {
        non_empty("client_id", &self.client_id)?;
        let redirect_uri =
            parse_redirect_uri(&self.redirect_uri).map_err(BuildError::RedirectUri)?;
        // The same names a permissions return must not carry: the one an OAuth return adds
        // (`code`), and `error`.
        refuse_reserved(&redirect_uri, PERMISSIONS_RESERVED).map_err(BuildError::RedirectUri)?;
        if self.scope.is_empty() {
            return Err(BuildError::Empty { field: "scope" });
        }
        for scope in &self.scope {
            non_empty("scope", scope)?;
            if scope.chars().any(char::is_whitespace) {
                return Err(BuildError::ControlCharacter { field: "scope" });
            }
        }
        validate_written_state(&redirect_uri).map_err(BuildError::State)?;
        if let Some(state) = &self.state {
            validate_state(state).map_err(BuildError::State)?;
            // Cronofy appends `state` to the redirect_uri: one already there would come back
            // twice, and no honest return could pass the check.
            if redirect_uri.query_pairs().any(|(k, _)| k == "state") {
                return Err(BuildError::State(StateProblem::Conflict));
            }
        }
        for (field, value) in [
            ("provider_name", &self.provider_name),
            ("link_token", &self.link_token),
        ] {
            if let Some(value) = value {
                non_empty(field, value)?;
            }
        }
        Ok(AuthorizationRequest {
            client_id: self.client_id,
            redirect_uri_as_sent: self.redirect_uri,
            redirect_uri,
            scope: self.scope,
            state: self.state,
            avoid_linking: self.avoid_linking,
            provider_name: self.provider_name,
            link_token: self.link_token,
        })
    }
}

fn non_empty(field: &'static str, value: &str) -> Result<(), BuildError> {
    if value.is_empty() {
        Err(BuildError::Empty { field })
    } else if value.chars().any(char::is_control) {
        Err(BuildError::ControlCharacter { field })
    } else {
        Ok(())
    }
}

/// The user's answer to the authorization request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizationOutcome {
    /// Access granted: exchange this code (single-use, valid 10 minutes) for tokens.
    Granted {
        /// The authorization code.
        code: AuthorizationCode,
    },
    /// The user denied access (`error=access_denied`).
    Denied,
}

/// Reads the URL the user came back on after authorizing: it must be `redirect_uri`, with
/// `expected_state` (compared in constant time) when one was sent.
pub(crate) fn parse_authorization_callback(
    returned_url: &str,
    redirect_uri: &Url,
    expected_state: Option<&str>,
) -> Result<AuthorizationOutcome, CallbackError> {
    let required: Vec<_> = required_params(redirect_uri, expected_state.is_some()).collect();
    check_return(
        returned_url,
        redirect_uri,
        &required,
        expected_state,
        |params| {
            match params.provider_error() {
                Some(Ok(())) => return Ok(AuthorizationOutcome::Denied),
                Some(Err(e)) => return Err(e),
                None => {}
            }
            params
                .code
                .filter(|code| !code.is_empty())
                .map(|code| AuthorizationOutcome::Granted {
                    code: AuthorizationCode::new(code.into_owned()),
                })
                .ok_or(CallbackError::MissingCode)
        },
    )
}

/// The profile linked by an authorization (code exchange only). Every field is read liberally
/// (see [`TokenResponse`]): a missing `provider_name` reads as an empty [`ProviderName::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct LinkingProfile {
    /// The provider, e.g. `google`.
    #[serde(
        default = "lenient::no_provider",
        deserialize_with = "lenient::provider"
    )]
    pub provider_name: ProviderName,
    /// The provider's service, e.g. `gsuite`, when sent.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_service: Option<String>,
    /// The profile id (`pro_…`).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub profile_id: Option<String>,
    /// The profile's name, often an email address.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub profile_name: Option<String>,
}

/// The token endpoint's answer. Refresh answers lack `account_id`, `sub` and `linking_profile`.
///
/// Only `access_token` is required (a string): an authorization code is single-use, so an
/// answer that carries the tokens is never thrown away over a field the flow does not need.
/// Cronofy documents the fields but not how strictly their types hold, so the rest is read
/// liberally, keeping what can be kept:
///
/// | field | reads |
/// | --- | --- |
/// | `token_type` | a string; otherwise (missing, `null`, …) `bearer`, the only type Cronofy issues |
/// | `expires_in` | a whole or decimal number of seconds (cut to whole), also as text; otherwise absent |
/// | `refresh_token` | a string; otherwise absent |
/// | `scope` | a space-separated string, or a list of strings (joined with spaces); otherwise absent |
/// | `account_id`, `sub` | a string, or a number's text; otherwise absent |
/// | `linking_profile` | an object, each field read the same way; otherwise absent |
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TokenResponse {
    /// `bearer`.
    #[serde(default = "bearer_type", deserialize_with = "token_type")]
    pub token_type: String,
    /// The access token.
    pub access_token: AccessToken,
    /// Seconds until the access token expires, when sent.
    #[serde(default, deserialize_with = "lenient::seconds")]
    pub expires_in: Option<u64>,
    /// The refresh token, when sent.
    #[serde(default, deserialize_with = "refresh_token")]
    pub refresh_token: Option<RefreshToken>,
    /// The granted scopes, space-separated.
    #[serde(default, deserialize_with = "scope")]
    pub scope: Option<String>,
    /// The account id (`acc_…`).
    #[serde(default, deserialize_with = "lenient::string")]
    pub account_id: Option<String>,
    /// The subject: `acc_…` for a user, `ser_…` for a service account, `apc_…` for an
    /// application calendar.
    #[serde(default, deserialize_with = "lenient::string")]
    pub sub: Option<String>,
    /// The linked profile.
    #[serde(default, deserialize_with = "linking_profile")]
    pub linking_profile: Option<LinkingProfile>,
}

fn bearer_type() -> String {
    "bearer".to_owned()
}

fn token_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    lenient::string(d).map(|t| t.unwrap_or_else(bearer_type))
}

fn refresh_token<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<RefreshToken>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(RefreshToken::new(s)),
        _ => None,
    })
}

fn scope<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde_json::Value;
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Array(list) => Some(
            list.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    })
}

fn linking_profile<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<LinkingProfile>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        object @ serde_json::Value::Object(_) => serde_json::from_value(object).ok(),
        _ => None,
    })
}

impl TokenResponse {
    /// Reads a successful token answer. Decode errors never quote the body: it holds tokens.
    pub fn parse(body: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(body)
            .map_err(|e| DecodeError::from_json("token response", &e, false))
    }

    /// When the access token expires, given when the answer was received.
    pub fn expires_at(&self, received_at: SystemTime) -> Option<SystemTime> {
        self.expires_in
            .and_then(|s| received_at.checked_add(Duration::from_secs(s)))
    }

    /// The scopes as a list.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split_whitespace()
    }
}

fn token_request(
    path: &str,
    ctx: &RequestContext<'_>,
    body: &impl Serialize,
) -> Result<HttpRequest, BuildError> {
    let body = serde_json::to_vec(body).expect("strings always serialize");
    let builder = request_builder(http::Method::POST, path, ctx)?
        .header(http::header::CACHE_CONTROL, "no-store");
    with_json_body(builder, body)
}

/// Step 2: exchange an authorization code for tokens (`POST /oauth/token`,
/// `grant_type=authorization_code`). Not idempotent: a code is single-use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeCode {
    /// The application's credentials.
    pub credentials: ClientCredentials,
    /// The code from the callback.
    pub code: AuthorizationCode,
    /// The `redirect_uri` of the authorization request, character for character
    /// ([`AuthorizationRequest::redirect_uri_as_sent`]): Cronofy requires an exact match.
    pub redirect_uri: String,
}

impl ExchangeCode {
    /// A code exchange.
    pub fn new(
        credentials: ClientCredentials,
        code: AuthorizationCode,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            credentials,
            code,
            redirect_uri: redirect_uri.into(),
        }
    }
}

impl Endpoint for ExchangeCode {
    type Output = TokenResponse;

    fn name(&self) -> &'static str {
        "exchange_code"
    }

    fn to_request(&self, ctx: &RequestContext<'_>) -> Result<HttpRequest, BuildError> {
        non_empty("client_id", &self.credentials.client_id)?;
        non_empty("client_secret", self.credentials.client_secret.secret())?;
        non_empty("code", self.code.secret())?;
        non_empty("redirect_uri", &self.redirect_uri)?;
        #[derive(Serialize)]
        struct Body<'a> {
            client_id: &'a str,
            client_secret: &'a str,
            grant_type: &'a str,
            code: &'a str,
            redirect_uri: &'a str,
        }
        token_request(
            "oauth/token",
            ctx,
            &Body {
                client_id: &self.credentials.client_id,
                client_secret: self.credentials.client_secret.secret(),
                grant_type: "authorization_code",
                code: self.code.secret(),
                redirect_uri: &self.redirect_uri,
            },
        )
    }

    fn parse_response(
        &self,
        response: HttpResponse,
        _ctx: &RequestContext<'_>,
    ) -> Result<TokenResponse, ResponseError> {
        let body = success_body(response, true)?;
        Ok(TokenResponse::parse(&body)?)
    }

    fn idempotent(&self) -> bool {
        false
    }
}

/// Get a new access token with a refresh token (`POST /oauth/token`,
/// `grant_type=refresh_token`). Cronofy returns the same refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshAccessToken {
    /// The application's credentials.
    pub credentials: ClientCredentials,
    /// The refresh token.
    pub refresh_token: RefreshToken,
}

impl RefreshAccessToken {
    /// A refresh.
    pub fn new(credentials: ClientCredentials, refresh_token: RefreshToken) -> Self {
        Self {
            credentials,
            refresh_token,
        }
    }
}

impl Endpoint for RefreshAccessToken {
    type Output = TokenResponse;

    fn name(&self) -> &'static str {
        "refresh_token"
    }

    fn to_request(&self, ctx: &RequestContext<'_>) -> Result<HttpRequest, BuildError> {
        non_empty("client_id", &self.credentials.client_id)?;
        non_empty("client_secret", self.credentials.client_secret.secret())?;
        non_empty("refresh_token", self.refresh_token.secret())?;
        #[derive(Serialize)]
        struct Body<'a> {
            client_id: &'a str,
            client_secret: &'a str,
            grant_type: &'a str,
            refresh_token: &'a str,
        }
        token_request(
            "oauth/token",
            ctx,
            &Body {
                client_id: &self.credentials.client_id,
                client_secret: self.credentials.client_secret.secret(),
                grant_type: "refresh_token",
                refresh_token: self.refresh_token.secret(),
            },
        )
    }

    fn parse_response(
        &self,
        response: HttpResponse,
        _ctx: &RequestContext<'_>,
    ) -> Result<TokenResponse, ResponseError> {
        let body = success_body(response, true)?;
        Ok(TokenResponse::parse(&body)?)
    }
}

/// What to revoke.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocable {
    /// A refresh token (revokes the whole authorization; Cronofy's Ruby SDK prefers it).
    RefreshToken(RefreshToken),
    /// An access token.
    AccessToken(AccessToken),
    /// Every authorization of an account or profile (`sub`, e.g. `acc_…`).
    Sub(String),
}

/// Revoke an authorization (`POST /oauth/token/revoke`). Answers 200 with no body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokeToken {
    /// The application's credentials.
    pub credentials: ClientCredentials,
    /// What to revoke.
    pub target: Revocable,
}

impl RevokeToken {
    /// A revocation.
    pub fn new(credentials: ClientCredentials, target: Revocable) -> Self {
        Self {
            credentials,
            target,
        }
    }
}

impl Endpoint for RevokeToken {
    type Output = ();

    fn name(&self) -> &'static str {
        "revoke_token"
    }

    fn to_request(&self, ctx: &RequestContext<'_>) -> Result<HttpRequest, BuildError> {
        non_empty("client_id", &self.credentials.client_id)?;
        non_empty("client_secret", self.credentials.client_secret.secret())?;
        #[derive(Serialize)]
        struct Body<'a> {
            client_id: &'a str,
            client_secret: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            token: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            sub: Option<&'a str>,
        }
        let (token, sub) = match &self.target {
            Revocable::RefreshToken(t) => (Some(t.secret()), None),
            Revocable::AccessToken(t) => (Some(t.secret()), None),
            Revocable::Sub(s) => (None, Some(s.as_str())),
        };
        non_empty(
            if sub.is_some() { "sub" } else { "token" },
            token.or(sub).unwrap_or(""),
        )?;
        token_request(
            "oauth/token/revoke",
            ctx,
            &Body {
                client_id: &self.credentials.client_id,
                client_secret: self.credentials.client_secret.secret(),
                token,
                sub,
            },
        )
    }

    fn parse_response(
        &self,
        response: HttpResponse,
        _ctx: &RequestContext<'_>,
    ) -> Result<(), ResponseError> {
        success_body(response, true)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ApiError, OAuthErrorCode};
    use crate::secret::ClientSecret;

    fn creds() -> ClientCredentials {
        ClientCredentials::new("cid", ClientSecret::new("cs_secret"))
    }

    fn ctx_api() -> BaseUrl {
        BaseUrl::parse("https://api.cronofy.com").unwrap()
    }

    #[test]
    fn authorize_url_with_every_option() {
        let auth =
            AuthorizationRequest::new("cid", "https://a.example.com/cb?x=1", ["read_account"])
                .state("s")
                .avoid_linking(true)
                .provider_name("google")
                .link_token("lt")
                .build()
                .unwrap();
        let url = auth.url(&BaseUrl::parse("https://app.cronofy.com").unwrap());
        assert_eq!(
            url.as_str(),
            "https://app.cronofy.com/oauth/authorize?response_type=code&client_id=cid&redirect_uri=https%3A%2F%2Fa.example.com%2Fcb%3Fx%3D1&scope=read_account&state=s&avoid_linking=true&link_token=lt&provider_name=google"
        );
        assert_eq!(
            AuthorizationRequest::new("", "https://a.example.com", ["x"]).build(),
            Err(BuildError::Empty { field: "client_id" })
        );
        assert_eq!(
            AuthorizationRequest::new("c", "https://a.example.com", Vec::<String>::new()).build(),
            Err(BuildError::Empty { field: "scope" })
        );
    }

    #[test]
    fn authorization_callback() {
        let auth = AuthorizationRequest::new("cid", "https://a.example.com/cb", ["read_account"])
            .state("st")
            .build()
            .unwrap();
        assert_eq!(
            auth.parse_callback("https://a.example.com/cb?code=c0de&state=st"),
            Ok(AuthorizationOutcome::Granted {
                code: AuthorizationCode::new("c0de")
            })
        );
        assert_eq!(
            auth.parse_callback("https://a.example.com/cb?error=access_denied&state=st"),
            Ok(AuthorizationOutcome::Denied)
        );
        assert_eq!(
            auth.parse_callback("https://a.example.com/cb?code=c0de&state=zz"),
            Err(CallbackError::StateMismatch)
        );
        assert_eq!(
            auth.parse_callback("https://a.example.com/cb?state=st"),
            Err(CallbackError::MissingCode)
        );
    }

    #[test]
    fn token_requests_and_responses() {
        let api = ctx_api();
        let ctx = RequestContext::new(&api);
        let exchange = ExchangeCode::new(
            creds(),
            AuthorizationCode::new("c0de"),
            "https://a.example.com/cb",
        );
        let req = exchange.to_request(&ctx).unwrap();
        assert_eq!(req.uri(), "https://api.cronofy.com/oauth/token");
        let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(body["grant_type"], "authorization_code");
        assert_eq!(body["code"], "c0de");
        assert!(!exchange.idempotent());
        assert!(!format!("{exchange:?}").contains("c0de"));
        assert!(!format!("{exchange:?}").contains("cs_secret"));

        let full =
            TokenResponse::parse(include_bytes!("../tests/fixtures/token_response.docs.json"))
                .unwrap();
        assert_eq!(
            full.access_token.secret(),
            "P531x88i05Ld2yXHIQ7WjiEyqlmOHsgI"
        );
        assert_eq!(full.sub.as_deref(), Some("acc_5ba21743f408617d1269ea1e"));
        assert_eq!(
            full.linking_profile.unwrap().provider_name,
            ProviderName::Google
        );
        let refresh = TokenResponse::parse(include_bytes!(
            "../tests/fixtures/sdk/node__token_refresh__response.json"
        ))
        .unwrap();
        assert_eq!(refresh.account_id, None);
        assert_eq!(refresh.scopes().collect::<Vec<_>>(), ["create_event"]);

        let bad = http::Response::builder()
            .status(400)
            .body(
                include_bytes!("../tests/fixtures/sdk/csharp__token__error_400_invalid_grant.json")
                    .to_vec(),
            )
            .unwrap();
        assert_eq!(
            exchange.parse_response(
                bad,
                &RequestContext::new(crate::data_center::DataCenter::Us.hosts().api())
            ),
            Err(ResponseError::Api(ApiError::BadRequest {
                code: OAuthErrorCode::InvalidGrant,
                description: None
            }))
        );
        // A broken token body is reported without quoting it.
        let broken = http::Response::builder()
            .status(200)
            .body(br#"{"access_token": 12345678, "token_type": "bearer"}"#.to_vec())
            .unwrap();
        let err = exchange
            .parse_response(
                broken,
                &RequestContext::new(crate::data_center::DataCenter::Us.hosts().api()),
            )
            .unwrap_err();
        assert!(!err.to_string().contains("12345678"), "{err}");
    }

    #[test]
    fn revoke_bodies() {
        let api = ctx_api();
        let ctx = RequestContext::new(&api);
        let revoke = RevokeToken::new(creds(), Revocable::Sub("acc_1".into()));
        let req = revoke.to_request(&ctx).unwrap();
        assert_eq!(req.uri(), "https://api.cronofy.com/oauth/token/revoke");
        assert_eq!(
            req.body(),
            br#"{"client_id":"cid","client_secret":"cs_secret","sub":"acc_1"}"#
        );
        let ok = http::Response::builder()
            .status(200)
            .body(Vec::new())
            .unwrap();
        assert_eq!(
            revoke.parse_response(
                ok,
                &RequestContext::new(crate::data_center::DataCenter::Us.hosts().api())
            ),
            Ok(())
        );
        let empty = RevokeToken::new(creds(), Revocable::RefreshToken(RefreshToken::new("")));
        assert_eq!(
            empty.to_request(&ctx).unwrap_err(),
            BuildError::Empty { field: "token" }
        );
    }
}
