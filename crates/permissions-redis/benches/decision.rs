//! The cost of one shared pacing decision: one script round trip to a private redis-server on
//! loopback TCP and on a unix socket, blocking and async, as p50 / p99 / mean microseconds;
//! the in-process decision beside them for scale.
//!
//! `cargo bench -p permissions-redis --bench decision` (needs `redis-server` on PATH).
//! Bounded: a fixed count of decisions per line.

#[path = "../src/test_server.rs"]
mod test_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use permissions_core::PacingConfig;
use permissions_core::transport::{AsyncPacer, LocalPacer, Pacer};
use permissions_redis::{AsyncRedisPacer, RedisPacer};
use test_server::RedisServer;

const WARM_UP: usize = 1_000;
const DECISIONS: usize = 20_000;

/// Limits so high that the decisions, reserved ahead without sleeping, stay realistic.
fn config() -> PacingConfig {
    PacingConfig::parse("1000000/s,50000000/min")
        .expect("valid")
        .expect("on")
}

fn report(name: &str, mut micros: Vec<f64>) {
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize];
    let mean = micros.iter().sum::<f64>() / micros.len() as f64;
    println!(
        "{name:<44} p50 {:>8.2} µs   p99 {:>8.2} µs   mean {:>8.2} µs   ({} decisions)",
        at(0.50),
        at(0.99),
        mean,
        micros.len()
    );
}

fn blocking(name: &str, pacer: &dyn Pacer) {
    for _ in 0..WARM_UP {
        pacer.reserve(Instant::now());
    }
    let micros = (0..DECISIONS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(pacer.reserve(start));
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    report(name, micros);
}

fn asynchronous(name: &str, runtime: &tokio::runtime::Runtime, pacer: Arc<AsyncRedisPacer>) {
    let micros = runtime.block_on(async move {
        for _ in 0..WARM_UP {
            AsyncPacer::reserve(&*pacer, Instant::now()).await;
        }
        let mut micros = Vec::with_capacity(DECISIONS);
        for _ in 0..DECISIONS {
            let start = Instant::now();
            std::hint::black_box(AsyncPacer::reserve(&*pacer, start).await);
            micros.push(start.elapsed().as_secs_f64() * 1e6);
        }
        micros
    });
    report(name, micros);
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: stay quick then.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!(
            "decision benchmark: run it with `cargo bench -p permissions-redis --bench decision`"
        );
        return;
    }
    let (Some(tcp), Some(unix)) = (RedisServer::start_tcp(), RedisServer::start()) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let build = |server: &RedisServer, key: &str| {
        RedisPacer::builder(&server.url(), config(), key)
            .timeout(Duration::from_secs(1))
            .build()
            .expect("a pacer")
    };
    let build_async = |server: &RedisServer, key: &str| {
        Arc::new(
            AsyncRedisPacer::builder(&server.url(), config(), key)
                .timeout(Duration::from_secs(1))
                .build_async()
                .expect("a pacer"),
        )
    };
    println!("one pacing decision (reserve), one thread:");
    blocking("in process (LocalPacer)", &LocalPacer::new(config()));
    let pacer = build(&tcp, "bench-tcp");
    blocking("Redis, blocking, loopback TCP", &pacer);
    assert!(pacer.is_shared(), "the benchmark fell back to local pacing");
    let pacer = build(&unix, "bench-unix");
    blocking("Redis, blocking, unix socket", &pacer);
    assert!(pacer.is_shared());
    let pacer = build_async(&tcp, "bench-async-tcp");
    asynchronous(
        "Redis, async (tokio), loopback TCP",
        &runtime,
        Arc::clone(&pacer),
    );
    assert!(pacer.is_shared());
    let pacer = build_async(&unix, "bench-async-unix");
    asynchronous(
        "Redis, async (tokio), unix socket",
        &runtime,
        Arc::clone(&pacer),
    );
    assert!(pacer.is_shared());
}
