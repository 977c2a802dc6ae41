//! Event consumers for the end-to-end tests: a real HTTP receiver for webhooks that checks
//! every signature with an HMAC of its own (not the server's code), and a Server-Sent Events
//! client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// HMAC-SHA256 (RFC 2104) written out, so that the test checks the server's signatures
/// against an implementation that shares no code with it.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner_pad: Vec<u8> = block.iter().map(|byte| byte ^ 0x36).collect();
    let outer_pad: Vec<u8> = block.iter().map(|byte| byte ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// The key of a Standard Webhooks secret (`whsec_<base64>`).
pub fn whsec_key(secret: &str) -> Vec<u8> {
    BASE64
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64 after whsec_")
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 (or 204 every other time: any 2xx counts).
    Accept,
    /// This status (500, 410, …).
    Fail(u16),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: i64,
    /// Whether `webhook-signature` holds a valid `v1` signature of this request.
    pub signature_valid: bool,
    /// The body as sent.
    pub raw: String,
    /// The body, parsed.
    pub body: Value,
    /// Whether it was answered 2xx.
    pub accepted: bool,
    /// When it arrived.
    pub received_at: chrono::DateTime<chrono::Utc>,
}

struct Shared {
    key: Vec<u8>,
    answer: Mutex<Answer>,
    arrivals: Mutex<Vec<Arrival>>,
}

/// A webhook receiver on a loopback port that can fail, go away and come back on the same
/// port.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Receiver {
    /// A receiver checking signatures with `key`, answering `answer`.
    pub async fn start(key: Vec<u8>, answer: Answer) -> Receiver {
        let shared = Arc::new(Shared {
            key,
            answer: Mutex::new(answer),
            arrivals: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut receiver = Receiver {
            addr,
            shared,
            running: None,
        };
        receiver.serve(listener);
        receiver
    }

    /// The URL to subscribe.
    pub fn url(&self) -> String {
        format!("http://{}/hooks/zaryad", self.addr)
    }

    fn serve(&mut self, listener: TcpListener) {
        let app = Router::new()
            .route("/hooks/zaryad", post(receive))
            .with_state(self.shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        self.running = Some((stop, task));
    }

    /// Changes how it answers from now on.
    pub fn answer(&self, answer: Answer) {
        *self.shared.answer.lock().unwrap() = answer;
    }

    /// Stops listening: connections are refused until [`Receiver::resume`].
    pub async fn stop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("the receiver did not stop")
                .unwrap();
        }
    }

    /// Listens again on the same port.
    pub async fn resume(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    /// Everything that arrived so far, in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.shared.arrivals.lock().unwrap().clone()
    }

    /// The requests answered 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<Arrival> {
        self.arrivals()
            .into_iter()
            .filter(|arrival| arrival.accepted)
            .collect()
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let timestamp_text = header("webhook-timestamp");
    let timestamp = timestamp_text.parse().unwrap_or(0);
    let mut signed = format!("{id}.{timestamp_text}.").into_bytes();
    signed.extend_from_slice(&body);
    let expected = format!("v1,{}", BASE64.encode(hmac_sha256(&shared.key, &signed)));
    // The header may list several signatures (during a secret rotation), space-separated.
    let signature_valid = header("webhook-signature")
        .split(' ')
        .any(|signature| signature == expected)
        && (chrono::Utc::now().timestamp() - timestamp).abs() < 300;
    let raw = String::from_utf8_lossy(&body).into_owned();
    let answer = *shared.answer.lock().unwrap();
    let mut arrivals = shared.arrivals.lock().unwrap();
    let (status, accepted) = match answer {
        Answer::Accept if arrivals.len() % 2 == 0 => (StatusCode::OK, true),
        Answer::Accept => (StatusCode::NO_CONTENT, true),
        Answer::Fail(status) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            false,
        ),
    };
    arrivals.push(Arrival {
        id,
        timestamp,
        signature_valid,
        body: serde_json::from_str(&raw).unwrap_or(Value::Null),
        raw,
        accepted,
        received_at: chrono::Utc::now(),
    });
    status
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// `id:`, the outbox position.
    pub id: i64,
    /// `event:`, the type.
    pub event: String,
    /// `data:`, the envelope.
    pub data: Value,
}

/// An open `GET /api/v1/events` stream.
pub struct SseClient {
    response: reqwest::Response,
    buffer: String,
}

impl SseClient {
    /// Opens `url` with `token`, sending `Last-Event-ID` when given; fails the test unless it
    /// answers 200 with `text/event-stream`.
    pub async fn open(url: &str, token: &str, last_event_id: Option<i64>) -> SseClient {
        let client = reqwest::Client::new();
        let mut request = client.get(url).bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .expect("the event stream did not answer")
            .expect("the event stream failed");
        assert_eq!(response.status().as_u16(), 200, "GET {url}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        SseClient {
            response,
            buffer: String::new(),
        }
    }

    /// The next event within `timeout` (comments and keep-alives skipped), `None` if none came.
    pub async fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_block(&block) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .expect("the event stream broke")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Events until none comes for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next(quiet).await {
            events.push(event);
        }
        events
    }
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let mut fields: HashMap<&str, String> = HashMap::new();
    for line in block.lines() {
        if line.starts_with(':') || line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        fields
            .entry(name)
            .and_modify(|text| {
                text.push('\n');
                text.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    let data = fields.get("data")?;
    Some(SseEvent {
        id: fields.get("id")?.parse().ok()?,
        event: fields.get("event").cloned().unwrap_or_default(),
        data: serde_json::from_str(data).expect("event data is JSON"),
    })
}
