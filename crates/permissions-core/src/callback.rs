//! Step 6: the user comes back to `redirect_uri`, after accepting or rejecting.
//!
//! The URL the user came back on is untrusted input: anyone can craft a link to the app's
//! callback. It is accepted only when it is the `redirect_uri` that was sent (scheme, host,
//! port and path equal, every original query parameter still there) and, when the app put a
//! state value into `redirect_uri`, when it carries that same state (compared in constant
//! time). Only then is `error` read: `access_denied` means the user rejected; another code is
//! an error; no `error` means accepted (Cronofy documents no parameter for acceptance).
//!
//! ```
//! use permissions_core::{CallbackCheck, CallbackOutcome, CallbackError};
//! let check = CallbackCheck::new("https://app.example.com/permission", Some("s3cr3t-state")).unwrap();
//! assert_eq!(check.redirect_uri().as_str(), "https://app.example.com/permission?state=s3cr3t-state");
//! assert_eq!(check.parse("https://app.example.com/permission?state=s3cr3t-state"), Ok(CallbackOutcome::Accepted));
//! assert_eq!(
//!     check.parse("https://app.example.com/permission?state=s3cr3t-state&error=access_denied"),
//!     Ok(CallbackOutcome::Rejected)
//! );
//! assert_eq!(check.parse("https://app.example.com/permission?state=forged"), Err(CallbackError::StateMismatch));
//! ```

use url::Url;

use crate::error::{BuildError, clean_snippet};
use crate::permissions::{add_state, parse_redirect_uri};
use crate::secret::constant_time_eq;

/// What the user decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackOutcome {
    /// The user accepted: the calendars are now `unrestricted`.
    Accepted,
    /// The user rejected (`error=access_denied`).
    Rejected,
}

/// Which part of the URL differs from the `redirect_uri` that was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The scheme differs.
    Scheme,
    /// The host differs.
    Host,
    /// The port differs.
    Port,
    /// The path differs.
    Path,
    /// A query parameter of the `redirect_uri` is missing or has another value.
    QueryParameter {
        /// Its name (at most 64 characters).
        name: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Scheme => f.write_str("scheme differs"),
            Self::Host => f.write_str("host differs"),
            Self::Port => f.write_str("port differs"),
            Self::Path => f.write_str("path differs"),
            Self::QueryParameter { name } => {
                write!(f, "query parameter {name:?} is missing or changed")
            }
        }
    }
}

/// Why a returned URL was not accepted as a callback.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// Not an absolute URL.
    #[error("callback URL is not an absolute URL")]
    InvalidUrl,
    /// Not the `redirect_uri` that was sent.
    #[error("callback URL does not match the redirect_uri: {0}")]
    RedirectMismatch(Mismatch),
    /// The state value is missing.
    #[error("callback URL carries no state value")]
    MissingState,
    /// The state value differs (or appears more than once): possibly a forged link.
    #[error("callback state does not match the state that was sent")]
    StateMismatch,
    /// The callback carries an `error` other than `access_denied`.
    #[error("callback reports error {code:?}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Error {
        /// The `error` value (at most 64 characters).
        code: String,
        /// `error_description`, if present (at most 200 characters).
        description: Option<String>,
    },
    /// An authorization callback with neither `code` nor `error`.
    #[error("authorization callback carries no code")]
    MissingCode,
}

impl CallbackError {
    /// A stable, machine-readable name: `redirect_mismatch` (also for an invalid URL),
    /// `state_mismatch` (also for a missing state) or `callback_error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidUrl | Self::RedirectMismatch(_) => "redirect_mismatch",
            Self::MissingState | Self::StateMismatch => "state_mismatch",
            Self::Error { .. } | Self::MissingCode => "callback_error",
        }
    }
}

/// What a permissions callback must match: the `redirect_uri` as sent and its state value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackCheck {
    redirect_uri: Url,
    state: Option<String>,
}

impl CallbackCheck {
    /// From the `redirect_uri` given to the request (with or without its state parameter) and
    /// the state value, if one was used. The state is added to the URI as
    /// [`crate::PermissionsRequestBuilder::state`] does, unless it is already there; a URI
    /// carrying a different state is refused.
    pub fn new(redirect_uri: &str, state: Option<&str>) -> Result<Self, BuildError> {
        let mut url = parse_redirect_uri(redirect_uri).map_err(BuildError::RedirectUri)?;
        if let Some(state) = state {
            add_state(&mut url, state).map_err(BuildError::State)?;
        }
        Ok(Self {
            redirect_uri: url,
            state: state.map(str::to_owned),
        })
    }

    /// The `redirect_uri` as it was sent.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Reads the URL the user came back on.
    pub fn parse(&self, returned_url: &str) -> Result<CallbackOutcome, CallbackError> {
        parse_permissions_callback(returned_url, &self.redirect_uri, self.state.as_deref())
    }
}

/// Reads the URL the user came back on after the permissions page.
///
/// `redirect_uri` is the URI exactly as sent; `expected_state`, the state value put into it (its
/// `state` parameter is then checked separately, in constant time).
pub fn parse_permissions_callback(
    returned_url: &str,
    redirect_uri: &Url,
    expected_state: Option<&str>,
) -> Result<CallbackOutcome, CallbackError> {
    let returned = check_return(returned_url, redirect_uri, expected_state)?;
    match provider_error(&returned) {
        None => Ok(CallbackOutcome::Accepted),
        Some(Ok(())) => Ok(CallbackOutcome::Rejected),
        Some(Err(e)) => Err(e),
    }
}

