//! `zaryad-sim`: simulated chargers against a CSMS.
//!
//! `idle` connects many chargers that boot, report their connectors and then stay connected,
//! answering pings; it prints a JSON summary, including the server's resident memory when
//! given its process id, which is how memory per connection is measured.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use zaryad_wire::{Frame, OcppVersion};

/// Simulated OCPP chargers for tests, benchmarks and reproducing field problems.
#[derive(Debug, Parser)]
#[command(name = "zaryad-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Connect many chargers that boot and then stay idle; report connect times and memory.
    Idle(IdleArgs),
}

#[derive(Debug, clap::Args)]
struct IdleArgs {
    /// Base URL; the station id is appended (`ws://127.0.0.1:9000/ocpp`).
    #[arg(long, default_value = "ws://127.0.0.1:9000/ocpp")]
    url: String,
    /// How many chargers.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// OCPP version: 1.6 or 2.0.1.
    #[arg(long, default_value = "1.6")]
    ocpp: String,
    /// Station ids are PREFIX-00001, PREFIX-00002, …
    #[arg(long, default_value = "SIM")]
    prefix: String,
    /// How many connections are opened at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// How long to hold the connections after all are up, seconds.
    #[arg(long, default_value_t = 5)]
    hold_secs: u64,
    /// The server's process id: its RSS is reported before and after connecting.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Spread connections over this many source addresses 127.0.0.1, 127.0.0.2, … (each
    /// address has its own ~28,000 ephemeral ports).
    #[arg(long, default_value_t = 1)]
    source_addresses: u8,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Idle(args) => idle(args).await,
    }
}

/// Resident set size of a process in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn idle(args: IdleArgs) -> anyhow::Result<()> {
    let version: OcppVersion = args.ocpp.parse()?;
    let rss_before = args.server_pid.and_then(rss_kib);
    let started = Instant::now();
    let (ready_tx, mut ready_rx) =
        tokio::sync::mpsc::channel::<anyhow::Result<Duration>>(args.count.max(1));
    let release = tokio::sync::watch::channel(false);
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    for index in 0..args.count {
        let station_id = format!("{}-{:05}", args.prefix, index + 1);
        let url = format!("{}/{}", args.url.trim_end_matches('/'), station_id);
        let source = Ipv4Addr::new(
            127,
            0,
            0,
            1 + (index % usize::from(args.source_addresses.max(1))) as u8,
        );
        let ready_tx = ready_tx.clone();
        let mut release_rx = release.1.clone();
        let permits = permits.clone();
        tokio::spawn(async move {
            let permit = permits.acquire_owned().await;
            let begun = Instant::now();
            match boot_charger(&url, version, source).await {
                Ok(mut socket) => {
                    drop(permit);
                    let _ = ready_tx.send(Ok(begun.elapsed())).await;
                    // Hold the connection, answering pings, until released.
                    loop {
                        tokio::select! {
                            _ = release_rx.changed() => break,
                            message = socket.next() => match message {
                                Some(Ok(_)) => {}
                                _ => break,
                            }
                        }
                    }
                    let _ = socket.close(None).await;
                }
                Err(error) => {
                    let _ = ready_tx.send(Err(error)).await;
                }
            }
        });
    }
    drop(ready_tx);
    let mut connect_times = Vec::with_capacity(args.count);
    let mut failures = Vec::new();
    while let Some(result) = ready_rx.recv().await {
        match result {
            Ok(elapsed) => connect_times.push(elapsed),
            Err(error) => failures.push(error.to_string()),
        }
        if connect_times.len() + failures.len() == args.count {
            break;
        }
    }
    let all_up = started.elapsed();
    // Let the server settle (buffers flushed, allocator quiet) before measuring.
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    let rss_after = args.server_pid.and_then(rss_kib);
    let _ = release.0.send(true);
    connect_times.sort();
    let percentile = |p: f64| -> Option<f64> {
        let index = ((connect_times.len() as f64 - 1.0) * p).round() as usize;
        connect_times.get(index).map(|d| d.as_secs_f64() * 1000.0)
    };
    let per_connection = match (rss_before, rss_after) {
        (Some(before), Some(after)) if !connect_times.is_empty() => {
            Some((after.saturating_sub(before)) as f64 / connect_times.len() as f64)
        }
        _ => None,
    };
    let summary = json!({
        "mode": "idle",
        "ocpp": version.as_str(),
        "requested": args.count,
        "connected": connect_times.len(),
        "failed": failures.len(),
        "first_failures": failures.iter().take(5).collect::<Vec<_>>(),
        "all_connected_after_s": all_up.as_secs_f64(),
        "connect_boot_ms": {"p50": percentile(0.5), "p99": percentile(0.99), "max": percentile(1.0)},
        "server_rss_kib": {"before": rss_before, "after": rss_after},
        "server_rss_kib_per_connection": per_connection,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if !failures.is_empty() {
        bail!("{} of {} chargers failed", failures.len(), args.count);
    }
    Ok(())
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Connects one charger from `source`, sends BootNotification and one StatusNotification.
async fn boot_charger(url: &str, version: OcppVersion, source: Ipv4Addr) -> anyhow::Result<Socket> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(version.subprotocol()),
    );
    let host = request.uri().host().context("URL without host")?.to_owned();
    let port = request.uri().port_u16().unwrap_or(80);
    let target: IpAddr = if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse()?
    };
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let stream = socket.connect(SocketAddr::new(target, port)).await?;
    let (mut socket, _) = tokio_tungstenite::client_async(request, stream).await?;
    let (boot, status) = match version {
        OcppVersion::V16 => (
            json!({"chargePointVendor": "ZaryadSim", "chargePointModel": "Idle-1"}),
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
        ),
        OcppVersion::V201 => (
            json!({"reason": "PowerUp", "chargingStation": {"vendorName": "ZaryadSim", "model": "Idle-1"}}),
            json!({"timestamp": chrono::Utc::now().to_rfc3339(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1}),
        ),
    };
    call(&mut socket, "1", "BootNotification", boot).await?;
    call(&mut socket, "2", "StatusNotification", status).await?;
    Ok(socket)
}

async fn call(
    socket: &mut Socket,
    id: &str,
    action: &str,
    payload: Value,
) -> anyhow::Result<Value> {
    socket
        .send(Message::text(Frame::call(id, action, payload).to_text()))
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .context("no answer within 30 s")?
            .context("connection closed")??;
        if let Message::Text(text) = message {
            match Frame::parse(text.as_str()) {
                Ok(Frame::CallResult {
                    message_id,
                    payload,
                }) if message_id == id => return Ok(payload),
                Ok(Frame::CallError {
                    message_id,
                    error_code,
                    ..
                }) if message_id == id => {
                    bail!("{action} answered with {error_code}")
                }
                _ => {}
            }
        }
    }
}
