//! DataTransfer in both versions, read on the JSON level.
//!
//! rust-ocpp types `data` as a string in both versions, but 2.0.1 allows any JSON there and
//! 1.6 chargers send objects too (and rust-ocpp 2.0.1 drops `customData`); the vendor data is
//! kept exactly as sent for the profiles that decode it.

use serde_json::Value;
use zaryad_model::{ChargerMessage, DataTransferStatus};

use crate::DecodeError;

/// Reads a charger's DataTransfer: `vendorId` is a required string, `messageId` an optional
/// string, `data` any JSON.
pub(crate) fn decode(action: &str, payload: Value) -> Result<ChargerMessage, DecodeError> {
    let Value::Object(mut fields) = payload else {
        return Err(DecodeError::not_an_object(action));
    };
    let vendor_id = match fields.remove("vendorId") {
        Some(Value::String(vendor_id)) => vendor_id,
        Some(Value::Null) | None => return Err(DecodeError::missing(action, "vendorId")),
        Some(_) => return Err(DecodeError::wrong_type(action, "vendorId", "a string")),
    };
    let message_id = match fields.remove("messageId") {
        Some(Value::String(message_id)) => Some(message_id),
        Some(Value::Null) | None => None,
        Some(_) => return Err(DecodeError::wrong_type(action, "messageId", "a string")),
    };
    let data = fields.remove("data").filter(|data| !data.is_null());
    Ok(ChargerMessage::DataTransfer {
        vendor_id,
        message_id,
        data,
    })
}

/// The status as both versions spell it.
pub(crate) fn status_name(status: DataTransferStatus) -> &'static str {
    match status {
        DataTransferStatus::Accepted => "Accepted",
        DataTransferStatus::Rejected => "Rejected",
        DataTransferStatus::UnknownMessageId => "UnknownMessageId",
        DataTransferStatus::UnknownVendorId => "UnknownVendorId",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use zaryad_wire::ErrorCode;

    use super::*;

    #[test]
    fn data_of_any_shape_is_kept() {
        let message = decode(
            "DataTransfer",
            json!({"vendorId": "btc", "messageId": "stationMode", "data": {"StationMode": "paymentMode"}}),
        )
        .unwrap();
        assert_eq!(
            message,
            ChargerMessage::DataTransfer {
                vendor_id: "btc".into(),
                message_id: Some("stationMode".into()),
                data: Some(json!({"StationMode": "paymentMode"})),
            }
        );
        let bare = decode("DataTransfer", json!({"vendorId": "x", "data": null})).unwrap();
        assert_eq!(
            bare,
            ChargerMessage::DataTransfer {
                vendor_id: "x".into(),
                message_id: None,
                data: None,
            }
        );
    }

    #[test]
    fn vendor_id_is_required_and_a_string() {
        let missing = decode("DataTransfer", json!({"data": "x"})).unwrap_err();
        assert_eq!(missing.code, ErrorCode::OccurrenceConstraintViolation);
        let number = decode("DataTransfer", json!({"vendorId": 7})).unwrap_err();
        assert_eq!(number.code, ErrorCode::TypeConstraintViolation);
        let message_id = decode("DataTransfer", json!({"vendorId": "v", "messageId": 1}));
        assert_eq!(
            message_id.unwrap_err().code,
            ErrorCode::TypeConstraintViolation
        );
        let not_object = decode("DataTransfer", json!("x")).unwrap_err();
        assert_eq!(not_object.code, ErrorCode::FormatViolation);
    }
}
