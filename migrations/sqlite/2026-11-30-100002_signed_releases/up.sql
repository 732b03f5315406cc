-- The organisation's release-signing keys (Ed25519). The private key is HPKE-sealed to the report
-- public key, so it opens only in a release run; public keys stay listed after rotation, with the
-- days they were valid, so old signatures remain checkable.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY NOT NULL,
    public_key TEXT NOT NULL,
    report_key_id TEXT NOT NULL REFERENCES report_keys(id),
    wrapped_key BLOB NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT,
    active BOOLEAN NOT NULL
);

-- A release's English JSON and CSV as published and signed, byte for byte, with their SHA-256s (for
-- the verification page) and signatures; what a retraction says and what replaced it; the figures
-- an admin chose for the fact sheet.
ALTER TABLE snapshots ADD COLUMN doc_json TEXT NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN doc_csv TEXT NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN json_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN csv_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN sig_json TEXT NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN sig_csv TEXT NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN signing_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN retract_reason TEXT;
ALTER TABLE snapshots ADD COLUMN replaced_by TEXT;
ALTER TABLE snapshots ADD COLUMN headlines TEXT NOT NULL DEFAULT '[]';
CREATE INDEX snapshots_by_json_sha256 ON snapshots (json_sha256);
CREATE INDEX snapshots_by_csv_sha256 ON snapshots (csv_sha256);
