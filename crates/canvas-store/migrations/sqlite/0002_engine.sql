-- Run leases and per-block results (engine).

ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_expires_at TEXT;
ALTER TABLE runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
-- At most one run of a workflow executes at a time, whatever the number of workers.
CREATE UNIQUE INDEX runs_one_running ON runs(workflow_id) WHERE status = 'Running';

CREATE TABLE run_blocks (
    run_id BLOB NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    unique_block_id BLOB NOT NULL,
    block_name TEXT NOT NULL,
    status TEXT NOT NULL,
    date_started TEXT,
    date_finished TEXT,
    records_in BIGINT NOT NULL DEFAULT 0,
    records_out BIGINT NOT NULL DEFAULT 0,
    log TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    output_key TEXT,
    PRIMARY KEY (run_id, number)
);
