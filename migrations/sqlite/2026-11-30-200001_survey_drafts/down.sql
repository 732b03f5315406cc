CREATE TABLE surveys_old (
    slug TEXT PRIMARY KEY NOT NULL,
    current_version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed'))
);
INSERT INTO surveys_old (slug, current_version, status)
    SELECT slug, current_version, CASE status WHEN 'draft' THEN 'closed' ELSE status END FROM surveys;
CREATE TABLE survey_versions_old (
    slug TEXT NOT NULL REFERENCES surveys_old (slug),
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (slug, version)
);
INSERT INTO survey_versions_old (slug, version, definition) SELECT slug, version, definition FROM survey_versions;
DROP TABLE survey_versions;
DROP TABLE surveys;
ALTER TABLE surveys_old RENAME TO surveys;
ALTER TABLE survey_versions_old RENAME TO survey_versions;
