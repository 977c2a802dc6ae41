//! The OCPP listener: accepts TCP connections, checks the HTTP upgrade (identity, subprotocol,
//! Basic auth) and hands the upgraded socket to a connection task.
//!
//! The upgrade is served with hyper rather than tungstenite's own handshake because deciding
//! on it needs the database (the station's password), and tungstenite's callback is synchronous.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::task::TaskTracker;
use zaryad_model::StationId;
use zaryad_wire::OcppVersion;

use crate::config::MissingSubprotocol;
use crate::metrics;
use crate::secrets::verify_station_password;
use crate::state::Shared;

use super::connection;
use super::station::StationRead;

/// Accepts chargers on `listener` until shutdown; every connection task joins `tasks`.
pub async fn serve_ocpp(shared: Arc<Shared>, listener: TcpListener, tasks: TaskTracker) {
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tasks.spawn(serve_http(shared.clone(), stream, peer, tasks.clone()));
                }
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accepting a charger connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn serve_http(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, tasks: TaskTracker) {
    let timeout = Duration::from_secs(shared.config.ocpp.handshake_timeout_secs.max(1));
    let service = service_fn(move |request| {
        let shared = shared.clone();
        let tasks = tasks.clone();
        async move { Ok::<_, Infallible>(upgrade(shared, request, peer, tasks).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(16 * 1024)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(error) = connection.await {
        tracing::debug!(%peer, %error, "charger HTTP connection ended with an error");
    }
}

/// A refusal before the upgrade, with the reason in the body and the log.
fn refuse(status: StatusCode, reason: &'static str, detail: String) -> Response<String> {
    metrics::handshake_refused(reason);
    tracing::info!(status = status.as_u16(), reason, %detail, "WebSocket upgrade refused");
    let mut response = Response::new(detail);
    *response.status_mut() = status;
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"zaryad\", charset=\"UTF-8\""),
        );
    }
    response
}

async fn upgrade(
    shared: Arc<Shared>,
    mut request: Request<Incoming>,
    peer: SocketAddr,
    tasks: TaskTracker,
) -> Response<String> {
    let headers = request.headers();
    let Some(key) = websocket_key(headers) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "not_websocket",
            "this port speaks OCPP over WebSocket only".to_owned(),
        );
    };
    let credentials = basic_credentials(headers);
    let identity = identity_from_path(request.uri().path())
        .or_else(|| credentials.as_ref().map(|(user, _)| user.clone()));
    let Some(identity) = identity else {
        return refuse(
            StatusCode::NOT_FOUND,
            "no_identity",
            "the URL must end with the station id, e.g. /ocpp/CP-001".to_owned(),
        );
    };
    let station_id = match StationId::parse(&identity) {
        Ok(station_id) => station_id,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, "bad_identity", error.to_string()),
    };
    let offered = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let (version, echo_protocol) = match offered.as_deref() {
        Some(offered) => match OcppVersion::negotiate(offered) {
            Some(version) => (version, true),
            None => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "unsupported_subprotocol",
                    format!(
                        "none of the offered subprotocols ({offered}) is supported: use ocpp1.6 or ocpp2.0.1"
                    ),
                );
            }
        },
        None => match shared.config.ocpp.missing_subprotocol {
            MissingSubprotocol::Ocpp16 => (OcppVersion::V16, false),
            MissingSubprotocol::Ocpp201 => (OcppVersion::V201, false),
            MissingSubprotocol::Reject => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "missing_subprotocol",
                    "the Sec-WebSocket-Protocol header is required".to_owned(),
                );
            }
        },
    };
    let upgrade_read = match shared.store.station_credentials(&station_id).await {
        Ok(Some(stored)) => {
            if let Some(hash) = stored.password_hash {
                // Security profile 1: the user must be the station's identity.
                let authenticated = credentials.as_ref().is_some_and(|(user, password)| {
                    user == station_id.as_str() && verify_station_password(&hash, password)
                });
                if !authenticated {
                    return refuse(
                        StatusCode::UNAUTHORIZED,
                        "bad_credentials",
                        format!("station {station_id}: missing or wrong password"),
                    );
                }
            }
            Some(Box::new(StationRead {
                station: Some(stored.station),
                state: stored.state,
            }))
        }
        Ok(None) => Some(Box::new(StationRead {
            station: None,
            state: None,
        })),
        Err(error) => {
            tracing::error!(%error, "credentials lookup failed");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the CSMS cannot check credentials right now".to_owned(),
            );
        }
    };
    if shared.shutdown.is_cancelled() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the CSMS is restarting".to_owned(),
        );
    }

    let on_upgrade = hyper::upgrade::on(&mut request);
    let ocpp = &shared.config.ocpp;
    let websocket_config = WebSocketConfig::default()
        .read_buffer_size(ocpp.read_buffer_bytes.max(1024))
        .write_buffer_size(0)
        .max_write_buffer_size(ocpp.max_write_buffer_bytes.max(64 * 1024))
        .max_message_size(Some(ocpp.max_message_bytes))
        .max_frame_size(Some(ocpp.max_message_bytes));
    let task_shared = shared.clone();
    let connection_id = shared.registry.next_connection_id();
    shared.admissions.admitted();
    tasks.spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(websocket_config),
                )
                .await;
                connection::run(
                    task_shared,
                    station_id,
                    connection_id,
                    version,
                    socket,
                    peer,
                    upgrade_read,
                )
                .await;
            }
            Err(error) => tracing::debug!(%peer, %error, "upgrade did not complete"),
        }
    });

    let mut response = Response::new(String::new());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let response_headers = response.headers_mut();
    response_headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    response_headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        response_headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if echo_protocol {
        response_headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(version.subprotocol()),
        );
    }
    response
}

