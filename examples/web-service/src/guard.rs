//! Cross-site request defences: an `Origin` / `Sec-Fetch-Site` check on every request that is
//! not a GET, a per-session form token on every form, and headers that keep the pages out of
//! other sites' frames.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq as _;

use crate::{AppState, html};

/// The form field that carries the session's form token.
pub(crate) const FORM_TOKEN: &str = "csrf";

/// Refuses a state-changing request that a browser says comes from another site.
///
/// `Sec-Fetch-Site` (sent by current browsers) must be `same-origin` (or `none`: typed by the
/// user); `Origin`, when sent, must be this app's own origin. Same-site sibling subdomains pass
/// `SameSite=Lax`, but not this check. Clients that send neither header (curl) still need the
/// session's form token.
pub(crate) async fn same_origin_only(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && !from_this_origin(&state, request.headers()) {
        return html::error(
            StatusCode::FORBIDDEN,
            "Refused",
            "This form was sent from another site, so it was refused and nothing was changed.",
        );
    }
    next.run(request).await
}

fn from_this_origin(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return false;
        }
    }
    match headers.get(header::ORIGIN) {
        None => true,
        Some(origin) => origin.as_bytes() == state.origin().as_bytes(),
    }
}

/// Whether the form carries the session's form token, `expected` (compared in constant time).
/// Only for a session that has a token: a visitor with no session has none, and only
/// `POST /connect` accepts them, without calling this.
pub(crate) fn form_token_matches(expected: &str, form: &[(String, String)]) -> bool {
    form.iter()
        .find(|(name, _)| name == FORM_TOKEN)
        .is_some_and(|(_, sent)| bool::from(sent.as_bytes().ct_eq(expected.as_bytes())))
}

/// `X-Frame-Options` and a content security policy on every response: no framing, no script,
/// no outside resource.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
             base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
