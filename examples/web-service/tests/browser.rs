//! The whole flow in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver` packages) driven over WebDriver with fantoccini, against the example app
//! and a local fake Cronofy, every server on 127.0.0.1.
//!
//! The app is addressed as `http://localhost:{port}` and the fake as `http://127.0.0.1:{port}`:
//! two different sites, so the session cookie (`SameSite=Lax`) must survive real cross-site
//! returns, as it must with the real Cronofy.
//!
//! Without Chromium or chromedriver the tests fail when `CI` is set, and otherwise print what to
//! install and pass. Screenshots of the final pages go to `target/browser-screenshots/`.
#![cfg(unix)]

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::{Client as WebDriver, ClientBuilder, Locator};
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use permissions_core::{BaseUrl, ClientCredentials, ClientSecret, Hosts};
use permissions_fake::FakeCronofy;
use permissions_web_example::{AppState, ServeOptions, Store, app, cronofy_client, serve};
use serde_json::json;

const HOME: &str = "cal_n23kjnwrw2_jsdfjksn234";
const PERSONAL: &str = "cal_fe145c37de_w0rkab1e001";
const BANK_HOLIDAYS: &str = "cal_fe145c37de_3nkj23wejk1";

/// How long to wait for one page to show what is expected.
const PAGE_WAIT: Duration = Duration::from_secs(15);
/// An upper bound for one whole scenario, so that a stuck browser fails the test.
const SCENARIO_LIMIT: Duration = Duration::from_secs(120);

const INSTALL_HINT: &str =
    "install Debian's packages: apt-get install chromium chromium-driver (as root)";

/// Chromium's and chromedriver's paths: `/usr/bin/…`, or `CHROMIUM_PATH` / `CHROMEDRIVER_PATH`.
fn tools() -> Option<(PathBuf, PathBuf)> {
    let path = |var: &str, default: &str| {
        PathBuf::from(std::env::var_os(var).unwrap_or_else(|| default.into()))
    };
    let chromium = path("CHROMIUM_PATH", "/usr/bin/chromium");
    let driver = path("CHROMEDRIVER_PATH", "/usr/bin/chromedriver");
    let missing: Vec<String> = [&chromium, &driver]
        .into_iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some((chromium, driver));
    }
    let message = format!(
        "the browser test needs {}, which is missing: {INSTALL_HINT}",
        missing.join(" and ")
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    // Straight to stderr, past the test harness's capture, so that the hint is seen.
    let _ = writeln!(std::io::stderr(), "browser test not run: {message}");
    None
}

/// Where screenshots (and chromedriver's log) go: `browser-screenshots/` in the target dir.
fn output_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `{target dir}/tmp`, wherever CARGO_TARGET_DIR points.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir");
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot folder");
    dir
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Short: Chromium puts a Unix socket in here, and socket paths are limited to 107 bytes.
        let dir = std::env::temp_dir().join(format!(
            "pwe-{label}-{}-{}",
            std::process::id(),
            nanos % 1_000_000
        ));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// chromedriver, in its own process group; on drop the group (chromedriver and the Chromium it
