-- The runs list (GET /api/Runs, the console): an account's runs newest
-- first, and a workflow's runs by status.
CREATE INDEX runs_by_account ON runs(account_id, date_queued DESC, id DESC);
CREATE INDEX runs_by_workflow_status ON runs(workflow_id, status, date_queued);
