//! One station's messages: decoded by the adapter, applied to the model, committed, answered.
//!
//! The connection task owns a [`StationContext`]: the station record, its connectors and its
//! active sessions live here in memory, so no other task reads-modifies-writes them. Every
//! change is committed (state and outbox event in one batch) before the in-memory copy is
//! updated and before the charger gets its answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use zaryad_adapter::configuration::{native_key, report_part};
use zaryad_adapter::{DataTransferAnswer, Decoded, Repair, Selection, StationFacts};
use zaryad_model::{
    AuthorizationInfo, BootInfo, ChargerMessage, ChargingState, Command, ConfigurationEntry,
    Connector, ConnectorStatus, ConnectorTypeReport, DataTransferStatus, DomainEvent, EventType,
    IdToken, MeterSample, ReadingContext, Registration, Reply, Session, SessionState, Station,
    StationId, StatusReport, Timestamp, TransactionEventKind, TransactionReport, VendorFacts,
};
use zaryad_store::{SessionFilter, StationState, StoreError, WriteBatch, WriteOp};
use zaryad_wire::{ErrorCode, OcppVersion};

use super::commands::{Completion, Origin};
use super::connectors::Connectors;
use crate::config::{UnknownStationPolicy, UnknownTokenPolicy};
use crate::metrics;
use crate::state::Shared;
use crate::views::{SessionView, command_event};

/// The answer to one inbound CALL.
pub struct CallOutcome {
    /// The CALLRESULT payload, or the CALLERROR code and description.
    pub result: Result<Value, (ErrorCode, String)>,
    /// Repairs the adapter applied to the CALL.
    pub repairs: Vec<Repair>,
    /// Repairs the station's profile applied to the answer.
    pub reply_repairs: Vec<Repair>,
    /// The registration answered, when the CALL was a BootNotification.
    pub booted: Option<Registration>,
}

/// An accepted remote start waiting for the transaction it asked for.
#[derive(Debug, Clone)]
struct RemoteStartLink {
    remote_start_id: i64,
    id_token: String,
    evse_id: Option<u32>,
    until: Instant,
}

/// Changes computed from one message, applied in memory only after they are committed.
#[derive(Default)]
struct Changes {
    batch: WriteBatch,
    sessions: Vec<Session>,
    connectors: Vec<Connector>,
    station: Option<Station>,
    /// Sessions that began with this change.
    begun: Vec<String>,
}

impl Changes {
    fn event(&mut self, event: DomainEvent) {
        self.batch.push(WriteOp::AppendEvent(event));
    }

    fn session(&mut self, session: Session) {
        self.batch.push(WriteOp::UpsertSession(session.clone()));
        self.sessions.push(session);
    }

    fn samples(
        &mut self,
        station_id: &StationId,
        session: Option<&Session>,
        evse_id: u32,
        samples: &[MeterSample],
    ) {
        if samples.is_empty() {
            return;
        }
        self.batch.push(WriteOp::InsertSamples {
            station_id: station_id.clone(),
            evse_id: session.map_or(evse_id, |session| session.evse_id),
            session_id: session.map(|session| session.id.clone()),
            samples: samples.to_vec(),
        });
    }
}

/// A station's live state, owned by its connection task.
pub struct StationContext {
    shared: Arc<Shared>,
    station_id: StationId,
    version: OcppVersion,
    station: Station,
    connectors: Connectors,
    active: Vec<Session>,
    last_update_event: HashMap<String, Instant>,
    /// Accepted remote starts whose transaction has not begun yet.
    remote_starts: Vec<RemoteStartLink>,
    /// The 2.0.1 report request whose NotifyReport holds the whole configuration.
    full_report_request: Option<i64>,
    /// The station's vendor profile and why it applies.
    selection: Selection,
    /// The profiles' generation the selection was made at.
    profiles_generation: u64,
    /// Repairs of the current CALL that touch a session's energy, time or token: the session
    /// the CALL concerns lists them.
    call_flags: Vec<String>,
    /// The CDR's samples of the active sessions that began on this connection, so that a stop
    /// builds its `session.ended` CDR without reading them back (a read on the reply path that
    /// cost tens of milliseconds under load). Other sessions' samples are read at their stop.
    cdr_samples: HashMap<String, Vec<MeterSample>>,
    /// When the connection's load read `station`, until the first BootNotification: a boot
    /// right after the load (the usual case, and every one of a reconnect storm's) need not
    /// read the station again. Later boots always do.
    loaded_at: Option<Instant>,
    /// What the connection itself writes (`station.connected`, and the station's row when it
    /// is new or its version changed), not committed yet: it rides with the station's first
    /// commit — nearly always its BootNotification's, right behind it — so a connecting charger
    /// waits for one commit instead of two (a reconnect storm's chargers each waited out a
    /// commit of their own before their boot was read). Written alone when nothing else comes
    /// within [`CONNECT_RECORD_WAIT`]; kept until a commit holding it succeeds.
    connect_record: Option<Box<ConnectRecord>>,
    /// The id token this connection read last: a charger authorizes a token, then starts and
    /// stops its transaction with it, and each asks for its status (a read on the reply path).
    last_token: Option<Box<TokenRead>>,
    /// The repair counters of this station's CALLs, made at its first repair (boxed: most
    /// chargers need none, and an idle connection's memory counts).
    repair_counters: Option<Box<metrics::RepairCounters>>,
}

/// An id token as read (`None`: unknown), with when and under which generation of the id
/// tokens (see [`zaryad_store::Store::id_tokens_generation`]) it was read.
struct TokenRead {
    token: String,
    known: Option<IdToken>,
    generation: u64,
    at: Instant,
}

/// How long a connection answers from the id token it read last. A change committed through
/// this node's store takes effect at once; this bounds how long one made by another node may
/// go unseen.
const TOKEN_READ_FRESH: Duration = Duration::from_secs(5);

/// The connection's own writes, waiting for the station's first commit.
struct ConnectRecord {
    batch: WriteBatch,
    /// When it is written alone if no other commit took it.
    due: tokio::time::Instant,
}

