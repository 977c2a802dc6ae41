//! When each CALL is due: open-loop timing, so that a slow server cannot hide its queueing.
//!
//! A charger's CALLs have *scheduled* times computed from the start of the run and the pace
//! alone, never from when earlier answers arrived. Latency is measured from the scheduled time:
//! when the server falls behind, the charger's next CALL leaves late (it keeps one CALL
//! outstanding, as the spec says) and the delay shows up in the latency instead of silently
//! lowering the offered rate ("coordinated omission").
//!
//! The one exception is a step that follows another with no delay (Authorize, then
//! StartTransaction): a real charger sends it when the previous answer arrives, so such a
//! *chained* step is scheduled at that answer (or at its own time, whichever is later).

use std::time::Duration;

use crate::dialect::{Planned, Step};
use crate::rng::Rng;

/// How a charger paces its CALLs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Open loop at a fixed rate: slot `n` is due at `phase + n × interval` after the start;
    /// pipelined entries share the slot of the entry before them.
    Fixed {
        /// Offset of this charger's first slot, spreading chargers evenly over one interval.
        phase: Duration,
        /// Time between two slots of this charger.
        interval: Duration,
    },
    /// Open loop with realistic timers: a heartbeat timer, and a session cycle whose meter
    /// values follow the meter interval and whose sessions are separated by idle time.
    Timers(Timers),
    /// Closed loop: every CALL as soon as the previous one was answered (saturation).
    Saturate,
}

/// The timers of a realistic charger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timers {
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Time between two meter values during a session (also the session's last stretch).
    pub meter_interval: Duration,
    /// Mean idle time between sessions; each gap is drawn from 0.5× to 1.5× of it.
    pub idle: Duration,
}

impl Timers {
    /// How many meter values a session of `session` length carries (at least one).
    pub fn meter_values_per_session(&self, session: Duration) -> u32 {
        if self.meter_interval.is_zero() {
            return 1;
        }
        let count = session.as_secs_f64() / self.meter_interval.as_secs_f64();
        (count.round() as u32).max(1)
    }
}

/// The slot interval that makes one charger offer its share of `total_rate` CALL/s.
///
/// Each of `chargers` offers `total_rate / chargers` CALL/s. A cycle of `calls` CALLs uses
/// `slots` slots (pipelined CALLs share a slot), so a slot must come every
/// `calls / (rate × slots)` seconds.
pub fn fixed_interval(total_rate: f64, chargers: usize, cycle: &[Planned]) -> Duration {
    let calls = cycle.len().max(1) as f64;
    let slots = slots(cycle).max(1) as f64;
    let per_charger = total_rate / chargers.max(1) as f64;
    if per_charger <= 0.0 || !per_charger.is_finite() {
        return Duration::MAX;
    }
    Duration::from_secs_f64(calls / (per_charger * slots))
}

/// How many slots a cycle takes: pipelined entries ride in the slot before them.
fn slots(cycle: &[Planned]) -> u64 {
    cycle.iter().filter(|entry| !entry.pipelined).count() as u64
}

/// Charger `index` of `chargers` starts `index / chargers` of an interval late, so that the
/// fleet's CALLs arrive evenly spread instead of in bursts.
pub fn fixed_phase(interval: Duration, index: usize, chargers: usize) -> Duration {
    if interval == Duration::MAX {
        return Duration::ZERO;
    }
    interval.mul_f64(index as f64 / chargers.max(1) as f64)
}

/// How many heartbeats charger `index` of `chargers` sends before its first cycle, so that the
/// fleet's chargers are spread evenly over the cycle's slots.
///
/// Without it every charger of a fixed-rate run is at the same step at the same time: for one
/// interval the whole fleet sends StartTransaction, then meter values, then all stop at once,
/// and the server sees waves of one kind of CALL instead of a mix (measured: a second in
/// every cycle of 18 with a median of 40–100 ms where the others had 5). A charger that
/// heartbeats a while before its first session is an idle charger, as in the field. The mix
/// is steady once the last charger has entered its cycle, one cycle after the start
/// ([`cycle_span`]).
pub fn lead_in(cycle: &[Planned], index: usize, chargers: usize) -> u64 {
    let slots = slots(cycle);
    let chargers = chargers.max(1) as u64;
    slots * (index as u64 % chargers) / chargers
}

/// How long a fixed-rate charger takes to go once through `cycle`: its longest lead-in.
pub fn cycle_span(interval: Duration, cycle: &[Planned]) -> Duration {
    mul(interval, slots(cycle))
}

