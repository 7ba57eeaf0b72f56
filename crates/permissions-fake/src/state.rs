//! The fake's Cronofy: the OAuth client, accounts, calendars, tokens, codes and pending pages.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ids;

/// How long an access token lives (`expires_in` in token answers).
pub(crate) const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// How long an authorization code can be exchanged.
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// Scope of the seeded grants and of [`FakeCronofy::issue_code`](crate::FakeCronofy::issue_code).
pub(crate) const DEFAULT_SCOPE: &str =
    "read_account list_calendars read_events create_event delete_event";
/// How many codes, consent pages and permission pages are kept (oldest forgotten first).
const PAGE_CAPACITY: usize = 100_000;
/// How many grants from code exchanges are kept (oldest forgotten first; seeded and added
/// accounts' grants are kept always).
const GRANT_CAPACITY: usize = 100_000;
/// How many access tokens of one grant stay valid (refreshing more invalidates the oldest).
const ACCESS_TOKENS_PER_GRANT: usize = 100;

/// The index of the seeded application in `State::apps`.
pub(crate) const SEEDED_APP: usize = 0;

/// The permission level of a calendar before elevation.
pub(crate) const SANDBOX: &str = "sandbox";
/// The permission level after elevation.
pub(crate) const UNRESTRICTED: &str = "unrestricted";

/// The credentials and ids a fresh fake starts with. None of them are secrets: they are the
/// fake's own, random per fake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Seed {
    /// The OAuth client id (32 alphanumerics).
    pub client_id: String,
    /// The OAuth client secret (32 alphanumerics).
    pub client_secret: String,
    /// The application's name, shown on the consent and permissions pages: `"Demo App"`.
    pub app_name: String,
    /// The user account (`acc_` + 24 hex): the one the consent page's Allow grants.
    pub account_id: String,
    /// A ready access token of the user account.
    pub access_token: String,
    /// The refresh token of that grant.
    pub refresh_token: String,
    /// An account linked to an Enterprise Connect service account: elevation is granted at
    /// once (`202 {"permissions_request":{"accepted":true}}`).
    pub enterprise_account_id: String,
    /// A ready access token of the Enterprise Connect account.
    pub enterprise_access_token: String,
    /// The refresh token of that grant.
    pub enterprise_refresh_token: String,
    /// The user account's calendars: the three of Cronofy's list-calendars example
    /// (`cal_n23kjnwrw2_jsdfjksn234` "Home", `cal_n23kjnwrw2_n1k323nkj23` "Work" (deleted,
    /// read-only), `cal_fe145c37de_3nkj23wejk1` "Bank Holidays" (read-only)), then the writable
    /// primary calendar `cal_fe145c37de_w0rkab1e001` "Personal" of profile `pro_fe145c37de`.
    /// All start `sandbox`.
    pub calendar_ids: Vec<String>,
    /// The Enterprise Connect account's calendars (two, `sandbox` until elevated).
    pub enterprise_calendar_ids: Vec<String>,
}

/// A calendar as the fake holds it: the fields of a `GET /v1/calendars` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FakeCalendar {
    /// `calendar_id`.
    pub id: String,
    /// `calendar_name`.
    pub name: String,
    /// `profile_id`.
    pub profile_id: String,
    /// `profile_name`.
    pub profile_name: String,
    /// `provider_name`, e.g. `"google"`.
    pub provider_name: String,
    /// `calendar_readonly`.
    pub readonly: bool,
    /// `calendar_deleted`.
    pub deleted: bool,
    /// `calendar_primary`.
    pub primary: bool,
    /// `calendar_integrated_conferencing_available`.
    pub integrated_conferencing_available: bool,
    /// `calendar_attachments_available`.
    pub attachments_available: bool,
    /// `permission_level`: `"sandbox"` until elevated, then `"unrestricted"`.
    pub permission_level: String,
}

/// A calendar to add with [`FakeCronofy::add_calendar`](crate::FakeCronofy::add_calendar) or
/// [`NewAccount::calendar`].
///
/// Fields left `None` are generated: the id as `cal_{profile suffix}_{10 random}`, the profile
/// as the account's main profile. Build it with struct-update syntax or the chained setters:
///
/// ```
/// use permissions_fake::NewCalendar;
///
/// let a = NewCalendar::new("Team").readonly(true);
/// let b = NewCalendar { name: "Team".into(), readonly: true, ..NewCalendar::default() };
/// assert_eq!(a.readonly, b.readonly);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCalendar {
    /// The calendar id; `None`: generated.
    pub id: Option<String>,
    /// The calendar name. Default `"Calendar"`.
    pub name: String,
    /// The profile id; `None`: the account's main profile.
    pub profile_id: Option<String>,
    /// The profile name, used when `profile_id` is set. Default `"example@cronofy.com"`.
    pub profile_name: String,
    /// The provider name, used when `profile_id` is set. Default `"google"`.
    pub provider_name: String,
    /// `calendar_readonly`. Default `false`.
    pub readonly: bool,
    /// `calendar_deleted`. Default `false`.
    pub deleted: bool,
    /// `calendar_primary`. Default `false`.
    pub primary: bool,
    /// `calendar_integrated_conferencing_available`. Default `false`.
    pub integrated_conferencing_available: bool,
    /// `calendar_attachments_available`. Default `false`.
    pub attachments_available: bool,
    /// `permission_level`. Default `"sandbox"`.
    pub permission_level: String,
}

