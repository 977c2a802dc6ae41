//! Test support for Zaryad's end-to-end tests.
//!
//! [`TestServer`] starts the real server (`zaryad_server::start`) on free ports with a SQLite
//! database in a temporary directory; [`Charger`] is a small but real OCPP-J client over
//! WebSocket; [`wait_until`] polls eventually-consistent facts with a bounded timeout.
//!
//! Every wait in here is bounded, so a hung server fails a test within seconds instead of
//! hanging the suite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(missing_docs)]

pub mod crash;
pub mod events;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use zaryad_server::config::{UnknownStationPolicy, UnknownTokenPolicy};
use zaryad_server::{Config, RunningServer};

/// How long one OCPP call or one awaited frame may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`wait_until`] polls before it fails the test.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one HTTP request to the API may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The admin token every [`TestServer`] is configured with.
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdef";

/// The real server on free loopback ports, with its own database in a temporary directory.
pub struct TestServer {
    server: Option<RunningServer>,
    pub ocpp_addr: SocketAddr,
    pub api_addr: SocketAddr,
    /// The bearer token used by [`TestServer::get`] and friends.
    pub token: String,
    pub http: reqwest::Client,
    /// The token the server generated at start, when no admin token was configured.
    pub generated_admin_token: Option<String>,
    config: Config,
    dir: tempfile::TempDir,
}

