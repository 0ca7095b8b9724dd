-- Key activity: what happened to each person's Anthropic key (saved, tested, refused during
-- a chat, removed, re-encrypted after a secret rotation) and when. Never any key material:
-- at most the hint the key's status already shows (`sk-ant-api...X7f4`). The app keeps the
-- latest 100 rows per person.
CREATE TABLE key_events (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- saved | tested | refused_in_chat | removed | reencrypted
    kind       TEXT        NOT NULL,
    -- tested: accepted | refused | unavailable; reencrypted: on_use | rotation
    detail     TEXT,
    key_hint   TEXT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX key_events_by_user ON key_events (user_id, id);
