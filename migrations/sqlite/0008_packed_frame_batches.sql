-- Frame-log batches stored compressed: `packed` holds the batch's JSON array (the form
-- `frames` holds) compressed with zstd, and `frames` is then ''. Uncompressed, the frame log
-- was three fifths of the database; a full batch shrinks about twelvefold (see
-- crates/store/src/engine/frame_log.rs). Rows stored before keep their JSON in `frames` and
-- `packed` NULL, and are read as they are. The same change as
-- migrations/postgres/0008_packed_frame_batches.sql.
ALTER TABLE frame_batches ADD COLUMN packed BLOB;