/// How long the connection's record waits for the station's first commit.
const CONNECT_RECORD_WAIT: Duration = Duration::from_millis(250);

/// What the WebSocket upgrade read of the station, boxed so that it costs an idle connection
/// one word; `None` when the connection must read it all.
pub type UpgradeRead = Option<Box<StationRead>>;

/// The station as the WebSocket upgrade read it.
pub struct StationRead {
    /// Its row; `None` when there was none.
    pub station: Option<Station>,
    /// Its connectors and active sessions, when they came with the row.
    pub state: Option<StationState>,
}

/// How old the station's copy may be for a BootNotification to answer from it without
/// reading the station again: the time between the WebSocket upgrade and the first CALL.
const FRESH_STATION: Duration = Duration::from_secs(1);

impl StationContext {
    /// Loads the station (registering it under the unknown-station policy when it is new),
    /// its connectors and active sessions, and records the connection.
    pub async fn load(
        shared: Arc<Shared>,
        station_id: StationId,
        version: OcppVersion,
        upgrade_read: UpgradeRead,
    ) -> Result<StationContext, StoreError> {
        let now = Utc::now();
        let store = &shared.store;
        let (known, state) = match upgrade_read {
            Some(read) => (read.station, read.state),
            None => (store.station(&station_id).await?, None),
        };
        // A known station connecting again with the same version changes nothing in its row
        // but the last-seen time, which the coalesced touches write: a reconnect storm then
        // costs one statement fewer per charger.
        let unchanged = known
            .as_ref()
            .is_some_and(|station| station.ocpp_version.as_deref() == Some(version.as_str()));
        let mut station = match known {
            Some(station) => station,
            None => {
                let registration = match shared.config.ocpp.unknown_stations {
                    UnknownStationPolicy::Accept => Registration::Accepted,
                    UnknownStationPolicy::Pending => Registration::Pending,
                    UnknownStationPolicy::Reject => Registration::Rejected,
                };
                tracing::info!(station = %station_id, registration = registration.as_str(), "unknown station registered");
                Station::new(station_id.clone(), registration, now)
            }
        };
        station.ocpp_version = Some(version.as_str().to_owned());
        station.last_seen_at = Some(now);
        let (connectors, active) = match state {
            Some(state) => (state.connectors, state.active_sessions),
            None => (
                store.connectors(&station_id).await?,
                store
                    .sessions(&SessionFilter {
                        station_id: Some(station_id.clone()),
                        state: Some(SessionState::Active),
                        limit: zaryad_store::ACTIVE_SESSIONS_LOADED,
                    })
                    .await?,
            ),
        };
        let connectors = connectors.into_iter().collect();
        let profiles_generation = shared.profiles.generation();
        let selection = select_profile(&shared, &station);
        let mut context = StationContext {
            shared,
            station_id,
            version,
            station: station.clone(),
            connectors,
            active,
            last_update_event: HashMap::new(),
            remote_starts: Vec::new(),
            full_report_request: None,
            selection,
            profiles_generation,
            call_flags: Vec::new(),
            cdr_samples: HashMap::new(),
            loaded_at: Some(Instant::now()),
            connect_record: None,
            last_token: None,
            repair_counters: None,
        };
        let mut batch = WriteBatch::new();
        if unchanged {
            context.shared.store.touch(&context.station_id, now);
        } else {
            batch.push(WriteOp::UpsertStation(station));
        }
        let data = json!({"ocpp_version": version.as_str()});
        batch.push(WriteOp::AppendEvent(context.event(
            EventType::StationConnected,
            None,
            data,
            now,
        )));
        context.connect_record = Some(Box::new(ConnectRecord {
            batch,
            due: tokio::time::Instant::now() + CONNECT_RECORD_WAIT,
        }));
        Ok(context)
    }

    /// When the connection's own record is to be written if no commit took it before.
    pub fn connect_record_due(&self) -> Option<tokio::time::Instant> {
        self.connect_record.as_ref().map(|record| record.due)
    }

    /// Writes the connection's own record now, if it is still waiting.
    pub async fn write_connect_record(&mut self) -> Result<(), StoreError> {
        self.commit(Changes::default()).await
    }

    /// The station's vendor, as its last boot said (for metric labels).
    pub fn vendor(&self) -> Option<&str> {
        self.station.vendor.as_deref()
    }

    /// Records the end of the connection.
    pub async fn disconnected(&mut self) -> Result<(), StoreError> {
        let mut changes = Changes::default();
        let event = self.event(EventType::StationDisconnected, None, json!({}), Utc::now());
        changes.event(event);
        self.commit(changes).await
    }

    /// The OCPP version of the connection.
    pub fn version(&self) -> OcppVersion {
        self.version
    }

    /// The station's vendor profile and why it applies.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// The profile's byte-level repairs of a frame that is not JSON (see
    /// [`zaryad_adapter::repair_text`]).
    pub fn repair_text(&self, text: &str) -> Option<(String, Vec<Repair>)> {
        zaryad_adapter::repair_text(&self.selection.profile, text)
    }

    /// Chooses the profile again when the profiles or the operator's pin changed.
    async fn refresh_profile(&mut self) -> Result<(), StoreError> {
        let generation = self.shared.profiles.generation();
        if generation == self.profiles_generation {
            return Ok(());
        }
        if let Some(stored) = self.shared.store.station(&self.station_id).await? {
            self.station.vendor_profile = stored.vendor_profile;
            self.station.registration = stored.registration;
        }
        self.profiles_generation = generation;
        self.selection = select_profile(&self.shared, &self.station);
        Ok(())
    }

