-- A conversation's messages are read in the order they were written: `created_at`, then
-- `id` where two share a time. The index had `created_at` only, so every read of a
-- conversation (and the search's numbering of its messages) sorted its rows in a temporary
-- B-tree after finding them; with `id` in the index they come out in order.
DROP INDEX messages_by_conversation;
CREATE INDEX messages_by_conversation ON messages (conversation_id, created_at, id);
