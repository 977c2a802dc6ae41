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
use zaryad_model::Timestamp;
use zaryad_store::{EventPosition, Store, StoreError, StoredEvent};

/// How long a gap in the outbox may stay open before a follower takes it as final.
pub const GAP_GRACE: Duration = Duration::from_secs(5);

/// A position in the outbox and the means to read on from it.
pub struct Follower {
    store: Arc<dyn Store>,
    position: Position,
}

/// How far a follower got, and the gap it waits on.
#[derive(Debug, Default)]
struct Position {
    cursor: i64,
    /// The first missing `seq` and when the gap was first seen.
    gap: Option<(i64, Instant)>,
}

impl Follower {
    /// A follower that has handled every event up to `cursor`.
    pub fn new(store: Arc<dyn Store>, cursor: i64) -> Follower {
        Follower {
            store,
            position: Position { cursor, gap: None },
        }
    }

    /// The last event handed out.
    pub fn cursor(&self) -> i64 {
        self.position.cursor
    }

    /// Goes back to `cursor` (after the caller failed to handle what it was given).
    pub fn rewind(&mut self, cursor: i64) {
        self.position = Position { cursor, gap: None };
    }

    /// The next events in order, at most `limit`; empty when there are none yet (or the next
    /// one is behind a gap that may still fill).
    pub async fn next(&mut self, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = self.store.events_after(self.position.cursor, limit).await?;
        let taken = self.position.advance(
            events
                .iter()
                .map(|event| (event.seq, event.event.occurred_at)),
            Utc::now(),
        );
        events.truncate(taken);
        Ok(events)
    }

    /// Like [`Follower::next`] for a follower that needs only where the events stand, not
    /// what they say: nothing of their payload is read.
    pub async fn next_positions(&mut self, limit: u32) -> Result<Vec<EventPosition>, StoreError> {
        let mut positions = self
            .store
            .event_positions_after(self.position.cursor, limit)
            .await?;
        let taken = self.position.advance(
            positions
                .iter()
                .map(|position| (position.seq, position.occurred_at)),
            Utc::now(),
        );
        positions.truncate(taken);
        Ok(positions)
    }

    /// True while a gap holds this follower back (it should look again soon).
    pub fn waiting_on_gap(&self) -> bool {
        self.position.gap.is_some()
    }
}

impl Position {
    /// Moves past the leading events (`seq`, time) that follow without a gap, or past a gap
    /// taken as final; answers how many.
    fn advance(&mut self, events: impl Iterator<Item = (i64, Timestamp)>, now: Timestamp) -> usize {
        let mut taken = 0;
        let mut expected = self.cursor.saturating_add(1);
        for (seq, occurred_at) in events {
            if seq != expected && !self.gap_is_final(expected, occurred_at, now) {
                break;
            }
            expected = seq.saturating_add(1);
            taken += 1;
        }
        if taken > 0 {
            self.cursor = expected - 1;
            if self.gap.is_some_and(|(missing, _)| missing <= self.cursor) {
                self.gap = None;
            }
        }
        taken
    }

    fn gap_is_final(&mut self, missing: i64, occurred_at: Timestamp, now: Timestamp) -> bool {
        let grace = chrono::TimeDelta::from_std(GAP_GRACE).unwrap_or(chrono::TimeDelta::MAX);
        if occurred_at < now - grace {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_moves_past_events_in_order_and_stops_at_a_fresh_gap() {
        let now = Utc::now();
        let mut position = Position {
            cursor: 10,
            gap: None,
        };
        // 11 and 12 follow; 14 is behind a gap at 13 that may still be committing.
        let taken = position.advance([(11, now), (12, now), (14, now)].into_iter(), now);
        assert_eq!(taken, 2);
        assert_eq!(position.cursor, 12);
        assert!(matches!(position.gap, Some((13, _))));
        // 13 arrives: the gap closes.
        assert_eq!(position.advance([(13, now), (14, now)].into_iter(), now), 2);
        assert_eq!(position.cursor, 14);
        assert!(position.gap.is_none());
    }

    #[test]
    fn a_gap_before_an_old_event_is_final() {
        let now = Utc::now();
        let old = now - chrono::TimeDelta::from_std(GAP_GRACE * 2).unwrap();
        let mut position = Position {
            cursor: 1,
            gap: None,
        };
        // Event 5 happened long ago: 2..=4 are rolled back, not still committing.
        assert_eq!(position.advance([(5, old), (6, now)].into_iter(), now), 2);
        assert_eq!(position.cursor, 6);
        assert!(position.gap.is_none());
        assert_eq!(position.advance(std::iter::empty(), now), 0);
        assert_eq!(position.cursor, 6);
    }
}
