//! One task per charger connection: it owns the socket, reads frames in order, answers each
//! CALL through the station context, sends the CSMS's own CALLs one at a time (operator
//! commands, then the boot-time configuration), pings, and closes when asked.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::Instrument;
use zaryad_model::{Command, CommandOutcome, Registration, StationId};
use zaryad_store::{Direction, FrameRecord};
use zaryad_wire::{ErrorCode, Frame, OcppVersion, OutstandingCall, PendingCall};

use super::admissions::storm_recheck_delay;
use super::boot_config::BootStep;
use super::commands::{
    CommandAnswer, CommandFailure, CommandRequest, Completion, Origin, next_message_id,
};
use super::registry::{CloseReason, ConnectionHandle};
use super::station::{StationContext, UpgradeRead};
use crate::metrics;
use crate::state::Shared;

type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// How long a new connection waits for the one it replaces to finish its writes.
const REPLACE_WAIT: Duration = Duration::from_secs(5);

/// How many timed-out CALLs are remembered, so that their late answers are logged with their
/// action instead of as strays.
const REMEMBERED_TIMEOUTS: usize = 16;

/// Who waits for the CALL in flight.
enum Waiter {
    /// An operator's request.
    Api(oneshot::Sender<Result<CommandAnswer, CommandFailure>>),
    /// A step of the boot-time configuration.
    Boot(BootStep),
}

/// The CSMS-initiated CALL awaiting its answer.
struct InFlight {
    message_id: String,
    action: &'static str,
    command: Command,
    request: Value,
    waiter: Waiter,
    sent_at: Instant,
    timeout: Duration,
    deadline: tokio::time::Instant,
}

/// Serves one charger until it disconnects or is told to close.
///
/// Every idle charger holds this future, so it is kept small: a plain function that registers
/// the connection and builds its state before the future exists (an `async fn` would keep its
/// arguments for its whole life beside the state built from them), and the rarely awaited
/// steps are boxed.
pub fn run(
    shared: Arc<Shared>,
    station_id: StationId,
    connection_id: u64,
    version: OcppVersion,
    socket: Socket,
    peer: SocketAddr,
    upgrade_read: UpgradeRead,
) -> impl Future<Output = ()> + Send {
    let span =
        tracing::info_span!("charger", station = %station_id, version = version.as_str(), %peer);
    let registered = shared.registry.register(
        &station_id,
        connection_id,
        version,
        Utc::now(),
        shared.config.commands.queue_capacity,
    );
    let start = match registered {
        None => Start::Superseded(socket),
        Some((handle, previous)) => {
            let boot_wait = Duration::from_secs(shared.config.commands.boot_wait_secs);
            Start::Serve {
                connection: Connection {
                    shared,
                    station_id,
                    version,
                    socket,
                    handle,
                    outstanding: OutstandingCall::default(),
                    in_flight: None,
                    boot_steps: VecDeque::new(),
                    boot_steps_due: None,
                    configured: false,
                    commands_open_at: tokio::time::Instant::now() + boot_wait,
                    timed_out: VecDeque::new(),
                },
                previous,
                upgrade_read,
            }
        }
    };
    serve_connection(start).instrument(span)
}

/// A registered connection, or the socket of one a newer connection already superseded.
#[expect(
    clippy::large_enum_variant,
    reason = "the large variant is the one nearly every connection holds; boxing it would only add an allocation"
)]
enum Start {
    Superseded(Socket),
    Serve {
        connection: Connection,
        /// The station's previous connection, told to close.
        previous: Option<ConnectionHandle>,
        /// The station as the upgrade read it.
        upgrade_read: UpgradeRead,
    },
}

