-- Intake totals per survey and month, replacing the per-day table: a per-day (or per-minute) write
-- beside the answers dated them finer than the month. Existing days are summed into their month.
CREATE TABLE monthly_intake (
    survey_slug TEXT NOT NULL,
    month TEXT NOT NULL,
    accepted BIGINT NOT NULL,
    rate_limited BIGINT NOT NULL,
    honeypot BIGINT NOT NULL,
    too_fast BIGINT NOT NULL,
    bad_code BIGINT NOT NULL,
    PRIMARY KEY (survey_slug, month)
);
INSERT INTO monthly_intake
SELECT survey_slug, substr(day, 1, 7), SUM(accepted), SUM(rate_limited), SUM(honeypot), SUM(too_fast), SUM(bad_code)
FROM daily_intake GROUP BY survey_slug, substr(day, 1, 7);
DROP TABLE daily_intake;
