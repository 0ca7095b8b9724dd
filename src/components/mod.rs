pub mod api_key_panel;
pub mod chat;
pub mod header;
pub mod markdown;
pub mod password_field;
pub mod protected;
pub mod sessions_panel;
pub mod usage;
