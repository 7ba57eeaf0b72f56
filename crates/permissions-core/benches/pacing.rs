//! The in-process pacing decision against the least any shared counter costs: a bare
//! `Mutex<u64>` increment, from 1 thread and from 16 threads contending for one lock.
//!
//! `cargo bench -p permissions-core --bench pacing` (add `-- --quick` for a short run). In each
//! group, `ours` is `LocalPacer::reserve` (Cronofy's two windows) and `baseline` the counter;
//! `state` (1 thread) is the bare arithmetic, `PacerState::reserve` without the lock. With 16
//! threads a sample is the wall time of 16 threads sharing the iterations, divided by the
//! iterations: nanoseconds per decision for the whole process.

mod common;

use std::hint::black_box;
use std::sync::{Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use permissions_core::PacingConfig;
use permissions_core::transport::{LocalPacer, PacerState};

const THREADS: u64 = 16;

/// Runs `op(thread, i)` `iters` times in all, shared among [`THREADS`] threads that start
/// together; returns the wall time from the start to the last thread's end.
fn contended(iters: u64, op: impl Fn(u64, u64) + Sync) -> Duration {
    let start_line = Barrier::new(THREADS as usize + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (op, start_line) = (&op, &start_line);
                let share = iters / THREADS + u64::from(thread < iters % THREADS);
                scope.spawn(move || {
                    start_line.wait();
                    for i in 0..share {
                        op(thread, i);
                    }
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        for handle in handles {
            handle.join().expect("no panic");
        }
        start.elapsed()
    })
}

fn one_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("pacing_1_thread");
    let pacer = LocalPacer::new(PacingConfig::cronofy_default());
    let mut now = 0u64;
    group.bench_function("ours", |b| {
        b.iter(|| {
            now += 1_000;
            black_box(pacer.reserve(black_box(now)))
        })
    });
    let config = PacingConfig::cronofy_default();
    let mut state = PacerState::default();
    let mut now = 0u64;
    group.bench_function("state", |b| {
        b.iter(|| {
            now += 1_000;
            black_box(state.reserve(&config, black_box(now)))
        })
    });
    let counter = Mutex::new(0u64);
    group.bench_function("baseline", |b| {
        b.iter(|| {
            let mut count = counter.lock().unwrap_or_else(PoisonError::into_inner);
            *count += 1;
            black_box(*count)
        })
    });
    group.finish();
}

fn sixteen_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("pacing_16_threads");
    let pacer = LocalPacer::new(PacingConfig::cronofy_default());
    group.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            contended(iters, |thread, i| {
                black_box(pacer.reserve(black_box(i * 1_000 + thread)));
            })
        })
    });
    let counter = Mutex::new(0u64);
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            contended(iters, |_, _| {
                let mut count = counter.lock().unwrap_or_else(PoisonError::into_inner);
                *count += 1;
                black_box(*count);
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = one_thread, sixteen_threads
}
criterion_main!(benches);
