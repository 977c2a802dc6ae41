//! The frame log on its way to the database: frames wait in memory per station and are stored
//! as one `frame_batches` row per run of a station's consecutive frames; and that row's form.
//!
//! A row per frame put an entry at a random place of the station index for every frame: with
//! thousands of stations nearly every frame dirtied an index page of its own, the largest share
//! of what each commit wrote. A batch needs one entry for up to [`FRAMES_PER_BATCH`] frames.
//! A batch is written when it is full, when its first frame has waited the flush interval,
//! when memory runs short, or when its station's log is read.
//!
//! A batch is stored compressed ([`pack`]): its JSON repeats the same keys, actions and
//! message shapes frame after frame, and a full batch shrinks about twelvefold: from seven or
//! eight pages to part of one. Uncompressed, the frame log was three fifths of the database.
//! Rows stored before (JSON text) are read as they are.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;
use tokio::time::Instant;
use zaryad_model::StationId;

use super::rows::{parse_direction, parse_timestamp_text, timestamp_text, with_timestamp_text};
use crate::{FrameRecord, StoreError};

/// Most frames in one batch.
pub(crate) const FRAMES_PER_BATCH: usize = 64;

/// Most frame text in one batch, in bytes: a batch of large frames closes early, so a row
/// stays a few pages long.
const BATCH_TEXT_BYTES: usize = 64 * 1024;

/// Most frames waiting in open batches; past it the oldest batches are closed for writing.
/// About 15 MiB at the few hundred bytes a frame takes: held frames showed in the memory of
/// every idle connection after a reconnect storm.
pub(crate) const MAX_OPEN_FRAMES: usize = 32_768;

/// Most frames held in memory, open or closed: past it the writer leaves frames in its bounded
/// queue, so a writer that falls behind slows the frame log's callers instead of growing.
pub(crate) const MAX_PENDING_FRAMES: usize = 2 * MAX_OPEN_FRAMES;

/// Consecutive frames of one station, oldest first, written as one row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FrameBatch {
    /// The station all the frames belong to.
    pub(crate) station_id: StationId,
    /// The frames, oldest first; never empty.
    pub(crate) frames: Vec<FrameRecord>,
}

impl FrameBatch {
    /// The first and the last frame's times, as stored; `None` for an empty batch.
    pub(crate) fn span_text(&self) -> Option<(String, String)> {
        let first = self.frames.first()?;
        let last = self.frames.last()?;
        Some((timestamp_text(&first.at), timestamp_text(&last.at)))
    }
}

/// A station's batch still taking frames.
struct Open {
    frames: Vec<FrameRecord>,
    bytes: usize,
    /// Tells this batch apart from a later one of the same station in [`FrameBatches::order`].
    serial: u64,
}

/// Frames not written yet: an open batch per station, and closed batches in the order they
/// closed (so a station's batches stay in order).
#[derive(Default)]
pub(crate) struct FrameBatches {
    open: HashMap<StationId, Open>,
    /// Open batches in the order they opened; entries of batches closed since are skipped.
    order: VecDeque<(Instant, u64, StationId)>,
    closed: VecDeque<FrameBatch>,
    open_frames: usize,
    closed_frames: usize,
    next_serial: u64,
}

impl FrameBatches {
    /// Adds a frame to its station's open batch (opened at `now` if there is none), closing the
    /// batch when full and the oldest batches when too many frames wait.
    pub(crate) fn push(&mut self, frame: FrameRecord, now: Instant) {
        let bytes = frame.text.len();
        let full = match self.open.get_mut(&frame.station_id) {
            Some(open) => {
                open.bytes += bytes;
                open.frames.push(frame);
                (open.frames.len() >= FRAMES_PER_BATCH || open.bytes >= BATCH_TEXT_BYTES)
                    .then(|| open.frames[0].station_id.clone())
            }
            None => {
                let station_id = frame.station_id.clone();
                let serial = self.next_serial;
                self.next_serial += 1;
                self.order.push_back((now, serial, station_id.clone()));
                self.open.insert(
                    station_id,
                    Open {
                        frames: vec![frame],
                        bytes,
                        serial,
                    },
                );
                None
            }
        };
        self.open_frames += 1;
        if let Some(station_id) = full {
            self.close(&station_id);
        }
        while self.open_frames > MAX_OPEN_FRAMES && self.close_oldest().is_some() {}
    }

