-- One index per answer instead of three: see the SQLite migration of the same name. The id is now
-- derived from the receipt, so it is a withdrawal handle like receipt_hash was, and gets no planner
-- statistics either (a withdrawn answer's id must not survive as a histogram bound in pg_statistic);
-- the same-type ALTER drops what ANALYZE has already kept.
ALTER TABLE responses DROP CONSTRAINT responses_pkey;
ALTER TABLE responses ADD PRIMARY KEY (survey_slug, id);
DROP INDEX responses_by_survey;
ALTER TABLE responses DROP CONSTRAINT responses_receipt_hash_key;
CREATE UNIQUE INDEX responses_legacy_receipts ON responses (receipt_hash) WHERE receipt_hash IS NOT NULL;
ALTER TABLE responses ALTER COLUMN id TYPE text;
ALTER TABLE responses ALTER COLUMN id SET STATISTICS 0;
