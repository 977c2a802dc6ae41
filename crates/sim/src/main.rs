//! `zaryad-sim`: the command line over the `zaryad_sim` library.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use zaryad_sim::replay::{ReplayStep, parse_trace, trace_version};
use zaryad_sim::run::{HoldConfig, RunConfig};
use zaryad_sim::{ConnectOptions, CycleShape, DialectMix, FleetConfig, Load, Summary, Timers};
use zaryad_wire::OcppVersion;

/// Simulated OCPP chargers: load generator for benchmarks, and a tool to reproduce field
/// problems against any CSMS.
///
/// Every mode connects chargers to BASE_URL/STATION_ID (station ids PREFIX-00001, …), speaking
/// OCPP 1.6 and 2.0.1 in the chosen mix, in dialects modelled on real chargers:
/// `clean` (spec-exact), `china` (offset-less timestamps, numbers as strings, pipelined
/// StatusNotification + StartTransaction), `korea` (DataTransfer vendor data, membership
/// cards). Chargers answer the CSMS's CALLs with an accepting CALLRESULT. Modes that measure
/// print a JSON summary on stdout (progress goes to stderr) and exit non-zero on any error.
#[derive(Debug, Parser)]
#[command(name = "zaryad-sim", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Connect chargers that boot, report Available and then stay idle; reports connect times
    /// and, with --server-pid, the server's memory per idle connection.
    Idle(IdleArgs),
    /// Drive chargers with realistic timers (heartbeat, meter values, sessions, status
    /// changes), or at a fixed offered rate with --rate; latency counts from each CALL's
    /// scheduled time (open loop), so a slow server cannot hide its queueing.
    Run(RunArgs),
    /// Every charger sends its next CALL as soon as the previous one is answered (sessions,
    /// meter values, status): measures the most CALL/s the server sustains.
    Saturate(SaturateArgs),
    /// Reconnect storm: connect N chargers at once and measure until all are booted with
    /// status reported; with --await-restart, stay connected, ride out a server restart and
    /// measure how long re-admitting every charger takes, counting failures.
    Storm(StormArgs),
    /// Send the charger-to-CSMS frames of a JSON-lines trace (records like
    /// shared/quirks/frames.jsonl, or bare OCPP-J arrays) from one charger, in order, and
    /// print what the CSMS answers to each.
    ReplayFrames(ReplayArgs),
}

#[derive(Debug, Clone, Args)]
struct Common {
    /// Base URL; the station id is appended as the last path segment.
    #[arg(long, default_value = "ws://127.0.0.1:9000/ocpp")]
    url: String,
    /// How many chargers.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Share of OCPP 2.0.1 chargers, percent; the rest speak 1.6.
    #[arg(long, default_value_t = 30)]
    v201_percent: u32,
    /// Dialects of the 1.6 chargers with weights (clean, china, korea).
    #[arg(long, default_value = "clean=50,china=25,korea=25")]
    dialects: DialectMix,
    /// Station ids are PREFIX-00001, PREFIX-00002, …
    #[arg(long, default_value = "SIM")]
    prefix: String,
    /// Spread connections over this many source addresses 127.0.0.1, 127.0.0.2, … when the
    /// server is on loopback: each has its own ~28,000 ephemeral ports (0: let the OS choose).
    #[arg(long, default_value_t = 8)]
    source_addresses: u8,
    /// HTTP Basic password of every charger (security profile 1, user = station id).
    #[arg(long, env = "ZARYAD_SIM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Leave out the Sec-WebSocket-Protocol header, as some field chargers do.
    #[arg(long)]
    omit_subprotocol: bool,
    /// Most connects + boots in progress at once.
    #[arg(long, default_value_t = 500)]
    concurrency: usize,
    /// How long a CALL may wait for its answer, seconds.
    #[arg(long, default_value_t = 30)]
    call_timeout_secs: u64,
    /// Also write the JSON summary to this file.
    #[arg(long)]
    summary: Option<PathBuf>,
}

