use crate::OcppVersion;

/// A CALLERROR code, named once for both versions and spelled per version on the wire.
///
/// OCPP 1.6 spells two codes differently (`FormationViolation`, `OccurenceConstraintViolation`)
/// and lacks `RpcFrameworkError` and `MessageTypeNotSupported`; [`ErrorCode::as_str`] maps them
/// to the nearest 1.6 code so that every CALLERROR is valid for the connection's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The payload is syntactically incorrect (1.6: `FormationViolation`).
    FormatViolation,
    /// Any other error.
    GenericError,
    /// An internal error prevented the receiver from processing the action.
    InternalError,
    /// A message type number the receiver does not support (1.6: `FormationViolation`).
    MessageTypeNotSupported,
    /// The action is unknown to the receiver.
    NotImplemented,
    /// The action is known but not supported.
    NotSupported,
    /// A field violates occurrence constraints, e.g. a required field is missing
    /// (1.6: `OccurenceConstraintViolation`).
    OccurrenceConstraintViolation,
    /// A field holds an invalid value.
    PropertyConstraintViolation,
    /// The payload is incomplete.
    ProtocolError,
    /// The frame is not a valid RPC message, e.g. its message id cannot be read
    /// (1.6: `ProtocolError`).
    RpcFrameworkError,
    /// A security issue prevented the receiver from completing the action.
    SecurityError,
    /// A field violates data type constraints, e.g. a number where a string is due.
    TypeConstraintViolation,
}

impl ErrorCode {
    /// The code as it is spelled on the wire for `version`.
    pub fn as_str(self, version: OcppVersion) -> &'static str {
        match (self, version) {
            (ErrorCode::FormatViolation, OcppVersion::V16) => "FormationViolation",
            (ErrorCode::FormatViolation, OcppVersion::V201) => "FormatViolation",
            (ErrorCode::GenericError, _) => "GenericError",
            (ErrorCode::InternalError, _) => "InternalError",
            (ErrorCode::MessageTypeNotSupported, OcppVersion::V16) => "FormationViolation",
            (ErrorCode::MessageTypeNotSupported, OcppVersion::V201) => "MessageTypeNotSupported",
            (ErrorCode::NotImplemented, _) => "NotImplemented",
            (ErrorCode::NotSupported, _) => "NotSupported",
            (ErrorCode::OccurrenceConstraintViolation, OcppVersion::V16) => {
                "OccurenceConstraintViolation"
            }
            (ErrorCode::OccurrenceConstraintViolation, OcppVersion::V201) => {
                "OccurrenceConstraintViolation"
            }
            (ErrorCode::PropertyConstraintViolation, _) => "PropertyConstraintViolation",
            (ErrorCode::ProtocolError, _) => "ProtocolError",
            (ErrorCode::RpcFrameworkError, OcppVersion::V16) => "ProtocolError",
            (ErrorCode::RpcFrameworkError, OcppVersion::V201) => "RpcFrameworkError",
            (ErrorCode::SecurityError, _) => "SecurityError",
            (ErrorCode::TypeConstraintViolation, _) => "TypeConstraintViolation",
        }
    }

    /// Reads a code in either version's spelling; unknown codes become `GenericError`.
    pub fn parse(text: &str) -> ErrorCode {
        match text {
            "FormatViolation" | "FormationViolation" => ErrorCode::FormatViolation,
            "InternalError" => ErrorCode::InternalError,
            "MessageTypeNotSupported" => ErrorCode::MessageTypeNotSupported,
            "NotImplemented" => ErrorCode::NotImplemented,
            "NotSupported" => ErrorCode::NotSupported,
            "OccurrenceConstraintViolation" | "OccurenceConstraintViolation" => {
                ErrorCode::OccurrenceConstraintViolation
            }
            "PropertyConstraintViolation" => ErrorCode::PropertyConstraintViolation,
            "ProtocolError" => ErrorCode::ProtocolError,
            "RpcFrameworkError" => ErrorCode::RpcFrameworkError,
            "SecurityError" => ErrorCode::SecurityError,
            "TypeConstraintViolation" => ErrorCode::TypeConstraintViolation,
            _ => ErrorCode::GenericError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_spelled_per_version() {
        let cases = [
            (
                ErrorCode::FormatViolation,
                "FormationViolation",
                "FormatViolation",
            ),
            (
                ErrorCode::OccurrenceConstraintViolation,
                "OccurenceConstraintViolation",
                "OccurrenceConstraintViolation",
            ),
            (
                ErrorCode::RpcFrameworkError,
                "ProtocolError",
                "RpcFrameworkError",
            ),
            (
                ErrorCode::MessageTypeNotSupported,
                "FormationViolation",
                "MessageTypeNotSupported",
            ),
            (
                ErrorCode::NotImplemented,
                "NotImplemented",
                "NotImplemented",
            ),
            (
                ErrorCode::TypeConstraintViolation,
                "TypeConstraintViolation",
                "TypeConstraintViolation",
            ),
        ];
        for (code, v16, v201) in cases {
            assert_eq!(code.as_str(OcppVersion::V16), v16);
            assert_eq!(code.as_str(OcppVersion::V201), v201);
        }
    }

    #[test]
    fn both_spellings_parse_back() {
        assert_eq!(
            ErrorCode::parse("FormationViolation"),
            ErrorCode::FormatViolation
        );
        assert_eq!(
            ErrorCode::parse("OccurenceConstraintViolation"),
            ErrorCode::OccurrenceConstraintViolation
        );
        assert_eq!(ErrorCode::parse("SomethingElse"), ErrorCode::GenericError);
    }
}
