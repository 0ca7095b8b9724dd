-- The full-text index catches up after the write instead of within it.
--
-- With 0008's triggers every message's insert also wrote the FTS5 index, and FTS5 writes a
-- new segment at every commit: about half of what a chat message cost, the person's own
-- message included, before its first byte went to Anthropic. Now a write only records its
-- document as `pending` (one row in `search_docs`, as before); `Db::index_pending_search_docs`
-- indexes every pending document in one transaction: shortly after an answer is stored
-- (coalesced, in the background), before every search (so results are never stale) and at
-- start (what a killed process left).
--
-- A pending mark on each document rather than a high-water mark of ids: `search_docs.id`
-- may be reused after a delete (INTEGER PRIMARY KEY without AUTOINCREMENT), so "above the
-- mark" would not mean "not yet indexed".
--
-- The index is never told to delete a document it does not hold: the deletes below apply
-- only to documents already indexed (`pending = 0`).
ALTER TABLE search_docs ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
-- Only the few documents not yet indexed: a small index, and finding them costs nothing.
CREATE INDEX search_docs_pending ON search_docs (id) WHERE pending = 1;

DROP TRIGGER conversations_search_insert;
DROP TRIGGER conversations_search_title;
DROP TRIGGER conversations_search_delete;
DROP TRIGGER messages_search_insert;
DROP TRIGGER messages_search_content;
DROP TRIGGER messages_search_delete;

CREATE TRIGGER conversations_search_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO search_docs (conversation_id, message_id, pending) VALUES (new.id, NULL, 1);
END;

CREATE TRIGGER conversations_search_title AFTER UPDATE OF title ON conversations BEGIN
    DELETE FROM search_index WHERE rowid = (SELECT id FROM search_docs
        WHERE conversation_id = old.id AND message_id IS NULL AND pending = 0);
    UPDATE search_docs SET pending = 1 WHERE conversation_id = new.id AND message_id IS NULL;
END;

CREATE TRIGGER conversations_search_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM search_index WHERE rowid = (SELECT id FROM search_docs
        WHERE conversation_id = old.id AND message_id IS NULL AND pending = 0);
    DELETE FROM search_docs WHERE conversation_id = old.id AND message_id IS NULL;
END;

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO search_docs (conversation_id, message_id, pending)
        VALUES (new.conversation_id, new.id, 1);
END;

CREATE TRIGGER messages_search_content AFTER UPDATE OF content ON messages BEGIN
    DELETE FROM search_index WHERE rowid =
        (SELECT id FROM search_docs WHERE message_id = old.id AND pending = 0);
    UPDATE search_docs SET pending = 1 WHERE message_id = new.id;
END;

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    DELETE FROM search_index WHERE rowid =
        (SELECT id FROM search_docs WHERE message_id = old.id AND pending = 0);
    DELETE FROM search_docs WHERE message_id = old.id;
END;