impl Common {
    fn connect(&self) -> ConnectOptions {
        ConnectOptions {
            url: self.url.clone(),
            source_addresses: self.source_addresses,
            password: self.password.clone(),
            omit_subprotocol: self.omit_subprotocol,
            concurrency: self.concurrency,
            call_timeout: Duration::from_secs(self.call_timeout_secs.max(1)),
        }
    }

    fn fleet(&self) -> FleetConfig {
        FleetConfig {
            count: self.count,
            prefix: self.prefix.clone(),
            v201_percent: self.v201_percent,
            dialects: self.dialects.clone(),
        }
    }
}

#[derive(Debug, Args)]
struct IdleArgs {
    #[command(flatten)]
    common: Common,
    /// How long to hold the connections once all are up, seconds (the server settles, then
    /// its memory is read).
    #[arg(long, default_value_t = 5)]
    hold_secs: u64,
    /// The server's process id: its RSS is read before connecting and after holding.
    #[arg(long)]
    server_pid: Option<u32>,
    /// How long a charger keeps retrying to connect and boot, seconds.
    #[arg(long, default_value_t = 30)]
    admit_timeout_secs: u64,
}

#[derive(Debug, Args)]
struct CycleArgs {
    /// Meter values per session (fixed rate and saturation).
    #[arg(long, default_value_t = 10)]
    meter_values_per_session: u32,
    /// Heartbeats between sessions (fixed rate and saturation).
    #[arg(long, default_value_t = 2)]
    heartbeats_per_cycle: u32,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    cycle: CycleArgs,
    /// Fixed offered rate of the whole fleet, CALL/s, open loop (instead of the timers): a
    /// realistic mix of status, Authorize, transaction start/stop, meter values, heartbeats,
    /// the chargers spread over their session cycle (each heartbeats a while before its
    /// first session, so that they do not all start, meter and stop at the same moment).
    #[arg(long)]
    rate: Option<f64>,
    /// How long to run once every charger has booted, seconds.
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// Run this long before the measured window opens, seconds: CALLs scheduled in it are
    /// not counted (errors always are), so the server's work after a mass boot (boot-time
    /// configuration of every charger) is left out of steady-state figures. With --rate the
    /// window opens no earlier than one session cycle after the start, when every charger
    /// has entered its cycle (the summary's warmup_s says when it opened).
    #[arg(long, default_value_t = 0)]
    warmup_secs: u64,
    /// Heartbeat interval, seconds (timers).
    #[arg(long, default_value_t = 60)]
    heartbeat_secs: u64,
    /// Meter value interval during a session, seconds (timers).
    #[arg(long, default_value_t = 15)]
    meter_secs: u64,
    /// Length of a charging session, seconds (timers).
    #[arg(long, default_value_t = 120)]
    session_secs: u64,
    /// Mean idle time between sessions, seconds (timers).
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// Write every acknowledged stop (station, transaction id, meter start/stop Wh, time of
    /// the acknowledgement) as a JSON line here, for durability checks.
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// How long to wait for outstanding answers at the end, seconds.
    #[arg(long, default_value_t = 10)]
    drain_secs: u64,
    /// The server's process id: its RSS is reported, and the CPU over the measured window (the
    /// server's, the simulator's and the rest of the machine's, per CALL answered).
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Debug, Args)]
struct SaturateArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    cycle: CycleArgs,
    /// How long to saturate once every charger has booted, seconds.
    #[arg(long, default_value_t = 30)]
    duration_secs: u64,
    /// Saturate this long before the measured window opens, seconds (see `run --warmup-secs`).
    #[arg(long, default_value_t = 0)]
    warmup_secs: u64,
    /// Ledger of acknowledged stops (see `run --ledger`).
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// How long to wait for outstanding answers at the end, seconds.
    #[arg(long, default_value_t = 10)]
    drain_secs: u64,
    /// The server's process id: its RSS is reported, and the CPU over the measured window
    /// (see `run --server-pid`).
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Debug, Args)]
struct StormArgs {
    #[command(flatten)]
    common: Common,
    /// Stay connected until the server drops every connection (a restart), then reconnect
    /// and measure re-admission.
    #[arg(long)]
    await_restart: bool,
    /// How long to wait for the restart to begin, seconds.
    #[arg(long, default_value_t = 300)]
    restart_wait_secs: u64,
    /// How long a charger keeps trying to be re-admitted after the drop, seconds.
    #[arg(long, default_value_t = 120)]
    readmit_timeout_secs: u64,
    /// How long a charger keeps trying its first admission, seconds.
    #[arg(long, default_value_t = 120)]
    admit_timeout_secs: u64,
    /// Pause between a charger's attempts, milliseconds (±50 % jitter).
    #[arg(long, default_value_t = 250)]
    retry_ms: u64,
    /// Once all are up: hold this long before reading the server's memory, seconds.
    #[arg(long, default_value_t = 3)]
    hold_secs: u64,
    /// The server's process id: its RSS per idle connection is reported.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Written once every charger is up: the signal for a script to restart the server.
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// The trace: JSON lines of frames.jsonl-style records or bare OCPP-J arrays.
    file: PathBuf,
    /// Base URL; the station id is appended.
    #[arg(long, default_value = "ws://127.0.0.1:9000/ocpp")]
    url: String,
    /// The station id to connect as.
    #[arg(long, default_value = "REPLAY-1")]
    station: String,
    /// OCPP version to speak; only the trace's frames of this version are sent (default: the
    /// version of the trace's first charger frame).
    #[arg(long)]
    ocpp: Option<String>,
    /// Send only the records with these ids (comma-separated), e.g. R02-a,R02-b.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Send a clean BootNotification first (a station must be accepted before most CALLs).
    #[arg(long)]
    boot: bool,
    /// HTTP Basic password (user = station id).
    #[arg(long, env = "ZARYAD_SIM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Leave out the Sec-WebSocket-Protocol header.
    #[arg(long)]
    omit_subprotocol: bool,
    /// How long to wait for each answer, seconds.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
    /// After a frame that expects no answer, listen this long, milliseconds.
    #[arg(long, default_value_t = 500)]
    linger_ms: u64,
    /// Print one JSON object per frame instead of text.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Idle(args) => {
            let summary = zaryad_sim::hold(HoldConfig {
                mode: "idle",
                connect: args.common.connect(),
                fleet: args.common.fleet(),
                admit_timeout: Duration::from_secs(args.admit_timeout_secs),
                retry: Duration::from_millis(500),
                settle: Duration::from_secs(args.hold_secs),
                server_pid: args.server_pid,
                await_restart: false,
                restart_wait: Duration::ZERO,
                readmit_timeout: Duration::ZERO,
                ready_file: None,
            })
            .await?;
            finish(&summary, args.common.summary.as_deref())
        }
        Command::Run(args) => {
            let load = match args.rate {
                Some(rate) if rate > 0.0 => Load::Rate {
                    calls_per_second: rate,
                    shape: shape(&args.cycle),
                },
                Some(rate) => bail!("--rate must be positive, not {rate}"),
                None => Load::Timers {
                    timers: Timers {
                        heartbeat: Duration::from_secs(args.heartbeat_secs),
                        meter_interval: Duration::from_secs(args.meter_secs.max(1)),
                        idle: Duration::from_secs(args.idle_secs),
                    },
                    session: Duration::from_secs(args.session_secs),
                },
            };
            let summary = zaryad_sim::run(RunConfig {
                connect: args.common.connect(),
                fleet: args.common.fleet(),
                load,
                duration: Duration::from_secs(args.duration_secs),
                warmup: Duration::from_secs(args.warmup_secs),
                drain_timeout: Duration::from_secs(args.drain_secs),
                ledger: args.ledger,
                server_pid: args.server_pid,
            })
            .await?;
            finish(&summary, args.common.summary.as_deref())
        }
        Command::Saturate(args) => {
            let summary = zaryad_sim::run(RunConfig {
                connect: args.common.connect(),
                fleet: args.common.fleet(),
                load: Load::Saturate {
                    shape: shape(&args.cycle),
                },
                duration: Duration::from_secs(args.duration_secs),
                warmup: Duration::from_secs(args.warmup_secs),
                drain_timeout: Duration::from_secs(args.drain_secs),
                ledger: args.ledger,
                server_pid: args.server_pid,
            })
            .await?;
            finish(&summary, args.common.summary.as_deref())
        }
        Command::Storm(args) => {
            let summary = zaryad_sim::hold(HoldConfig {
                mode: "storm",
                connect: args.common.connect(),
                fleet: args.common.fleet(),
                admit_timeout: Duration::from_secs(args.admit_timeout_secs),
                retry: Duration::from_millis(args.retry_ms.max(1)),
                settle: Duration::from_secs(args.hold_secs),
                server_pid: args.server_pid,
                await_restart: args.await_restart,
                restart_wait: Duration::from_secs(args.restart_wait_secs),
                readmit_timeout: Duration::from_secs(args.readmit_timeout_secs),
                ready_file: args.ready_file,
            })
            .await?;
            finish(&summary, args.common.summary.as_deref())
        }
        Command::ReplayFrames(args) => replay(args).await,
    }
}

