//! Helpers shared by the adapter's integration tests.
#![allow(dead_code)]

use chrono::TimeZone;
use serde_json::Value;
use zaryad_model::Timestamp;

const FRAMES: &str = include_str!("../fixtures/quirk_frames.jsonl");

/// The server clock the tests pretend the frames arrived at.
pub fn received() -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

/// A UTC instant.
pub fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
    chrono::Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

/// Every record of the quirk catalogue's frame file.
pub fn records() -> Vec<Value> {
    FRAMES
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The action and payload of the CALL recorded as `id`.
pub fn frame(id: &str) -> (String, Value) {
    let record = records()
        .into_iter()
        .find(|record| record["id"] == id)
        .unwrap_or_else(|| panic!("no recorded frame {id}"));
    let frame = &record["frame"];
    assert_eq!(frame[0], 2, "{id} is not a CALL");
    (frame[2].as_str().unwrap().to_owned(), frame[3].clone())
}

/// Asserts that `reply` is valid against the OCPP schema of `action`'s response.
pub fn assert_schema_valid(version: &str, action: &str, reply: &Value) {
    assert_valid(version, &format!("{action}Response"), reply);
}

/// Asserts that `request` is valid against the OCPP schema of `action`'s request (a CALL the
/// CSMS sends).
pub fn assert_request_valid(version: &str, action: &str, request: &Value) {
    assert_valid(version, &format!("{action}Request"), request);
}

fn assert_valid(version: &str, schema_name: &str, value: &Value) {
    let path = format!(
        "{}/tests/fixtures/schemas/{version}/{schema_name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|error| error.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{version} {schema_name}: {value} is not schema-valid: {errors:?}"
    );
}
