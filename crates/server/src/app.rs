//! Starting and stopping the whole server: store, listeners, background tasks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use zaryad_store::{ApiToken, ApiTokenRole, WriteBatch, WriteOp};

use crate::config::Config;
use crate::gateway::registry::{CloseReason, Registry};
use crate::profiles::Profiles;
use crate::secrets::{generate_api_token, hash_api_token};
use crate::state::Shared;
use crate::{api, events, gateway, metrics};

/// A server that is up: its addresses, and the means to stop it.
pub struct RunningServer {
    /// Where chargers connect.
    pub ocpp_addr: SocketAddr,
    /// Where the API listens.
    pub api_addr: SocketAddr,
    /// An admin token generated at this start (first start without a configured token).
    pub generated_admin_token: Option<String>,
    shared: Arc<Shared>,
    tasks: TaskTracker,
    api_task: tokio::task::JoinHandle<()>,
}

/// Opens the store, binds both listeners and starts serving.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    metrics::install();
    // reqwest and async-nats both use rustls: naming its provider once, at start-up, keeps
    // rustls from panicking should a dependency ever compile in a second one. An error means
    // a provider is installed already (another server in this process).
    let _ = rustls::crypto::ring::default_provider().install_default();
    // An invalid profile file stops the start, naming the file, the line and the reason.
    let profiles = Profiles::load(std::path::Path::new(&config.vendors.dir))?;
    let store = zaryad_store::open(&config.database.store_options())
        .await
        .with_context(|| {
            format!(
                "opening the database {}",
                zaryad_store::redact_url(&config.database.url)
            )
        })?;
    let generated_admin_token =
        if config.api.admin_token.is_none() && store.count_api_tokens().await? == 0 {
            let token = generate_api_token();
            let mut batch = WriteBatch::new();
            batch.push(WriteOp::InsertApiToken(ApiToken {
                id: uuid::Uuid::now_v7().to_string(),
                name: "initial admin".to_owned(),
                role: ApiTokenRole::Admin,
                token_hash: hash_api_token(&token),
                created_at: Utc::now(),
            }));
            store
                .commit(batch)
                .await
                .context("storing the generated admin token")?;
            Some(token)
        } else {
            None
        };
    let ocpp_listener = TcpListener::bind(&config.ocpp.listen)
        .await
        .with_context(|| format!("binding the OCPP listener on {}", config.ocpp.listen))?;
    let api_listener = TcpListener::bind(&config.api.listen)
        .await
        .with_context(|| format!("binding the API listener on {}", config.api.listen))?;
    let ocpp_addr = ocpp_listener.local_addr()?;
    let api_addr = api_listener.local_addr()?;
    let shared = Arc::new(Shared {
        configured_admin_token_hash: config.api.admin_token.as_deref().map(hash_api_token),
        config,
        store,
        registry: Registry::default(),
        shutdown: CancellationToken::new(),
        listeners_ready: Default::default(),
        profiles,
        admissions: Default::default(),
    });
    let tasks = TaskTracker::new();
    // Before chargers connect: a follower starting for the first time begins at the end of
    // the outbox as it is now.
    events::start(&shared, &tasks)
        .await
        .context("starting event delivery")?;
    tasks.spawn(gateway::serve_ocpp(
        shared.clone(),
        ocpp_listener,
        tasks.clone(),
    ));
    let router = api::router(shared.clone());
    let api_shutdown = shared.shutdown.clone();
    let api_task = tokio::spawn(async move {
        let served = axum::serve(api_listener, router)
            .with_graceful_shutdown(async move { api_shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "API listener failed");
        }
    });
    shared.listeners_ready.store(true, Ordering::Release);
    tracing::info!(%ocpp_addr, %api_addr, "zaryad is serving");
    Ok(RunningServer {
        ocpp_addr,
        api_addr,
        generated_admin_token,
        shared,
        tasks,
        api_task,
    })
}

impl RunningServer {
    /// Stops gracefully: no new connections, chargers closed gradually over the drain window,
    /// in-flight work finished, buffers flushed.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let drain = Duration::from_secs(self.shared.config.shutdown.drain_secs);
        self.shutdown_within(drain).await
    }

    /// Like [`RunningServer::shutdown`] with an explicit drain window.
    pub async fn shutdown_within(self, drain: Duration) -> anyhow::Result<()> {
        tracing::info!(
            connected = self.shared.registry.len(),
            ?drain,
            "shutting down"
        );
        self.shared.shutdown.cancel();
        let connections = self.shared.registry.all();
        if !connections.is_empty() {
            // Spread the closes so that chargers do not all reconnect to the next node at once.
            let pause = drain / u32::try_from(connections.len()).unwrap_or(u32::MAX);
            for (_, handle) in connections {
                handle.close(CloseReason::Shutdown);
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
        }
        self.tasks.close();
        if tokio::time::timeout(drain + Duration::from_secs(5), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some charger connections did not finish in time");
        }
        let _ = self.api_task.await;
        self.shared
            .store
            .flush()
            .await
            .context("flushing the store")?;
        tracing::info!("stopped");
        Ok(())
    }

    /// The store the server runs on (for embedding and tests).
    pub fn store(&self) -> Arc<dyn zaryad_store::Store> {
        self.shared.store.clone()
    }

    /// Reads the vendor profile directory again (SIGHUP); on error the profiles in force stay.
    pub fn reload_profiles(&self) -> anyhow::Result<usize> {
        Ok(self.shared.profiles.reload()?)
    }

    /// A token that cancels when shutdown begins (for embedding and tests).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shared.shutdown.clone()
    }
}
