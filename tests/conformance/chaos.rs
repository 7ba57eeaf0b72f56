//! Soak with chaos: both transports and the CLI against the local Cronofy with faults mixed in
//! at random (a seeded xorshift, so a failure can be replayed with `CHAOS_SEED=<seed>`). Every
//! operation must end in the typed outcome of the fault injected; afterwards no file descriptor
//! or thread may be left behind and memory must be flat.
//!
//! And two hostile-network cases the fake cannot play: a body trickled byte by byte, and a
//! server (a man in the middle) whose certificate no trusted authority issued.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use permissions_core::{
    AccessToken, BaseUrl, Hosts, PermissionsOutcome, PermissionsRequest, RetryPolicy,
};
use permissions_fake::{FakeCronofy, Fault, Route};
use serde_json::Value;

use crate::drivers::{self, Config, Driver};
use crate::scenarios::{REDIRECT_URI, config, fake};
use crate::secret_audit::{cli_binary, run_cli};

/// Operations per transport.
const PER_TRANSPORT: usize = 2_000;
/// Operations per transport before the baseline is taken.
const WARM_UP: usize = 200;
/// CLI processes.
const CLI_RUNS: usize = 100;
/// The seed when `CHAOS_SEED` does not give one.
const DEFAULT_SEED: u64 = 0x5eed_c4a0_5bad_f00d;
/// The transports' timeout: a hang costs this much per attempt.
const TIMEOUT: Duration = Duration::from_millis(200);
/// How much the resident set may grow over the run (after the warm-up), in KiB.
const RSS_SLACK_KIB: u64 = 64 * 1024;

/// A tiny xorshift64* generator: deterministic, and no new dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// An index into `weights`, drawn in proportion to them.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut pick = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if pick < u64::from(w) {
                return i;
            }
            pick -= u64::from(w);
        }
        unreachable!("pick < total")
    }
}

fn seed() -> u64 {
    std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| {
            let s = s.trim();
            s.strip_prefix("0x")
                .map_or_else(|| s.parse().ok(), |hex| u64::from_str_radix(hex, 16).ok())
        })
        .unwrap_or(DEFAULT_SEED)
}

/// One fault, or none, and what it must end in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chaos {
    /// Nothing injected.
    None,
    /// A short delay, then the normal answer.
    Delay,
    /// An error status (its body, for 422, names a field).
    Status(u16),
    /// 503 once: retried, then the normal answer.
    UnavailableOnce,
    /// 503 on every attempt: retries exhausted.
    UnavailableAlways,
    /// 429 with `Retry-After: 0` once: retried at once, then the normal answer.
    RateLimitedBriefly,
    /// 429 with `Retry-After: 86400`: over the cap, so it stops at once.
    RateLimitedForADay,
    /// A body that is not JSON.
    Malformed,
    /// A body over the cap.
    Oversized,
    /// The connection dropped in the middle of the body.
    Drop,
    /// No answer on the first attempt, the normal answer on the retry.
    HangOnce,
    /// No answer on any attempt.
    HangAlways,
}

const STATUSES: [u16; 10] = [401, 402, 403, 404, 422, 423, 418, 302, 500, 501];

/// The faults the transports draw from, and their weights.
const TRANSPORT_MENU: [(Chaos, u32); 12] = [
    (Chaos::None, 300),
    (Chaos::Delay, 40),
    (Chaos::Status(0), 200),
    (Chaos::UnavailableOnce, 60),
    (Chaos::UnavailableAlways, 40),
    (Chaos::RateLimitedBriefly, 60),
    (Chaos::RateLimitedForADay, 40),
    (Chaos::Malformed, 60),
    (Chaos::Oversized, 60),
    (Chaos::Drop, 25),
    (Chaos::HangOnce, 3),
    (Chaos::HangAlways, 2),
];

/// The CLI retries with its own back-off (hundreds of milliseconds): its menu leaves out the
/// faults that cost whole seconds (hangs; the CLI's own tests cover them).
const CLI_MENU: [(Chaos, u32); 9] = [
    (Chaos::None, 30),
    (Chaos::Status(0), 30),
    (Chaos::UnavailableOnce, 5),
    (Chaos::RateLimitedBriefly, 5),
    (Chaos::RateLimitedForADay, 5),
    (Chaos::Malformed, 8),
    (Chaos::Oversized, 8),
    (Chaos::Drop, 8),
    (Chaos::Delay, 5),
];

