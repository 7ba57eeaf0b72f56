//! Every body in `tests/fixtures/` (from Cronofy's docs and from the test suites of its own
//! SDKs, see `tests/fixtures/sdk/INDEX.md`) through the parser it belongs to, with the status
//! it was served with, asserting on specific values; and every request body our inputs can
//! produce, compared with ours.

use std::collections::BTreeSet;

use permissions_core::error::*;
use permissions_core::transport::*;
use permissions_core::*;
use serde_json::{Value, json};

use crate::response;

/// The bytes of a fixture, by its path under `tests/fixtures/`.
macro_rules! fixture {
    ($name:literal) => {
        &include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/",
            $name
        ))[..]
    };
}

/// Every fixture a test below reads. `every_fixture_is_covered` fails when a file is added
/// to the folder without a test.
const COVERED: &[&str] = &[
    "list_calendars_response.docs.json",
    "permissions_request.docs.json",
    "permissions_response_url.docs.json",
    "token_response.docs.json",
    "sdk/csharp__elevated_permissions__request.json",
    "sdk/csharp__elevated_permissions__response_url.json",
    "sdk/csharp__error_422_event_uid.json",
    "sdk/csharp__list_calendars__response.json",
    "sdk/csharp__token__error_400_invalid_grant.json",
    "sdk/csharp__token_from_code__request.json",
    "sdk/csharp__token_from_code__response.json",
    "sdk/csharp__token_from_code__response_linking_profile.json",
    "sdk/csharp__token_refresh__request.json",
    "sdk/node__batch__response_207_with_422.json",
    "sdk/node__error_401_body.json",
    "sdk/node__token_refresh__error_400_invalid_grant.json",
    "sdk/node__token_refresh__request.json",
    "sdk/node__token_refresh__response.json",
    "sdk/php__batch__entry_422.json",
    "sdk/php__error_422_delegated_authorizations.json",
    "sdk/php__error_422_required.json",
    "sdk/php__token_from_code__request.json",
    "sdk/php__token_from_code__response.json",
    "sdk/pycronofy__create_calendar__response.json",
    "sdk/pycronofy__elevated_permissions__request.json",
    "sdk/pycronofy__elevated_permissions__response_url.json",
    "sdk/pycronofy__error_422_duplicate_calendar_name.json",
    "sdk/pycronofy__list_calendars__response.json",
    "sdk/pycronofy__token_from_code__response.json",
    "sdk/pycronofy__token_refresh__response.json",
    "sdk/pycronofy__userinfo_custom_dc__response.json",
    "sdk/ruby__elevated_permissions__request.json",
    "sdk/ruby__elevated_permissions__response_accepted.json",
    "sdk/ruby__elevated_permissions__response_url.json",
    "sdk/ruby__error_422_required.json",
    "sdk/ruby__list_calendars__response.json",
    "sdk/ruby__revoke__request_form.json",
    "sdk/ruby__token_from_code__request_form.json",
    "sdk/ruby__token_from_code__response.json",
    "sdk/ruby__token_refresh__request_form.json",
];

#[test]
fn every_fixture_is_covered() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut found = BTreeSet::new();
    for dir in ["", "sdk/"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("fixtures folder") {
            let name = entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("UTF-8 name");
            if name.ends_with(".json") {
                found.insert(format!("{dir}{name}"));
            }
        }
    }
    let covered: BTreeSet<String> = COVERED.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(found, covered);
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("fixtures are JSON")
}

fn credentials(id: &str, secret: &str) -> ClientCredentials {
    ClientCredentials::new(id, ClientSecret::new(secret))
}

fn permissions_request(ids: &[&str], redirect_uri: &str) -> PermissionsRequest {
    PermissionsRequest::builder()
        .calendars(ids.iter().copied())
        .redirect_uri(redirect_uri)
        .build()
        .expect("valid")
}

fn api() -> BaseUrl {
    DataCenter::Us.hosts().api().clone()
}

// --- Step 4: the permissions request body. ---

