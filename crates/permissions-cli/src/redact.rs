//! Keeping secrets out of what is printed: URL query values and JSON fields that hold tokens,
//! codes or client secrets are replaced with `[redacted]`.

use serde_json::Value;
use url::Url;

use crate::report::{one_line, truncate};

/// What is printed in place of a secret.
pub(crate) const REDACTED: &str = "[redacted]";

/// Names (of query parameters and JSON fields) whose values are secrets.
const SECRET_NAMES: &[&str] = &[
    "access_token",
    "refresh_token",
    "client_secret",
    "code",
    "token",
    "id_token",
    "password",
];

fn is_secret_name(name: &str) -> bool {
    SECRET_NAMES.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// The URL with the values of secret query parameters replaced; everything else as it was.
/// Text that is not a URL is returned cleaned, with any query dropped.
pub(crate) fn url(raw: &str) -> String {
    let Ok(mut parsed) = Url::parse(raw) else {
        let base = raw.split(['?', '#']).next().unwrap_or("");
        return one_line(base);
    };
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_name(&k) {
                    REDACTED.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        if pairs.iter().any(|(k, _)| is_secret_name(k)) {
            let mut query = String::new();
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    query.push('&');
                }
                query.extend(form_encode(k));
                query.push('=');
                if v == REDACTED {
                    query.push_str(REDACTED);
                } else {
                    query.extend(form_encode(v));
                }
            }
            parsed.set_query(Some(&query));
        }
    }
    one_line(parsed.as_str())
}

fn form_encode(text: &str) -> impl Iterator<Item = &str> {
    url::form_urlencoded::byte_serialize(text.as_bytes())
}

/// A JSON value with the values of secret fields replaced, at any depth.
pub(crate) fn json(mut value: Value) -> Value {
    redact_in_place(&mut value);
    value
}

fn redact_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if is_secret_name(key) && !field.is_null() {
                    *field = Value::String(REDACTED.to_owned());
                } else {
                    redact_in_place(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_in_place),
        _ => {}
    }
}

/// A short, single-line, redacted summary of a body, for showing an HTTP exchange.
///
/// JSON is shown compact with secrets redacted (a calendar list as a count); HTML by its title
/// and the ids of its forms; anything else by its length. When a body cannot be read as JSON
/// it is never quoted: it might be a token endpoint's answer.
pub(crate) fn body_summary(body: &[u8], max: usize) -> String {
    if body.is_empty() {
        return "(empty)".to_owned();
    }
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        if let Some(calendars) = value.get("calendars").and_then(Value::as_array) {
            return calendar_count(calendars);
        }
        let shown = json(value).to_string();
        return truncate(&one_line(&shown), max);
    }
    let text = String::from_utf8_lossy(body);
    if text.trim_start().starts_with('<') {
        return html_summary(&text, max);
    }
    format!("({} bytes, not JSON)", body.len())
}

fn calendar_count(calendars: &[Value]) -> String {
    let mut levels: Vec<(String, usize)> = Vec::new();
    for calendar in calendars {
        let level = calendar
            .get("permission_level")
            .and_then(Value::as_str)
            .unwrap_or("no level")
            .to_owned();
        match levels.iter_mut().find(|(l, _)| *l == level) {
            Some((_, n)) => *n += 1,
            None => levels.push((level, 1)),
        }
    }
    let detail: Vec<String> = levels.iter().map(|(l, n)| format!("{n} {l}")).collect();
    let noun = if calendars.len() == 1 {
        "calendar"
    } else {
        "calendars"
    };
    format!(
        "{{\"calendars\": {} {noun}: {}}}",
        calendars.len(),
        detail.join(", ")
    )
}

