//! Configuration: built-in defaults, then a TOML file, then `ZARYAD_…` environment variables.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The prefix of environment variables that override the configuration (`__` between levels).
pub const ENV_PREFIX: &str = "ZARYAD_";

/// Everything the server can be configured with; `config/default.toml` documents each key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The charger-facing OCPP listener.
    pub ocpp: OcppConfig,
    /// The operator-facing REST API listener.
    pub api: ApiConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// Id token decisions.
    pub authorization: AuthorizationConfig,
    /// Operator commands to stations.
    pub commands: CommandsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
    /// Domain events: rate limits, webhooks, NATS, the CDR.
    pub events: EventsConfig,
    /// Vendor profiles.
    pub vendors: VendorsConfig,
}

/// Where vendor profiles come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VendorsConfig {
    /// The directory of `*.toml` vendor profiles (read at start, on SIGHUP and on
    /// `POST /api/v1/vendor-profiles/reload`); a missing directory leaves the built-in generic
    /// profile.
    pub dir: String,
}

impl Default for VendorsConfig {
    fn default() -> VendorsConfig {
        VendorsConfig {
            dir: "config/vendors".to_owned(),
        }
    }
}

/// What to do with a station that connects but was never provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownStationPolicy {
    /// Register it and answer its boot with `Accepted`.
    Accept,
    /// Register it for an operator's approval and answer its boot with `Pending`.
    Pending,
    /// Answer its boot with `Rejected`.
    Reject,
}

/// What to do with an id token that is not in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownTokenPolicy {
    /// Let it charge.
    Accept,
    /// Refuse it.
    Reject,
}

/// How to treat a WebSocket upgrade without a `Sec-WebSocket-Protocol` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MissingSubprotocol {
    /// Assume OCPP 1.6, the field's usual culprit.
    #[serde(rename = "ocpp1.6")]
    Ocpp16,
    /// Assume OCPP 2.0.1.
    #[serde(rename = "ocpp2.0.1")]
    Ocpp201,
    /// Refuse the upgrade.
    #[serde(rename = "reject")]
    Reject,
}

/// The charger-facing listener and OCPP behaviour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OcppConfig {
    /// Address of the WebSocket listener.
    pub listen: String,
    /// Policy for stations that were never provisioned.
    pub unknown_stations: UnknownStationPolicy,
    /// Policy for upgrades without a subprotocol header.
    pub missing_subprotocol: MissingSubprotocol,
    /// Heartbeat interval given to accepted stations, seconds.
    pub heartbeat_interval_secs: u32,
    /// Retry interval given to pending or rejected stations, seconds.
    pub boot_retry_interval_secs: u32,
    /// Interval between WebSocket pings, seconds (0 disables pings).
    pub ping_interval_secs: u64,
    /// A connection silent for this long (no pong, no frame) is closed, seconds.
    pub idle_timeout_secs: u64,
    /// Largest accepted WebSocket message, bytes; larger ones close the socket with 1009.
    pub max_message_bytes: usize,
    /// Read buffer per connection, bytes (tungstenite's default of 128 KiB costs 1.3 GB per
    /// 10,000 chargers).
    pub read_buffer_bytes: usize,
    /// Most bytes queued for writing per connection before writes fail.
    pub max_write_buffer_bytes: usize,
    /// How long the HTTP upgrade request may take, seconds.
    pub handshake_timeout_secs: u64,
    /// After an accepted boot, read the station's configuration and set the heartbeat interval
    /// and meter-value sampling below.
    pub configure_on_boot: bool,
    /// How long each boot-time configuration call may wait for its answer, seconds.
    pub configure_timeout_secs: u64,
    /// Meter-value sample interval set at boot (1.6 `MeterValueSampleInterval`, 2.0.1
    /// `SampledDataCtrlr.TxUpdatedInterval`), seconds; 0 leaves the station's value alone.
    pub meter_value_sample_interval_secs: u32,
    /// Measurands set at boot (1.6 `MeterValuesSampledData`, 2.0.1
    /// `SampledDataCtrlr.TxUpdatedMeasurands`), comma-separated; empty leaves them alone.
    pub meter_values_sampled_data: String,
}

