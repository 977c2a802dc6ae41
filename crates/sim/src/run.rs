//! Whole runs: connect the fleet, drive it (`run`, `saturate`) or hold it (`idle`, `storm`),
//! and summarize.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::charger::{Charger, SetupError, Shared};
use crate::connect::{ConnectError, Target};
use crate::cpu::{CpuSnapshot, CpuSummary};
use crate::dialect::{CycleShape, session_cycle};
use crate::fleet::{ChargerSpec, FleetConfig, census};
use crate::ledger::Ledger;
use crate::rng::Rng;
use crate::schedule::{Pace, Schedule, Timers, cycle_span, fixed_interval, fixed_phase, lead_in};
use crate::stats::{
    ActionSummary, CallTotals, LatencySummary, SecondSummary, Stats, new_histogram, record, round3,
};

/// Why a run could not be carried out at all (charger failures are counted, not errors).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The URL is unusable.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A file (ledger, ready file) could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A latency histogram could not be made.
    #[error("creating a histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
}

/// How chargers reach the server.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Base URL; the station id is appended (`ws://127.0.0.1:9000/ocpp`).
    pub url: String,
    /// Spread connections over this many loopback source addresses.
    pub source_addresses: u8,
    /// HTTP Basic password for every charger (user = station id).
    pub password: Option<String>,
    /// Leave out `Sec-WebSocket-Protocol`.
    pub omit_subprotocol: bool,
    /// Most connects and boots in progress at once.
    pub concurrency: usize,
    /// How long one CALL may wait for its answer.
    pub call_timeout: Duration,
}

impl ConnectOptions {
    /// Options for `url` with the defaults of the CLI.
    pub fn new(url: &str) -> ConnectOptions {
        ConnectOptions {
            url: url.to_owned(),
            source_addresses: 8,
            password: None,
            omit_subprotocol: false,
            concurrency: 500,
            call_timeout: Duration::from_secs(30),
        }
    }

    async fn target(&self) -> Result<Target, ConnectError> {
        Target::resolve(
            &self.url,
            self.source_addresses,
            self.password.clone(),
            self.omit_subprotocol,
        )
        .await
    }
}

/// What the chargers do once connected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Realistic timers; sessions last about `session`.
    Timers {
        /// Heartbeat, meter and idle timers.
        timers: Timers,
        /// Length of a charging session.
        session: Duration,
    },
    /// A fixed offered rate over the whole fleet, open loop.
    Rate {
        /// CALLs per second offered by the whole fleet.
        calls_per_second: f64,
        /// Meter values and heartbeats per session cycle.
        shape: CycleShape,
    },
    /// Every charger sends its next CALL as soon as the previous one is answered.
    Saturate {
        /// Meter values and heartbeats per session cycle.
        shape: CycleShape,
    },
}

/// A `run` or `saturate`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// How to connect.
    pub connect: ConnectOptions,
    /// Which chargers.
    pub fleet: FleetConfig,
    /// What they do.
    pub load: Load,
    /// How long the measured run lasts (after every charger has booted and the warm-up).
    pub duration: Duration,
    /// How long the fleet runs before the measured window opens; CALLs scheduled in it are
    /// not counted.
    pub warmup: Duration,
    /// How long to wait for outstanding answers at the end.
    pub drain_timeout: Duration,
    /// Where to write the ledger of acknowledged stops.
    pub ledger: Option<PathBuf>,
    /// The server's process id, to report its memory.
    pub server_pid: Option<u32>,
}

