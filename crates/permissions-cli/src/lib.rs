//! `cronofy-permissions`: Cronofy's Extended Permissions flow from a terminal.
//!
//! The binary's whole behaviour is [`run_with`]: arguments in, text or JSON out, an [`Exit`]
//! code back, so it can be driven from Rust exactly as from a shell:
//!
//! ```
//! use permissions_cli::{Exit, run_with};
//!
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let exit = run_with(
//!     ["cronofy-permissions", "--json", "callback",
//!      "https://app.example.com/permission?state=s1&error=access_denied",
//!      "--redirect-uri", "https://app.example.com/permission", "--state", "s1"],
//!     &mut out,
//!     &mut err,
//! );
//! // The user pressed Reject: exit code 1, and the answer on stdout.
//! assert_eq!(exit, Exit::Refused);
//! assert_eq!(String::from_utf8(out).unwrap(), "{\"outcome\":\"rejected\",\"error\":\"access_denied\"}\n");
//!
//! // A forged link (another state) is refused before its answer is read: exit code 2.
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let exit = run_with(
//!     ["cronofy-permissions", "callback", "https://app.example.com/permission?state=forged",
//!      "--redirect-uri", "https://app.example.com/permission", "--state", "s1"],
//!     &mut out,
//!     &mut err,
//! );
//! assert_eq!(exit, Exit::InvalidInput);
//! assert_eq!(
//!     String::from_utf8(err).unwrap(),
//!     "error: callback: callback state does not match the state that was sent\n"
//! );
//! ```
//!
//! # Commands
//!
//! | command | step | does |
//! | --- | --- | --- |
//! | `demo [--step]` | 1-6 | walks every step against a local Cronofy started in-process |
//! | `authorize-url` | 1 | prints the OAuth authorize URL |
//! | `token exchange` / `refresh` / `revoke` | 2 | code exchange, refresh, revocation |
//! | `calendars` | 3 | lists calendars with their permission level |
//! | `request` | 4-5 | asks for unrestricted access; prints the URL for the user (or "granted") |
//! | `callback` | 6 | reads the URL the user came back on: accepted or rejected |
//! | `serve-fake [--port N] [--admin] [--rate-limit SPEC] [--accounts N ...]` | | runs the local Cronofy until interrupted |
//! | `audit [--elevate]` | 3-5 | many accounts from stdin: one JSON line each, paced |
//!
//! Global flags (before or after the subcommand): `--data-center`, `--api-url`, `--app-url`,
//! `--timeout`, `--json`, `--token`, `--client-id`, `--client-secret`, and for pacing
//! `--rate-limit` (default `50/s,500/min`; `off`), `--redis-url`, `--fleet-size`. Environment:
//! `CRONOFY_DATA_CENTER`, `CRONOFY_ACCESS_TOKEN`, `CRONOFY_CLIENT_ID`,
//! `CRONOFY_CLIENT_SECRET`, `CRONOFY_REFRESH_TOKEN` (`token refresh` / `revoke`),
//! `CRONOFY_AUTHORIZATION_CODE` (`token exchange`, which also reads it from stdin with
//! `--code -`), `CRONOFY_RATE_LIMIT`, `CRONOFY_REDIS_URL`.
//!
//! # Output
//!
//! Results go to stdout, errors to stderr, and stdout stays empty when a command fails. Text
//! for people by default, and an error is one `error: …` line; with `--json`, a success is
//! exactly one JSON document on stdout and an error exactly one on stderr
//! (`{"error":{"kind":…,"message":…}}`). A closed stdout (`… | head -1`) ends the program
//! quietly with exit 0. See [`Exit`] for the exit codes.
//!
//! # Secrets
//!
//! No output contains the access token, the refresh token, the client secret or an
//! authorization code, except the token commands given `--show-secrets` and `serve-fake`'s
//! first line (the local test server's own credentials).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod audit;
mod commands;
mod demo;
mod redact;
mod report;
mod serve;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::args::{Cli, Command};
use crate::report::{CliError, Output, one_line};

/// The exit codes: a stable contract for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Exit {
    /// `0`: success (access granted, the redirect URL printed, the callback accepted, …).
    Success,
    /// `1`: Cronofy or the user said no: an HTTP error status, `error=access_denied`, or
    /// another `error` in the callback.
    Refused,
    /// `2`: invalid input, nothing sent: a bad flag, calendar id or redirect URI, an unknown
    /// data center, a missing token, an insecure custom URL, a callback URL that does not
    /// match the redirect URI or state.
    InvalidInput,
    /// `3`: network or response failure: could not connect, timed out, response too large or
    /// unreadable.
    Failure,
    /// `130`: interrupted by Ctrl-C (`audit`, after finishing the calls in flight).
    Interrupted,
}

impl Exit {
    /// The process exit code: 0, 1, 2, 3 or 130.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Refused => 1,
            Exit::InvalidInput => 2,
            Exit::Failure => 3,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// Runs the binary on the process's own arguments, stdout and stderr.
pub fn run() -> ExitCode {
    // permissions-redis says once when Redis is away (and when it is back): on stderr.
    let only_redis = tracing_subscriber::filter::Targets::new()
        .with_target("permissions_redis", tracing::Level::INFO);
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .without_time()
                .with_target(false)
                .with_filter(only_redis),
        )
        .try_init();
    // Unlocked handles: `serve-fake` prints from the local Cronofy's thread too.
    run_with(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
    .into()
}

/// Runs the binary on `args` (the program name first), writing to `stdout` and `stderr`.
///
/// `serve-fake` never returns: it serves until the process is stopped, and its per-request
/// lines go to the process's stdout whatever `stdout` is. `demo --step` and
/// `token exchange --code -` read the process's stdin.
pub fn run_with<I, T>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let json = args
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    let mut output = Output {
        out: stdout,
        err: stderr,
        json,
    };
    let cli = match parse(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e, &mut output),
    };
    output.json = cli.global.json;
    let result = match &cli.command {
        Command::Demo(_) if cli.global.json => Err(CliError::invalid(
            "demo: the demo is a narration for people and has no --json output",
        )),
        Command::Demo(demo_args) => demo::run(&cli.global, demo_args, output.out, output.err),
        Command::Calendars => commands::calendars(&cli.global, &mut output),
        Command::Request(a) => commands::request(&cli.global, a, &mut output),
        Command::Callback(a) => commands::callback(a, &mut output),
        Command::AuthorizeUrl(a) => commands::authorize_url(&cli.global, a, &mut output),
        Command::Token(t) => commands::token(&cli.global, t, &mut output),
        Command::Audit(a) => audit::audit(&cli.global, a, &mut output),
        Command::ServeFake(a) => serve::serve(a, cli.global.rate_limit.as_ref(), &mut output),
    };
    match result {
        Ok(exit) => exit,
        // Stdout was closed by its reader (`… | head -1`): end quietly, as Unix tools do.
        Err(error) if error.is_stdout_closed() => Exit::Success,
        Err(error) => {
            // Last line of defence: whatever a server echoed into an error, no secret this
            // process was given is printed.
            let error = error.redacted(&secrets_of(&cli));
            // Nothing more can be done if even this write fails; the exit code still tells.
            let _ = output.error(&error);
            error.exit
        }
    }
}

