//! What reading one inbound CALL costs: the frame parse, the repair stage and the typed decode,
//! as a connection task does them (the repair stage timed on its own too), for the frames a charger sends most (the simulator's
//! shapes, clean and with the Chinese and Korean dialects' deviations), with the `generic`
//! profile, and the Korean vendor data with the profile that reads it. Prints nanoseconds per
//! frame, the best of several rounds.
//!
//! `cargo bench -p zaryad-adapter --bench decode [-- NAME…]` (only the frames whose name has
//! one of the NAMEs); instruction counts, where timings are too
//! noisy: `DECODE_CALLS=1000 valgrind --tool=callgrind <the bench binary>` (see `best`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use zaryad_adapter::repair::repair_inbound;
use zaryad_adapter::{Profile, decode_call};
use zaryad_wire::{Frame, OcppVersion};

const FRAMES: &[(&str, OcppVersion, &str)] = &[
    ("Heartbeat", OcppVersion::V16, r#"[2,"1","Heartbeat",{}]"#),
    (
        "StatusNotification",
        OcppVersion::V16,
        r#"[2,"2","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"2026-11-30T10:00:00.000Z"}]"#,
    ),
    (
        "MeterValues, 4 samples",
        OcppVersion::V16,
        r#"[2,"3","MeterValues",{"connectorId":1,"transactionId":17,"meterValue":[{"timestamp":"2026-11-30T10:00:00.000Z","sampledValue":[{"value":"12345","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"7200","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"},{"value":"16.0","context":"Sample.Periodic","measurand":"Current.Import","phase":"L1","unit":"A"},{"value":"230.1","context":"Sample.Periodic","measurand":"Voltage","phase":"L1-N","unit":"V"}]}]}]"#,
    ),
    (
        "MeterValues, Chinese dialect",
        OcppVersion::V16,
        r#"[2,"4","MeterValues",{"connectorId":1,"transactionId":"17","meterValue":[{"timestamp":"2026-11-30T18:00:00","sampledValue":[{"value":"12345","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"7200","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"},{"value":"228","context":"Sample.Periodic","measurand":"Voltage","unit":"V"},{"value":"30.4","context":"Sample.Periodic","measurand":"Current.Offered","unit":"A"},{"value":"32","context":"Sample.Periodic","measurand":"Temperature","unit":"Celsius"}]}]}]"#,
    ),
    (
        "StartTransaction",
        OcppVersion::V16,
        r#"[2,"5","StartTransaction",{"connectorId":1,"idTag":"C0A1B2C3","meterStart":12000,"timestamp":"2026-11-30T10:00:00.000Z"}]"#,
    ),
    (
        "StopTransaction, Korean dialect",
        OcppVersion::V16,
        r#"[2,"6","StopTransaction",{"transactionId":17,"idTag":"C0A1B2C3","meterStop":19000,"timestamp":"2026-11-30T10:30:00.000Z","reason":"Local","transactionData":[{"timestamp":"2026-11-30T10:30:00.000Z","sampledValue":[{"value":"19000","context":"Transaction.End","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}]"#,
    ),
    (
        "TransactionEvent Updated, 2.0.1",
        OcppVersion::V201,
        r#"[2,"7","TransactionEvent",{"eventType":"Updated","timestamp":"2026-11-30T10:10:00.000Z","triggerReason":"MeterValuePeriodic","seqNo":3,"transactionInfo":{"transactionId":"tx-17","chargingState":"Charging"},"evse":{"id":1,"connectorId":1},"meterValue":[{"timestamp":"2026-11-30T10:10:00.000Z","sampledValue":[{"value":12345.0,"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}},{"value":7200.0,"context":"Sample.Periodic","measurand":"Power.Active.Import","unitOfMeasure":{"unit":"W"}}]}]}]"#,
    ),
];

/// Frames read with the LS E-Link profile of `config/vendors/`, whose DataTransfer decoders
/// take samples and facts out of the JSON the Korean firmware packs in a string.
const VENDOR_FRAMES: &[(&str, OcppVersion, &str)] = &[(
    "DataTransfer MeterValues, Korean",
    OcppVersion::V16,
    r#"[2,"8","DataTransfer",{"vendorId":"Dongah","messageId":"MeterValues","data":"{\"accWh\":4.2,\"btrRm\":\"57\",\"chargeBoxSerialNumber\":\"KR-0001\",\"chargePointSerialNumber\":\"01\",\"connectorId\":1,\"crtrUpc\":0.0,\"idTag\":\"C1010010012345678\",\"power\":48.3,\"slprcUpc\":347.2,\"timestamp\":\"2026-11-30T19:09:49Z\",\"transactionId\":17}"}]"#,
)];

const LS_E_LINK: &str = include_str!("../../../config/vendors/korea-lselink.toml");

// The server's allocator: parsing JSON into values is mostly allocation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROUNDS: usize = 7;
const ROUND: Duration = Duration::from_millis(200);

fn main() {
    let ls_e_link = match Profile::from_toml("korea-lselink", LS_E_LINK) {
        Ok(profile) => profile,
        Err(error) => panic!("the LS E-Link profile: {error}"),
    };
    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>10}",
        "frame", "parse ns", "repair ns", "typed ns", "total ns"
    );
    // `cargo bench` passes `--bench`; any other argument picks the frames whose name has it.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let picked = |name: &str| only.is_empty() || only.iter().any(|part| name.contains(part));
    let mut sum = 0.0;
    let mut timed = 0;
    for (name, version, text) in FRAMES.iter().filter(|(name, ..)| picked(name)) {
        sum += time(Profile::generic(), name, *version, text);
        timed += 1;
    }
    println!(
        "{:<34} {:>43.0}",
        "mean of the frames above",
        sum / f64::from(timed.max(1))
    );
    for (name, version, text) in VENDOR_FRAMES.iter().filter(|(name, ..)| picked(name)) {
        time(&ls_e_link, name, *version, text);
    }
}

