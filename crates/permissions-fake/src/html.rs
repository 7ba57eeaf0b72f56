//! The app host's HTML pages: plain HTML, no JavaScript, forms posting back to the app host.

use std::fmt::Write as _;

/// Escapes text for use in HTML element content and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n</head>\n<body>\n{body}</body>\n</html>\n",
        title = escape(title),
    )
}

/// The consent page of `GET /oauth/authorize`.
pub(crate) fn consent(
    app_name: &str,
    pending_id: &str,
    scope: &str,
    redirect_uri: &str,
    profile_name: &str,
) -> String {
    let mut body = String::new();
    let app = escape(app_name);
    let _ = write!(
        body,
        "<h1>{app} would like to access your calendars</h1>\n\
         <p>Signed in as <strong>{profile}</strong>.</p>\n\
         <p>{app} asks for:</p>\n<ul id=\"scope\">\n",
        profile = escape(profile_name),
    );
    for item in scope.split_whitespace() {
        let _ = writeln!(body, "<li><code>{}</code></li>", escape(item));
    }
    let id = escape(pending_id);
    let _ = write!(
        body,
        "</ul>\n<p>You will be sent back to <code>{redirect}</code>.</p>\n\
         <form id=\"approve\" method=\"post\" action=\"/oauth/authorize/{id}/approve\">\n\
         <button type=\"submit\">Allow</button>\n</form>\n\
         <form id=\"deny\" method=\"post\" action=\"/oauth/authorize/{id}/deny\">\n\
         <button type=\"submit\">Deny</button>\n</form>\n",
        redirect = escape(redirect_uri),
    );
    page(&format!("Authorize {app_name}"), &body)
}

/// The page of `GET /permissions/{request_id}`: one `(name, id)` pair per calendar asked for.
pub(crate) fn permissions(
    app_name: &str,
    request_id: &str,
    calendars: &[(String, String)],
) -> String {
    let mut body = String::new();
    let app = escape(app_name);
    let _ = write!(
        body,
        "<h1>{app} asks for unrestricted access</h1>\n\
         <p>{app} would like unrestricted access to these calendars:</p>\n<ul id=\"calendars\">\n"
    );
    for (name, id) in calendars {
        let _ = writeln!(
            body,
            "<li data-calendar-id=\"{id}\">{name} (<code>{id}</code>)</li>",
            id = escape(id),
            name = escape(name),
        );
    }
    let id = escape(request_id);
    let _ = write!(
        body,
        "</ul>\n\
         <form id=\"accept\" method=\"post\" action=\"/permissions/{id}/accept\">\n\
         <button type=\"submit\">Accept</button>\n</form>\n\
         <form id=\"reject\" method=\"post\" action=\"/permissions/{id}/reject\">\n\
         <button type=\"submit\">Reject</button>\n</form>\n"
    );
    page(&format!("{app_name}: extended permissions"), &body)
}

/// An error page: a heading and one paragraph per problem.
pub(crate) fn error(title: &str, problems: &[String]) -> String {
    let mut body = format!("<h1>{}</h1>\n", escape(title));
    for problem in problems {
        let _ = writeln!(body, "<p class=\"error\">{}</p>", escape(problem));
    }
    page(title, &body)
}

/// The small body of a 303 answer, for clients that show it.
pub(crate) fn redirect(location: &str) -> String {
    let href = escape(location);
    page(
        "Redirecting",
        &format!("<p>Redirecting to <a href=\"{href}\">{href}</a>.</p>\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn consent_names_app_and_forms() {
        let html = consent(
            "Demo <App>",
            "pid",
            "read_events create_event",
            "http://x/cb",
            "me",
        );
        assert!(html.contains("Demo &lt;App&gt;"));
        assert!(html.contains("action=\"/oauth/authorize/pid/approve\""));
        assert!(html.contains("action=\"/oauth/authorize/pid/deny\""));
        assert!(!html.contains("<script"));
    }
}
