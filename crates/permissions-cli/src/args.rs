//! The command line, as clap reads it. These names are a stable contract: scripts rely on them.

use clap::{Args, Parser, Subcommand};

/// `cronofy-permissions`: Cronofy's Extended Permissions flow, one step per command.
#[derive(Debug, Parser)]
#[command(
    name = "cronofy-permissions",
    version,
    about = "Cronofy's Extended Permissions flow from a terminal: the six-step demo, and one command per step.",
    long_about = "Cronofy's Extended Permissions flow from a terminal.\n\n\
        Start with `cronofy-permissions demo`: it walks all six steps against a local Cronofy.\n\
        The other commands do one step each against Cronofy's API (or any base URL), for people\n\
        and for scripts (`--json`).\n\n\
        Exit codes: 0 success; 1 Cronofy or the user said no; 2 invalid input, nothing sent;\n\
        3 network or response failure.",
    arg_required_else_help = true
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags accepted before or after any subcommand.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Cronofy data center: us, uk, de, au, ca or sg.
    #[arg(
        long,
        global = true,
        env = "CRONOFY_DATA_CENTER",
        value_name = "DC",
        help_heading = "Connection"
    )]
    pub(crate) data_center: Option<String>,

    /// Base URL of the API host, instead of the data center's (may carry a path prefix; plain
    /// http only on loopback).
    #[arg(long, global = true, value_name = "URL", help_heading = "Connection")]
    pub(crate) api_url: Option<String>,

    /// Base URL of the app host (authorize and permissions pages), instead of the data center's.
    #[arg(long, global = true, value_name = "URL", help_heading = "Connection")]
    pub(crate) app_url: Option<String>,

    /// Seconds to wait for each HTTP exchange (up to 3 attempts are made when retrying is safe).
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        default_value = "30",
        value_parser = parse_timeout,
        help_heading = "Connection"
    )]
    pub(crate) timeout: std::time::Duration,

    /// Print JSON instead of text: the result as one document on stdout, or an error as one
    /// document on stderr (stdout then stays empty).
    #[arg(long, global = true, help_heading = "Output")]
    pub(crate) json: bool,

    /// The user's access token. Prefer the environment variable: a flag shows in process
    /// lists and shell history.
    #[arg(
        long,
        global = true,
        env = "CRONOFY_ACCESS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        help_heading = "Credentials"
    )]
    pub(crate) token: Option<String>,

    /// The application's client id.
    #[arg(
        long,
        global = true,
        env = "CRONOFY_CLIENT_ID",
        value_name = "ID",
        help_heading = "Credentials"
    )]
    pub(crate) client_id: Option<String>,

    /// The application's client secret. Prefer the environment variable.
    #[arg(
        long,
        global = true,
        env = "CRONOFY_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        help_heading = "Credentials"
    )]
    pub(crate) client_secret: Option<String>,

    /// Pace requests to this rate limit, e.g. `50/s,500/min` (Cronofy's defaults, used when
    /// not given); `off` sends unpaced. With `serve-fake`: the limits the local Cronofy
    /// enforces (none unless given).
    #[arg(
        long,
        global = true,
        env = "CRONOFY_RATE_LIMIT",
        value_name = "SPEC",
        value_parser = parse_rate_limit,
        help_heading = "Pacing"
    )]
    pub(crate) rate_limit: Option<RateLimitSpec>,

    /// Share the rate limit with every process of the application through this Redis
    /// (`redis://host:port`, `redis+unix:///path`): one budget for the whole fleet. Needs the
    /// client id (the key the fleet shares). When Redis is away, pacing goes on locally at the
    /// limit divided by `--fleet-size`, with one warning on stderr.
    #[arg(
        long,
        global = true,
        env = "CRONOFY_REDIS_URL",
        hide_env_values = true,
        value_name = "URL",
        help_heading = "Pacing"
    )]
    pub(crate) redis_url: Option<String>,

    /// How many processes share the rate limit, for pacing locally while Redis is away.
    #[arg(
        long,
        global = true,
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=10_000),
        help_heading = "Pacing"
    )]
    pub(crate) fleet_size: u32,
}

/// `--rate-limit`: the pacing it means (`None` for `off`). `serve-fake` enforces the same
/// limits, so one grammar (`PacingConfig::parse`) applies to every command.
#[derive(Debug, Clone)]
pub(crate) struct RateLimitSpec {
    pub(crate) pacing: Option<permissions_ureq::PacingConfig>,
}

fn parse_rate_limit(value: &str) -> Result<RateLimitSpec, String> {
    let pacing = permissions_ureq::PacingConfig::parse(value).map_err(|e| e.to_string())?;
    Ok(RateLimitSpec { pacing })
}