/// The command line, with where the revocation's refresh token came from (flag or
/// environment), which clap's derive does not keep.
fn parse(args: &[OsString]) -> Result<Cli, clap::Error> {
    let mut matches = Cli::command().try_get_matches_from(args)?;
    let refresh_token_from_env = matches
        .subcommand_matches("token")
        .and_then(|token| token.subcommand_matches("revoke"))
        .and_then(|revoke| revoke.value_source("refresh_token"))
        == Some(ValueSource::EnvVariable);
    let mut cli = Cli::from_arg_matches_mut(&mut matches)?;
    if let Command::Token(args::TokenCommand::Revoke(revoke)) = &mut cli.command {
        revoke.refresh_token_from_env = refresh_token_from_env;
    }
    Ok(cli)
}

/// Help and version go to stdout (exit 0); a usage error is reported like any invalid input.
fn usage_error(e: &clap::Error, output: &mut Output<'_>) -> Exit {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = write!(output.out, "{}", e.render());
            let _ = output.out.flush();
            Exit::Success
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand if !output.json => {
            let _ = write!(output.err, "{}", e.render());
            let _ = output.err.flush();
            Exit::InvalidInput
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let error = CliError::invalid("a subcommand is required (see --help)");
            let _ = output.error(&error);
            error.exit
        }
        _ => {
            // The first paragraph of clap's message, which may list arguments on
            // indented lines, joined into one line; the usage and tips are left out.
            let rendered = e.to_string();
            let paragraph: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .skip_while(|l| l.is_empty())
                .take_while(|l| !l.is_empty())
                .collect();
            let joined = paragraph.join(" ");
            let message = joined.strip_prefix("error: ").unwrap_or(&joined);
            let message = if message.is_empty() {
                "invalid arguments"
            } else {
                message
            };
            let error = CliError::invalid(format!("{} (see --help)", one_line(message)));
            let _ = output.error(&error);
            error.exit
        }
    }
}

