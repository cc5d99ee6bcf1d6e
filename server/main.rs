//! `symbatcher-server`: parse flags, set up logging, bind, serve.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use symbatcher::{shutdown, ServerConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let mut config = ServerConfig::parse();
    if let Err(err) = config.resolve() {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SYMBATCHER_LOG")
                .or_else(|_| EnvFilter::try_from_default_env())
                .unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {}: {err}", config.listen);
            return ExitCode::from(2);
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("error: cannot read the listening address: {err}");
            return ExitCode::from(2);
        }
    };
    // The embedding client reads this line to learn the port.
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, default_engine = %config.default_engine(), "symbatcher-server started");

    let shutdown = shutdown::signal(config.exit_with_stdin);
    match symbatcher::run(listener, config, shutdown).await {
        Ok(()) => {
            tracing::info!("symbatcher-server stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
