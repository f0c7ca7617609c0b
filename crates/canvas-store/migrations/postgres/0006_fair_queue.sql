-- Claims take turns between organizations: a run knows its workflow's
-- organization, and the queue finds each organization's queued and running
-- runs through an index.
ALTER TABLE runs ADD COLUMN organization_id UUID;
UPDATE runs SET organization_id = (
    SELECT a.organization_id FROM workflows w JOIN accounts a ON a.id = w.account_id
    WHERE w.id = runs.workflow_id
);
CREATE INDEX runs_queued_by_org ON runs(organization_id, date_queued) WHERE status = 'Queued';
CREATE INDEX runs_running_by_org ON runs(organization_id) WHERE status = 'Running';
