//! A server on in-memory pipes (`tokio::io::duplex`), started through the
//! crate's public `symbatcher::serve`, as the integration tests do.

use std::net::SocketAddr;

use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint, Uri};

use symbatcher::ServerConfig;

/// Bytes buffered in each direction of a pipe.
const PIPE_BYTES: usize = 1 << 20;

/// Connections the server has not accepted yet.
const PENDING_CONNECTIONS: usize = 16;

pub struct InMemoryServer {
    pub channel: Channel,
    shutdown_tx: oneshot::Sender<()>,
    serve: JoinHandle<Result<(), symbatcher::Error>>,
}

impl InMemoryServer {
    /// Starts a server with every default but the echo engine's
    /// concurrency, and connects one channel to it.
    pub async fn start() -> InMemoryServer {
        let mut config = ServerConfig::with_listen(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.echo_max_concurrency = 8;
        let (conn_tx, conn_rx) =
            mpsc::channel::<Result<DuplexStream, std::io::Error>>(PENDING_CONNECTIONS);
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let serve = tokio::spawn(symbatcher::serve(
            ReceiverStream::new(conn_rx),
            config,
            async move {
                let _ = shutdown_rx.await;
            },
        ));
        let connector = tower::service_fn(move |_: Uri| {
            let conn_tx = conn_tx.clone();
            async move {
                let (client_half, server_half) = tokio::io::duplex(PIPE_BYTES);
                conn_tx
                    .send(Ok(server_half))
                    .await
                    .map_err(|_| std::io::Error::other("server stopped accepting"))?;
                Ok::<_, std::io::Error>(TokioIo::new(client_half))
            }
        });
        let channel = Endpoint::from_static("http://in-memory")
            .connect_with_connector(connector)
            .await
            .expect("in-memory connection");
        InMemoryServer {
            channel,
            shutdown_tx,
            serve,
        }
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(());
        let _ = self.serve.await;
    }
}
