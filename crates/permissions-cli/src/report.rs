//! What a command reports: its error type, the exit code each failure maps to, and the two
//! output modes. Results go to stdout; an error goes to stderr, as one line of text or, with
//! `--json`, as one JSON document, and then nothing is on stdout.

use std::io::{self, Write};

use permissions_core::error::{ApiError, BuildError, CallbackError, FieldErrors};
use serde::Serialize;

use crate::Exit;

/// The kind of [`CliError::output`] for a closed stdout: never printed.
const STDOUT_CLOSED: &str = "stdout_closed";

/// A failed command: what `--json` prints as `{"error":{…}}`, and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CliError {
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    pub(crate) status: Option<u16>,
    pub(crate) fields: Option<FieldErrors>,
    pub(crate) exit: Exit,
}

impl CliError {
    /// The same error with every occurrence of each secret (4 characters or more) in its
    /// message and field errors replaced by `[redacted]`.
    pub(crate) fn redacted(mut self, secrets: &[String]) -> Self {
        let scrub = |text: &mut String| {
            for secret in secrets.iter().filter(|s| s.len() >= 4) {
                if text.contains(secret.as_str()) {
                    *text = text.replace(secret.as_str(), "[redacted]");
                }
            }
        };
        scrub(&mut self.message);
        if let Some(fields) = self.fields.take() {
            self.fields = Some(
                fields
                    .into_iter()
                    .map(|(mut name, mut errors)| {
                        scrub(&mut name);
                        for e in &mut errors {
                            scrub(&mut e.key);
                            scrub(&mut e.description);
                        }
                        (name, errors)
                    })
                    .collect(),
            );
        }
        self
    }

    /// Bad input: nothing was sent.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: "invalid_input",
            message: message.into(),
            status: None,
            fields: None,
            exit: Exit::InvalidInput,
        }
    }

    /// A write to stdout failed. A closed stdout (its reader has gone, as in `… | head -1`)
    /// is no failure: the program ends quietly with exit 0, as Unix tools do. Any other write
    /// failure is a `transport` failure (exit 3).
    pub(crate) fn output(context: &str, err: &io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            return Self {
                kind: STDOUT_CLOSED,
                message: String::new(),
                status: None,
                fields: None,
                exit: Exit::Success,
            };
        }
        Self {
            kind: "transport",
            message: one_line(&format!("{context}: {err}")),
            status: None,
            fields: None,
            exit: Exit::Failure,
        }
    }

    /// Whether this is a closed stdout: nothing to report, and nowhere to report it.
    pub(crate) fn is_stdout_closed(&self) -> bool {
        self.kind == STDOUT_CLOSED
    }

    /// Input that failed the core's validation.
    pub(crate) fn build(context: &str, err: &BuildError) -> Self {
        Self::invalid(format!("{context}: {err}"))
    }

    /// A failure from the HTTP client, prefixed with what was being done.
    pub(crate) fn client(context: &str, err: &permissions_ureq::Error) -> Self {
        let kind = err.kind();
        // The causes say why a connection failed ("connection refused"); the transport
        // contract keeps URLs, headers and bodies out of them.
        let message = format!("{context}: {}", err.detailed());
        let fields = match err {
            permissions_ureq::Error::Api(ApiError::Unprocessable { errors }) => {
                Some(errors.clone())
            }
            _ => None,
        };
        Self {
            kind,
            message: one_line(&message),
            status: err.status().map(|s| s.as_u16()),
            fields,
            exit: exit_for_kind(kind),
        }
    }

    /// A callback URL that was not accepted.
    pub(crate) fn callback(err: &CallbackError) -> Self {
        let kind = err.kind();
        Self {
            kind,
            message: one_line(&format!("callback: {err}")),
            status: None,
            fields: None,
            exit: exit_for_kind(kind),
        }
    }

    /// The `{"error":{…}}` document.
    pub(crate) fn to_json(&self) -> ErrorDoc<'_> {
        ErrorDoc {
            error: ErrorBody {
                kind: self.kind,
                message: &self.message,
                status: self.status,
                fields: self.fields.as_ref(),
            },
        }
    }
}

/// `{"error":{"kind":…,"message":…,"status":…,"fields":…}}`, keys in this order.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorDoc<'a> {
    error: ErrorBody<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    kind: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a FieldErrors>,
}

