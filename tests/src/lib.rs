//! The conformance suite's package: its tests live in `conformance/`, and the loopback
//! benchmark in `src/bin/loopback-bench.rs` (run it with `cargo xtask bench`).
#![forbid(unsafe_code)]
