//! `serve-fake`: a local Cronofy for trying the other commands, until the process is stopped.

use std::io::Write;

use permissions_fake::{FakeConfig, FakeCronofy, LoggedRequest};
use serde::Serialize;

use crate::Exit;
use crate::args::ServeFakeArgs;
use crate::commands::Outcome;
use crate::redact;
use crate::report::{CliError, Output};

/// The first line: where the fake listens and its ready credentials. They are a local test
/// server's and grant nothing anywhere else, so they are printed in full.
#[derive(Debug, Serialize)]
pub(crate) struct ReadyLine<'a> {
    api_url: &'a str,
    app_url: &'a str,
    access_token: &'a str,
    refresh_token: &'a str,
    enterprise_access_token: &'a str,
    client_id: &'a str,
    client_secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_url: Option<&'a str>,
}

pub(crate) fn ready_line(fake: &FakeCronofy) -> ReadyLine<'_> {
    let seed = fake.seed();
    ReadyLine {
        api_url: fake.api_url(),
        app_url: fake.app_url(),
        access_token: &seed.access_token,
        refresh_token: &seed.refresh_token,
        enterprise_access_token: &seed.enterprise_access_token,
        client_id: &seed.client_id,
        client_secret: &seed.client_secret,
        admin_url: fake.admin_url(),
    }
}

/// One line per request served: host, method, path, and the query with secret values
/// redacted. Headers and bodies are never shown.
#[derive(Debug, Serialize)]
pub(crate) struct RequestLine<'a> {
    host: &'static str,
    method: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<String>,
}

pub(crate) fn request_line(request: &LoggedRequest) -> RequestLine<'_> {
    let query = request.query.as_ref().map(|query| {
        let shown = redact::url(&format!("http://h/?{query}"));
        shown
            .split_once('?')
            .map_or_else(String::new, |(_, q)| q.to_owned())
    });
    RequestLine {
        host: request.host.as_str(),
        method: &request.method,
        path: &request.path,
        query,
    }
}

/// Runs the fake until the process is interrupted. The first line goes to `output`; the
/// request lines, written from the fake's thread, go to this process's stdout.
pub(crate) fn serve(args: &ServeFakeArgs, output: &mut Output<'_>) -> Outcome {
    let mut config = FakeConfig::default().on_request(|request| {
        let mut stdout = std::io::stdout().lock();
        // A closed stdout must not stop the server: the line is lost, the request is served.
        if serde_json::to_writer(&mut stdout, &request_line(request)).is_ok() {
            let _ = stdout.write_all(b"\n");
        }
        let _ = stdout.flush();
    });
    if let Some(port) = args.port {
        // The parser keeps `port` below 65535, so the app port fits.
        config = config.api_port(port).app_port(port + 1);
    }
    if args.admin {
        config = config.admin(true);
    }
    let fake = FakeCronofy::start_blocking_with(config).map_err(|e| CliError {
        kind: "transport",
        message: format!("serve-fake: could not start the local Cronofy: {e}"),
        status: None,
        fields: None,
        exit: Exit::Failure,
    })?;
    output
        .json(&ready_line(&fake))
        .map_err(|e| CliError::output("serve-fake: writing the output", &e))?;
    if !output.json {
        let _ = writeln!(
            output.err,
            "Local Cronofy running: API {} and app {}. Stop with Ctrl-C.",
            fake.api_url(),
            fake.app_url()
        );
    }
    // Serve until the process is stopped (Ctrl-C or a signal ends it; the OS frees the ports).
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_redact_secret_query_values() {
        let request = sample();
        let line = serde_json::to_string(&request_line(&request)).unwrap();
        assert!(!line.contains("c0de-s3cret"), "{line}");
        assert!(
            line.contains(r#""query":"code=[redacted]&state=abc""#),
            "{line}"
        );
        assert_eq!(
            line,
            r#"{"host":"app","method":"GET","path":"/cb","query":"code=[redacted]&state=abc"}"#
        );
    }

    fn sample() -> LoggedRequest {
        // LoggedRequest is non-exhaustive: get a real one from a live fake.
        let fake = FakeCronofy::start_blocking().unwrap();
        let address = fake.app_url().trim_start_matches("http://").to_owned();
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "GET /cb?code=c0de-s3cret&state=abc HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        fake.requests().pop().unwrap()
    }
}
