//! Prometheus metrics: names live here, call sites use these functions.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once and returns the handle that renders it.
///
/// Several servers in one process (tests) share the recorder; a failed install leaves metrics
/// off rather than stopping the server.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_seconds".to_owned()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .ok()?
                // Chargers take seconds to answer a command, up to the 30 s timeout.
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "zaryad_command_latency_seconds".to_owned(),
                    ),
                    &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0],
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::warn!(%error, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

/// Renders every metric in the Prometheus text format.
pub fn render() -> String {
    install().map(|handle| handle.render()).unwrap_or_default()
}

/// A charger connected.
pub fn connection_opened(version: &'static str) {
    metrics::gauge!("zaryad_connections", "version" => version).increment(1.0);
    metrics::counter!("zaryad_connections_opened_total", "version" => version).increment(1);
}

/// A charger disconnected.
pub fn connection_closed(version: &'static str) {
    metrics::gauge!("zaryad_connections", "version" => version).decrement(1.0);
}

/// An upgrade was refused before the WebSocket started.
pub fn handshake_refused(reason: &'static str) {
    metrics::counter!("zaryad_handshakes_refused_total", "reason" => reason).increment(1);
}

/// A frame arrived from a charger.
pub fn frame_in(version: &'static str, action: &str) {
    metrics::counter!("zaryad_frames_in_total", "version" => version, "action" => action.to_owned())
        .increment(1);
}

/// A frame went to a charger.
pub fn frame_out(version: &'static str, action: &str) {
    metrics::counter!("zaryad_frames_out_total", "version" => version, "action" => action.to_owned())
        .increment(1);
}

/// A CALLERROR was sent to a charger.
pub fn call_error_sent(version: &'static str, code: &'static str) {
    metrics::counter!("zaryad_call_errors_sent_total", "version" => version, "code" => code)
        .increment(1);
}

/// The adapter repaired a frame of a station served by `profile`.
pub fn repair_applied(repair: &str, profile: &str, vendor: Option<&str>) {
    metrics::counter!(
        "zaryad_repairs_total",
        "repair" => repair.to_owned(),
        "profile" => profile.to_owned(),
        "vendor" => vendor.unwrap_or("unknown").to_owned()
    )
    .increment(1);
}

/// A batch of state changes was committed.
pub fn commit_latency(elapsed: Duration) {
    metrics::histogram!("zaryad_commit_latency_seconds").record(elapsed.as_secs_f64());
}

/// An operator's command was refused before a CALL was sent (not connected, queue full, not
/// expressible in the station's version).
pub fn command_refused(command: &'static str, outcome: &'static str) {
    metrics::counter!(
        "zaryad_commands_total",
        "command" => command,
        "origin" => "api",
        "outcome" => outcome
    )
    .increment(1);
}

/// A CSMS-initiated CALL ended: answered, refused with a CALLERROR, timed out or cut off.
///
/// `origin` is `api` for operator commands and `boot` for the boot-time configuration.
pub fn command_completed(
    command: &'static str,
    origin: &'static str,
    outcome: &'static str,
    latency: Duration,
) {
    metrics::counter!(
        "zaryad_commands_total",
        "command" => command,
        "origin" => origin,
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!("zaryad_command_latency_seconds", "command" => command, "origin" => origin)
        .record(latency.as_secs_f64());
}

/// A webhook delivery attempt ended: `delivered`, `retry` or `failed`.
pub fn webhook_attempt(outcome: &'static str) {
    metrics::counter!("zaryad_webhook_attempts_total", "outcome" => outcome).increment(1);
}

/// NATS JetStream acknowledged an event; `duplicate` when it already had it.
pub fn event_published(duplicate: bool) {
    let outcome = if duplicate { "duplicate" } else { "stored" };
    metrics::counter!("zaryad_nats_published_total", "outcome" => outcome).increment(1);
}
