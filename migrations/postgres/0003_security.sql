-- Sessions: bumping a user's generation ends every session issued before (a password
-- change, "Log out other sessions").
ALTER TABLE users ADD COLUMN session_generation BIGINT NOT NULL DEFAULT 0;

-- Rate-limit windows by hashed key, shared by every instance on this database.
CREATE TABLE rate_limits (
    key      TEXT   PRIMARY KEY,
    hits     BIGINT NOT NULL,
    -- When the window ends, in milliseconds since the Unix epoch.
    reset_at BIGINT NOT NULL
);
CREATE INDEX rate_limits_by_reset ON rate_limits (reset_at);