fn shape(args: &CycleArgs) -> CycleShape {
    CycleShape {
        meter_values: args.meter_values_per_session,
        heartbeats: args.heartbeats_per_cycle,
    }
}

/// Prints the summary, writes it to `path` when asked, and fails when anything failed.
fn finish(summary: &Summary, path: Option<&std::path::Path>) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(summary)?;
    println!("{text}");
    if let Some(path) = path {
        std::fs::write(path, format!("{text}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if summary.errors > 0 {
        bail!(
            "{} errors (see error_kinds and first_errors)",
            summary.errors
        );
    }
    Ok(())
}

async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let version: OcppVersion = match &args.ocpp {
        Some(version) => version.parse()?,
        None => trace_version(&text).unwrap_or(OcppVersion::V16),
    };
    let frames = parse_trace(&text, version, &args.only)?;
    let target = zaryad_sim::connect::Target::resolve(
        &args.url,
        0,
        args.password.clone(),
        args.omit_subprotocol,
    )
    .await?;
    let mut socket = zaryad_sim::replay::connect(&target, &args.station, version)
        .await
        .with_context(|| format!("connecting {} to {}", args.station, args.url))?;
    eprintln!(
        "connected as {} (OCPP {version}); sending {} frames",
        args.station,
        frames.len()
    );
    let mut all = Vec::new();
    if args.boot {
        let mut boot = zaryad_sim::dialect::ChargerState::new(
            &args.station,
            version,
            zaryad_sim::Dialect::Clean,
            0,
            60,
        );
        if let Some((action, payload)) =
            boot.build(zaryad_sim::dialect::Step::Boot, chrono::Utc::now())
        {
            all.push(zaryad_sim::replay::TraceFrame {
                label: "boot".to_owned(),
                text: zaryad_wire::Frame::call("replay-boot", action, payload).to_text(),
                awaits: Some("replay-boot".to_owned()),
            });
        }
    }
    all.extend(frames);
    let json = args.json;
    let steps = zaryad_sim::replay::replay(
        &mut socket,
        version,
        &all,
        Duration::from_secs(args.timeout_secs.max(1)),
        Duration::from_millis(args.linger_ms),
        |step| print_step(step, json),
    )
    .await?;
    let unanswered = steps
        .iter()
        .filter(|step| step.outcome == "no answer" || step.outcome == "connection closed")
        .count();
    if unanswered > 0 {
        bail!("{unanswered} frames got no answer");
    }
    Ok(())
}

fn print_step(step: &ReplayStep, json: bool) {
    if json {
        if let Ok(line) = serde_json::to_string(step) {
            println!("{line}");
        }
        return;
    }
    let timing = step
        .answer_ms
        .map(|ms| format!(" ({ms:.1} ms)"))
        .unwrap_or_default();
    println!("{:<8} >> {}", step.label, step.sent);
    for received in &step.received {
        println!("{:<8} << {received}", "");
    }
    println!("{:<8}    {}{timing}", "", step.outcome);
}
