//! CPU time over a run's measured window, from Linux's `/proc`: the server's (by process id),
//! the simulator's own and the whole machine's. What is left of the machine's once the two
//! processes are taken away is the database and anything else running, which on the
//! benchmark's machine is the database server: the three together say where a CALL's CPU goes
//! when the load generator shares the machine.

use std::time::Instant;

use serde::Serialize;

use crate::stats::round3;

/// The unit of `/proc`'s CPU times: the kernel reports them in `USER_HZ`, which Linux fixes at
/// 100 for this interface whatever its internal tick rate.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time taken at one moment, in ticks; a part is `None` where `/proc` could not be read.
#[derive(Debug, Clone, Copy)]
pub struct CpuSnapshot {
    at: Instant,
    machine: Option<u64>,
    server: Option<u64>,
    sim: Option<u64>,
}

impl CpuSnapshot {
    /// Reads the machine's busy time, the server's and this process's.
    pub fn take(server_pid: u32) -> CpuSnapshot {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        CpuSnapshot {
            at: Instant::now(),
            machine: read("/proc/stat").as_deref().and_then(machine_busy_ticks),
            server: read(&format!("/proc/{server_pid}/stat"))
                .as_deref()
                .and_then(process_ticks),
            sim: read("/proc/self/stat").as_deref().and_then(process_ticks),
        }
    }
}

/// Where the CPU went over a measured window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuSummary {
    /// Length of the window, seconds.
    pub window_s: f64,
    /// Busy cores of the whole machine, averaged over the window.
    pub machine_cores: f64,
    /// The server's cores.
    pub server_cores: f64,
    /// The simulator's cores.
    pub sim_cores: f64,
    /// The machine's less the server's and the simulator's: the database server and whatever
    /// else ran.
    pub rest_cores: f64,
    /// CPU per CALL answered in the window, microseconds: the server's.
    pub server_us_per_call: Option<f64>,
    /// The simulator's.
    pub sim_us_per_call: Option<f64>,
    /// The rest's.
    pub rest_us_per_call: Option<f64>,
}

impl CpuSummary {
    /// The CPU spent between two snapshots, per CALL answered in between; `None` without the
    /// machine's or the server's figures.
    pub fn between(start: &CpuSnapshot, end: &CpuSnapshot, answered: u64) -> Option<CpuSummary> {
        let seconds = end.at.duration_since(start.at).as_secs_f64();
        if seconds <= 0.0 {
            return None;
        }
        let cores = |from: Option<u64>, to: Option<u64>| -> Option<f64> {
            Some(to?.saturating_sub(from?) as f64 / TICKS_PER_SECOND / seconds)
        };
        let machine = cores(start.machine, end.machine)?;
        let server = cores(start.server, end.server)?;
        let sim = cores(start.sim, end.sim).unwrap_or(0.0);
        let rest = (machine - server - sim).max(0.0);
        let per_call =
            |cores: f64| (answered > 0).then(|| round1(cores * seconds * 1e6 / answered as f64));
        Some(CpuSummary {
            window_s: round3(seconds),
            machine_cores: round3(machine),
            server_cores: round3(server),
            sim_cores: round3(sim),
            rest_cores: round3(rest),
            server_us_per_call: per_call(server),
            sim_us_per_call: per_call(sim),
            rest_us_per_call: per_call(rest),
        })
    }
}

/// User and system time of a process from its `/proc/PID/stat` line, in ticks.
fn process_ticks(stat: &str) -> Option<u64> {
    // The command name, in parentheses, may itself hold spaces and parentheses: the fields
    // are counted from the last closing one (the state is the first after it, utime the
    // 12th, stime the 13th).
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// Busy time of all CPUs from `/proc/stat`'s first line, in ticks: everything but idle and
/// waiting for I/O (guest time is already counted in user time).
fn machine_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().next()?;
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let values: Vec<u64> = fields.map_while(|field| field.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    let busy = [0, 1, 2, 5, 6, 7];
    if values.len() < 8 {
        return None;
    }
    Some(busy.iter().map(|&index| values[index]).sum())
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_process_line_is_read_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 9000 0 12 0 731 268 0 0 20 0 \
                    6 0 123456 1000000 2500 18446744073709551615";
        assert_eq!(process_ticks(stat), Some(731 + 268));
        assert_eq!(process_ticks("4242 (cut short) S 1 2"), None);
        assert_eq!(process_ticks("no name at all"), None);
    }

    #[test]
    fn the_machine_line_counts_busy_time_only() {
        let stat = "cpu  1000 20 300 50000 400 5 6 7 0 0\ncpu0 500 10 150 25000 200 2 3 3 0 0\n";
        // user + nice + system + irq + softirq + steal; idle and iowait left out.
        assert_eq!(machine_busy_ticks(stat), Some(1000 + 20 + 300 + 5 + 6 + 7));
        assert_eq!(machine_busy_ticks("intr 1 2 3\n"), None);
        assert_eq!(machine_busy_ticks("cpu  1 2 3\n"), None);
    }

    #[test]
    fn a_window_splits_the_machine_into_server_simulator_and_the_rest() {
        let start = CpuSnapshot {
            at: Instant::now(),
            machine: Some(10_000),
            server: Some(2_000),
            sim: Some(500),
        };
        let end = CpuSnapshot {
            at: start.at + Duration::from_secs(10),
            // 15 cores·s busy in 10 s: 1.5 cores; the server 0.8, the simulator 0.3.
            machine: Some(11_500),
            server: Some(2_800),
            sim: Some(800),
        };
        let summary = CpuSummary::between(&start, &end, 100_000).unwrap();
        assert_eq!(summary.window_s, 10.0);
        assert_eq!(summary.machine_cores, 1.5);
        assert_eq!(summary.server_cores, 0.8);
        assert_eq!(summary.sim_cores, 0.3);
        assert_eq!(summary.rest_cores, 0.4);
        // 8 s of server CPU over 100,000 CALLs.
        assert_eq!(summary.server_us_per_call, Some(80.0));
        assert_eq!(summary.sim_us_per_call, Some(30.0));
        assert_eq!(summary.rest_us_per_call, Some(40.0));
        // Nothing answered: the cores stand, the per-CALL figures do not.
        let idle = CpuSummary::between(&start, &end, 0).unwrap();
        assert_eq!(idle.server_us_per_call, None);
        // Without the server's figures there is nothing to split.
        let unknown = CpuSnapshot {
            server: None,
            ..end
        };
        assert_eq!(CpuSummary::between(&start, &unknown, 100_000), None);
    }

    #[test]
    fn this_process_and_the_machine_can_be_read_here() {
        let snapshot = CpuSnapshot::take(std::process::id());
        if cfg!(target_os = "linux") {
            assert!(snapshot.machine.is_some());
            assert!(snapshot.server.is_some());
            assert!(snapshot.sim.is_some());
        }
    }
}
