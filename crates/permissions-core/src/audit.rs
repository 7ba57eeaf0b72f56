//! Many accounts at once: the per-account logic of an audit (list the calendars, pick those
//! that need elevation, optionally ask for it), with no I/O. The transport crates run it over
//! many accounts (`permissions_ureq::audit`, `permissions_reqwest::audit`), and the CLI's
//! `audit` command is a shell around those.
//!
//! ```
//! use permissions_core::audit::{AccountLines, AuditPlan, AuditStep, ElevationOutcome};
//! use permissions_core::{CalendarList, PermissionsOutcome};
//!
//! let plan = AuditPlan::elevate("https://app.example.com/permission", Some("audit-")).unwrap();
//! // The input, checked in full before anything is sent.
//! let mut lines = AccountLines::new(&plan);
//! lines.push(r#"{"id":"alice","access_token":"tok-a","note":"extra keys are ignored"}"#);
//! let accounts = lines.finish().unwrap();
//! assert_eq!(accounts[0].id(), "alice");
//!
//! // What the transport does for each account: list its calendars, then follow the plan.
//! let listed = CalendarList::parse(br#"{"calendars":[{"provider_name":"google","calendar_id":"cal_1",
//!     "calendar_name":"Home","calendar_readonly":false,"calendar_deleted":false,"permission_level":"sandbox"}]}"#);
//! let AuditStep::Elevate(pending) = plan.after_listing(accounts[0].id(), listed.map_err(Into::into)) else {
//!     panic!("cal_1 needs elevation");
//! };
//! assert_eq!(pending.request().state(), Some("audit-alice"));
//! let done = pending.finish(Ok(PermissionsOutcome::Granted));
//! let report = done.result.unwrap();
//! assert_eq!(report.needing_elevation, ["cal_1"]);
//! assert_eq!(report.outcome, Some(ElevationOutcome::Granted));
//! assert_eq!(
//!     report.to_json_line(),
//!     r#"{"id":"alice","calendars":1,"unrestricted":0,"needing_elevation":["cal_1"],"outcome":"granted"}"#
//! );
//! ```

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use url::Url;

use crate::calendars::{CalendarList, CalendarPermissionLevel};
use crate::error::{BuildError, CallError};
use crate::permissions::{PermissionsOutcome, PermissionsRequest};
use crate::redirect_uri::MAX_STATE_LEN;
use crate::secret::AccessToken;

/// One account of an audit's input: the caller's label and the account's access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditAccount {
    id: String,
    access_token: AccessToken,
}

impl AuditAccount {
    /// The longest account id (the caller's label) [`AccountLines`] accepts, in bytes.
    pub const MAX_ID_LEN: usize = 256;

    /// An account, as read from a line of input (or built by a Rust caller).
    pub fn new(id: impl Into<String>, access_token: AccessToken) -> Self {
        Self {
            id: id.into(),
            access_token,
        }
    }

    /// The caller's label for the account.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The account's access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }
}

/// What an audit does with each account: list its calendars, and with
/// [`AuditPlan::elevate`] also ask for unrestricted access to those that need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditPlan {
    elevation: Option<Elevation>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Elevation {
    redirect_uri: String,
    state_prefix: Option<String>,
}

impl AuditPlan {
    /// List the calendars only; nothing is changed.
    pub fn list_only() -> Self {
        Self { elevation: None }
    }

    /// Also send one permissions request per account for the calendars that need elevation,
    /// with this redirect URI; with a prefix, the URI carries the state `{prefix}{account id}`
    /// (so the user's return names the account). The URI and prefix are checked here.
    pub fn elevate(redirect_uri: &str, state_prefix: Option<&str>) -> Result<Self, BuildError> {
        if state_prefix == Some("") {
            return Err(BuildError::Empty {
                field: "state prefix",
            });
        }
        let plan = Self {
            elevation: Some(Elevation {
                redirect_uri: redirect_uri.to_owned(),
                state_prefix: state_prefix.map(str::to_owned),
            }),
        };
        // A request with a stand-in calendar and account: it fails exactly when the URI or
        // the prefix is wrong.
        plan.request("x", ["cal_check".to_owned()])?;
        Ok(plan)
    }

