//! Data that crosses between the server and the browser: compiled for both sides, imported
//! by the server functions (`api`), the services (`server`) and the UI alike, so neither of
//! those depends on the other for its types.

pub mod billing;
pub mod chat;
pub mod keys;
pub mod search;
pub mod usage;
pub mod user;
