//! Runs the built `cronofy-permissions` binary against a local Cronofy (`permissions-fake`)
//! started in this test process: every command, every exit code, both output modes, injected
//! faults, and the demo. Every run is checked for leaked secrets.

mod common;
#[path = "common/served.rs"]
mod served;
use served::Served;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use permissions_fake::{FakeCronofy, Fault, Route};
use serde_json::Value;

/// No run may take longer than this; a stuck binary is killed and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(30);
const REDIRECT: &str = "https://app.example.com/permission";
const OAUTH_REDIRECT: &str = "https://app.example.com/oauth/callback";

/// What one run of the binary produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn json(&self) -> Value {
        assert_eq!(
            self.stdout.lines().count(),
            1,
            "--json prints exactly one line: {self:?}"
        );
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// `--json` error: one document on stderr, nothing on stdout (a script reading stdout
    /// never takes an error for data).
    fn json_error(&self) -> Value {
        assert!(self.stdout.is_empty(), "an error on stdout: {self:?}");
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "--json prints exactly one error line: {self:?}"
        );
        let doc: Value =
            serde_json::from_str(&self.stderr).unwrap_or_else(|e| panic!("{e}: {self:?}"));
        assert!(doc["error"]["message"].is_string(), "{doc}");
        doc["error"].clone()
    }

    /// Text error: one line on stderr naming the problem, nothing on stdout.
    fn text_error(&self) -> &str {
        assert!(self.stdout.is_empty(), "{self:?}");
        assert_eq!(self.stderr.lines().count(), 1, "{self:?}");
        assert!(self.stderr.starts_with("error: "), "{self:?}");
        self.stderr.trim_end()
    }
}

/// A command for the binary with no Cronofy settings inherited from the environment.
fn command() -> Command {
    let mut cmd = common::clean_command();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits for a child, killing it after `limit`. Polls: bounded in count and time.
fn wait(mut child: Child, limit: Duration) -> (i32, String, String) {
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the binary did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        status.code().expect("exited, not killed by a signal"),
        out_reader.join().unwrap(),
        err_reader.join().unwrap(),
    )
}

fn run_cmd(mut cmd: Command) -> Run {
    let started = Instant::now();
    let child = cmd.spawn().unwrap();
    let (code, stdout, stderr) = wait(child, RUN_LIMIT);
    Run {
        code,
        stdout,
        stderr,
        elapsed: started.elapsed(),
    }
}

/// Every seeded secret of the fake.
fn secrets(fake: &FakeCronofy) -> Vec<String> {
    let seed = fake.seed();
    vec![
        seed.access_token.clone(),
        seed.refresh_token.clone(),
        seed.client_secret.clone(),
        seed.enterprise_access_token.clone(),
        seed.enterprise_refresh_token.clone(),
    ]
}

fn assert_no_secrets(run: &Run, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()),
            "a secret was printed: {run:?}"
        );
    }
}

/// Runs the binary against `fake`, with the user's access token in the environment (unless
/// `env` sets it), and checks that no seeded secret was printed.
fn run(fake: &FakeCronofy, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command();
    cmd.args(["--api-url", fake.api_url(), "--app-url", fake.app_url()])
        .args(args)
        .env("CRONOFY_ACCESS_TOKEN", &fake.seed().access_token)
        .env("CRONOFY_CLIENT_ID", &fake.seed().client_id)
        .env("CRONOFY_CLIENT_SECRET", &fake.seed().client_secret);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let result = run_cmd(cmd);
    assert_no_secrets(&result, &secrets(fake));
    result
}

/// Environment variables for one run: name, value.
type Env<'a> = &'a [(&'a str, &'a str)];

fn fake() -> FakeCronofy {
    FakeCronofy::start_blocking().unwrap()
}

fn home(fake: &FakeCronofy) -> String {
    fake.seed().calendar_ids[0].clone()
}

// ---------------------------------------------------------------------------------------
// demo

/// `cargo run -p permissions-cli -- demo` must pass on a fresh machine and never wait.
#[test]
fn demo_runs_the_six_steps_and_exits_0() {
    let result = run_cmd({
        let mut cmd = command();
        cmd.arg("demo");
        cmd
    });
    assert_eq!(result.code, 0, "{result:?}");
    assert!(result.stderr.is_empty(), "{result:?}");
    let out = &result.stdout;
    for step in [
        "Step 1 of 6: the user authorizes your app (OAuth)",
        "Step 2 of 6: your app exchanges the code for tokens",
        "Step 3 of 6: your app lists the user's calendars",
        "Step 4 of 6: your app asks for unrestricted access",
        "Step 5 of 6: Cronofy answers with a URL; the user accepts",
        "Step 6 of 6: the user comes back; your app reads the answer",
        "Again, but the user presses Reject",
        "Enterprise Connect: granted at once",
    ] {
        assert!(out.contains(step), "missing {step:?}:\n{out}");
    }
    for shown in [
        "→ POST http://127.0.0.1:",
        "/oauth/token",
        "← 200 OK",
        "← 303 See Other",
        "← 202 Accepted",
        "accepted.",
        "`error=access_denied`: rejected.",
        "Calendars unchanged",
        "unrestricted",
        "sandbox",
    ] {
        assert!(out.contains(shown), "missing {shown:?}:\n{out}");
    }
    // The demo's own fake has random secrets; every place one could appear is redacted.
    for field in [
        "\"access_token\":\"",
        "\"refresh_token\":\"",
        "\"client_secret\":\"",
        "\"code\":\"",
        "code=",
    ] {
        for (at, _) in out.match_indices(field) {
            assert!(
                out[at + field.len()..].starts_with("[redacted]"),
                "{field} not redacted:\n{out}"
            );
        }
    }
    assert!(out.contains("code=[redacted]"), "{out}");
}

#[test]
fn demo_step_runs_to_the_end_when_input_ends() {
    let mut cmd = command();
    cmd.args(["demo", "--step"]);
    let result = run_cmd(cmd);
    assert_eq!(result.code, 0, "{result:?}");
    assert!(result.stdout.contains("Step 6 of 6"), "{result:?}");
}

// ---------------------------------------------------------------------------------------
// calendars