    /// Whether this plan asks for elevation.
    pub fn elevates(&self) -> bool {
        self.elevation.is_some()
    }

    /// The state sent for this account, if the plan has a state prefix.
    pub fn state_for(&self, account_id: &str) -> Option<String> {
        let prefix = self.elevation.as_ref()?.state_prefix.as_deref()?;
        Some(format!("{prefix}{account_id}"))
    }

    fn request(
        &self,
        account_id: &str,
        calendars: impl IntoIterator<Item = String>,
    ) -> Result<PermissionsRequest, BuildError> {
        let Some(elevation) = &self.elevation else {
            return Err(BuildError::MissingRedirectUri);
        };
        let mut builder = PermissionsRequest::builder()
            .calendars(calendars)
            .redirect_uri(elevation.redirect_uri.clone());
        if let Some(state) = self.state_for(account_id) {
            builder = builder.state(state);
        }
        builder.build()
    }

    /// The next step after listing an account's calendars: done (listing only, a failure, or
    /// nothing to elevate), or a permissions request to send with the account's token.
    pub fn after_listing(
        &self,
        account_id: &str,
        listed: Result<CalendarList, CallError>,
    ) -> AuditStep {
        let list = match listed {
            Ok(list) => list,
            Err(error) => return AuditStep::Done(AccountAudit::failed(account_id, error)),
        };
        let mut report = AccountReport::of(account_id, &list);
        if !self.elevates() {
            return AuditStep::Done(AccountAudit::ok(report));
        }
        if report.needing_elevation.is_empty() {
            report.outcome = Some(ElevationOutcome::NoneNeeded);
            return AuditStep::Done(AccountAudit::ok(report));
        }
        match self.request(account_id, report.needing_elevation.iter().cloned()) {
            Ok(request) => AuditStep::Elevate(PendingElevation { report, request }),
            // A calendar id Cronofy sent that cannot be sent back: nothing sent for it.
            Err(error) => AuditStep::Done(AccountAudit::failed(account_id, error.into())),
        }
    }

    /// The account id of a line of an earlier run's output that needs no redoing: a JSON
    /// object with a string `id`, no `error`, and (when this plan elevates) an `outcome`.
    /// Anything else (a failure, a line cut short by a crash, a listing-only line when
    /// elevating now) is `None`, so that account is done again.
    pub fn completed_id(&self, output_line: &str) -> Option<String> {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(output_line) else {
            return None;
        };
        if map.contains_key("error") || (self.elevates() && !map.contains_key("outcome")) {
            return None;
        }
        match map.get("id") {
            Some(Value::String(id)) => Some(id.clone()),
            _ => None,
        }
    }
}

/// What to do after listing: see [`AuditPlan::after_listing`].
#[derive(Debug)]
pub enum AuditStep {
    /// The account is done.
    Done(AccountAudit),
    /// Send [`PendingElevation::request`], then [`PendingElevation::finish`] with the answer.
    Elevate(PendingElevation),
}

/// A permissions request to send for one account, and its report so far.
#[derive(Debug)]
pub struct PendingElevation {
    report: AccountReport,
    request: PermissionsRequest,
}

impl PendingElevation {
    /// The request to send with the account's access token.
    pub fn request(&self) -> &PermissionsRequest {
        &self.request
    }

    /// The account's result, given Cronofy's answer to the request.
    pub fn finish(self, answer: Result<PermissionsOutcome, CallError>) -> AccountAudit {
        let mut report = self.report;
        report.outcome = Some(match answer {
            Ok(PermissionsOutcome::Granted) => ElevationOutcome::Granted,
            Ok(PermissionsOutcome::Redirect { url }) => ElevationOutcome::Redirect { url },
            Err(error) => return AccountAudit::failed(&report.id, error),
        });
        AccountAudit::ok(report)
    }
}

