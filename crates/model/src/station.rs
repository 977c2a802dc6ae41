//! Stations, their EVSEs and connectors.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ChargingState, ConnectorStatus, Timestamp};

/// The identity a charger connects with (the last segment of its WebSocket URL).
///
/// Shared, not copied: every frame's log entry, row and event names its station, and each
/// copy of a `String` was an allocation (freed on another thread, the database writer's).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StationId(Arc<str>);

/// Why a text is not a usable station identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StationIdError {
    /// The identity is empty.
    #[error("station id is empty")]
    Empty,
    /// The identity is longer than [`StationId::MAX_LEN`] characters.
    #[error("station id is {0} characters long, at most {max} are allowed", max = StationId::MAX_LEN)]
    TooLong(usize),
    /// The identity holds a control character or a slash.
    #[error("station id contains the forbidden character {0:?}")]
    ForbiddenCharacter(char),
}

impl StationId {
    /// Longer than OCPP 2.0.1's 48 characters, because 1.6 chargers in the field use longer ones.
    pub const MAX_LEN: usize = 128;

    /// Checks a (percent-decoded) identity.
    pub fn parse(text: &str) -> Result<StationId, StationIdError> {
        if text.is_empty() {
            return Err(StationIdError::Empty);
        }
        let length = text.chars().count();
        if length > StationId::MAX_LEN {
            return Err(StationIdError::TooLong(length));
        }
        if let Some(bad) = text.chars().find(|c| c.is_control() || *c == '/') {
            return Err(StationIdError::ForbiddenCharacter(bad));
        }
        Ok(StationId(Arc::from(text)))
    }

    /// The identity as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// As its text, read back unchecked (stored and sent ids were checked when they came in).
impl Serialize for StationId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StationId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StationId, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(StationId(Arc::from(text)))
    }
}

/// Whether the CSMS accepts a station, as answered to its BootNotification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    /// The station may operate.
    Accepted,
    /// Waiting for an operator's decision; the station retries its boot later.
    Pending,
    /// The station is refused.
    Rejected,
}

impl Registration {
    /// The registration as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Accepted => "accepted",
            Registration::Pending => "pending",
            Registration::Rejected => "rejected",
        }
    }

    /// Reads the API spelling.
    pub fn parse(text: &str) -> Option<Registration> {
        match text {
            "accepted" => Some(Registration::Accepted),
            "pending" => Some(Registration::Pending),
            "rejected" => Some(Registration::Rejected),
            _ => None,
        }
    }
}

/// The physical plug type of a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorType {
    /// GB/T 20234.2 AC.
    GbtAc,
    /// GB/T 20234.3 DC.
    GbtDc,
    /// ChaoJi (CHAdeMO 3.0 / GB/T 2015 successor).
    ChaoJi,
    /// CCS1 (Combo 1, SAE J1772 DC).
    Ccs1,
    /// CCS2 (Combo 2).
    Ccs2,
    /// CHAdeMO.
    Chademo,
    /// SAE J1772 / IEC 62196 Type 1 AC.
    Type1,
    /// IEC 62196 Type 2 AC socket or cable.
    Type2,
    /// Tesla / NACS.
    Tesla,
    /// A household or industrial socket (Schuko, IEC 60309, …).
    DomesticOrIndustrial,
    /// Any other plug.
    Other,
}

