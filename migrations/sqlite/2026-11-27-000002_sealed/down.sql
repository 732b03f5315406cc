DROP TABLE responses; DROP TABLE epochs; DROP TABLE report_keys;
