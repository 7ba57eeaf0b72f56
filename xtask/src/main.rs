//! `cargo xtask`: the project's automation, in Rust, with no dependencies.
//!
//! - `cargo xtask ci`: what CI runs — fmt check, clippy with warnings denied, every test, docs
//!   with warnings denied.
//! - `cargo xtask bench`: the benchmarks (criterion for the core, loopback for the transports).
//!   Not part of `ci`: numbers need a quiet machine, and tests never time anything.

use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  ci      fmt --check, clippy -D warnings, tests, docs (what CI runs)\n  \
                 bench   criterion benchmarks of permissions-core and the loopback transport benchmarks"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(step) => {
            eprintln!("xtask: {step} failed");
            ExitCode::FAILURE
        }
    }
}

fn cargo(step: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("\n== {step}: cargo {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .envs(env.iter().copied())
        .status()
        .map_err(|e| format!("{step} (could not start cargo: {e})"))?;
    eprintln!("== {step}: {:.0?}", started.elapsed());
    if status.success() {
        Ok(())
    } else {
        Err(step.to_owned())
    }
}

fn ci() -> Result<(), String> {
    cargo("fmt", &["fmt", "--all", "--", "--check"], &[])?;
    cargo(
        "clippy",
        &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
        &[],
    )?;
    cargo("test", &["test", "--workspace"], &[])?;
    cargo(
        "doc",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    Ok(())
}

fn bench(extra: &[String]) -> Result<(), String> {
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut core = vec!["bench", "-p", "permissions-core", "--bench", "core"];
    if !extra.is_empty() {
        core.push("--");
        core.extend(&extra);
    }
    cargo("core benchmarks", &core, &[])?;
    cargo(
        "loopback benchmarks",
        &["run", "--release", "-p", "permissions-tests", "--bin", "loopback-bench"],
        &[],
    )
}
