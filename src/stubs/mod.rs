//! Stand-ins for the outside services, for tests and local development only: compiled
//! with the `stub` feature, never into the release binary.

pub mod stripe;