impl Default for NewCalendar {
    fn default() -> Self {
        Self {
            id: None,
            name: "Calendar".to_owned(),
            profile_id: None,
            profile_name: "example@cronofy.com".to_owned(),
            provider_name: "google".to_owned(),
            readonly: false,
            deleted: false,
            primary: false,
            integrated_conferencing_available: false,
            attachments_available: false,
            permission_level: SANDBOX.to_owned(),
        }
    }
}

impl NewCalendar {
    /// A writable, non-primary `sandbox` calendar called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets the calendar id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Puts the calendar on this profile (id, name and provider).
    pub fn profile(
        mut self,
        profile_id: impl Into<String>,
        profile_name: impl Into<String>,
        provider_name: impl Into<String>,
    ) -> Self {
        self.profile_id = Some(profile_id.into());
        self.profile_name = profile_name.into();
        self.provider_name = provider_name.into();
        self
    }

    /// Sets `calendar_readonly`.
    pub fn readonly(mut self, readonly: bool) -> Self {
        self.readonly = readonly;
        self
    }

    /// Sets `calendar_deleted`.
    pub fn deleted(mut self, deleted: bool) -> Self {
        self.deleted = deleted;
        self
    }

    /// Sets `calendar_primary`.
    pub fn primary(mut self, primary: bool) -> Self {
        self.primary = primary;
        self
    }

    /// Sets `permission_level` (e.g. `"unrestricted"`, or any value a client must survive).
    pub fn permission_level(mut self, level: impl Into<String>) -> Self {
        self.permission_level = level.into();
        self
    }
}

/// An account to add with [`FakeCronofy::add_account`](crate::FakeCronofy::add_account).
///
/// ```
/// use permissions_fake::{NewAccount, NewCalendar};
///
/// let account = NewAccount::enterprise()
///     .calendar(NewCalendar::new("Boardroom"))
///     .calendar(NewCalendar::new("Lobby").readonly(true));
/// assert!(account.enterprise_connect);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAccount {
    /// The account id; `None`: `acc_` + 24 random hex digits.
    pub id: Option<String>,
    /// Whether the account is linked to an Enterprise Connect account (elevation granted at
    /// once, `redirect_uri` optional).
    pub enterprise_connect: bool,
    /// Its calendars. The first calendar's profile is the account's main profile (the
    /// `linking_profile` of code exchanges).
    pub calendars: Vec<NewCalendar>,
}

impl NewAccount {
    /// A user account with no calendars yet.
    pub fn user() -> Self {
        Self::default()
    }

    /// An account linked to an Enterprise Connect account, with no calendars yet.
    pub fn enterprise() -> Self {
        Self {
            enterprise_connect: true,
            ..Self::default()
        }
    }

    /// Sets the account id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Adds a calendar.
    pub fn calendar(mut self, calendar: NewCalendar) -> Self {
        self.calendars.push(calendar);
        self
    }
}

/// What [`FakeCronofy::add_account`](crate::FakeCronofy::add_account) created: the account's
/// id, a ready grant, and its calendars' ids.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountTokens {
    /// The account id.
    pub account_id: String,
    /// A valid access token for the account.
    pub access_token: String,
    /// The refresh token of that grant.
    pub refresh_token: String,
    /// The ids of the account's calendars, in the order given.
    pub calendar_ids: Vec<String>,
}

/// An OAuth application (client) of the fake: the seeded one or one added with
/// [`FakeCronofy::add_application`](crate::FakeCronofy::add_application). Rate limits apply
/// per application. The credentials are the fake's own, random per fake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Application {
    /// The OAuth client id (32 alphanumerics).
    pub client_id: String,
    /// The OAuth client secret (32 alphanumerics).
    pub client_secret: String,
    /// The application's name.
    pub name: String,
}

/// How many accounts [`FakeCronofy::add_accounts`](crate::FakeCronofy::add_accounts) makes,
/// how many of them are linked to Enterprise Connect, and the seed their layout is drawn from.
///
/// The same seed gives the same accounts (ids, calendars, flags, permission levels) for the
/// same position; only the tokens are random.
///
/// ```
/// use permissions_fake::ManyAccounts;
///
/// let spec = ManyAccounts::new(1000).enterprise(100).seed(7);
/// assert_eq!((spec.count, spec.enterprise, spec.seed), (1000, 100, 7));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManyAccounts {
    /// How many accounts.
    pub count: usize,
    /// How many of them are Enterprise Connect accounts (spread evenly among them).
    pub enterprise: usize,
    /// The seed of their layout. Default `0`.
    pub seed: u64,
}

impl ManyAccounts {
    /// `count` user accounts, seed `0`.
    pub fn new(count: usize) -> Self {
        Self {
            count,
            enterprise: 0,
            seed: 0,
        }
    }

    /// How many of the accounts are linked to Enterprise Connect (at most `count`).
    pub fn enterprise(mut self, enterprise: usize) -> Self {
        self.enterprise = enterprise;
        self
    }