impl Chaos {
    fn draw(rng: &mut Rng, menu: &[(Chaos, u32)]) -> Chaos {
        let weights: Vec<u32> = menu.iter().map(|(_, w)| *w).collect();
        match menu[rng.weighted(&weights)].0 {
            Chaos::Status(_) => Chaos::Status(STATUSES[rng.below(STATUSES.len() as u64) as usize]),
            other => other,
        }
    }

    /// The answers to script; `attempts` answers for faults that must outlast every retry.
    fn faults(self, attempts: usize) -> Vec<Fault> {
        let all = |fault: Fault| vec![fault; attempts];
        match self {
            Chaos::None => Vec::new(),
            Chaos::Delay => vec![Fault::delay(Duration::from_millis(5))],
            Chaos::Status(422) => vec![Fault::status(422).body(
                r#"{"errors":{"permissions":[{"key":"errors.required","description":"required"}]}}"#,
            )],
            Chaos::Status(302) => {
                vec![Fault::status(302).header("Location", "http://127.0.0.1:9/v1/elsewhere")]
            }
            Chaos::Status(status) => vec![Fault::status(status)],
            Chaos::UnavailableOnce => vec![Fault::status(503)],
            Chaos::UnavailableAlways => all(Fault::status(503)),
            Chaos::RateLimitedBriefly => vec![Fault::status(429).header("Retry-After", "0")],
            Chaos::RateLimitedForADay => vec![Fault::status(429).header("Retry-After", "86400")],
            Chaos::Malformed => vec![Fault::malformed_json()],
            Chaos::Oversized => vec![Fault::oversized(2 << 20)],
            // Whether a transport retries a broken connection or not, every attempt breaks.
            Chaos::Drop => all(Fault::drop_connection()),
            Chaos::HangOnce => vec![Fault::hang()],
            Chaos::HangAlways => all(Fault::hang()),
        }
    }

    /// `None` for success, or the error kind it must end in.
    fn expected(self) -> Option<&'static str> {
        match self {
            Chaos::None
            | Chaos::Delay
            | Chaos::UnavailableOnce
            | Chaos::RateLimitedBriefly
            | Chaos::HangOnce => None,
            Chaos::Status(401) => Some("unauthorized"),
            Chaos::Status(402) => Some("payment_required"),
            Chaos::Status(403) => Some("forbidden"),
            Chaos::Status(404) => Some("not_found"),
            Chaos::Status(422) => Some("unprocessable"),
            Chaos::Status(423) => Some("locked"),
            Chaos::Status(500..=599) | Chaos::UnavailableAlways => Some("server"),
            Chaos::Status(_) => Some("unexpected_status"),
            Chaos::RateLimitedForADay => Some("rate_limited"),
            Chaos::Malformed => Some("decode"),
            Chaos::Oversized => Some("too_large"),
            Chaos::Drop => Some("transport"),
            Chaos::HangAlways => Some("timeout"),
        }
    }

    /// The CLI's exit code for it.
    fn exit_code(self) -> i32 {
        match self.expected() {
            None => 0,
            Some("decode" | "too_large" | "timeout" | "transport") => 3,
            Some(_) => 1,
        }
    }
}

/// Counts outcomes by "fault -> kind", for the summary.
#[derive(Default)]
struct Tally(BTreeMap<String, usize>);

impl Tally {
    fn add(&mut self, chaos: Chaos, outcome: &str) {
        *self.0.entry(format!("{chaos:?} -> {outcome}")).or_default() += 1;
    }

    fn total(&self) -> usize {
        self.0.values().sum()
    }
}

fn transport_config(fake: &FakeCronofy) -> Config {
    let mut cfg = config(fake);
    cfg.timeout = TIMEOUT;
    cfg.max_response_bytes = 64 << 10;
    cfg.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(100),
    };
    cfg
}