/// One account's result: its report, or why it failed. [`AccountAudit::to_json_line`] is the
/// `audit` command's output line.
#[derive(Clone, Debug)]
pub struct AccountAudit {
    /// The caller's label for the account.
    pub id: String,
    /// The report, or the failure of the call that failed.
    pub result: Result<AccountReport, CallError>,
}

impl AccountAudit {
    fn ok(report: AccountReport) -> Self {
        Self {
            id: report.id.clone(),
            result: Ok(report),
        }
    }

    fn failed(id: &str, error: CallError) -> Self {
        Self {
            id: id.to_owned(),
            result: Err(error),
        }
    }

    /// One compact JSON object, no newline: the report's
    /// ([`AccountReport::to_json_line`]), or `{"id":…,"error":{"kind":…,"message":…,"status":N}}`
    /// (`status` only for an HTTP answer). Never a token: errors hold none.
    pub fn to_json_line(&self) -> String {
        match &self.result {
            Ok(report) => report.to_json_line(),
            Err(error) => {
                #[derive(Serialize)]
                struct Failure<'a> {
                    id: &'a str,
                    error: ErrorBody,
                }
                #[derive(Serialize)]
                struct ErrorBody {
                    kind: &'static str,
                    message: String,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    status: Option<u16>,
                }
                to_json(&Failure {
                    id: &self.id,
                    error: ErrorBody {
                        kind: error.kind(),
                        message: error.detailed(),
                        status: error.status().map(|s| s.as_u16()),
                    },
                })
            }
        }
    }
}

/// What an audit found for one account (and did, when elevating).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountReport {
    /// The caller's label for the account.
    pub id: String,
    /// How many calendars the account has (deleted ones included).
    pub calendars: usize,
    /// How many of them are `unrestricted`.
    pub unrestricted: usize,
    /// The calendars that need elevation ([`Calendar::needs_elevation`](crate::Calendar::needs_elevation)),
    /// as listed, before any request.
    pub needing_elevation: Vec<String>,
    /// With [`AuditPlan::elevate`]: what the permissions request came to.
    pub outcome: Option<ElevationOutcome>,
}

impl AccountReport {
    /// The report on a calendar list.
    pub fn of(account_id: &str, list: &CalendarList) -> Self {
        Self {
            id: account_id.to_owned(),
            calendars: list.calendars.len(),
            unrestricted: list
                .calendars
                .iter()
                .filter(|c| c.permission_level == Some(CalendarPermissionLevel::Unrestricted))
                .count(),
            needing_elevation: list
                .needing_elevation()
                .map(|c| c.calendar_id.clone())
                .collect(),
            outcome: None,
        }
    }

    /// One compact JSON object, no newline:
    /// `{"id":…,"calendars":N,"unrestricted":N,"needing_elevation":[…]}`, plus
    /// `"outcome":"granted"`, `"outcome":"redirect","url":…` or `"outcome":"none_needed"`.
    pub fn to_json_line(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            id: &'a str,
            calendars: usize,
            unrestricted: usize,
            needing_elevation: &'a [String],
            #[serde(skip_serializing_if = "Option::is_none")]
            outcome: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            url: Option<&'a str>,
        }
        to_json(&Line {
            id: &self.id,
            calendars: self.calendars,
            unrestricted: self.unrestricted,
            needing_elevation: &self.needing_elevation,
            outcome: self.outcome.as_ref().map(ElevationOutcome::as_str),
            url: match &self.outcome {
                Some(ElevationOutcome::Redirect { url }) => Some(url.as_str()),
                _ => None,
            },
        })
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("strings and numbers always serialize")
}

/// What an account's permissions request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElevationOutcome {
    /// Granted at once (an Enterprise Connect account).
    Granted,
    /// The user must accept at this URL.
    Redirect {
        /// Where to send the user.
        url: Url,
    },
    /// No calendar needed elevation; nothing was sent.
    NoneNeeded,
}

impl ElevationOutcome {
    /// `granted`, `redirect` or `none_needed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::Redirect { .. } => "redirect",
            Self::NoneNeeded => "none_needed",
        }
    }
}

