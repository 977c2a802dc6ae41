//! Latency histograms per action, error counts, and their JSON summary.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::{Counter, CreationError, Histogram};
use serde::Serialize;

/// Longest latency a histogram holds exactly; longer ones are recorded as this (1 hour).
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// How many first error messages a summary keeps, for a human to read.
const KEPT_ERROR_MESSAGES: usize = 10;
/// Most seconds a timeline holds (an hour); CALLs scheduled later are left out of it, not out
/// of the run's totals. A second's histogram is ~13 KB, so an hour stays under 50 MB.
const MAX_TIMELINE_SECONDS: usize = 3600;

/// A latency histogram in microseconds, 1 µs to 1 hour, with 3 significant digits.
///
/// The bounds are constants hdrhistogram accepts, so this fails only if that crate changes
/// its rules; further histograms are made with `Histogram::new_from`, which cannot fail.
pub fn new_histogram() -> Result<Histogram<u64>, CreationError> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
}

/// Records `latency` into `histogram`, clamped into its range.
pub fn record<T: Counter>(histogram: &mut Histogram<T>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.clamp(1, MAX_LATENCY_US));
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// How many latencies were recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Largest.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl LatencySummary {
    /// The summary of a histogram of microseconds; all zeros when it is empty.
    pub fn of(histogram: &Histogram<u64>) -> LatencySummary {
        if histogram.is_empty() {
            return LatencySummary::default();
        }
        let ms = |micros: u64| round3(micros as f64 / 1000.0);
        LatencySummary {
            count: histogram.len(),
            p50: ms(histogram.value_at_quantile(0.5)),
            p90: ms(histogram.value_at_quantile(0.9)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p99_9: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
            mean: round3(histogram.mean() / 1000.0),
        }
    }
}

/// A figure of the summary, to three decimals.
pub(crate) fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Latency second by second through the measured window, by each CALL's scheduled time: a
/// stall in the server shows as the seconds whose CALLs waited, where the run's percentiles
/// would spread it over the whole window.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Two significant digits: enough to see a second go bad, at a tenth of the memory.
    template: Histogram<u32>,
    seconds: Vec<Histogram<u32>>,
}

impl Timeline {
    fn new() -> Result<Timeline, CreationError> {
        Ok(Timeline {
            template: Histogram::new_with_bounds(1, MAX_LATENCY_US, 2)?,
            seconds: Vec::new(),
        })
    }

    /// Records the latency of a CALL scheduled `offset` after the window opened.
    pub fn record(&mut self, offset: Duration, latency: Duration) {
        let Ok(second) = usize::try_from(offset.as_secs()) else {
            return;
        };
        if second >= MAX_TIMELINE_SECONDS {
            return;
        }
        while self.seconds.len() <= second {
            self.seconds.push(Histogram::new_from(&self.template));
        }
        record(&mut self.seconds[second], latency);
    }

    /// One line per second, from the window's first.
    pub fn summary(&self) -> Vec<SecondSummary> {
        let ms = |micros: u64| round3(micros as f64 / 1000.0);
        self.seconds
            .iter()
            .enumerate()
            .map(|(second, histogram)| SecondSummary {
                second: second as u64,
                answered: histogram.len(),
                p50_ms: ms(histogram.value_at_quantile(0.5)),
                p99_ms: ms(histogram.value_at_quantile(0.99)),
                max_ms: ms(histogram.max()),
            })
            .collect()
    }
}

/// One second of a [`Timeline`]; latencies are zero when nothing scheduled in it was answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondSummary {
    /// Seconds since the measured window opened.
    pub second: u64,
    /// CALLs scheduled in this second that were answered.
    pub answered: u64,
    /// Their median latency.
    pub p50_ms: f64,
    /// Their 99th percentile.
    pub p99_ms: f64,
    /// Their largest.
    pub max_ms: f64,
}

/// What happened to the CALLs of one action.
#[derive(Debug, Clone)]
pub struct ActionStats {
    /// Latency of CALLRESULTs, from the scheduled send time.
    pub latency: Histogram<u64>,
    /// CALLs sent.
    pub sent: u64,
    /// CALLERRORs received.
    pub call_errors: u64,
    /// CALLs that got no answer in time.
    pub timeouts: u64,
}

impl ActionStats {
    fn like(template: &Histogram<u64>) -> ActionStats {
        ActionStats {
            latency: Histogram::new_from(template),
            sent: 0,
            call_errors: 0,
            timeouts: 0,
        }
    }
}

