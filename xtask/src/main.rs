//! `cargo xtask`: the project's automation, in Rust, with no dependencies.
//!
//! - `cargo xtask ci`: what CI runs — fmt check, clippy with warnings denied, every test of
//!   every workspace member (xtask's own `tidy` test of the house rules included), docs with
//!   warnings denied, and a `cargo package` of every publishable crate.
//! - `cargo xtask package`: `ci`'s last step on its own (see [`package`]).
//! - `cargo xtask bench`: the benchmarks: criterion for the core and its pacer, a Redis pacing
//!   decision, loopback for the transports, and sustained `audit` throughput against the local
//!   Cronofy's limits (one process, then four on one Redis). Not part of `ci`: numbers need a
//!   quiet machine, and tests never time anything.
//! - `cargo xtask fuzz [--seconds N] [TARGET...]`: every fuzz target of `fuzz/` (or those named)
//!   for N seconds each (default 60), on seed corpora written from the fixtures; prints per
//!   target the executions run and whether anything was found. Installs cargo-fuzz if needed.
//!
//! One module per job, as in rust-analyzer's xtask: [`fuzz`] (seeding and running the fuzz
//! targets), [`package`] (the publishable crates and their packages), and `tidy` (a test).

mod fuzz;
mod package;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("package") => package::check(),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  ci      fmt --check, clippy -D warnings, tests, docs, packages (what CI runs)\n  \
                 package cargo package of every publishable crate, and a check of its files (part of ci)\n  \
                 bench   core and pacer (criterion), a Redis decision, loopback transports, audit throughput\n  \
                 fuzz    [--seconds N] [TARGET...]: each fuzz target for N seconds (default 60)"
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

/// The workspace root (xtask lives in `<root>/xtask`).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Runs `cargo <args>` in the workspace root, printing the step and how long it took.
pub(crate) fn cargo(step: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("\n== {step}: cargo {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root())
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
    let started = Instant::now();
    cargo("fmt", &["fmt", "--all", "--", "--check"], &[])?;
    cargo(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    // `--workspace` is every member, xtask included (its `tidy` test checks the house rules):
    // `default-members` only applies when neither `--workspace` nor `-p` is given. Every test
    // binary runs even after one fails, so that one run reports every failure.
    cargo("test", &["test", "--workspace", "--no-fail-fast"], &[])?;
    cargo(
        "doc",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    package::check()?;
    eprintln!("\n== ci: everything passed in {:.0?}", started.elapsed());
    Ok(())
}

fn bench(extra: &[String]) -> Result<(), String> {
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    for bench in ["core", "pacing"] {
        let mut args = vec!["bench", "-p", "permissions-core", "--bench", bench];
        if !extra.is_empty() {
            args.push("--");
            args.extend(&extra);
        }
        cargo(&format!("core benchmarks ({bench})"), &args, &[])?;
    }
    cargo(
        "a Redis pacing decision on loopback",
        &["bench", "-p", "permissions-redis", "--bench", "decision"],
        &[],
    )?;
    let bins = [
        "build",
        "--release",
        "-p",
        "permissions-cli",
        "-p",
        "permissions-tests",
    ];
    cargo("release binaries", &[&bins[..], &["--bins"]].concat(), &[])?;
    cargo(
        "loopback benchmarks",
        &[
            "run",
            "--release",
            "-p",
            "permissions-tests",
            "--bin",
            "loopback-bench",
        ],
        &[],
    )?;
    // Sustained throughput against the local Cronofy enforcing 50/s and 500/min: one process,
    // then four sharing one Redis (each about four minutes: the limits are the point).
    let audit = [
        "run",
        "--release",
        "-p",
        "permissions-tests",
        "--bin",
        "audit-bench",
        "--",
    ];
    cargo(
        "audit, one process",
        &[&audit[..], &["--accounts", "2000"]].concat(),
        &[],
    )?;
    cargo(
        "audit, four processes on one Redis",
        &[
            &audit[..],
            &[
                "--accounts",
                "2000",
                "--processes",
                "4",
                "--memory-lines",
                "0",
            ],
        ]
        .concat(),
        &[],
    )
}