/// One operation under one fault: scripts it, calls, and checks the outcome.
fn operate(
    fake: &FakeCronofy,
    driver: &dyn Driver,
    rng: &mut Rng,
    token: &AccessToken,
    request: &PermissionsRequest,
    tally: &mut Tally,
) {
    let chaos = Chaos::draw(rng, &TRANSPORT_MENU);
    let permissions = rng.below(2) == 0;
    let route = if permissions {
        Route::Permissions
    } else {
        Route::Calendars
    };
    fake.clear_faults();
    fake.script(route, chaos.faults(2));
    let outcome = if permissions {
        driver.request_permissions(token, request).map(|outcome| {
            assert!(
                matches!(outcome, PermissionsOutcome::Redirect { .. }),
                "{outcome:?}"
            );
        })
    } else {
        driver.list_calendars(token).map(|list| {
            assert!(!list.calendars.is_empty());
        })
    };
    let name = driver.name();
    match (chaos.expected(), outcome) {
        (None, Ok(())) => tally.add(chaos, "ok"),
        (Some(kind), Err(failure)) => {
            assert_eq!(
                failure.kind, kind,
                "{name}: {chaos:?} on {route:?}: {failure:?}"
            );
            if let Chaos::Status(status) = chaos {
                assert_eq!(failure.status, Some(status), "{name}: {failure:?}");
            }
            tally.add(chaos, kind);
        }
        (None, Err(failure)) => panic!("{name}: {chaos:?} on {route:?} failed: {failure:?}"),
        (Some(kind), Ok(())) => panic!("{name}: {chaos:?} on {route:?} succeeded, not {kind}"),
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Waits (bounded) until `count()` is back to at most `limit`; returns the last count.
fn settle(count: fn() -> usize, limit: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let now = count();
        if now <= limit || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Counting file descriptors, threads and memory needs a process of its own (the other tests
/// of this binary run in parallel threads), so this re-runs the binary for the ignored test.
#[test]
fn random_faults_through_every_transport_and_the_cli() {
    // Fail here, clearly, rather than in the child, if the CLI is not built.
    cli_binary();
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "chaos::chaos_in_isolation",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .output()
        .expect("run the chaos soak in its own process");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "chaos soak failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "the chaos soak did not run:\n{text}"
    );
    for line in text.lines().filter(|l| l.starts_with("chaos:")) {
        eprintln!("{line}");
    }
}

#[test]
#[ignore = "run by random_faults_through_every_transport_and_the_cli in a process of its own"]
fn chaos_in_isolation() {
    let seed = seed();
    eprintln!("chaos: seed {seed:#x} (replay with CHAOS_SEED={seed:#x})");
    let mut rng = Rng::new(seed);
    let fake = fake();
    let token = AccessToken::new(fake.seed().access_token.clone());
    let request = PermissionsRequest::builder()
        .calendar(fake.seed().calendar_ids[0].clone())
        .redirect_uri(REDIRECT_URI)
        .state("chaos-state")
        .build()
        .expect("valid");

    // Warm-up: every transport's first client, pools and runtimes, then dropped.
    let mut warm = Tally::default();
    for (_, factory) in drivers::all() {
        let driver = factory(&transport_config(&fake));
        for _ in 0..WARM_UP {
            operate(
                &fake,
                driver.as_ref(),
                &mut rng,
                &token,
                &request,
                &mut warm,
            );
        }
    }
    fake.clear_faults();
    std::thread::sleep(Duration::from_millis(200));
    let (fds_before, threads_before, rss_before) = (open_fds(), threads(), rss_kib());
    eprintln!(
        "chaos: baseline {fds_before} fds, {threads_before} threads, {rss_before} KiB resident"
    );

    let started = Instant::now();
    let mut total = 0;
    for (name, factory) in drivers::all() {
        let mut tally = Tally::default();
        let took = Instant::now();
        {
            let driver = factory(&transport_config(&fake));
            for _ in 0..PER_TRANSPORT {
                operate(
                    &fake,
                    driver.as_ref(),
                    &mut rng,
                    &token,
                    &request,
                    &mut tally,
                );
            }
        }
        assert_eq!(tally.total(), PER_TRANSPORT);
        total += tally.total();
        eprintln!(
            "chaos: {name}: {} operations in {:.1?}, each the outcome of its fault",
            tally.total(),
            took.elapsed()
        );
        for (outcome, n) in &tally.0 {
            eprintln!("chaos:   {name}: {n:>5} {outcome}");
        }
    }

    total += cli_chaos(&fake, &mut rng, &token);
    fake.clear_faults();

    // Nothing left behind: sockets closed, threads ended, memory flat.
    let fds_after = settle(open_fds, fds_before + 2, Duration::from_secs(5));
    let threads_after = settle(threads, threads_before + 1, Duration::from_secs(5));
    let rss_after = rss_kib();
    eprintln!(
        "chaos: {total} operations in {:.1?}; after: {fds_after} fds, {threads_after} threads, {rss_after} KiB resident",
        started.elapsed()
    );
    assert!(
        fds_after <= fds_before + 2,
        "file descriptors leaked: {fds_before} before, {fds_after} after"
    );
    assert!(
        threads_after <= threads_before + 1,
        "threads leaked: {threads_before} before, {threads_after} after"
    );
    assert!(
        rss_after <= rss_before + RSS_SLACK_KIB,
        "memory grew from {rss_before} KiB to {rss_after} KiB"
    );
}

/// `CLI_RUNS` processes of the CLI, each under a fault: the exit code, and in `--json` mode the
/// error kind, must be the fault's.
fn cli_chaos(fake: &FakeCronofy, rng: &mut Rng, token: &AccessToken) -> usize {
    let bin = cli_binary();
    let seed = fake.seed();
    let calendar = seed.calendar_ids[0].clone();
    let mut tally = Tally::default();
    let took = Instant::now();
    for _ in 0..CLI_RUNS {
        let chaos = Chaos::draw(rng, &CLI_MENU);
        let json = rng.below(2) == 0;
        let permissions = rng.below(2) == 0;
        let mut args: Vec<&str> = vec![
            "--api-url",
            fake.api_url(),
            "--app-url",
            fake.app_url(),
            "--timeout",
            "2",
        ];
        if json {
            args.push("--json");
        }
        let route = if permissions {
            args.extend([
                "request",
                "--calendar",
                calendar.as_str(),
                "--redirect-uri",
                REDIRECT_URI,
                "--state",
                "chaos-state",
            ]);
            Route::Permissions
        } else {
            args.push("calendars");
            Route::Calendars
        };
        fake.clear_faults();
        fake.script(route, chaos.faults(3));
        let run = run_cli(
            &bin,
            &args,
            &[("CRONOFY_ACCESS_TOKEN", token.secret())],
            Duration::from_secs(30),
        );
        assert_eq!(run.code, chaos.exit_code(), "{chaos:?} {args:?}: {run:?}");
        assert!(
            !run.stdout.contains(token.secret()) && !run.stderr.contains(token.secret()),
            "{run:?}"
        );
        let kind = match (json, chaos.expected()) {
            (true, Some(kind)) => {
                let doc: Value = serde_json::from_str(run.stderr.trim())
                    .unwrap_or_else(|e| panic!("{e}: {run:?}"));
                assert_eq!(doc["error"]["kind"], kind, "{chaos:?}: {run:?}");
                assert!(run.stdout.is_empty(), "{run:?}");
                kind
            }
            (false, Some(kind)) => {
                assert!(run.stdout.is_empty(), "{run:?}");
                assert!(run.stderr.starts_with("error: "), "{run:?}");
                kind
            }
            (_, None) => {
                assert!(
                    run.stdout.contains(if permissions {
                        "http"
                    } else {
                        calendar.as_str()
                    }),
                    "{run:?}"
                );
                "ok"
            }
        };
        tally.add(chaos, kind);
    }
    eprintln!(
        "chaos: cli: {} runs in {:.1?}, each with the exit code and kind of its fault",
        tally.total(),
        took.elapsed()
    );
    for (outcome, n) in &tally.0 {
        eprintln!("chaos:   cli: {n:>5} {outcome}");
    }
    tally.total()
}

// --- a hostile network: a body trickled byte by byte ------------------------------------------

/// A server for one exchange: reads the request, announces a 100 kB JSON body, then sends one
/// byte every 50 ms until the client hangs up (or 10 s pass). Returns how many body bytes it
/// sent.
fn trickle_server() -> (String, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    listener.set_nonblocking(true).expect("non-blocking accept");
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("no client within 10 s: {e}"),
            }
        };
        stream.set_nonblocking(false).expect("blocking stream");
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("read timeout");
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 << 10 {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return 0,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
        );
        let mut sent = 1;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            if stream
                .write_all(b" ")
                .and_then(|()| stream.flush())
                .is_err()
            {
                break;
            }
            sent += 1;
        }
        sent
    });
    (base, handle)
}

