DROP TABLE survey_versions; DROP TABLE surveys;