impl ConnectorType {
    /// The type as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorType::GbtAc => "gbt_ac",
            ConnectorType::GbtDc => "gbt_dc",
            ConnectorType::ChaoJi => "chaoji",
            ConnectorType::Ccs1 => "ccs1",
            ConnectorType::Ccs2 => "ccs2",
            ConnectorType::Chademo => "chademo",
            ConnectorType::Type1 => "type1",
            ConnectorType::Type2 => "type2",
            ConnectorType::Tesla => "tesla",
            ConnectorType::DomesticOrIndustrial => "domestic_or_industrial",
            ConnectorType::Other => "other",
        }
    }

    /// Reads a plug type as chargers and standards spell it: OCPP 2.0.1 `ConnectorEnumType`
    /// (`cCCS2`, `cG105`, …) with the errata's `cGBT` and `cChaoJi`, OCPI (`GBT_DC`,
    /// `CHADEMO`, `IEC_62196_T2`), the API's own spelling and common vendor names (`GB/T DC`,
    /// `Combo 1`, `J1772`). Case, spaces, `-`, `_` and `/` do not matter. `None` when the text
    /// names no plug (`Unknown`, `Undetermined`) or one not known here.
    pub fn from_ocpp(text: &str) -> Option<ConnectorType> {
        if let Some(kind) = ConnectorType::parse(text) {
            return Some(kind);
        }
        let key: String = text
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        Some(match key.as_str() {
            // GB/T 20234.3: the errata's `cGBT` is the DC gun; 2.0.1 has no AC value.
            "cgbt" | "gbt" | "gbtdc" | "gbdc" | "gbt202343" | "gbtdcgun" => ConnectorType::GbtDc,
            "gbtac" | "gbac" | "gbt202342" => ConnectorType::GbtAc,
            "cchaoji" | "chaoji" => ConnectorType::ChaoJi,
            "cccs1" | "ccs1" | "combo1" | "dccombo" | "dccombo1" | "iec62196t1combo" => {
                ConnectorType::Ccs1
            }
            "cccs2" | "ccs2" | "combo2" | "dccombo2" | "iec62196t2combo" => ConnectorType::Ccs2,
            "cg105" | "chademo" | "g105" => ConnectorType::Chademo,
            "ctype1" | "type1" | "j1772" | "iec62196t1" | "sae1772" => ConnectorType::Type1,
            "ctype2" | "stype2" | "type2" | "iec62196t2" | "stype3" | "type3" | "iec62196t3c" => {
                ConnectorType::Type2
            }
            "ctesla" | "tesla" | "nacs" | "teslar" | "teslas" => ConnectorType::Tesla,
            "s3091p16a" | "s3091p32a" | "s3093p16a" | "s3093p32a" | "sbs1361" | "scee77"
            | "domestic" | "iec60309" | "schuko" => ConnectorType::DomesticOrIndustrial,
            "other1phmax16a" | "other1phover16a" | "other3ph" | "pan" | "winductive"
            | "wresonant" | "oppcharge" | "other" => ConnectorType::Other,
            _ => return None,
        })
    }

    /// Reads the API spelling back (as stored).
    pub fn parse(text: &str) -> Option<ConnectorType> {
        Some(match text {
            "gbt_ac" => ConnectorType::GbtAc,
            "gbt_dc" => ConnectorType::GbtDc,
            "chaoji" => ConnectorType::ChaoJi,
            "ccs1" => ConnectorType::Ccs1,
            "ccs2" => ConnectorType::Ccs2,
            "chademo" => ConnectorType::Chademo,
            "type1" => ConnectorType::Type1,
            "type2" => ConnectorType::Type2,
            "tesla" => ConnectorType::Tesla,
            "domestic_or_industrial" => ConnectorType::DomesticOrIndustrial,
            "other" => ConnectorType::Other,
            _ => return None,
        })
    }
}

/// One connector of an EVSE.
///
/// OCPP 1.6 connector N is EVSE N with connector 1; the station itself (1.6 connector 0) is
/// EVSE 0, connector 0, and is shown as the station's own status rather than as an EVSE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connector {
    /// The EVSE this connector belongs to (0 = the station itself).
    pub evse_id: u32,
    /// The connector within the EVSE, from 1 (0 only for the station itself).
    pub connector_id: u32,
    /// The status the charger last reported, normalized.
    pub reported_status: ConnectorStatus,
    /// The charging state of the transaction on this EVSE (2.0.1), if any.
    pub charging_state: Option<ChargingState>,
    /// The plug type, when known.
    pub connector_type: Option<ConnectorType>,
    /// The error code reported with the status (`NoError` is stored as none).
    pub error_code: Option<String>,
    /// Free text or vendor error code that came with the status.
    pub info: Option<String>,
    /// When the status was reported (charger's time, repaired) or received.
    pub status_at: Option<Timestamp>,
}

impl Connector {
    /// A connector nobody has reported on yet.
    pub fn new(evse_id: u32, connector_id: u32) -> Connector {
        Connector {
            evse_id,
            connector_id,
            reported_status: ConnectorStatus::Unknown,
            charging_state: None,
            connector_type: None,
            error_code: None,
            info: None,
            status_at: None,
        }
    }

    /// The status operators see: the reported one, refined by the transaction's charging state.
    pub fn status(&self) -> ConnectorStatus {
        self.reported_status.refined_by(self.charging_state)
    }
}