impl TestServer {
    /// A server that accepts unknown stations and rejects unknown id tokens.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// A server configured like [`TestServer::start`], then changed by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let mut config = Config::default();
        config.ocpp.listen = "127.0.0.1:0".to_owned();
        config.api.listen = "127.0.0.1:0".to_owned();
        config.database.url = format!("sqlite://{}", dir.path().join("zaryad.db").display());
        config.database.flush_interval_ms = 50;
        config.database.last_seen_interval_ms = 50;
        config.api.admin_token = Some(ADMIN_TOKEN.to_owned());
        config.ocpp.unknown_stations = UnknownStationPolicy::Accept;
        config.authorization.unknown_tokens = UnknownTokenPolicy::Reject;
        config.shutdown.drain_secs = 0;
        // Chargers in most tests do not answer CSMS CALLs; the tests of the boot-time
        // configuration turn it on.
        config.ocpp.configure_on_boot = false;
        configure(&mut config);
        TestServer::start_in(dir, config).await
    }

    async fn start_in(dir: tempfile::TempDir, config: Config) -> TestServer {
        let token = config
            .api
            .admin_token
            .clone()
            .unwrap_or_else(|| "no-configured-token".to_owned());
        let server = tokio::time::timeout(
            Duration::from_secs(20),
            zaryad_server::start(config.clone()),
        )
        .await
        .expect("the server did not start within 20 s")
        .expect("the server failed to start");
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .expect("building the HTTP client");
        TestServer {
            ocpp_addr: server.ocpp_addr,
            api_addr: server.api_addr,
            generated_admin_token: server.generated_admin_token.clone(),
            server: Some(server),
            token,
            http,
            config,
            dir,
        }
    }

    /// Stops the server and starts a new one on the same database (on new ports).
    pub async fn restart(mut self) -> TestServer {
        self.stop().await;
        let TestServer { config, dir, .. } = self;
        TestServer::start_in(dir, config).await
    }

    /// The temporary directory holding the database.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The charger URL of `station_id` (not percent-encoded: pass an encoded id if needed).
    pub fn ws_url(&self, station_id: &str) -> String {
        format!("ws://{}/ocpp/{station_id}", self.ocpp_addr)
    }

    /// `http://{api}{path}`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api_addr)
    }

    /// A request with an explicit `Authorization` header value (or none).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method.clone(), self.url(path));
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{method} {path} failed: {error}"));
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .unwrap_or_else(|error| panic!("{method} {path}: reading the body failed: {error}"));
        (status, parse_body(&text))
    }

    /// A request with a raw (possibly malformed) body, authenticated with the admin token.
    pub async fn request_raw_body(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &str,
    ) -> (u16, Value) {
        let response = self
            .http
            .request(method.clone(), self.url(path))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap_or_else(|error| panic!("{method} {path} failed: {error}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, parse_body(&text))
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// `GET path` with the admin token.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, Some(&self.bearer()), None)
            .await
    }

    /// `PUT path` with a JSON body and the admin token.
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(
            reqwest::Method::PUT,
            path,
            Some(&self.bearer()),
            Some(&body),
        )
        .await
    }

    /// `POST path` with a JSON body and the admin token.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(
            reqwest::Method::POST,
            path,
            Some(&self.bearer()),
            Some(&body),
        )
        .await
    }

    /// `POST /api/v1/stations/{station_id}/commands/{name}` with the admin token.
    pub async fn command(&self, station_id: &str, name: &str, body: Value) -> (u16, Value) {
        self.post(
            &format!("/api/v1/stations/{station_id}/commands/{name}"),
            body,
        )
        .await
    }

    /// [`TestServer::command`] on a task of its own, so that the test can answer the CALL
    /// it causes with a [`Charger`].
    pub fn spawn_command(
        &self,
        station_id: &str,
        name: &str,
        body: Value,
    ) -> tokio::task::JoinHandle<(u16, Value)> {
        let http = self.http.clone();
        let url = self.url(&format!("/api/v1/stations/{station_id}/commands/{name}"));
        let bearer = self.bearer();
        tokio::spawn(async move {
            let response = http
                .post(&url)
                .header("Authorization", bearer)
                .json(&body)
                .send()
                .await
                .unwrap_or_else(|error| panic!("POST {url} failed: {error}"));
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            (status, parse_body(&text))
        })
    }

    /// Creates an API token with `role` and returns its secret.
    pub async fn create_token(&self, name: &str, role: &str) -> String {
        let (status, body) = self
            .post("/api/v1/tokens", json!({"name": name, "role": role}))
            .await;
        assert_eq!(status, 201, "POST /api/v1/tokens answered {status}: {body}");
        body["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {body}"))
            .to_owned()
    }

    /// The outbox events recorded so far, oldest first, as `(type, station_id, data)`.
    pub async fn events(&self) -> Vec<(String, String, Value)> {
        let server = self.server.as_ref().expect("the server is stopped");
        server
            .store()
            .events_after(0, 10_000)
            .await
            .expect("reading the outbox")
            .into_iter()
            .map(|stored| {
                let event = stored.event;
                (
                    event.event_type.as_str().to_owned(),
                    event.station_id.to_string(),
                    event.data,
                )
            })
            .collect()
    }

    /// `DELETE path` with the admin token.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::DELETE, path, Some(&self.bearer()), None)
            .await
    }

    /// `GET path` without a token, as text, with the `Content-Type`.
    pub async fn get_text_unauthenticated(&self, path: &str) -> (u16, String, String) {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path} failed: {error}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        (status, content_type, text)
    }

    /// `GET path` that must answer 200; returns the JSON body.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path} answered {status}: {body}");
        body
    }

    /// `PUT path` that must answer 200; returns the JSON body.
    pub async fn put_ok(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.put(path, body).await;
        assert_eq!(status, 200, "PUT {path} answered {status}: {answer}");
        answer
    }

    /// Provisions an id token with status `accepted`.
    pub async fn provision_token(&self, token: &str) {
        let body = self
            .put_ok(
                &format!("/api/v1/id-tokens/{token}"),
                json!({"status": "accepted"}),
            )
            .await;
        assert_eq!(body["token"], token);
        assert_eq!(body["status"], "accepted");
    }

    /// `GET /api/v1/stations/{id}` (id percent-encoded by the caller where needed).
    pub async fn station(&self, id: &str) -> Value {
        self.get_ok(&format!("/api/v1/stations/{id}")).await
    }

    /// The status of connector `connector_id` of EVSE `evse_id` as the API shows it.
    pub async fn connector_status(
        &self,
        station_id: &str,
        evse_id: u64,
        connector_id: u64,
    ) -> Option<String> {
        let station = self.station(station_id).await;
        connector_of(&station, evse_id, connector_id)
            .and_then(|connector| connector["status"].as_str().map(str::to_owned))
    }

    /// Every session of `station_id`, newest first.
    pub async fn sessions_of(&self, station_id: &str) -> Vec<Value> {
        let body = self
            .get_ok(&format!(
                "/api/v1/sessions?station_id={station_id}&limit=100"
            ))
            .await;
        body.as_array()
            .unwrap_or_else(|| panic!("GET /api/v1/sessions is not an array: {body}"))
            .clone()
    }

    /// The one session of `station_id`; fails unless there is exactly one.
    pub async fn only_session_of(&self, station_id: &str) -> Value {
        let sessions = self.sessions_of(station_id).await;
        assert_eq!(
            sessions.len(),
            1,
            "expected exactly one session of {station_id}, got {sessions:#?}"
        );
        sessions.into_iter().next().unwrap()
    }

    /// `GET /api/v1/sessions/{id}`.
    pub async fn session(&self, id: &str) -> Value {
        self.get_ok(&format!("/api/v1/sessions/{id}")).await
    }

    /// The session of `station_id` with OCPP transaction id `transaction_id`.
    pub async fn session_by_transaction(&self, station_id: &str, transaction_id: &str) -> Value {
        let sessions = self.sessions_of(station_id).await;
        let matching: Vec<&Value> = sessions
            .iter()
            .filter(|session| session["transaction_id"] == transaction_id)
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "expected one session with transaction id {transaction_id}, got {sessions:#?}"
        );
        matching[0].clone()
    }

    /// The measurands of a session's meter values, in time order.
    pub async fn measurands_of(&self, session: &Value) -> Vec<String> {
        let id = session["id"].as_str().expect("the session has an id");
        let samples = self
            .get_ok(&format!("/api/v1/sessions/{id}/meter-values"))
            .await;
        samples
            .as_array()
            .unwrap_or_else(|| panic!("meter values are not an array: {samples}"))
            .iter()
            .filter_map(|sample| sample["measurand"].as_str().map(str::to_owned))
            .collect()
    }

    /// Stops the server (drain window 0).
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            tokio::time::timeout(
                Duration::from_secs(20),
                server.shutdown_within(Duration::ZERO),
            )
            .await
            .expect("shutdown took longer than 20 s")
            .expect("shutdown failed");
        }
    }
}

