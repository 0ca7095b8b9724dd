-- Accounts. `settings` holds the design's JSON document (api_keys, subscription, …).
CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT        NOT NULL,
    password_hash TEXT        NOT NULL,
    settings      JSONB       NOT NULL DEFAULT '{}'::jsonb,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- Emails are compared case-insensitively.
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));
