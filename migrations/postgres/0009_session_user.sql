-- The session's user beside its record, so that one query reads a session together with
-- its user's session generation and settings (every signed-in request does).
--
-- The table is tower-sessions-sqlx-store's own (its `create table if not exists`, run at
-- start after the migrations, then finds it made). Sessions written before this column
-- existed have it NULL: they are read once the old way and written again with it.
CREATE SCHEMA IF NOT EXISTS "tower_sessions";
CREATE TABLE IF NOT EXISTS "tower_sessions"."session" (
    id          TEXT PRIMARY KEY NOT NULL,
    data        BYTEA NOT NULL,
    expiry_date TIMESTAMPTZ NOT NULL
);
ALTER TABLE "tower_sessions"."session" ADD COLUMN IF NOT EXISTS user_id BIGINT;
