//! One simulated charger on its socket: boot, then its schedule of CALLs, one outstanding at a
//! time (unless its dialect pipelines), answering whatever the CSMS asks.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use zaryad_wire::Frame;

use crate::connect::{Socket, Target};
use crate::dialect::{ChargerState, Step, answer_csms_call};
use crate::fleet::ChargerSpec;
use crate::ledger::{Ledger, LedgerEntry};
use crate::schedule::{Due, Schedule};
use crate::stats::Stats;

/// What every charger of a run shares.
#[derive(Debug)]
pub struct Shared {
    /// Where to connect.
    pub target: Target,
    /// Counters and histograms of the measured run.
    pub stats: Mutex<Stats>,
    /// Counters and histograms of connecting and booting.
    pub setup: Mutex<Stats>,
    /// Acknowledged stops, when a ledger was asked for.
    pub ledger: Option<Ledger>,
    /// How long a CALL may wait for its answer.
    pub call_timeout: Duration,
    /// How long chargers wait for outstanding answers once the run is over.
    pub drain_timeout: Duration,
}

impl Shared {
    /// The run's statistics.
    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        // A poisoned lock only means a charger task panicked while counting; the counts of
        // everyone else are still worth reporting.
        self.stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connect phase's statistics.
    pub fn setup(&self) -> MutexGuard<'_, Stats> {
        self.setup
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Why a charger could not come up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{station}: {reason}")]
pub struct SetupError {
    /// The station id.
    pub station: String,
    /// What failed.
    pub reason: String,
    /// Whether the server was reachable at all (false: connection refused, timed out, …).
    pub reached_server: bool,
}

/// A charger between its connect and its run.
pub struct Charger {
    /// Who it is.
    pub spec: ChargerSpec,
    /// Its state (meter register, transaction, message ids).
    pub state: ChargerState,
    socket: Option<Socket>,
}

impl Charger {
    /// A charger that has not connected yet.
    pub fn new(spec: ChargerSpec, meter_interval_secs: u64) -> Charger {
        let state = ChargerState::new(
            &spec.station_id,
            spec.version,
            spec.dialect,
            spec.index,
            meter_interval_secs,
        );
        Charger {
            spec,
            state,
            socket: None,
        }
    }

    fn error(&self, reason: impl Into<String>, reached_server: bool) -> SetupError {
        SetupError {
            station: self.spec.station_id.clone(),
            reason: reason.into(),
            reached_server,
        }
    }

    /// Connects, boots (the answer must be `Accepted`) and reports its connector `Available`.
    pub async fn connect_and_boot(&mut self, shared: &Shared) -> Result<(), SetupError> {
        self.socket = None;
        let socket = shared
            .target
            .connect(&self.spec.station_id, self.spec.version, self.spec.index)
            .await
            .map_err(|error| self.error(format!("connect: {error}"), false))?;
        self.socket = Some(socket);
        let answer = self.setup_call(shared, Step::Boot).await?;
        let status = answer["status"].as_str().unwrap_or_default();
        if status != "Accepted" {
            return Err(self.error(format!("boot answered {status:?}, not Accepted"), true));
        }
        self.setup_call(shared, Step::Available).await?;
        Ok(())
    }