/// Latency measured from the scheduled time: zero when answered "before" it.
pub fn latency(scheduled: Duration, answered: Duration) -> Duration {
    answered.saturating_sub(scheduled)
}

/// The next CALL a charger should send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Due {
    /// What to send.
    pub step: Step,
    /// When, as an offset from the start of the run; `None` means now (saturation).
    pub at: Option<Duration>,
    /// Send without waiting for the previous answer (a dialect's pipelining).
    pub pipelined: bool,
    /// The step follows the previous one without delay: it is due when that answer arrives,
    /// if that is later than `at`.
    pub chained: bool,
}

impl Due {
    /// The time this CALL counts as scheduled for, given when the previous answer arrived.
    pub fn scheduled(&self, now: Duration, last_answer: Duration) -> Duration {
        match self.at {
            None => now,
            Some(at) if self.chained => at.max(last_answer),
            Some(at) => at,
        }
    }
}

/// One charger's endless sequence of due CALLs.
#[derive(Debug, Clone)]
pub struct Schedule {
    cycle: Vec<Planned>,
    position: usize,
    pace: Pace,
    slot: u64,
    /// Timers: when the previous cycle entry was due.
    cycle_at: Duration,
    /// Timers: the next cycle entry and when it is due.
    upcoming: Option<(Planned, Duration, bool)>,
    /// Timers: when the next heartbeat is due.
    heartbeat_at: Duration,
    first_plug: bool,
    /// Fixed rate and saturation: heartbeats still to send before the cycle's first entry.
    lead_in: u64,
    rng: Rng,
}

impl Schedule {
    /// A schedule over `cycle` (never empty in practice; an empty cycle only heartbeats).
    /// `seed` draws the timers' phases and idle gaps.
    pub fn new(cycle: Vec<Planned>, pace: Pace, seed: u64) -> Schedule {
        let mut rng = Rng::new(seed);
        let heartbeat_at = match pace {
            Pace::Timers(timers) => timers.heartbeat.mul_f64(rng.unit()),
            _ => Duration::ZERO,
        };
        Schedule {
            cycle,
            position: 0,
            pace,
            slot: 0,
            cycle_at: Duration::ZERO,
            upcoming: None,
            heartbeat_at,
            first_plug: true,
            lead_in: 0,
            rng,
        }
    }

    /// Starts the cycle after `heartbeats` heartbeats (fixed rate and saturation; see
    /// [`lead_in`]).
    pub fn with_lead_in(mut self, heartbeats: u64) -> Schedule {
        self.lead_in = heartbeats;
        self
    }

    fn next_entry(&mut self) -> Planned {
        let entry = self.cycle.get(self.position).copied().unwrap_or(Planned {
            step: Step::Heartbeat,
            pipelined: false,
        });
        self.position = (self.position + 1) % self.cycle.len().max(1);
        entry
    }

    fn next_entry_after_lead_in(&mut self) -> Planned {
        if self.lead_in > 0 {
            self.lead_in -= 1;
            return Planned {
                step: Step::Heartbeat,
                pipelined: false,
            };
        }
        self.next_entry()
    }

    /// The next CALL to send.
    pub fn next_due(&mut self) -> Due {
        match self.pace {
            Pace::Saturate => {
                let entry = self.next_entry_after_lead_in();
                Due {
                    step: entry.step,
                    at: None,
                    pipelined: entry.pipelined,
                    chained: false,
                }
            }
            Pace::Fixed { phase, interval } => {
                let entry = self.next_entry_after_lead_in();
                // A pipelined entry rides in the slot of the entry before it.
                let slot = if entry.pipelined {
                    self.slot.saturating_sub(1)
                } else {
                    self.slot += 1;
                    self.slot - 1
                };
                let at = phase.saturating_add(mul(interval, slot));
                Due {
                    step: entry.step,
                    at: Some(at),
                    pipelined: entry.pipelined,
                    chained: false,
                }
            }
            Pace::Timers(timers) => self.next_timed(timers),
        }
    }

    fn next_timed(&mut self, timers: Timers) -> Due {
        let (entry, at, chained) = match self.upcoming.take() {
            Some(upcoming) => upcoming,
            None => {
                let entry = self.next_entry();
                let delay = self.delay(entry, timers);
                let chained = delay.is_zero() && !entry.pipelined;
                (entry, self.cycle_at + delay, chained)
            }
        };
        if !timers.heartbeat.is_zero() && self.heartbeat_at < at {
            let heartbeat_at = self.heartbeat_at;
            self.heartbeat_at += timers.heartbeat;
            self.upcoming = Some((entry, at, chained));
            return Due {
                step: Step::Heartbeat,
                at: Some(heartbeat_at),
                pipelined: false,
                chained: false,
            };
        }
        self.cycle_at = at;
        Due {
            step: entry.step,
            at: Some(at),
            pipelined: entry.pipelined,
            chained,
        }
    }

