//! Which TLS stack the built-in `reqwest::Client` uses, by crate feature.
//!
//! - `native-tls`: the platform's library. Wins when on, as it can only be an explicit choice.
//! - `rustls` (default): rustls on the `ring` crypto provider, certificates checked against the
//!   operating system's roots with `rustls-platform-verifier` (what reqwest does itself). reqwest
//!   is built with `rustls-no-provider`, so aws-lc-rs is not compiled in: ring is the provider
//!   `ureq` uses too, and one provider per build is enough. The configuration is handed to
//!   reqwest ready-made, so no process-wide default provider is installed or needed.
//! - neither: plain `http://` only (a local Cronofy in tests).

use permissions_core::transport::TransportError;

#[cfg(feature = "native-tls")]
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder, TransportError> {
    Ok(builder.tls_backend_native())
}

#[cfg(all(feature = "rustls", not(feature = "native-tls")))]
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder, TransportError> {
    use std::sync::Arc;

    use permissions_core::transport::TransportErrorKind;
    use rustls_platform_verifier::BuilderVerifierExt;

    let failed = |err: rustls::Error| TransportError::with_source(TransportErrorKind::Other, err);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(failed)?
        .with_platform_verifier()
        .map_err(failed)?
        .with_no_client_auth();
    // A ready-made configuration is used as given: ALPN is ours to set, matching the HTTP
    // versions reqwest was built with.
    config.alpn_protocols = if cfg!(feature = "http2") {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(builder.tls_backend_preconfigured(config))
}

#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder, TransportError> {
    Ok(builder)
}
