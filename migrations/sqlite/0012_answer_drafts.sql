-- An answer still streaming, saved every few seconds (`answer-draft-secs`) under the id its
-- message will have, so that a process killed outright loses at most that much of it: a
-- draft nobody has refreshed for a while is stored as an incomplete answer, with its usage
-- and (when the platform paid) its meter report, by whichever instance finds it first. The
-- message's id is the primary key of the message, the ledger row and the meter report, so
-- an answer is stored once, by its relay or from its draft. No key material is kept here.
CREATE TABLE answer_drafts (
    message_id                  TEXT    PRIMARY KEY,
    conversation_id             TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    parent_id                   TEXT    NOT NULL,
    user_id                     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    model                       TEXT    NOT NULL,
    content                     TEXT    NOT NULL,
    input_tokens                INTEGER NOT NULL,
    output_tokens               INTEGER NOT NULL,
    cache_creation_input_tokens INTEGER NOT NULL,
    cache_read_input_tokens     INTEGER NOT NULL,
    payer                       TEXT    NOT NULL CHECK (payer IN ('byok', 'platform')),
    stripe_customer_id          TEXT,
    -- When the first words reached the browser, and whether the conversation existed
    -- before this answer (its "last used" moves then).
    first_words_at              TEXT    NOT NULL,
    touch                       BOOLEAN NOT NULL,
    saved_at                    TEXT    NOT NULL
);
CREATE INDEX answer_drafts_by_age ON answer_drafts (saved_at);