    /// How long after the previous cycle entry this one is due.
    fn delay(&mut self, entry: Planned, timers: Timers) -> Duration {
        if entry.pipelined {
            return Duration::ZERO;
        }
        match entry.step {
            Step::Plug if self.first_plug => {
                // Chargers start their first session at a random point of one idle gap, so
                // that a fleet started together does not plug in all at once.
                self.first_plug = false;
                timers.idle.mul_f64(self.rng.unit())
            }
            Step::Plug => timers.idle.mul_f64(0.5 + self.rng.unit()),
            Step::Meter | Step::Stop => timers.meter_interval,
            _ => Duration::ZERO,
        }
    }
}

fn mul(interval: Duration, times: u64) -> Duration {
    interval
        .checked_mul(u32::try_from(times).unwrap_or(u32::MAX))
        .unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use zaryad_wire::OcppVersion;

    use super::*;
    use crate::dialect::{CycleShape, Dialect, session_cycle};

    fn secs(value: f64) -> Duration {
        Duration::from_secs_f64(value)
    }

    fn cycle(dialect: Dialect) -> Vec<Planned> {
        session_cycle(
            OcppVersion::V16,
            dialect,
            CycleShape {
                meter_values: 3,
                heartbeats: 1,
            },
        )
    }

    #[test]
    fn fixed_rate_interval_gives_each_charger_its_share() {
        // 10 chargers at 100 CALL/s: 10 CALL/s each; a cycle without pipelining has one CALL
        // per slot, so a slot every 100 ms.
        let clean = cycle(Dialect::Clean);
        assert_eq!(fixed_interval(100.0, 10, &clean), secs(0.1));
        // Pipelined CALLs share a slot: fewer slots per cycle, so slots come less often and
        // the CALL rate stays the same.
        let china = cycle(Dialect::China);
        let calls = china.len() as f64;
        let slots = china.iter().filter(|entry| !entry.pipelined).count() as f64;
        let interval = fixed_interval(100.0, 10, &china);
        let calls_per_second = calls / (slots * interval.as_secs_f64());
        assert!((calls_per_second - 10.0).abs() < 1e-6, "{calls_per_second}");
        assert_eq!(fixed_interval(0.0, 10, &clean), Duration::MAX);
    }

    #[test]
    fn lead_ins_spread_the_fleet_over_one_cycle() {
        let china = cycle(Dialect::China);
        let slots = china.iter().filter(|entry| !entry.pipelined).count() as u64;
        let chargers = 1000;
        let leads: Vec<u64> = (0..chargers)
            .map(|index| lead_in(&china, index, chargers))
            .collect();
        assert_eq!(leads[0], 0);
        assert_eq!(*leads.iter().max().unwrap(), slots - 1);
        // Every slot of the cycle is some charger's first: as many chargers at each step.
        for slot in 0..slots {
            let starting = leads.iter().filter(|&&lead| lead == slot).count();
            assert!(
                starting.abs_diff(chargers / slots as usize) <= 1,
                "slot {slot}: {starting}"
            );
        }
        assert_eq!(cycle_span(secs(0.5), &china), secs(0.5 * slots as f64));
    }

    #[test]
    fn a_lead_in_heartbeats_in_its_slots_then_starts_the_cycle() {
        let clean = cycle(Dialect::Clean);
        let pace = Pace::Fixed {
            phase: secs(0.25),
            interval: secs(1.0),
        };
        let mut schedule = Schedule::new(clean.clone(), pace, 1).with_lead_in(2);
        let dues: Vec<Due> = (0..3).map(|_| schedule.next_due()).collect();
        assert_eq!(dues[0].step, Step::Heartbeat);
        assert_eq!(dues[1].step, Step::Heartbeat);
        assert_eq!(dues[2].step, clean[0].step);
        assert_eq!(
            dues.iter().map(|due| due.at).collect::<Vec<_>>(),
            [Some(secs(0.25)), Some(secs(1.25)), Some(secs(2.25))]
        );
        let mut saturate = Schedule::new(clean.clone(), Pace::Saturate, 1).with_lead_in(1);
        assert_eq!(saturate.next_due().step, Step::Heartbeat);
        assert_eq!(saturate.next_due().step, clean[0].step);
    }

    #[test]
    fn phases_spread_chargers_over_one_interval() {
        let interval = secs(1.0);
        assert_eq!(fixed_phase(interval, 0, 4), Duration::ZERO);
        assert_eq!(fixed_phase(interval, 1, 4), secs(0.25));
        assert_eq!(fixed_phase(interval, 3, 4), secs(0.75));
        assert_eq!(fixed_phase(Duration::MAX, 3, 4), Duration::ZERO);
    }

    #[test]
    fn fixed_slots_are_open_loop_and_pipelined_entries_share_them() {
        let china = cycle(Dialect::China);
        let pace = Pace::Fixed {
            phase: secs(0.5),
            interval: secs(2.0),
        };
        let mut schedule = Schedule::new(china.clone(), pace, 1);
        let dues: Vec<Due> = (0..china.len() + 1).map(|_| schedule.next_due()).collect();
        assert_eq!(dues[0].step, Step::Plug);
        assert_eq!(dues[0].at, Some(secs(0.5)));
        assert_eq!(dues[1].step, Step::Start);
        assert!(dues[1].pipelined);
        assert_eq!(dues[1].at, Some(secs(0.5)), "shares the Plug slot");
        assert_eq!(dues[2].at, Some(secs(2.5)));
        // After a whole cycle the schedule wraps around to Plug again.
        assert_eq!(dues[china.len()].step, Step::Plug);
        // A late answer never moves the schedule: scheduled time is the slot.
        assert_eq!(dues[2].scheduled(secs(9.0), secs(9.0)), secs(2.5));
        assert!(dues.iter().all(|due| !due.chained));
    }

    #[test]
    fn latency_counts_from_the_scheduled_time() {
        assert_eq!(latency(secs(1.0), secs(1.25)), secs(0.25));
        assert_eq!(latency(secs(1.0), secs(0.5)), Duration::ZERO);
    }

    #[test]
    fn timers_interleave_heartbeats_and_chain_dependent_steps() {
        let timers = Timers {
            heartbeat: secs(10.0),
            meter_interval: secs(3.0),
            idle: secs(4.0),
        };
        assert_eq!(timers.meter_values_per_session(secs(9.0)), 3);
        assert_eq!(timers.meter_values_per_session(secs(1.0)), 1);
        let clean = session_cycle(
            OcppVersion::V16,
            Dialect::Clean,
            CycleShape {
                meter_values: 3,
                heartbeats: 0,
            },
        );
        let mut schedule = Schedule::new(clean, Pace::Timers(timers), 5);
        let dues: Vec<Due> = (0..30).map(|_| schedule.next_due()).collect();
        // Scheduled times never go backwards.
        for pair in dues.windows(2) {
            assert!(pair[0].at <= pair[1].at, "{pair:?}");
        }
        let heartbeats: Vec<Duration> = dues
            .iter()
            .filter(|due| due.step == Step::Heartbeat)
            .filter_map(|due| due.at)
            .collect();
        assert!(heartbeats.len() >= 2, "{dues:?}");
        assert_eq!(heartbeats[1] - heartbeats[0], secs(10.0));
        // The first plug-in comes within one idle gap; Authorize and Start are chained to it.
        let plug = dues.iter().position(|due| due.step == Step::Plug).unwrap();
        assert!(dues[plug].at.unwrap() < secs(4.0));
        let authorize = dues[plug + 1..]
            .iter()
            .find(|due| due.step == Step::Authorize)
            .unwrap();
        assert!(authorize.chained);
        assert_eq!(authorize.at, dues[plug].at);
        // A chained step counts from the previous answer when that came later.
        assert_eq!(
            authorize.scheduled(secs(99.0), authorize.at.unwrap() + secs(0.2)),
            authorize.at.unwrap() + secs(0.2)
        );
        // Meter values follow the meter interval.
        let meters: Vec<Duration> = dues
            .iter()
            .filter(|due| due.step == Step::Meter)
            .filter_map(|due| due.at)
            .collect();
        assert_eq!(meters[1] - meters[0], secs(3.0));
        assert!(
            !dues
                .iter()
                .any(|due| due.step == Step::Meter && due.chained)
        );
    }

    #[test]
    fn saturation_is_always_due_now() {
        let mut schedule = Schedule::new(cycle(Dialect::Clean), Pace::Saturate, 0);
        let due = schedule.next_due();
        assert_eq!(due.at, None);
        assert_eq!(due.scheduled(secs(3.0), secs(1.0)), secs(3.0));
    }
}
