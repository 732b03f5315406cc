-- Frozen report snapshots: released (disclosure-controlled) tables only, never a true count.
-- members holds sorted 8-byte keyed hashes of the included responses, unlinkable without the
-- steward's passphrase, so the next snapshot can tell how many responses changed.
CREATE TABLE snapshots (
    id TEXT PRIMARY KEY NOT NULL,
    survey_slug TEXT NOT NULL,
    survey_version INTEGER NOT NULL,
    through_month TEXT NOT NULL,
    spec TEXT NOT NULL,
    n BIGINT NOT NULL,
    verified_n BIGINT NOT NULL,
    synthetic BOOLEAN NOT NULL,
    created TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    tables TEXT NOT NULL,
    members BYTEA NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('private', 'published', 'retracted')),
    published TEXT,
    retracted TEXT
);
CREATE INDEX snapshots_by_survey ON snapshots (survey_slug, created_at);
