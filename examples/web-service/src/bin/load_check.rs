//! A bounded load check (not a test: it measures): one user signs in, then 20,000 anonymous
//! requests arrive (each one a cookieless `POST /connect`, which stores a session and a
//! request in flight, or a `GET /`, which stores nothing). Prints the cost per request of the
//! first and the last 1,000, and checks that the signed-in user is still signed in.
//!
//! `cargo run -p permissions-web-example --bin load-check`

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use permissions_core::url::Url;
use permissions_core::{BaseUrl, ClientCredentials, ClientSecret, Hosts};
use permissions_fake::FakeCronofy;
use permissions_web_example::{AppState, app, cronofy_client};
use tower::ServiceExt as _;

const BASE: &str = "http://127.0.0.1:3000";
const ANONYMOUS: usize = 20_000;
const WINDOW: usize = 1_000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn send(
    router: &Router,
    request: Request<Body>,
) -> Result<(StatusCode, Option<String>, Option<String>), Box<dyn Error>> {
    let response = router.clone().oneshot(request).await?;
    let text = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let cookie = text(header::SET_COOKIE).and_then(|c| c.split(';').next().map(str::to_owned));
    Ok((response.status(), cookie, text(header::LOCATION)))
}

fn connect_request() -> Result<Request<Body>, Box<dyn Error>> {
    Ok(Request::post("/connect")
        .header(header::ORIGIN, BASE)
        .body(Body::empty())?)
}

async fn run() -> Result<bool, Box<dyn Error>> {
    let fake = FakeCronofy::start().await?;
    let hosts = Hosts::custom(
        BaseUrl::parse(fake.api_url())?,
        BaseUrl::parse(fake.app_url())?,
    );
    let seed = fake.seed();
    let credentials = ClientCredentials::new(
        seed.client_id.as_str(),
        ClientSecret::new(seed.client_secret.as_str()),
    );
    let client = cronofy_client(hosts, None, 1).map_err(|e| e.to_string())?;
    let router = app(AppState::new(client, credentials, BASE)?);

    // One user signs in.
    let (_, cookie, location) = send(&router, connect_request()?).await?;
    let (cookie, location) = (cookie.ok_or("no cookie")?, location.ok_or("no location")?);
    let state = Url::parse(&location)?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .ok_or("no state")?;
    let code = fake.issue_code(&seed.account_id, &format!("{BASE}/oauth/callback"));
    let back = Request::get(format!("/oauth/callback?code={code}&state={state}"))
        .header(header::COOKIE, &cookie)
        .body(Body::empty())?;
    let (status, signed_in, _) = send(&router, back).await?;
    let signed_in = signed_in.ok_or("no cookie at sign-in")?;
    println!("signed in: {status}");

    // The anonymous crowd.
    let mut first = Duration::ZERO;
    let mut last = Duration::ZERO;
    let started = Instant::now();
    for i in 0..ANONYMOUS {
        let request = if i % 2 == 0 {
            connect_request()?
        } else {
            Request::get("/").body(Body::empty())?
        };
        let at = Instant::now();
        let (status, _, _) = send(&router, request).await?;
        let took = at.elapsed();
        if !(status == StatusCode::SEE_OTHER || status == StatusCode::OK) {
            eprintln!("request {i}: {status}");
            return Ok(false);
        }
        if i < WINDOW {
            first += took;
        } else if i >= ANONYMOUS - WINDOW {
            last += took;
        }
    }
    let total = started.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / WINDOW as f64;
    println!(
        "{ANONYMOUS} anonymous requests in {:.2} s; first {WINDOW}: {:.1} µs/request; last {WINDOW}: {:.1} µs/request (ratio {:.2})",
        total.as_secs_f64(),
        per(first),
        per(last),
        last.as_secs_f64() / first.as_secs_f64()
    );

    let list = Request::get("/calendars")
        .header(header::COOKIE, &signed_in)
        .body(Body::empty())?;
    let (status, _, _) = send(&router, list).await?;
    let kept = status == StatusCode::OK;
    println!(
        "the signed-in session after the crowd: GET /calendars -> {status} ({})",
        if kept { "still signed in" } else { "LOST" }
    );
    Ok(kept)
}
