-- Single-use outreach codes, stored hashed. A used code is marked, but never linked to the response
-- it verified: responses carry only a verified flag.
CREATE TABLE outreach_codes (
    code_hash BYTEA PRIMARY KEY NOT NULL,
    survey_slug TEXT NOT NULL,
    batch TEXT NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE
);
-- Per-day totals of accepted and refused submissions per survey (hourly detail stays in RAM).
CREATE TABLE daily_intake (
    survey_slug TEXT NOT NULL,
    day TEXT NOT NULL,
    accepted BIGINT NOT NULL,
    rate_limited BIGINT NOT NULL,
    honeypot BIGINT NOT NULL,
    too_fast BIGINT NOT NULL,
    bad_code BIGINT NOT NULL,
    PRIMARY KEY (survey_slug, day)
);
-- Months of a survey excluded from reports after a confirmed flood; reversible.
CREATE TABLE quarantined_months (
    survey_slug TEXT NOT NULL,
    month TEXT NOT NULL,
    PRIMARY KEY (survey_slug, month)
);
