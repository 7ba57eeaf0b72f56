//! `demo`: the six steps of Extended Permissions against a local Cronofy started in this
//! process, every HTTP exchange shown, every secret redacted.
//!
//! Two kinds of HTTP happen here, and both are shown:
//! - the app's calls to Cronofy's API go through the real client (`permissions-ureq`), whose
//!   transport is wrapped to record each exchange;
//! - the user's browser (opening the consent and permissions pages, pressing a button) is a
//!   plain `ureq::Agent` that, like a browser, reads a page, finds the form and posts it.

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use permissions_core::transport::{HttpRequest, HttpResponse, SyncTransport, TransportError};
use permissions_core::{
    AccessToken, AuthorizationOutcome, AuthorizationRequest, BaseUrl, Calendar,
    CalendarPermissionLevel, CallbackOutcome, ClientCredentials, ClientSecret, ExchangeCode, Hosts,
    PermissionsOutcome, PermissionsRequest,
};
use permissions_fake::FakeCronofy;
use permissions_ureq::{Client, UreqTransport};
use url::Url;

use crate::Exit;
use crate::args::{DemoArgs, Global};
use crate::commands::{Outcome, calendar_table, connect_timeout, user_agent};
use crate::redact::{self, REDACTED};
use crate::report::CliError;

/// Where the demo app's OAuth callback would live. Nothing is served there: the browser stops
/// at Cronofy's `303` and the app reads the `Location`, as it would read its own request URL.
const OAUTH_REDIRECT_URI: &str = "https://app.example.com/cronofy/oauth/callback";
/// Where the demo app's permissions callback would live.
const PERMISSIONS_REDIRECT_URI: &str = "https://app.example.com/cronofy/permissions/callback";
/// The scopes the demo app asks for.
const SCOPES: [&str; 4] = [
    "read_account",
    "read_events",
    "create_event",
    "delete_event",
];
/// Longest shown body summary, in characters.
const SUMMARY_LEN: usize = 160;
/// Largest page the demo browser reads.
const PAGE_LIMIT: u64 = 1 << 20;

/// One HTTP exchange as shown: nothing in it is secret.
#[derive(Debug, Clone)]
struct Shown {
    method: String,
    url: String,
    request_body: Option<String>,
    answer: Result<Answer, String>,
}

#[derive(Debug, Clone)]
struct Answer {
    status: http::StatusCode,
    location: Option<String>,
    body: String,
}

type ExchangeLog = Arc<Mutex<Vec<Shown>>>;

fn request_summary(method: &http::Method, body: &[u8]) -> Option<String> {
    (!body.is_empty() || method == http::Method::POST)
        .then(|| redact::body_summary(body, SUMMARY_LEN))
}

/// The client's transport, wrapped: every attempt is recorded, then passed on unchanged.
fn recording(inner: UreqTransport, log: ExchangeLog) -> impl SyncTransport + 'static {
    move |request: HttpRequest| -> Result<HttpResponse, TransportError> {
        let method = request.method().to_string();
        let url = redact::url(&request.uri().to_string());
        let request_body = request_summary(request.method(), request.body());
        let result = inner.send(request);
        let answer = match &result {
            Ok(response) => Ok(Answer {
                status: response.status(),
                location: location(response.headers()),
                body: redact::body_summary(response.body(), SUMMARY_LEN),
            }),
            Err(e) => Err(e.to_string()),
        };
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Shown {
                method,
                url,
                request_body,
                answer,
            });
        result
    }
}

fn location(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A page the demo browser received: the shown exchange, the `Location`, the HTML.
struct Page {
    shown: Shown,
    location: Option<String>,
    html: String,
}

/// The user's browser: no redirects followed (the demo app's callback URLs are not served),
/// error statuses read as pages, a size cap.
struct Browser {
    agent: ureq::Agent,
}

impl Browser {
    fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .user_agent("cronofy-permissions-demo-browser")
            .build()
            .new_agent();
        Self { agent }
    }

    fn get(&self, url: &str) -> Result<Page, CliError> {
        let response = self
            .agent
            .get(url)
            .header("Accept", "text/html")
            .call()
            .map_err(|e| browser_error("GET", url, &e))?;
        Self::page("GET", url, None, response)
    }

    /// Submits a form with no fields, as pressing its only button does.
    fn submit(&self, url: &str) -> Result<Page, CliError> {
        let response = self
            .agent
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send("")
            .map_err(|e| browser_error("POST", url, &e))?;
        Self::page("POST", url, Some("(empty form)".to_owned()), response)
    }

    fn page(
        method: &str,
        url: &str,
        request_body: Option<String>,
        mut response: http::Response<ureq::Body>,
    ) -> Result<Page, CliError> {
        let status = response.status();
        let location = location(response.headers());
        let html = response
            .body_mut()
            .with_config()
            .limit(PAGE_LIMIT)
            .read_to_string()
            .map_err(|e| browser_error(method, url, &e))?;
        let shown = Shown {
            method: method.to_owned(),
            url: redact::url(url),
            request_body,
            answer: Ok(Answer {
                status,
                location: location.clone(),
                body: redact::body_summary(html.as_bytes(), SUMMARY_LEN),
            }),
        };
        Ok(Page {
            shown,
            location,
            html,
        })
    }
}

