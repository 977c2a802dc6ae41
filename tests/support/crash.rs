//! Crash tests and write load: the real server in a child process that can be SIGKILLed, and
//! simulated chargers that keep doing sessions through restarts.
//!
//! A [`ServerProcess`] runs the `zaryad_under_test` binary of this package (the server,
//! configured from the environment like `zaryad serve`). A [`Load`] drives many chargers of
//! both OCPP versions; each keeps a ledger of what the server acknowledged. When its socket
//! breaks, a charger reconnects to wherever the load points now and resends the CALL that had
//! no answer, the same message with the same id, as real chargers do, until it is answered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{ADMIN_TOKEN, HTTP_TIMEOUT, num};

/// How long the server process may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a charger waits for one answer before it reconnects and resends.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a charger keeps trying one CALL before it gives up (and the test fails).
const CALL_DEADLINE: Duration = Duration::from_secs(40);
/// Pause between connection attempts while the server is down.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

/// The server in a child process of its own, so that it can be killed without warning.
pub struct ServerProcess {
    child: Child,
    /// Where chargers connect.
    pub ocpp_addr: SocketAddr,
    /// Where the API listens.
    pub api_addr: SocketAddr,
    /// Standard error of the process (its log), appended to across restarts.
    pub log: PathBuf,
    http: reqwest::Client,
}

impl ServerProcess {
    /// Starts `binary` (pass `env!("CARGO_BIN_EXE_zaryad_under_test")`) on free loopback
    /// ports with the database at `database_url`, accepting unknown stations and tokens, and
    /// waits until it serves. Its log is appended to `log`.
    pub async fn start(binary: &str, database_url: &str, log: &Path) -> ServerProcess {
        ServerProcess::start_with_env(binary, database_url, log, &[]).await
    }

    /// Like [`ServerProcess::start`], with more `ZARYAD_…` variables (`env` wins).
    pub async fn start_with_env(
        binary: &str,
        database_url: &str,
        log: &Path,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("opening the server log");
        let mut command = Command::new(binary);
        // Only what the test sets: a developer's ZARYAD_… variables must not leak in.
        for (name, _) in std::env::vars() {
            if name.starts_with("ZARYAD_") {
                command.env_remove(name);
            }
        }
        command
            .current_dir(log.parent().unwrap_or(Path::new(".")))
            .env("ZARYAD_DATABASE__URL", database_url)
            .env("ZARYAD_DATABASE__FLUSH_INTERVAL_MS", "100")
            .env("ZARYAD_OCPP__LISTEN", "127.0.0.1:0")
            .env("ZARYAD_API__LISTEN", "127.0.0.1:0")
            .env("ZARYAD_API__ADMIN_TOKEN", ADMIN_TOKEN)
            .env("ZARYAD_OCPP__UNKNOWN_STATIONS", "accept")
            .env("ZARYAD_AUTHORIZATION__UNKNOWN_TOKENS", "accept")
            .env("ZARYAD_SHUTDOWN__DRAIN_SECS", "0")
            .env(
                "RUST_LOG",
                std::env::var("ZARYAD_TEST_SERVER_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("starting {binary} failed: {error}"));
        let stdout = child.stdout.take().expect("the child's stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await.ok().flatten() {
                if let Some(rest) = line.strip_prefix("READY ") {
                    return Some(rest.to_owned());
                }
            }
            None
        })
        .await;
        let Ok(Some(ready)) = ready else {
            let log_text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("the server did not start within {START_TIMEOUT:?}; its log:\n{log_text}");
        };
        // Keep reading, so that a full pipe can never block the server.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let mut addrs = ready.split_whitespace().map(|addr| addr.parse().unwrap());
        let (ocpp_addr, api_addr) = (addrs.next().unwrap(), addrs.next().unwrap());
        ServerProcess {
            child,
            ocpp_addr,
            api_addr,
            log: log.to_owned(),
            http: reqwest::Client::builder()
                .timeout(HTTP_TIMEOUT)
                .build()
                .expect("building the HTTP client"),
        }
    }

    /// The WebSocket base URL chargers append their id to.
    pub fn ws_base(&self) -> String {
        format!("ws://{}/ocpp", self.ocpp_addr)
    }

