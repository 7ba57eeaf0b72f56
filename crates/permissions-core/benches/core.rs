//! The core's hot paths, each beside a hand-written baseline that does the same work directly
//! with `serde_json`, `http` and `url`, measured in the same run. The goal: each path within
//! 1.5x of its baseline. Results and how to read them: `docs/benchmarks.md`.
//!
//! `cargo bench -p permissions-core` (about 30 s on 2 cores, after the build). One group per
//! path; in each, `ours` is the crate and `baseline` the hand-written equivalent.

mod common;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use permissions_core::http::{self, HeaderValue, header};
use permissions_core::transport::*;
use permissions_core::url::Url;
use permissions_core::*;
use serde::{Deserialize, Serialize};

const CALENDAR_IDS: [&str; 3] = [
    "cal_n23kjnwrw2_jsdfjksn234",
    "cal_n23kjnwrw2_n1k323nkj23",
    "cal_fe145c37de_3nkj23wejk1",
];
const REDIRECT_URI: &str = "https://app.example.com/permission?tenant=7";
const STATE: &str = "k3Jd9-xQ2mZ8pL1v";
const TOKEN: &str = "P531x88i05Ld2yXHIQ7WjiEyqlmOHsgI";
const API_BASE: &str = "https://api.cronofy.com/";

const URL_RESPONSE: &[u8] = include_bytes!("../tests/fixtures/permissions_response_url.docs.json");
const ACCEPTED_RESPONSE: &[u8] =
    include_bytes!("../tests/fixtures/sdk/ruby__elevated_permissions__response_accepted.json");
const CALENDAR_LIST: &[u8] = include_bytes!("../tests/fixtures/list_calendars_response.docs.json");
const CALLBACK: &str =
    "https://app.example.com/permission?tenant=7&state=k3Jd9-xQ2mZ8pL1v&error=access_denied";

fn response(body: &[u8]) -> HttpResponse {
    http::Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body.to_vec())
        .expect("valid")
}

fn permissions_request() -> PermissionsRequest {
    PermissionsRequest::builder()
        .calendars(CALENDAR_IDS)
        .redirect_uri(REDIRECT_URI)
        .state(STATE)
        .build()
        .expect("valid")
}

// --- The baselines' own types: what a hand-written client would declare. ---

#[derive(Serialize)]
struct PlainPermission<'a> {
    calendar_id: &'a str,
    permission_level: &'a str,
}

#[derive(Serialize)]
struct PlainRequestBody<'a> {
    permissions: Vec<PlainPermission<'a>>,
    redirect_uri: &'a str,
}

#[derive(Deserialize)]
struct PlainEnvelope {
    permissions_request: PlainOutcome,
}

#[derive(Deserialize)]
struct PlainOutcome {
    url: Option<String>,
    accepted: Option<bool>,
}

#[derive(Deserialize)]
#[allow(dead_code)] // read by serde; the benchmark only needs the value built
struct PlainCalendar {
    provider_name: String,
    profile_id: Option<String>,
    profile_name: Option<String>,
    calendar_id: String,
    calendar_name: String,
    calendar_readonly: bool,
    calendar_deleted: bool,
    calendar_primary: Option<bool>,
    calendar_integrated_conferencing_available: Option<bool>,
    calendar_attachments_available: Option<bool>,
    permission_level: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)] // read by serde; the benchmark only needs the value built
struct PlainCalendarList {
    sub: Option<String>,
    calendars: Vec<PlainCalendar>,
}

/// The baselines' reading of a permissions answer: status, JSON, and the URL parsed.
fn plain_outcome(response: HttpResponse) -> Option<Url> {
    let (parts, body) = response.into_parts();
    assert!(parts.status.is_success());
    let envelope: PlainEnvelope = serde_json::from_slice(&body).expect("JSON");
    match envelope.permissions_request {
        PlainOutcome { url: Some(url), .. } => Some(Url::parse(&url).expect("a URL")),
        PlainOutcome {
            accepted: Some(true),
            ..
        } => None,
        _ => panic!("unexpected shape"),
    }
}