    /// Closes every batch opened at or before `deadline`.
    pub(crate) fn close_opened_before(&mut self, deadline: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(opened, _, _)| *opened <= deadline)
        {
            self.close_oldest();
        }
    }

    /// Closes every open batch, oldest first.
    pub(crate) fn close_all(&mut self) {
        while self.close_oldest().is_some() {}
    }

    /// Closed batches, oldest first, until they hold at least `budget` frames (at least one
    /// batch when any is closed).
    pub(crate) fn take(&mut self, budget: usize) -> Vec<FrameBatch> {
        let mut taken = Vec::new();
        let mut frames = 0;
        while frames < budget.max(1) {
            let Some(batch) = self.closed.pop_front() else {
                break;
            };
            frames += batch.frames.len();
            self.closed_frames -= batch.frames.len();
            taken.push(batch);
        }
        taken
    }

    /// Every frame of one station not written yet, as batches in order.
    pub(crate) fn take_station(&mut self, station_id: &StationId) -> Vec<FrameBatch> {
        let (taken, kept): (VecDeque<FrameBatch>, VecDeque<FrameBatch>) = self
            .closed
            .drain(..)
            .partition(|batch| batch.station_id == *station_id);
        self.closed = kept;
        let mut taken = Vec::from(taken);
        self.closed_frames -= taken.iter().map(|batch| batch.frames.len()).sum::<usize>();
        if let Some(open) = self.open.remove(station_id) {
            self.open_frames -= open.frames.len();
            taken.push(FrameBatch {
                station_id: station_id.clone(),
                frames: open.frames,
            });
        }
        taken
    }

    /// How many batches are closed.
    #[cfg(test)]
    fn closed_len(&self) -> usize {
        self.closed.len()
    }

    /// Whether closed batches wait to be written.
    pub(crate) fn has_closed(&self) -> bool {
        !self.closed.is_empty()
    }

    /// Frames held, open or closed.
    pub(crate) fn pending(&self) -> usize {
        self.open_frames + self.closed_frames
    }

    /// Closes the batch that opened first and is still open; `None` when none is.
    fn close_oldest(&mut self) -> Option<()> {
        loop {
            let (_, serial, station_id) = self.order.pop_front()?;
            if self
                .open
                .get(&station_id)
                .is_some_and(|open| open.serial == serial)
            {
                self.close(&station_id);
                return Some(());
            }
        }
    }

    fn close(&mut self, station_id: &StationId) {
        if let Some(open) = self.open.remove(station_id) {
            self.open_frames -= open.frames.len();
            self.closed_frames += open.frames.len();
            self.closed.push_back(FrameBatch {
                station_id: station_id.clone(),
                frames: open.frames,
            });
        }
    }
}

/// One frame inside a JSON batch: the record without its station (the row has it).
#[cfg(test)]
#[derive(Serialize)]
struct StoredFrame<'a> {
    direction: &'static str,
    at: String,
    ocpp_version: &'a str,
    action: Option<&'a str>,
    message_id: Option<&'a str>,
    text: &'a str,
    repairs: &'a [String],
}

/// [`StoredFrame`] read back.
#[derive(Deserialize)]
struct ReadFrame {
    direction: String,
    at: String,
    ocpp_version: String,
    action: Option<String>,
    message_id: Option<String>,
    text: String,
    #[serde(default)]
    repairs: Vec<String>,
}

/// zstd's level for stored batches: its fastest with entropy-coded literals. Level 3 made
/// recorded batches only 1 % smaller.
const PACK_LEVEL: i32 = 1;

/// zstd's level for small batches, which most stations' batches are: a station that sends a
/// CALL every few seconds or less has one to four frames in a batch when the flush interval
/// closes it. At level 1 such a batch cost 5–6.5 µs, nearly all of it building the block's
/// Huffman and FSE tables whatever the size; this level stores literals as they are and took
/// 1.5–2.5 µs for batches 16–22 % larger (recorded batches of one to four frames).
const SMALL_PACK_LEVEL: i32 = -1;

/// Largest batch content packed at [`SMALL_PACK_LEVEL`]: about sixteen frames, past which the
/// tables pay for themselves (a full batch of 64 frames is a third larger at the fast level).
const SMALL_PACK_BYTES: usize = 4 * 1024;

/// Largest batch JSON a stored row may unpack to. A batch closes past 64 KiB of frame text and
/// its last frame is at most the largest message a charger may send; this bounds what a
/// damaged row can make a read allocate.
const MAX_UNPACKED_BYTES: u64 = 256 << 20;

