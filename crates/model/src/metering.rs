//! Meter samples with normalized measurands and units.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// What a sample measures, named as OCPP names it (`Energy.Active.Import.Register`, …).
///
/// OCPP's list is long and vendors add their own; the model names the measurands it computes
/// with and keeps every other name as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Measurand {
    /// The cumulative imported active energy register (the default measurand in OCPP).
    EnergyActiveImportRegister,
    /// Imported active energy within an interval.
    EnergyActiveImportInterval,
    /// Instantaneous imported active power.
    PowerActiveImport,
    /// Maximum power the charger offers the vehicle.
    PowerOffered,
    /// Instantaneous current to the vehicle.
    CurrentImport,
    /// Maximum current offered to the vehicle.
    CurrentOffered,
    /// AC or DC voltage.
    Voltage,
    /// State of charge of the vehicle battery, in percent.
    Soc,
    /// Temperature reading.
    Temperature,
    /// Any other measurand, by its OCPP or vendor name.
    Other(String),
}

impl Measurand {
    /// The OCPP name of the measurand.
    pub fn as_str(&self) -> &str {
        match self {
            Measurand::EnergyActiveImportRegister => "Energy.Active.Import.Register",
            Measurand::EnergyActiveImportInterval => "Energy.Active.Import.Interval",
            Measurand::PowerActiveImport => "Power.Active.Import",
            Measurand::PowerOffered => "Power.Offered",
            Measurand::CurrentImport => "Current.Import",
            Measurand::CurrentOffered => "Current.Offered",
            Measurand::Voltage => "Voltage",
            Measurand::Soc => "SoC",
            Measurand::Temperature => "Temperature",
            Measurand::Other(name) => name,
        }
    }

    /// Reads an OCPP measurand name; a missing one means the energy register, as the spec says.
    pub fn parse(name: Option<&str>) -> Measurand {
        match name.map(str::trim) {
            None | Some("") | Some("Energy.Active.Import.Register") => {
                Measurand::EnergyActiveImportRegister
            }
            Some("Energy.Active.Import.Interval") => Measurand::EnergyActiveImportInterval,
            Some("Power.Active.Import") => Measurand::PowerActiveImport,
            Some("Power.Offered") => Measurand::PowerOffered,
            Some("Current.Import") => Measurand::CurrentImport,
            Some("Current.Offered") => Measurand::CurrentOffered,
            Some("Voltage") => Measurand::Voltage,
            Some("SoC") => Measurand::Soc,
            Some("Temperature") => Measurand::Temperature,
            Some(other) => Measurand::Other(other.to_owned()),
        }
    }
}

impl From<Measurand> for String {
    fn from(measurand: Measurand) -> String {
        measurand.as_str().to_owned()
    }
}

impl From<String> for Measurand {
    fn from(name: String) -> Measurand {
        Measurand::parse(Some(&name))
    }
}

/// The unit of a normalized sample: energy in Wh and power in W, whatever the charger sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Unit {
    /// Watt-hours.
    Wh,
    /// Watts.
    W,
    /// Amperes.
    A,
    /// Volts.
    V,
    /// Percent.
    Percent,
    /// Degrees Celsius.
    Celsius,
    /// Reactive energy, var-hours.
    Varh,
    /// Reactive power, var.
    Var,
    /// Apparent power, volt-amperes.
    Va,
    /// Hertz.
    Hz,
    /// Any other unit, as sent.
    Other(String),
}

impl Unit {
    /// The unit's symbol as stored and shown.
    pub fn as_str(&self) -> &str {
        match self {
            Unit::Wh => "Wh",
            Unit::W => "W",
            Unit::A => "A",
            Unit::V => "V",
            Unit::Percent => "Percent",
            Unit::Celsius => "Celsius",
            Unit::Varh => "varh",
            Unit::Var => "var",
            Unit::Va => "VA",
            Unit::Hz => "Hz",
            Unit::Other(name) => name,
        }
    }

