//! Step 6: the user comes back to `redirect_uri`, after accepting or rejecting.
//!
//! The URL the user came back on is untrusted input: anyone can craft a link to the app's
//! callback. It is accepted only when it is the `redirect_uri` that was sent (scheme, host,
//! port and path equal; each of its own query parameters back with exactly the values it had,
//! none repeated or added) and, when the app put a state value into `redirect_uri` (with
//! [`crate::PermissionsRequestBuilder::state`], [`CallbackCheck::new`] or by hand), when it
//! carries that same state exactly once. Every value is compared in constant time. Only then
//! is `error` read: `access_denied` means the user rejected; another code is an error; no
//! `error` means accepted.
//!
//! **What [`CallbackOutcome::Accepted`] means, plainly: no `error` came back.** Cronofy
//! documents no parameter for acceptance, so a user who closed the page and typed the return
//! URL by hand (with the right state) reads as accepted too. An app confirms by listing the
//! calendars ([`crate::ListCalendars`]) and looking at their `permission_level`, as the web
//! example does.
//!
//! ```
//! use permissions_core::{CallbackCheck, CallbackOutcome, error::CallbackError};
//! let check = CallbackCheck::new("https://app.example.com/permission", Some("s3cr3t-state")).unwrap();
//! assert_eq!(check.redirect_uri().as_str(), "https://app.example.com/permission?state=s3cr3t-state");
//! assert_eq!(check.parse("https://app.example.com/permission?state=s3cr3t-state"), Ok(CallbackOutcome::Accepted));
//! assert_eq!(
//!     check.parse("https://app.example.com/permission?state=s3cr3t-state&error=access_denied"),
//!     Ok(CallbackOutcome::Rejected)
//! );
//! assert_eq!(check.parse("https://app.example.com/permission?state=forged"), Err(CallbackError::StateMismatch));
//! ```

use std::borrow::Cow;

use url::Url;

use crate::error::{BuildError, CallbackError, Mismatch, clean_snippet};
use crate::redirect_uri::{permissions_redirect_uri, redacted_url};
use crate::secret::{REDACTED, constant_time_eq};

/// What the user decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackOutcome {
    /// No `error` came back, which is how Cronofy says the user accepted. It is not proof:
    /// confirm by listing the calendars and reading their `permission_level`.
    Accepted,
    /// The user rejected (`error=access_denied`).
    Rejected,
}

/// What a permissions callback must match: the `redirect_uri` as sent and its state value.
///
/// `Debug` shows the state (and the `state` parameter of the URI) as `[redacted]`: it is the
/// CSRF secret of the user's session.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackCheck {
    redirect_uri: Url,
    state: Option<String>,
    /// The `redirect_uri`'s own query parameters (the state aside), decoded once.
    required: Vec<(Cow<'static, str>, Cow<'static, str>)>,
}

impl CallbackCheck {
    /// From the `redirect_uri` given to the request (with or without its state parameter) and
    /// the state value, if one was used. The state is added to the URI as
    /// [`crate::PermissionsRequestBuilder::state`] does, unless it is already there; a URI
    /// carrying a different state is refused.
    ///
    /// With `None`, a `state` written into the URI by hand is checked as a state: it must come
    /// back exactly once, with the same value.
    ///
    /// # Errors
    /// What [`crate::PermissionsRequestBuilder::build`] refuses: an invalid URI, one carrying a
    /// parameter Cronofy adds on the way back (`error`, and `code`, which an OAuth return
    /// carries), an empty or too long state, a URI carrying a different state.
    pub fn new(redirect_uri: &str, state: Option<&str>) -> Result<Self, BuildError> {
        let url = permissions_redirect_uri(redirect_uri, state)?;
        let required = required_params(&url, state.is_some())
            .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
            .collect();
        Ok(Self {
            redirect_uri: url,
            state: state.map(str::to_owned),
            required,
        })
    }

    /// The `redirect_uri` as it was sent.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Reads the URL the user came back on.
    pub fn parse(&self, returned_url: &str) -> Result<CallbackOutcome, CallbackError> {
        check_return(
            returned_url,
            &self.redirect_uri,
            &self.required,
            self.state.as_deref(),
            permissions_answer,
        )
    }
}

