//! `cargo xtask fuzz`: seed corpora from the fixtures, then each cargo-fuzz target in turn.
//!
//! Installs cargo-fuzz when it is missing (`cargo install cargo-fuzz --locked`), and runs it
//! with `RUSTC_BOOTSTRAP=1`, so that a stable toolchain accepts the unstable flags it passes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fixture body, by file name.
type Fixture = (String, Vec<u8>);

/// One fuzz target of `fuzz/Cargo.toml`: its dictionary in `fuzz/dicts/` and its seeds.
struct Target {
    name: &'static str,
    dict: &'static str,
    seeds: fn(&[Fixture]) -> Vec<Vec<u8>>,
}

const TARGETS: &[Target] = &[
    Target {
        name: "permissions_outcome",
        dict: "json",
        seeds: bodies_and_hostile_outcomes,
    },
    Target {
        name: "response",
        dict: "http",
        seeds: responses,
    },
    Target {
        name: "calendars",
        dict: "json",
        seeds: bodies,
    },
    Target {
        name: "token_response",
        dict: "json",
        seeds: bodies,
    },
    Target {
        name: "oauth_error",
        dict: "http",
        seeds: error_responses,
    },
    Target {
        name: "permissions_callback",
        dict: "url",
        seeds: callbacks,
    },
    Target {
        name: "authorization_callback",
        dict: "url",
        seeds: callbacks,
    },
    Target {
        name: "retry_after",
        dict: "retry_after",
        seeds: retry_afters,
    },
    Target {
        name: "base_url",
        dict: "url",
        seeds: base_urls,
    },
    Target {
        name: "request_builders",
        dict: "url",
        seeds: builder_inputs,
    },
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut seconds: u64 = 60;
    let mut only: Vec<&str> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("fuzz (--seconds needs a positive whole number)")?;
            }
            name if TARGETS.iter().any(|t| t.name == name) => only.push(name),
            other => {
                let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
                return Err(format!(
                    "fuzz (unknown argument {other:?}; targets: {})",
                    names.join(", ")
                ));
            }
        }
    }
    let root = crate::root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    ensure_cargo_fuzz(&cargo)?;

    let fixtures = read_fixtures(&root)?;
    let targets: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| only.is_empty() || only.contains(&t.name))
        .collect();
    for target in &targets {
        let dir = root.join("fuzz/corpus").join(target.name);
        fs::create_dir_all(&dir).map_err(|e| format!("fuzz (creating {}: {e})", dir.display()))?;
        let seeds = (target.seeds)(&fixtures);
        for (i, seed) in seeds.iter().enumerate() {
            let file = dir.join(format!("seed-{i:03}"));
            fs::write(&file, seed)
                .map_err(|e| format!("fuzz (writing {}: {e})", file.display()))?;
        }
        eprintln!(
            "seeded {:<24} {:>4} inputs in {}",
            target.name,
            seeds.len(),
            dir.display()
        );
    }

    // cargo-fuzz passes -Z flags (sanitizer, coverage); RUSTC_BOOTSTRAP lets a stable
    // toolchain accept them, and a nightly one ignores it.
    let env = [("RUSTC_BOOTSTRAP", "1")];
    let mut build = vec!["fuzz", "build"];
    if only.len() == 1 {
        build.push(only[0]);
    }
    crate::cargo("fuzz build", &build, &env)?;

    let mut reports = Vec::new();
    for target in &targets {
        reports.push(run_target(&root, &cargo, target, seconds, &env)?);
    }

    eprintln!(
        "\n{:<24} {:>12} {:>9} {:>8}  result",
        "target", "executions", "exec/s", "corpus"
    );
    for r in &reports {
        eprintln!(
            "{:<24} {:>12} {:>9} {:>8}  {}",
            r.name,
            r.executions.map_or("?".into(), group),
            r.per_second.map_or("?".into(), group),
            r.corpus,
            r.finding.as_deref().unwrap_or("nothing found"),
        );
    }
    let found: Vec<&str> = reports
        .iter()
        .filter(|r| r.finding.is_some())
        .map(|r| r.name)
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzz (findings in {})", found.join(", ")))
    }
}

