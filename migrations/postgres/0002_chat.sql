-- Conversations with the Agents, and their messages (with token usage per answer).
CREATE TABLE conversations (
    id         TEXT        PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT        NOT NULL,
    agent      TEXT        NOT NULL,
    model      TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX conversations_by_user ON conversations (user_id, updated_at);

CREATE TABLE messages (
    id                TEXT        PRIMARY KEY,
    conversation_id   TEXT        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role              TEXT        NOT NULL CHECK (role IN ('user', 'assistant')),
    content           TEXT        NOT NULL,
    model             TEXT,
    incomplete        BOOLEAN     NOT NULL DEFAULT FALSE,
    input_tokens      BIGINT,
    output_tokens     BIGINT,
    -- The browser's id for a user message, so a retry never stores it twice.
    client_message_id TEXT,
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, created_at);
CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, client_message_id);
