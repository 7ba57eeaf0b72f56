//! Black-box tests: the fake over real HTTP on 127.0.0.1, through ureq (blocking) and raw TCP.
//!
//! Every request has a timeout, so every test is bounded in time.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use permissions_fake::{FakeConfig, FakeCronofy, Fault, Host, NewAccount, NewCalendar, Route};
use serde_json::{Value, json};
use ureq::http::HeaderMap;

const TIMEOUT: Duration = Duration::from_secs(10);
const CALLBACK: &str = "http://localhost:9999/callback?from=test";
const PERMISSION_REDIRECT: &str = "http://www.example.com/permission?session=abc";

// ---------------------------------------------------------------------------------------------
// A tiny client

fn agent_with_timeout(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn agent() -> ureq::Agent {
    agent_with_timeout(TIMEOUT)
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn location(&self) -> url::Url {
        let location = self.header("location").expect("a Location header");
        url::Url::parse(location).expect("an absolute Location")
    }

    fn assert_json_content_type(&self) {
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{self:?}"
        );
    }
}

fn finish(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = result.expect("the request to succeed at the transport level");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .body_mut()
        .read_to_string()
        .expect("a readable body");
    Answer {
        status,
        headers,
        body,
    }
}

fn get(url: &str, bearer: Option<&str>) -> Answer {
    let mut request = agent().get(url);
    if let Some(token) = bearer {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    finish(request.call())
}

fn post_json(url: &str, bearer: Option<&str>, body: &str) -> Answer {
    let mut request = agent()
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8");
    if let Some(token) = bearer {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    finish(request.send(body))
}

fn post_form(url: &str, pairs: &[(&str, &str)]) -> Answer {
    finish(agent().post(url).send_form(pairs.iter().copied()))
}

fn post_empty(url: &str) -> Answer {
    finish(agent().post(url).send_empty())
}

fn calendars(fake: &FakeCronofy, token: &str) -> Value {
    let answer = get(&format!("{}/v1/calendars", fake.api_url()), Some(token));
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()
}

fn levels(calendars: &Value) -> Vec<(String, String)> {
    calendars["calendars"]
        .as_array()
        .expect("a calendars array")
        .iter()
        .map(|c| {
            (
                c["calendar_id"].as_str().unwrap().to_owned(),
                c["permission_level"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn ask_permissions(fake: &FakeCronofy, token: &str, body: &Value) -> Answer {
    post_json(
        &format!("{}/v1/permissions", fake.api_url()),
        Some(token),
        &body.to_string(),
    )
}

fn elevation_body(calendar_ids: &[&str], redirect_uri: &str) -> Value {
    json!({
        "permissions": calendar_ids
            .iter()
            .map(|id| json!({"calendar_id": id, "permission_level": "unrestricted"}))
            .collect::<Vec<_>>(),
        "redirect_uri": redirect_uri,
    })
}

/// The `action` of `<form id="{id}" …>` in an HTML page.
fn form_action(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("<form id=\"{id}\""))
        .unwrap_or_else(|| panic!("no form {id} in {html}"));
    let tag = &html[start..start + html[start..].find('>').unwrap()];
    assert!(tag.contains("method=\"post\""), "{tag}");
    let action = &tag[tag.find("action=\"").unwrap() + 8..];
    action[..action.find('"').unwrap()].to_owned()
}

fn authorize_url(fake: &FakeCronofy, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{}/oauth/authorize", fake.app_url())).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.into()
}

fn good_authorize_params(fake: &FakeCronofy) -> Vec<(&str, &str)> {
    vec![
        ("response_type", "code"),
        ("client_id", fake.seed().client_id.as_str()),
        ("redirect_uri", CALLBACK),
        ("scope", "read_account list_calendars read_events"),
        ("state", "s t&ate"),
    ]
}

fn query_value(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn exchange_code(base: &str, fake: &FakeCronofy, code: &str, redirect_uri: &str) -> Answer {
    let seed = fake.seed();
    post_json(
        &format!("{base}/oauth/token"),
        None,
        &json!({
            "client_id": seed.client_id,
            "client_secret": seed.client_secret,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
        })
        .to_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// Shapes

/// A body from `permissions-core`'s fixtures, the one fixtures folder of the workspace (this
/// crate's tests read it in the workspace; a packaged crate does not run them).
macro_rules! core_fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../permissions-core/tests/fixtures/",
            $name
        ))
    };
}

fn fixture(name: &str) -> Value {
    let text = match name {
        "token" => core_fixture!("token_response.docs.json"),
        "refresh" => core_fixture!("sdk/node__token_refresh__response.json"),
        "calendars" => core_fixture!("list_calendars_response.docs.json"),
        "422" => core_fixture!("sdk/ruby__error_422_required.json"),
        "url" => core_fixture!("permissions_response_url.docs.json"),
        "accepted" => core_fixture!("sdk/ruby__elevated_permissions__response_accepted.json"),
        _ => unreachable!(),
    };
    serde_json::from_str(text).unwrap()
}

/// Asserts `actual` has the same keys (recursively) and JSON types as `expected`.
fn assert_same_shape(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let ak: BTreeSet<_> = a.keys().collect();
            let ek: BTreeSet<_> = e.keys().collect();
            assert_eq!(ak, ek, "keys at {path}");
            for (key, value) in e {
                assert_same_shape(&a[key], value, &format!("{path}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            if let Some(first) = e.first() {
                assert!(!a.is_empty(), "empty array at {path}");
                for item in a {
                    assert_same_shape(item, first, &format!("{path}[]"));
                }
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Null, Value::Null) => {}
        _ => panic!("type differs at {path}: {actual} vs {expected}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The whole flow

#[test]
fn six_step_flow_elevates_the_chosen_calendars() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let seed = fake.seed().clone();

    // Step 1: the consent page, then Allow.
    let page = get(&authorize_url(&fake, &good_authorize_params(&fake)), None);
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.body.contains("Demo App"));
    assert!(!page.body.contains("<script"));
    let approve = form_action(&page.body, "approve");
    assert!(approve.starts_with("/oauth/authorize/") && approve.ends_with("/approve"));
    form_action(&page.body, "deny");
    let redirect = post_empty(&format!("{}{approve}", fake.app_url()));
    assert_eq!(redirect.status, 303, "{redirect:?}");
    let location = redirect.location();
    assert!(
        location.as_str().starts_with(&format!("{CALLBACK}&code=")),
        "{location}"
    );
    assert_eq!(query_value(&location, "from").as_deref(), Some("test"));
    assert_eq!(query_value(&location, "state").as_deref(), Some("s t&ate"));
    let code = query_value(&location, "code").unwrap();

    // Step 2: the code exchange.
    let tokens = exchange_code(fake.api_url(), &fake, &code, CALLBACK);
    assert_eq!(tokens.status, 200, "{tokens:?}");
    tokens.assert_json_content_type();
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
    assert_eq!(tokens.header("pragma"), Some("no-cache"));
    let tokens = tokens.json();
    assert_same_shape(&tokens, &fixture("token"), "token");
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["account_id"], seed.account_id.as_str());
    assert_eq!(tokens["sub"], seed.account_id.as_str());
    assert_eq!(tokens["scope"], "read_account list_calendars read_events");
    assert_eq!(tokens["linking_profile"]["profile_id"], "pro_n23kjnwrw2");
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // Step 3: the calendars, all sandbox.
    let list = calendars(&fake, &access);
    assert_same_shape(&list, &fixture("calendars"), "calendars");
    assert_eq!(list["sub"], seed.account_id.as_str());
    let before = levels(&list);
    assert_eq!(
        before.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        seed.calendar_ids
    );
    assert!(before.iter().all(|(_, level)| level == "sandbox"));
    // The docs' three calendars, field for field.
    let docs = fixture("calendars");
    for (i, expected) in docs["calendars"].as_array().unwrap().iter().enumerate() {
        assert_eq!(&list["calendars"][i], expected);
    }
    let writable = &list["calendars"][3];
    assert_eq!(writable["calendar_id"], "cal_fe145c37de_w0rkab1e001");
    assert_eq!(writable["profile_id"], "pro_fe145c37de");
    assert_eq!(writable["calendar_readonly"], false);
    assert_eq!(writable["calendar_primary"], true);

    // Steps 4-5: ask for two calendars, get a URL on the app host.
    let chosen = ["cal_n23kjnwrw2_jsdfjksn234", "cal_fe145c37de_w0rkab1e001"];
    let answer = ask_permissions(
        &fake,
        &access,
        &elevation_body(&chosen, PERMISSION_REDIRECT),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.assert_json_content_type();
    let answer = answer.json();
    assert_same_shape(&answer, &fixture("url"), "permissions");
    let url = answer["permissions_request"]["url"].as_str().unwrap();
    let prefix = format!("{}/permissions/", fake.app_url());
    assert!(url.starts_with(&prefix), "{url}");
    let request_id = &url[prefix.len()..];
    assert!(request_id.len() >= 24 && request_id.chars().all(|c| c.is_ascii_alphanumeric()));

    // Step 6: the permissions page, then Accept.
    let page = get(url, None);
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Demo App"));
    for (name, id) in [("Home", chosen[0]), ("Personal", chosen[1])] {
        assert!(
            page.body.contains(name) && page.body.contains(id),
            "{}",
            page.body
        );
    }
    assert!(!page.body.contains("Bank Holidays"));
    form_action(&page.body, "reject");
    let accept = form_action(&page.body, "accept");
    assert_eq!(accept, format!("/permissions/{request_id}/accept"));
    let back = post_form(&format!("{}{accept}", fake.app_url()), &[]);
    assert_eq!(back.status, 303, "{back:?}");
    assert_eq!(back.header("location"), Some(PERMISSION_REDIRECT));

    // The chosen calendars are unrestricted now, the others not.
    let after = levels(&calendars(&fake, &access));
    for (id, level) in &after {
        let expected = if chosen.contains(&id.as_str()) {
            "unrestricted"
        } else {
            "sandbox"
        };
        assert_eq!(level, expected, "{id}");
    }
    let state = fake.calendars_of(&seed.account_id);
    assert_eq!(state[0].permission_level, "unrestricted");
    assert_eq!(state[1].permission_level, "sandbox");

    // A page is answered once.
    assert_eq!(
        post_empty(&format!("{}{accept}", fake.app_url())).status,
        410
    );
    assert_eq!(post_empty(&format!("{url}/reject")).status, 410);
    assert_eq!(get(url, None).status, 410);
    assert_eq!(get(&format!("{prefix}nosuchrequest"), None).status, 404);
    assert_eq!(
        post_empty(&format!("{prefix}nosuchrequest/accept")).status,
        404
    );
}

#[test]
fn rejecting_adds_access_denied_and_changes_nothing() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let token = fake.seed().access_token.clone();
    let answer = ask_permissions(
        &fake,
        &token,
        &elevation_body(&["cal_n23kjnwrw2_jsdfjksn234"], PERMISSION_REDIRECT),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    let url = answer.json()["permissions_request"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = get(&url, None);
    let reject = form_action(&page.body, "reject");
    let back = post_empty(&format!("{}{reject}", fake.app_url()));
    assert_eq!(back.status, 303, "{back:?}");
    assert_eq!(
        back.header("location"),
        Some(format!("{PERMISSION_REDIRECT}&error=access_denied").as_str())
    );
    assert!(
        levels(&calendars(&fake, &token))
            .iter()
            .all(|(_, level)| level == "sandbox")
    );
    assert_eq!(post_empty(&format!("{url}/accept")).status, 410);
}

#[test]
fn denying_consent_redirects_with_access_denied_and_state() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let page = get(&authorize_url(&fake, &good_authorize_params(&fake)), None);
    let deny = form_action(&page.body, "deny");
    let redirect = post_empty(&format!("{}{deny}", fake.app_url()));
    assert_eq!(redirect.status, 303);
    let location = redirect.location();
    assert_eq!(
        query_value(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_value(&location, "state").as_deref(), Some("s t&ate"));
    assert_eq!(query_value(&location, "from").as_deref(), Some("test"));
    assert_eq!(query_value(&location, "code"), None);
    // Answered once.
    let approve = deny.replace("/deny", "/approve");
    assert_eq!(
        post_empty(&format!("{}{approve}", fake.app_url())).status,
        410
    );
    assert_eq!(
        post_empty(&format!(
            "{}/oauth/authorize/unknown/approve",
            fake.app_url()
        ))
        .status,
        404
    );
}

#[test]
fn consent_page_rejects_bad_authorize_requests() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let good = good_authorize_params(&fake);
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "response_type",
            good.iter()
                .copied()
                .map(|(k, v)| {
                    if k == "response_type" {
                        (k, "token")
                    } else {
                        (k, v)
                    }
                })
                .collect(),
        ),
        (
            "response_type",
            good.iter()
                .copied()
                .filter(|(k, _)| *k != "response_type")
                .collect(),
        ),
        (
            "client_id",
            good.iter()
                .copied()
                .map(|(k, v)| {
                    if k == "client_id" {
                        (k, "unknown")
                    } else {
                        (k, v)
                    }
                })
                .collect(),
        ),
        (
            "client_id",
            good.iter()
                .copied()
                .filter(|(k, _)| *k != "client_id")
                .collect(),
        ),
        (
            "redirect_uri",
            good.iter()
                .copied()
                .map(|(k, v)| {
                    if k == "redirect_uri" {
                        (k, "/relative")
                    } else {
                        (k, v)
                    }
                })
                .collect(),
        ),
        (
            "redirect_uri",
            good.iter()
                .copied()
                .map(|(k, v)| {
                    if k == "redirect_uri" {
                        (k, "ftp://example.com/")
                    } else {
                        (k, v)
                    }
                })
                .collect(),
        ),
        (
            "scope",
            good.iter()
                .copied()
                .map(|(k, v)| if k == "scope" { (k, "  ") } else { (k, v) })
                .collect(),
        ),
        (
            "scope",
            good.iter()
                .copied()
                .filter(|(k, _)| *k != "scope")
                .collect(),
        ),
    ];
    for (problem, params) in cases {
        let page = get(&authorize_url(&fake, &params), None);
        assert_eq!(page.status, 400, "{problem}: {page:?}");
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert!(page.body.contains(problem), "{problem}: {}", page.body);
        assert!(!page.body.contains("<form"));
    }
    let post = post_empty(&authorize_url(&fake, &good));
    assert_eq!(post.status, 405);
}

#[test]
fn enterprise_connect_is_granted_at_once() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let seed = fake.seed().clone();
    let ids: Vec<&str> = seed
        .enterprise_calendar_ids
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(ids.len(), 2);
    // redirect_uri is optional for Enterprise Connect.
    let body =
        json!({"permissions": [{"calendar_id": ids[0], "permission_level": "unrestricted"}]});
    let answer = ask_permissions(&fake, &seed.enterprise_access_token, &body);
    assert_eq!(answer.status, 202, "{answer:?}");
    answer.assert_json_content_type();
    let answer = answer.json();
    assert_same_shape(&answer, &fixture("accepted"), "accepted");
    assert_eq!(answer, json!({"permissions_request": {"accepted": true}}));
    let list = calendars(&fake, &seed.enterprise_access_token);
    assert_eq!(list["sub"], seed.enterprise_account_id.as_str());
    assert_eq!(
        levels(&list),
        vec![
            (ids[0].to_owned(), "unrestricted".to_owned()),
            (ids[1].to_owned(), "sandbox".to_owned())
        ]
    );
    // With a redirect_uri too, and the user account is untouched.
    let answer = ask_permissions(
        &fake,
        &seed.enterprise_access_token,
        &elevation_body(&ids, PERMISSION_REDIRECT),
    );
    assert_eq!(answer.status, 202);
    assert!(
        fake.calendars_of(&seed.enterprise_account_id)
            .iter()
            .all(|c| c.permission_level == "unrestricted")
    );
    assert!(
        fake.calendars_of(&seed.account_id)
            .iter()
            .all(|c| c.permission_level == "sandbox")
    );
}

// ---------------------------------------------------------------------------------------------
// Validation and authentication

#[test]
fn permissions_validation_answers_422() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let seed = fake.seed().clone();
    let home = "cal_n23kjnwrw2_jsdfjksn234";
    let ok = |id: &str| json!({"calendar_id": id, "permission_level": "unrestricted"});
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("not JSON", "permissions=please".into(), "request", "errors.invalid_json"),
        ("empty body", String::new(), "request", "errors.invalid_json"),
        ("not an object", "[1, 2]".into(), "request", "errors.invalid_json"),
        ("missing permissions", json!({"redirect_uri": PERMISSION_REDIRECT}).to_string(), "permissions", "errors.required"),
        ("null permissions", json!({"permissions": null, "redirect_uri": PERMISSION_REDIRECT}).to_string(), "permissions", "errors.required"),
        ("empty permissions", json!({"permissions": [], "redirect_uri": PERMISSION_REDIRECT}).to_string(), "permissions", "errors.empty"),
        ("permissions not an array", json!({"permissions": ok(home), "redirect_uri": PERMISSION_REDIRECT}).to_string(), "permissions", "errors.invalid_type"),
        ("element not an object", json!({"permissions": ["cal"], "redirect_uri": PERMISSION_REDIRECT}).to_string(), "permissions", "errors.invalid_type"),
        ("missing calendar_id", json!({"permissions": [{"permission_level": "unrestricted"}], "redirect_uri": PERMISSION_REDIRECT}).to_string(), "permissions", "errors.required"),
        ("empty calendar_id", json!({"permissions": [{"calendar_id": "", "permission_level": "unrestricted"}], "redirect_uri": PERMISSION_REDIRECT}).to_string(), "permissions", "errors.required"),
        ("unknown calendar", json!({"permissions": [ok("cal_nope_nope")], "redirect_uri": PERMISSION_REDIRECT}).to_string(), "permissions", "errors.unknown_calendar"),
        ("another account's calendar", json!({"permissions": [ok(&seed.enterprise_calendar_ids[0])], "redirect_uri": PERMISSION_REDIRECT}).to_string(), "permissions", "errors.unknown_calendar"),
        ("sandbox level", json!({"permissions": [{"calendar_id": home, "permission_level": "sandbox"}], "redirect_uri": PERMISSION_REDIRECT}).to_string(), "permissions", "errors.invalid_permission_level"),
        ("missing level", json!({"permissions": [{"calendar_id": home}], "redirect_uri": PERMISSION_REDIRECT}).to_string(), "permissions", "errors.required"),
        ("missing redirect_uri", json!({"permissions": [ok(home)]}).to_string(), "redirect_uri", "errors.required"),
        ("relative redirect_uri", json!({"permissions": [ok(home)], "redirect_uri": "/permission"}).to_string(), "redirect_uri", "errors.invalid_uri"),
        ("ftp redirect_uri", json!({"permissions": [ok(home)], "redirect_uri": "ftp://example.com/x"}).to_string(), "redirect_uri", "errors.invalid_uri"),
        ("numeric redirect_uri", json!({"permissions": [ok(home)], "redirect_uri": 42}).to_string(), "redirect_uri", "errors.invalid_uri"),
    ];
    let expected_entry = &fixture("422")["errors"]["event_id"];
    for (what, body, field, key) in cases {
        let answer = post_json(
            &format!("{}/v1/permissions", fake.api_url()),
            Some(&seed.access_token),
            &body,
        );
        assert_eq!(answer.status, 422, "{what}: {answer:?}");
        answer.assert_json_content_type();
        let value = answer.json();
        let errors = value["errors"]
            .as_object()
            .unwrap_or_else(|| panic!("{what}: {value}"));
        assert_eq!(value.as_object().unwrap().len(), 1, "{what}: only `errors`");
        let entries = &errors[field];
        assert_same_shape(entries, expected_entry, what);
        assert!(
            entries.as_array().unwrap().iter().any(|e| e["key"] == key),
            "{what}: {value}"
        );
    }

    // Several problems at once are all reported.
    let answer = ask_permissions(
        &fake,
        &seed.access_token,
        &json!({"permissions": [{"calendar_id": "cal_nope", "permission_level": "read"}]}),
    );
    assert_eq!(answer.status, 422);
    let errors = answer.json()["errors"].clone();
    assert_eq!(
        errors["permissions"].as_array().unwrap().len(),
        2,
        "{errors}"
    );
    assert_eq!(errors["redirect_uri"][0]["key"], "errors.required");

    // Enterprise Connect: redirect_uri optional, but must be valid when given.
    let answer = ask_permissions(
        &fake,
        &seed.enterprise_access_token,
        &json!({"permissions": [ok(&seed.enterprise_calendar_ids[0])], "redirect_uri": "nope"}),
    );
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.json()["errors"]["redirect_uri"][0]["key"],
        "errors.invalid_uri"
    );

    // Nothing was elevated by any of this; a form-encoded body is not JSON either.
    assert!(
        fake.calendars_of(&seed.account_id)
            .iter()
            .all(|c| c.permission_level == "sandbox")
    );
    let form = finish(
        agent()
            .post(&format!("{}/v1/permissions", fake.api_url()))
            .header("Authorization", format!("Bearer {}", seed.access_token))
            .send_form([("redirect_uri", PERMISSION_REDIRECT)]),
    );
    assert_eq!(form.status, 422);
}

#[test]
fn bearer_endpoints_answer_401() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let seed = fake.seed().clone();
    let calendars_url = format!("{}/v1/calendars", fake.api_url());
    let permissions_url = format!("{}/v1/permissions", fake.api_url());
    let body = elevation_body(&["cal_n23kjnwrw2_jsdfjksn234"], PERMISSION_REDIRECT).to_string();
    let assert_401 = |answer: Answer, what: &str| {
        assert_eq!(answer.status, 401, "{what}: {answer:?}");
        assert!(
            answer.body.len() <= 2,
            "{what}: empty-ish body: {:?}",
            answer.body
        );
        assert!(answer.header("www-authenticate").is_none());
    };

    // Missing, malformed, unknown.
    assert_401(get(&calendars_url, None), "missing");
    assert_401(post_json(&permissions_url, None, &body), "missing");
    let basic = finish(
        agent()
            .get(&calendars_url)
            .header("Authorization", format!("Basic {}", seed.access_token))
            .call(),
    );
    assert_401(basic, "basic");
    assert_401(get(&calendars_url, Some("unknowntoken")), "unknown");
    assert_401(
        post_json(&permissions_url, Some("unknowntoken"), &body),
        "unknown",
    );
    // The scheme is case-insensitive.
    let lower = finish(
        agent()
            .get(&calendars_url)
            .header("Authorization", format!("bearer {}", seed.access_token))
            .call(),
    );
    assert_eq!(lower.status, 200);

    // Expired: 401, but the refresh token still works.
    let code = fake.issue_code(&seed.account_id, CALLBACK);
    let tokens = exchange_code(fake.api_url(), &fake, &code, CALLBACK).json();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(get(&calendars_url, Some(&access)).status, 200);
    fake.expire_access_token(&access);
    assert_401(get(&calendars_url, Some(&access)), "expired");
    assert_401(post_json(&permissions_url, Some(&access), &body), "expired");
    let refreshed = refresh_grant(fake.api_url(), &fake, &refresh);
    assert_eq!(refreshed.status, 200);
    let fresh = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(get(&calendars_url, Some(&fresh)).status, 200);

    // Revoked (by the access token): every token of the grant is gone.
    let revoke = revoke(fake.api_url(), &fake, &[("token", fresh.as_str())]);
    assert_eq!(revoke.status, 200);
    assert!(revoke.body.is_empty());
    assert_401(get(&calendars_url, Some(&fresh)), "revoked");
    assert_401(post_json(&permissions_url, Some(&fresh), &body), "revoked");
    assert_eq!(
        refresh_grant(fake.api_url(), &fake, &refresh).json()["error"],
        "invalid_grant"
    );

    // The seeded grant was not touched.
    assert_eq!(get(&calendars_url, Some(&seed.access_token)).status, 200);
}

