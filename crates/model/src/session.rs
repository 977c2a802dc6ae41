//! Sessions: one model for 1.6 transactions (CSMS-assigned integer ids) and 2.0.1 transactions
//! (charger-assigned string ids), with the pure transitions that messages cause.

use serde::{Deserialize, Serialize};

use crate::{
    ChargingState, Measurand, MeterSample, ReadingContext, StationId, Timestamp, TransactionReport,
};

/// Whether a session is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Not stopped yet.
    Active,
    /// Stopped; its energy is final unless late meter values correct it.
    Completed,
}

impl SessionState {
    /// The state as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Active => "active",
            SessionState::Completed => "completed",
        }
    }

    /// Reads the API spelling.
    pub fn parse(text: &str) -> Option<SessionState> {
        match text {
            "active" => Some(SessionState::Active),
            "completed" => Some(SessionState::Completed),
            _ => None,
        }
    }
}

/// Why a session ended, normalized over 1.6 `Reason` and 2.0.1 `ReasonEnumType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The token was de-authorized during the session.
    DeAuthorized,
    /// The emergency stop button.
    EmergencyStop,
    /// An energy limit was reached.
    EnergyLimitReached,
    /// The cable was unplugged at the vehicle.
    EvDisconnected,
    /// A ground fault.
    GroundFault,
    /// A hard reset (1.6 `HardReset`, 2.0.1 `ImmediateReset`).
    HardReset,
    /// Stopped at the station (a card, a button).
    Local,
    /// Stopped locally for lack of credit.
    LocalOutOfCredit,
    /// A master pass card.
    MasterPass,
    /// Anything else.
    Other,
    /// An over-current fault.
    OvercurrentFault,
    /// The station lost power.
    PowerLoss,
    /// Bad power quality.
    PowerQuality,
    /// The station rebooted.
    Reboot,
    /// Stopped by the CSMS.
    Remote,
    /// A soft reset.
    SoftReset,
    /// The state-of-charge limit was reached.
    SocLimitReached,
    /// The vehicle stopped.
    StoppedByEv,
    /// A time limit was reached.
    TimeLimitReached,
    /// A time-out, e.g. the cable was never plugged in.
    Timeout,
    /// The connector was unlocked by command.
    UnlockCommand,
}

impl StopReason {
    /// Reads an OCPP reason of either version; unknown spellings are `Other`.
    pub fn parse_ocpp(text: &str) -> StopReason {
        match text.trim().to_ascii_lowercase().as_str() {
            "deauthorized" => StopReason::DeAuthorized,
            "emergencystop" => StopReason::EmergencyStop,
            "energylimitreached" => StopReason::EnergyLimitReached,
            "evdisconnected" => StopReason::EvDisconnected,
            "groundfault" => StopReason::GroundFault,
            "hardreset" | "immediatereset" => StopReason::HardReset,
            "local" => StopReason::Local,
            "localoutofcredit" => StopReason::LocalOutOfCredit,
            "masterpass" => StopReason::MasterPass,
            "overcurrentfault" => StopReason::OvercurrentFault,
            "powerloss" => StopReason::PowerLoss,
            "powerquality" => StopReason::PowerQuality,
            "reboot" => StopReason::Reboot,
            "remote" => StopReason::Remote,
            "softreset" => StopReason::SoftReset,
            "soclimitreached" => StopReason::SocLimitReached,
            "stoppedbyev" => StopReason::StoppedByEv,
            "timelimitreached" => StopReason::TimeLimitReached,
            "timeout" => StopReason::Timeout,
            "unlockcommand" => StopReason::UnlockCommand,
            _ => StopReason::Other,
        }
    }

