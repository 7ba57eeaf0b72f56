//! A stand-in for an app with its own `reqwest` (no TLS feature of its own) that adds
//! `permissions-reqwest`. Features unify across a build: whatever `permissions-reqwest` turns on
//! in reqwest, this app's reqwest has too. The test in `tests/` builds the app's own client.

/// The app's own HTTP client, built the way reqwest's docs show.
pub fn app_client() -> reqwest::Client {
    reqwest::Client::new()
}
