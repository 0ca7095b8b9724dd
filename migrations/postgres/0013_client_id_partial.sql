-- Only a person's message sent by the browser has a client id (the id that makes a retry
-- find it instead of storing it twice); answers, and messages sent through the API without
-- one, have none. The unique index held an entry for each of those too, NULL and never
-- looked up (NULLs never conflict), so every stored answer wrote a page of it. Now it holds
-- only the messages that have one: the same uniqueness, the same lookup (a query's
-- `client_message_id = $2` implies the index's condition), a page fewer per answer.
DROP INDEX messages_client_id;
CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, client_message_id)
    WHERE client_message_id IS NOT NULL;
