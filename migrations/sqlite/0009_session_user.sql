-- The session's user beside its record, so that one query reads a session together with
-- its user's session generation and settings (every signed-in request does).
--
-- The table is tower-sessions-sqlx-store's own (its `create table if not exists`, run at
-- start after the migrations, then finds it made). Sessions written before this column
-- existed have it NULL: they are read once the old way and written again with it.
CREATE TABLE IF NOT EXISTS tower_sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    data        BLOB NOT NULL,
    expiry_date INTEGER NOT NULL
);
ALTER TABLE tower_sessions ADD COLUMN user_id INTEGER;
