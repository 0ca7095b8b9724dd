pub mod api_key_panel;
pub mod header;
pub mod password_field;
pub mod protected;
