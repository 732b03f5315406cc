-- Keys that seal form tokens (their issue time sits inside, unreadable to the client). Shared in the
-- database so that several instances behind one load balancer accept each other's tokens.
CREATE TABLE form_keys (
    id TEXT PRIMARY KEY NOT NULL,
    key_bytes BLOB NOT NULL,
    generation BIGINT NOT NULL UNIQUE
);
-- Tokens already spent. No time and no link to any answer: rows go when their key is retired.
CREATE TABLE used_form_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    form_key_id TEXT NOT NULL REFERENCES form_keys (id) ON DELETE CASCADE
) WITHOUT ROWID;
