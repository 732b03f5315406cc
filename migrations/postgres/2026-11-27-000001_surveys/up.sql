-- Survey definitions. A definition is immutable once imported; a new version is a new row.
CREATE TABLE surveys (
    slug TEXT PRIMARY KEY NOT NULL,
    current_version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed'))
);
CREATE TABLE survey_versions (
    slug TEXT NOT NULL REFERENCES surveys (slug),
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (slug, version)
);
