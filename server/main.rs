//! `symbatcher-server`: parse flags, set up logging, bind, serve.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use symbatcher::telemetry::logging::init_logging;
use symbatcher::{shutdown, ServerConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let mut config = ServerConfig::parse();
    if let Err(err) = config.resolve() {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    init_logging(config.log_format, config.log_secrets());

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
    let default_engine = config.default_engine().to_string();
    // Printed once the stores are open and locked and the engines set up:
    // a server that cannot take them exits with an error instead, before
    // any client is told it listens. The embedding client reads this line
    // to learn the port.
    let ready = move || {
        println!("listening on {addr}");
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, %default_engine, "symbatcher-server started");
    };

    let shutdown = shutdown::signal(config.exit_with_stdin);
    match symbatcher::run_announced(listener, config, shutdown, ready).await {
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
