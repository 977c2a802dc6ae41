//! Backend-neutral statements and rows.
//!
//! Every statement is written once, with `$1`-style placeholders that both PostgreSQL and
//! SQLite understand (SQLite reads them as named parameters), and carries its arguments as
//! plain values; each backend binds them to its own driver. Rows come back as a [`Row`] that
//! decodes a column whichever database produced it.

use std::borrow::Cow;

use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row as _, Type};

use crate::sqlite::LocalRow;

/// One argument of a statement.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// Text, or a typed NULL.
    Text(Option<String>),
    /// A 64-bit integer, or a typed NULL.
    Int(Option<i64>),
    /// A double, or a typed NULL.
    Real(Option<f64>),
    /// A boolean (an integer 0/1 on SQLite).
    Bool(bool),
}

/// A statement and its arguments, in placeholder order.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    /// The SQL text.
    pub(crate) sql: Cow<'static, str>,
    /// `$1`, `$2`, … in order.
    pub(crate) args: Vec<Arg>,
}

impl Query {
    /// A statement with fixed text.
    pub(crate) fn new(sql: &'static str) -> Query {
        Query::with_capacity(sql, 0)
    }

    /// A statement with fixed text and room for `args` arguments from the start: for those
    /// built for every frame, whose argument vector otherwise grew (and was copied) four times.
    pub(crate) fn with_capacity(sql: &'static str, args: usize) -> Query {
        Query {
            sql: Cow::Borrowed(sql),
            args: Vec::with_capacity(args),
        }
    }

    /// Adds an argument.
    pub(crate) fn arg(mut self, arg: Arg) -> Query {
        self.args.push(arg);
        self
    }

    /// Adds a text argument.
    pub(crate) fn text(self, value: impl Into<String>) -> Query {
        self.arg(Arg::Text(Some(value.into())))
    }

    /// Adds a nullable text argument.
    pub(crate) fn opt_text<S: Into<String>>(self, value: Option<S>) -> Query {
        self.arg(Arg::Text(value.map(Into::into)))
    }

    /// Adds an integer argument.
    pub(crate) fn int(self, value: i64) -> Query {
        self.arg(Arg::Int(Some(value)))
    }

    /// Adds a nullable integer argument.
    pub(crate) fn opt_int(self, value: Option<i64>) -> Query {
        self.arg(Arg::Int(value))
    }

    /// Adds a nullable double argument.
    pub(crate) fn opt_real(self, value: Option<f64>) -> Query {
        self.arg(Arg::Real(value))
    }

    /// Adds a boolean argument.
    pub(crate) fn bool(self, value: bool) -> Query {
        self.arg(Arg::Bool(value))
    }
}

/// Binds a [`Query`]'s arguments to a sqlx query of either driver.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::engine::query::Arg::Text(value) => query.bind(value),
                $crate::engine::query::Arg::Int(value) => query.bind(value),
                $crate::engine::query::Arg::Real(value) => query.bind(value),
                $crate::engine::query::Arg::Bool(value) => query.bind(value),
            };
        }
        query
    }};
}
pub(crate) use bind_args;

/// A row from either database.
pub(crate) enum Row {
    /// From SQLite, read by rusqlite.
    Local(LocalRow),
    /// From PostgreSQL.
    Postgres(PgRow),
    /// A row that came nested in another as a JSON object (PostgreSQL's `json_agg` of rows):
    /// its members are its columns, with the values `row_to_json` gives them.
    Json(serde_json::Map<String, serde_json::Value>),
}

impl From<PgRow> for Row {
    fn from(row: PgRow) -> Row {
        Row::Postgres(row)
    }
}

impl Row {
    /// The value of `column`: PostgreSQL's driver decodes `T`, serde the other rows.
    pub(crate) fn get<T>(&self, column: &'static str) -> Result<T, sqlx::Error>
    where
        T: for<'r> Decode<'r, Postgres> + Type<Postgres> + serde::de::DeserializeOwned,
    {
        match self {
            Row::Local(row) => {
                let value = row
                    .value(column)
                    .ok_or_else(|| sqlx::Error::ColumnNotFound(column.to_owned()))?;
                T::deserialize(local_json(value)).map_err(|error| sqlx::Error::ColumnDecode {
                    index: column.to_owned(),
                    source: Box::new(error),
                })
            }
            Row::Postgres(row) => row.try_get(column),
            Row::Json(columns) => {
                let value = columns
                    .get(column)
                    .ok_or_else(|| sqlx::Error::ColumnNotFound(column.to_owned()))?;
                T::deserialize(value).map_err(|error| sqlx::Error::ColumnDecode {
                    index: column.to_owned(),
                    source: Box::new(error),
                })
            }
        }
    }

    /// A nullable blob column, its bytes taken as they are (not through a JSON array).
    pub(crate) fn opt_bytes(&self, column: &'static str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        match self {
            Row::Local(row) => match row.value(column) {
                Some(rusqlite::types::Value::Blob(bytes)) => Ok(Some(bytes.clone())),
                Some(rusqlite::types::Value::Null) => Ok(None),
                Some(_) => Err(sqlx::Error::ColumnDecode {
                    index: column.to_owned(),
                    source: "not a blob".into(),
                }),
                None => Err(sqlx::Error::ColumnNotFound(column.to_owned())),
            },
            Row::Postgres(_) | Row::Json(_) => self.get(column),
        }
    }

    /// A boolean column: `BOOLEAN` on PostgreSQL, an `INTEGER` that must be 0 or 1 on SQLite.
    pub(crate) fn flag(&self, column: &'static str) -> Result<Result<bool, i64>, sqlx::Error> {
        match self {
            Row::Local(_) => Ok(match self.get::<i64>(column)? {
                0 => Ok(false),
                1 => Ok(true),
                other => Err(other),
            }),
            Row::Postgres(row) => Ok(Ok(row.try_get(column)?)),
            Row::Json(_) => Ok(Ok(self.get(column)?)),
        }
    }
}

/// A SQLite value as the JSON value whose decoding matches sqlx's: integers and reals as
/// numbers (a real that is not finite as null), text as a string, a blob as its bytes.
fn local_json(value: &rusqlite::types::Value) -> serde_json::Value {
    use rusqlite::types::Value;
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Integer(number) => serde_json::Value::from(*number),
        Value::Real(number) => serde_json::Number::from_f64(*number)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Text(text) => serde_json::Value::String(text.clone()),
        Value::Blob(bytes) => serde_json::Value::from(bytes.clone()),
    }
}
