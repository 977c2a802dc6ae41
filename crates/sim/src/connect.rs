//! Opening a charger's WebSocket: the source address, the subprotocol, Basic auth, small buffers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use zaryad_wire::OcppVersion;

/// A charger's open WebSocket.
pub type Socket = WebSocketStream<TcpStream>;

/// Where and how chargers connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL; the station id is appended as the last path segment.
    pub base_url: String,
    /// The server's address, resolved once.
    pub addr: SocketAddr,
    /// Source addresses to spread connections over (empty: let the OS choose).
    pub sources: Vec<Ipv4Addr>,
    /// HTTP Basic password (user = station id), for security profile 1.
    pub password: Option<String>,
    /// Leave out `Sec-WebSocket-Protocol`, as some field chargers do.
    pub omit_subprotocol: bool,
    /// How long the TCP connect plus upgrade may take.
    pub connect_timeout: Duration,
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The base URL is not a usable `ws://` URL.
    #[error("bad URL {url}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Binding, connecting or the upgrade failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server refused or broke the upgrade.
    #[error("{0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// The connect did not finish in time.
    #[error("connecting timed out")]
    TimedOut,
}

impl Target {
    /// Resolves `base_url` (`ws://host:port/path`) and chooses source addresses: spread over
    /// `source_addresses` addresses 127.0.0.1, 127.0.0.2, … when the server is on loopback
    /// (each address has its own ~28,000 ephemeral ports), or none when 0 or not loopback.
    pub async fn resolve(
        base_url: &str,
        source_addresses: u8,
        password: Option<String>,
        omit_subprotocol: bool,
    ) -> Result<Target, ConnectError> {
        let bad = |reason: &str| ConnectError::Url {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let request = base_url
            .into_client_request()
            .map_err(|error| bad(&error.to_string()))?;
        let uri = request.uri();
        match uri.scheme_str() {
            Some("ws") => {}
            Some("wss") => return Err(bad("wss:// (TLS) is not supported by the simulator")),
            _ => return Err(bad("the scheme must be ws://")),
        }
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(|| bad("the host has no IPv4 address"))?;
        let sources = if addr.ip().is_loopback() {
            (0..source_addresses)
                .map(|offset| Ipv4Addr::new(127, 0, 0, offset.saturating_add(1)))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Target {
            base_url: base_url.trim_end_matches('/').to_owned(),
            addr,
            sources,
            password,
            omit_subprotocol,
            connect_timeout: Duration::from_secs(10),
        })
    }

    /// The source address of charger number `index`.
    pub fn source_for(&self, index: usize) -> Option<Ipv4Addr> {
        if self.sources.is_empty() {
            None
        } else {
            self.sources.get(index % self.sources.len()).copied()
        }
    }

    /// Opens the WebSocket of `station_id` speaking `version`.
    pub async fn connect(
        &self,
        station_id: &str,
        version: OcppVersion,
        index: usize,
    ) -> Result<Socket, ConnectError> {
        tokio::time::timeout(
            self.connect_timeout,
            self.connect_now(station_id, version, index),
        )
        .await
        .map_err(|_| ConnectError::TimedOut)?
    }

    async fn connect_now(
        &self,
        station_id: &str,
        version: OcppVersion,
        index: usize,
    ) -> Result<Socket, ConnectError> {
        let url = format!("{}/{station_id}", self.base_url);
        let mut request =
            url.as_str()
                .into_client_request()
                .map_err(|error| ConnectError::Url {
                    url: url.clone(),
                    reason: error.to_string(),
                })?;
        if !self.omit_subprotocol {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static(version.subprotocol()),
            );
        }
        if let Some(password) = &self.password {
            let credentials = base64::engine::general_purpose::STANDARD
                .encode(format!("{station_id}:{password}"));
            let value = HeaderValue::from_str(&format!("Basic {credentials}")).map_err(|_| {
                ConnectError::Url {
                    url: url.clone(),
                    reason: "the password cannot go into an HTTP header".to_owned(),
                }
            })?;
            request.headers_mut().insert("Authorization", value);
        }
        let socket = TcpSocket::new_v4()?;
        if let Some(source) = self.source_for(index) {
            socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
        }
        let stream = socket.connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let (socket, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(websocket_config()))
                .await?;
        Ok(socket)
    }
}

/// Small buffers: tungstenite's default 128 KiB read buffer per connection would cost the
/// simulator 2.4 GB at 19,000 chargers.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(Some(1024 * 1024))
        .max_frame_size(Some(1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_targets_spread_over_source_addresses() {
        let target = Target::resolve("ws://127.0.0.1:9000/ocpp/", 4, None, false)
            .await
            .unwrap();
        assert_eq!(target.base_url, "ws://127.0.0.1:9000/ocpp");
        assert_eq!(target.addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(target.source_for(0), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(target.source_for(5), Some(Ipv4Addr::new(127, 0, 0, 2)));
        let single = Target::resolve("ws://127.0.0.1:9000/ocpp", 0, None, false)
            .await
            .unwrap();
        assert_eq!(single.source_for(3), None);
    }

    #[tokio::test]
    async fn unusable_urls_are_refused() {
        assert!(
            Target::resolve("http://127.0.0.1:9000", 1, None, false)
                .await
                .is_err()
        );
        assert!(
            Target::resolve("wss://127.0.0.1:9000", 1, None, false)
                .await
                .is_err()
        );
        assert!(Target::resolve("not a url", 1, None, false).await.is_err());
    }
}