#[test]
fn a_trickled_body_is_cut_at_the_timeout() {
    let timeout = Duration::from_secs(1);
    for (name, factory) in drivers::all() {
        let (base, server) = trickle_server();
        let base = BaseUrl::parse(&base).expect("base");
        let driver = factory(&Config {
            hosts: Hosts::custom(base.clone(), base),
            timeout,
            max_response_bytes: 1 << 20,
            retry: RetryPolicy::never(),
            pacing: None,
            user_agent: None,
        });
        let started = Instant::now();
        let failure = driver
            .list_calendars(&AccessToken::new("tok-trickle"))
            .expect_err("a body that never ends");
        let took = started.elapsed();
        assert_eq!(failure.kind, "timeout", "{name}: {failure:?}");
        assert!(
            took >= timeout - Duration::from_millis(100),
            "{name}: {took:?}"
        );
        assert!(
            took < timeout + Duration::from_secs(3),
            "{name}: the timeout plus a margin, took {took:?}"
        );
        drop(driver);
        let sent = server.join().expect("server thread");
        // 10 s of trickling is 200 bytes: the client hung up long before.
        assert!(
            sent < 150,
            "{name}: the server sent {sent} bytes, the client never hung up"
        );
    }
}

// --- a hostile network: a server whose certificate no trusted authority issued ----------------

