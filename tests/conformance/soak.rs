//! Soak: 10,000 requests at 64 in flight through each transport, every one answered
//! correctly, and no file descriptor left behind.

use crate::drivers;
use crate::scenarios::{REDIRECT_URI, config, fake};
use permissions_core::{AccessToken, PermissionsRequest};

const TOTAL: usize = 10_000;
const IN_FLIGHT: usize = 64;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Counting file descriptors needs a process of its own: the other tests of this binary run in
/// parallel threads and open sockets too. So this test re-runs the binary for the ignored one.
#[test]
fn ten_thousand_requests_at_64_in_flight() {
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "soak::soak_in_isolation",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .output()
        .expect("run the soak in its own process");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "soak failed:\n{text}");
    assert!(text.contains("1 passed"), "the soak did not run:\n{text}");
}

#[test]
#[ignore = "run by ten_thousand_requests_at_64_in_flight in a process of its own"]
fn soak_in_isolation() {
    for (name, factory) in drivers::all() {
        let fake = fake();
        let token = AccessToken::new(fake.seed().access_token.clone());
        let request = PermissionsRequest::builder()
            .calendar(fake.seed().calendar_ids[0].clone())
            .redirect_uri(REDIRECT_URI)
            .build()
            .expect("valid");
        let before = open_fds();
        {
            let driver = factory(&config(&fake));
            let ok = driver.soak(&token, &request, TOTAL, IN_FLIGHT);
            assert_eq!(ok, TOTAL, "{name}: every request answered with a redirect");
        }
        drop(fake);
        // Give the kernel a moment to close sockets the runtimes dropped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while open_fds() > before + 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let after = open_fds();
        assert!(
            after <= before + 2,
            "{name}: file descriptors leaked: {before} before, {after} after"
        );
    }
}