    /// Handles one inbound CALL and returns what to answer.
    pub async fn handle_call(
        &mut self,
        action: &str,
        payload: Value,
        received_at: Timestamp,
    ) -> CallOutcome {
        if let Err(error) = self.refresh_profile().await {
            tracing::warn!(station = %self.station_id, %error, "profile choice not refreshed");
        }
        let profile = self.selection.profile.clone();
        let decoded =
            match zaryad_adapter::decode_call(&profile, self.version, action, payload, received_at)
            {
                Ok(decoded) => decoded,
                Err(error) => {
                    return CallOutcome {
                        result: Err((error.code, error.description)),
                        repairs: Vec::new(),
                        reply_repairs: Vec::new(),
                        booted: None,
                    };
                }
            };
        let Decoded {
            message,
            repairs,
            codec,
            data_transfer,
            connector_types,
        } = decoded;
        if !repairs.is_empty() {
            let counters = self.repair_counters.get_or_insert_default();
            for repair in &repairs {
                counters.applied(
                    repair.name.as_ref(),
                    profile.name(),
                    self.station.vendor.as_deref(),
                );
            }
        }
        self.call_flags = repairs
            .iter()
            .filter(|repair| repair.touches.is_some())
            .map(|repair| repair.name.clone())
            .collect();
        if self.station.registration == Registration::Rejected
            && !matches!(message, ChargerMessage::Boot(_))
        {
            return CallOutcome {
                result: Err((
                    ErrorCode::SecurityError,
                    "the station is not accepted by this CSMS".to_owned(),
                )),
                repairs,
                reply_repairs: Vec::new(),
                booted: None,
            };
        }
        let mut booted = None;
        let applied = async {
            let reply = self.apply(message, data_transfer, received_at).await?;
            self.connector_types(connector_types, received_at).await?;
            Ok::<_, StoreError>(reply)
        };
        let mut reply_repairs = Vec::new();
        let result = match applied.await {
            Ok(reply) => {
                if let Reply::Boot { registration, .. } = &reply {
                    booted = Some(*registration);
                }
                let mut payload = zaryad_adapter::encode_reply(codec, action, &reply);
                // A boot may have chosen another profile: its answer is already the new one's.
                let profile = self.selection.profile.clone();
                reply_repairs = zaryad_adapter::repair_outbound(
                    &profile,
                    codec,
                    action,
                    &mut payload,
                    received_at,
                );
                Ok(payload)
            }
            Err(error) => {
                tracing::error!(station = %self.station_id, action, %error, "message not stored; the charger will retry");
                Err((
                    ErrorCode::InternalError,
                    "the CSMS could not store this message; please retry".to_owned(),
                ))
            }
        };
        CallOutcome {
            result,
            repairs,
            reply_repairs,
            booted,
        }
    }

    async fn apply(
        &mut self,
        message: ChargerMessage,
        data_transfer: Option<DataTransferAnswer>,
        now: Timestamp,
    ) -> Result<Reply, StoreError> {
        match message {
            ChargerMessage::Boot(info) => self.boot(info, now).await,
            ChargerMessage::Heartbeat => Ok(Reply::Heartbeat { current_time: now }),
            ChargerMessage::Status(report) => self.status(report, now).await,
            ChargerMessage::Authorize { id_token } => {
                Ok(Reply::Authorize(self.authorize(&id_token, now).await?))
            }
            ChargerMessage::Transaction(report) => self.transaction(report, now).await,
            ChargerMessage::MeterValues {
                evse_id,
                transaction_id,
                samples,
            } => {
                self.meter_values(evse_id, transaction_id, samples, now)
                    .await
            }
            ChargerMessage::DataTransfer {
                vendor_id,
                message_id,
                ..
            } => {
                // The frame log keeps the data as sent; the profile's decoder (if any) decides
                // the answer and which session facts it carries.
                let answer = data_transfer.unwrap_or(DataTransferAnswer {
                    status: DataTransferStatus::UnknownVendorId,
                    data: None,
                    facts: None,
                    problems: Vec::new(),
                });
                for problem in &answer.problems {
                    tracing::info!(station = %self.station_id, vendor_id, ?message_id, problem, "vendor data not fully read");
                }
                if let Some(facts) = answer.facts {
                    self.vendor_facts(facts, now).await?;
                }
                Ok(Reply::DataTransfer {
                    status: answer.status,
                    data: answer.data,
                })
            }
            ChargerMessage::Notification { action, payload } => {
                if action == "NotifyReport" {
                    self.report(&payload, now).await?;
                }
                Ok(Reply::Empty)
            }
        }
    }

    /// Keeps the variables a 2.0.1 NotifyReport carries; the first part of a full report
    /// replaces what was known.
    async fn report(&mut self, payload: &Value, now: Timestamp) -> Result<(), StoreError> {
        let Some(part) = report_part(payload) else {
            return Ok(());
        };
        let replace = part.seq_no == 0 && self.full_report_request == Some(part.request_id);
        if !part.tbc && self.full_report_request == Some(part.request_id) {
            self.full_report_request = None;
        }
        let mut changes = Changes::default();
        self.configuration(&mut changes, part.entries, replace, now);
        self.commit(changes).await
    }

    fn configuration(
        &self,
        changes: &mut Changes,
        entries: Vec<ConfigurationEntry>,
        replace: bool,
        now: Timestamp,
    ) {
        if entries.is_empty() && !replace {
            return;
        }
        changes.batch.push(WriteOp::StoreConfiguration {
            station_id: self.station_id.clone(),
            entries,
            replace,
            at: now,
        });
    }