fn parse_body(text: &str) -> Value {
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
    }
}

/// The connector object of a station view.
pub fn connector_of(station: &Value, evse_id: u64, connector_id: u64) -> Option<&Value> {
    station["evses"]
        .as_array()?
        .iter()
        .find(|evse| evse["evse_id"].as_u64() == Some(evse_id))?["connectors"]
        .as_array()?
        .iter()
        .find(|connector| connector["connector_id"].as_u64() == Some(connector_id))
}

/// A JSON number as `f64` (numbers compare as text under serde_json's arbitrary precision,
/// so tests compare values, not spellings).
pub fn num(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        _ => None,
    }
}

/// Asserts that `value[key]` is the number `expected`, exactly.
#[track_caller]
pub fn assert_num(value: &Value, key: &str, expected: f64) {
    let actual = num(&value[key]);
    assert_eq!(
        actual,
        Some(expected),
        "{key}: expected {expected}, got {} in {value:#}",
        value[key]
    );
}

/// Parses an RFC 3339 timestamp out of the API or a frame.
#[track_caller]
pub fn timestamp(value: &Value) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a timestamp string"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text:?} is not RFC 3339: {error}"))
        .with_timezone(&Utc)
}

/// `now − minutes_ago`, truncated to whole seconds and spelled in RFC 3339 UTC with `Z`.
pub fn time_ago(minutes_ago: i64) -> String {
    let at = Utc::now() - chrono::Duration::minutes(minutes_ago);
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Polls `check` every 50 ms until it returns true; fails the test after [`WAIT_TIMEOUT`].
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT_TIMEOUT;
    loop {
        if tokio::time::timeout_at(deadline, check()).await == Ok(true) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {WAIT_TIMEOUT:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a charger opens its WebSocket.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Subprotocols offered in `Sec-WebSocket-Protocol` (none: the header is left out).
    pub subprotocols: Vec<String>,
    /// HTTP Basic credentials (user, password).
    pub basic_auth: Option<(String, String)>,
}

/// A CALLERROR as the charger received it: (code, description).
pub type CallError = (String, String);

/// A real OCPP-J charger over WebSocket, driven step by step by a test.
pub struct Charger {
    socket: Socket,
    /// The subprotocol the server selected, if it echoed one.
    pub protocol: Option<String>,
    next_message_id: u64,
    /// CALLs the server sent while the charger waited for an answer.
    pub server_calls: Vec<Value>,
}

impl Charger {
    /// Connects `station_id` at `/ocpp/{station_id}` offering `protocol`; fails the test if
    /// the upgrade is refused.
    pub async fn connect(server: &TestServer, station_id: &str, protocol: &str) -> Charger {
        Charger::connect_url(&server.ws_url(station_id), protocol).await
    }

    /// Connects to `url` offering `protocol`; fails the test if the upgrade is refused.
    pub async fn connect_url(url: &str, protocol: &str) -> Charger {
        let options = ConnectOptions {
            subprotocols: vec![protocol.to_owned()],
            basic_auth: None,
        };
        match Charger::try_connect(url, &options).await {
            Ok(charger) => charger,
            Err(error) => panic!("connecting to {url} with {protocol} failed: {error}"),
        }
    }

    /// Connects with HTTP Basic auth (user = station id); fails the test if refused.
    pub async fn connect_with_password(
        server: &TestServer,
        station_id: &str,
        protocol: &str,
        password: &str,
    ) -> Charger {
        let options = ConnectOptions {
            subprotocols: vec![protocol.to_owned()],
            basic_auth: Some((station_id.to_owned(), password.to_owned())),
        };
        let url = server.ws_url(station_id);
        match Charger::try_connect(&url, &options).await {
            Ok(charger) => charger,
            Err(error) => panic!("connecting to {url} with a password failed: {error}"),
        }
    }

    /// Opens the WebSocket; the error carries the HTTP response of a refused upgrade.
    pub async fn try_connect(
        url: &str,
        options: &ConnectOptions,
    ) -> Result<Charger, tungstenite::Error> {
        let mut request = url.into_client_request()?;
        if !options.subprotocols.is_empty() {
            let offered = options.subprotocols.join(", ");
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_str(&offered).expect("a valid header value"),
            );
        }
        if let Some((user, password)) = &options.basic_auth {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request.headers_mut().insert(
                "Authorization",
                HeaderValue::from_str(&format!("Basic {encoded}")).expect("a valid header value"),
            );
        }
        let connected =
            tokio::time::timeout(CALL_TIMEOUT, tokio_tungstenite::connect_async(request))
                .await
                .map_err(|_| {
                    tungstenite::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the WebSocket handshake timed out",
                    ))
                })?;
        let (socket, response) = connected?;
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(Charger {
            socket,
            protocol,
            next_message_id: 0,
            server_calls: Vec::new(),
        })
    }

    /// A fresh message id for a CALL.
    pub fn next_id(&mut self) -> String {
        self.next_message_id += 1;
        format!("e2e-{}", self.next_message_id)
    }

    /// Sends `[2, id, action, payload]` and waits for the matching `[3, …]` or `[4, …]`.
    pub async fn call(&mut self, action: &str, payload: Value) -> Result<Value, CallError> {
        let message_id = self.next_id();
        self.call_with_id(&message_id, action, payload).await
    }

    /// Like [`Charger::call`] with a chosen message id.
    pub async fn call_with_id(
        &mut self,
        message_id: &str,
        action: &str,
        payload: Value,
    ) -> Result<Value, CallError> {
        let frame = json!([2, message_id, action, payload]);
        self.send_raw(&frame.to_string()).await;
        self.answer_to(message_id, action).await
    }

    /// Waits for the answer to `message_id`; CALLs from the server are kept in
    /// [`Charger::server_calls`], an answer to another id fails the test.
    pub async fn answer_to(&mut self, message_id: &str, what: &str) -> Result<Value, CallError> {
        loop {
            let frame = self.recv_frame().await;
            let items = frame
                .as_array()
                .unwrap_or_else(|| panic!("{what}: the server sent a non-array frame {frame}"));
            match items.first().and_then(Value::as_u64) {
                Some(2) => self.server_calls.push(frame.clone()),
                Some(3) => {
                    assert_eq!(items.len(), 3, "{what}: malformed CALLRESULT {frame}");
                    assert_eq!(
                        items[1], message_id,
                        "{what}: CALLRESULT for another message id: {frame}"
                    );
                    return Ok(items[2].clone());
                }
                Some(4) => {
                    assert_eq!(items.len(), 5, "{what}: malformed CALLERROR {frame}");
                    assert_eq!(
                        items[1], message_id,
                        "{what}: CALLERROR for another message id: {frame}"
                    );
                    assert!(
                        items[4].is_object(),
                        "{what}: errorDetails is not an object: {frame}"
                    );
                    let code = items[2].as_str().unwrap_or_default().to_owned();
                    let description = items[3].as_str().unwrap_or_default().to_owned();
                    return Err((code, description));
                }
                _ => panic!("{what}: unexpected frame {frame}"),
            }
        }
    }

    /// Waits for the next CALL from the server (or takes the oldest one that arrived while the
    /// charger waited for an answer) and asserts its action.
    pub async fn expect_call(&mut self, action: &str) -> ServerCall {
        let call = self.next_call().await;
        assert_eq!(
            call.action, action,
            "expected a {action} CALL from the server, got {call:?}"
        );
        call
    }

    /// The next CALL from the server, whatever its action.
    pub async fn next_call(&mut self) -> ServerCall {
        let frame = if self.server_calls.is_empty() {
            let frame = self.recv_frame().await;
            assert_eq!(
                frame[0].as_u64(),
                Some(2),
                "expected a CALL from the server, got {frame}"
            );
            frame
        } else {
            self.server_calls.remove(0)
        };
        ServerCall::of(&frame)
    }

    /// True when no frame arrives from the server within `quiet`.
    pub async fn is_quiet_for(&mut self, quiet: Duration) -> bool {
        if !self.server_calls.is_empty() {
            return false;
        }
        loop {
            match tokio::time::timeout(quiet, self.socket.next()).await {
                Err(_) => return true,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(_) => return false,
            }
        }
    }

    /// Answers a server CALL with a CALLRESULT.
    pub async fn reply(&mut self, call: &ServerCall, payload: Value) {
        let frame = json!([3, call.message_id, payload]);
        self.send_raw(&frame.to_string()).await;
    }

    /// Answers a server CALL with a CALLERROR.
    pub async fn reply_error(&mut self, call: &ServerCall, code: &str, description: &str) {
        let frame = json!([4, call.message_id, code, description, {"reason": "e2e"}]);
        self.send_raw(&frame.to_string()).await;
    }

    /// Responder mode: a task of its own answers every server CALL with `respond` (a
    /// CALLRESULT payload, or `Err((code, description))` for a CALLERROR) until stopped.
    pub fn respond_with<F>(self, respond: F) -> Responder
    where
        F: FnMut(&ServerCall) -> Result<Value, CallError> + Send + 'static,
    {
        let stop = std::sync::Arc::new(tokio::sync::Notify::new());
        let task_stop = stop.clone();
        let task = tokio::spawn(async move {
            let mut charger = self;
            let mut respond = respond;
            let mut seen = Vec::new();
            loop {
                let frame = tokio::select! {
                    () = task_stop.notified() => break,
                    frame = charger.socket.next() => frame,
                };
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    _ => break,
                };
                let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if frame[0].as_u64() != Some(2) {
                    continue;
                }
                let call = ServerCall::of(&frame);
                match respond(&call) {
                    Ok(payload) => charger.reply(&call, payload).await,
                    Err((code, description)) => {
                        charger.reply_error(&call, &code, &description).await;
                    }
                }
                seen.push(call);
            }
            (charger, seen)
        });
        Responder { stop, task }
    }

    /// [`Charger::call`] that must succeed; returns the CALLRESULT payload.
    pub async fn call_ok(&mut self, action: &str, payload: Value) -> Value {
        match self.call(action, payload).await {
            Ok(answer) => answer,
            Err((code, description)) => {
                panic!("{action} was answered with CALLERROR {code}: {description}")
            }
        }
    }

    /// [`Charger::call`] that must fail; returns (code, description).
    pub async fn call_err(&mut self, action: &str, payload: Value) -> CallError {
        match self.call(action, payload).await {
            Ok(answer) => {
                panic!("{action} was answered with CALLRESULT {answer}, expected a CALLERROR")
            }
            Err(error) => error,
        }
    }

    /// Sends one text message as is.
    pub async fn send_raw(&mut self, text: &str) {
        tokio::time::timeout(
            CALL_TIMEOUT,
            self.socket.send(Message::text(text.to_owned())),
        )
        .await
        .expect("sending timed out")
        .expect("sending failed");
    }

    /// The next WebSocket message other than ping and pong, or `None` when the stream ended.
    pub async fn recv_message(&mut self) -> Option<Result<Message, tungstenite::Error>> {
        let deadline = tokio::time::Instant::now() + CALL_TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no WebSocket message within {CALL_TIMEOUT:?}"));
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => return other,
            }
        }
    }

    /// The next text frame, parsed as JSON; fails the test on anything else.
    pub async fn recv_frame(&mut self) -> Value {
        match self.recv_message().await {
            Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str())
                .unwrap_or_else(|error| panic!("the server sent invalid JSON {text:?}: {error}")),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Waits until the server closes the socket; returns its close frame, if it sent one.
    /// Text frames that arrive first are ignored.
    pub async fn expect_close(&mut self) -> Option<CloseFrame> {
        loop {
            match self.recv_message().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Err(error)) => panic!("the socket failed instead of closing cleanly: {error}"),
                None => return None,
            }
        }
    }

    /// Closes the socket from the charger's side.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(CALL_TIMEOUT, self.socket.close(None)).await;
    }
}

