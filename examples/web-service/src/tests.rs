//! The router without a browser: requests through `tower::ServiceExt::oneshot`, Cronofy played
//! by `permissions-fake`. The browser test (`tests/browser.rs`) drives the same flow in Chromium.
//!
//! The five findings of issue 14 each have a test here, named `finding_N_…`; the access-token
//! refresh has its own, `an_expired_access_token_…` and `a_refused_refresh_…`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use permissions_core::url::Url;
use permissions_core::{ClientSecret, Hosts, Revocable, RevokeToken};
use permissions_fake::{FakeCronofy, Fault, Route};
use permissions_reqwest::ReqwestTransport;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::ServiceExt as _;

use super::*;

/// The base URL the app believes it has; `oneshot` needs no listener.
const BASE: &str = "http://127.0.0.1:3000";
const HOME: &str = "cal_n23kjnwrw2_jsdfjksn234";
const WORK_DELETED: &str = "cal_n23kjnwrw2_n1k323nkj23";
const PERSONAL: &str = "cal_fe145c37de_w0rkab1e001";
const BANK_HOLIDAYS: &str = "cal_fe145c37de_3nkj23wejk1";

struct Harness {
    fake: FakeCronofy,
    state: AppState,
    router: Router,
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

    /// The `name=value` part of the `Set-Cookie` header, if any.
    fn set_cookie(&self) -> Option<String> {
        let set = self.headers.get(header::SET_COOKIE)?.to_str().unwrap();
        Some(set.split(';').next().unwrap().to_owned())
    }

    /// The value of the form's hidden token field.
    fn form_token(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("a form token in: {}", self.body));
        let value = &self.body[at + 19..];
        value[..value.find('"').unwrap()].to_owned()
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

fn path_and_query(url: &Url) -> String {
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}

/// One browser: its cookie, kept from `Set-Cookie` as a browser would.
#[derive(Clone, Debug, Default)]
struct Browser {
    cookie: Option<String>,
}

impl Harness {
    async fn new() -> Harness {
        Harness::with_base(BASE).await
    }

    async fn with_base(base: &str) -> Harness {
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
        let state = AppState::new(client, credentials, base).unwrap();
        let router = app(state.clone());
        Harness {
            fake,
            state,
            router,
        }
    }