fn refresh_grant(base: &str, fake: &FakeCronofy, refresh_token: &str) -> Answer {
    let seed = fake.seed();
    post_json(
        &format!("{base}/oauth/token"),
        None,
        &json!({
            "client_id": seed.client_id,
            "client_secret": seed.client_secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        })
        .to_string(),
    )
}

fn revoke(base: &str, fake: &FakeCronofy, extra: &[(&str, &str)]) -> Answer {
    let seed = fake.seed();
    let mut pairs = vec![
        ("client_id", seed.client_id.as_str()),
        ("client_secret", seed.client_secret.as_str()),
    ];
    pairs.extend_from_slice(extra);
    post_form(&format!("{base}/oauth/token/revoke"), &pairs)
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

#[test]
fn token_endpoint_errors() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let seed = fake.seed().clone();
    let token_url = format!("{}/oauth/token", fake.api_url());
    let assert_error = |answer: &Answer, status: u16, error: &str, what: &str| {
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        answer.assert_json_content_type();
        assert_eq!(answer.json(), json!({"error": error}), "{what}");
        assert_eq!(answer.header("cache-control"), Some("no-store"), "{what}");
    };

    // A code is single-use, and bound to its redirect_uri.
    let code = fake.issue_code(&seed.account_id, CALLBACK);
    let mismatch = exchange_code(
        fake.api_url(),
        &fake,
        &code,
        "http://localhost:9999/callback",
    );
    assert_error(&mismatch, 400, "invalid_grant", "redirect mismatch");
    assert_eq!(
        exchange_code(fake.api_url(), &fake, &code, CALLBACK).status,
        200,
        "a mismatch does not use the code"
    );
    let reused = exchange_code(fake.api_url(), &fake, &code, CALLBACK);
    assert_error(&reused, 400, "invalid_grant", "reused code");
    assert_error(
        &exchange_code(fake.api_url(), &fake, "unknown", CALLBACK),
        400,
        "invalid_grant",
        "unknown code",
    );

    // Client credentials.
    let bad_client = post_form(
        &token_url,
        &[
            ("client_id", &seed.client_id),
            ("client_secret", "wrong"),
            ("grant_type", "refresh_token"),
            ("refresh_token", &seed.refresh_token),
        ],
    );
    assert_error(&bad_client, 401, "invalid_client", "bad secret");
    let unknown_client = post_form(
        &token_url,
        &[
            ("client_id", "someone-else"),
            ("client_secret", &seed.client_secret),
            ("grant_type", "refresh_token"),
            ("refresh_token", &seed.refresh_token),
        ],
    );
    assert_error(&unknown_client, 401, "invalid_client", "unknown client");

    // Grant types and missing fields.
    let unsupported = post_form(
        &token_url,
        &[
            ("client_id", &seed.client_id),
            ("client_secret", &seed.client_secret),
            ("grant_type", "password"),
        ],
    );
    assert_error(
        &unsupported,
        400,
        "unsupported_grant_type",
        "password grant",
    );
    for (what, pairs) in [
        (
            "no grant_type",
            vec![
                ("client_id", seed.client_id.as_str()),
                ("client_secret", seed.client_secret.as_str()),
            ],
        ),
        (
            "no secret",
            vec![
                ("client_id", seed.client_id.as_str()),
                ("grant_type", "refresh_token"),
                ("refresh_token", seed.refresh_token.as_str()),
            ],
        ),
        (
            "no refresh_token",
            vec![
                ("client_id", seed.client_id.as_str()),
                ("client_secret", seed.client_secret.as_str()),
                ("grant_type", "refresh_token"),
            ],
        ),
        (
            "no code",
            vec![
                ("client_id", seed.client_id.as_str()),
                ("client_secret", seed.client_secret.as_str()),
                ("grant_type", "authorization_code"),
                ("redirect_uri", CALLBACK),
            ],
        ),
        (
            "no redirect_uri",
            vec![
                ("client_id", seed.client_id.as_str()),
                ("client_secret", seed.client_secret.as_str()),
                ("grant_type", "authorization_code"),
                ("code", "x"),
            ],
        ),
        (
            "repeated parameter",
            vec![
                ("client_id", seed.client_id.as_str()),
                ("client_id", seed.client_id.as_str()),
            ],
        ),
    ] {
        assert_error(&post_form(&token_url, &pairs), 400, "invalid_request", what);
    }
    assert_error(
        &post_json(&token_url, None, "{not json"),
        400,
        "invalid_request",
        "broken JSON",
    );
    assert_error(
        &refresh_grant(fake.api_url(), &fake, "unknown"),
        400,
        "invalid_grant",
        "unknown refresh token",
    );
    assert_eq!(get(&token_url, None).status, 405);
}

