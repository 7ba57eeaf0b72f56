//! Step 3: list the user's calendars, to choose which to elevate.
//!
//! ```
//! use permissions_core::{CalendarList, CalendarPermissionLevel};
//! let list = CalendarList::parse(br#"{"calendars":[{"provider_name":"google","profile_id":"pro_1",
//!     "profile_name":"me@example.com","calendar_id":"cal_1","calendar_name":"Home",
//!     "calendar_readonly":false,"calendar_deleted":false,"permission_level":"sandbox"}]}"#).unwrap();
//! assert_eq!(list.calendars[0].permission_level, Some(CalendarPermissionLevel::Sandbox));
//! assert_eq!(list.needing_elevation().count(), 1);
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::endpoint::{Endpoint, RequestContext, bearer, finish, request_builder, success_body};
use crate::error::{BuildError, DecodeError, ResponseError};
use crate::seam::{HttpRequest, HttpResponse};

macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A value this version does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// Reads a value as Cronofy sends it.
            pub fn parse(value: &str) -> Self {
                match value {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }

            /// The value as Cronofy spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(s) => s,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::parse(v))
                    }
                }
                deserializer.deserialize_str(Visitor)
            }
        }
    };
}

open_enum!(
    /// A calendar's access level, as `GET /v1/calendars` reports it.
    CalendarPermissionLevel {
        /// The level before Extended Permissions are granted.
        Sandbox = "sandbox",
        /// Full access, after the user accepted (or at once, for Enterprise Connect).
        Unrestricted = "unrestricted",
    }
);

open_enum!(
    /// The calendar provider. Cronofy says this list "will be expanded over time and therefore
    /// consumers should support any value".
    ProviderName {
        /// Apple iCloud.
        Apple = "apple",
        /// Cronofy's own application calendars.
        Cronofy = "cronofy",
        /// Microsoft Exchange.
        Exchange = "exchange",
        /// Google.
        Google = "google",
        /// Outlook.com / Microsoft 365 personal.
        LiveConnect = "live_connect",
    }
);

/// One calendar, with Cronofy's field names.
///
/// Only `calendar_id` is required (a string): it is what a permissions request needs. Every
/// other field is read liberally, as the API's exact types are not documented: a missing,
/// `null` or oddly typed value never fails the list. A text field reads a number as its text
/// and anything else as absent (`calendar_name` as empty text, `provider_name` as an empty
/// [`ProviderName::Other`]); a flag reads `true`/`false`, also as text, and anything else as
/// absent (`calendar_readonly` and `calendar_deleted` as `false`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Calendar {
    /// The provider (an empty [`ProviderName::Other`] when none was sent).
    #[serde(
        default = "lenient::no_provider",
        deserialize_with = "lenient::provider"
    )]
    pub provider_name: ProviderName,
    /// The profile (account at the provider) the calendar belongs to.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub profile_id: Option<String>,
    /// The profile's name, often an email address.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub profile_name: Option<String>,
    /// The calendar's id, as used in a permissions request.
    pub calendar_id: String,
    /// The calendar's name (empty when none was sent, or `null`).
    #[serde(default, deserialize_with = "lenient::text")]
    pub calendar_name: String,
    /// Whether the calendar is read-only.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub calendar_readonly: bool,
    /// Whether the calendar was deleted at the provider.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub calendar_deleted: bool,
    /// Whether it is the profile's primary calendar.
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub calendar_primary: Option<bool>,
    /// Whether the provider's conferencing can be added to events.
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub calendar_integrated_conferencing_available: Option<bool>,
    /// Whether events can carry attachments.
    #[serde(
        default,
        deserialize_with = "lenient::bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub calendar_attachments_available: Option<bool>,
    /// The access level (`sandbox` until elevated). Unknown values are kept.
    #[serde(
        default,
        deserialize_with = "lenient::level",
        skip_serializing_if = "Option::is_none"
    )]
    pub permission_level: Option<CalendarPermissionLevel>,
}

