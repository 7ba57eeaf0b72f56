//! The router without a browser: requests through `tower::ServiceExt::oneshot`, Cronofy played
//! by `permissions-fake`. The browser test (`tests/browser.rs`) drives the same flow in Chromium.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use permissions_core::url::Url;
use permissions_core::{ClientSecret, Hosts};
use permissions_fake::FakeCronofy;
use permissions_reqwest::ReqwestTransport;
use tower::ServiceExt as _;

use super::*;

/// The base URL the app believes it has; `oneshot` needs no listener.
const BASE: &str = "http://127.0.0.1:3000";
const HOME: &str = "cal_n23kjnwrw2_jsdfjksn234";
const WORK_DELETED: &str = "cal_n23kjnwrw2_n1k323nkj23";
const PERSONAL: &str = "cal_fe145c37de_w0rkab1e001";

struct Harness {
    fake: FakeCronofy,
    state: AppState,
}

#[derive(Debug)]
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers[header::LOCATION].to_str().unwrap()
    }

    /// The `name=value` part of the `Set-Cookie` header.
    fn cookie(&self) -> String {
        let set = self.headers[header::SET_COOKIE].to_str().unwrap();
        set.split(';').next().unwrap().to_owned()
    }

    /// The `Connect your calendar` link, unescaped.
    fn connect_url(&self) -> Url {
        let start = self.body.find("id=\"connect\"").expect("a connect link");
        let href = &self.body[start..];
        let href = &href[href.find("href=\"").unwrap() + 6..];
        let href = &href[..href.find('"').unwrap()];
        Url::parse(&href.replace("&amp;", "&")).unwrap()
    }

    /// The access level shown for a calendar.
    fn level_of(&self, calendar_id: &str) -> &str {
        let row = &self.body[self
            .body
            .find(&format!("data-calendar-id=\"{calendar_id}\""))
            .expect("a row for the calendar")..];
        let row = &row[..row.find("</tr>").unwrap()];
        let level = &row[row.find("class=\"level ").unwrap()..];
        let level = &level[level.find('>').unwrap() + 1..];
        &level[..level.find('<').unwrap()]
    }
}