impl Default for OcppConfig {
    fn default() -> OcppConfig {
        OcppConfig {
            listen: "0.0.0.0:9000".to_owned(),
            unknown_stations: UnknownStationPolicy::Pending,
            missing_subprotocol: MissingSubprotocol::Ocpp16,
            heartbeat_interval_secs: 300,
            boot_retry_interval_secs: 60,
            ping_interval_secs: 60,
            idle_timeout_secs: 180,
            max_message_bytes: 64 * 1024,
            read_buffer_bytes: 4 * 1024,
            max_write_buffer_bytes: 256 * 1024,
            handshake_timeout_secs: 10,
            configure_on_boot: true,
            configure_timeout_secs: 10,
            meter_value_sample_interval_secs: 60,
            meter_values_sampled_data: "Energy.Active.Import.Register,Power.Active.Import"
                .to_owned(),
        }
    }
}

impl OcppConfig {
    /// The ping interval, or `None` when pings are disabled.
    pub fn ping_interval(&self) -> Option<Duration> {
        (self.ping_interval_secs > 0).then(|| Duration::from_secs(self.ping_interval_secs))
    }

    /// The settings applied at boot as (1.6 key, value); the adapter maps them for 2.0.1.
    pub fn boot_settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = vec![(
            "HeartbeatInterval",
            self.heartbeat_interval_secs.to_string(),
        )];
        if self.meter_value_sample_interval_secs > 0 {
            settings.push((
                "MeterValueSampleInterval",
                self.meter_value_sample_interval_secs.to_string(),
            ));
        }
        let measurands = self.meter_values_sampled_data.trim();
        if !measurands.is_empty() {
            settings.push(("MeterValuesSampledData", measurands.to_owned()));
        }
        settings
    }
}

/// Operator commands: how long a station may take to answer, how many may wait.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandsConfig {
    /// How long a station may take to answer a command, seconds.
    pub timeout_secs: u64,
    /// Per-command answer timeouts by command name (`reset`, `get-configuration`, …), seconds.
    pub timeouts: BTreeMap<String, u64>,
    /// Commands that may wait per station behind the one in flight; more are refused (429).
    pub queue_capacity: usize,
    /// A station that has not booted on its connection gets commands only after this long,
    /// seconds: some chargers break on a CALL before their BootNotification is answered.
    pub boot_wait_secs: u64,
    /// How long after an accepted 1.6 remote start a StartTransaction with the same token is
    /// linked to it, seconds (1.6 has no remoteStartId).
    pub remote_start_link_secs: u64,
}

impl Default for CommandsConfig {
    fn default() -> CommandsConfig {
        CommandsConfig {
            timeout_secs: 30,
            timeouts: BTreeMap::new(),
            queue_capacity: 8,
            boot_wait_secs: 5,
            remote_start_link_secs: 120,
        }
    }
}

impl CommandsConfig {
    /// The answer timeout of the command `name`.
    pub fn timeout(&self, name: &str) -> Duration {
        let secs = self
            .timeouts
            .get(name)
            .copied()
            .unwrap_or(self.timeout_secs);
        Duration::from_secs(secs.max(1))
    }
}

/// The operator-facing API.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address of the HTTP listener (REST API, metrics, health).
    pub listen: String,
    /// A bearer token with full rights; when unset, `serve` generates one at first start.
    pub admin_token: Option<String>,
    /// Largest page a list endpoint returns.
    pub max_page_size: u32,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            listen: "127.0.0.1:8080".to_owned(),
            admin_token: None,
            max_page_size: 1000,
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("listen", &self.listen)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("max_page_size", &self.max_page_size)
            .finish()
    }
}

/// The database.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path` or `postgres://…`.
    pub url: String,
    /// Connections of the read pool.
    pub read_pool_size: u32,
    /// Most write requests committed in one transaction.
    pub max_batch: usize,
    /// Capacity of the write queue (back-pressure beyond it).
    pub queue_capacity: usize,
    /// Longest a logged frame waits in memory before it is written, milliseconds (the frame
    /// log is written per station in batches; what a crash can lose of it).
    pub flush_interval_ms: u64,
    /// How often the buffered last-seen times are written, milliseconds (the API shows the
    /// newest anyway).
    pub last_seen_interval_ms: u64,
    /// Frame-log batches older than this many days are pruned in the background; 0 keeps them.
    pub frame_retention_days: u32,
}

impl Default for DatabaseConfig {
    fn default() -> DatabaseConfig {
        DatabaseConfig {
            url: "sqlite://data/zaryad.db".to_owned(),
            read_pool_size: 4,
            max_batch: 256,
            queue_capacity: 4096,
            flush_interval_ms: 2000,
            last_seen_interval_ms: 10_000,
            frame_retention_days: 30,
        }
    }
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &zaryad_store::redact_url(&self.url))
            .field("read_pool_size", &self.read_pool_size)
            .field("max_batch", &self.max_batch)
            .field("queue_capacity", &self.queue_capacity)
            .field("flush_interval_ms", &self.flush_interval_ms)
            .field("last_seen_interval_ms", &self.last_seen_interval_ms)
            .field("frame_retention_days", &self.frame_retention_days)
            .finish()
    }
}

