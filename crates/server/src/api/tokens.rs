//! `/api/v1/tokens`: API bearer tokens and their roles (admin only).
//!
//! A token is shown once, when it is created; only its hash is stored.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use zaryad_store::{ApiToken, ApiTokenRole, WriteBatch, WriteOp};

use super::auth::Caller;
use super::error::{ApiError, parse_body};
use crate::secrets::{generate_api_token, hash_api_token};
use crate::state::Shared;

/// Longest token name accepted.
const MAX_NAME_LEN: usize = 200;

fn view(token: &ApiToken) -> Value {
    json!({
        "id": token.id,
        "name": token.name,
        "role": token.role.as_str(),
        "created_at": token.created_at,
    })
}

/// The body of `POST /tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    name: String,
    role: String,
}

/// `POST /tokens`: creates a token; the answer is the only place its secret appears.
pub async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    let body: NewTokenBody = parse_body(&body)?;
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::unprocessable(format!(
            "name must have 1 to {MAX_NAME_LEN} characters"
        )));
    }
    let role = ApiTokenRole::parse(&body.role).ok_or_else(|| {
        ApiError::unprocessable(format!(
            "role {:?} is not one of viewer, operator, admin",
            body.role
        ))
    })?;
    let secret = generate_api_token();
    let token = ApiToken {
        id: uuid::Uuid::now_v7().to_string(),
        name,
        role,
        token_hash: hash_api_token(&secret),
        created_at: Utc::now(),
    };
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::InsertApiToken(token.clone()));
    shared.store.commit(batch).await?;
    let mut answer = view(&token);
    answer["token"] = secret.into();
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `GET /tokens`: every token, without secrets or hashes.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    let tokens = shared.store.api_tokens().await?;
    Ok(Json(tokens.iter().map(view).collect::<Vec<_>>()))
}

/// `DELETE /tokens/{id}`: revokes a token at once.
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    let tokens = shared.store.api_tokens().await?;
    let token = tokens
        .iter()
        .find(|token| token.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no token {id}")))?;
    let other_admins = tokens
        .iter()
        .any(|other| other.id != id && other.role == ApiTokenRole::Admin);
    if token.role == ApiTokenRole::Admin
        && !other_admins
        && shared.configured_admin_token_hash.is_none()
    {
        // Without a configured admin token this would lock every operator out for good.
        return Err(ApiError::conflict(
            "last_admin_token",
            "this is the last admin token; create another admin token first",
        ));
    }
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::DeleteApiToken(id));
    shared.store.commit(batch).await?;
    Ok(StatusCode::NO_CONTENT)
}
