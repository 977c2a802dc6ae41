//! Several data-modifying statements sent as one: every part but the last becomes a `WITH`
//! query of the last. PostgreSQL runs each such query once and to completion whether or not
//! anything reads its result, all parts on the same snapshot, so parts must touch different
//! tables (the writer's parts do: sessions, connectors, events, readings, frame batches). One
//! statement is one round trip to the server, which on a busy node costs more than the inserts.

use std::fmt::Write as _;

use sqlx::postgres::PgArguments;
use sqlx::{Arguments, Encode, PgConnection, Postgres, Type};

use crate::StoreError;

/// A statement being assembled: each part is written with its own `$1`, `$2`, … and its
/// arguments are bound right after it.
#[derive(Default)]
pub(super) struct Combined {
    parts: Vec<String>,
    args: PgArguments,
}

impl Combined {
    /// Adds a statement whose parameters are the next ones bound.
    pub(super) fn part(&mut self, sql: &str) {
        self.parts.push(renumber(sql, self.args.len()));
    }

    /// Binds the next parameter.
    pub(super) fn bind<T>(&mut self, value: T) -> Result<(), StoreError>
    where
        T: for<'q> Encode<'q, Postgres> + Type<Postgres>,
    {
        Arguments::add(&mut self.args, value)
            .map_err(|error| StoreError::Database(sqlx::Error::Encode(error)))
    }

    /// The statement's text.
    fn sql(&self) -> Option<String> {
        let (last, before) = self.parts.split_last()?;
        if before.is_empty() {
            return Some(last.clone());
        }
        let mut sql = String::from("WITH ");
        for (n, part) in before.iter().enumerate() {
            if n > 0 {
                sql.push_str(", ");
            }
            // Writing to a String cannot fail.
            let _ = write!(sql, "part{n} AS ({part})");
        }
        sql.push(' ');
        sql.push_str(last);
        Some(sql)
    }

    /// Runs the statement; nothing when no part was added.
    pub(super) async fn execute(self, conn: &mut PgConnection) -> Result<(), StoreError> {
        let Some(sql) = self.sql() else {
            return Ok(());
        };
        sqlx::query_with(&sql, self.args).execute(conn).await?;
        Ok(())
    }
}

/// `sql` with each `$N` moved to `$N+offset`. The writer's statements hold `$` only in
/// parameters (no dollar quoting, no `$` in a literal).
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + sql.len() / 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        // A `$` without a number stays as it is.
        if let Ok(number) = rest[..digits].parse::<usize>() {
            let _ = write!(out, "{}", number + offset);
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_move_past_those_of_earlier_parts() {
        assert_eq!(
            renumber("VALUES ($1, $2::text[])", 0),
            "VALUES ($1, $2::text[])"
        );
        assert_eq!(
            renumber("UNNEST($1::text[], $10::int8[]) WHERE a = $2", 5),
            "UNNEST($6::text[], $15::int8[]) WHERE a = $7"
        );
        assert_eq!(renumber("a $ b $x $3", 2), "a $ b $x $5");
    }

    #[test]
    fn parts_before_the_last_become_with_queries() {
        let mut statement = Combined::default();
        assert_eq!(statement.sql(), None);
        statement.part("INSERT INTO a SELECT * FROM UNNEST($1::text[])");
        statement.bind(vec!["x".to_owned()]).unwrap();
        assert_eq!(
            statement.sql().unwrap(),
            "INSERT INTO a SELECT * FROM UNNEST($1::text[])"
        );
        statement.part("INSERT INTO b SELECT * FROM UNNEST($1::text[], $2::int8[])");
        statement.bind(vec!["y".to_owned()]).unwrap();
        statement.bind(vec![1_i64]).unwrap();
        statement.part("INSERT INTO c VALUES ($1)");
        statement.bind(3_i64).unwrap();
        assert_eq!(
            statement.sql().unwrap(),
            "WITH part0 AS (INSERT INTO a SELECT * FROM UNNEST($1::text[])), \
             part1 AS (INSERT INTO b SELECT * FROM UNNEST($2::text[], $3::int8[])) \
             INSERT INTO c VALUES ($4)"
        );
    }
}
