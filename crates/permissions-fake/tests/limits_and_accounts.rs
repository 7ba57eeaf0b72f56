//! Black-box tests of the rate limits, many generated accounts, extra applications and the
//! admin listener's refusal of cross-site requests, over real HTTP on 127.0.0.1.
//!
//! Every request has a timeout and every loop a bound. No assertion depends on timing: the
//! windows are either an hour long (nothing slides during a test) or only the invariant
//! (no window exceeded) is checked.

use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use permissions_fake::{
    FakeConfig, FakeCronofy, Fault, ManyAccounts, ManyAccountsError, NewAccount, NewCalendar,
    RateLimit, Route, find_window_exceeded, parse_rate_limits, write_account_lines,
};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(10);
const HOUR: Duration = Duration::from_secs(3600);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into()
}

#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    content_type: Option<String>,
    body: String,
}

fn finish(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = result.expect("an answer");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (retry_after, content_type) = (header("retry-after"), header("content-type"));
    Answer {
        status: response.status().as_u16(),
        retry_after,
        content_type,
        body: response.body_mut().read_to_string().expect("a body"),
    }
}

fn get_calendars(fake: &FakeCronofy, token: &str) -> Answer {
    finish(
        agent()
            .get(format!("{}/v1/calendars", fake.api_url()))
            .header("Authorization", format!("Bearer {token}"))
            .call(),
    )
}

fn post_json(url: &str, token: Option<&str>, body: &Value) -> Answer {
    let mut request = agent().post(url).header("Content-Type", "application/json");
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    finish(request.send(body.to_string()))
}

fn limited(spec: &str) -> FakeCronofy {
    FakeCronofy::start_blocking_with(
        FakeConfig::default().rate_limits(parse_rate_limits(spec).unwrap()),
    )
    .unwrap()
}

fn assert_rate_limited(answer: &Answer) {
    assert_eq!(answer.status, 429, "{answer:?}");
    assert_eq!(answer.body, "", "Cronofy's 429 has an empty body");
    assert_eq!(answer.retry_after, None, "and no Retry-After");
    assert_eq!(answer.content_type, None, "{answer:?}");
}

// ---------------------------------------------------------------------------------------------
// Rate limits

#[test]
fn a_burst_gets_exactly_the_limit_then_429s_with_empty_bodies() {
    let fake = limited("5/h");
    let seed = fake.seed().clone();
    let answers: Vec<Answer> = (0..8)
        .map(|_| get_calendars(&fake, &seed.access_token))
        .collect();
    assert!(answers[..5].iter().all(|a| a.status == 200), "{answers:?}");
    for answer in &answers[5..] {
        assert_rate_limited(answer);
    }
    assert_eq!(fake.admitted_times_of(&seed.client_id).len(), 5);
    assert_eq!(fake.rate_limited_count(), 3);
    assert_eq!(fake.rate_limited_count_of(&seed.client_id), 3);
    assert_eq!(fake.rate_limits(), parse_rate_limits("5/h").unwrap());
    // Every request was received and logged, refused or not.
    assert_eq!(fake.requests().len(), 8);
}