#[test]
fn calendars_as_a_table_and_as_json() {
    let fake = fake();
    let text = run(&fake, &["calendars"], &[]);
    assert_eq!(text.code, 0, "{text:?}");
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "CALENDAR",
            "ID",
            "NAME",
            "PROFILE",
            "PERMISSION",
            "READ-ONLY",
            "DELETED"
        ]
    );
    assert_eq!(lines.len(), 1 + fake.seed().calendar_ids.len());
    assert!(lines[1].starts_with(&home(&fake)), "{text:?}");
    assert!(lines[1].contains("sandbox"), "{text:?}");

    let json = run(&fake, &["calendars", "--json"], &[]);
    assert_eq!(json.code, 0, "{json:?}");
    let doc = json.json();
    let calendars = doc["calendars"].as_array().unwrap();
    assert_eq!(calendars.len(), fake.seed().calendar_ids.len());
    for calendar in calendars {
        for field in [
            "provider_name",
            "calendar_id",
            "calendar_name",
            "calendar_readonly",
            "calendar_deleted",
            "permission_level",
        ] {
            assert!(calendar.get(field).is_some(), "{field} in {calendar}");
        }
        assert_eq!(calendar["permission_level"], "sandbox");
    }
}

#[test]
fn token_flag_works_and_global_flags_go_anywhere() {
    let fake = fake();
    let token = fake.seed().access_token.clone();
    let mut cmd = command();
    cmd.args([
        "calendars",
        "--json",
        "--api-url",
        fake.api_url(),
        "--token",
        &token,
    ]);
    let result = run_cmd(cmd);
    assert_eq!(result.code, 0, "{result:?}");
    assert_eq!(
        result.json()["calendars"].as_array().unwrap().len(),
        fake.seed().calendar_ids.len()
    );
    assert_no_secrets(&result, &secrets(&fake));
}

#[test]
fn unauthorized_exits_1() {
    let fake = fake();
    let text = run(
        &fake,
        &["calendars"],
        &[("CRONOFY_ACCESS_TOKEN", "not-a-token")],
    );
    assert_eq!(text.code, 1, "{text:?}");
    assert!(text.text_error().contains("unauthorized (401)"), "{text:?}");
    let json = run(
        &fake,
        &["--json", "calendars"],
        &[("CRONOFY_ACCESS_TOKEN", "not-a-token")],
    );
    assert_eq!(json.code, 1);
    let error = json.json_error();
    assert_eq!(error["kind"], "unauthorized");
    assert_eq!(error["status"], 401);
    assert!(!json.stdout.contains("not-a-token") && !json.stderr.contains("not-a-token"));
}

#[test]
fn missing_token_exits_2_and_sends_nothing() {
    let fake = fake();
    let result = run(&fake, &["calendars"], &[("CRONOFY_ACCESS_TOKEN", "")]);
    assert_eq!(result.code, 2, "{result:?}");
    assert!(result.text_error().contains("CRONOFY_ACCESS_TOKEN"));
    assert!(fake.requests().is_empty());
}

// ---------------------------------------------------------------------------------------
// request

#[test]
fn request_prints_the_url_for_the_user() {
    let fake = fake();
    let cal = home(&fake);
    let text = run(
        &fake,
        &[
            "request",
            "--calendar",
            &cal,
            "--redirect-uri",
            REDIRECT,
            "--state",
            "s1",
        ],
        &[],
    );
    assert_eq!(text.code, 0, "{text:?}");
    let url_line = text.stdout.lines().nth(1).unwrap();
    assert!(
        url_line.starts_with(&format!("{}/permissions/", fake.app_url())),
        "{text:?}"
    );
    assert!(text.stdout.contains(&format!("{REDIRECT}?state=s1")));

    let json = run(
        &fake,
        &[
            "request",
            "--calendar",
            &cal,
            "--redirect-uri",
            REDIRECT,
            "--json",
        ],
        &[],
    );
    assert_eq!(json.code, 0, "{json:?}");
    let doc = json.json();
    assert_eq!(doc["outcome"], "redirect");
    assert!(
        doc["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/permissions/", fake.app_url()))
    );
    assert!(
        json.stdout
            .starts_with("{\"outcome\":\"redirect\",\"url\":")
    );
}

#[test]
fn enterprise_connect_is_granted_at_once() {
    let fake = fake();
    let token = fake.seed().enterprise_access_token.clone();
    let cal = fake.seed().enterprise_calendar_ids[0].clone();
    let env = [("CRONOFY_ACCESS_TOKEN", token.as_str())];
    let text = run(
        &fake,
        &["request", "--calendar", &cal, "--redirect-uri", REDIRECT],
        &env,
    );
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.starts_with("Granted"), "{text:?}");
    let json = run(
        &fake,
        &[
            "request",
            "--calendar",
            &cal,
            "--redirect-uri",
            REDIRECT,
            "--json",
        ],
        &env,
    );
    assert_eq!(json.code, 0, "{json:?}");
    assert_eq!(json.stdout, "{\"outcome\":\"granted\"}\n");
    let level = fake
        .calendars_of(&fake.seed().enterprise_account_id)
        .into_iter()
        .find(|c| c.id == cal)
        .unwrap()
        .permission_level;
    assert_eq!(level, "unrestricted");
}

#[test]
fn dry_run_prints_the_request_and_sends_nothing() {
    let fake = fake();
    let cal = home(&fake);
    let args = [
        "request",
        "--calendar",
        cal.as_str(),
        "--calendar",
        "cal_second",
        "--redirect-uri",
        REDIRECT,
        "--state",
        "s1",
        "--dry-run",
    ];
    // With the token in the environment (it must not show) and without any token.
    for env in [vec![], vec![("CRONOFY_ACCESS_TOKEN", "")]] {
        let mut json_args = args.to_vec();
        json_args.push("--json");
        let json = run(&fake, &json_args, &env);
        assert_eq!(json.code, 0, "{json:?}");
        let doc = json.json();
        assert_eq!(doc["method"], "POST");
        assert_eq!(doc["url"], format!("{}/v1/permissions", fake.api_url()));
        assert_eq!(doc["headers"]["authorization"], "Bearer [redacted]");
        assert_eq!(
            doc["headers"]["content-type"],
            "application/json; charset=utf-8"
        );
        assert_eq!(
            doc["body"],
            serde_json::json!({
                "permissions": [
                    {"calendar_id": cal, "permission_level": "unrestricted"},
                    {"calendar_id": "cal_second", "permission_level": "unrestricted"}
                ],
                "redirect_uri": format!("{REDIRECT}?state=s1")
            })
        );
        assert!(json.stdout.starts_with("{\"method\":\"POST\",\"url\":"));

        let text = run(&fake, &args, &env);
        assert_eq!(text.code, 0, "{text:?}");
        assert!(
            text.stdout
                .contains(&format!("POST {}/v1/permissions", fake.api_url()))
        );
        assert!(text.stdout.contains("authorization: Bearer [redacted]"));
    }
    assert!(fake.requests().is_empty(), "a dry run sent a request");
}

