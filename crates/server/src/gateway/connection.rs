//! One task per charger connection: it owns the socket, reads frames in order, answers each
//! CALL through the station context, pings, and closes when asked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::Instrument;
use zaryad_model::StationId;
use zaryad_store::{Direction, FrameRecord};
use zaryad_wire::{ErrorCode, Frame, OcppVersion};

use super::registry::{CloseReason, ConnectionHandle};
use super::station::StationContext;
use crate::metrics;
use crate::state::Shared;

type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// How long a new connection waits for the one it replaces to finish its writes.
const REPLACE_WAIT: Duration = Duration::from_secs(5);

/// Serves one charger until it disconnects or is told to close.
pub async fn run(
    shared: Arc<Shared>,
    station_id: StationId,
    version: OcppVersion,
    socket: Socket,
    peer: SocketAddr,
) {
    let span =
        tracing::info_span!("charger", station = %station_id, version = version.as_str(), %peer);
    async move {
        let (handle, previous) = shared.registry.register(&station_id, version, Utc::now());
        if let Some(previous) = previous {
            tracing::info!("a new connection replaces the previous one");
            previous.close(CloseReason::Replaced);
            if !previous.wait_finished(REPLACE_WAIT).await {
                tracing::warn!("the replaced connection did not finish in time");
            }
        }
        metrics::connection_opened(version.as_str());
        let mut connection = Connection {
            shared: shared.clone(),
            station_id: station_id.clone(),
            version,
            socket,
            handle: handle.clone(),
        };
        match StationContext::load(shared.clone(), station_id.clone(), version).await {
            Ok(mut context) => {
                tracing::info!("charger connected");
                connection.serve(&mut context).await;
                if let Err(error) = context.disconnected().await {
                    tracing::warn!(%error, "disconnect not recorded");
                }
            }
            Err(error) => {
                tracing::error!(%error, "station state could not be loaded; closing");
                connection
                    .close(
                        CloseCode::Error,
                        "the CSMS cannot serve this station right now",
                    )
                    .await;
            }
        }
        shared
            .registry
            .unregister(&station_id, handle.connection_id);
        metrics::connection_closed(version.as_str());
        handle.mark_finished();
        tracing::info!("charger disconnected");
    }
    .instrument(span)
    .await;
}

struct Connection {
    shared: Arc<Shared>,
    station_id: StationId,
    version: OcppVersion,
    socket: Socket,
    handle: ConnectionHandle,
}

impl Connection {
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
            tokio::select! {
                () = self.handle.close_requested() => {
                    let (code, reason) = match self.handle.close_reason() {
                        Some(CloseReason::Replaced) => (CloseCode::Normal, "replaced by a new connection"),
                        Some(CloseReason::Deleted) => (CloseCode::Policy, "station deleted"),
                        Some(CloseReason::Shutdown) | None => (CloseCode::Restart, "CSMS restarting"),
                    };
                    self.close(code, reason).await;
                    return;
                }
                message = self.socket.next() => match message {
                    None => return,
                    Some(Ok(Message::Text(text))) => {
                        last_heard = Instant::now();
                        let now = Utc::now();
                        self.handle.touch(now);
                        self.shared.store.touch(&self.station_id, now);
                        if !self.on_text(context, text.as_str()).await {
                            return;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        last_heard = Instant::now();
                        let reply = Frame::call_error_for(self.version, "-1", ErrorCode::FormatViolation, "OCPP-J frames are text, not binary");
                        if !self.send(reply, None).await {
                            return;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => last_heard = Instant::now(),
                    // tungstenite answers the close itself; the stream ends next.
                    Some(Ok(Message::Close(_))) => {}
                    Some(Err(WsError::Capacity(error))) => {
                        tracing::warn!(%error, "message too large; closing");
                        self.close(CloseCode::Size, "message too large").await;
                        return;
                    }
                    Some(Err(error)) => {
                        tracing::debug!(%error, "socket error");
                        return;
                    }
                },
                () = tick(&mut ping) => {
                    if last_heard.elapsed() > idle_timeout {
                        tracing::info!("no pong or frame within the idle timeout; closing");
                        self.close(CloseCode::Away, "idle timeout").await;
                        return;
                    }
                    if self.socket.send(Message::Ping(Default::default())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Handles one text frame; false when the socket is gone.
    async fn on_text(&mut self, context: &mut StationContext, text: &str) -> bool {
        let received_at = Utc::now();
        match Frame::parse(text) {
            Ok(Frame::Call {
                message_id,
                action,
                payload,
            }) => {
                metrics::frame_in(self.version.as_str(), &action);
                let outcome = context.handle_call(&action, payload, received_at).await;
                let repairs = outcome
                    .repairs
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
                self.send(reply, Some(&action)).await
            }
            Ok(frame @ (Frame::CallResult { .. } | Frame::CallError { .. })) => {
                metrics::frame_in(self.version.as_str(), "(answer)");
                // Answers to CSMS-initiated CALLs are correlated by the command router; until a
                // CALL is outstanding, a stray answer is only logged.
                tracing::debug!(
                    message_id = frame.message_id(),
                    "answer without an outstanding CALL"
                );
                self.log(
                    Direction::Inbound,
                    None,
                    Some(frame.message_id()),
                    text,
                    Vec::new(),
                )
                .await;
                true
            }
            Err(error) => {
                metrics::frame_in(self.version.as_str(), "(malformed)");
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

    /// Sends a frame and logs it; false when the socket is gone.
    async fn send(&mut self, frame: Frame, action: Option<&str>) -> bool {
        let text = frame.to_text();
        match &frame {
            Frame::CallError { error_code, .. } => {
                let code = ErrorCode::parse(error_code).as_str(self.version);
                metrics::call_error_sent(self.version.as_str(), code);
            }
            _ => metrics::frame_out(self.version.as_str(), action.unwrap_or("(answer)")),
        }
        self.log(
            Direction::Outbound,
            action,
            Some(frame.message_id()),
            &text,
            Vec::new(),
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

/// The next ping tick, or never when pings are disabled.
async fn tick(ping: &mut Option<Interval>) {
    match ping {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
