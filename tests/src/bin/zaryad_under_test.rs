//! The Zaryad server in a process of its own, configured from the environment exactly like
//! `zaryad serve`, so that crash tests can SIGKILL it mid-load.
//!
//! When it serves, it prints one line `READY <ocpp address> <api address>` on standard output
//! (the tests bind port 0). SIGTERM stops it gracefully; SIGKILL is the point.

use std::io::Write;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;
use zaryad_server::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (config, warnings) = Config::load(None)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let server = zaryad_server::start(config).await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "READY {} {}", server.ocpp_addr, server.api_addr)?;
        stdout.flush()?;
    }
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    terminate.recv().await;
    server.shutdown().await
}
