//! `last_seen` times waiting to be written: one per station, the newest wins.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use zaryad_model::{StationId, Timestamp};

/// `last_seen` times waiting to be written, newest per station.
#[derive(Default)]
pub(crate) struct Touches(Mutex<HashMap<StationId, Timestamp>>);

impl Touches {
    fn lock(&self) -> MutexGuard<'_, HashMap<StationId, Timestamp>> {
        // A panic elsewhere while holding this lock cannot leave the map half-updated (every
        // critical section is a single insert or take), so a poisoned lock is still usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes that `station_id` was heard from at `at`.
    pub(crate) fn note(&self, station_id: &StationId, at: Timestamp) {
        let mut pending = self.lock();
        match pending.get_mut(station_id) {
            Some(known) => *known = (*known).max(at),
            None => {
                pending.insert(station_id.clone(), at);
            }
        }
    }

    /// The time noted for `station_id` and not written yet.
    pub(crate) fn pending(&self, station_id: &StationId) -> Option<Timestamp> {
        self.lock().get(station_id).copied()
    }

    /// Everything noted, sorted by station: several writers (nodes sharing a PostgreSQL
    /// database) then lock the rows in the same order and cannot deadlock on each other.
    pub(crate) fn take(&self) -> Vec<(StationId, Timestamp)> {
        let mut touches: Vec<(StationId, Timestamp)> =
            std::mem::take(&mut *self.lock()).into_iter().collect();
        touches.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        touches
    }

    /// Puts back touches that could not be written.
    pub(crate) fn restore(&self, touches: Vec<(StationId, Timestamp)>) {
        for (station_id, at) in touches {
            self.note(&station_id, at);
        }
    }
}
