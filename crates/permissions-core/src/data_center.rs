//! Where to send requests: Cronofy's six data centers, or custom base URLs.
//!
//! Every data center is an entirely separate instance with two hosts: the API host
//! (`api[-dc].cronofy.com`, for `/v1/*` and `/oauth/token`) and the app host
//! (`app[-dc].cronofy.com`, for pages a person sees: `/oauth/authorize` and the permissions page).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use url::{Host, Url};

/// One of Cronofy's data centers. Parsed from its SDK identifier, case-insensitively.
///
/// ```
/// use permissions_core::DataCenter;
/// let dc: DataCenter = "UK".parse().unwrap();
/// assert_eq!(dc, DataCenter::Uk);
/// assert_eq!(dc.hosts().api().as_str(), "https://api-uk.cronofy.com/");
/// assert!("mars".parse::<DataCenter>().unwrap_err().to_string().contains("us, uk, de, au, ca, sg"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DataCenter {
    /// United States (`us`): `api.cronofy.com`, the default.
    #[default]
    Us,
    /// United Kingdom (`uk`).
    Uk,
    /// Germany (`de`).
    De,
    /// Australia (`au`).
    Au,
    /// Canada (`ca`).
    Ca,
    /// Singapore (`sg`).
    Sg,
}

impl DataCenter {
    /// Every data center, in the order Cronofy's SDK identifiers are usually listed.
    pub const ALL: [DataCenter; 6] = [
        DataCenter::Us,
        DataCenter::Uk,
        DataCenter::De,
        DataCenter::Au,
        DataCenter::Ca,
        DataCenter::Sg,
    ];

    /// The SDK identifier: `us`, `uk`, `de`, `au`, `ca` or `sg`.
    pub fn id(self) -> &'static str {
        match self {
            DataCenter::Us => "us",
            DataCenter::Uk => "uk",
            DataCenter::De => "de",
            DataCenter::Au => "au",
            DataCenter::Ca => "ca",
            DataCenter::Sg => "sg",
        }
    }

    /// The API and app hosts of this data center.
    pub fn hosts(self) -> Hosts {
        let (api, app) = match self {
            DataCenter::Us => (
                "https://api.cronofy.com/".to_owned(),
                "https://app.cronofy.com/".to_owned(),
            ),
            other => (
                format!("https://api-{}.cronofy.com/", other.id()),
                format!("https://app-{}.cronofy.com/", other.id()),
            ),
        };
        Hosts {
            api: BaseUrl::trusted(&api),
            app: BaseUrl::trusted(&app),
        }
    }
}

impl fmt::Display for DataCenter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for DataCenter {
    type Err = UnknownDataCenter;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        DataCenter::ALL
            .into_iter()
            .find(|dc| dc.id().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownDataCenter {
                given: wanted.chars().take(32).collect(),
            })
    }
}

/// A data center name that is not one of Cronofy's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown data center {given:?}: expected one of us, uk, de, au, ca, sg")]
pub struct UnknownDataCenter {
    /// What was given (at most 32 characters of it).
    pub given: String,
}

/// A validated base URL for one Cronofy host, API or app.
///
/// It is `https`, or plain `http` on a loopback host only (`localhost`, `127.0.0.0/8`, `[::1]`),
/// so that a bearer token is never sent in clear by accident. It may carry a path prefix
/// (`https://gw.example.com/cronofy`), kept with or without a trailing slash; it has no query,
/// fragment or user-info.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BaseUrl {
    /// Always ends with `/`, so that `join` keeps the prefix.
    url: Url,
}

impl BaseUrl {
    /// Validates a custom base URL.
    ///
    /// ```
    /// use permissions_core::BaseUrl;
    /// let base = BaseUrl::parse("https://gw.example.com/cronofy").unwrap();
    /// assert_eq!(base.join("v1/permissions").as_str(), "https://gw.example.com/cronofy/v1/permissions");
    /// assert!(BaseUrl::parse("http://api.example.com").is_err());
    /// assert!(BaseUrl::parse("http://127.0.0.1:8080").is_ok());
    /// ```
    pub fn parse(input: &str) -> Result<Self, BaseUrlError> {
        let mut url = Url::parse(input.trim()).map_err(|_| BaseUrlError::NotAUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err(BaseUrlError::InsecureScheme),
            _ => return Err(BaseUrlError::UnsupportedScheme),
        }
        if url.host().is_none() {
            return Err(BaseUrlError::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(BaseUrlError::UserInfo);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(BaseUrlError::QueryOrFragment);
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        // `url` accepts some hosts (`{`, `"`, …) that `http` refuses: refuse them now rather
        // than at every request.
        if http::Uri::try_from(url.as_str()).is_err() {
            return Err(BaseUrlError::NotAUrl);
        }
        Ok(Self { url })
    }

    fn trusted(s: &str) -> Self {
        Self {
            url: Url::parse(s).expect("built-in data center URLs are valid"),
        }
    }

    /// The base URL, always ending with `/`.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The base URL as a [`Url`].
    pub fn as_url(&self) -> &Url {
        &self.url
    }

    /// Appends a relative path (no leading `/`) to the base, keeping any path prefix.
    pub fn join(&self, path: &str) -> Url {
        let mut url = self.url.clone();
        let joined = format!("{}{}", self.url.path(), path.trim_start_matches('/'));
        url.set_path(&joined);
        url
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl FromStr for BaseUrl {
    type Err = BaseUrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BaseUrl::parse(s)
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Why a custom base URL was refused. The URL itself is not repeated: it may carry a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BaseUrlError {
    /// Not an absolute URL.
    #[error("base URL is not an absolute URL")]
    NotAUrl,
    /// Neither `http` nor `https`.
    #[error("base URL must use https (or http on a loopback host)")]
    UnsupportedScheme,
    /// Plain `http` to a host that is not loopback: a token would travel in clear.
    #[error(
        "base URL uses plain http on a non-loopback host; use https so the token is not sent in clear"
    )]
    InsecureScheme,
    /// No host.
    #[error("base URL has no host")]
    NoHost,
    /// Carries a user name or password.
    #[error("base URL must not carry a user name or password")]
    UserInfo,
    /// Carries a query or fragment.
    #[error("base URL must not carry a query or fragment")]
    QueryOrFragment,
}

/// Which URLs the answer to a permissions request may send the user's browser to
/// ([`PermissionsOutcome::Redirect`](crate::PermissionsOutcome::Redirect)). Whatever the
/// policy, a URL carrying a user name or password (`https://app.cronofy.com@evil.example/`)
/// is refused, and plain `http` is accepted on a loopback host only.
///
/// Set on a client with [`ClientBuilder::permissions_url_policy`](crate::transport::ClientBuilder::permissions_url_policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PermissionsUrlPolicy {
    /// The URL must be on the configured app host: the data center's `app[-dc].cronofy.com`,
    /// or the custom app base URL, with the same scheme, host and port. The default.
    #[default]
    AppHost,
    /// Any host (still `https`, or `http` on loopback; no user-info). For a deployment behind
    /// a proxy that hands out permission pages on a host of its own: the app then trusts
    /// whatever its API host answers.
    AnyHost,
}

/// The two hosts of one Cronofy instance: API and app.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Hosts {
    api: BaseUrl,
    app: BaseUrl,
}

impl Hosts {
    /// Custom hosts, e.g. a gateway, or a local Cronofy in tests.
    pub fn custom(api: BaseUrl, app: BaseUrl) -> Self {
        Self { api, app }
    }