    /// The seed of the accounts' layout.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// Why [`FakeCronofy::add_accounts`](crate::FakeCronofy::add_accounts) refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManyAccountsError {
    /// More Enterprise Connect accounts asked for than accounts.
    TooManyEnterprise {
        /// The accounts asked for.
        count: usize,
        /// The Enterprise Connect accounts asked for.
        enterprise: usize,
    },
}

impl std::fmt::Display for ManyAccountsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooManyEnterprise { count, enterprise } => write!(
                f,
                "{enterprise} Enterprise Connect accounts asked for, but only {count} accounts"
            ),
        }
    }
}

impl std::error::Error for ManyAccountsError {}

/// An account made by [`FakeCronofy::add_accounts`](crate::FakeCronofy::add_accounts).
///
/// `Debug` does not show the tokens.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GeneratedAccount {
    /// The caller's label, `acct-000001`, `acct-000002`, … in creation order (the `id` of
    /// [`GeneratedAccount::json_line`]).
    pub label: String,
    /// The Cronofy account id (`acc_` + 24 hex).
    pub account_id: String,
    /// A valid access token of the account (granted to the seeded application).
    pub access_token: String,
    /// The refresh token of that grant.
    pub refresh_token: String,
    /// Whether the account is linked to Enterprise Connect (elevation granted at once).
    pub enterprise_connect: bool,
}

impl GeneratedAccount {
    /// The account as one line of `audit`'s input, without the newline:
    /// `{"id":"acct-000001","access_token":"…"}`.
    pub fn json_line(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            id: &'a str,
            access_token: &'a str,
        }
        serde_json::to_string(&Line {
            id: &self.label,
            access_token: &self.access_token,
        })
        .unwrap_or_default()
    }
}

impl std::fmt::Debug for GeneratedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedAccount")
            .field("label", &self.label)
            .field("account_id", &self.account_id)
            .field("enterprise_connect", &self.enterprise_connect)
            .finish_non_exhaustive()
    }
}

/// Writes accounts as JSON lines, `audit`'s input format (one
/// [`GeneratedAccount::json_line`] per line).
///
/// # Errors
///
/// What writing to `out` returns.
pub fn write_account_lines(
    accounts: &[GeneratedAccount],
    mut out: impl std::io::Write,
) -> std::io::Result<()> {
    for account in accounts {
        out.write_all(account.json_line().as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

const GENERATED_CALENDAR_NAMES: [&str; 5] = ["Calendar", "Work", "Team", "Holidays", "Projects"];
const GENERATED_PROVIDERS: [&str; 4] = ["google", "exchange", "apple", "live_connect"];

/// The profile a code exchange names as `linking_profile`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LinkingProfile {
    pub(crate) provider_name: String,
    pub(crate) profile_id: String,
    pub(crate) profile_name: String,
}

#[derive(Debug)]
pub(crate) struct Account {
    pub(crate) enterprise_connect: bool,
    pub(crate) profile: LinkingProfile,
    pub(crate) calendars: Vec<FakeCalendar>,
}

#[derive(Debug)]
struct AccessEntry {
    grant: u64,
    expires_at: Instant,
    expired: bool,
}

#[derive(Debug)]
struct Grant {
    /// The application (index into `State::apps`) the grant was given to.
    app: usize,
    account_id: String,
    scope: String,
    refresh_token: String,
    access_tokens: VecDeque<String>,
    pinned: bool,
}

#[derive(Debug)]
struct CodeEntry {
    app: usize,
    account_id: String,
    redirect_uri: String,
    scope: String,
    issued_at: Instant,
    used: bool,
}

#[derive(Debug)]
struct PendingAuthorization {
    app: usize,
    redirect_uri: String,
    state: Option<String>,
    scope: String,
    answered: bool,
}

#[derive(Debug)]
struct PermissionRequest {
    account_id: String,
    calendar_ids: Vec<String>,
    redirect_uri: String,
    answered: bool,
}

/// An insertion-ordered map that forgets its oldest entries past a capacity.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn insert(&mut self, key: K, value: V) {
        while self.map.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
        }
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key)
    }
}

/// A granted token pair, as a token answer shows it.
#[derive(Debug)]
pub(crate) struct IssuedTokens {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) scope: String,
    /// For code exchanges: the account id and its linking profile.
    pub(crate) account: Option<(String, LinkingProfile)>,
}

/// Where an answered consent page sends the user: the redirect URI and the query
/// parameters to add to it.
#[derive(Debug)]
pub(crate) struct RedirectBack {
    pub(crate) redirect_uri: String,
    pub(crate) params: Vec<(&'static str, String)>,
}

/// Why a grant was refused (`invalid_grant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrantError {
    UnknownCode,
    UsedCode,
    ExpiredCode,
    RedirectMismatch,
    /// The code was issued to another application.
    ClientMismatch,
    UnknownRefreshToken,
}

/// Why a consent or permissions page cannot be shown or answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageError {
    NotFound,
    AlreadyAnswered,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthError {
    Unknown,
    Expired,
}

/// A permissions page, as shown.
#[derive(Debug)]
pub(crate) struct PermissionPage {
    /// `(name, id)` of each calendar asked for.
    pub(crate) calendars: Vec<(String, String)>,
}

