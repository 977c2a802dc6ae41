//! `/api/v1/id-tokens`: the tokens Authorize and transactions are decided on.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use zaryad_model::{IdToken, IdTokenStatus, Timestamp};
use zaryad_store::{ApiTokenRole, WriteBatch, WriteOp};

use super::auth::Caller;
use super::error::{ApiError, parse_body};
use crate::state::Shared;

/// Longest token accepted: 2.0.1 allows 36 characters; the margin serves odd 1.6 tags.
const MAX_TOKEN_LEN: usize = 255;

fn view(token: &IdToken) -> Value {
    json!({
        "token": token.token,
        "status": token.status.as_str(),
        "expires_at": token.expires_at,
        "parent": token.parent,
    })
}

/// `GET /id-tokens`.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let tokens = shared.store.id_tokens().await?;
    Ok(Json(tokens.iter().map(view).collect::<Vec<_>>()))
}

/// `GET /id-tokens/{token}`.
pub async fn show(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(token): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let token = shared
        .store
        .id_token(&token)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no id token {token}")))?;
    Ok(Json(view(&token)))
}

/// The body of `PUT /id-tokens/{token}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    status: Option<String>,
    expires_at: Option<Timestamp>,
    parent: Option<String>,
}

/// `PUT /id-tokens/{token}`: creates or replaces a token (status defaults to `accepted`).
pub async fn upsert(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    if token.is_empty() || token.chars().count() > MAX_TOKEN_LEN {
        return Err(ApiError::unprocessable(format!(
            "an id token has 1 to {MAX_TOKEN_LEN} characters"
        )));
    }
    let body: TokenBody = parse_body(&body)?;
    let status = match body.status.as_deref() {
        None => IdTokenStatus::Accepted,
        Some(text) => IdTokenStatus::parse(text).ok_or_else(|| {
            ApiError::unprocessable(format!(
                "status {text:?} is not one of accepted, blocked, expired"
            ))
        })?,
    };
    let id_token = IdToken {
        token,
        status,
        expires_at: body.expires_at,
        parent: body.parent.filter(|parent| !parent.is_empty()),
    };
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::UpsertIdToken(id_token.clone()));
    shared.store.commit(batch).await?;
    Ok(Json(view(&id_token)))
}

/// `DELETE /id-tokens/{token}`.
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(token): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    if shared.store.id_token(&token).await?.is_none() {
        return Err(ApiError::not_found(format!("no id token {token}")));
    }
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::DeleteIdToken(token));
    shared.store.commit(batch).await?;
    Ok(StatusCode::NO_CONTENT)
}
