//! Fresh databases for tests (feature `test-support`): a SQLite file in a temporary directory,
//! or a PostgreSQL database `zaryad_test_<random>` created for one test and dropped after it.
//!
//! PostgreSQL is found through `ZARYAD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, trust auth). When it cannot be reached, a
//! test skips (prints so and returns) unless `CI` is set, where it fails: CI must run both.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// The variable naming the PostgreSQL server tests create their databases on.
pub const POSTGRES_URL_VAR: &str = "ZARYAD_TEST_POSTGRES_URL";

/// Where tests look for PostgreSQL when [`POSTGRES_URL_VAR`] is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long connecting to the test server may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which database engine a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl Engine {
    /// Both engines, for tests that run once per engine.
    pub const ALL: [Engine; 2] = [Engine::Sqlite, Engine::Postgres];

    /// The engine's name, for test output.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// A database that exists for one test; a PostgreSQL one is dropped when this is dropped.
pub struct TestDatabase {
    engine: Engine,
    url: String,
    dir: tempfile::TempDir,
    /// The server URL and the database name, for dropping it.
    postgres: Option<(String, String)>,
}

/// True when running under CI, where a test must not skip for want of PostgreSQL.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
}

impl TestDatabase {
    /// A fresh database of `engine`; `None` (after printing why) when it is PostgreSQL and the
    /// server cannot be reached outside CI.
    ///
    /// # Panics
    /// Under CI when PostgreSQL cannot be reached, and when a temporary directory cannot be
    /// created: a test cannot go on either way.
    pub async fn new(engine: Engine) -> Option<TestDatabase> {
        match engine {
            Engine::Sqlite => Some(TestDatabase::sqlite()),
            Engine::Postgres => TestDatabase::postgres().await,
        }
    }

    /// A SQLite file in a new temporary directory (in a nested directory, which the store
    /// must create).
    ///
    /// # Panics
    /// When the temporary directory cannot be created.
    pub fn sqlite() -> TestDatabase {
        let dir = temp_dir();
        let url = format!("sqlite://{}/nested/dir/zaryad.db", dir.path().display());
        TestDatabase {
            engine: Engine::Sqlite,
            url,
            dir,
            postgres: None,
        }
    }

    /// A new, empty PostgreSQL database; see [`TestDatabase::new`].
    ///
    /// # Panics
    /// Under CI when PostgreSQL cannot be reached, or when creating the database fails.
    pub async fn postgres() -> Option<TestDatabase> {
        let server =
            std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let mut admin = match connect(&server).await {
            Ok(conn) => conn,
            Err(error) if !in_ci() => {
                eprintln!(
                    "skipped: PostgreSQL at {} is not reachable ({error}); set {POSTGRES_URL_VAR} \
                     or start it (CI=true makes this a failure)",
                    crate::redact_url(&server)
                );
                return None;
            }
            Err(error) => panic!(
                "CI: PostgreSQL at {} is not reachable: {error}",
                crate::redact_url(&server)
            ),
        };
        let name = format!("zaryad_test_{}", uuid::Uuid::new_v4().simple());
        if let Err(error) =
            sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE \"{name}\"").as_str())
                .await
        {
            panic!("creating the test database {name} failed: {error}");
        }
        let _ = admin.close().await;
        Some(TestDatabase {
            engine: Engine::Postgres,
            url: with_database(&server, &name),
            dir: temp_dir(),
            postgres: Some((server, name)),
        })
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The database URL, for `StoreOptions::url` or `ZARYAD_DATABASE__URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A temporary directory that lives as long as the database (for other files of a test).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Runs `sql` on its own connection, behind the store's back (tests that corrupt rows).
    pub async fn execute(&self, sql: &str) -> Result<(), sqlx::Error> {
        match self.engine {
            Engine::Sqlite => {
                let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)?
                    .connect()
                    .await?;
                sqlx::Executor::execute(&mut conn, sql).await?;
                conn.close().await
            }
            Engine::Postgres => {
                let mut conn = connect(&self.url).await?;
                sqlx::Executor::execute(&mut conn, sql).await?;
                conn.close().await
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // with a small runtime does the dropping, and the test waits for it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = connect(&server).await?;
                // FORCE ends the store's connections that are still closing.
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                sqlx::Executor::execute(&mut admin, sql.as_str()).await?;
                admin.close().await
            })?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("dropping a test database failed: {error}");
        }
    }
}

fn temp_dir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("creating a temporary directory failed: {error}"),
    }
}

async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(connected) => connected,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// `url` with its database (the path) replaced by `name`, keeping any query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let prefix = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
