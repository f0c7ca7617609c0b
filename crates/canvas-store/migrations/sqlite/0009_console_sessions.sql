-- Console sign-ins: a session token (kept only as its keyed hash) stands
-- for the API key it was made from, until it expires or is signed out.
CREATE TABLE console_sessions (
    token_hash BLOB PRIMARY KEY,
    consumer TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);
