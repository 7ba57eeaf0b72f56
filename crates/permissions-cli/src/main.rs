//! The `cronofy-permissions` binary: see the `permissions_cli` library for what it does.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    permissions_cli::run()
}