    /// Reads an OCPP unit and returns the normalized unit with the factor that converts a value
    /// into it (`kWh` → `Wh` × 1000). A missing unit is the measurand's default unit.
    pub fn normalize(unit: Option<&str>, measurand: &Measurand) -> (Unit, f64) {
        let Some(unit) = unit.map(str::trim).filter(|unit| !unit.is_empty()) else {
            return (Unit::default_for(measurand), 1.0);
        };
        match unit {
            "Wh" => (Unit::Wh, 1.0),
            "kWh" => (Unit::Wh, 1000.0),
            "W" => (Unit::W, 1.0),
            "kW" => (Unit::W, 1000.0),
            "A" => (Unit::A, 1.0),
            "V" => (Unit::V, 1.0),
            "Percent" | "%" => (Unit::Percent, 1.0),
            "Celsius" | "Celcius" => (Unit::Celsius, 1.0),
            "varh" => (Unit::Varh, 1.0),
            "kvarh" => (Unit::Varh, 1000.0),
            "var" => (Unit::Var, 1.0),
            "kvar" => (Unit::Var, 1000.0),
            "VA" => (Unit::Va, 1.0),
            "kVA" => (Unit::Va, 1000.0),
            "Hz" | "Hertz" => (Unit::Hz, 1.0),
            other => (Unit::Other(other.to_owned()), 1.0),
        }
    }

    /// The unit OCPP implies when a sample names none.
    pub fn default_for(measurand: &Measurand) -> Unit {
        match measurand {
            Measurand::EnergyActiveImportRegister | Measurand::EnergyActiveImportInterval => {
                Unit::Wh
            }
            Measurand::PowerActiveImport | Measurand::PowerOffered => Unit::W,
            Measurand::CurrentImport | Measurand::CurrentOffered => Unit::A,
            Measurand::Voltage => Unit::V,
            Measurand::Soc => Unit::Percent,
            Measurand::Temperature => Unit::Celsius,
            Measurand::Other(name) if name == "Frequency" => Unit::Hz,
            Measurand::Other(name) if name.starts_with("Energy") => Unit::Wh,
            Measurand::Other(name) if name.starts_with("Power") => Unit::W,
            Measurand::Other(_) => Unit::Wh,
        }
    }
}

impl From<Unit> for String {
    fn from(unit: Unit) -> String {
        unit.as_str().to_owned()
    }
}

impl From<String> for Unit {
    fn from(name: String) -> Unit {
        match name.as_str() {
            "Wh" => Unit::Wh,
            "W" => Unit::W,
            "A" => Unit::A,
            "V" => Unit::V,
            "Percent" => Unit::Percent,
            "Celsius" => Unit::Celsius,
            "varh" => Unit::Varh,
            "var" => Unit::Var,
            "VA" => Unit::Va,
            "Hz" => Unit::Hz,
            _ => Unit::Other(name),
        }
    }
}

/// Why a sample was taken (OCPP `ReadingContext`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReadingContext {
    /// At the start of a transaction.
    #[serde(rename = "Transaction.Begin")]
    TransactionBegin,
    /// At the end of a transaction.
    #[serde(rename = "Transaction.End")]
    TransactionEnd,
    /// A clock-aligned sample.
    #[serde(rename = "Sample.Clock")]
    SampleClock,
    /// A periodic sample during a transaction (the OCPP default).
    #[serde(rename = "Sample.Periodic")]
    SamplePeriodic,
    /// Asked for by TriggerMessage.
    Trigger,
    /// Power returned after an interruption.
    #[serde(rename = "Interruption.Begin")]
    InterruptionBegin,
    /// Power about to be interrupted.
    #[serde(rename = "Interruption.End")]
    InterruptionEnd,
    /// Anything else.
    Other,
}

impl ReadingContext {
    /// The OCPP name of the context.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadingContext::TransactionBegin => "Transaction.Begin",
            ReadingContext::TransactionEnd => "Transaction.End",
            ReadingContext::SampleClock => "Sample.Clock",
            ReadingContext::SamplePeriodic => "Sample.Periodic",
            ReadingContext::Trigger => "Trigger",
            ReadingContext::InterruptionBegin => "Interruption.Begin",
            ReadingContext::InterruptionEnd => "Interruption.End",
            ReadingContext::Other => "Other",
        }
    }

    /// Reads an OCPP context; a missing one is `Sample.Periodic`, as the spec says.
    pub fn parse(name: Option<&str>) -> ReadingContext {
        match name.map(str::trim) {
            None | Some("") | Some("Sample.Periodic") => ReadingContext::SamplePeriodic,
            Some("Transaction.Begin") => ReadingContext::TransactionBegin,
            Some("Transaction.End") => ReadingContext::TransactionEnd,
            Some("Sample.Clock") => ReadingContext::SampleClock,
            Some("Trigger") => ReadingContext::Trigger,
            Some("Interruption.Begin") => ReadingContext::InterruptionBegin,
            Some("Interruption.End") => ReadingContext::InterruptionEnd,
            Some(_) => ReadingContext::Other,
        }
    }
}

