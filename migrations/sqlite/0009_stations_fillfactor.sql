-- Nothing to change in SQLite, which updates a row in its page: PostgreSQL's
-- migrations/postgres/0009_stations_fillfactor.sql leaves room on the pages of `stations` for
-- the `last_seen_at` updates. Kept so that both engines' migrations have the same numbers.
SELECT 1;