    /// Records what a CSMS-initiated CALL changed: configuration it read or set, a remote
    /// start to link, and for operator commands the `command.completed` event, in one commit.
    pub async fn command_completed(
        &mut self,
        completion: &Completion<'_>,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut changes = Changes::default();
        let mut plugs = Vec::new();
        if let Ok(outcome) = completion.result {
            let accepted = matches!(outcome.status.as_str(), "Accepted" | "RebootRequired");
            match completion.command {
                Command::GetConfiguration { keys, request_id } => {
                    if keys.is_empty() && self.version == OcppVersion::V201 {
                        if accepted {
                            self.full_report_request = Some(i64::from(*request_id));
                        }
                    } else {
                        let replace = keys.is_empty();
                        let entries = outcome.configuration.clone();
                        plugs = zaryad_adapter::configuration::connector_types(
                            self.selection.profile.connector_type_keys(),
                            &entries,
                        );
                        self.configuration(&mut changes, entries, replace, now);
                    }
                }
                Command::SetConfiguration { key, value } if accepted => {
                    if let Ok(key) = native_key(self.version, key) {
                        let entry = ConfigurationEntry {
                            key,
                            value: Some(value.clone()),
                            readonly: None,
                        };
                        self.configuration(&mut changes, vec![entry], false, now);
                    }
                }
                Command::StartSession {
                    id_token,
                    evse_id,
                    connector_id,
                    remote_start_id,
                    ..
                } if accepted => {
                    let window = self.shared.config.commands.remote_start_link_secs;
                    self.remote_starts
                        .retain(|link| link.until > Instant::now());
                    self.remote_starts.push(RemoteStartLink {
                        remote_start_id: i64::from(*remote_start_id),
                        id_token: id_token.clone(),
                        evse_id: evse_id.or(*connector_id).filter(|id| *id > 0),
                        until: Instant::now() + Duration::from_secs(window),
                    });
                }
                _ => {}
            }
        }
        if completion.origin == Origin::Api {
            let data = command_event(completion);
            changes.event(self.event(EventType::CommandCompleted, None, data, now));
        }
        self.commit(changes).await?;
        self.connector_types(plugs, now).await
    }

    /// Links a starting transaction to the remote start that asked for it: 2.0.1 names its
    /// `remoteStartId`; 1.6 cannot, so the first start with the same token (and EVSE, when
    /// the command named one) within the link window is taken to be it.
    fn link_remote_start(&mut self, report: &mut TransactionReport) {
        let now = Instant::now();
        self.remote_starts.retain(|link| link.until > now);
        let position = match report.remote_start_id {
            Some(id) => self
                .remote_starts
                .iter()
                .position(|link| link.remote_start_id == id),
            None if report.kind == TransactionEventKind::Started => {
                let Some(token) = report.id_token.as_deref() else {
                    return;
                };
                self.remote_starts.iter().position(|link| {
                    link.id_token.eq_ignore_ascii_case(token)
                        && link
                            .evse_id
                            .is_none_or(|evse_id| report.evse_id == Some(evse_id))
                })
            }
            None => None,
        };
        if let Some(position) = position {
            let link = self.remote_starts.remove(position);
            report.remote_start_id = Some(link.remote_start_id);
        }
    }

    async fn boot(&mut self, info: BootInfo, now: Timestamp) -> Result<Reply, StoreError> {
        // The operator may have changed the registration or profile since the connection began;
        // a copy the load read a moment ago is as good as a new read.
        let just_loaded = self
            .loaded_at
            .take()
            .is_some_and(|loaded_at| loaded_at.elapsed() <= FRESH_STATION);
        if !just_loaded && let Some(fresh) = self.shared.store.station(&self.station_id).await? {
            self.station = fresh;
        }
        let mut station = self.station.clone();
        station.vendor = info.vendor.clone().or(station.vendor);
        station.model = info.model.clone().or(station.model);
        station.firmware_version = info.firmware_version.clone();
        station.serial_number = info.serial_number.clone().or(station.serial_number);
        station.last_boot_at = Some(now);
        station.ocpp_version = Some(self.version.as_str().to_owned());
        let registration = station.registration;
        let mut changes = Changes::default();
        changes.batch.push(WriteOp::UpsertStation(station.clone()));
        let data = json!({
            "registration": registration.as_str(),
            "vendor": info.vendor,
            "model": info.model,
            "firmware_version": info.firmware_version,
            "serial_number": info.serial_number,
            "reason": info.reason,
        });
        changes.event(self.event(EventType::StationBooted, None, data, now));
        changes.station = Some(station);
        self.commit(changes).await?;
        // The boot named the vendor, model and firmware the profile is matched on.
        self.profiles_generation = self.shared.profiles.generation();
        self.selection = select_profile(&self.shared, &self.station);
        // A profile may know the model's guns (a 1.6 charger has no standard way to say).
        let declared = self
            .selection
            .profile
            .connector_types()
            .iter()
            .map(|(evse_id, connector_type)| ConnectorTypeReport {
                evse_id: *evse_id,
                connector_id: 1,
                connector_type: *connector_type,
            })
            .collect();
        self.connector_types(declared, now).await?;
        let ocpp = &self.shared.config.ocpp;
        let interval_seconds = match registration {
            Registration::Accepted => ocpp.heartbeat_interval_secs,
            Registration::Pending | Registration::Rejected => ocpp.boot_retry_interval_secs,
        };
        Ok(Reply::Boot {
            registration,
            interval_seconds,
            current_time: now,
        })
    }

    async fn status(&mut self, report: StatusReport, now: Timestamp) -> Result<Reply, StoreError> {
        let mut connector = self
            .connectors
            .get(report.evse_id, report.connector_id)
            .cloned()
            .unwrap_or_else(|| Connector::new(report.evse_id, report.connector_id));
        let previous = connector.status();
        connector.reported_status = report.status;
        connector.error_code = report.error_code;
        connector.info = report.info;
        connector.status_at = Some(report.timestamp.unwrap_or(now));
        if report.connector_type.is_some() {
            connector.connector_type = report.connector_type;
        }
        if matches!(
            report.status,
            ConnectorStatus::Available | ConnectorStatus::Unavailable | ConnectorStatus::Faulted
        ) {
            connector.charging_state = None;
        } else if connector.charging_state.is_none() {
            // A 2.0.1 `Occupied` after a transaction already reported its charging state.
            connector.charging_state = self
                .active
                .iter()
                .find(|session| session.evse_id == report.evse_id)
                .and_then(|session| session.charging_state);
        }
        let mut changes = Changes::default();
        self.connector_changed(&mut changes, connector, previous, now);
        self.commit(changes).await?;
        Ok(Reply::Empty)
    }