/// The whole fake Cronofy.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) app_name: String,
    /// Every OAuth application; the seeded one is index 0.
    apps: Vec<Application>,
    /// Accounts made by [`State::add_generated_accounts`], in order.
    generated: Vec<GeneratedAccount>,
    /// The account the consent page's Allow grants.
    pub(crate) user_account_id: String,
    accounts: HashMap<String, Account>,
    access: HashMap<String, AccessEntry>,
    refresh: HashMap<String, u64>,
    grants: BTreeMap<u64, Grant>,
    unpinned_grants: usize,
    next_grant: u64,
    codes: Bounded<String, CodeEntry>,
    authorizations: Bounded<String, PendingAuthorization>,
    permission_requests: Bounded<String, PermissionRequest>,
}

fn seed_calendar(id: &str, name: &str, profile: (&str, &str), flags: [bool; 5]) -> NewCalendar {
    let [readonly, deleted, primary, conferencing, attachments] = flags;
    NewCalendar {
        id: Some(id.to_owned()),
        name: name.to_owned(),
        profile_id: Some(profile.0.to_owned()),
        profile_name: "example@cronofy.com".to_owned(),
        provider_name: profile.1.to_owned(),
        readonly,
        deleted,
        primary,
        integrated_conferencing_available: conferencing,
        attachments_available: attachments,
        permission_level: SANDBOX.to_owned(),
    }
}

impl State {
    /// A fresh fake with its seeded client, user account and Enterprise Connect account.
    pub(crate) fn seeded() -> (State, Seed) {
        let mut state = State {
            client_id: ids::alnum(32),
            client_secret: ids::alnum(32),
            app_name: "Demo App".to_owned(),
            apps: Vec::new(),
            generated: Vec::new(),
            user_account_id: String::new(),
            accounts: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            grants: BTreeMap::new(),
            unpinned_grants: 0,
            next_grant: 1,
            codes: Bounded::new(PAGE_CAPACITY),
            authorizations: Bounded::new(PAGE_CAPACITY),
            permission_requests: Bounded::new(PAGE_CAPACITY),
        };
        state.apps.push(Application {
            client_id: state.client_id.clone(),
            client_secret: state.client_secret.clone(),
            name: state.app_name.clone(),
        });
        // The docs' list-calendars example, in order, then a writable primary calendar.
        // flags: readonly, deleted, primary, conferencing, attachments
        let google = ("pro_n23kjnwrw2", "google");
        let apple = ("pro_fe145c37de", "apple");
        let user = NewAccount::user()
            .calendar(seed_calendar(
                "cal_n23kjnwrw2_jsdfjksn234",
                "Home",
                google,
                [false, false, true, true, false],
            ))
            .calendar(seed_calendar(
                "cal_n23kjnwrw2_n1k323nkj23",
                "Work",
                google,
                [true, true, false, false, false],
            ))
            .calendar(seed_calendar(
                "cal_fe145c37de_3nkj23wejk1",
                "Bank Holidays",
                apple,
                [true, false, false, false, true],
            ))
            .calendar(seed_calendar(
                "cal_fe145c37de_w0rkab1e001",
                "Personal",
                apple,
                [false, false, true, false, true],
            ));
        let user = state.add_account(user);
        state.user_account_id = user.account_id.clone();

        let rooms = ids::profile_id();
        let room_calendar = |name: &str, primary: bool| {
            NewCalendar::new(name)
                .profile(rooms.clone(), "rooms@example.com", "exchange")
                .primary(primary)
        };
        let enterprise = state.add_account(
            NewAccount::enterprise()
                .calendar(room_calendar("Boardroom", true))
                .calendar(room_calendar("Team Calendar", false)),
        );
        let seed = Seed {
            client_id: state.client_id.clone(),
            client_secret: state.client_secret.clone(),
            app_name: state.app_name.clone(),
            account_id: user.account_id,
            access_token: user.access_token,
            refresh_token: user.refresh_token,
            enterprise_account_id: enterprise.account_id,
            enterprise_access_token: enterprise.access_token,
            enterprise_refresh_token: enterprise.refresh_token,
            calendar_ids: user.calendar_ids,
            enterprise_calendar_ids: enterprise.calendar_ids,
        };
        (state, seed)
    }

    /// Adds an account with a pinned (never forgotten) grant.
    ///
    /// # Panics
    ///
    /// If the account id is taken, or two calendars share an id.
    pub(crate) fn add_account(&mut self, new: NewAccount) -> AccountTokens {
        self.add_account_for(SEEDED_APP, new)
    }

    /// Adds an account whose ready grant belongs to application `app`.
    ///
    /// # Panics
    ///
    /// As [`State::add_account`].
    pub(crate) fn add_account_for(&mut self, app: usize, new: NewAccount) -> AccountTokens {
        let account_id = new.id.unwrap_or_else(ids::account_id);
        assert!(
            !self.accounts.contains_key(&account_id),
            "add_account: account {account_id} already exists"
        );
        let profile = match new.calendars.first() {
            Some(NewCalendar {
                profile_id: Some(id),
                profile_name,
                provider_name,
                ..
            }) => LinkingProfile {
                provider_name: provider_name.clone(),
                profile_id: id.clone(),
                profile_name: profile_name.clone(),
            },
            first => LinkingProfile {
                provider_name: first
                    .map_or("google", |c| c.provider_name.as_str())
                    .to_owned(),
                profile_id: ids::profile_id(),
                profile_name: first
                    .map_or("example@cronofy.com", |c| c.profile_name.as_str())
                    .to_owned(),
            },
        };
        self.accounts.insert(
            account_id.clone(),
            Account {
                enterprise_connect: new.enterprise_connect,
                profile,
                calendars: Vec::with_capacity(new.calendars.len()),
            },
        );
        let calendar_ids = new
            .calendars
            .into_iter()
            .map(|calendar| self.add_calendar(&account_id, calendar))
            .collect();
        let (access_token, refresh_token) = self.new_grant(app, &account_id, DEFAULT_SCOPE, true);
        AccountTokens {
            account_id,
            access_token,
            refresh_token,
            calendar_ids,
        }
    }

