-- Retention reads finished runs oldest first (`expired_runs`): from this
-- index it reads one batch and stops, where it sorted every finished run
-- before. `runs_workflow` duplicated `runs_by_workflow` (0011), read either
-- way; one index fewer for every run's writes to update.
CREATE INDEX runs_finished ON runs(date_finished) WHERE status IN ('Succeeded', 'Failed', 'Cancelled');
DROP INDEX runs_workflow;
