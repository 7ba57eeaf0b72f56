//! Generators shared by the property tests: valid inputs, and hostile ones.

use std::net::{Ipv4Addr, Ipv6Addr};

use permissions_core::url::form_urlencoded;
use proptest::prelude::*;
use proptest::string::string_regex;

/// A regex strategy; the patterns below are constants, so a bad one is a bug in this file.
pub(crate) fn regex(pattern: &str) -> BoxedStrategy<String> {
    string_regex(pattern)
        .unwrap_or_else(|e| panic!("bad test regex {pattern:?}: {e}"))
        .boxed()
}

/// A valid calendar id: non-empty, at most 64 characters (so at most 256 bytes), with no white
/// space or control character, otherwise any Unicode. Real ones (`cal_…`) are mixed in.
pub(crate) fn calendar_id() -> BoxedStrategy<String> {
    prop_oneof![
        regex(r"cal_[a-z0-9]{10}_[a-z0-9]{11}"),
        regex(r"[!-~]{1,40}"),
        regex(r"[^\s\p{Cc}]{1,64}"),
    ]
    .boxed()
}

/// A list of 1 to 8 ids drawn from a small pool, so that duplicates are frequent.
pub(crate) fn calendar_ids() -> BoxedStrategy<Vec<String>> {
    prop::collection::vec(calendar_id(), 1..4)
        .prop_flat_map(|pool| {
            let n = pool.len();
            prop::collection::vec(0..n, 1..9)
                .prop_map(move |picks| picks.into_iter().map(|i| pool[i].clone()).collect())
        })
        .boxed()
}

/// One character that a calendar id or a URI must not contain: white space or control.
pub(crate) fn forbidden_char() -> BoxedStrategy<char> {
    prop_oneof![
        prop::sample::select(vec![
            ' ', '\t', '\n', '\r', '\0', '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}',
        ]),
        regex(r"[\s\p{Cc}]").prop_map(|s| s.chars().next().expect("one char")),
    ]
    .boxed()
}

/// A host name made of ASCII labels; mixed case (URL parsing lowercases it).
pub(crate) fn domain() -> BoxedStrategy<String> {
    let label = regex(r"[a-zA-Z][a-zA-Z0-9-]{0,10}")
        // `xn--` starts a punycode label, which may not decode.
        .prop_filter("not punycode", |l| {
            !l.to_ascii_lowercase().starts_with("xn--")
        });
    prop::collection::vec(label, 1..4)
        .prop_map(|labels| labels.join("."))
        .boxed()
}

/// Any host a redirect URI may have: names, IPv4, IPv6, `localhost`, internationalized names.
pub(crate) fn host() -> BoxedStrategy<String> {
    prop_oneof![
        4 => domain(),
        1 => any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        1 => any::<[u16; 8]>().prop_map(|s| format!("[{}]", Ipv6Addr::from(s))),
        1 => prop::sample::select(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "[::1]".to_owned(),
            "bücher.example".to_owned(),
            "例え.jp".to_owned(),
        ]),
    ]
    .boxed()
}

/// Query parameter names that the callback gives a meaning to: a redirect URI that uses
/// them itself is not a round-trip case (see `known_bugs` for `state`).
const RESERVED_PARAMS: [&str; 4] = ["state", "error", "error_description", "code"];

/// The parts of a valid redirect URI, and the URI made of them.
#[derive(Clone, Debug)]
pub(crate) struct RedirectUri {
    /// The text given to the builder.
    pub(crate) raw: String,
    /// Its query parameters, decoded, in order.
    pub(crate) query: Vec<(String, String)>,
}

/// A valid `http`/`https` redirect URI: any host, optional port, a path of any characters
/// (percent-encoded by URL parsing where needed) and form-encoded query parameters.
pub(crate) fn redirect_uri() -> BoxedStrategy<RedirectUri> {
    let segment = regex(r"[^\s\p{Cc}/?#\\]{0,8}");
    let param = (
        regex(r"[a-z][a-z0-9_]{0,7}").prop_filter("not a callback parameter", |n| {
            !RESERVED_PARAMS.contains(&n.as_str())
        }),
        regex(r"\PC{0,12}"),
    );
    (
        prop::sample::select(vec!["http", "https", "HTTPS"]),
        host(),
        prop::option::of(any::<u16>()),
        prop::collection::vec(segment, 0..4),
        prop::option::of(prop::collection::vec(param, 0..4)),
    )
        .prop_map(|(scheme, host, port, path, query)| {
            let mut raw = format!("{scheme}://{host}");
            if let Some(port) = port {
                raw.push_str(&format!(":{port}"));
            }
            for segment in &path {
                raw.push('/');
                raw.push_str(segment);
            }
            if let Some(pairs) = &query {
                raw.push('?');
                let encoded: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                        )
                    })
                    .collect();
                raw.push_str(&encoded.join("&"));
            }
            RedirectUri {
                raw,
                query: query.unwrap_or_default(),
            }
        })
        .boxed()
}