    /// The reason as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::DeAuthorized => "de_authorized",
            StopReason::EmergencyStop => "emergency_stop",
            StopReason::EnergyLimitReached => "energy_limit_reached",
            StopReason::EvDisconnected => "ev_disconnected",
            StopReason::GroundFault => "ground_fault",
            StopReason::HardReset => "hard_reset",
            StopReason::Local => "local",
            StopReason::LocalOutOfCredit => "local_out_of_credit",
            StopReason::MasterPass => "master_pass",
            StopReason::Other => "other",
            StopReason::OvercurrentFault => "overcurrent_fault",
            StopReason::PowerLoss => "power_loss",
            StopReason::PowerQuality => "power_quality",
            StopReason::Reboot => "reboot",
            StopReason::Remote => "remote",
            StopReason::SoftReset => "soft_reset",
            StopReason::SocLimitReached => "soc_limit_reached",
            StopReason::StoppedByEv => "stopped_by_ev",
            StopReason::TimeLimitReached => "time_limit_reached",
            StopReason::Timeout => "timeout",
            StopReason::UnlockCommand => "unlock_command",
        }
    }

    /// Reads the API spelling back (as stored).
    pub fn parse(text: &str) -> Option<StopReason> {
        serde_json::from_value(serde_json::Value::from(text)).ok()
    }
}

/// A charging session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Zaryad's id for the session, stable whatever the charger does with its ids.
    pub id: String,
    /// The station it runs on.
    pub station_id: StationId,
    /// The EVSE.
    pub evse_id: u32,
    /// The connector within the EVSE.
    pub connector_id: u32,
    /// The OCPP transaction id (1.6: the CSMS-assigned integer as text; 2.0.1: the charger's).
    pub transaction_id: String,
    /// The token that started it, if any.
    pub id_token: Option<String>,
    /// Active or completed.
    pub state: SessionState,
    /// The charger's start time.
    pub started_at: Timestamp,
    /// The charger's stop time.
    pub ended_at: Option<Timestamp>,
    /// The energy register at the start, Wh.
    pub meter_start_wh: Option<f64>,
    /// The energy register at the stop, Wh.
    pub meter_stop_wh: Option<f64>,
    /// The latest energy register reading, Wh.
    pub meter_last_wh: Option<f64>,
    /// Energy delivered so far (final once completed), Wh; never negative.
    pub energy_wh: Option<f64>,
    /// Why it ended.
    pub stop_reason: Option<StopReason>,
    /// The latest state of charge, percent.
    pub soc_percent: Option<f64>,
    /// The latest active power, W.
    pub power_w: Option<f64>,
    /// The latest 2.0.1 charging state.
    pub charging_state: Option<ChargingState>,
    /// The highest 2.0.1 sequence number seen.
    pub last_seq_no: Option<u64>,
    /// The remote start that led to it, if any.
    pub remote_start_id: Option<i64>,
    /// Deviations the adapter repaired that touch this session's money, time or token.
    pub quirks: Vec<String>,
    /// What the energy register did besides counting up (resets, dropouts); empty for a
    /// well-behaved meter.
    pub register: RegisterHistory,
    /// When the session record last changed (server time).
    pub updated_at: Timestamp,
}

impl Session {
    /// A session begun by a transaction report (a start, or the first message of a transaction
    /// whose start never arrived).
    pub fn begin(
        id: String,
        station_id: StationId,
        transaction_id: String,
        report: &TransactionReport,
        now: Timestamp,
    ) -> Session {
        let mut session = Session {
            id,
            station_id,
            evse_id: report.evse_id.unwrap_or(1),
            connector_id: report.connector_id.unwrap_or(1),
            transaction_id,
            id_token: report.id_token.clone(),
            state: SessionState::Active,
            started_at: report.timestamp,
            ended_at: None,
            meter_start_wh: None,
            meter_stop_wh: None,
            meter_last_wh: None,
            energy_wh: None,
            stop_reason: None,
            soc_percent: None,
            power_w: None,
            charging_state: report.charging_state,
            last_seq_no: report.seq_no,
            remote_start_id: report.remote_start_id,
            quirks: Vec::new(),
            register: RegisterHistory::default(),
            updated_at: now,
        };
        if let Some(meter_wh) = report.meter_wh {
            session.meter_start_wh = Some(meter_wh);
        } else {
            session.meter_start_wh =
                register_reading(&report.samples, Some(ReadingContext::TransactionBegin))
                    .or_else(|| register_reading(&report.samples, None));
        }
        session.apply_samples(&report.samples, now);
        session
    }

