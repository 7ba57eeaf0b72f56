//! The whole Extended Permissions flow, all six steps, against the local fake Cronofy.
//!
//! ```text
//! cargo run -p permissions-ureq --example ureq_flow
//! ```
//!
//! A second `ureq` agent plays the user's browser: it follows no redirect, so that each
//! `Location` Cronofy sends the user to can be shown and read. Tokens and codes are secrets:
//! they are used, never printed.

use std::error::Error;

use permissions_fake::FakeCronofy;
use permissions_ureq::{
    AuthorizationOutcome, AuthorizationRequest, BaseUrl, CallbackOutcome, ClientCredentials,
    ClientSecret, ExchangeCode, Hosts, PermissionsOutcome, PermissionsRequest,
};
use permissions_ureq::{Client, ureq};

const OAUTH_REDIRECT: &str = "https://app.example.com/oauth/callback";
const PERMISSION_REDIRECT: &str = "https://app.example.com/permission";

fn main() -> Result<(), Box<dyn Error>> {
    let fake = FakeCronofy::start_blocking()?;
    let seed = fake.seed().clone();
    println!(
        "local Cronofy: API {} , app {}",
        fake.api_url(),
        fake.app_url()
    );

    let hosts = Hosts::custom(
        BaseUrl::parse(fake.api_url())?,
        BaseUrl::parse(fake.app_url())?,
    );
    let client = Client::builder().hosts(hosts).build()?;
    let credentials = ClientCredentials::new(
        seed.client_id.clone(),
        ClientSecret::new(seed.client_secret.clone()),
    );
    let browser: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();

    // Step 1: the user authorizes the app through OAuth.
    let authorization = AuthorizationRequest::new(
        seed.client_id.clone(),
        OAUTH_REDIRECT,
        ["read_account", "list_calendars"],
    )
    .state("oauth-state-1")
    .build()?;
    let authorize_url = authorization.url(client.hosts().app());
    println!("1. send the user to {authorize_url}");
    let returned = submit_form(&browser, fake.app_url(), authorize_url.as_str(), "approve")?;
    let AuthorizationOutcome::Granted { code } = authorization.parse_callback(&returned)? else {
        return Err("the user denied access".into());
    };
    println!("   the user allowed access and came back with a code (not shown)");

    // Step 2: the app gets its tokens.
    let tokens = client.exchange_code(&ExchangeCode::new(credentials, code, OAUTH_REDIRECT))?;
    println!(
        "2. tokens for account {} (scope: {})",
        tokens.account_id.as_deref().unwrap_or("?"),
        tokens.scope.as_deref().unwrap_or("?"),
    );

    // Step 3: the user's calendars.
    let calendars = client.list_calendars(&tokens.access_token)?;
    println!("3. {} calendars:", calendars.calendars.len());
    for calendar in &calendars.calendars {
        println!(
            "   {} {:?} {}",
            calendar.calendar_id,
            calendar.calendar_name,
            level(calendar)
        );
    }

    // Step 4: ask for unrestricted access to those that need it.
    let wanted: Vec<_> = calendars
        .needing_elevation()
        .map(|c| c.calendar_id.clone())
        .collect();
    let request = PermissionsRequest::builder()
        .calendars(wanted.iter().cloned())
        .redirect_uri(PERMISSION_REDIRECT)
        .state("permissions-state-1")
        .build()?;
    println!("4. asking for unrestricted access to {}", wanted.join(", "));

    // Step 5: Cronofy answers with a page for the user.
    let url = match client.request_permissions(&tokens.access_token, &request)? {
        PermissionsOutcome::Redirect { url } => url,
        PermissionsOutcome::Granted => {
            println!("5. granted at once (Enterprise Connect)");
            return Ok(());
        }
        other => return Err(format!("unexpected outcome {other:?}").into()),
    };
    println!("5. send the user to {url}");

    // Step 6: the user accepts and comes back to the redirect_uri.
    let returned = submit_form(&browser, fake.app_url(), url.as_str(), "accept")?;
    let outcome = request.parse_callback(&returned)?;
    println!("6. the user came back to {returned}: {outcome:?}");
    if outcome != CallbackOutcome::Accepted {
        return Err("the user did not accept".into());
    }

    let after = client.list_calendars(&tokens.access_token)?;
    println!("   calendars now:");
    for calendar in &after.calendars {
        println!("   {} {}", calendar.calendar_id, level(calendar));
    }
    fake.shutdown();
    Ok(())
}

fn level(calendar: &permissions_core::Calendar) -> &str {
    calendar
        .permission_level
        .as_ref()
        .map_or("(no level)", |l| l.as_str())
}

/// What a person does in a browser: open `page`, press the form `form_id`, and land wherever
/// the answer's `Location` points (which this returns).
fn submit_form(
    browser: &ureq::Agent,
    app_url: &str,
    page: &str,
    form_id: &str,
) -> Result<String, Box<dyn Error>> {
    let html = browser.get(page).call()?.body_mut().read_to_string()?;
    let action = form_action(&html, form_id).ok_or("no such form on the page")?;
    let answer = browser.post(format!("{app_url}{action}")).send_empty()?;
    let location = answer
        .headers()
        .get("location")
        .ok_or("the form answered without a redirect")?
        .to_str()?;
    Ok(location.to_owned())
}

fn form_action(html: &str, form_id: &str) -> Option<String> {
    let form = &html[html.find(&format!("<form id=\"{form_id}\""))?..];
    let start = form.find("action=\"")? + "action=\"".len();
    let end = start + form[start..].find('"')?;
    Some(form[start..end].to_owned())
}
