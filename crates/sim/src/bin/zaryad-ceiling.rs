//! `zaryad-ceiling`: the bare transport the benchmark measures Zaryad against.
//!
//! A tokio-tungstenite server that accepts any `/…/{stationId}` upgrade, picks the subprotocol
//! like Zaryad does (2.0.1 over 1.6, 1.6 when none is offered), parses each frame with the same
//! OCPP-J framing and answers every CALL with one fixed CALLRESULT: no logic, no storage, no
//! logging. Whatever it sustains is the most any OCPP server on this transport can, on the same
//! machine under the same load; Zaryad's numbers are read as a fraction of it.
//!
//! The fixed reply carries a field for every simulator CALL (`status`, `interval`,
//! `currentTime`, `idTagInfo`, `idTokenInfo`, `transactionId`), so one reply fits all actions.
//! The per-connection settings (4 KiB read buffer, no write buffer) match Zaryad's defaults, so
//! memory per idle connection compares like with like.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use zaryad_wire::{Frame, OcppVersion};

/// A bare OCPP-J WebSocket server answering every CALL with a fixed CALLRESULT (the
/// benchmark's ceiling). Stops on SIGTERM or Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "zaryad-ceiling", version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: String,
    /// Interval between WebSocket pings to each charger, seconds (0: none), as Zaryad does.
    #[arg(long, default_value_t = 60)]
    ping_secs: u64,
}

const FIXED_REPLY: &str = r#"{"status":"Accepted","currentTime":"2026-01-01T00:00:00.000Z","interval":300,"idTagInfo":{"status":"Accepted"},"idTokenInfo":{"status":"Accepted"},"transactionId":1}"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let listener = TcpListener::bind(&cli.listen)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    let reply: Arc<serde_json::Value> =
        Arc::new(serde_json::from_str(FIXED_REPLY).context("the fixed reply is JSON")?);
    let ping = (cli.ping_secs > 0).then(|| Duration::from_secs(cli.ping_secs));
    println!("zaryad-ceiling listening on {}", listener.local_addr()?);
    let serve = async {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let reply = reply.clone();
                    tokio::spawn(serve_connection(stream, peer, reply, ping));
                }
                // Out of file descriptors or a reset during accept: keep serving the others.
                Err(error) => {
                    eprintln!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    tokio::select! {
        () = serve => {}
        () = shutdown_signal() => {}
    }
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

// The handshake callback's error type is tungstenite's, large or not.
#[allow(clippy::result_large_err)]
async fn serve_connection(
    stream: TcpStream,
    _peer: SocketAddr,
    reply: Arc<serde_json::Value>,
    ping: Option<Duration>,
) {
    let _ = stream.set_nodelay(true);
    let mut version = OcppVersion::V16;
    let choose = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        let offered = request
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|value| value.to_str().ok());
        if let Some(offered) = offered
            && let Some(chosen) = OcppVersion::negotiate(offered)
        {
            version = chosen;
            response.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static(chosen.subprotocol()),
            );
        }
        Ok(response)
    };
    let config = zaryad_sim::connect::websocket_config();
    let Ok(mut socket) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, choose, Some(config)).await
    else {
        return;
    };
    let mut ticker =
        ping.map(|period| tokio::time::interval_at(tokio::time::Instant::now() + period, period));
    loop {
        let message = tokio::select! {
            message = socket.next() => message,
            () = async {
                match ticker.as_mut() {
                    Some(ticker) => { ticker.tick().await; }
                    None => std::future::pending().await,
                }
            } => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return,
        };
        let answer = match Frame::parse(text.as_str()) {
            Ok(Frame::Call { message_id, .. }) => Frame::call_result(&message_id, (*reply).clone()),
            Ok(_) => continue,
            Err(error) if error.should_reply => error.to_call_error(version),
            Err(_) => continue,
        };
        if socket.send(Message::text(answer.to_text())).await.is_err() {
            return;
        }
    }
}
