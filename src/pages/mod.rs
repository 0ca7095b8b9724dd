pub mod chat;
pub mod login;
pub mod not_found;
pub mod register;
pub mod settings;
