-- The report keypair: the public half in the clear, the private half only sealed under the
-- steward's passphrase (Argon2id parameters and salt in kdf, bound as associated data).
CREATE TABLE report_keys (
    id TEXT PRIMARY KEY NOT NULL,
    public_key BLOB NOT NULL,
    sealed_private_key BLOB NOT NULL,
    kdf TEXT NOT NULL,
    created_month TEXT NOT NULL,
    -- 1 for the first key, then 2, 3 … at each rotation: report secrets derive from key 1.
    ordinal INTEGER NOT NULL UNIQUE,
    active BOOLEAN NOT NULL
);
-- Epoch data keys, stored only wrapped (HPKE) to a report public key.
CREATE TABLE epochs (
    id TEXT PRIMARY KEY NOT NULL,
    report_key_id TEXT NOT NULL REFERENCES report_keys (id),
    wrapped_key BLOB NOT NULL,
    month TEXT NOT NULL
) WITHOUT ROWID;
-- Sealed answers. The id is random, the month is the only time; on SQLite the table has no rowid,
-- so the physical order follows the random id, not the order of arrival.
CREATE TABLE responses (
    id TEXT PRIMARY KEY NOT NULL,
    survey_slug TEXT NOT NULL,
    survey_version INTEGER NOT NULL,
    month TEXT NOT NULL,
    epoch_id TEXT NOT NULL REFERENCES epochs (id),
    sealed BLOB NOT NULL,
    receipt_hash BLOB UNIQUE,
    synthetic BOOLEAN NOT NULL DEFAULT FALSE,
    verified BOOLEAN NOT NULL DEFAULT FALSE
) WITHOUT ROWID;
-- (slug, id): a report pages through one survey in id order; (slug, month) would make every page re-sort.
CREATE INDEX responses_by_survey ON responses (survey_slug, id);
