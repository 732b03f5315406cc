ALTER TABLE responses ALTER COLUMN id SET STATISTICS -1;
DROP INDEX responses_legacy_receipts;
ALTER TABLE responses ADD CONSTRAINT responses_receipt_hash_key UNIQUE (receipt_hash);
CREATE INDEX responses_by_survey ON responses (survey_slug, id);
ALTER TABLE responses DROP CONSTRAINT responses_pkey;
ALTER TABLE responses ADD PRIMARY KEY (id);