/// The JSON summary of any mode.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `idle`, `run`, `saturate` or `storm`.
    pub mode: String,
    /// The base URL.
    pub url: String,
    /// The fleet.
    pub chargers: FleetSummary,
    /// Connecting and booting.
    pub connect: ConnectSummary,
    /// CALL/s the fleet offered (fixed-rate runs).
    pub offered_calls_per_s: Option<f64>,
    /// Length of the measured run, seconds.
    pub duration_s: f64,
    /// Length of the warm-up before it, seconds (its CALLs are not counted).
    pub warmup_s: f64,
    /// CALL counts.
    pub calls: CallTotals,
    /// CALLRESULTs per second during the measured run.
    pub answered_per_s: f64,
    /// Latency of every CALLRESULT from its scheduled send time.
    pub latency_ms: LatencySummary,
    /// Latency of every CALLRESULT from its actual send time.
    pub service_ms: LatencySummary,
    /// Per action.
    pub per_action: BTreeMap<String, ActionSummary>,
    /// Sessions whose start was answered.
    pub sessions_started: u64,
    /// Sessions whose stop was acknowledged.
    pub sessions_stopped: u64,
    /// Answers that refused an id tag.
    pub refused: u64,
    /// CALLs from the CSMS the chargers answered.
    pub csms_calls_answered: u64,
    /// Every error: failed chargers, CALLERRORs, timeouts, disconnects.
    pub errors: u64,
    /// Errors by kind.
    pub error_kinds: BTreeMap<String, u64>,
    /// The first error messages.
    pub first_errors: Vec<String>,
    /// The server's memory, when its process id was given.
    pub server_rss: Option<RssSummary>,
    /// CPU over the measured window (`run` and `saturate`), when the server's process id was
    /// given: the server's, the simulator's and the rest of the machine's.
    pub cpu: Option<CpuSummary>,
    /// The reconnect storm after a restart (`storm --await-restart`).
    pub restart: Option<RestartSummary>,
    /// The measured window second by second (`run` and `saturate`), by scheduled time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<SecondSummary>,
}

/// The fleet of a summary.
#[derive(Debug, Clone, Serialize)]
pub struct FleetSummary {
    /// Chargers asked for.
    pub requested: usize,
    /// Chargers that booted.
    pub connected: usize,
    /// Chargers that never came up.
    pub failed: usize,
    /// Chargers by version and dialect.
    pub kinds: BTreeMap<String, usize>,
}

/// Connecting and booting the fleet.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectSummary {
    /// From the first connect to the last boot and status answered, seconds.
    pub all_connected_after_s: f64,
    /// Connect + BootNotification + StatusNotification per charger.
    pub connect_boot_ms: LatencySummary,
    /// Attempts that failed and were retried (storm) or counted as failures.
    pub failed_attempts: u64,
}

/// The server's resident memory.
#[derive(Debug, Clone, Serialize)]
pub struct RssSummary {
    /// Before the chargers connected, KiB.
    pub before_kib: u64,
    /// With every charger connected and idle, KiB.
    pub after_kib: u64,
    /// The difference per connected charger, KiB.
    pub per_connection_kib: Option<f64>,
}

/// How fast the fleet came back after the server restarted.
#[derive(Debug, Clone, Serialize)]
pub struct RestartSummary {
    /// Chargers whose connection the restart dropped.
    pub dropped: usize,
    /// Chargers booted again with status reported.
    pub readmitted: usize,
    /// Chargers that did not come back in time.
    pub failed: usize,
    /// Connect attempts refused or failed while the server was down or busy.
    pub failed_attempts: u64,
    /// From the first dropped connection to the last charger re-admitted, seconds.
    pub readmit_after_drop_s: Option<f64>,
    /// From the first successful reconnect (the server is back) to the last charger
    /// re-admitted, seconds; accurate to the retry interval.
    pub readmit_after_server_up_s: Option<f64>,
    /// The first failures.
    pub first_failures: Vec<String>,
}

/// The resident set size of a process, KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rss_summary(before: Option<u64>, after: Option<u64>, connected: usize) -> Option<RssSummary> {
    let (before_kib, after_kib) = (before?, after?);
    Some(RssSummary {
        before_kib,
        after_kib,
        per_connection_kib: (connected > 0).then(|| {
            let per = after_kib.saturating_sub(before_kib) as f64 / connected as f64;
            (per * 100.0).round() / 100.0
        }),
    })
}

/// Energy per meter value follows the meter interval of the timers; fixed-rate and saturated
/// runs pretend a minute between samples.
fn meter_interval_secs(load: &Load) -> u64 {
    match load {
        Load::Timers { timers, .. } => timers.meter_interval.as_secs().max(1),
        _ => 60,
    }
}