/// A certificate authority no system trusts, and a certificate it issued for `localhost` and
/// `127.0.0.1` with its key: made for these tests alone with openssl (P-256, valid until 2126).
const UNTRUSTED_CA: &str = "\
-----BEGIN CERTIFICATE-----
MIIBqTCCAU+gAwIBAgIUXM+PircEFVNYaj9icyHkm3Q4SXMwCgYIKoZIzj0EAwIw
KTEnMCUGA1UEAwwecGVybWlzc2lvbnMtdGVzdHMgdW50cnVzdGVkIENBMCAXDTI2
MTEyODAxMTYwNVoYDzIxMjYxMTA0MDExNjA1WjApMScwJQYDVQQDDB5wZXJtaXNz
aW9ucy10ZXN0cyB1bnRydXN0ZWQgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AARJTiWKgH77iw/KMBLyPtigk61wxQPT8l4jnL1l7eEMlyboXWpXfFP7x4Zywzt5
K0pStB0jyJkCf0yyYkN9NWHXo1MwUTAdBgNVHQ4EFgQU79B1zYzeYomx3IFMA54O
aKsF45swHwYDVR0jBBgwFoAU79B1zYzeYomx3IFMA54OaKsF45swDwYDVR0TAQH/
BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBn5HywVTAHAqSLdlqmokPrBLF2gv+H
wJZ+mSQYRoG0bAIhAPjz8XaRwY3ZRTMsfiSp8uJW5wm/VPLtulmRn4MBtS7R
-----END CERTIFICATE-----
";
const UNTRUSTED_LEAF: &str = "\
-----BEGIN CERTIFICATE-----
MIIB0zCCAXqgAwIBAgIUduRo0cAGKZjI0Vx/xW8sBrtZeXMwCgYIKoZIzj0EAwIw
KTEnMCUGA1UEAwwecGVybWlzc2lvbnMtdGVzdHMgdW50cnVzdGVkIENBMCAXDTI2
MTEyODAxMTYwNVoYDzIxMjYxMTA0MDExNjA1WjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARLyTk9ItyZZmyk0e8mI5hOIGph
yaGl42MeEAMZliT7g50hKk5NQRFva4O7NG7Bt5lMO4s5OEo8aCLTp6hSqMAJo4GS
MIGPMAwGA1UdEwEB/wQCMAAwGgYDVR0RBBMwEYIJbG9jYWxob3N0hwR/AAABMA4G
A1UdDwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQU9U4S
3Tv3x7wZ5Ji2dIfTOUAxdoIwHwYDVR0jBBgwFoAU79B1zYzeYomx3IFMA54OaKsF
45swCgYIKoZIzj0EAwIDRwAwRAIgMtOrtfauQntK8ZMkQcwA5g9njk5lLAz9/9dR
fajboLQCIDLM/xA4mcjcOtixrod8ImcsfIDiRJ3J7TYxvNoNLoDw
-----END CERTIFICATE-----
";
const UNTRUSTED_LEAF_KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgkEss+YM8okuebzHN
sZUbynPs9lhOHitzVv3nnQv1py2hRANCAARLyTk9ItyZZmyk0e8mI5hOIGphyaGl
42MeEAMZliT7g50hKk5NQRFva4O7NG7Bt5lMO4s5OEo8aCLTp6hSqMAJ
-----END PRIVATE KEY-----
";

