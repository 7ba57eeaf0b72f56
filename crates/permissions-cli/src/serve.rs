//! `serve-fake`: a local Cronofy for trying the other commands, until the process is stopped.

use std::io::Write;

use permissions_fake::{FakeConfig, FakeCronofy, LoggedRequest, ManyAccounts, RateLimit};
use permissions_ureq::PacingConfig;
use serde::Serialize;

use crate::Exit;
use crate::args::{RateLimitSpec, ServeFakeArgs};
use crate::commands::Outcome;
use crate::redact;
use crate::report::{CliError, Output};

/// The first line: where the fake listens and its ready credentials. They are a local test
/// server's and grant nothing anywhere else, so they are printed in full.
#[derive(Debug, Serialize)]
pub(crate) struct ReadyLine<'a> {
    api_url: &'a str,
    app_url: &'a str,
    access_token: &'a str,
    refresh_token: &'a str,
    enterprise_access_token: &'a str,
    client_id: &'a str,
    client_secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_url: Option<&'a str>,
    /// The rate limits enforced, e.g. `"50/s,500/min"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit: Option<String>,
    /// How many extra accounts were written to `--accounts-out`.
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<usize>,
}

pub(crate) fn ready_line(fake: &FakeCronofy) -> ReadyLine<'_> {
    let seed = fake.seed();
    ReadyLine {
        api_url: fake.api_url(),
        app_url: fake.app_url(),
        access_token: &seed.access_token,
        refresh_token: &seed.refresh_token,
        enterprise_access_token: &seed.enterprise_access_token,
        client_id: &seed.client_id,
        client_secret: &seed.client_secret,
        admin_url: fake.admin_url(),
        rate_limit: None,
        accounts: None,
    }
}

/// The limits of `--rate-limit` as the local Cronofy enforces them: the same counts and
/// windows (whole milliseconds, as `PacingConfig` checked them).
fn fake_limits(pacing: &PacingConfig) -> Result<Vec<RateLimit>, CliError> {
    pacing
        .limits()
        .iter()
        .map(|limit| {
            RateLimit::new(limit.requests, limit.per).map_err(|e| {
                CliError::invalid(format!(
                    "--rate-limit: the local Cronofy cannot enforce it: {e}"
                ))
            })
        })
        .collect()
}

/// One line per request served: host, method, path, the query with secret values redacted,
/// and the status answered. Headers and bodies are never shown.
#[derive(Debug, Serialize)]
pub(crate) struct RequestLine<'a> {
    host: &'static str,
    method: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<String>,
    status: u16,
}

pub(crate) fn request_line(request: &LoggedRequest, status: u16) -> RequestLine<'_> {
    let query = request.query.as_ref().map(|query| {
        let shown = redact::url(&format!("http://h/?{query}"));
        shown
            .split_once('?')
            .map_or_else(String::new, |(_, q)| q.to_owned())
    });
    RequestLine {
        host: request.host.as_str(),
        method: &request.method,
        path: &request.path,
        query,
        status,
    }
}

fn failure(message: String) -> CliError {
    CliError {
        kind: "transport",
        message,
        status: None,
        fields: None,
        exit: Exit::Failure,
    }
}

/// Creates `--accounts` and writes them to `--accounts-out` (owner-only on Unix: the lines
/// hold the local server's access tokens). `Ok(None)` without `--accounts`.
fn write_accounts(args: &ServeFakeArgs, fake: &FakeCronofy) -> Result<Option<usize>, CliError> {
    let (Some(count), Some(path)) = (args.accounts, args.accounts_out.as_ref()) else {
        return Ok(None);
    };
    let spec = ManyAccounts::new(count)
        .enterprise(args.enterprise_accounts)
        .seed(args.accounts_seed);
    // `serve` has checked `--enterprise-accounts` against `--accounts` already.
    let accounts = fake
        .add_accounts(spec)
        .map_err(|e| CliError::invalid(format!("serve-fake: --accounts: {e}")))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let shown = path.display();
    let file = options
        .open(path)
        .map_err(|e| failure(format!("serve-fake: --accounts-out {shown}: {e}")))?;
    permissions_fake::write_account_lines(&accounts, std::io::BufWriter::new(file))
        .map_err(|e| failure(format!("serve-fake: writing {shown}: {e}")))?;
    Ok(Some(accounts.len()))
}

/// Runs the fake until the process is interrupted. The first line goes to `output`; the
/// request lines, written from the fake's thread, go to this process's stdout.
pub(crate) fn serve(
    args: &ServeFakeArgs,
    rate_limit: Option<&RateLimitSpec>,
    output: &mut Output<'_>,
) -> Outcome {
    // `--rate-limit` is the limit the local Cronofy enforces here (`off`: none), as clap read
    // it: the grammar every command paces to.
    let pacing = rate_limit.and_then(|spec| spec.pacing.as_ref());
    let limits = pacing.map(fake_limits).transpose()?;
    // Checked here, before the local Cronofy starts (`add_accounts` would refuse it too, but
    // only once it is running).
    if args
        .accounts
        .is_some_and(|count| args.enterprise_accounts > count)
    {
        return Err(CliError::invalid(format!(
            "serve-fake: --enterprise-accounts {} is more than --accounts {}",
            args.enterprise_accounts,
            args.accounts.unwrap_or_default()
        )));
    }
    // The line is printed once the status is known.
    let mut config = FakeConfig::default().on_response(|request, status| {
        let mut stdout = std::io::stdout().lock();
        // A closed stdout must not stop the server: the line is lost, the request is served.
        if serde_json::to_writer(&mut stdout, &request_line(request, status)).is_ok() {
            let _ = stdout.write_all(b"\n");
        }
        let _ = stdout.flush();
    });
    if let Some(port) = args.port {
        // The parser keeps `port` below 65535, so the app port fits.
        config = config.api_port(port).app_port(port + 1);
    }
    if args.admin {
        config = config.admin(true);
    }
    if let Some(limits) = &limits {
        config = config.rate_limits(limits.iter().copied());
    }
    let fake = FakeCronofy::start_blocking_with(config).map_err(|e| {
        failure(format!(
            "serve-fake: could not start the local Cronofy: {e}"
        ))
    })?;
    let accounts = write_accounts(args, &fake)?;
    let mut ready = ready_line(&fake);
    ready.rate_limit = pacing.map(ToString::to_string);
    ready.accounts = accounts;
    output
        .json(&ready)
        .map_err(|e| CliError::output("serve-fake: writing the output", &e))?;
    if !output.json {
        let _ = writeln!(
            output.err,
            "Local Cronofy running: API {} and app {}. Stop with Ctrl-C.",
            fake.api_url(),
            fake.app_url()
        );
    }
    // Serve until the process is stopped (Ctrl-C or a signal ends it; the OS frees the ports).
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_redact_secret_query_values() {
        let request = sample();
        let line = serde_json::to_string(&request_line(&request, 404)).unwrap();
        assert!(!line.contains("c0de-s3cret"), "{line}");
        assert!(
            line.contains(r#""query":"code=[redacted]&state=abc""#),
            "{line}"
        );
        assert_eq!(
            line,
            r#"{"host":"app","method":"GET","path":"/cb","query":"code=[redacted]&state=abc","status":404}"#
        );
    }

    fn sample() -> LoggedRequest {
        // LoggedRequest is non-exhaustive: get a real one from a live fake.
        let fake = FakeCronofy::start_blocking().unwrap();
        let address = fake.app_url().trim_start_matches("http://").to_owned();
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "GET /cb?code=c0de-s3cret&state=abc HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        fake.requests().pop().unwrap()
    }
}
