//! What every part of the running server shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;
use zaryad_store::Store;

use crate::config::Config;
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
    /// Moves on every change of an id token through this node's API: a connection's copy of
    /// a token read under an older value is read again.
    pub id_tokens_generation: AtomicU64,
}

impl Shared {
    /// The id tokens' generation (see [`Shared::id_tokens_generation`]).
    pub fn id_tokens_generation(&self) -> u64 {
        self.id_tokens_generation.load(Ordering::Acquire)
    }

    /// Marks every id token read so far as possibly stale.
    pub fn id_tokens_changed(&self) {
        self.id_tokens_generation.fetch_add(1, Ordering::AcqRel);
    }
}
