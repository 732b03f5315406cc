-- Drafts (imported, not yet opened: not listed, no answers) and surveys marked for testing (the only
-- ones, with drafts, that `chorus dev seed` writes into). SQLite cannot change a CHECK constraint,
-- so the table is rebuilt; survey_versions refers to it by name, checked again at commit.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE surveys_new (
    slug TEXT PRIMARY KEY NOT NULL,
    current_version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'draft')),
    testing BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO surveys_new (slug, current_version, status) SELECT slug, current_version, status FROM surveys;
DROP TABLE surveys;
ALTER TABLE surveys_new RENAME TO surveys;
