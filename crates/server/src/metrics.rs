//! Prometheus metrics: names live here, call sites use these functions.
//!
//! The counters and the histogram touched on every frame are registered once
//! ([`HotHandles`]): the `metrics` macros build a key and look it up in the recorder's registry
//! on each call, and a frame's action label was a fresh `String` each time.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use zaryad_wire::OcppVersion;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often histogram samples are folded into their buckets. The recorder keeps every
/// sample recorded since the last fold: without it, a node nobody scrapes would hold each
/// commit's latency forever (measured: 13 MB more every minute at 14,000 CALL/s).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the process-wide recorder once and returns the handle that renders it.
///
/// Several servers in one process (tests) share the recorder; a failed install leaves metrics
/// off rather than stopping the server.
pub fn install() -> Option<PrometheusHandle> {
    let handle = HANDLE
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
                Ok(handle) => {
                    start_upkeep(handle.clone());
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone();
    // After the recorder: handles registered before it would count nowhere.
    HOT.get_or_init(HotHandles::register);
    handle
}

/// Folds histogram samples into buckets every [`UPKEEP_INTERVAL`], on a thread of its own: the
/// recorder outlives any one runtime (tests start several servers in one process).
fn start_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("zaryad-metrics".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "metrics upkeep not started; histograms fold only when scraped");
    }
}

/// Every action name of OCPP 1.6 (with the security extension) and 2.0.1, either direction,
/// sorted: the only values the `action` label takes besides [`OTHER_LABELS`]. A charger that
/// sends made-up actions must not add a time series per name.
const ACTIONS: &[&str] = &[
    "Authorize",
    "BootNotification",
    "CancelReservation",
    "CertificateSigned",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "ClearDisplayMessage",
    "ClearVariableMonitoring",
    "ClearedChargingLimit",
    "CostUpdated",
    "CustomerInformation",
    "DataTransfer",
    "DeleteCertificate",
    "DiagnosticsStatusNotification",
    "ExtendedTriggerMessage",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetBaseReport",
    "GetCertificateStatus",
    "GetChargingProfiles",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetDisplayMessages",
    "GetInstalledCertificateIds",
    "GetLocalListVersion",
    "GetLog",
    "GetMonitoringReport",
    "GetReport",
    "GetTransactionStatus",
    "GetVariables",
    "Heartbeat",
    "InstallCertificate",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyReport",
    "PublishFirmware",
    "PublishFirmwareStatusNotification",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReportChargingProfiles",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "ReservationStatusUpdate",
    "ReserveNow",
    "Reset",
    "SecurityEventNotification",
    "SendLocalList",
    "SetChargingProfile",
    "SetDisplayMessage",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "SetNetworkProfile",
    "SetVariableMonitoring",
    "SetVariables",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
    "SignedUpdateFirmware",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
    "TransactionEvent",
    "TriggerMessage",
    "UnlockConnector",
    "UnpublishFirmware",
    "UpdateFirmware",
];

/// Labels for frames that are not CALLs of a known action.
const OTHER_LABELS: &[&str] = &[ANSWER, MALFORMED, UNKNOWN_ACTION];

/// The label of an answer (CALLRESULT or CALLERROR) to a CALL.
pub const ANSWER: &str = "(answer)";
/// The label of a frame that is not OCPP-J.
pub const MALFORMED: &str = "(malformed)";
/// The label of a CALL whose action OCPP does not define.
const UNKNOWN_ACTION: &str = "(unknown)";

/// The index of `action`'s label in [`ACTIONS`] followed by [`OTHER_LABELS`].
fn label_index(action: &str) -> usize {
    ACTIONS.binary_search(&action).unwrap_or_else(|_| {
        let other = OTHER_LABELS
            .iter()
            .position(|label| *label == action)
            .unwrap_or(OTHER_LABELS.len() - 1);
        ACTIONS.len() + other
    })
}

fn label(index: usize) -> &'static str {
    ACTIONS
        .get(index)
        .or_else(|| OTHER_LABELS.get(index - ACTIONS.len()))
        .copied()
        .unwrap_or(UNKNOWN_ACTION)
}

fn version_index(version: OcppVersion) -> usize {
    match version {
        OcppVersion::V16 => 0,
        OcppVersion::V201 => 1,
    }
}

/// The handles recorded on every frame, registered once.
struct HotHandles {
    /// `zaryad_frames_in_total` by version, then by label index.
    frames_in: [Vec<Counter>; 2],
    /// `zaryad_frames_out_total`, likewise.
    frames_out: [Vec<Counter>; 2],
    commit_latency: Histogram,
}

static HOT: OnceLock<HotHandles> = OnceLock::new();

impl HotHandles {
    fn register() -> HotHandles {
        let counters = |name: &'static str| {
            [OcppVersion::V16, OcppVersion::V201].map(|version| {
                (0..ACTIONS.len() + OTHER_LABELS.len())
                    .map(|index| {
                        metrics::counter!(name, "version" => version.as_str(), "action" => label(index))
                    })
                    .collect()
            })
        };
        HotHandles {
            frames_in: counters("zaryad_frames_in_total"),
            frames_out: counters("zaryad_frames_out_total"),
            commit_latency: metrics::histogram!("zaryad_commit_latency_seconds"),
        }
    }
}

