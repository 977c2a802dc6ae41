//! What the backends do with their sqlx driver: PostgreSQL's reads through the read pool, and
//! the writer's connection kept alive. Written as macros where both drivers share it, because
//! sqlx's drivers share no trait that covers binding arguments and counting affected rows.

use super::query::{Query, Row, bind_args};
use super::read::Reader;
use super::read_pool::ReadPool;
use crate::StoreError;

/// The writer's connection and the options that reopen it.
pub(crate) struct SqlConn<C: sqlx::Connection> {
    /// The connection.
    pub(crate) conn: C,
    /// How it was opened.
    pub(crate) connect: <C as sqlx::Connection>::Options,
}

// SQLite's reads go through rusqlite (`crate::sqlite::reader`).
#[async_trait::async_trait]
impl Reader for ReadPool<sqlx::PgConnection> {
    fn nests_rows(&self) -> bool {
        true
    }

    async fn fetch_all(&self, query: Query) -> Result<Vec<Row>, StoreError> {
        let mut lease = self.acquire().await?;
        let rows = bind_args!(sqlx::query(query.sql.as_ref()), query.args)
            .fetch_all(lease.conn())
            .await?;
        lease.release();
        Ok(rows.into_iter().map(Row::from).collect())
    }

    async fn fetch_optional(&self, query: Query) -> Result<Option<Row>, StoreError> {
        let mut lease = self.acquire().await?;
        let row = bind_args!(sqlx::query(query.sql.as_ref()), query.args)
            .fetch_optional(lease.conn())
            .await?;
        lease.release();
        Ok(row.map(Row::from))
    }
}

/// Implements [`super::writer::WriteConn`] for a `SqlConn` of one driver: the items given
/// (the backend's constants and batch inserts) plus the methods both drivers share.
macro_rules! impl_write_conn {
    ($conn:ty, { $($items:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::engine::writer::WriteConn for $conn {
            $($items)*

            async fn control(&mut self, sql: &'static str) -> Result<(), $crate::StoreError> {
                // A bare `&str` goes through the simple protocol: nothing to prepare or cache.
                sqlx::Executor::execute(&mut self.conn, sql).await?;
                Ok(())
            }

            async fn execute(
                &mut self,
                query: $crate::engine::query::Query,
            ) -> Result<u64, $crate::StoreError> {
                let done = $crate::engine::query::bind_args!(
                    sqlx::query(query.sql.as_ref()),
                    query.args
                )
                .execute(&mut self.conn)
                .await?;
                Ok(done.rows_affected())
            }

            async fn fetch_int(
                &mut self,
                query: $crate::engine::query::Query,
            ) -> Result<Option<i64>, $crate::StoreError> {
                let row = $crate::engine::query::bind_args!(
                    sqlx::query(query.sql.as_ref()),
                    query.args
                )
                .fetch_optional(&mut self.conn)
                .await?;
                Ok(row.map(|row| sqlx::Row::try_get::<i64, _>(&row, 0)).transpose()?)
            }

            async fn ping(&mut self) -> bool {
                sqlx::Connection::ping(&mut self.conn).await.is_ok()
            }

            async fn reconnect(&mut self) -> Result<(), $crate::StoreError> {
                let conn = sqlx::ConnectOptions::connect(&self.connect).await?;
                let broken = std::mem::replace(&mut self.conn, conn);
                let _ = sqlx::Connection::close_hard(broken).await;
                Ok(())
            }

            async fn close(self) {
                if let Err(error) = sqlx::Connection::close(self.conn).await {
                    tracing::warn!(%error, "closing the database writer connection failed");
                }
            }
        }
    };
}
pub(crate) use impl_write_conn;
