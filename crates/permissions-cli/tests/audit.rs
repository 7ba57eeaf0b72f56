//! `audit` against a local Cronofy started in this process: many accounts, in input order,
//! checked against the fake's own state; elevation; pacing under a budget; bad input; one
//! account's failure; resume; Ctrl-C. Runs the built binary; every wait is bounded.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use permissions_fake::{
    FakeConfig, FakeCronofy, Fault, GeneratedAccount, ManyAccounts, Route, find_window_exceeded,
    parse_rate_limits,
};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);
/// Fast pacing for the tests that are not about pacing (the pacing test sets its own).
const FAST: &str = "1000/s";
const BACK: &str = "https://app.example.com/permission";

fn command(fake: &FakeCronofy, rate_limit: &str) -> Command {
    command_at(fake.api_url(), fake.app_url(), rate_limit)
}

fn command_at(api_url: &str, app_url: &str, rate_limit: &str) -> Command {
    let mut cmd = common::clean_command();
    cmd.args(["--api-url", api_url, "--app-url", app_url])
        .args(["--rate-limit", rate_limit, "--timeout", "10"])
        .arg("audit")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// Feeds `input` on stdin and waits (bounded) for the exit.
fn wait_with_input(mut child: Child, input: String) -> Run {
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("audit did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    writer.join().expect("writer");
    Run {
        code: status.code(),
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
    }
}

fn audit(fake: &FakeCronofy, rate_limit: &str, args: &[&str], input: String) -> Run {
    let child = command(fake, rate_limit)
        .args(args)
        .spawn()
        .expect("spawns");
    wait_with_input(child, input)
}

fn input_of(accounts: &[GeneratedAccount]) -> String {
    accounts.iter().map(|a| a.json_line() + "\n").collect()
}

fn fake_with(
    config: FakeConfig,
    count: usize,
    enterprise: usize,
) -> (FakeCronofy, Vec<GeneratedAccount>) {
    let fake = FakeCronofy::start_blocking_with(config).expect("fake starts");
    let accounts = fake
        .add_accounts(ManyAccounts::new(count).enterprise(enterprise).seed(7))
        .expect("accounts");
    (fake, accounts)
}

/// What the fake's state says `audit` must print for an account (without `outcome`).
fn expected_report(fake: &FakeCronofy, account: &GeneratedAccount) -> (usize, usize, Vec<String>) {
    let calendars = fake.calendars_of(&account.account_id);
    let unrestricted = calendars
        .iter()
        .filter(|c| c.permission_level == "unrestricted")
        .count();
    let needing = calendars
        .iter()
        .filter(|c| !c.readonly && !c.deleted && c.permission_level != "unrestricted")
        .map(|c| c.id.clone())
        .collect();
    (calendars.len(), unrestricted, needing)
}

fn report_of(line: &Value) -> (usize, usize, Vec<String>) {
    let count = |key: &str| {
        line[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {line}")) as usize
    };
    let needing = line["needing_elevation"]
        .as_array()
        .unwrap_or_else(|| panic!("{line}"))
        .iter()
        .map(|v| v.as_str().expect("an id").to_owned())
        .collect();
    (count("calendars"), count("unrestricted"), needing)
}

/// Checks that `run` printed one line per account, in input order, each matching the fake's
/// state now; and that no token appears anywhere.
fn assert_matches_state(fake: &FakeCronofy, accounts: &[GeneratedAccount], run: &Run) {
    let lines = run.lines();
    assert_eq!(lines.len(), accounts.len(), "{}", run.stderr);
    for (line, account) in lines.iter().zip(accounts) {
        assert_eq!(line["id"], account.label.as_str(), "{line}");
        assert_eq!(report_of(line), expected_report(fake, account), "{line}");
    }
    assert_no_token(accounts, run);
}

fn assert_no_token(accounts: &[GeneratedAccount], run: &Run) {
    for account in accounts {
        assert!(
            !run.stdout.contains(&account.access_token),
            "a token on stdout"
        );
        assert!(
            !run.stderr.contains(&account.access_token),
            "a token on stderr"
        );
    }
}

#[test]
fn two_hundred_accounts_audit_elevate_audit_again() {
    let (fake, accounts) = fake_with(FakeConfig::default(), 200, 60);
    let input = input_of(&accounts);

    let first = audit(&fake, FAST, &["--concurrency", "16"], input.clone());
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert_matches_state(&fake, &accounts, &first);
    let needing = first
        .lines()
        .iter()
        .filter(|l| {
            !l["needing_elevation"]
                .as_array()
                .expect("a list")
                .is_empty()
        })
        .count();
    assert!(
        needing > 50,
        "a mixed layout: {needing} of 200 need elevation"
    );
    // Not a terminal: a single summary line on stderr.
    assert_eq!(first.stderr.lines().count(), 1, "{}", first.stderr);
    assert!(
        first.stderr.starts_with(&format!(
            "audited 200 accounts: {needing} need elevation, 0 failed in "
        )),
        "{}",
        first.stderr
    );

    fake.clear_requests();
    let elevate = audit(
        &fake,
        FAST,
        &[
            "--elevate",
            "--redirect-uri",
            BACK,
            "--state-prefix",
            "run1-",
        ],
        input.clone(),
    );
    assert_eq!(elevate.code, Some(0), "{}", elevate.stderr);
    let (mut granted, mut redirected) = (0, 0);
    for ((line, before), account) in elevate.lines().iter().zip(first.lines()).zip(&accounts) {
        assert_eq!(line["id"], account.label.as_str());
        // The report is what was listed before the request.
        assert_eq!(report_of(line), report_of(&before), "{line}");
        let outcome = line["outcome"].as_str().unwrap_or_else(|| panic!("{line}"));
        if before["needing_elevation"]
            .as_array()
            .expect("a list")
            .is_empty()
        {
            assert_eq!(outcome, "none_needed", "{line}");
        } else if account.enterprise_connect {
            assert_eq!(outcome, "granted", "{line}");
            granted += 1;
        } else {
            assert_eq!(outcome, "redirect", "{line}");
            let url = line["url"].as_str().expect("a url");
            assert!(
                url.starts_with(&format!("{}/permissions/", fake.app_url())),
                "{url}"
            );
            redirected += 1;
        }
    }
    assert!(
        granted > 10 && redirected > 10,
        "{granted} granted, {redirected} redirected"
    );
    assert!(
        elevate
            .stderr
            .contains(&format!("{granted} granted, {redirected} sent a URL")),
        "{}",
        elevate.stderr
    );
    // One GET per account, one POST per account that needed elevation, each carrying its state.
    let requests = fake.requests();
    let posts: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/v1/permissions")
        .collect();
    assert_eq!(requests.len() - posts.len(), 200);
    assert_eq!(posts.len(), granted + redirected);
    assert!(
        posts
            .iter()
            .all(|r| r.body_str().is_some_and(|b| b.contains("state=run1-acct-")))
    );
    assert_no_token(&accounts, &elevate);

    let last = audit(&fake, FAST, &[], input);
    assert_eq!(last.code, Some(0), "{}", last.stderr);
    assert_matches_state(&fake, &accounts, &last);
    // Enterprise Connect accounts are done; user accounts wait for their users.
    for ((line, before), account) in last.lines().iter().zip(first.lines()).zip(&accounts) {
        if account.enterprise_connect {
            assert_eq!(line["needing_elevation"], serde_json::json!([]), "{line}");
        } else {
            assert_eq!(line, &before);
        }
    }
}

#[test]
fn paced_to_the_budget_the_fake_enforces_without_a_429() {
    let spec = "40/s,1200/min";
    let limits = parse_rate_limits(spec).expect("a spec");
    let (fake, accounts) = fake_with(FakeConfig::default().rate_limits(limits.clone()), 120, 20);
    let run = audit(
        &fake,
        spec,
        &["--concurrency", "16", "--elevate", "--redirect-uri", BACK],
        input_of(&accounts),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.lines().len(), 120);
    assert_eq!(fake.rate_limited_count(), 0);
    assert!(!run.stderr.contains("429"), "{}", run.stderr);
    let times = fake.admitted_times_of(&fake.seed().client_id);
    assert!(times.len() > 120, "lists and requests: {}", times.len());
    assert_eq!(find_window_exceeded(&limits, &times), None);
}

#[test]
fn bad_input_exits_2_with_nothing_sent() {
    let (fake, accounts) = fake_with(FakeConfig::default(), 3, 0);
    let input = format!(
        "{}\nnot json\n{{\"id\":\"x\"}}\n{}\n[\"{}\"]\n",
        accounts[0].json_line(),
        accounts[0].json_line(),
        accounts[1].access_token,
    );
    let run = audit(&fake, FAST, &[], input.clone());
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(
        run.stderr,
        "error: audit: line 2: not valid JSON (at column 2); line 3: `access_token` is missing; \
         line 4: duplicate id \"acct-000001\" (first on line 1); line 5: not a JSON object\n"
    );
    assert!(fake.requests().is_empty(), "nothing sent");
    assert_no_token(&accounts, &run);

    // With --json: one error document on stderr.
    let child = command(&fake, FAST).arg("--json").spawn().expect("spawns");
    let run = wait_with_input(child, input);
    assert_eq!(run.code, Some(2));
    let doc: Value = serde_json::from_str(&run.stderr).expect("one JSON document");
    assert_eq!(doc["error"]["kind"], "invalid_input");
    assert!(fake.requests().is_empty(), "nothing sent");

    // A bad redirect URI is also refused before anything is read or sent.
    let run = audit(
        &fake,
        FAST,
        &["--elevate", "--redirect-uri", "ftp://x"],
        input_of(&accounts),
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("redirect_uri"), "{}", run.stderr);
    assert!(fake.requests().is_empty(), "nothing sent");
}

#[test]
fn one_account_failing_does_not_stop_the_others() {
    let (fake, accounts) = fake_with(FakeConfig::default(), 6, 0);
    let mut input = input_of(&accounts[..3]);
    input.push_str("{\"id\":\"revoked\",\"access_token\":\"no-such-s3cret-token\"}\n");
    input.push_str(&input_of(&accounts[3..]));
    let run = audit(&fake, FAST, &["--concurrency", "3"], input);
    assert_eq!(run.code, Some(1), "an API refusal: {}", run.stderr);
    let lines = run.lines();
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(
        ids,
        [
            "acct-000001",
            "acct-000002",
            "acct-000003",
            "revoked",
            "acct-000004",
            "acct-000005",
            "acct-000006"
        ]
    );
    let failed = &lines[3];
    assert_eq!(failed["error"]["kind"], "unauthorized", "{failed}");
    assert_eq!(failed["error"]["status"], 401, "{failed}");
    assert_eq!(
        failed["error"]["message"],
        "unauthorized (401): the credentials were not recognized; refresh the access token and retry",
        "the core's message, without the CLI's `audit:` context"
    );
    assert!(
        lines
            .iter()
            .filter(|l| l.get("error").is_none())
            .all(|l| l["calendars"].as_u64() >= Some(2))
    );
    assert!(run.stderr.contains(", 1 failed in "), "{}", run.stderr);
    assert!(!run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"));
    assert_no_token(&accounts, &run);

    // No connection at all: every account fails on the network, exit 3.
    let mut closed = command_at("http://127.0.0.1:9", fake.app_url(), FAST);
    let run = wait_with_input(closed.spawn().expect("spawns"), input_of(&accounts[..2]));
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(
        run.lines()
            .iter()
            .all(|l| l["error"]["kind"] == "transport"),
        "{}",
        run.stdout
    );
    // Each line is the core's `AccountAudit::to_json_line` (the line `--resume` reads back),
    // its message the error with its cause (`CallError::detailed`).
    for (line, id) in run.lines().iter().zip(["acct-000001", "acct-000002"]) {
        assert_eq!(line["id"], id);
        let message = line["error"]["message"].as_str().expect("a message");
        assert!(
            message.starts_with("could not connect: Connection refused"),
            "{message}"
        );
    }
}

#[test]
fn resume_skips_accounts_already_done() {
    let (fake, accounts) = fake_with(FakeConfig::default(), 12, 3);
    let first = audit(&fake, FAST, &[], input_of(&accounts[..5]));
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let dir = std::env::temp_dir().join(format!("audit-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let file = dir.join("out.jsonl");
    // Five done, one failure (done again), and a line cut short by a crash.
    let previous = format!(
        "{}{{\"id\":\"acct-000006\",\"error\":{{\"kind\":\"timeout\",\"message\":\"m\"}}}}\n{{\"id\":\"acct-0000",
        first.stdout
    );
    std::fs::write(&file, previous).expect("written");
    fake.clear_requests();
    let path = file.to_str().expect("a UTF-8 path");
    let run = audit(&fake, FAST, &["--resume", path], input_of(&accounts));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let ids: Vec<String> = run
        .lines()
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_owned())
        .collect();
    let expected: Vec<String> = accounts[5..].iter().map(|a| a.label.clone()).collect();
    assert_eq!(ids, expected);
    assert_eq!(fake.requests().len(), 7);
    assert!(
        run.stderr.contains("; 5 skipped (already done)"),
        "{}",
        run.stderr
    );

    // Elevating now: a listing-only line is not an elevation, so nothing is skipped.
    let run = audit(
        &fake,
        FAST,
        &["--resume", path, "--elevate", "--redirect-uri", BACK],
        input_of(&accounts[..5]),
    );
    assert_eq!(run.lines().len(), 5, "{}", run.stderr);
    // A missing file is invalid input, nothing sent.
    fake.clear_requests();
    let missing = dir.join("missing.jsonl");
    let run = audit(
        &fake,
        FAST,
        &["--resume", missing.to_str().expect("utf-8")],
        input_of(&accounts),
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(fake.requests().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ctrl_c_finishes_the_calls_in_flight_and_exits_130() {
    let (fake, accounts) = fake_with(FakeConfig::default(), 300, 0);
    // Slow answers, so that the run is still going when interrupted.
    fake.script(
        Route::Calendars,
        std::iter::repeat_with(|| Fault::delay(Duration::from_millis(40))).take(300),
    );
    let mut child = command(&fake, FAST)
        .args(["--concurrency", "4"])
        .spawn()
        .expect("spawns");
    let mut stdin = child.stdin.take().expect("piped");
    stdin
        .write_all(input_of(&accounts).as_bytes())
        .expect("written");
    drop(stdin);
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut stderr = child.stderr.take().expect("piped");
    let mut seen = String::new();
    for _ in 0..10 {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("a line");
        seen.push_str(&line);
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("the rest");
    let mut err = String::new();
    stderr.read_to_string(&mut err).expect("stderr");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            break status;
        }
        assert!(started.elapsed() < LIMIT, "no exit after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130), "{err}");
    seen.push_str(&rest);
    assert!(seen.ends_with('\n'));
    let lines: Vec<Value> = seen
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a whole line: {e}: {l}")))
        .collect();
    assert!(
        lines.len() >= 10 && lines.len() < 300,
        "{} lines",
        lines.len()
    );
    // A prefix of the input, every one a report.
    let by_label: HashMap<&str, &GeneratedAccount> =
        accounts.iter().map(|a| (a.label.as_str(), a)).collect();
    for (line, account) in lines.iter().zip(&accounts) {
        assert_eq!(line["id"], account.label.as_str());
        assert!(by_label.contains_key(line["id"].as_str().expect("id")));
        assert!(line.get("error").is_none(), "{line}");
    }
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("audited {} accounts: ", lines.len())),
        "{err}"
    );
    assert!(
        err.contains(&format!("; interrupted, {} not started", 300 - lines.len())),
        "{err}"
    );
}

/// On a terminal, `audit` draws a progress bar on stderr (done/total, accounts per minute,
/// 429s, time left), and it shows no token. The terminal is a pseudo-terminal from
/// util-linux's `script`; stdout still goes to a file, as in a real run.
#[test]
fn the_progress_bar_on_a_terminal_shows_no_token() {
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs util-linux's `script` for this test"
        );
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let (fake, accounts) = fake_with(FakeConfig::default(), 12, 3);
    let dir = std::env::temp_dir().join(format!("audit-tty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let input = dir.join("accounts.jsonl");
    let output = dir.join("out.jsonl");
    std::fs::write(&input, input_of(&accounts)).expect("input");
    let cli = format!(
        "{} --api-url {} --app-url {} --rate-limit 1000/s audit < {} > {}",
        common::BIN,
        fake.api_url(),
        fake.app_url(),
        input.display(),
        output.display()
    );
    let tty = common::clean_command_for("script")
        .args(["-qefc", &cli, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script runs");
    assert!(tty.status.success(), "{tty:?}");
    let screen = String::from_utf8_lossy(&tty.stdout).into_owned();
    assert!(
        screen.contains("/12 accounts"),
        "no progress bar: {screen:?}"
    );
    assert!(screen.contains("429s"), "{screen:?}");
    let lines = std::fs::read_to_string(&output).expect("output");
    assert_eq!(lines.lines().count(), 12);
    for account in &accounts {
        assert!(
            !screen.contains(&account.access_token),
            "a token on the terminal"
        );
        assert!(
            !lines.contains(&account.access_token),
            "a token in the output"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