impl std::fmt::Debug for CallbackCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackCheck")
            .field("redirect_uri", &redacted_url(&self.redirect_uri))
            .field("state", &self.state.as_ref().map(|_| REDACTED))
            .field("required", &self.required)
            .finish()
    }
}

/// Reads the URL the user came back on after the permissions page.
///
/// `redirect_uri` is the URI exactly as sent; `expected_state`, the state value put into it (its
/// `state` parameter is then checked separately, in constant time).
pub(crate) fn parse_permissions_callback(
    returned_url: &str,
    redirect_uri: &Url,
    expected_state: Option<&str>,
) -> Result<CallbackOutcome, CallbackError> {
    let required: Vec<_> = required_params(redirect_uri, expected_state.is_some()).collect();
    check_return(
        returned_url,
        redirect_uri,
        &required,
        expected_state,
        permissions_answer,
    )
}

/// What a checked permissions return says.
fn permissions_answer(params: ReturnParams<'_>) -> Result<CallbackOutcome, CallbackError> {
    match params.provider_error() {
        None => Ok(CallbackOutcome::Accepted),
        Some(Ok(())) => Ok(CallbackOutcome::Rejected),
        Some(Err(e)) => Err(e),
    }
}

/// The query parameters of `redirect_uri` a return must keep: all of them, but `state` when it
/// is checked on its own.
pub(crate) fn required_params(
    redirect_uri: &Url,
    state_checked: bool,
) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    redirect_uri
        .query_pairs()
        .filter(move |(k, _)| !(state_checked && k == "state"))
}

/// The parameters of a return that the flow reads, from one pass over its query (values
/// borrowed from the URL unless percent-decoding had to allocate).
pub(crate) struct ReturnParams<'u> {
    states: usize,
    state: Option<Cow<'u, str>>,
    error: Option<Cow<'u, str>>,
    error_description: Option<Cow<'u, str>>,
    /// The first `code` (redirect URIs carrying their own `code` are refused when built).
    pub(crate) code: Option<Cow<'u, str>>,
}