/// Everything a run counts; shared by the chargers behind a mutex.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Per action.
    pub actions: BTreeMap<String, ActionStats>,
    /// Every CALLRESULT's latency from the scheduled time.
    pub all: Histogram<u64>,
    /// Every CALLRESULT's latency from the moment it was actually sent (the server's share).
    pub service: Histogram<u64>,
    /// Errors by kind (`CALLERROR StartTransaction InternalError`, `timeout MeterValues`, …).
    pub errors: BTreeMap<String, u64>,
    /// The first few error messages in full.
    pub first_errors: Vec<String>,
    /// Answers that refused the charger's id tag (not an error of the CSMS).
    pub refused: u64,
    /// CALLs from the CSMS that the chargers answered.
    pub csms_calls: u64,
    /// Sessions whose start was answered.
    pub sessions_started: u64,
    /// Sessions whose stop was answered (and written to the ledger, when there is one).
    pub sessions_stopped: u64,
    /// CALLs still unanswered when the run ended.
    pub unanswered_at_end: u64,
    /// CALLRESULTs that arrived before the run's end (the basis of throughput).
    pub answered_in_window: u64,
    /// Measured CALLRESULTs' latency per second of the window.
    pub timeline: Timeline,
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Result<Stats, CreationError> {
        let all = new_histogram()?;
        Ok(Stats {
            actions: BTreeMap::new(),
            service: Histogram::new_from(&all),
            all,
            errors: BTreeMap::new(),
            first_errors: Vec::new(),
            refused: 0,
            csms_calls: 0,
            sessions_started: 0,
            sessions_stopped: 0,
            unanswered_at_end: 0,
            answered_in_window: 0,
            timeline: Timeline::new()?,
        })
    }

    /// Counts a CALL sent.
    pub fn sent(&mut self, action: &str) {
        self.action(action).sent += 1;
    }

    /// Records a CALLRESULT: latency from the scheduled time, and from the actual send.
    pub fn answered(&mut self, action: &str, latency: Duration, service: Duration) {
        record(&mut self.action(action).latency, latency);
        record(&mut self.all, latency);
        record(&mut self.service, service);
    }

    /// Records a CALLERROR.
    pub fn call_error(&mut self, station: &str, action: &str, code: &str, description: &str) {
        self.action(action).call_errors += 1;
        self.error(
            format!("CALLERROR {action} {code}"),
            format!("{station}: {action} answered with {code}: {description}"),
        );
    }

    /// Records a CALL that was not answered in time.
    pub fn timeout(&mut self, station: &str, action: &str) {
        self.action(action).timeouts += 1;
        self.error(
            format!("timeout {action}"),
            format!("{station}: {action} was not answered in time"),
        );
    }

    /// Records any other error under `kind`.
    pub fn error(&mut self, kind: String, message: String) {
        *self.errors.entry(kind).or_default() += 1;
        if self.first_errors.len() < KEPT_ERROR_MESSAGES {
            self.first_errors.push(message);
        }
    }

    /// Every error counted.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn action(&mut self, action: &str) -> &mut ActionStats {
        let template = &self.all;
        self.actions
            .entry(action.to_owned())
            .or_insert_with(|| ActionStats::like(template))
    }

    /// CALLs sent, answered, failed.
    pub fn totals(&self) -> CallTotals {
        let mut totals = CallTotals {
            sent: 0,
            answered: self.all.len(),
            call_errors: 0,
            timeouts: 0,
            unanswered_at_end: self.unanswered_at_end,
        };
        for stats in self.actions.values() {
            totals.sent += stats.sent;
            totals.call_errors += stats.call_errors;
            totals.timeouts += stats.timeouts;
        }
        totals
    }

    /// The per-action part of a summary.
    pub fn per_action(&self) -> BTreeMap<String, ActionSummary> {
        self.actions
            .iter()
            .map(|(action, stats)| {
                (
                    action.clone(),
                    ActionSummary {
                        sent: stats.sent,
                        answered: stats.latency.len(),
                        call_errors: stats.call_errors,
                        timeouts: stats.timeouts,
                        latency_ms: LatencySummary::of(&stats.latency),
                    },
                )
            })
            .collect()
    }
}

/// CALL counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallTotals {
    /// CALLs sent.
    pub sent: u64,
    /// CALLRESULTs received.
    pub answered: u64,
    /// CALLERRORs received.
    pub call_errors: u64,
    /// CALLs not answered in time.
    pub timeouts: u64,
    /// CALLs still unanswered when the run ended.
    pub unanswered_at_end: u64,
}

