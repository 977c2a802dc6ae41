//! Which station is connected to which connection task.
//!
//! The map is guarded by a std mutex that is never held across an await: registering,
//! replacing and looking up are plain map operations.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use zaryad_model::{StationId, Timestamp};
use zaryad_wire::OcppVersion;

use super::commands::CommandRequest;

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
    /// What the task and the rest of the server share, in one allocation: every connected
    /// charger holds one.
    live: Arc<Live>,
}

/// The shared state of one connection.
#[derive(Debug)]
struct Live {
    /// Set (with `close`'s waiters woken) to ask the task to close.
    close: Flag,
    /// The reason given with the first close request.
    close_reason: Mutex<Option<CloseReason>>,
    /// Set by the task when it has finished all its writes.
    finished: Flag,
    /// Milliseconds since the epoch of the last frame from the charger.
    last_seen_ms: AtomicI64,
    /// Operator commands waiting for the task, at most `capacity`.
    commands: Mutex<VecDeque<Box<CommandRequest>>>,
    capacity: usize,
    /// Woken with a permit for each queued command.
    queued: Notify,
}

/// A one-way switch that tasks can wait for.
#[derive(Debug, Default)]
struct Flag {
    set: AtomicBool,
    waiters: Notify,
}

impl Flag {
    fn set(&self) {
        self.set.store(true, Ordering::Release);
        self.waiters.notify_waiters();
    }

    fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    async fn wait(&self) {
        loop {
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            // Registered before the check, so a `set` between the check and the wait wakes it.
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// Why a command could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// `capacity` commands are waiting already.
    Full(usize),
    /// The connection task has ended.
    Closed,
}

impl ConnectionHandle {
    /// Asks the connection to close.
    pub fn close(&self, reason: CloseReason) {
        if let Ok(mut slot) = self.live.close_reason.lock() {
            slot.get_or_insert(reason);
        }
        self.live.close.set();
    }

    /// Resolves when the connection was asked to close.
    pub async fn close_requested(&self) {
        self.live.close.wait().await;
    }

    /// The reason given with the close request.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.live.close_reason.lock().ok().and_then(|slot| *slot)
    }

    /// Called by the connection task when it is done: commands still queued are dropped (their
    /// callers see the disconnect) and a waiting successor is released.
    pub fn mark_finished(&self) {
        self.live.finished.set();
        // Taken out under the lock, dropped after it: dropping a request wakes its caller.
        let dropped = std::mem::take(&mut *lock(&self.live.commands));
        drop(dropped);
    }

    /// Waits until the connection task is done, at most `limit`.
    pub async fn wait_finished(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.live.finished.wait())
            .await
            .is_ok()
    }

    /// Queues an operator command for the connection task.
    pub fn queue_command(&self, request: Box<CommandRequest>) -> Result<(), QueueError> {
        {
            let mut commands = lock(&self.live.commands);
            // Checked under the lock `mark_finished` drains under: nothing is queued after.
            if self.live.finished.is_set() {
                return Err(QueueError::Closed);
            }
            if commands.len() >= self.live.capacity {
                return Err(QueueError::Full(self.live.capacity));
            }
            commands.push_back(request);
        }
        self.live.queued.notify_one();
        Ok(())
    }

    /// The next queued command, without waiting.
    pub fn try_next_command(&self) -> Option<Box<CommandRequest>> {
        lock(&self.live.commands).pop_front()
    }

    /// The next queued command, when there is one. Cancel-safe: a command is taken only when
    /// the future resolves.
    pub async fn next_command(&self) -> Box<CommandRequest> {
        loop {
            if let Some(request) = self.try_next_command() {
                return request;
            }
            // One permit per queued command; one left from a command taken above only makes
            // the loop look again.
            self.live.queued.notified().await;
        }
    }

    /// Records that a frame arrived now.
    pub fn touch(&self, at: Timestamp) {
        self.live
            .last_seen_ms
            .store(at.timestamp_millis(), Ordering::Relaxed);
    }

    /// The last time a frame arrived.
    pub fn last_seen(&self) -> Option<Timestamp> {
        DateTime::<Utc>::from_timestamp_millis(self.live.last_seen_ms.load(Ordering::Relaxed))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another task panicked while holding it; the data is usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        lock(&self.connections)
    }