#[test]
fn permissions_request_matches_the_dotnet_sdk_byte_for_byte() {
    let ours = permissions_request(&["cal_102324034530"], "http://example.local/redirect").body();
    for fixture in [
        fixture!("sdk/csharp__elevated_permissions__request.json"),
        fixture!("sdk/csharp__elevated_permissions__request.json"),
    ] {
        assert_eq!(
            String::from_utf8(ours.clone()).expect("UTF-8"),
            std::str::from_utf8(fixture).expect("UTF-8").trim_end()
        );
    }
}

#[test]
fn permissions_request_matches_the_docs_as_json() {
    let request = permissions_request(
        &["cal_n23kjnwrw2_jsdfjksn234"],
        "http://www.example.com/permission",
    );
    assert_eq!(
        json_of(&request.body()),
        json_of(fixture!("permissions_request.docs.json"))
    );
    // And on the wire, as the docs show it.
    let token = AccessToken::new("ACCESS_TOKEN");
    let api = api();
    let http = request
        .to_request(&RequestContext::new(&api).with_access_token(&token))
        .expect("valid");
    assert_eq!(http.method(), http::Method::POST);
    assert_eq!(http.uri(), "https://api.cronofy.com/v1/permissions");
    assert_eq!(
        http.headers()[http::header::AUTHORIZATION],
        "Bearer ACCESS_TOKEN"
    );
    assert_eq!(
        http.headers()[http::header::CONTENT_TYPE],
        "application/json; charset=utf-8"
    );
}

#[test]
fn permissions_requests_of_other_sdks_as_far_as_our_inputs_reach() {
    // The Ruby SDK's test asks for `sandbox` on the second calendar, a level the docs do not
    // offer and `PermissionLevel` cannot express: ours asks `unrestricted` for both.
    let ruby = json_of(fixture!("sdk/ruby__elevated_permissions__request.json"));
    assert_eq!(ruby["permissions"][1]["permission_level"], "sandbox");
    let mut expected = ruby.clone();
    expected["permissions"][1]["permission_level"] = json!("unrestricted");
    let ours = permissions_request(
        &["cal_1234567", "cal_1234453"],
        "http://www.example.com/redirect",
    );
    assert_eq!(json_of(&ours.body()), expected);

    // pycronofy's test sends `permissions` as one object, not the documented array, and a
    // redirect_uri with an empty path, which URL parsing writes with its `/`.
    let py = json_of(fixture!(
        "sdk/pycronofy__elevated_permissions__request.json"
    ));
    assert!(py["permissions"].is_object());
    let ours = json_of(&permissions_request(&["cal_123"], "http://www.example.com").body());
    assert_eq!(ours["permissions"], json!([py["permissions"]]));
    assert_eq!(ours["redirect_uri"], "http://www.example.com/");
}

// --- Step 5: the permissions answer. ---

fn permissions_outcome(status: u16, body: &[u8]) -> Result<PermissionsOutcome, ResponseError> {
    permissions_request(&["cal_1"], "https://app.example.com/cb").parse_response(
        response(
            status,
            &[("content-type", "application/json; charset=utf-8")],
            body,
        ),
        &crate::us(),
    )
}