    async fn authorize(
        &mut self,
        id_token: &str,
        now: Timestamp,
    ) -> Result<AuthorizationInfo, StoreError> {
        let known = self.known_token(id_token).await?;
        let accept_unknown =
            self.shared.config.authorization.unknown_tokens == UnknownTokenPolicy::Accept;
        Ok(AuthorizationInfo::decide(
            known.as_ref(),
            accept_unknown,
            now,
        ))
    }

    /// The id token's record, from this connection's last read of it while that is fresh.
    /// The decision is made anew each time (expiry is judged at `now`).
    async fn known_token(&mut self, id_token: &str) -> Result<Option<IdToken>, StoreError> {
        // Read before the store: a change committed after this value moves it, so a record
        // read under it is never taken for newer than it is.
        let generation = self.shared.store.id_tokens_generation();
        if let Some(read) = &self.last_token
            && read.token == id_token
            && read.generation == generation
            && read.at.elapsed() <= TOKEN_READ_FRESH
        {
            return Ok(read.known.clone());
        }
        let known = self.shared.store.id_token(id_token).await?;
        self.last_token = Some(Box::new(TokenRead {
            token: id_token.to_owned(),
            known: known.clone(),
            generation,
            at: Instant::now(),
        }));
        Ok(known)
    }

    async fn transaction(
        &mut self,
        mut report: TransactionReport,
        now: Timestamp,
    ) -> Result<Reply, StoreError> {
        self.link_remote_start(&mut report);
        let authorization = match (&report.id_token, &report.id_token_type) {
            (Some(token), _) => Some(self.authorize(token, now).await?),
            // A 2.0.1 `NoAuthorization` token: the charger asks nobody, and the answer says so.
            (None, Some(_)) => Some(AuthorizationInfo::accepted()),
            (None, None) => None,
        };
        match report.transaction_id.clone() {
            None => {
                self.start_with_assigned_id(report, authorization, now)
                    .await
            }
            Some(transaction_id) => {
                self.charger_numbered(transaction_id, report, now).await?;
                Ok(Reply::Transaction {
                    assigned_transaction_id: None,
                    authorization,
                })
            }
        }
    }

    /// A 1.6 StartTransaction: the CSMS assigns the transaction id.
    async fn start_with_assigned_id(
        &mut self,
        report: TransactionReport,
        authorization: Option<AuthorizationInfo>,
        now: Timestamp,
    ) -> Result<Reply, StoreError> {
        let accept_unknown =
            self.shared.config.authorization.unknown_tokens == UnknownTokenPolicy::Accept;
        let authorization =
            authorization.unwrap_or_else(|| AuthorizationInfo::decide(None, accept_unknown, now));
        let evse_id = report.evse_id.unwrap_or(1);
        if let Some(existing) = self
            .active
            .iter()
            .find(|session| session.evse_id == evse_id && session.is_resent_start(&report))
        {
            // The charger lost our answer and asks again: same transaction, no second session.
            return Ok(Reply::Transaction {
                assigned_transaction_id: existing.transaction_id.parse().ok(),
                authorization: Some(authorization),
            });
        }
        let mut changes = Changes::default();
        self.close_unfinished(&mut changes, evse_id, report.timestamp, now);
        let transaction_id = self.shared.store.next_transaction_id().await?;
        let mut session = Session::begin(
            new_id(),
            self.station_id.clone(),
            transaction_id.to_string(),
            &report,
            now,
        );
        self.flag_repairs(&mut session);
        self.started(&mut changes, session, &report, now);
        self.commit(changes).await?;
        Ok(Reply::Transaction {
            assigned_transaction_id: Some(transaction_id),
            authorization: Some(authorization),
        })
    }

    /// A transaction whose id the charger chose (2.0.1), or a 1.6 stop.
    async fn charger_numbered(
        &mut self,
        transaction_id: String,
        report: TransactionReport,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if report.kind == TransactionEventKind::Ended
            && is_placeholder_id(&transaction_id)
            && let Some(mut session) = self.placeholder_stop_target(&report)
        {
            // Delta's 0, MicroOcpp's -1: the one open session this stop can be is closed.
            session.flag(STOP_ID_PLACEHOLDER);
            let mut changes = Changes::default();
            self.stop(&mut changes, session, &report, now);
            return self.commit(changes).await;
        }
        let known = match self
            .active
            .iter()
            .find(|session| session.transaction_id == transaction_id)
        {
            Some(session) => Some(session.clone()),
            None => {
                self.shared
                    .store
                    .session_by_transaction(&self.station_id, &transaction_id)
                    .await?
            }
        };
        let mut changes = Changes::default();
        match (report.kind, known) {
            (TransactionEventKind::Ended, Some(session))
                if session.state == SessionState::Completed =>
            {
                if is_placeholder_id(&transaction_id) && !is_same_stop(&session, &report) {
                    // Ids like 0 or -1 are not unique: a different stop is a different session.
                    self.begin_and_end_unknown(&mut changes, transaction_id, &report, now);
                } else {
                    // A resent stop: already recorded, nothing changes.
                    return Ok(());
                }
            }
            (_, Some(session)) if session.state == SessionState::Completed => {
                // A late start or update for a finished session: keep its samples (they may
                // correct its end, see `events::corrections`).
                changes.samples(
                    &self.station_id,
                    Some(&session),
                    session.evse_id,
                    &report.samples,
                );
                self.late_samples(&mut changes, &session, &report.samples, now);
            }
            (TransactionEventKind::Ended, Some(session)) => {
                self.stop(&mut changes, session, &report, now);
            }
            (_, Some(mut session)) => {
                let charging_state_before = session.charging_state;
                session.update(&report, now);
                self.flag_repairs(&mut session);
                changes.samples(
                    &self.station_id,
                    Some(&session),
                    session.evse_id,
                    &report.samples,
                );
                if report.charging_state.is_some() {
                    self.refine_connector(&mut changes, &session, report.connector_id, now);
                }
                self.updated(&mut changes, session, charging_state_before, now);
            }
            (TransactionEventKind::Ended, None) => {
                self.begin_and_end_unknown(&mut changes, transaction_id, &report, now);
            }
            (kind, None) => {
                let evse_id = report.evse_id.unwrap_or(1);
                self.close_unfinished(&mut changes, evse_id, report.timestamp, now);
                let mut session = Session::begin(
                    new_id(),
                    self.station_id.clone(),
                    transaction_id,
                    &report,
                    now,
                );
                if kind == TransactionEventKind::Updated {
                    session.flag("transaction-start-missing");
                }
                self.flag_repairs(&mut session);
                self.refine_connector(&mut changes, &session, report.connector_id, now);
                self.started(&mut changes, session, &report, now);
            }
        }
        self.commit(changes).await
    }

