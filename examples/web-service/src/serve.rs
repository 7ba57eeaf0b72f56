//! Serving the router: HTTP/1.1 with a header-read timeout, and a graceful shutdown with a
//! deadline.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// How [`serve`] treats slow clients and shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    /// A client must send a request's complete headers within this time, or the connection is
    /// closed: a half-sent request holds nothing for long.
    pub header_read_timeout: Duration,
    /// After the shutdown signal, requests in progress get this long to finish; then
    /// [`serve`] returns, whatever connection is still open.
    pub shutdown_deadline: Duration,
}

impl Default for ServeOptions {
    /// 10 s to send headers; 10 s to finish at shutdown.
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(10),
            shutdown_deadline: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets the
/// requests in progress finish (idle keep-alive connections are closed at once) and returns
/// when they are done or at the deadline, whichever comes first.
///
/// Connections left at the deadline are still tasks on the runtime: a binary returns from
/// `main` (dropping the runtime ends them); a test's runtime ends them when the test ends.
///
/// # Errors
/// None today: a failed `accept` (out of file descriptors, a reset before accept) is retried
/// after a short pause rather than ending the server.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let service = TowerToHyperService::new(router.clone());
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    // A failed connection (reset, timed out headers) concerns only its client.
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(options.shutdown_deadline, graceful.shutdown()).await;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what `docker stop` and Kubernetes send). If the
/// signals cannot be watched, never completes: the process then runs until killed.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