/// Times reading `text` with `profile`, prints the line and returns the total.
fn time(profile: &Profile, name: &str, version: OcppVersion, text: &str) -> f64 {
    let received_at = chrono::Utc::now();
    // Checked once: a frame that does not decode would measure an error path.
    let Ok(Frame::Call {
        action, payload, ..
    }) = Frame::parse(text)
    else {
        panic!("{name}: not a CALL");
    };
    if let Err(error) = decode_call(profile, version, &action, payload, received_at) {
        panic!("{name}: {error:?}");
    }
    let parse = best(|| {
        black_box(Frame::parse(black_box(text)).ok());
    });
    let repaired = best(|| {
        let Ok(Frame::Call {
            action,
            mut payload,
            ..
        }) = Frame::parse(black_box(text))
        else {
            unreachable!()
        };
        black_box(repair_inbound(
            profile,
            version,
            &action,
            &mut payload,
            received_at,
        ));
    });
    let total = best(|| {
        let Ok(Frame::Call {
            action, payload, ..
        }) = Frame::parse(black_box(text))
        else {
            unreachable!()
        };
        black_box(decode_call(profile, version, &action, payload, received_at).ok());
    });
    println!(
        "{name:<34} {parse:>10.0} {:>10.0} {:>10.0} {total:>10.0}",
        repaired - parse,
        total - repaired
    );
    total
}

/// Nanoseconds per call of `f`: the fastest of several timed rounds (the others were
/// interrupted by something else on the machine).
///
/// With `DECODE_CALLS=N` in the environment each is called exactly N times instead and 0 is
/// printed: for counting instructions under `valgrind --tool=callgrind`, which a machine too
/// noisy for timings still counts the same from run to run.
fn best(mut f: impl FnMut()) -> f64 {
    if let Some(calls) = std::env::var("DECODE_CALLS")
        .ok()
        .and_then(|calls| calls.parse::<u64>().ok())
    {
        for _ in 0..calls {
            f();
        }
        return 0.0;
    }
    let mut fastest = f64::MAX;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let mut calls = 0u64;
        while started.elapsed() < ROUND {
            for _ in 0..64 {
                f();
            }
            calls += 64;
        }
        let per_call = started.elapsed().as_nanos() as f64 / calls as f64;
        fastest = fastest.min(per_call);
    }
    fastest
}
