//! Why an inbound CALL could not be mapped, as the CALLERROR code and text the charger gets.

use serde_json::Value;
use serde_path_to_error::Segment;
use zaryad_wire::ErrorCode;

/// An inbound CALL the codecs refused: the CALLERROR code and a description for the charger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{description}")]
pub struct DecodeError {
    /// The CALLERROR code (spelled per version by the wire crate).
    pub code: ErrorCode,
    /// What was wrong, naming the action and, where known, the field.
    pub description: String,
}

impl DecodeError {
    /// An error with the given code and description.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> DecodeError {
        DecodeError {
            code,
            description: description.into(),
        }
    }

    /// The action is not an OCPP action of this version (or not one a charger sends).
    pub fn not_implemented(action: &str) -> DecodeError {
        DecodeError::new(
            ErrorCode::NotImplemented,
            format!("{action}: unknown action"),
        )
    }

    /// The action exists in OCPP but the CSMS does not take it from a charger.
    pub fn not_supported(action: &str) -> DecodeError {
        DecodeError::new(
            ErrorCode::NotSupported,
            format!("{action}: not supported by this CSMS"),
        )
    }

    /// The payload is not a JSON object.
    pub fn not_an_object(action: &str) -> DecodeError {
        DecodeError::new(
            ErrorCode::FormatViolation,
            format!("{action}: the payload is not a JSON object"),
        )
    }

    /// A required field is absent.
    pub fn missing(action: &str, field: &str) -> DecodeError {
        DecodeError::new(
            ErrorCode::OccurrenceConstraintViolation,
            format!("{action}: missing field `{field}`"),
        )
    }

    /// A field holds the wrong JSON type.
    pub fn wrong_type(action: &str, field: &str, expected: &str) -> DecodeError {
        DecodeError::new(
            ErrorCode::TypeConstraintViolation,
            format!("{action}: {field}: expected {expected}"),
        )
    }

    /// A field has the right type but a value the schema does not allow.
    pub fn bad_value(action: &str, field: &str, why: &str) -> DecodeError {
        DecodeError::new(
            ErrorCode::PropertyConstraintViolation,
            format!("{action}: {field}: {why}"),
        )
    }

    /// Maps a failed typed parse of `payload` to the CALLERROR code OCPP-J names for it.
    pub(crate) fn from_serde(
        action: &str,
        error: &serde_path_to_error::Error<serde_json::Error>,
        payload: &Value,
    ) -> DecodeError {
        let message = error.inner().to_string();
        let path = error.path().to_string();
        let description = if path == "." {
            format!("{action}: {message}")
        } else {
            format!("{action}: {path}: {message}")
        };
        let offending = value_at(payload, error.path());
        DecodeError::new(classify(&message, offending), description)
    }
}

/// The value a path points to, to tell what serde's "invalid number" was about.
fn value_at<'a>(payload: &'a Value, path: &serde_path_to_error::Path) -> Option<&'a Value> {
    path.iter()
        .try_fold(payload, |value, segment| match segment {
            Segment::Seq { index } => value.get(index),
            Segment::Map { key } => value.get(key),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
}

/// serde reports the kind of failure only in its message text, whose prefixes are stable.
fn classify(message: &str, offending: Option<&Value>) -> ErrorCode {
    if message == "invalid number" {
        // With serde_json's arbitrary_precision (turned on by rust-ocpp) a number that does not
        // fit the integer type says only this: a fraction is the wrong type, a sign or size
        // the wrong value.
        let fractional = offending
            .and_then(Value::as_number)
            .is_some_and(|number| number.to_string().contains(['.', 'e', 'E']));
        if fractional {
            ErrorCode::TypeConstraintViolation
        } else {
            ErrorCode::PropertyConstraintViolation
        }
    } else if message.starts_with("missing field") {
        ErrorCode::OccurrenceConstraintViolation
    } else if message.starts_with("invalid type") {
        ErrorCode::TypeConstraintViolation
    } else if message.starts_with("unknown variant")
        || message.starts_with("invalid value")
        || message.starts_with("invalid length")
    {
        ErrorCode::PropertyConstraintViolation
    } else {
        ErrorCode::FormatViolation
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Probe {
        connector_id: u32,
        kind: Option<Kind>,
        pair: Option<(u8, u8)>,
    }

    #[derive(Debug, Deserialize)]
    enum Kind {
        A,
    }

    fn parse(value: serde_json::Value) -> DecodeError {
        let error = serde_path_to_error::deserialize::<_, Probe>(&value).unwrap_err();
        DecodeError::from_serde("Probe", &error, &value)
    }

    #[test]
    fn serde_failures_map_to_ocpp_codes() {
        let missing = parse(json!({}));
        assert_eq!(missing.code, ErrorCode::OccurrenceConstraintViolation);
        assert!(missing.description.contains("connectorId"), "{missing}");
        let wrong_type = parse(json!({"connectorId": "abc"}));
        assert_eq!(wrong_type.code, ErrorCode::TypeConstraintViolation);
        assert!(wrong_type.description.starts_with("Probe: connectorId:"));
        let variant = parse(json!({"connectorId": 1, "kind": "B"}));
        assert_eq!(variant.code, ErrorCode::PropertyConstraintViolation);
        assert!(variant.description.contains("kind"));
        let negative = parse(json!({"connectorId": -1}));
        assert_eq!(negative.code, ErrorCode::PropertyConstraintViolation);
        let huge = parse(json!({"connectorId": 99_999_999_999_i64}));
        assert_eq!(huge.code, ErrorCode::PropertyConstraintViolation);
        let fraction = parse(json!({"connectorId": 1.5}));
        assert_eq!(fraction.code, ErrorCode::TypeConstraintViolation);
        assert!(fraction.description.contains("connectorId"));
        let boolean = parse(json!({"connectorId": true}));
        assert_eq!(boolean.code, ErrorCode::TypeConstraintViolation);
        let length = parse(json!({"connectorId": 1, "pair": [1]}));
        assert_eq!(length.code, ErrorCode::PropertyConstraintViolation);
    }

    #[test]
    fn display_is_the_description() {
        let error = DecodeError::not_implemented("Foo");
        assert_eq!(error.to_string(), "Foo: unknown action");
        assert_eq!(error.code, ErrorCode::NotImplemented);
        assert_eq!(
            DecodeError::not_supported("Reset").code,
            ErrorCode::NotSupported
        );
    }
}