/// An HTTPS server for one connection with the untrusted certificate: if the handshake
/// completes it reads a request and answers 200 with a calendar list. Returns the request bytes
/// it decrypted (none when the client refused the certificate).
fn untrusted_server() -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_slice(UNTRUSTED_LEAF.as_bytes()).expect("certificate");
    let key = PrivateKeyDer::from_pem_slice(UNTRUSTED_LEAF_KEY.as_bytes()).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server config");
    let config = std::sync::Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("non-blocking accept");
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let tcp = loop {
            match listener.accept() {
                Ok((tcp, _)) => break tcp,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return Vec::new(),
            }
        };
        tcp.set_nonblocking(false).expect("blocking stream");
        tcp.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("read timeout");
        let connection = rustls::ServerConnection::new(config).expect("server connection");
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 64 << 10 {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => return request,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let body = br#"{"calendars":[{"provider_name":"google","calendar_id":"cal_mitm","calendar_name":"Intercepted"}]}"#;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = tls.write_all(head.as_bytes());
        let _ = tls.write_all(body);
        let _ = tls.flush();
        tls.conn.send_close_notify();
        let _ = tls.flush();
        request
    });
    (port, handle)
}

/// A man in the middle with a certificate of its own: the TLS handshake fails, so neither the
/// request nor its bearer token is ever sent, through both transports. (The same server answers
/// a client that trusts its authority: the refusal is the certificate's, not a broken server.)
#[test]
fn a_server_with_an_untrusted_certificate_never_sees_the_request() {
    // The control: a client that trusts the authority gets the calendar list.
    let (port, server) = untrusted_server();
    let mut roots = rustls::RootCertStore::empty();
    {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        roots
            .add(CertificateDer::from_pem_slice(UNTRUSTED_CA.as_bytes()).expect("certificate"))
            .expect("a root");
    }
    let client_config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let connection = rustls::ClientConnection::new(std::sync::Arc::new(client_config), name)
        .expect("client connection");
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(b"GET /v1/calendars HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 200 OK"),
        "the control client got {:?}",
        String::from_utf8_lossy(&answer)
    );
    assert!(!server.join().expect("server thread").is_empty());

    for (name, factory) in drivers::all() {
        let (port, server) = untrusted_server();
        let base = BaseUrl::parse(&format!("https://localhost:{port}")).expect("base");
        let driver = factory(&Config {
            hosts: Hosts::custom(base.clone(), base),
            timeout: Duration::from_secs(5),
            max_response_bytes: 1 << 20,
            retry: RetryPolicy::never(),
            pacing: None,
            user_agent: None,
        });
        let failure = driver
            .list_calendars(&AccessToken::new("tok-for-the-real-cronofy-only"))
            .expect_err("an untrusted certificate");
        assert_eq!(failure.kind, "transport", "{name}: {failure:?}");
        assert!(
            failure.connect,
            "{name}: a refused certificate is a connect failure: {failure:?}"
        );
        assert!(
            !failure.display.contains("tok-for-the-real"),
            "{name}: {failure:?}"
        );
        drop(driver);
        let seen = server.join().expect("server thread");
        assert!(
            seen.is_empty(),
            "{name}: the request reached a server with an untrusted certificate: {:?}",
            String::from_utf8_lossy(&seen)
        );
    }
}