    async fn send(&self, request: Request<Body>) -> Page {
        let response = self.router.clone().oneshot(request).await.unwrap();
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

    /// A request from `browser`, whose cookie follows any `Set-Cookie` in the answer.
    async fn send_as(&self, browser: &mut Browser, mut request: Request<Body>) -> Page {
        if let Some(cookie) = &browser.cookie {
            request
                .headers_mut()
                .insert(header::COOKIE, cookie.parse().unwrap());
        }
        let page = self.send(request).await;
        if let Some(set) = page.set_cookie() {
            browser.cookie = Some(set);
        }
        page
    }

    async fn get(&self, browser: &mut Browser, uri: &str) -> Page {
        self.send_as(browser, Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// A form POST as the app's own page sends it (same origin).
    async fn post(&self, browser: &mut Browser, uri: &str, form: &str) -> Page {
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, BASE)
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.send_as(browser, request).await
    }

    /// Presses Connect: returns the `state` of the authorize URL it was sent to.
    async fn press_connect(&self, browser: &mut Browser) -> String {
        let home = self.get(browser, "/").await;
        let form = if home.body.contains("name=\"csrf\"") {
            format!("csrf={}", home.form_token())
        } else {
            String::new()
        };
        let connect = self.post(browser, "/connect", &form).await;
        assert_eq!(connect.status, StatusCode::SEE_OTHER, "{}", connect.body);
        let url = Url::parse(connect.location()).unwrap();
        assert_eq!(
            url.as_str().split('?').next().unwrap(),
            format!("{}/oauth/authorize", self.fake.app_url())
        );
        query_value(&url, "state").unwrap()
    }

    /// The return from the consent page for `account_id` with `state`.
    async fn come_back(&self, browser: &mut Browser, account_id: &str, state: &str) -> Page {
        let code = self
            .fake
            .issue_code(account_id, &format!("{BASE}/oauth/callback"));
        self.get(
            browser,
            &format!("/oauth/callback?code={code}&state={state}"),
        )
        .await
    }

    /// Steps 1-2 for `account_id` in a fresh browser.
    async fn connect(&self, account_id: &str) -> Browser {
        let mut browser = Browser::default();
        self.connect_in(&mut browser, account_id).await;
        browser
    }

    async fn connect_in(&self, browser: &mut Browser, account_id: &str) {
        let state = self.press_connect(browser).await;
        let back = self.come_back(browser, account_id, &state).await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
        assert_eq!(back.location(), "/calendars");
    }

    /// `POST /elevate` for these calendars from the calendars page: the answer.
    async fn elevate(&self, browser: &mut Browser, calendars: &[&str]) -> Page {
        let list = self.get(browser, "/calendars").await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        let mut form = format!("csrf={}", list.form_token());
        for id in calendars {
            form.push_str(&format!("&calendar={id}"));
        }
        self.post(browser, "/elevate", &form).await
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

    fn permission_requests(&self) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/permissions")
            .count()
    }

    /// The access token of the latest call to `/v1/calendars` the fake saw.
    fn last_access_token(&self) -> String {
        let requests = self.fake.requests();
        let last = requests
            .iter()
            .rev()
            .find(|r| r.path == "/v1/calendars")
            .expect("a calendar list was asked for");
        let bearer = last.header("authorization").expect("a bearer token");
        bearer.strip_prefix("Bearer ").unwrap().to_owned()
    }

    /// How many `refresh_token` grants the fake was asked for.
    fn refreshes(&self) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.path == "/oauth/token")
            .filter(|r| {
                serde_json::from_slice::<serde_json::Value>(&r.body)
                    .is_ok_and(|body| body["grant_type"] == "refresh_token")
            })
            .count()
    }
}

#[tokio::test]
async fn home_stores_nothing_and_offers_connect() {
    let h = Harness::new().await;
    let mut browser = Browser::default();
    let page = h.get(&mut browser, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers.get(header::SET_COOKIE).is_none(),
        "GET / stores nothing"
    );
    assert!(page.body.contains("action=\"/connect\""), "{}", page.body);
    assert!(!page.body.contains("name=\"csrf\""), "no session, no token");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");

    // Connect: the first thing stored, and a link to the authorize URL with a fresh state.
    let home = h.get(&mut browser, "/").await;
    assert!(home.headers.get(header::SET_COOKIE).is_none());
    let connect = h.post(&mut browser, "/connect", "").await;
    assert_eq!(connect.status, StatusCode::SEE_OTHER);
    let set_cookie = connect.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.starts_with("session="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(set_cookie.contains("Path=/"), "{set_cookie}");
    assert!(set_cookie.contains("Max-Age="), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "plain http: {set_cookie}");
    let url = Url::parse(connect.location()).unwrap();
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

    // Now the home page carries the session's form token, and the next press needs it.
    let home = h.get(&mut browser, "/").await;
    let token = home.form_token();
    let without = h.post(&mut browser, "/connect", "").await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    let again = h
        .post(&mut browser, "/connect", &format!("csrf={token}"))
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let second = query_value(&Url::parse(again.location()).unwrap(), "state").unwrap();
    assert_ne!(second, state);
    assert!(!home.body.contains(&seed.client_secret));
}

#[tokio::test]
async fn on_https_the_cookie_is_host_prefixed_and_secure() {
    let h = Harness::with_base("https://app.example.com").await;
    let response = h
        .router
        .clone()
        .oneshot(
            Request::post("/connect")
                .header(header::ORIGIN, "https://app.example.com")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set_cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.starts_with("__Host-session="), "{set_cookie}");
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
    assert!(set_cookie.contains("Path=/"), "{set_cookie}");
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
}

/// Finding 1: an id taken before sign-in and planted in the victim's browser must be
/// worthless once the victim signs in.
#[tokio::test]
async fn finding_1_the_session_id_changes_at_sign_in() {
    let h = Harness::new().await;
    // The attacker gets a session id of their own...
    let mut attacker = Browser::default();
    h.press_connect(&mut attacker).await;
    let planted = attacker.cookie.clone().unwrap();
    // ...and plants it in the victim's browser, who then signs in.
    let mut victim = Browser {
        cookie: Some(planted.clone()),
    };
    h.connect_in(&mut victim, &h.fake.seed().account_id).await;
    let signed_in = victim.cookie.clone().unwrap();
    assert_ne!(signed_in, planted, "a new id at sign-in");

    let victims = h.get(&mut victim, "/calendars").await;
    assert_eq!(victims.status, StatusCode::OK);
    let stolen = h.get(&mut attacker, "/calendars").await;
    assert_eq!(stolen.status, StatusCode::SEE_OTHER, "{}", stolen.body);
    assert_eq!(stolen.location(), "/");
    assert!(!stolen.body.contains(HOME));
}

/// Finding 2: anonymous visitors, even many pressing Connect, never push out a signed-in
/// session.
#[tokio::test]
async fn finding_2_anonymous_visitors_do_not_evict_a_signed_in_session() {
    let h = Harness::new().await;
    let mut user = h.connect(&h.fake.seed().account_id).await;
    for _ in 0..100 {
        let home = h.get(&mut Browser::default(), "/").await;
        assert!(home.headers.get(header::SET_COOKIE).is_none());
    }
    for _ in 0..MAX_ANONYMOUS + 50 {
        h.post(&mut Browser::default(), "/connect", "").await;
    }
    let sessions::Sessions::Memory(memory) = &h.state.inner.store.sessions else {
        unreachable!("the default store is in memory")
    };
    assert_eq!(memory.counts(), (MAX_ANONYMOUS, 1));
    let list = h.get(&mut user, "/calendars").await;
    assert_eq!(
        list.status,
        StatusCode::OK,
        "still signed in: {}",
        list.body
    );
}

/// Regression (the first release kept a refreshing `Session` per user; the rewrite lost it): once
/// the access token expires, the pages still work. The call is refreshed once and retried, and
/// the new token is saved in the session, so the next page uses it without refreshing again.
#[tokio::test]
async fn an_expired_access_token_is_refreshed_and_the_new_one_kept() {
    let h = Harness::new().await;
    let mut browser = h.connect(&h.fake.seed().account_id).await;
    let list = h.get(&mut browser, "/calendars").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let first = h.last_access_token();
    assert_eq!(h.refreshes(), 0);

    h.fake.expire_access_token(&first);
    let list = h.get(&mut browser, "/calendars").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.level_of(HOME), "sandbox");
    assert_eq!(h.refreshes(), 1, "the fake saw one refresh");
    let second = h.last_access_token();
    assert_ne!(second, first);

    // The new token was kept: the next page sends it, and refreshes nothing.
    let again = h.get(&mut browser, "/calendars").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(h.refreshes(), 1);
    assert_eq!(h.last_access_token(), second);
    assert!(h.get(&mut browser, "/").await.body.contains("is connected"));

    // The permissions request too: refreshed, then sent to Cronofy's page, then the return.
    h.fake.expire_access_token(&second);
    let elevate = h.elevate(&mut browser, &[HOME]).await;
    assert_eq!(elevate.status, StatusCode::SEE_OTHER, "{}", elevate.body);
    assert_eq!(h.refreshes(), 2);
    let back = h.answer(elevate.location(), "accept").await;
    let done = h.get(&mut browser, &path_and_query(&back)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.level_of(HOME), "unrestricted");
    assert_eq!(h.refreshes(), 2, "the refreshed token was kept");

    // No token on any page.
    for page in [&list, &again, &elevate, &done] {
        let shown = format!("{:?} {}", page.headers, page.body);
        for token in [&first, &second] {
            assert!(!shown.contains(token.as_str()), "a token in {shown}");
        }
    }
}

/// A token refreshed during a call that then fails (a 502 page, which `tower-sessions` does
/// not save after) is kept all the same.
#[tokio::test]
async fn a_refreshed_token_is_kept_when_the_page_is_an_error() {
    let h = Harness::new().await;
    let mut browser = h.connect(&h.fake.seed().account_id).await;
    h.get(&mut browser, "/calendars").await;
    let first = h.last_access_token();
    // The next list answers 401 (so the app refreshes), its retry 404.
    h.fake
        .script(Route::Calendars, [Fault::status(401), Fault::status(404)]);
    let failed = h.get(&mut browser, "/calendars").await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);
    assert_eq!(h.refreshes(), 1);
    let refreshed = h.last_access_token();
    assert_ne!(refreshed, first);
    let list = h.get(&mut browser, "/calendars").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(
        h.last_access_token(),
        refreshed,
        "the refreshed token was saved"
    );
    assert_eq!(h.refreshes(), 1);
}

