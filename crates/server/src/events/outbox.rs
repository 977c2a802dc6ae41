//! Following the outbox in `seq` order without skipping an event that is still committing.
//!
//! One writer per process commits in `seq` order, so within a node every gap in the sequence
//! is final (a rolled-back group on PostgreSQL burns its identity values). Several nodes on
//! one PostgreSQL database commit concurrently, though: seq 10 may be visible while seq 9 is
//! still committing. A follower therefore stops at a gap and waits for it to fill, passing it
//! only after [`GAP_GRACE`], or at once when the event after it is older than that.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use zaryad_store::{Store, StoreError, StoredEvent};

/// How long a gap in the outbox may stay open before a follower takes it as final.
pub const GAP_GRACE: Duration = Duration::from_secs(5);

/// A position in the outbox and the means to read on from it.
pub struct Follower {
    store: Arc<dyn Store>,
    cursor: i64,
    /// The first missing `seq` and when the gap was first seen.
    gap: Option<(i64, Instant)>,
}

impl Follower {
    /// A follower that has handled every event up to `cursor`.
    pub fn new(store: Arc<dyn Store>, cursor: i64) -> Follower {
        Follower {
            store,
            cursor,
            gap: None,
        }
    }

    /// The last event handed out.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Goes back to `cursor` (after the caller failed to handle what it was given).
    pub fn rewind(&mut self, cursor: i64) {
        self.cursor = cursor;
        self.gap = None;
    }

    /// The next events in order, at most `limit`; empty when there are none yet (or the next
    /// one is behind a gap that may still fill).
    pub async fn next(&mut self, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let events = self.store.events_after(self.cursor, limit).await?;
        let mut taken = Vec::with_capacity(events.len());
        let mut expected = self.cursor.saturating_add(1);
        for event in events {
            if event.seq != expected && !self.gap_is_final(expected, &event) {
                break;
            }
            expected = event.seq.saturating_add(1);
            taken.push(event);
        }
        if let Some(last) = taken.last() {
            self.cursor = last.seq;
            if self.gap.is_some_and(|(missing, _)| missing <= self.cursor) {
                self.gap = None;
            }
        }
        Ok(taken)
    }

    fn gap_is_final(&mut self, missing: i64, after: &StoredEvent) -> bool {
        let grace = chrono::TimeDelta::from_std(GAP_GRACE).unwrap_or(chrono::TimeDelta::MAX);
        if after.event.occurred_at < Utc::now() - grace {
            return true;
        }
        match self.gap {
            Some((seen, since)) if seen == missing => since.elapsed() >= GAP_GRACE,
            _ => {
                self.gap = Some((missing, Instant::now()));
                false
            }
        }
    }

    /// True while a gap holds this follower back (it should look again soon).
    pub fn waiting_on_gap(&self) -> bool {
        self.gap.is_some()
    }
}
