-- The queue's claim looks only at active runs; history must not slow it down.
CREATE INDEX runs_active ON runs(workflow_id, date_queued) WHERE status IN ('Queued', 'Running');
CREATE INDEX runs_queued ON runs(date_queued) WHERE status = 'Queued';