/// Reads an audit's input, one line at a time, and checks it all: every line a JSON object
/// with a non-empty, unique string `id` (at most [`AuditAccount::MAX_ID_LEN`] bytes, no control
/// characters) and a non-empty string `access_token` (no white space or control
/// characters); other keys are ignored, blank lines skipped. Problems are collected (the
/// first [`AccountLines::MAX_PROBLEMS`]) and no message holds a token.
#[derive(Debug)]
pub struct AccountLines {
    plan: AuditPlan,
    accounts: Vec<AuditAccount>,
    first_line_of: HashMap<String, usize>,
    line: usize,
    problems: Vec<LineError>,
    more_problems: usize,
}

impl AccountLines {
    /// How many problems are kept; the rest are counted.
    pub const MAX_PROBLEMS: usize = 20;

    /// An empty input for this plan (which decides how long ids may be: the state
    /// `{prefix}{id}` must fit).
    pub fn new(plan: &AuditPlan) -> Self {
        Self {
            plan: plan.clone(),
            accounts: Vec::new(),
            first_line_of: HashMap::new(),
            line: 0,
            problems: Vec::new(),
            more_problems: 0,
        }
    }

    /// Reads the next line (without its line break; a trailing `\r` is ignored).
    pub fn push(&mut self, text: &str) {
        self.line += 1;
        if text.trim().is_empty() {
            return;
        }
        match self.check(text) {
            Ok(account) => {
                self.first_line_of.insert(account.id.clone(), self.line);
                self.accounts.push(account);
            }
            Err(problem) => self.problem(problem),
        }
    }

    /// Reads a line that could not be read as text (not UTF-8).
    pub fn push_unreadable(&mut self) {
        self.line += 1;
        self.problem(LineProblem::NotUtf8);
    }

    fn problem(&mut self, problem: LineProblem) {
        if self.problems.len() < Self::MAX_PROBLEMS {
            self.problems.push(LineError {
                line: self.line,
                problem,
            });
        } else {
            self.more_problems += 1;
        }
    }

    fn check(&self, text: &str) -> Result<AuditAccount, LineProblem> {
        // serde_json's messages may quote the input; only its position is kept.
        let value: Value =
            serde_json::from_str(text).map_err(|e| LineProblem::NotJson { column: e.column() })?;
        let Value::Object(mut map) = value else {
            return Err(LineProblem::NotAnObject);
        };
        let id = string_field(&mut map, "id")?;
        if id.len() > AuditAccount::MAX_ID_LEN {
            return Err(LineProblem::IdTooLong);
        }
        if id.chars().any(char::is_control) {
            return Err(LineProblem::IdControlCharacter);
        }
        if let Some(&first_line) = self.first_line_of.get(&id) {
            return Err(LineProblem::DuplicateId { id, first_line });
        }
        if self
            .plan
            .state_for(&id)
            .is_some_and(|state| state.len() > MAX_STATE_LEN)
        {
            return Err(LineProblem::StateTooLong);
        }
        let token = string_field(&mut map, "access_token")?;
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(LineProblem::TokenInvalidCharacter);
        }
        Ok(AuditAccount::new(id, AccessToken::new(token)))
    }

    /// The accounts in input order, or every problem found.
    pub fn finish(self) -> Result<Vec<AuditAccount>, InputErrors> {
        if self.problems.is_empty() {
            Ok(self.accounts)
        } else {
            Err(InputErrors {
                problems: self.problems,
                more: self.more_problems,
            })
        }
    }
}

