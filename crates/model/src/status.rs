//! Connector statuses normalized across OCPP versions and vendors.

use serde::{Deserialize, Serialize};

/// The status of a connector as operators see it, whatever the version or vendor said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorStatus {
    /// Free for a new session.
    Available,
    /// A vehicle is plugged in and not drawing power (1.6 `Preparing`, 2.0.1 `Occupied`).
    Occupied,
    /// Energy flows.
    Charging,
    /// The vehicle pauses the charge.
    SuspendedEv,
    /// The charger pauses the charge.
    SuspendedEvse,
    /// A session ended and the connector is not free yet (1.6 `Finishing`).
    Finishing,
    /// Held for a reservation.
    Reserved,
    /// Out of service by command or schedule.
    Unavailable,
    /// Broken.
    Faulted,
    /// Never reported or not understood.
    Unknown,
}

impl ConnectorStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorStatus::Available => "available",
            ConnectorStatus::Occupied => "occupied",
            ConnectorStatus::Charging => "charging",
            ConnectorStatus::SuspendedEv => "suspended_ev",
            ConnectorStatus::SuspendedEvse => "suspended_evse",
            ConnectorStatus::Finishing => "finishing",
            ConnectorStatus::Reserved => "reserved",
            ConnectorStatus::Unavailable => "unavailable",
            ConnectorStatus::Faulted => "faulted",
            ConnectorStatus::Unknown => "unknown",
        }
    }

    /// Reads the API spelling back (as stored); anything else is `Unknown`.
    pub fn parse(text: &str) -> ConnectorStatus {
        match text {
            "available" => ConnectorStatus::Available,
            "occupied" => ConnectorStatus::Occupied,
            "charging" => ConnectorStatus::Charging,
            "suspended_ev" => ConnectorStatus::SuspendedEv,
            "suspended_evse" => ConnectorStatus::SuspendedEvse,
            "finishing" => ConnectorStatus::Finishing,
            "reserved" => ConnectorStatus::Reserved,
            "unavailable" => ConnectorStatus::Unavailable,
            "faulted" => ConnectorStatus::Faulted,
            _ => ConnectorStatus::Unknown,
        }
    }

    /// The status a connector shows when the charger reports `self` and the transaction on it
    /// is in `charging_state`: OCPP 2.0.1 says only `Occupied` and tells the rest through the
    /// transaction's charging state.
    pub fn refined_by(self, charging_state: Option<ChargingState>) -> ConnectorStatus {
        match (self, charging_state) {
            (ConnectorStatus::Occupied, Some(ChargingState::Charging)) => ConnectorStatus::Charging,
            (ConnectorStatus::Occupied, Some(ChargingState::SuspendedEv)) => {
                ConnectorStatus::SuspendedEv
            }
            (ConnectorStatus::Occupied, Some(ChargingState::SuspendedEvse)) => {
                ConnectorStatus::SuspendedEvse
            }
            (status, _) => status,
        }
    }
}

/// The charging state of an OCPP 2.0.1 transaction (`ChargingStateEnumType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargingState {
    /// Energy flows.
    Charging,
    /// Plugged in, no energy flows, not suspended.
    EvConnected,
    /// The vehicle pauses.
    SuspendedEv,
    /// The charger pauses.
    SuspendedEvse,
    /// No vehicle connected or nothing happening.
    Idle,
}

impl ChargingState {
    /// The state as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChargingState::Charging => "charging",
            ChargingState::EvConnected => "ev_connected",
            ChargingState::SuspendedEv => "suspended_ev",
            ChargingState::SuspendedEvse => "suspended_evse",
            ChargingState::Idle => "idle",
        }
    }

    /// Reads the API spelling back; anything else is `None`.
    pub fn parse(text: &str) -> Option<ChargingState> {
        Some(match text {
            "charging" => ChargingState::Charging,
            "ev_connected" => ChargingState::EvConnected,
            "suspended_ev" => ChargingState::SuspendedEv,
            "suspended_evse" => ChargingState::SuspendedEvse,
            "idle" => ChargingState::Idle,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupied_is_refined_by_the_charging_state() {
        let occupied = ConnectorStatus::Occupied;
        assert_eq!(occupied.refined_by(None), ConnectorStatus::Occupied);
        assert_eq!(
            occupied.refined_by(Some(ChargingState::Charging)),
            ConnectorStatus::Charging
        );
        assert_eq!(
            occupied.refined_by(Some(ChargingState::SuspendedEv)),
            ConnectorStatus::SuspendedEv
        );
        assert_eq!(
            occupied.refined_by(Some(ChargingState::EvConnected)),
            ConnectorStatus::Occupied
        );
        assert_eq!(
            ConnectorStatus::Faulted.refined_by(Some(ChargingState::Charging)),
            ConnectorStatus::Faulted
        );
    }

    #[test]
    fn api_spelling_round_trips() {
        for status in [
            ConnectorStatus::Available,
            ConnectorStatus::Occupied,
            ConnectorStatus::Charging,
            ConnectorStatus::SuspendedEv,
            ConnectorStatus::SuspendedEvse,
            ConnectorStatus::Finishing,
            ConnectorStatus::Reserved,
            ConnectorStatus::Unavailable,
            ConnectorStatus::Faulted,
            ConnectorStatus::Unknown,
        ] {
            assert_eq!(ConnectorStatus::parse(status.as_str()), status);
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::from(status.as_str())
            );
        }
    }
}