#[test]
fn token_endpoint_accepts_forms_and_both_hosts() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let seed = fake.seed().clone();

    // Form-encoded code exchange on the app host (as the Ruby SDK does).
    let code = fake.issue_code(&seed.account_id, CALLBACK);
    let answer = post_form(
        &format!("{}/oauth/token", fake.app_url()),
        &[
            ("client_id", &seed.client_id),
            ("client_secret", &seed.client_secret),
            ("code", &code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", CALLBACK),
        ],
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("pragma"), Some("no-cache"));
    let tokens = answer.json();
    assert_same_shape(&tokens, &fixture("token"), "app host token");

    // JSON refresh on the app host (as the .NET SDK does): same refresh token, no account fields.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let answer = refresh_grant(fake.app_url(), &fake, refresh);
    assert_eq!(answer.status, 200, "{answer:?}");
    let refreshed = answer.json();
    assert_same_shape(&refreshed, &fixture("refresh"), "refresh");
    assert_eq!(refreshed["refresh_token"], refresh);
    assert_ne!(refreshed["access_token"], tokens["access_token"]);
    // Both access tokens work.
    calendars(&fake, tokens["access_token"].as_str().unwrap());
    calendars(&fake, refreshed["access_token"].as_str().unwrap());

    // Form-encoded refresh of the seeded grant on the API host, JSON without a Content-Type.
    let answer = post_form(
        &format!("{}/oauth/token", fake.api_url()),
        &[
            ("client_id", &seed.client_id),
            ("client_secret", &seed.client_secret),
            ("grant_type", "refresh_token"),
            ("refresh_token", &seed.refresh_token),
        ],
    );
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["refresh_token"], seed.refresh_token.as_str());
    let bare = finish(
        agent()
            .post(&format!("{}/oauth/token", fake.api_url()))
            .send(
                json!({"client_id": seed.client_id, "client_secret": seed.client_secret,
               "grant_type": "refresh_token", "refresh_token": seed.refresh_token})
                .to_string(),
            ),
    );
    assert_eq!(bare.status, 200, "{bare:?}");
}

