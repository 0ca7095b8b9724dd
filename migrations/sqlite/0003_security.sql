-- Sessions: bumping a user's generation ends every session issued before (a password
-- change, "Log out other sessions").
ALTER TABLE users ADD COLUMN session_generation INTEGER NOT NULL DEFAULT 0;

-- Rate-limit windows by hashed key. The single-instance SQLite default counts in memory;
-- the table exists so both databases share one schema and the same queries.
CREATE TABLE rate_limits (
    key      TEXT    PRIMARY KEY,
    hits     INTEGER NOT NULL,
    -- When the window ends, in milliseconds since the Unix epoch.
    reset_at INTEGER NOT NULL
);
CREATE INDEX rate_limits_by_reset ON rate_limits (reset_at);
