//! [`audit`]: many accounts on a bounded pool of threads, results in input order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use permissions_core::audit::{AccountAudit, AuditAccount, AuditPlan, AuditStep};

use crate::Client;

/// Audits `accounts` with the core's [`AuditPlan`] on `concurrency` threads (at least one),
/// every call through `client` (so through its pacer). Yields each account's result in input
/// order, as soon as it and all before it are done. Accounts are taken from `accounts` one
/// at a time, only when a thread is free: end that iterator early (`take_while` on a flag)
/// to stop taking new ones.
///
/// # Panics
///
/// Iterating the [`Audit`] panics, with the worker's own panic, if a worker thread panicked: a
/// custom transport or pacer panicking, or `accounts` panicking. The other threads take no new
/// accounts once one has panicked; the panic is raised when they have finished their calls in
/// flight, so an audit never ends quietly with accounts missing.
///
/// # Dropping
///
/// Dropping the [`Audit`] early stops taking accounts and returns at once: it does not wait
/// for the calls in flight, which finish on their own threads (their results, and a panic
/// among them, are discarded).
pub fn audit<I>(client: &Client, plan: &AuditPlan, accounts: I, concurrency: usize) -> Audit
where
    I: IntoIterator<Item = AuditAccount>,
    I::IntoIter: Send + 'static,
{
    let queue = Arc::new(Mutex::new(accounts.into_iter().enumerate()));
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, results) = mpsc::channel();
    let workers = (0..concurrency.max(1))
        .map(|_| {
            let (queue, sender) = (Arc::clone(&queue), sender.clone());
            let (client, plan) = (client.clone(), plan.clone());
            let stop = StopOnPanic(Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.stopped() {
                    // A poisoned queue: another thread panicked in `accounts`; it reports that.
                    let next = queue.lock().map_or(None, |mut q| q.next());
                    let Some((index, account)) = next else { break };
                    if sender.send((index, one(&client, &plan, &account))).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    Audit {
        results,
        waiting: BTreeMap::new(),
        next: 0,
        stop,
        workers,
    }
}

/// Held by each worker: if the worker panics, the others stop taking accounts, so that the
/// panic reaches the caller without the rest of the audit running first.
struct StopOnPanic(Arc<AtomicBool>);

impl StopOnPanic {
    fn stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
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

/// The results of [`audit`], in input order. Panics if a worker thread panicked (see
/// [`audit`]).
#[derive(Debug)]
pub struct Audit {
    results: mpsc::Receiver<(usize, AccountAudit)>,
    waiting: BTreeMap<usize, AccountAudit>,
    next: usize,
    stop: Arc<AtomicBool>,
    /// Joined once every thread has dropped its sender; empty after that.
    workers: Vec<JoinHandle<()>>,
}

impl Iterator for Audit {
    type Item = AccountAudit;

    fn next(&mut self) -> Option<AccountAudit> {
        loop {
            if let Some(done) = self.waiting.remove(&self.next) {
                self.next += 1;
                return Some(done);
            }
            match self.results.recv() {
                Ok((index, done)) => {
                    self.waiting.insert(index, done);
                }
                // Every thread gone and nothing waiting for this position: the end, unless a
                // thread panicked. The senders are dropped as the threads end, so these joins
                // do not wait on any call.
                Err(mpsc::RecvError) => {
                    let mut panicked = None;
                    for worker in self.workers.drain(..) {
                        if let Err(panic) = worker.join() {
                            panicked.get_or_insert(panic);
                        }
                    }
                    if let Some(panic) = panicked {
                        self.waiting.clear();
                        std::panic::resume_unwind(panic);
                    }
                    return None;
                }
            }
        }
    }
}

impl Drop for Audit {
    /// Stops taking accounts, without joining: a join would wait for the calls in flight
    /// (up to the timeout on every retry). The threads end after those calls.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
