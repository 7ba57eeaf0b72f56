//! The rules for a `redirect_uri` (where Cronofy sends the user back) and the state value an
//! app carries in it, shared by the OAuth step (1), the permissions request (4) and the return
//! (6).

use url::Url;

use crate::error::{StateProblem, UriProblem};

/// The longest state value accepted, in bytes.
pub(crate) const MAX_STATE_LEN: usize = 512;

/// Puts `state` into `redirect_uri` as its `state` query parameter. A URI that already carries
/// exactly this state is left as it is (so the `redirect_uri` as sent may be given back); one
/// that carries another is refused, as the user's return could never match.
pub(crate) fn add_state(redirect_uri: &mut Url, state: &str) -> Result<(), StateProblem> {
    validate_state(state)?;
    let mut present = redirect_uri.query_pairs().filter(|(k, _)| k == "state");
    match (present.next(), present.next()) {
        (None, _) => {
            redirect_uri.query_pairs_mut().append_pair("state", state);
            Ok(())
        }
        (Some((_, v)), None) if v == state => Ok(()),
        _ => Err(StateProblem::Conflict),
    }
}

/// The parameters a permissions `redirect_uri` must not carry: Cronofy adds `error` on the way
/// back, and `code` is what an OAuth return carries (an app serving both returns on one route
/// could not tell them apart).
pub(crate) const PERMISSIONS_RESERVED: &[&str] = &["error", "code"];

/// A permissions request's `redirect_uri`, checked once for the request and for the check of
/// the user's return: a valid URI (see [`parse_redirect_uri`]) with none of the
/// [`PERMISSIONS_RESERVED`] parameters, carrying `state` (added unless it is already there) or,
/// with none, any state written into it by hand valid.
pub(crate) fn permissions_redirect_uri(
    raw: &str,
    state: Option<&str>,
) -> Result<Url, crate::error::BuildError> {
    use crate::error::BuildError;
    let mut url = parse_redirect_uri(raw).map_err(BuildError::RedirectUri)?;
    refuse_reserved(&url, PERMISSIONS_RESERVED).map_err(BuildError::RedirectUri)?;
    match state {
        Some(state) => add_state(&mut url, state).map_err(BuildError::State)?,
        None => validate_written_state(&url).map_err(BuildError::State)?,
    }
    Ok(url)
}

/// Checks every `state` written into `redirect_uri` by hand as [`validate_state`] does: an
/// empty one (`?state=`) would let a bare return pass.
pub(crate) fn validate_written_state(redirect_uri: &Url) -> Result<(), StateProblem> {
    redirect_uri
        .query_pairs()
        .filter(|(k, _)| k == "state")
        .try_for_each(|(_, v)| validate_state(&v))
}

/// `url` as text with every `state` value replaced by `[redacted]`, for `Debug`.
pub(crate) fn redacted_url(url: &Url) -> String {
    if !url.query_pairs().any(|(k, _)| k == "state") {
        return url.as_str().to_owned();
    }
    let mut shown = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                crate::secret::REDACTED.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    shown.query_pairs_mut().clear().extend_pairs(pairs);
    shown.as_str().to_owned()
}

/// A redirect URI as given (not yet validated), for `Debug`: with every `state` value redacted
/// when it parses, and with its query (where a state may be written by hand) cut off when it
/// does not.
pub(crate) fn redacted_raw_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(url) => redacted_url(&url),
        Err(_) => match raw.split_once(['?', '#']) {
            Some((before, _)) => format!("{before}?[redacted]"),
            None => raw.to_owned(),
        },
    }
}

/// Validates a state value: non-empty, at most [`MAX_STATE_LEN`] bytes.
pub(crate) fn validate_state(state: &str) -> Result<(), StateProblem> {
    if state.is_empty() {
        Err(StateProblem::Empty)
    } else if state.len() > MAX_STATE_LEN {
        Err(StateProblem::TooLong)
    } else {
        Ok(())
    }
}

/// Parses a URI that the user's browser will be sent to: absolute `http`/`https` with a host, no
/// fragment, no user-info, and no white space or control characters (which URL parsers silently
/// drop: nothing is guessed).
pub(crate) fn parse_redirect_uri(raw: &str) -> Result<Url, UriProblem> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UriProblem::InvalidCharacter);
    }
    let url = parse_web_url(raw)?;
    if url.fragment().is_some() {
        return Err(UriProblem::Fragment);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UriProblem::UserInfo);
    }
    Ok(url)
}

/// Refuses a URI carrying any of `names` as a query parameter: Cronofy adds them on the way
/// back, and two of them would make the return ambiguous (or forge its answer).
pub(crate) fn refuse_reserved(url: &Url, names: &[&'static str]) -> Result<(), UriProblem> {
    for (key, _) in url.query_pairs() {
        if let Some(name) = names.iter().find(|n| **n == key) {
            return Err(UriProblem::ReservedParameter(name));
        }
    }
    Ok(())
}

/// An absolute `http` or `https` URL with a host.
pub(crate) fn parse_web_url(raw: &str) -> Result<Url, UriProblem> {
    let url = Url::parse(raw).map_err(|_| UriProblem::NotAUrl)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UriProblem::Scheme);
    }
    match url.host_str() {
        Some(h) if !h.is_empty() => Ok(url),
        _ => Err(UriProblem::NoHost),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unparsable_redirect_uri_shows_no_query_in_debug() {
        for (raw, shown) in [
            ("/cb?state=SECRET", "/cb?[redacted]"),
            ("not a url#state=SECRET", "not a url?[redacted]"),
            ("/cb", "/cb"),
            (
                "https://app.example.com/cb?state=SECRET&t=1",
                "https://app.example.com/cb?state=%5Bredacted%5D&t=1",
            ),
        ] {
            assert_eq!(super::redacted_raw_url(raw), shown);
        }
    }
}
