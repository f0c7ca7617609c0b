-- A small block output (NDJSON, up to 64 KiB) is kept in its block's
-- record, written in the same statement that records the block complete:
-- no file per output, and the output is durable when the record is.
-- Larger outputs stay in the blob store under `output_key`.
ALTER TABLE run_blocks ADD COLUMN output BYTEA;