thread_local! {
    /// One compression context per level and writer thread: making one takes longer than
    /// compressing a batch of small frames. The small batches' first.
    static PACKERS: RefCell<[Option<zstd::bulk::Compressor<'static>>; 2]> =
        const { RefCell::new([None, None]) };
}

/// First byte of a packed batch's content in the length-prefixed layout ([`batch_bytes`]).
/// The first release of `packed` compressed [`batch_json`], which starts with `[`; such rows
/// are still read.
const LENGTH_PREFIXED: u8 = 0x01;

/// A batch as a row stores it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StoredBatch {
    /// JSON text in `frames`, as rows were stored before migration 0008.
    Json(String),
    /// [`batch_bytes`] (or, in rows of the release that added the column, [`batch_json`])
    /// compressed with zstd, in `packed` (`frames` is then empty).
    Packed(Vec<u8>),
}

impl StoredBatch {
    /// The batch's frames, oldest first; `station_id` is the row's.
    pub(crate) fn frames(&self, station_id: &StationId) -> Result<Vec<FrameRecord>, StoreError> {
        match self {
            StoredBatch::Json(json) => batch_frames(station_id, json),
            StoredBatch::Packed(packed) => {
                let content = unpack(packed)?;
                match content.first() {
                    Some(&LENGTH_PREFIXED) => read_batch_bytes(station_id, &content[1..]),
                    _ => {
                        let json = String::from_utf8(content)
                            .map_err(|error| corrupt_packed(error.to_string()))?;
                        batch_frames(station_id, &json)
                    }
                }
            }
        }
    }
}

/// The `packed` column of a batch: [`batch_bytes`] compressed.
pub(crate) fn pack(frames: &[FrameRecord]) -> Result<Vec<u8>, StoreError> {
    let content = batch_bytes(frames)?;
    let (slot, level) = pack_level(content.len());
    PACKERS.with(|packers| {
        let mut packers = packers.borrow_mut();
        let compressor = match &mut packers[slot] {
            Some(compressor) => compressor,
            empty => empty.insert(zstd::bulk::Compressor::new(level).map_err(packing)?),
        };
        compressor.compress(&content).map_err(packing)
    })
}

/// The compression context's slot and level for a batch content of `len` bytes.
fn pack_level(len: usize) -> (usize, i32) {
    if len <= SMALL_PACK_BYTES {
        (0, SMALL_PACK_LEVEL)
    } else {
        (1, PACK_LEVEL)
    }
}

/// What a `packed` column holds, decompressed.
fn unpack(packed: &[u8]) -> Result<Vec<u8>, StoreError> {
    let size = match zstd::zstd_safe::get_frame_content_size(packed) {
        Ok(Some(size)) if size <= MAX_UNPACKED_BYTES => size,
        Ok(Some(size)) => return Err(corrupt_packed(format!("claims {size} bytes"))),
        Ok(None) | Err(_) => return Err(corrupt_packed("not a zstd frame with its size".into())),
    };
    let capacity = usize::try_from(size).map_err(|_| corrupt_packed(format!("{size} bytes")))?;
    zstd::bulk::decompress(packed, capacity).map_err(|error| corrupt_packed(error.to_string()))
}

/// A batch in the layout [`pack`] compresses: [`LENGTH_PREFIXED`], then per frame its
/// direction, time, version, action, message id and text, each a little-endian `u32` length
/// and its UTF-8 bytes (a missing action or message id is length `u32::MAX`), and its repairs
/// as a `u32` count and that many such strings.
///
/// Frame texts are JSON themselves: as a JSON string each `"` in them would be escaped on the
/// way in and unescaped on the way out, and that escaping was the writer thread's largest cost
/// in packing a batch.
fn batch_bytes(frames: &[FrameRecord]) -> Result<Vec<u8>, StoreError> {
    let text: usize = frames.iter().map(|frame| frame.text.len() + 96).sum();
    let mut out = Vec::with_capacity(1 + text);
    out.push(LENGTH_PREFIXED);
    for frame in frames {
        put_str(&mut out, frame.direction.as_str())?;
        with_timestamp_text(&frame.at, |at| put_str(&mut out, at))?;
        put_str(&mut out, &frame.ocpp_version)?;
        put_opt(&mut out, frame.action.as_deref())?;
        put_opt(&mut out, frame.message_id.as_deref())?;
        put_str(&mut out, &frame.text)?;
        put_len(&mut out, frame.repairs.len())?;
        for repair in &frame.repairs {
            put_str(&mut out, repair)?;
        }
    }
    Ok(out)
}