    /// Kills the process with SIGKILL (no flush, no goodbye) and waits until it is gone.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("killing the server");
    }

    /// Stops the process with SIGTERM and waits for its graceful exit.
    pub async fn terminate(mut self) {
        if let Some(pid) = self.child.id() {
            // tokio has no SIGTERM of its own; `kill` is the portable way to send one.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` on the API with the admin token; must answer 200.
    pub async fn get_ok(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("http://{}{path}", self.api_addr))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path} failed: {error}"));
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "GET {path} answered {status}: {body}");
        body
    }

    /// `method path` with a JSON body and the admin token; answers the status and body.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        let response = self
            .http
            .request(method.clone(), format!("http://{}{path}", self.api_addr))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("{method} {path} failed: {error}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Every session of `station_id` as the API shows it.
    pub async fn sessions_of(&self, station_id: &str) -> Vec<Value> {
        let body = self
            .get_ok(&format!(
                "/api/v1/sessions?station_id={station_id}&limit=1000"
            ))
            .await;
        body.as_array().cloned().unwrap_or_default()
    }

    /// A session's meter values as the API shows them.
    pub async fn meter_values(&self, session_id: &str) -> Vec<Value> {
        let body = self
            .get_ok(&format!(
                "/api/v1/sessions/{session_id}/meter-values?limit=100000"
            ))
            .await;
        body.as_array().cloned().unwrap_or_default()
    }

    /// The cumulative buckets `(le, count)` of a Prometheus histogram on `/metrics`, in
    /// ascending order (`le = +Inf` last); empty when the metric is not there yet.
    pub async fn histogram(&self, name: &str) -> Vec<(f64, f64)> {
        let Ok(response) = self
            .http
            .get(format!("http://{}/metrics", self.api_addr))
            .send()
            .await
        else {
            return Vec::new();
        };
        let text = response.text().await.unwrap_or_default();
        let prefix = format!("{name}_bucket{{le=\"");
        let mut buckets: Vec<(f64, f64)> = text
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(&prefix)?;
                let (le, rest) = rest.split_once('"')?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, rest.rsplit(' ').next()?.parse().ok()?))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }
}

/// The upper bound of the bucket that holds the `quantile` of the observations made between
/// two snapshots of a histogram (see [`ServerProcess::histogram`]).
pub fn histogram_quantile(before: &[(f64, f64)], after: &[(f64, f64)], quantile: f64) -> f64 {
    let count_before = |le: f64| {
        before
            .iter()
            .find(|(bound, _)| *bound == le)
            .map_or(0.0, |(_, count)| *count)
    };
    let window: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, count)| (*le, count - count_before(*le)))
        .collect();
    let total = window.last().map_or(0.0, |(_, count)| *count);
    window
        .iter()
        .find(|(_, count)| *count >= total * quantile)
        .map_or(f64::NAN, |(le, _)| *le)
}

/// The OCPP version a simulated charger speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// OCPP 1.6J.
    V16,
    /// OCPP 2.0.1.
    V201,
}

impl Version {
    fn subprotocol(self) -> &'static str {
        match self {
            Version::V16 => "ocpp1.6",
            Version::V201 => "ocpp2.0.1",
        }
    }
}

/// A meter reading the server acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct AckedSample {
    /// When the charger took it.
    pub timestamp: DateTime<Utc>,
    /// The measurand as sent.
    pub measurand: String,
    /// The value, in the unit sent (Wh, W).
    pub value: f64,
}

/// One session as the charger saw it.
#[derive(Debug, Clone, Default)]
pub struct SessionLedger {
    /// The OCPP transaction id (1.6: the server's answer; 2.0.1: the charger's own).
    pub transaction_id: String,
    /// The meter at the start, Wh.
    pub meter_start: f64,
    /// The meter at the stop, Wh, once the stop was acknowledged.
    pub meter_stop: Option<f64>,
    /// Every sample in a CALL that got its CALLRESULT.
    pub samples: Vec<AckedSample>,
}

/// What one charger did and what the server acknowledged.
#[derive(Debug, Clone)]
pub struct ChargerLedger {
    /// The station id.
    pub station_id: String,
    /// Its version.
    pub version: Version,
    /// Its sessions in order; every one was started and stopped with acknowledgement.
    pub sessions: Vec<SessionLedger>,
    /// Why it stopped early, if it did.
    pub failure: Option<String>,
}

/// Counters of a running load, shared by its chargers.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// CALLs that got a CALLRESULT.
    pub answered: AtomicU64,
    /// Meter samples in CALLs that got a CALLRESULT: rows the server made durable.
    pub samples: AtomicU64,
    /// Stops that got a CALLRESULT.
    pub stops: AtomicU64,
    /// CALLs that had to be resent (a lost connection, a missing answer, an InternalError).
    pub resent: AtomicU64,
    /// CALLERRORs `InternalError`: the server could not store a message.
    pub internal_errors: AtomicU64,
    /// Round trips of write CALLs answered on the first try, microseconds.
    latencies_us: Mutex<Vec<u64>>,
}