/// Counts a frame on the handle `pick` chooses. Before [`install`] there is no recorder, and
/// nothing to count on (a replay, a unit test).
fn count_frame(pick: fn(&HotHandles) -> &[Vec<Counter>; 2], version: OcppVersion, action: &str) {
    if let Some(counter) = HOT
        .get()
        .and_then(|hot| pick(hot)[version_index(version)].get(label_index(action)))
    {
        counter.increment(1);
    }
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

/// A frame arrived from a charger: a CALL of `action`, an [`ANSWER`] or [`MALFORMED`].
pub fn frame_in(version: OcppVersion, action: &str) {
    count_frame(|hot| &hot.frames_in, version, action);
}

/// A frame went to a charger: a CALL of `action`, or the answer to one.
pub fn frame_out(version: OcppVersion, action: &str) {
    count_frame(|hot| &hot.frames_out, version, action);
}

/// A CALLERROR was sent to a charger.
pub fn call_error_sent(version: &'static str, code: &'static str) {
    metrics::counter!("zaryad_call_errors_sent_total", "version" => version, "code" => code)
        .increment(1);
}

/// The adapter repaired a frame of a station served by `profile`.
pub fn repair_applied(repair: &str, profile: &str, vendor: Option<&str>) {
    repairs_counter(repair, profile, vendor).increment(1);
}

/// The `zaryad_repairs_total` series of `repair` for a station of `vendor` served by `profile`.
fn repairs_counter(repair: &str, profile: &str, vendor: Option<&str>) -> Counter {
    metrics::counter!(
        "zaryad_repairs_total",
        "repair" => repair.to_owned(),
        "profile" => profile.to_owned(),
        "vendor" => vendor.unwrap_or("unknown").to_owned()
    )
}

/// The `zaryad_repairs_total` counters of one station's connection, for the profile and
/// vendor they were last asked for: a counter looked up by its labels costs three label
/// strings and a hash of them each time, and a dialect's repairs come with nearly every frame.
#[derive(Default)]
pub struct RepairCounters {
    /// The profile and vendor the counters carry.
    labels: (String, Option<String>),
    /// The counters met so far, by repair.
    counters: Vec<(String, Counter)>,
}

impl RepairCounters {
    /// Counts one application of `repair` (see [`repair_applied`]).
    pub fn applied(&mut self, repair: &str, profile: &str, vendor: Option<&str>) {
        if self.labels.0 != profile || self.labels.1.as_deref() != vendor {
            self.labels = (profile.to_owned(), vendor.map(str::to_owned));
            self.counters.clear();
        }
        if let Some((_, counter)) = self.counters.iter().find(|(name, _)| name == repair) {
            counter.increment(1);
            return;
        }
        let counter = repairs_counter(repair, profile, vendor);
        counter.increment(1);
        self.counters.push((repair.to_owned(), counter));
    }
}

/// A batch of state changes was committed.
pub fn commit_latency(elapsed: Duration) {
    if let Some(hot) = HOT.get() {
        hot.commit_latency.record(elapsed.as_secs_f64());
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_its_own_label_and_anything_else_one_label() {
        assert!(
            ACTIONS.windows(2).all(|pair| pair[0] < pair[1]),
            "sorted, no duplicates"
        );
        for (index, action) in ACTIONS.iter().enumerate() {
            assert_eq!(label_index(action), index);
            assert_eq!(label(label_index(action)), *action);
        }
        assert_eq!(label(label_index(ANSWER)), ANSWER);
        assert_eq!(label(label_index(MALFORMED)), MALFORMED);
        for made_up in ["", "FooBar", "heartbeat", "Heartbeat ", "(unknown)", "Zzz"] {
            assert_eq!(label(label_index(made_up)), UNKNOWN_ACTION, "{made_up:?}");
        }
    }

    /// The value of the `zaryad_repairs_total` line with these labels in `rendered`.
    fn repairs_counted(rendered: &str, repair: &str, profile: &str, vendor: &str) -> u64 {
        rendered
            .lines()
            .find(|line| {
                line.starts_with("zaryad_repairs_total{")
                    && line.contains(&format!("repair=\"{repair}\""))
                    && line.contains(&format!("profile=\"{profile}\""))
                    && line.contains(&format!("vendor=\"{vendor}\""))
            })
            .and_then(|line| line.rsplit(' ').next())
            .map_or(0, |value| value.parse().unwrap())
    }

    #[test]
    fn kept_repair_counters_count_under_the_labels_of_each_call() {
        install().unwrap();
        let mut counters = RepairCounters::default();
        for _ in 0..3 {
            counters.applied("unit-test-alias", "unit-a", Some("Vendor A"));
        }
        counters.applied("unit-test-other", "unit-a", Some("Vendor A"));
        // The profile changes (a boot chose another): the counters follow it.
        counters.applied("unit-test-alias", "unit-b", Some("Vendor A"));
        // And the vendor.
        counters.applied("unit-test-alias", "unit-b", None);
        // Looked up anew, as the connection's rare paths do: the same series.
        repair_applied("unit-test-alias", "unit-a", Some("Vendor A"));
        let rendered = render();
        for (repair, profile, vendor, expected) in [
            ("unit-test-alias", "unit-a", "Vendor A", 4),
            ("unit-test-other", "unit-a", "Vendor A", 1),
            ("unit-test-alias", "unit-b", "Vendor A", 1),
            ("unit-test-alias", "unit-b", "unknown", 1),
        ] {
            let counted = repairs_counted(&rendered, repair, profile, vendor);
            assert_eq!(counted, expected, "{repair} {profile} {vendor}: {rendered}");
        }
    }

    #[test]
    fn the_actions_the_adapter_decodes_are_labelled() {
        for action in [
            "BootNotification",
            "TransactionEvent",
            "NotifyReport",
            "SignedFirmwareStatusNotification",
            "GetConfiguration",
            "RequestStartTransaction",
        ] {
            assert_ne!(label(label_index(action)), UNKNOWN_ACTION, "{action}");
        }
    }
}