/// Marks a missing optional string; no string is written that long.
const ABSENT: u32 = u32::MAX;

/// Frames are capped at the WebSocket message limit, far below 4 GiB; a longer string would
/// be refused rather than written with a wrong length.
fn put_len(out: &mut Vec<u8>, len: usize) -> Result<(), StoreError> {
    let word = u32::try_from(len)
        .ok()
        .filter(|&word| word != ABSENT)
        .ok_or_else(|| corrupt_packed(format!("a string of {len} bytes")))?;
    out.extend_from_slice(&word.to_le_bytes());
    Ok(())
}

fn put_str(out: &mut Vec<u8>, text: &str) -> Result<(), StoreError> {
    put_len(out, text.len())?;
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

fn put_opt(out: &mut Vec<u8>, text: Option<&str>) -> Result<(), StoreError> {
    match text {
        Some(text) => put_str(out, text),
        None => {
            out.extend_from_slice(&ABSENT.to_le_bytes());
            Ok(())
        }
    }
}

/// Reads [`batch_bytes`] after its first byte; any length past the end, a string that is not
/// UTF-8 or an unknown direction is reported as corrupt.
fn read_batch_bytes(station_id: &StationId, bytes: &[u8]) -> Result<Vec<FrameRecord>, StoreError> {
    let mut reader = Reader { bytes };
    let mut frames = Vec::new();
    while !reader.bytes.is_empty() {
        let direction = reader.text()?;
        let direction = parse_direction(direction)
            .ok_or_else(|| corrupt_packed(format!("direction {direction:?}")))?;
        let at = reader.text()?;
        let at = parse_timestamp_text(at)
            .map_err(|error| corrupt_packed(format!("at {at:?}: {error}")))?;
        let ocpp_version = reader.text()?.to_owned();
        let action = reader.optional()?.map(str::to_owned);
        let message_id = reader.optional()?.map(str::to_owned);
        let text = reader.text()?.to_owned();
        let count = reader.len()?;
        let mut repairs = Vec::with_capacity(count.min(reader.bytes.len() / 4));
        for _ in 0..count {
            repairs.push(reader.text()?.to_owned());
        }
        frames.push(FrameRecord {
            station_id: station_id.clone(),
            direction,
            at,
            ocpp_version,
            action,
            message_id,
            text,
            repairs,
        });
    }
    Ok(frames)
}

fn size(word: u32) -> Result<usize, StoreError> {
    usize::try_from(word).map_err(|_| corrupt_packed(format!("length {word}")))
}

/// A cursor over [`batch_bytes`].
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn word(&mut self) -> Result<u32, StoreError> {
        let Some((word, rest)) = self.bytes.split_first_chunk::<4>() else {
            return Err(corrupt_packed("a length cut off".into()));
        };
        self.bytes = rest;
        Ok(u32::from_le_bytes(*word))
    }

    fn len(&mut self) -> Result<usize, StoreError> {
        size(self.word()?)
    }

    fn string(&mut self, len: usize) -> Result<&'a str, StoreError> {
        if len > self.bytes.len() {
            return Err(corrupt_packed(format!(
                "a string of {len} bytes where {} are left",
                self.bytes.len()
            )));
        }
        let (text, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        std::str::from_utf8(text).map_err(|error| corrupt_packed(error.to_string()))
    }

    fn text(&mut self) -> Result<&'a str, StoreError> {
        let len = self.len()?;
        self.string(len)
    }

    fn optional(&mut self) -> Result<Option<&'a str>, StoreError> {
        match self.word()? {
            ABSENT => Ok(None),
            word => self.string(size(word)?).map(Some),
        }
    }
}

fn packing(error: std::io::Error) -> StoreError {
    corrupt_packed(format!("compressing a batch: {error}"))
}

/// A batch as a JSON array of its frames, oldest first: `frames` of rows stored before
/// migration 0008, and what the first release of `packed` compressed (both still read; the
/// tests write them).
#[cfg(test)]
fn batch_json(frames: &[FrameRecord]) -> Result<String, StoreError> {
    let stored: Vec<StoredFrame<'_>> = frames
        .iter()
        .map(|frame| StoredFrame {
            direction: frame.direction.as_str(),
            at: timestamp_text(&frame.at),
            ocpp_version: &frame.ocpp_version,
            action: frame.action.as_deref(),
            message_id: frame.message_id.as_deref(),
            text: &frame.text,
            repairs: &frame.repairs,
        })
        .collect();
    serde_json::to_string(&stored).map_err(|error| corrupt(error.to_string()))
}