/// Whether `cargo fuzz` runs.
fn cargo_fuzz_runs(cargo: &str) -> bool {
    Command::new(cargo)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs cargo-fuzz when `cargo fuzz` does not run (a fresh machine), then checks that it
/// does. `--locked`: the versions its authors tested, not whatever resolves today.
fn ensure_cargo_fuzz(cargo: &str) -> Result<(), String> {
    if cargo_fuzz_runs(cargo) {
        return Ok(());
    }
    eprintln!("cargo-fuzz is not installed: installing it (once)");
    crate::cargo(
        "install cargo-fuzz",
        &["install", "cargo-fuzz", "--locked"],
        &[],
    )?;
    if cargo_fuzz_runs(cargo) {
        Ok(())
    } else {
        Err(
            "fuzz (cargo-fuzz was installed but `cargo fuzz --version` still fails: is \
             cargo's bin directory, usually ~/.cargo/bin, on PATH?)"
                .into(),
        )
    }
}

struct Report {
    name: &'static str,
    executions: Option<u64>,
    per_second: Option<u64>,
    corpus: usize,
    finding: Option<String>,
}

fn run_target(
    root: &Path,
    cargo: &str,
    target: &Target,
    seconds: u64,
    env: &[(&str, &str)],
) -> Result<Report, String> {
    let corpus = root.join("fuzz/corpus").join(target.name);
    let dict = root
        .join("fuzz/dicts")
        .join(format!("{}.dict", target.dict));
    eprintln!("\n== fuzz {}: {seconds} s", target.name);
    let output = Command::new(cargo)
        .current_dir(root)
        .envs(env.iter().copied())
        .args(["fuzz", "run", target.name])
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-dict={}", dict.display()))
        .args(["-print_final_stats=1", "-timeout=10", "-rss_limit_mb=2048"])
        .output()
        .map_err(|e| format!("fuzz (could not start cargo fuzz: {e})"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stat = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    let executions = stat("stat::number_of_executed_units:");
    let per_second = stat("stat::average_exec_per_sec:");
    let corpus_len = fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0);
    let finding = if output.status.success() {
        None
    } else {
        // What libFuzzer said, without the dictionary it recommends.
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('"')).collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        eprintln!("{tail}");
        let artifact = text
            .lines()
            .find_map(|l| l.split("Test unit written to ").nth(1))
            .map(str::trim);
        Some(match artifact {
            Some(path) => format!(
                "FOUND: {path} (minimize: cargo fuzz tmin {} {path})",
                target.name
            ),
            None => format!(
                "FAILED (exit {:?}, no artifact: see above)",
                output.status.code()
            ),
        })
    };
    eprintln!(
        "== fuzz {}: {} executions, {}",
        target.name,
        executions.map_or("?".into(), group),
        finding.as_deref().unwrap_or("nothing found")
    );
    Ok(Report {
        name: target.name,
        executions,
        per_second,
        corpus: corpus_len,
        finding,
    })
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Every `*.json` body in the core's fixtures and `fixtures/sdk`, by file name.
fn read_fixtures(root: &Path) -> Result<Vec<Fixture>, String> {
    let base = root.join("crates/permissions-core/tests/fixtures");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [base.clone(), base.join("sdk")] {
        let entries =
            fs::read_dir(&dir).map_err(|e| format!("fuzz (reading {}: {e})", dir.display()))?;
        files.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json")),
        );
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            fs::read(&p)
                .map(|b| (name, b))
                .map_err(|e| format!("fuzz (reading {}: {e})", p.display()))
        })
        .collect()
}

fn bodies(fixtures: &[Fixture]) -> Vec<Vec<u8>> {
    fixtures.iter().map(|(_, b)| b.clone()).collect()
}