/// Liberal readers for fields whose exact type the API does not document: each reads any JSON
/// value and keeps what it can, so that one odd field never fails a whole answer.
pub(crate) mod lenient {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer};

    use super::{CalendarPermissionLevel, ProviderName};

    /// One JSON value as a lenient field sees it: a scalar (text borrowed from the body where
    /// it has no escapes), or `Other` for `null`, arrays and objects (skipped, not built).
    enum Scalar<'a> {
        Text(Cow<'a, str>),
        Unsigned(u64),
        Signed(i64),
        Float(f64),
        Bool(bool),
        Other,
    }

    impl<'de> Deserialize<'de> for Scalar<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Scalars;
            impl<'de> Visitor<'de> for Scalars {
                type Value = Scalar<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                    Ok(Scalar::Text(Cow::Borrowed(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
                    Ok(Scalar::Text(Cow::Owned(v.to_owned())))
                }
                fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
                    Ok(Scalar::Text(Cow::Owned(v)))
                }
                fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
                    Ok(Scalar::Unsigned(v))
                }
                fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
                    Ok(Scalar::Signed(v))
                }
                fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
                    Ok(Scalar::Float(v))
                }
                fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
                    Ok(Scalar::Bool(v))
                }
                fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                    Ok(Scalar::Other)
                }
                fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
                    Ok(Scalar::Other)
                }
                fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar<'de>, D::Error> {
                    Scalar::deserialize(d)
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(Scalar::Other)
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(Scalar::Other)
                }
            }
            d.deserialize_any(Scalars)
        }
    }

    /// Text: a string, or a number's text (as JSON writes it); anything else is absent.
    pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Scalar::deserialize(d)? {
            Scalar::Text(s) => Some(s.into_owned()),
            Scalar::Unsigned(n) => Some(n.to_string()),
            Scalar::Signed(n) => Some(n.to_string()),
            Scalar::Float(f) => serde_json::Number::from_f64(f).map(|n| n.to_string()),
            Scalar::Bool(_) | Scalar::Other => None,
        })
    }

    /// Text, empty when absent.
    pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        string(d).map(Option::unwrap_or_default)
    }

    /// A flag: `true`/`false`, as JSON or as text; anything else is absent.
    pub(crate) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(match Scalar::deserialize(d)? {
            Scalar::Bool(b) => Some(b),
            Scalar::Text(s) if s == "true" => Some(true),
            Scalar::Text(s) if s == "false" => Some(false),
            _ => None,
        })
    }

    /// A flag, `false` when absent.
    pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        bool(d).map(Option::unwrap_or_default)
    }

    /// A number of seconds: a whole or decimal number (cut to whole seconds), also as text;
    /// negative, non-finite or anything else is absent.
    pub(crate) fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let from_float = |f: f64| (f.is_finite() && f >= 0.0).then_some(f as u64);
        Ok(match Scalar::deserialize(d)? {
            Scalar::Unsigned(n) => Some(n),
            Scalar::Signed(n) => from_float(n as f64),
            Scalar::Float(f) => from_float(f),
            Scalar::Text(s) => s
                .trim()
                .parse::<u64>()
                .ok()
                .or_else(|| s.trim().parse::<f64>().ok().and_then(from_float)),
            Scalar::Bool(_) | Scalar::Other => None,
        })
    }

    /// The provider; anything but a string is an empty [`ProviderName::Other`].
    pub(crate) fn provider<'de, D: Deserializer<'de>>(d: D) -> Result<ProviderName, D::Error> {
        Ok(match Scalar::deserialize(d)? {
            Scalar::Text(s) => ProviderName::parse(&s),
            _ => no_provider(),
        })
    }

    /// No provider was sent.
    pub(crate) fn no_provider() -> ProviderName {
        ProviderName::Other(String::new())
    }

    /// A permission level, absent unless a string.
    pub(crate) fn level<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<CalendarPermissionLevel>, D::Error> {
        Ok(match Scalar::deserialize(d)? {
            Scalar::Text(s) => Some(CalendarPermissionLevel::parse(&s)),
            _ => None,
        })
    }
}

