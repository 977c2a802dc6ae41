//! The strict typed parse both codecs share, and small helpers around rust-ocpp's types.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use zaryad_model::ChargerMessage;

use crate::DecodeError;

/// Parses `payload` into `T`, mapping failures to the CALLERROR OCPP-J names.
///
/// String length limits (rust-ocpp's `validator` rules) are deliberately not checked: chargers
/// exceed them routinely (25+ character serials, corrupted 22 character id tags) and refusing a
/// StopTransaction for it would lose a billable session.
pub(crate) fn parse<T: DeserializeOwned>(action: &str, payload: &Value) -> Result<T, DecodeError> {
    if !payload.is_object() {
        return Err(DecodeError::not_an_object(action));
    }
    // Nearly every payload parses: tracking the path of each member costs a fifth of the
    // parse, so the path is found only for a payload that failed, by parsing it again.
    T::deserialize(payload).or_else(|_| {
        serde_path_to_error::deserialize(payload)
            .map_err(|error| DecodeError::from_serde(action, &error, payload))
    })
}

/// Checks `payload` against `T` and keeps it as sent: for messages stored but not interpreted.
pub(crate) fn notification<T: DeserializeOwned>(
    action: &str,
    payload: Value,
) -> Result<ChargerMessage, DecodeError> {
    parse::<T>(action, &payload)?;
    Ok(ChargerMessage::Notification {
        action: action.to_owned(),
        payload,
    })
}

/// The name an OCPP enum value has on the wire (`SuspendedEVSE`, `Energy.Active.Import.Register`).
pub(crate) fn wire_name<T: Serialize>(value: &T) -> Option<String> {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => Some(name),
        _ => None,
    }
}

/// `Some` for text that says something; chargers send `""` for "not applicable".
pub(crate) fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.trim().is_empty())
}

/// A count or id the schema types as integer that must not be negative here.
pub(crate) fn unsigned(action: &str, field: &str, value: i32) -> Result<u32, DecodeError> {
    u32::try_from(value)
        .map_err(|_| DecodeError::bad_value(action, field, &format!("{value} is negative")))
}

/// Reads a decimal number written as text, refusing `NaN`, infinities and anything else
/// that is not a finite number.
pub(crate) fn finite_number(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
}

/// `RegistrationStatus` as both versions spell it.
pub(crate) fn wire_registration(registration: zaryad_model::Registration) -> &'static str {
    use zaryad_model::Registration;
    match registration {
        Registration::Accepted => "Accepted",
        Registration::Pending => "Pending",
        Registration::Rejected => "Rejected",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use zaryad_wire::ErrorCode;

    use super::*;

    #[test]
    fn a_payload_must_be_an_object() {
        let error = parse::<Value>("Heartbeat", &json!([])).unwrap_err();
        assert_eq!(error.code, ErrorCode::FormatViolation);
    }

    #[test]
    fn numbers_must_be_finite() {
        assert_eq!(finite_number(" 12.5 "), Some(12.5));
        assert_eq!(finite_number("NaN"), None);
        assert_eq!(finite_number("inf"), None);
        assert_eq!(finite_number("abc"), None);
    }

    #[test]
    fn negative_ids_are_refused() {
        assert_eq!(unsigned("X", "evseId", 3), Ok(3));
        assert_eq!(
            unsigned("X", "evseId", -1).unwrap_err().code,
            ErrorCode::PropertyConstraintViolation
        );
    }
}