/// Checks that `returned_url` is `redirect_uri` (plus parameters) and carries the state.
/// Returns the parsed URL.
pub(crate) fn check_return(
    returned_url: &str,
    redirect_uri: &Url,
    expected_state: Option<&str>,
) -> Result<Url, CallbackError> {
    let returned = Url::parse(returned_url.trim()).map_err(|_| CallbackError::InvalidUrl)?;
    let mismatch = |m| Err(CallbackError::RedirectMismatch(m));
    if returned.scheme() != redirect_uri.scheme() {
        return mismatch(Mismatch::Scheme);
    }
    if returned.host() != redirect_uri.host() {
        return mismatch(Mismatch::Host);
    }
    if returned.port_or_known_default() != redirect_uri.port_or_known_default() {
        return mismatch(Mismatch::Port);
    }
    if returned.path() != redirect_uri.path() {
        return mismatch(Mismatch::Path);
    }
    // Query pairs are walked lazily, borrowing from the URL: a return has a handful of
    // parameters, and allocating them all costs more than scanning twice.
    for (name, value) in redirect_uri.query_pairs() {
        if expected_state.is_some() && name == "state" {
            continue;
        }
        if !returned.query_pairs().any(|(k, v)| k == name && v == value) {
            return mismatch(Mismatch::QueryParameter {
                name: clean_snippet(&name, 64),
            });
        }
    }
    if let Some(expected) = expected_state {
        let mut states = returned.query_pairs().filter(|(k, _)| k == "state");
        match (states.next(), states.next()) {
            (None, _) => return Err(CallbackError::MissingState),
            (Some((_, got)), None) if constant_time_eq(&got, expected) => {}
            _ => return Err(CallbackError::StateMismatch),
        }
    }
    Ok(returned)
}

/// The first value of parameter `name` in `url`'s query.
pub(crate) fn query_param<'u>(url: &'u Url, name: &str) -> Option<std::borrow::Cow<'u, str>> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// `None`: no `error`. `Some(Ok(()))`: `access_denied`. `Some(Err(_))`: another error.
pub(crate) fn provider_error(returned: &Url) -> Option<Result<(), CallbackError>> {
    let code = query_param(returned, "error")?;
    if code == "access_denied" {
        return Some(Ok(()));
    }
    let description = query_param(returned, "error_description").map(|v| clean_snippet(&v, 200));
    Some(Err(CallbackError::Error {
        code: clean_snippet(&code, 64),
        description,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(uri: &str, state: Option<&str>) -> CallbackCheck {
        CallbackCheck::new(uri, state).unwrap()
    }

    #[test]
    fn accepted_rejected_and_other_errors() {
        let c = check("http://www.example.com/permission", None);
        assert_eq!(
            c.parse("http://www.example.com/permission"),
            Ok(CallbackOutcome::Accepted)
        );
        assert_eq!(
            c.parse("http://www.example.com/permission?error=access_denied"),
            Ok(CallbackOutcome::Rejected)
        );
        assert_eq!(
            c.parse("http://www.example.com/permission?error=server_error&error_description=Try+again%21"),
            Err(CallbackError::Error {
                code: "server_error".into(),
                description: Some("Try again!".into())
            })
        );
    }

    #[test]
    fn must_be_the_redirect_uri() {
        let c = check("https://app.example.com:8443/cb?tenant=a%20b", None);
        let ok = "https://app.example.com:8443/cb?tenant=a+b&error=access_denied";
        assert_eq!(c.parse(ok), Ok(CallbackOutcome::Rejected));
        let cases = [
            (
                "http://app.example.com:8443/cb?tenant=a+b",
                Mismatch::Scheme,
            ),
            (
                "https://evil.example.com:8443/cb?tenant=a+b",
                Mismatch::Host,
            ),
            ("https://app.example.com/cb?tenant=a+b", Mismatch::Port),
            (
                "https://app.example.com:8443/cb2?tenant=a+b",
                Mismatch::Path,
            ),
            (
                "https://app.example.com:8443/cb",
                Mismatch::QueryParameter {
                    name: "tenant".into(),
                },
            ),
            (
                "https://app.example.com:8443/cb?tenant=other",
                Mismatch::QueryParameter {
                    name: "tenant".into(),
                },
            ),
        ];
        for (url, m) in cases {
            assert_eq!(
                c.parse(url),
                Err(CallbackError::RedirectMismatch(m)),
                "{url}"
            );
        }
        assert_eq!(c.parse("not a url"), Err(CallbackError::InvalidUrl));
        // Default ports are the same port.
        let c = check("https://app.example.com/cb", None);
        assert_eq!(
            c.parse("https://app.example.com:443/cb"),
            Ok(CallbackOutcome::Accepted)
        );
    }

    #[test]
    fn state_is_checked_before_the_answer_is_read() {
        let c = check("https://app.example.com/cb", Some("st ate/1"));
        assert_eq!(
            c.parse("https://app.example.com/cb?state=st+ate%2F1"),
            Ok(CallbackOutcome::Accepted)
        );
        assert_eq!(
            c.parse("https://app.example.com/cb?error=access_denied"),
            Err(CallbackError::MissingState)
        );
        assert_eq!(
            c.parse("https://app.example.com/cb?state=other&error=access_denied"),
            Err(CallbackError::StateMismatch)
        );
        assert_eq!(
            c.parse("https://app.example.com/cb?state=st+ate%2F1&state=x"),
            Err(CallbackError::StateMismatch)
        );
        // A URI that already carries the state is not given it twice.
        let again = check(c.redirect_uri().as_str(), Some("st ate/1"));
        assert_eq!(again.redirect_uri(), c.redirect_uri());
    }
}