#[test]
fn permissions_answers_with_a_url() {
    let cases: [(u16, &[u8], &str); 5] = [
        (
            200,
            fixture!("permissions_response_url.docs.json"),
            "https://app.cronofy.com/permissions",
        ),
        (
            202,
            fixture!("sdk/ruby__elevated_permissions__response_url.json"),
            "http://app.cronofy.com/permissions/",
        ),
        (
            202,
            fixture!("sdk/ruby__elevated_permissions__response_url.json"),
            "http://app.cronofy.com/permissions/",
        ),
        (
            200,
            fixture!("sdk/pycronofy__elevated_permissions__response_url.json"),
            "http://app.cronofy.com/permissions/",
        ),
        (
            200,
            fixture!("sdk/csharp__elevated_permissions__response_url.json"),
            "http://example.local/response",
        ),
    ];
    for (status, body, url) in cases {
        // The SDKs' test stubs use plain http off loopback (and a host that is not Cronofy's):
        // read as they are, but never handed to a browser: refused, nothing is upgraded.
        if url.starts_with("http:") {
            assert!(
                matches!(
                    permissions_outcome(status, body),
                    Err(ResponseError::Decode(_))
                ),
                "{url}"
            );
            assert!(PermissionsRequest::parse_outcome(body).is_err(), "{url}");
            continue;
        }
        match permissions_outcome(status, body) {
            Ok(PermissionsOutcome::Redirect { url: got }) => assert_eq!(got.as_str(), url),
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[test]
fn permissions_answers_granted_at_once() {
    for body in [
        fixture!("sdk/ruby__elevated_permissions__response_accepted.json"),
        fixture!("sdk/ruby__elevated_permissions__response_accepted.json"),
    ] {
        assert_eq!(
            permissions_outcome(202, body),
            Ok(PermissionsOutcome::Granted)
        );
        assert_eq!(
            permissions_outcome(200, body),
            Ok(PermissionsOutcome::Granted)
        );
    }
}

#[test]
fn a_batch_answer_is_not_a_permissions_answer() {
    // A 207 is a success status, but its body does not have the permissions shape.
    let err = permissions_outcome(207, fixture!("sdk/node__batch__response_207_with_422.json"))
        .expect_err("not the permissions shape");
    let ResponseError::Decode(decode) = err else {
        panic!("{err:?}")
    };
    assert_eq!(decode.kind, DecodeErrorKind::Shape);
    assert_eq!(decode.context, "permissions response");
    // Its failed entry carries a 422 body of the usual shape.
    let batch = json_of(fixture!("sdk/node__batch__response_207_with_422.json"));
    let entry = serde_json::to_vec(&batch["batch"][1]["data"]).expect("serializes");
    let err = permissions_outcome(422, &entry).expect_err("422");
    assert_field_error(
        &err,
        "summary",
        "errors.required",
        "summary must be specified",
    );
}

// --- Errors. ---

/// Asserts `err` is a 422 whose only field error is `field: [{key, description}]`.
fn assert_field_error(err: &ResponseError, field: &str, key: &str, description: &str) {
    let ResponseError::Api(ApiError::Unprocessable { errors }) = err else {
        panic!("not a 422: {err:?}")
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[field],
        vec![FieldError {
            key: key.to_owned(),
            description: description.to_owned()
        }]
    );
    assert_eq!(
        err.to_string(),
        format!("unprocessable (422): {field}: {description} ({key})")
    );
}

#[test]
fn unprocessable_bodies_keep_every_field_error() {
    let cases: [(&[u8], &str, &str, &str); 7] = [
        (
            fixture!("sdk/ruby__error_422_required.json"),
            "event_id",
            "errors.required",
            "required",
        ),
        (
            fixture!("sdk/ruby__error_422_required.json"),
            "event_id",
            "errors.required",
            "required",
        ),
        (
            fixture!("sdk/php__error_422_required.json"),
            "event_id",
            "errors.required",
            "required",
        ),
        (
            fixture!("sdk/php__error_422_delegated_authorizations.json"),
            "email",
            "errors.required",
            "required",
        ),
        (
            fixture!("sdk/php__batch__entry_422.json"),
            "start",
            "errors.required",
            "start must be specified",
        ),
        (
            fixture!("sdk/csharp__error_422_event_uid.json"),
            "event_uid",
            "errors.must_be_external_event_uid",
            "event uid must be a valid external event uid",
        ),
        (
            fixture!("sdk/pycronofy__error_422_duplicate_calendar_name.json"),
            "name",
            "errors.duplicate_calendar_name",
            "A calendar with this name already exists and the provider does not allow duplicates",
        ),
    ];
    for (body, field, key, description) in cases {
        // Through a permissions request and a calendar list, and with pycronofy's malformed
        // content type (`charset utf-8`, no `=`): the content type is not needed.
        let err = permissions_outcome(422, body).expect_err("422");
        assert_field_error(&err, field, key, description);
        let response = response(
            422,
            &[("content-type", "application/json; charset utf-8")],
            body,
        );
        let err = ListCalendars
            .parse_response(response, &crate::us())
            .expect_err("422");
        assert_field_error(&err, field, key, description);
    }
}

#[test]
fn a_401_whose_body_is_not_an_error_object_is_unauthorized() {
    let body = fixture!("sdk/node__error_401_body.json");
    assert_eq!(
        permissions_outcome(401, body),
        Err(ResponseError::Api(ApiError::Unauthorized))
    );
    let err = ListCalendars
        .parse_response(response(401, &[], body), &crate::us())
        .expect_err("401");
    assert_eq!(err, ResponseError::Api(ApiError::Unauthorized));
    assert!(!err.to_string().contains("Example Authentication Error"));
}

#[test]
fn invalid_grant_from_either_token_call() {
    let expected = ResponseError::Api(ApiError::BadRequest {
        code: OAuthErrorCode::InvalidGrant,
        description: None,
    });
    let exchange = ExchangeCode::new(
        credentials("cid", "cs"),
        AuthorizationCode::new("code"),
        "https://a.example.com/cb",
    );
    let refresh = RefreshAccessToken::new(credentials("cid", "cs"), RefreshToken::new("r"));
    for body in [
        fixture!("sdk/csharp__token__error_400_invalid_grant.json"),
        fixture!("sdk/node__token_refresh__error_400_invalid_grant.json"),
    ] {
        assert_eq!(
            exchange.parse_response(response(400, &[], body), &crate::us()),
            Err(expected.clone())
        );
        let err = refresh
            .parse_response(response(400, &[], body), &crate::us())
            .expect_err("400");
        assert_eq!(err, expected);
        assert_eq!(err.to_string(), "bad request (400): invalid_grant");
    }
}

// --- Step 3: calendar lists. ---

fn calendars(body: &[u8]) -> CalendarList {
    ListCalendars
        .parse_response(response(200, &[], body), &crate::us())
        .expect("a calendar list")
}

fn ids<'a>(calendars: impl Iterator<Item = &'a Calendar>) -> Vec<&'a str> {
    calendars.map(|c| c.calendar_id.as_str()).collect()
}

#[test]
fn the_docs_calendar_list() {
    let list = calendars(fixture!("list_calendars_response.docs.json"));
    assert_eq!(list.sub.as_deref(), Some("acc_5700a00eb0ccd07000000000"));
    assert_eq!(
        ids(list.calendars.iter()),
        [
            "cal_n23kjnwrw2_jsdfjksn234",
            "cal_n23kjnwrw2_n1k323nkj23",
            "cal_fe145c37de_3nkj23wejk1"
        ]
    );
    let work = list.get("cal_n23kjnwrw2_n1k323nkj23").expect("listed");
    assert_eq!(work.calendar_name, "Work");
    assert_eq!(work.provider_name, ProviderName::Google);
    assert_eq!(work.profile_id.as_deref(), Some("pro_n23kjnwrw2"));
    assert_eq!(work.profile_name.as_deref(), Some("example@cronofy.com"));
    assert!(work.calendar_readonly && work.calendar_deleted);
    assert_eq!(work.calendar_primary, Some(false));
    assert_eq!(work.calendar_integrated_conferencing_available, Some(false));
    assert_eq!(work.calendar_attachments_available, Some(false));
    assert_eq!(
        work.permission_level,
        Some(CalendarPermissionLevel::Sandbox)
    );
    let holidays = list.get("cal_fe145c37de_3nkj23wejk1").expect("listed");
    assert_eq!(holidays.provider_name, ProviderName::Apple);
    assert_eq!(holidays.calendar_attachments_available, Some(true));
    assert!(
        list.calendars
            .iter()
            .all(|c| c.permission_level == Some(CalendarPermissionLevel::Sandbox))
    );
    // The deleted "Work" and the read-only "Bank Holidays" are not offered for elevation.
    assert_eq!(
        ids(list.needing_elevation()),
        ["cal_n23kjnwrw2_jsdfjksn234"]
    );
    // The list is what the request is built from.
    let request = PermissionsRequest::builder()
        .calendars(list.needing_elevation().map(|c| c.calendar_id.clone()))
        .redirect_uri("https://app.example.com/permission")
        .build()
        .expect("valid");
    assert_eq!(request.permissions().len(), 1);
}

#[test]
fn sdk_calendar_lists_without_permission_level_or_profile_id() {
    let csharp = calendars(fixture!("sdk/csharp__list_calendars__response.json"));
    assert_eq!(csharp.sub, None);
    assert_eq!(csharp.calendars.len(), 3);
    assert!(
        csharp
            .calendars
            .iter()
            .all(|c| c.permission_level.is_none())
    );
    assert!(
        csharp
            .calendars
            .iter()
            .all(|c| c.calendar_attachments_available.is_none())
    );
    assert_eq!(
        csharp.calendars[2].profile_id.as_deref(),
        Some("pro_n23kjnkopy")
    );
    assert_eq!(csharp.calendars[0].calendar_primary, Some(true));
    // No reported level counts as needing elevation; deleted and read-only calendars never do.
    assert_eq!(
        ids(csharp.needing_elevation()),
        ["cal_n23kjnwrw2_jsdfjksn234"]
    );

    let ruby = calendars(fixture!("sdk/ruby__list_calendars__response.json"));
    assert_eq!(ruby.calendars.len(), 3);
    for c in &ruby.calendars {
        assert_eq!(c.profile_id, None);
        assert_eq!(c.permission_level, None);
        assert_eq!(c.calendar_primary, None);
        assert_eq!(c.profile_name.as_deref(), Some("example@cronofy.com"));
    }
    assert_eq!(ruby.calendars[2].calendar_name, "Bank Holidays");
    assert_eq!(
        ids(ruby.needing_elevation()),
        ["cal_n23kjnwrw2_jsdfjksn234"]
    );

    let py = calendars(fixture!("sdk/pycronofy__list_calendars__response.json"));
    assert_eq!(py.calendars.len(), 2);
    assert_eq!(py.calendars[0].provider_name, ProviderName::LiveConnect);
    assert_eq!(py.calendars[0].calendar_id, "testing_cal");
    assert_eq!(
        py.calendars[1].profile_name.as_deref(),
        Some("test-google@gmail.com")
    );
    assert!(
        py.calendars
            .iter()
            .all(|c| c.permission_level == Some(CalendarPermissionLevel::Unrestricted))
    );
    // Everything is already unrestricted: nothing left to ask for.
    assert_eq!(py.needing_elevation().count(), 0);
}

#[test]
fn a_single_calendar_with_an_unknown_provider() {
    // pycronofy's create-calendar answer: not a list, but its calendar has our shape.
    let body = json_of(fixture!("sdk/pycronofy__create_calendar__response.json"));
    let calendar: Calendar = serde_json::from_value(body["calendar"].clone()).expect("a calendar");
    assert_eq!(
        calendar.provider_name,
        ProviderName::Other("test_provider".into())
    );
    assert_eq!(calendar.provider_name.as_str(), "test_provider");
    assert_eq!(
        calendar.permission_level,
        Some(CalendarPermissionLevel::Unrestricted)
    );
    assert!(!calendar.needs_elevation());
    // As a whole it is not a calendar list, and says so.
    let err = ListCalendars
        .parse_response(
            response(
                200,
                &[],
                fixture!("sdk/pycronofy__create_calendar__response.json"),
            ),
            &crate::us(),
        )
        .expect_err("not a list");
    assert!(
        matches!(err, ResponseError::Decode(ref d) if d.kind == DecodeErrorKind::Shape),
        "{err:?}"
    );
}

#[test]
fn a_userinfo_answer_is_not_a_calendar_list() {
    let err = ListCalendars
        .parse_response(
            response(
                200,
                &[],
                fixture!("sdk/pycronofy__userinfo_custom_dc__response.json"),
            ),
            &crate::us(),
        )
        .expect_err("not a list");
    let ResponseError::Decode(decode) = err else {
        panic!("{err:?}")
    };
    assert_eq!(decode.kind, DecodeErrorKind::Shape);
    assert_eq!(decode.context, "calendar list");
    // Calendar lists are not secret: the reason is kept.
    assert!(decode.detail.expect("detail").contains("calendars"));
}

// --- Step 2: tokens. ---

fn exchange() -> ExchangeCode {
    ExchangeCode::new(
        credentials("cid", "cs"),
        AuthorizationCode::new("code"),
        "https://a.example.com/cb",
    )
}

fn tokens(body: &[u8]) -> TokenResponse {
    let headers = [("cache-control", "no-store"), ("pragma", "no-cache")];
    exchange()
        .parse_response(response(200, &headers, body), &crate::us())
        .expect("a token answer")
}

#[test]
fn the_docs_token_answer() {
    let t = tokens(fixture!("token_response.docs.json"));
    assert_eq!(t.token_type, "bearer");
    assert_eq!(t.access_token.secret(), "P531x88i05Ld2yXHIQ7WjiEyqlmOHsgI");
    assert_eq!(
        t.refresh_token.as_ref().map(RefreshToken::secret),
        Some("3gBYG1XamYDUEXUyybbummQWEe5YqPmf")
    );
    assert_eq!(t.expires_in, Some(3600));
    assert_eq!(
        t.scopes().collect::<Vec<_>>(),
        ["create_event", "delete_event"]
    );
    assert_eq!(
        t.account_id.as_deref(),
        Some("acc_5ba21743f408617d1269ea1e")
    );
    assert_eq!(t.sub, t.account_id);
    let profile = t.linking_profile.as_ref().expect("linking profile");
    assert_eq!(profile.provider_name, ProviderName::Google);
    assert_eq!(profile.provider_service, None);
    assert_eq!(profile.profile_id.as_deref(), Some("pro_n23kjnwrw2"));
    assert_eq!(profile.profile_name.as_deref(), Some("example@cronofy.com"));
    let received = std::time::SystemTime::UNIX_EPOCH;
    assert_eq!(
        t.expires_at(received),
        Some(received + std::time::Duration::from_secs(3600))
    );
}

#[test]
fn refresh_answers_lack_the_account() {
    let refresh = RefreshAccessToken::new(credentials("cid", "cs"), RefreshToken::new("r"));
    for body in [
        fixture!("sdk/node__token_refresh__response.json"),
        fixture!("sdk/node__token_refresh__response.json"),
    ] {
        let t = refresh
            .parse_response(response(200, &[], body), &crate::us())
            .expect("a token answer");
        assert_eq!(t.access_token.secret(), "090jsadkasdkjnasda");
        assert_eq!(
            t.refresh_token.as_ref().map(RefreshToken::secret),
            Some("894576984569kasbdkasbd")
        );
        assert_eq!(t.scope.as_deref(), Some("create_event"));
        assert_eq!((t.account_id, t.sub, t.linking_profile), (None, None, None));
    }
}

#[test]
fn sdk_token_answers() {
    let cs = tokens(fixture!("sdk/csharp__token_from_code__response.json"));
    assert_eq!(cs.access_token.secret(), "asdnakjsdnas");
    assert_eq!(cs.scopes().count(), 3);
    assert_eq!(cs.linking_profile, None);

    let linked = tokens(fixture!(
        "sdk/csharp__token_from_code__response_linking_profile.json"
    ));
    assert_eq!(linked.account_id.as_deref(), Some("acc_567236000909002"));
    let profile = linked.linking_profile.expect("linking profile");
    assert_eq!(profile.provider_service.as_deref(), Some("gsuite"));
    assert_eq!(profile.provider_name, ProviderName::Google);

    // An application calendar: `sub` is `apc_…`, no account id, an unknown field ignored.
    let php = tokens(fixture!("sdk/php__token_from_code__response.json"));
    assert_eq!(php.access_token.secret(), "fffff");
    assert_eq!(php.sub.as_deref(), Some("apc_567236000909002"));
    assert_eq!(php.account_id, None);
    assert_eq!(php.scope.as_deref(), Some("read_write"));
    assert_eq!(
        php.linking_profile.expect("linking profile").provider_name,
        ProviderName::Cronofy
    );

    // pycronofy's minimal answers: no token_type (taken as bearer), no scope.
    for (body, refresh) in [
        (
            fixture!("sdk/pycronofy__token_from_code__response.json"),
            "meow",
        ),
        (
            fixture!("sdk/pycronofy__token_refresh__response.json"),
            "wagging",
        ),
    ] {
        let t = tokens(body);
        assert_eq!(t.token_type, "bearer");
        assert_eq!(t.access_token.secret(), "tail");
        assert_eq!(
            t.refresh_token.as_ref().map(RefreshToken::secret),
            Some(refresh)
        );
        assert_eq!(t.scope, None);
        assert_eq!(t.scopes().count(), 0);
    }

    let ruby = tokens(fixture!("sdk/ruby__token_from_code__response.json"));
    assert_eq!(ruby.access_token.secret(), "new_access_token_2342");
    assert_eq!(ruby.expires_in, Some(10_000));
    assert_eq!(ruby.account_id.as_deref(), Some("acc_0123456789abc"));
    assert_eq!(ruby.sub, None);
    assert_eq!(
        ruby.linking_profile
            .expect("linking profile")
            .profile_id
            .as_deref(),
        Some("pro_VmrZnDitjScsAAAG")
    );
}

/// The JSON body of an endpoint's request, as sent to `path` with no access token.
fn token_body(endpoint: &impl Endpoint, path: &str) -> Vec<u8> {
    let api = api();
    let request = endpoint
        .to_request(&RequestContext::new(&api))
        .expect("valid");
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(
        request.uri().to_string(),
        format!("https://api.cronofy.com/{path}")
    );
    assert_eq!(
        request.headers()[http::header::CONTENT_TYPE],
        "application/json; charset=utf-8"
    );
    assert!(request.headers().get(http::header::AUTHORIZATION).is_none());
    request.into_body().into_vec()
}

#[test]
fn token_requests_match_the_sdks() {
    // The .NET SDK's bodies, byte for byte (same key order).
    let code = ExchangeCode::new(
        credentials("abcdef123456", "s3cr3t1v3"),
        AuthorizationCode::new("zyxvut987654"),
        "http://example.com/redirectUri",
    );
    assert_eq!(
        token_body(&code, "oauth/token"),
        fixture!("sdk/csharp__token_from_code__request.json").trim_ascii_end()
    );
    let refresh = RefreshAccessToken::new(
        credentials("abcdef123456", "s3cr3t1v3"),
        RefreshToken::new("zyxvut987654"),
    );
    assert_eq!(
        token_body(&refresh, "oauth/token"),
        fixture!("sdk/csharp__token_refresh__request.json").trim_ascii_end()
    );

    // The others, as JSON values (the Ruby SDK sends them form-encoded; the fields are ours).
    type BuildBody = Box<dyn Fn() -> Vec<u8>>;
    let cases: [(BuildBody, &[u8]); 5] = [
        (
            Box::new(|| {
                let refresh = RefreshAccessToken::new(
                    credentials(
                        "armzr1h5NPQST93XTFL9iIULXxfdDlmV",
                        "aPPwd-ASDFAsdfasdfasdfsadfasdfASDFSADF_asdfasdfasdf",
                    ),
                    RefreshToken::new("12312312nakjsdnasd"),
                );
                token_body(&refresh, "oauth/token")
            }),
            fixture!("sdk/node__token_refresh__request.json"),
        ),
        (
            Box::new(|| {
                let code = ExchangeCode::new(
                    credentials("clientId", "clientSecret"),
                    AuthorizationCode::new("MY_SECRET_CODE"),
                    "http://example.com",
                );
                token_body(&code, "oauth/token")
            }),
            fixture!("sdk/php__token_from_code__request.json"),
        ),
        (
            Box::new(|| {
                let code = ExchangeCode::new(
                    credentials("client_id_123", "client_secret_456"),
                    AuthorizationCode::new("code_789"),
                    "http://red.ire.ct/Uri",
                );
                token_body(&code, "oauth/token")
            }),
            fixture!("sdk/ruby__token_from_code__request_form.json"),
        ),
        (
            Box::new(|| {
                let refresh = RefreshAccessToken::new(
                    credentials("client_id_123", "client_secret_456"),
                    RefreshToken::new("refresh_token_456"),
                );
                token_body(&refresh, "oauth/token")
            }),
            fixture!("sdk/ruby__token_refresh__request_form.json"),
        ),
        (
            Box::new(|| {
                let revoke = RevokeToken::new(
                    credentials("client_id_123", "client_secret_456"),
                    Revocable::RefreshToken(RefreshToken::new("refresh_token_456")),
                );
                token_body(&revoke, "oauth/token/revoke")
            }),
            fixture!("sdk/ruby__revoke__request_form.json"),
        ),
    ];
    for (ours, fixture) in cases {
        assert_eq!(json_of(&ours()), json_of(fixture));
    }
}
