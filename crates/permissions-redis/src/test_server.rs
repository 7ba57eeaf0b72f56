//! A private `redis-server` for tests and benchmarks: on a unix socket in a temporary
//! directory (or on a loopback port), no persistence, killed when dropped. Nothing assumes a
//! system service.
//!
//! `redis-server` comes from `PATH` (or `REDIS_SERVER`). When it is missing, tests skip with a
//! message, except under CI (`CI` set), where they fail loudly: CI installs it.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running (or stopped) private redis-server.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    listen: Listen,
}

#[derive(Clone, Debug)]
enum Listen {
    Unix(PathBuf),
    Tcp(u16),
}

fn program() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

/// Whether `redis-server` can be run; under CI a missing one panics.
fn available() -> bool {
    let found = Command::new(program())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        if std::env::var_os("CI").is_some_and(|ci| !ci.is_empty() && ci != "false") {
            panic!(
                "redis-server is not installed, and CI must run the Redis tests (.ci/run installs it)"
            );
        }
        eprintln!("SKIPPED: redis-server is not installed (set REDIS_SERVER or put it on PATH)");
    }
    found
}

impl RedisServer {
    /// Starts one on a unix socket; `None` (after a message) when redis-server is missing
    /// outside CI.
    pub fn start() -> Option<Self> {
        Self::start_with(|dir| Listen::Unix(dir.join("redis.sock")))
    }

    /// Starts one on a loopback TCP port chosen by the OS.
    pub fn start_tcp() -> Option<Self> {
        Self::start_with(|_| {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free loopback port")
                .port();
            Listen::Tcp(port)
        })
    }

    /// Starts one with its files in a new temporary directory, listening where `listen` says.
    fn start_with(listen: impl FnOnce(&std::path::Path) -> Listen) -> Option<Self> {
        if !available() {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("permissions-redis")
            .tempdir()
            .expect("a temporary directory");
        let listen = listen(dir.path());
        let mut server = Self {
            child: None,
            dir,
            listen,
        };
        server.restart();
        Some(server)
    }

    /// The URL clients use.
    pub fn url(&self) -> String {
        match &self.listen {
            Listen::Unix(socket) => format!("redis+unix://{}", socket.display()),
            Listen::Tcp(port) => format!("redis://127.0.0.1:{port}"),
        }
    }

    /// A plain connection, to look at the keys.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("the URL")
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("a connection to the test redis-server")
    }

    /// (Re)starts the server (after [`stop`](Self::stop)), and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let mut command = Command::new(program());
        command
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match &self.listen {
            Listen::Unix(socket) => {
                let _ = std::fs::remove_file(socket);
                command.args(["--port", "0", "--unixsocket"]).arg(socket);
            }
            Listen::Tcp(port) => {
                command.args(["--bind", "127.0.0.1", "--port", &port.to_string()]);
            }
        }
        self.child = Some(command.spawn().expect("redis-server starts"));
        let client = redis::Client::open(self.url()).expect("the URL");
        for _ in 0..400 {
            if let Ok(mut connection) = client.get_connection_with_timeout(Duration::from_secs(1))
                && redis::cmd("PING").query::<String>(&mut connection).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the test redis-server did not answer within 10 s");
    }

    /// Kills the server (connections break at once).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a frozen server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running redis-server");
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
