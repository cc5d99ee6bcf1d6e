//! Shutdown signals: SIGINT/SIGTERM, and optionally end of standard input.

use std::io::Read;

use tokio::sync::oneshot;

/// Resolves on SIGINT or SIGTERM, or (with `watch_stdin`) when standard input
/// closes, which is how an owning parent process takes the server down with it.
pub async fn signal(watch_stdin: bool) {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    };
    let stdin_closed = async {
        if !watch_stdin {
            return std::future::pending::<()>().await;
        }
        // A plain thread, not tokio's stdin (a blocking-pool task the
        // runtime would wait for at exit): a server stopped by a signal
        // while its owner still holds the pipe must still exit.
        let (closed_tx, closed_rx) = oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("stdin-watch".into())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                let mut buf = [0u8; 256];
                // Anything read is ignored; only end of file (or an error) matters.
                while let Ok(n) = stdin.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                }
                let _ = closed_tx.send(());
            });
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot watch standard input");
            return std::future::pending::<()>().await;
        }
        let _ = closed_rx.await;
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = terminate => tracing::info!("SIGTERM received"),
        _ = stdin_closed => tracing::info!("standard input closed; owner is gone"),
    }
}