    /// True when `report` is a resent start of this session (same connector, token, meter
    /// start and time): the charger lost our answer and must get the same transaction id.
    pub fn is_resent_start(&self, report: &TransactionReport) -> bool {
        report.evse_id.unwrap_or(1) == self.evse_id
            && report.id_token == self.id_token
            && report.meter_wh == self.meter_start_wh
            && report.timestamp == self.started_at
    }

    /// Applies a 2.0.1 `Updated` report (or any report's incidental data).
    pub fn update(&mut self, report: &TransactionReport, now: Timestamp) {
        if self.id_token.is_none() {
            self.id_token.clone_from(&report.id_token);
        }
        if report.charging_state.is_some() {
            self.charging_state = report.charging_state;
        }
        if let Some(seq_no) = report.seq_no {
            self.last_seq_no = Some(self.last_seq_no.map_or(seq_no, |last| last.max(seq_no)));
        }
        if self.remote_start_id.is_none() {
            self.remote_start_id = report.remote_start_id;
        }
        self.apply_samples(&report.samples, now);
    }

    /// Ends the session with a stop report. A stop for a completed session changes nothing.
    pub fn end(&mut self, report: &TransactionReport, now: Timestamp) {
        if self.state == SessionState::Completed {
            return;
        }
        self.update(report, now);
        self.state = SessionState::Completed;
        self.ended_at = Some(report.timestamp.max(self.started_at));
        self.stop_reason = report.stop_reason;
        let stop = report
            .meter_wh
            .or_else(|| register_reading(&report.samples, Some(ReadingContext::TransactionEnd)));
        if let Some(stop) = stop {
            let base = self.register.base_wh.or(self.meter_start_wh);
            match (base, self.meter_last_wh) {
                // The stop reading is the register at the stop (1.6 meterStop): a little below
                // the last periodic reading (rounding) it is still the final one.
                (Some(base), Some(last))
                    if stop < last && stop >= base && last - stop <= (last - base) / 2.0 =>
                {
                    self.meter_last_wh = Some(stop);
                }
                _ => self.observe_register(stop),
            }
        }
        self.meter_stop_wh = stop.or(self.meter_last_wh);
        self.charging_state = None;
        self.recompute_energy();
    }

    /// Takes the measurements that describe the session from `samples`: the energy register,
    /// power and state of charge (whole-EVSE readings only; later readings win).
    pub fn apply_samples(&mut self, samples: &[MeterSample], now: Timestamp) {
        let mut ordered: Vec<&MeterSample> = samples.iter().filter(|s| s.is_total()).collect();
        ordered.sort_by_key(|sample| sample.timestamp);
        for sample in ordered {
            match sample.measurand {
                // A begin reading only ever names the start (Growatt sends one beside every
                // periodic reading, lbbrhzn #1466); once the start is known it says nothing new.
                Measurand::EnergyActiveImportRegister
                    if sample.context == ReadingContext::TransactionBegin
                        && self.meter_start_wh.is_some() => {}
                Measurand::EnergyActiveImportRegister => self.observe_register(sample.value),
                Measurand::PowerActiveImport => self.power_w = Some(sample.value),
                Measurand::Soc => self.soc_percent = Some(sample.value),
                _ => {}
            }
        }
        self.recompute_energy();
        self.updated_at = now;
    }