#[test]
fn invalid_request_input_exits_2_and_sends_nothing() {
    let fake = fake();
    let cases: [(&[&str], &str); 4] = [
        (
            &["request", "--calendar", "cal 1", "--redirect-uri", REDIRECT],
            "permissions[0].calendar_id: must not contain white space",
        ),
        (
            &[
                "request",
                "--calendar",
                "cal_1",
                "--redirect-uri",
                "not a uri",
            ],
            "redirect_uri",
        ),
        (
            &[
                "request",
                "--calendar",
                "cal_1",
                "--redirect-uri",
                "ftp://x.example.com/",
            ],
            "redirect_uri: must use http or https",
        ),
        (&["request", "--redirect-uri", REDIRECT], "--calendar"),
    ];
    for (args, expected) in cases {
        let text = run(&fake, args, &[]);
        assert_eq!(text.code, 2, "{text:?}");
        assert!(text.text_error().contains(expected), "{text:?}");
        let mut json_args = args.to_vec();
        json_args.push("--json");
        let json = run(&fake, &json_args, &[]);
        assert_eq!(json.code, 2, "{json:?}");
        assert_eq!(json.json_error()["kind"], "invalid_input");
    }
    assert!(fake.requests().is_empty());
}

#[test]
fn unprocessable_shows_the_field_errors() {
    let fake = fake();
    // A calendar the account does not have: the fake answers 422 on its own.
    let args = [
        "request",
        "--calendar",
        "cal_unknown",
        "--redirect-uri",
        REDIRECT,
    ];
    let text = run(&fake, &args, &[]);
    assert_eq!(text.code, 1, "{text:?}");
    let line = text.text_error();
    assert!(line.contains("unprocessable (422)"), "{line}");
    assert!(line.contains("errors.unknown_calendar"), "{line}");

    // A scripted 422 in Cronofy's documented shape.
    fake.script(
        Route::Permissions,
        [Fault::status(422)
            .header("Content-Type", "application/json; charset=utf-8")
            .body(r#"{"errors":{"redirect_uri":[{"key":"errors.required","description":"required"}]}}"#)],
    );
    let cal = home(&fake);
    let json = run(
        &fake,
        &[
            "request",
            "--calendar",
            &cal,
            "--redirect-uri",
            REDIRECT,
            "--json",
        ],
        &[],
    );
    assert_eq!(json.code, 1, "{json:?}");
    let error = json.json_error();
    assert_eq!(error["kind"], "unprocessable");
    assert_eq!(error["status"], 422);
    assert_eq!(
        error["fields"],
        serde_json::json!({"redirect_uri": [{"key": "errors.required", "description": "required"}]})
    );
    assert!(
        json.stderr
            .starts_with("{\"error\":{\"kind\":\"unprocessable\",\"message\":")
    );
}

// ---------------------------------------------------------------------------------------
// faults

#[test]
fn rate_limited_then_success_is_retried() {
    let fake = fake();
    fake.script(
        Route::Calendars,
        [Fault::status(429).header("Retry-After", "1")],
    );
    let result = run(&fake, &["calendars", "--json"], &[]);
    assert_eq!(result.code, 0, "{result:?}");
    assert!(result.json()["calendars"].is_array());
    let calls = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/calendars")
        .count();
    assert_eq!(calls, 2, "one 429, one success");
}

#[test]
fn rate_limited_every_time_exits_1() {
    let fake = fake();
    fake.script(
        Route::Permissions,
        std::iter::repeat_with(|| Fault::status(429).header("Retry-After", "0")).take(5),
    );
    let cal = home(&fake);
    let result = run(
        &fake,
        &[
            "request",
            "--calendar",
            &cal,
            "--redirect-uri",
            REDIRECT,
            "--json",
        ],
        &[],
    );
    assert_eq!(result.code, 1, "{result:?}");
    let error = result.json_error();
    assert_eq!(
        (error["kind"].as_str(), error["status"].as_u64()),
        (Some("rate_limited"), Some(429))
    );
}

#[test]
fn a_hang_times_out_with_exit_3() {
    let fake = fake();
    // One per attempt the client may make.
    fake.script(
        Route::Calendars,
        [Fault::hang(), Fault::hang(), Fault::hang()],
    );
    let result = run(&fake, &["--timeout", "1", "calendars", "--json"], &[]);
    assert_eq!(result.code, 3, "{result:?}");
    assert_eq!(result.json_error()["kind"], "timeout");
    // Three attempts of one second and the back-off between them, with a generous margin.
    assert!(result.elapsed < Duration::from_secs(15), "{result:?}");

    fake.script(
        Route::Calendars,
        [Fault::hang(), Fault::hang(), Fault::hang()],
    );
    let text = run(&fake, &["calendars", "--timeout", "1"], &[]);
    assert_eq!(text.code, 3, "{text:?}");
    assert!(text.text_error().contains("timed out"), "{text:?}");
}

#[test]
fn an_oversized_body_is_too_large_with_exit_3() {
    let fake = fake();
    fake.script(Route::Calendars, [Fault::oversized(5_000_000)]);
    let result = run(&fake, &["calendars", "--json"], &[]);
    assert_eq!(result.code, 3, "{result:?}");
    assert_eq!(result.json_error()["kind"], "too_large");
}

#[test]
fn an_unreadable_body_is_decode_with_exit_3() {
    let fake = fake();
    fake.script(Route::Permissions, [Fault::malformed_json()]);
    let cal = home(&fake);
    let result = run(
        &fake,
        &[
            "request",
            "--calendar",
            &cal,
            "--redirect-uri",
            REDIRECT,
            "--json",
        ],
        &[],
    );
    assert_eq!(result.code, 3, "{result:?}");
    assert_eq!(result.json_error()["kind"], "decode");
}

#[test]
fn a_refused_connection_is_transport_with_exit_3() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = command();
    cmd.args([
        "--api-url",
        &format!("http://127.0.0.1:{port}"),
        "calendars",
        "--json",
    ])
    .env("CRONOFY_ACCESS_TOKEN", "tok-never-sent-0123456789");
    let result = run_cmd(cmd);
    assert_eq!(result.code, 3, "{result:?}");
    assert_eq!(result.json_error()["kind"], "transport");
    assert!(!result.stdout.contains("tok-never-sent") && !result.stderr.contains("tok-never-sent"));
}

// ---------------------------------------------------------------------------------------
// hosts and data centers

#[test]
fn an_insecure_custom_url_exits_2() {
    let mut cmd = command();
    cmd.args(["--api-url", "http://example.com", "calendars"])
        .env("CRONOFY_ACCESS_TOKEN", "tok-never-sent-0123456789");
    let text = run_cmd(cmd);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(text.text_error().contains("--api-url"), "{text:?}");
    assert!(text.stderr.contains("https"), "{text:?}");

    let mut cmd = command();
    cmd.args(["--json", "calendars", "--app-url", "http://10.0.0.1:8080"])
        .env("CRONOFY_ACCESS_TOKEN", "tok-never-sent-0123456789");
    let json = run_cmd(cmd);
    assert_eq!(json.code, 2, "{json:?}");
    let error = json.json_error();
    assert_eq!(error["kind"], "invalid_input");
    assert!(error["message"].as_str().unwrap().contains("--app-url"));
}

#[test]
fn an_unknown_data_center_exits_2_naming_the_valid_ones() {
    let mut cmd = command();
    cmd.args(["--data-center", "mars", "calendars"])
        .env("CRONOFY_ACCESS_TOKEN", "tok");
    let text = run_cmd(cmd);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(
        text.text_error().contains("us, uk, de, au, ca, sg"),
        "{text:?}"
    );

    let mut cmd = command();
    cmd.args(["authorize-url", "--json", "--client-id", "cid"])
        .args(["--redirect-uri", OAUTH_REDIRECT, "--scope", "read_account"])
        .env("CRONOFY_DATA_CENTER", "eu");
    let json = run_cmd(cmd);
    assert_eq!(json.code, 2, "{json:?}");
    let error = json.json_error();
    assert_eq!(error["kind"], "invalid_input");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("us, uk, de, au, ca, sg")
    );
}

