//! `audit`: steps 3-5 for many accounts, a shell around `permissions_ureq::audit` (the per-account
//! logic is the core's `AuditPlan`).
//!
//! The whole of stdin is read and checked before anything is sent; results are printed one
//! JSON line per account in input order; progress goes to stderr (a bar on a terminal, else
//! one summary line at the end); Ctrl-C stops taking accounts, lets the calls in flight finish,
//! and exits 130.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, IsTerminal};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use permissions_core::audit::{
    AccountAudit, AccountLines, AuditAccount, AuditPlan, ElevationOutcome,
};
use permissions_core::transport::{HttpRequest, SyncTransport};
use permissions_ureq::UreqTransport;

use crate::Exit;
use crate::args::{AuditArgs, Global};
use crate::commands::{Outcome, client_builder, connect_timeout, hosts};
use crate::report::{CliError, Output, exit_for_kind};

/// `audit`.
pub(crate) fn audit(global: &Global, args: &AuditArgs, output: &mut Output<'_>) -> Outcome {
    let hosts = hosts(global)?;
    let plan = match (&args.elevate, &args.redirect_uri) {
        (true, Some(uri)) => AuditPlan::elevate(uri, args.state_prefix.as_deref())
            .map_err(|e| CliError::build("audit", &e))?,
        _ => AuditPlan::list_only(),
    };
    let accounts = read_accounts(&mut std::io::stdin().lock(), &plan)?;
    let (accounts, skipped) = match &args.resume {
        Some(path) => skip_done(path, &plan, accounts)?,
        None => (accounts, 0),
    };

    let throttled = Arc::new(AtomicU64::new(0));
    let transport = {
        let inner = UreqTransport::new(connect_timeout(global), global.timeout);
        let throttled = Arc::clone(&throttled);
        move |request: HttpRequest| {
            let sent = inner.send(request);
            if sent.as_ref().is_ok_and(|r| r.status() == 429) {
                throttled.fetch_add(1, Ordering::Relaxed);
            }
            sent
        }
    };
    let client = client_builder(global, hosts)?
        .transport(transport)
        .build()
        .map_err(|e| CliError::client("starting the HTTP client", &e))?;

    // Ctrl-C: stop taking accounts; the calls in flight finish and are printed.
    let interrupted = Arc::new(AtomicBool::new(false));
    let signal = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupted))
        .map_err(|e| CliError::output("handling Ctrl-C", &e))?;
    let result = run(
        &client,
        &plan,
        accounts,
        args,
        skipped,
        &interrupted,
        &throttled,
        output,
    );
    signal_hook::low_level::unregister(signal);
    result
}

/// Reads every line of `input` and checks it; any problem is invalid input (exit 2), and the
/// message names each bad line (`line N: …`) without quoting it.
fn read_accounts(input: &mut dyn BufRead, plan: &AuditPlan) -> Result<Vec<AuditAccount>, CliError> {
    let mut lines = AccountLines::new(plan);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = input
            .read_until(b'\n', &mut buffer)
            .map_err(|e| CliError::invalid(format!("audit: reading stdin: {e}")))?;
        if read == 0 {
            break;
        }
        let text = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        match std::str::from_utf8(text) {
            Ok(text) => lines.push(text),
            Err(_) => lines.push_unreadable(),
        }
    }
    lines
        .finish()
        .map_err(|e| CliError::invalid(format!("audit: {e}")))
}

/// The accounts without a successful line in `path`, and how many were skipped.
fn skip_done(
    path: &std::path::Path,
    plan: &AuditPlan,
    accounts: Vec<AuditAccount>,
) -> Result<(Vec<AuditAccount>, usize), CliError> {
    let cannot = |e: std::io::Error| {
        CliError::invalid(format!("--resume: cannot read {}: {e}", path.display()))
    };
    let mut reader = BufReader::new(std::fs::File::open(path).map_err(cannot)?);
    let mut done = HashSet::new();
    let mut buffer = Vec::new();
    while reader.read_until(b'\n', &mut buffer).map_err(cannot)? > 0 {
        if let Some(id) = std::str::from_utf8(&buffer)
            .ok()
            .and_then(|line| plan.completed_id(line.trim_end()))
        {
            done.insert(id);
        }
        buffer.clear();
    }
    let before = accounts.len();
    let left: Vec<AuditAccount> = accounts
        .into_iter()
        .filter(|a| !done.contains(a.id()))
        .collect();
    let skipped = before - left.len();
    Ok((left, skipped))
}

/// What the run has seen so far, for the progress bar and the summary.
#[derive(Debug, Default)]
struct Tally {
    done: usize,
    need_elevation: usize,
    granted: usize,
    redirect: usize,
    failed: usize,
    network_failures: usize,
}