fn pace_of(
    load: &Load,
    cycle: &[crate::dialect::Planned],
    spec: &ChargerSpec,
    count: usize,
) -> Pace {
    match *load {
        Load::Timers { timers, .. } => Pace::Timers(timers),
        Load::Rate {
            calls_per_second, ..
        } => {
            let interval = fixed_interval(calls_per_second, count, cycle);
            Pace::Fixed {
                phase: fixed_phase(interval, spec.index, count),
                interval,
            }
        }
        Load::Saturate { .. } => Pace::Saturate,
    }
}

/// How long after the start a fixed-rate fleet's last charger enters its session cycle: its
/// longest lead-in, one cycle. Zero for the other loads (timers draw their phases; saturation
/// is paced by answers, and its lead-ins pass in the first second or so).
fn steady_after(load: &Load, specs: &[ChargerSpec], shape: CycleShape) -> Duration {
    let Load::Rate {
        calls_per_second, ..
    } = *load
    else {
        return Duration::ZERO;
    };
    specs
        .iter()
        .map(|spec| {
            let cycle = session_cycle(spec.version, spec.dialect, shape);
            let interval = fixed_interval(calls_per_second, specs.len(), &cycle);
            if interval == Duration::MAX {
                return Duration::ZERO;
            }
            cycle_span(interval, &cycle)
        })
        .max()
        .unwrap_or(Duration::ZERO)
}

fn shape_of(load: &Load) -> CycleShape {
    match *load {
        Load::Timers { timers, session } => CycleShape {
            meter_values: timers.meter_values_per_session(session),
            heartbeats: 0,
        },
        Load::Rate { shape, .. } | Load::Saturate { shape } => shape,
    }
}

fn new_shared(
    target: Target,
    ledger: Option<Ledger>,
    call_timeout: Duration,
    drain: Duration,
) -> Result<Arc<Shared>, SimError> {
    Ok(Arc::new(Shared {
        target,
        stats: Mutex::new(Stats::new()?),
        setup: Mutex::new(Stats::new()?),
        ledger,
        call_timeout,
        drain_timeout: drain,
    }))
}

