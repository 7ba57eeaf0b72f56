//! The `tracing` contract, for every transport: a `cronofy` span per operation, an `attempt`
//! span per request, the engine's events (status, error, retry and pacing waits), and never a
//! token, code, secret or query. The spans and events are the core engine's
//! (`Call::span`, `Call::attempt_span`), so one test covers every driver of it.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use permissions_core::{AccessToken, AuthorizationCode, ExchangeCode};
use permissions_fake::{Fault, Route};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

use crate::scenarios::{credentials, each, request, token};

/// Writes every span, field and event of this workspace's crates into one string (the HTTP
/// stacks' own logs are theirs).
#[derive(Default)]
struct Capture {
    text: Arc<Mutex<String>>,
    next_id: AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("permissions_")
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut text = self.text.lock().unwrap();
        let _ = write!(text, "\nspan {}", span.metadata().name());
        span.record(&mut Fields(&mut text));
        Id::from_u64(self.next_id.fetch_add(1, Ordering::SeqCst) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut text = self.text.lock().unwrap();
        text.push_str("\nrecord");
        values.record(&mut Fields(&mut text));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut text = self.text.lock().unwrap();
        text.push_str("\nevent");
        event.record(&mut Fields(&mut text));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn spans_name_operations_and_attempts_but_never_a_secret() {
    each(|fake, driver| {
        let seed = fake.seed().clone();
        fake.script(Route::Calendars, [Fault::status(503)]);
        fake.script(
            Route::Permissions,
            [Fault::status(429).header("Retry-After", "0")],
        );
        let code = fake.issue_code(&seed.account_id, "https://app.example.com/oauth");
        let exchange = ExchangeCode::new(
            credentials(fake),
            AuthorizationCode::new(code.clone()),
            "https://app.example.com/oauth",
        );
        let capture = Capture::default();
        let text = capture.text.clone();
        // The calls run on this thread (the async driver blocks on each), so a thread's
        // default subscriber sees them all.
        tracing::subscriber::with_default(capture, || {
            driver
                .list_calendars(&token(fake))
                .expect("after one retry");
            driver
                .request_permissions(&token(fake), &request(&seed.calendar_ids[..1]))
                .expect("after one retry");
            driver.exchange_code(&exchange).expect("exchanged");
            let _ = driver.list_calendars(&AccessToken::new("tok_SECRET"));
        });
        let traces = text.lock().unwrap().clone();
        for expected in [
            "span cronofy endpoint=\"list_calendars\"",
            "span attempt method=GET path=\"/v1/calendars\" attempt=1",
            "event message=answered status=503",
            "span attempt method=GET path=\"/v1/calendars\" attempt=2",
            "span cronofy endpoint=\"request_permissions\"",
            "span attempt method=POST path=\"/v1/permissions\" attempt=2",
            "event message=answered status=429",
            "event message=retry wait_ms=0",
            "span cronofy endpoint=\"exchange_code\"",
            "path=\"/oauth/token\"",
            "status=200",
            "status=401",
        ] {
            assert!(traces.contains(expected), "{expected} not in {traces}");
        }
        for secret in [
            code.as_str(),
            "SECRET",
            seed.access_token.as_str(),
            seed.client_secret.as_str(),
            "tenant=7",
            "?",
        ] {
            assert!(!traces.contains(secret), "{secret} in {traces}");
        }
    });
}
