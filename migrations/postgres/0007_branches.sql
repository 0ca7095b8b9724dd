-- Regenerate and edit: the messages of a conversation form a tree. A regenerated answer
-- and an edited message are new siblings (same parent); nothing is ever replaced.
-- `selected_at` is when a message was last chosen among its siblings (stored, or picked
-- with the version switcher): the conversation as shown and as sent to Anthropic follows,
-- from the roots down, the most recently chosen child at every step.
ALTER TABLE messages ADD COLUMN parent_id TEXT REFERENCES messages (id) ON DELETE CASCADE;
ALTER TABLE messages ADD COLUMN selected_at TIMESTAMPTZ;

-- What was stored before becomes one chain per conversation, oldest first (the order
-- conversations were always read in: created_at, then id).
UPDATE messages m
SET parent_id = chain.previous, selected_at = m.created_at
FROM (
    SELECT id, LAG(id) OVER (PARTITION BY conversation_id ORDER BY created_at, id) AS previous
    FROM messages
) chain
WHERE chain.id = m.id;

CREATE INDEX messages_by_parent ON messages (parent_id);