/// The `Sec-WebSocket-Key` of a well-formed upgrade request.
fn websocket_key(headers: &HeaderMap) -> Option<String> {
    let upgrade = headers.get(header::UPGRADE)?.to_str().ok()?;
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return None;
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)?
        .to_str()
        .ok()?
        .trim();
    (!key.is_empty()).then(|| key.to_owned())
}

/// The last non-empty path segment, percent-decoded; a literal `+` stays `+`.
pub(crate) fn identity_from_path(path: &str) -> Option<String> {
    let segment = path.split('/').rev().find(|segment| !segment.is_empty())?;
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()?;
    Some(decoded.into_owned())
}

/// User and password of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    // OCPP 2.0.1 allows any bytes in the password; invalid UTF-8 is compared lossily.
    let text = String::from_utf8_lossy(&decoded).into_owned();
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_the_last_segment_percent_decoded() {
        assert_eq!(
            identity_from_path("/ocpp/CP-001").as_deref(),
            Some("CP-001")
        );
        assert_eq!(identity_from_path("/a/b/c/CP%20X").as_deref(), Some("CP X"));
        assert_eq!(identity_from_path("/ocpp/A+B").as_deref(), Some("A+B"));
        assert_eq!(identity_from_path("/ocpp/A%2BB").as_deref(), Some("A+B"));
        assert_eq!(identity_from_path("//CP7").as_deref(), Some("CP7"));
        assert_eq!(identity_from_path("/ocpp/CP8/").as_deref(), Some("CP8"));
        assert_eq!(identity_from_path("/"), None);
        assert_eq!(identity_from_path("/ocpp/%FF"), None);
    }

    #[test]
    fn basic_credentials_are_read() {
        let mut headers = HeaderMap::new();
        // The Grizzl-E's header from the quirk catalogue: user = charger id, empty password.
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic R1JTLTE3MDAwMDNmYjVkOg=="),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("GRS-1700003fb5d".to_owned(), String::new()))
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&headers), None);
    }
}