    /// One CALL of the connect phase, closed loop; CSMS CALLs meanwhile are answered.
    async fn setup_call(&mut self, shared: &Shared, step: Step) -> Result<Value, SetupError> {
        let Some((action, payload)) = self.state.build(step, Utc::now()) else {
            return Ok(Value::Null);
        };
        let message_id = self.state.next_message_id();
        let sent = Instant::now();
        self.send(Frame::call(&message_id, action, payload))
            .await
            .map_err(|error| self.error(format!("sending {action}: {error}"), true))?;
        let deadline = sent + shared.call_timeout;
        loop {
            let Some(socket) = self.socket.as_mut() else {
                return Err(self.error("not connected", true));
            };
            let message = tokio::time::timeout_at(deadline, socket.next())
                .await
                .map_err(|_| self.error(format!("{action} not answered in time"), true))?;
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None => {
                    return Err(self.error(format!("closed while waiting for {action}"), true));
                }
                Some(Err(error)) => {
                    return Err(self.error(format!("waiting for {action}: {error}"), true));
                }
                Some(Ok(_)) => continue,
            };
            match Frame::parse(text.as_str()) {
                Ok(Frame::CallResult {
                    message_id: id,
                    payload,
                }) if id == message_id => {
                    shared
                        .setup()
                        .answered(action, sent.elapsed(), sent.elapsed());
                    return Ok(payload);
                }
                Ok(Frame::CallError {
                    message_id: id,
                    error_code,
                    error_description,
                    ..
                }) if id == message_id => {
                    return Err(self.error(
                        format!("{action} answered with {error_code}: {error_description}"),
                        true,
                    ));
                }
                Ok(Frame::Call {
                    message_id: id,
                    action: csms_action,
                    payload,
                }) => {
                    let answer = answer_csms_call(self.spec.version, &csms_action, &payload);
                    self.send(Frame::call_result(&id, answer))
                        .await
                        .map_err(|error| self.error(format!("answering: {error}"), true))?;
                }
                _ => {}
            }
        }
    }

    async fn send(&mut self, frame: Frame) -> Result<(), String> {
        let socket = self.socket.as_mut().ok_or("not connected")?;
        socket
            .send(Message::text(frame.to_text()))
            .await
            .map_err(|error| error.to_string())
    }

