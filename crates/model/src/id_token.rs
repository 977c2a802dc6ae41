//! Id tokens (RFID cards, app tokens, …) and the authorization decision.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The status an operator gives a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdTokenStatus {
    /// May charge.
    Accepted,
    /// Refused.
    Blocked,
    /// No longer valid.
    Expired,
}

impl IdTokenStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            IdTokenStatus::Accepted => "accepted",
            IdTokenStatus::Blocked => "blocked",
            IdTokenStatus::Expired => "expired",
        }
    }

    /// Reads the API spelling.
    pub fn parse(text: &str) -> Option<IdTokenStatus> {
        match text {
            "accepted" => Some(IdTokenStatus::Accepted),
            "blocked" => Some(IdTokenStatus::Blocked),
            "expired" => Some(IdTokenStatus::Expired),
            _ => None,
        }
    }
}

/// A token provisioned by an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdToken {
    /// The token as chargers send it (`idTag` in 1.6, `idToken.idToken` in 2.0.1).
    pub token: String,
    /// What the operator decided.
    pub status: IdTokenStatus,
    /// After this instant the token counts as expired.
    pub expires_at: Option<Timestamp>,
    /// A group token: sessions of tokens with the same parent may stop each other.
    pub parent: Option<String>,
}

/// The answer to an authorization, version-neutral; the adapter spells it per version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationStatus {
    /// May charge.
    Accepted,
    /// Refused by the operator.
    Blocked,
    /// Past its validity.
    Expired,
    /// Not valid for this CSMS.
    Invalid,
    /// Not known to the CSMS (1.6 has no such status and says `Invalid`).
    Unknown,
    /// Already in a session elsewhere.
    ConcurrentTx,
}

/// The authorization decision with what the charger may cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationInfo {
    /// The decision.
    pub status: AuthorizationStatus,
    /// Until when the charger may treat the token as valid.
    pub expires_at: Option<Timestamp>,
    /// The group token, if any.
    pub parent: Option<String>,
}

impl AuthorizationInfo {
    /// Decides on `token` at `now`: `known` is the stored token, `accept_unknown` the policy
    /// for tokens not in the store. Fails closed: nothing here defaults to `Accepted`.
    pub fn decide(known: Option<&IdToken>, accept_unknown: bool, now: Timestamp) -> Self {
        let Some(known) = known else {
            let status = if accept_unknown {
                AuthorizationStatus::Accepted
            } else {
                AuthorizationStatus::Unknown
            };
            return AuthorizationInfo {
                status,
                expires_at: None,
                parent: None,
            };
        };
        let expired = known.expires_at.is_some_and(|expires_at| expires_at <= now);
        let status = match known.status {
            IdTokenStatus::Blocked => AuthorizationStatus::Blocked,
            IdTokenStatus::Expired => AuthorizationStatus::Expired,
            IdTokenStatus::Accepted if expired => AuthorizationStatus::Expired,
            IdTokenStatus::Accepted => AuthorizationStatus::Accepted,
        };
        AuthorizationInfo {
            status,
            expires_at: known.expires_at,
            parent: known.parent.clone(),
        }
    }

    /// The decision for a session that needs no token (2.0.1 `NoAuthorization`, free charging).
    pub fn accepted() -> Self {
        AuthorizationInfo {
            status: AuthorizationStatus::Accepted,
            expires_at: None,
            parent: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
    }

    fn token(status: IdTokenStatus, expires_at: Option<Timestamp>) -> IdToken {
        IdToken {
            token: "04656B82EB2CDD".into(),
            status,
            expires_at,
            parent: Some("GROUP".into()),
        }
    }

    #[test]
    fn unknown_tokens_follow_the_policy() {
        assert_eq!(
            AuthorizationInfo::decide(None, false, now()).status,
            AuthorizationStatus::Unknown
        );
        assert_eq!(
            AuthorizationInfo::decide(None, true, now()).status,
            AuthorizationStatus::Accepted
        );
    }

    #[test]
    fn stored_tokens_decide_with_their_expiry() {
        let later = now() + chrono::Duration::days(1);
        let earlier = now() - chrono::Duration::days(1);
        let accepted = token(IdTokenStatus::Accepted, Some(later));
        let decision = AuthorizationInfo::decide(Some(&accepted), false, now());
        assert_eq!(decision.status, AuthorizationStatus::Accepted);
        assert_eq!(decision.parent.as_deref(), Some("GROUP"));
        assert_eq!(decision.expires_at, Some(later));
        let lapsed = token(IdTokenStatus::Accepted, Some(earlier));
        assert_eq!(
            AuthorizationInfo::decide(Some(&lapsed), true, now()).status,
            AuthorizationStatus::Expired
        );
        let blocked = token(IdTokenStatus::Blocked, None);
        assert_eq!(
            AuthorizationInfo::decide(Some(&blocked), true, now()).status,
            AuthorizationStatus::Blocked
        );
    }
}