/// When Cronofy refuses the refresh (the user revoked the app's access: `invalid_grant`; or a
/// 401 from the token endpoint), the session ends and the user is offered Connect again: no
/// 502, and no page that still says "connected".
#[tokio::test]
async fn a_refused_refresh_ends_the_session_and_offers_connect_again() {
    let h = Harness::new().await;
    let account = h.fake.seed().account_id.clone();
    let mut browser = h.connect(&account).await;
    h.get(&mut browser, "/calendars").await;
    let access = h.last_access_token();
    // Revoked in Cronofy: the access token and the refresh token are both dead.
    let revoke = RevokeToken::new(
        h.state.inner.credentials.clone(),
        Revocable::AccessToken(AccessToken::new(access.clone())),
    );
    h.state.inner.client.revoke(&revoke).await.unwrap();

    let page = h.get(&mut browser, "/calendars").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"connect-again\""), "{}", page.body);
    assert!(page.body.contains("action=\"/connect\""), "{}", page.body);
    assert!(!page.body.contains(&access));
    assert_eq!(h.refreshes(), 1, "the refresh was tried, and refused");
    let removal = page.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        removal.contains("Max-Age=0"),
        "the cookie is removed: {removal}"
    );
    // A fresh start: no session, nothing that says connected.
    let calendars = h.get(&mut browser, "/calendars").await;
    assert_eq!(calendars.status, StatusCode::SEE_OTHER);
    assert_eq!(calendars.location(), "/");
    let home = h.get(&mut browser, "/").await;
    assert!(!home.body.contains("is connected"), "{}", home.body);
    // Connect again works.
    h.connect_in(&mut browser, &account).await;
    let list = h.get(&mut browser, "/calendars").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);

    // A 401 from the token endpoint on `POST /elevate`: the same fresh start.
    let list = h.get(&mut browser, "/calendars").await;
    let form = format!("csrf={}&calendar={HOME}", list.form_token());
    h.fake.expire_access_token(&h.last_access_token());
    h.fake.script(Route::Token, [Fault::status(401)]);
    let elevate = h.post(&mut browser, "/elevate", &form).await;
    assert_eq!(elevate.status, StatusCode::OK, "{}", elevate.body);
    assert!(
        elevate.body.contains("id=\"connect-again\""),
        "{}",
        elevate.body
    );
    assert_eq!(h.refreshes(), 2);
    assert_eq!(h.permission_requests(), 1, "the 401, not retried");
    let calendars = h.get(&mut browser, "/calendars").await;
    assert_eq!(calendars.location(), "/");
}

