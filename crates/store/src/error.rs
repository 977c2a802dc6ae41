/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL or options are unusable.
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// The database refused or failed an operation; retrying may help.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("corrupt stored value in {table}.{column}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A conditional write found the row changed since it was read; nothing was written.
    #[error("conflicting change: {0}")]
    Conflict(String),
    /// The writer task is gone (the process is shutting down).
    #[error("the database writer has stopped")]
    WriterStopped,
}

impl StoreError {
    /// True when the same operation may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Database(_) | StoreError::WriterStopped)
    }
}