/// One normalized reading of a meter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterSample {
    /// When the charger took the reading (repaired when the charger's clock is off).
    pub timestamp: Timestamp,
    /// What was measured.
    pub measurand: Measurand,
    /// The value in `unit`, with the precision the charger sent.
    pub value: f64,
    /// The normalized unit (Wh, W, A, V, Percent, Celsius, …).
    pub unit: Unit,
    /// The phase (`L1`, `L2-N`, …), if the charger named one.
    pub phase: Option<String>,
    /// Why the reading was taken.
    pub context: ReadingContext,
    /// Where it was measured (`Outlet`, `Inlet`, `EV`, …), if named.
    pub location: Option<String>,
}

impl MeterSample {
    /// Builds a sample from OCPP fields, converting kWh to Wh and kW to W.
    pub fn from_ocpp(
        timestamp: Timestamp,
        value: f64,
        measurand: Option<&str>,
        unit: Option<&str>,
        phase: Option<&str>,
        context: Option<&str>,
        location: Option<&str>,
    ) -> MeterSample {
        let measurand = Measurand::parse(measurand);
        let (unit, factor) = Unit::normalize(unit, &measurand);
        MeterSample {
            timestamp,
            value: scale(value, factor),
            measurand,
            unit,
            phase: phase.filter(|p| !p.is_empty()).map(str::to_owned),
            context: ReadingContext::parse(context),
            location: location.filter(|l| !l.is_empty()).map(str::to_owned),
        }
    }

    /// True for a whole-EVSE reading (no phase, or a phase total the charger labels as such).
    pub fn is_total(&self) -> bool {
        self.phase.is_none()
    }
}

/// Multiplies by a power of ten on the decimal text, so that 1.005 kWh is exactly 1005 Wh
/// rather than the 1004.9999999999999 of a binary multiplication: these numbers are billed.
fn scale(value: f64, factor: f64) -> f64 {
    if factor == 1.0 || !value.is_finite() {
        return value;
    }
    let exponent = factor.log10().round();
    format!("{value}e{exponent}")
        .parse()
        .unwrap_or(value * factor)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn kilo_units_become_base_units_keeping_precision() {
        let sample = MeterSample::from_ocpp(at(), 12.3456, None, Some("kWh"), None, None, None);
        assert_eq!(sample.measurand, Measurand::EnergyActiveImportRegister);
        assert_eq!(sample.unit, Unit::Wh);
        assert!((sample.value - 12345.6).abs() < 1e-9);
        let power = MeterSample::from_ocpp(
            at(),
            7.2,
            Some("Power.Active.Import"),
            Some("kW"),
            None,
            Some("Sample.Periodic"),
            Some("Outlet"),
        );
        assert_eq!(power.unit, Unit::W);
        assert!((power.value - 7200.0).abs() < 1e-9);
        assert_eq!(power.location.as_deref(), Some("Outlet"));
    }

    #[test]
    fn unit_conversion_is_exact_in_decimal() {
        for (kwh, wh) in [
            (1.005, 1005.0),
            (0.1, 100.0),
            (12.3456, 12345.6),
            (2.675, 2675.0),
        ] {
            let sample = MeterSample::from_ocpp(at(), kwh, None, Some("kWh"), None, None, None);
            assert_eq!(sample.value, wh, "{kwh} kWh");
        }
    }

    #[test]
    fn defaults_follow_the_spec() {
        let soc = MeterSample::from_ocpp(at(), 55.0, Some("SoC"), None, None, None, None);
        assert_eq!(soc.unit, Unit::Percent);
        assert_eq!(soc.context, ReadingContext::SamplePeriodic);
        let fractional = MeterSample::from_ocpp(at(), 0.5, None, Some("Wh"), Some(""), None, None);
        assert_eq!(fractional.value, 0.5);
        assert!(fractional.is_total());
    }

    #[test]
    fn names_serialize_as_ocpp_spells_them() {
        let sample = MeterSample::from_ocpp(
            at(),
            1.0,
            Some("Vendor.X"),
            Some("kWh"),
            None,
            Some("Transaction.Begin"),
            None,
        );
        let json = serde_json::to_value(&sample).unwrap();
        assert_eq!(json["measurand"], "Vendor.X");
        assert_eq!(json["unit"], "Wh");
        assert_eq!(json["context"], "Transaction.Begin");
        let back: MeterSample = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample);
    }
}