impl LoadStats {
    /// A quantile (0..=1) of the first-try round trips of write CALLs, and their count.
    pub fn latency_quantile(&self, quantile: f64) -> (Duration, usize) {
        let mut latencies = self.latencies_us.lock().unwrap().clone();
        if latencies.is_empty() {
            return (Duration::ZERO, 0);
        }
        latencies.sort_unstable();
        let rank = ((latencies.len() as f64) * quantile).ceil() as usize;
        let index = rank.clamp(1, latencies.len()) - 1;
        (Duration::from_micros(latencies[index]), latencies.len())
    }

    /// Forgets the round trips measured so far (the warm-up).
    pub fn reset_latencies(&self) {
        self.latencies_us.lock().unwrap().clear();
    }
}

/// How a load behaves.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// How many chargers; even ones speak 1.6, odd ones 2.0.1.
    pub chargers: usize,
    /// Station ids are `{prefix}-{n}`.
    pub prefix: String,
    /// MeterValues (1.6) or TransactionEvent Updated (2.0.1) per session.
    pub meter_values_per_session: usize,
    /// Sessions per charger at most (`usize::MAX`: until told to finish).
    pub max_sessions: usize,
}

/// Chargers doing sessions until told to finish.
pub struct Load {
    url: watch::Sender<Option<String>>,
    finish: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<ChargerLedger>>,
    /// Live counters.
    pub stats: Arc<LoadStats>,
}

impl Load {
    /// Starts `plan.chargers` chargers against `ws_base` (`ws://host:port/ocpp`).
    pub fn start(plan: &LoadPlan, ws_base: String) -> Load {
        let (url, urls) = watch::channel(Some(ws_base));
        let finish = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(LoadStats::default());
        let tasks = (0..plan.chargers)
            .map(|n| {
                let version = if n % 2 == 0 {
                    Version::V16
                } else {
                    Version::V201
                };
                let charger = SimCharger {
                    station_id: format!("{}-{n:04}", plan.prefix),
                    version,
                    urls: urls.clone(),
                    socket: None,
                    next_message_id: 0,
                    stats: stats.clone(),
                    // Distinct, increasing times per charger, well in the past, in whole
                    // seconds as they are sent.
                    clock: Utc::now().with_nanosecond(0).unwrap_or_else(Utc::now)
                        - chrono::Duration::hours(6),
                };
                let plan = plan.clone();
                let finish = finish.clone();
                tokio::spawn(charger.run(plan, finish))
            })
            .collect();
        Load {
            url,
            finish,
            tasks,
            stats,
        }
    }

    /// Points the chargers at another server (`None` while there is none).
    pub fn point_to(&self, ws_base: Option<String>) {
        self.url.send_replace(ws_base);
    }

    /// Lets every charger finish the session it is in, then collects the ledgers.
    pub async fn finish(self) -> Vec<ChargerLedger> {
        self.finish.store(true, Ordering::Release);
        self.join().await
    }