#[test]
fn revoke_endpoint() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let seed = fake.seed().clone();

    let bad = post_json(
        &format!("{}/oauth/token/revoke", fake.api_url()),
        None,
        &json!({"client_id": seed.client_id, "client_secret": "wrong", "token": seed.access_token})
            .to_string(),
    );
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json(), json!({"error": "invalid_client"}));
    assert_eq!(
        revoke(fake.api_url(), &fake, &[]).status,
        400,
        "neither token nor sub"
    );
    assert_eq!(
        revoke(fake.api_url(), &fake, &[("token", "unknown")]).status,
        200
    );
    assert_eq!(
        calendars(&fake, &seed.access_token)["sub"],
        seed.account_id.as_str()
    );

    // By sub, on the app host, with the .NET SDK's extra field: every grant of the account.
    let code = fake.issue_code(&seed.account_id, CALLBACK);
    let other = exchange_code(fake.api_url(), &fake, &code, CALLBACK).json();
    let answer = post_json(
        &format!("{}/oauth/token/revoke", fake.app_url()),
        None,
        &json!({"client_id": seed.client_id, "client_secret": seed.client_secret,
                "sub": seed.account_id, "request_pii_erasure": true})
        .to_string(),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    for token in [
        seed.access_token.as_str(),
        other["access_token"].as_str().unwrap(),
    ] {
        assert_eq!(
            get(&format!("{}/v1/calendars", fake.api_url()), Some(token)).status,
            401
        );
    }
    // The Enterprise Connect account is not affected.
    calendars(&fake, &seed.enterprise_access_token);
}

