-- Claims take turns between organizations and between the accounts within
-- one: a run knows its workflow's account and organization, and the queue
-- finds each one's queued and running runs through an index.
ALTER TABLE runs ADD COLUMN organization_id BLOB;
ALTER TABLE runs ADD COLUMN account_id BLOB;
UPDATE runs SET account_id = (SELECT w.account_id FROM workflows w WHERE w.id = runs.workflow_id);
UPDATE runs SET organization_id = (SELECT a.organization_id FROM accounts a WHERE a.id = runs.account_id);
CREATE INDEX runs_queued_by_org ON runs(organization_id, date_queued) WHERE status = 'Queued';
CREATE INDEX runs_queued_by_account ON runs(organization_id, account_id, date_queued) WHERE status = 'Queued';
CREATE INDEX runs_running_by_org ON runs(organization_id, account_id) WHERE status = 'Running';
-- Who was served last: organizations and accounts at the same load take turns.
CREATE INDEX runs_started_by_org ON runs(organization_id, date_started);
CREATE INDEX runs_started_by_account ON runs(account_id, date_started);