    /// Records a stop for a transaction never seen: a billable session is never dropped.
    fn begin_and_end_unknown(
        &mut self,
        changes: &mut Changes,
        transaction_id: String,
        report: &TransactionReport,
        now: Timestamp,
    ) {
        let begin_samples: Vec<MeterSample> = report
            .samples
            .iter()
            .filter(|sample| sample.context == ReadingContext::TransactionBegin)
            .cloned()
            .collect();
        let started_at = report
            .samples
            .iter()
            .map(|sample| sample.timestamp)
            .min()
            .map_or(report.timestamp, |first| first.min(report.timestamp));
        let start = TransactionReport {
            kind: TransactionEventKind::Started,
            meter_wh: None,
            samples: begin_samples,
            timestamp: started_at,
            ..report.clone()
        };
        let mut session = Session::begin(
            new_id(),
            self.station_id.clone(),
            transaction_id,
            &start,
            now,
        );
        session.flag("transaction-start-missing");
        if is_placeholder_id(&session.transaction_id) {
            session.flag(TRANSACTION_ID_PLACEHOLDER);
        }
        self.flag_repairs(&mut session);
        session.end(report, now);
        changes.samples(
            &self.station_id,
            Some(&session),
            session.evse_id,
            &report.samples,
        );
        let data = SessionView::json(&session);
        changes.event(self.event(EventType::SessionStarted, Some(&session), data.clone(), now));
        changes.event(self.event(EventType::SessionEnded, Some(&session), data, now));
        changes.session(session);
    }

    async fn meter_values(
        &mut self,
        evse_id: u32,
        transaction_id: Option<String>,
        samples: Vec<MeterSample>,
        now: Timestamp,
    ) -> Result<Reply, StoreError> {
        let mut changes = Changes::default();
        match self
            .meter_values_target(evse_id, transaction_id.as_deref())
            .await?
        {
            (Some(mut session), flag) if session.state == SessionState::Active => {
                let charging_state = session.charging_state;
                session.apply_samples(&samples, now);
                if let Some(flag) = flag {
                    session.flag(flag);
                }
                self.flag_repairs(&mut session);
                changes.samples(&self.station_id, Some(&session), evse_id, &samples);
                self.updated(&mut changes, session, charging_state, now);
            }
            (Some(mut session), flag) => {
                // Closing values after the stop (Ocular, lbbrhzn #2075): kept with the session,
                // which stays as its stop left it.
                changes.samples(&self.station_id, Some(&session), evse_id, &samples);
                if let Some(flag) = flag
                    && !session.quirks.iter().any(|quirk| quirk == flag)
                {
                    session.flag(flag);
                    changes.session(session.clone());
                }
                self.late_samples(&mut changes, &session, &samples, now);
            }
            (None, _) => changes.samples(&self.station_id, None, evse_id, &samples),
        }
        self.commit(changes).await?;
        Ok(Reply::Empty)
    }

    /// Asks for a corrected `session.ended` when samples arrive for a session that ended.
    fn late_samples(
        &self,
        changes: &mut Changes,
        session: &Session,
        samples: &[MeterSample],
        now: Timestamp,
    ) {
        let config = &self.shared.config.events;
        crate::events::request_correction(&mut changes.batch, session, samples, config, now);
    }

    /// The session MeterValues belong to, with the flag that says how it was found when the
    /// charger did not name it plainly.
    async fn meter_values_target(
        &self,
        evse_id: u32,
        transaction_id: Option<&str>,
    ) -> Result<(Option<Session>, Option<&'static str>), StoreError> {
        let sole_on_evse = || {
            let mut on_evse = self
                .active
                .iter()
                .filter(|session| session.evse_id == evse_id);
            match (on_evse.next(), on_evse.next()) {
                (Some(only), None) => Some(only.clone()),
                _ => None,
            }
        };
        match transaction_id {
            Some(id) if !is_placeholder_id(id) => {
                if let Some(session) = self.active.iter().find(|s| s.transaction_id == id) {
                    return Ok((Some(session.clone()), None));
                }
                if let Some(session) = self
                    .shared
                    .store
                    .session_by_transaction(&self.station_id, id)
                    .await?
                {
                    return Ok((Some(session), Some(METER_VALUES_AFTER_STOP)));
                }
                Ok((sole_on_evse(), Some(METER_VALUES_UNKNOWN_TRANSACTION)))
            }
            Some(_) => Ok((sole_on_evse(), Some(METER_VALUES_PLACEHOLDER))),
            None if evse_id == 0 => {
                // The station's own meter (KEBA, ABB): it is the session's when only one runs.
                let only = match self.active.as_slice() {
                    [only] => Some(only.clone()),
                    _ => None,
                };
                Ok((only, Some(METER_VALUES_ON_CONNECTOR_0)))
            }
            None => Ok((sole_on_evse(), None)),
        }
    }

    /// Ends `session` with a stop report: its samples, the CALL's repairs, the events.
    fn stop(
        &mut self,
        changes: &mut Changes,
        mut session: Session,
        report: &TransactionReport,
        now: Timestamp,
    ) {
        session.end(report, now);
        self.flag_repairs(&mut session);
        changes.samples(
            &self.station_id,
            Some(&session),
            session.evse_id,
            &report.samples,
        );
        self.ended(changes, session, now);
    }