#[test]
fn connected_debug_shows_no_token() {
    let connected = sessions::Connected {
        access_token: "access-secret".to_owned(),
        refresh_token: "refresh-secret".to_owned(),
        since: 0,
    };
    let debug = format!("{connected:?} {connected:#?}");
    assert!(!debug.contains("access-secret"), "{debug}");
    assert!(!debug.contains("refresh-secret"), "{debug}");
    // A record written before the refresh token was kept still reads (and refreshes nothing).
    let old: sessions::Connected =
        serde_json::from_str(r#"{"access_token":"a","since":1}"#).unwrap();
    assert_eq!(old.refresh_token, "");
}

/// An app served on 127.0.0.1 with these options; the shutdown trigger and the serving task.
async fn serve_app(
    h: &Harness,
    options: ServeOptions,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = h.router.clone();
    let server = tokio::spawn(serve(listener, router, options, async {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

/// Finding 3: a client that sends half its headers is cut off, and does not hold the
/// process past the shutdown deadline.
#[tokio::test]
async fn finding_3_half_sent_headers_time_out_and_do_not_hold_shutdown() {
    let h = Harness::new().await;
    // The bounds below only keep a broken server from hanging the test; nothing is timed.
    let bound = Duration::from_secs(30);

    let options = ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        shutdown_deadline: Duration::from_secs(5),
    };
    let (addr, stop, server) = serve_app(&h, options).await;
    // A whole request is served.
    let mut whole = tokio::net::TcpStream::connect(addr).await.unwrap();
    whole
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    whole.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Half the headers, then nothing: the server closes the connection.
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    let closed = tokio::time::timeout(bound, half.read_to_end(&mut buffer)).await;
    assert!(closed.is_ok(), "the half-sent request was not cut off");
    let _ = stop.send(());
    tokio::time::timeout(bound, server)
        .await
        .expect("stopped")
        .unwrap()
        .unwrap();

    // Shutdown with a half-open client still connected (a long header timeout this time):
    // `serve` returns at the deadline.
    let options = ServeOptions {
        header_read_timeout: Duration::from_secs(3600),
        shutdown_deadline: Duration::from_millis(300),
    };
    let (addr, stop, server) = serve_app(&h, options).await;
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = stop.send(());
    let stopped = tokio::time::timeout(bound, server).await;
    assert!(stopped.is_ok(), "a half-open client kept the server alive");
    drop(half);
}

/// Finding 4: two tabs, each with its own request in flight, each finish; a state is used
/// once even when two returns arrive together.
#[tokio::test]
async fn finding_4_two_flows_per_session() {
    let h = Harness::new().await;
    // Two sign-ins started in two tabs: the first one's return still works.
    let mut browser = Browser::default();
    let first = h.press_connect(&mut browser).await;
    let _second = h.press_connect(&mut browser).await;
    let back = h
        .come_back(&mut browser, &h.fake.seed().account_id, &first)
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);

    // Two permissions requests in two tabs, answered in the other order.
    let tab_a = h.elevate(&mut browser, &[HOME]).await;
    let tab_b = h.elevate(&mut browser, &[PERSONAL]).await;
    assert_eq!(tab_a.status, StatusCode::SEE_OTHER, "{}", tab_a.body);
    assert_eq!(tab_b.status, StatusCode::SEE_OTHER, "{}", tab_b.body);
    let back_b = h.answer(tab_b.location(), "accept").await;
    let back_a = h.answer(tab_a.location(), "accept").await;
    let done_a = h.get(&mut browser, &path_and_query(&back_a)).await;
    assert_eq!(done_a.status, StatusCode::OK, "{}", done_a.body);
    assert!(
        done_a.body.contains("data-outcome=\"accepted\""),
        "{}",
        done_a.body
    );
    assert_eq!(done_a.level_of(HOME), "unrestricted");
    let done_b = h.get(&mut browser, &path_and_query(&back_b)).await;
    assert_eq!(done_b.status, StatusCode::OK, "{}", done_b.body);
    assert!(
        done_b.body.contains("data-outcome=\"accepted\""),
        "{}",
        done_b.body
    );
    assert_eq!(done_b.level_of(PERSONAL), "unrestricted");

    // A used return again: the page says this app did nothing with it, and shows what
    // Cronofy says now (both granted), not "nothing was changed".
    let replay = h.get(&mut browser, &path_and_query(&back_a)).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.body.contains("already used"), "{}", replay.body);
    assert!(
        !replay.body.contains("nothing was changed"),
        "{}",
        replay.body
    );
    assert_eq!(replay.level_of(HOME), "unrestricted");

    // Two returns with the same state at the same time: exactly one passes. (A fresh user:
    // the first one has no calendar left that needs elevation.)
    let h = Harness::new().await;
    let mut browser = h.connect(&h.fake.seed().account_id).await;
    let tab_c = h.elevate(&mut browser, &[HOME]).await;
    let back_c = path_and_query(&h.answer(tab_c.location(), "accept").await);
    let (mut first, mut second) = (browser.clone(), browser.clone());
    let (one, two) = tokio::join!(h.get(&mut first, &back_c), h.get(&mut second, &back_c));
    let mut statuses = [one.status, two.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST]);
}

/// Finding 5: a cross-site POST is refused, by its `Origin` / `Sec-Fetch-Site` and by the
/// form token; nothing is sent to Cronofy.
#[tokio::test]
async fn finding_5_cross_site_posts_are_refused() {
    let h = Harness::new().await;
    let mut browser = h.connect(&h.fake.seed().account_id).await;
    let list = h.get(&mut browser, "/calendars").await;
    let token = list.form_token();
    let cookie = browser.cookie.clone().unwrap();
    let form = format!("csrf={token}&calendar={HOME}");
    let attempt = |headers: &[(&str, &str)], form: &str| {
        let mut request = Request::post("/elevate")
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(Body::from(form.to_owned())).unwrap()
    };
    let refused = [
        attempt(
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
            &form,
        ),
        attempt(&[("origin", "https://evil.example")], &form),
        attempt(&[("sec-fetch-site", "same-site")], &form),
        attempt(&[("origin", "null")], &form),
        // Same origin, but no token or a wrong one.
        attempt(&[("origin", BASE)], &format!("calendar={HOME}")),
        attempt(
            &[("origin", BASE)],
            &format!("csrf=x{token}&calendar={HOME}"),
        ),
        attempt(&[], &format!("calendar={HOME}")),
    ];
    for request in refused {
        let page = h.send(request).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
        assert!(page.body.contains("nothing was changed"), "{}", page.body);
    }
    assert_eq!(h.permission_requests(), 0, "nothing reached Cronofy");
    // A cross-site Connect is refused too (it would start a sign-in in the user's name).
    let connect = h
        .send(
            Request::post("/connect")
                .header("origin", "https://evil.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(connect.status, StatusCode::FORBIDDEN);
    // The app's own form passes.
    let ok = h
        .send(attempt(
            &[("origin", BASE), ("sec-fetch-site", "same-origin")],
            &form,
        ))
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    // Every page refuses to be framed, the refusals included.
    assert_eq!(ok.headers[header::X_FRAME_OPTIONS], "DENY");
}

#[tokio::test]
async fn a_request_body_is_limited() {
    let h = Harness::new().await;
    let mut browser = h.connect(&h.fake.seed().account_id).await;
    let big = format!("calendar={}", "x".repeat(MAX_BODY_BYTES + 1));
    let page = h.post(&mut browser, "/elevate", &big).await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(h.permission_requests(), 0);
}

#[tokio::test]
async fn a_forged_oauth_callback_changes_nothing() {
    let h = Harness::new().await;
    let mut browser = Browser::default();
    let state = h.press_connect(&mut browser).await;
    let account = h.fake.seed().account_id.clone();

    let forged = h.come_back(&mut browser, &account, "forged").await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(forged.body.contains("id=\"error\""), "{}", forged.body);
    assert!(forged.body.contains("did nothing"), "{}", forged.body);
    let no_cookie = h.come_back(&mut Browser::default(), &account, &state).await;
    assert_eq!(no_cookie.status, StatusCode::BAD_REQUEST);
    assert!(
        h.fake.requests().iter().all(|r| r.path != "/oauth/token"),
        "no code was exchanged"
    );

    // The request in flight is still answerable, once.
    let genuine = h.come_back(&mut browser, &account, &state).await;
    assert_eq!(genuine.status, StatusCode::SEE_OTHER, "{}", genuine.body);
    assert_eq!(genuine.location(), "/calendars");
    let replay = h.come_back(&mut browser, &account, &state).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn accept_elevates_the_chosen_calendars_and_no_secret_reaches_a_page() {
    let h = Harness::new().await;
    let mut browser = h.connect(&h.fake.seed().account_id).await;
    let mut pages = Vec::new();

    let list = h.get(&mut browser, "/calendars").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.level_of(HOME), "sandbox");
    assert!(list.body.contains(&format!("value=\"{HOME}\"")));
    assert!(
        !list.body.contains(&format!("value=\"{WORK_DELETED}\"")),
        "a deleted calendar cannot be chosen"
    );
    pages.push(list);

    let elevate = h.elevate(&mut browser, &[HOME, PERSONAL]).await;
    assert_eq!(elevate.status, StatusCode::SEE_OTHER, "{}", elevate.body);
    let cronofy_page = elevate.location().to_owned();
    assert!(
        cronofy_page.starts_with(&format!("{}/permissions/", h.fake.app_url())),
        "{cronofy_page}"
    );
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

    // A forged return does nothing and leaves the request answerable.
    let forged = h.get(&mut browser, "/permission?state=forged").await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert!(forged.body.contains("did nothing"), "{}", forged.body);
    assert_eq!(forged.level_of(HOME), "sandbox", "the refreshed list");
    pages.push(forged);

    let back = h.answer(&cronofy_page, "accept").await;
    assert_eq!(
        back.as_str().split('?').next().unwrap(),
        format!("{BASE}/permission")
    );
    // The Host header (here, an absolute-form target) is ignored: the base URL counts.
    let done = h
        .get(
            &mut browser,
            &format!("http://evil.example{}", path_and_query(&back)),
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
    assert_eq!(done.level_of(BANK_HOLIDAYS), "sandbox");
    pages.push(done);

    let seed = h.fake.seed();
    let debug = format!("{:?} {:#?}", h.state, h.state);
    let session_id = browser.cookie.clone().unwrap();
    let session_id = session_id.trim_start_matches("session=");
    for secret in [seed.access_token.as_str(), session_id, &seed.client_secret] {
        assert!(!debug.contains(secret), "a secret in {debug}");
    }
    for page in &pages {
        let shown = format!("{:?} {}", page.headers, page.body);
        for secret in [&seed.access_token, &seed.refresh_token, &seed.client_secret] {
            assert!(!shown.contains(secret.as_str()), "a secret in {shown}");
        }
    }
}

#[tokio::test]
async fn reject_changes_nothing() {
    let h = Harness::new().await;
    let mut browser = h.connect(&h.fake.seed().account_id).await;
    let before = h.levels();
    let elevate = h.elevate(&mut browser, &[HOME, PERSONAL]).await;
    let back = h.answer(elevate.location(), "reject").await;
    assert_eq!(query_value(&back, "error").unwrap(), "access_denied");
    let done = h.get(&mut browser, &path_and_query(&back)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("data-outcome=\"rejected\""),
        "{}",
        done.body
    );
    assert_eq!(done.level_of(HOME), "sandbox");
    assert_eq!(h.levels(), before);
}

#[tokio::test]
async fn enterprise_connect_is_granted_at_once() {
    let h = Harness::new().await;
    let seed = h.fake.seed();
    let mut browser = h.connect(&seed.enterprise_account_id).await;
    let ids: Vec<&str> = seed
        .enterprise_calendar_ids
        .iter()
        .map(String::as_str)
        .collect();
    let page = h.elevate(&mut browser, &ids).await;
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
    let mut nobody = Browser::default();
    let calendars = h.get(&mut nobody, "/calendars").await;
    assert_eq!(calendars.status, StatusCode::SEE_OTHER);
    assert_eq!(calendars.location(), "/");
    let mut unknown = Browser {
        cookie: Some("session=unknown".to_owned()),
    };
    let page = h.get(&mut unknown, "/calendars").await;
    assert_eq!(page.location(), "/");
    let elevate = h.post(&mut unknown, "/elevate", "").await;
    assert_eq!(elevate.status, StatusCode::SEE_OTHER);
    let permission = h.get(&mut Browser::default(), "/permission?state=x").await;
    assert_eq!(permission.status, StatusCode::BAD_REQUEST);

    // Connected, but no permissions request in flight, or nothing chosen.
    let mut browser = h.connect(&h.fake.seed().account_id).await;
    let permission = h.get(&mut browser, "/permission?state=x").await;
    assert_eq!(permission.status, StatusCode::BAD_REQUEST);
    assert!(permission.body.contains("did nothing"));
    let nothing_chosen = h.elevate(&mut browser, &[]).await;
    assert_eq!(nothing_chosen.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.permission_requests(), 0);
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
        AppState::new(client, no_id, BASE),
        Err(ConfigError::Request(_))
    ));
}

#[tokio::test]
async fn a_bad_redis_url_is_a_typed_error() {
    let error = Store::redis("not a url").await.unwrap_err();
    assert!(matches!(error, StoreError::Url(_)), "{error:?}");
    assert_eq!(error.to_string(), "REDIS_URL is not a valid Redis URL");
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
    let page = html::calendars(&list, None, Some("<i>x</i>"), "\"token");
    assert!(!page.contains("<script>"), "{page}");
    assert!(!page.contains("<b>"), "{page}");
    assert!(!page.contains("<i>"), "{page}");
    assert!(page.contains("&lt;b&gt;Home&lt;/b&gt;"));
    assert!(page.contains("value=\"&quot;token\""));
}

#[tokio::test]
async fn the_pending_map_is_capped_per_session() {
    let store = pending::PendingStore::memory();
    for i in 0..MAX_PENDING + 2 {
        store
            .put("flow", &format!("s{i}"), &Pending::Login)
            .await
            .unwrap();
    }
    let take = |state: &'static str| store.take("flow", Kind::Login, state);
    assert_eq!(take("s0").await.unwrap(), None, "the oldest went first");
    assert_eq!(take("s1").await.unwrap(), None);
    assert_eq!(take("s2").await.unwrap(), Some(Pending::Login));
    assert_eq!(take("s2").await.unwrap(), None, "once only");
    // A login state is no answer to a permissions request.
    assert_eq!(
        store.take("flow", Kind::Permissions, "s3").await.unwrap(),
        None
    );
    assert_eq!(
        store.take("other", Kind::Login, "s3").await.unwrap(),
        None,
        "another session's state"
    );
}
