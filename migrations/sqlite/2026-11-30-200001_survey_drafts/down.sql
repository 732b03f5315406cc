PRAGMA defer_foreign_keys = ON;
CREATE TABLE surveys_old (
    slug TEXT PRIMARY KEY NOT NULL,
    current_version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed'))
);
INSERT INTO surveys_old (slug, current_version, status)
    SELECT slug, current_version, CASE status WHEN 'draft' THEN 'closed' ELSE status END FROM surveys;
DROP TABLE surveys;
ALTER TABLE surveys_old RENAME TO surveys;
