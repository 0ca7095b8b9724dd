//! Integration tests: the real application on a free port, a fresh database per test
//! (SQLite always, PostgreSQL too when `TEST_DATABASE_URL` is set) and the project's
//! Anthropic stand-in.

mod helpers;

mod api_keys;
mod apps_in_one_process;
mod assets;
mod auth;
mod billing;
mod branches;
mod chat;
mod chat_bounds;
mod chat_fn;
mod drafts;
mod health;
mod malformed;
mod metering;
mod money;
mod platform;
mod reading;
mod search_index;
mod secrets;
mod security;
mod server_fns;
mod sessions;
mod sqlite_writer;
mod upstream;
