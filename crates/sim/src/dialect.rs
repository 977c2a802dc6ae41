//! What a simulated charger sends: the session cycle of each dialect and the frames of each step.
//!
//! A dialect is the way one family of chargers speaks OCPP, modelled on the frames in
//! `shared/quirks/frames.jsonl`:
//! - `clean`: spec-exact 1.6 or 2.0.1.
//! - `china`: a Chinese-made 1.6 AC charger (XQ `ocpp_ac_7kw`, frames R02-a/b, B04-a, D01-a,
//!   M03-a, X01-b): UUID message ids, timestamps without offset, integers sent as strings,
//!   `customData` in the 1.6 boot, StatusNotification and StartTransaction pipelined (and
//!   StopTransaction with the following StatusNotification), an extra `connectorId` in the stop.
//! - `korea`: a Korean-made 1.6 DC charger (Dongah dispenser for LS E-Link, frames I03-a,
//!   DT02-a/b): 16-digit membership cards, DataTransfer vendor data (`vehicleInfo` at the start,
//!   a second meter stream with SOC and prices after every MeterValues, its timestamps in
//!   Korean wall time labelled `Z`), SoC in the core meter values.
//!
//! Everything here is pure: builders take the charger's state and the time and return JSON.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use serde_json::{Value, json};
use zaryad_wire::OcppVersion;

use crate::rng::Rng;

/// A family of chargers and the way it speaks OCPP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    /// Spec-exact frames (1.6 or 2.0.1).
    Clean,
    /// A Chinese-made 1.6 charger: offset-less timestamps, numbers as strings, pipelined CALLs.
    China,
    /// A Korean-made 1.6 charger: DataTransfer vendor data, membership-card id tags.
    Korea,
}

impl Dialect {
    /// Every dialect, in the order the CLI lists them.
    pub const ALL: [Dialect; 3] = [Dialect::Clean, Dialect::China, Dialect::Korea];

    /// The name used on the command line and in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Clean => "clean",
            Dialect::China => "china",
            Dialect::Korea => "korea",
        }
    }

    /// Whether chargers of this dialect speak `version` (the field dialects are 1.6 only).
    pub fn speaks(self, version: OcppVersion) -> bool {
        self == Dialect::Clean || version == OcppVersion::V16
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a dialect name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dialect {0:?} (expected clean, china or korea)")]
pub struct UnknownDialect(String);

impl FromStr for Dialect {
    type Err = UnknownDialect;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "clean" => Ok(Dialect::Clean),
            "china" | "cn" => Ok(Dialect::China),
            "korea" | "kr" => Ok(Dialect::Korea),
            _ => Err(UnknownDialect(text.to_owned())),
        }
    }
}

/// Vendor data a Korean charger sends in DataTransfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorMessage {
    /// `vehicleInfo`: the EV's EVCC id at the start of a session (frame DT02-b).
    VehicleInfo,
    /// `MeterValues`: the second meter stream with SOC and unit prices (frame DT02-a).
    MeterReport,
}

/// One thing a charger does, independent of version and dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// BootNotification.
    Boot,
    /// StatusNotification `Available`.
    Available,
    /// Heartbeat.
    Heartbeat,
    /// A vehicle is plugged in: `Preparing` (1.6) or `Occupied` (2.0.1).
    Plug,
    /// Authorize the id tag.
    Authorize,
    /// StartTransaction (1.6) or TransactionEvent `Started` (2.0.1).
    Start,
    /// Charging begins: StatusNotification `Charging` (1.6) or TransactionEvent `Updated`
    /// with `chargingState` `Charging` (2.0.1).
    Charging,
    /// Periodic meter values: MeterValues (1.6) or TransactionEvent `Updated` (2.0.1).
    Meter,
    /// Vendor data in a DataTransfer.
    VendorData(VendorMessage),
    /// StopTransaction (1.6) or TransactionEvent `Ended` (2.0.1).
    Stop,
    /// StatusNotification `Finishing` (1.6 only).
    Finishing,
}

/// One entry of a charger's session cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// What to do.
    pub step: Step,
    /// Sent right after the previous entry, without waiting for its answer (a field quirk;
    /// the spec allows one outstanding CALL).
    pub pipelined: bool,
}

impl Planned {
    fn after_answer(step: Step) -> Planned {
        Planned {
            step,
            pipelined: false,
        }
    }

    fn pipelined(step: Step) -> Planned {
        Planned {
            step,
            pipelined: true,
        }
    }
}

