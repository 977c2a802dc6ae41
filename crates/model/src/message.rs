//! What chargers tell the CSMS and what it answers, independent of the OCPP version.
//!
//! The adapter decodes every inbound CALL into a [`ChargerMessage`] and encodes every
//! [`Reply`] into the CALLRESULT of the connection's version.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    AuthorizationInfo, ChargingState, ConnectorStatus, ConnectorType, MeterSample, Registration,
    StopReason, Timestamp,
};

/// A request from a charger, version-neutral.
#[derive(Debug, Clone, PartialEq)]
pub enum ChargerMessage {
    /// BootNotification.
    Boot(BootInfo),
    /// Heartbeat.
    Heartbeat,
    /// StatusNotification.
    Status(StatusReport),
    /// Authorize.
    Authorize {
        /// The token to authorize.
        id_token: String,
    },
    /// 1.6 StartTransaction / StopTransaction, 2.0.1 TransactionEvent.
    Transaction(TransactionReport),
    /// MeterValues.
    MeterValues {
        /// The EVSE the samples belong to (0 = the station's main meter).
        evse_id: u32,
        /// The transaction named by the charger, if any (1.6 ids as decimal text).
        transaction_id: Option<String>,
        /// The samples, normalized.
        samples: Vec<MeterSample>,
    },
    /// DataTransfer: vendor data, kept as JSON.
    DataTransfer {
        /// The vendor that defines the message.
        vendor_id: String,
        /// The vendor's message name.
        message_id: Option<String>,
        /// The payload as sent (often JSON packed in a string).
        data: Option<Value>,
    },
    /// A message that is stored and acknowledged with an empty answer and changes no state:
    /// firmware, diagnostics and log status, security events, device-model events and reports.
    Notification {
        /// The OCPP action, e.g. `FirmwareStatusNotification`.
        action: String,
        /// The payload as sent.
        payload: Value,
    },
}

/// What a station says about itself when it boots.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BootInfo {
    /// Manufacturer.
    pub vendor: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Firmware version.
    pub firmware_version: Option<String>,
    /// Serial number of the station.
    pub serial_number: Option<String>,
    /// Why it booted (2.0.1 `reason`), if said.
    pub reason: Option<String>,
    /// Modem ICCID, if said.
    pub iccid: Option<String>,
    /// Modem IMSI, if said.
    pub imsi: Option<String>,
}

/// A connector's status as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    /// The EVSE (1.6 connector N = EVSE N; 0 = the whole station).
    pub evse_id: u32,
    /// The connector within the EVSE (1 for 1.6; 0 for the whole station).
    pub connector_id: u32,
    /// The normalized status.
    pub status: ConnectorStatus,
    /// The error code, `None` for `NoError`.
    pub error_code: Option<String>,
    /// Free text or vendor error code.
    pub info: Option<String>,
    /// The charger's timestamp, if it sent one.
    pub timestamp: Option<Timestamp>,
    /// The plug type, when the message tells it.
    pub connector_type: Option<ConnectorType>,
}

/// A connector's plug type as a charger reported it (2.0.1 NotifyReport, vendor data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectorTypeReport {
    /// The EVSE (1.6 connector N = EVSE N).
    pub evse_id: u32,
    /// The connector within the EVSE.
    pub connector_id: u32,
    /// The plug.
    pub connector_type: ConnectorType,
}

/// Session facts a vendor profile decoded from a DataTransfer (state of charge, voltage,
/// current, a vendor meter stream, vehicle data), to be attached to the right session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VendorFacts {
    /// The EVSE the data is about, when the data says (1.6 connector N = EVSE N).
    pub evse_id: Option<u32>,
    /// The transaction it names, if any.
    pub transaction_id: Option<String>,
    /// The id token it names, if any.
    pub id_token: Option<String>,
    /// Measurements, normalized like MeterValues.
    pub samples: Vec<MeterSample>,
    /// Plug types the data reports.
    pub connector_types: Vec<ConnectorTypeReport>,
    /// Other named facts (vehicle id, battery data), as text, for the session's record.
    pub attributes: Vec<(String, String)>,
}