    /// A new connection id, taken when the upgrade is accepted: ids order a station's
    /// connections as the chargers made them, whichever connection task starts first.
    pub fn next_connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers connection `connection_id` for `station_id` with a command queue of
    /// `queue_capacity`; returns it
    /// and the one it replaces. `None` when a newer connection of the station is registered
    /// already (a charger that reconnected at once, whose older socket's task started late):
    /// the older one must close.
    pub fn register(
        &self,
        station_id: &StationId,
        connection_id: u64,
        version: OcppVersion,
        now: Timestamp,
        queue_capacity: usize,
    ) -> Option<(ConnectionHandle, Option<ConnectionHandle>)> {
        let handle = ConnectionHandle {
            connection_id,
            version,
            connected_at: now,
            live: Arc::new(Live {
                close: Flag::default(),
                close_reason: Mutex::new(None),
                finished: Flag::default(),
                last_seen_ms: AtomicI64::new(now.timestamp_millis()),
                commands: Mutex::new(VecDeque::new()),
                capacity: queue_capacity.max(1),
                queued: Notify::new(),
            }),
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

    fn register(
        registry: &Registry,
        id: &StationId,
        connection_id: u64,
        version: OcppVersion,
    ) -> Option<(ConnectionHandle, Option<ConnectionHandle>)> {
        registry.register(id, connection_id, version, Utc::now(), 1)
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

    fn request() -> (
        Box<CommandRequest>,
        tokio::sync::oneshot::Receiver<
            Result<super::super::commands::CommandAnswer, super::super::commands::CommandFailure>,
        >,
    ) {
        let command = zaryad_model::Command::ClearCache;
        let call = zaryad_adapter::encode_command(OcppVersion::V16, &command).unwrap();
        let (reply, answer) = tokio::sync::oneshot::channel();
        let request = CommandRequest {
            command,
            call,
            timeout: Duration::from_secs(1),
            reply,
        };
        (Box::new(request), answer)
    }

    /// The handle of a station's only connection, with a queue of `capacity`.
    fn connected(capacity: usize) -> ConnectionHandle {
        let registry = Registry::default();
        let id = StationId::parse("CP1").unwrap();
        let connection_id = registry.next_connection_id();
        let (handle, _) = registry
            .register(&id, connection_id, OcppVersion::V16, Utc::now(), capacity)
            .unwrap();
        handle
    }

    #[tokio::test]
    async fn commands_queue_up_to_the_capacity_and_wake_the_task() {
        let handle = connected(2);
        let task = handle.clone();
        let taken = tokio::spawn(async move { task.next_command().await.command });
        tokio::task::yield_now().await;
        handle.queue_command(request().0).unwrap();
        let command = tokio::time::timeout(Duration::from_secs(5), taken)
            .await
            .expect("the waiting task is woken")
            .unwrap();
        assert_eq!(command, zaryad_model::Command::ClearCache);
        handle.queue_command(request().0).unwrap();
        handle.queue_command(request().0).unwrap();
        assert_eq!(handle.queue_command(request().0), Err(QueueError::Full(2)));
        assert!(handle.try_next_command().is_some());
        assert!(handle.try_next_command().is_some());
        assert!(handle.try_next_command().is_none());
    }

    #[tokio::test]
    async fn a_finished_connection_drops_its_queue_and_takes_no_more() {
        let handle = connected(4);
        let (queued, answer) = request();
        handle.queue_command(queued).unwrap();
        let successor = handle.clone();
        let waiting =
            tokio::spawn(async move { successor.wait_finished(Duration::from_secs(5)).await });
        tokio::task::yield_now().await;
        handle.mark_finished();
        assert!(waiting.await.unwrap(), "the successor is released");
        assert!(
            answer.await.is_err(),
            "the queued caller sees the disconnect"
        );
        assert_eq!(handle.queue_command(request().0), Err(QueueError::Closed));
        assert!(handle.wait_finished(Duration::ZERO).await);
    }

    #[tokio::test]
    async fn a_close_request_wakes_the_task_once_and_for_all() {
        let handle = connected(1);
        let task = handle.clone();
        let closed = tokio::spawn(async move { task.close_requested().await });
        tokio::task::yield_now().await;
        handle.close(CloseReason::Deleted);
        tokio::time::timeout(Duration::from_secs(5), closed)
            .await
            .expect("woken")
            .unwrap();
        // Asked after the fact, it resolves at once.
        tokio::time::timeout(Duration::from_secs(5), handle.close_requested())
            .await
            .expect("already set");
        assert!(
            tokio::time::timeout(
                Duration::from_millis(50),
                handle.wait_finished(Duration::from_secs(1))
            )
            .await
            .is_err(),
            "closing is not finishing"
        );
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
