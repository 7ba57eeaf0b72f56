//! A running `serve-fake` for the tests that start the binary's local Cronofy (`cli.rs`,
//! `serve_fake.rs`): its stdout read line by line on a thread, the process killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// A running `serve-fake`, killed when dropped.
pub(crate) struct Served {
    child: Child,
    lines: Receiver<String>,
}

impl Served {
    /// Starts `serve-fake` with `args`, from `command` (the binary, environment cleaned).
    pub(crate) fn start(mut command: Command, args: &[&str]) -> Served {
        let mut child = command
            .arg("serve-fake")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve-fake starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Served { child, lines }
    }

    /// The next line it printed on stdout (waiting at most 20 s).
    pub(crate) fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .expect("serve-fake printed a line")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