impl Calendar {
    /// Whether a permissions request for this calendar makes sense: it is writable (not
    /// read-only: unrestricted access to a calendar nobody may write to changes nothing), not
    /// deleted, and not already `unrestricted`. A calendar with no reported level counts as
    /// needing it. The one rule of this workspace: the CLI's demo and `audit` use it too.
    pub fn needs_elevation(&self) -> bool {
        !self.calendar_readonly
            && !self.calendar_deleted
            && self.permission_level != Some(CalendarPermissionLevel::Unrestricted)
    }
}

/// The answer of `GET /v1/calendars`: a `calendars` list is required, each with its
/// `calendar_id`; the rest is read liberally (see [`Calendar`]).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct CalendarList {
    /// The account id (`acc_…`); older answers lack it.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub sub: Option<String>,
    /// The calendars.
    pub calendars: Vec<Calendar>,
}

impl CalendarList {
    /// Reads the body of a successful answer.
    pub fn parse(body: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(body).map_err(|e| DecodeError::from_json("calendar list", &e, true))
    }

    /// The calendars still to elevate: writable, not deleted, not yet `unrestricted` (see
    /// [`Calendar::needs_elevation`]).
    pub fn needing_elevation(&self) -> impl Iterator<Item = &Calendar> {
        self.calendars.iter().filter(|c| c.needs_elevation())
    }

    /// The calendar with this id.
    pub fn get(&self, calendar_id: &str) -> Option<&Calendar> {
        self.calendars.iter().find(|c| c.calendar_id == calendar_id)
    }
}

/// `GET /v1/calendars`, with the user's access token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListCalendars;

impl Endpoint for ListCalendars {
    type Output = CalendarList;