/// started) is killed.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts `binary`; it and the Chromium it starts keep their temporary files in `tmp`.
    fn start(binary: &Path, log: &Path, tmp: &Path) -> Driver {
        // A port the OS says is free; another process could take it before chromedriver binds
        // it, so a few attempts.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let child = {
                use std::os::unix::process::CommandExt as _;
                Command::new(binary)
                    .arg(format!("--port={port}"))
                    .arg(format!("--log-path={}", log.display()))
                    .env("TMPDIR", tmp)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .process_group(0)
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
            };
            let mut driver = Driver {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return driver;
                }
                if let Ok(Some(_)) = driver.child.try_wait() {
                    break; // exited: most likely the port was taken; try another
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!(
            "chromedriver did not start listening; its log: {}",
            log.display()
        );
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The negative pid names the process group this child leads.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session in a fresh profile, with the servers it talks to.
struct World {
    browser: WebDriver,
    fake: FakeCronofy,
    app_url: String,
    name: &'static str,
    // Dropped last, in this order: the browser session ends with the driver.
    _driver: Driver,
    _scratch: TempDir,
}

impl World {
    async fn start(name: &'static str) -> Option<World> {
        let (chromium, driver_binary) = tools()?;
        let fake = FakeCronofy::start().await.expect("start the fake Cronofy");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the app");
        let app_url = format!(
            "http://localhost:{}",
            listener.local_addr().expect("app address").port()
        );
        let state = app_state(&fake, &app_url);
        // Runs until the test's runtime ends.
        tokio::spawn(serve(
            listener,
            app(state),
            ServeOptions::default(),
            std::future::pending(),
        ));
        Some(World::open(name, fake, app_url, &chromium, &driver_binary).await)
    }

    /// Opens a browser on `app_url`, whose Cronofy is `fake`.
    async fn open(
        name: &'static str,
        fake: FakeCronofy,
        app_url: String,
        chromium: &Path,
        driver_binary: &Path,
    ) -> World {
        // A fresh profile, and a temp dir for Chromium's own scratch files: both removed at the
        // end, even when the browser is killed.
        let scratch = TempDir::new(name);
        let profile = scratch.0.join("profile");
        let tmp = scratch.0.join("tmp");
        for dir in [&profile, &tmp] {
            std::fs::create_dir_all(dir).expect("create a temp dir");
        }
        let driver = Driver::start(
            driver_binary,
            &output_dir().join(format!("chromedriver-{name}.log")),
            &tmp,
        );
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-quic",
                    "--disable-dev-shm-usage",
                    "--window-size=1000,800",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let browser = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("Chromium did not start ({e}); {INSTALL_HINT}"));
        World {
            browser,
            fake,
            app_url,
            name,
            _driver: driver,
            _scratch: scratch,
        }
    }

    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .browser
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                // Without the query: it may hold an authorization code.
                let page = match self.browser.current_url().await {
                    Ok(url) => format!("{}{}", url.origin().ascii_serialization(), url.path()),
                    Err(_) => "an unknown page".to_owned(),
                };
                let text = match self.browser.find(Locator::Css("body")).await {
                    Ok(body) => body.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                panic!("no `{css}` on {page} ({e}); the page says:\n{text}")
            }
        }
    }

    async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap()
    }

    async fn level_of(&self, calendar_id: &str) -> String {
        self.text(&format!("tr[data-calendar-id='{calendar_id}'] td.level"))
            .await
    }

    /// Connect, approve on the consent page, choose Home and Personal, ask for access: returns
    /// the URL of Cronofy's permissions page, where the browser now is.
    async fn connect_and_ask(&self) -> String {
        self.browser.goto(&self.app_url).await.unwrap();
        self.screenshot("home").await;
        self.click("button#connect").await;
        self.click("form#approve button").await;
        self.wait_for("table#calendars").await;
        let url = self.browser.current_url().await.unwrap();
        assert_eq!(
            url.as_str(),
            format!("{}/calendars", self.app_url),
            "back on the app, the code exchanged"
        );
        assert_eq!(self.level_of(HOME).await, "sandbox");
        // The session cookie is HttpOnly: scripts cannot read it.
        let cookies = self
            .browser
            .execute("return document.cookie", vec![])
            .await
            .unwrap();
        assert_eq!(cookies, json!(""));

        for id in [HOME, PERSONAL] {
            self.click(&format!("input[name='calendar'][value='{id}']"))
                .await;
        }
        self.click("button#elevate-button").await;
        self.wait_for("form#accept").await;
        self.screenshot("cronofy-permissions").await;
        let cronofy = self.browser.current_url().await.unwrap().to_string();
        assert!(
            cronofy.starts_with(&format!("{}/permissions/", self.fake.app_url())),
            "{cronofy}"
        );
        let asked = self.text("ul#calendars").await;
        assert!(asked.contains(HOME) && asked.contains(PERSONAL), "{asked}");
        cronofy
    }

    fn levels(&self) -> Vec<(String, String)> {
        self.fake
            .calendars_of(&self.fake.seed().account_id)
            .into_iter()
            .map(|c| (c.id, c.permission_level))
            .collect()
    }

    /// Checks that nothing secret is on the page or in its URL.
    async fn assert_no_secrets(&self) {
        let url = self.browser.current_url().await.unwrap();
        assert!(
            url.query_pairs()
                .all(|(k, _)| k != "code" && k != "access_token"),
            "{url}"
        );
        let source = self.browser.source().await.unwrap();
        let seed = self.fake.seed();
        for secret in [&seed.client_secret, &seed.access_token, &seed.refresh_token] {
            assert!(!source.contains(secret.as_str()), "a secret on the page");
        }
    }

    async fn screenshot(&self, label: &str) {
        let png = self.browser.screenshot().await.unwrap();
        let path = output_dir().join(format!("{}-{label}.png", self.name));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
    }

    async fn close(self) {
        self.browser.close().await.unwrap();
    }
}

