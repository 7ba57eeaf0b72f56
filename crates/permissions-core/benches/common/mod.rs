//! What every benchmark of this crate shares: criterion's settings (docs/benchmarks.md
//! quotes runs made with them).

use std::time::Duration;

use criterion::Criterion;

/// 500 ms warm-up, 2 s of measurement, 50 samples per function.
pub(crate) fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}