/// The exit code of an error kind: the contract of the README's table.
pub(crate) fn exit_for_kind(kind: &str) -> Exit {
    match kind {
        "invalid_input" | "redirect_mismatch" | "state_mismatch" => Exit::InvalidInput,
        "decode" | "too_large" | "timeout" | "transport" => Exit::Failure,
        // Every HTTP status family and a callback `error`: Cronofy or the user said no.
        _ => Exit::Refused,
    }
}

/// Where a command writes, and in which mode.
pub(crate) struct Output<'a> {
    pub(crate) out: &'a mut dyn Write,
    pub(crate) err: &'a mut dyn Write,
    pub(crate) json: bool,
}

impl std::fmt::Debug for Output<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output").field("json", &self.json).finish()
    }
}

impl Output<'_> {
    /// One compact JSON document and a newline on stdout.
    pub(crate) fn json<T: Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer(&mut *self.out, value)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// Reports a failure on stderr: one compact `{"error":…}` document and a newline with
    /// `--json`, one `error: …` line otherwise. Stdout is left alone, so that a script reading
    /// it never takes an error for data.
    pub(crate) fn error(&mut self, error: &CliError) -> io::Result<()> {
        if self.json {
            serde_json::to_writer(&mut *self.err, &error.to_json())?;
            self.err.write_all(b"\n")?;
        } else {
            writeln!(self.err, "error: {}", error.message)?;
        }
        self.err.flush()
    }
}

/// Replaces line breaks, tabs and other control characters (including the escape that starts
/// a terminal sequence) with spaces, so that text from the network prints as one harmless line.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Shortens `text` to at most `max` characters, marking the cut with `…`.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

/// A plain text table: a header row, then the rows, columns padded to their widest cell.
/// Cells are made single-line first (calendar names come from the network).
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| one_line(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut row = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                row.push_str("  ");
            }
            row.push_str(cell);
            if i + 1 < widths.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                row.extend(std::iter::repeat_n(' ', pad));
            }
        }
        text.push_str(row.trim_end());
        text.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in &rows {
        line(&mut row.iter().map(String::as_str));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_documented_exit_codes() {
        for kind in ["invalid_input", "redirect_mismatch", "state_mismatch"] {
            assert_eq!(exit_for_kind(kind), Exit::InvalidInput, "{kind}");
        }
        for kind in ["decode", "too_large", "timeout", "transport"] {
            assert_eq!(exit_for_kind(kind), Exit::Failure, "{kind}");
        }
        for kind in [
            "bad_request",
            "unauthorized",
            "payment_required",
            "forbidden",
            "not_found",
            "unprocessable",
            "locked",
            "rate_limited",
            "server",
            "unexpected_status",
            "callback_error",
        ] {
            assert_eq!(exit_for_kind(kind), Exit::Refused, "{kind}");
        }
    }

    #[test]
    fn callback_errors_keep_their_kind() {
        let e = CliError::callback(&CallbackError::StateMismatch);
        assert_eq!((e.kind, e.exit), ("state_mismatch", Exit::InvalidInput));
        let e = CliError::callback(&CallbackError::Error {
            code: "server_error".into(),
            description: Some("line\nbreak\u{1b}[31m".into()),
        });
        assert_eq!((e.kind, e.exit), ("callback_error", Exit::Refused));
        assert!(!e.message.contains('\n') && !e.message.contains('\u{1b}'));
    }

    #[test]
    fn error_json_shape() {
        let mut fields = FieldErrors::new();
        fields.insert(
            "permissions".into(),
            vec![permissions_core::error::FieldError {
                key: "errors.required".into(),
                description: "required".into(),
            }],
        );
        let e = CliError {
            kind: "unprocessable",
            message: "m".into(),
            status: Some(422),
            fields: Some(fields),
            exit: Exit::Refused,
        };
        assert_eq!(
            serde_json::to_string(&e.to_json()).unwrap(),
            r#"{"error":{"kind":"unprocessable","message":"m","status":422,"fields":{"permissions":[{"key":"errors.required","description":"required"}]}}}"#
        );
        assert_eq!(
            serde_json::to_string(&CliError::invalid("x").to_json()).unwrap(),
            r#"{"error":{"kind":"invalid_input","message":"x"}}"#
        );
    }

    #[test]
    fn table_pads_and_cleans_cells() {
        let text = table(
            &["ID", "NAME", "X"],
            &[
                vec!["cal_1".into(), "Home".into(), "a".into()],
                vec!["c".into(), "Evil\u{1b}[2J\nname".into(), "b".into()],
            ],
        );
        assert_eq!(
            text,
            "ID     NAME           X\ncal_1  Home           a\nc      Evil [2J name  b\n"
        );
    }

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