    /// Adds a calendar, returning its id.
    ///
    /// # Panics
    ///
    /// If the account is unknown or already has a calendar with that id.
    pub(crate) fn add_calendar(&mut self, account_id: &str, new: NewCalendar) -> String {
        let account = self
            .accounts
            .get_mut(account_id)
            .unwrap_or_else(|| panic!("add_calendar: unknown account {account_id}"));
        let (profile_id, profile_name, provider_name) = match new.profile_id {
            Some(id) => (id, new.profile_name, new.provider_name),
            None => (
                account.profile.profile_id.clone(),
                account.profile.profile_name.clone(),
                account.profile.provider_name.clone(),
            ),
        };
        let id = new.id.unwrap_or_else(|| ids::calendar_id(&profile_id));
        assert!(
            account.calendars.iter().all(|c| c.id != id),
            "add_calendar: account {account_id} already has calendar {id}"
        );
        account.calendars.push(FakeCalendar {
            id: id.clone(),
            name: new.name,
            profile_id,
            profile_name,
            provider_name,
            readonly: new.readonly,
            deleted: new.deleted,
            primary: new.primary,
            integrated_conferencing_available: new.integrated_conferencing_available,
            attachments_available: new.attachments_available,
            permission_level: new.permission_level,
        });
        id
    }

    /// Adds an OAuth application with random credentials.
    pub(crate) fn add_application(&mut self, name: &str) -> Application {
        let app = Application {
            client_id: ids::alnum(32),
            client_secret: ids::alnum(32),
            name: name.to_owned(),
        };
        self.apps.push(app.clone());
        app
    }

    /// The index of the application with this client id.
    pub(crate) fn app_index(&self, client_id: &str) -> Option<usize> {
        self.apps.iter().position(|a| a.client_id == client_id)
    }

    /// The application with these credentials, if they are right.
    pub(crate) fn check_client(&self, client_id: &str, client_secret: &str) -> Option<usize> {
        self.app_index(client_id)
            .filter(|i| self.apps[*i].client_secret == client_secret)
    }

    /// The name of application `app` (the seeded one's for an unknown index).
    pub(crate) fn app_name_of(&self, app: usize) -> &str {
        self.apps
            .get(app)
            .map_or(self.app_name.as_str(), |a| a.name.as_str())
    }

    /// The client id of application `app` (the seeded one's for an unknown index).
    pub(crate) fn client_id_of(&self, app: usize) -> &str {
        self.apps
            .get(app)
            .map_or(self.client_id.as_str(), |a| a.client_id.as_str())
    }

    /// The application an access token was granted to, whatever its state (expired tokens
    /// still name their application).
    pub(crate) fn token_app(&self, access_token: &str) -> Option<usize> {
        let entry = self.access.get(access_token)?;
        self.grants.get(&entry.grant).map(|g| g.app)
    }

