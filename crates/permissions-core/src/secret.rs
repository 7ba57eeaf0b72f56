//! Secrets: access tokens, refresh tokens, client secrets and authorization codes.
//!
//! Each is its own type so that it can never be printed by accident: `Debug` prints
//! `AccessToken([redacted])`, there is no `Display`, and the value is read only through an
//! explicit [`AccessToken::secret`]. Equality is compared in constant time. The value is held
//! in a [`secrecy::SecretString`], so the wrapper's copy is wiped from memory when dropped
//! (copies made on purpose — a request body, a header value — are not).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use subtle::ConstantTimeEq;

/// What `Debug` prints in place of a secret value.
pub(crate) const REDACTED: &str = "[redacted]";

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::from(value.into()))
            }

            /// Reads the secret value. Every call site that does this is a place where the
            /// secret leaves the type's protection: keep them few and easy to audit.
            pub fn secret(&self) -> &str {
                self.0.expose_secret()
            }

        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), REDACTED)
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.secret().as_bytes().ct_eq(other.secret().as_bytes()).into()
            }
        }

        impl Eq for $name {}

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(SecretString::from(value))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::new)
            }
        }
    };
}

secret_type!(
    /// An OAuth access token, sent as `Authorization: Bearer …` on every `/v1` call.
    AccessToken
);
secret_type!(
    /// An OAuth refresh token, exchanged for a new access token.
    RefreshToken
);
secret_type!(
    /// The application's client secret (also its API key).
    ClientSecret
);
secret_type!(
    /// An authorization code from the OAuth callback: single-use, valid for 10 minutes.
    AuthorizationCode
);

/// The application's OAuth client credentials. The id is public; the secret is not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The application's client id.
    pub client_id: String,
    /// The application's client secret.
    pub client_secret: ClientSecret,
}

impl ClientCredentials {
    /// Credentials from an id and a secret.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<ClientSecret>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

/// Compares two strings in constant time (for the length of the shorter), so that a state
/// value cannot be guessed byte by byte from response timing.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let token = AccessToken::new("tok_very_secret");
        let shown = format!("{token:?} {:?}", RefreshToken::new("ref_very_secret"));
        assert!(!shown.contains("very_secret"), "{shown}");
        assert!(shown.contains("AccessToken([redacted])"));
        let creds = ClientCredentials::new("client", "cs_very_secret");
        assert!(!format!("{creds:?} {creds:#?}").contains("very_secret"));
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(AccessToken::new("a"), AccessToken::new("a"));
        assert_ne!(AccessToken::new("a"), AccessToken::new("b"));
        assert_ne!(AccessToken::new("a"), AccessToken::new("ab"));
        assert!(constant_time_eq("xyz", "xyz"));
        assert!(!constant_time_eq("xyz", "xy"));
    }
}