    /// Waits, answering the CSMS's CALLs, until `release` turns true (`Ok`) or the connection
    /// drops (`Err` with the reason).
    pub async fn hold(&mut self, release: &mut watch::Receiver<bool>) -> Result<(), String> {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                return Err("not connected".to_owned());
            };
            tokio::select! {
                changed = release.changed() => {
                    if changed.is_err() || *release.borrow() {
                        return Ok(());
                    }
                }
                message = socket.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Ok(Frame::Call { message_id, action, payload }) = Frame::parse(text.as_str()) {
                            let answer = answer_csms_call(self.spec.version, &action, &payload);
                            self.send(Frame::call_result(&message_id, answer)).await?;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Err(format!("closed by the server ({})", frame.map(|f| f.reason.to_string()).unwrap_or_default()));
                    }
                    None => return Err("connection ended".to_owned()),
                    Some(Err(error)) => return Err(error.to_string()),
                    Some(Ok(_)) => {}
                }
            }
        }
    }

    /// Closes the socket politely.
    pub async fn close(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
        }
    }

    /// Runs the schedule from `start` until `stop` turns true, then waits for the answers
    /// still outstanding (up to the drain timeout); stays connected (see [`Charger::close`]).
    /// Only CALLs scheduled from `measure_from` on are counted. Reconnects when the server
    /// drops it.
    pub async fn drive(
        &mut self,
        shared: Arc<Shared>,
        mut schedule: Schedule,
        start: Instant,
        measure_from: Instant,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut run = RunState {
            measure_from,
            in_flight: Vec::new(),
            due: schedule.next_due(),
            last_answer: start,
            stopping: *stop.borrow(),
            drain_deadline: None,
        };
        if run.stopping {
            run.drain_deadline = Some(Instant::now());
        }
        loop {
            if run.stopping && run.in_flight.is_empty() {
                break;
            }
            let send_at = (!run.stopping && run.in_flight.is_empty())
                .then(|| scheduled_at(&run.due, start, run.last_answer));
            let timeout_at = run.in_flight.iter().map(|call| call.deadline).min();
            let outcome = {
                let Some(socket) = self.socket.as_mut() else {
                    break;
                };
                tokio::select! {
                    changed = stop.changed(), if !run.stopping => {
                        if changed.is_err() || *stop.borrow() {
                            run.stopping = true;
                            run.drain_deadline = Some(Instant::now() + shared.drain_timeout);
                        }
                        Event::Nothing
                    }
                    message = socket.next() => Event::Message(message),
                    () = sleep_until(send_at) => Event::Send,
                    () = sleep_until(timeout_at) => Event::Timeout,
                    () = sleep_until(run.drain_deadline) => Event::DrainOver,
                }
            };
            match outcome {
                Event::Nothing => {}
                Event::Send => {
                    if let Err(error) = self.send_due(&shared, &mut schedule, &mut run, start).await
                        && !self.reconnect(&shared, &mut run, &mut stop, error).await
                    {
                        break;
                    }
                }
                Event::Timeout => {
                    let now = Instant::now();
                    let station = self.spec.station_id.clone();
                    let mut expired = Vec::new();
                    run.in_flight.retain(|call| {
                        let keep = call.deadline > now;
                        if !keep {
                            expired.push((call.action, call.step));
                        }
                        keep
                    });
                    for (action, step) in expired {
                        shared.stats().timeout(&station, action);
                        self.state.on_failed(step);
                    }
                    run.last_answer = now;
                }
                Event::DrainOver => {
                    shared.stats().unanswered_at_end += run.in_flight.len() as u64;
                    break;
                }
                Event::Message(message) => {
                    let outcome = match message {
                        Some(Ok(Message::Text(text))) => {
                            self.on_text(&shared, &mut run, text.as_str()).await
                        }
                        Some(Ok(Message::Binary(_))) => {
                            shared.stats().error(
                                "binary frame from the server".to_owned(),
                                format!("{}: the server sent a binary frame", self.spec.station_id),
                            );
                            Ok(())
                        }
                        Some(Ok(Message::Close(frame))) => Err(format!(
                            "closed by the server ({})",
                            frame.map(|f| f.reason.to_string()).unwrap_or_default()
                        )),
                        Some(Ok(_)) => Ok(()),
                        Some(Err(error)) => Err(error.to_string()),
                        None => Err("connection ended".to_owned()),
                    };
                    if let Err(error) = outcome
                        && !self.reconnect(&shared, &mut run, &mut stop, error).await
                    {
                        break;
                    }
                }
            }
        }
    }

    /// Sends the due CALL and any pipelined ones right behind it.
    async fn send_due(
        &mut self,
        shared: &Shared,
        schedule: &mut Schedule,
        run: &mut RunState,
        start: Instant,
    ) -> Result<(), String> {
        loop {
            let scheduled = scheduled_at(&run.due, start, run.last_answer);
            let step = run.due.step;
            if let Some((action, payload)) = self.state.build(step, Utc::now()) {
                let message_id = self.state.next_message_id();
                self.send(Frame::call(&message_id, action, payload)).await?;
                let measured = scheduled >= run.measure_from;
                if measured {
                    shared.stats().sent(action);
                }
                let sent = Instant::now();
                run.in_flight.push(InFlight {
                    message_id,
                    action,
                    step,
                    measured,
                    scheduled: scheduled.min(sent),
                    sent,
                    deadline: sent + shared.call_timeout,
                });
            }
            run.due = schedule.next_due();
            if !run.due.pipelined {
                return Ok(());
            }
        }
    }

    async fn on_text(
        &mut self,
        shared: &Shared,
        run: &mut RunState,
        text: &str,
    ) -> Result<(), String> {
        let now = Instant::now();
        match Frame::parse(text) {
            Ok(Frame::CallResult {
                message_id,
                payload,
            }) => {
                let Some(call) = self.take_answered(shared, run, &message_id) else {
                    return Ok(());
                };
                run.last_answer = now;
                let effects = self.state.on_answer(call.step, &payload);
                let mut stats = shared.stats();
                if call.measured {
                    let latency = now.saturating_duration_since(call.scheduled);
                    stats.answered(
                        call.action,
                        latency,
                        now.saturating_duration_since(call.sent),
                    );
                    stats.timeline.record(
                        call.scheduled.saturating_duration_since(run.measure_from),
                        latency,
                    );
                    if !run.stopping {
                        stats.answered_in_window += 1;
                    }
                }
                if effects.refused {
                    stats.refused += 1;
                }
                if call.step == Step::Start {
                    stats.sessions_started += 1;
                }
                if let Some(finished) = effects.finished {
                    stats.sessions_stopped += 1;
                    drop(stats);
                    if let Some(ledger) = &shared.ledger {
                        let entry = LedgerEntry::new(
                            &self.spec.station_id,
                            self.spec.version.as_str(),
                            &finished,
                            Utc::now(),
                        );
                        if let Err(error) = ledger.append(&entry) {
                            shared
                                .stats()
                                .error("ledger".to_owned(), format!("writing the ledger: {error}"));
                        }
                    }
                }
                Ok(())
            }
            Ok(Frame::CallError {
                message_id,
                error_code,
                error_description,
                ..
            }) => {
                let Some(call) = self.take_answered(shared, run, &message_id) else {
                    return Ok(());
                };
                run.last_answer = now;
                self.state.on_failed(call.step);
                shared.stats().call_error(
                    &self.spec.station_id,
                    call.action,
                    &error_code,
                    &error_description,
                );
                Ok(())
            }
            Ok(Frame::Call {
                message_id,
                action,
                payload,
            }) => {
                let answer = answer_csms_call(self.spec.version, &action, &payload);
                self.send(Frame::call_result(&message_id, answer)).await?;
                shared.stats().csms_calls += 1;
                Ok(())
            }
            Err(error) => {
                shared.stats().error(
                    "malformed frame from the server".to_owned(),
                    format!("{}: {error}: {text}", self.spec.station_id),
                );
                Ok(())
            }
        }
    }

    /// The in-flight CALL `message_id` answers; an answer to no such CALL is an error.
    fn take_answered(
        &self,
        shared: &Shared,
        run: &mut RunState,
        message_id: &str,
    ) -> Option<InFlight> {
        let call = run.take(message_id);
        if call.is_none() {
            shared.stats().error(
                "answer to an unknown message id".to_owned(),
                format!(
                    "{}: answer to unknown id {message_id}",
                    self.spec.station_id
                ),
            );
        }
        call
    }

    /// After the server dropped the connection: counts what was lost and reconnects, retrying
    /// each second, until it is back or the run is over. False when the run is over.
    async fn reconnect(
        &mut self,
        shared: &Shared,
        run: &mut RunState,
        stop: &mut watch::Receiver<bool>,
        reason: String,
    ) -> bool {
        self.socket = None;
        if run.stopping {
            shared.stats().unanswered_at_end += run.in_flight.len() as u64;
            return false;
        }
        {
            let mut stats = shared.stats();
            stats.error(
                "disconnected".to_owned(),
                format!("{}: disconnected: {reason}", self.spec.station_id),
            );
            for call in run.in_flight.drain(..) {
                stats.error(
                    format!("lost {}", call.action),
                    format!(
                        "{}: {} lost with the connection",
                        self.spec.station_id, call.action
                    ),
                );
                self.state.on_failed(call.step);
            }
        }
        loop {
            tokio::select! {
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return false;
                    }
                }
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    match self.connect_and_boot(shared).await {
                        Ok(()) => {
                            run.last_answer = Instant::now();
                            return true;
                        }
                        Err(_) => count_failed_reconnect(shared),
                    }
                }
            }
        }
    }
}