/// A block capturing `start`, not an `async fn` taking it (whose body would move it into a
/// second slot of the future), used in place so the connection is held once.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn would keep a second copy of `start` in the future"
)]
fn serve_connection(mut start: Start) -> impl Future<Output = ()> + Send {
    async move {
        let (connection, previous, upgrade_read) = match &mut start {
            Start::Superseded(socket) => {
                tracing::info!("a newer connection of this station is already served; closing");
                let close = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "replaced by a new connection".into(),
                };
                let _ = Box::pin(socket.close(Some(close))).await;
                return;
            }
            Start::Serve {
                connection,
                previous,
                upgrade_read,
            } => (connection, previous, upgrade_read),
        };
        // A replaced connection may have written the station since the upgrade read it.
        let upgrade_read = if previous.is_some() {
            None
        } else {
            upgrade_read.take()
        };
        if let Some(previous) = previous.take() {
            tracing::info!("a new connection replaces the previous one");
            previous.close(CloseReason::Replaced);
            if !Box::pin(previous.wait_finished(REPLACE_WAIT)).await {
                tracing::warn!("the replaced connection did not finish in time");
            }
            // The wait for the boot counts from when this connection starts serving.
            let boot_wait = connection.shared.config.commands.boot_wait_secs;
            connection.commands_open_at =
                tokio::time::Instant::now() + Duration::from_secs(boot_wait);
        }
        metrics::connection_opened(connection.version.as_str());
        let mut context = match Box::pin(StationContext::load(
            connection.shared.clone(),
            connection.station_id.clone(),
            connection.version,
            upgrade_read,
        ))
        .await
        {
            Ok(context) => context,
            Err(error) => {
                tracing::error!(%error, "station state could not be loaded; closing");
                Box::pin(connection.close(
                    CloseCode::Error,
                    "the CSMS cannot serve this station right now",
                ))
                .await;
                connection.ended();
                return;
            }
        };
        tracing::info!("charger connected");
        connection.serve(&mut context).await;
        Box::pin(
            connection.end_in_flight(&mut context, |action| CommandFailure::Disconnected {
                action,
            }),
        )
        .await;
        if let Err(error) = Box::pin(context.disconnected()).await {
            tracing::warn!(%error, "disconnect not recorded");
        }
        connection.ended();
    }
}

struct Connection {
    shared: Arc<Shared>,
    station_id: StationId,
    version: OcppVersion,
    socket: Socket,
    handle: ConnectionHandle,
    /// OCPP-J allows one CALL per direction in flight; this is ours.
    outstanding: OutstandingCall,
    in_flight: Option<InFlight>,
    /// Boot-time configuration still to send.
    boot_steps: VecDeque<BootStep>,
    /// When the boot-time configuration may not start yet (a reconnect storm), when to ask again.
    boot_steps_due: Option<tokio::time::Instant>,
    /// True once the boot-time configuration was started on this connection.
    configured: bool,
    /// Operator commands wait until the station booted on this connection, or until then.
    commands_open_at: tokio::time::Instant,
    timed_out: VecDeque<PendingCall>,
}

impl Connection {
    /// Takes the connection out of the registry once its task is done.
    fn ended(&self) {
        self.shared
            .registry
            .unregister(&self.station_id, self.handle.connection_id);
        metrics::connection_closed(self.version.as_str());
        self.handle.mark_finished();
        tracing::info!("charger disconnected");
    }

