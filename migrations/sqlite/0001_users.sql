-- Accounts. `settings` holds the design's JSON document (api_keys, subscription, …).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    settings      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

-- Emails are compared case-insensitively.
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));