/// The shortest timeout accepted: anything shorter would round to no time at all.
const MIN_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1);
/// The longest timeout accepted: a day.
const MAX_TIMEOUT_SECONDS: f64 = 86_400.0;

/// `--timeout`: a finite number of seconds from 0.001 (1 ms) to 86400 (a day). A value that
/// is not finite, or that would round to zero (`1e-12`), is invalid input, not a time-out.
fn parse_timeout(value: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a number of seconds"))?;
    let range = "must be a finite number of seconds from 0.001 to 86400";
    if !seconds.is_finite() || seconds <= 0.0 || seconds > MAX_TIMEOUT_SECONDS {
        return Err(range.to_owned());
    }
    let timeout = std::time::Duration::try_from_secs_f64(seconds).map_err(|_| range.to_owned())?;
    if timeout < MIN_TIMEOUT {
        return Err(range.to_owned());
    }
    Ok(timeout)
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Walk all six steps against a local Cronofy started in this process (no account needed).
    Demo(DemoArgs),
    /// Step 3: list the user's calendars and their permission level.
    Calendars,
    /// Steps 4-5: ask for unrestricted access to calendars; prints the URL to send the user to.
    Request(RequestArgs),
    /// Step 6: read the URL the user came back on: accepted or rejected?
    Callback(CallbackArgs),
    /// Step 1: print the OAuth authorize URL to send the user to.
    AuthorizeUrl(AuthorizeUrlArgs),
    /// Step 2: exchange a code for tokens, refresh an access token, or revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run a local Cronofy until interrupted, printing its URLs and ready tokens.
    ServeFake(ServeFakeArgs),
    /// Steps 3-5 for many accounts: read `{"id":…,"access_token":…}` lines on stdin, print one
    /// JSON line per account (in input order); `--elevate` also asks for unrestricted access.
    Audit(AuditArgs),
}

/// `audit`. Tokens come from stdin only (`--token` is not used).
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Also send each account one permissions request for its calendars that need elevation
    /// (writable, not deleted, not yet unrestricted).
    #[arg(long, requires = "redirect_uri")]
    pub(crate) elevate: bool,
    /// With `--elevate`: where Cronofy sends each user back after Accept or Reject.
    #[arg(long, value_name = "URI", requires = "elevate")]
    pub(crate) redirect_uri: Option<String>,
    /// With `--elevate`: add the state `{S}{account id}` to each account's redirect URI.
    #[arg(long, value_name = "S", requires = "elevate")]
    pub(crate) state_prefix: Option<String>,
    /// How many accounts to have in flight at once (every call is still paced).
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) concurrency: u16,
    /// Skip the accounts that already have a successful line in FILE (an earlier run's output).
    #[arg(long, value_name = "FILE")]
    pub(crate) resume: Option<std::path::PathBuf>,
}

/// `demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Wait for Enter between steps.
    #[arg(long)]
    pub(crate) step: bool,
}

/// `request`.
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// A calendar to ask unrestricted access to (repeat for several).
    #[arg(long = "calendar", value_name = "ID", required = true)]
    pub(crate) calendars: Vec<String>,
    /// Where Cronofy sends the user back after Accept or Reject.
    #[arg(long, value_name = "URI")]
    pub(crate) redirect_uri: String,
    /// A value added to the redirect URI as `state`, checked by `callback` (use an unguessable one).
    #[arg(long, value_name = "STATE")]
    pub(crate) state: Option<String>,
    /// Print the exact request and send nothing (no token needed).
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// `callback`.
#[derive(Debug, Args)]
pub(crate) struct CallbackArgs {
    /// The URL the user came back on.
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// The redirect URI given to `request` (with or without its state parameter).
    #[arg(long, value_name = "URI")]
    pub(crate) redirect_uri: String,
    /// The state value given to `request`.
    #[arg(long, value_name = "STATE")]
    pub(crate) state: Option<String>,
}

/// `authorize-url`. The client id is the global `--client-id` (or `CRONOFY_CLIENT_ID`).
#[derive(Debug, Args)]
pub(crate) struct AuthorizeUrlArgs {
    /// Where Cronofy sends the user back with a code.
    #[arg(long, value_name = "URI")]
    pub(crate) redirect_uri: String,
    /// Scopes to ask for, space-separated or repeated (e.g. "read_account read_events").
    #[arg(long = "scope", value_name = "SCOPE", required = true)]
    pub(crate) scopes: Vec<String>,
    /// A value returned unaltered with the user's decision (use an unguessable one).
    #[arg(long, value_name = "STATE")]
    pub(crate) state: Option<String>,
}

/// `token …`. Client id and secret are the global `--client-id` / `--client-secret` (or their
/// environment variables).
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Exchange an authorization code for tokens.
    Exchange(ExchangeArgs),
    /// Get a new access token with a refresh token.
    Refresh(RefreshArgs),
    /// Revoke an authorization: by refresh token, access token or account (`sub`).
    Revoke(RevokeArgs),
}