impl DatabaseConfig {
    /// The store's options.
    pub fn store_options(&self) -> zaryad_store::StoreOptions {
        zaryad_store::StoreOptions {
            url: self.url.clone(),
            read_pool_size: self.read_pool_size.max(1),
            max_batch: self.max_batch.max(1),
            queue_capacity: self.queue_capacity.max(1),
            flush_interval: Duration::from_millis(self.flush_interval_ms.max(10)),
            last_seen_interval: Duration::from_millis(self.last_seen_interval_ms.max(10)),
            frame_retention: (self.frame_retention_days > 0)
                .then(|| Duration::from_secs(u64::from(self.frame_retention_days) * 24 * 60 * 60)),
            ..zaryad_store::StoreOptions::default()
        }
    }
}

/// Id token decisions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// Policy for tokens not in the store.
    pub unknown_tokens: UnknownTokenPolicy,
}

impl Default for AuthorizationConfig {
    fn default() -> AuthorizationConfig {
        AuthorizationConfig {
            unknown_tokens: UnknownTokenPolicy::Reject,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Human or JSON lines.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `zaryad_server=debug,info`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

/// Graceful shutdown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Charger sockets are closed gradually over this window, seconds.
    pub drain_secs: u64,
}

impl Default for ShutdownConfig {
    fn default() -> ShutdownConfig {
        ShutdownConfig { drain_secs: 10 }
    }
}

/// Domain events and their delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// A running session emits `session.updated` at most this often (and on every change of
    /// its charging state); late meter values correct `session.ended` at most this often.
    pub session_update_interval_secs: u64,
    /// How often the outbox is polled for events other nodes wrote, milliseconds (this
    /// node's own commits wake the followers at once).
    pub poll_interval_ms: u64,
    /// Webhook delivery.
    pub webhooks: WebhooksConfig,
    /// NATS JetStream publishing.
    pub nats: NatsConfig,
    /// The OCPI CDR inside `session.ended`.
    pub cdr: CdrConfig,
}

impl Default for EventsConfig {
    fn default() -> EventsConfig {
        EventsConfig {
            session_update_interval_secs: 60,
            poll_interval_ms: 1000,
            webhooks: WebhooksConfig::default(),
            nats: NatsConfig::default(),
            cdr: CdrConfig::default(),
        }
    }
}

impl EventsConfig {
    /// The `session.updated` (and correction) interval.
    pub fn session_update_interval(&self) -> Duration {
        Duration::from_secs(self.session_update_interval_secs)
    }

    /// The outbox poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }
}

/// Webhook delivery: retries with exponential backoff and jitter until the maximum age.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// A delivery still failing this long after it was queued is marked failed, seconds.
    pub max_age_secs: u64,
    /// The first retry waits about this long, milliseconds; each further one twice as long.
    pub backoff_base_ms: u64,
    /// No retry waits longer than this, seconds.
    pub backoff_max_secs: u64,
    /// One attempt (connect, send, answer) may take this long, seconds.
    pub timeout_secs: u64,
    /// Most attempts in flight at once, over all webhooks.
    pub max_in_flight: usize,
}

impl Default for WebhooksConfig {
    fn default() -> WebhooksConfig {
        WebhooksConfig {
            max_age_secs: 3 * 24 * 60 * 60,
            backoff_base_ms: 1000,
            backoff_max_secs: 300,
            timeout_secs: 10,
            max_in_flight: 32,
        }
    }
}

/// NATS JetStream publishing; off unless `url` is set.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    /// `nats://host:4222` (credentials in the URL if needed); unset: no publishing.
    pub url: Option<String>,
    /// The stream, created when missing.
    pub stream: String,
    /// Events are published on `<subject_prefix>.<type>`.
    pub subject_prefix: String,
    /// How long the server remembers message ids to drop republished events, seconds.
    pub duplicate_window_secs: u64,
}

impl Default for NatsConfig {
    fn default() -> NatsConfig {
        NatsConfig {
            url: None,
            stream: "ZARYAD_EVENTS".to_owned(),
            subject_prefix: "zaryad.events".to_owned(),
            duplicate_window_secs: 120,
        }
    }
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConfig")
            .field("url", &self.url.as_deref().map(zaryad_store::redact_url))
            .field("stream", &self.stream)
            .field("subject_prefix", &self.subject_prefix)
            .field("duplicate_window_secs", &self.duplicate_window_secs)
            .finish()
    }
}

