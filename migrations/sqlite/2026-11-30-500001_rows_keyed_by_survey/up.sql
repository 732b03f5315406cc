-- One B-tree per answer instead of three. Rows are keyed (survey, id): a report reads one survey's
-- range in key order and a withdrawal finds its row by key, because an answer's id is now derived
-- from its receipt (src/intake/receipt.rs). The separate (survey, id) index goes, and the unique
-- receipt_hash index keeps only rows stored before this change (new rows leave receipt_hash NULL):
-- each of those indexes took every answer at a random leaf, so every commit rewrote three random
-- pages per answer (docs/benchmarks.md). Ids stay random to anyone without the receipt, so the
-- physical order still says nothing of arrival. Stored ids do not change: they are bound into each
-- sealed answer's associated data.
CREATE TABLE responses_keyed (
    id TEXT NOT NULL,
    survey_slug TEXT NOT NULL,
    survey_version INTEGER NOT NULL,
    month TEXT NOT NULL,
    epoch_id TEXT NOT NULL REFERENCES epochs (id),
    sealed BLOB NOT NULL,
    receipt_hash BLOB,
    synthetic BOOLEAN NOT NULL DEFAULT FALSE,
    verified BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (survey_slug, id)
) WITHOUT ROWID;
INSERT INTO responses_keyed SELECT id, survey_slug, survey_version, month, epoch_id, sealed, receipt_hash, synthetic, verified FROM responses ORDER BY random();
DROP TABLE responses;
ALTER TABLE responses_keyed RENAME TO responses;
CREATE UNIQUE INDEX responses_legacy_receipts ON responses (receipt_hash) WHERE receipt_hash IS NOT NULL;
