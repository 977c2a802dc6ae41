use std::fmt;
use std::str::FromStr;

/// The OCPP version a connection speaks, chosen by WebSocket subprotocol negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OcppVersion {
    /// OCPP 1.6 JSON (subprotocol `ocpp1.6`).
    V16,
    /// OCPP 2.0.1 (subprotocol `ocpp2.0.1`).
    V201,
}

impl OcppVersion {
    /// Every supported version, highest first: the order in which subprotocols are preferred.
    pub const PREFERENCE: [OcppVersion; 2] = [OcppVersion::V201, OcppVersion::V16];

    /// The WebSocket subprotocol token of this version.
    pub fn subprotocol(self) -> &'static str {
        match self {
            OcppVersion::V16 => "ocpp1.6",
            OcppVersion::V201 => "ocpp2.0.1",
        }
    }

    /// The version as operators read it (`1.6`, `2.0.1`).
    pub fn as_str(self) -> &'static str {
        match self {
            OcppVersion::V16 => "1.6",
            OcppVersion::V201 => "2.0.1",
        }
    }

    /// Picks the highest version that both the charger offers and the server supports.
    ///
    /// `offered` is the raw `Sec-WebSocket-Protocol` header value (comma-separated tokens);
    /// matching ignores ASCII case because some chargers send `OCPP1.6`.
    pub fn negotiate(offered: &str) -> Option<OcppVersion> {
        let tokens: Vec<&str> = offered.split(',').map(str::trim).collect();
        OcppVersion::PREFERENCE.into_iter().find(|version| {
            tokens
                .iter()
                .any(|token| token.eq_ignore_ascii_case(version.subprotocol()))
        })
    }
}

impl fmt::Display for OcppVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not a known OCPP version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown OCPP version {0:?} (expected 1.6 or 2.0.1)")]
pub struct UnknownVersion(String);

impl FromStr for OcppVersion {
    type Err = UnknownVersion;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "1.6" | "ocpp1.6" | "1.6j" => Ok(OcppVersion::V16),
            "2.0.1" | "ocpp2.0.1" => Ok(OcppVersion::V201),
            _ => Err(UnknownVersion(text.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_the_highest_common_version() {
        assert_eq!(
            OcppVersion::negotiate("ocpp1.6, ocpp2.0.1"),
            Some(OcppVersion::V201)
        );
        assert_eq!(OcppVersion::negotiate("ocpp1.6"), Some(OcppVersion::V16));
        assert_eq!(OcppVersion::negotiate("OCPP1.6"), Some(OcppVersion::V16));
        assert_eq!(
            OcppVersion::negotiate("ocpp2.1, ocpp2.0.1"),
            Some(OcppVersion::V201)
        );
        assert_eq!(OcppVersion::negotiate("ocpp1.5"), None);
        assert_eq!(OcppVersion::negotiate(""), None);
    }

    #[test]
    fn versions_parse_from_config_spellings() {
        assert_eq!("1.6".parse::<OcppVersion>(), Ok(OcppVersion::V16));
        assert_eq!("ocpp2.0.1".parse::<OcppVersion>(), Ok(OcppVersion::V201));
        assert!("2.1".parse::<OcppVersion>().is_err());
    }
}