/// A state value: 1 to 40 characters of anything (it is form-encoded into the URI).
pub(crate) fn state() -> BoxedStrategy<String> {
    regex(r"(?s).{1,40}")
}

/// A status code `http` accepts: 100 to 999.
pub(crate) fn status() -> BoxedStrategy<u16> {
    prop_oneof![
        2 => 100u16..=999,
        1 => prop::sample::select(vec![
            200u16, 201, 202, 204, 207, 299, 301, 302, 400, 401, 402, 403, 404, 410, 422, 423,
            429, 500, 502, 503, 504,
        ]),
    ]
    .boxed()
}

/// Headers, some of which matter (`Retry-After`, `Content-Type`), with arbitrary values.
pub(crate) fn headers() -> BoxedStrategy<Vec<(String, Vec<u8>)>> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "retry-after".to_owned(),
            "content-type".to_owned(),
            "www-authenticate".to_owned(),
            "content-length".to_owned(),
        ]),
        regex(r"[a-zA-Z0-9-]{1,16}"),
    ];
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        regex(r"[0-9]{1,25}").prop_map(String::into_bytes),
        regex(r"(Mon|Sun), [0-9]{2} (Jan|Nov) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT")
            .prop_map(String::into_bytes),
    ];
    prop::collection::vec((name, value), 0..5).boxed()
}

/// An arbitrary JSON value, small.
pub(crate) fn json() -> BoxedStrategy<serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        regex(r"\PC{0,12}").prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(regex(r"[a-z_]{0,10}"), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Response bodies: arbitrary bytes, arbitrary JSON, and bytes near a real body.
pub(crate) fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        json().prop_map(|v| serde_json::to_vec(&v).expect("a Value serializes")),
        mutated(
            br#"{"permissions_request":{"url":"https://app.cronofy.com/permissions/abc"}}"#
        ),
        mutated(br#"{"errors":{"event_id":[{"key":"errors.required","description":"required"}]}}"#),
        mutated(br#"{"token_type":"bearer","access_token":"P531x88i05Ld2yXHIQ7WjiEyqlmOHsgI","expires_in":3600,"refresh_token":"3gBYG1XamYDUEXUyybbummQWEe5YqPmf"}"#),
        mutated(br#"{"calendars":[{"provider_name":"google","calendar_id":"cal_1","calendar_name":"Home","calendar_readonly":false,"calendar_deleted":false,"permission_level":"sandbox"}]}"#),
    ]
    .boxed()
}

/// `base` with up to four bytes replaced, inserted or removed at random places.
pub(crate) fn mutated(base: &'static [u8]) -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..5)
        .prop_map(move |edits| {
            let mut bytes = base.to_vec();
            for (at, op, byte) in edits {
                let i = at.index(bytes.len() + 1);
                match op {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => bytes.push(byte),
                }
            }
            bytes
        })
        .boxed()
}

/// `base` (text) with up to four characters replaced, inserted or removed.
pub(crate) fn mutated_text(base: String) -> BoxedStrategy<String> {
    let chars: Vec<char> = base.chars().collect();
    let pick = prop_oneof![
        prop::sample::select(vec![
            '?', '&', '=', '#', '/', ':', '@', '%', '.', ' ', '\n', 'x'
        ]),
        any::<char>(),
    ];
    prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, pick), 1..5)
        .prop_map(move |edits| {
            let mut chars = chars.clone();
            for (at, op, c) in edits {
                let i = at.index(chars.len() + 1);
                match op {
                    0 if i < chars.len() => chars[i] = c,
                    1 => chars.insert(i, c),
                    _ if i < chars.len() => {
                        chars.remove(i);
                    }
                    _ => chars.push(c),
                }
            }
            chars.into_iter().collect()
        })
        .boxed()
}
