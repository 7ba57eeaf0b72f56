//! Plugging transports of your own into the same `Client`: a closure (here a canned stand-in
//! for Cronofy, as in unit tests) and an `Arc<dyn SyncTransport>` (here a wrapper that counts
//! and logs requests around the built-in `UreqTransport`, shared by two clients).
//!
//! ```text
//! cargo run -p permissions-ureq --example ureq_custom_transport
//! ```

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use permissions_fake::FakeCronofy;
use permissions_ureq::transport::{HttpRequest, HttpResponse, SyncTransport, TransportError};
use permissions_ureq::{AccessToken, BaseUrl, Hosts, PermissionsOutcome, PermissionsRequest};
use permissions_ureq::{Client, UreqTransport};

fn main() -> Result<(), Box<dyn Error>> {
    closure_transport()?;
    shared_transport()?;
    Ok(())
}

/// A closure is a transport: it gets the request the core built and returns a response.
fn closure_transport() -> Result<(), Box<dyn Error>> {
    let canned = |request: HttpRequest| -> Result<HttpResponse, TransportError> {
        // Check what would go over the wire.
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri().path(), "/v1/permissions");
        let body: &[u8] =
            br#"{"permissions_request":{"url":"https://app.cronofy.com/permissions/p1"}}"#;
        Ok(http::Response::builder()
            .status(200)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_vec())
            .expect("a valid response"))
    };
    let client = Client::builder().transport(canned).build()?;
    let request = PermissionsRequest::builder()
        .calendar("cal_n23kjnwrw2_jsdfjksn234")
        .redirect_uri("https://app.example.com/permission")
        .build()?;
    let outcome = client.request_permissions(&AccessToken::new("not-a-real-token"), &request)?;
    let PermissionsOutcome::Redirect { url } = outcome else {
        return Err("expected a redirect".into());
    };
    println!("closure transport: send the user to {url}");
    Ok(())
}

/// A transport type of your own, shared by several clients as `Arc<dyn SyncTransport>`.
struct Logged {
    inner: UreqTransport,
    sent: AtomicUsize,
}

impl SyncTransport for Logged {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        // Method and path only: the query, headers and body may hold secrets.
        let line = format!("{} {}", request.method(), request.uri().path());
        let result = self.inner.send(request);
        match &result {
            Ok(response) => println!("  {line} -> {}", response.status()),
            Err(e) => println!("  {line} -> {e}"),
        }
        result
    }
}

fn shared_transport() -> Result<(), Box<dyn Error>> {
    let fake = FakeCronofy::start_blocking()?;
    let hosts = Hosts::custom(
        BaseUrl::parse(fake.api_url())?,
        BaseUrl::parse(fake.app_url())?,
    );
    let logged = Arc::new(Logged {
        inner: UreqTransport::new(Duration::from_secs(2), Duration::from_secs(10))
            .max_response_bytes(256 * 1024),
        sent: AtomicUsize::new(0),
    });
    let shared: Arc<dyn SyncTransport> = logged.clone();

    // Two clients, one connection pool and one log.
    let a = Client::builder()
        .hosts(hosts.clone())
        .transport(shared.clone())
        .build()?;
    let b = Client::builder()
        .hosts(hosts)
        .user_agent("second-client/1.0")
        .transport(shared)
        .build()?;

    println!("shared transport:");
    let token = AccessToken::new(fake.seed().access_token.clone());
    let calendars = a.list_calendars(&token)?;
    let request = PermissionsRequest::builder()
        .calendars(calendars.needing_elevation().map(|c| c.calendar_id.clone()))
        .redirect_uri("https://app.example.com/permission")
        .build()?;
    let outcome = b.request_permissions(&token, &request)?;
    println!(
        "  {} requests sent; outcome: {}",
        logged.sent.load(Ordering::Relaxed),
        match outcome {
            PermissionsOutcome::Redirect { .. } => "send the user to the permissions page",
            PermissionsOutcome::Granted => "granted",
            _ => "other",
        }
    );
    fake.shutdown();
    Ok(())
}