    /// The API host: `/v1/*`, `/oauth/token`, `/oauth/token/revoke`.
    pub fn api(&self) -> &BaseUrl {
        &self.api
    }

    /// The app host: `/oauth/authorize` and the pages a person sees.
    pub fn app(&self) -> &BaseUrl {
        &self.app
    }
}

impl Default for Hosts {
    fn default() -> Self {
        DataCenter::Us.hosts()
    }
}

impl From<DataCenter> for Hosts {
    fn from(dc: DataCenter) -> Self {
        dc.hosts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_center_maps_to_its_hosts() {
        let expected = [
            ("us", "https://api.cronofy.com/", "https://app.cronofy.com/"),
            (
                "uk",
                "https://api-uk.cronofy.com/",
                "https://app-uk.cronofy.com/",
            ),
            (
                "de",
                "https://api-de.cronofy.com/",
                "https://app-de.cronofy.com/",
            ),
            (
                "au",
                "https://api-au.cronofy.com/",
                "https://app-au.cronofy.com/",
            ),
            (
                "ca",
                "https://api-ca.cronofy.com/",
                "https://app-ca.cronofy.com/",
            ),
            (
                "sg",
                "https://api-sg.cronofy.com/",
                "https://app-sg.cronofy.com/",
            ),
        ];
        for (id, api, app) in expected {
            for spelled in [id.to_owned(), id.to_uppercase()] {
                let dc: DataCenter = spelled.parse().unwrap();
                assert_eq!(dc.id(), id);
                assert_eq!(dc.hosts().api().as_str(), api);
                assert_eq!(dc.hosts().app().as_str(), app);
            }
        }
    }

    #[test]
    fn unknown_data_center_lists_valid_ones() {
        let err = "eu".parse::<DataCenter>().unwrap_err();
        assert_eq!(err.given, "eu");
        assert!(err.to_string().contains("us, uk, de, au, ca, sg"));
    }

    #[test]
    fn path_prefix_kept_with_or_without_slash() {
        for base in [
            "https://gw.example.com/cronofy",
            "https://gw.example.com/cronofy/",
        ] {
            let base = BaseUrl::parse(base).unwrap();
            assert_eq!(
                base.join("v1/permissions").as_str(),
                "https://gw.example.com/cronofy/v1/permissions"
            );
        }
    }

    #[test]
    fn only_https_or_loopback_http() {
        for ok in [
            "https://api.example.com",
            "http://localhost:3000",
            "http://LOCALHOST",
            "http://127.0.0.1:9",
            "http://127.9.9.9",
            "http://[::1]:80/x",
        ] {
            assert!(BaseUrl::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            BaseUrl::parse("http://api.example.com"),
            Err(BaseUrlError::InsecureScheme)
        );
        assert_eq!(
            BaseUrl::parse("http://localhost.evil.com"),
            Err(BaseUrlError::InsecureScheme)
        );
        assert_eq!(
            BaseUrl::parse("http://10.0.0.1"),
            Err(BaseUrlError::InsecureScheme)
        );
        assert_eq!(
            BaseUrl::parse("ftp://x.example.com"),
            Err(BaseUrlError::UnsupportedScheme)
        );
        assert_eq!(BaseUrl::parse("not a url"), Err(BaseUrlError::NotAUrl));
        assert_eq!(
            BaseUrl::parse("https://a{b}.example.com"),
            Err(BaseUrlError::NotAUrl)
        );
        assert_eq!(
            BaseUrl::parse("https://u:p@x.example.com"),
            Err(BaseUrlError::UserInfo)
        );
        assert_eq!(
            BaseUrl::parse("https://x.example.com/?a=b"),
            Err(BaseUrlError::QueryOrFragment)
        );
    }
}