    /// The handlers of a frame, a command and a time-out are boxed where they are awaited:
    /// their futures are large (a CALL's handling reaches down to the store), and unboxed they
    /// would make every idle connection's task as large as the largest of them.
    async fn serve(&mut self, context: &mut StationContext) {
        let ocpp = &self.shared.config.ocpp;
        let idle_timeout = Duration::from_secs(ocpp.idle_timeout_secs.max(1));
        let mut ping = ocpp.ping_interval().map(|period| {
            let mut interval =
                tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        let mut last_heard = Instant::now();
        loop {
            if self.in_flight.is_none() && !Box::pin(self.send_next(context)).await {
                return;
            }
            let commands_open =
                self.in_flight.is_none() && tokio::time::Instant::now() >= self.commands_open_at;
            let deadline = self.in_flight.as_ref().map(|in_flight| in_flight.deadline);
            tokio::select! {
                () = self.handle.close_requested() => {
                    let (code, reason) = match self.handle.close_reason() {
                        Some(CloseReason::Replaced) => (CloseCode::Normal, "replaced by a new connection"),
                        Some(CloseReason::Deleted) => (CloseCode::Policy, "station deleted"),
                        Some(CloseReason::Shutdown) | None => (CloseCode::Restart, "CSMS restarting"),
                    };
                    Box::pin(self.close(code, reason)).await;
                    return;
                }
                message = self.socket.next() => match message {
                    None => return,
                    Some(Ok(Message::Text(text))) => {
                        last_heard = Instant::now();
                        let now = Utc::now();
                        self.handle.touch(now);
                        self.shared.store.touch(&self.station_id, now);
                        if !Box::pin(self.on_text(context, text.as_str())).await {
                            return;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        last_heard = Instant::now();
                        let reply = Frame::call_error_for(self.version, "-1", ErrorCode::FormatViolation, "OCPP-J frames are text, not binary");
                        if !Box::pin(self.send(reply, None)).await {
                            return;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => last_heard = Instant::now(),
                    // tungstenite answers the close itself; the stream ends next.
                    Some(Ok(Message::Close(_))) => {}
                    Some(Err(WsError::Capacity(error))) => {
                        tracing::warn!(%error, "message too large; closing");
                        Box::pin(self.close(CloseCode::Size, "message too large")).await;
                        return;
                    }
                    Some(Err(error)) => {
                        tracing::debug!(%error, "socket error");
                        return;
                    }
                },
                request = self.handle.next_command(), if commands_open => {
                    if !Box::pin(self.start_api(context, request)).await {
                        return;
                    }
                }
                () = sleep_until(deadline) => Box::pin(self.time_out(context)).await,
                () = sleep_until(self.boot_steps_due), if self.in_flight.is_none() => {
                    // `send_next` asks again whether the configuration may start.
                    self.boot_steps_due = None;
                }
                () = sleep_until(context.connect_record_due()) => {
                    if let Err(error) = Box::pin(context.write_connect_record()).await {
                        tracing::error!(%error, "the connection could not be recorded; closing");
                        Box::pin(self.close(
                            CloseCode::Error,
                            "the CSMS cannot serve this station right now",
                        ))
                        .await;
                        return;
                    }
                }
                () = tokio::time::sleep_until(self.commands_open_at), if self.in_flight.is_none() && !commands_open => {}
                () = tick(&mut ping) => {
                    if last_heard.elapsed() > idle_timeout {
                        tracing::info!("no pong or frame within the idle timeout; closing");
                        Box::pin(self.close(CloseCode::Away, "idle timeout")).await;
                        return;
                    }
                    if Box::pin(self.socket.send(Message::Ping(Default::default()))).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Handles one text frame; false when the socket is gone.
    async fn on_text(&mut self, context: &mut StationContext, text: &str) -> bool {
        let received_at = Utc::now();
        let (parsed, text_repairs) = parse_repaired(context, text);
        match parsed {
            Ok(Frame::Call {
                message_id,
                action,
                payload,
            }) => {
                metrics::frame_in(self.version, &action);
                let outcome = context.handle_call(&action, payload, received_at).await;
                let booted = outcome.booted;
                let repairs = text_repairs
                    .iter()
                    .cloned()
                    .chain(outcome.repairs.iter().map(|repair| repair.name.to_string()))
                    .collect();
                let reply_repairs = outcome
                    .reply_repairs
                    .iter()
                    .map(|repair| repair.name.to_string())
                    .collect();
                self.log(
                    Direction::Inbound,
                    Some(&action),
                    Some(&message_id),
                    text,
                    repairs,
                )
                .await;
                let reply = match outcome.result {
                    Ok(payload) => Frame::call_result(&message_id, payload),
                    Err((code, description)) => {
                        tracing::info!(action, code = code.as_str(self.version), %description, "answering with a CALLERROR");
                        Frame::call_error_for(self.version, &message_id, code, &description)
                    }
                };
                let sent = self
                    .send_repaired(reply, Some(&action), reply_repairs)
                    .await;
                // Only now, with the boot answered, may the CSMS send CALLs of its own.
                if let Some(registration) = booted {
                    self.booted(registration);
                }
                sent
            }
            Ok(frame @ (Frame::CallResult { .. } | Frame::CallError { .. })) => {
                metrics::frame_in(self.version, metrics::ANSWER);
                if let Some(pending) = self.outstanding.complete(frame.message_id()) {
                    self.on_answer(context, pending, frame, text, text_repairs, received_at)
                        .await;
                } else {
                    let late = self
                        .timed_out
                        .iter()
                        .find(|call| call.message_id == frame.message_id())
                        .map(|call| call.action.clone());
                    match &late {
                        Some(action) => tracing::info!(
                            message_id = frame.message_id(),
                            action,
                            "late answer after the time-out; dropped"
                        ),
                        None => tracing::debug!(
                            message_id = frame.message_id(),
                            "answer without an outstanding CALL; dropped"
                        ),
                    }
                    self.log(
                        Direction::Inbound,
                        late.as_deref(),
                        Some(frame.message_id()),
                        text,
                        text_repairs,
                    )
                    .await;
                }
                true
            }
            Err(error) => {
                metrics::frame_in(self.version, metrics::MALFORMED);
                tracing::info!(%error, "malformed frame");
                self.log(Direction::Inbound, None, None, text, Vec::new())
                    .await;
                if error.should_reply {
                    self.send(error.to_call_error(self.version), None).await
                } else {
                    true
                }
            }
        }
    }

    /// The station answered its boot: operator commands may go now, and an accepted station
    /// gets its boot-time configuration (once per connection: some chargers boot twice).
    fn booted(&mut self, registration: Registration) {
        self.commands_open_at = tokio::time::Instant::now();
        if registration == Registration::Accepted
            && self.shared.config.ocpp.configure_on_boot
            && !self.configured
        {
            self.configured = true;
            self.boot_steps.push_back(BootStep::ReadAll);
        }
    }

    /// Sends the next waiting CALL, operator commands first; false when the socket is gone.
    async fn send_next(&mut self, context: &mut StationContext) -> bool {
        if tokio::time::Instant::now() >= self.commands_open_at
            && let Some(request) = self.handle.try_next_command()
        {
            return Box::pin(self.start_api(context, request)).await;
        }
        if self.boot_steps.is_empty() || self.boot_steps_due.is_some() {
            return true;
        }
        if self.boot_steps.front() == Some(&BootStep::ReadAll)
            && !self.shared.admissions.may_configure()
        {
            self.boot_steps_due = Some(tokio::time::Instant::now() + storm_recheck_delay());
            return true;
        }
        let Some(step) = self.boot_steps.pop_front() else {
            return true;
        };
        // The settings are derived from the configuration when a step needs them, not held by
        // every idle connection.
        let command = step.command(&self.shared.config.ocpp.boot_settings());
        match zaryad_adapter::encode_command(self.version, &command) {
            Ok(call) => {
                let timeout =
                    Duration::from_secs(self.shared.config.ocpp.configure_timeout_secs.max(1));
                self.start(
                    command,
                    call.action,
                    call.payload,
                    timeout,
                    Waiter::Boot(step),
                )
                .await
            }
            Err(error) => {
                tracing::warn!(%error, ?step, "boot-time configuration step skipped");
                true
            }
        }
    }

    /// Sends an operator's command; false when the socket is gone.
    async fn start_api(
        &mut self,
        context: &mut StationContext,
        request: Box<CommandRequest>,
    ) -> bool {
        if request.reply.is_closed() {
            // The operator gave up while the command waited: it is not sent at all.
            tracing::info!(
                command = request.command.name(),
                "command abandoned by its caller before it was sent"
            );
            return true;
        }
        let CommandRequest {
            command,
            call,
            timeout,
            reply,
        } = *request;
        let sent = self
            .start(
                command,
                call.action,
                call.payload,
                timeout,
                Waiter::Api(reply),
            )
            .await;
        if !sent {
            self.end_in_flight(context, |action| CommandFailure::Disconnected { action })
                .await;
        }
        sent
    }

    /// Sends a CSMS-initiated CALL and tracks it; false when the socket is gone.
    async fn start(
        &mut self,
        command: Command,
        action: &'static str,
        payload: Value,
        timeout: Duration,
        waiter: Waiter,
    ) -> bool {
        let message_id = next_message_id();
        if let Err(busy) = self.outstanding.begin(&message_id, action) {
            // Unreachable while `in_flight` mirrors `outstanding`; refusing keeps the
            // one-CALL rule even if they ever drift apart.
            tracing::error!(%busy, "a CALL is still outstanding; command refused");
            if let Waiter::Api(reply) = waiter {
                let _ = reply.send(Err(CommandFailure::Invalid(busy.to_string())));
            }
            return true;
        }
        tracing::info!(
            command = command.name(),
            action,
            message_id,
            "sending a CALL"
        );
        let frame = Frame::call(&message_id, action, payload.clone());
        self.in_flight = Some(InFlight {
            message_id,
            action,
            command,
            request: payload,
            waiter,
            sent_at: Instant::now(),
            timeout,
            deadline: tokio::time::Instant::now() + timeout,
        });
        self.send(frame, Some(action)).await
    }

    /// The answer to our CALL arrived: decode it, record it, hand it to whoever waits.
    async fn on_answer(
        &mut self,
        context: &mut StationContext,
        pending: PendingCall,
        frame: Frame,
        text: &str,
        text_repairs: Vec<String>,
        received_at: chrono::DateTime<Utc>,
    ) {
        let action = self
            .in_flight
            .as_ref()
            .map_or("(unknown)", |in_flight| in_flight.action);
        let profile = context.selection().profile.clone();
        let (result, repairs) = match frame {
            Frame::CallResult { payload, .. } => {
                let response = payload.clone();
                match zaryad_adapter::decode_command_result(
                    &profile,
                    self.version,
                    action,
                    payload,
                    received_at,
                ) {
                    Ok(decoded) => (Ok(decoded.outcome), decoded.repairs),
                    Err(error) => {
                        tracing::warn!(action, %error, "the station's answer is invalid");
                        let failure = CommandFailure::InvalidResponse {
                            action,
                            description: error.description,
                            response,
                        };
                        (Err(failure), Vec::new())
                    }
                }
            }
            Frame::CallError {
                error_code,
                error_description,
                error_details,
                ..
            } => {
                let failure = CommandFailure::CallError {
                    action,
                    code: error_code,
                    description: error_description,
                    details: error_details,
                };
                (Err(failure), Vec::new())
            }
            Frame::Call { .. } => return,
        };
        for repair in &repairs {
            metrics::repair_applied(&repair.name, profile.name(), context.vendor());
        }
        let names = text_repairs
            .into_iter()
            .chain(repairs.into_iter().map(|repair| repair.name))
            .collect();
        self.log(
            Direction::Inbound,
            Some(&pending.action),
            Some(&pending.message_id),
            text,
            names,
        )
        .await;
        self.finish(context, result).await;
    }

    /// The CALL in flight got no answer in time.
    async fn time_out(&mut self, context: &mut StationContext) {
        if let Some(pending) = self.outstanding.abandon() {
            tracing::warn!(
                action = pending.action,
                message_id = pending.message_id,
                "no answer in time"
            );
            if self.timed_out.len() >= REMEMBERED_TIMEOUTS {
                self.timed_out.pop_front();
            }
            self.timed_out.push_back(pending);
        }
        let timeout = self
            .in_flight
            .as_ref()
            .map(|in_flight| in_flight.timeout)
            .unwrap_or_default();
        self.end_in_flight(context, |action| CommandFailure::Timeout {
            action,
            after: timeout,
        })
        .await;
    }

    /// Ends the CALL in flight, if any, without an answer.
    async fn end_in_flight(
        &mut self,
        context: &mut StationContext,
        failure: impl FnOnce(&'static str) -> CommandFailure,
    ) {
        if let Some(in_flight) = &self.in_flight {
            let failure = failure(in_flight.action);
            self.outstanding.abandon();
            self.finish(context, Err(failure)).await;
        }
    }

    /// Records the end of the CALL in flight and tells whoever waits for it.
    async fn finish(
        &mut self,
        context: &mut StationContext,
        result: Result<CommandOutcome, CommandFailure>,
    ) {
        let Some(in_flight) = self.in_flight.take() else {
            return;
        };
        let latency = in_flight.sent_at.elapsed();
        let origin = match in_flight.waiter {
            Waiter::Api(_) => Origin::Api,
            Waiter::Boot(_) => Origin::Boot,
        };
        let outcome_label = result
            .as_ref()
            .map_or_else(CommandFailure::outcome, |_| "answered");
        metrics::command_completed(
            in_flight.command.name(),
            origin.as_str(),
            outcome_label,
            latency,
        );
        tracing::info!(
            command = in_flight.command.name(),
            action = in_flight.action,
            message_id = in_flight.message_id,
            outcome = outcome_label,
            latency_ms = latency.as_millis(),
            "CALL ended"
        );
        let completion = Completion {
            command: &in_flight.command,
            origin,
            message_id: &in_flight.message_id,
            action: in_flight.action,
            request: &in_flight.request,
            result: &result,
            latency,
        };
        if let Err(error) = context.command_completed(&completion).await {
            tracing::warn!(%error, "the command's outcome was not recorded");
        }
        match in_flight.waiter {
            Waiter::Api(reply) => {
                let answer = result.map(|outcome| CommandAnswer {
                    message_id: in_flight.message_id,
                    action: in_flight.action,
                    outcome,
                    latency,
                });
                // The operator may have gone; the outcome is recorded either way.
                let _ = reply.send(answer);
            }
            Waiter::Boot(step) => {
                // A station that does not answer is left alone for the rest of the connection.
                if matches!(
                    result,
                    Err(CommandFailure::Timeout { .. } | CommandFailure::Disconnected { .. })
                ) {
                    self.boot_steps.clear();
                }
                let settings = self.shared.config.ocpp.boot_settings();
                let next = step.next(self.version, &settings, &result);
                self.boot_steps.extend(next);
            }
        }
    }

    /// Sends a frame and logs it; false when the socket is gone.
    async fn send(&mut self, frame: Frame, action: Option<&str>) -> bool {
        self.send_repaired(frame, action, Vec::new()).await
    }

    /// Sends a frame the station's profile repaired, logging the repairs with it.
    async fn send_repaired(
        &mut self,
        frame: Frame,
        action: Option<&str>,
        repairs: Vec<String>,
    ) -> bool {
        let text = frame.to_text();
        match &frame {
            Frame::CallError { error_code, .. } => {
                let code = ErrorCode::parse(error_code).as_str(self.version);
                metrics::call_error_sent(self.version.as_str(), code);
            }
            _ => metrics::frame_out(self.version, action.unwrap_or(metrics::ANSWER)),
        }
        self.log(
            Direction::Outbound,
            action,
            Some(frame.message_id()),
            &text,
            repairs,
        )
        .await;
        match self.socket.send(Message::text(text)).await {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(%error, "sending failed");
                false
            }
        }
    }

    async fn log(
        &mut self,
        direction: Direction,
        action: Option<&str>,
        message_id: Option<&str>,
        text: &str,
        repairs: Vec<String>,
    ) {
        self.shared
            .store
            .log_frame(FrameRecord {
                station_id: self.station_id.clone(),
                direction,
                at: Utc::now(),
                ocpp_version: self.version.as_str().to_owned(),
                action: action.map(str::to_owned),
                message_id: message_id.map(str::to_owned),
                text: text.to_owned(),
                repairs,
            })
            .await;
    }

    async fn close(&mut self, code: CloseCode, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: reason.to_owned().into(),
        };
        let _ = self.socket.close(Some(frame)).await;
    }
}

/// Resolves at `deadline`, or never without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Parses a frame; text that is not JSON gets the station profile's byte-level repairs (a
/// truncated frame, a stray comma) before it is refused. The frame log keeps the original
/// text with the names of the repairs.
fn parse_repaired(
    context: &StationContext,
    text: &str,
) -> (Result<Frame, zaryad_wire::FrameError>, Vec<String>) {
    let parsed = Frame::parse(text);
    if parsed.is_ok() {
        return (parsed, Vec::new());
    }
    let Some((repaired, repairs)) = context.repair_text(text) else {
        return (parsed, Vec::new());
    };
    match Frame::parse(&repaired) {
        Ok(frame) => {
            let profile = context.selection().profile.name().to_owned();
            for repair in &repairs {
                metrics::repair_applied(&repair.name, &profile, context.vendor());
            }
            (
                Ok(frame),
                repairs.into_iter().map(|repair| repair.name).collect(),
            )
        }
        Err(_) => (parsed, Vec::new()),
    }
}

/// The next ping tick, or never when pings are disabled.
async fn tick(ping: &mut Option<Interval>) {
    match ping {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