/// A charging station as the CSMS knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Station {
    /// Its identity.
    pub id: StationId,
    /// `1.6` or `2.0.1`, from the last connection.
    pub ocpp_version: Option<String>,
    /// From BootNotification.
    pub vendor: Option<String>,
    /// From BootNotification.
    pub model: Option<String>,
    /// From BootNotification.
    pub firmware_version: Option<String>,
    /// From BootNotification.
    pub serial_number: Option<String>,
    /// The registration answered to the station's boot.
    pub registration: Registration,
    /// The last time any frame came from the station.
    pub last_seen_at: Option<Timestamp>,
    /// The last BootNotification.
    pub last_boot_at: Option<Timestamp>,
    /// The vendor profile pinned by the operator, if any.
    pub vendor_profile: Option<String>,
    /// True when the operator provisioned the station (false when it registered itself).
    pub provisioned: bool,
    /// When the station was first recorded.
    pub created_at: Timestamp,
}

impl Station {
    /// A station recorded for the first time with the given registration.
    pub fn new(id: StationId, registration: Registration, now: Timestamp) -> Station {
        Station {
            id,
            ocpp_version: None,
            vendor: None,
            model: None,
            firmware_version: None,
            serial_number: None,
            registration,
            last_seen_at: None,
            last_boot_at: None,
            vendor_profile: None,
            provisioned: false,
            created_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_station_id_is_its_text_on_the_wire_and_in_logs() {
        let id = StationId::parse("CP-001").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""CP-001""#);
        let read: StationId = serde_json::from_str(r#""CP-001""#).unwrap();
        assert_eq!(read, id);
        assert_eq!(format!("{id:?}"), r#"StationId("CP-001")"#);
        assert_eq!(id.to_string(), "CP-001");
        assert!(serde_json::from_str::<StationId>("7").is_err());
        // A copy shares the text.
        assert!(std::ptr::eq(id.clone().as_str(), id.as_str()));
    }

    #[test]
    fn station_ids_are_checked() {
        assert_eq!(StationId::parse("CP-001").unwrap().as_str(), "CP-001");
        assert_eq!(StationId::parse("a+b c").unwrap().as_str(), "a+b c");
        assert_eq!(StationId::parse(""), Err(StationIdError::Empty));
        assert_eq!(
            StationId::parse("a/b"),
            Err(StationIdError::ForbiddenCharacter('/'))
        );
        assert_eq!(
            StationId::parse("a\u{0}"),
            Err(StationIdError::ForbiddenCharacter('\u{0}'))
        );
        assert!(matches!(
            StationId::parse(&"x".repeat(200)),
            Err(StationIdError::TooLong(200))
        ));
    }

    #[test]
    fn connector_types_read_every_spelling() {
        let cases = [
            ("cGBT", Some(ConnectorType::GbtDc)),
            ("cChaoJi", Some(ConnectorType::ChaoJi)),
            ("GBT_AC", Some(ConnectorType::GbtAc)),
            ("GB/T DC", Some(ConnectorType::GbtDc)),
            ("cCCS1", Some(ConnectorType::Ccs1)),
            ("cCCS2", Some(ConnectorType::Ccs2)),
            ("cG105", Some(ConnectorType::Chademo)),
            ("CHAdeMO", Some(ConnectorType::Chademo)),
            ("cType1", Some(ConnectorType::Type1)),
            ("sType2", Some(ConnectorType::Type2)),
            ("IEC_62196_T2_COMBO", Some(ConnectorType::Ccs2)),
            ("s309-1P-16A", Some(ConnectorType::DomesticOrIndustrial)),
            ("Other3Ph", Some(ConnectorType::Other)),
            ("gbt_dc", Some(ConnectorType::GbtDc)),
            ("Unknown", None),
            ("Undetermined", None),
        ];
        for (text, expected) in cases {
            assert_eq!(ConnectorType::from_ocpp(text), expected, "{text}");
        }
    }

    #[test]
    fn connector_status_is_refined_by_the_transaction() {
        let mut connector = Connector::new(1, 1);
        assert_eq!(connector.status(), ConnectorStatus::Unknown);
        connector.reported_status = ConnectorStatus::Occupied;
        connector.charging_state = Some(ChargingState::SuspendedEvse);
        assert_eq!(connector.status(), ConnectorStatus::SuspendedEvse);
    }
}
