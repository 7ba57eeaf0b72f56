//! The pacing flags: `--rate-limit` (a spec, or `off`), `--redis-url` with `--fleet-size`, and
//! the fleet proof: four processes sharing one Redis stay inside the local Cronofy's limits,
//! where the same four pacing alone do not. Tests start their own `redis-server` on a unix
//! socket in a temp dir and stop it; every wait is bounded.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use permissions_fake::{FakeConfig, FakeCronofy, ManyAccounts, write_account_lines};

fn command(fake: &FakeCronofy) -> Command {
    let mut cmd = common::clean_command();
    cmd.args(["--api-url", fake.api_url(), "--app-url", fake.app_url()])
        .env("CRONOFY_ACCESS_TOKEN", &fake.seed().access_token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn finish(child: Child) -> Output {
    let output = child.wait_with_output().expect("the CLI ran");
    assert!(
        output.status.code().is_some(),
        "the CLI was killed: {output:?}"
    );
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_bad_rate_limit_is_invalid_input_and_sends_nothing() {
    let fake = FakeCronofy::start_blocking().expect("fake");
    for spec in ["fast", "50/fortnight", "0/s", "50/s,"] {
        let out = finish(
            command(&fake)
                .args(["--rate-limit", spec, "calendars"])
                .spawn()
                .expect("spawn"),
        );
        assert_eq!(out.status.code(), Some(2), "{spec}: {out:?}");
        assert!(text(&out.stderr).contains("rate-limit"), "{spec}: {out:?}");
    }
    assert!(fake.requests().is_empty());
}

#[test]
fn rate_limit_off_and_a_spec_both_work() {
    let fake = FakeCronofy::start_blocking().expect("fake");
    for spec in ["off", "5/s,100/min"] {
        let out = finish(
            command(&fake)
                .args(["--json", "--rate-limit", spec, "calendars"])
                .spawn()
                .expect("spawn"),
        );
        assert_eq!(out.status.code(), Some(0), "{spec}: {out:?}");
    }
}

#[test]
fn redis_url_needs_the_client_id_it_keys_the_budget_by() {
    let fake = FakeCronofy::start_blocking().expect("fake");
    let out = finish(
        command(&fake)
            .args(["--redis-url", "redis://127.0.0.1:1", "calendars"])
            .spawn()
            .expect("spawn"),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("CRONOFY_CLIENT_ID"), "{out:?}");
    assert!(fake.requests().is_empty());
}

/// Redis away: the command still runs (paced locally at the limit divided by the fleet size),
/// and says so once, on stderr, without the URL's password.
#[test]
fn redis_away_paces_locally_and_says_so_once() {
    let fake = FakeCronofy::start_blocking().expect("fake");
    // Port 1 on loopback: nothing listens there.
    let url = "redis://:hunter2secret@127.0.0.1:1";
    let out = finish(
        command(&fake)
            .args([
                "--redis-url",
                url,
                "--client-id",
                "app_1",
                "--fleet-size",
                "4",
            ])
            .arg("calendars")
            .spawn()
            .expect("spawn"),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stderr = text(&out.stderr);
    let warnings = stderr
        .lines()
        .filter(|l| l.contains("Redis is away"))
        .count();
    assert_eq!(warnings, 1, "{stderr}");
    assert!(!stderr.contains("hunter2secret"), "{stderr}");
    assert!(!text(&out.stdout).contains("hunter2secret"));
}

// --- the fleet proof ----------------------------------------------------------------------

/// A `redis-server` on a unix socket in a temp dir, stopped when dropped.
struct Redis {
    child: Child,
    socket: PathBuf,
}

impl Redis {
    fn start(dir: &Path) -> Option<Redis> {
        let socket = dir.join("redis.sock");
        let spawned = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!(
                    "skipped: redis-server is not installed ({e}); apt-get install redis-server"
                );
                return None;
            }
            Err(e) => panic!("CI needs redis-server (.ci/run installs it): {e}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Redis { child, socket })
    }

    fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cronofy-pacing-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Four `audit` processes, each with its own accounts, all of one application: with the
/// budget shared on Redis, the local Cronofy (enforcing 40/s as a sliding log) answers no
/// 429; pacing alone, each process spends the whole budget and 429s appear. That second half
/// is why `--redis-url` exists.
#[test]
fn four_processes_share_one_budget_on_redis() {
    let dir = tempdir();
    let Some(redis) = Redis::start(&dir) else {
        return;
    };
    for shared in [true, false] {
        let limits = permissions_fake::parse_rate_limits("40/s").expect("spec");
        let fake = FakeCronofy::start_blocking_with(FakeConfig::default().rate_limits(limits))
            .expect("fake");
        let accounts = fake
            .add_accounts(ManyAccounts::new(160).seed(7))
            .expect("accounts");
        let children: Vec<Child> = accounts
            .chunks(40)
            .map(|chunk| {
                let mut cmd = command(&fake);
                cmd.args([
                    "--rate-limit",
                    "40/s",
                    "--client-id",
                    &fake.seed().client_id,
                ]);
                cmd.args(["--timeout", "20", "audit", "--concurrency", "4"]);
                if shared {
                    cmd.args(["--redis-url", &redis.url()]);
                }
                let mut child = cmd.stdin(Stdio::piped()).spawn().expect("spawn");
                let mut lines = Vec::new();
                write_account_lines(chunk, &mut lines).expect("lines");
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(&lines)
                    .expect("write accounts");
                child
            })
            .collect();
        for child in children {
            let out = finish(child);
            if shared {
                assert_eq!(out.status.code(), Some(0), "{out:?}");
            }
        }
        let rejected = fake.rate_limited_count();
        if shared {
            assert_eq!(rejected, 0, "shared on Redis, the fleet stays inside 40/s");
        } else {
            assert!(
                rejected > 0,
                "four processes pacing alone each spend the whole budget: 429s expected"
            );
        }
    }
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}
