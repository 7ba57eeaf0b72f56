//! The one-step commands: `calendars`, `request`, `callback`, `authorize-url`, `token …`.

use std::time::Duration;

use permissions_core::transport::{Endpoint, RequestContext};
use permissions_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, BaseUrl, CalendarList, CallbackCheck,
    CallbackOutcome, ClientCredentials, ClientSecret, DataCenter, ExchangeCode, Hosts,
    LinkingProfile, PermissionsOutcome, PermissionsRequest, RefreshAccessToken, RefreshToken,
    Revocable, RevokeToken, TokenResponse,
};
use permissions_ureq::Client;
use serde::Serialize;
use serde_json::{Value, json};

use crate::Exit;
use crate::args::{
    AuthorizeUrlArgs, CallbackArgs, ExchangeArgs, Global, RefreshArgs, RequestArgs, RevokeArgs,
    TokenCommand,
};
use crate::redact::REDACTED;
use crate::report::{CliError, Output, table};

/// What a command returns: its exit code once its output is written, or the failure to report.
pub(crate) type Outcome = Result<Exit, CliError>;

/// The `User-Agent` this tool sends: its name and version, then the core's.
pub(crate) fn user_agent() -> String {
    format!(
        "cronofy-permissions/{} {}",
        env!("CARGO_PKG_VERSION"),
        permissions_core::transport::USER_AGENT
    )
}

/// The hosts to talk to: the data center's, with `--api-url` / `--app-url` overriding either.
pub(crate) fn hosts(global: &Global) -> Result<Hosts, CliError> {
    let data_center = match global.data_center.as_deref().map(str::trim) {
        None | Some("") => DataCenter::Us,
        Some(name) => name
            .parse::<DataCenter>()
            .map_err(|e| CliError::invalid(format!("--data-center: {e}")))?,
    };
    let defaults = data_center.hosts();
    let base = |flag: &str, given: &Option<String>, default: &BaseUrl| match given {
        Some(raw) => BaseUrl::parse(raw).map_err(|e| CliError::invalid(format!("{flag}: {e}"))),
        None => Ok(default.clone()),
    };
    let api = base("--api-url", &global.api_url, defaults.api())?;
    let app = base("--app-url", &global.app_url, defaults.app())?;
    Ok(Hosts::custom(api, app))
}

/// A client for these hosts with the global timeout.
pub(crate) fn client(global: &Global, hosts: Hosts) -> Result<Client, CliError> {
    client_builder(global, hosts)?
        .build()
        .map_err(|e| CliError::client("starting the HTTP client", &e))
}

/// The most a connection may take to open: the `--timeout`, up to 10 s. Every command's
/// transport uses it (`audit` and `demo` build their own).
pub(crate) fn connect_timeout(global: &Global) -> Duration {
    global.timeout.min(Duration::from_secs(10))
}

/// The builder [`client`] builds: `audit` adds a transport that counts 429s before building.
pub(crate) fn client_builder(
    global: &Global,
    hosts: Hosts,
) -> Result<permissions_ureq::ClientBuilder, CliError> {
    let mut builder = Client::builder()
        .hosts(hosts)
        .timeout(global.timeout)
        .connect_timeout(connect_timeout(global))
        .user_agent(user_agent());
    let limits = match &global.rate_limit {
        Some(spec) => spec.pacing.clone(),
        None => Some(permissions_ureq::PacingConfig::cronofy_default()),
    };
    builder = match (&global.redis_url, limits) {
        (Some(url), Some(limits)) => builder.pacer(shared_pacer(global, url, limits)?),
        (_, limits) => builder.pacing(limits),
    };
    Ok(builder)
}

/// The application's budget on Redis, keyed by its client id (never a secret).
fn shared_pacer(
    global: &Global,
    url: &str,
    limits: permissions_ureq::PacingConfig,
) -> Result<std::sync::Arc<dyn permissions_ureq::transport::Pacer>, CliError> {
    let client_id = match global.client_id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => id,
        _ => {
            return Err(CliError::invalid(
                "--redis-url: the fleet shares the budget of one application: set \
                 CRONOFY_CLIENT_ID (or --client-id)",
            ));
        }
    };
    let pacer = permissions_redis::RedisPacer::builder(url, limits, client_id)
        .fleet_size(global.fleet_size)
        .build()
        .map_err(|e| CliError::invalid(format!("--redis-url: {e}")))?;
    Ok(std::sync::Arc::new(pacer))
}

