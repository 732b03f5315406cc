DROP TABLE quarantined_months; DROP TABLE daily_intake; DROP TABLE outreach_codes;
