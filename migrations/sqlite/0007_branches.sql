-- Regenerate and edit: the messages of a conversation form a tree. A regenerated answer
-- and an edited message are new siblings (same parent); nothing is ever replaced.
-- `selected_at` is when a message was last chosen among its siblings (stored, or picked
-- with the version switcher): the conversation as shown and as sent to Anthropic follows,
-- from the roots down, the most recently chosen child at every step.
ALTER TABLE messages ADD COLUMN parent_id TEXT REFERENCES messages (id) ON DELETE CASCADE;
ALTER TABLE messages ADD COLUMN selected_at TEXT;

-- What was stored before becomes one chain per conversation, oldest first (the order
-- conversations were always read in: created_at, then id).
UPDATE messages SET parent_id = (
    SELECT p.id FROM messages p
    WHERE p.conversation_id = messages.conversation_id
      AND (p.created_at < messages.created_at
           OR (p.created_at = messages.created_at AND p.id < messages.id))
    ORDER BY p.created_at DESC, p.id DESC
    LIMIT 1
);
UPDATE messages SET selected_at = created_at;

CREATE INDEX messages_by_parent ON messages (parent_id);
