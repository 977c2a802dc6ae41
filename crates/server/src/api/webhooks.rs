//! `/api/v1/webhooks`: subscriptions of billing systems, their delivery log and replays. Every
//! endpoint needs the admin role: a webhook's URL and secret are an integration's credentials.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use zaryad_model::EventType;
use zaryad_store::{
    ApiTokenRole, Delivery, DeliveryStatus, NewWebhook, Webhook, WriteBatch, WriteOp,
};

use super::auth::Caller;
use super::error::{ApiError, parse_body};
use crate::events::webhook::{generate_secret, secret_key};
use crate::state::Shared;

/// Longest accepted URL and secret.
const MAX_URL_CHARS: usize = 2048;
const MAX_SECRET_CHARS: usize = 512;

/// The body of `POST /webhooks`.
#[derive(Debug, Deserialize)]
pub struct CreateBody {
    /// Where events are POSTed (http or https).
    url: Option<String>,
    /// `whsec_<base64>` (the key is the decoded part) or any other text (the key as it is);
    /// generated when missing.
    secret: Option<String>,
    /// Only these event types; all when missing, null or empty.
    event_types: Option<Vec<String>>,
}

fn view(webhook: &Webhook) -> Value {
    json!({
        "id": webhook.id,
        "url": webhook.url,
        "event_types": webhook
            .event_types
            .as_ref()
            .map(|types| types.iter().map(|t| t.as_str()).collect::<Vec<&str>>()),
        "created_at": webhook.created_at,
    })
}

fn delivery_view(delivery: &Delivery) -> Value {
    json!({
        "event_id": delivery.event_id,
        "event_seq": delivery.event_seq,
        "event_type": delivery.event_type.as_str(),
        "status": delivery.status.as_str(),
        "attempts": delivery.attempts,
        "queued_at": delivery.queued_at,
        "next_attempt_at": (delivery.status == DeliveryStatus::Pending)
            .then_some(delivery.next_attempt_at),
        "last_attempt_at": delivery.last_attempt_at,
        "delivered_at": delivery.delivered_at,
        "response_status": delivery.response_status,
        "last_error": delivery.last_error,
    })
}

async fn existing(shared: &Shared, id: &str) -> Result<Webhook, ApiError> {
    shared
        .store
        .webhook(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no webhook {id}")))
}

/// `POST /webhooks`: subscribes a receiver; the answer carries the secret, this once.
pub async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    let body: CreateBody = parse_body(&body)?;
    let url = body
        .url
        .ok_or_else(|| ApiError::unprocessable("url is required"))?;
    let parsed = reqwest::Url::parse(&url)
        .map_err(|error| ApiError::unprocessable(format!("url {url:?}: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(ApiError::unprocessable(format!(
            "url {url:?} must be an http or https URL with a host"
        )));
    }
    if url.len() > MAX_URL_CHARS {
        return Err(ApiError::unprocessable(format!(
            "url must be at most {MAX_URL_CHARS} characters"
        )));
    }
    let secret = match body.secret {
        Some(secret) if secret.len() > MAX_SECRET_CHARS => {
            return Err(ApiError::unprocessable(format!(
                "secret must be at most {MAX_SECRET_CHARS} characters"
            )));
        }
        Some(secret) => {
            secret_key(&secret)
                .map_err(|error| ApiError::unprocessable(format!("secret: {error}")))?;
            secret
        }
        None => generate_secret(),
    };
    let event_types = body
        .event_types
        .map(|names| {
            names
                .iter()
                .map(|name| {
                    EventType::parse(name).ok_or_else(|| {
                        ApiError::unprocessable(format!(
                            "unknown event type {name:?}; known: {}",
                            EventType::ALL.map(EventType::as_str).join(", ")
                        ))
                    })
                })
                .collect::<Result<Vec<EventType>, ApiError>>()
        })
        .transpose()?
        // An empty filter means no filter, as in other webhook services.
        .filter(|types| !types.is_empty());
    let id = uuid::Uuid::now_v7().to_string();
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::InsertWebhook(NewWebhook {
        id: id.clone(),
        url,
        secret: secret.clone(),
        event_types,
        created_at: Utc::now(),
    }));
    shared.store.commit(batch).await?;
    let webhook = existing(&shared, &id).await?;
    let mut answer = view(&webhook);
    answer["secret"] = Value::String(secret);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `GET /webhooks`.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    let webhooks = shared.store.webhooks().await?;
    Ok(Json(webhooks.iter().map(view).collect::<Vec<Value>>()))
}

/// `GET /webhooks/{id}`.
pub async fn show(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    Ok(Json(view(&existing(&shared, &id).await?)))
}

/// `DELETE /webhooks/{id}`: stops deliveries and drops the delivery log.
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    existing(&shared, &id).await?;
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::DeleteWebhook(id));
    shared.store.commit(batch).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of the delivery log.
#[derive(Debug, Deserialize)]
pub struct DeliveriesQuery {
    status: Option<String>,
    limit: Option<u32>,
}

/// `GET /webhooks/{id}/deliveries`: the delivery log, newest event first.
pub async fn deliveries(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    let Query(query) = query.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let status = query
        .status
        .as_deref()
        .map(|text| {
            DeliveryStatus::parse(text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status {text:?} is not one of pending, delivered, failed"
                ))
            })
        })
        .transpose()?;
    let limit = query
        .limit
        .unwrap_or(100)
        .clamp(1, shared.config.api.max_page_size);
    existing(&shared, &id).await?;
    let log = shared.store.deliveries(&id, status, limit).await?;
    Ok(Json(log.iter().map(delivery_view).collect::<Vec<Value>>()))
}

/// The body of `POST /webhooks/{id}/replay`.
#[derive(Debug, Deserialize)]
pub struct ReplayBody {
    /// Events that occurred at or after this time: RFC 3339, or a date (midnight UTC).
    since: Option<String>,
}

/// `POST /webhooks/{id}/replay`: delivers every event since a time again, in order.
pub async fn replay(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    let body: ReplayBody = parse_body(&body)?;
    let since = body
        .since
        .ok_or_else(|| ApiError::unprocessable("since is required"))?;
    let since = parse_time(&since).ok_or_else(|| {
        ApiError::unprocessable(format!(
            "since {since:?} is neither RFC 3339 (2026-01-01T00:00:00Z) nor a date (2026-01-01)"
        ))
    })?;
    existing(&shared, &id).await?;
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::ReplayDeliveries {
        webhook_id: id.clone(),
        since,
        at: Utc::now(),
    });
    shared.store.commit(batch).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"webhook_id": id, "since": since})),
    ))
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|midnight| midnight.and_utc())
}
