//! What every test file of the CLI shares: the binary, started with no Cronofy setting
//! inherited from the environment of whoever runs the tests.

use std::process::Command;

/// The built `cronofy-permissions`.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_cronofy-permissions");

/// Every environment variable the CLI reads.
const ENVIRONMENT: [&str; 9] = [
    "CRONOFY_ACCESS_TOKEN",
    "CRONOFY_CLIENT_ID",
    "CRONOFY_CLIENT_SECRET",
    "CRONOFY_REFRESH_TOKEN",
    "CRONOFY_DATA_CENTER",
    "CRONOFY_AUTHORIZATION_CODE",
    "CRONOFY_RATE_LIMIT",
    "CRONOFY_REDIS_URL",
    "FLEET_SIZE",
];

/// A command for the binary with none of the CLI's environment variables inherited.
pub(crate) fn clean_command() -> Command {
    clean_command_for(BIN)
}

/// `program` (the binary, or a wrapper that runs it) with none of the CLI's environment
/// variables inherited.
pub(crate) fn clean_command_for(program: &str) -> Command {
    let mut cmd = Command::new(program);
    for var in ENVIRONMENT {
        cmd.env_remove(var);
    }
    cmd
}
