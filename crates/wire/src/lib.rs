//! OCPP-J framing for Zaryad.
//!
//! This crate turns WebSocket text into [`Frame`] values and back, knows the CALLERROR codes of
//! each OCPP version and tracks the one outstanding CALL per direction. It knows nothing of
//! stations or sessions, does no I/O and never panics on input from a charger.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod correlation;
mod error_code;
mod frame;
mod version;

pub use correlation::{OutstandingCall, PendingCall};
pub use error_code::ErrorCode;
pub use frame::{Frame, FrameError, MAX_MESSAGE_ID_LEN, MessageId};
pub use version::OcppVersion;
