//! The request log: what the fake received, oldest first.

use std::collections::VecDeque;
use std::fmt;

/// Which listener of the fake received a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host {
    /// The API host (`api.cronofy.com` in production): [`FakeCronofy::api_url`](crate::FakeCronofy::api_url).
    Api,
    /// The app host (`app.cronofy.com` in production): [`FakeCronofy::app_url`](crate::FakeCronofy::app_url).
    App,
}

impl Host {
    /// `"api"` or `"app"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Host::Api => "api",
            Host::App => "app",
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header names whose values [`LoggedRequest`]'s `Debug` and the admin listener never show.
const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Whether a header's value must not be shown (compared case-insensitively).
pub(crate) fn is_sensitive_header(name: &str) -> bool {
    SENSITIVE_HEADERS
        .iter()
        .any(|sensitive| sensitive.eq_ignore_ascii_case(name))
}

/// The shown form of a sensitive header value: the scheme (`Bearer`, `Basic`) is kept, the rest is not.
pub(crate) fn redact_value(value: &str) -> String {
    match value.split_once(' ') {
        Some((scheme, _)) if !scheme.is_empty() => format!("{scheme} <redacted>"),
        _ => "<redacted>".to_owned(),
    }
}

/// One request received on the API host or the app host, as logged by the fake.
///
/// Header names are lowercase (as received through HTTP/1.1 they are case-insensitive);
/// values that are not UTF-8 are kept lossily. The body is kept whole (request bodies are
/// capped at 1 MiB by the fake).
///
/// `Debug` shows the method, path, query parameter *names*, header names with their values
/// (except `Authorization`, `Proxy-Authorization`, `Cookie` and `X-Api-Key`, whose values are
/// redacted) and the body's length only: token request bodies hold client secrets and codes.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// The listener that received the request.
    pub host: Host,
    /// The method, e.g. `"POST"`.
    pub method: String,
    /// The path, without the query, e.g. `"/v1/permissions"`.
    pub path: String,
    /// The raw query string without `?`, if the request target had one.
    pub query: Option<String>,
    /// The headers in the order received, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl LoggedRequest {
    /// The value of the first header called `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, if it is UTF-8.
    pub fn body_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The first value of the query parameter `name`, percent-decoded, if any.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

struct HeadersDebug<'a>(&'a [(String, String)]);

impl fmt::Debug for HeadersDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (name, value) in self.0 {
            if is_sensitive_header(name) {
                list.entry(&(name, redact_value(value)));
            } else {
                list.entry(&(name, value));
            }
        }
        list.finish()
    }
}

struct QueryKeysDebug<'a>(&'a str);

impl fmt::Debug for QueryKeysDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(form_urlencoded::parse(self.0.as_bytes()).map(|(k, _)| k))
            .finish()
    }
}

impl fmt::Debug for LoggedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggedRequest")
            .field("host", &self.host)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query_keys", &self.query.as_deref().map(QueryKeysDebug))
            .field("headers", &HeadersDebug(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A bounded log: the newest `capacity` requests.
#[derive(Debug)]
pub(crate) struct RequestLog {
    entries: VecDeque<LoggedRequest>,
    capacity: usize,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
        }
    }

    pub(crate) fn push(&mut self, entry: LoggedRequest) {
        if self.capacity == 0 {
            return;
        }
        while self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub(crate) fn snapshot(&self) -> Vec<LoggedRequest> {
        self.entries.iter().cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LoggedRequest {
        LoggedRequest {
            host: Host::Api,
            method: "POST".into(),
            path: "/oauth/token".into(),
            query: Some("a=secret-value&b=2".into()),
            headers: vec![
                ("authorization".into(), "Bearer tok-3141592653".into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: br#"{"client_secret":"shh-2718281828"}"#.to_vec(),
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains("tok-3141592653"), "{shown}");
        assert!(!shown.contains("shh-2718281828"), "{shown}");
        assert!(!shown.contains("secret-value"), "{shown}");
        assert!(shown.contains("Bearer <redacted>"), "{shown}");
        assert!(shown.contains("body_len: 34"), "{shown}");
        assert!(shown.contains("application/json"), "{shown}");
    }

    #[test]
    fn helpers() {
        let r = sample();
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.query_param("b").as_deref(), Some("2"));
        assert!(r.body_str().unwrap().contains("client_secret"));
    }

    #[test]
    fn log_is_bounded() {
        let mut log = RequestLog::new(2);
        for _ in 0..5 {
            log.push(sample());
        }
        assert_eq!(log.snapshot().len(), 2);
        let mut off = RequestLog::new(0);
        off.push(sample());
        assert!(off.snapshot().is_empty());
    }
}
