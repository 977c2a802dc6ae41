//! The Zaryad server: configuration, the OCPP gateway, the REST API and metrics.
//!
//! [`start`] opens the store, binds both listeners and returns a [`RunningServer`]; tests bind
//! port 0 and drive it with real WebSocket and HTTP clients.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
mod app;
pub mod config;
pub mod events;
pub mod gateway;
pub mod metrics;
pub mod profiles;
pub mod replay;
pub mod secrets;
mod state;
pub mod views;

pub use app::{RunningServer, start};
pub use config::Config;