// ---------------------------------------------------------------------------------------------
// Faults

#[test]
fn scripted_status_answers_then_normal_behaviour() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let token = fake.seed().access_token.clone();
    let body = elevation_body(&["cal_n23kjnwrw2_jsdfjksn234"], PERMISSION_REDIRECT);
    fake.script(
        Route::Permissions,
        [
            Fault::status(429).header("Retry-After", "1"),
            Fault::status(503)
                .header("Content-Type", "text/plain")
                .body("down"),
        ],
    );
    let first = ask_permissions(&fake, &token, &body);
    assert_eq!(first.status, 429);
    assert_eq!(first.header("retry-after"), Some("1"));
    assert!(first.body.is_empty());
    let second = ask_permissions(&fake, &token, &body);
    assert_eq!(second.status, 503);
    assert_eq!(second.header("content-type"), Some("text/plain"));
    assert_eq!(second.body, "down");
    assert_eq!(ask_permissions(&fake, &token, &body).status, 200);

    // Route::Any covers every API route, the specific queue goes first.
    fake.script(Route::Any, [Fault::status(500), Fault::status(502)]);
    fake.script(Route::Calendars, [Fault::status(504)]);
    assert_eq!(
        get(&format!("{}/v1/calendars", fake.api_url()), Some(&token)).status,
        504
    );
    assert_eq!(
        get(&format!("{}/v1/calendars", fake.api_url()), Some(&token)).status,
        500
    );
    assert_eq!(
        refresh_grant(fake.api_url(), &fake, &fake.seed().refresh_token).status,
        502
    );
    assert_eq!(
        get(&format!("{}/v1/calendars", fake.api_url()), Some(&token)).status,
        200
    );

    // The app host's pages are not API routes; its token endpoint is.
    fake.script(Route::Any, [Fault::status(500)]);
    let page = get(&authorize_url(&fake, &good_authorize_params(&fake)), None);
    assert_eq!(page.status, 200);
    assert_eq!(
        refresh_grant(fake.app_url(), &fake, &fake.seed().refresh_token).status,
        500
    );

    // clear_faults empties the queues.
    fake.script(Route::Calendars, [Fault::status(500)]);
    fake.script(Route::Token, [Fault::status(500)]);
    fake.clear_faults();
    assert_eq!(
        get(&format!("{}/v1/calendars", fake.api_url()), Some(&token)).status,
        200
    );
    assert_eq!(
        refresh_grant(fake.api_url(), &fake, &fake.seed().refresh_token).status,
        200
    );
}

