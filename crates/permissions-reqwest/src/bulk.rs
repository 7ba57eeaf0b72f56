//! [`audit`]: many accounts as a stream, at most `concurrency` in flight, in input order.

use std::sync::Arc;

use futures_util::stream::{self, Stream, StreamExt};
use permissions_core::audit::{AccountAudit, AuditAccount, AuditPlan, AuditStep};

use crate::Client;

/// Audits `accounts` with the core's [`AuditPlan`], up to `concurrency` accounts in flight
/// (at least one), every call through `client` (so through its pacer). The stream yields each
/// account's result in input order, as soon as it and all before it are done
/// (`futures`' `buffered`). Accounts are taken from `accounts` only as room frees up: end
/// that iterator early (`take_while` on a flag) to stop taking new ones; dropping the stream
/// cancels the calls in flight.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use futures_util::StreamExt;
/// use permissions_reqwest::{Client, audit::AuditPlan};
/// # let fake = permissions_fake::FakeCronofy::start().await?;
/// # let made = fake.add_accounts(permissions_fake::ManyAccounts::new(5)).unwrap();
/// # let accounts: Vec<_> = made.iter().map(|a| permissions_reqwest::audit::AuditAccount::new(
/// #     a.label.clone(), permissions_reqwest::AccessToken::new(a.access_token.clone()))).collect();
/// # let client = Client::builder().base_urls(fake.api_url(), fake.app_url()).pacing(None).build()?;
/// let results = permissions_reqwest::audit(&client, &AuditPlan::list_only(), accounts, 3);
/// let lines: Vec<String> = results.map(|account| account.to_json_line()).collect().await;
/// assert!(lines[4].starts_with(r#"{"id":"acct-000005","calendars":"#));
/// # Ok(()) }
/// ```
pub fn audit<I>(
    client: &Client,
    plan: &AuditPlan,
    accounts: I,
    concurrency: usize,
) -> impl Stream<Item = AccountAudit> + Send + 'static
where
    I: IntoIterator<Item = AuditAccount>,
    I::IntoIter: Send + 'static,
{
    let shared = Arc::new((client.clone(), plan.clone()));
    stream::iter(accounts)
        .map(move |account| audit_account(Arc::clone(&shared), account))
        .buffered(concurrency.max(1))
}

/// One account: its calendars, then the permissions request when the plan asks for one.
async fn audit_account(shared: Arc<(Client, AuditPlan)>, account: AuditAccount) -> AccountAudit {
    let (client, plan) = &*shared;
    let token = account.access_token();
    let listed = client.list_calendars(token).await;
    let pending = match plan.after_listing(account.id(), listed) {
        AuditStep::Elevate(pending) => pending,
        AuditStep::Done(done) => return done,
    };
    let answer = client.request_permissions(token, pending.request()).await;
    pending.finish(answer)
}
