//! How many chargers this node admitted lately: tells a reconnect storm from everyday traffic.
//!
//! After a restart every charger of the network connects and boots within seconds. Work that
//! can wait, the boot-time configuration read above all (a CALL, its answer and a stored
//! report per charger), waits until the node admits fewer than a storm's worth of chargers, so
//! that the CPU goes to getting every charger answered first; then it starts for a limited
//! number of stations a second, so that the deferred reads do not all run at once (each holds
//! memory while it runs: the calls, the answers, their frames).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// More admissions than this in the current and the previous second make a storm. A national
/// network's chargers reconnect on their own a few at a time; a restart brings thousands.
pub const STORM_ADMISSIONS: u32 = 200;

/// The boot-time configuration starts for at most this many stations a second.
pub const CONFIGURATIONS_PER_SEC: u32 = 2000;

/// Admissions counted per whole second since the gauge started.
#[derive(Debug)]
pub struct Admissions {
    started: Instant,
    /// The current second (high 32 bits) and its admissions so far (low 32 bits), in one word
    /// so that a new second starts its count atomically.
    current: AtomicU64,
    /// The admissions of the second before `current`'s.
    previous: AtomicU32,
    /// Boot-time configurations started, packed as `current`.
    configurations: AtomicU64,
}

impl Default for Admissions {
    fn default() -> Self {
        Admissions {
            started: Instant::now(),
            current: AtomicU64::new(0),
            previous: AtomicU32::new(0),
            configurations: AtomicU64::new(0),
        }
    }
}

impl Admissions {
    /// A charger was admitted now.
    pub fn admitted(&self) {
        self.admitted_at(self.second());
    }

    /// Whether a station's boot-time configuration may start now; counts it when it may.
    pub fn may_configure(&self) -> bool {
        self.may_configure_at(self.second())
    }

    fn may_configure_at(&self, second: u32) -> bool {
        if self.recent_at(second) > STORM_ADMISSIONS {
            return false;
        }
        count(&self.configurations, second, CONFIGURATIONS_PER_SEC).is_some()
    }

    fn second(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    fn admitted_at(&self, second: u32) {
        if let Some((at, count)) = count(&self.current, second, u32::MAX)
            && at < second
        {
            // The second that just ended becomes the previous one; a gap of seconds without
            // admissions leaves none.
            let ended = if at.checked_add(1) == Some(second) {
                count
            } else {
                0
            };
            self.previous.store(ended, Ordering::Relaxed);
        }
    }

    fn recent_at(&self, second: u32) -> u32 {
        let (at, count) = unpack(self.current.load(Ordering::Relaxed));
        if at == second {
            count.saturating_add(self.previous.load(Ordering::Relaxed))
        } else if at.checked_add(1) == Some(second) {
            count
        } else {
            0
        }
    }
}

/// How long a connection waits before it asks again whether its configuration may start: a
/// second and a part of another, different for each, so that the waiting connections do not
/// all ask in the same instant.
pub fn storm_recheck_delay() -> Duration {
    Duration::from_millis(rand::random_range(1000..2000))
}

/// Counts one more in `second` in `word` (a second and its count, packed), unless that second
/// already counted `limit`; returns the second and count it replaced. A caller that read the
/// clock just before another started a new second counts in the new one.
fn count(word: &AtomicU64, second: u32, limit: u32) -> Option<(u32, u32)> {
    let mut seen = word.load(Ordering::Relaxed);
    loop {
        let (at, count) = unpack(seen);
        let next = if at >= second {
            if count >= limit {
                return None;
            }
            pack(at, count + 1)
        } else {
            pack(second, 1)
        };
        match word.compare_exchange_weak(seen, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Some((at, count)),
            Err(actual) => seen = actual,
        }
    }
}

fn pack(second: u32, count: u32) -> u64 {
    (u64::from(second) << 32) | u64::from(count)
}

fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_is_more_than_its_threshold_over_two_seconds() {
        let gauge = Admissions::default();
        assert_eq!(gauge.recent_at(0), 0);
        for _ in 0..STORM_ADMISSIONS / 2 {
            gauge.admitted_at(7);
        }
        for _ in 0..STORM_ADMISSIONS / 2 {
            gauge.admitted_at(8);
        }
        // At the threshold: no storm yet.
        assert_eq!(gauge.recent_at(8), STORM_ADMISSIONS);
        gauge.admitted_at(8);
        assert!(gauge.recent_at(8) > STORM_ADMISSIONS);
        // The next second still sees the last one's admissions, then they age out.
        assert_eq!(gauge.recent_at(9), STORM_ADMISSIONS / 2 + 1);
        assert_eq!(gauge.recent_at(10), 0);
    }

    #[test]
    fn a_quiet_gap_leaves_no_previous_second() {
        let gauge = Admissions::default();
        for _ in 0..500 {
            gauge.admitted_at(3);
        }
        gauge.admitted_at(9);
        assert_eq!(
            gauge.recent_at(9),
            1,
            "second 8 had none, second 3 is long over"
        );
        gauge.admitted_at(10);
        assert_eq!(gauge.recent_at(10), 2);
        // A late caller of second 9 counts in second 10.
        gauge.admitted_at(9);
        assert_eq!(gauge.recent_at(10), 3);
    }

    #[test]
    fn configurations_start_at_a_limited_rate_and_not_during_a_storm() {
        let gauge = Admissions::default();
        for _ in 0..CONFIGURATIONS_PER_SEC {
            assert!(gauge.may_configure_at(4));
        }
        assert!(
            !gauge.may_configure_at(4),
            "this second's starts are used up"
        );
        assert!(gauge.may_configure_at(5), "the next second has its own");
        for _ in 0..=STORM_ADMISSIONS {
            gauge.admitted_at(6);
        }
        assert!(!gauge.may_configure_at(6));
        assert!(
            !gauge.may_configure_at(7),
            "the storm's last second still counts"
        );
        assert!(gauge.may_configure_at(8));
    }

    #[test]
    fn the_live_gauge_counts_admissions_from_many_threads() {
        let gauge = std::sync::Arc::new(Admissions::default());
        assert!(gauge.may_configure());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let gauge = gauge.clone();
                std::thread::spawn(move || {
                    for _ in 0..STORM_ADMISSIONS {
                        gauge.admitted();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        // 800 admissions within about a millisecond: a storm, whichever seconds they fell in.
        assert!(
            !gauge.may_configure(),
            "no configuration starts during a storm"
        );
        let delay = storm_recheck_delay();
        assert!(delay >= Duration::from_secs(1) && delay < Duration::from_secs(2));
    }
}