    fn name(&self) -> &'static str {
        "list_calendars"
    }

    fn to_request(&self, ctx: &RequestContext<'_>) -> Result<HttpRequest, BuildError> {
        let token = ctx.access_token.ok_or(BuildError::MissingAccessToken)?;
        let builder = request_builder(http::Method::GET, "v1/calendars", ctx)?
            .header(http::header::AUTHORIZATION, bearer(token)?);
        finish(builder, Vec::new())
    }

    fn parse_response(
        &self,
        response: HttpResponse,
        _ctx: &RequestContext<'_>,
    ) -> Result<CalendarList, ResponseError> {
        let body = success_body(response, false)?;
        Ok(CalendarList::parse(&body)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_center::DataCenter;
    use crate::secret::AccessToken;

    /// The lenient readers as first written, over `serde_json::Value`: the borrowing
    /// visitor must read every JSON value the same way.
    mod by_value {
        use serde_json::Value;

        pub(super) fn string(v: &Value) -> Option<String> {
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        }

        pub(super) fn bool(v: &Value) -> Option<bool> {
            match v {
                Value::Bool(b) => Some(*b),
                Value::String(s) if s == "true" => Some(true),
                Value::String(s) if s == "false" => Some(false),
                _ => None,
            }
        }

        pub(super) fn seconds(v: &Value) -> Option<u64> {
            let from_float = |f: f64| (f.is_finite() && f >= 0.0).then_some(f as u64);
            match v {
                Value::Number(n) => n.as_u64().or_else(|| n.as_f64().and_then(from_float)),
                Value::String(s) => s
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .or_else(|| s.trim().parse::<f64>().ok().and_then(from_float)),
                _ => None,
            }
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::{Value, json};
        let scalar = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(|n| json!(n)),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            prop_oneof![
                Just("true".to_owned()),
                Just("false".to_owned()),
                Just(" 42 ".to_owned()),
                Just("1.5e3".to_owned()),
                "\\PC{0,12}",
            ]
            .prop_map(Value::String),
        ];
        scalar.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn lenient_readers_read_every_value_as_they_did_over_serde_json_value(
            value in json_value()
        ) {
            // Through a body (so that strings without escapes are borrowed), as a field.
            #[derive(serde::Deserialize)]
            struct Fields {
                #[serde(default, deserialize_with = "lenient::string")]
                s: Option<String>,
                #[serde(default, deserialize_with = "lenient::bool")]
                b: Option<bool>,
                #[serde(default, deserialize_with = "lenient::seconds")]
                n: Option<u64>,
            }
            let body = serde_json::json!({ "s": value, "b": value, "n": value }).to_string();
            let read: Fields = serde_json::from_str(&body).expect("any value is read");
            // The reference reads the same text (serde_json parses floats to within an ULP of
            // what wrote them, the same way for both).
            let parsed: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
            proptest::prop_assert_eq!(read.s, by_value::string(&parsed["s"]));
            proptest::prop_assert_eq!(read.b, by_value::bool(&parsed["b"]));
            proptest::prop_assert_eq!(read.n, by_value::seconds(&parsed["n"]));
        }
    }

    #[test]
    fn docs_fixture_parses_every_field() {
        let list = CalendarList::parse(include_bytes!(
            "../tests/fixtures/list_calendars_response.docs.json"
        ))
        .unwrap();
        assert_eq!(list.sub.as_deref(), Some("acc_5700a00eb0ccd07000000000"));
        assert_eq!(list.calendars.len(), 3);
        let home = &list.calendars[0];
        assert_eq!(home.provider_name, ProviderName::Google);
        assert_eq!(home.profile_id.as_deref(), Some("pro_n23kjnwrw2"));
        assert_eq!(home.calendar_id, "cal_n23kjnwrw2_jsdfjksn234");
        assert_eq!(home.calendar_primary, Some(true));
        assert_eq!(home.calendar_integrated_conferencing_available, Some(true));
        assert_eq!(home.calendar_attachments_available, Some(false));
        assert_eq!(
            home.permission_level,
            Some(CalendarPermissionLevel::Sandbox)
        );
        assert_eq!(list.calendars[2].provider_name, ProviderName::Apple);
        // "Work" is deleted and "Bank Holidays" read-only, so only "Home" needs elevation.
        let ids: Vec<_> = list
            .needing_elevation()
            .map(|c| c.calendar_id.as_str())
            .collect();
        assert_eq!(ids, ["cal_n23kjnwrw2_jsdfjksn234"]);
    }

    #[test]
    fn sdk_fixtures_without_optional_fields_parse() {
        for body in [
            &include_bytes!("../tests/fixtures/sdk/ruby__list_calendars__response.json")[..],
            include_bytes!("../tests/fixtures/sdk/csharp__list_calendars__response.json"),
            include_bytes!("../tests/fixtures/sdk/pycronofy__list_calendars__response.json"),
        ] {
            let list = CalendarList::parse(body).unwrap();
            assert!(!list.calendars.is_empty());
        }
    }

    #[test]
    fn unknown_values_are_kept_and_round_trip() {
        let body = br#"{"calendars":[{"provider_name":"zoho","calendar_id":"cal_x","calendar_name":"X","permission_level":"superuser","new_field":1}]}"#;
        let list = CalendarList::parse(body).unwrap();
        let c = &list.calendars[0];
        assert_eq!(c.provider_name, ProviderName::Other("zoho".into()));
        assert_eq!(
            c.permission_level,
            Some(CalendarPermissionLevel::Other("superuser".into()))
        );
        assert!(c.needs_elevation());
        let again: CalendarList =
            serde_json::from_slice(&serde_json::to_vec(&list).unwrap()).unwrap();
        assert_eq!(again, list);
    }

    #[test]
    fn request_and_errors() {
        let hosts = DataCenter::De.hosts();
        let token = AccessToken::new("t");
        let req = ListCalendars
            .to_request(&RequestContext::new(hosts.api()).with_access_token(&token))
            .unwrap();
        assert_eq!(req.method(), http::Method::GET);
        assert_eq!(req.uri(), "https://api-de.cronofy.com/v1/calendars");
        assert!(req.body().is_empty());
        let response = http::Response::builder()
            .status(401)
            .body(Vec::new())
            .unwrap();
        assert_eq!(
            ListCalendars.parse_response(
                response,
                &RequestContext::new(crate::data_center::DataCenter::Us.hosts().api())
            ),
            Err(ResponseError::Api(crate::error::ApiError::Unauthorized))
        );
        let response = http::Response::builder()
            .status(200)
            .body(b"{\"calendars\":7}".to_vec())
            .unwrap();
        assert!(matches!(
            ListCalendars.parse_response(
                response,
                &RequestContext::new(crate::data_center::DataCenter::Us.hosts().api())
            ),
            Err(ResponseError::Decode(_))
        ));
    }
}
