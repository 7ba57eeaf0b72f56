//! The pages: plain HTML built with `format!`, every dynamic value passed through [`escape`].
//! No JavaScript; forms and links do all the work, so the flow runs in any browser.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use permissions_core::{Calendar, CalendarList};

/// Escapes text for HTML element content and double-quoted attribute values.
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

/// A full page. `body` must already be HTML (escaped where needed).
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <nav><a href=\"/\">Home</a> · <a href=\"/calendars\">Calendars</a></nav>\n\
         <h1>{title}</h1>\n{body}</body>\n</html>\n",
        title = escape(title),
    );
    let mut response = (status, axum::response::Html(html)).into_response();
    let headers = response.headers_mut();
    // The pages show calendar names: keep them out of shared caches and the back-forward cache.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // `/permission?state=…` must not leak its state value to other sites. `same-origin`, not
    // `no-referrer`: under `no-referrer` browsers send `Origin: null` on the app's own form
    // posts, which the cross-site check would then refuse.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;\
padding:0 1rem;color:#1f2328}nav{margin-bottom:1rem}table{border-collapse:collapse;width:100%;\
margin:1rem 0}th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #d0d7de}\
.level-unrestricted{color:#1a7f37;font-weight:600}.level-sandbox{color:#9a6700}\
.notice{padding:.8rem 1rem;border-radius:6px;margin:1rem 0}\
.accepted,.granted{background:#dafbe1}.rejected{background:#fff8c5}\
.error{background:#ffebe9}\
form{margin:0}a.button,button{display:inline-block;background:#0969da;color:#fff;border:0;\
border-radius:6px;padding:.6rem 1rem;font-size:1rem;text-decoration:none;cursor:pointer}";

/// An error page: a heading and one explanatory paragraph (`id="error"`).
pub(crate) fn error(status: StatusCode, title: &str, message: &str) -> Response {
    page(
        status,
        title,
        &format!(
            "<p id=\"error\" class=\"notice error\">{}</p>\n\
             <p><a href=\"/\">Start again</a></p>\n",
            escape(message)
        ),
    )
}

/// The hidden form field with the session's form token.
fn token_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        crate::guard::FORM_TOKEN,
        escape(token)
    )
}

/// The home page: the "Connect your calendar" button, a form that `POST`s to `/connect`. A
/// visitor with no session has no form token yet (nothing is stored before they press it).
pub(crate) fn home(connected: bool, token: Option<&str>) -> String {
    let mut body = String::from(
        "<p>This example asks Cronofy for <em>unrestricted</em> access to the calendars you \
         choose (Extended Permissions).</p>\n",
    );
    if connected {
        body.push_str(
            "<p>A calendar account is connected: <a href=\"/calendars\">see its calendars</a>, \
             or connect again.</p>\n",
        );
    }
    let _ = writeln!(
        body,
        "<form id=\"connect-form\" method=\"post\" action=\"/connect\">{}\
         <button id=\"connect\" type=\"submit\">Connect your calendar</button></form>",
        token.map(token_field).unwrap_or_default()
    );
    body
}

/// The page shown when Cronofy no longer accepts the user's tokens: the session has ended, so the
/// Connect form carries no form token (a visitor with no session needs none).
pub(crate) fn connect_again() -> String {
    let mut body = String::from(
        "<p id=\"connect-again\" class=\"notice error\">Cronofy no longer accepts this app's \
         access to your calendars (it was revoked, or it lapsed), so you were signed out. \
         Connect your calendar again to continue.</p>\n",
    );
    body.push_str(&home(false, None));
    body
}

/// A notice above the calendar list: what came of the last permissions request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    /// The user accepted on Cronofy's page.
    Accepted,
    /// The user rejected on Cronofy's page.
    Rejected,
    /// Granted with no user step (Enterprise Connect).
    Granted,
}

/// The calendar list, with a form to choose which calendars to elevate, under an optional
/// notice and an optional problem (`id="error"`).
pub(crate) fn calendars(
    list: &CalendarList,
    notice: Option<Notice>,
    problem: Option<&str>,
    token: &str,
) -> String {
    let mut body = String::new();
    if let Some(problem) = problem {
        let _ = writeln!(
            body,
            "<p id=\"error\" class=\"notice error\">{}</p>",
            escape(problem)
        );
    }
    if let Some(notice) = notice {
        let (class, text) = match notice {
            Notice::Accepted => (
                "accepted",
                "Accepted: the calendars you chose now have unrestricted access.",
            ),
            Notice::Rejected => (
                "rejected",
                "Rejected: nothing changed, your calendars keep their access level.",
            ),
            Notice::Granted => (
                "granted",
                "Granted: this account is linked to Enterprise Connect, so no extra step was needed.",
            ),
        };
        let _ = writeln!(
            body,
            "<p id=\"outcome\" class=\"notice {class}\" data-outcome=\"{class}\">{text}</p>"
        );
    }
    let eligible = list.needing_elevation().count();
    if eligible > 0 {
        let _ = writeln!(
            body,
            "<form id=\"elevate\" method=\"post\" action=\"/elevate\">{}",
            token_field(token)
        );
    }
    body.push_str(
        "<table id=\"calendars\">\n<thead><tr><th></th><th>Calendar</th><th>Account</th>\
         <th>Provider</th><th>Access</th></tr></thead>\n<tbody>\n",
    );
    for calendar in &list.calendars {
        calendar_row(&mut body, calendar);
    }
    body.push_str("</tbody>\n</table>\n");
    if eligible > 0 {
        body.push_str(
            "<button id=\"elevate-button\" type=\"submit\">Ask for unrestricted access</button>\n\
             </form>\n",
        );
    } else {
        body.push_str("<p>No calendar is left to ask unrestricted access for.</p>\n");
    }
    body
}

fn calendar_row(body: &mut String, calendar: &Calendar) {
    let id = escape(&calendar.calendar_id);
    let level = calendar
        .permission_level
        .as_ref()
        .map_or("unknown", |level| level.as_str());
    let checkbox = if calendar.needs_elevation() {
        format!("<input type=\"checkbox\" name=\"calendar\" value=\"{id}\" aria-label=\"choose\">")
    } else {
        String::new()
    };
    let mut name = escape(&calendar.calendar_name);
    if calendar.calendar_deleted {
        name.push_str(" (deleted)");
    } else if calendar.calendar_readonly {
        name.push_str(" (read-only)");
    }
    let _ = writeln!(
        body,
        "<tr data-calendar-id=\"{id}\"><td>{checkbox}</td><td class=\"name\">{name}</td>\
         <td class=\"profile\">{profile}</td><td class=\"provider\">{provider}</td>\
         <td class=\"level level-{level_class}\">{level}</td></tr>",
        profile = escape(calendar.profile_name.as_deref().unwrap_or("")),
        provider = escape(calendar.provider_name.as_str()),
        level_class = escape(level),
        level = escape(level),
    );
}
