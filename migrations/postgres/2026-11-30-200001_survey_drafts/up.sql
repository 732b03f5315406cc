-- Drafts (imported, not yet opened: not listed, no answers) and surveys marked for testing (the only
-- ones, with drafts, that `chorus dev seed` writes into).
ALTER TABLE surveys DROP CONSTRAINT IF EXISTS surveys_status_check;
ALTER TABLE surveys ADD CONSTRAINT surveys_status_check CHECK (status IN ('open', 'closed', 'draft'));
ALTER TABLE surveys ADD COLUMN testing BOOLEAN NOT NULL DEFAULT FALSE;