#[test]
fn a_concurrent_burst_admits_exactly_the_limit() {
    let fake = Arc::new(limited("10/h,1000/min"));
    let token = fake.seed().access_token.clone();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let fake = Arc::clone(&fake);
                let token = token.clone();
                scope.spawn(move || {
                    (0..5)
                        .map(|_| get_calendars(&fake, &token).status)
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 30);
    assert_eq!(fake.rate_limited_count(), 30);
    let times = fake.admitted_times_of(&fake.seed().client_id);
    assert_eq!(times.len(), 10);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    assert_eq!(find_window_exceeded(&fake.rate_limits(), &times), None);
}

#[test]
fn several_windows_hold_together() {
    // Two per second and five per hour: the short window lets requests through as it slides,
    // the hour stops them at five. Only the outcome is checked, not the timing (the exact
    // decisions are unit-tested on a simulated clock).
    let limits = vec![
        RateLimit::new(2, Duration::from_secs(1)).unwrap(),
        RateLimit::new(5, HOUR).unwrap(),
    ];
    let fake = FakeCronofy::start_blocking_with(FakeConfig::default().rate_limits(limits.clone()))
        .unwrap();
    let token = fake.seed().access_token.clone();
    let started = Instant::now();
    let mut ok = 0;
    let mut refused = 0;
    while ok < 5 && started.elapsed() < Duration::from_secs(20) {
        match get_calendars(&fake, &token).status {
            200 => ok += 1,
            429 => {
                refused += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            other => panic!("status {other}"),
        }
    }
    assert_eq!(ok, 5, "the per-second window slides");
    assert_eq!(fake.rate_limited_count(), refused);
    for _ in 0..3 {
        assert_rate_limited(&get_calendars(&fake, &token));
    }
    let times = fake.admitted_times_of(&fake.seed().client_id);
    assert_eq!(times.len(), 5);
    assert_eq!(find_window_exceeded(&limits, &times), None);
}

#[test]
fn applications_are_limited_apart() {
    let fake = limited("3/h");
    let seed = fake.seed().clone();
    let other = fake.add_application("Other App");
    assert_ne!(other.client_id, seed.client_id);
    let other_account = fake.add_account_for(
        &other.client_id,
        NewAccount::user().calendar(NewCalendar::new("Mine")),
    );

    for _ in 0..3 {
        assert_eq!(get_calendars(&fake, &seed.access_token).status, 200);
    }
    assert_rate_limited(&get_calendars(&fake, &seed.access_token));
    // Unauthenticated and unknown-token calls count for the seeded application.
    assert_rate_limited(&get_calendars(&fake, "not-a-token"));
    let refresh = |client_id: &str, client_secret: &str, refresh_token: &str| {
        post_json(
            &format!("{}/oauth/token", fake.api_url()),
            None,
            &json!({"client_id": client_id, "client_secret": client_secret,
                    "grant_type": "refresh_token", "refresh_token": refresh_token}),
        )
    };
    assert_rate_limited(&refresh(
        &seed.client_id,
        &seed.client_secret,
        &seed.refresh_token,
    ));

    // The other application has its own budget: its token, and its client_id on the
    // token endpoint (also on the app host).
    assert_eq!(
        get_calendars(&fake, &other_account.access_token).status,
        200
    );
    let refreshed = refresh(
        &other.client_id,
        &other.client_secret,
        &other_account.refresh_token,
    );
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let on_app_host = post_json(
        &format!("{}/oauth/token", fake.app_url()),
        None,
        &json!({"client_id": other.client_id, "client_secret": other.client_secret,
                "grant_type": "refresh_token", "refresh_token": other_account.refresh_token}),
    );
    assert_eq!(on_app_host.status, 200, "{on_app_host:?}");
    assert_rate_limited(&get_calendars(&fake, &other_account.access_token));

    // A grant belongs to its application: the other one cannot refresh it.
    let fresh = FakeCronofy::start_blocking().unwrap();
    let app = fresh.add_application("Third");
    let theirs = post_json(
        &format!("{}/oauth/token", fresh.api_url()),
        None,
        &json!({"client_id": app.client_id, "client_secret": app.client_secret,
                "grant_type": "refresh_token", "refresh_token": fresh.seed().refresh_token}),
    );
    assert_eq!(theirs.status, 400, "{theirs:?}");

    let times = fake.admitted_times();
    assert_eq!(times.len(), 2);
    assert_eq!(times[&seed.client_id].len(), 3);
    assert_eq!(times[&other.client_id].len(), 3);
    assert_eq!(fake.rate_limited_count_of(&seed.client_id), 3);
    assert_eq!(fake.rate_limited_count_of(&other.client_id), 1);
    assert_eq!(fake.rate_limited_count(), 4);
}

#[test]
fn the_limit_is_checked_before_scripted_faults_and_pages_are_not_limited() {
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&statuses);
    let fake = FakeCronofy::start_blocking_with(
        FakeConfig::default()
            .rate_limits([RateLimit::new(1, HOUR).unwrap()])
            .on_response(move |request, status| {
                seen.lock().unwrap().push((request.path.clone(), status));
            }),
    )
    .unwrap();
    let token = fake.seed().access_token.clone();
    fake.script(Route::Calendars, [Fault::status(503)]);
    assert_eq!(get_calendars(&fake, &token).status, 503);
    // Refused by the limits: the next scripted answer stays queued.
    fake.script(Route::Calendars, [Fault::status(500)]);
    assert_rate_limited(&get_calendars(&fake, &token));
    // The app host's pages are what a browser shows: not limited.
    let page = finish(
        agent()
            .get(format!("{}/permissions/nope", fake.app_url()))
            .call(),
    );
    assert_eq!(page.status, 404);
    assert_eq!(
        *statuses.lock().unwrap(),
        [
            ("/v1/calendars".to_owned(), 503),
            ("/v1/calendars".to_owned(), 429),
            ("/permissions/nope".to_owned(), 404),
        ]
    );
    assert_eq!(fake.rate_limited_count(), 1);
}

#[test]
fn without_limits_nothing_is_refused() {
    let fake = FakeCronofy::start_blocking().unwrap();
    for _ in 0..30 {
        assert_eq!(get_calendars(&fake, &fake.seed().access_token).status, 200);
    }
    assert!(fake.admitted_times().is_empty());
    assert_eq!(fake.rate_limited_count(), 0);
    assert!(fake.rate_limits().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Many accounts

#[test]
fn many_accounts_are_created_with_mixed_calendars_and_their_own_tokens() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let accounts = fake
        .add_accounts(ManyAccounts::new(200).enterprise(50).seed(42))
        .unwrap();
    assert_eq!(accounts.len(), 200);
    assert_eq!(accounts.iter().filter(|a| a.enterprise_connect).count(), 50);
    assert_eq!(accounts[0].label, "acct-000001");
    assert_eq!(accounts[199].label, "acct-000200");
    let labels: HashSet<&str> = accounts.iter().map(|a| a.label.as_str()).collect();
    let ids: HashSet<&str> = accounts.iter().map(|a| a.account_id.as_str()).collect();
    let tokens: HashSet<&str> = accounts.iter().map(|a| a.access_token.as_str()).collect();
    assert_eq!((labels.len(), ids.len(), tokens.len()), (200, 200, 200));

    let mut levels = BTreeSet::new();
    let (mut readonly, mut deleted) = (0, 0);
    for account in &accounts {
        let calendars = fake.calendars_of(&account.account_id);
        assert!((2..=5).contains(&calendars.len()), "{calendars:?}");
        assert!(calendars[0].primary && !calendars[0].readonly && !calendars[0].deleted);
        levels.extend(calendars.iter().map(|c| c.permission_level.clone()));
        readonly += calendars.iter().filter(|c| c.readonly).count();
        deleted += calendars.iter().filter(|c| c.deleted).count();
    }
    assert_eq!(
        levels,
        BTreeSet::from(["sandbox".to_owned(), "unrestricted".to_owned()])
    );
    assert!(readonly > 0 && deleted > 0, "{readonly} {deleted}");

    // Each token lists its own account's calendars, as the fake holds them.
    for account in accounts.iter().step_by(37) {
        let answer = get_calendars(&fake, &account.access_token);
        assert_eq!(answer.status, 200);
        let listed: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(listed["sub"], account.account_id.as_str());
        let listed: Vec<(String, String)> = listed["calendars"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["calendar_id"].as_str().unwrap().to_owned(),
                    c["permission_level"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let held: Vec<(String, String)> = fake
            .calendars_of(&account.account_id)
            .into_iter()
            .map(|c| (c.id, c.permission_level))
            .collect();
        assert_eq!(listed, held);
    }

    // Enterprise Connect accounts are granted at once; user accounts get a page.
    let elevate = |account: &permissions_fake::GeneratedAccount| {
        let ids: Vec<Value> = fake
            .calendars_of(&account.account_id)
            .iter()
            .map(|c| json!({"calendar_id": c.id, "permission_level": "unrestricted"}))
            .collect();
        post_json(
            &format!("{}/v1/permissions", fake.api_url()),
            Some(&account.access_token),
            &json!({"permissions": ids, "redirect_uri": "https://example.com/back"}),
        )
    };
    let enterprise = accounts.iter().find(|a| a.enterprise_connect).unwrap();
    assert_eq!(elevate(enterprise).status, 202);
    assert!(
        fake.calendars_of(&enterprise.account_id)
            .iter()
            .all(|c| c.permission_level == "unrestricted")
    );
    let user = accounts.iter().find(|a| !a.enterprise_connect).unwrap();
    let answer = elevate(user);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.contains(fake.app_url()), "{answer:?}");

    // Labels continue across batches; everything made so far is listed.
    let more = fake.add_accounts(ManyAccounts::new(2).seed(42)).unwrap();
    assert_eq!(more[0].label, "acct-000201");
    assert_eq!(fake.generated_accounts().len(), 202);
}

#[test]
fn many_accounts_are_deterministic_from_the_seed() {
    let layout = |seed: u64| {
        let fake = FakeCronofy::start_blocking().unwrap();
        let accounts = fake
            .add_accounts(ManyAccounts::new(30).enterprise(7).seed(seed))
            .unwrap();
        accounts
            .iter()
            .map(|a| {
                let calendars = fake.calendars_of(&a.account_id);
                (
                    a.label.clone(),
                    a.account_id.clone(),
                    a.enterprise_connect,
                    calendars,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(layout(9), layout(9));
    assert_ne!(layout(9), layout(10));
}

#[test]
fn many_accounts_refuses_more_enterprise_than_accounts() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let error = fake
        .add_accounts(ManyAccounts::new(3).enterprise(4))
        .unwrap_err();
    assert_eq!(
        error,
        ManyAccountsError::TooManyEnterprise {
            count: 3,
            enterprise: 4
        }
    );
    assert!(error.to_string().contains('4'), "{error}");
    assert!(fake.generated_accounts().is_empty());
    assert!(fake.add_accounts(ManyAccounts::new(0)).unwrap().is_empty());
}

#[test]
fn account_lines_are_audit_input_and_debug_hides_tokens() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let accounts = fake
        .add_accounts(ManyAccounts::new(3).enterprise(1))
        .unwrap();
    let mut out = Vec::new();
    write_account_lines(&accounts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(text.ends_with('\n'));
    for (line, account) in lines.iter().zip(&accounts) {
        assert_eq!(
            *line,
            json!({"id": account.label, "access_token": account.access_token})
        );
    }
    let shown = format!("{accounts:?}");
    for account in &accounts {
        assert!(!shown.contains(&account.access_token), "{shown}");
        assert!(!shown.contains(&account.refresh_token), "{shown}");
    }
    assert!(shown.contains(&accounts[0].account_id));
}

/// Not a timing assertion: prints how long 100,000 accounts take (run with `--ignored
/// --nocapture`).
#[test]
#[ignore = "measures creation of 100,000 accounts"]
fn measure_one_hundred_thousand_accounts() {
    let fake = FakeCronofy::start_blocking().unwrap();
    let started = Instant::now();
    let accounts = fake
        .add_accounts(ManyAccounts::new(100_000).enterprise(10_000))
        .unwrap();
    let created = started.elapsed();
    let mut out = Vec::new();
    write_account_lines(&accounts, &mut out).unwrap();
    println!(
        "100,000 accounts in {created:?}; their lines ({} bytes) in {:?} more",
        out.len(),
        started.elapsed() - created
    );
    assert_eq!(accounts.len(), 100_000);
}

// ---------------------------------------------------------------------------------------------
// The admin listener refuses cross-site requests

/// Sends raw HTTP to the admin listener: `(status, body)`.
fn raw(address: &str, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map_or_else(String::new, |(_, b)| b.to_owned());
    (status, body)
}

fn admin_post(address: &str, host: &str, extra_headers: &str, body: &str) -> (u16, String) {
    raw(
        address,
        &format!(
            "POST /admin/faults HTTP/1.1\r\nHost: {host}\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn admin_listener_refuses_cross_site_requests() {
    let fake = FakeCronofy::start_blocking_with(FakeConfig::default().admin(true)).unwrap();
    let address = fake
        .admin_url()
        .unwrap()
        .trim_start_matches("http://")
        .to_owned();
    let script = r#"{"route":"calendars","answers":[{"status":503}]}"#;
    let json_type = "Content-Type: application/json\r\n";

    let refused = [
        // What any web page can send with fetch() or a form, without a preflight.
        (
            "text/plain",
            admin_post(&address, &address, "Content-Type: text/plain\r\n", script),
        ),
        (
            "text/plain from a page",
            admin_post(
                &address,
                &address,
                "Origin: https://evil.example\r\nContent-Type: text/plain;charset=UTF-8\r\n",
                script,
            ),
        ),
        (
            "form",
            admin_post(
                &address,
                &address,
                "Content-Type: application/x-www-form-urlencoded\r\n",
                script,
            ),
        ),
        ("no type", admin_post(&address, &address, "", script)),
        (
            "foreign origin",
            admin_post(
                &address,
                &address,
                &format!("Origin: https://evil.example\r\n{json_type}"),
                script,
            ),
        ),
        (
            "null origin",
            admin_post(
                &address,
                &address,
                &format!("Origin: null\r\n{json_type}"),
                script,
            ),
        ),
        (
            "cross-site fetch metadata",
            admin_post(
                &address,
                &address,
                &format!("Sec-Fetch-Site: cross-site\r\n{json_type}"),
                script,
            ),
        ),
        (
            "DNS rebinding (foreign Host)",
            admin_post(&address, "evil.example:80", json_type, script),
        ),
    ];
    for (case, (status, body)) in &refused {
        assert_eq!(*status, 403, "{case}: {body}");
        assert!(body.contains("refused"), "{case}: {body}");
    }
    // Reading through a rebinding name is refused too.
    let (status, _) = raw(
        &address,
        "GET /admin/seed HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 403);

    // Nothing was queued: the API answers normally.
    assert_eq!(get_calendars(&fake, &fake.seed().access_token).status, 200);

    // The listener's own origin, with JSON, is fine.
    let (status, body) = admin_post(
        &address,
        &address,
        &format!("Origin: http://{address}\r\nSec-Fetch-Site: same-origin\r\n{json_type}"),
        script,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(get_calendars(&fake, &fake.seed().access_token).status, 503);
}