fn access_token(global: &Global) -> Result<AccessToken, CliError> {
    match global.token.as_deref() {
        Some(token) if !token.trim().is_empty() => Ok(AccessToken::new(token.trim())),
        _ => Err(CliError::invalid(
            "no access token: set CRONOFY_ACCESS_TOKEN (preferred) or pass --token",
        )),
    }
}

fn client_id(global: &Global) -> Result<String, CliError> {
    match global.client_id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => Ok(id.to_owned()),
        _ => Err(CliError::invalid(
            "no client id: set CRONOFY_CLIENT_ID or pass --client-id",
        )),
    }
}

fn credentials(global: &Global) -> Result<ClientCredentials, CliError> {
    let id = client_id(global)?;
    match global.client_secret.as_deref().map(str::trim) {
        Some(secret) if !secret.is_empty() => {
            Ok(ClientCredentials::new(id, ClientSecret::new(secret)))
        }
        _ => Err(CliError::invalid(
            "no client secret: set CRONOFY_CLIENT_SECRET (preferred) or pass --client-secret",
        )),
    }
}

fn io_failure(err: std::io::Error) -> CliError {
    CliError::output("writing the output", &err)
}

/// Writes text to stdout, mapping a write failure to an error (a closed stdout ends the
/// program quietly: see [`CliError::output`]).
fn print(output: &mut Output<'_>, text: &str) -> Result<(), CliError> {
    output
        .out
        .write_all(text.as_bytes())
        .and_then(|()| output.out.flush())
        .map_err(io_failure)
}

fn print_json<T: Serialize + ?Sized>(output: &mut Output<'_>, value: &T) -> Result<(), CliError> {
    output.json(value).map_err(io_failure)
}

/// The calendars as a table: id, name, profile, permission level, read-only, deleted.
pub(crate) fn calendar_table(list: &CalendarList) -> String {
    if list.calendars.is_empty() {
        return "No calendars.\n".to_owned();
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let rows: Vec<Vec<String>> = list
        .calendars
        .iter()
        .map(|c| {
            let profile = c
                .profile_name
                .as_deref()
                .or(c.profile_id.as_deref())
                .unwrap_or("-");
            vec![
                c.calendar_id.clone(),
                c.calendar_name.clone(),
                format!("{profile} ({})", c.provider_name),
                c.permission_level
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |l| l.as_str().to_owned()),
                yes_no(c.calendar_readonly),
                yes_no(c.calendar_deleted),
            ]
        })
        .collect();
    table(
        &[
            "CALENDAR ID",
            "NAME",
            "PROFILE",
            "PERMISSION",
            "READ-ONLY",
            "DELETED",
        ],
        &rows,
    )
}

/// `{"outcome":…}` with `url` or `error` when they apply, keys in this order.
#[derive(Debug, Serialize)]
struct Answer<'a> {
    outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl<'a> Answer<'a> {
    fn outcome(outcome: &'a str) -> Self {
        Self {
            outcome,
            url: None,
            error: None,
        }
    }

    fn url(mut self, url: &'a str) -> Self {
        self.url = Some(url);
        self
    }

    fn error(mut self, error: &'a str) -> Self {
        self.error = Some(error);
        self
    }
}

/// `calendars`: step 3.
pub(crate) fn calendars(global: &Global, output: &mut Output<'_>) -> Outcome {
    let hosts = hosts(global)?;
    let token = access_token(global)?;
    let client = client(global, hosts)?;
    let list = client
        .list_calendars(&token)
        .map_err(|e| CliError::client("list calendars", &e))?;
    if output.json {
        print_json(output, &list)?;
    } else {
        print(output, &calendar_table(&list))?;
    }
    Ok(Exit::Success)
}