    /// Waits until every charger has done its `max_sessions`, then collects the ledgers.
    pub async fn join(self) -> Vec<ChargerLedger> {
        let mut ledgers = Vec::new();
        for task in self.tasks {
            ledgers.push(task.await.expect("a charger task panicked"));
        }
        ledgers
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a CALL did not get its CALLRESULT: a CALLERROR other than `InternalError`, or no
/// answer within [`CALL_DEADLINE`] across every reconnect.
type CallFailure = String;

/// One simulated charger.
struct SimCharger {
    station_id: String,
    version: Version,
    urls: watch::Receiver<Option<String>>,
    socket: Option<Socket>,
    next_message_id: u64,
    stats: Arc<LoadStats>,
    clock: DateTime<Utc>,
}

impl SimCharger {
    async fn run(mut self, plan: LoadPlan, finish: Arc<AtomicBool>) -> ChargerLedger {
        let mut ledger = ChargerLedger {
            station_id: self.station_id.clone(),
            version: self.version,
            sessions: Vec::new(),
            failure: None,
        };
        let boot = match self.version {
            Version::V16 => json!({"chargePointVendor": "Crash", "chargePointModel": "K-16"}),
            Version::V201 => json!({
                "reason": "PowerUp",
                "chargingStation": {"vendorName": "Crash", "model": "K-201"},
            }),
        };
        if let Err(failure) = self.call("BootNotification", boot).await {
            ledger.failure = Some(format!("boot: {failure}"));
            return ledger;
        }
        let mut meter: i64 = 10_000;
        while ledger.sessions.len() < plan.max_sessions && !finish.load(Ordering::Acquire) {
            let number = ledger.sessions.len();
            match self
                .session(number, &mut meter, plan.meter_values_per_session)
                .await
            {
                Ok(session) => ledger.sessions.push(session),
                Err((session, failure)) => {
                    ledger.sessions.push(session);
                    ledger.failure = Some(format!("session {number}: {failure}"));
                    break;
                }
            }
        }
        if let Some(mut socket) = self.socket.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
        }
        ledger
    }

    /// The next timestamp of this charger: one second after the previous one.
    fn tick(&mut self) -> (DateTime<Utc>, String) {
        self.clock += chrono::Duration::seconds(1);
        (
            self.clock,
            self.clock.to_rfc3339_opts(SecondsFormat::Secs, true),
        )
    }

    /// One whole session; on failure, the part that was acknowledged.
    async fn session(
        &mut self,
        number: usize,
        meter: &mut i64,
        meter_values: usize,
    ) -> Result<SessionLedger, (SessionLedger, CallFailure)> {
        let mut session = SessionLedger {
            meter_start: *meter as f64,
            ..SessionLedger::default()
        };
        let tag = format!("TAG-{}", self.station_id);
        let (start_at, start_text) = self.tick();
        let started = match self.version {
            Version::V16 => {
                let payload = json!({"connectorId": 1, "idTag": tag, "meterStart": *meter, "timestamp": start_text});
                self.call("StartTransaction", payload).await.map(|answer| {
                    answer["transactionId"]
                        .as_i64()
                        .map(|id| id.to_string())
                        .unwrap_or_default()
                })
            }
            Version::V201 => {
                let transaction_id = format!("{}-T{number}", self.station_id);
                let payload = json!({
                    "eventType": "Started",
                    "timestamp": start_text,
                    "triggerReason": "Authorized",
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": transaction_id, "chargingState": "Charging"},
                    "idToken": {"idToken": tag, "type": "ISO14443"},
                    "evse": {"id": 1, "connectorId": 1},
                    "meterValue": [energy_reading(&start_text, *meter, "Transaction.Begin")],
                });
                let answered = self.call("TransactionEvent", payload).await;
                if answered.is_ok() {
                    session.samples.push(AckedSample {
                        timestamp: start_at,
                        measurand: ENERGY.to_owned(),
                        value: *meter as f64,
                    });
                }
                answered.map(|_| transaction_id)
            }
        };
        match started {
            Ok(transaction_id) => session.transaction_id = transaction_id,
            Err(failure) => return Err((session, failure)),
        }
        for k in 0..meter_values {
            *meter += 250;
            let power = 7000 + k as i64;
            let (at, text) = self.tick();
            let (action, payload) = match self.version {
                Version::V16 => (
                    "MeterValues",
                    json!({
                        "connectorId": 1,
                        "transactionId": session.transaction_id.parse::<i64>().unwrap_or(0),
                        "meterValue": [{
                            "timestamp": text,
                            "sampledValue": [
                                {"value": meter.to_string(), "measurand": ENERGY, "unit": "Wh", "context": "Sample.Periodic"},
                                {"value": power.to_string(), "measurand": POWER, "unit": "W", "context": "Sample.Periodic"},
                            ],
                        }],
                    }),
                ),
                Version::V201 => (
                    "TransactionEvent",
                    json!({
                        "eventType": "Updated",
                        "timestamp": text,
                        "triggerReason": "MeterValuePeriodic",
                        "seqNo": k + 1,
                        "transactionInfo": {"transactionId": session.transaction_id},
                        "evse": {"id": 1, "connectorId": 1},
                        "meterValue": [{
                            "timestamp": text,
                            "sampledValue": [
                                {"value": *meter, "measurand": ENERGY, "context": "Sample.Periodic", "unitOfMeasure": {"unit": "Wh"}},
                                {"value": power, "measurand": POWER, "context": "Sample.Periodic", "unitOfMeasure": {"unit": "W"}},
                            ],
                        }],
                    }),
                ),
            };
            if let Err(failure) = self.call(action, payload).await {
                return Err((session, failure));
            }
            for (measurand, value) in [(ENERGY, *meter), (POWER, power)] {
                session.samples.push(AckedSample {
                    timestamp: at,
                    measurand: measurand.to_owned(),
                    value: value as f64,
                });
            }
        }
        *meter += 100;
        let (stop_at, stop_text) = self.tick();
        let stopped = match self.version {
            Version::V16 => {
                let payload = json!({
                    "transactionId": session.transaction_id.parse::<i64>().unwrap_or(0),
                    "idTag": tag,
                    "meterStop": *meter,
                    "timestamp": stop_text,
                    "reason": "Local",
                });
                self.call("StopTransaction", payload).await
            }
            Version::V201 => {
                let payload = json!({
                    "eventType": "Ended",
                    "timestamp": stop_text,
                    "triggerReason": "StopAuthorized",
                    "seqNo": meter_values + 1,
                    "transactionInfo": {"transactionId": session.transaction_id, "stoppedReason": "Local"},
                    "evse": {"id": 1, "connectorId": 1},
                    "meterValue": [energy_reading(&stop_text, *meter, "Transaction.End")],
                });
                let answered = self.call("TransactionEvent", payload).await;
                if answered.is_ok() {
                    session.samples.push(AckedSample {
                        timestamp: stop_at,
                        measurand: ENERGY.to_owned(),
                        value: *meter as f64,
                    });
                }
                answered
            }
        };
        match stopped {
            Ok(_) => {
                session.meter_stop = Some(*meter as f64);
                self.stats.stops.fetch_add(1, Ordering::Relaxed);
                Ok(session)
            }
            Err(failure) => Err((session, failure)),
        }
    }

    /// Sends a CALL and returns its CALLRESULT, reconnecting and resending the same frame
    /// until it is answered (an `InternalError` is retried too: the server stored nothing).
    async fn call(&mut self, action: &str, payload: Value) -> Result<Value, CallFailure> {
        self.next_message_id += 1;
        let message_id = format!("{}-{}", self.station_id, self.next_message_id);
        let frame = json!([2, message_id, action, payload]).to_string();
        let samples = count_samples(&payload);
        let deadline = Instant::now() + CALL_DEADLINE;
        let mut first_try = true;
        loop {
            if Instant::now() >= deadline {
                return Err(format!(
                    "{action} {message_id}: no answer within {CALL_DEADLINE:?}"
                ));
            }
            let sent_at = Instant::now();
            let Some(socket) = self.connected(deadline).await else {
                continue;
            };
            let answer = match socket.send(Message::text(frame.clone())).await {
                Ok(()) => answer_to(socket, &message_id).await,
                Err(_) => None,
            };
            match answer {
                Some(Ok(result)) => {
                    let stats = &self.stats;
                    stats.answered.fetch_add(1, Ordering::Relaxed);
                    stats.samples.fetch_add(samples, Ordering::Relaxed);
                    if first_try && action != "BootNotification" {
                        let micros = u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(0);
                        stats.latencies_us.lock().unwrap().push(micros);
                    }
                    return Ok(result);
                }
                Some(Err((code, _))) if code == "InternalError" => {
                    self.stats.internal_errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
                Some(Err((code, description))) => {
                    return Err(format!(
                        "{action} {message_id}: CALLERROR {code}: {description}"
                    ));
                }
                None => self.socket = None,
            }
            if first_try {
                self.stats.resent.fetch_add(1, Ordering::Relaxed);
                first_try = false;
            }
        }
    }

    /// The open socket, connecting (again) when there is none; `None` after a failed
    /// attempt (the caller loops until its deadline).
    async fn connected(&mut self, deadline: Instant) -> Option<&mut Socket> {
        if self.socket.is_none() {
            let base = self.urls.borrow().clone();
            let Some(base) = base else {
                tokio::time::sleep(RECONNECT_PAUSE).await;
                return None;
            };
            let url = format!("{base}/{}", self.station_id);
            let mut request = url.into_client_request().ok()?;
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static(self.version.subprotocol()),
            );
            let budget = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(
                budget.min(ANSWER_TIMEOUT),
                tokio_tungstenite::connect_async(request),
            )
            .await
            {
                Ok(Ok((socket, _))) => self.socket = Some(socket),
                _ => {
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    return None;
                }
            }
        }
        self.socket.as_mut()
    }
}

const ENERGY: &str = "Energy.Active.Import.Register";
const POWER: &str = "Power.Active.Import";

fn energy_reading(at: &str, wh: i64, context: &str) -> Value {
    json!({
        "timestamp": at,
        "sampledValue": [{"value": wh, "measurand": ENERGY, "context": context, "unitOfMeasure": {"unit": "Wh"}}],
    })
}

/// The sampled values a CALL carries: the rows an acknowledgement makes durable.
fn count_samples(payload: &Value) -> u64 {
    payload["meterValue"]
        .as_array()
        .map(|readings| {
            readings
                .iter()
                .map(|reading| reading["sampledValue"].as_array().map_or(0, Vec::len) as u64)
                .sum()
        })
        .unwrap_or(0)
}

/// Waits for the answer to `message_id`: `Some(Ok(payload))`, `Some(Err((code, text)))`, or
/// `None` when the socket broke or stayed silent.
async fn answer_to(
    socket: &mut Socket,
    message_id: &str,
) -> Option<Result<Value, (String, String)>> {
    let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??
            .ok()?;
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return None,
            _ => continue,
        };
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        if items.get(1).and_then(Value::as_str) != Some(message_id) {
            // A CALL from the server or an answer to an earlier attempt: not ours.
            continue;
        }
        match items.first().and_then(Value::as_u64) {
            Some(3) => return Some(Ok(items.get(2).cloned().unwrap_or(Value::Null))),
            Some(4) => {
                let text_at = |index: usize| {
                    items
                        .get(index)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                return Some(Err((text_at(2), text_at(3))));
            }
            _ => continue,
        }
    }
}