fn string_field(map: &mut Map<String, Value>, field: &'static str) -> Result<String, LineProblem> {
    match map.remove(field) {
        None | Some(Value::Null) => Err(LineProblem::Missing(field)),
        Some(Value::String(s)) if s.is_empty() => Err(LineProblem::Empty(field)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(LineProblem::NotAString(field)),
    }
}

/// What is wrong with one line of an audit's input. The messages never quote the line (it
/// holds a token).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineProblem {
    /// Not valid JSON.
    #[error("not valid JSON (at column {column})")]
    NotJson {
        /// Where the JSON stopped making sense (1-based).
        column: usize,
    },
    /// Valid JSON, but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// Not UTF-8 text.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// A required key is missing (or `null`).
    #[error("`{0}` is missing")]
    Missing(&'static str),
    /// A required key is an empty string.
    #[error("`{0}` is empty")]
    Empty(&'static str),
    /// A required key is not a string.
    #[error("`{0}` is not a string")]
    NotAString(&'static str),
    /// The id is longer than [`AuditAccount::MAX_ID_LEN`].
    #[error("`id` is longer than 256 bytes")]
    IdTooLong,
    /// The id holds a control character.
    #[error("`id` contains a control character")]
    IdControlCharacter,
    /// The id was already used.
    #[error("duplicate id {id:?} (first on line {first_line})")]
    DuplicateId {
        /// The id.
        id: String,
        /// The line that used it first.
        first_line: usize,
    },
    /// The state `{prefix}{id}` would be longer than a state may be (512 bytes).
    #[error("the state prefix and `id` together are longer than 512 bytes")]
    StateTooLong,
    /// The token holds white space or control characters, which no token has.
    #[error("`access_token` contains white space or control characters")]
    TokenInvalidCharacter,
}

/// One bad line: `line N: what is wrong`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct LineError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub problem: LineProblem,
}

/// Every problem of an audit's input (the first [`AccountLines::MAX_PROBLEMS`], and how many
/// more). `Display` is one line: `line 3: …; line 7: … (and 2 more)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputErrors {
    problems: Vec<LineError>,
    more: usize,
}

impl InputErrors {
    /// The problems kept, in line order.
    pub fn problems(&self) -> &[LineError] {
        &self.problems
    }

    /// How many more problems there were.
    pub fn more(&self) -> usize {
        self.more
    }
}

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        if self.more > 0 {
            write!(f, " (and {} more)", self.more)?;
        }
        Ok(())
    }
}

impl std::error::Error for InputErrors {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendars::Calendar;
    use crate::error::ApiError;

    const SECRET: &str = "tok-s3cret-value";

    fn read(plan: &AuditPlan, input: &str) -> Result<Vec<AuditAccount>, InputErrors> {
        let mut lines = AccountLines::new(plan);
        for line in input.lines() {
            lines.push(line);
        }
        lines.finish()
    }

    fn list(calendars: &[(&str, bool, bool, Option<&str>)]) -> CalendarList {
        CalendarList {
            sub: None,
            calendars: calendars
                .iter()
                .map(|&(id, readonly, deleted, level)| Calendar {
                    provider_name: crate::ProviderName::Google,
                    profile_id: None,
                    profile_name: None,
                    calendar_id: id.to_owned(),
                    calendar_name: id.to_owned(),
                    calendar_readonly: readonly,
                    calendar_deleted: deleted,
                    calendar_primary: None,
                    calendar_integrated_conferencing_available: None,
                    calendar_attachments_available: None,
                    permission_level: level.map(CalendarPermissionLevel::parse),
                })
                .collect(),
        }
    }

    #[test]
    fn good_input_keeps_order_and_ignores_extra_keys_and_blank_lines() {
        let input = format!(
            "{{\"id\":\"a\",\"access_token\":\"{SECRET}\",\"x\":[1]}}\n\n  \r\n{{\"access_token\":\"t2\",\"id\":\"b\"}}\r\n"
        );
        let accounts = read(&AuditPlan::list_only(), &input).unwrap();
        let ids: Vec<_> = accounts.iter().map(AuditAccount::id).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(accounts[0].access_token().secret(), SECRET);
        assert!(!format!("{accounts:?}").contains(SECRET));
    }

