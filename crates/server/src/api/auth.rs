//! Bearer-token authentication and roles.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use zaryad_store::ApiTokenRole;

use super::error::ApiError;
use crate::secrets::{constant_time_eq, hash_api_token};
use crate::state::Shared;

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// What the caller's token may do.
    pub role: ApiTokenRole,
}

impl Caller {
    /// Fails with 403 unless the caller has at least `needed`.
    pub fn require(self, needed: ApiTokenRole) -> Result<(), ApiError> {
        let rank = |role: ApiTokenRole| match role {
            ApiTokenRole::Viewer => 0,
            ApiTokenRole::Operator => 1,
            ApiTokenRole::Admin => 2,
        };
        if rank(self.role) >= rank(needed) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role; the token has {}",
                needed.as_str(),
                self.role.as_str()
            )))
        }
    }
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Caller, ApiError> {
        let State(shared): State<Arc<Shared>> = State::from_request_parts(parts, shared)
            .await
            .map_err(|_| ApiError::unauthorized())?;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_owned())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        let token_hash = hash_api_token(&token);
        if let Some(admin_hash) = &shared.configured_admin_token_hash
            && constant_time_eq(admin_hash.as_bytes(), token_hash.as_bytes())
        {
            return Ok(Caller {
                role: ApiTokenRole::Admin,
            });
        }
        match shared.store.api_token_by_hash(&token_hash).await? {
            Some(stored) => Ok(Caller { role: stored.role }),
            None => Err(ApiError::unauthorized()),
        }
    }
}