/// Checks every invariant of the crash test against the server's API and returns what was
/// checked: every session whose stop got a CALLRESULT is stored, completed, with the energy
/// the charger reported; no session is duplicated; every acknowledged meter sample is there.
pub async fn check_ledgers(server: &ServerProcess, ledgers: &[ChargerLedger]) -> Checked {
    let mut checked = Checked::default();
    for ledger in ledgers {
        let station = &ledger.station_id;
        assert_eq!(ledger.failure, None, "{station} stopped early");
        let stored = server.sessions_of(station).await;
        // One stored session per charger session, whatever was resent.
        let mut by_transaction: HashMap<String, Vec<&Value>> = HashMap::new();
        for session in &stored {
            let transaction_id = session["transaction_id"].as_str().unwrap_or_default();
            by_transaction
                .entry(transaction_id.to_owned())
                .or_default()
                .push(session);
        }
        for (transaction_id, sessions) in &by_transaction {
            assert_eq!(
                sessions.len(),
                1,
                "{station}: transaction {transaction_id} is stored {} times: {sessions:#?}",
                sessions.len()
            );
        }
        let expected: BTreeSet<&str> = ledger
            .sessions
            .iter()
            .map(|session| session.transaction_id.as_str())
            .collect();
        let actual: BTreeSet<&str> = by_transaction.keys().map(String::as_str).collect();
        assert_eq!(actual, expected, "{station}: stored sessions differ");
        for session in &ledger.sessions {
            let stored = by_transaction[&session.transaction_id][0];
            let id = stored["id"].as_str().unwrap_or_default();
            if let Some(stop) = session.meter_stop {
                assert_eq!(stored["state"], "completed", "{station}: {stored:#}");
                assert_eq!(num(&stored["meter_start_wh"]), Some(session.meter_start));
                assert_eq!(num(&stored["meter_stop_wh"]), Some(stop), "{stored:#}");
                assert_eq!(
                    num(&stored["energy_wh"]),
                    Some(stop - session.meter_start),
                    "{station}: energy of {stored:#}"
                );
                checked.acknowledged_stops += 1;
            }
            let samples = server.meter_values(id).await;
            let present: Vec<AckedSample> = samples
                .iter()
                .map(|sample| AckedSample {
                    timestamp: crate::timestamp(&sample["timestamp"]),
                    measurand: sample["measurand"].as_str().unwrap_or_default().to_owned(),
                    value: num(&sample["value"]).unwrap_or(f64::NAN),
                })
                .collect();
            for sample in &session.samples {
                assert!(
                    present.contains(sample),
                    "{station}: acknowledged sample {sample:?} of session {id} is missing"
                );
                checked.acknowledged_samples += 1;
            }
            checked.sessions += 1;
        }
    }
    checked
}

/// What [`check_ledgers`] verified.
#[derive(Debug, Default, Clone, Copy)]
pub struct Checked {
    /// Sessions compared.
    pub sessions: usize,
    /// Of them, with an acknowledged stop.
    pub acknowledged_stops: usize,
    /// Acknowledged samples found.
    pub acknowledged_samples: usize,
}
