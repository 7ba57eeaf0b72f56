//! Depending on `permissions-reqwest` must not change how the app's own reqwest clients build.
//! With reqwest's `rustls-no-provider` feature turned on by a dependency (as the first release
//! did), `reqwest::Client::new()` panics: "No rustls crypto provider is configured".

#[tokio::test]
async fn the_apps_own_reqwest_client_still_builds() {
    let built = std::panic::catch_unwind(permissions_reqwest_app::app_client);
    assert!(built.is_ok(), "the app's reqwest::Client::new() panicked");
    assert!(reqwest::Client::builder().build().is_ok());
    // And the toolkit's client builds beside it.
    let ours = permissions_reqwest::Client::builder().pacing(None).build();
    assert!(ours.is_ok(), "{ours:?}");
}
