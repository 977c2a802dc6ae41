//! `zaryad-sim`: simulated OCPP chargers for tests, benchmarks and reproducing field problems.
//!
//! - [`fleet`]: which chargers (station ids, OCPP 1.6 / 2.0.1 mix, dialect mix).
//! - [`dialect`]: what each kind of charger sends, frame by frame (pure builders).
//! - [`schedule`]: when each CALL is due, open loop, so latency counts from the scheduled time.
//! - [`charger`]: one charger on its socket: boot, schedule, one CALL outstanding, answers to
//!   the CSMS's CALLs, reconnects.
//! - [`run`]: whole runs (`run`, `saturate`, `idle`, `storm`) and their JSON [`run::Summary`].
//! - [`stats`], [`ledger`]: HDR histograms per action; the ledger of acknowledged stops.
//! - [`cpu`]: where the CPU went over a run's measured window (server, simulator, the rest).
//! - [`replay`]: send a recorded trace from one charger and show the answers.
//!
//! The `zaryad-sim` binary is a thin CLI over this library; the end-to-end tests drive it
//! directly. The `zaryad-ceiling` binary in the same crate is the bare WebSocket server the
//! benchmark measures Zaryad against.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod charger;
pub mod connect;
pub mod cpu;
pub mod dialect;
pub mod fleet;
pub mod ledger;
pub mod replay;
pub mod rng;
pub mod run;
pub mod schedule;
pub mod stats;

pub use dialect::{CycleShape, Dialect};
pub use fleet::{DialectMix, FleetConfig};
pub use run::{ConnectOptions, HoldConfig, Load, RunConfig, SimError, Summary, hold, run};
pub use schedule::Timers;
