//! Every validation rule rejects what it must and accepts what it must, checked against a
//! simple oracle written from the rules' documentation.

use std::net::Ipv4Addr;

use permissions_core::error::*;
use permissions_core::transport::*;
use permissions_core::*;
use proptest::prelude::*;

use crate::strategies::{calendar_id, calendar_ids, domain, forbidden_char, redirect_uri, regex};

/// The calendar id rules, in the order they are documented to apply.
fn id_oracle(id: &str) -> Result<(), CalendarIdProblem> {
    if id.is_empty() {
        Err(CalendarIdProblem::Empty)
    } else if id.len() > CalendarId::MAX_LEN {
        Err(CalendarIdProblem::TooLong)
    } else if id.chars().any(char::is_control) {
        Err(CalendarIdProblem::ControlCharacter)
    } else if id.chars().any(char::is_whitespace) {
        Err(CalendarIdProblem::Whitespace)
    } else {
        Ok(())
    }
}

fn builder_with(ids: &[String]) -> PermissionsRequestBuilder {
    PermissionsRequest::builder()
        .calendars(ids.iter().cloned())
        .redirect_uri("https://app.example.com/permission")
}

/// `s` with `c` inserted before its character number `at` (modulo its length + 1).
fn insert_char(s: &str, at: prop::sample::Index, c: char) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = at.index(chars.len() + 1);
    chars.insert(i, c);
    chars.into_iter().collect()
}

#[test]
fn exactly_256_bytes_is_accepted_and_257_is_not() {
    for unit in ["c", "é", "€", "😀"] {
        // 256 is a multiple of 1, 2 and 4; pad with ASCII for 3-byte characters.
        let mut id = unit.repeat(CalendarId::MAX_LEN / unit.len());
        id.push_str(&"a".repeat(CalendarId::MAX_LEN - id.len()));
        assert_eq!(id.len(), CalendarId::MAX_LEN);
        assert!(CalendarId::new(id.clone()).is_ok(), "{unit}");
        assert!(builder_with(&[id.clone()]).build().is_ok());
        id.push('a');
        assert_eq!(
            builder_with(&["ok".into(), id]).build(),
            Err(BuildError::CalendarId {
                index: 1,
                problem: CalendarIdProblem::TooLong
            })
        );
    }
}

#[test]
fn no_calendars_and_no_redirect_uri_are_refused() {
    assert_eq!(
        PermissionsRequest::builder()
            .redirect_uri("https://a.example.com/")
            .build(),
        Err(BuildError::NoCalendars)
    );
    assert_eq!(
        PermissionsRequest::builder().calendar("cal_1").build(),
        Err(BuildError::MissingRedirectUri)
    );
    assert_eq!(
        builder_with(&["c".into()]).state("").build(),
        Err(BuildError::State(StateProblem::Empty))
    );
    assert_eq!(
        builder_with(&["c".into()]).state("s".repeat(513)).build(),
        Err(BuildError::State(StateProblem::TooLong))
    );
    assert!(
        builder_with(&["c".into()])
            .state("s".repeat(512))
            .build()
            .is_ok()
    );
}

/// What `BaseUrl` must decide for `http` on this host: loopback only.
fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return ip.octets()[0] == 127;
    }
    host == "[::1]" || host == "[0:0:0:0:0:0:0:1]"
}