#[test]
fn usage_errors_exit_2() {
    let mut cmd = command();
    cmd.args(["calendars", "--frobnicate"]);
    let text = run_cmd(cmd);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(text.text_error().contains("--frobnicate"));

    let mut cmd = command();
    cmd.args(["--json", "request", "--calendar", "c"]);
    let json = run_cmd(cmd);
    assert_eq!(json.code, 2, "{json:?}");
    assert_eq!(json.json_error()["kind"], "invalid_input");

    let mut cmd = command();
    cmd.args(["token", "--json"]);
    let json = run_cmd(cmd);
    assert_eq!(json.code, 2, "{json:?}");
    let message = json.json_error()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("requires a subcommand"), "{message}");
    assert!(message.contains("exchange, refresh, revoke"), "{message}");

    // Help names the variables, never the secrets' values.
    let env_secrets = ["tok-in-env-0123456789", "cs-in-env-0123456789"];
    for args in [
        &["--help"][..],
        &["request", "--help"],
        &["token", "refresh", "--help"],
    ] {
        let mut cmd = command();
        cmd.args(args)
            .env("CRONOFY_ACCESS_TOKEN", env_secrets[0])
            .env("CRONOFY_CLIENT_SECRET", env_secrets[1])
            .env("CRONOFY_REFRESH_TOKEN", env_secrets[0]);
        let help = run_cmd(cmd);
        assert_eq!(help.code, 0, "{help:?}");
        assert!(help.stdout.contains("CRONOFY_ACCESS_TOKEN"), "{help:?}");
        assert_no_secrets(&help, &env_secrets.map(str::to_owned));
    }

    let mut cmd = command();
    cmd.arg("--help");
    let help = run_cmd(cmd);
    assert_eq!(help.code, 0, "{help:?}");
    for name in [
        "demo",
        "calendars",
        "request",
        "callback",
        "authorize-url",
        "token",
        "serve-fake",
    ] {
        assert!(help.stdout.contains(name), "{name} in {help:?}");
    }
}

// ---------------------------------------------------------------------------------------
// output streams: results on stdout, errors on stderr, a closed stdout is no failure

