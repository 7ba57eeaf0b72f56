//! [`audit`]: many accounts on a bounded pool of threads, results in input order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use permissions_core::audit::{AccountAudit, AuditAccount, AuditPlan, AuditStep};

use crate::Client;

/// Audits `accounts` with the core's [`AuditPlan`] on `concurrency` threads (at least one),
/// every call through `client` (so through its pacer). Yields each account's result in input
/// order, as soon as it and all before it are done. Accounts are taken from `accounts` one
/// at a time, only when a thread is free: end that iterator early (`take_while` on a flag)
/// to stop taking new ones. Dropping the iterator stops taking too; calls in flight finish
/// on their threads.
pub fn audit<I>(client: &Client, plan: &AuditPlan, accounts: I, concurrency: usize) -> Audit
where
    I: IntoIterator<Item = AuditAccount>,
    I::IntoIter: Send + 'static,
{
    let queue = Arc::new(Mutex::new(accounts.into_iter().enumerate()));
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, results) = mpsc::channel();
    for _ in 0..concurrency.max(1) {
        let (queue, stop, sender) = (Arc::clone(&queue), Arc::clone(&stop), sender.clone());
        let (client, plan) = (client.clone(), plan.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let next = queue.lock().map_or(None, |mut q| q.next());
                let Some((index, account)) = next else { break };
                if sender.send((index, one(&client, &plan, &account))).is_err() {
                    break;
                }
            }
        });
    }
    Audit {
        results,
        waiting: BTreeMap::new(),
        next: 0,
        stop,
    }
}

/// One account: list, then elevate if the plan says so.
fn one(client: &Client, plan: &AuditPlan, account: &AuditAccount) -> AccountAudit {
    let token = account.access_token();
    match plan.after_listing(account.id(), client.list_calendars(token)) {
        AuditStep::Done(done) => done,
        AuditStep::Elevate(pending) => {
            let answer = client.request_permissions(token, pending.request());
            pending.finish(answer)
        }
    }
}

/// The results of [`audit`], in input order.
#[derive(Debug)]
pub struct Audit {
    results: mpsc::Receiver<(usize, AccountAudit)>,
    waiting: BTreeMap<usize, AccountAudit>,
    next: usize,
    stop: Arc<AtomicBool>,
}

impl Iterator for Audit {
    type Item = AccountAudit;

    fn next(&mut self) -> Option<AccountAudit> {
        loop {
            if let Some(done) = self.waiting.remove(&self.next) {
                self.next += 1;
                return Some(done);
            }
            // Every thread gone and nothing waiting for this position: the end.
            let (index, done) = self.results.recv().ok()?;
            self.waiting.insert(index, done);
        }
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