fn html_summary(html: &str, max: usize) -> String {
    let title = between(html, "<title>", "</title>")
        .map(|t| one_line(&unescape_html(t.trim())))
        .unwrap_or_default();
    let forms: Vec<String> = form_tags(html)
        .filter_map(|tag| attribute(tag, "id"))
        .map(|id| one_line(&id))
        .collect();
    let mut summary = String::from("HTML page");
    if !title.is_empty() {
        summary.push_str(&format!(" \"{}\"", truncate(&title, max)));
    }
    if !forms.is_empty() {
        summary.push_str(&format!(" with forms: {}", forms.join(", ")));
    }
    summary
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// The opening `<form …>` tags of a page, each without its `<` and `>`.
pub(crate) fn form_tags(html: &str) -> impl Iterator<Item = &str> {
    html.match_indices("<form")
        .take(64)
        .filter_map(move |(at, _)| {
            let rest = &html[at + 1..];
            rest.find('>').map(|end| &rest[..end])
        })
}

/// The value of a double-quoted attribute in a tag, HTML entities decoded.
pub(crate) fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let from = tag.find(&needle)? + needle.len();
    let to = tag[from..].find('"')? + from;
    Some(unescape_html(&tag[from..to]))
}

fn unescape_html(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_query_values_are_redacted() {
        let shown =
            url("https://app.example.com/cb?code=c0de-very-secret&state=st%201&token=t0k&x=1");
        assert_eq!(
            shown,
            "https://app.example.com/cb?code=[redacted]&state=st+1&token=[redacted]&x=1"
        );
        // A URL with no secret is shown exactly as given.
        let plain = "http://127.0.0.1:9/oauth/authorize?response_type=code&scope=read_account%20read_events";
        assert_eq!(url(plain), plain);
        assert_eq!(url("not a url?code=secret"), "not a url");
    }

    #[test]
    fn secret_json_fields_are_redacted_at_any_depth() {
        let v = json!({"access_token":"a1","nested":[{"refresh_token":"r1","ok":1}],
            "client_secret":"s1","code":"c1","expires_in":3600,"refresh_token_absent":null});
        let shown = json(v).to_string();
        for secret in ["a1", "r1", "s1", "c1"] {
            assert!(!shown.contains(&format!("\"{secret}\"")), "{shown}");
        }
        assert!(shown.contains("3600") && shown.contains("\"ok\":1"));
    }

    #[test]
    fn body_summaries() {
        assert_eq!(body_summary(b"", 80), "(empty)");
        assert_eq!(
            body_summary(
                br#"{"calendars":[{"permission_level":"sandbox"},{"permission_level":"sandbox"},{"permission_level":"unrestricted"}]}"#,
                80
            ),
            "{\"calendars\": 3 calendars: 2 sandbox, 1 unrestricted}"
        );
        let token = body_summary(
            br#"{"access_token":"very-secret-1","expires_in":3600}"#,
            200,
        );
        assert!(!token.contains("very-secret-1"), "{token}");
        let html = "<!DOCTYPE html><html><head><title>Demo &amp; App</title></head><body>\
            <form id=\"accept\" method=\"post\" action=\"/p/1/accept\"></form>\
            <form id=\"reject\" method=\"post\" action=\"/p/1/reject\"></form></body></html>";
        assert_eq!(
            body_summary(html.as_bytes(), 80),
            "HTML page \"Demo & App\" with forms: accept, reject"
        );
        assert_eq!(
            body_summary(b"access_token=abc", 80),
            "(16 bytes, not JSON)"
        );
        let long = body_summary(format!("{{\"a\":\"{}\"}}", "x".repeat(500)).as_bytes(), 40);
        assert_eq!(long.chars().count(), 40);
    }

    #[test]
    fn attributes_are_read_from_form_tags() {
        let html = r#"<form id="approve" method="post" action="/oauth/authorize/a&amp;b/approve">"#;
        let tag = form_tags(html).next().unwrap();
        assert_eq!(attribute(tag, "id").as_deref(), Some("approve"));
        assert_eq!(
            attribute(tag, "action").as_deref(),
            Some("/oauth/authorize/a&b/approve")
        );
        assert_eq!(attribute(tag, "missing"), None);
    }
}
