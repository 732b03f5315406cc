-- Planner statistics keep copies of sampled values: for a bytea column, ANALYZE (autovacuum's or a
-- report run's) stores about a hundred whole values as histogram bounds in pg_statistic. Those would
-- be ciphertexts and receipt hashes of answers that may later be withdrawn or destroyed, outliving
-- them where no delete reaches. A same-type ALTER drops the columns' existing statistics (no rewrite);
-- a target of 0 stops ANALYZE from collecting them again. The planner needs neither column.
ALTER TABLE responses ALTER COLUMN sealed TYPE bytea, ALTER COLUMN receipt_hash TYPE bytea;
ALTER TABLE responses ALTER COLUMN sealed SET STATISTICS 0, ALTER COLUMN receipt_hash SET STATISTICS 0;