/// How many periodic messages one session cycle carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleShape {
    /// MeterValues sent during each session.
    pub meter_values: u32,
    /// Heartbeats sent between sessions (0 when a heartbeat timer runs separately).
    pub heartbeats: u32,
}

/// The repeating sequence of steps of one charger: plug in, authorize, charge with meter
/// values, stop, unplug, (heartbeats). The first entry is never pipelined.
pub fn session_cycle(version: OcppVersion, dialect: Dialect, shape: CycleShape) -> Vec<Planned> {
    let step = Planned::after_answer;
    let mut cycle = vec![step(Step::Plug)];
    match (version, dialect) {
        // XQ sends Preparing and StartTransaction back to back (R02-a/b); no Authorize.
        (OcppVersion::V16, Dialect::China) => cycle.push(Planned::pipelined(Step::Start)),
        (OcppVersion::V16, Dialect::Korea) => cycle.extend([
            step(Step::Authorize),
            step(Step::VendorData(VendorMessage::VehicleInfo)),
            step(Step::Start),
        ]),
        _ => cycle.extend([step(Step::Authorize), step(Step::Start)]),
    }
    cycle.push(step(Step::Charging));
    for _ in 0..shape.meter_values {
        cycle.push(step(Step::Meter));
        if version == OcppVersion::V16 && dialect == Dialect::Korea {
            cycle.push(step(Step::VendorData(VendorMessage::MeterReport)));
        }
    }
    cycle.push(step(Step::Stop));
    match (version, dialect) {
        (OcppVersion::V201, _) => {}
        // XQ sends StopTransaction and StatusNotification back to back too.
        (OcppVersion::V16, Dialect::China) => cycle.push(Planned::pipelined(Step::Finishing)),
        (OcppVersion::V16, _) => cycle.push(step(Step::Finishing)),
    }
    cycle.push(step(Step::Available));
    for _ in 0..shape.heartbeats {
        cycle.push(step(Step::Heartbeat));
    }
    cycle
}

/// A transaction as the charger knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The OCPP transaction id: assigned by the CSMS in 1.6 (known once StartTransaction is
    /// answered), by the charger in 2.0.1.
    pub id: Option<String>,
    /// The energy register at the start, Wh.
    pub meter_start_wh: u64,
    /// The next 2.0.1 `seqNo`.
    pub seq_no: u64,
}

/// A stop the CSMS acknowledged: one line of the durability ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedTransaction {
    /// The OCPP transaction id.
    pub transaction_id: String,
    /// The energy register at the start, Wh.
    pub meter_start_wh: u64,
    /// The energy register at the stop, Wh.
    pub meter_stop_wh: u64,
}

/// What a simulated charger knows when it builds its next frame.
#[derive(Debug, Clone)]
pub struct ChargerState {
    /// The station id (the last path segment of the URL).
    pub station_id: String,
    /// The OCPP version it speaks.
    pub version: OcppVersion,
    /// Its dialect.
    pub dialect: Dialect,
    /// The id tag (1.6) or id token (2.0.1) it charges with.
    pub id_token: String,
    /// The energy register, Wh: only ever grows.
    pub energy_wh: u64,
    /// Energy added by one meter interval, Wh.
    pub wh_per_sample: u64,
    /// The power drawn while charging, W.
    pub power_w: u64,
    /// The vehicle's state of charge, percent.
    pub soc_percent: u64,
    /// The running transaction, if any.
    pub transaction: Option<Transaction>,
    /// A transaction whose Stop was sent and not yet answered.
    pub stopping: Option<FinishedTransaction>,
    message_counter: u64,
    rng: Rng,
}

/// How far Korean wall time is ahead of UTC (Korean firmware labels it `Z` anyway).
const KST_OFFSET_HOURS: i64 = 9;

impl ChargerState {
    /// The state of charger number `index` (0-based), deterministic for a given index.
    pub fn new(
        station_id: &str,
        version: OcppVersion,
        dialect: Dialect,
        index: usize,
        meter_interval_secs: u64,
    ) -> ChargerState {
        let mut rng = Rng::new(index as u64);
        // Korean DC chargers draw more than the Chinese 7 kW AC wallboxes; numbers only need
        // to look like the field.
        let power_w = match dialect {
            Dialect::Korea => 50_000,
            Dialect::China => 7_000,
            Dialect::Clean => 11_000,
        };
        let id_token = match dialect {
            // Korean membership cards: 16 digits, sometimes a letter in front (I03-a).
            Dialect::Korea => format!("C{:016}", 1_010_010_000_000_000 + index as u64),
            Dialect::China => format!("a{:09}", 100_000_000 + index as u64),
            Dialect::Clean => format!("{:014X}", 0x0465_6B82_0000u64 + index as u64),
        };
        ChargerState {
            station_id: station_id.to_owned(),
            version,
            dialect,
            id_token,
            energy_wh: 1_000_000 + rng.below(9_000_000),
            wh_per_sample: (power_w * meter_interval_secs.max(1)).div_ceil(3600),
            power_w,
            soc_percent: 20 + rng.below(40),
            transaction: None,
            stopping: None,
            message_counter: 0,
            rng,
        }
    }

