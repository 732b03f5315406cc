-- Staff accounts. These concern staff, not respondents, so they carry full times (for timeouts,
-- backoff and accountability); nothing here refers to any respondent.
CREATE TABLE staff_users (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'researcher')),
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until BIGINT
);
-- Sessions: only a hash of the cookie's token is stored.
CREATE TABLE staff_sessions (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
-- The audit trail of staff actions. It never holds respondent data.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at);