fn browser_error(method: &str, url: &str, err: &ureq::Error) -> CliError {
    let kind = match err {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::BodyExceedsLimit(_) => "too_large",
        _ => "transport",
    };
    CliError {
        kind,
        message: format!("demo browser: {method} {}: {err}", redact::url(url)),
        status: None,
        fields: None,
        exit: Exit::Failure,
    }
}

/// The URL a page's form posts to, resolved against the page's URL.
fn form_action(page_url: &str, html: &str, form_id: &str) -> Option<String> {
    let tag = redact::form_tags(html)
        .find(|tag| redact::attribute(tag, "id").as_deref() == Some(form_id))?;
    let action = redact::attribute(tag, "action")?;
    Url::parse(page_url)
        .ok()?
        .join(&action)
        .ok()
        .map(String::from)
}

/// A state value for CSRF protection: 128 random bits, hex.
fn new_state() -> String {
    use rand::Rng;
    format!("{:032x}", rand::rng().random::<u128>())
}

fn unexpected(message: impl Into<String>) -> CliError {
    CliError {
        kind: "decode",
        message: format!("demo: {}", message.into()),
        status: None,
        fields: None,
        exit: Exit::Failure,
    }
}

/// Prints the narration and the exchanges, and pauses between steps when asked.
struct Narrator<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    log: ExchangeLog,
    pause: bool,
    exchanges: usize,
}

impl Narrator<'_> {
    fn line(&mut self, text: &str) -> Result<(), CliError> {
        writeln!(self.out, "{text}")
            .and_then(|()| self.out.flush())
            .map_err(|e| CliError::output("writing the output", &e))
    }

    fn say(&mut self, text: &str) -> Result<(), CliError> {
        self.line(&format!("  {text}"))
    }

    fn heading(&mut self, text: &str) -> Result<(), CliError> {
        if self.pause {
            let _ = write!(self.err, "[Enter: {text}] ");
            let _ = self.err.flush();
            let mut answer = String::new();
            // End of input: stop pausing and run to the end.
            if std::io::stdin().lock().read_line(&mut answer).unwrap_or(0) == 0 {
                self.pause = false;
            }
        }
        self.line("")?;
        self.line(text)?;
        self.line(&"-".repeat(text.chars().count()))
    }

    fn show(&mut self, shown: &Shown) -> Result<(), CliError> {
        self.exchanges += 1;
        self.line(&format!("    → {} {}", shown.method, shown.url))?;
        if let Some(body) = &shown.request_body {
            self.line(&format!("      {body}"))?;
        }
        match &shown.answer {
            Ok(answer) => {
                let reason = answer.status.canonical_reason().unwrap_or("");
                let mut text = format!("    ← {} {reason}", answer.status.as_u16());
                if let Some(location) = &answer.location {
                    text.push_str(&format!(", Location: {}", redact::url(location)));
                }
                text.push_str(&format!("  {}", answer.body));
                self.line(&text)
            }
            Err(e) => self.line(&format!("    ✗ {e}")),
        }
    }

    /// Shows the exchanges the client made since the last call.
    fn show_client_exchanges(&mut self) -> Result<(), CliError> {
        let drained: Vec<Shown> =
            std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner));
        for shown in &drained {
            self.show(shown)?;
        }
        Ok(())
    }

    /// Runs one client call, then shows its exchanges (also when it failed).
    fn call<T>(
        &mut self,
        what: &str,
        call: impl FnOnce() -> Result<T, permissions_ureq::Error>,
    ) -> Result<T, CliError> {
        let result = call();
        self.show_client_exchanges()?;
        result.map_err(|e| CliError::client(what, &e))
    }

    fn table(&mut self, calendars: &[Calendar]) -> Result<(), CliError> {
        let list = permissions_core::CalendarList {
            sub: None,
            calendars: calendars.to_vec(),
        };
        for row in calendar_table(&list).lines() {
            self.line(&format!("    {row}"))?;
        }
        Ok(())
    }

    /// The browser opens a page and presses the button of form `form_id`; returns where the
    /// answer sends it.
    fn press(
        &mut self,
        browser: &Browser,
        page_url: &str,
        form_id: &str,
        button: &str,
    ) -> Result<String, CliError> {
        let page = browser.get(page_url)?;
        self.show(&page.shown)?;
        let action = form_action(page_url, &page.html, form_id)
            .ok_or_else(|| unexpected(format!("the page has no form {form_id:?}")))?;
        self.say(&format!(
            "The user presses {button}; the browser posts the form {form_id:?}:"
        ))?;
        let answer = browser.submit(&action)?;
        self.show(&answer.shown)?;
        answer
            .location
            .ok_or_else(|| unexpected(format!("pressing {button} did not redirect")))
    }
}

