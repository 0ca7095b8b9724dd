-- Search over conversations: titles and message text, with PostgreSQL's full-text search.
-- The 'simple' configuration (no stemming, no stop words: people write in many languages)
-- as expression indexes, which fill themselves for existing rows and stay in step with
-- every write. Queries must use the same expressions to use them.
CREATE INDEX messages_search ON messages USING GIN (to_tsvector('simple'::regconfig, content));
CREATE INDEX conversations_search ON conversations USING GIN (to_tsvector('simple'::regconfig, title));