fn permissions_request(args: &RequestArgs) -> Result<PermissionsRequest, CliError> {
    let mut builder = PermissionsRequest::builder()
        .calendars(args.calendars.iter().cloned())
        .redirect_uri(args.redirect_uri.clone());
    if let Some(state) = &args.state {
        builder = builder.state(state.clone());
    }
    builder.build().map_err(|e| CliError::build("request", &e))
}

/// `request`: steps 4-5.
pub(crate) fn request(global: &Global, args: &RequestArgs, output: &mut Output<'_>) -> Outcome {
    let hosts = hosts(global)?;
    let request = permissions_request(args)?;
    if args.dry_run {
        return dry_run(global, &hosts, &request, output);
    }
    let token = access_token(global)?;
    let client = client(global, hosts)?;
    let outcome = client
        .request_permissions(&token, &request)
        .map_err(|e| CliError::client("request permissions", &e))?;
    match outcome {
        PermissionsOutcome::Redirect { url } if output.json => {
            print_json(output, &Answer::outcome("redirect").url(url.as_str()))?;
        }
        PermissionsOutcome::Redirect { url } => {
            let text = format!(
                "Send the user to this URL to accept or reject unrestricted access:\n{url}\n\
                 They come back to: {}\n",
                request.redirect_uri()
            );
            print(output, &text)?;
        }
        PermissionsOutcome::Granted if output.json => {
            print_json(output, &Answer::outcome("granted"))?;
        }
        PermissionsOutcome::Granted => {
            let n = request.permissions().len();
            let text = format!(
                "Granted: unrestricted access to {n} calendar{} at once, with no user step \
                 (an Enterprise Connect account).\n",
                if n == 1 { "" } else { "s" }
            );
            print(output, &text)?;
        }
        // `PermissionsOutcome` may grow: an answer this version cannot act on is no success.
        _ => {
            return Err(CliError {
                kind: "decode",
                message:
                    "request permissions: Cronofy's answer is of a kind this version does not know"
                        .to_owned(),
                status: None,
                fields: None,
                exit: Exit::Failure,
            });
        }
    }
    Ok(Exit::Success)
}

/// `{"method":…,"url":…,"headers":{…},"body":{…}}`, keys in this order.
#[derive(Debug, Serialize)]
struct DryRun<'a> {
    method: &'a str,
    url: String,
    headers: Headers<'a>,
    body: &'a Value,
}

/// Headers as a JSON object, in the order they are sent.
#[derive(Debug)]
struct Headers<'a>(&'a [(String, String)]);