/// Every secret this run was given, by flag or environment.
fn secrets_of(cli: &Cli) -> Vec<String> {
    use args::TokenCommand;
    let mut secrets: Vec<String> = [&cli.global.token, &cli.global.client_secret]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    match &cli.command {
        // A code read from stdin (`--code -`) is redacted where it is read.
        Command::Token(TokenCommand::Exchange(a)) => secrets.extend(a.code.clone()),
        Command::Token(TokenCommand::Refresh(a)) => secrets.push(a.refresh_token.clone()),
        Command::Token(TokenCommand::Revoke(a)) => secrets.extend(a.refresh_token.clone()),
        _ => {}
    }
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (Exit, String, String) {
        let mut argv = vec!["cronofy-permissions"];
        argv.extend_from_slice(args);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let exit = run_with(argv, &mut out, &mut err);
        (
            exit,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn exit_codes_are_the_documented_numbers() {
        assert_eq!(
            [
                Exit::Success,
                Exit::Refused,
                Exit::InvalidInput,
                Exit::Failure
            ]
            .map(Exit::code),
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn usage_errors_are_one_line_or_json() {
        let (exit, out, err) = run(&["calendars", "--no-such-flag"]);
        assert_eq!(exit, Exit::InvalidInput);
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: unexpected argument '--no-such-flag'"),
            "{err}"
        );

        let (exit, out, err) = run(&["--json", "calendars", "--timeout", "soon"]);
        assert_eq!(exit, Exit::InvalidInput);
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        let doc: serde_json::Value = serde_json::from_str(&err).unwrap();
        assert_eq!(doc["error"]["kind"], "invalid_input");
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .contains("--timeout")
        );
    }

    #[test]
    fn help_and_version_succeed_on_stdout() {
        let (exit, out, _) = run(&["--help"]);
        assert_eq!(exit, Exit::Success);
        assert!(out.contains("serve-fake") && out.contains("CRONOFY_ACCESS_TOKEN"));
        let (exit, out, _) = run(&["--version"]);
        assert_eq!(exit, Exit::Success);
        assert!(out.starts_with("cronofy-permissions "));
        let (exit, out, err) = run(&[]);
        assert_eq!(exit, Exit::InvalidInput);
        assert!(out.is_empty() && err.contains("Usage"));
    }

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() {
        let tail = [
            "--client-id",
            "cid",
            "--redirect-uri",
            "https://a.example.com/cb",
            "--scope",
            "read_account read_events",
            "--scope",
            "create_event",
        ];
        let mut before = vec!["--json", "--data-center", "uk", "authorize-url"];
        before.extend_from_slice(&tail);
        let mut after = vec!["authorize-url"];
        after.extend_from_slice(&tail);
        after.extend_from_slice(&["--data-center", "uk", "--json"]);
        let a = run(&before);
        assert_eq!(a, run(&after));
        assert_eq!(a.0, Exit::Success);
        assert_eq!(
            a.1,
            "{\"url\":\"https://app-uk.cronofy.com/oauth/authorize?response_type=code&client_id=cid\
             &redirect_uri=https%3A%2F%2Fa.example.com%2Fcb&scope=read_account%20read_events%20create_event\"}\n"
        );
    }

    #[test]
    fn demo_has_no_json_mode() {
        let (exit, out, err) = run(&["demo", "--json"]);
        assert_eq!(exit, Exit::InvalidInput);
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("\"invalid_input\""), "{err}");
    }

    /// A writer whose reader has gone, like a pipe closed by `head -1`.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    /// A writer that fails for another reason (a full disk).
    struct FullDisk;

    impl Write for FullDisk {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::StorageFull.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_stdout_ends_quietly_with_exit_0() {
        let args = [
            "cronofy-permissions",
            "callback",
            "https://a.example.com/cb?state=s1",
            "--redirect-uri",
            "https://a.example.com/cb",
            "--state",
            "s1",
        ];
        for json in [false, true] {
            let mut argv = args.to_vec();
            if json {
                argv.push("--json");
            }
            let mut err = Vec::new();
            let exit = run_with(argv.clone(), &mut ClosedPipe, &mut err);
            assert_eq!(exit, Exit::Success);
            assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));

            // Any other write failure is still a failure, reported on stderr.
            let mut err = Vec::new();
            let exit = run_with(argv, &mut FullDisk, &mut err);
            assert_eq!(exit, Exit::Failure);
            let err = String::from_utf8(err).unwrap();
            assert!(err.contains("writing the output"), "{err}");
        }
    }

    #[test]
    fn revoke_knows_where_its_refresh_token_came_from() {
        let revoke = |args: &[&str]| {
            let mut argv = vec!["cronofy-permissions", "token", "revoke"];
            argv.extend_from_slice(args);
            let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
            match parse(&argv).unwrap().command {
                Command::Token(args::TokenCommand::Revoke(r)) => r,
                other => panic!("{other:?}"),
            }
        };
        let flag = revoke(&["--refresh-token", "r-flag"]);
        assert_eq!(flag.refresh_token.as_deref(), Some("r-flag"));
        assert!(!flag.refresh_token_from_env);
        assert!(!revoke(&["--sub", "acc_1"]).refresh_token_from_env);
    }
}
