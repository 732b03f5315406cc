-- k-of-n custody (issue 18). The report private keys are wrapped under a random unseal key that is
-- never stored; it is split k-of-n (Shamir over GF(256)) and each share is HPKE-wrapped to one
-- steward's public key, whose private half is sealed under that steward's passphrase (Argon2id).
-- Every row of one sharing carries the same generation and threshold; a re-sharing replaces them all.
-- Report keys wrapped under the unseal key carry kdf = 'unseal-key' in report_keys.
CREATE TABLE stewards (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    share_index INTEGER NOT NULL,
    threshold INTEGER NOT NULL,
    generation TEXT NOT NULL,
    public_key BLOB NOT NULL,
    sealed_private_key BLOB NOT NULL,
    kdf TEXT NOT NULL,
    wrapped_share BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
