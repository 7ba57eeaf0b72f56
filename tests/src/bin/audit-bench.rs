//! `audit` at scale against the local Cronofy enforcing Cronofy's default limits (50/s,
//! 500/min): accounts per minute achieved against the ideal the limits allow, 429s seen, and
//! the CLI's peak memory (VmHWM) for a large input. Runs the `cronofy-permissions` binary
//! built next to this one (build both in release:
//! `cargo build --release -p permissions-cli -p permissions-tests --bins`).
//!
//! `audit-bench [--accounts N] [--elevate] [--processes P] [--memory-lines M] [--bin PATH]`
//! (defaults: 2000 accounts, listing only, one process, 100000 lines for the memory run; 0
//! skips it). With `--processes P` over 1, the accounts are split between P CLI processes that
//! share the budget on a `redis-server` this bench starts on a unix socket (and stops).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use permissions_fake::{FakeConfig, FakeCronofy, ManyAccounts, RateLimit};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let accounts: usize = value("--accounts").map_or(2000, |v| v.parse().expect("--accounts N"));
    let memory_lines: usize =
        value("--memory-lines").map_or(100_000, |v| v.parse().expect("--memory-lines M"));
    let elevate = args.iter().any(|a| a == "--elevate");
    let processes: usize = value("--processes").map_or(1, |v| v.parse().expect("--processes P"));
    let bin = value("--bin").unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("own path");
        exe.with_file_name("cronofy-permissions")
            .display()
            .to_string()
    });

    let fake = FakeCronofy::start_blocking_with(
        FakeConfig::default()
            .rate_limits(RateLimit::cronofy_defaults())
            .request_log_capacity(accounts * 2 + 10),
    )
    .expect("fake starts");
    let generated = fake
        .add_accounts(ManyAccounts::new(accounts).enterprise(accounts / 4))
        .expect("accounts");

    let redis = (processes > 1).then(Redis::start);
    let started = Instant::now();
    let chunk = generated.len().div_ceil(processes.max(1));
    let children: Vec<_> = generated
        .chunks(chunk.max(1))
        .map(|accounts| {
            let mut cmd = cli(&bin, &fake);
            if elevate {
                cmd.args([
                    "--elevate",
                    "--redirect-uri",
                    "https://app.example.com/back",
                ]);
            }
            if let Some(redis) = &redis {
                cmd.args([
                    "--redis-url",
                    &redis.url(),
                    "--client-id",
                    &fake.seed().client_id,
                ]);
                cmd.args(["--fleet-size", &processes.to_string()]);
            }
            let mut child = cmd.spawn().expect("the CLI starts");
            let input: String = accounts.iter().map(|a| a.json_line() + "\n").collect();
            let mut stdin = child.stdin.take().expect("piped");
            std::thread::spawn(move || stdin.write_all(input.as_bytes()));
            child
        })
        .collect();
    let mut out = String::new();
    let mut err = String::new();
    let mut statuses = Vec::new();
    for child in children {
        let output = child.wait_with_output().expect("exits");
        out.push_str(&String::from_utf8_lossy(&output.stdout));
        err.push_str(String::from_utf8_lossy(&output.stderr).trim());
        err.push(' ');
        statuses.push(output.status.to_string());
    }
    let status = statuses.join(", ");
    let elapsed = started.elapsed();
    drop(redis);

    let calls = fake.requests().len();
    let lines = out.lines().count();
    let per_account = calls as f64 / accounts as f64;
    // The long-run ceiling: 500 calls a minute (50/s only shapes the first seconds).
    let ideal = 500.0 / per_account;
    let achieved = lines as f64 / elapsed.as_secs_f64() * 60.0;
    println!(
        "accounts: {accounts} ({} Enterprise Connect), elevate: {elevate}, processes: {processes}{}",
        accounts / 4,
        if processes > 1 {
            " sharing one Redis"
        } else {
            ""
        }
    );
    println!("exit: {status}; stderr: {}", err.trim());
    println!(
        "calls: {calls} ({per_account:.2} per account) in {:.1} s; 429s: {}",
        elapsed.as_secs_f64(),
        fake.rate_limited_count()
    );
    println!(
        "accounts per minute: {achieved:.1} achieved, {ideal:.1} ideal at 500 calls/min ({:.1}%)",
        achieved / ideal * 100.0
    );
    println!(
        "ideal time from rest (500 at once at 50/s, then 500 a minute): {:.1} s; achieved {:.1}%",
        ideal_secs(calls),
        ideal_secs(calls) / elapsed.as_secs_f64() * 100.0
    );
    drop(fake);

    if memory_lines > 0 {
        memory(&bin, memory_lines);
    }
}

fn cli(bin: &str, fake: &FakeCronofy) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_remove("CRONOFY_RATE_LIMIT")
        .args([
            "--api-url",
            fake.api_url(),
            "--app-url",
            fake.app_url(),
            "audit",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// When the last of `calls` can go at the earliest under 50/s and a sliding 500/min.
fn ideal_secs(calls: usize) -> f64 {
    let last = calls.saturating_sub(1);
    60.0 * (last / 500) as f64 + (last % 500) as f64 / 50.0
}

/// Peak resident memory of the CLI reading `lines` accounts (it is stopped with Ctrl-C once
/// it has started sending): VmHWM from /proc.
fn memory(bin: &str, lines: usize) {
    let fake = FakeCronofy::start_blocking().expect("fake starts");
    let input: String = (0..lines)
        .map(|i| format!("{{\"id\":\"acct-{i:06}\",\"access_token\":\"tok-{i:040}\"}}\n"))
        .collect();
    let mut child = cli(bin, &fake).spawn().expect("the CLI starts");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("piped");
    std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("a first line");
    std::thread::sleep(Duration::from_secs(1));
    let peak = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "VmHWM: unknown".to_owned());
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    let status = child.wait().expect("exits");
    println!(
        "memory for {lines} input lines: {} (exit {status})",
        peak.split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// A `redis-server` on a unix socket in a temp dir, stopped when dropped.
struct Redis {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Redis {
    fn start() -> Redis {
        let dir = std::env::temp_dir().join(format!("audit-bench-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let socket = dir.join("redis.sock");
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocket",
            ])
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, dir }
    }

    fn url(&self) -> String {
        format!("redis+unix://{}", self.dir.join("redis.sock").display())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