/// Connects and boots the fleet, drives it for the configured duration and summarizes.
pub async fn run(config: RunConfig) -> Result<Summary, SimError> {
    let target = config.connect.target().await?;
    let ledger = config.ledger.as_deref().map(Ledger::create).transpose()?;
    let shared = new_shared(
        target,
        ledger,
        config.connect.call_timeout,
        config.drain_timeout,
    )?;
    let specs = config.fleet.chargers();
    let count = specs.len();
    let shape = shape_of(&config.load);
    let meter_secs = meter_interval_secs(&config.load);
    let (ready_tx, mut ready_rx) = mpsc::channel::<Result<Duration, SetupError>>(count.max(1));
    let (go_tx, go_rx) = watch::channel::<Option<Instant>>(None);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Chargers close only once every charger has its answers: a charger that disconnects
    // early makes the server record the disconnect while others still wait for answers,
    // and those would be counted as the server's latency.
    // Each booted charger holds a sender until it has its answers: the channel closes when
    // the last is dropped.
    let (drained_tx, mut drained_rx) = mpsc::channel::<()>(1);
    let (close_tx, close_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(config.connect.concurrency.max(1)));
    // At a fixed rate the window opens once the fleet's mix is steady (see `lead_in`).
    let warmup = config.warmup.max(steady_after(&config.load, &specs, shape));
    let mut tasks = JoinSet::new();
    let connect_started = Instant::now();
    for spec in specs.iter().cloned() {
        let cycle = session_cycle(spec.version, spec.dialect, shape);
        let pace = pace_of(&config.load, &cycle, &spec, count);
        let lead = match config.load {
            Load::Timers { .. } => 0,
            Load::Rate { .. } | Load::Saturate { .. } => lead_in(&cycle, spec.index, count),
        };
        let schedule = Schedule::new(cycle, pace, spec.index as u64).with_lead_in(lead);
        let shared = shared.clone();
        let ready_tx = ready_tx.clone();
        let mut go_rx = go_rx.clone();
        let stop_rx = stop_rx.clone();
        let drained_tx = drained_tx.clone();
        let mut close_rx = close_rx.clone();
        let permits = permits.clone();
        tasks.spawn(async move {
            let mut charger = Charger::new(spec, meter_secs);
            let began = Instant::now();
            let result = match permits.acquire().await {
                Ok(_permit) => charger.connect_and_boot(&shared).await,
                Err(_) => return,
            };
            let booted = result.is_ok();
            let _ = ready_tx.send(result.map(|()| began.elapsed())).await;
            drop(ready_tx);
            if !booted {
                return;
            }
            let start = loop {
                if let Some(start) = *go_rx.borrow_and_update() {
                    break start;
                }
                if go_rx.changed().await.is_err() {
                    return;
                }
            };
            charger
                .drive(shared, schedule, start, start + warmup, stop_rx)
                .await;
            drop(drained_tx);
            let _ = close_rx.wait_for(|close| *close).await;
            charger.close().await;
        });
    }
    drop(ready_tx);
    drop(drained_tx);
    let mut connect_times = new_histogram()?;
    let mut failures = Vec::new();
    for _ in 0..count {
        match ready_rx.recv().await {
            Some(Ok(elapsed)) => record(&mut connect_times, elapsed),
            Some(Err(error)) => failures.push(error),
            None => break,
        }
    }
    let all_connected_after = connect_started.elapsed();
    let rss_before = config.server_pid.and_then(rss_kib);
    // A short lead so that every charger has seen the start before its first slot is due.
    let start = Instant::now() + Duration::from_millis(200);
    let _ = go_tx.send(Some(start));
    tokio::time::sleep_until(start + warmup).await;
    let cpu_start = config.server_pid.map(CpuSnapshot::take);
    tokio::time::sleep_until(start + warmup + config.duration).await;
    let cpu_end = config.server_pid.map(CpuSnapshot::take);
    let _ = stop_tx.send(true);
    let rss_after = config.server_pid.and_then(rss_kib);
    let waited = tokio::time::timeout(config.drain_timeout + Duration::from_secs(10), async {
        while drained_rx.recv().await.is_some() {}
        let _ = close_tx.send(true);
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if waited.is_err() {
        tasks.abort_all();
    }
    let mode = match config.load {
        Load::Saturate { .. } => "saturate",
        _ => "run",
    };
    let offered = match config.load {
        Load::Rate {
            calls_per_second, ..
        } => Some(calls_per_second),
        _ => None,
    };
    let stats = shared.stats().clone();
    let setup = shared.setup().clone();
    let cpu = cpu_start
        .zip(cpu_end)
        .and_then(|(start, end)| CpuSummary::between(&start, &end, stats.answered_in_window));
    Ok(summarize(SummaryParts {
        mode,
        url: &config.connect.url,
        specs: &specs,
        connect_times: &connect_times,
        failures: &failures,
        all_connected_after,
        failed_attempts: setup.error_count(),
        duration: config.duration,
        warmup,
        offered,
        stats: &stats,
        server_rss: rss_summary(rss_before, rss_after, count - failures.len()),
        cpu,
        restart: None,
    }))
}

struct SummaryParts<'a> {
    mode: &'a str,
    url: &'a str,
    specs: &'a [ChargerSpec],
    connect_times: &'a hdrhistogram::Histogram<u64>,
    failures: &'a [SetupError],
    all_connected_after: Duration,
    failed_attempts: u64,
    duration: Duration,
    warmup: Duration,
    offered: Option<f64>,
    stats: &'a Stats,
    server_rss: Option<RssSummary>,
    cpu: Option<CpuSummary>,
    restart: Option<RestartSummary>,
}

fn summarize(parts: SummaryParts<'_>) -> Summary {
    let stats = parts.stats;
    let mut error_kinds = stats.errors.clone();
    let mut first_errors: Vec<String> = parts
        .failures
        .iter()
        .take(5)
        .map(ToString::to_string)
        .collect();
    first_errors.extend(stats.first_errors.iter().cloned());
    first_errors.truncate(10);
    if !parts.failures.is_empty() {
        *error_kinds
            .entry("charger failed to boot".to_owned())
            .or_default() += parts.failures.len() as u64;
    }
    if let Some(restart) = &parts.restart
        && restart.failed > 0
    {
        *error_kinds
            .entry("charger not re-admitted after the restart".to_owned())
            .or_default() += restart.failed as u64;
    }
    let seconds = parts.duration.as_secs_f64();
    Summary {
        mode: parts.mode.to_owned(),
        url: parts.url.to_owned(),
        chargers: FleetSummary {
            requested: parts.specs.len(),
            connected: parts.specs.len() - parts.failures.len(),
            failed: parts.failures.len(),
            kinds: census(parts.specs),
        },
        connect: ConnectSummary {
            all_connected_after_s: round3(parts.all_connected_after.as_secs_f64()),
            connect_boot_ms: LatencySummary::of(parts.connect_times),
            failed_attempts: parts.failed_attempts,
        },
        offered_calls_per_s: parts.offered,
        duration_s: round3(seconds),
        warmup_s: round3(parts.warmup.as_secs_f64()),
        calls: stats.totals(),
        answered_per_s: if seconds > 0.0 {
            round3(stats.answered_in_window as f64 / seconds)
        } else {
            0.0
        },
        latency_ms: LatencySummary::of(&stats.all),
        service_ms: LatencySummary::of(&stats.service),
        per_action: stats.per_action(),
        sessions_started: stats.sessions_started,
        sessions_stopped: stats.sessions_stopped,
        refused: stats.refused,
        csms_calls_answered: stats.csms_calls,
        errors: error_kinds.values().sum(),
        error_kinds,
        first_errors,
        server_rss: parts.server_rss,
        cpu: parts.cpu,
        restart: parts.restart,
        timeline: stats.timeline.summary(),
    }
}

/// An `idle` or `storm`: connect the fleet, hold it, optionally ride out a server restart.
#[derive(Debug, Clone)]
pub struct HoldConfig {
    /// `idle` or `storm`, for the summary.
    pub mode: &'static str,
    /// How to connect.
    pub connect: ConnectOptions,
    /// Which chargers.
    pub fleet: FleetConfig,
    /// A charger keeps retrying its first admission this long.
    pub admit_timeout: Duration,
    /// Pause between two attempts of one charger (with ±50 % jitter).
    pub retry: Duration,
    /// How long to hold the fleet once all are up before measuring memory and releasing it
    /// (or, with `await_restart`, before waiting for the restart).
    pub settle: Duration,
    /// The server's process id, to report its memory per idle connection.
    pub server_pid: Option<u32>,
    /// Wait for the server to drop every connection (a restart), reconnect and measure how
    /// long re-admission takes.
    pub await_restart: bool,
    /// How long to wait for the restart to begin.
    pub restart_wait: Duration,
    /// After the first drop, how long chargers may take to be re-admitted.
    pub readmit_timeout: Duration,
    /// Created (with the admission count) once every charger is up: tells a script that it
    /// may restart the server now.
    pub ready_file: Option<PathBuf>,
}

enum HoldEvent {
    Admitted(Duration, u64),
    Failed(SetupError, u64),
    Dropped(Instant),
    Readmitted {
        started: Instant,
        at: Instant,
        failed_attempts: u64,
    },
    ReadmitFailed(SetupError, u64),
}

/// Tries `connect_and_boot` until it works or `deadline` passes; returns the start of the
/// successful attempt and the number of failed ones.
async fn admit(
    charger: &mut Charger,
    shared: &Shared,
    permits: &Semaphore,
    deadline: Instant,
    retry: Duration,
    rng: &mut Rng,
) -> Result<(Instant, u64), (SetupError, u64)> {
    let mut failed = 0u64;
    loop {
        let attempt = Instant::now();
        let result = match permits.acquire().await {
            Ok(_permit) => charger.connect_and_boot(shared).await,
            Err(_) => {
                return Err((
                    SetupError {
                        station: charger.spec.station_id.clone(),
                        reason: "the simulator is shutting down".to_owned(),
                        reached_server: false,
                    },
                    failed,
                ));
            }
        };
        match result {
            Ok(()) => return Ok((attempt, failed)),
            Err(error) => {
                failed += 1;
                let pause = retry.mul_f64(0.5 + rng.unit());
                if Instant::now() + pause >= deadline {
                    return Err((error, failed));
                }
                charger.close().await;
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Connects the fleet and holds it; see [`HoldConfig`].
pub async fn hold(config: HoldConfig) -> Result<Summary, SimError> {
    let target = config.connect.target().await?;
    let shared = new_shared(target, None, config.connect.call_timeout, Duration::ZERO)?;
    let specs = config.fleet.chargers();
    let count = specs.len();
    let rss_before = config.server_pid.and_then(rss_kib);
    let (event_tx, mut event_rx) = mpsc::unbounded_channel::<HoldEvent>();
    let (release_tx, release_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(config.connect.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    let admit_deadline = started + config.admit_timeout;
    for spec in specs.iter().cloned() {
        let shared = shared.clone();
        let event_tx = event_tx.clone();
        let mut release_rx = release_rx.clone();
        let permits = permits.clone();
        let config = config.clone();
        tasks.spawn(async move {
            let mut rng = Rng::new(spec.index as u64 ^ 0xA5A5);
            let mut charger = Charger::new(spec, 60);
            let began = Instant::now();
            match admit(
                &mut charger,
                &shared,
                &permits,
                admit_deadline,
                config.retry,
                &mut rng,
            )
            .await
            {
                Ok((_, failed)) => {
                    let _ = event_tx.send(HoldEvent::Admitted(began.elapsed(), failed));
                }
                Err((error, failed)) => {
                    let _ = event_tx.send(HoldEvent::Failed(error, failed));
                    return;
                }
            }
            if charger.hold(&mut release_rx).await.is_ok() {
                charger.close().await;
                return;
            }
            if !config.await_restart {
                return;
            }
            let _ = event_tx.send(HoldEvent::Dropped(Instant::now()));
            let deadline = Instant::now() + config.readmit_timeout;
            match admit(
                &mut charger,
                &shared,
                &permits,
                deadline,
                config.retry,
                &mut rng,
            )
            .await
            {
                Ok((attempt, failed)) => {
                    let _ = event_tx.send(HoldEvent::Readmitted {
                        started: attempt,
                        at: Instant::now(),
                        failed_attempts: failed,
                    });
                    let _ = charger.hold(&mut release_rx).await;
                    charger.close().await;
                }
                Err((error, failed)) => {
                    let _ = event_tx.send(HoldEvent::ReadmitFailed(error, failed));
                }
            }
        });
    }
    drop(event_tx);

    let mut connect_times = new_histogram()?;
    let mut failures = Vec::new();
    let mut failed_attempts = 0u64;
    let mut early = Vec::new();
    while connect_times.len() as usize + failures.len() < count {
        match event_rx.recv().await {
            Some(HoldEvent::Admitted(elapsed, failed)) => {
                record(&mut connect_times, elapsed);
                failed_attempts += failed;
            }
            Some(HoldEvent::Failed(error, failed)) => {
                failures.push(error);
                failed_attempts += failed;
            }
            // A restart can begin before the slowest charger is up; keep those for later.
            Some(other) => early.push(other),
            None => break,
        }
    }
    let all_connected_after = started.elapsed();
    let admitted = count - failures.len();
    eprintln!(
        "zaryad-sim: {admitted} of {count} chargers up after {:.2} s",
        all_connected_after.as_secs_f64()
    );
    tokio::time::sleep(config.settle).await;
    let rss_after = config.server_pid.and_then(rss_kib);
    if let Some(path) = &config.ready_file {
        std::fs::write(path, format!("{admitted}\n"))?;
    }

    let restart = if config.await_restart {
        Some(await_restart(&config, admitted, early, &mut event_rx).await)
    } else {
        None
    };
    let _ = release_tx.send(true);
    let waited = tokio::time::timeout(Duration::from_secs(15), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if waited.is_err() {
        tasks.abort_all();
    }
    let stats = shared.stats().clone();
    Ok(summarize(SummaryParts {
        mode: config.mode,
        url: &config.connect.url,
        specs: &specs,
        connect_times: &connect_times,
        failures: &failures,
        all_connected_after,
        failed_attempts,
        duration: Duration::ZERO,
        warmup: Duration::ZERO,
        offered: None,
        stats: &stats,
        server_rss: rss_summary(rss_before, rss_after, admitted),
        cpu: None,
        restart,
    }))
}

/// Folds the events of a restart into its summary.
struct RestartTracker {
    summary: RestartSummary,
    first_drop: Option<Instant>,
    first_up: Option<Instant>,
    last_readmit: Option<Instant>,
}

impl RestartTracker {
    fn apply(&mut self, event: HoldEvent) {
        let summary = &mut self.summary;
        match event {
            HoldEvent::Dropped(at) => {
                summary.dropped += 1;
                self.first_drop = Some(self.first_drop.map_or(at, |first| first.min(at)));
            }
            HoldEvent::Readmitted {
                started,
                at,
                failed_attempts,
            } => {
                summary.readmitted += 1;
                summary.failed_attempts += failed_attempts;
                self.first_up = Some(self.first_up.map_or(started, |first| first.min(started)));
                self.last_readmit = Some(self.last_readmit.map_or(at, |last| last.max(at)));
            }
            HoldEvent::ReadmitFailed(error, failed_attempts) => {
                summary.failed += 1;
                summary.failed_attempts += failed_attempts;
                if summary.first_failures.len() < 5 {
                    summary.first_failures.push(error.to_string());
                }
            }
            HoldEvent::Admitted(..) | HoldEvent::Failed(..) => {}
        }
    }
}

async fn await_restart(
    config: &HoldConfig,
    admitted: usize,
    early: Vec<HoldEvent>,
    events: &mut mpsc::UnboundedReceiver<HoldEvent>,
) -> RestartSummary {
    eprintln!("zaryad-sim: waiting for the server to restart");
    let mut tracker = RestartTracker {
        summary: RestartSummary {
            dropped: 0,
            readmitted: 0,
            failed: 0,
            failed_attempts: 0,
            readmit_after_drop_s: None,
            readmit_after_server_up_s: None,
            first_failures: Vec::new(),
        },
        first_drop: None,
        first_up: None,
        last_readmit: None,
    };
    for event in early {
        tracker.apply(event);
    }
    let restart_deadline = Instant::now() + config.restart_wait;
    while tracker.summary.readmitted + tracker.summary.failed < admitted {
        let deadline = match tracker.first_drop {
            None => restart_deadline,
            // Every dropped charger reports within its re-admission timeout.
            Some(first_drop) => first_drop + config.readmit_timeout + Duration::from_secs(30),
        };
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) => tracker.apply(event),
            Ok(None) => break,
            Err(_) => {
                if tracker.first_drop.is_none() {
                    tracker
                        .summary
                        .first_failures
                        .push("the server did not restart in time".to_owned());
                }
                break;
            }
        }
    }
    let mut summary = tracker.summary;
    // Chargers that were never re-admitted (never dropped, or never reported) count as failed.
    summary.failed = admitted.saturating_sub(summary.readmitted);
    if let (Some(first_drop), Some(last)) = (tracker.first_drop, tracker.last_readmit) {
        summary.readmit_after_drop_s = Some(round3(
            last.saturating_duration_since(first_drop).as_secs_f64(),
        ));
    }
    if let (Some(first_up), Some(last)) = (tracker.first_up, tracker.last_readmit) {
        summary.readmit_after_server_up_s = Some(round3(
            last.saturating_duration_since(first_up).as_secs_f64(),
        ));
    }
    summary
}