impl Serialize for Headers<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// `request --dry-run`: the request as the library builds it, sent nowhere.
fn dry_run(
    global: &Global,
    hosts: &Hosts,
    request: &PermissionsRequest,
    output: &mut Output<'_>,
) -> Outcome {
    // The Authorization value is redacted below, so any placeholder will do without a token.
    let token = access_token(global).unwrap_or_else(|_| AccessToken::new("placeholder"));
    let user_agent = user_agent();
    let ctx = RequestContext::new(hosts.api())
        .with_access_token(&token)
        .with_user_agent(&user_agent);
    let http = request
        .to_request(&ctx)
        .map_err(|e| CliError::build("request", &e))?;
    let headers: Vec<(String, String)> = http
        .headers()
        .iter()
        .map(|(name, value)| {
            let shown = if name == http::header::AUTHORIZATION {
                format!("Bearer {REDACTED}")
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect();
    let body: Value = serde_json::from_slice(http.body()).unwrap_or(Value::Null);
    if output.json {
        let doc = DryRun {
            method: http.method().as_str(),
            url: http.uri().to_string(),
            headers: Headers(&headers),
            body: &body,
        };
        print_json(output, &doc)?;
    } else {
        let mut text = format!(
            "# dry run: nothing was sent\n{} {}\n",
            http.method(),
            http.uri()
        );
        for (name, value) in &headers {
            text.push_str(&format!("{name}: {value}\n"));
        }
        text.push('\n');
        text.push_str(&serde_json::to_string_pretty(&body).unwrap_or_default());
        text.push('\n');
        print(output, &text)?;
    }
    Ok(Exit::Success)
}

/// Whether a URL carries a `state` query parameter (any value, even empty).
fn carries_state(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| u.query_pairs().any(|(name, _)| name == "state"))
}

/// `callback`: step 6.
///
/// Checked: the return is the redirect URI; it carries the state that was sent (`--state`, or
/// a state written into `--redirect-uri`), or no state at all when none was sent; then whether
/// an `error` came back. "Accepted" means no `error` came back, nothing more: the calendars'
/// levels are confirmed by listing them.
pub(crate) fn callback(args: &CallbackArgs, output: &mut Output<'_>) -> Outcome {
    let check = CallbackCheck::new(&args.redirect_uri, args.state.as_deref())
        .map_err(|e| CliError::build("callback", &e))?;
    let state_sent = args.state.is_some()
        || check
            .redirect_uri()
            .query_pairs()
            .any(|(name, _)| name == "state");
    let result = check.parse(&args.url);
    // A state nobody sent is a forged or foreign link: refused before its answer is read. A
    // return on another URI keeps that (first) error.
    let on_another_uri = matches!(&result, Err(e) if e.kind() == "redirect_mismatch");
    if !state_sent && !on_another_uri && carries_state(&args.url) {
        return Err(CliError {
            kind: "state_mismatch",
            message: "callback: the URL carries a state, but no state was sent \
                      (give the state of the request with --state)"
                .to_owned(),
            status: None,
            fields: None,
            exit: Exit::InvalidInput,
        });
    }
    let outcome = result.map_err(|e| CliError::callback(&e))?;
    let accepted = if state_sent {
        "accepted: the URL is the redirect URI with the state sent, and no error came back \
         (list the calendars to confirm their permission level)\n"
    } else {
        "accepted: the URL is the redirect URI and no error came back (no state was checked; \
         list the calendars to confirm their permission level)\n"
    };
    let (doc, text, exit) = match outcome {
        CallbackOutcome::Accepted => (Answer::outcome("accepted"), accepted, Exit::Success),
        CallbackOutcome::Rejected => (
            Answer::outcome("rejected").error("access_denied"),
            "rejected: the user declined (error=access_denied); the calendars keep their level\n",
            Exit::Refused,
        ),
        // `CallbackOutcome` may grow; an unknown answer is not a success.
        _ => (
            Answer::outcome("unknown"),
            "unknown: the callback's answer is not one this version knows\n",
            Exit::Refused,
        ),
    };
    if output.json {
        print_json(output, &doc)?;
    } else {
        print(output, text)?;
    }
    Ok(exit)
}

/// `authorize-url`: step 1.
pub(crate) fn authorize_url(
    global: &Global,
    args: &AuthorizeUrlArgs,
    output: &mut Output<'_>,
) -> Outcome {
    let hosts = hosts(global)?;
    let client_id = client_id(global)?;
    let scopes: Vec<&str> = args
        .scopes
        .iter()
        .flat_map(|s| s.split_whitespace())
        .collect();
    let mut builder = AuthorizationRequest::new(client_id, args.redirect_uri.clone(), scopes);
    if let Some(state) = &args.state {
        builder = builder.state(state.clone());
    }
    let auth = builder
        .build()
        .map_err(|e| CliError::build("authorize-url", &e))?;
    let url = auth.url(hosts.app());
    if output.json {
        print_json(output, &json!({"url": url.as_str()}))?;
    } else {
        print(output, &format!("{url}\n"))?;
    }
    Ok(Exit::Success)
}

/// `token …`: step 2.
pub(crate) fn token(global: &Global, command: &TokenCommand, output: &mut Output<'_>) -> Outcome {
    match command {
        TokenCommand::Exchange(args) => exchange(global, args, output),
        TokenCommand::Refresh(args) => refresh(global, args, output),
        TokenCommand::Revoke(args) => revoke(global, args, output),
    }
}

/// The longest authorization code read from stdin; Cronofy's are a few dozen characters.
const MAX_CODE_LEN: usize = 4096;

/// The authorization code: from `--code`, `CRONOFY_AUTHORIZATION_CODE`, or stdin (`--code -`).
fn authorization_code(args: &ExchangeArgs) -> Result<String, CliError> {
    let code = match args.code.as_deref().map(str::trim) {
        Some("-") => read_code_from_stdin(&mut std::io::stdin().lock())?,
        Some(code) if !code.is_empty() => code.to_owned(),
        _ => {
            return Err(CliError::invalid(
                "no authorization code: set CRONOFY_AUTHORIZATION_CODE or pipe it to `--code -` \
                 (both preferred to `--code CODE`)",
            ));
        }
    };
    Ok(code)
}

/// One authorization code from `input`, surrounding white space (a final newline) removed.
/// Nothing of what was read is ever quoted in an error.
fn read_code_from_stdin(input: &mut dyn std::io::Read) -> Result<String, CliError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    input
        .take(MAX_CODE_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::invalid(format!("--code -: reading stdin: {}", e.kind())))?;
    if bytes.len() > MAX_CODE_LEN {
        return Err(CliError::invalid(format!(
            "--code -: stdin holds more than {MAX_CODE_LEN} bytes; expected one authorization code"
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::invalid("--code -: stdin is not UTF-8 text"))?;
    let code = text.trim();
    if code.is_empty() {
        return Err(CliError::invalid(
            "--code -: stdin is empty; expected one authorization code",
        ));
    }
    if code.contains(char::is_whitespace) {
        return Err(CliError::invalid(
            "--code -: stdin holds more than one word; expected one authorization code",
        ));
    }
    Ok(code.to_owned())
}

fn exchange(global: &Global, args: &ExchangeArgs, output: &mut Output<'_>) -> Outcome {
    let hosts = hosts(global)?;
    let credentials = credentials(global)?;
    let code = authorization_code(args)?;
    let client = client(global, hosts)?;
    let result = client.exchange_code(&ExchangeCode::new(
        credentials,
        AuthorizationCode::new(code.as_str()),
        args.redirect_uri.clone(),
    ));
    // A code read from stdin is not among the secrets `run_with` scrubs: scrub it here.
    let tokens = result
        .map_err(|e| CliError::client("exchange code", &e).redacted(std::slice::from_ref(&code)))?;
    print_tokens(&tokens, args.show_secrets, output)
}

fn refresh(global: &Global, args: &RefreshArgs, output: &mut Output<'_>) -> Outcome {
    let hosts = hosts(global)?;
    let credentials = credentials(global)?;
    let refresh =
        RefreshAccessToken::new(credentials, RefreshToken::new(args.refresh_token.trim()));
    let client = client(global, hosts)?;
    let tokens = client
        .refresh_token(&refresh)
        .map_err(|e| CliError::client("refresh token", &e))?;
    print_tokens(&tokens, args.show_secrets, output)
}

/// What `token revoke` revokes: exactly one target. Two targets are invalid input, whether
/// they come from flags or the environment: revoking by account (`--sub`), or a different
/// token, when one token was named would revoke something else than was asked.
fn revoke_target(global: &Global, args: &RevokeArgs) -> Result<Revocable, CliError> {
    let refresh_name = if args.refresh_token_from_env {
        "a refresh token in CRONOFY_REFRESH_TOKEN"
    } else {
        "--refresh-token"
    };
    // A blank CRONOFY_REFRESH_TOKEN names nothing; a blank flag is a mistake.
    let refresh = match args.refresh_token.as_deref().map(str::trim) {
        Some("") if !args.refresh_token_from_env => {
            return Err(CliError::invalid("token revoke: --refresh-token is empty"));
        }
        Some("") | None => None,
        Some(token) => Some(token),
    };
    let sub = match args.sub.as_deref().map(str::trim) {
        Some("") => return Err(CliError::invalid("token revoke: --sub is empty")),
        other => other,
    };
    let mut named = Vec::new();
    if refresh.is_some() {
        named.push(refresh_name);
    }
    if args.access_token {
        named.push("--access-token");
    }
    if sub.is_some() {
        named.push("--sub");
    }
    if named.len() > 1 {
        let hint = if refresh.is_some() && args.refresh_token_from_env {
            " (unset CRONOFY_REFRESH_TOKEN to revoke by another target)"
        } else {
            ""
        };
        return Err(CliError::invalid(format!(
            "token revoke: conflicting targets: {}; give exactly one{hint}",
            named.join(" and ")
        )));
    }
    if let Some(sub) = sub {
        Ok(Revocable::Sub(sub.to_owned()))
    } else if args.access_token {
        Ok(Revocable::AccessToken(access_token(global)?))
    } else if let Some(refresh) = refresh {
        Ok(Revocable::RefreshToken(RefreshToken::new(refresh)))
    } else {
        Err(CliError::invalid(
            "nothing to revoke: give --refresh-token (or CRONOFY_REFRESH_TOKEN), --access-token or --sub",
        ))
    }
}

fn revoke(global: &Global, args: &RevokeArgs, output: &mut Output<'_>) -> Outcome {
    let target = revoke_target(global, args)?;
    let hosts = hosts(global)?;
    let credentials = credentials(global)?;
    let client = client(global, hosts)?;
    client
        .revoke(&RevokeToken::new(credentials, target))
        .map_err(|e| CliError::client("revoke", &e))?;
    if output.json {
        print_json(output, &json!({"revoked": true}))?;
    } else {
        print(output, "revoked\n")?;
    }
    Ok(Exit::Success)
}

/// The token response as JSON, Cronofy's field names in Cronofy's order.
#[derive(Debug, Serialize)]
pub(crate) struct TokenDoc<'a> {
    token_type: &'a str,
    access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    linking_profile: Option<&'a LinkingProfile>,
}

/// The token response as JSON: secrets as `[redacted]` unless `show_secrets`.
pub(crate) fn token_json(tokens: &TokenResponse, show_secrets: bool) -> TokenDoc<'_> {
    let secret = |value: &str| {
        if show_secrets {
            value.to_owned()
        } else {
            REDACTED.to_owned()
        }
    };
    TokenDoc {
        token_type: &tokens.token_type,
        access_token: secret(tokens.access_token.secret()),
        expires_in: tokens.expires_in,
        refresh_token: tokens.refresh_token.as_ref().map(|r| secret(r.secret())),
        scope: tokens.scope.as_deref(),
        account_id: tokens.account_id.as_deref(),
        sub: tokens.sub.as_deref(),
        linking_profile: tokens.linking_profile.as_ref(),
    }
}

fn print_tokens(tokens: &TokenResponse, show_secrets: bool, output: &mut Output<'_>) -> Outcome {
    if output.json {
        print_json(output, &token_json(tokens, show_secrets))?;
        return Ok(Exit::Success);
    }
    let secret = |value: &str| {
        if show_secrets {
            value.to_owned()
        } else {
            format!("{REDACTED} (add --show-secrets to print it)")
        }
    };
    let mut rows = vec![
        vec!["token_type".to_owned(), tokens.token_type.clone()],
        vec![
            "access_token".to_owned(),
            secret(tokens.access_token.secret()),
        ],
    ];
    if let Some(expires_in) = tokens.expires_in {
        rows.push(vec![
            "expires_in".to_owned(),
            format!("{expires_in} seconds"),
        ]);
    }
    if let Some(refresh) = &tokens.refresh_token {
        rows.push(vec!["refresh_token".to_owned(), secret(refresh.secret())]);
    }
    for (name, value) in [
        ("scope", &tokens.scope),
        ("account_id", &tokens.account_id),
        ("sub", &tokens.sub),
    ] {
        if let Some(value) = value {
            rows.push(vec![name.to_owned(), value.clone()]);
        }
    }
    if let Some(profile) = &tokens.linking_profile {
        let parts: Vec<&str> = [
            Some(profile.provider_name.as_str()),
            profile.provider_service.as_deref(),
            profile.profile_id.as_deref(),
            profile.profile_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        rows.push(vec!["linking_profile".to_owned(), parts.join(" ")]);
    }
    let text = table(&["FIELD", "VALUE"], &rows);
    print(output, &text)?;
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn global(args: &[&str]) -> Global {
        let mut argv = vec!["cronofy-permissions"];
        argv.extend_from_slice(args);
        argv.push("calendars");
        crate::args::Cli::try_parse_from(argv).unwrap().global
    }

    /// One rule for every command (`audit`, `demo` and the one-step commands): connecting
    /// may take the whole `--timeout`, up to 10 s.
    #[test]
    fn connect_timeout_is_the_timeout_up_to_ten_seconds() {
        assert_eq!(connect_timeout(&global(&[])), Duration::from_secs(10));
        assert_eq!(
            connect_timeout(&global(&["--timeout", "2.5"])),
            Duration::from_millis(2500)
        );
        assert_eq!(
            connect_timeout(&global(&["--timeout", "10"])),
            Duration::from_secs(10)
        );
        assert_eq!(
            connect_timeout(&global(&["--timeout", "86400"])),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn hosts_from_data_center_and_overrides() {
        let h = hosts(&global(&["--data-center", "UK"])).unwrap();
        assert_eq!(h.api().as_str(), "https://api-uk.cronofy.com/");
        assert_eq!(h.app().as_str(), "https://app-uk.cronofy.com/");
        let h = hosts(&global(&["--api-url", "http://127.0.0.1:9/prefix"])).unwrap();
        assert_eq!(h.api().as_str(), "http://127.0.0.1:9/prefix/");
        assert_eq!(h.app().as_str(), "https://app.cronofy.com/");
        let e = hosts(&global(&["--data-center", "eu"])).unwrap_err();
        assert_eq!(e.exit, Exit::InvalidInput);
        assert!(
            e.message.contains("us, uk, de, au, ca, sg"),
            "{}",
            e.message
        );
        let e = hosts(&global(&["--api-url", "http://example.com"])).unwrap_err();
        assert_eq!((e.kind, e.exit), ("invalid_input", Exit::InvalidInput));
        assert!(e.message.starts_with("--api-url:"), "{}", e.message);
    }

    fn revoke_args(args: &[&str]) -> (Global, RevokeArgs) {
        let mut argv = vec!["cronofy-permissions"];
        argv.extend_from_slice(args);
        let cli = crate::args::Cli::try_parse_from(argv).unwrap();
        match cli.command {
            crate::args::Command::Token(TokenCommand::Revoke(r)) => (cli.global, r),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn revoke_takes_exactly_one_target() {
        let target = |args: &[&str], from_env: bool| {
            let (global, mut revoke) = revoke_args(args);
            revoke.refresh_token_from_env = from_env;
            revoke_target(&global, &revoke)
        };
        for (args, from_env, named) in [
            (
                &[
                    "token",
                    "revoke",
                    "--refresh-token",
                    "r-1",
                    "--sub",
                    "acc_1",
                ][..],
                false,
                "--refresh-token and --sub",
            ),
            (
                &[
                    "token",
                    "revoke",
                    "--refresh-token",
                    "r-1",
                    "--access-token",
                ],
                false,
                "--refresh-token and --access-token",
            ),
            (
                &[
                    "token",
                    "revoke",
                    "--refresh-token",
                    "r-1",
                    "--sub",
                    "acc_1",
                ],
                true,
                "a refresh token in CRONOFY_REFRESH_TOKEN and --sub",
            ),
        ] {
            let e = target(args, from_env).unwrap_err();
            assert_eq!(e.exit, Exit::InvalidInput, "{args:?}");
            assert!(e.message.contains(named), "{args:?}: {}", e.message);
            assert!(!e.message.contains("r-1"), "{}", e.message);
            assert_eq!(e.message.contains("unset CRONOFY_REFRESH_TOKEN"), from_env);
        }
        assert!(matches!(
            target(&["token", "revoke", "--sub", " acc_1 "], false),
            Ok(Revocable::Sub(s)) if s == "acc_1"
        ));
        // A blank refresh token from the environment names nothing; from the flag, a mistake.
        assert!(matches!(
            target(
                &["token", "revoke", "--refresh-token", " ", "--sub", "acc_1"],
                true
            ),
            Ok(Revocable::Sub(_))
        ));
        let e = target(&["token", "revoke", "--refresh-token", " "], false).unwrap_err();
        assert!(
            e.message.contains("--refresh-token is empty"),
            "{}",
            e.message
        );
        let e = target(&["token", "revoke", "--sub", ""], false).unwrap_err();
        assert!(e.message.contains("--sub is empty"), "{}", e.message);
        let e = target(&["token", "revoke"], false).unwrap_err();
        assert!(e.message.starts_with("nothing to revoke"), "{}", e.message);
    }

    #[test]
    fn a_code_from_stdin_is_one_word_and_never_quoted() {
        let read = |input: &[u8]| read_code_from_stdin(&mut &input[..]);
        assert_eq!(read(b"c0de-s3cret\n").unwrap(), "c0de-s3cret");
        assert_eq!(read(b"  c0de-s3cret\r\n").unwrap(), "c0de-s3cret");
        for (input, expected) in [
            (&b""[..], "stdin is empty"),
            (b" \n", "stdin is empty"),
            (b"c0de-s3cret other-s3cret\n", "more than one word"),
            (b"c0de-s3cret\nsecond-s3cret\n", "more than one word"),
            (b"\xff\xfe-s3cret", "not UTF-8"),
        ] {
            let e = read(input).unwrap_err();
            assert_eq!(e.exit, Exit::InvalidInput);
            assert!(e.message.contains(expected), "{input:?}: {}", e.message);
            assert!(!e.message.contains("s3cret"), "{}", e.message);
        }
        let long = vec![b'a'; MAX_CODE_LEN + 1];
        assert!(
            read(&long)
                .unwrap_err()
                .message
                .contains("more than 4096 bytes")
        );
        assert_eq!(read(&long[..MAX_CODE_LEN]).unwrap().len(), MAX_CODE_LEN);
    }

    #[test]
    fn token_json_redacts_unless_asked() {
        let tokens = TokenResponse::parse(
            br#"{"token_type":"bearer","access_token":"acc-s3cret","expires_in":3600,
                "refresh_token":"ref-s3cret","scope":"read_account","account_id":"acc_1",
                "linking_profile":{"provider_name":"google","profile_id":"pro_1"}}"#,
        )
        .unwrap();
        let hidden = serde_json::to_string(&token_json(&tokens, false)).unwrap();
        assert!(!hidden.contains("s3cret"), "{hidden}");
        assert!(hidden.contains(r#""access_token":"[redacted]""#));
        assert!(hidden.contains(r#""refresh_token":"[redacted]""#));
        assert!(hidden.starts_with(
            r#"{"token_type":"bearer","access_token":"[redacted]","expires_in":3600,"#
        ));
        assert!(
            hidden.contains(r#""linking_profile":{"provider_name":"google","profile_id":"pro_1"}"#)
        );
        let shown = serde_json::to_string(&token_json(&tokens, true)).unwrap();
        assert!(shown.contains("acc-s3cret") && shown.contains("ref-s3cret"));
    }

    #[test]
    fn calendar_table_has_the_documented_columns() {
        let list = CalendarList::parse(
            br#"{"calendars":[{"provider_name":"google","profile_name":"me@example.com",
            "calendar_id":"cal_1","calendar_name":"Home","calendar_readonly":false,
            "calendar_deleted":true,"permission_level":"sandbox"},
            {"provider_name":"apple","calendar_id":"cal_2","calendar_name":"Bank",
            "calendar_readonly":true,"calendar_deleted":false,"permission_level":"future_level"}]}"#,
        )
        .unwrap();
        let text = calendar_table(&list);
        let lines: Vec<&str> = text.lines().collect();
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
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "cal_1",
                "Home",
                "me@example.com",
                "(google)",
                "sandbox",
                "no",
                "yes"
            ]
        );
        // An unknown level is kept as sent.
        assert!(lines[2].contains("future_level"), "{text}");
        assert_eq!(
            calendar_table(&CalendarList {
                sub: None,
                calendars: vec![]
            }),
            "No calendars.\n"
        );
    }
}