fn bodies_and_hostile_outcomes(fixtures: &[Fixture]) -> Vec<Vec<u8>> {
    let mut seeds = bodies(fixtures);
    for url in [
        "javascript:alert(1)",
        "data:text/html,<script>x</script>",
        "/relative",
        "https://",
        "https://app.cronofy.com:99999/",
        "HTTPS://APP.CRONOFY.COM/p",
        "https://app.cronofy.com/p\\u0000",
    ] {
        seeds.push(format!(r#"{{"permissions_request":{{"url":"{url}"}}}}"#).into_bytes());
    }
    seeds.push(br#"{"permissions_request":{"accepted":false}}"#.to_vec());
    seeds.push(br#"{"permissions_request":{"url":null,"accepted":true}}"#.to_vec());
    seeds
}

/// A miniature HTTP response, as the `response` and `oauth_error` targets read it.
fn http(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{status}\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\n").as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

fn responses(fixtures: &[Fixture]) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (name, body) in fixtures {
        let status = status_of(name);
        seeds.push(http(
            status,
            &[("Content-Type", "application/json; charset=utf-8")],
            body,
        ));
        if status != 200 {
            seeds.push(http(200, &[], body));
        }
    }
    seeds.extend(extra_error_responses());
    seeds
}

fn error_responses(fixtures: &[Fixture]) -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = fixtures
        .iter()
        .filter(|(name, _)| name.contains("error") || name.contains("batch"))
        .flat_map(|(name, body)| [http(status_of(name), &[], body), http(400, &[], body)])
        .collect();
    seeds.extend(extra_error_responses());
    seeds
}

fn extra_error_responses() -> Vec<Vec<u8>> {
    vec![
        http(429, &[("Retry-After", "3")], b""),
        http(
            429,
            &[("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")],
            b"",
        ),
        http(429, &[("Retry-After", "99999999999999999999999")], b""),
        http(
            503,
            &[("Retry-After", "1")],
            b"<html>Service Unavailable</html>",
        ),
        http(502, &[], b"Bad Gateway"),
        http(302, &[("Location", "https://evil.example.com/steal")], b""),
        http(
            500,
            &[],
            b"<html>\x1b[31merror\x1b[0m\r\nSet-Cookie: x</html>",
        ),
        http(
            400,
            &[],
            br#"{"error":"invalid_grant","error_description":"The code is unknown"}"#,
        ),
        http(401, &[("WWW-Authenticate", "Bearer")], b""),
        http(204, &[], b""),
    ]
}

/// The status a fixture came with, from its name.
fn status_of(name: &str) -> u16 {
    for (hint, status) in [
        ("_400", 400),
        ("_401", 401),
        ("_422", 422),
        ("_207", 207),
        ("accepted", 202),
    ] {
        if name.contains(hint) {
            return status;
        }
    }
    200
}

fn callbacks(_: &[Fixture]) -> Vec<Vec<u8>> {
    let cases: &[(&str, &str, &str)] = &[
        (
            "https://app.example.com/permission",
            "st1",
            "https://app.example.com/permission?state=st1",
        ),
        (
            "https://app.example.com/permission",
            "st1",
            "https://app.example.com/permission?state=st1&error=access_denied",
        ),
        (
            "https://app.example.com/permission?tenant=7",
            "st ate/1",
            "https://app.example.com/permission?tenant=7&state=st+ate%2F1&code=c0de",
        ),
        (
            "https://app.example.com:8443/cb",
            "",
            "https://app.example.com:8443/cb?error=server_error&error_description=Try+again",
        ),
        (
            "http://localhost:3000/oauth",
            "xyz",
            "http://localhost:3000/oauth?code=abc&state=xyz",
        ),
        (
            "https://app.example.com/cb",
            "st",
            "https://evil.example.com/cb?state=st&code=abc",
        ),
        (
            "https://app.example.com/cb",
            "st",
            "https://app.example.com/cb?state=st&state=st2",
        ),
        (
            "https://app.example.com/cb",
            "st",
            "https://app.example.com:443/cb?state=st",
        ),
        (
            "https://app.example.com/cb?state=abc",
            "abc",
            "https://app.example.com/cb?state=abc",
        ),
        ("https://app.example.com/cb", "", "javascript:alert(1)"),
    ];
    cases
        .iter()
        .map(|(redirect, state, back)| format!("{redirect}\n{state}\n{back}").into_bytes())
        .collect()
}

fn retry_afters(_: &[Fixture]) -> Vec<Vec<u8>> {
    [
        "120",
        " 3 ",
        "0",
        "99999999999999999999999",
        "18446744073709551615",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "-1",
        "1.5",
        "soon",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn base_urls(_: &[Fixture]) -> Vec<Vec<u8>> {
    [
        "https://api.cronofy.com",
        "https://gw.example.com/cronofy/",
        "http://127.0.0.1:8080",
        "http://localhost:3000/prefix",
        "http://[::1]:80/x",
        "http://api.example.com",
        "http://localhost.evil.com",
        "http://0x7f.1/",
        "https://u:p@x.example.com",
        "https://x.example.com/?a=b#c",
        "ftp://x.example.com",
        "https://a{b.example.com",
        "us",
        "UK",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn builder_inputs(_: &[Fixture]) -> Vec<Vec<u8>> {
    [
        "https://api.cronofy.com\nmy-app/1.0\ncal_n23kjnwrw2_jsdfjksn234\nhttps://app.example.com/permission\nst1\ncid\ns3cr3t-value-123",
        "http://127.0.0.1:9\nua\ncal 1\nhttps://app.example.com/permission#frag\n\ncid\ns",
        "https://gw.example.com/p/\nua\u{7f}\ncal_1\nhttps://app.example.com/cb?state=x\nx\nc\u{1}id\nsecret\nwith-newline",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

#[cfg(test)]
mod tests {
    /// `cargo xtask fuzz` runs and seeds the targets it lists: a target added to
    /// `fuzz/Cargo.toml` but not here would build and never run.
    #[test]
    fn every_fuzz_target_is_listed() {
        let manifest = std::fs::read_to_string(crate::root().join("fuzz/Cargo.toml"))
            .expect("fuzz/Cargo.toml");
        let mut in_bin = false;
        let mut declared = Vec::new();
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_bin = line == "[[bin]]";
            } else if in_bin && let Some(name) = line.strip_prefix("name = ") {
                declared.push(name.trim_matches('"').to_owned());
            }
        }
        let mut listed: Vec<String> = super::TARGETS.iter().map(|t| t.name.to_owned()).collect();
        declared.sort();
        listed.sort();
        assert!(!declared.is_empty(), "no [[bin]] in fuzz/Cargo.toml");
        assert_eq!(
            declared, listed,
            "fuzz/Cargo.toml's targets against xtask's TARGETS"
        );
    }
}