    /// Adds `spec.count` accounts with two to five calendars each, laid out from
    /// `spec.seed` (see [`ManyAccounts`]), with a ready grant of the seeded application.
    pub(crate) fn add_generated_accounts(
        &mut self,
        spec: ManyAccounts,
    ) -> Result<Vec<GeneratedAccount>, ManyAccountsError> {
        if spec.enterprise > spec.count {
            return Err(ManyAccountsError::TooManyEnterprise {
                count: spec.count,
                enterprise: spec.enterprise,
            });
        }
        let first = self.generated.len();
        self.accounts.reserve(spec.count);
        self.access.reserve(spec.count);
        self.refresh.reserve(spec.count);
        self.generated.reserve(spec.count);
        let mut token_rng = ids::SplitMix::new(rand::random());
        for k in 0..spec.count {
            let number = first + k + 1;
            // One small generator per account: the same seed gives the same account at the
            // same position, whatever the batch sizes.
            let mut rng =
                ids::SplitMix::new(spec.seed ^ (number as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
            // Spread the Enterprise Connect accounts evenly: exactly `enterprise` of them.
            let enterprise_connect = spec.count > 0
                && (k + 1) * spec.enterprise / spec.count > k * spec.enterprise / spec.count;
            let mut account_id = format!("acc_{}", rng.hex(24));
            while self.accounts.contains_key(&account_id) {
                account_id = format!("acc_{}", rng.hex(24));
            }
            let suffix = rng.lower_alnum(10);
            let profile = LinkingProfile {
                provider_name: GENERATED_PROVIDERS[rng.below(GENERATED_PROVIDERS.len())].to_owned(),
                profile_id: format!("pro_{suffix}"),
                profile_name: format!("user{number}@example.com"),
            };
            let count = 2 + rng.below(4);
            let calendars = (0..count)
                .map(|i| {
                    // The first calendar is the writable primary one; the others may be
                    // read-only or deleted. Any of them may already be unrestricted.
                    let readonly = i > 0 && rng.chance(25);
                    let deleted = i > 0 && rng.chance(10);
                    let unrestricted = rng.chance(30);
                    FakeCalendar {
                        id: format!("cal_{suffix}_{}", rng.lower_alnum(10)),
                        name: GENERATED_CALENDAR_NAMES[i].to_owned(),
                        profile_id: profile.profile_id.clone(),
                        profile_name: profile.profile_name.clone(),
                        provider_name: profile.provider_name.clone(),
                        readonly,
                        deleted,
                        primary: i == 0,
                        integrated_conferencing_available: false,
                        attachments_available: false,
                        permission_level: if unrestricted { UNRESTRICTED } else { SANDBOX }
                            .to_owned(),
                    }
                })
                .collect();
            self.accounts.insert(
                account_id.clone(),
                Account {
                    enterprise_connect,
                    profile,
                    calendars,
                },
            );
            let (access_token, refresh_token) = (token_rng.alnum(32), token_rng.alnum(32));
            self.insert_grant(
                SEEDED_APP,
                &account_id,
                DEFAULT_SCOPE,
                true,
                (access_token.clone(), refresh_token.clone()),
            );
            self.generated.push(GeneratedAccount {
                label: format!("acct-{number:06}"),
                account_id,
                access_token,
                refresh_token,
                enterprise_connect,
            });
        }
        Ok(self.generated[first..].to_vec())
    }

    /// Every account made by [`State::add_generated_accounts`], in order.
    pub(crate) fn generated_accounts(&self) -> &[GeneratedAccount] {
        &self.generated
    }

    pub(crate) fn account(&self, account_id: &str) -> Option<&Account> {
        self.accounts.get(account_id)
    }

    pub(crate) fn calendars_of(&self, account_id: &str) -> Vec<FakeCalendar> {
        self.accounts
            .get(account_id)
            .map(|a| a.calendars.clone())
            .unwrap_or_default()
    }

    fn new_grant(
        &mut self,
        app: usize,
        account_id: &str,
        scope: &str,
        pinned: bool,
    ) -> (String, String) {
        let tokens = (ids::alnum(32), ids::alnum(32));
        self.insert_grant(app, account_id, scope, pinned, tokens.clone());
        tokens
    }

    /// Records a grant with these `(access, refresh)` tokens.
    fn insert_grant(
        &mut self,
        app: usize,
        account_id: &str,
        scope: &str,
        pinned: bool,
        (access_token, refresh_token): (String, String),
    ) {
        let id = self.next_grant;
        self.next_grant += 1;
        self.refresh.insert(refresh_token.clone(), id);
        self.access.insert(
            access_token.clone(),
            AccessEntry {
                grant: id,
                expires_at: Instant::now() + ACCESS_TOKEN_LIFETIME,
                expired: false,
            },
        );
        self.grants.insert(
            id,
            Grant {
                app,
                account_id: account_id.to_owned(),
                scope: scope.to_owned(),
                refresh_token: refresh_token.clone(),
                access_tokens: VecDeque::from([access_token.clone()]),
                pinned,
            },
        );
        if !pinned {
            self.unpinned_grants += 1;
            if self.unpinned_grants > GRANT_CAPACITY {
                let oldest = self
                    .grants
                    .iter()
                    .find(|(_, g)| !g.pinned)
                    .map(|(id, _)| *id);
                if let Some(oldest) = oldest {
                    self.remove_grant(oldest);
                }
            }
        }
    }

    fn remove_grant(&mut self, id: u64) {
        if let Some(grant) = self.grants.remove(&id) {
            if !grant.pinned {
                self.unpinned_grants -= 1;
            }
            self.refresh.remove(&grant.refresh_token);
            for token in grant.access_tokens {
                self.access.remove(&token);
            }
        }
    }

    /// The account a bearer token belongs to.
    pub(crate) fn authenticate(&self, access_token: &str) -> Result<&str, AuthError> {
        let entry = self.access.get(access_token).ok_or(AuthError::Unknown)?;
        if entry.expired || Instant::now() >= entry.expires_at {
            return Err(AuthError::Expired);
        }
        let grant = self.grants.get(&entry.grant).ok_or(AuthError::Unknown)?;
        Ok(&grant.account_id)
    }

    pub(crate) fn expire_access_token(&mut self, access_token: &str) {
        if let Some(entry) = self.access.get_mut(access_token) {
            entry.expired = true;
        }
    }

    /// Issues a single-use code, as if the account's user approved the consent page.
    ///
    /// # Panics
    ///
    /// If the account is unknown.
    pub(crate) fn issue_code(
        &mut self,
        account_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> String {
        self.issue_code_for(SEEDED_APP, account_id, redirect_uri, scope)
    }

    /// Issues a code to application `app`. See [`State::issue_code`].
    pub(crate) fn issue_code_for(
        &mut self,
        app: usize,
        account_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> String {
        assert!(
            self.accounts.contains_key(account_id),
            "issue_code: unknown account {account_id}"
        );
        let code = ids::alnum(32);
        self.codes.insert(
            code.clone(),
            CodeEntry {
                app,
                account_id: account_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                scope: scope.to_owned(),
                issued_at: Instant::now(),
                used: false,
            },
        );
        code
    }

    /// The `authorization_code` grant.
    pub(crate) fn exchange_code(
        &mut self,
        app: usize,
        code: &str,
        redirect_uri: &str,
    ) -> Result<IssuedTokens, GrantError> {
        let entry = self
            .codes
            .get_mut(&code.to_owned())
            .ok_or(GrantError::UnknownCode)?;
        if entry.used {
            return Err(GrantError::UsedCode);
        }
        if entry.issued_at.elapsed() >= CODE_LIFETIME {
            return Err(GrantError::ExpiredCode);
        }
        if entry.app != app {
            return Err(GrantError::ClientMismatch);
        }
        if entry.redirect_uri != redirect_uri {
            return Err(GrantError::RedirectMismatch);
        }
        entry.used = true;
        let account_id = entry.account_id.clone();
        let scope = entry.scope.clone();
        let profile = self
            .accounts
            .get(&account_id)
            .map(|a| a.profile.clone())
            .ok_or(GrantError::UnknownCode)?;
        let (access_token, refresh_token) = self.new_grant(app, &account_id, &scope, false);
        Ok(IssuedTokens {
            access_token,
            refresh_token,
            scope,
            account: Some((account_id, profile)),
        })
    }

    /// The `refresh_token` grant: a new access token, the same refresh token.
    pub(crate) fn refresh(
        &mut self,
        app: usize,
        refresh_token: &str,
    ) -> Result<IssuedTokens, GrantError> {
        let id = *self
            .refresh
            .get(refresh_token)
            .ok_or(GrantError::UnknownRefreshToken)?;
        let grant = self
            .grants
            .get_mut(&id)
            .filter(|grant| grant.app == app)
            .ok_or(GrantError::UnknownRefreshToken)?;
        let access_token = ids::alnum(32);
        grant.access_tokens.push_back(access_token.clone());
        let evicted = if grant.access_tokens.len() > ACCESS_TOKENS_PER_GRANT {
            grant.access_tokens.pop_front()
        } else {
            None
        };
        let scope = grant.scope.clone();
        if let Some(evicted) = evicted {
            self.access.remove(&evicted);
        }
        self.access.insert(
            access_token.clone(),
            AccessEntry {
                grant: id,
                expires_at: Instant::now() + ACCESS_TOKEN_LIFETIME,
                expired: false,
            },
        );
        Ok(IssuedTokens {
            access_token,
            refresh_token: refresh_token.to_owned(),
            scope,
            account: None,
        })
    }

    /// Revokes the grant an access or refresh token belongs to; unknown tokens are ignored
    /// (RFC 7009).
    pub(crate) fn revoke_token(&mut self, app: usize, token: &str) {
        let grant = self
            .refresh
            .get(token)
            .copied()
            .or_else(|| self.access.get(token).map(|e| e.grant))
            .filter(|id| self.grants.get(id).is_some_and(|g| g.app == app));
        if let Some(id) = grant {
            self.remove_grant(id);
        }
    }

    /// Revokes every grant of an account given to application `app`.
    pub(crate) fn revoke_sub(&mut self, app: usize, sub: &str) {
        let ids: Vec<u64> = self
            .grants
            .iter()
            .filter(|(_, g)| g.app == app && g.account_id == sub)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.remove_grant(id);
        }
    }

    pub(crate) fn create_authorization(
        &mut self,
        app: usize,
        redirect_uri: &str,
        state: Option<&str>,
        scope: &str,
    ) -> String {
        let id = ids::alnum(32);
        self.authorizations.insert(
            id.clone(),
            PendingAuthorization {
                app,
                redirect_uri: redirect_uri.to_owned(),
                state: state.map(str::to_owned),
                scope: scope.to_owned(),
                answered: false,
            },
        );
        id
    }

    /// Answers a consent page: the redirect URI, the query parameters to add to it.
    pub(crate) fn answer_authorization(
        &mut self,
        id: &str,
        approve: bool,
    ) -> Result<RedirectBack, PageError> {
        let pending = self
            .authorizations
            .get_mut(&id.to_owned())
            .ok_or(PageError::NotFound)?;
        if pending.answered {
            return Err(PageError::AlreadyAnswered);
        }
        pending.answered = true;
        let redirect_uri = pending.redirect_uri.clone();
        let state = pending.state.clone();
        let scope = pending.scope.clone();
        let app = pending.app;
        let mut params = Vec::with_capacity(2);
        if approve {
            let account = self.user_account_id.clone();
            params.push((
                "code",
                self.issue_code_for(app, &account, &redirect_uri, &scope),
            ));
        } else {
            params.push(("error", "access_denied".to_owned()));
        }
        if let Some(state) = state {
            params.push(("state", state));
        }
        Ok(RedirectBack {
            redirect_uri,
            params,
        })
    }

    /// Elevates calendars of an account at once (Enterprise Connect).
    pub(crate) fn elevate(&mut self, account_id: &str, calendar_ids: &[String]) {
        if let Some(account) = self.accounts.get_mut(account_id) {
            for calendar in &mut account.calendars {
                if calendar_ids.contains(&calendar.id) {
                    UNRESTRICTED.clone_into(&mut calendar.permission_level);
                }
            }
        }
    }

    pub(crate) fn create_permission_request(
        &mut self,
        account_id: &str,
        calendar_ids: Vec<String>,
        redirect_uri: &str,
    ) -> String {
        let id = ids::alnum(32);
        self.permission_requests.insert(
            id.clone(),
            PermissionRequest {
                account_id: account_id.to_owned(),
                calendar_ids,
                redirect_uri: redirect_uri.to_owned(),
                answered: false,
            },
        );
        id
    }

    pub(crate) fn permission_page(&self, id: &str) -> Result<PermissionPage, PageError> {
        let request = self
            .permission_requests
            .get(&id.to_owned())
            .ok_or(PageError::NotFound)?;
        if request.answered {
            return Err(PageError::AlreadyAnswered);
        }
        let calendars = self
            .accounts
            .get(&request.account_id)
            .map(|account| {
                request
                    .calendar_ids
                    .iter()
                    .map(|id| {
                        let name = account
                            .calendars
                            .iter()
                            .find(|c| &c.id == id)
                            .map_or_else(String::new, |c| c.name.clone());
                        (name, id.clone())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(PermissionPage { calendars })
    }

    /// Answers a permissions page: the redirect URI to go back to.
    pub(crate) fn answer_permission_request(
        &mut self,
        id: &str,
        accept: bool,
    ) -> Result<String, PageError> {
        let request = self
            .permission_requests
            .get_mut(&id.to_owned())
            .ok_or(PageError::NotFound)?;
        if request.answered {
            return Err(PageError::AlreadyAnswered);
        }
        request.answered = true;
        let redirect_uri = request.redirect_uri.clone();
        if accept {
            let account_id = request.account_id.clone();
            let calendar_ids = request.calendar_ids.clone();
            self.elevate(&account_id, &calendar_ids);
        }
        Ok(redirect_uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_matches_docs() {
        let (state, seed) = State::seeded();
        assert_eq!(seed.calendar_ids.len(), 4);
        assert_eq!(seed.enterprise_calendar_ids.len(), 2);
        assert_eq!(seed.client_id.len(), 32);
        let calendars = state.calendars_of(&seed.account_id);
        assert!(calendars.iter().all(|c| c.permission_level == SANDBOX));
        assert_eq!(calendars[0].id, "cal_n23kjnwrw2_jsdfjksn234");
        assert_eq!(calendars[3].profile_id, "pro_fe145c37de");
        assert!(!calendars[3].readonly && calendars[3].primary);
        assert_eq!(
            state.authenticate(&seed.access_token),
            Ok(seed.account_id.as_str())
        );
        assert!(
            state
                .account(&seed.enterprise_account_id)
                .unwrap()
                .enterprise_connect
        );
    }

    #[test]
    fn codes_are_single_use_and_bound_to_redirect() {
        let (mut state, seed) = State::seeded();
        let code = state.issue_code(&seed.account_id, "http://x/cb", DEFAULT_SCOPE);
        let other = state.add_application("Other");
        let other = state.app_index(&other.client_id).unwrap();
        assert_eq!(
            state.exchange_code(0, &code, "http://x/other").unwrap_err(),
            GrantError::RedirectMismatch
        );
        assert_eq!(
            state
                .exchange_code(other, &code, "http://x/cb")
                .unwrap_err(),
            GrantError::ClientMismatch
        );
        let tokens = state.exchange_code(0, &code, "http://x/cb").unwrap();
        assert_eq!(
            state.exchange_code(0, &code, "http://x/cb").unwrap_err(),
            GrantError::UsedCode
        );
        assert_eq!(
            state.exchange_code(0, "nope", "http://x/cb").unwrap_err(),
            GrantError::UnknownCode
        );
        assert!(state.refresh(other, &tokens.refresh_token).is_err());
        let refreshed = state.refresh(0, &tokens.refresh_token).unwrap();
        assert_eq!(refreshed.refresh_token, tokens.refresh_token);
        assert!(state.authenticate(&refreshed.access_token).is_ok());
        state.revoke_token(other, &tokens.refresh_token);
        assert!(state.authenticate(&refreshed.access_token).is_ok());
        state.revoke_token(0, &tokens.refresh_token);
        assert_eq!(
            state.authenticate(&refreshed.access_token),
            Err(AuthError::Unknown)
        );
        assert!(state.refresh(0, &tokens.refresh_token).is_err());
    }

    #[test]
    fn refresh_keeps_a_bounded_number_of_access_tokens() {
        let (mut state, seed) = State::seeded();
        for _ in 0..(ACCESS_TOKENS_PER_GRANT * 2) {
            state.refresh(0, &seed.refresh_token).unwrap();
        }
        assert!(state.access.len() <= ACCESS_TOKENS_PER_GRANT + 2);
    }

    #[test]
    fn bounded_forgets_oldest() {
        let mut b = Bounded::new(2);
        b.insert(1, "a");
        b.insert(2, "b");
        b.insert(3, "c");
        assert!(b.get(&1).is_none());
        assert_eq!(b.get(&3), Some(&"c"));
    }
}