/// Which part of a transaction's life a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionEventKind {
    /// 1.6 StartTransaction, 2.0.1 `Started`.
    Started,
    /// 2.0.1 `Updated`.
    Updated,
    /// 1.6 StopTransaction, 2.0.1 `Ended`.
    Ended,
}

/// A transaction message, version-neutral.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionReport {
    /// Started, updated or ended.
    pub kind: TransactionEventKind,
    /// The transaction id: the charger's (2.0.1), or the CSMS-assigned 1.6 id as decimal text
    /// for a stop. `None` for a 1.6 start, whose id the CSMS assigns.
    pub transaction_id: Option<String>,
    /// The EVSE, when known (always for 1.6 starts, optional on 2.0.1 updates).
    pub evse_id: Option<u32>,
    /// The connector within the EVSE, when known.
    pub connector_id: Option<u32>,
    /// The id token, if one was presented (an empty 2.0.1 `NoAuthorization` token is `None`).
    pub id_token: Option<String>,
    /// The token type (2.0.1 `IdTokenEnumType`), e.g. `ISO14443`, `NoAuthorization`.
    pub id_token_type: Option<String>,
    /// The charger's time of the event.
    pub timestamp: Timestamp,
    /// 1.6 `meterStart` / `meterStop` in Wh.
    pub meter_wh: Option<f64>,
    /// Samples that came with the message (1.6 `transactionData`, 2.0.1 `meterValue`).
    pub samples: Vec<MeterSample>,
    /// Why the transaction ended, when it did.
    pub stop_reason: Option<StopReason>,
    /// The 2.0.1 charging state, when reported.
    pub charging_state: Option<ChargingState>,
    /// The 2.0.1 sequence number.
    pub seq_no: Option<u64>,
    /// True when the charger sent the message after being offline (2.0.1 `offline`).
    pub offline: bool,
    /// The 2.0.1 trigger reason, as sent.
    pub trigger_reason: Option<String>,
    /// The id of the remote start that led to this transaction, if any.
    pub remote_start_id: Option<i64>,
    /// The reservation the transaction uses, if any.
    pub reservation_id: Option<i64>,
}

impl TransactionReport {
    /// A report with only the required parts; the codecs fill in the rest.
    pub fn new(kind: TransactionEventKind, timestamp: Timestamp) -> TransactionReport {
        TransactionReport {
            kind,
            transaction_id: None,
            evse_id: None,
            connector_id: None,
            id_token: None,
            id_token_type: None,
            timestamp,
            meter_wh: None,
            samples: Vec::new(),
            stop_reason: None,
            charging_state: None,
            seq_no: None,
            offline: false,
            trigger_reason: None,
            remote_start_id: None,
            reservation_id: None,
        }
    }
}

/// The status of a DataTransfer answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataTransferStatus {
    /// Understood and accepted.
    Accepted,
    /// Understood and refused.
    Rejected,
    /// The message id is not known for this vendor.
    UnknownMessageId,
    /// The vendor id is not known.
    UnknownVendorId,
}

/// The CSMS's answer to a [`ChargerMessage`], version-neutral.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// BootNotification.conf.
    Boot {
        /// Accepted, Pending or Rejected.
        registration: Registration,
        /// Heartbeat interval (accepted) or retry interval (pending, rejected), seconds.
        interval_seconds: u32,
        /// The CSMS's clock.
        current_time: Timestamp,
    },
    /// Heartbeat.conf.
    Heartbeat {
        /// The CSMS's clock.
        current_time: Timestamp,
    },
    /// An empty answer (StatusNotification, MeterValues, notifications).
    Empty,
    /// Authorize.conf.
    Authorize(AuthorizationInfo),
    /// StartTransaction.conf, StopTransaction.conf or TransactionEvent.conf.
    Transaction {
        /// The id the CSMS assigned (1.6 starts only).
        assigned_transaction_id: Option<i64>,
        /// The token decision, when a token came with the message.
        authorization: Option<AuthorizationInfo>,
    },
    /// DataTransfer.conf.
    DataTransfer {
        /// The status.
        status: DataTransferStatus,
        /// Optional answer data.
        data: Option<Value>,
    },
}
