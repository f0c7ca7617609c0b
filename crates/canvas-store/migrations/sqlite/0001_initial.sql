-- Canvas schema, SQLite. Append-only: add a new file for every change.

CREATE TABLE organizations (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id BLOB REFERENCES organizations(id),
    allowed_cidrs TEXT NOT NULL DEFAULT '[]',
    date_created TEXT NOT NULL
);
CREATE INDEX organizations_parent ON organizations(parent_id);

CREATE TABLE accounts (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations(id),
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
    activation_token_hash BLOB UNIQUE,
    date_created TEXT NOT NULL
);
CREATE INDEX accounts_organization ON accounts(organization_id);

CREATE TABLE api_keys (
    consumer TEXT PRIMARY KEY,
    account_id BLOB NOT NULL REFERENCES accounts(id),
    secret_hash BLOB NOT NULL,
    date_created TEXT NOT NULL,
    date_revoked TEXT
);
CREATE INDEX api_keys_account ON api_keys(account_id);

CREATE TABLE reg_applications (
    id BLOB PRIMARY KEY,
    account_id BLOB NOT NULL REFERENCES accounts(id),
    application_id BLOB NOT NULL,
    tag_text TEXT NOT NULL,
    credentials BLOB NOT NULL,
    is_authenticated BOOLEAN NOT NULL,
    faulted BOOLEAN NOT NULL,
    date_modified TEXT NOT NULL,
    date_authenticated TEXT,
    date_reauth TEXT
);
CREATE INDEX reg_applications_account ON reg_applications(account_id);

CREATE TABLE templates (
    id BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    state TEXT NOT NULL,
    version TEXT,
    draft_is_committed BOOLEAN,
    date_created TEXT NOT NULL,
    date_modified TEXT NOT NULL,
    date_committed TEXT,
    applications TEXT NOT NULL,
    chain TEXT NOT NULL,
    committed TEXT
);
CREATE INDEX templates_organization ON templates(organization_id);

CREATE TABLE workflows (
    id BLOB PRIMARY KEY,
    account_id BLOB NOT NULL REFERENCES accounts(id),
    organization_id BLOB NOT NULL REFERENCES organizations(id),
    template_id BLOB,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    is_scheduled BOOLEAN NOT NULL,
    schedule_frequency TEXT,
    is_customized_structure BOOLEAN NOT NULL,
    applications TEXT NOT NULL,
    chain TEXT NOT NULL,
    date_created TEXT NOT NULL,
    date_modified TEXT NOT NULL,
    date_last_run TEXT,
    date_next_schedule TEXT,
    current_block BIGINT NOT NULL
);
CREATE INDEX workflows_account ON workflows(account_id, date_created);
CREATE INDEX workflows_next_schedule ON workflows(date_next_schedule) WHERE is_scheduled;

CREATE TABLE runs (
    id BLOB PRIMARY KEY,
    workflow_id BLOB NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    run_from BIGINT NOT NULL,
    run_till BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    date_queued TEXT NOT NULL,
    date_started TEXT,
    date_finished TEXT,
    error TEXT
);
CREATE INDEX runs_workflow ON runs(workflow_id, date_queued);
CREATE INDEX runs_status ON runs(status, date_queued);

CREATE TABLE audit_log (
    id BLOB PRIMARY KEY,
    at TEXT NOT NULL,
    organization_id BLOB NOT NULL,
    actor_account_id BLOB,
    acting_account_id BLOB,
    action TEXT NOT NULL,
    target TEXT,
    client_ip TEXT
);
CREATE INDEX audit_log_organization ON audit_log(organization_id, at);
