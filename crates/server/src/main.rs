//! The `zaryad` binary.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use zaryad_server::Config;
use zaryad_server::config::LogFormat;

/// Zaryad: the central system (CSMS) for OCPP 1.6 and 2.0.1 charging stations.
#[derive(Debug, Parser)]
#[command(name = "zaryad", version, about, long_about = None)]
struct Cli {
    /// Configuration file (default: config/default.toml when present). Environment variables
    /// ZARYAD_<SECTION>__<KEY> override it.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: OCPP WebSocket listener, REST API, metrics. Applies migrations first.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (config, warnings) = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve(config).await,
            Command::Migrate => {
                zaryad_store::migrate(&config.database.url).await?;
                tracing::info!(
                    database = %zaryad_store::redact_url(&config.database.url),
                    "migrations applied"
                );
                Ok(())
            }
        }
    })
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let server = zaryad_server::start(config).await?;
    if let Some(token) = &server.generated_admin_token {
        println!("No admin token was configured, so one was generated. It is shown only now:");
        println!("ZARYAD_ADMIN_TOKEN={token}");
    }
    println!(
        "zaryad listening: OCPP ws://{}/ocpp/{{stationId}}, API http://{}/api/v1",
        server.ocpp_addr, server.api_addr
    );
    wait_for_signal().await;
    server.shutdown().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}
