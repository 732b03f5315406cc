ALTER TABLE surveys DROP COLUMN testing;
UPDATE surveys SET status = 'closed' WHERE status = 'draft';
ALTER TABLE surveys DROP CONSTRAINT IF EXISTS surveys_status_check;
ALTER TABLE surveys ADD CONSTRAINT surveys_status_check CHECK (status IN ('open', 'closed'));