    #[test]
    fn every_bad_line_is_named_and_no_token_is_quoted() {
        let long_id = "i".repeat(AuditAccount::MAX_ID_LEN + 1);
        let input = [
            format!("{{\"id\":\"a\",\"access_token\":\"{SECRET}\"}}"),
            format!("{{\"id\":\"a\",\"access_token\":\"{SECRET}\"}}"),
            format!("[\"{SECRET}\"]"),
            format!("{{\"id\":\"c\",\"access_token\":\"{SECRET}"),
            "{\"id\":\"d\"}".to_owned(),
            format!("{{\"id\":\"\",\"access_token\":\"{SECRET}\"}}"),
            format!("{{\"id\":7,\"access_token\":\"{SECRET}\"}}"),
            "{\"id\":\"e\",\"access_token\":\"\"}".to_owned(),
            "{\"id\":\"f\",\"access_token\":12345678}".to_owned(),
            format!("{{\"id\":\"{long_id}\",\"access_token\":\"{SECRET}\"}}"),
            format!("{{\"id\":\"g\\n\",\"access_token\":\"{SECRET}\"}}"),
            format!("{{\"id\":\"h\",\"access_token\":\"{SECRET} x\"}}"),
            format!("\"{SECRET}\""),
        ]
        .join("\n");
        let errors = read(&AuditPlan::list_only(), &input).unwrap_err();
        let shown = errors.to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
        let lines: Vec<String> = errors.problems().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            lines,
            [
                "line 2: duplicate id \"a\" (first on line 1)",
                "line 3: not a JSON object",
                "line 4: not valid JSON (at column 42)",
                "line 5: `access_token` is missing",
                "line 6: `id` is empty",
                "line 7: `id` is not a string",
                "line 8: `access_token` is empty",
                "line 9: `access_token` is not a string",
                "line 10: `id` is longer than 256 bytes",
                "line 11: `id` contains a control character",
                "line 12: `access_token` contains white space or control characters",
                "line 13: not a JSON object",
            ]
        );
    }

    #[test]
    fn problems_are_capped_and_counted() {
        let input = "x\n".repeat(AccountLines::MAX_PROBLEMS + 3);
        let errors = read(&AuditPlan::list_only(), &input).unwrap_err();
        assert_eq!(errors.problems().len(), AccountLines::MAX_PROBLEMS);
        assert_eq!(errors.more(), 3);
        assert!(errors.to_string().ends_with(" (and 3 more)"));
        let mut lines = AccountLines::new(&AuditPlan::list_only());
        lines.push_unreadable();
        assert_eq!(
            lines.finish().unwrap_err().to_string(),
            "line 1: not UTF-8 text"
        );
    }

    #[test]
    fn the_plan_checks_uri_prefix_and_state_length() {
        assert!(AuditPlan::elevate("https://app.example.com/p", None).is_ok());
        assert_eq!(
            AuditPlan::elevate("ftp://x", None),
            Err(BuildError::RedirectUri(crate::error::UriProblem::Scheme))
        );
        assert!(AuditPlan::elevate("https://a.example.com/p", Some("")).is_err());
        let prefix = "p".repeat(400);
        let plan = AuditPlan::elevate("https://a.example.com/p", Some(&prefix)).unwrap();
        let input = format!("{{\"id\":\"{}\",\"access_token\":\"t\"}}", "i".repeat(200));
        assert_eq!(
            read(&plan, &input).unwrap_err().problems()[0].problem,
            LineProblem::StateTooLong
        );
        assert!(read(&AuditPlan::list_only(), &input).is_ok());
    }

    #[test]
    fn one_rule_writable_not_deleted_not_unrestricted() {
        let listed = list(&[
            ("cal_sandbox", false, false, Some("sandbox")),
            ("cal_readonly", true, false, Some("sandbox")),
            ("cal_deleted", false, true, Some("sandbox")),
            ("cal_done", false, false, Some("unrestricted")),
            ("cal_unknown_level", false, false, None),
        ]);
        let report = AccountReport::of("a", &listed);
        assert_eq!(
            report.needing_elevation,
            ["cal_sandbox", "cal_unknown_level"]
        );
        assert_eq!((report.calendars, report.unrestricted), (5, 1));
    }

    #[test]
    fn listing_only_never_asks() {
        let plan = AuditPlan::list_only();
        let step = plan.after_listing("a", Ok(list(&[("c1", false, false, Some("sandbox"))])));
        let AuditStep::Done(done) = step else {
            panic!("{step:?}")
        };
        assert_eq!(
            done.to_json_line(),
            r#"{"id":"a","calendars":1,"unrestricted":0,"needing_elevation":["c1"]}"#
        );
    }

    #[test]
    fn elevation_outcomes() {
        let plan = AuditPlan::elevate("https://app.example.com/back", Some("run1-")).unwrap();
        // Nothing to ask: none_needed, nothing sent.
        let step = plan.after_listing("a", Ok(list(&[("c1", false, false, Some("unrestricted"))])));
        let AuditStep::Done(done) = step else {
            panic!("{step:?}")
        };
        assert_eq!(
            done.to_json_line(),
            r#"{"id":"a","calendars":1,"unrestricted":1,"needing_elevation":[],"outcome":"none_needed"}"#
        );
        // A request for the ones that need it, with the account's state.
        let listed = list(&[
            ("c1", false, false, Some("sandbox")),
            ("c2", true, false, Some("sandbox")),
        ]);
        let AuditStep::Elevate(pending) = plan.after_listing("b c", Ok(listed.clone())) else {
            panic!()
        };
        assert_eq!(pending.request().permissions().len(), 1);
        assert_eq!(pending.request().state(), Some("run1-b c"));
        assert_eq!(
            pending.request().redirect_uri().as_str(),
            "https://app.example.com/back?state=run1-b+c"
        );
        let url = Url::parse("https://app.cronofy.com/permissions/x").unwrap();
        let done = pending.finish(Ok(PermissionsOutcome::Redirect { url }));
        assert_eq!(
            done.to_json_line(),
            r#"{"id":"b c","calendars":2,"unrestricted":0,"needing_elevation":["c1"],"outcome":"redirect","url":"https://app.cronofy.com/permissions/x"}"#
        );
        // A failed request fails the account.
        let AuditStep::Elevate(pending) = plan.after_listing("d", Ok(listed)) else {
            panic!()
        };
        let done = pending.finish(Err(ApiError::Forbidden.into()));
        let expected = format!(
            r#"{{"id":"d","error":{{"kind":"forbidden","message":"{}","status":403}}}}"#,
            ApiError::Forbidden
        );
        assert_eq!(done.to_json_line(), expected);
    }

    #[test]
    fn a_failed_listing_and_an_unsendable_calendar_id_fail_the_account() {
        let plan = AuditPlan::elevate("https://app.example.com/back", None).unwrap();
        let AuditStep::Done(done) = plan.after_listing("a", Err(CallError::Timeout)) else {
            panic!()
        };
        assert_eq!(
            done.to_json_line(),
            r#"{"id":"a","error":{"kind":"timeout","message":"timed out: no complete answer within the timeout"}}"#
        );
        let AuditStep::Done(done) =
            plan.after_listing("b", Ok(list(&[("bad id", false, false, None)])))
        else {
            panic!()
        };
        assert_eq!(done.result.unwrap_err().kind(), "invalid_input");
    }

    #[test]
    fn completed_lines_for_resume() {
        let list_only = AuditPlan::list_only();
        let elevate = AuditPlan::elevate("https://app.example.com/back", None).unwrap();
        let listed = r#"{"id":"a","calendars":1,"unrestricted":0,"needing_elevation":["c"]}"#;
        let elevated = r#"{"id":"b","calendars":1,"unrestricted":0,"needing_elevation":["c"],"outcome":"granted"}"#;
        let failed = r#"{"id":"c","error":{"kind":"timeout","message":"m"}}"#;
        assert_eq!(list_only.completed_id(listed).as_deref(), Some("a"));
        assert_eq!(list_only.completed_id(elevated).as_deref(), Some("b"));
        assert_eq!(elevate.completed_id(listed), None);
        assert_eq!(elevate.completed_id(elevated).as_deref(), Some("b"));
        for line in [failed, "", "{\"id\":\"a\",\"calend", "[1]", "{\"id\":5}"] {
            assert_eq!(list_only.completed_id(line), None, "{line}");
        }
    }
}
