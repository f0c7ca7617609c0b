-- A scheduled run remembers the fire it belongs to; the unique index makes
-- one run per (workflow, fire time), however many nodes fire.
ALTER TABLE runs ADD COLUMN fire_time TEXT;
CREATE UNIQUE INDEX runs_one_per_fire ON runs(workflow_id, fire_time) WHERE fire_time IS NOT NULL;