    /// Takes what meter values that arrived after the end can still tell a completed session:
    /// a meter start or stop it never got (a reading the charger reported with its stop stays
    /// as it is: that is what the charger billed). `samples` are all of the session's samples.
    /// Answers whether anything changed.
    pub fn correct_with_samples(&mut self, samples: &[MeterSample], now: Timestamp) -> bool {
        let before = (self.meter_start_wh, self.meter_stop_wh, self.energy_wh);
        let mut registers: Vec<&MeterSample> = samples
            .iter()
            .filter(|s| s.is_total() && s.measurand == Measurand::EnergyActiveImportRegister)
            .collect();
        registers.sort_by_key(|sample| sample.timestamp);
        if self.meter_start_wh.is_none() {
            self.meter_start_wh = registers.first().map(|sample| sample.value);
        }
        if self.meter_stop_wh.is_none() {
            // Readings taken after the end belong to no session.
            let ended_at = self.ended_at;
            self.meter_stop_wh = registers
                .iter()
                .rev()
                .find(|sample| ended_at.is_none_or(|end| sample.timestamp <= end))
                .map(|sample| sample.value);
        }
        self.recompute_energy();
        let changed = before != (self.meter_start_wh, self.meter_stop_wh, self.energy_wh);
        if changed {
            self.updated_at = now;
        }
        changed
    }

    /// Records a repaired deviation on the session, once.
    pub fn flag(&mut self, quirk: &str) {
        if !self.quirks.iter().any(|known| known == quirk) {
            self.quirks.push(quirk.to_owned());
        }
    }

    /// Takes one energy register reading through the monotonic guard.
    ///
    /// A reading at or above the last one counts. A reading a little below the last one (less
    /// than half of what the current segment counted, and not below where it began) is a meter
    /// going backwards (rounding, a stale value): it is ignored, so energy never shrinks. A
    /// deeper drop is a reset: a new segment begins there and the energy counted so far is
    /// kept; a later reading back at the old level undoes the reset as a dropout, so energy is
    /// never counted twice.
    fn observe_register(&mut self, value: f64) {
        let Some(start) = self.meter_start_wh else {
            self.meter_start_wh = Some(value);
            self.meter_last_wh = Some(value);
            return;
        };
        let last = self.meter_last_wh.unwrap_or(start);
        let base = self.register.base_wh.unwrap_or(start);
        if value >= last {
            if let Some((previous_start, previous_last)) = self.register.previous
                && value >= previous_last
            {
                // The "reset" was a dropout: the register is back where it was.
                self.register.previous = None;
                self.register.base_wh = (previous_start != start).then_some(previous_start);
                self.flag(REGISTER_DROPOUT);
            }
            self.meter_last_wh = Some(value);
        } else if value >= base && last - value <= (last - base) / 2.0 {
            if last - value >= 1.0 {
                self.flag(REGISTER_BACKWARDS);
            }
        } else {
            if let Some((previous_start, previous_last)) = self.register.previous {
                self.register.carried_wh += (previous_last - previous_start).max(0.0);
            }
            self.register.previous = Some((base, last));
            self.register.base_wh = Some(value);
            self.meter_last_wh = Some(value);
            self.flag(REGISTER_RESET);
        }
    }

    fn recompute_energy(&mut self) {
        let Some(start) = self.meter_start_wh else {
            self.energy_wh = None;
            return;
        };
        let Some(last) = self.meter_last_wh else {
            // Only a start so far, or a stop whose reading the guard already took.
            self.energy_wh = self.meter_stop_wh.map(|stop| (stop - start).max(0.0));
            return;
        };
        let base = self.register.base_wh.unwrap_or(start);
        let previous = self
            .register
            .previous
            .map_or(0.0, |(previous_start, previous_last)| {
                (previous_last - previous_start).max(0.0)
            });
        self.energy_wh = Some(self.register.carried_wh + previous + (last - base).max(0.0));
    }
}

/// Flag: the energy register fell below where it started and counting began anew there.
pub const REGISTER_RESET: &str = "energy-register-reset";
/// Flag: a register reading below the last one was ignored.
pub const REGISTER_BACKWARDS: &str = "energy-register-backwards";
/// Flag: a register reset turned out to be a dropout and was undone.
pub const REGISTER_DROPOUT: &str = "energy-register-dropout";

