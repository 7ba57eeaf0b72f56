//! Loopback benchmark: each transport crate against the same POST made by hand with the same
//! HTTP client, reused, against one local server, in one run.
//!
//! The by-hand side does the same work a careful caller would: the same headers and body, the
//! status checked, the JSON read, and the returned URL parsed and checked before a browser is
//! sent there (the library does all of that, plus its retry bookkeeping).
//!
//! For each pair and each concurrency (sequential, 16 in flight) the two sides run in
//! alternating rounds of a fixed duration; the table reports the median requests/s of the
//! rounds and the ratio ours/by-hand. Bounded: ROUNDS x 2 sides x 4 cases x ROUND seconds.
//!
//! Run with `cargo xtask bench` (release build).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use permissions_core::{AccessToken, BaseUrl, Hosts, PermissionsOutcome, PermissionsRequest};

const ROUND: Duration = Duration::from_millis(1500);
const ROUNDS: usize = 5;
const IN_FLIGHT: usize = 16;
const BODY: &str = r#"{"permissions_request":{"url":"https://app.cronofy.com/permissions/abc"}}"#;
// A real Cronofy answer names its own app host; this one is on another host than the loopback
// server, so the clients accept any host (still https, no user-info) to read it.
const TOKEN: &str = "bench_token_0123456789abcdefghij";

#[derive(serde::Deserialize)]
struct Envelope {
    permissions_request: Inner,
}
#[derive(serde::Deserialize)]
struct Inner {
    url: Option<String>,
}

/// What a careful hand-written client does with the answer before sending a user's browser
/// there, as the library does: parse the URL and check it is http(s) with a host.
fn check_url(parsed: Envelope) {
    let url = permissions_core::url::Url::parse(&parsed.permissions_request.url.expect("url"))
        .expect("an absolute URL");
    assert!(matches!(url.scheme(), "http" | "https") && url.host_str().is_some());
}

fn start_server() -> (String, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(format!("http://{}", listener.local_addr().expect("addr")))
                .expect("send addr");
            let app = axum::Router::new().route(
                "/v1/permissions",
                axum::routing::post(|body: axum::body::Bytes| async move {
                    assert!(!body.is_empty());
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/json; charset=utf-8",
                        )],
                        BODY,
                    )
                }),
            );
            axum::serve(listener, app).await.expect("serve");
        });
    });
    (rx.recv().expect("server address"), handle)
}