/// `token exchange`.
#[derive(Debug, Args)]
pub(crate) struct ExchangeArgs {
    /// The code from the authorization callback (single-use, valid 10 minutes). `-` reads it
    /// from stdin. Prefer the environment variable or stdin: a flag shows in process lists and
    /// shell history.
    #[arg(
        long,
        env = "CRONOFY_AUTHORIZATION_CODE",
        hide_env_values = true,
        value_name = "CODE"
    )]
    pub(crate) code: Option<String>,
    /// The redirect URI of the authorization request, exactly.
    #[arg(long, value_name = "URI")]
    pub(crate) redirect_uri: String,
    /// Print the access and refresh tokens (they are redacted otherwise).
    #[arg(long)]
    pub(crate) show_secrets: bool,
}

/// `token refresh`.
#[derive(Debug, Args)]
pub(crate) struct RefreshArgs {
    /// The refresh token. Prefer the environment variable.
    #[arg(
        long,
        env = "CRONOFY_REFRESH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) refresh_token: String,
    /// Print the new access token and the refresh token (they are redacted otherwise).
    #[arg(long)]
    pub(crate) show_secrets: bool,
}

/// `token revoke`: exactly one target. Two targets, from flags or the environment, are invalid
/// input: nothing is sent.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// Revoke this refresh token (the whole authorization). Prefer the environment variable.
    #[arg(
        long,
        env = "CRONOFY_REFRESH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) refresh_token: Option<String>,
    /// Whether `refresh_token` came from `CRONOFY_REFRESH_TOKEN` rather than the flag (set
    /// from clap's matches after parsing, for the error messages).
    #[arg(skip)]
    pub(crate) refresh_token_from_env: bool,
    /// Revoke the access token given by `--token` / `CRONOFY_ACCESS_TOKEN` instead.
    #[arg(long, conflicts_with = "sub")]
    pub(crate) access_token: bool,
    /// Revoke every authorization of this account or profile (e.g. `acc_…`) instead.
    #[arg(long, value_name = "SUB")]
    pub(crate) sub: Option<String>,
}

/// The most `--accounts` `serve-fake` makes: the local Cronofy holds them all in memory, about
/// 3 KB each (3 GB for the most).
const MAX_ACCOUNTS: u64 = 1_000_000;

/// `serve-fake`.
#[derive(Debug, Args)]
pub(crate) struct ServeFakeArgs {
    /// API host port; the app host takes the next one. Default: chosen by the system.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..65535))]
    pub(crate) port: Option<u16>,
    /// Also start the admin listener (fault injection over HTTP); adds `admin_url` to the first line.
    #[arg(long)]
    pub(crate) admin: bool,
    /// Create this many extra accounts (two to five calendars each, mixed) for bulk tools,
    /// from 1 to 1000000 (about 3 KB of memory each); needs `--accounts-out`.
    #[arg(
        long,
        value_name = "N",
        requires = "accounts_out",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_ACCOUNTS)
    )]
    pub(crate) accounts: Option<usize>,
    /// How many of the `--accounts` are Enterprise Connect accounts (granted at once).
    #[arg(long, value_name = "M", requires = "accounts", default_value_t = 0)]
    pub(crate) enterprise_accounts: usize,
    /// The seed the accounts' calendars are drawn from (the same seed, the same layout).
    #[arg(long, value_name = "SEED", requires = "accounts", default_value_t = 0)]
    pub(crate) accounts_seed: u64,
    /// Where to write the accounts, one JSON line each: `{"id":"acct-000001","access_token":"…"}`
    /// (the input of `audit`). Written before the first line is printed.
    #[arg(long, value_name = "FILE", requires = "accounts")]
    pub(crate) accounts_out: Option<std::path::PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_that_round_to_zero_or_are_not_finite_are_refused() {
        for bad in [
            "1e-12",
            "0.0000001",
            "0.0009",
            "0",
            "-0",
            "-1",
            "NaN",
            "inf",
            "-inf",
            "86401",
            "1e308",
        ] {
            let e = parse_timeout(bad).unwrap_err();
            assert!(e.contains("0.001 to 86400"), "{bad}: {e}");
        }
        assert_eq!(
            parse_timeout("0.001").unwrap(),
            std::time::Duration::from_millis(1)
        );
        assert_eq!(
            parse_timeout(" 2.5 ").unwrap(),
            std::time::Duration::from_millis(2500)
        );
        assert_eq!(
            parse_timeout("86400").unwrap(),
            std::time::Duration::from_secs(86_400)
        );
        assert!(parse_timeout("soon").unwrap_err().contains("not a number"));
    }
}