fn base_host() -> BoxedStrategy<String> {
    prop_oneof![
        3 => domain(),
        1 => prop::sample::select(vec![
            "localhost".to_owned(),
            "LocalHost".to_owned(),
            "localhost.example.com".to_owned(),
            "localhostx".to_owned(),
            "127.0.0.1.example.com".to_owned(),
            "[::1]".to_owned(),
            "[0:0:0:0:0:0:0:1]".to_owned(),
            "[::ffff:127.0.0.1]".to_owned(),
            "[::2]".to_owned(),
            "0.0.0.0".to_owned(),
        ]),
        1 => any::<[u8; 3]>().prop_map(|[a, b, c]| format!("127.{a}.{b}.{c}")),
        1 => any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        1 => any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn calendar_ids_follow_the_rules(
        id in prop_oneof![
            any::<String>(),
            regex(r"[a-z\s\p{Cc}é😀]{0,12}"),
            regex(r"[a-z]{250,260}"),
            calendar_id(),
        ],
    ) {
        let expected = id_oracle(&id);
        prop_assert_eq!(CalendarId::new(id.clone()).map(|_| ()), expected);
        let built = builder_with(&["cal_ok".into(), id.clone()]).build();
        match expected {
            Ok(()) => prop_assert!(built.is_ok()),
            Err(problem) => {
                prop_assert_eq!(built, Err(BuildError::CalendarId { index: 1, problem }))
            }
        }
    }

    #[test]
    fn a_forbidden_character_anywhere_is_named_with_its_index(
        ids in calendar_ids(),
        bad_at in any::<prop::sample::Index>(),
        prefix in regex(r"[^\s\p{Cc}]{0,30}"),
        suffix in regex(r"[^\s\p{Cc}]{0,30}"),
        c in forbidden_char(),
    ) {
        let bad = format!("{prefix}{c}{suffix}");
        let index = bad_at.index(ids.len() + 1);
        let mut all = ids.clone();
        all.insert(index, bad);
        let problem = if c.is_control() {
            CalendarIdProblem::ControlCharacter
        } else {
            CalendarIdProblem::Whitespace
        };
        prop_assert_eq!(
            builder_with(&all).build(),
            Err(BuildError::CalendarId { index, problem })
        );
    }

    #[test]
    fn ids_of_valid_characters_are_accepted_up_to_256_bytes(
        chars in prop::collection::vec(regex(r"[^\s\p{Cc}]"), 1..150),
    ) {
        let id: String = chars.concat();
        let result = CalendarId::new(id.clone());
        if id.len() <= CalendarId::MAX_LEN {
            prop_assert_eq!(result.map(|c| c.as_str().to_owned()), Ok(id));
        } else {
            prop_assert_eq!(result, Err(CalendarIdProblem::TooLong));
        }
    }

    #[test]
    fn redirect_uris_with_a_forbidden_character_are_refused(
        uri in redirect_uri(),
        at in any::<prop::sample::Index>(),
        c in forbidden_char(),
    ) {
        let bad = insert_char(&uri.raw, at, c);
        prop_assert_eq!(parse_redirect_uri(&bad), Err(UriProblem::InvalidCharacter));
        prop_assert_eq!(
            PermissionsRequest::builder().calendar("c").redirect_uri(bad.clone()).build(),
            Err(BuildError::RedirectUri(UriProblem::InvalidCharacter))
        );
        prop_assert_eq!(
            CallbackCheck::new(&bad, None),
            Err(BuildError::RedirectUri(UriProblem::InvalidCharacter))
        );
    }

    #[test]
    fn redirect_uris_need_http_or_https(
        scheme in regex(r"[a-zA-Z][a-zA-Z0-9+.-]{0,8}")
            .prop_filter("not http(s)", |s| !s.eq_ignore_ascii_case("http")
                && !s.eq_ignore_ascii_case("https")),
        host in domain(),
        path in regex(r"[a-z/]{0,10}"),
    ) {
        for raw in [format!("{scheme}://{host}/{path}"), format!("{scheme}:{host}")] {
            prop_assert_eq!(parse_redirect_uri(&raw), Err(UriProblem::Scheme), "{}", raw);
        }
    }

    #[test]
    fn redirect_uris_must_be_absolute(raw in regex(r"[^\s\p{Cc}:]{0,30}")) {
        // Without a `:` there is no scheme.
        prop_assert_eq!(parse_redirect_uri(&raw), Err(UriProblem::NotAUrl));
    }

    #[test]
    fn redirect_uris_with_a_fragment_are_refused(
        uri in redirect_uri(),
        fragment in regex(r"[^\s\p{Cc}]{0,10}"),
    ) {
        let raw = format!("{}#{fragment}", uri.raw);
        prop_assert_eq!(parse_redirect_uri(&raw), Err(UriProblem::Fragment));
    }

    #[test]
    fn redirect_uris_with_user_info_are_refused(
        uri in redirect_uri(),
        user in regex(r"[a-zA-Z0-9._~-]{0,8}"),
        password in prop::option::of(regex(r"[a-zA-Z0-9]{1,8}")),
    ) {
        prop_assume!(!user.is_empty() || password.is_some());
        let userinfo = match &password {
            Some(p) => format!("{user}:{p}@"),
            None => format!("{user}@"),
        };
        let raw = uri.raw.replacen("://", &format!("://{userinfo}"), 1);
        prop_assert_eq!(parse_redirect_uri(&raw), Err(UriProblem::UserInfo), "{}", raw);
    }

    #[test]
    fn valid_redirect_uris_are_accepted(uri in redirect_uri()) {
        prop_assert!(parse_redirect_uri(&uri.raw).is_ok(), "{}", uri.raw);
    }

    #[test]
    fn base_urls_need_https_or_a_loopback_host(
        scheme in prop::sample::select(vec!["http", "https", "HTTP", "Https", "ftp", "ws"]),
        host in base_host(),
        port in prop::option::of(any::<u16>()),
        prefix in regex(r"(/[a-z0-9]{1,6}){0,2}/?"),
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let raw = format!("{scheme}://{host}{port}{prefix}");
        let expected = match scheme.to_ascii_lowercase().as_str() {
            "https" => Ok(()),
            "http" if is_loopback(&host) => Ok(()),
            "http" => Err(BaseUrlError::InsecureScheme),
            _ => Err(BaseUrlError::UnsupportedScheme),
        };
        let parsed = BaseUrl::parse(&raw);
        prop_assert_eq!(parsed.as_ref().map(|_| ()), expected.as_ref().map(|_| ()), "{}", raw);
        if let Ok(base) = parsed {
            // The prefix is kept, and every endpoint builds on it.
            prop_assert!(base.as_str().ends_with('/'));
            let joined = base.join("v1/permissions");
            prop_assert_eq!(joined.as_str(), format!("{}v1/permissions", base.as_str()));
            let token = AccessToken::new("tok");
            let ctx = RequestContext::new(&base).with_access_token(&token);
            let request = ListCalendars.to_request(&ctx).expect("builds");
            prop_assert_eq!(request.uri().to_string(), format!("{}v1/calendars", base.as_str()));
        }
        // A query, a fragment or user-info is refused whatever the scheme allowed.
        if expected.is_ok() {
            let base = format!("{scheme}://{host}{port}{prefix}");
            prop_assert_eq!(
                BaseUrl::parse(&format!("{base}?a=b")),
                Err(BaseUrlError::QueryOrFragment)
            );
            prop_assert_eq!(
                BaseUrl::parse(&format!("{base}#f")),
                Err(BaseUrlError::QueryOrFragment)
            );
            let with_user = base.replacen("://", "://user:pw@", 1);
            prop_assert_eq!(BaseUrl::parse(&with_user), Err(BaseUrlError::UserInfo));
        }
    }
}

/// The redirect-URI rules as every entry point applies them (a `CallbackCheck` is the
/// lightest one).
fn parse_redirect_uri(raw: &str) -> Result<(), UriProblem> {
    match CallbackCheck::new(raw, None) {
        Ok(_) => Ok(()),
        Err(BuildError::RedirectUri(problem)) => Err(problem),
        Err(other) => panic!("not a redirect URI problem: {other}"),
    }
}