/// A CALL the server sent to a charger.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerCall {
    pub message_id: String,
    pub action: String,
    pub payload: Value,
}

impl ServerCall {
    fn of(frame: &Value) -> ServerCall {
        assert_eq!(frame[0].as_u64(), Some(2), "not a CALL: {frame}");
        ServerCall {
            message_id: frame[1]
                .as_str()
                .unwrap_or_else(|| panic!("CALL without a string id: {frame}"))
                .to_owned(),
            action: frame[2].as_str().unwrap_or_default().to_owned(),
            payload: frame[3].clone(),
        }
    }
}

/// A charger in responder mode (see [`Charger::respond_with`]).
pub struct Responder {
    stop: std::sync::Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<(Charger, Vec<ServerCall>)>,
}

impl Responder {
    /// Stops answering; returns the charger and every CALL it answered, in order.
    pub async fn stop(self) -> (Charger, Vec<ServerCall>) {
        self.stop.notify_one();
        tokio::time::timeout(CALL_TIMEOUT, self.task)
            .await
            .expect("the responder did not stop")
            .expect("the responder panicked")
    }
}

/// The HTTP status of a refused WebSocket upgrade, if the error is one.
pub fn refused_status(error: &tungstenite::Error) -> Option<u16> {
    match error {
        tungstenite::Error::Http(response) => Some(response.status().as_u16()),
        _ => None,
    }
}