/// The frames of a batch's JSON, oldest first.
fn batch_frames(station_id: &StationId, json: &str) -> Result<Vec<FrameRecord>, StoreError> {
    let stored: Vec<ReadFrame> =
        serde_json::from_str(json).map_err(|error| corrupt(error.to_string()))?;
    stored
        .into_iter()
        .map(|frame| {
            Ok(FrameRecord {
                station_id: station_id.clone(),
                direction: parse_direction(&frame.direction)
                    .ok_or_else(|| corrupt(format!("direction {:?}", frame.direction)))?,
                at: parse_timestamp_text(&frame.at)
                    .map_err(|error| corrupt(format!("at {:?}: {error}", frame.at)))?,
                ocpp_version: frame.ocpp_version,
                action: frame.action,
                message_id: frame.message_id,
                text: frame.text,
                repairs: frame.repairs,
            })
        })
        .collect()
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        table: "frame_batches",
        column: "frames",
        detail,
    }
}

fn corrupt_packed(detail: String) -> StoreError {
    StoreError::Corrupt {
        table: "frame_batches",
        column: "packed",
        detail,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Direction;

    fn frame(station: &str, n: u32) -> FrameRecord {
        FrameRecord {
            station_id: StationId::parse(station).unwrap(),
            direction: if n.is_multiple_of(2) {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            at: chrono::DateTime::from_timestamp(1_700_000_000 + i64::from(n), 123_456_789)
                .unwrap(),
            ocpp_version: "1.6".into(),
            action: (!n.is_multiple_of(3)).then(|| "MeterValues".into()),
            message_id: Some(format!("m{n}")),
            text: format!("[2,\"m{n}\",\"MeterValues\",{{\"note\":\"\\u0000 é\"}}]"),
            repairs: if n.is_multiple_of(2) {
                vec![]
            } else {
                vec!["missing_offset".into()]
            },
        }
    }

    fn numbers(batches: &[FrameBatch]) -> Vec<(String, Vec<String>)> {
        batches
            .iter()
            .map(|batch| {
                (
                    batch.station_id.as_str().to_owned(),
                    batch
                        .frames
                        .iter()
                        .map(|frame| frame.message_id.clone().unwrap())
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_batch_closes_when_full_and_keeps_its_frames_in_order() {
        let mut batches = FrameBatches::default();
        let now = Instant::now();
        let count = u32::try_from(FRAMES_PER_BATCH).unwrap();
        for n in 0..count + 3 {
            batches.push(frame("A", n), now);
        }
        batches.push(frame("B", 0), now);
        assert_eq!(batches.closed_len(), 1);
        assert_eq!(batches.pending(), FRAMES_PER_BATCH + 4);
        let taken = batches.take(1);
        assert_eq!(taken.len(), 1);
        let expected: Vec<String> = (0..count).map(|n| format!("m{n}")).collect();
        assert_eq!(numbers(&taken), [("A".to_owned(), expected)]);
        assert!(!batches.has_closed());
        assert_eq!(batches.pending(), 4);
    }

    #[test]
    fn large_frames_close_a_batch_early() {
        let mut batches = FrameBatches::default();
        let now = Instant::now();
        for n in 0..3 {
            let mut big = frame("A", n);
            big.text = "x".repeat(BATCH_TEXT_BYTES / 2);
            batches.push(big, now);
        }
        assert_eq!(batches.closed_len(), 1);
        assert_eq!(batches.take(usize::MAX)[0].frames.len(), 2);
    }

    #[test]
    fn batches_close_by_age_oldest_first() {
        let mut batches = FrameBatches::default();
        let start = Instant::now();
        batches.push(frame("A", 0), start);
        batches.push(frame("B", 1), start + Duration::from_secs(1));
        batches.push(frame("A", 2), start + Duration::from_secs(2));
        batches.push(frame("C", 3), start + Duration::from_secs(3));
        batches.close_opened_before(start + Duration::from_secs(1));
        assert_eq!(
            numbers(&batches.take(usize::MAX)),
            [
                ("A".to_owned(), vec!["m0".to_owned(), "m2".to_owned()]),
                ("B".to_owned(), vec!["m1".to_owned()]),
            ]
        );
        // A's next batch opens afresh and waits its own time.
        batches.push(frame("A", 4), start + Duration::from_secs(4));
        batches.close_opened_before(start + Duration::from_secs(3));
        assert_eq!(
            numbers(&batches.take(usize::MAX)),
            [("C".to_owned(), vec!["m3".to_owned()])]
        );
        batches.close_all();
        assert_eq!(
            numbers(&batches.take(usize::MAX)),
            [("A".to_owned(), vec!["m4".to_owned()])]
        );
        assert_eq!(batches.pending(), 0);
    }

    #[test]
    fn a_budget_takes_whole_batches() {
        let mut batches = FrameBatches::default();
        let now = Instant::now();
        for (n, station) in ["A", "B", "A", "C"].into_iter().enumerate() {
            batches.push(frame(station, u32::try_from(n).unwrap()), now);
        }
        batches.close_all();
        assert_eq!(
            batches.take(3).len(),
            2,
            "A (2 frames) then B reach the budget"
        );
        assert_eq!(batches.take(0).len(), 1, "at least one batch");
        assert!(batches.take(10).is_empty());
    }

    #[test]
    fn one_station_is_taken_out_in_order_leaving_the_rest() {
        let mut batches = FrameBatches::default();
        let now = Instant::now();
        let count = u32::try_from(FRAMES_PER_BATCH).unwrap();
        for n in 0..count + 1 {
            batches.push(frame("A", n), now);
            batches.push(frame("B", n), now);
        }
        let taken = batches.take_station(&StationId::parse("A").unwrap());
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].frames.len(), FRAMES_PER_BATCH);
        assert_eq!(taken[1].frames[0].message_id.as_deref(), Some("m64"));
        assert_eq!(batches.pending(), FRAMES_PER_BATCH + 1);
        batches.close_all();
        let rest = batches.take(usize::MAX);
        assert!(rest.iter().all(|batch| batch.station_id.as_str() == "B"));
        assert_eq!(batches.pending(), 0);
    }

    #[test]
    fn too_many_waiting_frames_close_the_oldest_batches() {
        let mut batches = FrameBatches::default();
        let now = Instant::now();
        let stations = MAX_OPEN_FRAMES / 2 + 1;
        for n in 0..stations {
            let station = format!("S{n}");
            batches.push(frame(&station, 0), now);
            batches.push(frame(&station, 1), now);
        }
        assert!(batches.open_frames <= MAX_OPEN_FRAMES);
        assert_eq!(batches.pending(), stations * 2);
        assert_eq!(batches.take(1)[0].station_id.as_str(), "S0");
    }

    #[test]
    fn a_batch_reads_back_as_written() {
        let frames: Vec<FrameRecord> = (0..5).map(|n| frame("CP-1", n)).collect();
        let json = batch_json(&frames).unwrap();
        assert!(
            !json.contains('\0'),
            "NUL stays escaped for PostgreSQL text"
        );
        let station = StationId::parse("CP-1").unwrap();
        assert_eq!(batch_frames(&station, &json).unwrap(), frames);
        let packed = StoredBatch::Packed(pack(&frames).unwrap());
        assert_eq!(packed.frames(&station).unwrap(), frames);
        // A row of the release that added `packed`: its JSON compressed.
        let first_release = zstd::bulk::compress(json.as_bytes(), 1).unwrap();
        assert_eq!(
            StoredBatch::Packed(first_release).frames(&station).unwrap(),
            frames
        );
        assert_eq!(StoredBatch::Json(json).frames(&station).unwrap(), frames);
        assert_eq!(
            StoredBatch::Packed(pack(&[]).unwrap())
                .frames(&station)
                .unwrap(),
            []
        );
    }

    #[test]
    fn a_damaged_length_prefixed_batch_is_reported_not_panicked_on() {
        let station = StationId::parse("CP-1").unwrap();
        let whole = batch_bytes(&[frame("CP-1", 1), frame("CP-1", 2)]).unwrap();
        let mut cases = vec![
            whole[..whole.len() - 1].to_vec(),
            whole[..3].to_vec(),
            [&[LENGTH_PREFIXED][..], &u32::MAX.to_le_bytes()].concat(),
            [&[LENGTH_PREFIXED][..], &7u32.to_le_bytes(), b"inbound"].concat(),
        ];
        // A string that is not UTF-8, and a direction nobody writes.
        let mut bad_text = batch_bytes(&[frame("CP-1", 2)]).unwrap();
        let at = bad_text.len() - 5;
        bad_text[at] = 0xff;
        cases.push(bad_text);
        let mut sideways = vec![LENGTH_PREFIXED];
        put_str(&mut sideways, "sideways").unwrap();
        cases.push(sideways);
        // A repair count of four billion with nothing behind it.
        let mut many = batch_bytes(&[frame("CP-1", 2)]).unwrap();
        let count_at = many.len() - 4;
        many[count_at..].copy_from_slice(&(u32::MAX - 1).to_le_bytes());
        cases.push(many);
        for content in cases {
            let packed = zstd::bulk::compress(&content, 1).unwrap();
            let result = StoredBatch::Packed(packed).frames(&station);
            assert!(
                matches!(
                    result,
                    Err(StoreError::Corrupt {
                        column: "packed",
                        ..
                    })
                ),
                "{content:?}: {result:?}"
            );
        }
    }

    #[test]
    fn small_batches_pack_at_the_fast_level_and_read_back_alike() {
        let station = StationId::parse("CP-1").unwrap();
        let few: Vec<FrameRecord> = (0..3).map(|n| frame("CP-1", n)).collect();
        let many: Vec<FrameRecord> = (0..u32::try_from(FRAMES_PER_BATCH).unwrap())
            .map(|n| frame("CP-1", n))
            .collect();
        let (few_bytes, many_bytes) = (batch_bytes(&few).unwrap(), batch_bytes(&many).unwrap());
        assert!(few_bytes.len() <= SMALL_PACK_BYTES && many_bytes.len() > SMALL_PACK_BYTES);
        for (frames, content, level) in [
            (&few, &few_bytes, SMALL_PACK_LEVEL),
            (&many, &many_bytes, PACK_LEVEL),
        ] {
            let packed = pack(frames).unwrap();
            assert_eq!(packed, zstd::bulk::compress(content, level).unwrap());
            let read = StoredBatch::Packed(packed).frames(&station).unwrap();
            assert_eq!(&read, frames);
        }
        assert_eq!(pack_level(SMALL_PACK_BYTES).1, SMALL_PACK_LEVEL);
        assert_eq!(pack_level(SMALL_PACK_BYTES + 1).1, PACK_LEVEL);
    }

    #[test]
    fn a_full_batch_packs_to_a_fraction_of_its_json() {
        let frames: Vec<FrameRecord> = (0..u32::try_from(FRAMES_PER_BATCH).unwrap())
            .map(|n| frame("CP-1", n))
            .collect();
        let json = batch_json(&frames).unwrap();
        let packed = pack(&frames).unwrap();
        assert!(
            packed.len() * 5 < json.len(),
            "{} bytes packed of {}",
            packed.len(),
            json.len()
        );
    }

    #[test]
    fn a_damaged_packed_batch_is_reported_not_panicked_on() {
        let station = StationId::parse("CP-1").unwrap();
        let whole = pack(&[frame("CP-1", 1), frame("CP-1", 2)]).unwrap();
        let not_utf8 = zstd::bulk::compress(&[0xff, 0xfe, 0x00], 1).unwrap();
        // A zstd frame header that claims a terabyte and carries nothing.
        let mut huge = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
        huge.extend_from_slice(&(1_u64 << 40).to_le_bytes());
        for packed in [
            Vec::new(),
            b"not zstd at all".to_vec(),
            whole[..whole.len() / 2].to_vec(),
            not_utf8,
            huge,
        ] {
            assert!(matches!(
                StoredBatch::Packed(packed).frames(&station),
                Err(StoreError::Corrupt {
                    table: "frame_batches",
                    ..
                })
            ));
        }
    }

    #[test]
    fn a_damaged_batch_is_reported_not_panicked_on() {
        let station = StationId::parse("CP-1").unwrap();
        for json in [
            "not json",
            r#"[{"direction":"sideways","at":"2026-01-01T00:00:00Z","ocpp_version":"1.6","text":""}]"#,
            r#"[{"direction":"inbound","at":"yesterday","ocpp_version":"1.6","text":""}]"#,
        ] {
            assert!(matches!(
                batch_frames(&station, json),
                Err(StoreError::Corrupt {
                    table: "frame_batches",
                    ..
                })
            ));
        }
    }
}
