-- Drafts (imported, not yet opened: not listed, no answers) and surveys marked for testing (the only
-- ones, with drafts, that `chorus dev seed` writes into). SQLite cannot change a CHECK constraint, so
-- both tables are rebuilt inside the migration's transaction, where foreign keys stay on: the child
-- goes first and the new child refers to the new parent, whose rename carries the reference along.
CREATE TABLE surveys_new (
    slug TEXT PRIMARY KEY NOT NULL,
    current_version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'draft')),
    testing BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO surveys_new (slug, current_version, status) SELECT slug, current_version, status FROM surveys;
CREATE TABLE survey_versions_new (
    slug TEXT NOT NULL REFERENCES surveys_new (slug),
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (slug, version)
);
INSERT INTO survey_versions_new (slug, version, definition) SELECT slug, version, definition FROM survey_versions;
DROP TABLE survey_versions;
DROP TABLE surveys;
ALTER TABLE surveys_new RENAME TO surveys;
ALTER TABLE survey_versions_new RENAME TO survey_versions;