/// The BootNotification payload of a 1.6 charger.
pub fn boot_16(vendor: &str, model: &str) -> Value {
    json!({"chargePointVendor": vendor, "chargePointModel": model})
}

/// The BootNotification payload of a 2.0.1 charger.
pub fn boot_201(vendor: &str, model: &str) -> Value {
    json!({"reason": "PowerUp", "chargingStation": {"vendorName": vendor, "model": model}})
}

/// Connects a 1.6 charger and boots it; asserts the boot was accepted.
pub async fn booted_16(server: &TestServer, station_id: &str) -> Charger {
    let mut charger = Charger::connect(server, station_id, "ocpp1.6").await;
    let answer = charger
        .call_ok("BootNotification", boot_16("E2E", "Model-16"))
        .await;
    assert_eq!(
        answer["status"], "Accepted",
        "boot of {station_id}: {answer}"
    );
    charger
}

/// Connects a 2.0.1 charger and boots it; asserts the boot was accepted.
pub async fn booted_201(server: &TestServer, station_id: &str) -> Charger {
    let mut charger = Charger::connect(server, station_id, "ocpp2.0.1").await;
    let answer = charger
        .call_ok("BootNotification", boot_201("E2E", "Model-201"))
        .await;
    assert_eq!(
        answer["status"], "Accepted",
        "boot of {station_id}: {answer}"
    );
    charger
}
