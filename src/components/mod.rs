pub mod header;
pub mod password_field;
pub mod protected;
