//! PostgreSQL's read connections (SQLite's are `crate::sqlite::reader`). A pool of our own
//! rather than sqlx's: sqlx pings every connection it takes back (a second round trip per
//! read), and in a reconnect storm every connecting charger is read. Generic over the sqlx
//! connection; its tests use SQLite's.
//!
//! A connection goes back only after its read succeeded; one whose read failed or was
//! abandoned half-way is dropped, and the next read opens another.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::StoreError;

/// How long a read waits for a free connection before failing (transiently).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// At most `size` connections, opened when needed and kept.
pub(crate) struct ReadPool<C: sqlx::Connection> {
    idle: Mutex<Vec<Idle<C>>>,
    permits: Semaphore,
    connect: <C as sqlx::Connection>::Options,
    /// A connection idle longer than this is pinged before use (`None`: never).
    ping_when_idle: Option<Duration>,
}

struct Idle<C> {
    conn: C,
    since: Instant,
}

impl<C: sqlx::Connection> ReadPool<C> {
    /// Opens the first connection now, so that a database that cannot be read fails at start.
    pub(crate) async fn open(
        connect: <C as sqlx::Connection>::Options,
        size: u32,
        ping_when_idle: Option<Duration>,
    ) -> Result<Self, StoreError> {
        let first = connect.connect().await?;
        Ok(ReadPool {
            idle: Mutex::new(vec![Idle {
                conn: first,
                since: Instant::now(),
            }]),
            permits: Semaphore::new(size.max(1) as usize),
            connect,
            ping_when_idle,
        })
    }

    /// A connection for one read: the one given back last (so that connections a quiet hour
    /// does not need stay idle, and are pinged when next used), else a new one.
    pub(crate) async fn acquire(&self) -> Result<Lease<'_, C>, StoreError> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let idle = self.lock().pop();
            let Some(Idle { mut conn, since }) = idle else {
                let conn = self.connect.connect().await?;
                return Ok(Lease::new(self, conn, permit));
            };
            if self
                .ping_when_idle
                .is_some_and(|limit| since.elapsed() > limit)
                && let Err(error) = conn.ping().await
            {
                tracing::debug!(%error, "an idle read connection failed its ping; dropped");
                continue;
            }
            return Ok(Lease::new(self, conn, permit));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle<C>>> {
        // The list is only pushed to and popped from: a panic elsewhere cannot leave it torn.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One connection lent for one read; dropped with it unless [`Lease::release`]d.
pub(crate) struct Lease<'a, C: sqlx::Connection> {
    pool: &'a ReadPool<C>,
    conn: C,
    _permit: SemaphorePermit<'a>,
}

impl<'a, C: sqlx::Connection> Lease<'a, C> {
    fn new(pool: &'a ReadPool<C>, conn: C, permit: SemaphorePermit<'a>) -> Self {
        Lease {
            pool,
            conn,
            _permit: permit,
        }
    }

    /// The connection.
    pub(crate) fn conn(&mut self) -> &mut C {
        &mut self.conn
    }

    /// Gives the connection back after a read that succeeded.
    pub(crate) fn release(self) {
        let Lease {
            pool,
            conn,
            _permit,
        } = self;
        pool.lock().push(Idle {
            conn,
            since: Instant::now(),
        });
    }
}

#[cfg(test)]
mod tests {
    use sqlx::SqliteConnection;
    use sqlx::sqlite::SqliteConnectOptions;

    use super::*;

    fn options() -> SqliteConnectOptions {
        "sqlite::memory:".parse().unwrap()
    }

    fn idle(pool: &ReadPool<SqliteConnection>) -> usize {
        pool.lock().len()
    }

    #[tokio::test]
    async fn a_released_connection_is_reused_and_a_dropped_one_replaced() {
        let pool = ReadPool::<SqliteConnection>::open(options(), 2, None)
            .await
            .unwrap();
        assert_eq!(idle(&pool), 1);

        let mut lease = pool.acquire().await.unwrap();
        sqlx::query("CREATE TEMP TABLE marker (x)")
            .execute(lease.conn())
            .await
            .unwrap();
        lease.release();
        assert_eq!(idle(&pool), 1);
        // The same connection again: its temporary table is there.
        let mut lease = pool.acquire().await.unwrap();
        sqlx::query("SELECT x FROM marker")
            .fetch_all(lease.conn())
            .await
            .unwrap();
        drop(lease);
        assert_eq!(
            idle(&pool),
            0,
            "a lease not released takes its connection along"
        );

        let mut lease = pool.acquire().await.unwrap();
        let missing = sqlx::query("SELECT x FROM marker")
            .fetch_all(lease.conn())
            .await;
        assert!(missing.is_err(), "a new connection has no temporary table");
        lease.release();
        assert_eq!(idle(&pool), 1);
    }

    #[tokio::test]
    async fn reads_wait_for_a_free_connection() {
        let pool = ReadPool::<SqliteConnection>::open(options(), 1, None)
            .await
            .unwrap();
        let held = pool.acquire().await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(50), pool.acquire()).await;
        assert!(
            waiting.is_err(),
            "a second read waits while the only connection is lent"
        );
        held.release();
        let lease = tokio::time::timeout(Duration::from_secs(5), pool.acquire())
            .await
            .expect("the connection came back")
            .unwrap();
        lease.release();
        assert_eq!(idle(&pool), 1);
    }
}
