//! Plug types in a 2.0.1 NotifyReport: component `Connector` (with its EVSE and connector),
//! variable `ConnectorType`, the `Actual` attribute's value.

use serde_json::Value;
use zaryad_model::{ConnectorType, ConnectorTypeReport};

/// Every connector type the report names that the model knows (including the errata's
/// `cGBT` and `cChaoJi`, which schema-strict parsing would refuse elsewhere).
pub(crate) fn connector_types(payload: &Value) -> Vec<ConnectorTypeReport> {
    let Some(Value::Array(report)) = payload.get("reportData") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in report {
        let component = &entry["component"];
        if !component["name"]
            .as_str()
            .is_some_and(|name| name.eq_ignore_ascii_case("Connector"))
            || !entry["variable"]["name"]
                .as_str()
                .is_some_and(|name| name.eq_ignore_ascii_case("ConnectorType"))
        {
            continue;
        }
        let evse = &component["evse"];
        let Some(evse_id) = evse["id"].as_u64().and_then(|id| u32::try_from(id).ok()) else {
            continue;
        };
        let connector_id = evse["connectorId"]
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .unwrap_or(1);
        let actual = entry["variableAttribute"]
            .as_array()
            .and_then(|attributes| {
                attributes.iter().find(|attribute| {
                    attribute["type"]
                        .as_str()
                        .is_none_or(|kind| kind == "Actual")
                })
            });
        if let Some(connector_type) = actual
            .and_then(|attribute| attribute["value"].as_str())
            .and_then(ConnectorType::from_ocpp)
        {
            found.push(ConnectorTypeReport {
                evse_id,
                connector_id,
                connector_type,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn gbt_guns_are_read_from_the_device_model() {
        let payload = json!({"requestId": 1, "generatedAt": "2026-01-01T00:00:00Z", "seqNo": 0,
        "reportData": [
            {"component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
             "variable": {"name": "ConnectorType"},
             "variableAttribute": [{"type": "Actual", "value": "cGBT"}]},
            {"component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}},
             "variable": {"name": "ConnectorType"},
             "variableAttribute": [{"value": "GBT_AC"}]},
            {"component": {"name": "EVSE", "evse": {"id": 2}},
             "variable": {"name": "Power"},
             "variableAttribute": [{"value": "7000"}]}
        ]});
        let types = connector_types(&payload);
        assert_eq!(
            types,
            vec![
                ConnectorTypeReport {
                    evse_id: 1,
                    connector_id: 1,
                    connector_type: ConnectorType::GbtDc
                },
                ConnectorTypeReport {
                    evse_id: 2,
                    connector_id: 1,
                    connector_type: ConnectorType::GbtAc
                },
            ]
        );
    }
}
