//! Corrected `session.ended` events for sessions whose meter values arrived after their end.
//!
//! The gateway records a request in the same commit as the late samples; this task, once the
//! request is due (the session update interval after the first late value), rebuilds the
//! session's end from all its samples and writes the event with the next `revision`, the
//! session and the removal of the request in one commit. A request that changed meanwhile
//! (more late values, or another node doing the same) fails that commit and is taken again.

use std::sync::Arc;

use chrono::Utc;
use zaryad_model::{DomainEvent, EventType, SessionState};
use zaryad_store::{SessionCorrection, Store, StoreError, WriteBatch, WriteOp};

use super::{MAX_CDR_SAMPLES, new_event_id, session_ended_data};
use crate::config::CdrConfig;
use crate::state::Shared;

/// Requests handled per round.
const BATCH: u32 = 100;

/// Runs until shutdown, looking for due requests every poll interval.
pub async fn run(shared: Arc<Shared>) {
    let interval = shared.config.events.poll_interval();
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(error) = correct_due(&*shared.store, &shared.config.events.cdr).await {
            tracing::warn!(%error, "correcting ended sessions failed; will retry");
        }
    }
}

async fn correct_due(store: &dyn Store, config: &CdrConfig) -> Result<(), StoreError> {
    for correction in store.due_session_corrections(Utc::now(), BATCH).await? {
        let batch = corrected(store, config, &correction).await?;
        match store.commit(batch).await {
            Ok(()) => {}
            Err(StoreError::Conflict(reason)) => tracing::debug!(%reason, "correction deferred"),
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// The commit that answers `correction`.
async fn corrected(
    store: &dyn Store,
    config: &CdrConfig,
    correction: &SessionCorrection,
) -> Result<WriteBatch, StoreError> {
    let mut batch = WriteBatch::new();
    let session = store.session(&correction.session_id).await?;
    if let Some(mut session) = session.filter(|session| session.state == SessionState::Completed) {
        let now = Utc::now();
        let samples = store.meter_samples(&session.id, MAX_CDR_SAMPLES).await?;
        if session.correct_with_samples(&samples, now) {
            batch.push(WriteOp::UpsertSession(session.clone()));
        }
        let previous = store
            .latest_session_ended(&session.id)
            .await?
            .and_then(|stored| {
                stored
                    .event
                    .data
                    .get("revision")
                    .and_then(serde_json::Value::as_u64)
            })
            .unwrap_or(0);
        let revision = u32::try_from(previous.saturating_add(1)).unwrap_or(u32::MAX);
        let data = session_ended_data(&session, &samples, revision, config, now);
        let event =
            DomainEvent::for_session(new_event_id(), EventType::SessionEnded, &session, data, now);
        tracing::info!(session = %session.id, revision, "late meter values: corrected session.ended");
        batch.push(WriteOp::AppendEvent(event));
    }
    batch.push(WriteOp::FinishSessionCorrection(correction.clone()));
    Ok(batch)
}