impl<'u> ReturnParams<'u> {
    /// Keeps `value` when `name` is one the flow reads (the first of each; `state`s counted).
    fn take(&mut self, name: &str, value: Cow<'u, str>) {
        let slot = match name {
            "state" => {
                self.states += 1;
                &mut self.state
            }
            "error" => &mut self.error,
            "error_description" => &mut self.error_description,
            "code" => &mut self.code,
            _ => return,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }

    /// `None`: no `error`. `Some(Ok(()))`: `access_denied`. `Some(Err(_))`: another error.
    pub(crate) fn provider_error(&self) -> Option<Result<(), CallbackError>> {
        let code = self.error.as_deref()?;
        if code == "access_denied" {
            return Some(Ok(()));
        }
        Some(Err(CallbackError::Error {
            code: clean_snippet(code, 64),
            description: self
                .error_description
                .as_deref()
                .map(|d| clean_snippet(d, 200)),
        }))
    }
}

/// How one parameter of the redirect URI came back: how many of its values so far, and
/// whether each matched the one expected at its place.
#[derive(Clone, Copy)]
struct Tally {
    back: usize,
    same: bool,
}

/// Parameters of a redirect URI tallied on the stack; a URI with more uses the heap.
const STACK_TALLIES: usize = 8;

/// Checks that `returned_url` is `redirect_uri` (plus parameters) and carries the state, then
/// hands its parameters to `read`. `required` lists the redirect URI's parameters to keep, in
/// order, repeated names included.
pub(crate) fn check_return<R>(
    returned_url: &str,
    redirect_uri: &Url,
    required: &[(Cow<'_, str>, Cow<'_, str>)],
    expected_state: Option<&str>,
    read: impl FnOnce(ReturnParams<'_>) -> Result<R, CallbackError>,
) -> Result<R, CallbackError> {
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
    // Each parameter of the redirect URI must come back with exactly its values, in order:
    // `?tenant=a` returned as `?tenant=a&tenant=evil` is a mismatch (a reader of the first or
    // of the last value would disagree). A `state` written into the URI by hand is one of
    // them, and fails as a state. Values are compared in constant time. One pass over the
    // returned query does this and reads the flow's own parameters; each name's tally sits at
    // the index of its first occurrence in `required`.
    let mut on_stack = [Tally {
        back: 0,
        same: true,
    }; STACK_TALLIES];
    let mut on_heap = Vec::new();
    let tallies: &mut [Tally] = if required.len() <= STACK_TALLIES {
        &mut on_stack[..required.len()]
    } else {
        on_heap.resize(
            required.len(),
            Tally {
                back: 0,
                same: true,
            },
        );
        &mut on_heap
    };
    let mut params = ReturnParams {
        states: 0,
        state: None,
        error: None,
        error_description: None,
        code: None,
    };
    for (name, value) in returned.query_pairs() {
        if let Some(first) = required.iter().position(|(n, _)| *n == name) {
            let tally = &mut tallies[first];
            let expected = required[first..]
                .iter()
                .filter(|(n, _)| *n == name)
                .nth(tally.back);
            match expected {
                // `&` (not `&&`): every value is compared, whatever came before.
                Some((_, e)) => tally.same &= constant_time_eq(e, &value),
                None => tally.same = false,
            }
            tally.back += 1;
        }
        params.take(&name, value);
    }
    for (i, (name, _)) in required.iter().enumerate() {
        if required[..i].iter().any(|(n, _)| n == name) {
            continue;
        }
        let expected = required[i..].iter().filter(|(n, _)| n == name).count();
        let Tally { back, same } = tallies[i];
        if same && back == expected {
            continue;
        }
        if name == "state" {
            return Err(if back > 0 {
                CallbackError::StateMismatch
            } else {
                CallbackError::MissingState
            });
        }
        return mismatch(Mismatch::QueryParameter {
            name: clean_snippet(name, 64),
        });
    }
    if let Some(expected) = expected_state {
        match (&params.state, params.states) {
            (None, _) => return Err(CallbackError::MissingState),
            (Some(got), 1) if constant_time_eq(got, expected) => {}
            _ => return Err(CallbackError::StateMismatch),
        }
    }
    read(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(uri: &str, state: Option<&str>) -> CallbackCheck {
        CallbackCheck::new(uri, state).unwrap()
    }

    #[test]
    fn a_redirect_uri_with_more_parameters_than_the_stack_tallies_is_checked_whole() {
        // Twelve parameters (past `STACK_TALLIES`), two names repeated: the heap path.
        let query: Vec<String> = (0..10)
            .map(|i| format!("p{i}={i}"))
            .chain(["p3=again".into(), "p7=again".into()])
            .collect();
        let uri = format!("https://app.example.com/cb?{}", query.join("&"));
        assert!(query.len() > STACK_TALLIES);
        let check = check(&uri, Some("st"));
        let back = |q: &str| check.parse(&format!("https://app.example.com/cb?{q}&state=st"));
        assert_eq!(back(&query.join("&")), Ok(CallbackOutcome::Accepted));
        let mut rotated = query.clone();
        rotated.rotate_left(2);
        assert_eq!(
            back(&rotated.join("&")),
            Ok(CallbackOutcome::Accepted),
            "other names between"
        );
        let swapped = query
            .join("&")
            .replace("p7=7", "p7=x")
            .replace("p7=again", "p7=7");
        let mismatch = |name: &str| {
            Err(CallbackError::RedirectMismatch(Mismatch::QueryParameter {
                name: name.into(),
            }))
        };
        assert_eq!(
            back(&swapped),
            mismatch("p7"),
            "a repeated name's values keep their order"
        );
        assert_eq!(
            back(&query[..11].join("&")),
            mismatch("p7"),
            "one value of p7 missing"
        );
        assert_eq!(back(&format!("{}&p9=9", query.join("&"))), mismatch("p9"));
        assert_eq!(back(&query[1..].join("&")), mismatch("p0"));
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
