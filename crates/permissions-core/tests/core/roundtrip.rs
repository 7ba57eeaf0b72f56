//! A permissions request reads back to what it was built from, and the user's return to its
//! `redirect_uri` reads back as what the user decided.

use permissions_core::error::*;
use permissions_core::transport::*;
use permissions_core::url::Url;
use permissions_core::*;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::strategies::{RedirectUri, calendar_ids, redirect_uri, state};

/// The ids without repeats, in the order first seen: what the body must list.
fn dedup(ids: &[String]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for id in ids {
        if !seen.contains(id) {
            seen.push(id.clone());
        }
    }
    seen
}

/// `url` with `error=access_denied` added, as Cronofy does on a rejection.
fn with_error(url: &Url, code: &str) -> String {
    let mut rejected = url.clone();
    rejected.query_pairs_mut().append_pair("error", code);
    rejected.into()
}

fn build(ids: &[String], uri: &RedirectUri, state: Option<&str>) -> PermissionsRequest {
    let mut builder = PermissionsRequest::builder()
        .calendars(ids.iter().cloned())
        .redirect_uri(uri.raw.clone());
    if let Some(state) = state {
        builder = builder.state(state);
    }
    builder
        .build()
        .unwrap_or_else(|e| panic!("valid input {ids:?} {:?} refused: {e}", uri.raw))
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn body_reads_back_to_the_ids_and_the_redirect_uri(
        ids in calendar_ids(),
        uri in redirect_uri(),
        state in prop::option::of(state()),
    ) {
        let request = build(&ids, &uri, state.as_deref());

        // The redirect URI is the given one, as a URL parser reads it, with the state added
        // as the last query parameter.
        let given = Url::parse(&uri.raw).expect("generated URIs parse");
        let sent = request.redirect_uri();
        prop_assert_eq!(sent.scheme(), given.scheme());
        prop_assert_eq!(sent.host(), given.host());
        prop_assert_eq!(sent.port_or_known_default(), given.port_or_known_default());
        prop_assert_eq!(sent.path(), given.path());
        let mut expected_query = uri.query.clone();
        if let Some(state) = &state {
            expected_query.push(("state".to_owned(), state.clone()));
        }
        let sent_query: Vec<(String, String)> =
            sent.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        prop_assert_eq!(sent_query, expected_query);
        prop_assert_eq!(request.state(), state.as_deref());

        // The body, read by serde_json, is exactly the documented shape.
        let body: Value = serde_json::from_slice(&request.body()).expect("the body is JSON");
        let permissions: Vec<Value> = dedup(&ids)
            .into_iter()
            .map(|id| json!({"calendar_id": id, "permission_level": "unrestricted"}))
            .collect();
        prop_assert_eq!(
            body,
            json!({"permissions": permissions, "redirect_uri": sent.as_str()})
        );
        let listed: Vec<&str> =
            request.permissions().iter().map(|p| p.calendar_id.as_str()).collect();
        prop_assert_eq!(listed, dedup(&ids));

        // The HTTP request carries that body to `/v1/permissions`.
        let api = DataCenter::Uk.hosts().api().clone();
        let token = AccessToken::new("tok");
        let http = request
            .to_request(&RequestContext::new(&api).with_access_token(&token))
            .expect("a valid request builds");
        prop_assert_eq!(http.method(), http::Method::POST);
        prop_assert_eq!(http.uri().to_string(), "https://api-uk.cronofy.com/v1/permissions");
        prop_assert_eq!(http.body(), &request.body());
    }

    #[test]
    fn callback_on_the_redirect_uri_reads_back(
        ids in calendar_ids(),
        uri in redirect_uri(),
        state in prop::option::of(state()),
        extra in prop::option::of(("[a-z]{1,6}_x", r"\PC{0,8}")),
    ) {
        let request = build(&ids, &uri, state.as_deref());
        let check = CallbackCheck::new(&uri.raw, state.as_deref()).expect("valid input");
        prop_assert_eq!(check.redirect_uri(), request.redirect_uri());

        let mut accepted = request.redirect_uri().clone();
        if let Some((name, value)) = &extra {
            // Parameters the app did not send do not matter.
            accepted.query_pairs_mut().append_pair(name, value);
        }
        let rejected = with_error(&accepted, "access_denied");
        for (url, outcome) in [
            (accepted.as_str(), CallbackOutcome::Accepted),
            (rejected.as_str(), CallbackOutcome::Rejected),
        ] {
            prop_assert_eq!(request.parse_callback(url), Ok(outcome), "{}", url);
            prop_assert_eq!(check.parse(url), Ok(outcome), "{}", url);
        }

        // Another error code is an error, never an answer.
        let failed = with_error(request.redirect_uri(), "server_error");
        let is_server_error = matches!(
            request.parse_callback(&failed),
            Err(CallbackError::Error { code, .. }) if code == "server_error"
        );
        prop_assert!(is_server_error, "{}", failed);

        // With a state, a URL without it or with another one is refused before `error` is read.
        if let Some(state) = &state {
            let mut forged = Url::parse(&uri.raw).expect("generated URIs parse");
            let bare = with_error(&forged, "access_denied");
            prop_assert_eq!(request.parse_callback(&bare), Err(CallbackError::MissingState));
            forged.query_pairs_mut().append_pair("state", &format!("{state}x"));
            prop_assert_eq!(
                request.parse_callback(forged.as_str()),
                Err(CallbackError::StateMismatch)
            );
        }
    }
}