/// What the OCPI 2.2.1 CDR inside `session.ended` says about the operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CdrConfig {
    /// ISO 3166-1 alpha-2 country code of the operator (CPO).
    pub country_code: String,
    /// The operator's OCPI party id (three characters).
    pub party_id: String,
    /// ISO 4217 currency of the CDR.
    pub currency: String,
}

impl Default for CdrConfig {
    fn default() -> CdrConfig {
        CdrConfig {
            country_code: "KG".to_owned(),
            party_id: "ZRY".to_owned(),
            currency: "KGS".to_owned(),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file named with `--config` does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(String),
    /// A value is malformed or a key unknown.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
}

impl Config {
    /// Loads defaults, then `path` (or `config/default.toml` when present), then the
    /// environment. Returns the configuration and warnings about unknown `ZARYAD_` variables.
    pub fn load(path: Option<&Path>) -> Result<(Config, Vec<String>), ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(path) if !path.exists() => {
                return Err(ConfigError::MissingFile(path.display().to_string()));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None => {
                let default_path = Path::new("config/default.toml");
                if default_path.exists() {
                    figment = figment.merge(Toml::file_exact(default_path));
                }
            }
        }
        let (config, warnings) = Config::apply_env(figment, std::env::vars())?;
        Ok((config, warnings))
    }

    /// Applies `ZARYAD_A__B` variables from `vars` on top of `figment`.
    fn apply_env(
        figment: Figment,
        vars: impl Iterator<Item = (String, String)>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let known = known_keys();
        let mut warnings = Vec::new();
        for (name, _) in vars {
            if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
                let key = rest.to_ascii_lowercase().replace("__", ".");
                if !is_known_key(&known, &key) {
                    warnings.push(format!(
                        "environment variable {name} matches no configuration key and is ignored"
                    ));
                }
            }
        }
        let config: Config = figment
            .merge(
                Env::prefixed(ENV_PREFIX)
                    .split("__")
                    .filter_map(move |key| {
                        // Unknown variables were reported above; dropping them keeps deny_unknown_fields
                        // for files, where a typo is more likely a mistake worth failing on.
                        let key = key.as_str().to_ascii_lowercase();
                        is_known_key(&known, &key).then(|| key.into())
                    }),
            )
            .extract()
            .map_err(Box::new)?;
        Ok((config, warnings))
    }
}

/// Tables whose entries are named by the operator (`commands.timeouts.reset`).
const OPEN_TABLES: &[&str] = &["commands.timeouts"];

/// True for a key of the configuration or an entry of one of its open tables.
fn is_known_key(known: &[String], key: &str) -> bool {
    known.iter().any(|known| known == key)
        || OPEN_TABLES.iter().any(|table| {
            key.strip_prefix(table)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|entry| !entry.is_empty())
        })
}

