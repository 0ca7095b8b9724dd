//! Values that validate when they are built: once you hold one, it is valid.

mod email;
mod password;

pub use email::Email;
pub use password::Password;