/// Runs `work` on `threads` threads for `ROUND`; returns requests per second.
fn run_threads(threads: usize, work: Arc<dyn Fn() + Send + Sync>) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, count, work) = (stop.clone(), count.clone(), work.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    work();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(ROUND);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("worker");
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Runs `make()` futures, `tasks` at a time, for `ROUND`; returns requests per second.
fn run_tasks<F, Fut>(rt: &tokio::runtime::Runtime, tasks: usize, make: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let make = Arc::new(make);
    rt.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (stop, count, make) = (stop.clone(), count.clone(), make.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        make().await;
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        tokio::time::sleep(ROUND).await;
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.await.expect("task");
        }
        count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Row {
    name: String,
    ours: f64,
    by_hand: f64,
}

fn alternate(name: &str, mut ours: impl FnMut() -> f64, mut by_hand: impl FnMut() -> f64) -> Row {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    // Warm-up round for both, not counted.
    ours();
    by_hand();
    for _ in 0..ROUNDS {
        a.push(ours());
        b.push(by_hand());
    }
    let row = Row {
        name: name.to_owned(),
        ours: median(a),
        by_hand: median(b),
    };
    eprintln!(
        "{:<34} ours {:>9.0}/s  by hand {:>9.0}/s  ratio {:.3}",
        row.name,
        row.ours,
        row.by_hand,
        row.ours / row.by_hand
    );
    row
}

fn main() {
    let (base, _server) = start_server();
    let api = BaseUrl::parse(&base).expect("loopback base");
    let hosts = Hosts::custom(api.clone(), api.clone());
    let request = Arc::new(
        PermissionsRequest::builder()
            .calendar("cal_n23kjnwrw2_jsdfjksn234")
            .redirect_uri("https://app.example.com/permission")
            .build()
            .expect("valid request"),
    );
    let body = request.body();
    let url = api.join("v1/permissions").to_string();
    let token = AccessToken::new(TOKEN);
    let mut rows = Vec::new();

    // ureq, blocking.
    let ours = permissions_ureq::Client::builder()
        .hosts(hosts.clone())
        .pacing(None)
        .permissions_url_policy(permissions_core::PermissionsUrlPolicy::AnyHost)
        .build()
        .expect("ureq client");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_idle_connections_per_host(64)
        .build()
        .into();
    let ureq_ours = {
        let (ours, request, token) = (ours.clone(), request.clone(), token.clone());
        Arc::new(move || {
            let outcome = ours.request_permissions(&token, &request).expect("ours");
            assert!(matches!(outcome, PermissionsOutcome::Redirect { .. }));
        }) as Arc<dyn Fn() + Send + Sync>
    };
    let ureq_hand = {
        let (agent, url, body) = (agent.clone(), url.clone(), body.clone());
        Arc::new(move || {
            let mut response = agent
                .post(&url)
                .header("Authorization", format!("Bearer {TOKEN}"))
                .header("Content-Type", "application/json; charset=utf-8")
                .send(&body[..])
                .expect("by hand");
            assert!(response.status().is_success());
            let bytes = response
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_vec()
                .expect("body");
            let parsed: Envelope = serde_json::from_slice(&bytes).expect("json");
            check_url(parsed);
        }) as Arc<dyn Fn() + Send + Sync>
    };
    for (label, threads) in [("sequential", 1), ("16 in flight", IN_FLIGHT)] {
        rows.push(alternate(
            &format!("permissions-ureq, {label}"),
            || run_threads(threads, ureq_ours.clone()),
            || run_threads(threads, ureq_hand.clone()),
        ));
    }

    // reqwest, async.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("client runtime");
    let ours = rt.block_on(async {
        permissions_reqwest::Client::builder()
            .hosts(hosts.clone())
            .pacing(None)
            .permissions_url_policy(permissions_core::PermissionsUrlPolicy::AnyHost)
            .build()
            .expect("reqwest client")
    });
    // The by-hand client gets the same set-up as ours: the same TLS, no redirects, and the same
    // time-outs (a careful caller sets them; each costs reqwest a timer per request, so a
    // by-hand side without them would measure the time-out, not the toolkit). Everything else
    // is reqwest's default. The first release's bench built it the same way.
    let raw = rt.block_on(async {
        permissions_reqwest::ReqwestTransport::from_builder(
            reqwest::Client::builder()
                .connect_timeout(permissions_core::transport::DEFAULT_CONNECT_TIMEOUT)
                .timeout(permissions_core::transport::DEFAULT_TIMEOUT),
        )
        .expect("TLS set-up")
        .client()
        .clone()
    });
    for (label, tasks) in [("sequential", 1), ("16 in flight", IN_FLIGHT)] {
        let ours_make = {
            let (ours, request, token) = (ours.clone(), request.clone(), token.clone());
            move || {
                let (ours, request, token) = (ours.clone(), request.clone(), token.clone());
                async move {
                    let outcome = ours
                        .request_permissions(&token, &request)
                        .await
                        .expect("ours");
                    assert!(matches!(outcome, PermissionsOutcome::Redirect { .. }));
                }
            }
        };
        let hand_make = {
            let (raw, url, body) = (raw.clone(), url.clone(), body.clone());
            move || {
                let (raw, url, body) = (raw.clone(), url.clone(), body.clone());
                async move {
                    let response = raw
                        .post(&url)
                        .header("Authorization", format!("Bearer {TOKEN}"))
                        .header("Content-Type", "application/json; charset=utf-8")
                        .body(body)
                        .send()
                        .await
                        .expect("by hand");
                    assert!(response.status().is_success());
                    let bytes = response.bytes().await.expect("body");
                    let parsed: Envelope = serde_json::from_slice(&bytes).expect("json");
                    check_url(parsed);
                }
            }
        };
        rows.push(alternate(
            &format!("permissions-reqwest, {label}"),
            || run_tasks(&rt, tasks, ours_make.clone()),
            || run_tasks(&rt, tasks, hand_make.clone()),
        ));
    }

    println!("| case | ours (req/s, median of {ROUNDS}) | by hand (req/s) | ratio ours/by hand |");
    println!("| --- | ---: | ---: | ---: |");
    for row in &rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.3} |",
            row.name,
            row.ours,
            row.by_hand,
            row.ours / row.by_hand
        );
    }
    std::process::exit(0);
}
