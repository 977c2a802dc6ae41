//! Which station is connected to which connection task.
//!
//! The map is guarded by a std mutex that is never held across an await: registering,
//! replacing and looking up are plain map operations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use zaryad_model::{StationId, Timestamp};
use zaryad_wire::OcppVersion;

use super::commands::CommandSender;

/// Why a connection is asked to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// A newer connection with the same identity took over.
    Replaced,
    /// The server is shutting down.
    Shutdown,
    /// An operator deleted the station.
    Deleted,
}

/// The registry's view of one live connection.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    /// Unique per connection, so a stale task never unregisters its successor.
    pub connection_id: u64,
    /// The negotiated version.
    pub version: OcppVersion,
    /// When the connection was established.
    pub connected_at: Timestamp,
    /// Cancelled to ask the connection task to close.
    close: CancellationToken,
    /// The reason given with the close request.
    close_reason: Arc<Mutex<Option<CloseReason>>>,
    /// Cancelled by the connection task when it has finished all its writes.
    finished: CancellationToken,
    /// Milliseconds since the epoch of the last frame from the charger.
    last_seen_ms: Arc<AtomicI64>,
    /// The connection task's bounded command queue.
    pub commands: CommandSender,
}

impl ConnectionHandle {
    /// Asks the connection to close.
    pub fn close(&self, reason: CloseReason) {
        if let Ok(mut slot) = self.close_reason.lock() {
            slot.get_or_insert(reason);
        }
        self.close.cancel();
    }

    /// Resolves when the connection was asked to close.
    pub async fn close_requested(&self) {
        self.close.cancelled().await;
    }

    /// The reason given with the close request.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason.lock().ok().and_then(|slot| *slot)
    }

    /// Called by the connection task when it is done; releases a waiting successor.
    pub fn mark_finished(&self) {
        self.finished.cancel();
    }

    /// Waits until the connection task is done, at most `limit`.
    pub async fn wait_finished(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.finished.cancelled())
            .await
            .is_ok()
    }

    /// Records that a frame arrived now.
    pub fn touch(&self, at: Timestamp) {
        self.last_seen_ms
            .store(at.timestamp_millis(), Ordering::Relaxed);
    }

    /// The last time a frame arrived.
    pub fn last_seen(&self) -> Option<Timestamp> {
        DateTime::<Utc>::from_timestamp_millis(self.last_seen_ms.load(Ordering::Relaxed))
    }
}

/// Live connections by station.
#[derive(Debug, Default)]
pub struct Registry {
    /// The current connection of each connected station.
    connections: Mutex<HashMap<StationId, ConnectionHandle>>,
    /// Source of connection ids.
    next_connection_id: AtomicU64,
}

impl Registry {
    fn map(&self) -> MutexGuard<'_, HashMap<StationId, ConnectionHandle>> {
        // A poisoned lock only means another task panicked mid-insert; the map is still usable.
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new connection id, taken when the upgrade is accepted: ids order a station's
    /// connections as the chargers made them, whichever connection task starts first.
    pub fn next_connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers connection `connection_id` for `station_id` with its command queue; returns it
    /// and the one it replaces. `None` when a newer connection of the station is registered
    /// already (a charger that reconnected at once, whose older socket's task started late):
    /// the older one must close.
    pub fn register(
        &self,
        station_id: &StationId,
        connection_id: u64,
        version: OcppVersion,
        now: Timestamp,
        commands: CommandSender,
    ) -> Option<(ConnectionHandle, Option<ConnectionHandle>)> {
        let handle = ConnectionHandle {
            connection_id,
            version,
            connected_at: now,
            close: CancellationToken::new(),
            close_reason: Arc::new(Mutex::new(None)),
            finished: CancellationToken::new(),
            last_seen_ms: Arc::new(AtomicI64::new(now.timestamp_millis())),
            commands,
        };
        let mut map = self.map();
        if map
            .get(station_id)
            .is_some_and(|current| current.connection_id > connection_id)
        {
            return None;
        }
        let previous = map.insert(station_id.clone(), handle.clone());
        Some((handle, previous))
    }

    /// Removes the connection, unless a newer one has taken its place.
    pub fn unregister(&self, station_id: &StationId, connection_id: u64) -> bool {
        let mut map = self.map();
        match map.get(station_id) {
            Some(current) if current.connection_id == connection_id => {
                map.remove(station_id);
                true
            }
            _ => false,
        }
    }

    /// The live connection of a station.
    pub fn get(&self, station_id: &StationId) -> Option<ConnectionHandle> {
        self.map().get(station_id).cloned()
    }

    /// Every live connection.
    pub fn all(&self) -> Vec<(StationId, ConnectionHandle)> {
        self.map()
            .iter()
            .map(|(id, handle)| (id.clone(), handle.clone()))
            .collect()
    }

    /// How many stations are connected.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// True when no station is connected.
    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> CommandSender {
        tokio::sync::mpsc::channel(1).0
    }

    fn register(
        registry: &Registry,
        id: &StationId,
        connection_id: u64,
        version: OcppVersion,
    ) -> Option<(ConnectionHandle, Option<ConnectionHandle>)> {
        registry.register(id, connection_id, version, Utc::now(), queue())
    }

    #[test]
    fn a_second_connection_replaces_the_first_and_the_first_cannot_unregister_it() {
        let registry = Registry::default();
        let id = StationId::parse("CP1").unwrap();
        let (first, none) = register(
            &registry,
            &id,
            registry.next_connection_id(),
            OcppVersion::V16,
        )
        .unwrap();
        assert!(none.is_none());
        let (second, replaced) = register(
            &registry,
            &id,
            registry.next_connection_id(),
            OcppVersion::V201,
        )
        .unwrap();
        assert_eq!(replaced.unwrap().connection_id, first.connection_id);
        assert!(!registry.unregister(&id, first.connection_id));
        assert_eq!(registry.get(&id).unwrap().version, OcppVersion::V201);
        assert!(registry.unregister(&id, second.connection_id));
        assert!(registry.is_empty());
    }

    #[test]
    fn the_first_close_reason_sticks() {
        let registry = Registry::default();
        let id = StationId::parse("CP1").unwrap();
        let (handle, _) = register(
            &registry,
            &id,
            registry.next_connection_id(),
            OcppVersion::V16,
        )
        .unwrap();
        handle.close(CloseReason::Replaced);
        handle.close(CloseReason::Shutdown);
        assert_eq!(handle.close_reason(), Some(CloseReason::Replaced));
    }

    #[test]
    fn an_older_connection_whose_task_starts_late_does_not_replace_a_newer_one() {
        let registry = Registry::default();
        let id = StationId::parse("CP1").unwrap();
        let older = registry.next_connection_id();
        let newer = registry.next_connection_id();
        let (current, _) = register(&registry, &id, newer, OcppVersion::V16).unwrap();
        assert!(register(&registry, &id, older, OcppVersion::V16).is_none());
        assert_eq!(
            registry.get(&id).unwrap().connection_id,
            current.connection_id
        );
    }
}