fn names(calendars: &[&Calendar]) -> String {
    calendars
        .iter()
        .map(|c| c.calendar_name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn levels_of<'a>(calendars: &'a [Calendar], ids: &[String]) -> Vec<(&'a str, String)> {
    calendars
        .iter()
        .filter(|c| ids.contains(&c.calendar_id))
        .map(|c| {
            let level = c
                .permission_level
                .as_ref()
                .map_or_else(|| "-".to_owned(), |l| l.as_str().to_owned());
            (c.calendar_name.as_str(), level)
        })
        .collect()
}

/// Runs the demo. `demo` alone never waits for input; `demo --step` waits for Enter before
/// each step.
pub(crate) fn run(
    global: &Global,
    args: &DemoArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Outcome {
    let fake = FakeCronofy::start_blocking().map_err(|e| CliError {
        kind: "transport",
        message: format!("demo: could not start the local Cronofy: {e}"),
        status: None,
        fields: None,
        exit: Exit::Failure,
    })?;
    let seed = fake.seed();
    let base = |raw: &str| {
        BaseUrl::parse(raw).map_err(|e| unexpected(format!("the local Cronofy's URL: {e}")))
    };
    let hosts = Hosts::custom(base(fake.api_url())?, base(fake.app_url())?);
    let log: ExchangeLog = Arc::default();
    let transport = UreqTransport::new(connect_timeout(global), global.timeout);
    let client = Client::builder()
        .hosts(hosts.clone())
        .user_agent(user_agent())
        .transport(recording(transport, Arc::clone(&log)))
        .build()
        .map_err(|e| CliError::client("demo: starting the client", &e))?;
    let browser = Browser::new(global.timeout);
    let mut n = Narrator {
        out,
        err,
        log,
        pause: args.step,
        exchanges: 0,
    };

    n.line("Cronofy Extended Permissions, end to end, against a local Cronofy")?;
    n.line("=================================================================")?;
    n.say(&format!(
        "A local Cronofy is running in this process: API host {}, app host {}.",
        fake.api_url(),
        fake.app_url()
    ))?;
    n.say("Nothing leaves this machine, and no Cronofy account is needed.")?;
    n.say(&format!(
        "Your app is {:?}, client id {} (public), client secret {REDACTED}.",
        seed.app_name, seed.client_id
    ))?;
    n.say("Tokens, codes and secrets are shown as [redacted] throughout.")?;

    // Step 1.
    n.heading("Step 1 of 6: the user authorizes your app (OAuth)")?;
    let oauth_state = new_state();
    let auth = AuthorizationRequest::new(seed.client_id.clone(), OAUTH_REDIRECT_URI, SCOPES)
        .state(oauth_state)
        .build()
        .map_err(|e| CliError::build("demo: authorize URL", &e))?;
    let authorize_url = auth.url(hosts.app());
    n.say("Your app sends the user to Cronofy's authorize URL, with a fresh random `state`;")?;
    n.say("the user's browser opens it and shows the consent page:")?;
    let back = n.press(&browser, authorize_url.as_str(), "approve", "Allow")?;
    n.say(&format!(
        "The browser comes back to your app: {}",
        redact::url(&back)
    ))?;
    let code = match auth.parse_callback(&back) {
        Ok(AuthorizationOutcome::Granted { code }) => code,
        Ok(_) => return Err(unexpected("the consent was not granted")),
        Err(e) => return Err(CliError::callback(&e)),
    };
    n.say("Your app checks that this is its redirect URI and that the state matches:")?;
    n.say(&format!(
        "access granted, with an authorization code ({REDACTED})."
    ))?;

    // Step 2.
    n.heading("Step 2 of 6: your app exchanges the code for tokens")?;
    let credentials = ClientCredentials::new(
        seed.client_id.clone(),
        ClientSecret::new(&seed.client_secret),
    );
    let exchange = ExchangeCode::new(credentials, code, OAUTH_REDIRECT_URI);
    let tokens = n.call("exchange code", || client.exchange_code(&exchange))?;
    n.say(&format!(
        "Your app now holds an access token and a refresh token ({REDACTED}: keep them secret), \
         valid {} s, for account {}.",
        tokens.expires_in.unwrap_or(0),
        tokens.account_id.as_deref().unwrap_or("?")
    ))?;
    let token = tokens.access_token;

    // Step 3.
    n.heading("Step 3 of 6: your app lists the user's calendars")?;
    let list = n.call("list calendars", || client.list_calendars(&token))?;
    n.table(&list.calendars)?;
    let sandbox = list
        .calendars
        .iter()
        .filter(|c| c.permission_level == Some(CalendarPermissionLevel::Sandbox))
        .count();
    n.say(&format!(
        "{sandbox} of {} calendars are `sandbox`: your app may not edit events it did not create.",
        list.calendars.len()
    ))?;
    // The core's one rule (writable, not deleted, not yet unrestricted), as `audit` uses it.
    let candidates: Vec<&Calendar> = list.needing_elevation().collect();
    if candidates.is_empty() {
        return Err(unexpected("no calendar to ask unrestricted access to"));
    }
    // All but the last are asked for and accepted; the last is kept for the rejection.
    let split = candidates.len().saturating_sub(1).max(1);
    let (accept_pass, reject_pass) = candidates.split_at(split);
    let (accept_pass, reject_pass) = (accept_pass.to_vec(), reject_pass.to_vec());
    n.say(&format!(
        "Those needing elevation are writable, not deleted and not yet `unrestricted`: {}. \
         Your app asks for {} now.",
        names(&candidates),
        names(&accept_pass)
    ))?;

    // Step 4.
    n.heading("Step 4 of 6: your app asks for unrestricted access")?;
    let permissions_state = new_state();
    let accept_ids: Vec<String> = accept_pass.iter().map(|c| c.calendar_id.clone()).collect();
    let request = PermissionsRequest::builder()
        .calendars(accept_ids.iter().cloned())
        .redirect_uri(PERMISSIONS_REDIRECT_URI)
        .state(permissions_state)
        .build()
        .map_err(|e| CliError::build("demo: permissions request", &e))?;
    n.say("POST /v1/permissions with the calendars and a redirect URI carrying a new state:")?;
    let outcome = n.call("request permissions", || {
        client.request_permissions(&token, &request)
    })?;

    // Step 5.
    n.heading("Step 5 of 6: Cronofy answers with a URL; the user accepts")?;
    let PermissionsOutcome::Redirect { url } = outcome else {
        return Err(unexpected(
            "expected a URL for the user, not an immediate grant",
        ));
    };
    n.say("Your app sends the user to the URL in Cronofy's answer; the browser opens it:")?;
    let back = n.press(&browser, url.as_str(), "accept", "Accept")?;

    // Step 6.
    n.heading("Step 6 of 6: the user comes back; your app reads the answer")?;
    n.say(&format!(
        "The browser comes back to your app: {}",
        redact::url(&back)
    ))?;
    match request.parse_callback(&back) {
        Ok(CallbackOutcome::Accepted) => {
            n.say("Redirect URI and state match, no `error`: accepted.")?;
        }
        Ok(_) => return Err(unexpected("the callback was not read as accepted")),
        Err(e) => return Err(CliError::callback(&e)),
    }
    n.say("Your app lists the calendars again:")?;
    let after = n.call("list calendars", || client.list_calendars(&token))?;
    n.table(&after.calendars)?;
    let levels = levels_of(&after.calendars, &accept_ids);
    if levels.iter().any(|(_, level)| level != "unrestricted") {
        return Err(unexpected(
            "the accepted calendars did not turn unrestricted",
        ));
    }
    n.say(&format!("{} are now `unrestricted`.", names(&accept_pass)))?;

    // The same request, rejected.
    n.heading("Again, but the user presses Reject")?;
    let reject_pass: Vec<&Calendar> = if reject_pass.is_empty() {
        accept_pass.clone()
    } else {
        reject_pass
    };
    let reject_ids: Vec<String> = reject_pass.iter().map(|c| c.calendar_id.clone()).collect();
    let before_reject = levels_of(&after.calendars, &reject_ids);
    let request = PermissionsRequest::builder()
        .calendars(reject_ids.iter().cloned())
        .redirect_uri(PERMISSIONS_REDIRECT_URI)
        .state(new_state())
        .build()
        .map_err(|e| CliError::build("demo: permissions request", &e))?;
    n.say(&format!(
        "Your app asks for {} (steps 4-5 as before):",
        names(&reject_pass)
    ))?;
    let outcome = n.call("request permissions", || {
        client.request_permissions(&token, &request)
    })?;
    let PermissionsOutcome::Redirect { url } = outcome else {
        return Err(unexpected(
            "expected a URL for the user, not an immediate grant",
        ));
    };
    let back = n.press(&browser, url.as_str(), "reject", "Reject")?;
    n.say(&format!(
        "The browser comes back to your app: {}",
        redact::url(&back)
    ))?;
    match request.parse_callback(&back) {
        Ok(CallbackOutcome::Rejected) => {
            n.say("Redirect URI and state match, `error=access_denied`: rejected.")?;
        }
        Ok(_) => return Err(unexpected("the callback was not read as rejected")),
        Err(e) => return Err(CliError::callback(&e)),
    }
    let again = n.call("list calendars", || client.list_calendars(&token))?;
    let after_reject = levels_of(&again.calendars, &reject_ids);
    if after_reject != before_reject {
        return Err(unexpected("a rejected request changed the calendars"));
    }
    let shown: Vec<String> = after_reject
        .iter()
        .map(|(name, level)| format!("{name}: {level}"))
        .collect();
    n.say(&format!("Calendars unchanged ({}).", shown.join(", ")))?;

    // Enterprise Connect.
    n.heading("Enterprise Connect: granted at once")?;
    n.say("An account linked to Enterprise Connect, with its own access token (obtained as in")?;
    n.say("steps 1-2; the local Cronofy has one ready). Its calendars:")?;
    let enterprise_token = AccessToken::new(&seed.enterprise_access_token);
    let list = n.call("list calendars", || {
        client.list_calendars(&enterprise_token)
    })?;
    n.table(&list.calendars)?;
    let ids: Vec<String> = list
        .needing_elevation()
        .map(|c| c.calendar_id.clone())
        .collect();
    let request = PermissionsRequest::builder()
        .calendars(ids.iter().cloned())
        .redirect_uri(PERMISSIONS_REDIRECT_URI)
        .state(new_state())
        .build()
        .map_err(|e| CliError::build("demo: permissions request", &e))?;
    let outcome = n.call("request permissions", || {
        client.request_permissions(&enterprise_token, &request)
    })?;
    match outcome {
        PermissionsOutcome::Granted => {
            n.say("No URL this time: `accepted: true`, no user step.")?
        }
        _ => {
            return Err(unexpected(
                "expected an immediate grant for Enterprise Connect",
            ));
        }
    }
    let list = n.call("list calendars", || {
        client.list_calendars(&enterprise_token)
    })?;
    n.table(&list.calendars)?;
    if levels_of(&list.calendars, &ids)
        .iter()
        .any(|(_, level)| level != "unrestricted")
    {
        return Err(unexpected(
            "the Enterprise Connect calendars did not turn unrestricted",
        ));
    }

    n.heading("Done")?;
    let exchanges = n.exchanges;
    n.say(&format!(
        "All six steps, a rejection and an Enterprise Connect grant: {exchanges} HTTP exchanges, \
         all on 127.0.0.1."
    ))?;
    n.say(
        "Next: `cronofy-permissions serve-fake` runs this local Cronofy for the other commands;",
    )?;
    n.say(
        "with CRONOFY_ACCESS_TOKEN set, `cronofy-permissions calendars` talks to Cronofy itself.",
    )?;
    drop(fake);
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_action_is_resolved_against_the_page() {
        let html = r#"<form id="accept" method="post" action="/permissions/abc/accept">
            <button>Accept</button></form><form id="reject" action="/permissions/abc/reject">"#;
        assert_eq!(
            form_action("http://127.0.0.1:9/permissions/abc", html, "reject").as_deref(),
            Some("http://127.0.0.1:9/permissions/abc/reject")
        );
        assert_eq!(form_action("http://127.0.0.1:9/x", html, "missing"), None);
    }

    #[test]
    fn states_are_fresh_and_long() {
        let (a, b) = (new_state(), new_state());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
