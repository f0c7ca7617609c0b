-- The runs list with a million runs behind it: every filter the console
-- offers reads its page from an index in the list's order (date queued,
-- then id, newest first) instead of scanning and sorting.
--   status chosen (each one its own range): (account, status, …)
--   a workflow's runs: (workflow, …); a workflow's runs of a status: (workflow, status, …)
CREATE INDEX runs_by_account_status ON runs(account_id, status, date_queued DESC, id DESC);
CREATE INDEX runs_by_workflow ON runs(workflow_id, date_queued DESC, id DESC);
DROP INDEX runs_by_workflow_status;
CREATE INDEX runs_by_workflow_status ON runs(workflow_id, status, date_queued DESC, id DESC);
