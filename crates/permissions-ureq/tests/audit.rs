//! `permissions_ureq::audit`'s own: its pool of threads ends cleanly in input order, raises a
//! worker's panic instead of ending quietly with accounts missing, and stops taking accounts
//! when dropped without waiting for the calls in flight.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use permissions_ureq::audit::{AuditAccount, AuditPlan};
use permissions_ureq::http;
use permissions_ureq::transport::{HttpRequest, HttpResponse, TransportError};
use permissions_ureq::{AccessToken, Client, RetryPolicy, audit};

const CALENDARS: &str = r#"{"calendars":[{"provider_name":"google","calendar_id":"cal_1","calendar_name":"Home","calendar_readonly":false,"calendar_deleted":false,"permission_level":"unrestricted"}]}"#;

/// A client whose transport counts its calls, runs `before` (which may block or panic)
/// with the request and the call's number (from 1), then answers one calendar.
fn client_with(
    before: impl Fn(&HttpRequest, usize) + Send + Sync + 'static,
) -> (Client, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let transport = move |request: HttpRequest| -> Result<HttpResponse, TransportError> {
        before(&request, counted.fetch_add(1, Ordering::SeqCst) + 1);
        Ok(http::Response::builder()
            .status(200)
            .body(CALENDARS.as_bytes().to_vec())
            .unwrap())
    };
    let client = Client::builder()
        .pacing(None)
        .retry_policy(RetryPolicy::never())
        .transport(transport)
        .build()
        .unwrap();
    (client, calls)
}

/// Account `acc_i` has the token `tok_i`.
fn account(i: usize) -> AuditAccount {
    AuditAccount::new(format!("acc_{i}"), AccessToken::new(format!("tok_{i}")))
}

fn accounts(n: usize) -> Vec<AuditAccount> {
    (0..n).map(account).collect()
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("?")
}

#[test]
fn a_complete_audit_ends_cleanly_in_input_order() {
    for concurrency in [0, 1, 4] {
        let (client, calls) = client_with(|_, _| {});
        let mut run = audit(&client, &AuditPlan::list_only(), accounts(20), concurrency);
        let ids: Vec<_> = run.by_ref().map(|done| done.id).collect();
        let expected: Vec<_> = (0..20).map(|i| format!("acc_{i}")).collect();
        assert_eq!(ids, expected, "concurrency {concurrency}");
        assert!(run.next().is_none(), "still the end");
        assert_eq!(calls.load(Ordering::SeqCst), 20);
    }
}

/// Not an audit that ends quietly, one account short.
#[test]
fn a_panicking_transport_makes_the_audit_panic() {
    let (client, _) = client_with(|_, call| {
        if call == 3 {
            panic!("transport exploded on call 3");
        }
    });
    let mut yielded = 0;
    let run = catch_unwind(AssertUnwindSafe(|| {
        for _ in audit(&client, &AuditPlan::list_only(), accounts(6), 2) {
            yielded += 1;
        }
    }));
    let panic = run.expect_err("the worker's panic reaches the caller");
    assert_eq!(panic_text(&*panic), "transport exploded on call 3");
    assert!(yielded <= 3, "{yielded} results before the lost account");
}

#[test]
fn after_a_panic_no_new_account_is_taken() {
    let (client, calls) = client_with(|_, call| {
        std::thread::sleep(Duration::from_millis(2));
        if call == 3 {
            panic!("transport exploded on call 3");
        }
    });
    let run = catch_unwind(AssertUnwindSafe(|| {
        audit(&client, &AuditPlan::list_only(), accounts(1000), 2).count()
    }));
    assert!(run.is_err());
    // All 1000 take a second; the other thread stops once the panic hook has run (a
    // captured backtrace can take tens of milliseconds).
    let calls = calls.load(Ordering::SeqCst);
    assert!(calls < 500, "{calls} calls");
}

/// The caller's iterator panicking poisons the queue, which stops the other threads: not
/// an audit that ends quietly after three accounts.
#[test]
fn a_panicking_account_iterator_makes_the_audit_panic() {
    let (client, _) = client_with(|_, _| {});
    let accounts = (0..6).map(|i| {
        assert!(i != 3, "no account 3");
        account(i)
    });
    let mut yielded = 0;
    let run = catch_unwind(AssertUnwindSafe(|| {
        for _ in audit(&client, &AuditPlan::list_only(), accounts, 2) {
            yielded += 1;
        }
    }));
    let panic = run.expect_err("the iterator's panic reaches the caller");
    assert_eq!(panic_text(&*panic), "no account 3");
    assert_eq!(yielded, 3);
}

#[test]
fn dropping_the_audit_stops_taking_accounts_without_waiting_for_calls() {
    // Every account but the first blocks in its call until the gate opens.
    let gate = Arc::new(AtomicBool::new(false));
    let (client, calls) = client_with({
        let gate = Arc::clone(&gate);
        move |request, _| {
            if request.headers()["authorization"] != "Bearer tok_0" {
                while !gate.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    });
    let mut run = audit(&client, &AuditPlan::list_only(), accounts(100), 2);
    assert_eq!(run.next().unwrap().id, "acc_0");
    let (dropped, done) = mpsc::channel();
    std::thread::spawn(move || {
        drop(run);
        dropped.send(()).unwrap();
    });
    done.recv_timeout(Duration::from_secs(10))
        .expect("dropping does not wait for the calls in flight");
    gate.store(true, Ordering::SeqCst);
    // acc_0, and acc_1 and acc_2 if they were taken before the drop: the calls in flight,
    // then no more, though the other 97 would take no time now.
    std::thread::sleep(Duration::from_millis(200));
    let calls = calls.load(Ordering::SeqCst);
    assert!((1..=3).contains(&calls), "{calls} calls");
}
