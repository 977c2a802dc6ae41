-- Room on each page of `stations` for a newer version of its rows. The writer moves
-- `last_seen_at` of every station heard from in the last interval (10 s by default); on full
-- pages PostgreSQL writes each such version to another page with a new primary-key entry, and
-- the table grows by its own size per round until it is vacuumed (10,000 stations: 95 % of
-- those updates, the table 16 MB after one minute). With half of each page free the update
-- stays on its page and leaves the index alone (HOT), and the page's dead versions are
-- reclaimed the next time it is read (the same minute: 100 %, 5 MB). Pages written before
-- keep their layout until `VACUUM FULL stations` rewrites them. SQLite updates rows in place:
-- migrations/sqlite/0009_stations_fillfactor.sql changes nothing.
ALTER TABLE stations SET (fillfactor = 50);