/// The app's state for `app_url`, talking to `fake`.
fn app_state(fake: &FakeCronofy, app_url: &str) -> AppState {
    app_state_paced(fake, app_url, None)
}

/// As the app's `main` builds it: with a Redis URL, the replicas share one Cronofy budget.
fn app_state_paced(fake: &FakeCronofy, app_url: &str, redis_url: Option<&str>) -> AppState {
    let hosts = Hosts::custom(
        BaseUrl::parse(fake.api_url()).unwrap(),
        BaseUrl::parse(fake.app_url()).unwrap(),
    );
    let seed = fake.seed();
    let credentials = ClientCredentials::new(
        seed.client_id.as_str(),
        ClientSecret::new(seed.client_secret.as_str()),
    );
    let shared = redis_url.map(|url| (url, seed.client_id.as_str()));
    let client = cronofy_client(hosts, shared, 2).unwrap();
    AppState::new(client, credentials, app_url).unwrap()
}

async fn run<F: Future<Output = ()>>(scenario: F) {
    tokio::time::timeout(SCENARIO_LIMIT, scenario)
        .await
        .expect("the scenario did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_on_cronofy_elevates_the_chosen_calendars() {
    run(async {
        let Some(w) = World::start("accept").await else {
            return;
        };
        w.connect_and_ask().await;
        w.click("form#accept button").await;

        let outcome = w.wait_for("#outcome").await;
        assert_eq!(
            outcome.attr("data-outcome").await.unwrap().as_deref(),
            Some("accepted")
        );
        let url = w.browser.current_url().await.unwrap();
        assert_eq!(url.path(), "/permission");
        assert_eq!(w.level_of(HOME).await, "unrestricted");
        assert_eq!(w.level_of(PERSONAL).await, "unrestricted");
        assert_eq!(w.level_of(BANK_HOLIDAYS).await, "sandbox");
        let fake_levels = w.levels();
        for (id, level) in &fake_levels {
            let expected = if id == HOME || id == PERSONAL {
                "unrestricted"
            } else {
                "sandbox"
            };
            assert_eq!(level, expected, "{id} at Cronofy");
        }
        w.assert_no_secrets().await;
        w.screenshot("final").await;
        w.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_on_cronofy_changes_nothing() {
    run(async {
        let Some(w) = World::start("reject").await else {
            return;
        };
        let before = w.levels();
        w.connect_and_ask().await;
        w.click("form#reject button").await;

        let outcome = w.wait_for("#outcome").await;
        assert_eq!(
            outcome.attr("data-outcome").await.unwrap().as_deref(),
            Some("rejected")
        );
        assert!(outcome.text().await.unwrap().contains("Rejected"));
        let url = w.browser.current_url().await.unwrap();
        assert_eq!(url.path(), "/permission");
        assert!(
            url.query_pairs()
                .any(|(k, v)| k == "error" && v == "access_denied")
        );
        assert_eq!(w.level_of(HOME).await, "sandbox");
        assert_eq!(w.level_of(PERSONAL).await, "sandbox");
        assert_eq!(w.levels(), before);
        w.assert_no_secrets().await;
        w.screenshot("final").await;
        w.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_return_is_shown_as_an_error_and_changes_nothing() {
    run(async {
        let Some(w) = World::start("forged").await else {
            return;
        };
        let before = w.levels();
        let cronofy = w.connect_and_ask().await;

        // Someone sends the user a crafted return link, with a state of their own.
        w.browser
            .goto(&format!("{}/permission?state=forged", w.app_url))
            .await
            .unwrap();
        let error = w.text("#error").await;
        assert!(error.contains("did nothing with it"), "{error}");
        // The refreshed list is shown below: still sandbox, as Cronofy says.
        assert_eq!(w.level_of(HOME).await, "sandbox");
        assert!(
            w.browser.find(Locator::Id("outcome")).await.is_err(),
            "no outcome shown"
        );
        assert_eq!(w.levels(), before);
        w.assert_no_secrets().await;
        w.screenshot("final").await;

        // The genuine request is still answerable.
        w.browser.goto(&cronofy).await.unwrap();
        w.click("form#accept button").await;
        let outcome = w.wait_for("#outcome").await;
        assert_eq!(
            outcome.attr("data-outcome").await.unwrap().as_deref(),
            Some("accepted")
        );
        assert_eq!(w.level_of(HOME).await, "unrestricted");
        w.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_each_finish_their_own_flow() {
    run(async {
        let Some(w) = World::start("two-tabs").await else {
            return;
        };
        two_tabs(&w).await;
        w.close().await;
    })
    .await;
}

/// Signs in, then asks for Home in one tab and for Personal in a second tab, and accepts in
/// the first tab, then in the second: each tab finishes its own request.
async fn two_tabs(w: &World) {
    w.browser.goto(&w.app_url).await.unwrap();
    w.click("button#connect").await;
    w.click("form#approve button").await;
    w.wait_for("table#calendars").await;
    w.screenshot("calendars").await;
    let first = w.browser.window().await.unwrap();

    w.click(&format!("input[name='calendar'][value='{HOME}']"))
        .await;
    w.click("button#elevate-button").await;
    w.wait_for("form#accept").await;

    let second = w.browser.new_window(true).await.unwrap().handle;
    w.browser.switch_to_window(second.clone()).await.unwrap();
    w.browser
        .goto(&format!("{}/calendars", w.app_url))
        .await
        .unwrap();
    w.click(&format!("input[name='calendar'][value='{PERSONAL}']"))
        .await;
    w.click("button#elevate-button").await;
    w.wait_for("form#accept").await;
    let asked = w.text("ul#calendars").await;
    assert!(asked.contains(PERSONAL) && !asked.contains(HOME), "{asked}");

    // The first tab answers first, though the second request was made last.
    w.browser.switch_to_window(first).await.unwrap();
    w.click("form#accept button").await;
    let outcome = w.wait_for("#outcome").await;
    assert_eq!(
        outcome.attr("data-outcome").await.unwrap().as_deref(),
        Some("accepted")
    );
    assert_eq!(w.level_of(HOME).await, "unrestricted");
    assert_eq!(w.level_of(PERSONAL).await, "sandbox");
    w.screenshot("first-tab").await;

    w.browser.switch_to_window(second).await.unwrap();
    w.click("form#accept button").await;
    let outcome = w.wait_for("#outcome").await;
    assert_eq!(
        outcome.attr("data-outcome").await.unwrap().as_deref(),
        Some("accepted")
    );
    assert_eq!(w.level_of(HOME).await, "unrestricted");
    assert_eq!(w.level_of(PERSONAL).await, "unrestricted");
    assert_eq!(w.level_of(BANK_HOLIDAYS).await, "sandbox");
    w.assert_no_secrets().await;
    w.screenshot("second-tab").await;

    // The same return again: the app does nothing with it, and shows the list as it is.
    let used = w.browser.current_url().await.unwrap();
    w.browser.goto(used.as_str()).await.unwrap();
    let error = w.text("#error").await;
    assert!(error.contains("already used"), "{error}");
    assert_eq!(w.level_of(PERSONAL).await, "unrestricted");
    w.screenshot("used-return").await;
}

/// `redis-server` on a free port on 127.0.0.1, with no persistence, in a temp dir; killed on
/// drop.
struct Redis {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Redis {
    fn start() -> Option<Redis> {
        let binary = PathBuf::from(
            std::env::var_os("REDIS_SERVER_PATH").unwrap_or_else(|| "/usr/bin/redis-server".into()),
        );
        if !binary.is_file() {
            let message = format!(
                "the two-replica test needs {}, which is missing: apt-get install redis-server",
                binary.display()
            );
            if std::env::var_os("CI").is_some() {
                panic!("{message}");
            }
            let _ = writeln!(std::io::stderr(), "browser test not run: {message}");
            return None;
        }
        let dir = TempDir::new("redis");
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut child = Command::new(&binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir.0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Redis {
                        child,
                        url: format!("redis://127.0.0.1:{port}/0"),
                        _dir: dir,
                    });
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // most likely the port was taken; try another
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start listening");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which replica served which path, as the proxy saw it.
type Log = Arc<Mutex<Vec<(usize, String)>>>;

/// A tiny load balancer in front of two replicas: the requests that start a trip to Cronofy
/// (`POST /connect`, `POST /elevate`) go to replica 0, the returns (`/oauth/callback`,
/// `/permission`) to replica 1, anything else to each in turn.
async fn proxy(replicas: [String; 2], log: Log) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the proxy");
    let url = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let http: LegacyClient<HttpConnector, axum::body::Body> =
        LegacyClient::builder(TokioExecutor::new()).build(HttpConnector::new());
    let turn = Arc::new(AtomicUsize::new(0));
    let forward = move |request: axum::http::Request<axum::body::Body>| {
        let (http, replicas, log, turn) =
            (http.clone(), replicas.clone(), log.clone(), turn.clone());
        async move {
            let path = request.uri().path().to_owned();
            let replica = match path.as_str() {
                "/connect" | "/elevate" => 0,
                "/oauth/callback" | "/permission" => 1,
                _ => turn.fetch_add(1, Ordering::Relaxed) % 2,
            };
            log.lock().unwrap().push((replica, path));
            let (mut parts, body) = request.into_parts();
            let target = format!(
                "{}{}",
                replicas[replica],
                parts.uri.path_and_query().map_or("/", |p| p.as_str())
            );
            parts.uri = target.parse().unwrap();
            match http
                .request(axum::http::Request::from_parts(parts, body))
                .await
            {
                Ok(response) => response.map(axum::body::Body::new),
                Err(e) => axum::http::Response::builder()
                    .status(502)
                    .body(axum::body::Body::from(format!("proxy: {e}")))
                    .unwrap(),
            }
        }
    };
    let router = axum::Router::new().fallback(forward);
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_redis_serve_one_user() {
    run(async {
        let Some((chromium, driver_binary)) = tools() else {
            return;
        };
        let Some(redis) = Redis::start() else {
            return;
        };
        let fake = FakeCronofy::start().await.expect("start the fake Cronofy");
        let mut listeners = Vec::new();
        for _ in 0..2 {
            listeners.push(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind a replica"),
            );
        }
        let replicas: [String; 2] = [0, 1].map(|i| {
            format!(
                "http://127.0.0.1:{}",
                listeners[i].local_addr().unwrap().port()
            )
        });
        let log = Log::default();
        // Browsers reach the app through the proxy: that is the base URL of both replicas.
        let app_url = proxy(replicas, log.clone()).await;
        // Redis logs every command, so the test can see whose keys the replicas used.
        redis_cli(
            &redis.url,
            &["CONFIG", "SET", "slowlog-log-slower-than", "0"],
        );
        redis_cli(&redis.url, &["CONFIG", "SET", "slowlog-max-len", "100000"]);
        for listener in listeners {
            let store = Store::redis(&redis.url).await.expect("connect to Redis");
            let state = app_state_paced(&fake, &app_url, Some(&redis.url)).with_store(store);
            tokio::spawn(serve(
                listener,
                app(state),
                ServeOptions::default(),
                std::future::pending(),
            ));
        }
        let w = World::open("replicas", fake, app_url, &chromium, &driver_binary).await;
        w.connect_and_ask().await;
        w.click("form#accept button").await;
        let outcome = w.wait_for("#outcome").await;
        assert_eq!(
            outcome.attr("data-outcome").await.unwrap().as_deref(),
            Some("accepted")
        );
        assert_eq!(w.level_of(HOME).await, "unrestricted");
        assert_eq!(w.level_of(PERSONAL).await, "unrestricted");
        w.assert_no_secrets().await;
        w.screenshot("final").await;

        // Both replicas served this user, and each return landed on the other replica than
        // the request that started its trip.
        let log = log.lock().unwrap().clone();
        let served_by = |path: &str| {
            log.iter()
                .filter(|(_, p)| p == path)
                .map(|(replica, _)| *replica)
                .collect::<Vec<_>>()
        };
        assert_eq!(served_by("/connect"), [0], "{log:?}");
        assert_eq!(served_by("/oauth/callback"), [1], "{log:?}");
        assert_eq!(served_by("/elevate"), [0], "{log:?}");
        assert_eq!(served_by("/permission"), [1], "{log:?}");
        assert!(served_by("/calendars").contains(&0) || served_by("/").contains(&0));
        // And both paced their calls to Cronofy through one budget on the same Redis: Redis
        // logged (every command, see above) decisions on the application's pacing key.
        let log = redis_cli(&redis.url, &["SLOWLOG", "GET", "100000"]);
        let key = format!("{{cronofy-pacing:{}}}", w.fake.seed().client_id);
        assert!(
            log.contains(&key),
            "the replicas did not pace through Redis on {key}"
        );
        w.close().await;
        drop(redis);
    })
    .await;
}

/// `redis-cli` (it comes with Debian's redis-server) against the test's Redis: its output.
fn redis_cli(url: &str, args: &[&str]) -> String {
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .expect("a port in the URL");
    let out = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", port])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
