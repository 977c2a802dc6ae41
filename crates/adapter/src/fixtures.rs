//! Recorded charger frames for the unit tests (a copy of the shared quirk catalogue's frames).

use serde_json::Value;

const FRAMES: &str = include_str!("../tests/fixtures/quirk_frames.jsonl");

/// Every non-empty line of the catalogue, one recorded frame each.
pub(crate) fn lines() -> impl Iterator<Item = &'static str> {
    FRAMES.lines().filter(|line| !line.trim().is_empty())
}

/// The action and payload of the CALL recorded as `id`.
pub(crate) fn frame(id: &str) -> (String, Value) {
    for line in lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if record["id"] == id {
            let frame = &record["frame"];
            assert_eq!(frame[0], 2, "{id} is not a CALL");
            return (frame[2].as_str().unwrap().to_owned(), frame[3].clone());
        }
    }
    panic!("no recorded frame {id}");
}