/// Every dotted key of the configuration (`ocpp.listen`, `events.webhooks.max_age_secs`, …).
fn known_keys() -> Vec<String> {
    fn leaves(prefix: &str, value: &serde_json::Value, keys: &mut Vec<String>) {
        match value {
            // An open table is one key: its entries are the operator's (see `is_known_key`).
            serde_json::Value::Object(fields) if !OPEN_TABLES.contains(&prefix) => {
                for (name, value) in fields {
                    let key = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    leaves(&key, value, keys);
                }
            }
            _ => keys.push(prefix.to_owned()),
        }
    }
    let mut keys = Vec::new();
    if let Ok(config) = serde_json::to_value(Config::default()) {
        leaves("", &config, &mut keys);
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(vars: &[(&str, &str)]) -> Result<(Config, Vec<String>), ConfigError> {
        let figment = Figment::from(Serialized::defaults(Config::default()));
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        // figment reads the real environment; the test passes the names it checks separately.
        Config::apply_env(figment, vars.into_iter())
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::default();
        assert_eq!(config.ocpp.listen, "0.0.0.0:9000");
        assert_eq!(config.api.listen, "127.0.0.1:8080");
        assert_eq!(config.database.url, "sqlite://data/zaryad.db");
        assert_eq!(config.ocpp.unknown_stations, UnknownStationPolicy::Pending);
        assert_eq!(
            config.authorization.unknown_tokens,
            UnknownTokenPolicy::Reject
        );
        assert!(config.api.admin_token.is_none());
        assert_eq!(config.shutdown.drain_secs, 10);
    }

    #[test]
    fn unknown_variables_are_reported() {
        let (_, warnings) =
            load_with(&[("ZARYAD_OCPP__LISTN", "x"), ("ZARYAD_API__LISTEN", "y")]).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("ZARYAD_OCPP__LISTN"));
    }

    #[test]
    fn the_shipped_file_parses_and_documents_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(&text))
            .extract()
            .unwrap();
        assert_eq!(config.ocpp.listen, "0.0.0.0:9000");
        for key in known_keys() {
            let field = key.rsplit('.').next().unwrap();
            assert!(
                text.contains(field),
                "config/default.toml does not mention {key}"
            );
        }
    }

    #[test]
    fn frame_retention_is_in_days_and_zero_keeps_frames() {
        let mut config = Config::default();
        assert_eq!(
            config.database.store_options().frame_retention,
            Some(Duration::from_secs(30 * 24 * 3600))
        );
        let seven: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string("[database]\nframe_retention_days = 7"))
            .extract()
            .unwrap();
        assert_eq!(
            seven.database.store_options().frame_retention,
            Some(Duration::from_secs(7 * 24 * 3600))
        );
        config.database.frame_retention_days = 0;
        assert_eq!(config.database.store_options().frame_retention, None);
    }

    #[test]
    fn last_seen_has_its_own_interval() {
        let options = Config::default().database.store_options();
        assert_eq!(options.flush_interval, Duration::from_secs(2));
        assert_eq!(options.last_seen_interval, Duration::from_secs(10));
        let tuned: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string("[database]\nlast_seen_interval_ms = 2500"))
            .extract()
            .unwrap();
        assert_eq!(
            tuned.database.store_options().last_seen_interval,
            Duration::from_millis(2500)
        );
    }

    #[test]
    fn command_timeouts_default_and_override_per_command() {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(
                "[commands]\ntimeout_secs = 20\ntimeouts = { reset = 90 }\n",
            ))
            .extract()
            .unwrap();
        assert_eq!(
            config.commands.timeout("clear-cache"),
            Duration::from_secs(20)
        );
        assert_eq!(config.commands.timeout("reset"), Duration::from_secs(90));
        assert_eq!(
            CommandsConfig::default().timeout("reset"),
            Duration::from_secs(30)
        );
        // Per-command timeouts may come from the environment too.
        let (_, warnings) = load_with(&[
            ("ZARYAD_COMMANDS__TIMEOUTS__RESET", "90"),
            ("ZARYAD_COMMANDS__TIMEOUTS__", "1"),
        ])
        .unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn boot_settings_follow_the_configuration() {
        let mut ocpp = OcppConfig::default();
        assert_eq!(
            ocpp.boot_settings(),
            vec![
                ("HeartbeatInterval", "300".to_owned()),
                ("MeterValueSampleInterval", "60".to_owned()),
                (
                    "MeterValuesSampledData",
                    "Energy.Active.Import.Register,Power.Active.Import".to_owned()
                ),
            ]
        );
        ocpp.meter_value_sample_interval_secs = 0;
        ocpp.meter_values_sampled_data = " ".into();
        assert_eq!(ocpp.boot_settings().len(), 1);
    }

    #[test]
    fn nested_keys_come_from_the_environment() {
        let (config, warnings) = load_with(&[]).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(config.events.webhooks.max_age_secs, 259_200);
        assert_eq!(config.events.session_update_interval_secs, 60);
        assert!(config.events.nats.url.is_none());
        let keys = known_keys();
        assert!(keys.contains(&"events.webhooks.max_age_secs".to_owned()));
        assert!(keys.contains(&"events.nats.url".to_owned()));
        let (_, warnings) = load_with(&[("ZARYAD_EVENTS__WEBHOOKS__MAX_AGE_SECS", "5")]).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let (_, warnings) = load_with(&[("ZARYAD_EVENTS__WEBHOOKS__MAX_AGE", "5")]).unwrap();
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn redacted_debug_hides_secrets() {
        let mut config = Config::default();
        config.api.admin_token = Some("s3cret".into());
        config.database.url = "postgres://zaryad:hunter2@db/zaryad".into();
        config.events.nats.url = Some("nats://user:natspass@nats:4222".into());
        let debug = format!("{config:?}");
        assert!(!debug.contains("natspass"));
        assert!(!debug.contains("s3cret"));
        assert!(!debug.contains("hunter2"));
    }
}
