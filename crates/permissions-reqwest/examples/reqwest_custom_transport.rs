//! Plugging other transports into `Client`: a closure (a test double that never touches the
//! network) and an `Arc<dyn AsyncTransport>` (a logging wrapper shared by two clients).
//!
//! ```text
//! cargo run -p permissions-reqwest --example reqwest_custom_transport
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use permissions_fake::FakeCronofy;
use permissions_reqwest::transport::{AsyncTransport, HttpRequest, HttpResponse, TransportError};
use permissions_reqwest::{AccessToken, BaseUrl, Hosts};
use permissions_reqwest::{Client, ReqwestTransport};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. A closure is a transport: canned answers, checked requests, no network.
    let canned = |request: HttpRequest| async move {
        assert_eq!(request.uri().path(), "/v1/calendars");
        let body = br#"{"calendars":[{"provider_name":"google","calendar_id":"cal_1_home",
            "calendar_name":"Home","calendar_readonly":false,"calendar_deleted":false,
            "permission_level":"sandbox"}]}"#;
        Ok::<HttpResponse, TransportError>(
            http::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .expect("valid response"),
        )
    };
    let client = Client::builder().transport(canned).build()?;
    let calendars = client.list_calendars(&AccessToken::new("any")).await?;
    println!(
        "closure transport: {} calendar(s), first {:?}",
        calendars.calendars.len(),
        calendars.calendars[0].calendar_id
    );

    // 2. An `Arc<dyn AsyncTransport>`: here a wrapper that logs each request (method and path
    //    only: never headers or bodies, they carry tokens) around the reqwest transport, shared
    //    by two clients.
    let cronofy = FakeCronofy::start().await?;
    let hosts = Hosts::custom(
        BaseUrl::parse(cronofy.api_url())?,
        BaseUrl::parse(cronofy.app_url())?,
    );
    let shared: Arc<dyn AsyncTransport> = Arc::new(Logging {
        inner: ReqwestTransport::default(),
        sent: AtomicUsize::new(0),
    });
    let first = Client::builder()
        .hosts(hosts.clone())
        .transport(shared.clone())
        .build()?;
    let second = Client::builder()
        .hosts(hosts)
        .user_agent("my-app/1.0")
        .transport(shared)
        .build()?;
    let token = AccessToken::new(cronofy.seed().access_token.clone());
    let a = first.list_calendars(&token).await?;
    let b = second.list_calendars(&token).await?;
    println!(
        "shared transport: both clients see {} calendars",
        a.calendars.len().min(b.calendars.len())
    );
    Ok(())
}

/// Logs and counts requests, then hands them to the inner transport.
struct Logging {
    inner: ReqwestTransport,
    sent: AtomicUsize,
}

#[async_trait::async_trait]
impl AsyncTransport for Logging {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let n = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        println!("  #{n} {} {}", request.method(), request.uri().path());
        let response = self.inner.execute(request).await;
        if let Ok(response) = &response {
            println!("  #{n} -> {}", response.status());
        }
        response
    }
}
