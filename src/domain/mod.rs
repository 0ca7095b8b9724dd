//! Values that validate when they are built: once you hold one, it is valid.

mod api_key;
mod client_message_id;
mod email;
mod model_name;
mod password;

pub use api_key::ApiKey;
pub use client_message_id::ClientMessageId;
pub use email::Email;
pub use model_name::ModelName;
pub use password::Password;