/// One action's line in a summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionSummary {
    /// CALLs sent.
    pub sent: u64,
    /// CALLRESULTs received.
    pub answered: u64,
    /// CALLERRORs received.
    pub call_errors: u64,
    /// CALLs not answered in time.
    pub timeouts: u64,
    /// Latency from the scheduled send time.
    pub latency_ms: LatencySummary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_out_in_milliseconds() {
        let mut histogram = new_histogram().unwrap();
        for millis in 1..=1000u64 {
            record(&mut histogram, Duration::from_millis(millis));
        }
        let summary = LatencySummary::of(&histogram);
        assert_eq!(summary.count, 1000);
        // Three significant digits: within 0.1 % of the exact value.
        assert!((summary.p50 - 500.0).abs() <= 0.5, "{summary:?}");
        assert!((summary.p99 - 990.0).abs() <= 1.0, "{summary:?}");
        assert!((summary.p99_9 - 999.0).abs() <= 1.0, "{summary:?}");
        assert!((summary.max - 1000.0).abs() <= 1.0, "{summary:?}");
        assert!((summary.mean - 500.5).abs() <= 0.5, "{summary:?}");
        assert_eq!(
            LatencySummary::of(&new_histogram().unwrap()),
            LatencySummary::default()
        );
    }

    #[test]
    fn extreme_latencies_are_clamped_not_lost() {
        let mut histogram = new_histogram().unwrap();
        record(&mut histogram, Duration::ZERO);
        record(&mut histogram, Duration::from_secs(100_000));
        assert_eq!(histogram.len(), 2);
        assert!(LatencySummary::of(&histogram).max >= 3_599_000.0);
    }

    #[test]
    fn errors_and_answers_add_up() {
        let mut stats = Stats::new().unwrap();
        stats.sent("Heartbeat");
        stats.sent("Heartbeat");
        stats.sent("StartTransaction");
        stats.answered(
            "Heartbeat",
            Duration::from_millis(3),
            Duration::from_millis(2),
        );
        stats.call_error("CP-1", "StartTransaction", "InternalError", "db down");
        stats.timeout("CP-1", "Heartbeat");
        let totals = stats.totals();
        assert_eq!(
            totals,
            CallTotals {
                sent: 3,
                answered: 1,
                call_errors: 1,
                timeouts: 1,
                unanswered_at_end: 0
            }
        );
        assert_eq!(stats.error_count(), 2);
        assert_eq!(stats.errors["CALLERROR StartTransaction InternalError"], 1);
        assert!(stats.first_errors[0].contains("db down"));
        let per_action = stats.per_action();
        assert_eq!(per_action["Heartbeat"].answered, 1);
        assert!((per_action["Heartbeat"].latency_ms.p50 - 3.0).abs() < 0.01);
    }

    #[test]
    fn the_timeline_shows_the_second_that_stalled() {
        let mut timeline = Timeline::new().unwrap();
        for tenth in 0..30u64 {
            let offset = Duration::from_millis(tenth * 100);
            let latency = if tenth / 10 == 1 { 250 } else { 2 };
            timeline.record(offset, Duration::from_millis(latency));
        }
        // Nothing scheduled in the fifth second: the fourth is an empty line, not a gap.
        timeline.record(Duration::from_millis(4_500), Duration::from_millis(7));
        let seconds = timeline.summary();
        assert_eq!(seconds.len(), 5);
        assert_eq!(
            seconds.iter().map(|s| s.answered).collect::<Vec<_>>(),
            [10, 10, 10, 0, 1]
        );
        assert!((seconds[0].p99_ms - 2.0).abs() < 0.05, "{seconds:?}");
        assert!((seconds[1].p50_ms - 250.0).abs() <= 2.5, "{seconds:?}");
        assert!((seconds[2].max_ms - 2.0).abs() < 0.05, "{seconds:?}");
        assert_eq!(seconds[3].p99_ms, 0.0);
        assert!((seconds[4].max_ms - 7.0).abs() < 0.1, "{seconds:?}");
    }

    #[test]
    fn the_timeline_is_bounded() {
        let mut timeline = Timeline::new().unwrap();
        timeline.record(Duration::from_secs(1), Duration::from_millis(1));
        timeline.record(
            Duration::from_secs(MAX_TIMELINE_SECONDS as u64),
            Duration::from_millis(1),
        );
        timeline.record(Duration::MAX, Duration::from_millis(1));
        assert_eq!(timeline.summary().len(), 2);
    }
}
