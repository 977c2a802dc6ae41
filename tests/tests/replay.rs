//! Recorded traces (`tests/fixtures/replay/*.jsonl`: the quirk catalogue's frames, each within
//! a plausible exchange) replayed through the adapter and the model as `zaryad replay` does;
//! `*.expect.json` beside each holds the normalized values the replay must produce (a subset:
//! every key it names must be there with that value, arrays element by element).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use zaryad_server::replay::{ReplayOptions, replay};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/replay")
}

/// Replays `name.jsonl` with the shipped vendor profiles and compares with `name.expect.json`.
async fn check(name: &str) {
    let read = |file: String| {
        let path = fixtures().join(&file);
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    };
    let trace = read(format!("{name}.jsonl"));
    let expected: Value = serde_json::from_str(&read(format!("{name}.expect.json"))).unwrap();
    let options = ReplayOptions {
        profiles_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/vendors"),
        station_id: "REPLAY".to_owned(),
    };
    let report = replay(&trace, &options).await.unwrap();
    let mut problems = Vec::new();
    subset(&report, &expected, "$", &mut problems);
    assert!(
        problems.is_empty(),
        "{name}: the replay differs from {name}.expect.json:\n{}\n\nreplay:\n{}",
        problems.join("\n"),
        serde_json::to_string_pretty(&report).unwrap()
    );
}

/// Collects where `actual` does not hold `expected`: objects by key, arrays element by element
/// (same length), numbers by value, anything else exactly.
fn subset(actual: &Value, expected: &Value, at: &str, problems: &mut Vec<String>) {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => {
            for (key, want) in expected {
                match actual.get(key) {
                    Some(have) => subset(have, want, &format!("{at}.{key}"), problems),
                    None if want.is_null() => {}
                    None => problems.push(format!("{at}.{key}: missing, expected {want}")),
                }
            }
        }
        (Value::Array(actual), Value::Array(expected)) => {
            if actual.len() != expected.len() {
                problems.push(format!(
                    "{at}: {} elements, expected {}",
                    actual.len(),
                    expected.len()
                ));
            }
            for (index, (have, want)) in actual.iter().zip(expected).enumerate() {
                subset(have, want, &format!("{at}[{index}]"), problems);
            }
        }
        (Value::Number(have), Value::Number(want)) if have.as_f64() == want.as_f64() => {}
        (have, want) if have == want => {}
        (have, want) => problems.push(format!("{at}: {have}, expected {want}")),
    }
}

#[tokio::test]
async fn handshakes() {
    check("handshakes").await;
}

#[tokio::test]
async fn byte_level_defects() {
    check("byte-level").await;
}

#[tokio::test]
async fn growatt_offsetless_and_offset_times() {
    check("growatt").await;
}

#[tokio::test]
async fn china_xq_session() {
    check("china-xq").await;
}

#[tokio::test]
async fn korea_tscontech_session() {
    check("korea-tscontech").await;
}

#[tokio::test]
async fn korea_lselink_session() {
    check("korea-lselink").await;
}

#[tokio::test]
async fn status_notifications() {
    check("statuses").await;
}

#[tokio::test]
async fn meter_values_outside_sessions() {
    check("meter-values").await;
}

#[tokio::test]
async fn ocular_placeholder_ids_and_late_values() {
    check("ocular").await;
}

#[tokio::test]
async fn transactions_the_csms_cannot_place() {
    check("transactions").await;
}

#[tokio::test]
async fn boots() {
    check("boots").await;
}

#[tokio::test]
async fn ocpp201_anonymous_and_foxess() {
    check("ocpp201").await;
}

#[tokio::test]
async fn answers_to_csms_calls() {
    check("answers").await;
}

#[tokio::test]
async fn gbt_connectors_on_201() {
    check("gbt-201").await;
}

/// Every record of the quirk catalogue is in some fixture.
#[test]
fn every_catalogue_frame_is_replayed() {
    let catalogue = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/adapter/tests/fixtures/quirk_frames.jsonl");
    let mut used = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "jsonl") {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let record: Value = serde_json::from_str(line).unwrap();
                if let Some(id) = record["id"].as_str() {
                    used.insert(id.to_owned());
                }
            }
        }
    }
    let missing: Vec<String> = std::fs::read_to_string(catalogue)
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .filter(|id| !used.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "catalogue frames without a replay fixture: {missing:?}"
    );
}