    /// The open session a stop with a placeholder id (0, -1) closes: the only one on the
    /// station, when its token and start fit the stop.
    fn placeholder_stop_target(&self, report: &TransactionReport) -> Option<Session> {
        let [only] = self.active.as_slice() else {
            return None;
        };
        let token_fits = report.id_token.is_none() || report.id_token == only.id_token;
        (token_fits && only.started_at <= report.timestamp).then(|| only.clone())
    }

    /// Adds the current CALL's repairs that touch energy, time or token to `session`.
    fn flag_repairs(&self, session: &mut Session) {
        for name in &self.call_flags {
            session.flag(name);
        }
    }

    /// Session facts from vendor data: samples go to the session they name (by transaction,
    /// else by EVSE), plug types to the connectors.
    async fn vendor_facts(&mut self, facts: VendorFacts, now: Timestamp) -> Result<(), StoreError> {
        self.connector_types(facts.connector_types.clone(), now)
            .await?;
        if facts.samples.is_empty() {
            return Ok(());
        }
        let by_transaction = facts.transaction_id.as_deref().and_then(|id| {
            self.active
                .iter()
                .find(|session| session.transaction_id == id)
        });
        let target = by_transaction
            .or_else(|| {
                let mut candidates = self.active.iter().filter(|session| {
                    facts
                        .evse_id
                        .is_none_or(|evse_id| session.evse_id == evse_id)
                });
                match (candidates.next(), candidates.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            })
            .cloned();
        let mut changes = Changes::default();
        match target {
            Some(mut session) => {
                let charging_state = session.charging_state;
                session.apply_samples(&facts.samples, now);
                self.flag_repairs(&mut session);
                changes.samples(
                    &self.station_id,
                    Some(&session),
                    session.evse_id,
                    &facts.samples,
                );
                self.updated(&mut changes, session, charging_state, now);
            }
            None => changes.samples(
                &self.station_id,
                None,
                facts.evse_id.unwrap_or(0),
                &facts.samples,
            ),
        }
        self.commit(changes).await
    }

    /// Records plug types a message, vendor data or the profile reported.
    async fn connector_types(
        &mut self,
        reports: Vec<ConnectorTypeReport>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if reports.is_empty() {
            return Ok(());
        }
        let mut changes = Changes::default();
        for report in reports {
            let mut connector = self
                .connectors
                .get(report.evse_id, report.connector_id)
                .cloned()
                .unwrap_or_else(|| Connector::new(report.evse_id, report.connector_id));
            if connector.connector_type == Some(report.connector_type) {
                continue;
            }
            let previous = connector.status();
            connector.connector_type = Some(report.connector_type);
            self.connector_changed(&mut changes, connector, previous, now);
        }
        self.commit(changes).await
    }

    /// Closes a session left open on `evse_id` when a new one starts there.
    fn close_unfinished(
        &mut self,
        changes: &mut Changes,
        evse_id: u32,
        new_start: Timestamp,
        now: Timestamp,
    ) {
        let unfinished: Vec<Session> = self
            .active
            .iter()
            .filter(|session| session.evse_id == evse_id)
            .cloned()
            .collect();
        for mut session in unfinished {
            let stop = TransactionReport {
                stop_reason: Some(zaryad_model::StopReason::Other),
                ..TransactionReport::new(TransactionEventKind::Ended, new_start)
            };
            session.end(&stop, now);
            session.flag("closed-by-next-transaction");
            tracing::warn!(station = %self.station_id, session = %session.id, "a new transaction started on an EVSE whose previous one never stopped; closing it");
            self.ended(changes, session, now);
        }
    }

    fn started(
        &mut self,
        changes: &mut Changes,
        session: Session,
        report: &TransactionReport,
        now: Timestamp,
    ) {
        changes.samples(
            &self.station_id,
            Some(&session),
            session.evse_id,
            &report.samples,
        );
        let data = SessionView::json(&session);
        changes.event(self.event(EventType::SessionStarted, Some(&session), data, now));
        self.last_update_event
            .insert(session.id.clone(), Instant::now());
        changes.begun.push(session.id.clone());
        changes.session(session);
    }

    fn updated(
        &mut self,
        changes: &mut Changes,
        session: Session,
        charging_state_before: Option<ChargingState>,
        now: Timestamp,
    ) {
        let interval = self.shared.config.events.session_update_interval();
        let due = self
            .last_update_event
            .get(&session.id)
            .is_none_or(|last| last.elapsed() >= interval);
        if due || session.charging_state != charging_state_before {
            let data = SessionView::json(&session);
            changes.event(self.event(EventType::SessionUpdated, Some(&session), data, now));
            self.last_update_event
                .insert(session.id.clone(), Instant::now());
        }
        changes.session(session);
    }

    fn ended(&mut self, changes: &mut Changes, session: Session, now: Timestamp) {
        let data = SessionView::json(&session);
        changes.event(self.event(EventType::SessionEnded, Some(&session), data, now));
        self.last_update_event.remove(&session.id);
        let evse_id = session.evse_id;
        let stale: Vec<Connector> = self
            .connectors
            .iter()
            .filter(|connector| connector.evse_id == evse_id && connector.charging_state.is_some())
            .cloned()
            .collect();
        for mut connector in stale {
            let previous = connector.status();
            connector.charging_state = None;
            self.connector_changed(changes, connector, previous, now);
        }
        changes.session(session);
    }

    /// Refines a 2.0.1 connector's status with its transaction's charging state.
    fn refine_connector(
        &mut self,
        changes: &mut Changes,
        session: &Session,
        connector_id: Option<u32>,
        now: Timestamp,
    ) {
        let connector_id = connector_id.unwrap_or(session.connector_id);
        let mut connector = self
            .connectors
            .get(session.evse_id, connector_id)
            .cloned()
            .unwrap_or_else(|| Connector::new(session.evse_id, connector_id));
        let previous = connector.status();
        connector.charging_state = session.charging_state;
        if connector.reported_status == ConnectorStatus::Unknown {
            // No StatusNotification yet: a transaction means a vehicle is plugged in.
            connector.reported_status = ConnectorStatus::Occupied;
        }
        self.connector_changed(changes, connector, previous, now);
    }

    fn connector_changed(
        &self,
        changes: &mut Changes,
        connector: Connector,
        previous: ConnectorStatus,
        now: Timestamp,
    ) {
        if connector.status() != previous {
            let data = json!({
                "evse_id": connector.evse_id,
                "connector_id": connector.connector_id,
                "status": connector.status().as_str(),
                "previous_status": previous.as_str(),
                "error_code": connector.error_code,
            });
            changes.event(self.event(EventType::ConnectorStatusChanged, None, data, now));
        }
        changes.batch.push(WriteOp::UpsertConnector {
            station_id: self.station_id.clone(),
            connector: connector.clone(),
        });
        changes.connectors.push(connector);
    }

    fn event(
        &self,
        event_type: EventType,
        session: Option<&Session>,
        data: Value,
        now: Timestamp,
    ) -> DomainEvent {
        DomainEvent {
            id: new_id(),
            event_type,
            occurred_at: now,
            station_id: self.station_id.clone(),
            session_id: session.map(|session| session.id.clone()),
            data,
        }
    }

    /// Commits `changes`, then applies them to the in-memory state.
    async fn commit(&mut self, mut changes: Changes) -> Result<(), StoreError> {
        // The connection's record goes first (its event before this change's), and stays
        // until a commit holding it succeeds: a failed one loses nothing of it.
        let with_record = self.connect_record.is_some();
        if let Some(record) = &self.connect_record {
            changes
                .batch
                .ops
                .splice(0..0, record.batch.ops.iter().cloned());
        }
        if changes.batch.is_empty() {
            return Ok(());
        }
        // A `session.ended` carries the session's CDR, built from its samples.
        let cdr = &self.shared.config.events.cdr;
        crate::events::complete_session_ends(
            &*self.shared.store,
            cdr,
            &self.cdr_samples,
            &mut changes.batch,
        )
        .await?;
        let arrived = cdr_samples_of(&changes.batch);
        let started = Instant::now();
        self.shared.store.commit(changes.batch).await?;
        metrics::commit_latency(started.elapsed());
        if with_record {
            self.connect_record = None;
        }
        for id in changes.begun {
            self.cdr_samples.entry(id).or_default();
        }
        for (id, samples) in arrived {
            let Some(kept) = self.cdr_samples.get_mut(&id) else {
                continue;
            };
            if kept.len() + samples.len() > MAX_KEPT_CDR_SAMPLES {
                // A very long session: its stop reads its samples instead.
                self.cdr_samples.remove(&id);
            } else {
                kept.extend(samples);
            }
        }
        for session in changes.sessions {
            let position = self
                .active
                .iter()
                .position(|active| active.id == session.id);
            match (session.state, position) {
                (SessionState::Active, Some(index)) => self.active[index] = session,
                (SessionState::Active, None) => self.active.push(session),
                (SessionState::Completed, Some(index)) => {
                    self.active.remove(index);
                    self.cdr_samples.remove(&session.id);
                }
                (SessionState::Completed, None) => {
                    self.cdr_samples.remove(&session.id);
                }
            }
        }
        for connector in changes.connectors {
            self.connectors.insert(connector);
        }
        if let Some(station) = changes.station {
            self.station = station;
        }
        Ok(())
    }
}

/// The most CDR samples kept in memory for one session (two a minute for a week).
const MAX_KEPT_CDR_SAMPLES: usize = 20_000;

/// The samples a batch adds to sessions that the CDR reads, by session.
fn cdr_samples_of(batch: &WriteBatch) -> Vec<(String, Vec<MeterSample>)> {
    batch
        .ops
        .iter()
        .filter_map(|op| match op {
            WriteOp::InsertSamples {
                session_id: Some(id),
                samples,
                ..
            } => {
                let used: Vec<MeterSample> = samples
                    .iter()
                    .filter(|sample| crate::events::cdr::uses(sample))
                    .cloned()
                    .collect();
                (!used.is_empty()).then(|| (id.clone(), used))
            }
            _ => None,
        })
        .collect()
}

/// Flag: a stop with transaction id 0 or -1 closed the station's only open session.
const STOP_ID_PLACEHOLDER: &str = "stop-transaction-id-placeholder";
/// Flag: a stop with transaction id 0 or -1 matched no open session and was recorded alone.
const TRANSACTION_ID_PLACEHOLDER: &str = "transaction-id-placeholder";
/// Flag: meter values for the transaction arrived after its stop (kept, energy unchanged).
const METER_VALUES_AFTER_STOP: &str = "meter-values-after-stop";
/// Flag: meter values named a transaction never seen; the EVSE's session took them.
const METER_VALUES_UNKNOWN_TRANSACTION: &str = "meter-values-unknown-transaction";
/// Flag: meter values with transaction id 0 or -1; the EVSE's session took them.
const METER_VALUES_PLACEHOLDER: &str = "meter-values-transaction-id-placeholder";
/// Flag: meter values of connector 0 during the station's only session.
const METER_VALUES_ON_CONNECTOR_0: &str = "meter-values-on-connector-0";

/// The vendor profile for `station` among the profiles in force.
pub fn select_profile(shared: &Shared, station: &Station) -> Selection {
    shared.profiles.current().select(&StationFacts {
        station_id: station.id.as_str(),
        vendor: station.vendor.as_deref(),
        model: station.model.as_deref(),
        firmware: station.firmware_version.as_deref(),
        pinned: station.vendor_profile.as_deref(),
    })
}

/// A new time-ordered id for sessions and events.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Transaction ids chargers send when they have none (1.6 `0`, `-1`).
fn is_placeholder_id(transaction_id: &str) -> bool {
    transaction_id.parse::<i64>().is_ok_and(|id| id <= 0)
}

fn is_same_stop(session: &Session, report: &TransactionReport) -> bool {
    session.ended_at == Some(report.timestamp)
        && (report.meter_wh.is_none() || session.meter_stop_wh == report.meter_wh)
}
