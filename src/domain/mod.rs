//! Values that validate when they are built: once you hold one, it is valid.

mod api_key;
mod email;
mod password;

pub use api_key::ApiKey;
pub use email::Email;
pub use password::Password;
