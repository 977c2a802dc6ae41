//! Durable meter-sample rows per second and commit latency, per database, under the crash
//! test's load (50 chargers, half OCPP 1.6 and half 2.0.1, back-to-back sessions of five
//! meter values, the server in its own process), without the crash.
//!
//! ```text
//! cargo bench -p zaryad-e2e --bench write_load [-- --seconds 20 --chargers 50 --engine postgres]
//! ```
//!
//! "Durable" rows are the sampled values of CALLs that got their CALLRESULT: the server answers
//! only after the commit. Latencies: the charger's round trip of each write CALL answered on
//! its first try (p50, p99), and the server's own commit latency (the bucket of its
//! `zaryad_commit_latency_seconds` histogram that holds the p99). PostgreSQL is found as in the
//! tests (`ZARYAD_TEST_POSTGRES_URL`); a missing server skips it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use zaryad_e2e::crash::{Load, LoadPlan, ServerProcess, histogram_quantile};
use zaryad_store::testing::{Engine, TestDatabase};

const SERVER: &str = env!("CARGO_BIN_EXE_zaryad_under_test");
const COMMIT_HISTOGRAM: &str = "zaryad_commit_latency_seconds";
const WARM_UP: Duration = Duration::from_secs(3);

struct Args {
    seconds: u64,
    chargers: usize,
    engines: Vec<Engine>,
}

fn args() -> Args {
    let mut args = Args {
        seconds: 20,
        chargers: 50,
        engines: Engine::ALL.to_vec(),
    };
    let given: Vec<String> = std::env::args().skip(1).collect();
    let mut given = given.iter();
    // `cargo bench` adds `--bench`; anything unknown is ignored.
    while let Some(arg) = given.next() {
        match arg.as_str() {
            "--seconds" => args.seconds = given.next().and_then(|v| v.parse().ok()).unwrap_or(20),
            "--chargers" => args.chargers = given.next().and_then(|v| v.parse().ok()).unwrap_or(50),
            "--engine" => {
                args.engines = Engine::ALL
                    .into_iter()
                    .filter(|engine| {
                        given.clone().next().map(String::as_str) == Some(engine.name())
                    })
                    .collect();
                given.next();
            }
            _ => {}
        }
    }
    args
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "write_load: {} chargers ({} OCPP 1.6, {} OCPP 2.0.1), sessions of 5 meter values, \
         {} s measured after {} s warm-up",
        args.chargers,
        args.chargers.div_ceil(2),
        args.chargers / 2,
        args.seconds,
        WARM_UP.as_secs()
    );
    println!(
        "{:<9} {:>16} {:>14} {:>14} {:>14} {:>18}",
        "database",
        "sample rows/s",
        "write CALLs/s",
        "round trip p50",
        "round trip p99",
        "server commit p99"
    );
    for engine in &args.engines {
        runtime.block_on(measure(*engine, &args));
    }
}

async fn measure(engine: Engine, args: &Args) {
    let Some(db) = TestDatabase::new(engine).await else {
        println!("{:<9} skipped: no database", engine.name());
        return;
    };
    let log = db.dir().join("server.log");
    let server = ServerProcess::start(SERVER, db.url(), &log).await;
    let plan = LoadPlan {
        chargers: args.chargers,
        prefix: format!("BENCH-{}", engine.name()),
        meter_values_per_session: 5,
        max_sessions: usize::MAX,
    };
    let load = Load::start(&plan, server.ws_base());
    let stats = load.stats.clone();
    tokio::time::sleep(WARM_UP).await;

    stats.reset_latencies();
    let histogram_before = server.histogram(COMMIT_HISTOGRAM).await;
    let samples_before = stats.samples.load(Ordering::Relaxed);
    let answered_before = stats.answered.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let samples = stats.samples.load(Ordering::Relaxed) - samples_before;
    let answered = stats.answered.load(Ordering::Relaxed) - answered_before;
    let (p50, _) = stats.latency_quantile(0.50);
    let (p99, measured) = stats.latency_quantile(0.99);
    let histogram_after = server.histogram(COMMIT_HISTOGRAM).await;
    let commit_p99 = histogram_quantile(&histogram_before, &histogram_after, 0.99);

    let ledgers = load.finish().await;
    let failed = ledgers
        .iter()
        .filter(|ledger| ledger.failure.is_some())
        .count();
    server.terminate().await;
    println!(
        "{:<9} {:>16.0} {:>14.0} {:>11.1} ms {:>11.1} ms {:>15} ms",
        engine.name(),
        samples as f64 / elapsed,
        answered as f64 / elapsed,
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        if commit_p99.is_finite() {
            format!("<= {:.1}", commit_p99 * 1000.0)
        } else {
            "> 2500".to_owned()
        }
    );
    if failed > 0 || stats.internal_errors.load(Ordering::Relaxed) > 0 {
        println!(
            "          warning: {failed} chargers failed, {} InternalErrors ({} round trips measured)",
            stats.internal_errors.load(Ordering::Relaxed),
            measured
        );
    }
}
