//! What every part of the running server shares.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio_util::sync::CancellationToken;
use zaryad_store::Store;

use crate::config::Config;
use crate::gateway::admissions::Admissions;
use crate::gateway::registry::Registry;
use crate::profiles::Profiles;

/// State shared by the gateway, the API and background tasks.
pub struct Shared {
    /// The configuration the server started with.
    pub config: Config,
    /// The database.
    pub store: Arc<dyn Store>,
    /// Live charger connections.
    pub registry: Registry,
    /// Cancelled when the server begins to shut down.
    pub shutdown: CancellationToken,
    /// SHA-256 of the configured admin token, if one is configured.
    pub configured_admin_token_hash: Option<String>,
    /// True once both listeners are bound and the database answered.
    pub listeners_ready: AtomicBool,
    /// The vendor profiles in force.
    pub profiles: Profiles,
    /// Chargers admitted lately: whether a reconnect storm is on.
    pub admissions: Admissions,
}