fn query_value(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Harness {
    async fn new() -> Harness {
        let fake = FakeCronofy::start().await.unwrap();
        let hosts = Hosts::custom(
            BaseUrl::parse(fake.api_url()).unwrap(),
            BaseUrl::parse(fake.app_url()).unwrap(),
        );
        let seed = fake.seed();
        let credentials = ClientCredentials::new(
            seed.client_id.as_str(),
            ClientSecret::new(seed.client_secret.as_str()),
        );
        let client = Client::builder().hosts(hosts).build().unwrap();
        let state = AppState::new(client, credentials, BASE).unwrap();
        Harness { fake, state }
    }

    async fn send(&self, request: Request<Body>) -> Page {
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        Page {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    async fn get(&self, uri: &str, cookie: Option<&str>) -> Page {
        let mut request = Request::get(uri);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    async fn post_form(&self, uri: &str, cookie: &str, form: &str) -> Page {
        let request = Request::post(uri)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.send(request).await
    }

    /// Steps 1-2 for `account_id`, the consent page skipped: returns the session cookie.
    async fn connect(&self, account_id: &str) -> String {
        let home = self.get("/", None).await;
        let cookie = home.cookie();
        let state = query_value(&home.connect_url(), "state").unwrap();
        let code = self
            .fake
            .issue_code(account_id, &format!("{BASE}/oauth/callback"));
        let back = self
            .get(
                &format!("/oauth/callback?code={code}&state={state}"),
                Some(&cookie),
            )
            .await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
        assert_eq!(back.location(), "/calendars");
        cookie
    }

    /// The user's decision on the fake's permissions page at `url`: the URL they come back on.
    async fn answer(&self, url: &str, decision: &str) -> Url {
        let http = ReqwestTransport::from_builder(permissions_reqwest::reqwest::Client::builder())
            .unwrap()
            .client()
            .clone();
        let answer = http.post(format!("{url}/{decision}")).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        Url::parse(answer.headers()[header::LOCATION].to_str().unwrap()).unwrap()
    }

    fn levels(&self) -> Vec<(String, String)> {
        self.fake
            .calendars_of(&self.fake.seed().account_id)
            .into_iter()
            .map(|c| (c.id, c.permission_level))
            .collect()
    }

    fn access_token(&self, cookie: &str) -> String {
        let id = cookie.trim_start_matches("session=");
        self.state
            .sessions()
            .with(id, |s| {
                s.cronofy
                    .as_ref()
                    .map(|c| c.access_token().secret().to_owned())
            })
            .flatten()
            .expect("a connected session")
    }
}

fn path_and_query(url: &Url) -> String {
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}

#[tokio::test]
async fn home_links_to_the_authorize_url_with_a_fresh_state() {
    let h = Harness::new().await;
    let page = h.get("/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let set_cookie = page.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.contains("; HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("; SameSite=Lax"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "plain http: {set_cookie}");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");

    let url = page.connect_url();
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{}/oauth/authorize", h.fake.app_url())
    );
    let seed = h.fake.seed();
    assert_eq!(query_value(&url, "response_type").unwrap(), "code");
    assert_eq!(query_value(&url, "client_id").unwrap(), seed.client_id);
    assert_eq!(
        query_value(&url, "redirect_uri").unwrap(),
        format!("{BASE}/oauth/callback")
    );
    assert_eq!(query_value(&url, "scope").unwrap(), SCOPES.join(" "));
    let state = query_value(&url, "state").unwrap();
    assert_eq!(state.len(), 32);

    // Each visit gets its own state; a known session keeps its cookie.
    let again = h.get("/", Some(&page.cookie())).await;
    assert!(again.headers.get(header::SET_COOKIE).is_none());
    assert_ne!(query_value(&again.connect_url(), "state").unwrap(), state);
    let other = h.get("/", None).await;
    assert_ne!(other.cookie(), page.cookie());
    // Nothing secret on the page.
    assert!(!page.body.contains(&seed.client_secret));
}

#[tokio::test]
async fn a_forged_oauth_callback_changes_nothing() {
    let h = Harness::new().await;
    let home = h.get("/", None).await;
    let cookie = home.cookie();
    let state = query_value(&home.connect_url(), "state").unwrap();
    let code = h
        .fake
        .issue_code(&h.fake.seed().account_id, &format!("{BASE}/oauth/callback"));

    let forged = h
        .get(
            &format!("/oauth/callback?code={code}&state=forged"),
            Some(&cookie),
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(forged.body.contains("id=\"error\""), "{}", forged.body);
    assert!(
        forged.body.contains("state does not match"),
        "{}",
        forged.body
    );
    assert!(!forged.body.contains(&code));
    let no_cookie = h
        .get(&format!("/oauth/callback?code={code}&state={state}"), None)
        .await;
    assert_eq!(no_cookie.status, StatusCode::BAD_REQUEST);
    assert!(
        h.fake.requests().iter().all(|r| r.path != "/oauth/token"),
        "no code was exchanged"
    );

    // The request in flight is still answerable.
    let genuine = h
        .get(
            &format!("/oauth/callback?code={code}&state={state}"),
            Some(&cookie),
        )
        .await;
    assert_eq!(genuine.status, StatusCode::SEE_OTHER, "{}", genuine.body);
    assert_eq!(genuine.location(), "/calendars");
    // A state is good for one return only.
    let replay = h
        .get(
            &format!("/oauth/callback?code={code}&state={state}"),
            Some(&cookie),
        )
        .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn accept_elevates_the_chosen_calendars_and_no_secret_reaches_a_page() {
    let h = Harness::new().await;
    let cookie = h.connect(&h.fake.seed().account_id).await;
    let token = h.access_token(&cookie);
    let mut pages = Vec::new();

    let list = h.get("/calendars", Some(&cookie)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.level_of(HOME), "sandbox");
    assert!(list.body.contains(&format!("value=\"{HOME}\"")));
    assert!(
        !list.body.contains(&format!("value=\"{WORK_DELETED}\"")),
        "a deleted calendar cannot be chosen"
    );
    pages.push(list);

    let elevate = h
        .post_form(
            "/elevate",
            &cookie,
            &format!("calendar={HOME}&calendar={PERSONAL}"),
        )
        .await;
    assert_eq!(elevate.status, StatusCode::SEE_OTHER, "{}", elevate.body);
    let cronofy_page = elevate.location().to_owned();
    assert!(
        cronofy_page.starts_with(&format!("{}/permissions/", h.fake.app_url())),
        "{cronofy_page}"
    );
    // The request carried a redirect_uri with a state.
    let sent = h
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/permissions")
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    let redirect = Url::parse(body["redirect_uri"].as_str().unwrap()).unwrap();
    assert_eq!(redirect.path(), "/permission");
    assert_eq!(query_value(&redirect, "state").unwrap().len(), 32);
    pages.push(elevate);

    // A forged return changes nothing and leaves the request answerable.
    let forged = h.get("/permission?state=forged", Some(&cookie)).await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(
        forged.body.contains("nothing was changed"),
        "{}",
        forged.body
    );
    pages.push(forged);

    let back = h.answer(&cronofy_page, "accept").await;
    assert_eq!(
        back.as_str().split('?').next().unwrap(),
        format!("{BASE}/permission")
    );
    // The Host header (here, an absolute-form target) is ignored: the base URL counts.
    let done = h
        .get(
            &format!("http://evil.example{}", path_and_query(&back)),
            Some(&cookie),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("data-outcome=\"accepted\""),
        "{}",
        done.body
    );
    assert_eq!(done.level_of(HOME), "unrestricted");
    assert_eq!(done.level_of(PERSONAL), "unrestricted");
    assert_eq!(done.level_of("cal_fe145c37de_3nkj23wejk1"), "sandbox");

    // The same return again: the request is over.
    let replay = h.get(&path_and_query(&back), Some(&cookie)).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    pages.push(done);
    pages.push(replay);

    let seed = h.fake.seed();
    let debug = format!("{:?} {:#?}", h.state, h.state);
    let session_id = cookie.trim_start_matches("session=");
    for secret in [token.as_str(), session_id, &seed.client_secret] {
        assert!(!debug.contains(secret), "a secret in {debug}");
    }
    for page in &pages {
        let shown = format!("{:?} {}", page.headers, page.body);
        for secret in [&token, &seed.client_secret] {
            assert!(!shown.contains(secret.as_str()), "a secret in {shown}");
        }
    }
}

#[tokio::test]
async fn reject_changes_nothing() {
    let h = Harness::new().await;
    let cookie = h.connect(&h.fake.seed().account_id).await;
    let before = h.levels();
    let elevate = h
        .post_form(
            "/elevate",
            &cookie,
            &format!("calendar={HOME}&calendar={PERSONAL}"),
        )
        .await;
    let back = h.answer(elevate.location(), "reject").await;
    assert_eq!(query_value(&back, "error").unwrap(), "access_denied");
    let done = h.get(&path_and_query(&back), Some(&cookie)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("data-outcome=\"rejected\""),
        "{}",
        done.body
    );
    assert_eq!(done.level_of(HOME), "sandbox");
    assert_eq!(done.level_of(PERSONAL), "sandbox");
    assert_eq!(h.levels(), before);
}

#[tokio::test]
async fn enterprise_connect_is_granted_at_once() {
    let h = Harness::new().await;
    let seed = h.fake.seed();
    let cookie = h.connect(&seed.enterprise_account_id).await;
    let form = seed
        .enterprise_calendar_ids
        .iter()
        .map(|id| format!("calendar={id}"))
        .collect::<Vec<_>>()
        .join("&");
    let page = h.post_form("/elevate", &cookie, &form).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("data-outcome=\"granted\""),
        "{}",
        page.body
    );
    for id in &seed.enterprise_calendar_ids {
        assert_eq!(page.level_of(id), "unrestricted");
    }
}

#[tokio::test]
async fn pages_need_a_session() {
    let h = Harness::new().await;
    let calendars = h.get("/calendars", None).await;
    assert_eq!(calendars.status, StatusCode::SEE_OTHER);
    assert_eq!(calendars.location(), "/");
    let unknown = h.get("/calendars", Some("session=unknown")).await;
    assert_eq!(unknown.location(), "/");
    let elevate = h.post_form("/elevate", "session=unknown", "").await;
    assert_eq!(elevate.status, StatusCode::SEE_OTHER);
    let permission = h.get("/permission?state=x", None).await;
    assert_eq!(permission.status, StatusCode::BAD_REQUEST);

    // Connected, but no permissions request in flight.
    let cookie = h.connect(&h.fake.seed().account_id).await;
    let permission = h.get("/permission?state=x", Some(&cookie)).await;
    assert_eq!(permission.status, StatusCode::BAD_REQUEST);
    assert!(permission.body.contains("No permissions request"));
    let nothing_chosen = h.post_form("/elevate", &cookie, "").await;
    assert_eq!(nothing_chosen.status, StatusCode::BAD_REQUEST);
    assert!(
        h.fake
            .requests()
            .iter()
            .all(|r| r.path != "/v1/permissions")
    );
}

#[tokio::test]
async fn the_configuration_is_checked() {
    let h = Harness::new().await;
    let client = h.state.inner.client.clone();
    let credentials = h.state.inner.credentials.clone();
    let new = |base: &str| AppState::new(client.clone(), credentials.clone(), base).map(|_| ());
    assert!(matches!(
        new("http://app.example.com"),
        Err(ConfigError::BaseUrl(_))
    ));
    assert_eq!(
        new("https://app.example.com/app"),
        Err(ConfigError::BaseUrlPath)
    );
    assert_eq!(new("https://app.example.com/"), Ok(()));
    let no_id = ClientCredentials::new("", ClientSecret::new("s"));
    assert!(matches!(
        AppState::new(client.clone(), no_id, BASE),
        Err(ConfigError::Request(_))
    ));

    // https: the cookie is Secure.
    let secure = AppState::new(client, credentials, "https://app.example.com").unwrap();
    let response = app(secure)
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let set_cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.ends_with("; Secure"), "{set_cookie}");
}

#[test]
fn html_is_escaped() {
    assert_eq!(
        html::escape("<a href=\"x\">&'"),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
    );
    let list = permissions_core::CalendarList::parse(
        br#"{"calendars":[{"provider_name":"google","calendar_id":"cal_\"><script>",
            "calendar_name":"<b>Home</b>","permission_level":"sandbox"}]}"#,
    )
    .unwrap();
    let page = html::calendars(&list, None);
    assert!(!page.contains("<script>"), "{page}");
    assert!(!page.contains("<b>"), "{page}");
    assert!(page.contains("&lt;b&gt;Home&lt;/b&gt;"));
}

#[test]
fn the_session_cookie_is_found_among_others() {
    let mut headers = HeaderMap::new();
    headers.append(header::COOKIE, "a=1; session=abc; b=2".parse().unwrap());
    assert_eq!(sessions::session_id(&headers), Some("abc"));
    let mut split = HeaderMap::new();
    split.append(header::COOKIE, "a=1".parse().unwrap());
    split.append(header::COOKIE, "session=xyz".parse().unwrap());
    assert_eq!(sessions::session_id(&split), Some("xyz"));
    let mut empty = HeaderMap::new();
    empty.append(header::COOKIE, "session=; other=1".parse().unwrap());
    assert_eq!(sessions::session_id(&empty), None);
    assert_eq!(sessions::session_id(&HeaderMap::new()), None);
}

#[test]
fn the_session_store_is_bounded() {
    let store = sessions::Sessions::default();
    let first = store.create();
    for _ in 0..sessions::MAX_SESSIONS {
        store.create();
    }
    assert_eq!(store.len(), sessions::MAX_SESSIONS);
    assert!(
        store.with(&first, |_| ()).is_none(),
        "the oldest went first"
    );
}
