-- Retention (issue 18, item 4): how long a survey's sealed answers are kept once the survey is
-- closed and a release of it exists (or its budget is spent), and when they were destroyed.
-- Destruction deletes the survey's rows in `responses`; the releases stay.
CREATE TABLE retention (
    survey_slug TEXT PRIMARY KEY NOT NULL REFERENCES surveys(slug),
    days INTEGER NOT NULL,
    closed_on TEXT,
    destroyed_on TEXT,
    destroyed_count BIGINT NOT NULL DEFAULT 0
);