/// `url=$(cronofy-permissions --json request … | jq -r .url)` must never read an error as
/// data: with `--json`, every failure (usage, invalid input, Cronofy's no, a network failure)
/// leaves stdout empty and puts one JSON document on stderr; without it, one `error:` line.
#[test]
fn errors_go_to_stderr_and_stdout_stays_empty() {
    let fake = fake();
    let cal = home(&fake);
    // An unreadable answer, once for the JSON run and once for the text run.
    fake.script(
        Route::Calendars,
        [Fault::malformed_json(), Fault::malformed_json()],
    );
    let cases: [(&[&str], Env<'_>, i32, &str); 5] = [
        (&["request", "--calendar", &cal], &[], 2, "invalid_input"),
        (
            &["request", "--calendar", "cal 1", "--redirect-uri", REDIRECT],
            &[],
            2,
            "invalid_input",
        ),
        (
            &["request", "--calendar", &cal, "--redirect-uri", REDIRECT],
            &[("CRONOFY_ACCESS_TOKEN", "not-a-token")],
            1,
            "unauthorized",
        ),
        (
            &[
                "request",
                "--calendar",
                "cal_unknown",
                "--redirect-uri",
                REDIRECT,
            ],
            &[],
            1,
            "unprocessable",
        ),
        (&["calendars"], &[], 3, "decode"),
    ];
    for (args, env, code, kind) in cases {
        let mut json_args = args.to_vec();
        json_args.push("--json");
        let json = run(&fake, &json_args, env);
        assert_eq!(json.code, code, "{json:?}");
        assert_eq!(json.json_error()["kind"], kind, "{json:?}");

        let text = run(&fake, args, env);
        assert_eq!(text.code, code, "{text:?}");
        text.text_error();
    }
    // A success is one document on stdout and nothing on stderr.
    let ok = run(
        &fake,
        &[
            "request",
            "--calendar",
            &cal,
            "--redirect-uri",
            REDIRECT,
            "--json",
        ],
        &[],
    );
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(ok.stderr.is_empty(), "{ok:?}");
    assert_eq!(ok.json()["outcome"], "redirect");
}

/// A pipe whose reading end is already closed: every write to it fails with a broken pipe.
/// Its reader was a process that has exited (the binary's `--version`, which reads nothing).
fn closed_pipe() -> Stdio {
    let mut reader = Command::new(common::BIN)
        .arg("--version")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let writer = reader.stdin.take().unwrap();
    // The reading end was the child's only: it closed when the child exited.
    assert!(reader.wait().unwrap().success());
    Stdio::from(writer)
}

/// Runs `cmd` with its stdout on a pipe nobody reads; returns the exit code and stderr.
fn run_into_closed_pipe(mut cmd: Command) -> (i32, String) {
    cmd.stdout(closed_pipe());
    let mut child = cmd.spawn().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the binary did not finish within {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status.code().expect("exited"), reader.join().unwrap())
}

/// `cronofy-permissions calendars | head -0`: the reader is gone before the first write.
#[test]
fn a_closed_stdout_ends_quietly_with_exit_0() {
    let fake = fake();
    let cal = home(&fake);
    for args in [
        &["calendars"][..],
        &["calendars", "--json"],
        &["request", "--calendar", &cal, "--redirect-uri", REDIRECT],
        &["--help"],
        &["demo"],
    ] {
        let mut cmd = command();
        cmd.args(["--api-url", fake.api_url(), "--app-url", fake.app_url()])
            .args(args)
            .env("CRONOFY_ACCESS_TOKEN", &fake.seed().access_token);
        let (code, stderr) = run_into_closed_pipe(cmd);
        assert_eq!((code, stderr.as_str()), (0, ""), "{args:?}");
    }
    // A failure is still reported (on stderr, which is open) with its exit code.
    let mut cmd = command();
    cmd.args(["--api-url", fake.api_url(), "calendars"])
        .env("CRONOFY_ACCESS_TOKEN", "not-a-token");
    let (code, stderr) = run_into_closed_pipe(cmd);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
}

/// `cronofy-permissions demo | head -1`, made deterministic: `demo --step` waits for Enter
/// before each step, so the pipe is closed after the first line and before the rest is
/// written.
#[test]
fn demo_piped_into_head_1_exits_0() {
    let mut cmd = command();
    cmd.args(["demo", "--step"]).stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("Cronofy Extended Permissions"), "{first}");
    // `head -1` exits: the reading end closes. Then Enter is never pressed (end of input),
    // so the demo runs to its end, writing into the closed pipe.
    drop(stdout);
    drop(stdin);
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the demo did not finish within {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// callback

fn callback(url: &str, json: bool) -> Run {
    let mut cmd = command();
    cmd.args(["callback", url, "--redirect-uri", REDIRECT, "--state", "s1"]);
    if json {
        cmd.arg("--json");
    }
    run_cmd(cmd)
}

#[test]
fn callback_accepted_exits_0() {
    let url = format!("{REDIRECT}?state=s1");
    let text = callback(&url, false);
    assert_eq!(text.code, 0, "{text:?}");
    // It says what was checked, and claims nothing more.
    assert_eq!(
        text.stdout,
        "accepted: the URL is the redirect URI with the state sent, and no error came back \
         (list the calendars to confirm their permission level)\n"
    );
    let json = callback(&url, true);
    assert_eq!(
        (json.code, json.stdout.as_str()),
        (0, "{\"outcome\":\"accepted\"}\n")
    );
}

#[test]
fn callback_access_denied_exits_1_rejected() {
    let url = format!("{REDIRECT}?state=s1&error=access_denied");
    let text = callback(&url, false);
    assert_eq!(text.code, 1, "{text:?}");
    assert!(text.stdout.starts_with("rejected"), "{text:?}");
    let json = callback(&url, true);
    assert_eq!(
        (json.code, json.stdout.as_str()),
        (
            1,
            "{\"outcome\":\"rejected\",\"error\":\"access_denied\"}\n"
        )
    );
}

#[test]
fn callback_with_another_error_exits_1() {
    let json = callback(&format!("{REDIRECT}?state=s1&error=server_error"), true);
    assert_eq!(json.code, 1, "{json:?}");
    let error = json.json_error();
    assert_eq!(error["kind"], "callback_error");
    assert!(error["message"].as_str().unwrap().contains("server_error"));
}

#[test]
fn callback_with_a_wrong_state_exits_2() {
    for url in [
        format!("{REDIRECT}?state=forged&error=access_denied"),
        REDIRECT.to_owned(),
    ] {
        let json = callback(&url, true);
        assert_eq!(json.code, 2, "{json:?}");
        assert_eq!(json.json_error()["kind"], "state_mismatch");
        let text = callback(&url, false);
        assert_eq!(text.code, 2, "{text:?}");
        assert!(text.text_error().contains("state"), "{text:?}");
    }
}

/// `callback` without `--state`: a return carrying a state nobody sent (a forged or foreign
/// link) is a state error, before its answer is read.
#[test]
fn callback_without_state_refuses_a_state_it_did_not_send() {
    let without_state = |url: &str, redirect_uri: &str, json: bool| {
        let mut cmd = command();
        cmd.args(["callback", url, "--redirect-uri", redirect_uri]);
        if json {
            cmd.arg("--json");
        }
        run_cmd(cmd)
    };
    for url in [
        format!("{REDIRECT}?state=forged"),
        format!("{REDIRECT}?state="),
        format!("{REDIRECT}?state=forged&error=access_denied"),
        format!("{REDIRECT}?error=server_error&state=forged"),
    ] {
        let json = without_state(&url, REDIRECT, true);
        assert_eq!(json.code, 2, "{json:?}");
        assert_eq!(json.json_error()["kind"], "state_mismatch", "{json:?}");
        let text = without_state(&url, REDIRECT, false);
        assert_eq!(text.code, 2, "{text:?}");
        assert!(
            text.text_error()
                .contains("carries a state, but no state was sent"),
            "{text:?}"
        );
    }
    // Another URI keeps its own error.
    let other = without_state(
        "https://evil.example.com/permission?state=x",
        REDIRECT,
        true,
    );
    assert_eq!(other.code, 2, "{other:?}");
    assert_eq!(other.json_error()["kind"], "redirect_mismatch");

    // No state sent and none came back: accepted, saying that no state was checked.
    let plain = without_state(REDIRECT, REDIRECT, false);
    assert_eq!(plain.code, 0, "{plain:?}");
    assert_eq!(
        plain.stdout,
        "accepted: the URL is the redirect URI and no error came back (no state was checked; \
         list the calendars to confirm their permission level)\n"
    );
    assert!(!plain.stdout.contains("granted"), "{plain:?}");
    let rejected = without_state(&format!("{REDIRECT}?error=access_denied"), REDIRECT, true);
    assert_eq!(
        (rejected.code, rejected.stdout.as_str()),
        (
            1,
            "{\"outcome\":\"rejected\",\"error\":\"access_denied\"}\n"
        )
    );

    // A state written into the redirect URI by hand was sent: it is expected back.
    let by_hand = format!("{REDIRECT}?state=s1");
    let json = without_state(&by_hand, &by_hand, true);
    assert_eq!(
        (json.code, json.stdout.as_str()),
        (0, "{\"outcome\":\"accepted\"}\n"),
        "{json:?}"
    );
    let forged = without_state(&format!("{REDIRECT}?state=forged"), &by_hand, true);
    assert_eq!(forged.code, 2, "{forged:?}");
}

#[test]
fn callback_to_another_uri_exits_2() {
    let json = callback("https://evil.example.com/permission?state=s1", true);
    assert_eq!(json.code, 2, "{json:?}");
    assert_eq!(json.json_error()["kind"], "redirect_mismatch");
    let text = callback("https://app.example.com/other?state=s1", false);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(text.text_error().contains("path differs"), "{text:?}");
}

// ---------------------------------------------------------------------------------------
// authorize-url and tokens

#[test]
fn authorize_url_in_both_modes() {
    let fake = fake();
    let args = [
        "authorize-url",
        "--redirect-uri",
        OAUTH_REDIRECT,
        "--scope",
        "read_account read_events",
        "--state",
        "xyz",
    ];
    let text = run(&fake, &args, &[]);
    assert_eq!(text.code, 0, "{text:?}");
    let expected = format!(
        "{}/oauth/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Foauth%2Fcallback&scope=read_account%20read_events&state=xyz",
        fake.app_url(),
        fake.seed().client_id
    );
    assert_eq!(text.stdout, format!("{expected}\n"));
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json = run(&fake, &json_args, &[]);
    assert_eq!(json.json()["url"], expected.as_str());
    // The default data center's app host without --app-url.
    let mut cmd = command();
    cmd.args(args).args(["--client-id", "cid"]);
    let us = run_cmd(cmd);
    assert!(
        us.stdout
            .starts_with("https://app.cronofy.com/oauth/authorize?"),
        "{us:?}"
    );

    let missing = run(&fake, &args, &[("CRONOFY_CLIENT_ID", "")]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.text_error().contains("CRONOFY_CLIENT_ID"));
}

#[test]
fn token_exchange_redacts_unless_asked() {
    let fake = fake();
    let code = fake.issue_code(&fake.seed().account_id, OAUTH_REDIRECT);
    let text = run(
        &fake,
        &[
            "token",
            "exchange",
            "--code",
            &code,
            "--redirect-uri",
            OAUTH_REDIRECT,
        ],
        &[],
    );
    assert_eq!(text.code, 0, "{text:?}");
    let field = |name: &str| {
        text.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim().to_owned())
            .unwrap_or_else(|| panic!("{name} in {text:?}"))
    };
    assert_eq!(
        field("access_token"),
        "[redacted] (add --show-secrets to print it)"
    );
    assert_eq!(
        field("refresh_token"),
        "[redacted] (add --show-secrets to print it)"
    );
    assert!(text.stdout.contains(&fake.seed().account_id), "{text:?}");
    assert!(!text.stdout.contains(&code));

    let code = fake.issue_code(&fake.seed().account_id, OAUTH_REDIRECT);
    let json = run(
        &fake,
        &[
            "token",
            "exchange",
            "--json",
            "--code",
            &code,
            "--redirect-uri",
            OAUTH_REDIRECT,
        ],
        &[],
    );
    assert_eq!(json.code, 0, "{json:?}");
    let doc = json.json();
    assert_eq!(doc["access_token"], "[redacted]");
    assert_eq!(doc["refresh_token"], "[redacted]");
    assert_eq!(doc["token_type"], "bearer");
    assert_eq!(doc["account_id"], fake.seed().account_id.as_str());

    let code = fake.issue_code(&fake.seed().account_id, OAUTH_REDIRECT);
    let shown = run(
        &fake,
        &[
            "token",
            "exchange",
            "--json",
            "--show-secrets",
            "--code",
            &code,
            "--redirect-uri",
            OAUTH_REDIRECT,
        ],
        &[],
    );
    assert_eq!(shown.code, 0, "{shown:?}");
    let token = shown.json()["access_token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 16 && token != "[redacted]", "{shown:?}");
    // The new token works.
    let calendars = run(&fake, &["calendars"], &[("CRONOFY_ACCESS_TOKEN", &token)]);
    assert_eq!(calendars.code, 0, "{calendars:?}");

    // A used code: Cronofy says no (400 invalid_grant).
    let used = run(
        &fake,
        &[
            "token",
            "exchange",
            "--json",
            "--code",
            &code,
            "--redirect-uri",
            OAUTH_REDIRECT,
        ],
        &[],
    );
    assert_eq!(used.code, 1, "{used:?}");
    let error = used.json_error();
    assert_eq!(
        (error["kind"].as_str(), error["status"].as_u64()),
        (Some("bad_request"), Some(400))
    );
    assert!(error["message"].as_str().unwrap().contains("invalid_grant"));
    assert!(!used.stdout.contains(&code) && !used.stderr.contains(&code));

    let no_secret = run(
        &fake,
        &[
            "token",
            "exchange",
            "--code",
            "c",
            "--redirect-uri",
            OAUTH_REDIRECT,
        ],
        &[("CRONOFY_CLIENT_SECRET", "")],
    );
    assert_eq!(no_secret.code, 2, "{no_secret:?}");
    assert!(no_secret.text_error().contains("CRONOFY_CLIENT_SECRET"));
}

/// Runs the binary against `fake` like [`run`], with `input` on its stdin.
fn run_with_stdin(fake: &FakeCronofy, args: &[&str], input: &str) -> Run {
    use std::io::Write;
    let mut cmd = command();
    cmd.args(["--api-url", fake.api_url(), "--app-url", fake.app_url()])
        .args(args)
        .env("CRONOFY_CLIENT_ID", &fake.seed().client_id)
        .env("CRONOFY_CLIENT_SECRET", &fake.seed().client_secret)
        .stdin(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let (code, stdout, stderr) = wait(child, RUN_LIMIT);
    let result = Run {
        code,
        stdout,
        stderr,
        elapsed: started.elapsed(),
    };
    assert_no_secrets(&result, &secrets(fake));
    result
}

/// The authorization code need not be a flag (process list, shell history): it is read from
/// `CRONOFY_AUTHORIZATION_CODE` or from stdin with `--code -`, and never printed.
#[test]
fn token_exchange_reads_the_code_from_the_environment_or_stdin() {
    let fake = fake();
    let exchange = [
        "token",
        "exchange",
        "--redirect-uri",
        OAUTH_REDIRECT,
        "--json",
    ];

    let code = fake.issue_code(&fake.seed().account_id, OAUTH_REDIRECT);
    let env = run(&fake, &exchange, &[("CRONOFY_AUTHORIZATION_CODE", &code)]);
    assert_eq!(env.code, 0, "{env:?}");
    assert_eq!(env.json()["account_id"], fake.seed().account_id.as_str());
    assert_no_secrets(&env, &[code]);

    let code = fake.issue_code(&fake.seed().account_id, OAUTH_REDIRECT);
    let mut args = exchange.to_vec();
    args.extend(["--code", "-"]);
    let piped = run_with_stdin(&fake, &args, &format!("{code}\n"));
    assert_eq!(piped.code, 0, "{piped:?}");
    assert_eq!(piped.json()["access_token"], "[redacted]");
    assert_no_secrets(&piped, std::slice::from_ref(&code));

    // The same code again, from stdin: Cronofy says no, and the code is not in the error.
    let used = run_with_stdin(&fake, &args, &code);
    assert_eq!(used.code, 1, "{used:?}");
    assert_eq!(used.json_error()["kind"], "bad_request");
    assert_no_secrets(&used, &[code]);
    let exchanges = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/token")
        .count();
    assert_eq!(exchanges, 3);

    // No code anywhere, or an empty stdin: invalid input, nothing sent.
    let none = run(&fake, &exchange[..4], &[]);
    assert_eq!(none.code, 2, "{none:?}");
    assert!(
        none.text_error().contains("CRONOFY_AUTHORIZATION_CODE"),
        "{none:?}"
    );
    let empty = run_with_stdin(&fake, &args, "\n");
    assert_eq!(empty.code, 2, "{empty:?}");
    assert_eq!(empty.json_error()["kind"], "invalid_input");
    assert_eq!(fake.requests().len(), exchanges, "nothing more was sent");

    // Help names the variable, never its value.
    let mut cmd = command();
    cmd.args(["token", "exchange", "--help"])
        .env("CRONOFY_AUTHORIZATION_CODE", "c0de-in-env-0123456789");
    let help = run_cmd(cmd);
    assert_eq!(help.code, 0, "{help:?}");
    assert!(
        help.stdout.contains("CRONOFY_AUTHORIZATION_CODE"),
        "{help:?}"
    );
    assert_no_secrets(&help, &["c0de-in-env-0123456789".to_owned()]);
}

#[test]
fn token_refresh_from_the_environment() {
    let fake = fake();
    let refresh = fake.seed().refresh_token.clone();
    let env = [("CRONOFY_REFRESH_TOKEN", refresh.as_str())];
    let text = run(&fake, &["token", "refresh"], &env);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.lines().any(|l| l.starts_with("refresh_token")
            && l.ends_with("[redacted] (add --show-secrets to print it)")),
        "{text:?}"
    );
    let json = run(&fake, &["token", "refresh", "--json"], &env);
    assert_eq!(json.code, 0, "{json:?}");
    assert_eq!(json.json()["access_token"], "[redacted]");

    // --show-secrets prints them (the refresh token is the seeded one: Cronofy returns it).
    let mut cmd = command();
    cmd.args([
        "--api-url",
        fake.api_url(),
        "token",
        "refresh",
        "--json",
        "--show-secrets",
    ])
    .env("CRONOFY_CLIENT_ID", &fake.seed().client_id)
    .env("CRONOFY_CLIENT_SECRET", &fake.seed().client_secret)
    .env("CRONOFY_REFRESH_TOKEN", &refresh);
    let shown = run_cmd(cmd);
    assert_eq!(shown.code, 0, "{shown:?}");
    assert_eq!(shown.json()["refresh_token"], refresh.as_str());
    assert!(!shown.stdout.contains(&fake.seed().client_secret));

    let bad = run(&fake, &["token", "refresh", "--refresh-token", "nope"], &[]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.text_error().contains("invalid_grant"), "{bad:?}");
}

#[test]
fn token_revoke_each_target() {
    let fake = fake();
    // Nothing to revoke.
    let none = run(&fake, &["token", "revoke", "--json"], &[]);
    assert_eq!(none.code, 2, "{none:?}");
    assert_eq!(none.json_error()["kind"], "invalid_input");

    // The access token from the environment.
    let json = run(&fake, &["token", "revoke", "--access-token", "--json"], &[]);
    assert_eq!(
        (json.code, json.stdout.as_str()),
        (0, "{\"revoked\":true}\n")
    );
    let after = run(&fake, &["calendars", "--json"], &[]);
    assert_eq!(after.code, 1, "{after:?}");
    assert_eq!(after.json_error()["kind"], "unauthorized");

    // By refresh token, then by account.
    let refresh = fake.seed().enterprise_refresh_token.clone();
    let text = run(
        &fake,
        &["token", "revoke"],
        &[("CRONOFY_REFRESH_TOKEN", &refresh)],
    );
    assert_eq!((text.code, text.stdout.as_str()), (0, "revoked\n"));
    let sub = fake.seed().account_id.clone();
    let by_sub = run(&fake, &["token", "revoke", "--sub", &sub], &[]);
    assert_eq!(by_sub.code, 0, "{by_sub:?}");
    let revokes = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/token/revoke")
        .count();
    assert_eq!(revokes, 3);

    let bad_client = run(
        &fake,
        &["token", "revoke", "--sub", &sub, "--json"],
        &[("CRONOFY_CLIENT_SECRET", "wrong-secret")],
    );
    assert_eq!(bad_client.code, 1, "{bad_client:?}");
    assert_eq!(bad_client.json_error()["status"], 401);
}

/// `--refresh-token X --sub acc_…` once revoked every grant of the account. Two targets, from
/// flags or the environment, are invalid input: exit 2, and the fake's request log stays empty.
#[test]
fn token_revoke_with_conflicting_targets_exits_2_and_sends_nothing() {
    let fake = fake();
    let refresh = fake.seed().refresh_token.clone();
    let sub = fake.seed().account_id.clone();
    let from_env = [("CRONOFY_REFRESH_TOKEN", refresh.as_str())];
    let cases: [(&[&str], Env<'_>, &str); 6] = [
        (
            &["--refresh-token", &refresh, "--sub", &sub],
            &[],
            "--refresh-token and --sub",
        ),
        (
            &["--access-token", "--refresh-token", &refresh],
            &[],
            "--refresh-token and --access-token",
        ),
        (
            &["--sub", &sub],
            &from_env,
            "a refresh token in CRONOFY_REFRESH_TOKEN and --sub",
        ),
        (
            &["--access-token"],
            &from_env,
            "a refresh token in CRONOFY_REFRESH_TOKEN and --access-token",
        ),
        (&["--access-token", "--sub", &sub], &[], "--access-token"),
        (
            &["--access-token", "--sub", &sub],
            &from_env,
            "--access-token",
        ),
    ];
    for (targets, env, named) in cases {
        let mut args = vec!["token", "revoke"];
        args.extend_from_slice(targets);
        let text = run(&fake, &args, env);
        assert_eq!(text.code, 2, "{text:?}");
        assert!(text.text_error().contains(named), "{named}: {text:?}");
        args.push("--json");
        let json = run(&fake, &args, env);
        assert_eq!(json.code, 2, "{json:?}");
        assert_eq!(json.json_error()["kind"], "invalid_input");
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());

    // Nothing was revoked: the refresh token still works.
    let alive = run(&fake, &["token", "refresh"], &from_env);
    assert_eq!(alive.code, 0, "{alive:?}");
    // An empty CRONOFY_REFRESH_TOKEN names nothing: `--sub` alone is one target.
    let by_sub = run(
        &fake,
        &["token", "revoke", "--sub", &sub],
        &[("CRONOFY_REFRESH_TOKEN", "")],
    );
    assert_eq!((by_sub.code, by_sub.stdout.as_str()), (0, "revoked\n"));
}

/// `--timeout 1e-12` passed the "> 0" check and rounded to no time at all: a time-out (exit 3)
/// for what is invalid input (exit 2, nothing sent).
#[test]
fn a_timeout_that_rounds_to_zero_exits_2_and_sends_nothing() {
    let fake = fake();
    for timeout in ["1e-12", "0.0000001", "0.0009", "NaN", "inf", "-1", "0"] {
        let flag = format!("--timeout={timeout}");
        let json = run(&fake, &[&flag, "calendars", "--json"], &[]);
        assert_eq!(json.code, 2, "{timeout}: {json:?}");
        let error = json.json_error();
        assert_eq!(error["kind"], "invalid_input");
        assert!(
            error["message"].as_str().unwrap().contains("--timeout"),
            "{error}"
        );
        let text = run(&fake, &["calendars", &flag], &[]);
        assert_eq!(text.code, 2, "{timeout}: {text:?}");
        assert!(text.text_error().contains("0.001 to 86400"), "{text:?}");
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    // The shortest accepted timeout is a real one.
    let shortest = run(&fake, &["--timeout", "0.001", "calendars", "--json"], &[]);
    assert_ne!(shortest.code, 2, "{shortest:?}");
}

// ---------------------------------------------------------------------------------------
// serve-fake

#[test]
fn serve_fake_prints_its_urls_then_one_line_per_request() {
    let served = Served::start(command(), &[]);
    let first = served.next_line();
    let ready: Value = serde_json::from_str(&first).unwrap();
    let keys: Vec<&str> = ready
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    let mut expected = vec![
        "api_url",
        "app_url",
        "access_token",
        "refresh_token",
        "enterprise_access_token",
        "client_id",
        "client_secret",
    ];
    // The line itself keeps the documented order.
    let at = |k: &str| first.find(&format!("\"{k}\":")).unwrap();
    assert!(expected.windows(2).all(|w| at(w[0]) < at(w[1])), "{first}");
    expected.sort_unstable();
    assert_eq!(sorted, expected);
    let api = ready["api_url"].as_str().unwrap();
    assert!(api.starts_with("http://127.0.0.1:"));

    let token = ready["access_token"].as_str().unwrap();
    let mut cmd = command();
    cmd.args(["--api-url", api, "calendars", "--json"])
        .env("CRONOFY_ACCESS_TOKEN", token);
    let calendars = run_cmd(cmd);
    assert_eq!(calendars.code, 0, "{calendars:?}");
    assert!(!calendars.stdout.contains(token));
    assert_eq!(
        served.next_line(),
        r#"{"host":"api","method":"GET","path":"/v1/calendars","status":200}"#
    );

    // A request line never shows a secret query value.
    let app = ready["app_url"].as_str().unwrap();
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let _ = agent
        .get(format!("{app}/oauth/authorize?code=c0de-s3cret&state=st"))
        .call();
    let line = served.next_line();
    assert!(!line.contains("c0de-s3cret"), "{line}");
    assert!(line.contains("code=[redacted]&state=st"), "{line}");
}

#[test]
fn serve_fake_on_a_given_port_takes_the_next_for_the_app_host() {
    // Find two adjacent free ports (bounded attempts).
    let port = (0..50)
        .find_map(|_| {
            let first = TcpListener::bind("127.0.0.1:0").ok()?;
            let port = first.local_addr().ok()?.port();
            let _second = TcpListener::bind(("127.0.0.1", port.checked_add(1)?)).ok()?;
            Some(port)
        })
        .expect("two adjacent free ports");
    let served = Served::start(command(), &["--port", &port.to_string()]);
    let ready: Value = serde_json::from_str(&served.next_line()).unwrap();
    assert_eq!(ready["api_url"], format!("http://127.0.0.1:{port}"));
    assert_eq!(ready["app_url"], format!("http://127.0.0.1:{}", port + 1));
}