fn build_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("build_request");
    let api = BaseUrl::parse(API_BASE).expect("valid");
    let token = AccessToken::new(TOKEN);
    let ctx = RequestContext::new(&api).with_access_token(&token);
    group.bench_function("ours", |b| {
        b.iter(|| {
            let request = PermissionsRequest::builder()
                .calendars(black_box(CALENDAR_IDS))
                .redirect_uri(black_box(REDIRECT_URI))
                .state(black_box(STATE))
                .build()
                .expect("valid");
            request.to_request(black_box(&ctx)).expect("valid")
        })
    });
    group.bench_function("baseline", |b| {
        b.iter(|| {
            // The same work by hand: check the ids and the redirect URI, parse it, add the
            // state, serialize the body, and build the request with the same headers.
            let ids = black_box(CALENDAR_IDS);
            for id in ids {
                assert!(
                    !id.is_empty()
                        && id.len() <= 256
                        && !id.chars().any(|c| c.is_control() || c.is_whitespace())
                );
            }
            let raw = black_box(REDIRECT_URI);
            assert!(!raw.chars().any(|c| c.is_control() || c.is_whitespace()));
            let mut redirect = Url::parse(raw).expect("valid");
            assert!(
                matches!(redirect.scheme(), "http" | "https")
                    && redirect.fragment().is_none()
                    && redirect.username().is_empty()
                    && redirect.password().is_none()
            );
            redirect
                .query_pairs_mut()
                .append_pair("state", black_box(STATE));
            let body = serde_json::to_vec(&PlainRequestBody {
                permissions: ids
                    .iter()
                    .map(|id| PlainPermission {
                        calendar_id: id,
                        permission_level: "unrestricted",
                    })
                    .collect(),
                redirect_uri: redirect.as_str(),
            })
            .expect("serializes");
            let mut authorization =
                HeaderValue::try_from(format!("Bearer {}", black_box(TOKEN))).expect("valid");
            authorization.set_sensitive(true);
            http::Request::builder()
                .method(http::Method::POST)
                .uri(format!("{}v1/permissions", black_box(API_BASE)))
                .header(header::USER_AGENT, USER_AGENT)
                .header(header::ACCEPT, "application/json")
                .header(header::AUTHORIZATION, authorization)
                .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
                .body(body)
                .expect("valid")
        })
    });
    group.finish();
}

fn parse_permissions_response(c: &mut Criterion, name: &str, body: &'static [u8]) {
    let mut group = c.benchmark_group(name);
    let request = permissions_request();
    let answer = response(body);
    // The context a client reads answers with: the data center's hosts, built once.
    let hosts = DataCenter::Us.hosts();
    let ctx = RequestContext::for_hosts(&hosts);
    group.bench_function("ours", |b| {
        b.iter_batched(
            || answer.clone(),
            |r| request.parse_response(r, &ctx).expect("valid"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("baseline", |b| {
        b.iter_batched(|| answer.clone(), plain_outcome, BatchSize::SmallInput)
    });
    group.finish();
}

fn parse_url_response(c: &mut Criterion) {
    parse_permissions_response(c, "parse_response_url", URL_RESPONSE);
}

fn parse_accepted_response(c: &mut Criterion) {
    parse_permissions_response(c, "parse_response_accepted", ACCEPTED_RESPONSE);
}

fn parse_callback(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_callback");
    let check = CallbackCheck::new(REDIRECT_URI, Some(STATE)).expect("valid");
    group.bench_function("ours", |b| {
        b.iter(|| check.parse(black_box(CALLBACK)).expect("valid"))
    });
    let expected = Url::parse(REDIRECT_URI).expect("valid");
    group.bench_function("baseline", |b| {
        b.iter(|| {
            // The same checks by hand: same scheme, host, port and path, every parameter of
            // the redirect URI kept, the state present once and equal, then `error`.
            let url = Url::parse(black_box(CALLBACK)).expect("valid");
            assert!(
                url.scheme() == expected.scheme()
                    && url.host() == expected.host()
                    && url.port_or_known_default() == expected.port_or_known_default()
                    && url.path() == expected.path()
            );
            for (name, value) in expected.query_pairs() {
                assert!(url.query_pairs().any(|(k, v)| k == name && v == value));
            }
            let (mut states, mut state_ok, mut error) = (0, false, None);
            for (name, value) in url.query_pairs() {
                match &*name {
                    "state" => {
                        states += 1;
                        state_ok = value == STATE;
                    }
                    "error" => error = Some(value),
                    _ => {}
                }
            }
            assert!(states == 1 && state_ok);
            match error.as_deref() {
                None => CallbackOutcome::Accepted,
                Some("access_denied") => CallbackOutcome::Rejected,
                Some(other) => panic!("{other}"),
            }
        })
    });
    group.finish();
}

fn parse_calendar_list(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_calendar_list");
    let answer = response(CALENDAR_LIST);
    let hosts = DataCenter::Us.hosts();
    let ctx = RequestContext::for_hosts(&hosts);
    group.bench_function("ours", |b| {
        b.iter_batched(
            || answer.clone(),
            |r| ListCalendars.parse_response(r, &ctx).expect("valid"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("baseline", |b| {
        b.iter_batched(
            || answer.clone(),
            |r| {
                let (parts, body) = r.into_parts();
                assert!(parts.status.is_success());
                serde_json::from_slice::<PlainCalendarList>(&body).expect("valid")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = build_request, parse_url_response, parse_accepted_response, parse_callback,
        parse_calendar_list
}
criterion_main!(benches);
