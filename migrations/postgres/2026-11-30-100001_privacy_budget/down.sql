DROP TABLE privacy_budgets;
DROP INDEX snapshots_by_fingerprint;
ALTER TABLE snapshots DROP COLUMN fingerprint;
ALTER TABLE snapshots DROP COLUMN rho_micro;
ALTER TABLE snapshots ADD COLUMN members BYTEA NOT NULL DEFAULT ''::bytea;