/// What a session's energy register did besides counting up, kept so that energy stays exact
/// across resets: segments that ended in a reset, and where the current one began.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegisterHistory {
    /// Energy of the segments before the previous one, Wh.
    pub carried_wh: f64,
    /// The segment before the current one as (first, last) reading, Wh; kept so that a
    /// dropout (a "reset" followed by the old level) can be undone.
    pub previous: Option<(f64, f64)>,
    /// Where the current segment began, Wh, once a reset began one (else the meter start).
    pub base_wh: Option<f64>,
}

impl RegisterHistory {
    /// True for a register that only ever counted up.
    pub fn is_plain(&self) -> bool {
        *self == RegisterHistory::default()
    }
}

/// The energy register reading among `samples` in `context` (any context when `None`), the
/// latest first.
fn register_reading(samples: &[MeterSample], context: Option<ReadingContext>) -> Option<f64> {
    samples
        .iter()
        .filter(|s| s.is_total() && s.measurand == Measurand::EnergyActiveImportRegister)
        .filter(|s| context.is_none_or(|context| s.context == context))
        .max_by_key(|s| s.timestamp)
        .map(|s| s.value)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::TransactionEventKind;

    fn at(minute: u32) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 3, 1, 10, minute, 0)
            .unwrap()
    }

    fn sample(minute: u32, value: f64, measurand: &str, unit: &str, context: &str) -> MeterSample {
        MeterSample::from_ocpp(
            at(minute),
            value,
            Some(measurand),
            Some(unit),
            None,
            Some(context),
            None,
        )
    }

    fn start_16() -> TransactionReport {
        TransactionReport {
            evse_id: Some(1),
            connector_id: Some(1),
            id_token: Some("TAG1".into()),
            meter_wh: Some(1000.0),
            ..TransactionReport::new(TransactionEventKind::Started, at(0))
        }
    }

    fn station() -> StationId {
        StationId::parse("CP1").unwrap()
    }

    #[test]
    fn a_16_session_from_start_to_stop() {
        let mut session = Session::begin("s1".into(), station(), "7".into(), &start_16(), at(0));
        assert_eq!(session.meter_start_wh, Some(1000.0));
        assert_eq!(session.energy_wh, None);
        session.apply_samples(
            &[
                sample(
                    5,
                    1.5,
                    "Energy.Active.Import.Register",
                    "kWh",
                    "Sample.Periodic",
                ),
                sample(5, 7.2, "Power.Active.Import", "kW", "Sample.Periodic"),
                sample(5, 40.0, "SoC", "Percent", "Sample.Periodic"),
            ],
            at(5),
        );
        assert_eq!(session.energy_wh, Some(500.0));
        assert_eq!(session.power_w, Some(7200.0));
        assert_eq!(session.soc_percent, Some(40.0));
        let stop = TransactionReport {
            transaction_id: Some("7".into()),
            meter_wh: Some(11500.5),
            stop_reason: Some(StopReason::EvDisconnected),
            ..TransactionReport::new(TransactionEventKind::Ended, at(30))
        };
        session.end(&stop, at(30));
        assert_eq!(session.state, SessionState::Completed);
        assert_eq!(session.energy_wh, Some(10500.5));
        assert_eq!(session.ended_at, Some(at(30)));
        assert_eq!(session.stop_reason, Some(StopReason::EvDisconnected));
        // A resent stop changes nothing.
        let later = TransactionReport {
            meter_wh: Some(99999.0),
            ..stop.clone()
        };
        session.end(&later, at(31));
        assert_eq!(session.energy_wh, Some(10500.5));
    }

    #[test]
    fn a_201_session_takes_meter_start_and_stop_from_context_samples() {
        let started = TransactionReport {
            transaction_id: Some("tx-abc".into()),
            samples: vec![sample(
                0,
                250.0,
                "Energy.Active.Import.Register",
                "Wh",
                "Transaction.Begin",
            )],
            charging_state: Some(ChargingState::Charging),
            seq_no: Some(0),
            ..TransactionReport::new(TransactionEventKind::Started, at(0))
        };
        let mut session = Session::begin("s2".into(), station(), "tx-abc".into(), &started, at(0));
        assert_eq!(session.meter_start_wh, Some(250.0));
        assert_eq!(session.charging_state, Some(ChargingState::Charging));
        let updated = TransactionReport {
            id_token: Some("LATE".into()),
            seq_no: Some(1),
            charging_state: Some(ChargingState::SuspendedEv),
            samples: vec![sample(
                10,
                2.25,
                "Energy.Active.Import.Register",
                "kWh",
                "Sample.Periodic",
            )],
            ..TransactionReport::new(TransactionEventKind::Updated, at(10))
        };
        session.update(&updated, at(10));
        assert_eq!(session.id_token.as_deref(), Some("LATE"));
        assert_eq!(session.energy_wh, Some(2000.0));
        assert_eq!(session.last_seq_no, Some(1));
        let ended = TransactionReport {
            seq_no: Some(2),
            stop_reason: Some(StopReason::Local),
            samples: vec![sample(
                20,
                3000.25,
                "Energy.Active.Import.Register",
                "Wh",
                "Transaction.End",
            )],
            ..TransactionReport::new(TransactionEventKind::Ended, at(20))
        };
        session.end(&ended, at(20));
        assert_eq!(session.meter_stop_wh, Some(3000.25));
        assert_eq!(session.energy_wh, Some(2750.25));
        assert_eq!(session.charging_state, None);
    }

    #[test]
    fn energy_never_goes_negative() {
        let mut session = Session::begin("s3".into(), station(), "1".into(), &start_16(), at(0));
        let stop = TransactionReport {
            meter_wh: Some(10.0),
            ..TransactionReport::new(TransactionEventKind::Ended, at(1))
        };
        session.end(&stop, at(1));
        assert_eq!(session.energy_wh, Some(0.0));
    }

    fn register(session: &mut Session, minute: u32, wh: f64) {
        session.apply_samples(
            &[sample(
                minute,
                wh,
                "Energy.Active.Import.Register",
                "Wh",
                "Sample.Periodic",
            )],
            at(minute),
        );
    }

    #[test]
    fn a_register_reset_starts_a_new_baseline() {
        let mut session = Session::begin("s5".into(), station(), "1".into(), &start_16(), at(0));
        register(&mut session, 1, 3000.0);
        assert_eq!(session.energy_wh, Some(2000.0));
        // The charger rebooted mid-session and its register restarted at zero.
        register(&mut session, 2, 0.0);
        assert_eq!(session.energy_wh, Some(2000.0));
        register(&mut session, 3, 500.0);
        assert_eq!(session.energy_wh, Some(2500.0));
        assert!(session.quirks.contains(&REGISTER_RESET.to_owned()));
        // A second reset keeps everything counted so far.
        register(&mut session, 4, 0.0);
        register(&mut session, 4, 100.0);
        register(&mut session, 5, 300.0);
        assert_eq!(session.energy_wh, Some(2800.0));
        let stop = TransactionReport {
            meter_wh: Some(400.0),
            ..TransactionReport::new(TransactionEventKind::Ended, at(6))
        };
        session.end(&stop, at(6));
        assert_eq!(session.energy_wh, Some(2900.0));
        assert_eq!(session.meter_stop_wh, Some(400.0));
    }

    #[test]
    fn a_dropout_is_not_counted_twice() {
        let mut session = Session::begin("s6".into(), station(), "1".into(), &start_16(), at(0));
        register(&mut session, 1, 12000.0);
        register(&mut session, 2, 0.0);
        register(&mut session, 3, 12100.0);
        assert_eq!(session.energy_wh, Some(11100.0));
        assert!(session.quirks.contains(&REGISTER_DROPOUT.to_owned()));
        assert!(session.register.is_plain());
    }

    #[test]
    fn a_register_going_backwards_is_ignored() {
        let mut session = Session::begin("s7".into(), station(), "1".into(), &start_16(), at(0));
        register(&mut session, 1, 5000.0);
        register(&mut session, 2, 4000.0);
        assert_eq!(session.energy_wh, Some(4000.0));
        assert_eq!(session.meter_last_wh, Some(5000.0));
        register(&mut session, 3, 5500.0);
        assert_eq!(session.energy_wh, Some(4500.0));
        assert!(session.quirks.contains(&REGISTER_BACKWARDS.to_owned()));
        // A begin reading after the start says nothing new (Growatt, lbbrhzn #1466).
        session.apply_samples(
            &[sample(
                4,
                0.0,
                "Energy.Active.Import.Register",
                "Wh",
                "Transaction.Begin",
            )],
            at(4),
        );
        assert_eq!(session.energy_wh, Some(4500.0));
    }

    #[test]
    fn the_stop_reading_is_final() {
        let mut session = Session::begin("s8".into(), station(), "1".into(), &start_16(), at(0));
        register(&mut session, 1, 2000.7);
        let stop = TransactionReport {
            meter_wh: Some(2000.0),
            ..TransactionReport::new(TransactionEventKind::Ended, at(2))
        };
        session.end(&stop, at(2));
        assert_eq!(session.energy_wh, Some(1000.0));
        assert!(session.quirks.is_empty(), "{:?}", session.quirks);
    }

    #[test]
    fn resent_starts_are_recognized() {
        let session = Session::begin("s4".into(), station(), "9".into(), &start_16(), at(0));
        assert!(session.is_resent_start(&start_16()));
        let other = TransactionReport {
            meter_wh: Some(1001.0),
            ..start_16()
        };
        assert!(!session.is_resent_start(&other));
    }

    #[test]
    fn late_samples_fill_a_missing_stop_but_never_override_a_reported_one() {
        let start = TransactionReport {
            meter_wh: Some(1000.0),
            ..start_16()
        };
        let mut session = Session::begin("s5".into(), station(), "5".into(), &start, at(0));
        session.end(
            &TransactionReport::new(TransactionEventKind::Ended, at(30)),
            at(30),
        );
        assert_eq!(session.meter_stop_wh, None);
        let late = [
            sample(
                10,
                3000.0,
                "Energy.Active.Import.Register",
                "Wh",
                "Sample.Periodic",
            ),
            sample(
                29,
                4000.0,
                "Energy.Active.Import.Register",
                "Wh",
                "Sample.Periodic",
            ),
            // After the end: not this session's energy.
            sample(
                40,
                9000.0,
                "Energy.Active.Import.Register",
                "Wh",
                "Sample.Periodic",
            ),
        ];
        assert!(session.correct_with_samples(&late, at(45)));
        assert_eq!(session.meter_stop_wh, Some(4000.0));
        assert_eq!(session.energy_wh, Some(3000.0));
        assert_eq!(session.updated_at, at(45));
        // Nothing more to learn: unchanged.
        assert!(!session.correct_with_samples(&late, at(50)));
        assert_eq!(session.updated_at, at(45));

        let mut reported = Session::begin("s6".into(), station(), "6".into(), &start, at(0));
        let stop = TransactionReport {
            meter_wh: Some(2500.0),
            ..TransactionReport::new(TransactionEventKind::Ended, at(30))
        };
        reported.end(&stop, at(30));
        assert!(!reported.correct_with_samples(&late, at(45)));
        assert_eq!(reported.energy_wh, Some(1500.0));
    }

    #[test]
    fn stop_reasons_read_both_versions() {
        assert_eq!(
            StopReason::parse_ocpp("EVDisconnected"),
            StopReason::EvDisconnected
        );
        assert_eq!(
            StopReason::parse_ocpp("ImmediateReset"),
            StopReason::HardReset
        );
        assert_eq!(
            StopReason::parse_ocpp("SOCLimitReached"),
            StopReason::SocLimitReached
        );
        assert_eq!(StopReason::parse_ocpp("Bogus"), StopReason::Other);
        assert_eq!(
            StopReason::parse("ev_disconnected"),
            Some(StopReason::EvDisconnected)
        );
        assert_eq!(StopReason::EvDisconnected.as_str(), "ev_disconnected");
    }
}