    /// A fresh message id in the dialect's style.
    pub fn next_message_id(&mut self) -> String {
        self.message_counter += 1;
        match (self.version, self.dialect) {
            // Small sequential integers as strings, like most European firmware.
            (OcppVersion::V16, Dialect::Clean) => self.message_counter.to_string(),
            _ => self.rng.uuid(),
        }
    }

    /// The frames of `step` at `now`: the action and payload, or `None` when the step makes
    /// no sense in the current state (a stop without a transaction).
    pub fn build(&mut self, step: Step, now: DateTime<Utc>) -> Option<(&'static str, Value)> {
        match self.version {
            OcppVersion::V16 => self.build_16(step, now),
            OcppVersion::V201 => self.build_201(step, now),
        }
    }

    fn timestamp(&self, now: DateTime<Utc>) -> String {
        match self.dialect {
            // Growatt/XQ style: no offset at all (D01-a).
            Dialect::China => now.format("%Y-%m-%dT%H:%M:%S").to_string(),
            _ => now.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }

    /// An integer as this dialect spells it: the Chinese firmware sends numbers as strings.
    fn integer(&self, value: u64) -> Value {
        match self.dialect {
            Dialect::China => Value::String(value.to_string()),
            _ => Value::from(value),
        }
    }

    fn build_16(&mut self, step: Step, now: DateTime<Utc>) -> Option<(&'static str, Value)> {
        let timestamp = self.timestamp(now);
        let connector = self.integer(1);
        let status = |status: &str| {
            let mut payload = json!({
                "connectorId": connector.clone(),
                "errorCode": "NoError",
                "status": status,
                "timestamp": timestamp.clone(),
            });
            if self.dialect == Dialect::China {
                payload["info"] = json!("");
            }
            ("StatusNotification", payload)
        };
        match step {
            Step::Boot => Some(("BootNotification", self.boot_16())),
            Step::Available => Some(status("Available")),
            Step::Plug => Some(status("Preparing")),
            Step::Charging => Some(status("Charging")),
            Step::Finishing => Some(status("Finishing")),
            Step::Heartbeat => Some(("Heartbeat", json!({}))),
            Step::Authorize => Some(("Authorize", json!({"idTag": self.id_token}))),
            Step::Start => {
                self.transaction = Some(Transaction {
                    id: None,
                    meter_start_wh: self.energy_wh,
                    seq_no: 0,
                });
                Some((
                    "StartTransaction",
                    json!({
                        "connectorId": connector,
                        "idTag": self.id_token,
                        "meterStart": self.integer(self.energy_wh),
                        "timestamp": timestamp,
                    }),
                ))
            }
            Step::Meter => {
                self.advance_meter();
                let mut payload = json!({
                    "connectorId": connector,
                    "meterValue": [{"timestamp": timestamp, "sampledValue": self.samples_16()}],
                });
                if let Some(id) = self.transaction.as_ref().and_then(|tx| tx.id.clone()) {
                    payload["transactionId"] = self.transaction_id_16(&id);
                }
                Some(("MeterValues", payload))
            }
            Step::VendorData(message) => Some(("DataTransfer", self.vendor_data(message, now))),
            Step::Stop => {
                let transaction = self.transaction.take()?;
                self.advance_meter();
                // Without the CSMS's id (StartTransaction failed) there is nothing to stop.
                let id = transaction.id?;
                let mut payload = json!({
                    "transactionId": self.transaction_id_16(&id),
                    "idTag": self.id_token,
                    "meterStop": self.integer(self.energy_wh),
                    "timestamp": timestamp,
                    "reason": "Local",
                });
                match self.dialect {
                    Dialect::China => {
                        // X01-b: connectorId is not a StopTransaction field, XQ sends it.
                        payload["connectorId"] = self.integer(1);
                        payload["reason"] = json!("EVDisconnected");
                    }
                    Dialect::Korea => {
                        payload["transactionData"] = json!([{
                            "timestamp": self.timestamp(now),
                            "sampledValue": [{
                                "value": self.energy_wh.to_string(),
                                "context": "Transaction.End",
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            }],
                        }]);
                    }
                    Dialect::Clean => {}
                }
                self.stopping = Some(FinishedTransaction {
                    transaction_id: id,
                    meter_start_wh: transaction.meter_start_wh,
                    meter_stop_wh: self.energy_wh,
                });
                Some(("StopTransaction", payload))
            }
        }
    }

    fn transaction_id_16(&self, id: &str) -> Value {
        match (self.dialect, id.parse::<i64>()) {
            (Dialect::China, _) | (_, Err(_)) => Value::String(id.to_owned()),
            (_, Ok(number)) => Value::from(number),
        }
    }

    fn boot_16(&mut self) -> Value {
        let serial = self.rng.below(1_000_000_000);
        match self.dialect {
            Dialect::Clean => json!({
                "chargePointVendor": "ZaryadSim",
                "chargePointModel": "Sim-AC22",
                "chargePointSerialNumber": format!("ZS{serial:09}"),
                "firmwareVersion": "1.0.0",
            }),
            // B04-a.
            Dialect::China => json!({
                "chargePointVendor": "XQ",
                "chargePointModel": "ocpp_ac_7kw",
                "chargePointSerialNumber": format!("ks01171{serial:09}"),
                "firmwareVersion": "250722",
                "iccid": "",
                "imsi": "",
                "customData": {"moduleVersion": "FC4X.250723", "networkType": "1"},
            }),
            Dialect::Korea => json!({
                "chargePointVendor": "Dongah",
                "chargePointModel": "DEVC-100",
                "chargePointSerialNumber": format!("ST{serial:09}"),
                "chargeBoxSerialNumber": format!("ST{serial:09}-01"),
                "firmwareVersion": "2.3.1",
                "meterType": "DC",
            }),
        }
    }

    fn samples_16(&self) -> Value {
        let energy = self.energy_wh.to_string();
        match self.dialect {
            Dialect::Clean => json!([
                {"value": energy, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": self.power_w.to_string(), "context": "Sample.Periodic", "measurand": "Power.Active.Import", "unit": "W"},
                {"value": "16.0", "context": "Sample.Periodic", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                {"value": "230.1", "context": "Sample.Periodic", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
            ]),
            // M03-a: Current.Offered tracking the actual draw, Temperature in Celsius.
            Dialect::China => json!([
                {"value": energy, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": self.power_w.to_string(), "context": "Sample.Periodic", "measurand": "Power.Active.Import", "unit": "W"},
                {"value": "228", "context": "Sample.Periodic", "measurand": "Voltage", "unit": "V"},
                {"value": "30.4", "context": "Sample.Periodic", "measurand": "Current.Offered", "unit": "A"},
                {"value": "32", "context": "Sample.Periodic", "measurand": "Temperature", "unit": "Celsius"},
            ]),
            // Integer amps and volts (D03-b), SoC from the DC charger's vehicle link.
            Dialect::Korea => json!([
                {"value": energy, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": self.power_w.to_string(), "context": "Sample.Periodic", "measurand": "Power.Active.Import", "unit": "W"},
                {"value": "120", "context": "Sample.Periodic", "measurand": "Current.Import", "unit": "A"},
                {"value": "410", "context": "Sample.Periodic", "measurand": "Voltage", "unit": "V"},
                {"value": self.soc_percent.to_string(), "context": "Sample.Periodic", "measurand": "SoC", "location": "EV", "unit": "Percent"},
            ]),
        }
    }

    fn vendor_data(&self, message: VendorMessage, now: DateTime<Utc>) -> Value {
        let transaction_id = self
            .transaction
            .as_ref()
            .and_then(|tx| tx.id.clone())
            .and_then(|id| id.parse::<i64>().ok())
            .unwrap_or(0);
        let data = match message {
            VendorMessage::VehicleInfo => json!({
                "connectorId": 1,
                "idTag": self.id_token,
                "evccId": self.id_token.trim_start_matches('C'),
            }),
            VendorMessage::MeterReport => {
                // DT02-a: Korean wall time labelled Z, accWh in kWh despite its name.
                let kst = now + ChronoDuration::hours(KST_OFFSET_HOURS);
                let delivered = self.energy_wh.saturating_sub(
                    self.transaction
                        .as_ref()
                        .map_or(self.energy_wh, |tx| tx.meter_start_wh),
                );
                json!({
                    "chargeBoxSerialNumber": self.station_id,
                    "chargePointSerialNumber": "01",
                    "connectorId": 1,
                    "transactionId": transaction_id,
                    "idTag": self.id_token,
                    "timestamp": kst.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    "power": self.power_w as f64 / 1000.0,
                    "accWh": delivered as f64 / 1000.0,
                    "btrRm": self.soc_percent.to_string(),
                    "slprcUpc": 347.2,
                    "crtrUpc": 0.0,
                })
            }
        };
        let message_id = match message {
            VendorMessage::VehicleInfo => "vehicleInfo",
            VendorMessage::MeterReport => "MeterValues",
        };
        // Escaped JSON inside the string, as the Korean firmware sends it.
        json!({"vendorId": "Dongah", "messageId": message_id, "data": data.to_string()})
    }

    fn advance_meter(&mut self) {
        self.energy_wh += self.wh_per_sample;
        self.soc_percent = (self.soc_percent + 2).min(100);
    }

    fn build_201(&mut self, step: Step, now: DateTime<Utc>) -> Option<(&'static str, Value)> {
        let timestamp = self.timestamp(now);
        let status = |status: &str| {
            (
                "StatusNotification",
                json!({"timestamp": timestamp.clone(), "connectorStatus": status, "evseId": 1, "connectorId": 1}),
            )
        };
        match step {
            Step::Boot => Some((
                "BootNotification",
                json!({
                    "reason": "PowerUp",
                    "chargingStation": {
                        "vendorName": "ZaryadSim",
                        "model": "Sim-DC201",
                        "serialNumber": format!("ZS2{:09}", self.rng.below(1_000_000_000)),
                        "firmwareVersion": "2.0.1-sim",
                    },
                }),
            )),
            Step::Available | Step::Finishing => Some(status("Available")),
            Step::Plug => Some(status("Occupied")),
            Step::Heartbeat => Some(("Heartbeat", json!({}))),
            Step::Authorize => Some((
                "Authorize",
                json!({"idToken": {"idToken": self.id_token, "type": "ISO14443"}}),
            )),
            // 2.0.1 chargers have no DataTransfer habit in this simulator.
            Step::VendorData(_) => None,
            Step::Start => {
                let id = self.rng.uuid();
                self.transaction = Some(Transaction {
                    id: Some(id.clone()),
                    meter_start_wh: self.energy_wh,
                    seq_no: 1,
                });
                Some((
                    "TransactionEvent",
                    json!({
                        "eventType": "Started",
                        "timestamp": timestamp,
                        "triggerReason": "Authorized",
                        "seqNo": 0,
                        "transactionInfo": {"transactionId": id, "chargingState": "EVConnected"},
                        "idToken": {"idToken": self.id_token, "type": "ISO14443"},
                        "evse": {"id": 1, "connectorId": 1},
                        "meterValue": [{
                            "timestamp": timestamp,
                            "sampledValue": [{
                                "value": self.energy_wh,
                                "context": "Transaction.Begin",
                                "measurand": "Energy.Active.Import.Register",
                                "unitOfMeasure": {"unit": "Wh"},
                            }],
                        }],
                    }),
                ))
            }
            Step::Charging => {
                let (id, seq_no) = self.next_seq_no()?;
                Some((
                    "TransactionEvent",
                    json!({
                        "eventType": "Updated",
                        "timestamp": timestamp,
                        "triggerReason": "ChargingStateChanged",
                        "seqNo": seq_no,
                        "transactionInfo": {"transactionId": id, "chargingState": "Charging"},
                    }),
                ))
            }
            Step::Meter => {
                self.advance_meter();
                let (id, seq_no) = self.next_seq_no()?;
                let power = self.power_w as f64;
                Some((
                    "TransactionEvent",
                    json!({
                        "eventType": "Updated",
                        "timestamp": timestamp,
                        "triggerReason": "MeterValuePeriodic",
                        "seqNo": seq_no,
                        "transactionInfo": {"transactionId": id, "chargingState": "Charging"},
                        "meterValue": [{
                            "timestamp": timestamp,
                            "sampledValue": [
                                {"value": self.energy_wh, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
                                {"value": power, "context": "Sample.Periodic", "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
                                {"value": 16.0, "context": "Sample.Periodic", "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}},
                                {"value": 230.1, "context": "Sample.Periodic", "measurand": "Voltage", "phase": "L1-N", "unitOfMeasure": {"unit": "V"}},
                                {"value": self.soc_percent, "context": "Sample.Periodic", "measurand": "SoC", "location": "EV", "unitOfMeasure": {"unit": "Percent"}},
                            ],
                        }],
                    }),
                ))
            }
            Step::Stop => {
                self.advance_meter();
                let (id, seq_no) = self.next_seq_no()?;
                let transaction = self.transaction.take()?;
                self.stopping = Some(FinishedTransaction {
                    transaction_id: id.clone(),
                    meter_start_wh: transaction.meter_start_wh,
                    meter_stop_wh: self.energy_wh,
                });
                Some((
                    "TransactionEvent",
                    json!({
                        "eventType": "Ended",
                        "timestamp": timestamp,
                        "triggerReason": "StopAuthorized",
                        "seqNo": seq_no,
                        "transactionInfo": {"transactionId": id, "chargingState": "EVConnected", "stoppedReason": "Local"},
                        "idToken": {"idToken": self.id_token, "type": "ISO14443"},
                        "meterValue": [{
                            "timestamp": timestamp,
                            "sampledValue": [{
                                "value": self.energy_wh,
                                "context": "Transaction.End",
                                "measurand": "Energy.Active.Import.Register",
                                "unitOfMeasure": {"unit": "Wh"},
                            }],
                        }],
                    }),
                ))
            }
        }
    }

    fn next_seq_no(&mut self) -> Option<(String, u64)> {
        let transaction = self.transaction.as_mut()?;
        let id = transaction.id.clone()?;
        let seq_no = transaction.seq_no;
        transaction.seq_no += 1;
        Some((id, seq_no))
    }

    /// Takes in the CSMS's answer to `action`: the 1.6 transaction id from StartTransaction,
    /// and the acknowledged stop (returned for the ledger) from StopTransaction or
    /// TransactionEvent `Ended`. Returns whether an id tag in the answer was refused, too.
    pub fn on_answer(&mut self, step: Step, answer: &Value) -> AnswerEffects {
        let refused = ["idTagInfo", "idTokenInfo"].iter().any(|key| {
            answer[*key]["status"]
                .as_str()
                .is_some_and(|status| status != "Accepted")
        });
        let mut effects = AnswerEffects {
            refused,
            finished: None,
        };
        match step {
            Step::Start if self.version == OcppVersion::V16 => {
                let id = match &answer["transactionId"] {
                    Value::Number(number) => Some(number.to_string()),
                    Value::String(text) => Some(text.clone()),
                    _ => None,
                };
                if let Some(transaction) = self.transaction.as_mut() {
                    transaction.id = id;
                }
            }
            Step::Stop => effects.finished = self.stopping.take(),
            _ => {}
        }
        effects
    }

    /// Forgets a stop whose answer never came (timeout, CALLERROR or disconnect).
    pub fn on_failed(&mut self, step: Step) {
        if step == Step::Stop {
            self.stopping = None;
        }
    }
}

/// What an answer changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerEffects {
    /// The CSMS refused the id tag (idTagInfo / idTokenInfo status not `Accepted`).
    pub refused: bool,
    /// The transaction this answer acknowledged the stop of.
    pub finished: Option<FinishedTransaction>,
}

/// A plausible accepting answer to a CALL the CSMS sends a charger.
pub fn answer_csms_call(version: OcppVersion, action: &str, payload: &Value) -> Value {
    match (version, action) {
        (_, "UnlockConnector") => json!({"status": "Unlocked"}),
        (OcppVersion::V16, "GetConfiguration") => {
            json!({"configurationKey": [], "unknownKey": payload["key"].as_array().cloned().unwrap_or_default()})
        }
        (OcppVersion::V16, "GetLocalListVersion") => json!({"listVersion": 0}),
        (OcppVersion::V201, "GetLocalListVersion") => json!({"versionNumber": 0}),
        (OcppVersion::V16, "GetDiagnostics") => json!({}),
        (OcppVersion::V16, "UpdateFirmware") => json!({}),
        (OcppVersion::V16, "GetCompositeSchedule") => json!({"status": "Rejected"}),
        (OcppVersion::V201, "GetVariables") => json!({
            "getVariableResult": variable_results(&payload["getVariableData"], "UnknownVariable"),
        }),
        (OcppVersion::V201, "SetVariables") => json!({
            "setVariableResult": variable_results(&payload["setVariableData"], "Accepted"),
        }),
        _ => json!({"status": "Accepted"}),
    }
}

/// One 2.0.1 Get/SetVariables result per requested variable, all with `status`.
fn variable_results(requested: &Value, status: &str) -> Value {
    let results: Vec<Value> = requested
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    json!({
                        "attributeStatus": status,
                        "component": item["component"],
                        "variable": item["variable"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Value::Array(results)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 8, 14, 1, 23, 49).unwrap()
    }

    fn state(version: OcppVersion, dialect: Dialect) -> ChargerState {
        ChargerState::new("CP-1", version, dialect, 0, 60)
    }

    fn steps(cycle: &[Planned]) -> Vec<Step> {
        cycle.iter().map(|entry| entry.step).collect()
    }

    #[test]
    fn dialect_names_parse() {
        for dialect in Dialect::ALL {
            assert_eq!(dialect.as_str().parse::<Dialect>(), Ok(dialect));
        }
        assert!("martian".parse::<Dialect>().is_err());
        assert!(Dialect::Clean.speaks(OcppVersion::V201));
        assert!(!Dialect::China.speaks(OcppVersion::V201));
    }

    #[test]
    fn cycles_follow_each_dialect() {
        let shape = CycleShape {
            meter_values: 2,
            heartbeats: 1,
        };
        let clean = session_cycle(OcppVersion::V16, Dialect::Clean, shape);
        assert_eq!(
            steps(&clean),
            [
                Step::Plug,
                Step::Authorize,
                Step::Start,
                Step::Charging,
                Step::Meter,
                Step::Meter,
                Step::Stop,
                Step::Finishing,
                Step::Available,
                Step::Heartbeat
            ]
        );
        assert!(clean.iter().all(|entry| !entry.pipelined));

        let china = session_cycle(OcppVersion::V16, Dialect::China, shape);
        let pipelined: Vec<Step> = china
            .iter()
            .filter(|entry| entry.pipelined)
            .map(|entry| entry.step)
            .collect();
        assert_eq!(pipelined, [Step::Start, Step::Finishing]);
        assert!(!china[0].pipelined);

        let korea = session_cycle(OcppVersion::V16, Dialect::Korea, shape);
        let vendor = korea
            .iter()
            .filter(|entry| matches!(entry.step, Step::VendorData(_)))
            .count();
        assert_eq!(vendor, 3, "vehicleInfo plus one report per meter value");

        let v201 = session_cycle(OcppVersion::V201, Dialect::Clean, shape);
        assert!(!steps(&v201).contains(&Step::Finishing));
    }

    #[test]
    fn clean_16_frames_are_spec_shaped() {
        let mut charger = state(OcppVersion::V16, Dialect::Clean);
        let (action, status) = charger.build(Step::Plug, at()).unwrap();
        assert_eq!(action, "StatusNotification");
        assert_eq!(status["status"], "Preparing");
        assert_eq!(status["timestamp"], "2025-08-14T01:23:49.000Z");
        assert_eq!(status["connectorId"].as_u64(), Some(1));

        let start_wh = charger.energy_wh;
        let (action, start) = charger.build(Step::Start, at()).unwrap();
        assert_eq!(action, "StartTransaction");
        assert_eq!(start["meterStart"].as_u64(), Some(start_wh));
        let effects = charger.on_answer(
            Step::Start,
            &json!({"transactionId": 42, "idTagInfo": {"status": "Accepted"}}),
        );
        assert!(!effects.refused);

        let (_, meter) = charger.build(Step::Meter, at()).unwrap();
        assert_eq!(meter["transactionId"].as_u64(), Some(42));
        let samples = meter["meterValue"][0]["sampledValue"].as_array().unwrap();
        assert!(samples.len() >= 4, "several measurands");
        assert!(samples.iter().all(|sample| sample["value"].is_string()));

        let (action, stop) = charger.build(Step::Stop, at()).unwrap();
        assert_eq!(action, "StopTransaction");
        assert_eq!(stop["transactionId"].as_u64(), Some(42));
        let stop_wh = stop["meterStop"].as_u64().unwrap();
        assert!(stop_wh > start_wh);
        let finished = charger
            .on_answer(Step::Stop, &json!({"idTagInfo": {"status": "Accepted"}}))
            .finished
            .unwrap();
        assert_eq!(
            finished,
            FinishedTransaction {
                transaction_id: "42".into(),
                meter_start_wh: start_wh,
                meter_stop_wh: stop_wh
            }
        );
        assert!(charger.build(Step::Stop, at()).is_none(), "nothing to stop");
        assert_eq!(charger.next_message_id(), "1");
    }

    #[test]
    fn china_frames_carry_the_field_quirks() {
        let mut charger = state(OcppVersion::V16, Dialect::China);
        let (_, boot) = charger.build(Step::Boot, at()).unwrap();
        assert_eq!(boot["chargePointVendor"], "XQ");
        assert!(boot["customData"].is_object());
        let (_, status) = charger.build(Step::Plug, at()).unwrap();
        assert_eq!(status["timestamp"], "2025-08-14T01:23:49", "no offset");
        assert_eq!(status["connectorId"], "1", "numbers as strings");
        let (_, start) = charger.build(Step::Start, at()).unwrap();
        assert!(start["meterStart"].is_string());
        charger.on_answer(Step::Start, &json!({"transactionId": 461627}));
        let (_, meter) = charger.build(Step::Meter, at()).unwrap();
        assert_eq!(meter["transactionId"], "461627");
        let (_, stop) = charger.build(Step::Stop, at()).unwrap();
        assert_eq!(stop["connectorId"], "1");
        assert_eq!(stop["transactionId"], "461627");
        assert_eq!(charger.next_message_id().len(), 36, "UUID ids");
    }

    #[test]
    fn korea_sends_vendor_data_as_escaped_json() {
        let mut charger = state(OcppVersion::V16, Dialect::Korea);
        assert!(charger.id_token.starts_with('C') && charger.id_token.len() == 17);
        charger.build(Step::Start, at()).unwrap();
        charger.on_answer(Step::Start, &json!({"transactionId": 1001}));
        charger.build(Step::Meter, at()).unwrap();
        let (action, transfer) = charger
            .build(Step::VendorData(VendorMessage::MeterReport), at())
            .unwrap();
        assert_eq!(action, "DataTransfer");
        assert_eq!(transfer["messageId"], "MeterValues");
        let data: Value = serde_json::from_str(transfer["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["transactionId"].as_u64(), Some(1001));
        assert_eq!(
            data["timestamp"], "2025-08-14T10:23:49Z",
            "Korean wall time labelled UTC"
        );
        let (_, meter) = charger.build(Step::Meter, at()).unwrap();
        let samples = meter["meterValue"][0]["sampledValue"].as_array().unwrap();
        assert!(samples.iter().any(|sample| sample["measurand"] == "SoC"));
    }

    #[test]
    fn v201_transactions_number_their_events() {
        let mut charger = state(OcppVersion::V201, Dialect::Clean);
        let (_, plug) = charger.build(Step::Plug, at()).unwrap();
        assert_eq!(plug["connectorStatus"], "Occupied");
        let (action, started) = charger.build(Step::Start, at()).unwrap();
        assert_eq!(action, "TransactionEvent");
        assert_eq!(started["eventType"], "Started");
        assert_eq!(started["seqNo"].as_u64(), Some(0));
        let id = started["transactionInfo"]["transactionId"].clone();
        let (_, charging) = charger.build(Step::Charging, at()).unwrap();
        assert_eq!(charging["seqNo"].as_u64(), Some(1));
        assert_eq!(charging["transactionInfo"]["chargingState"], "Charging");
        let (_, meter) = charger.build(Step::Meter, at()).unwrap();
        assert_eq!(meter["seqNo"].as_u64(), Some(2));
        assert!(meter["meterValue"][0]["sampledValue"][0]["value"].is_number());
        let (_, ended) = charger.build(Step::Stop, at()).unwrap();
        assert_eq!(ended["eventType"], "Ended");
        assert_eq!(ended["transactionInfo"]["transactionId"], id);
        let finished = charger.on_answer(Step::Stop, &json!({})).finished.unwrap();
        assert_eq!(Value::from(finished.transaction_id), id);
        assert!(
            charger
                .build(Step::VendorData(VendorMessage::VehicleInfo), at())
                .is_none()
        );
    }

    #[test]
    fn refused_tokens_are_noticed() {
        let mut charger = state(OcppVersion::V201, Dialect::Clean);
        let effects = charger.on_answer(
            Step::Authorize,
            &json!({"idTokenInfo": {"status": "Invalid"}}),
        );
        assert!(effects.refused);
    }

    #[test]
    fn csms_calls_get_accepting_answers() {
        assert_eq!(
            answer_csms_call(OcppVersion::V16, "Reset", &json!({"type": "Soft"})),
            json!({"status": "Accepted"})
        );
        assert_eq!(
            answer_csms_call(OcppVersion::V16, "UnlockConnector", &json!({}))["status"],
            "Unlocked"
        );
        let answer = answer_csms_call(
            OcppVersion::V16,
            "GetConfiguration",
            &json!({"key": ["HeartbeatInterval"]}),
        );
        assert_eq!(answer["unknownKey"][0], "HeartbeatInterval");
        let answer = answer_csms_call(
            OcppVersion::V201,
            "SetVariables",
            &json!({"setVariableData": [{"attributeValue": "1", "component": {"name": "X"}, "variable": {"name": "Y"}}]}),
        );
        assert_eq!(
            answer["setVariableResult"][0]["attributeStatus"],
            "Accepted"
        );
    }
}
