//! The charger side: the WebSocket listener, one task per connection, and the handling of
//! each station's messages.

pub mod admissions;
mod boot_config;
pub mod commands;
mod connection;
mod connectors;
pub(crate) mod handshake;
pub mod registry;
pub(crate) mod station;

pub use handshake::serve_ocpp;
