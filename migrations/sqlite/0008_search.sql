-- Search over conversations: titles and message text, with SQLite's FTS5.
--
-- `search_docs` gives every searchable text (a conversation's title, or one message) a
-- stable integer id: messages have a text primary key, and their implicit rowid may change
-- on VACUUM, so the full-text index cannot key on it. The index itself is contentless (the
-- text stays only in `messages` and `conversations`; snippets are cut from there) and
-- indexes the owner as a token of its own, so a query reads only its owner's postings.
CREATE TABLE search_docs (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT    NOT NULL,
    -- NULL for the conversation's title.
    message_id      TEXT    UNIQUE
);
CREATE UNIQUE INDEX search_docs_title ON search_docs (conversation_id) WHERE message_id IS NULL;

CREATE VIRTUAL TABLE search_index USING fts5(
    owner,
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Kept in step with every write (also the deletes a conversation's deletion cascades to).
CREATE TRIGGER conversations_search_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO search_docs (conversation_id, message_id) VALUES (new.id, NULL);
    INSERT INTO search_index (rowid, owner, body)
        SELECT id, 'u' || new.user_id, new.title FROM search_docs
        WHERE conversation_id = new.id AND message_id IS NULL;
END;

CREATE TRIGGER conversations_search_title AFTER UPDATE OF title ON conversations BEGIN
    DELETE FROM search_index WHERE rowid =
        (SELECT id FROM search_docs WHERE conversation_id = old.id AND message_id IS NULL);
    INSERT INTO search_index (rowid, owner, body)
        SELECT id, 'u' || new.user_id, new.title FROM search_docs
        WHERE conversation_id = new.id AND message_id IS NULL;
END;

CREATE TRIGGER conversations_search_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM search_index WHERE rowid =
        (SELECT id FROM search_docs WHERE conversation_id = old.id AND message_id IS NULL);
    DELETE FROM search_docs WHERE conversation_id = old.id AND message_id IS NULL;
END;

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO search_docs (conversation_id, message_id) VALUES (new.conversation_id, new.id);
    INSERT INTO search_index (rowid, owner, body)
        SELECT d.id, 'u' || c.user_id, new.content
        FROM search_docs d JOIN conversations c ON c.id = new.conversation_id
        WHERE d.message_id = new.id;
END;

CREATE TRIGGER messages_search_content AFTER UPDATE OF content ON messages BEGIN
    DELETE FROM search_index WHERE rowid = (SELECT id FROM search_docs WHERE message_id = old.id);
    INSERT INTO search_index (rowid, owner, body)
        SELECT d.id, 'u' || c.user_id, new.content
        FROM search_docs d JOIN conversations c ON c.id = new.conversation_id
        WHERE d.message_id = new.id;
END;

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    DELETE FROM search_index WHERE rowid = (SELECT id FROM search_docs WHERE message_id = old.id);
    DELETE FROM search_docs WHERE message_id = old.id;
END;

-- What was written before this migration.
INSERT INTO search_docs (conversation_id, message_id) SELECT id, NULL FROM conversations;
INSERT INTO search_docs (conversation_id, message_id) SELECT conversation_id, id FROM messages;
INSERT INTO search_index (rowid, owner, body)
    SELECT d.id, 'u' || c.user_id, COALESCE(m.content, c.title)
    FROM search_docs d
    JOIN conversations c ON c.id = d.conversation_id
    LEFT JOIN messages m ON m.id = d.message_id;
