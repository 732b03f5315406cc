-- The days cannot be recovered from monthly totals; each month comes back as its first day.
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
INSERT INTO daily_intake
SELECT survey_slug, month || '-01', accepted, rate_limited, honeypot, too_fast, bad_code FROM monthly_intake;
DROP TABLE monthly_intake;
