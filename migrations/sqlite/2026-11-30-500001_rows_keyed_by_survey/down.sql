CREATE TABLE responses_by_id (
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
INSERT INTO responses_by_id SELECT id, survey_slug, survey_version, month, epoch_id, sealed, receipt_hash, synthetic, verified FROM responses ORDER BY random();
DROP TABLE responses;
ALTER TABLE responses_by_id RENAME TO responses;
CREATE INDEX responses_by_survey ON responses (survey_slug, id);