impl Tally {
    fn add(&mut self, account: &AccountAudit) {
        self.done += 1;
        match &account.result {
            Ok(report) => {
                self.need_elevation += usize::from(!report.needing_elevation.is_empty());
                match report.outcome {
                    Some(ElevationOutcome::Granted) => self.granted += 1,
                    Some(ElevationOutcome::Redirect { .. }) => self.redirect += 1,
                    _ => {}
                }
            }
            Err(error) => {
                self.failed += 1;
                if exit_for_kind(error.kind()) == Exit::Failure {
                    self.network_failures += 1;
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    client: &permissions_ureq::Client,
    plan: &AuditPlan,
    accounts: Vec<AuditAccount>,
    args: &AuditArgs,
    skipped: usize,
    interrupted: &Arc<AtomicBool>,
    throttled: &AtomicU64,
    output: &mut Output<'_>,
) -> Outcome {
    let started = Instant::now();
    let total = accounts.len();
    let stop = Arc::clone(interrupted);
    let taken = accounts
        .into_iter()
        .take_while(move |_| !stop.load(Ordering::Relaxed));
    let bar = std::io::stderr().is_terminal().then(|| progress_bar(total));
    let mut tally = Tally::default();
    let results = permissions_ureq::audit(client, plan, taken, usize::from(args.concurrency));
    for account in results {
        tally.add(&account);
        // The core's line, the one `--resume` (`AuditPlan::completed_id`) reads back.
        let mut line = account.to_json_line();
        line.push('\n');
        if let Err(e) = output
            .out
            .write_all(line.as_bytes())
            .and_then(|()| output.out.flush())
        {
            interrupted.store(true, Ordering::Relaxed);
            return Err(CliError::output("writing the output", &e));
        }
        if let Some(bar) = &bar {
            let minutes = started.elapsed().as_secs_f64().max(0.001) / 60.0;
            bar.set_message(format!(
                "{:.0}/min, {} 429s",
                tally.done as f64 / minutes,
                throttled.load(Ordering::Relaxed)
            ));
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let was_interrupted = interrupted.load(Ordering::Relaxed);
    let summary = summary(
        &tally,
        plan.elevates(),
        skipped,
        throttled.load(Ordering::Relaxed),
        was_interrupted.then(|| total - tally.done),
        started.elapsed(),
    );
    // The results are out; a failure to write the summary changes nothing.
    let _ = writeln!(output.err, "{summary}").and_then(|()| output.err.flush());
    Ok(if was_interrupted {
        Exit::Interrupted
    } else if tally.network_failures > 0 {
        Exit::Failure
    } else if tally.failed > 0 {
        Exit::Refused
    } else {
        Exit::Success
    })
}

fn progress_bar(total: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{bar:30} {pos}/{len} accounts, {msg}, {elapsed_precise}, {eta} left",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message("0/min, 0 429s");
    bar
}

/// `audited N accounts: X need elevation, Y granted, R sent a URL, Z failed in 3m12s`, plus
/// what was skipped, throttled or not started.
fn summary(
    tally: &Tally,
    elevated: bool,
    skipped: usize,
    throttled: u64,
    not_started: Option<usize>,
    elapsed: Duration,
) -> String {
    let mut text = format!(
        "audited {} account{}: {} need elevation, ",
        tally.done,
        if tally.done == 1 { "" } else { "s" },
        tally.need_elevation
    );
    if elevated {
        text.push_str(&format!(
            "{} granted, {} sent a URL, ",
            tally.granted, tally.redirect
        ));
    }
    text.push_str(&format!("{} failed in {}", tally.failed, duration(elapsed)));
    if skipped > 0 {
        text.push_str(&format!("; {skipped} skipped (already done)"));
    }
    if throttled > 0 {
        text.push_str(&format!("; {throttled} answered 429"));
    }
    if let Some(left) = not_started {
        text.push_str(&format!("; interrupted, {left} not started"));
    }
    text
}

/// `12.3s`, `3m12s`, `1h02m03s`.
fn duration(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    match secs {
        0..60 => format!("{:.1}s", elapsed.as_secs_f64()),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m{:02}s", secs / 3600, secs / 60 % 60, secs % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_names_every_line_and_no_token() {
        let input = b"{\"id\":\"a\",\"access_token\":\"s3cret-1\"}\n\xff\xfe\n{\"id\":\"a\",\"access_token\":\"s3cret-2\"}\r\n";
        let e = read_accounts(&mut &input[..], &AuditPlan::list_only()).unwrap_err();
        assert_eq!(e.exit, Exit::InvalidInput);
        assert_eq!(
            e.message,
            "audit: line 2: not UTF-8 text; line 3: duplicate id \"a\" (first on line 1)"
        );
        let ok = read_accounts(
            &mut &b"{\"id\":\"a\",\"access_token\":\"t\"}\r\n{\"id\":\"b\",\"access_token\":\"u\"}"
                [..],
            &AuditPlan::list_only(),
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
    }

    #[test]
    fn summaries() {
        let tally = Tally {
            done: 200,
            need_elevation: 143,
            granted: 41,
            redirect: 102,
            failed: 0,
            network_failures: 0,
        };
        assert_eq!(
            summary(&tally, true, 0, 0, None, Duration::from_secs(192)),
            "audited 200 accounts: 143 need elevation, 41 granted, 102 sent a URL, 0 failed in 3m12s"
        );
        assert_eq!(
            summary(&tally, false, 5, 2, Some(7), Duration::from_millis(12_340)),
            "audited 200 accounts: 143 need elevation, 0 failed in 12.3s; 5 skipped (already done); \
             2 answered 429; interrupted, 7 not started"
        );
        assert_eq!(duration(Duration::from_secs(3723)), "1h02m03s");
    }
}
