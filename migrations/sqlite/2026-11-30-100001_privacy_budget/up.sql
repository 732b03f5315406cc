-- Releases under differential privacy replace cell suppression. Snapshots made under the old rules
-- are removed: their figures are exactly what differencing and subtraction attacks recover, and
-- this software has not been deployed with them (docs/privacy.md, "Releases").
DELETE FROM snapshots;
-- The membership hashes served only the "k responses changed" guard, which the budget replaces.
ALTER TABLE snapshots DROP COLUMN members;
-- What the release cost, in millionths of rho (zCDP), rounded up.
ALTER TABLE snapshots ADD COLUMN rho_micro BIGINT NOT NULL DEFAULT 0;
-- SHA-256 of the release's spec and the ids of the answers it covered: the same request over the
-- same answers is served the stored release again, never fresh noise.
ALTER TABLE snapshots ADD COLUMN fingerprint BLOB NOT NULL DEFAULT x'';
CREATE INDEX snapshots_by_fingerprint ON snapshots (survey_slug, fingerprint);

-- The privacy budget of each survey: every release pays from it in the same transaction that
-- stores the release, and the CHECK makes overspending impossible even for a buggy caller.
CREATE TABLE privacy_budgets (
    survey_slug TEXT PRIMARY KEY NOT NULL,
    total_micro BIGINT NOT NULL CHECK (total_micro > 0),
    spent_micro BIGINT NOT NULL CHECK (spent_micro >= 0 AND spent_micro <= total_micro)
);
