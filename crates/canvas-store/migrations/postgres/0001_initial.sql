-- Canvas schema, PostgreSQL. Append-only: add a new file for every change.

CREATE TABLE organizations (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id UUID REFERENCES organizations(id),
    allowed_cidrs TEXT NOT NULL DEFAULT '[]',
    date_created TIMESTAMPTZ NOT NULL
);
CREATE INDEX organizations_parent ON organizations(parent_id);

CREATE TABLE accounts (
    id UUID PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations(id),
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    phone TEXT,
    role TEXT NOT NULL,
    country_key TEXT,
    global_notifications BOOLEAN NOT NULL,
    default_notification_email TEXT,
    active BOOLEAN NOT NULL,
    activation_token_hash BYTEA UNIQUE,
    date_created TIMESTAMPTZ NOT NULL
);
CREATE INDEX accounts_organization ON accounts(organization_id);

CREATE TABLE api_keys (
    consumer TEXT PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES accounts(id),
    secret_hash BYTEA NOT NULL,
    date_created TIMESTAMPTZ NOT NULL,
    date_revoked TIMESTAMPTZ
);
CREATE INDEX api_keys_account ON api_keys(account_id);

CREATE TABLE reg_applications (
    id UUID PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES accounts(id),
    application_id UUID NOT NULL,
    tag_text TEXT NOT NULL,
    credentials BYTEA NOT NULL,
    is_authenticated BOOLEAN NOT NULL,
    faulted BOOLEAN NOT NULL,
    date_modified TIMESTAMPTZ NOT NULL,
    date_authenticated TIMESTAMPTZ,
    date_reauth TIMESTAMPTZ
);
CREATE INDEX reg_applications_account ON reg_applications(account_id);

CREATE TABLE templates (
    id UUID PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    state TEXT NOT NULL,
    version TEXT,
    draft_is_committed BOOLEAN,
    date_created TIMESTAMPTZ NOT NULL,
    date_modified TIMESTAMPTZ NOT NULL,
    date_committed TIMESTAMPTZ,
    applications TEXT NOT NULL,
    chain TEXT NOT NULL,
    committed TEXT
);
CREATE INDEX templates_organization ON templates(organization_id);

CREATE TABLE workflows (
    id UUID PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES accounts(id),
    organization_id UUID NOT NULL REFERENCES organizations(id),
    template_id UUID,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    is_scheduled BOOLEAN NOT NULL,
    schedule_frequency TEXT,
    is_customized_structure BOOLEAN NOT NULL,
    applications TEXT NOT NULL,
    chain TEXT NOT NULL,
    date_created TIMESTAMPTZ NOT NULL,
    date_modified TIMESTAMPTZ NOT NULL,
    date_last_run TIMESTAMPTZ,
    date_next_schedule TIMESTAMPTZ,
    current_block BIGINT NOT NULL
);
CREATE INDEX workflows_account ON workflows(account_id, date_created);
CREATE INDEX workflows_next_schedule ON workflows(date_next_schedule) WHERE is_scheduled;

CREATE TABLE runs (
    id UUID PRIMARY KEY,
    workflow_id UUID NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    run_from BIGINT NOT NULL,
    run_till BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    date_queued TIMESTAMPTZ NOT NULL,
    date_started TIMESTAMPTZ,
    date_finished TIMESTAMPTZ,
    error TEXT
);
CREATE INDEX runs_workflow ON runs(workflow_id, date_queued);
CREATE INDEX runs_status ON runs(status, date_queued);

CREATE TABLE audit_log (
    id UUID PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    organization_id UUID NOT NULL,
    actor_account_id UUID,
    acting_account_id UUID,
    action TEXT NOT NULL,
    target TEXT,
    client_ip TEXT
);
CREATE INDEX audit_log_organization ON audit_log(organization_id, at);
