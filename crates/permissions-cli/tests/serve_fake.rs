//! `serve-fake`'s flags for bulk work: `--rate-limit`, `--accounts` with
//! `--enterprise-accounts` and `--accounts-out`, the `status` of each request line, and the
//! admin listener's refusal of cross-site requests. Runs the built binary; every wait is
//! bounded.

mod common;
#[path = "common/served.rs"]
mod served;
use served::Served;

use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);

fn command() -> Command {
    let mut cmd = common::clean_command();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The next line of `served`, as JSON.
fn next_json(served: &Served) -> Value {
    let line = served.next_line();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// Runs `serve-fake` expecting it to stop at once (a usage error): `(code, stdout, stderr)`.
fn run_failing(args: &[&str]) -> (i32, String, String) {
    let mut child = command().arg("serve-fake").args(args).spawn().unwrap();
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve-fake {args:?} did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (code, out, err)
}

/// A file path under the temp dir, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        TempPath(std::env::temp_dir().join(format!(
            "serve-fake-{name}-{}-{nanos}.jsonl",
            std::process::id()
        )))
    }

    fn as_str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent()
}

/// `(status, body)`.
fn call(request: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
    let mut response = request.unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

fn calendars(api: &str, token: &str) -> (u16, String) {
    call(
        agent()
            .get(format!("{api}/v1/calendars"))
            .header("Authorization", format!("Bearer {token}"))
            .call(),
    )
}

#[test]
fn rate_limit_answers_429_with_an_empty_body_and_lines_carry_the_status() {
    let served = Served::start(command(), &["--rate-limit", "3/h, 1000/min"]);
    let ready = next_json(&served);
    assert_eq!(ready["rate_limit"], "3/h,1000/min");
    let api = ready["api_url"].as_str().unwrap();
    let token = ready["access_token"].as_str().unwrap();

    let statuses: Vec<(u16, String)> = (0..5).map(|_| calendars(api, token)).collect();
    assert!(statuses[..3].iter().all(|(s, _)| *s == 200), "{statuses:?}");
    assert_eq!(
        statuses[3..],
        [(429, String::new()), (429, String::new())],
        "Cronofy's 429: an empty body"
    );
    for expected in [200, 200, 200, 429, 429] {
        let line = served.next_line();
        assert_eq!(
            line,
            format!(
                r#"{{"host":"api","method":"GET","path":"/v1/calendars","status":{expected}}}"#
            )
        );
        assert!(!line.contains(token));
    }
}

/// `serve-fake` reads `--rate-limit` (and `CRONOFY_RATE_LIMIT`) with the grammar every other
/// command paces to: `ms` windows and any case are accepted, and enforced.
#[test]
fn rate_limit_takes_the_pacing_grammar_ms_windows_and_any_case() {
    for (spec, shown) in [
        ("5/500ms", "5/500ms"),
        ("50/s,500/MIN", "50/s,500/min"),
        (" 7 / 1500MS ", "7/1500ms"),
    ] {
        let served = Served::start(command(), &["--rate-limit", spec]);
        let ready = next_json(&served);
        assert_eq!(ready["rate_limit"], shown, "{spec}");
    }

    // From the environment, and enforced: two calls in 90 s, then 429.
    let mut from_env = command();
    from_env.env("CRONOFY_RATE_LIMIT", "2/90000ms, 500/MIN");
    let served = Served::start(from_env, &[]);
    let ready = next_json(&served);
    assert_eq!(ready["rate_limit"], "2/90s,500/min");
    let api = ready["api_url"].as_str().unwrap();
    let token = ready["access_token"].as_str().unwrap();
    let statuses: Vec<u16> = (0..3).map(|_| calendars(api, token).0).collect();
    assert_eq!(statuses, [200, 200, 429]);
}

#[test]
fn accounts_are_written_as_audit_input_and_work_against_the_fake() {
    let out = TempPath::new("accounts");
    let served = Served::start(
        command(),
        &[
            "--accounts",
            "20",
            "--enterprise-accounts",
            "5",
            "--accounts-out",
            out.as_str(),
        ],
    );
    let ready = next_json(&served);
    assert_eq!(ready["accounts"], 20);
    let api = ready["api_url"].as_str().unwrap();

    // The file is complete before the first line is printed.
    let text = std::fs::read_to_string(&out.0).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20);
    let mut ids = HashSet::new();
    for line in &lines {
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["access_token", "id"], "{line}");
        assert!(ids.insert(line["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(lines[0]["id"], "acct-000001");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out.0).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the tokens file is the owner's only: {mode:o}"
        );
    }

    // Each token works; exactly five accounts are Enterprise Connect (granted without a
    // redirect URI, where a user account needs one).
    let mut enterprise = 0;
    for line in &lines {
        let token = line["access_token"].as_str().unwrap();
        let (status, body) = calendars(api, token);
        assert_eq!(status, 200, "{body}");
        let listed: Value = serde_json::from_str(&body).unwrap();
        let count = listed["calendars"].as_array().unwrap().len();
        assert!((2..=5).contains(&count), "{listed}");
        let first = listed["calendars"][0]["calendar_id"].as_str().unwrap();
        let (status, body) = call(
            agent()
                .post(format!("{api}/v1/permissions"))
                .header("Authorization", format!("Bearer {token}"))
                .header("Content-Type", "application/json")
                .send(
                    json!({"permissions": [{"calendar_id": first, "permission_level": "unrestricted"}]})
                        .to_string(),
                ),
        );
        match status {
            202 => enterprise += 1,
            422 => assert!(body.contains("redirect_uri"), "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(enterprise, 5);
    // No request line shows a token.
    for _ in 0..40 {
        let line = served.next_line();
        assert!(line.contains(r#""status":"#), "{line}");
        assert!(
            !lines
                .iter()
                .any(|l| line.contains(l["access_token"].as_str().unwrap()))
        );
    }
}

#[test]
fn bad_flags_exit_2_and_start_nothing() {
    let (code, out, err) = run_failing(&["--rate-limit", "50/fortnight"]);
    assert_eq!(code, 2, "{out} {err}");
    assert!(
        err.contains("50/fortnight") && err.contains("unit"),
        "{err}"
    );

    let (code, _, err) = run_failing(&["--rate-limit", "0/s"]);
    assert_eq!(code, 2, "{err}");

    let (code, _, err) = run_failing(&["--accounts", "5"]);
    assert_eq!(code, 2, "--accounts needs --accounts-out: {err}");

    let (code, _, err) = run_failing(&["--enterprise-accounts", "5"]);
    assert_eq!(code, 2, "{err}");

    let out = TempPath::new("refused");
    let (code, stdout, err) = run_failing(&[
        "--accounts",
        "5",
        "--enterprise-accounts",
        "6",
        "--accounts-out",
        out.as_str(),
    ]);
    assert_eq!(code, 2, "{stdout} {err}");
    assert!(
        err.contains("--enterprise-accounts 6 is more than --accounts 5"),
        "{err}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!out.0.exists());
}

/// `--accounts` is bounded: a count the local Cronofy cannot hold in memory is invalid input
/// (exit 2), refused before anything starts or any file is written.
#[test]
fn accounts_out_of_range_exit_2_and_start_nothing() {
    let out = TempPath::new("too-many");
    for count in ["18446744073709551615", "1000001", "0"] {
        let (code, stdout, err) =
            run_failing(&["--accounts", count, "--accounts-out", out.as_str()]);
        assert_eq!(code, 2, "--accounts {count}: {stdout} {err}");
        assert!(
            err.contains("--accounts") && err.contains("1..=1000000"),
            "--accounts {count}: {err}"
        );
        assert!(stdout.is_empty(), "{stdout}");
        assert!(!out.0.exists(), "--accounts {count}");
    }
}

#[test]
fn admin_refuses_a_cross_site_post() {
    let served = Served::start(command(), &["--admin"]);
    let ready = next_json(&served);
    let admin = ready["admin_url"].as_str().unwrap();
    let script = r#"{"route":"calendars","answers":[{"status":503}]}"#;
    let post = |content_type: &str, origin: Option<&str>| {
        let mut request = agent()
            .post(format!("{admin}/admin/faults"))
            .header("Content-Type", content_type);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        call(request.send(script))
    };
    assert_eq!(post("text/plain", None).0, 403);
    assert_eq!(
        post("application/json", Some("https://evil.example")).0,
        403
    );
    let api = ready["api_url"].as_str().unwrap();
    let token = ready["access_token"].as_str().unwrap();
    assert_eq!(calendars(api, token).0, 200, "nothing was queued");
    assert_eq!(post("application/json", None).0, 200);
    assert_eq!(calendars(api, token).0, 503);
}