#[test]
fn delay_then_normal_answer() {
    let fake = FakeCronofy::start_blocking().unwrap();
    fake.script(Route::Calendars, [Fault::delay(Duration::from_millis(300))]);
    let started = Instant::now();
    let list = calendars(&fake, &fake.seed().access_token);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(list["sub"], fake.seed().account_id.as_str());
}

#[test]
fn hang_makes_the_client_time_out() {
    let fake = FakeCronofy::start_blocking().unwrap();
    fake.script(Route::Calendars, [Fault::hang()]);
    let started = Instant::now();
    let result = agent_with_timeout(Duration::from_millis(400))
        .get(&format!("{}/v1/calendars", fake.api_url()))
        .header(
            "Authorization",
            format!("Bearer {}", fake.seed().access_token),
        )
        .call();
    let error = result.expect_err("a timeout");
    assert!(matches!(error, ureq::Error::Timeout(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A hung request does not hold up shutdown.
    fake.script(Route::Calendars, [Fault::hang()]);
    let url = format!("{}/v1/calendars", fake.api_url());
    let token = fake.seed().access_token.clone();
    let client = std::thread::spawn(move || {
        agent_with_timeout(Duration::from_secs(20))
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .map(|r| r.status().as_u16())
    });
    while fake.requests().len() < 2 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stopping = Instant::now();
    fake.shutdown();
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
    let outcome = client.join().unwrap();
    assert!(
        outcome.is_err(),
        "the hung request gets no answer: {outcome:?}"
    );
}

#[test]
fn oversized_body_streams() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let size: u64 = 3 * 1024 * 1024 + 17;
    fake.script(Route::Permissions, [Fault::oversized(size)]);
    let body = elevation_body(&["cal_n23kjnwrw2_jsdfjksn234"], PERMISSION_REDIRECT).to_string();
    let mut response = agent()
        .post(&format!("{}/v1/permissions", fake.api_url()))
        .header(
            "Authorization",
            format!("Bearer {}", fake.seed().access_token),
        )
        .send(&body)
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(
        response
            .headers()
            .get("transfer-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("chunked")
    );
    let mut reader = response.body_mut().as_reader();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let mut head = Vec::new();
    loop {
        let n = reader.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        if head.len() < 16 {
            head.extend_from_slice(&buffer[..n.min(16)]);
        }
        total += n as u64;
    }
    assert_eq!(total, size);
    assert!(total > 2 * 1024 * 1024);
    assert!(head.starts_with(b"{\"padding\":\""));

    // A client with a cap stops early.
    fake.script(Route::Permissions, [Fault::oversized(size)]);
    let mut response = agent()
        .post(&format!("{}/v1/permissions", fake.api_url()))
        .header(
            "Authorization",
            format!("Bearer {}", fake.seed().access_token),
        )
        .send(&body)
        .unwrap();
    let capped = response
        .body_mut()
        .with_config()
        .limit(2 * 1024 * 1024)
        .read_to_vec();
    assert!(capped.is_err());
}

#[test]
fn malformed_json_is_not_json() {
    let fake = FakeCronofy::start_blocking().unwrap();
    fake.script(Route::Permissions, [Fault::malformed_json()]);
    let answer = ask_permissions(
        &fake,
        &fake.seed().access_token,
        &elevation_body(&["cal_n23kjnwrw2_jsdfjksn234"], PERMISSION_REDIRECT),
    );
    assert_eq!(answer.status, 200);
    answer.assert_json_content_type();
    assert_eq!(answer.body, "{\"permissions_request\": {");
    assert!(serde_json::from_str::<Value>(&answer.body).is_err());
}

#[test]
fn drop_connection_breaks_the_body() {
    let fake = FakeCronofy::start_blocking().unwrap();
    fake.script(Route::Calendars, [Fault::drop_connection()]);
    let mut response = agent()
        .get(&format!("{}/v1/calendars", fake.api_url()))
        .header(
            "Authorization",
            format!("Bearer {}", fake.seed().access_token),
        )
        .call()
        .expect("status and headers arrive");
    assert_eq!(response.status().as_u16(), 200);
    let mut received = Vec::new();
    let result = response.body_mut().as_reader().read_to_end(&mut received);
    assert!(
        result.is_err(),
        "a read error, got {} bytes",
        received.len()
    );
    assert!(
        received.starts_with(b"{\"permissions_request\""),
        "{received:?}"
    );
    // The next request is normal.
    calendars(&fake, &fake.seed().access_token);
}

#[test]
fn admin_listener_scripts_faults_over_http() {
    let fake = FakeCronofy::start_blocking_with(FakeConfig::default().admin(true)).unwrap();
    let admin = fake.admin_url().expect("an admin URL").to_owned();
    assert_ne!(admin, fake.api_url());
    assert_ne!(admin, fake.app_url());
    let token = fake.seed().access_token.clone();
    let body = elevation_body(&["cal_n23kjnwrw2_jsdfjksn234"], PERMISSION_REDIRECT);

    let script = json!({"route": "permissions", "answers": [
        {"status": 429, "headers": {"Retry-After": "1"}, "body": ""},
        {"fault": "delay", "ms": 200},
        {"fault": "malformed_json"},
        {"status": 500, "body": {"oops": true}},
        {"fault": "oversized", "bytes": 100},
        {"fault": "drop_connection"},
        {"fault": "hang"}
    ]});
    let queued = post_json(&format!("{admin}/admin/faults"), None, &script.to_string());
    assert_eq!(queued.status, 200, "{queued:?}");
    assert_eq!(queued.json(), json!({"route": "permissions", "queued": 7}));

    let first = ask_permissions(&fake, &token, &body);
    assert_eq!(
        (first.status, first.header("retry-after")),
        (429, Some("1"))
    );
    let started = Instant::now();
    assert_eq!(ask_permissions(&fake, &token, &body).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        ask_permissions(&fake, &token, &body).body,
        "{\"permissions_request\": {"
    );
    let fifth = ask_permissions(&fake, &token, &body);
    assert_eq!(
        (fifth.status, fifth.body.as_str()),
        (500, r#"{"oops":true}"#)
    );
    assert_eq!(ask_permissions(&fake, &token, &body).body.len(), 100);
    let dropped = agent()
        .post(&format!("{}/v1/permissions", fake.api_url()))
        .header("Authorization", format!("Bearer {token}"))
        .send(body.to_string())
        .unwrap()
        .body_mut()
        .read_to_string();
    assert!(dropped.is_err());

    // DELETE empties the queue: the hang is gone.
    let cleared = finish(agent().delete(&format!("{admin}/admin/faults")).call());
    assert_eq!(cleared.status, 204);
    assert_eq!(ask_permissions(&fake, &token, &body).status, 200);

    // Bad scripts are refused whole.
    for bad in [
        "nope".to_owned(),
        json!({"route": "nowhere", "answers": []}).to_string(),
        json!({"route": "any", "answers": [{"fault": "explode"}]}).to_string(),
        json!({"route": "any", "answers": [{"status": 429}, {"status": 1000}]}).to_string(),
        json!({"route": "any", "answers": [{"fault": "delay"}]}).to_string(),
    ] {
        let answer = post_json(&format!("{admin}/admin/faults"), None, &bad);
        assert_eq!(answer.status, 400, "{bad}: {answer:?}");
        assert!(answer.json()["error"].is_string());
    }
    assert_eq!(ask_permissions(&fake, &token, &body).status, 200);

    // The request log over HTTP: Authorization redacted, admin requests not logged.
    let log = get(&format!("{admin}/admin/requests"), None);
    assert_eq!(log.status, 200);
    assert!(!log.body.contains(&token), "the token leaked: {}", log.body);
    let entries = log.json();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), fake.requests().len());
    assert!(
        entries
            .iter()
            .all(|e| e["host"] == "api" && e["path"] == "/v1/permissions")
    );
    let auth = entries[0]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "authorization")
        .unwrap();
    assert_eq!(auth[1], "Bearer <redacted>");
    assert!(entries[0]["body_len"].as_u64().unwrap() > 0);
    assert_eq!(
        finish(agent().delete(&format!("{admin}/admin/requests")).call()).status,
        204
    );
    assert!(fake.requests().is_empty());

    let seed = get(&format!("{admin}/admin/seed"), None).json();
    assert_eq!(seed["client_id"], fake.seed().client_id.as_str());
    assert_eq!(get(&format!("{admin}/admin/nothing"), None).status, 404);

    // No admin listener unless asked for.
    assert!(FakeCronofy::start_blocking().unwrap().admin_url().is_none());
}

// ---------------------------------------------------------------------------------------------
// Log, state, concurrency, lifecycle

#[test]
fn request_log_and_callback() {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    let fake = FakeCronofy::start_blocking_with(FakeConfig::default().on_request(move |request| {
        assert!(request.path.starts_with('/'));
        counter.fetch_add(1, Ordering::SeqCst);
    }))
    .unwrap();
    let seed = fake.seed().clone();
    calendars(&fake, &seed.access_token);
    let code = fake.issue_code(&seed.account_id, CALLBACK);
    assert_eq!(
        exchange_code(fake.app_url(), &fake, &code, CALLBACK).status,
        200
    );
    get(&format!("{}/nowhere?x=1", fake.api_url()), None);

    let log = fake.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert_eq!(
        (log[0].host, log[0].method.as_str(), log[0].path.as_str()),
        (Host::Api, "GET", "/v1/calendars")
    );
    assert_eq!(
        log[0].header("AUTHORIZATION"),
        Some(format!("Bearer {}", seed.access_token).as_str())
    );
    assert_eq!(
        (log[1].host, log[1].path.as_str()),
        (Host::App, "/oauth/token")
    );
    assert!(log[1].body_str().unwrap().contains(&code));
    assert_eq!(log[2].query.as_deref(), Some("x=1"));
    assert_eq!(log[2].query_param("x").as_deref(), Some("1"));

    // Debug shows neither the bearer token nor bodies.
    let shown = format!("{log:?}");
    assert!(!shown.contains(&seed.access_token), "{shown}");
    assert!(!shown.contains(&code), "{shown}");
    assert!(!shown.contains(&seed.client_secret), "{shown}");
    assert!(shown.contains("body_len"));

    fake.clear_requests();
    assert!(fake.requests().is_empty());

    // A bounded log.
    let small =
        FakeCronofy::start_blocking_with(FakeConfig::default().request_log_capacity(2)).unwrap();
    for _ in 0..4 {
        get(&format!("{}/v1/calendars", small.api_url()), None);
    }
    assert_eq!(small.requests().len(), 2);
}

#[test]
fn unknown_paths_and_methods() {
    let fake = FakeCronofy::start_blocking().unwrap();
    assert_eq!(
        get(&format!("{}/v2/calendars", fake.api_url()), None).status,
        404
    );
    let wrong = post_json(
        &format!("{}/v1/calendars", fake.api_url()),
        Some(&fake.seed().access_token),
        "{}",
    );
    assert_eq!((wrong.status, wrong.header("allow")), (405, Some("GET")));
    assert_eq!(
        get(&format!("{}/v1/permissions", fake.api_url()), None).status,
        405
    );
    let page = get(&format!("{}/nowhere", fake.app_url()), None);
    assert_eq!(page.status, 404);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    // The app host does not serve the API.
    assert_eq!(
        get(
            &format!("{}/v1/calendars", fake.app_url()),
            Some(&fake.seed().access_token)
        )
        .status,
        404
    );

    // A body over 1 MiB is refused from its Content-Length, before it is sent.
    let address = fake.api_url().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        stream,
        "POST /v1/permissions HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 32];
    let n = stream.read(&mut head).unwrap();
    assert!(
        head[..n].starts_with(b"HTTP/1.1 413 "),
        "{:?}",
        String::from_utf8_lossy(&head[..n])
    );
}

#[test]
fn added_accounts_and_calendars() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let added = fake.add_account(
        NewAccount::user()
            .calendar(NewCalendar::new("Team").profile(
                "pro_abcdefghij",
                "team@example.com",
                "exchange",
            ))
            .calendar(NewCalendar::new("Old").deleted(true).readonly(true)),
    );
    assert!(added.account_id.starts_with("acc_") && added.account_id.len() == 28);
    assert_eq!(added.calendar_ids.len(), 2);
    assert!(
        added
            .calendar_ids
            .iter()
            .all(|id| id.starts_with("cal_abcdefghij_"))
    );
    fake.add_calendar(
        &added.account_id,
        NewCalendar::new("Later")
            .id("cal_abcdefghij_later00001")
            .primary(true),
    );

    let list = calendars(&fake, &added.access_token);
    assert_eq!(list["sub"], added.account_id.as_str());
    let entries = list["calendars"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["profile_name"], "team@example.com");
    assert_eq!(entries[0]["provider_name"], "exchange");
    assert_eq!(entries[1]["calendar_deleted"], true);
    assert_eq!(entries[2]["calendar_id"], "cal_abcdefghij_later00001");
    let state = fake.calendars_of(&added.account_id);
    assert_eq!(state[2].name, "Later");
    assert!(state[2].primary);
    assert!(fake.calendars_of("acc_unknown").is_empty());

    // Its own code exchange names its own profile; its calendars are not the seed's.
    let code = fake.issue_code(&added.account_id, CALLBACK);
    let tokens = exchange_code(fake.api_url(), &fake, &code, CALLBACK).json();
    assert_eq!(tokens["account_id"], added.account_id.as_str());
    assert_eq!(tokens["linking_profile"]["profile_id"], "pro_abcdefghij");
    let answer = ask_permissions(
        &fake,
        &added.access_token,
        &elevation_body(&["cal_n23kjnwrw2_jsdfjksn234"], PERMISSION_REDIRECT),
    );
    assert_eq!(answer.status, 422);

    // An added Enterprise Connect account is granted at once.
    let ec = fake.add_account(NewAccount::enterprise().calendar(NewCalendar::new("Room")));
    let answer = ask_permissions(
        &fake,
        &ec.access_token,
        &json!({"permissions": [{"calendar_id": ec.calendar_ids[0], "permission_level": "unrestricted"}]}),
    );
    assert_eq!(answer.status, 202);
    assert_eq!(
        fake.calendars_of(&ec.account_id)[0].permission_level,
        "unrestricted"
    );
}

