//! The whole Extended Permissions flow, six steps, against a local Cronofy
//! (`permissions-fake`). A second, plain HTTP client plays the user's browser.
//!
//! ```text
//! cargo run -p permissions-reqwest --example reqwest_flow
//! ```

use permissions_fake::FakeCronofy;
use permissions_reqwest::{
    AuthorizationOutcome, AuthorizationRequest, BaseUrl, CallbackOutcome, ClientCredentials,
    ClientSecret, ExchangeCode, Hosts, PermissionsOutcome, PermissionsRequest,
};
use permissions_reqwest::{Client, ReqwestTransport, Session};

/// Where the user comes back after authorizing (step 1) and after the permissions page
/// (step 5). Nothing needs to listen there: the browser below does not follow redirects.
const OAUTH_CALLBACK: &str = "http://localhost:8080/oauth/callback";
const PERMISSIONS_CALLBACK: &str = "http://localhost:8080/permissions/callback";

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cronofy = FakeCronofy::start().await?;
    println!(
        "local Cronofy: API {}, app {}",
        cronofy.api_url(),
        cronofy.app_url()
    );
    let hosts = Hosts::custom(
        BaseUrl::parse(cronofy.api_url())?,
        BaseUrl::parse(cronofy.app_url())?,
    );
    let seed = cronofy.seed();
    let credentials = ClientCredentials::new(
        seed.client_id.clone(),
        ClientSecret::new(seed.client_secret.clone()),
    );
    let client = Client::builder().hosts(hosts.clone()).build()?;
    let browser = ReqwestTransport::default().client().clone();

    // Step 1: send the user to Cronofy's consent page; they come back with a code.
    // (Use a fresh random state per user in a real app.)
    let authorization = AuthorizationRequest::new(
        &seed.client_id,
        OAUTH_CALLBACK,
        ["read_account", "list_calendars"],
    )
    .state("state-1-from-a-csprng")
    .build()?;
    let consent_page = authorization.url(hosts.app());
    println!("1. user authorizes at {}", consent_page.path());
    let returned = submit_form(
        &browser,
        consent_page.as_str(),
        cronofy.app_url(),
        "approve",
    )
    .await?;
    let AuthorizationOutcome::Granted { code } = authorization.parse_callback(&returned)? else {
        return Err("the user denied access".into());
    };

    // Step 2: exchange the code for tokens.
    let tokens = client
        .exchange_code(&ExchangeCode::new(
            credentials.clone(),
            code,
            OAUTH_CALLBACK,
        ))
        .await?;
    println!(
        "2. tokens for {}: access {:?}, expires in {:?} s",
        tokens.account_id.as_deref().unwrap_or("?"),
        tokens.access_token,
        tokens.expires_in,
    );
    let refresh_token = tokens.refresh_token.clone().ok_or("no refresh token")?;
    let session = Session::new(
        client,
        credentials,
        tokens.access_token.clone(),
        refresh_token,
    );

    // Step 3: which calendars are still `sandbox`?
    let calendars = session.list_calendars().await?;
    let wanted: Vec<String> = calendars
        .needing_elevation()
        .map(|c| c.calendar_id.clone())
        .collect();
    println!(
        "3. {} calendars, {} to elevate",
        calendars.calendars.len(),
        wanted.len()
    );

    // Step 4: ask for unrestricted access to them.
    let request = PermissionsRequest::builder()
        .calendars(wanted)
        .redirect_uri(PERMISSIONS_CALLBACK)
        .state("state-2-from-a-csprng")
        .build()?;
    let outcome = session.request_permissions(&request).await?;

    // Step 5: Cronofy answers with a page where the user accepts.
    let page = match outcome {
        PermissionsOutcome::Redirect { url } => url,
        PermissionsOutcome::Granted => {
            println!("4-5. granted at once (Enterprise Connect)");
            return Ok(());
        }
        other => return Err(format!("unexpected outcome {other:?}").into()),
    };
    println!("4-5. send the user to {}", page.path());
    let returned = submit_form(&browser, page.as_str(), cronofy.app_url(), "accept").await?;

    // Step 6: the user is back; did they accept?
    match request.parse_callback(&returned)? {
        CallbackOutcome::Accepted => println!("6. accepted"),
        other => return Err(format!("not accepted: {other:?}").into()),
    }

    let calendars = session.list_calendars().await?;
    for calendar in &calendars.calendars {
        println!(
            "   {:<32} {:<14} {}",
            calendar.calendar_id,
            calendar.calendar_name,
            calendar
                .permission_level
                .as_ref()
                .map_or("-", |l| l.as_str()),
        );
    }
    Ok(())
}

/// Plays the user: opens `page`, submits the form with id `form_id`, and returns where
/// Cronofy sends the user back (the `Location` of the `303`).
async fn submit_form(
    browser: &reqwest::Client,
    page: &str,
    app_url: &str,
    form_id: &str,
) -> Result<String> {
    let html = browser
        .get(page)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let form = html
        .split(&format!("<form id=\"{form_id}\""))
        .nth(1)
        .ok_or("form not found")?;
    let action = form
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("form has no action")?;
    let answer = browser.post(format!("{app_url}{action}")).send().await?;
    let location = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .ok_or("no redirect back")?
        .to_str()?;
    Ok(location.to_owned())
}
