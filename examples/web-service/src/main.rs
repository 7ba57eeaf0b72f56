//! `cargo run -p permissions-web-example`, then open the URL it prints.
//!
//! With no Cronofy credentials in the environment, it starts a local fake Cronofy in this
//! process and uses it (one replica only: with `REDIS_URL` set, Cronofy credentials are
//! required). To use the real Cronofy, set:
//!
//! | variable | default | what |
//! | --- | --- | --- |
//! | `CRONOFY_CLIENT_ID` | (fake) | your OAuth client id; setting it switches to the real Cronofy |
//! | `CRONOFY_CLIENT_SECRET` | required with the id | your OAuth client secret |
//! | `CRONOFY_DATA_CENTER` | `us` | `us`, `uk`, `de`, `au`, `ca` or `sg` |
//! | `CRONOFY_API_URL`, `CRONOFY_APP_URL` | | custom hosts instead of a data center (both) |
//! | `APP_LISTEN` | `127.0.0.1:3000` | the address to listen on |
//! | `APP_BASE_URL` | `http://{APP_LISTEN}` | where browsers reach the app (`https://…`, or `http://` on a loopback host; no path); register `{APP_BASE_URL}/oauth/callback` as a redirect URI |
//! | `REDIS_URL` | (memory) | `redis://host:port/db`: sessions and requests in flight in Redis, shared by every replica given the same URL; needs `CRONOFY_CLIENT_ID` |
//! | `FLEET_SIZE` | `2` | with `REDIS_URL`: how many processes share the Cronofy budget (a whole number, 1 or more); while Redis is away each paces at the limits divided by it |
//!
//! SIGINT (Ctrl-C) and SIGTERM stop it: requests in progress get 10 s to finish.

use std::env;
use std::error::Error;
use std::process::ExitCode;

use permissions_core::{BaseUrl, ClientCredentials, ClientSecret, DataCenter, Hosts};
use permissions_fake::FakeCronofy;
use permissions_web_example::{
    AppState, ServeOptions, Store, app, cronofy_client, serve, shutdown_signal,
};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("error: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprint!(": {cause}");
                source = cause.source();
            }
            eprintln!();
            ExitCode::FAILURE
        }
    }
}

/// An environment variable, with an empty value counted as unset.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.is_empty())
}

/// `FLEET_SIZE` when it is not set.
const DEFAULT_FLEET_SIZE: u32 = 2;

/// `FLEET_SIZE`: a whole number, 1 or more; [`DEFAULT_FLEET_SIZE`] when unset.
fn fleet_size(value: Option<&str>) -> Result<u32, String> {
    let Some(text) = value else {
        return Ok(DEFAULT_FLEET_SIZE);
    };
    match text.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "FLEET_SIZE must be a whole number, 1 or more (how many processes share the \
             Cronofy budget), not {text:?}"
        )),
    }
}

/// Why `REDIS_URL` without Cronofy credentials is refused.
const REDIS_NEEDS_CRONOFY: &str = "REDIS_URL is set but CRONOFY_CLIENT_ID is not: each replica \
    would start its own local fake Cronofy, with its own credentials and tokens, so the replicas \
    could not share sessions or a Cronofy budget. Set CRONOFY_CLIENT_ID and \
    CRONOFY_CLIENT_SECRET (with CRONOFY_API_URL and CRONOFY_APP_URL for a Cronofy other than \
    a data center's), or unset REDIS_URL to run one replica on the local fake";

async fn run() -> Result<(), Box<dyn Error>> {
    // The configuration is checked before anything starts.
    let redis_url = var("REDIS_URL");
    let fleet_size = fleet_size(var("FLEET_SIZE").as_deref())?;
    if redis_url.is_some() && var("CRONOFY_CLIENT_ID").is_none() {
        return Err(REDIS_NEEDS_CRONOFY.into());
    }

    let listen = var("APP_LISTEN").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let base_url = match var("APP_BASE_URL") {
        Some(url) => url,
        None => format!("http://{}", listener.local_addr()?),
    };

    // The real Cronofy when credentials are given; otherwise a fake one, kept alive until exit.
    let (hosts, credentials, _fake) = match var("CRONOFY_CLIENT_ID") {
        Some(client_id) => {
            let secret = var("CRONOFY_CLIENT_SECRET")
                .ok_or("CRONOFY_CLIENT_SECRET must be set along with CRONOFY_CLIENT_ID")?;
            let hosts = match (var("CRONOFY_API_URL"), var("CRONOFY_APP_URL")) {
                (Some(api), Some(app)) => {
                    Hosts::custom(BaseUrl::parse(&api)?, BaseUrl::parse(&app)?)
                }
                _ => var("CRONOFY_DATA_CENTER")
                    .as_deref()
                    .unwrap_or("us")
                    .parse::<DataCenter>()?
                    .hosts(),
            };
            let credentials = ClientCredentials::new(client_id, ClientSecret::new(secret));
            (hosts, credentials, None)
        }
        None => {
            let fake = FakeCronofy::start().await?;
            let hosts = Hosts::custom(
                BaseUrl::parse(fake.api_url())?,
                BaseUrl::parse(fake.app_url())?,
            );
            let seed = fake.seed();
            let credentials = ClientCredentials::new(
                seed.client_id.as_str(),
                ClientSecret::new(seed.client_secret.as_str()),
            );
            println!(
                "Using a local fake Cronofy at {} (set CRONOFY_CLIENT_ID and CRONOFY_CLIENT_SECRET for the real one).",
                fake.app_url()
            );
            (hosts, credentials, Some(fake))
        }
    };

    let store = match &redis_url {
        Some(url) => {
            let store = Store::redis(url).await?;
            println!("Sessions are kept in Redis (REDIS_URL).");
            store
        }
        None => Store::memory(),
    };
    // With Redis, the replicas also share one Cronofy budget (the app's client id is the key).
    let shared = redis_url
        .as_deref()
        .map(|url| (url, credentials.client_id.as_str()));
    let client = cronofy_client(hosts, shared, fleet_size).map_err(|e| e.to_string())?;
    let state = AppState::new(client, credentials, &base_url)?.with_store(store);
    println!("Listening on {}: open {base_url}", listener.local_addr()?);
    serve(
        listener,
        app(state),
        ServeOptions::default(),
        shutdown_signal(),
    )
    .await?;
    println!("Stopped.");
    Ok(())
}