#[test]
fn sixty_four_requests_in_flight() {
    const N: usize = 64;
    let fake = FakeCronofy::start_blocking().unwrap();
    // Each request waits 300 ms inside the fake, so they overlap only if served concurrently.
    fake.script(
        Route::Calendars,
        (0..N).map(|_| Fault::delay(Duration::from_millis(300))),
    );
    let barrier = Arc::new(Barrier::new(N));
    let url = format!("{}/v1/calendars", fake.api_url());
    let started = Instant::now();
    let threads: Vec<_> = (0..N)
        .map(|_| {
            let (barrier, url) = (Arc::clone(&barrier), url.clone());
            let token = fake.seed().access_token.clone();
            let account = fake.seed().account_id.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let answer = get(&url, Some(&token));
                assert_eq!(answer.status, 200);
                let list = answer.json();
                assert_eq!(list["sub"], account.as_str());
                assert_eq!(list["calendars"].as_array().unwrap().len(), 4);
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("every request answered correctly");
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "{elapsed:?}: not concurrent"
    );
    assert_eq!(fake.requests().len(), N);
}

#[test]
fn shutdown_frees_the_ports() {
    let fake = FakeCronofy::start_blocking_with(FakeConfig::default().admin(true)).unwrap();
    let addresses: Vec<String> = [fake.api_url(), fake.app_url(), fake.admin_url().unwrap()]
        .iter()
        .map(|url| url.trim_start_matches("http://").to_owned())
        .collect();
    assert!(addresses.iter().all(|a| a.starts_with("127.0.0.1:")));
    // A keep-alive connection stays open until shutdown.
    calendars(&fake, &fake.seed().access_token);
    let mut idle = TcpStream::connect(&addresses[0]).unwrap();
    let started = Instant::now();
    fake.shutdown();
    assert!(started.elapsed() < Duration::from_secs(3));
    for address in &addresses {
        assert!(
            TcpStream::connect(address).is_err(),
            "{address} still accepts"
        );
        TcpListener::bind(address).unwrap_or_else(|e| panic!("{address} not freed: {e}"));
    }
    idle.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buffer = [0u8; 16];
    assert!(
        matches!(idle.read(&mut buffer), Ok(0) | Err(_)),
        "the idle connection is closed"
    );
}

#[test]
fn configured_ports_are_used_and_a_taken_port_is_an_error() {
    let free = || {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (api, app) = (free(), free());
    let fake = FakeCronofy::start_blocking_with(FakeConfig::default().api_port(api).app_port(app))
        .unwrap();
    assert_eq!(fake.api_url(), format!("http://127.0.0.1:{api}"));
    assert_eq!(fake.app_url(), format!("http://127.0.0.1:{app}"));
    let taken = FakeCronofy::start_blocking_with(FakeConfig::default().api_port(api));
    assert_eq!(taken.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
    let debug = format!("{fake:?}");
    assert!(debug.contains(fake.api_url()));
}

/// One raw HTTP/1.1 exchange over tokio, with `Connection: close`.
async fn raw_get(url: &str, path_and_headers: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path_and_headers}\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test(flavor = "current_thread")]
async fn works_inside_a_current_thread_runtime() {
    let fake = FakeCronofy::start().await.unwrap();
    let answer = tokio::time::timeout(
        TIMEOUT,
        raw_get(
            fake.api_url(),
            &format!(
                "/v1/calendars HTTP/1.1\r\nAuthorization: Bearer {}",
                fake.seed().access_token
            ),
        ),
    )
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("content-type: application/json; charset=utf-8"));
    assert!(answer.contains("\"permission_level\":\"sandbox\""));
    // Dropping inside the runtime must not panic.
    drop(fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_inside_a_multi_thread_runtime() {
    let fake = FakeCronofy::start_with(FakeConfig::default().admin(true))
        .await
        .unwrap();
    let answer = tokio::time::timeout(TIMEOUT, raw_get(fake.api_url(), "/v1/calendars HTTP/1.1"))
        .await
        .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{answer}"
    );
    // A blocking client from a blocking task works too.
    let url = format!("{}/v1/calendars", fake.api_url());
    let token = fake.seed().access_token.clone();
    let status = tokio::task::spawn_blocking(move || get(&url, Some(&token)).status)
        .await
        .unwrap();
    assert_eq!(status, 200);
    fake.shutdown();
}

#[test]
fn raw_tcp_request_with_std_only() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let address = fake.api_url().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let body = elevation_body(&["cal_n23kjnwrw2_jsdfjksn234"], PERMISSION_REDIRECT).to_string();
    // The docs' exact headers.
    write!(
        stream,
        "POST /v1/permissions HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        fake.seed().access_token,
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains(&format!("\"url\":\"{}/permissions/", fake.app_url())),
        "{answer}"
    );
}