/// Counts a failed reconnect attempt in the connect statistics: while the server is down
/// every attempt fails, which is expected, so it is not a run error by itself.
fn count_failed_reconnect(shared: &Shared) {
    *shared
        .setup()
        .errors
        .entry("reconnect attempt failed".to_owned())
        .or_default() += 1;
}

/// When `due` is scheduled, given the run's start and the last answer.
fn scheduled_at(due: &Due, start: Instant, last_answer: Instant) -> Instant {
    let now = Instant::now();
    start
        + due.scheduled(
            now.saturating_duration_since(start),
            last_answer.saturating_duration_since(start),
        )
}

enum Event {
    Nothing,
    Send,
    Timeout,
    DrainOver,
    Message(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
}

struct InFlight {
    message_id: String,
    action: &'static str,
    step: Step,
    /// Scheduled inside the measured window.
    measured: bool,
    scheduled: Instant,
    sent: Instant,
    deadline: Instant,
}

struct RunState {
    measure_from: Instant,
    in_flight: Vec<InFlight>,
    due: Due,
    last_answer: Instant,
    stopping: bool,
    drain_deadline: Option<Instant>,
}

impl RunState {
    fn take(&mut self, message_id: &str) -> Option<InFlight> {
        let position = self
            .in_flight
            .iter()
            .position(|call| call.message_id == message_id)?;
        Some(self.in_flight.swap_remove(position))
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
