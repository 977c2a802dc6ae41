//! What a group commit costs through SQLite's `unix` VFS and through `zaryad-wal`: each commit
//! appends 60 meter readings (with an index entry by session, 200 sessions) and 20 events, and
//! updates 30 rows spread over a table of 20,000 (a writer's group at saturation, roughly), in
//! WAL mode at `synchronous=FULL` with automatic checkpoints, as the writer runs. Prints, per
//! commit, the write calls the process made (`syscw` of `/proc/self/io`; no other thread
//! writes here), its user and system CPU time (`/proc/self/stat`, 10 ms ticks) and the wall
//! time; the two VFSs alternate, three rounds each.
//!
//! `cargo bench -p zaryad-wal-vfs --bench commit [-- COMMITS]` (default 2,000 a round).

use std::path::Path;
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};

/// Appended readings (and an event for every third) and updated rows a commit.
const APPENDS: usize = 60;
const UPDATES: usize = 30;
const UPDATED_TABLE_ROWS: i64 = 20_000;
const SAMPLES: &str = r#"[{"measurand":"Energy.Active.Import.Register","value":12345.0,"unit":"Wh"},{"measurand":"Power.Active.Import","value":7200.0,"unit":"W"},{"measurand":"Current.Import","value":16.0,"unit":"A","phase":"L1"},{"measurand":"Voltage","value":230.1,"unit":"V","phase":"L1-N"}]"#;
const EVENT: &str = r#"{"type":"session.updated","station_id":"SAT-00017","session_id":"01939a0000000017","energy_wh":12345.0,"power_w":7200.0}"#;

#[derive(Clone, Copy)]
struct Usage {
    write_calls: u64,
    user_ticks: u64,
    system_ticks: u64,
}

fn usage() -> Usage {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let write_calls = io
        .lines()
        .find_map(|line| line.strip_prefix("syscw: "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    Usage {
        write_calls,
        user_ticks: fields.get(11).copied().unwrap_or(0),
        system_ticks: fields.get(12).copied().unwrap_or(0),
    }
}

fn open(path: &Path, vfs: Option<&str>) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
    let conn = match vfs {
        Some(vfs) => Connection::open_with_flags_and_vfs(path, flags, vfs)?,
        None => Connection::open_with_flags(path, flags)?,
    };
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE readings (id INTEGER PRIMARY KEY, session TEXT, at TEXT, samples TEXT);
         CREATE INDEX readings_by_session ON readings (session, at);
         CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, data TEXT);
         CREATE TABLE sessions (id INTEGER PRIMARY KEY, energy REAL, updated TEXT);",
    )?;
    let tx = conn.unchecked_transaction()?;
    for id in 0..UPDATED_TABLE_ROWS {
        tx.execute(
            "INSERT INTO sessions VALUES (?1, 0, '2026-12-01T00:00:00Z')",
            [id],
        )?;
    }
    tx.commit()?;
    Ok(conn)
}

fn commit(conn: &Connection, round: i64) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    for n in 0..APPENDS as i64 {
        let row = round * APPENDS as i64 + n;
        let session = format!("01939a{:010}", row % 200);
        tx.prepare_cached("INSERT INTO readings (session, at, samples) VALUES (?1, ?2, ?3)")?
            .execute((
                &session,
                format!("2026-12-01T00:{:02}:{:02}Z", row / 60 % 60, row % 60),
                SAMPLES,
            ))?;
        if n % 3 == 0 {
            tx.prepare_cached("INSERT INTO events (id, data) VALUES (?1, ?2)")?
                .execute((format!("01939b{row:016}"), EVENT))?;
        }
    }
    for n in 0..UPDATES as i64 {
        let id = (round * 7_919 + n * 503) % UPDATED_TABLE_ROWS;
        tx.prepare_cached("UPDATE sessions SET energy = energy + 1.5, updated = ?2 WHERE id = ?1")?
            .execute((id, "2026-12-01T00:00:01Z"))?;
    }
    tx.commit()
}

fn run(label: &str, vfs: Option<&str>, commits: i64) -> rusqlite::Result<()> {
    let dir = tempfile::tempdir().map_err(|_| rusqlite::Error::InvalidQuery)?;
    let conn = open(&dir.path().join("bench.db"), vfs)?;
    let before = usage();
    let started = Instant::now();
    for round in 0..commits {
        commit(&conn, round)?;
    }
    let wall = started.elapsed();
    let after = usage();
    // Clock ticks are 10 ms here (USER_HZ 100).
    let per_commit = |ticks: u64| ticks as f64 * 10_000.0 / commits as f64;
    println!(
        "{label:>10}: {:6.1} write calls, {:6.1} µs user, {:6.1} µs system, {:7.1} µs wall a commit",
        (after.write_calls - before.write_calls) as f64 / commits as f64,
        per_commit(after.user_ticks - before.user_ticks),
        per_commit(after.system_ticks - before.system_ticks),
        wall.as_secs_f64() * 1e6 / commits as f64,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let commits = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(2_000);
    zaryad_wal_vfs::register().map_err(|code| format!("SQLite refused the VFS: {code}"))?;
    println!(
        "{commits} commits a round, each {APPENDS} appended rows with an index entry, {} events, {UPDATES} updates",
        APPENDS / 3
    );
    for _ in 0..3 {
        run("unix", None, commits)?;
        run(zaryad_wal_vfs::NAME, Some(zaryad_wal_vfs::NAME), commits)?;
    }
    Ok(())
}
